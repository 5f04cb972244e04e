import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { functionNotFound } from "../../domain/errors.ts";
import type {
  Capabilities,
  DeployEmitter,
  DeployPhase,
  DeploySpec,
  FunctionInfo,
  HealthCheck,
  InvokeOutcome,
  LogLine,
  LogsOptions,
  Platform,
} from "../../domain/types.ts";
import { PythonFinder, type PythonInfo } from "../../runtime/python.ts";
import { RUNTIME_SHIM, Worker } from "../../runtime/worker.ts";
import { FunctionLog } from "./logs.ts";
import { Sandbox, type SandboxOptions, type WorkerPaths } from "./sandbox.ts";
import { openSocketDir, sweepState } from "./sweep.ts";
import { StateStore, type FunctionRecord } from "./store.ts";
import { ensureVenv } from "./venv.ts";
import { canonicalJson, contentHash } from "../kit/hash.ts";
import { KeyedLock } from "../kit/keyed-lock.ts";
import { runDeploy } from "../kit/pipeline.ts";
import { AsyncQueue } from "../kit/queue.ts";
import { startSweeper, type Sweeper } from "../kit/sweeper.ts";

/** Options of the local platform; see Config for their environment variables. */
export interface LocalPlatformOptions {
  stateDir: string;
  /** Interpreter for deploys that do not set PYTHON_VERSION. */
  python: string;
  workerThreads: number;
  /** Stop a worker after this long without calls; 0 = never. */
  idleTimeoutMs: number;
  invokeTimeoutMs: number;
  deployTimeoutMs: number;
  /** How long a stopping worker may finish the calls it has. */
  drainMs: number;
  /** Largest result a worker may return (FAAS_MAX_RESULT_BYTES); default 64 MiB. */
  maxResultBytes?: number;
  /** The agent's environment: only PATH, HOME, locale, proxy and PIP_* settings pass to pip. */
  hostEnv: NodeJS.ProcessEnv;
  /** How workers and pip are sandboxed (bubblewrap). */
  sandbox: SandboxOptions;
  logger: Logger;
}

/** The shim's source: part of every revision, so a new runtime means a new revision. */
const RUNTIME_SOURCE = readFileSync(RUNTIME_SHIM);

interface Entry {
  record: FunctionRecord;
  log: FunctionLog;
  worker: Worker | undefined;
  starting: Promise<Worker> | undefined;
  lastUsed: number;
  /** Aborted when the function is deleted: a worker still starting for it is killed at once. */
  gone: AbortController;
}

/**
 * The embedded platform: each function runs as a Python worker process on this machine, started
 * from the runtime shim, spoken to over a unix socket. Functions persist under `stateDir` and
 * survive an agent restart; idle workers stop and start again on the next call.
 */
export class LocalPlatform implements Platform {
  readonly name = "local" as const;
  /** Functions here run as one process each, without scaling, resource or traffic settings. */
  readonly capabilities: Capabilities = { options: new Set(), dryRun: false, traffic: false, logsFollow: true };
  private readonly store: StateStore;
  private readonly entries = new Map<string, Entry>();
  private readonly locks = new KeyedLock();
  private readonly python: PythonFinder;
  private readonly toolEnv: Record<string, string>;
  private socketDir = "";
  private sandbox!: Sandbox;

  /** Whether workers run in bubblewrap sandboxes ("bwrap") or as plain processes ("none"). */
  get isolation(): "bwrap" | "none" {
    return this.sandbox.isolation;
  }
  private sweeper: Sweeper | undefined;
  private closed = false;

  private constructor(private readonly options: LocalPlatformOptions) {
    this.store = new StateStore(options.stateDir);
    this.toolEnv = pickEnv(options.hostEnv, /^(PATH|HOME|LANG|LC_[A-Z]+|TMPDIR|PYENV_[A-Z_]+|https?_proxy|HTTPS?_PROXY|no_proxy|NO_PROXY|PIP_[A-Z_]+)$/);
    this.python = new PythonFinder(options.python, this.toolEnv);
  }

  /** Opens the state directory and registers every function deployed before (as idle). */
  static async open(options: LocalPlatformOptions): Promise<LocalPlatform> {
    const platform = new LocalPlatform(options);
    platform.sandbox = await Sandbox.open(options.sandbox, options.logger);
    await platform.store.init();
    // What a crash left behind goes first: half-written revisions, partial venvs, sockets, deletes.
    await sweepState(platform.store, options.logger);
    platform.socketDir = await openSocketDir(platform.store.root);
    for (const record of await platform.store.loadAll()) {
      const log = new FunctionLog(platform.store.logPath(record.id));
      await log.load();
      platform.entries.set(record.id, { record, log, worker: undefined, starting: undefined, lastUsed: Date.now(), gone: new AbortController() });
    }
    platform.sweeper = startSweeper(options.idleTimeoutMs, (now) => platform.stopIdle(now));
    return platform;
  }

