import { performance } from "node:perf_hooks";
import { getHeapStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { Logger } from "pino";

export interface IdleCollectorOptions {
  /** How often the agent looks, in milliseconds; it must have been quiet for the whole period. */
  everyMs?: number;
  /** Busy share of the event loop over the period below which the agent counts as quiet. */
  quietUtilization?: number;
  /** Heap growth since the last collection, in bytes, that makes a collection worth it. */
  growthBytes?: number;
  logger?: Logger;
  /** Called after each collection (tests). */
  onCollect?: (before: number, after: number) => void;
}

/**
 * Gives memory back once the agent goes quiet. Under a flood of function output (log lines of
 * 64 KiB, follow buffers) V8 promotes lots of short-lived strings to its old space and lets it
 * grow to a few times the live size before a full collection; when the load stops it is meant to
 * shrink it again (its "memory reducer"), but that only reacts to its own heuristics and was seen
 * to leave 60-90 MiB of garbage, and the RSS with it, for minutes (the soak, issue 14 §5). So:
 * every `everyMs`, if the event loop was busy less than `quietUtilization` of that time and the
 * heap grew by `growthBytes` since the last collection, the agent runs one full collection (a
 * few tens of milliseconds, on an idle process). A busy agent is never interrupted.
 */
export function startIdleCollector(options: IdleCollectorOptions = {}): { stop(): void } {
  const gc = exposeGc();
  if (!gc) {
    options.logger?.debug("idle collection unavailable: gc() could not be exposed");
    return { stop() {} };
  }
  const quiet = options.quietUtilization ?? 0.05;
  const growth = options.growthBytes ?? 32 * 1024 * 1024;
  let baseline = getHeapStatistics().used_heap_size;
  let mark = performance.eventLoopUtilization();
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const busy = performance.eventLoopUtilization(now, mark).utilization;
    mark = now;
    const before = getHeapStatistics().used_heap_size;
    if (busy >= quiet || before < baseline + growth) return;
    gc();
    baseline = getHeapStatistics().used_heap_size;
    mark = performance.eventLoopUtilization(); // the collection itself is not activity
    options.logger?.debug({ heapBeforeMiB: Math.round(before / 1048576), heapAfterMiB: Math.round(baseline / 1048576) }, "idle: heap collected");
    options.onCollect?.(before, baseline);
  }, options.everyMs ?? 10_000).unref();
  return { stop: () => clearInterval(timer) };
}

let exposed: (() => void) | null | undefined;

/** V8's gc(), without starting Node with --expose-gc: the flag is set, then a fresh context has the function. */
function exposeGc(): (() => void) | null {
  if (exposed !== undefined) return exposed;
  try {
    if (typeof globalThis.gc === "function") return (exposed = globalThis.gc as () => void);
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as unknown;
    exposed = typeof gc === "function" ? (gc as () => void) : null;
  } catch {
    exposed = null;
  }
  return exposed;
}
