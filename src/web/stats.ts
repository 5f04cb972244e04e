import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Function as FunctionMessage } from "../../gen/faas/v1/agent_pb.ts";

/** One stretch of time of a function's recent calls (a slot of the agent's window, or a page sample). */
export interface Interval {
  /** Epoch milliseconds at the stretch's start. */
  start: number;
  seconds: number;
  calls: number;
  errors: number;
  /** Latency quantiles in seconds; undefined without calls. */
  p50?: number;
  p99?: number;
}

/** A function's stats as the page shows them. */
export interface Stats {
  /** Calls since the agent started. */
  invocations: number;
  errors: number;
  coldStarts: number;
  /** Calls running now. */
  inflight?: number;
  /** Over the agent's window (5 minutes). */
  windowCalls: number;
  windowErrors: number;
  p50?: number;
  p99?: number;
  lastInvoked?: Date;
  /** The window's slots, oldest first, when the agent sends them. */
  intervals?: Interval[];
}

/**
 * The stats of a function as the agent reports them (FunctionStats), or undefined when it reports
 * none. The one place that reads the message, so that its shape changes here only.
 */
export function readStats(fn: FunctionMessage): Stats | undefined {
  const s = fn.stats;
  if (!s) return undefined;
  // Quantiles are 0 without calls: shown as no value, not as 0 s.
  const q = (v: number, calls: bigint | number) => (Number(calls) > 0 && v > 0 ? v : undefined);
  return {
    invocations: Number(s.invocations),
    errors: Number(s.errors),
    coldStarts: Number(s.coldStarts),
    inflight: s.inflight,
    windowCalls: Number(s.recentInvocations),
    windowErrors: Number(s.recentErrors),
    p50: q(s.latencyP50Seconds, s.recentInvocations),
    p99: q(s.latencyP99Seconds, s.recentInvocations),
    lastInvoked: s.lastInvokedAt ? timestampDate(s.lastInvokedAt) : undefined,
    intervals: s.intervals.map((i) => ({
      start: i.startTime ? timestampDate(i.startTime).getTime() : 0,
      seconds: i.seconds,
      calls: Number(i.invocations),
      errors: Number(i.errors),
      p50: q(i.latencyP50Seconds, i.invocations),
      p99: q(i.latencyP99Seconds, i.invocations),
    })),
  };
}

/** Samples kept by History: 5 minutes at one per 2 s refresh. */
const SAMPLES = 150;

/**
 * Intervals sampled on the page, for an agent whose stats carry no slots: each refresh adds the
 * calls and errors since the previous one (the difference of the totals) and the window's
 * quantiles at that moment. A total that went down (the agent restarted) starts over.
 */
export class History {
  private last: { time: number; invocations: number; errors: number } | undefined;
  private readonly samples: Interval[] = [];

  add(stats: Stats, now = Date.now()): void {
    const last = this.last;
    this.last = { time: now, invocations: stats.invocations, errors: stats.errors };
    if (!last || stats.invocations < last.invocations || now <= last.time) {
      this.samples.length = 0;
      return;
    }
    const calls = stats.invocations - last.invocations;
    this.samples.push({
      start: last.time,
      seconds: (now - last.time) / 1000,
      calls,
      errors: Math.max(0, stats.errors - last.errors),
      p50: calls > 0 ? stats.p50 : undefined,
      p99: calls > 0 ? stats.p99 : undefined,
    });
    if (this.samples.length > SAMPLES) this.samples.shift();
  }

  intervals(): Interval[] {
    return [...this.samples];
  }
}

/** "1.2 ms", "340 µs", "2.1 s". */
export function formatSeconds(s: number): string {
  if (s < 1e-3) return `${Math.round(s * 1e6)} µs`;
  if (s < 1) return `${(s * 1000).toFixed(s < 0.01 ? 2 : s < 0.1 ? 1 : 0)} ms`;
  return `${s.toFixed(2)} s`;
}

/** "3.5/s", "0.12/s", "0/s". */
export function formatRate(r: number): string {
  if (r === 0) return "0/s";
  return `${r >= 10 ? r.toFixed(0) : r >= 1 ? r.toFixed(1) : r.toFixed(2)}/s`;
}
