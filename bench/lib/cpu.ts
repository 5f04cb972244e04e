/**
 * CPU accounting from /proc: the CPU time of a server's process groups, and of everything else on
 * the machine (a shared machine makes figures noisy; the second number says when).
 */
import { readdirSync, readFileSync } from "node:fs";

const CLOCK_TICKS_PER_SECOND = 100; // getconf CLK_TCK on Linux

export interface ProcCpu {
  pgid: number;
  comm: string;
  ticks: number;
}

/** User + system ticks of every process, by pid (empty where /proc cannot be read). */
export function cpuSnapshot(): Map<number, ProcCpu> {
  const out = new Map<number, ProcCpu>();
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return out;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      const fields = stat.slice(close + 2).split(" "); // fields[0] is field 3 (state)
      out.set(Number(entry), { pgid: Number(fields[2]), comm, ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

export interface CpuUse {
  /** Seconds of CPU used by the server's process groups, by command name. */
  server: Record<string, number>;
  /** Seconds of CPU used by user processes that are neither the bench's nor its children's. */
  other: number;
}

/**
 * The CPU used between two snapshots: by the process groups `serverGroups`, and by every other
 * user process outside the groups `ours` (the bench's children) and outside this process.
 */
export function cpuDelta(before: Map<number, ProcCpu>, after: Map<number, ProcCpu>, serverGroups: number[], ours: Set<number>): CpuUse {
  const mine = new Set<number>([process.pid, ...ours]);
  const server: Record<string, number> = {};
  let other = 0;
  for (const [pid, now] of after) {
    const ticks = now.ticks - (before.get(pid)?.ticks ?? 0);
    if (ticks <= 0) continue;
    if (serverGroups.includes(now.pgid)) server[now.comm] = (server[now.comm] ?? 0) + ticks / CLOCK_TICKS_PER_SECOND;
    // pgid 0: kernel threads (softirq work for our own loopback traffic lands there too).
    else if (now.pgid !== 0 && !mine.has(now.pgid) && pid !== process.pid) other += ticks / CLOCK_TICKS_PER_SECOND;
  }
  return { server, other };
}

/** "comm us + comm us" of a per-request CPU breakdown, leaving out parts under 2 % of the total. */
export function cpuText(cpuUsPerRequest: Record<string, number>): string {
  const total = Object.values(cpuUsPerRequest).reduce((x, y) => x + y, 0);
  const parts = Object.entries(cpuUsPerRequest)
    .filter(([, us]) => us >= total * 0.02) // e.g. tsx's esbuild service, idle in the agent's group
    .sort((x, y) => y[1] - x[1])
    .map(([comm, us]) => `${comm} ${us.toFixed(0)}`);
  return parts.length ? parts.join(" + ") : "-";
}
