import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { fileURLToPath, pathToFileURL } from "node:url";
import { execa, type ResultPromise } from "execa";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** `npm start` without npm: the tsx loader by path, run in a scratch directory (no developer .env). */
const MAIN = ["--import", pathToFileURL(join(ROOT, "node_modules", "tsx", "dist", "loader.mjs")).href, join(ROOT, "src", "main.ts")];

/** An agent running as its own process, as `npm start` runs it: it can be killed with SIGKILL. */
export interface AgentProcess {
  url: string;
  pid: number;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  /** SIGKILL, and waits until the process is gone. */
  kill9(): Promise<void>;
  /** SIGTERM (graceful shutdown), and waits until it exits. */
  stop(): Promise<void>;
}

/**
 * Starts `src/main.ts` on 127.0.0.1, port 0, with exactly `env` on top of PATH (nothing else of
 * this process's environment), and waits for its "agent listening" line.
 */
export async function spawnAgent(env: Record<string, string>): Promise<AgentProcess> {
  const child: ResultPromise = execa("node", MAIN, {
    cwd: tmpdir(),
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", PORT: "0", FAAS_HOST: "127.0.0.1", FAAS_SHUTDOWN_GRACE: "2", ...env },
    extendEnv: false,
    reject: false,
    buffer: false,
    stdin: "ignore",
  });
  let out = "";
  child.stderr!.on("data", (chunk: Buffer) => (out += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const match = /"url":"(http:[^"]+)"/.exec(out);
      if (match) resolve(match[1]);
    });
    void child.then(() => reject(new Error(`agent exited before listening: ${out}`)));
  });
  const exited = child.then(() => undefined);
  return {
    url,
    pid: child.pid!,
    output: () => out,
    async kill9() {
      child.kill("SIGKILL");
      await exited;
    },
    async stop() {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** A process still running on this machine (zombies, which only wait to be reaped, are not). */
export interface LiveProcess {
  pid: number;
  cmdline: string;
}

/** Every live process whose command line or environment contains `needle` (root sees them all). */
export async function processesMentioning(needle: string): Promise<LiveProcess[]> {
  const found: LiveProcess[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, "utf8");
      if (/\) Z /.test(stat)) continue;
      const cmdline = (await readFile(`/proc/${name}/cmdline`, "utf8")).replaceAll("\0", " ");
      const environ = await readFile(`/proc/${name}/environ`, "utf8").catch(() => "");
      if (cmdline.includes(needle) || environ.includes(needle)) found.push({ pid: Number(name), cmdline });
    } catch {
      // exited while we looked
    }
  }
  return found;
}

/**
 * Resolves once no live process mentions `needle`; rejects with the ones left after `timeoutMs`.
 * Killed processes take a moment to go (the kernel tears a PID namespace down asynchronously).
 */
export async function noProcessesMentioning(needle: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = await processesMentioning(needle);
    if (left.length === 0) return;
    if (Date.now() > deadline) throw new Error(`processes outlived the test's deadline: ${JSON.stringify(left)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * The pid, as this machine sees it, of the Python worker serving function `id` of the agent with
 * state directory `stateDir` (inside its sandbox the worker has a pid of its own, so what
 * `os.getpid()` answers there is no use outside). Throws unless exactly one runs.
 */
export async function workerHostPid(stateDir: string, id: string): Promise<number> {
  const pids = await workerHostPids(stateDir, id);
  if (pids.length !== 1) throw new Error(`expected one worker of ${id}, found pids ${JSON.stringify(pids)}`);
  return pids[0]!;
}

/** The host pids of every Python worker of function `id` (starting, serving or draining). */
export async function workerHostPids(stateDir: string, id: string): Promise<number[]> {
  const handlerDir = join(stateDir, "functions", id, "revisions");
  const workers = await processesMentioning(handlerDir);
  return workers.filter((p) => p.cmdline.includes("faas_runtime.py") && !/^\S*bwrap /.test(p.cmdline)).map((p) => p.pid);
}

/**
 * A TCP server on 127.0.0.1 that handlers reach through their sandbox (the network is shared, the
 * file system is not): `next()` resolves at each connection, which is held open until `close`.
 */
export async function tcpBarrier(): Promise<{ port: number; next(): Promise<void>; close(): void }> {
  const { createServer } = await import("node:net");
  const held: import("node:net").Socket[] = [];
  const waiting: Array<() => void> = [];
  let arrived = 0;
  const server = createServer((socket) => {
    held.push(socket);
    socket.on("error", () => {});
    arrived++;
    waiting.shift()?.();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  let taken = 0;
  return {
    port: (server.address() as { port: number }).port,
    next: () => (taken++ < arrived ? Promise.resolve() : new Promise<void>((r) => waiting.push(r))),
    close() {
      for (const s of held) s.destroy();
      server.close();
    },
  };
}
