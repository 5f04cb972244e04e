/**
 * Child processes of a benchmark. Each runs in a process group of its own, so that whatever it
 * forks (nginx's worker, the agent's Python workers) is stopped with it and its CPU time can be
 * attributed to it (see cpu.ts).
 */
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import type { Say } from "./settings.ts";

export interface Child {
  name: string;
  /** A load generator (wrk, h2load): killed at once on interruption; servers are stopped gracefully. */
  tool: boolean;
  proc: ChildProcess;
  exited: Promise<void>;
  exitCode: number | null;
  logPath: string | undefined;
}

export interface StartOptions extends SpawnOptions {
  /** Appends the child's stdout and stderr to this file. */
  logPath?: string;
  /** Opens an IPC channel (the child sends its URL over it). */
  ipc?: boolean;
  tool?: boolean;
}

/** The children of one bench run, and its interruption by SIGINT/SIGTERM. */
export interface Children {
  start(name: string, command: string, args: string[], options?: StartOptions): Child;
  /** SIGTERM to the child, then SIGKILL to its group after `graceMs` (and to leftovers of its group). */
  stop(child: Child | undefined, graceMs?: number): Promise<void>;
  /** Stops every child still running, one after the other. */
  stopAll(graceMs?: number): Promise<void>;
  /** Runs a tool to completion (killed after `timeoutMs`, which then throws) and returns its output. */
  runTool(name: string, command: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** Pids of the running children (each the leader of its process group). */
  pids(): Set<number>;
  /** True once the bench was interrupted. */
  readonly interrupted: boolean;
  /** Rejects when the bench is interrupted; race it against every wait that could be long. */
  readonly interruption: Promise<never>;
  /** Aborted when the bench is interrupted. */
  readonly signal: AbortSignal;
}

/**
 * Creates the registry of a bench run's children and installs the signal handlers: the first
 * SIGINT/SIGTERM kills the load generators and rejects `interruption` (the bench's own `finally`
 * then stops the servers); a second one kills everything at once, calls `onForcedExit` (remove
 * temp dirs synchronously there) and exits with 130. Every child is killed when the process exits.
 */
export function createChildren(say: Say, onForcedExit: () => void = () => {}): Children {
  const running = new Set<Child>();
  let interrupted = false;
  let rejectOnInterrupt: (error: Error) => void = () => {};
  const interruption = new Promise<never>((_, reject) => (rejectOnInterrupt = reject));
  interruption.catch(() => {});
  const abort = new AbortController();

  const killGroup = (child: Child, signal: NodeJS.Signals): void => {
    const pid = child.proc.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // already gone
    }
  };
  const killAllNow = (): void => {
    for (const child of running) killGroup(child, "SIGKILL");
  };

  process.on("exit", killAllNow);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      if (interrupted) {
        killAllNow();
        onForcedExit();
        process.exit(130);
      }
      interrupted = true;
      say(`\nbench: ${signal}, stopping (again to kill at once)`);
      for (const child of running) if (child.tool) killGroup(child, "SIGKILL");
      rejectOnInterrupt(new Error(`interrupted by ${signal}`));
      abort.abort();
    });
  }

  const start = (name: string, command: string, args: string[], options: StartOptions = {}): Child => {
    const { logPath, ipc, tool, ...spawnOptions } = options;
    let logFd: number | undefined;
    if (logPath) logFd = openSync(logPath, "a");
    const out = logFd ?? "ignore";
    const stdio = spawnOptions.stdio ?? (ipc ? ["ignore", out, out, "ipc"] : ["ignore", out, out]);
    const proc = spawn(command, args, { ...spawnOptions, stdio, detached: true });
    if (logFd !== undefined) closeSync(logFd);
    const child: Child = { name, tool: tool ?? false, proc, exited: Promise.resolve(), exitCode: null, logPath };
    child.exited = new Promise<void>((resolve) => {
      proc.once("exit", (code, signal) => {
        child.exitCode = code ?? (signal ? 128 : -1);
        running.delete(child);
        resolve();
      });
      proc.once("error", (error) => {
        child.exitCode = -1;
        running.delete(child);
        if (logPath) void writeFile(logPath, `spawn failed: ${error.message}\n`, { flag: "a" });
        resolve();
      });
    });
    running.add(child);
    return child;
  };

  const stop = async (child: Child | undefined, graceMs = 5000): Promise<void> => {
    if (!child) return;
    if (child.exitCode === null) {
      try {
        child.proc.kill("SIGTERM");
      } catch {
        // already gone
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([child.exited, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
    }
    killGroup(child, "SIGKILL");
    await child.exited;
  };

  const runTool: Children["runTool"] = async (name, command, args, env, timeoutMs) => {
    const child = start(name, command, args, { stdio: ["ignore", "pipe", "pipe"], env, tool: true });
    let stdout = "";
    let stderr = "";
    child.proc.stdout?.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.proc.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child, "SIGKILL");
    }, timeoutMs);
    await child.exited;
    clearTimeout(timer);
    if (timedOut) throw new Error(`${name} did not finish within ${timeoutMs / 1000} s`);
    return { code: child.exitCode, stdout, stderr };
  };

  return {
    start,
    stop,
    async stopAll(graceMs) {
      for (const child of [...running]) await stop(child, graceMs);
    },
    runTool,
    pids: () => new Set([...running].map((c) => c.proc.pid).filter((p): p is number => p !== undefined)),
    get interrupted() {
      return interrupted;
    },
    interruption,
    signal: abort.signal,
  };
}

/** The last `lines` lines of the child's log file, as a paragraph to append to an error message. */
export function logTail(child: Child | undefined, lines = 15): string {
  if (!child?.logPath) return "";
  try {
    const text = readFileSync(child.logPath, "utf8").trimEnd();
    return text ? `\n--- last lines of ${child.logPath} ---\n${text.split("\n").slice(-lines).join("\n")}` : "";
  } catch {
    return "";
  }
}

/**
 * Retries `probe` every 100 ms until it succeeds (its value is returned), the child exits, the
 * bench is interrupted or `timeoutMs` passes (those three throw, with the child's log tail).
 */
export async function waitUntilReady<T>(children: Children, child: Child, probe: () => Promise<T>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    if (children.interrupted) throw new Error("interrupted");
    if (child.exitCode !== null) throw new Error(`${child.name} exited with code ${child.exitCode} before it was ready${logTail(child)}`);
    try {
      return await probe();
    } catch (error) {
      last = error;
    }
    await new Promise<void>((r) => setTimeout(r, 100));
  }
  throw new Error(`${child.name} was not ready within ${timeoutMs / 1000} s: ${String(last)}${logTail(child)}`);
}
