import { existsSync } from "node:fs";
import { lstat, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Logger } from "pino";
import { DELETED_PREFIX, type FunctionRecord, type StateStore } from "./store.ts";
import { COMPLETE_MARKER } from "./venv.ts";

/** File in the state directory naming the socket directory of the agent that used it last. */
const SOCKET_DIR_FILE = "socket-dir";

/**
 * Removes what a crash (kill -9, power loss) left in the state directory, before anything is
 * loaded: deleted functions not yet removed, directories of first deploys that never finished,
 * half-written records and revisions, revisions nobody serves, virtualenvs without their
 * completion marker and virtualenvs no function uses. Every deploy writes its record last and
 * every delete renames first, so what is swept is never a function's current state.
 */
export async function sweepState(store: StateStore, logger: Logger): Promise<void> {
  const swept: string[] = [];
  const sweep = async (path: string) => {
    await rm(path, { recursive: true, force: true });
    swept.push(path);
  };
  for (const name of await readdir(store.root)) {
    if (name.startsWith(DELETED_PREFIX)) await sweep(join(store.root, name));
  }
  const venvsInUse = new Set<string>();
  for (const id of await readdir(store.functionsDir)) {
    const dir = store.functionDir(id);
    let record: FunctionRecord;
    try {
      record = JSON.parse(await readFile(join(dir, "function.json"), "utf8")) as FunctionRecord;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") await sweep(dir); // a first deploy that never finished
      else logger.warn({ function: id, err: error }, "function record unreadable; left as it is");
      continue;
    }
    if (record.venv) venvsInUse.add(record.venv);
    for (const name of await readdir(dir)) if (name.startsWith("function.json.tmp-")) await sweep(join(dir, name));
    const revisions = join(dir, "revisions");
    for (const name of await readdir(revisions).catch(() => [] as string[])) {
      if (name !== record.revision) await sweep(join(revisions, name));
    }
  }
  for (const key of await readdir(store.venvsDir)) {
    const dir = store.venvDir(key);
    if (!venvsInUse.has(key) || !existsSync(join(dir, COMPLETE_MARKER))) await sweep(dir);
  }
  if (swept.length) logger.info({ swept }, "removed what an earlier run left behind");
}

/**
 * Makes this run's directory for workers' unix sockets (their paths must stay under ~100 bytes,
 * so it lives in the temporary directory, not the state directory) and removes the one the last
 * agent on this state directory made, if it is still there and ours.
 */
export async function openSocketDir(stateRoot: string): Promise<string> {
  const file = join(stateRoot, SOCKET_DIR_FILE);
  const previous = await readFile(file, "utf8").catch(() => "");
  if (previous.startsWith("/")) {
    const info = await lstat(previous).catch(() => undefined);
    if (info?.isDirectory() && info.uid === process.getuid?.()) await rm(previous, { recursive: true, force: true });
  }
  const dir = await mkdtemp(join(tmpdir(), "rfaas-"));
  await writeFile(file, dir, { mode: 0o600 });
  return dir;
}