  async deploy(spec: DeploySpec, emit: DeployEmitter, signal: AbortSignal): Promise<FunctionInfo> {
    const run = { spec, emit, locks: this.locks, logger: this.options.logger, noun: "function", where: "this agent's state directory" };
    return runDeploy(run, {
      current: async () => this.entries.get(spec.id),
      render: async () => {
        const python = await this.python.find(spec.params.PYTHON_VERSION);
        return { python, contentHash: revisionOf(spec, python.fullVersion) };
      },
      unchanged: (previous, { contentHash: revision }) => (previous.record.revision === revision ? `revision ${revision} is already deployed; nothing to do` : undefined),
      apply: ({ python, contentHash: revision }, previous, phases) => this.applyRevision(spec, python, revision, previous, phases.emitter, signal),
      describe: (running) => this.describe("made" in running ? running.made : running.current),
    });
  }

  async invoke(id: string, payloadJson: string, signal: AbortSignal): Promise<InvokeOutcome> {
    const entry = this.entries.get(id);
    if (!entry) throw functionNotFound(id);
    let worker = entry.worker;
    let coldStart = false;
    if (worker === undefined || !worker.alive) {
      worker = await this.ensureWorker(entry, signal);
      coldStart = true;
    }
    entry.lastUsed = Date.now();
    try {
      return { resultJson: await worker.call(payloadJson, this.options.invokeTimeoutMs, signal), coldStart };
    } finally {
      entry.lastUsed = Date.now();
    }
  }

