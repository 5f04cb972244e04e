import { rm } from "node:fs/promises";
import { functionNotFound } from "../../domain/errors.ts";
import type { Capabilities, DeployEmitter, DeploySpec, FunctionInfo, HealthCheck, InvokeOutcome, InvokeStream, LogLine, LogsOptions, Platform } from "../../domain/types.ts";
import { PythonFinder } from "../../runtime/python.ts";
import { callRoute, streamRoute } from "../kit/endpoint.ts";
import { KeyedLock } from "../kit/keyed-lock.ts";
import { runDeploy } from "../kit/pipeline.ts";
import { startSweeper, type Sweeper } from "../kit/sweeper.ts";
import { applyRevision, collectVenv, revisionOf } from "./apply.ts";
import { toolEnvOf, type Entry, type LocalContext, type LocalPlatformOptions } from "./context.ts";
import { FunctionLog } from "./logs.ts";
import { Sandbox } from "./sandbox.ts";
import { StateStore } from "./store.ts";
import { LocalWorkers } from "./workers.ts";

export type { LocalPlatformOptions } from "./context.ts";

/**
 * The embedded platform: each function runs as a Python worker process on this machine, started
 * from the runtime shim, spoken to over a unix socket. Functions persist under `stateDir` and
 * survive an agent restart; idle workers stop and start again on the next call. Its steps: the
 * revision is the content hash of the source and the Python found (render); writing, building and
 * starting it is apply.ts; the workers are workers.ts.
 */
export class LocalPlatform implements Platform {
  readonly name = "local" as const;
  /** Functions here run as one process each, without scaling, resource or traffic settings. */
  readonly capabilities: Capabilities = { options: new Set(), dryRun: false, traffic: false, logsFollow: true, streaming: "incremental" };
  private readonly ctx: LocalContext;
  private readonly workers: LocalWorkers;
  private readonly python: PythonFinder;
  private sweeper: Sweeper | undefined;

  private constructor(options: LocalPlatformOptions, sandbox: Sandbox) {
    const toolEnv = toolEnvOf(options.hostEnv);
    this.ctx = { options, store: new StateStore(options.stateDir), entries: new Map(), locks: new KeyedLock(), toolEnv, sandbox, closed: false };
    this.workers = new LocalWorkers(this.ctx);
    this.python = new PythonFinder(options.python, toolEnv);
  }

  /** Resolves once the warm pool is full (the cold-start benchmark waits for it between cold starts). */
  warm(): Promise<void> {
    return this.workers.pool.full();
  }

  /** Whether workers run in bubblewrap sandboxes ("bwrap") or as plain processes ("none"). */
  get isolation(): "bwrap" | "none" {
    return this.ctx.sandbox.isolation;
  }

  /**
   * Finds the sandbox (refusing to go on without one if required), opens the state directory,
   * sweeps what a crash left there and registers every function deployed before (as idle).
   */
  static async open(options: LocalPlatformOptions): Promise<LocalPlatform> {
    const platform = new LocalPlatform(options, await Sandbox.open(options.sandbox, options.logger));
    const { store, entries } = platform.ctx;
    await store.init();
    await platform.workers.open();
    for (const record of await store.loadAll()) {
      const log = new FunctionLog(store.logPath(record.id));
      await log.load();
      entries.set(record.id, { record, log, worker: undefined, starting: undefined, lastUsed: Date.now(), gone: new AbortController() });
    }
    platform.sweeper = startSweeper(options.idleTimeoutMs, (now) => platform.workers.stopIdle(now));
    return platform;
  }

  async deploy(spec: DeploySpec, emit: DeployEmitter, signal: AbortSignal): Promise<FunctionInfo> {
    const { entries, locks, options } = this.ctx;
    const run = { spec, emit, locks, logger: options.logger, noun: "function", where: "this agent's state directory" };
    return runDeploy(run, {
      current: async () => entries.get(spec.id),
      render: async () => {
        const python = await this.python.find(spec.params.PYTHON_VERSION);
        return { python, contentHash: revisionOf(spec, python.fullVersion) };
      },
      unchanged: (previous, { contentHash: revision }) => (previous.record.revision === revision ? `revision ${revision} is already deployed; nothing to do` : undefined),
      apply: ({ python, contentHash: revision }, previous, phases) => applyRevision(this.ctx, this.workers, spec, python, revision, previous, phases.emitter, signal),
      describe: (running) => describe("made" in running ? running.made : running.current),
    });
  }

