import { randomBytes } from "node:crypto";
import { link, mkdir, readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { RUNTIME_SHIM, Worker, type WorkerOptions } from "../../runtime/worker.ts";
import type { HealthCheck } from "../../domain/types.ts";
import type { LocalContext } from "./context.ts";
import type { CompiledShims } from "./shim-cache.ts";
import type { FunctionRecord } from "./store.ts";

/**
 * Variables an interpreter reads only as it starts (or the runtime reads as it loads): a function
 * whose env sets one gets a worker started for it, never a spare.
 */
const STARTUP_ENV = /^(PYTHON|LD_|MALLOC_|GLIBC_|LC_|LANG$|LANGUAGE$|FAAS_)/;

/** What the function handed to a spare is told of its worker (workers.ts's callbacks). */
export interface SpareHooks {
  output: (stream: "stdout" | "stderr", line: string) => void;
  exit: (worker: Worker) => void;
  retire: (worker: Worker) => void;
}

/** A sandboxed worker with the runtime imported and no function yet. */
interface Spare {
  worker: Worker;
  /** The options it was spawned with: its socket path changes when it is handed a function. */
  options: WorkerOptions;
  hooks: SpareHooks;
  /** Its own directory, which its sandbox sees read-only as the state directory's `functions`. */
  slot: string;
  /** Its socket directory as its sandbox sees it (HOME is `home` in it). */
  inside: string;
  /** The same directory now (renamed `<id>-<random>` when handed a function). */
  socketDir: string;
  ready: boolean;
}

/** What a worker handed its function needs (from workers.ts). */
export interface HandOver {
  record: FunctionRecord;
  /** The function's whole environment, given the spare's HOME. */
  env: (home: string) => Record<string, string>;
  hooks: SpareHooks;
  signal: AbortSignal;
}

/**
 * The warm pool (issue 16): per interpreter, `size` spare workers started ahead, each in its own
 * bubblewrap sandbox like any worker (own PID, mount, IPC and UTS namespaces; uid 65534 as root)
 * and seeing nothing of any function. A cold start of a function without a virtualenv takes one:
 * the revision's files are hard-linked into the spare's slot, where its sandbox sees them at the
 * revision's own path (read-only), and the spare gets the function's environment and handler on
 * its stdin, imports it, listens and reports as a worker started for the function does. A new
 * spare starts behind it. Spares are made one at a time, so a burst of cold starts costs no more
 * CPU than before; a cold start finding no ready spare starts a worker of its own.
 */
export class WarmPool {
  private readonly spares = new Map<string, Spare[]>();
  private readonly filling = new Map<string, Promise<void>>();
  private readonly slots: string;
  private closed = false;
  /** Cold starts that fit the pool: served by a spare, or not (none was ready). */
  private served = 0;
  private missed = 0;

  constructor(private readonly ctx: LocalContext, private readonly socketRoot: () => string, private readonly size: number, private readonly shims: CompiledShims) {
    this.slots = join(ctx.store.root, "spares");
  }

  /** Removes the slots an earlier run left (call before the first spare). */
  async open(): Promise<void> {
    await rm(this.slots, { recursive: true, force: true });
  }

  /** Whether a cold start of `record` can take a spare (none for a virtualenv, an unsandboxed agent, or start-up settings in its env). */
  fits(record: FunctionRecord): boolean {
    return this.on && !this.closed && !record.venv && !Object.keys(record.env).some((key) => STARTUP_ENV.test(key));
  }

  /** Whether there is a pool at all: spares are sandboxed workers, so only with the sandbox. */
  private get on(): boolean {
    return this.size > 0 && this.ctx.sandbox.isolation === "bwrap";
  }

  /**
   * A ready spare for `python`, taken out of the pool, or undefined. The pool refills behind it once
   * it has been handed its function (spawning forks the agent, which would hold up the hand-over).
   */
  take(python: string): Spare | undefined {
    const list = this.spares.get(python) ?? [];
    const index = list.findIndex((spare) => spare.ready && spare.worker.alive);
    const spare = index < 0 ? undefined : list.splice(index, 1)[0];
    if (spare) this.served++;
    else {
      this.missed++;
      this.fill(python);
    }
    return spare;
  }

  /** Resolves once every interpreter's pool is full (the cold-start benchmark waits for it). */
  async full(): Promise<void> {
    while (this.filling.size > 0) await Promise.all(this.filling.values());
  }

  /** The Health check: spares ready, and how the cold starts that fit the pool were served. */
  health(): HealthCheck {
    let ready = 0;
    for (const list of this.spares.values()) ready += list.filter((spare) => spare.ready).length;
    const message = this.on
      ? `${ready} spare workers ready; cold starts served by a spare: ${this.served}, by a worker of their own: ${this.missed}`
      : `off (${this.size === 0 ? "FAAS_WARM_WORKERS=0" : "workers are not sandboxed"})`;
    return { name: "warm_pool", ok: true, message };
  }

  /**
   * Hands `spare` its function and waits until it serves (as Worker.start does: HANDLER_INVALID
   * when the import fails). Throws `SpareLost` when the spare was gone before it got the function
   * (the caller starts a worker of its own then).
   */
  async handOver(spare: Spare, job: HandOver): Promise<Worker> {
    try {
      return await this.give(spare, job);
    } finally {
      this.fill(spare.options.python);
    }
  }

  private async give(spare: Spare, job: HandOver): Promise<Worker> {
    const { record } = job;
    const revision = this.ctx.store.revisionDir(record.id, record.revision);
    const socketDir = join(this.socketRoot(), `${record.id}-${randomBytes(4).toString("hex")}`);
    try {
      const seen = join(spare.slot, record.id, "revisions", record.revision);
      await mkdir(seen, { recursive: true, mode: 0o755 });
      // Hard links: the revision's own files, read-only inside (a revision is never changed).
      for (const name of await readdir(revision)) await link(join(revision, name), join(seen, name));
      await rename(spare.socketDir, socketDir);
      spare.socketDir = socketDir;
    } catch (error) {
      spare.worker.kill();
      throw new SpareLost(error);
    }
    if (!spare.worker.alive) throw new SpareLost(new Error("the spare exited"));
    Object.assign(spare.hooks, job.hooks);
    spare.options.socketPath = join(socketDir, "w.sock");
    spare.worker.assign({ handler: join(revision, "handler.py"), cwd: revision, env: job.env(join(spare.inside, "home")) });
    await spare.worker.ready(job.signal);
    return spare.worker;
  }

  /** Stops every spare (the platform closes). */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.filling.values()]);
    const all = [...this.spares.values()].flat();
    this.spares.clear();
    await Promise.all(all.map((spare) => spare.worker.stop(0)));
  }

  /** Starts spares for `python`, one at a time, until the pool is full. */
  private fill(python: string): void {
    if (this.filling.has(python) || this.closed) return;
    const run = async () => {
      const list = this.spares.get(python) ?? [];
      this.spares.set(python, list);
      while (!this.closed && list.length < this.size) {
        const spare = await this.spawn(python);
        list.push(spare);
        try {
          await spare.worker.ready(undefined, true);
          spare.ready = true;
        } catch (error) {
          list.splice(list.indexOf(spare), 1);
          this.ctx.options.logger.warn({ err: error }, "a spare worker did not start; the pool stops filling until the next cold start");
          return;
        }
      }
    };
    this.filling.set(python, run().finally(() => this.filling.delete(python)));
  }

  private async spawn(python: string): Promise<Spare> {
    const { options, sandbox, store } = this.ctx;
    const shim = await this.shims.for(python);
    const runtime = [...new Set([RUNTIME_SHIM, shim])];
    const name = randomBytes(6).toString("hex");
    const slot = join(this.slots, name);
    const inside = join(this.socketRoot(), `spare-${name}`);
    await mkdir(slot, { recursive: true, mode: 0o755 });
    await mkdir(inside, { mode: 0o700 });
    await mkdir(join(inside, "home"), { mode: 0o700 });
    await Promise.all([sandbox.hand(inside), sandbox.hand(join(inside, "home"))]);
    const hooks: SpareHooks = { output: () => {}, exit: () => {}, retire: () => {} };
    const spare = { slot, inside, socketDir: inside, hooks, ready: false } as Spare;
    spare.options = {
      python,
      shim,
      handlerPath: "",
      socketPath: join(inside, "w.sock"),
      cwd: inside,
      env: this.spareEnv(python, inside),
      launch: (argv) => sandbox.spareCommand(argv, { python, runtime, socketDir: inside, slot, functionsDir: store.functionsDir }),
      supervised: true,
      startTimeoutMs: options.deployTimeoutMs,
      callTimeoutMs: options.invokeTimeoutMs,
      maxResultBytes: options.maxResultBytes,
      drainMs: options.drainMs,
      onOutput: (stream, line) => spare.hooks.output(stream, line),
      onRetire: (worker) => spare.hooks.retire(worker),
      onExit: (worker) => {
        const list = this.spares.get(python);
        if (list?.includes(spare)) list.splice(list.indexOf(spare), 1);
        void rm(spare.socketDir, { recursive: true, force: true });
        void rm(slot, { recursive: true, force: true });
        spare.hooks.exit(worker);
      },
    };
    spare.worker = Worker.spawn(spare.options, true);
    return spare;
  }

  /** A spare's environment before it has a function: what the interpreter needs as it starts. */
  private spareEnv(python: string, inside: string): Record<string, string> {
    const { options, toolEnv, sandbox } = this.ctx;
    const paths = { python, runtime: [RUNTIME_SHIM], revisionDir: inside, venvDir: undefined, scratchDir: join(inside, "home"), socketDir: inside };
    return {
      LANG: toolEnv.LANG ?? "C.UTF-8",
      ...sandbox.workerEnv(paths),
      PYTHONUNBUFFERED: "1",
      PYTHONDONTWRITEBYTECODE: "1",
      FAAS_WORKER_THREADS: String(options.workerThreads),
      ...(options.maxResultBytes ? { FAAS_MAX_RESULT_BYTES: String(options.maxResultBytes) } : {}),
    };
  }
}

/** A spare that was gone before it got its function: start a worker of its own instead. */
export class SpareLost extends Error {
  constructor(cause: unknown) {
    super(`the spare worker was lost before the hand-over: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
}
