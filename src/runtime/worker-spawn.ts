import { execa, type Options, type ResultPromise } from "execa";
import type { WorkerOptions } from "./worker.ts";

/** How every worker process is spawned (the env and cwd are added per worker). */
const SPAWN_OPTIONS = {
  extendEnv: false,
  stdio: ["pipe", "pipe", "pipe", "pipe"],
  buffer: false,
  reject: false,
  cleanup: true,
  encoding: "utf8",
} as const satisfies Options;

/** A worker's process as execa runs it: stdin, stdout, stderr and the control pipe (fd 3). */
export type WorkerProcess = ResultPromise<typeof SPAWN_OPTIONS & { cwd: string; env: Record<string, string> }>;

/** Room in a spare's command line for the `--handler PATH` it shows once it has a function. */
const SPARE_ROOM = ".".repeat(1024);
/** The shim's flags every worker gets (see its docstring). */
const SHIM_FLAGS = ["--protocol", "frame", "--ready-fd", "3", "--exit-on-stdin-eof"];

/**
 * Spawns the runtime shim `shim` for a worker (with `spare`: a spare without a function, the
 * shim's --spare), through `options.launch` (the sandbox), leading a process group of its own so
 * that stop and kill reach whatever it starts.
 */
export function spawnWorkerProcess(shim: string, options: WorkerOptions, spare: boolean): WorkerProcess {
  const role = spare ? ["--spare", SPARE_ROOM] : ["--handler", options.handlerPath];
  const argv = [options.python, "-u", shim, ...role, "--listen", `unix:${options.socketPath}`, ...SHIM_FLAGS];
  const [file, ...args] = (options.launch ?? ((a: string[]) => a))(argv);
  return execa(file, args, { ...SPAWN_OPTIONS, cwd: options.cwd, env: options.env, detached: true });
}
