import { connect } from "node:net";
import { fileURLToPath } from "node:url";
import { execa, type Options, type ResultPromise } from "execa";
import { FaasError } from "../domain/errors.ts";
import { abortError, FrameChannel } from "./frames.ts";

export { callError } from "./frames.ts";

/** The runtime shim every function runs under (see its docstring for the wire protocol). */
export const RUNTIME_SHIM = fileURLToPath(new URL("./python/faas_runtime.py", import.meta.url));

const STDERR_KEPT = 40;

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
  private exitDescription = "";
  private readonly exitPromise: Promise<void>;

  private constructor(proc: WorkerProcess, private readonly options: WorkerOptions) {
    this.process = proc;
    this.pid = proc.pid ?? -1;
    this.exitPromise = proc.then(
      (r) => this.onProcessExit(r.exitCode, r.signal),
      (e: { exitCode?: number; signal?: string }) => this.onProcessExit(e.exitCode, e.signal),
    );
  }

  /**
   * Starts a worker and waits until its handler has imported and it listens. An import failure
   * (syntax error, missing module, no `handle`) throws invalid_argument HANDLER_INVALID carrying
   * the Python traceback.
   */
  static async start(options: WorkerOptions, signal?: AbortSignal): Promise<Worker> {
    const proc = execa(
      options.python,
      [
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
      ],
      { ...SPAWN_OPTIONS, cwd: options.cwd, env: options.env },
    );
    const worker = new Worker(proc, options);
    worker.pipeOutput();
    try {
      const ready = await worker.readReady(signal);
      if (!ready.ok) {
        await worker.exitPromise;
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

  /** Whether the process is still running. */
  get alive(): boolean {
    return !this.exited;
  }

  /**
   * Sends one call. Resolves with the result's JSON text; rejects with FaasError FUNCTION_ERROR,
   * RESULT_NOT_SERIALIZABLE, WORKER_CRASHED or INVOKE_TIMEOUT.
   */
  call(payloadJson: string, timeoutMs: number, signal?: AbortSignal): Promise<string> {
    if (this.exited || !this.channel) return Promise.reject(this.crashError());
    return this.channel.call(payloadJson, timeoutMs, signal);
  }

  /** Waits for calls in flight (at most `graceMs`), then stops the process. Idempotent. */
  async stop(graceMs: number): Promise<void> {
    const deadline = Date.now() + graceMs;
    while (this.inflight > 0 && !this.exited && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    if (!this.exited) {
      this.process.kill("SIGTERM");
      const timer = setTimeout(() => this.kill(), Math.max(1000, deadline - Date.now()));
      await this.exitPromise;
      clearTimeout(timer);
    }
    this.channel?.destroy();
  }

  /** Kills the process at once. */
  kill(): void {
    if (!this.exited) this.process.kill("SIGKILL");
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
        onClose: (pending) => {
          // A worker we cannot talk to is of no use; its calls fail with how it ended.
          if (!this.exited) this.kill();
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
      readyPipe.setEncoding("utf8");
      readyPipe.on("data", (d: string) => {
        text += d;
        const nl = text.indexOf("\n");
        if (nl >= 0) {
          finish();
          resolve(JSON.parse(text.slice(0, nl)) as ReadyMessage);
        }
      });
      readyPipe.on("error", () => {});
      this.exitPromise.then(() => {
        if (!text.includes("\n")) fail(this.crashError("worker exited before it was ready"));
      });
    });
  }

  private pipeOutput(): void {
    for (const stream of ["stdout", "stderr"] as const) {
      const readable = this.process[stream];
      if (!readable) continue;
      readable.setEncoding("utf8");
      let partial = "";
      readable.on("data", (chunk: string) => {
        const lines = (partial + chunk).split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) this.output(stream, line);
      });
      readable.on("end", () => {
        if (partial) this.output(stream, partial);
        partial = "";
      });
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

interface ReadyMessage {
  ok: boolean;
  type?: string;
  message?: string;
  traceback?: string;
  python?: string;
}
