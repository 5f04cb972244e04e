import type { Logger } from "pino";
import type { Worker } from "../../runtime/worker.ts";
import type { KeyedLock } from "../kit/keyed-lock.ts";
import type { FunctionLog } from "./logs.ts";
import type { Sandbox, SandboxOptions } from "./sandbox.ts";
import type { FunctionRecord, StateStore } from "./store.ts";

/** Options of the local platform; see Config for their environment variables. */
export interface LocalPlatformOptions {
  stateDir: string;
  /** Interpreter for deploys that do not set PYTHON_VERSION. */
  python: string;
  workerThreads: number;
  /** Spare sandboxed workers kept ready per interpreter for cold starts (pool.ts); 0: none. */
  warmWorkers?: number;
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
  /** Told when a serving worker goes away: it exited (crashed, killed) or was retired after a timed-out call. */
  onWorkerLost?: (functionId: string, reason: "exited" | "retired") => void;
}

/** A deployed function as the local platform holds it. */
export interface Entry {
  record: FunctionRecord;
  log: FunctionLog;
  /** The worker serving the current revision, when one runs. */
  worker: Worker | undefined;
  /** A worker being started for the current revision (the calls waiting share it). */
  starting: Promise<Worker> | undefined;
  /** When the function last took a call (ms since the epoch), for the idle sweep. */
  lastUsed: number;
  /** Aborted when the function is deleted: a worker still starting for it is killed at once. */
  gone: AbortController;
}

/** What the local platform's parts (platform.ts, apply.ts, workers.ts) share. */
export interface LocalContext {
  readonly options: LocalPlatformOptions;
  readonly store: StateStore;
  /** Every deployed function, by id. */
  readonly entries: Map<string, Entry>;
  /** Per function id, and per `venv:<key>` for a shared virtualenv. */
  readonly locks: KeyedLock;
  /** The part of the agent's environment tools (pip, python) get. */
  readonly toolEnv: Record<string, string>;
  /** Where workers and pip run (bubblewrap, or nothing when it is unavailable). */
  readonly sandbox: Sandbox;
  /** Set when the platform closes: nothing may start any more. */
  closed: boolean;
}

/** What tools may see of the agent's environment: PATH, HOME, locale, pyenv, proxies, PIP_*. */
export function toolEnvOf(env: NodeJS.ProcessEnv): Record<string, string> {
  const pattern = /^(PATH|HOME|LANG|LC_[A-Z]+|TMPDIR|PYENV_[A-Z_]+|https?_proxy|HTTPS?_PROXY|no_proxy|NO_PROXY|PIP_[A-Z_]+)$/;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && pattern.test(k)) out[k] = v;
  return out;
}
