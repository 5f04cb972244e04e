import { describe, expect, it } from "vitest";
import { niceMax } from "../src/web/charts.ts";
import { formatRate, formatSeconds, History, type Stats } from "../src/web/stats.ts";

// The pure parts of the page's stats and charts (the drawing itself is asserted in Chromium, web.test.ts).
const stats = (invocations: number, errors: number, p50?: number, p99?: number): Stats => ({ invocations, errors, coldStarts: 0, windowCalls: 0, windowErrors: 0, p50, p99 });

describe("page-side sampling of stats (agents that send no slots)", () => {
  it("turns totals sampled over time into intervals of calls and errors", () => {
    const h = new History();
    h.add(stats(10, 1, 0.01, 0.02), 1_000);
    expect(h.intervals()).toEqual([]); // one sample is no interval yet
    h.add(stats(14, 2, 0.011, 0.03), 3_000);
    h.add(stats(14, 2, 0.011, 0.03), 5_000);
    expect(h.intervals()).toEqual([
      { start: 1_000, seconds: 2, calls: 4, errors: 1, p50: 0.011, p99: 0.03 },
      { start: 3_000, seconds: 2, calls: 0, errors: 0, p50: undefined, p99: undefined }, // no calls: no latency
    ]);
  });

  it("starts over when a total goes down (the agent restarted) and keeps 5 minutes", () => {
    const h = new History();
    h.add(stats(100, 0), 0);
    h.add(stats(110, 0), 2_000);
    h.add(stats(3, 0), 4_000);
    expect(h.intervals()).toEqual([]);
    for (let i = 1; i <= 200; i++) h.add(stats(3 + i, 0), 4_000 + i * 2_000);
    expect(h.intervals()).toHaveLength(150);
    expect(h.intervals()[149]).toMatchObject({ start: 4_000 + 199 * 2_000, calls: 1 });
  });
});

describe("chart scale and labels", () => {
  it("rounds the top of the scale up to 1, 2 or 5 times a power of ten", () => {
    expect([0, -1, NaN, 0.003, 0.7, 1, 1.2, 3, 7, 42, 101].map(niceMax)).toEqual([1, 1, 1, 0.005, 1, 1, 2, 5, 10, 50, 200]);
  });

  it("formats latencies and rates for people", () => {
    expect([0.0004, 0.0042, 0.0123, 0.5, 2.345].map(formatSeconds)).toEqual(["400 µs", "4.20 ms", "12.3 ms", "500 ms", "2.35 s"]);
    expect([0, 0.05, 1.25, 12.4].map(formatRate)).toEqual(["0/s", "0.05/s", "1.3/s", "12/s"]);
  });
});