  async invoke(id: string, payloadJson: string, signal: AbortSignal): Promise<InvokeOutcome> {
    const entry = this.ctx.entries.get(id);
    if (!entry) throw functionNotFound(id);
    entry.lastUsed = Date.now();
    try {
      const { resultJson, resolved } = await callRoute(this.workers.routes(entry), id, payloadJson, signal);
      return { resultJson, coldStart: resolved };
    } finally {
      entry.lastUsed = Date.now();
    }
  }

  async invokeStream(id: string, payloadJson: string, signal: AbortSignal): Promise<InvokeStream> {
    const entry = this.ctx.entries.get(id);
    if (!entry) throw functionNotFound(id);
    entry.lastUsed = Date.now();
    return streamRoute(this.workers.routes(entry), id, payloadJson, signal);
  }

  async list(): Promise<FunctionInfo[]> {
    return [...this.ctx.entries.values()].map(describe).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async get(id: string): Promise<FunctionInfo> {
    const entry = this.ctx.entries.get(id);
    if (!entry) throw functionNotFound(id);
    return describe(entry);
  }

  async remove(id: string): Promise<void> {
    const { entries, locks, store, options } = this.ctx;
    await locks.run(id, async () => {
      const entry = entries.get(id);
      if (!entry) throw functionNotFound(id);
      // Recorded before anything slow: once its directory is renamed away, no restart brings it back.
      const doomed = await store.markDeleted(id);
      entries.delete(id);
      entry.gone.abort(functionNotFound(id));
      await this.workers.stop(entry);
      await entry.log.close();
      await rm(doomed, { recursive: true, force: true });
      await collectVenv(this.ctx, entry.record.venv);
      options.logger.info({ function: id }, "function deleted");
    });
  }

  async *logs(id: string, options: LogsOptions, signal: AbortSignal): AsyncIterable<LogLine> {
    const entry = this.ctx.entries.get(id);
    if (!entry) throw functionNotFound(id);
    // Followed from before the backlog is taken, so no line falls between the two.
    const follow = options.follow ? entry.log.follow(signal) : undefined;
    // Re-check deletion and shutdown now and then: either ends the follow.
    const check = follow ? setInterval(() => (this.ctx.closed || this.ctx.entries.get(id) !== entry) && follow.unfollow(), 1000).unref() : undefined;
    try {
      yield* entry.log.tail(options.tail);
      if (follow && !signal.aborted) yield* follow.lines;
    } finally {
      clearInterval(check);
      follow?.unfollow();
    }
  }

  async health(): Promise<HealthCheck[]> {
    const checks: HealthCheck[] = [];
    try {
      const python = await this.python.default();
      checks.push({ name: "python", ok: true, message: `${python.executable} ${python.fullVersion}` });
    } catch (error) {
      checks.push({ name: "python", ok: false, message: (error as Error).message });
    }
    const { store } = this.ctx;
    try {
      await store.init();
      checks.push({ name: "state_dir", ok: true, message: store.root });
    } catch (error) {
      checks.push({ name: "state_dir", ok: false, message: `${store.root}: ${(error as Error).message}` });
    }
    checks.push(this.ctx.sandbox.health(), this.workers.pool.health());
    return checks;
  }

  async close(): Promise<void> {
    this.ctx.closed = true;
    this.sweeper?.stop();
    await Promise.all(
      [...this.ctx.entries.values()].map(async (entry) => {
        await this.workers.stop(entry);
        await entry.log.close();
      }),
    );
    await this.workers.close();
  }
}

function describe(entry: Entry): FunctionInfo {
  const worker = entry.worker;
  const running = worker?.alive === true;
  return {
    id: entry.record.id,
    image: "",
    ready: true,
    state: running ? "running" : "idle",
    platform: "local",
    endpoint: running ? `unix:${worker.socketPath}` : "",
    createdAt: new Date(entry.record.createdAt),
    updatedAt: new Date(entry.record.updatedAt),
    revision: entry.record.revision,
    pythonVersion: entry.record.pythonVersion,
  };
}
