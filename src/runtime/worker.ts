import { connect } from "node:net";
import { fileURLToPath } from "node:url";
import { execa, type Options, type ResultPromise } from "execa";
import { FaasError } from "../domain/errors.ts";
import { abortError, FrameChannel, protocolError } from "./frames.ts";


/** The runtime shim every function runs under (see its docstring for the wire protocol). */
export const RUNTIME_SHIM = fileURLToPath(new URL("./python/faas_runtime.py", import.meta.url));

const STDERR_KEPT = 40;
/** How long the output pipes of an exited worker may still deliver what it wrote. */
const OUTPUT_GRACE_MS = 500;
/** How long a worker whose socket closed may take to exit by itself before it is killed. */
const EXIT_GRACE_MS = 500;
/** Longest output line kept; the rest of a longer line is cut and the cut marked. */
export const MAX_LINE_BYTES = 64 * 1024;
/** Largest readiness report accepted on the control pipe (an import traceback fits easily). */
const MAX_READY_BYTES = 1024 * 1024;

export interface WorkerOptions {
  /** Interpreter to run the shim with (a virtualenv's python when there are requirements). */
  python: string;
  /** The function's module. */
  handlerPath: string;
  /** Unix socket the worker listens on. */
  socketPath: string;
  /** The worker's whole environment: nothing of the agent's leaks in. */
  env: Record<string, string>;
  cwd: string;
  /** Receives every line the worker writes to stdout or stderr. */
  onOutput: (stream: "stdout" | "stderr", line: string) => void;
  /** Called once when the process exits, for whatever reason. */
  onExit?: (worker: Worker) => void;
  /** Bound on import + listen, in milliseconds. */
  startTimeoutMs: number;
  /** Largest result accepted (FAAS_MAX_RESULT_BYTES); larger ones fail with RESULT_TOO_LARGE. */
  maxResultBytes?: number;
  /**
   * Called once when the worker stops taking calls because a call timed out and its thread or
   * loop may still be running: the owner routes new calls elsewhere; the worker finishes the calls
   * it has (up to `drainMs`) and is then killed, so nothing burns CPU for a caller long gone.
   */
  onRetire?: (worker: Worker) => void;
  /** How long a retiring worker may finish its other calls, in milliseconds. */
  drainMs?: number;
  /** Turns the worker's argv into the one spawned (the local platform's sandbox); default: as is. */
  launch?: (argv: string[]) => string[];
}

/** How every worker process is spawned (the env and cwd are added per worker). */
const SPAWN_OPTIONS = {
  extendEnv: false,
  stdio: ["pipe", "pipe", "pipe", "pipe"],
  buffer: false,
  reject: false,
  cleanup: true,
  encoding: "utf8",
} as const satisfies Options;
type WorkerProcess = ResultPromise<typeof SPAWN_OPTIONS & { cwd: string; env: Record<string, string> }>;

/**
 * One Python worker process serving one revision of a function over the shim's framed protocol:
 * one unix-socket connection, calls multiplexed by id, no per-call allocation beyond the frame.
 * Start with `Worker.start`; the caller owns it and must `stop` it.
 */
export class Worker {
  readonly pid: number;
  private readonly process: WorkerProcess;
  private channel: FrameChannel | undefined;
  private readonly recentStderr: string[] = [];
  private exited = false;
  private retiring = false;
  private exitDescription = "";
  private readonly exitPromise: Promise<void>;

  private constructor(proc: WorkerProcess, private readonly options: WorkerOptions) {
    this.process = proc;
    this.pid = proc.pid ?? -1;
    // The process's own exit, not execa's promise: that one also waits for the pipes to close,
    // which a grandchild that left the process group can hold open for ever.
    this.exitPromise = new Promise<void>((resolve) => {
      proc.once("exit", (code, signal) => {
        this.exited = true;
        // Whatever it started in its process group goes with it.
        this.signalGroup("SIGKILL");
        void closeOutput(proc).then(() => resolve(this.onProcessExit(code ?? undefined, signal ?? undefined)));
      });
    });
    void proc.catch(() => {});
  }

