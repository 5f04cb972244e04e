import { readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import type { DeployEmitter, DeployPhase, DeploySpec } from "../../domain/types.ts";
import type { PythonInfo } from "../../runtime/python.ts";
import { RUNTIME_SHIM, type Worker } from "../../runtime/worker.ts";
import { canonicalJson, contentHash } from "../kit/hash.ts";
import type { Entry, LocalContext } from "./context.ts";
import { FunctionLog } from "./logs.ts";
import type { FunctionRecord } from "./store.ts";
import { ensureVenv } from "./venv.ts";
import type { LocalWorkers } from "./workers.ts";

/** The shim's source: part of every revision, so a new runtime means a new revision. */
const RUNTIME_SOURCE = readFileSync(RUNTIME_SHIM);

/** The content hash of a deploy: everything that goes into the function, and the runtime. */
export function revisionOf(spec: DeploySpec, pythonVersion: string): string {
  return contentHash(["radical-faas local revision v1", RUNTIME_SOURCE, pythonVersion, spec.handler, spec.requirements, canonicalJson(spec.params), canonicalJson(spec.env)]);
}

/**
 * The local platform's apply step (run by the kit pipeline, under the function's lock): writes the
 * revision, makes its virtualenv, starts its worker, then swaps it in. A worker that fails to start
 * leaves the function as it was (a first deploy leaves nothing). The previous worker finishes its
 * calls; older revisions and unused virtualenvs are removed once it has.
 */
export async function applyRevision(
  ctx: LocalContext,
  workers: LocalWorkers,
  spec: DeploySpec,
  python: PythonInfo,
  revision: string,
  previous: Entry | undefined,
  emit: DeployEmitter,
  signal: AbortSignal,
): Promise<Entry> {
  const { store, options } = ctx;
  const log = (phase: DeployPhase, source: string, line: string) => emit({ type: "log", phase, source, line, time: new Date() });
  const phase = (p: DeployPhase) => emit({ type: "phase", phase: p, time: new Date() });
  if (spec.params.BASE_IMAGE) log("validating", "agent", "BASE_IMAGE is ignored on the local platform, which runs no image");

  phase("packaging");
  await store.writeRevision(spec.id, revision, spec.handler);
  log("packaging", "agent", `wrote revision ${revision} (Python ${python.fullVersion})`);

  phase("building");
  let interpreter = python.executable;
  let venvKey = "";
  if (spec.requirements.trim()) {
    // The index is part of the key: a venv built from another index must not serve this deploy.
    venvKey = contentHash(["radical-faas venv v2", python.executable, python.fullVersion, spec.requirements, spec.params.PIP_INDEX_URL ?? ""]);
    const venv = await ctx.locks.run(`venv:${venvKey}`, () =>
      ensureVenv({
        dir: store.venvDir(venvKey),
        python: python.executable,
        requirements: spec.requirements,
        indexUrl: spec.params.PIP_INDEX_URL,
        env: ctx.toolEnv,
        sandbox: ctx.sandbox,
        timeoutMs: options.deployTimeoutMs,
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
  const entryLog = previous?.log ?? new FunctionLog(store.logPath(spec.id));
  let worker: Worker;
  try {
    worker = await workers.start(record, entryLog, signal, (stream, line) => log("deploying", stream === "stderr" ? "import" : "stdout", line));
  } catch (error) {
    if (!previous) {
      await entryLog.close();
      await rm(store.functionDir(spec.id), { recursive: true, force: true });
    } else {
      await rm(store.revisionDir(spec.id, revision), { recursive: true, force: true });
    }
    throw error;
  }
  log("deploying", "agent", `handler imported; worker ${worker.pid} is serving`);

  await store.save(record);
  const entry: Entry = previous ?? { record, log: entryLog, worker: undefined, starting: undefined, lastUsed: Date.now(), gone: new AbortController() };
  const old = entry.worker;
  const oldVenv = previous?.record.venv;
  // The swap: new calls go to the new worker from here on; the old one finishes what it has.
  entry.record = record;
  entry.worker = worker;
  entry.starting = undefined;
  entry.lastUsed = Date.now();
  ctx.entries.set(spec.id, entry);
  // Older revisions (and a virtualenv nobody uses any more) go once the old worker has drained;
  // a later deploy may have replaced this one by then, so what is kept is what is current then.
  void Promise.resolve(old?.stop(options.drainMs)).then(async () => {
    await ctx.locks.run(spec.id, async () => {
      const current = ctx.entries.get(spec.id);
      if (current) await store.pruneRevisions(spec.id, current.record.revision);
    });
    if (oldVenv && oldVenv !== venvKey) await collectVenv(ctx, oldVenv);
  });
  return entry;
}

/** Removes the virtualenv `key` unless a function still uses it. */
export async function collectVenv(ctx: LocalContext, key: string): Promise<void> {
  if (!key) return;
  for (const entry of ctx.entries.values()) if (entry.record.venv === key) return;
  await ctx.locks.run(`venv:${key}`, () => rm(ctx.store.venvDir(key), { recursive: true, force: true }));
}
