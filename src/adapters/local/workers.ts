import { randomBytes } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { RUNTIME_SHIM, Worker } from "../../runtime/worker.ts";
import type { Endpoint, Routes } from "../kit/endpoint.ts";
import type { Entry, LocalContext } from "./context.ts";
import type { FunctionLog } from "./logs.ts";
import { SpareLost, WarmPool, type SpareHooks } from "./pool.ts";
import { CompiledShims } from "./shim-cache.ts";
import type { WorkerPaths } from "./sandbox.ts";
import type { FunctionRecord } from "./store.ts";
import { openSocketDir, sweepState } from "./sweep.ts";

/** A worker is the local platform's kit Endpoint (checked here, where it is used as one). */
type WorkerEndpoint = Worker & Endpoint;

/**
 * The local platform's worker processes: where they are spawned (the one spawn site), started on
 * demand for a call, forgotten when they exit or retire, and stopped when idle. Each runs in the
 * sandbox (sandbox.ts) and gets its own unix socket in a directory of its own (the only one its
 * sandbox sees, its HOME in it) under a short private directory (socket paths are limited to ~100
 * bytes). A cold start takes a spare from the warm pool (pool.ts) when one fits and is ready.
 */
export class LocalWorkers {
  private socketDir = "";
  /** Spare workers for cold starts. */
  readonly pool: WarmPool;

  /** The runtime shim compiled per interpreter, in the socket directory. */
  private readonly shims: CompiledShims;

  constructor(private readonly ctx: LocalContext) {
    this.shims = new CompiledShims(() => this.socketDir, { PATH: ctx.toolEnv.PATH ?? "/usr/bin:/bin", LANG: ctx.toolEnv.LANG ?? "C.UTF-8" });
    this.pool = new WarmPool(ctx, () => this.socketDir, ctx.options.warmWorkers ?? 0, this.shims);
  }

  /**
   * Sweeps what a crash left in the state directory (sweep.ts) and makes this run's socket
   * directory; call once, before loading functions or starting any worker.
   */
  async open(): Promise<void> {
    await sweepState(this.ctx.store, this.ctx.options.logger);
    this.socketDir = await openSocketDir(this.ctx.store.root);
    await this.pool.open();
  }

  /**
   * The entry's worker as the kit's Routes for callRoute: the cached endpoint is the running
   * worker, resolving starts one (a cold start), dropping forgets it.
   */
  routes(entry: Entry): Routes {
    return {
      cached: () => (entry.worker?.alive ? (entry.worker satisfies WorkerEndpoint) : undefined),
      resolve: (_id, signal) => this.ensure(entry, signal),
      drop: (_id, endpoint) => {
        if (entry.worker === endpoint) entry.worker = undefined;
      },
    };
  }

  /** Starts a worker for the entry's current revision, once however many calls wait for it. */
  ensure(entry: Entry, signal: AbortSignal): Promise<Worker> {
    if (entry.starting) return entry.starting;
    const record = entry.record;
    const starting = this.start(record, entry.log, AbortSignal.any([signal, entry.gone.signal])).then(
      (worker) => {
        entry.starting = undefined;
        if (entry.record !== record || this.ctx.entries.get(record.id) !== entry || this.ctx.closed) {
          // Redeployed or deleted while this one started: it must not serve.
          void worker.stop(0);
          return entry.worker ?? this.ensure(entry, signal);
        }
        entry.worker = worker;
        this.ctx.options.logger.debug({ function: record.id, pid: worker.pid }, "worker started");
        return worker;
      },
      (error) => {
        entry.starting = undefined;
        throw error;
      },
    );
    entry.starting = starting;
    return starting;
  }

  /**
   * Starts a worker for `record` (a spare from the pool, or one of its own) and waits until its
   * handler imported. Its output goes to `log`, and while it starts also to `during` (a deploy's
   * import lines). Fails as Worker.start does.
   */
  async start(record: FunctionRecord, log: FunctionLog, signal: AbortSignal, during?: (stream: "stdout" | "stderr", line: string) => void): Promise<Worker> {
    let starting = true;
    const hooks: SpareHooks = {
      output: (stream, line) => {
        log.append(stream, line);
        if (starting) during?.(stream, line);
      },
      retire: (worker) => this.forget(worker, "retired", "worker retired after a call timed out"),
      exit: (worker) => this.forget(worker, "exited", "worker exited"),
    };
    try {
      const spare = this.pool.fits(record) ? this.pool.take(record.python) : undefined;
      if (spare) {
        const env = (home: string) => this.env(record, this.paths(record, home, home, []));
        try {
          return await this.pool.handOver(spare, { record, env, hooks, signal });
        } catch (error) {
          if (!(error instanceof SpareLost)) throw error;
        }
      }
      return await this.startOwn(record, hooks, signal);
    } finally {
      starting = false;
    }
  }