  /**
   * Starts a worker and waits until its handler has imported and it listens. An import failure
   * (syntax error, missing module, no `handle`) throws invalid_argument HANDLER_INVALID carrying
   * the Python traceback.
   */
  static async start(options: WorkerOptions, signal?: AbortSignal): Promise<Worker> {
    const [file, ...args] = (options.launch ?? ((argv: string[]) => argv))([
      options.python,
      "-u",
      RUNTIME_SHIM,
      "--handler",
      options.handlerPath,
      "--listen",
      `unix:${options.socketPath}`,
      "--protocol",
      "frame",
      "--ready-fd",
      "3",
      "--exit-on-stdin-eof",
    ]);
    // detached: the worker leads a process group, so stop/kill reach whatever it started.
    const proc = execa(file, args, { ...SPAWN_OPTIONS, cwd: options.cwd, env: options.env, detached: true });
    const worker = new Worker(proc, options);
    worker.pipeOutput();
    try {
      const ready = await worker.readReady(signal);
      if (!ready.ok) {
        // The shim exits right after its report; its traceback is in the report either way.
        await Promise.race([worker.exitPromise, new Promise((r) => setTimeout(r, 1000).unref())]);
        throw new FaasError(
          "invalid_argument",
          `handler failed to import: ${ready.type}: ${ready.message}\n${ready.traceback ?? ""}`.trimEnd(),
          {
            reason: "HANDLER_INVALID",
            metadata: { exception_type: ready.type ?? "", exception_message: ready.message ?? "", traceback: ready.traceback ?? "" },
          },
        );
      }
      await worker.connect();
      return worker;
    } catch (error) {
      worker.kill();
      throw error;
    }
  }

  /** The unix socket the worker listens on. */
  get socketPath(): string {
    return this.options.socketPath;
  }

  /** Calls in flight. */
  get inflight(): number {
    return this.channel?.inflight ?? 0;
  }

  /** Whether the process is running and takes new calls (false once it retires). */
  get alive(): boolean {
    return !this.exited && !this.retiring && this.channel?.isClosed !== true;
  }

  /**
   * Sends one call. Resolves with the result's JSON text; rejects with FaasError FUNCTION_ERROR,
   * RESULT_NOT_SERIALIZABLE, RESULT_TOO_LARGE, WORKER_PROTOCOL_ERROR, WORKER_CRASHED or
   * INVOKE_TIMEOUT. A timeout retires the worker (see `onRetire`).
   */
  call(payloadJson: string, timeoutMs: number, signal?: AbortSignal): Promise<string> {
    if (this.exited || !this.channel) return Promise.reject(this.crashError());
    return this.channel.call(payloadJson, timeoutMs, signal).catch((error: unknown) => {
      if ((error as { reason?: string }).reason === "INVOKE_TIMEOUT") this.retire();
      throw error;
    });
  }

  /**
   * A sync handler's thread cannot be stopped from outside, and a busy async one wedges the whole
   * loop: after a timeout the only sure stop is the process. Calls in flight finish first.
   */
  private retire(): void {
    if (this.retiring || this.exited) return;
    this.retiring = true;
    this.options.onRetire?.(this);
    void this.stop(this.options.drainMs ?? 0);
  }

