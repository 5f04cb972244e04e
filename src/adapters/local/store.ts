import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";

/** Prefix of a deleted function's directory until it is removed (in the state directory). */
export const DELETED_PREFIX = ".deleted-";

/** What the local platform persists about a function, in `<stateDir>/functions/<id>/function.json`. */
export interface FunctionRecord {
  id: string;
  revision: string;
  /** Interpreter the worker runs (a virtualenv's python when there are requirements). */
  python: string;
  pythonVersion: string;
  /** Key of the shared virtualenv under `<stateDir>/venvs/`, or "" when there are no requirements. */
  venv: string;
  env: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}

/**
 * The local platform's files. Every record is written atomically (temporary file, then rename),
 * so a crash at any moment leaves a function at its old version or at its new one.
 */
export class StateStore {
  readonly functionsDir: string;
  readonly venvsDir: string;

  constructor(readonly root: string) {
    this.functionsDir = join(root, "functions");
    this.venvsDir = join(root, "venvs");
  }

  async init(): Promise<void> {
    await mkdir(this.functionsDir, { recursive: true, mode: 0o700 });
    await mkdir(this.venvsDir, { recursive: true, mode: 0o700 });
  }

  functionDir(id: string): string {
    return join(this.functionsDir, id);
  }

  revisionDir(id: string, revision: string): string {
    return join(this.functionsDir, id, "revisions", revision);
  }

  handlerPath(id: string, revision: string): string {
    return join(this.revisionDir(id, revision), "handler.py");
  }

  logPath(id: string): string {
    return join(this.functionsDir, id, "output.log");
  }

  venvDir(key: string): string {
    return join(this.venvsDir, key);
  }

  /**
   * Writes a revision's handler once; an existing revision directory is reused as is. The revision
   * is readable by all (a sandboxed worker runs as another uid when the agent is root): the state
   * directory above it (0700) is what keeps other users out.
   */
  async writeRevision(id: string, revision: string, handler: string): Promise<void> {
    const dir = this.revisionDir(id, revision);
    const tmp = `${dir}.tmp-${randomBytes(4).toString("hex")}`;
    await mkdir(tmp, { recursive: true, mode: 0o755 });
    await writeFile(join(tmp, "handler.py"), handler, { mode: 0o644 });
    try {
      await rename(tmp, dir);
    } catch {
      await rm(tmp, { recursive: true, force: true }); // already there: same content by construction
    }
  }

  /** Removes every revision of `id` but `keep`. */
  async pruneRevisions(id: string, keep: string): Promise<void> {
    const dir = join(this.functionsDir, id, "revisions");
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (name !== keep) await rm(join(dir, name), { recursive: true, force: true });
    }
  }

  async save(record: FunctionRecord): Promise<void> {
    const dir = this.functionDir(record.id);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const file = join(dir, "function.json");
    const tmp = `${file}.tmp-${randomBytes(4).toString("hex")}`;
    await writeFile(tmp, JSON.stringify(record, null, 2), { mode: 0o600 });
    await rename(tmp, file);
  }

  /** Every complete record; directories without one (a first deploy that crashed) are skipped. */
  async loadAll(): Promise<FunctionRecord[]> {
    const records: FunctionRecord[] = [];
    for (const id of await readdir(this.functionsDir)) {
      try {
        records.push(JSON.parse(await readFile(join(this.functionsDir, id, "function.json"), "utf8")) as FunctionRecord);
      } catch {
        // no record: the function was never completely deployed
      }
    }
    return records;
  }

  /**
   * Records that `id` is deleted, in one rename: from here on no restart loads it, whatever is
   * still running from it. Returns the renamed directory, for the caller to remove (the start-up
   * sweep removes what a crash left of it).
   */
  async markDeleted(id: string): Promise<string> {
    const doomed = join(this.root, `${DELETED_PREFIX}${id}-${randomBytes(4).toString("hex")}`);
    await rename(this.functionDir(id), doomed);
    return doomed;
  }
}
