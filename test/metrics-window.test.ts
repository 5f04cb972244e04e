import { describe, expect, it } from "vitest";
import { InvocationRecorder } from "../src/metrics/invocations.ts";
import { bucketOf, bucketValue, RecentWindow, SLOT_MS, SLOTS } from "../src/metrics/window.ts";

describe("RecentWindow", () => {
  it("reports quantiles within 4.4 % of the true value", () => {
    const w = new RecentWindow();
    const now = 1_000_000 * SLOT_MS;
    // 1..1000 ms: p50 is 500 ms, p99 is 990 ms.
    for (let ms = 1; ms <= 1000; ms++) w.record(now, ms / 1000, ms % 10 === 0);
    const t = w.total(now);
    expect(t.calls).toBe(1000);
    expect(t.errors).toBe(100);
    expect(Math.abs(t.p50! - 0.5) / 0.5).toBeLessThan(0.044);
    expect(Math.abs(t.p99! - 0.99) / 0.99).toBeLessThan(0.044);
  });

  it("forgets calls older than the window, slot by slot", () => {
    const w = new RecentWindow();
    const start = 5_000 * SLOT_MS;
    w.record(start, 0.001, false);
    w.record(start + SLOT_MS, 0.002, true);
    expect(w.total(start + SLOT_MS).calls).toBe(2);
    expect(w.total(start + SLOTS * SLOT_MS).calls).toBe(1); // the first slot fell out
    expect(w.total(start + (SLOTS + 1) * SLOT_MS)).toMatchObject({ calls: 0, errors: 0, p50: undefined, p99: undefined });
    // A slot reused a whole window later starts from zero.
    w.record(start + SLOTS * SLOT_MS, 0.003, false);
    expect(w.total(start + SLOTS * SLOT_MS)).toMatchObject({ calls: 2, errors: 1 });
  });

  it("lists every slot of the window, oldest first, for charts", () => {
    const w = new RecentWindow();
    const now = 7_000 * SLOT_MS + 1234;
    w.record(now, 0.01, false);
    w.record(now - 3 * SLOT_MS, 0.02, true);
    const slots = w.slotsUntil(now);
    expect(slots).toHaveLength(SLOTS);
    expect(slots.at(-1)).toMatchObject({ calls: 1, errors: 0, seconds: SLOT_MS / 1000 });
    expect(slots.at(-4)).toMatchObject({ calls: 1, errors: 1 });
    expect(slots.at(-1)!.start.getTime()).toBe(7_000 * SLOT_MS);
    expect(slots.reduce((n, s) => n + s.calls, 0)).toBe(2);
  });

  it("puts every latency in a bucket whose value is within 4.4 %", () => {
    for (const s of [2e-5, 1e-4, 0.0123, 0.5, 1, 7.7, 100]) {
      expect(Math.abs(bucketValue(bucketOf(s)) - s) / s).toBeLessThan(0.044);
    }
    expect(bucketOf(0)).toBe(0);
    expect(bucketOf(Number.NaN)).toBe(0);
    expect(bucketOf(1e9)).toBe(bucketOf(1e10)); // the last bucket takes everything longer
  });
});

describe("InvocationRecorder", () => {
  it("counts calls, errors by status, cold starts and calls in flight", () => {
    const r = new InvocationRecorder();
    const a = r.begin("fn");
    const b = r.begin("fn");
    expect(r.stats("fn").inflight).toBe(2);
    r.succeeded(a, 0.01, true);
    r.failed(b, 500, 0.02);
    const s = r.stats("fn");
    expect(s).toMatchObject({ invocations: 2, errors: 1, coldStarts: 1, inflight: 0 });
    expect(s.lastInvokedAt).toBeInstanceOf(Date);
    expect([...r.functions()][0]!.failed.get(500)!.count).toBe(1);
  });

  it("keeps nothing for a call to an unknown id, and nothing after forget", () => {
    const r = new InvocationRecorder();
    r.unknown(r.begin("ghost"));
    expect([...r.functions()]).toEqual([]);
    r.succeeded(r.begin("real"), 0.001, false);
    r.forget("real");
    expect([...r.functions()]).toEqual([]);
    expect(r.stats("real")).toMatchObject({ invocations: 0, errors: 0, lastInvokedAt: undefined });
  });
});
