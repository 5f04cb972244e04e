import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { execa, type ResultPromise } from "execa";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** `npm start` without the web build: the tsx loader by path, the agent's entry point. */
export const AGENT_MAIN = ["--import", pathToFileURL(join(ROOT, "node_modules", "tsx", "dist", "loader.mjs")).href, join(ROOT, "src", "main.ts")];

/** An agent running as its own process (as `npm start` runs it), so that its memory, fds and children can be measured. */
export interface ProcessAgent {
  url: string;
  pid: number;
  stateDir: string;
  /** SIGTERM, wait, and remove the state directory. */
  stop(): Promise<void>;
}

/** Starts `node src/main.ts` on 127.0.0.1 port 0 with a fresh state directory and `env` on top of this process's. */
export async function startProcessAgent(env: Record<string, string> = {}): Promise<ProcessAgent> {
  const stateDir = await mkdtemp(join(tmpdir(), "faas-proc-"));
  const child: ResultPromise = execa("node", AGENT_MAIN, {
    cwd: tmpdir(),
    env: { PORT: "0", FAAS_HOST: "127.0.0.1", FAAS_STATE_DIR: stateDir, FAAS_AUTH_TOKEN: "", FAAS_LOG_LEVEL: "info", FAAS_SHUTDOWN_GRACE: "2", ...env },
    reject: false,
    stdout: "pipe",
    stderr: "pipe",
  });
  let out = "";
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      if (out.length < 1 << 16) out += chunk.toString();
      const match = /"url":"(http:[^"]+)"/.exec(out);
      if (match) resolve(match[1]);
    });
    child.stderr!.on("data", (chunk: Buffer) => {
      if (out.length < 1 << 16) out += chunk.toString();
    });
    void child.then(() => reject(new Error(`agent exited before listening: ${out}`)));
  });
  // Keep reading the agent's log so that its pipes never fill.
  child.stdout!.resume();
  child.stderr!.resume();
  return {
    url,
    pid: child.pid!,
    stateDir,
    async stop() {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await child;
      clearTimeout(timer);
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}

/** Resident memory of a process, in MiB (from /proc/<pid>/status). */
export function rssMiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) / 1024 : NaN;
}

/** Open file descriptors of a process. */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Every descendant of a process (children, their children, ...), from /proc. */
export function descendants(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = parents.get(ppid) ?? [];
      list.push(Number(name));
      parents.set(ppid, list);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const stack = [pid];
  while (stack.length) for (const child of parents.get(stack.pop()!) ?? []) out.push(child), stack.push(child);
  return out;
}

/** CPU time (user + system) a process has used so far, in clock ticks (from /proc/<pid>/stat); undefined once it is gone. */
export function cpuTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

/** Whether `/proc/<pid>/fd` links include something named like `pattern` (for leak checks). */
export function openFiles(pid: number): string[] {
  const out: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      out.push(readlinkSync(`/proc/${pid}/fd/${fd}`));
    } catch {
      // closed meanwhile
    }
  }
  return out;
}
