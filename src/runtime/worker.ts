import { connect } from "node:net";
import { RecentLines } from "../adapters/kit/lines.ts";
import { FaasError } from "../domain/errors.ts";
import { besideSource } from "../paths.ts";
import { FrameChannel } from "./frames.ts";
import { childrenOf, closePipes, OUTPUT_GRACE_MS, pipeLines, signalPid } from "./child-process.ts";
import { ConnectionError } from "./http-client.ts";
import { handlerInvalid, readReady } from "./worker-ready.ts";
import { spawnWorkerProcess, type WorkerProcess } from "./worker-spawn.ts";

/** The runtime shim every function runs under (see its docstring for the wire protocol). */
export const RUNTIME_SHIM = besideSource(import.meta.url, "python/faas_runtime.py");

const STDERR_KEPT = 40;
/** How long a worker whose socket closed may take to exit by itself before it is killed. */
const EXIT_GRACE_MS = 500;

export interface WorkerOptions {
  /** Interpreter to run the shim with (a virtualenv's python when there are requirements). */
  python: string;
  /** The shim to run: its source (the default) or its form compiled for `python`. */
  shim?: string;
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
  /** Longest a call may take (FAAS_INVOKE_TIMEOUT), in milliseconds. */
  callTimeoutMs: number;
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
  /**
   * The spawned process supervises the worker and exits when it does (bubblewrap): it is killed
   * through its children, so that it reaps them, rather than orphaning them.
   */
  supervised?: boolean;
}


/**
 * One Python worker process serving one revision of a function over the shim's framed protocol:
 * one unix-socket connection, calls multiplexed by id, no per-call allocation beyond the frame.
 * It is the local platform's kit Endpoint (adapters/kit/endpoint.ts: `call`, `close`). Start with
 * `Worker.start`; the caller owns it and must `stop` (or `close`) it.
 */
export class Worker {
  readonly pid: number;
  private readonly process: WorkerProcess;
  private channel: FrameChannel | undefined;
  private readonly recentStderr = new RecentLines(STDERR_KEPT);
  private exited = false;
  private retiring = false;
  private closed = false;
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
        void closePipes(proc, OUTPUT_GRACE_MS).then(() => resolve(this.onProcessExit(code ?? undefined, signal ?? undefined)));
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
    const worker = Worker.spawn(options);
    await worker.ready(signal);
    return worker;
  }

  /**
   * Spawns the process without waiting for it: with `spare`, a spare that imports the runtime and
   * waits for its function (the shim's --spare; hand it one with `assign`, then `ready`).
   */
  static spawn(options: WorkerOptions, spare = false): Worker {
    const worker = new Worker(spawnWorkerProcess(options.shim ?? RUNTIME_SHIM, options, spare), options);
    pipeLines(worker.process, (stream, line) => worker.output(stream, line));
    return worker;
  }

  /**
   * Waits for the worker's report and connects to it (once); with `spare`, for a spare's report that
   * it listens and waits for its function (the control pipe stays open for the next one). Kills the
   * worker and throws as `start` does when it does not become ready.
   */
  async ready(signal?: AbortSignal, spare = false): Promise<void> {
    try {
      const ready = await readReady({
        pipe: this.process.stdio[3] as NodeJS.ReadableStream,
        exited: this.exitPromise,
        timeoutMs: this.options.startTimeoutMs,
        crashed: () => this.crashError("worker exited before it was ready"),
        signal,
        keepOpen: spare,
      });
      if (!ready.ok) {
        // The shim exits right after its report; its traceback is in the report either way.
        await Promise.race([this.exitPromise, new Promise((r) => setTimeout(r, 1000).unref())]);
        throw handlerInvalid(ready);
      }
      // A spare listens before it has a function: connected now, its cold start is only the import.
      if (!this.channel) await this.connect();
    } catch (error) {
      this.kill();
      throw error;
    }
  }

  /** Hands a spare (`spawn` with `spare`) its function: one JSON line on its stdin. */
  assign(job: { handler: string; cwd: string; env: Record<string, string> }): void {
    this.process.stdin?.write(`${JSON.stringify(job)}\n`);
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
    return !this.exited && !this.retiring && !this.closed && this.channel?.isClosed !== true;
  }

  /**
   * Sends one call, bounded by `callTimeoutMs`. Resolves with the result's JSON text; rejects with
   * FaasError FUNCTION_ERROR, RESULT_NOT_SERIALIZABLE, RESULT_TOO_LARGE, WORKER_PROTOCOL_ERROR,
   * WORKER_CRASHED or INVOKE_TIMEOUT, or ConnectionError once the worker was closed (the call was
   * never sent). A timeout retires the worker (see `onRetire`).
   */
  call(payloadJson: string, signal?: AbortSignal): Promise<string> {
    if (this.closed) return Promise.reject(new ConnectionError(new Error("the worker was closed")));
    if (this.exited || !this.channel) return Promise.reject(this.crashError());
    return this.channel.call(payloadJson, this.options.callTimeoutMs, signal).catch((error: unknown) => {
      if ((error as { reason?: string }).reason === "INVOKE_TIMEOUT") this.retire();
      throw error;
    });
  }

  /**
   * Sends one stream call (FrameChannel.stream): each chunk's JSON text as the generator yields
   * it. Fails as `call` does; a timeout retires the worker.
   */
  async *stream(payloadJson: string, signal?: AbortSignal): AsyncGenerator<string> {
    if (this.closed) throw new ConnectionError(new Error("the worker was closed"));
    if (this.exited || !this.channel) throw this.crashError();
    try {
      yield* this.channel.stream(payloadJson, this.options.callTimeoutMs, signal);
    } catch (error) {
      if ((error as { reason?: string }).reason === "INVOKE_TIMEOUT") this.retire();
      throw error;
    }
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

  /** Takes no more calls and stops the process once its calls have finished (at most `drainMs`). */
  close(): void {
    this.closed = true;
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
    if (this.exited) return;
    const inner = this.options.supervised ? childrenOf(this.pid) : [];
    // A sandbox's init dies with all it holds and is reaped by its supervisor, which then exits.
    for (const pid of inner) signalPid(pid, "SIGKILL");
    if (inner.length === 0) this.signalGroup("SIGKILL");
    else setTimeout(() => this.exited || this.signalGroup("SIGKILL"), EXIT_GRACE_MS).unref();
  }

  /** Signals the worker's process group (it leads one: spawned detached), or the process alone. */
  private signalGroup(sig: NodeJS.Signals): void {
    if (this.pid > 0 && !signalPid(-this.pid, sig) && !this.exited) this.process.kill(sig);
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

  private output(stream: "stdout" | "stderr", line: string): void {
    if (stream === "stderr") this.recentStderr.push(line);
    this.options.onOutput(stream, line);
  }

  private onProcessExit(code: number | undefined, signal: string | undefined): void {
    this.exited = true;
    this.exitDescription = signal ? `killed by ${signal}` : `exited with code ${code ?? "unknown"}`;
    this.channel?.failAll(this.crashError());
    this.channel?.destroy();
    this.options.onExit?.(this);
  }

  /** How the worker ended, as unavailable WORKER_CRASHED with its last stderr lines. */
  private crashError(what = "worker process died while the call was running"): FaasError {
    const tail = this.recentStderr.last(10).join("\n");
    return new FaasError("unavailable", `${what} (${this.exitDescription || "not running"})${tail ? `; last output:\n${tail}` : ""}`, {
      reason: "WORKER_CRASHED",
      metadata: { exit: this.exitDescription, last_output: tail },
    });
  }
}
