import { connect, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { execa, type Options, type ResultPromise } from "execa";
import { FaasError } from "../domain/errors.ts";

/** The runtime shim every function runs under (see its docstring for the wire protocol). */
export const RUNTIME_SHIM = fileURLToPath(new URL("./python/faas_runtime.py", import.meta.url));

const KIND_INVOKE = 1;
const KIND_CANCEL = 2;
const STATUS_OK = 0;
const STATUS_FUNCTION_ERROR = 1;
const STATUS_BAD_PAYLOAD = 2;
const HEADER_BYTES = 9;
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

interface Pending {
  resolve: (resultJson: string) => void;
  reject: (error: unknown) => void;
  timer: NodeJS.Timeout;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/**
 * One Python worker process serving one revision of a function over the shim's framed protocol:
 * one unix-socket connection, calls multiplexed by id, no per-call allocation beyond the frame.
 * Start with `Worker.start`; the caller owns it and must `stop` it.
 */
export class Worker {
  readonly pid: number;
  private readonly process: WorkerProcess;
  private socket!: Socket;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private buffered: Buffer | undefined;
  private corked = false;
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
    return this.pending.size;
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
    if (this.exited) return Promise.reject(this.crashError());
    const id = this.nextId;
    this.nextId = id === 0xffffffff ? 1 : id + 1;
    const body = Buffer.from(payloadJson, "utf8");
    const frame = Buffer.allocUnsafe(HEADER_BYTES + body.length);
    frame.writeUInt32BE(body.length, 0);
    frame.writeUInt32BE(id, 4);
    frame.writeUInt8(KIND_INVOKE, 8);
    body.copy(frame, HEADER_BYTES);
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => this.abandon(id, timeoutError(timeoutMs)), timeoutMs);
      let onAbort: (() => void) | undefined;
      if (signal) {
        onAbort = () => this.abandon(id, abortError(signal));
        signal.addEventListener("abort", onAbort, { once: true });
      }
      this.pending.set(id, { resolve, reject, timer, signal, onAbort });
      this.write(frame);
    });
  }

  /** Waits for calls in flight (at most `graceMs`), then stops the process. Idempotent. */
  async stop(graceMs: number): Promise<void> {
    const deadline = Date.now() + graceMs;
    while (this.pending.size > 0 && !this.exited && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    if (!this.exited) {
      this.process.kill("SIGTERM");
      const timer = setTimeout(() => this.kill(), Math.max(1000, deadline - Date.now()));
      await this.exitPromise;
      clearTimeout(timer);
    }
    this.socket?.destroy();
  }

  /** Kills the process at once. */
  kill(): void {
    if (!this.exited) this.process.kill("SIGKILL");
  }

  private write(frame: Buffer): void {
    // Frames written in the same tick leave in one syscall.
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(frame);
  }

  private abandon(id: number, error: FaasError): void {
    const call = this.pending.get(id);
    if (!call) return;
    this.settle(id, call);
    call.reject(error);
    if (!this.exited && this.socket && !this.socket.destroyed) {
      const cancel = Buffer.alloc(HEADER_BYTES);
      cancel.writeUInt32BE(id, 4);
      cancel.writeUInt8(KIND_CANCEL, 8);
      this.write(cancel);
    }
  }

  private settle(id: number, call: Pending): void {
    this.pending.delete(id);
    clearTimeout(call.timer);
    if (call.onAbort) call.signal?.removeEventListener("abort", call.onAbort);
  }

  private onData(chunk: Buffer): void {
    let buf = this.buffered ? Buffer.concat([this.buffered, chunk]) : chunk;
    let offset = 0;
    while (buf.length - offset >= HEADER_BYTES) {
      const length = buf.readUInt32BE(offset);
      const end = offset + HEADER_BYTES + length;
      if (end > buf.length) break;
      const id = buf.readUInt32BE(offset + 4);
      const status = buf.readUInt8(offset + 8);
      const body = buf.toString("utf8", offset + HEADER_BYTES, end);
      offset = end;
      const call = this.pending.get(id);
      if (!call) continue; // abandoned (timeout or cancel)
      this.settle(id, call);
      if (status === STATUS_OK) call.resolve(body);
      else call.reject(callError(status, body));
    }
    this.buffered = offset === buf.length ? undefined : buf.subarray(offset);
  }

  private connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = connect(this.options.socketPath);
      socket.setNoDelay(true);
      socket.once("connect", () => {
        socket.off("error", reject);
        socket.on("error", () => {}); // reported through the process exit
        resolve();
      });
      socket.once("error", reject);
      socket.on("data", (chunk: Buffer) => this.onData(chunk));
      socket.on("close", () => {
        if (!this.exited) this.kill(); // a worker we cannot talk to is of no use
      });
      this.socket = socket;
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
    const error = this.crashError();
    for (const [id, call] of this.pending) {
      this.settle(id, call);
      call.reject(error);
    }
    this.socket?.destroy();
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

/** The FaasError for a runtime status (1 function error, 2 bad payload, 3 bad result) and its JSON body. */
export function callError(status: number, body: string): FaasError {
  let info: { type?: string; message?: string; traceback?: string } = {};
  try {
    info = JSON.parse(body);
  } catch {
    info = { message: body };
  }
  const metadata = { exception_type: info.type ?? "", exception_message: info.message ?? "", traceback: info.traceback ?? "" };
  if (status === STATUS_FUNCTION_ERROR) {
    return new FaasError("function_error", `${info.type}: ${info.message}\n${info.traceback ?? ""}`.trimEnd(), { reason: "FUNCTION_ERROR", metadata });
  }
  if (status === STATUS_BAD_PAYLOAD) {
    return new FaasError("invalid_argument", info.message ?? "payload is not valid JSON", { reason: "INVALID_REQUEST", metadata: { field: "payload" } });
  }
  return new FaasError("function_error", info.message ?? "handle returned a value that is not JSON serializable", { reason: "RESULT_NOT_SERIALIZABLE", metadata });
}

function timeoutError(timeoutMs: number): FaasError {
  return new FaasError("deadline_exceeded", `function did not return within ${timeoutMs / 1000} s`, { reason: "INVOKE_TIMEOUT" });
}

function abortError(signal: AbortSignal): FaasError {
  return new FaasError("cancelled", "the call was cancelled by the caller", { reason: "CANCELLED", cause: signal.reason });
}
