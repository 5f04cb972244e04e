import { getHeapStatistics } from "node:v8";
import { describe, expect, it } from "vitest";
import { startIdleCollector } from "../src/idle-gc.ts";

describe("idle collection", () => {
  it("collects the garbage a burst left once the process is quiet, and only then", async () => {
    const collected = new Promise<{ before: number; after: number }>((resolve) => {
      const collector = startIdleCollector({
        everyMs: 200,
        growthBytes: 16 * 1024 * 1024,
        onCollect: (before, after) => {
          collector.stop();
          resolve({ before, after });
        },
      });
    });
    // A burst: 64 MB of strings that become garbage at once (log lines that were dropped).
    const garbage = ((): WeakRef<object> => {
      const lines: string[] = [];
      for (let i = 0; i < 1000; i++) lines.push(Buffer.alloc(64 * 1024, 97 + (i % 26)).toString("latin1")); // flat strings of their own
      const holder = { lines };
      return new WeakRef(holder);
    })();
    const grown = getHeapStatistics().used_heap_size;
    // Busy for 2 s (the event loop ~80 % busy, ten periods): no collection interrupts it.
    let early = false;
    void collected.then(() => (early = busy));
    let busy = true;
    await new Promise<void>((resolve) => {
      const end = Date.now() + 2000;
      const spin = setInterval(() => {
        const until = Date.now() + 40;
        while (Date.now() < until);
        if (Date.now() > end) {
          clearInterval(spin);
          resolve();
        }
      }, 10);
    });
    busy = false;
    expect(early).toBe(false);
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([collected, new Promise<"none">((resolve) => (timer = setTimeout(() => resolve("none"), 30_000)))]);
    clearTimeout(timer);
    expect(outcome).not.toBe("none");
    const { before, after } = outcome as { before: number; after: number };
    expect(before).toBeGreaterThan(after + 32 * 1024 * 1024);
    expect(after).toBeLessThan(grown);
    expect(garbage.deref()).toBeUndefined();
  }, 60_000);
});