  /** Waits for calls in flight (at most `graceMs`), then stops the process. Idempotent. */
  async stop(graceMs: number): Promise<void> {
    this.retiring = true;
    const deadline = Date.now() + graceMs;
    while (this.inflight > 0 && !this.exited && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    if (!this.exited) {
      // The shim stops when its stdin ends, which reaches it through a sandbox too (a signal to
      // the sandbox's outer process would orphan what runs inside instead of ending it in order).
      this.process.stdin?.end();
      const timer = setTimeout(() => this.kill(), Math.max(1000, deadline - Date.now()));
      await this.exitPromise;
      clearTimeout(timer);
    }
    // Whatever the handler started lives in the worker's process group: it goes too.
    this.signalGroup("SIGKILL");
    this.channel?.destroy();
  }

  /** Kills the process and everything it started, at once. */
  kill(): void {
    if (!this.exited) this.signalGroup("SIGKILL");
  }

  /** Signals the worker's process group (it leads one: spawned detached), or the process alone. */
  private signalGroup(signal: NodeJS.Signals): void {
    if (this.pid <= 0) return;
    try {
      process.kill(-this.pid, signal);
    } catch {
      if (!this.exited) this.process.kill(signal);
    }
  }

  private connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = connect(this.options.socketPath);
      socket.setNoDelay(true);
      socket.once("connect", () => {
        socket.off("error", reject);
        resolve();
      });
      socket.once("error", reject);
      this.channel = new FrameChannel(socket, {
        maxFrameBytes: this.options.maxResultBytes,
        onClose: (pending) => {
          // A worker we cannot talk to is of no use; its calls fail with how it ended. The socket
          // closes as the process ends: give it a moment to report its own exit status first.
          if (!this.exited) setTimeout(() => this.kill(), EXIT_GRACE_MS).unref();
          void this.exitPromise.then(() => {
            for (const call of pending) call.reject(this.crashError());
          });
        },
      });
    });
  }

  private readReady(signal?: AbortSignal): Promise<ReadyMessage> {
    const readyPipe = this.process.stdio[3] as NodeJS.ReadableStream;
    return new Promise<ReadyMessage>((resolve, reject) => {
      let text = "";
      const timer = setTimeout(() => fail(new FaasError("deadline_exceeded", `worker did not start within ${this.options.startTimeoutMs} ms`, { reason: "INVOKE_TIMEOUT" })), this.options.startTimeoutMs);
      const onAbort = () => fail(signal ? abortError(signal) : new Error("aborted"));
      signal?.addEventListener("abort", onAbort, { once: true });
      const finish = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      const fail = (e: unknown) => {
        finish();
        reject(e);
      };
      let settled = false;
      const done = (outcome: () => void) => {
        if (settled) return;
        settled = true;
        // Nothing more is read from the control pipe: a function cannot make the agent buffer it.
        readyPipe.removeAllListeners("data");
        (readyPipe as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
        outcome();
      };
      readyPipe.setEncoding("utf8");
      readyPipe.on("data", (d: string) => {
        text += d;
        const nl = text.indexOf("\n");
        if (nl < 0) {
          if (text.length > MAX_READY_BYTES) done(() => fail(protocolError(`the worker wrote more than ${MAX_READY_BYTES} bytes to its control pipe without a report`)));
          return;
        }
        done(() => {
          const report = parseReady(text.slice(0, nl));
          if (typeof report === "string") fail(protocolError(report));
          else {
            finish();
            resolve(report);
          }
        });
      });
      readyPipe.on("error", () => {});
      // A closed control pipe means no report is coming, whether or not the process lives on.
      readyPipe.on("end", () => done(() => fail(protocolError("the worker closed its control pipe before reporting that it was ready"))));
      this.exitPromise.then(() => done(() => fail(this.crashError("worker exited before it was ready"))));
    });
  }

  private pipeOutput(): void {
    for (const stream of ["stdout", "stderr"] as const) {
      const readable = this.process[stream];
      if (!readable) continue;
      readable.setEncoding("utf8");
      const lines = new BoundedLines(MAX_LINE_BYTES, (line) => this.output(stream, line));
      readable.on("data", (chunk: string) => lines.push(chunk));
      readable.on("end", () => lines.end());
    }
  }

  private output(stream: "stdout" | "stderr", line: string): void {
    if (stream === "stderr") {
      this.recentStderr.push(line);
      if (this.recentStderr.length > STDERR_KEPT) this.recentStderr.shift();
    }
    this.options.onOutput(stream, line);
  }

  private onProcessExit(code: number | undefined, signal: string | undefined): void {
    this.exited = true;
    this.exitDescription = signal ? `killed by ${signal}` : `exited with code ${code ?? "unknown"}`;
    this.channel?.failAll(this.crashError());
    this.channel?.destroy();
    this.options.onExit?.(this);
  }

  private crashError(what = "worker process died while the call was running"): FaasError {
    const tail = this.recentStderr.slice(-10).join("\n");
    return new FaasError("unavailable", `${what} (${this.exitDescription || "not running"})${tail ? `; last output:\n${tail}` : ""}`, {
      reason: "WORKER_CRASHED",
      metadata: { exit: this.exitDescription, last_output: tail },
    });
  }
}