  async list(): Promise<FunctionInfo[]> {
    return [...this.entries.values()].map((e) => this.describe(e)).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async get(id: string): Promise<FunctionInfo> {
    const entry = this.entries.get(id);
    if (!entry) throw functionNotFound(id);
    return this.describe(entry);
  }

  async remove(id: string): Promise<void> {
    await this.locks.run(id, async () => {
      const entry = this.entries.get(id);
      if (!entry) throw functionNotFound(id);
      // Recorded before anything slow: once its directory is renamed away, no restart brings it back.
      const doomed = await this.store.markDeleted(id);
      this.entries.delete(id);
      entry.gone.abort(functionNotFound(id));
      const worker = entry.worker;
      entry.worker = undefined;
      await worker?.stop(this.options.drainMs);
      await entry.log.close();
      await rm(doomed, { recursive: true, force: true });
      await this.collectVenv(entry.record.venv);
      this.options.logger.info({ function: id }, "function deleted");
    });
  }

  async *logs(id: string, options: LogsOptions, signal: AbortSignal): AsyncIterable<LogLine> {
    const entry = this.entries.get(id);
    if (!entry) throw functionNotFound(id);
    const queue = new AsyncQueue<LogLine>({ signal });
    const unfollow = options.follow ? entry.log.follow((line) => queue.push(line)) : undefined;
    // Re-check deletion and shutdown now and then: either ends the follow.
    const check = unfollow ? setInterval(() => (this.closed || this.entries.get(id) !== entry) && queue.end(), 1000).unref() : undefined;
    try {
      yield* entry.log.tail(options.tail);
      if (unfollow && !signal.aborted) yield* queue;
    } finally {
      clearInterval(check);
      unfollow?.();
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
    try {
      await this.store.init();
      checks.push({ name: "state_dir", ok: true, message: this.store.root });
    } catch (error) {
      checks.push({ name: "state_dir", ok: false, message: `${this.store.root}: ${(error as Error).message}` });
    }
    checks.push(this.sandbox.health());
    return checks;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.sweeper?.stop();
    await Promise.all(
      [...this.entries.values()].map(async (entry) => {
        const worker = entry.worker;
        entry.worker = undefined;
        await worker?.stop(this.options.drainMs);
        await entry.log.close();
      }),
    );
    await rm(this.socketDir, { recursive: true, force: true });
  }

  /** The local platform's apply step: writes the revision, makes its virtualenv, starts its worker, swaps it in. */
  private async applyRevision(spec: DeploySpec, python: PythonInfo, revision: string, previous: Entry | undefined, emit: DeployEmitter, signal: AbortSignal): Promise<Entry> {
    const log = (phase: DeployPhase, source: string, line: string) => emit({ type: "log", phase, source, line, time: new Date() });
    const phase = (p: DeployPhase) => emit({ type: "phase", phase: p, time: new Date() });
    if (spec.params.BASE_IMAGE) log("validating", "agent", "BASE_IMAGE is ignored on the local platform, which runs no image");

    phase("packaging");
    await this.store.writeRevision(spec.id, revision, spec.handler);
    log("packaging", "agent", `wrote revision ${revision} (Python ${python.fullVersion})`);

    phase("building");
    let interpreter = python.executable;
    let venvKey = "";
    if (spec.requirements.trim()) {
      // The index is part of the key: a venv from another index must not be shared with this deploy.
      venvKey = contentHash(["radical-faas venv v2", python.executable, python.fullVersion, spec.requirements, spec.params.PIP_INDEX_URL ?? ""]);
      const venv = await this.locks.run(`venv:${venvKey}`, () =>
        ensureVenv({
          dir: this.store.venvDir(venvKey),
          python: python.executable,
          requirements: spec.requirements,
          indexUrl: spec.params.PIP_INDEX_URL,
          env: this.toolEnv,
          sandbox: this.sandbox,
          timeoutMs: this.options.deployTimeoutMs,
          onLine: (source, line) => log("building", source, line),
          signal,
        }),
      );
      if (venv.reused) log("building", "agent", "requirements unchanged: reusing the existing virtualenv");
      interpreter = venv.python;
    } else {
      log("building", "agent", "no requirements to install");
    }

    phase("deploying");
    const now = new Date().toISOString();
    const record: FunctionRecord = {
      id: spec.id,
      revision,
      python: interpreter,
      pythonVersion: python.version,
      venv: venvKey,
      env: spec.env,
      createdAt: previous?.record.createdAt ?? now,
      updatedAt: now,
    };
    const entryLog = previous?.log ?? new FunctionLog(this.store.logPath(spec.id));
    let worker: Worker;
    try {
      worker = await this.startWorker(record, entryLog, signal, (stream, line) => log("deploying", stream === "stderr" ? "import" : "stdout", line));
    } catch (error) {
      if (!previous) {
        await entryLog.close();
        await rm(this.store.functionDir(spec.id), { recursive: true, force: true });
      } else {
        await rm(this.store.revisionDir(spec.id, revision), { recursive: true, force: true });
      }
      throw error;
    }
    log("deploying", "agent", `handler imported; worker ${worker.pid} is serving`);

    await this.store.save(record);
    const entry: Entry = previous ?? { record, log: entryLog, worker: undefined, starting: undefined, lastUsed: Date.now(), gone: new AbortController() };
    const old = entry.worker;
    const oldVenv = previous?.record.venv;
    // The swap: new calls go to the new worker from here on; the old one finishes what it has.
    entry.record = record;
    entry.worker = worker;
    entry.starting = undefined;
    entry.lastUsed = Date.now();
    this.entries.set(spec.id, entry);
    // Older revisions (and a virtualenv nobody uses any more) go once the old worker has drained;
    // a later deploy may have replaced this one by then, so what is kept is what is current then.
    void Promise.resolve(old?.stop(this.options.drainMs)).then(async () => {
      await this.locks.run(spec.id, async () => {
        const current = this.entries.get(spec.id);
        if (current) await this.store.pruneRevisions(spec.id, current.record.revision);
      });
      if (oldVenv && oldVenv !== venvKey) await this.collectVenv(oldVenv);
    });
    return entry;
  }

  /** Starts a worker for the entry's current revision, once however many calls wait for it. */
  private ensureWorker(entry: Entry, signal: AbortSignal): Promise<Worker> {
    if (entry.starting) return entry.starting;
    const record = entry.record;
    const starting = this.startWorker(record, entry.log, AbortSignal.any([signal, entry.gone.signal])).then(
      (worker) => {
        entry.starting = undefined;
        if (entry.record !== record || this.entries.get(record.id) !== entry || this.closed) {
          // Redeployed or deleted while this one started: it must not serve.
          void worker.stop(0);
          return entry.worker ?? this.ensureWorker(entry, signal);
        }
        entry.worker = worker;
        this.options.logger.debug({ function: record.id, pid: worker.pid }, "worker started");
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

  private async startWorker(
    record: FunctionRecord,
    log: FunctionLog,
    signal: AbortSignal,
    during?: (stream: "stdout" | "stderr", line: string) => void,
  ): Promise<Worker> {
    let starting = true;
    // Each worker's socket lives in a directory of its own: its sandbox sees that one only.
    const socketDir = join(this.socketDir, `${record.id}-${randomBytes(4).toString("hex")}`);
    const paths: WorkerPaths = {
      python: record.python,
      runtime: RUNTIME_SHIM,
      revisionDir: this.store.revisionDir(record.id, record.revision),
      venvDir: record.venv ? this.store.venvDir(record.venv) : undefined,
      scratchDir: this.store.scratchDir(record.id),
      socketDir,
    };
    await mkdir(socketDir, { mode: 0o700 });
    await mkdir(paths.scratchDir, { recursive: true, mode: 0o700 });
    await Promise.all([this.sandbox.hand(socketDir), this.sandbox.hand(paths.scratchDir)]);
    return Worker.start(
      {
        python: record.python,
        handlerPath: this.store.handlerPath(record.id, record.revision),
        socketPath: join(socketDir, "w.sock"),
        cwd: paths.revisionDir,
        env: this.workerEnv(record, paths),
        launch: (argv) => this.sandbox.workerCommand(argv, paths),
        startTimeoutMs: this.options.deployTimeoutMs,
        maxResultBytes: this.options.maxResultBytes,
        drainMs: this.options.drainMs,
        onRetire: (worker) => this.forget(worker, "worker retired after a call timed out"),
        onOutput: (stream, line) => {
          log.append(stream, line);
          if (starting) during?.(stream, line);
        },
        onExit: (worker) => {
          void rm(socketDir, { recursive: true, force: true });
          this.forget(worker, "worker exited");
        },
      },
      signal,
    ).finally(() => {
      starting = false;
    });
  }

  /** Routes no more calls to `worker` (it exited or retired): the next call starts a fresh one. */
  private forget(worker: Worker, why: string): void {
    for (const entry of this.entries.values()) {
      if (entry.worker === worker) {
        entry.worker = undefined;
        this.options.logger.warn({ function: entry.record.id, pid: worker.pid }, why);
      }
    }
  }

  /** A worker's whole environment: its own env plus what the runtime needs, nothing of the agent's. */
  private workerEnv(record: FunctionRecord, paths: WorkerPaths): Record<string, string> {
    const sandboxed = this.sandbox.isolation !== "none";
    const env: Record<string, string> = {
      PATH: this.toolEnv.PATH ?? "/usr/local/bin:/usr/bin:/bin",
      LANG: this.toolEnv.LANG ?? "C.UTF-8",
      ...(sandboxed ? this.sandbox.workerEnv(paths) : {}),
      PYTHONUNBUFFERED: "1",
      PYTHONDONTWRITEBYTECODE: "1",
      FAAS_WORKER_THREADS: String(this.options.workerThreads),
      ...(this.options.maxResultBytes ? { FAAS_MAX_RESULT_BYTES: String(this.options.maxResultBytes) } : {}),
      FAAS_FUNCTION_ID: record.id,
      FAAS_REVISION: record.revision,
      ...record.env,
    };
    if (this.toolEnv.HOME && !sandboxed) env.HOME = this.toolEnv.HOME;
    if (this.toolEnv.PYENV_ROOT && !sandboxed) env.PYENV_ROOT = this.toolEnv.PYENV_ROOT;
    if (record.venv) env.VIRTUAL_ENV = this.store.venvDir(record.venv);
    return env;
  }

  private describe(entry: Entry): FunctionInfo {
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

  private stopIdle(now: number): void {
    for (const entry of this.entries.values()) {
      const worker = entry.worker;
      if (worker && worker.inflight === 0 && now - entry.lastUsed >= this.options.idleTimeoutMs) {
        entry.worker = undefined;
        this.options.logger.debug({ function: entry.record.id, pid: worker.pid }, "idle worker stopped");
        void worker.stop(this.options.drainMs);
      }
    }
  }

  private async collectVenv(key: string): Promise<void> {
    if (!key) return;
    for (const entry of this.entries.values()) if (entry.record.venv === key) return;
    await this.locks.run(`venv:${key}`, () => rm(this.store.venvDir(key), { recursive: true, force: true }));
  }
}

/** The content hash of a deploy: everything that goes into the function, and the runtime. */
function revisionOf(spec: DeploySpec, pythonVersion: string): string {
  return contentHash(["radical-faas local revision v1", RUNTIME_SOURCE, pythonVersion, spec.handler, spec.requirements, canonicalJson(spec.params), canonicalJson(spec.env)]);
}

function pickEnv(env: NodeJS.ProcessEnv, pattern: RegExp): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && pattern.test(k)) out[k] = v;
  return out;
}
