import { readFileSync } from "node:fs";
import type { ChildProcess } from "node:child_process";

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

/** The pids of `pid`'s children (Linux /proc), or [] where that cannot be read. */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