  /** Spawns a worker of the function's own (its own sandbox made for it). */
  private async startOwn(record: FunctionRecord, hooks: SpareHooks, signal: AbortSignal): Promise<Worker> {
    const { options, store, sandbox } = this.ctx;
    const socketDir = join(this.socketDir, `${record.id}-${randomBytes(4).toString("hex")}`);
    const shim = await this.shims.for(record.python);
    const paths = this.paths(record, socketDir, join(socketDir, "home"), [shim]);
    await mkdir(socketDir, { mode: 0o700 });
    await mkdir(paths.scratchDir, { mode: 0o700 });
    await Promise.all([sandbox.hand(socketDir), sandbox.hand(paths.scratchDir)]);
    return Worker.start(
      {
        python: record.python,
        shim,
        handlerPath: store.handlerPath(record.id, record.revision),
        socketPath: join(socketDir, "w.sock"),
        cwd: paths.revisionDir,
        env: this.env(record, paths),
        launch: (argv) => sandbox.workerCommand(argv, paths),
        supervised: sandbox.isolation === "bwrap",
        startTimeoutMs: options.deployTimeoutMs,
        callTimeoutMs: options.invokeTimeoutMs,
        maxResultBytes: options.maxResultBytes,
        drainMs: options.drainMs,
        onRetire: hooks.retire,
        onOutput: hooks.output,
        onExit: (worker) => {
          void rm(socketDir, { recursive: true, force: true });
          hooks.exit(worker);
        },
      },
      signal,
    );
  }

  /** Where a worker of `record` finds its files; HOME (`scratchDir`) is the worker's own, in its socket directory. */
  private paths(record: FunctionRecord, socketDir: string, home: string, shim: string[]): WorkerPaths {
    const { store } = this.ctx;
    return {
      python: record.python,
      runtime: [...new Set([RUNTIME_SHIM, ...shim])],
      revisionDir: store.revisionDir(record.id, record.revision),
      venvDir: record.venv ? store.venvDir(record.venv) : undefined,
      scratchDir: home,
      socketDir,
    };
  }

  /** Stops the workers idle for the idle timeout (the kit sweeper calls this). */
  stopIdle(now: number): void {
    for (const entry of this.ctx.entries.values()) {
      const worker = entry.worker;
      if (worker && worker.inflight === 0 && now - entry.lastUsed >= this.ctx.options.idleTimeoutMs) {
        entry.worker = undefined;
        this.ctx.options.logger.debug({ function: entry.record.id, pid: worker.pid }, "idle worker stopped");
        worker.close();
      }
    }
  }

  /** Stops the entry's worker, if any, after its calls finished (at most the drain time). */
  async stop(entry: Entry): Promise<void> {
    const worker = entry.worker;
    entry.worker = undefined;
    await worker?.stop(this.ctx.options.drainMs);
  }

  /** Stops the spares and removes the socket directory (after every worker stopped). */
  async close(): Promise<void> {
    await this.pool.close();
    await rm(this.socketDir, { recursive: true, force: true });
  }

  /** Routes no more calls to `worker` (it exited or retired): the next call starts a fresh one. */
  private forget(worker: Worker, reason: "exited" | "retired", why: string): void {
    for (const entry of this.ctx.entries.values()) {
      if (entry.worker === worker) {
        entry.worker = undefined;
        this.ctx.options.logger.warn({ function: entry.record.id, pid: worker.pid, reason: reason === "exited" ? "WORKER_EXITED" : "WORKER_RETIRED" }, why);
        this.ctx.options.onWorkerLost?.(entry.record.id, reason);
      }
    }
  }

  /** A worker's whole environment: its own env plus what the runtime needs, nothing of the agent's. */
  private env(record: FunctionRecord, paths: WorkerPaths): Record<string, string> {
    const { options, toolEnv, store, sandbox } = this.ctx;
    const sandboxed = sandbox.isolation !== "none";
    const env: Record<string, string> = {
      PATH: toolEnv.PATH ?? "/usr/local/bin:/usr/bin:/bin",
      LANG: toolEnv.LANG ?? "C.UTF-8",
      // Inside the sandbox: HOME is its scratch directory, PATH what the sandbox has.
      ...(sandboxed ? sandbox.workerEnv(paths) : {}),
      PYTHONUNBUFFERED: "1",
      PYTHONDONTWRITEBYTECODE: "1",
      FAAS_WORKER_THREADS: String(options.workerThreads),
      ...(options.maxResultBytes ? { FAAS_MAX_RESULT_BYTES: String(options.maxResultBytes) } : {}),
      FAAS_FUNCTION_ID: record.id,
      FAAS_REVISION: record.revision,
      ...record.env,
    };
    if (toolEnv.HOME && !sandboxed) env.HOME = toolEnv.HOME;
    if (toolEnv.PYENV_ROOT && !sandboxed) env.PYENV_ROOT = toolEnv.PYENV_ROOT;
    if (record.venv) env.VIRTUAL_ENV = store.venvDir(record.venv);
    return env;
  }
}
