import { readFileSync } from "node:fs";
import type { ChildProcess } from "node:child_process";
import { BoundedLines, MAX_LINE_BYTES } from "./bounded-lines.ts";

/** How long the output pipes of an exited process may still deliver what it wrote, in milliseconds. */
export const OUTPUT_GRACE_MS = 500;

/**
 * After `child` exited: lets its stdout and stderr deliver what it wrote (until they close, at
 * most `graceMs`), then closes every pipe to it. A process that escaped its group (setsid) may
 * hold them open for ever; nothing of the caller waits on them after this.
 */
export function closePipes(child: ChildProcess, graceMs: number): Promise<void> {
  const streams = [child.stdout, child.stderr].filter((s): s is NonNullable<typeof s> => s !== null && !s.destroyed && !s.readableEnded);
  return new Promise<void>((resolve) => {
    const timer = setTimeout(finish, graceMs);
    let open = streams.length;
    function finish(): void {
      clearTimeout(timer);
      for (const s of child.stdio) (s as { destroy?: () => void } | null)?.destroy?.();
      resolve();
    }
    if (open === 0) return finish();
    for (const s of streams) s.once("close", () => --open === 0 && finish());
  });
}

/** Hands each line `child` writes to stdout or stderr to `onLine`, a line longer than MAX_LINE_BYTES cut (BoundedLines). */
export function pipeLines(child: ChildProcess, onLine: (stream: "stdout" | "stderr", line: string) => void): void {
  for (const stream of ["stdout", "stderr"] as const) {
    const readable = child[stream];
    if (!readable) continue;
    readable.setEncoding("utf8");
    const lines = new BoundedLines(MAX_LINE_BYTES, (line) => onLine(stream, line));
    readable.on("data", (chunk: string) => lines.push(chunk));
    readable.on("end", () => lines.end());
  }
}

/** The pids of `pid`'s children (Linux /proc), or [] where that cannot be read. */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Sends `sig` to `pid` (a negative pid: a process group); false when there is no such process. */
export function signalPid(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}