/**
 * After the process exited: lets its output pipes deliver what it wrote, but for at most a moment,
 * then closes them (a process that escaped the group may be holding them).
 */
function closeOutput(proc: WorkerProcess): Promise<void> {
  const streams = [proc.stdout, proc.stderr].filter((s): s is NonNullable<typeof s> => s !== null && !s.destroyed && !s.readableEnded);
  return new Promise<void>((resolve) => {
    const timer = setTimeout(finish, OUTPUT_GRACE_MS);
    let open = streams.length;
    function finish(): void {
      clearTimeout(timer);
      for (const s of streams) s.destroy();
      for (const s of proc.stdio.slice(3)) (s as NodeJS.ReadableStream & { destroy?: () => void } | null)?.destroy?.();
      proc.stdin?.destroy();
      resolve();
    }
    if (open === 0) return finish();
    for (const s of streams) s.once("close", () => --open === 0 && finish());
  });
}

interface ReadyMessage {
  ok: boolean;
  type?: string;
  message?: string;
  traceback?: string;
  python?: string;
}

function parseReady(line: string): ReadyMessage | string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return `the worker wrote something that is not its readiness report to its control pipe: ${JSON.stringify(line.slice(0, 200))}`;
  }
  if (value === null || typeof value !== "object" || typeof (value as ReadyMessage).ok !== "boolean") {
    return `the worker's readiness report is not an object with "ok": ${JSON.stringify(line.slice(0, 200))}`;
  }
  const report = value as Record<string, unknown>;
  const text = (key: string) => (typeof report[key] === "string" ? (report[key] as string) : undefined);
  return { ok: report.ok as boolean, type: text("type"), message: text("message"), traceback: text("traceback"), python: text("python") };
}

/**
 * Splits a stream of text into lines, cutting any line longer than `max` characters: the cut part
 * is dropped as it arrives (never buffered) and the line ends with a marker saying how much went.
 */
class BoundedLines {
  private partial = "";
  private dropped = 0;

  constructor(
    private readonly max: number,
    private readonly onLine: (line: string) => void,
  ) {}

  push(chunk: string): void {
    let start = 0;
    for (let nl = chunk.indexOf("\n"); nl >= 0; nl = chunk.indexOf("\n", start)) {
      this.add(chunk.slice(start, nl));
      this.emit();
      start = nl + 1;
    }
    if (start < chunk.length) this.add(chunk.slice(start));
  }

  end(): void {
    if (this.partial || this.dropped) this.emit();
  }

  private add(piece: string): void {
    const room = this.max - this.partial.length;
    if (piece.length <= room) this.partial += piece;
    else {
      if (room > 0) this.partial += piece.slice(0, room);
      this.dropped += piece.length - Math.max(room, 0);
    }
  }

  private emit(): void {
    const line = this.dropped ? `${this.partial} [line cut: ${this.dropped} more characters dropped]` : this.partial;
    this.partial = "";
    this.dropped = 0;
    this.onLine(line);
  }
}
