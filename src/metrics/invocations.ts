import type { FunctionStats } from "../domain/types.ts";
import { RecentWindow, WINDOW_SECONDS } from "./window.ts";

/**
 * OpenFaaS's gateway_functions_seconds buckets: its HistogramOpts set none, so they are the Go
 * client's prometheus.DefBuckets (openfaas/faas gateway/metrics/metrics.go, BuildMetricsOptions).
 */
export const OPENFAAS_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Calls of one function that ended with one code: a Prometheus histogram's figures, kept by hand. */
export class CodeSeries {
  count = 0;
  sum = 0;
  /** Calls per bucket of OPENFAAS_BUCKETS (not cumulative); the +Inf bucket is `count`. */
  readonly buckets = new Float64Array(OPENFAAS_BUCKETS.length);

  constructor(readonly code: string) {}

  observe(seconds: number): void {
    this.count++;
    this.sum += seconds;
    for (let i = 0; i < OPENFAAS_BUCKETS.length; i++) {
      if (seconds <= OPENFAAS_BUCKETS[i]!) {
        this.buckets[i]++;
        return;
      }
    }
  }
}

/** What the agent counted for one function since it started. */
export class FunctionCalls {
  /** Calls started (OpenFaaS's gateway_function_invocation_started). */
  started = 0;
  inflight = 0;
  coldStarts = 0;
  /** Epoch ms of the last call's end; 0 when none ended yet. */
  lastInvokedMs = 0;
  readonly ok = new CodeSeries("200");
  /** Failed calls by the REST status code of their error. */
  readonly failed = new Map<number, CodeSeries>();
  readonly recent = new RecentWindow();

  constructor(readonly id: string) {}

  /** Every code's series, successes first. */
  *series(): Iterable<CodeSeries> {
    if (this.ok.count > 0) yield this.ok;
    yield* this.failed.values();
  }

  get calls(): number {
    let n = this.ok.count;
    for (const s of this.failed.values()) n += s.count;
    return n;
  }
}

/**
 * Per-function invocation counts, latencies and cold starts, recorded by the core for every
 * protocol and platform alike. The invoke path calls `begin` and `succeeded`/`failed`: a map
 * lookup and a few number writes, no strings built, nothing allocated after a function's first call
 * (labels and text are made when Prometheus scrapes). Functions are keyed by id; a deleted one is
 * dropped with `forget`, so ids that no longer exist leave no series behind.
 */
export class InvocationRecorder {
  private readonly byId = new Map<string, FunctionCalls>();

  /** Counts a call as started and in flight; pass the result to `succeeded` or `failed`. */
  begin(id: string): FunctionCalls {
    let calls = this.byId.get(id);
    if (!calls) {
      calls = new FunctionCalls(id);
      this.byId.set(id, calls);
    }
    calls.started++;
    calls.inflight++;
    return calls;
  }

  succeeded(calls: FunctionCalls, seconds: number, coldStart: boolean): void {
    const now = Date.now();
    calls.inflight--;
    calls.lastInvokedMs = now;
    if (coldStart) calls.coldStarts++;
    calls.ok.observe(seconds);
    calls.recent.record(now, seconds, false);
  }

  /** A failed call, by the REST status code its error is answered with. */
  failed(calls: FunctionCalls, status: number, seconds: number): void {
    const now = Date.now();
    calls.inflight--;
    calls.lastInvokedMs = now;
    let series = calls.failed.get(status);
    if (!series) {
      series = new CodeSeries(String(status));
      calls.failed.set(status, series);
    }
    series.observe(seconds);
    calls.recent.record(now, seconds, true);
  }

  /**
   * A call that named no function: it is not counted (any caller could otherwise make a series per
   * made-up id), and the entry `begin` made for it goes unless it holds something.
   */
  unknown(calls: FunctionCalls): void {
    calls.inflight--;
    calls.started--;
    if (calls.inflight === 0 && calls.started === 0 && this.byId.get(calls.id) === calls) this.byId.delete(calls.id);
  }

  /** Drops a deleted function's figures (calls still in flight finish on a detached entry). */
  forget(id: string): void {
    this.byId.delete(id);
  }

  /** Every function with figures. */
  functions(): Iterable<FunctionCalls> {
    return this.byId.values();
  }

  /** A function's stats now; zeros for a function never called. */
  stats(id: string, options: { intervals?: boolean } = {}): FunctionStats {
    const now = Date.now();
    const calls = this.byId.get(id) ?? new FunctionCalls(id);
    let errors = 0;
    for (const s of calls.failed.values()) errors += s.count;
    return {
      invocations: calls.calls,
      errors,
      coldStarts: calls.coldStarts,
      inflight: calls.inflight,
      lastInvokedAt: calls.lastInvokedMs ? new Date(calls.lastInvokedMs) : undefined,
      window: calls.recent.total(now),
      ...(options.intervals ? { intervals: calls.recent.slotsUntil(now) } : {}),
    };
  }
}

export { WINDOW_SECONDS };
