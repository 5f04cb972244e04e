import { describe, expect, it } from "vitest";
import { KeyedLock } from "../src/adapters/kit/keyed-lock.ts";

/** A promise with its resolve and reject at hand, so a test decides when a task ends. */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

describe("KeyedLock", () => {
  it("runs tasks of one key one after the other, in order, each after the earlier one settled", async () => {
    const lock = new KeyedLock();
    const order: string[] = [];
    const first = deferred();
    const a = lock.run("f", async () => {
      order.push("a start");
      await first.promise;
      order.push("a end");
      return "a";
    });
    const b = lock.run("f", async () => {
      order.push("b start");
      return "b";
    });
    await Promise.resolve();
    await Promise.resolve();
    expect(order).toEqual(["a start"]); // b waits for a
    first.resolve();
    expect(await a).toBe("a");
    expect(await b).toBe("b");
    expect(order).toEqual(["a start", "a end", "b start"]);
  });

  it("lets tasks of other keys run while one key is held", async () => {
    const lock = new KeyedLock();
    const held = deferred();
    const a = lock.run("a", () => held.promise);
    // Resolves although "a" is still held: it must not wait for it.
    await expect(lock.run("b", async () => "free")).resolves.toBe("free");
    held.resolve();
    await a;
  });

  it("runs the next task after a failed one, and rejects the failed one's caller with its error", async () => {
    const lock = new KeyedLock();
    const failing = lock.run("f", async () => {
      throw new Error("boom");
    });
    const next = lock.run("f", async () => "after");
    await expect(failing).rejects.toThrow("boom");
    await expect(next).resolves.toBe("after");
  });

  it("rejects when the task throws synchronously, and keeps the key usable", async () => {
    const lock = new KeyedLock();
    await expect(
      lock.run("f", () => {
        throw new Error("sync");
      }),
    ).rejects.toThrow("sync");
    await expect(lock.run("f", async () => 1)).resolves.toBe(1);
  });

  it("forgets a key once its queue is empty", async () => {
    const lock = new KeyedLock();
    await lock.run("f", async () => undefined);
    await Promise.resolve();
    const tails = (lock as unknown as { tails: Map<string, unknown> }).tails;
    expect(tails.size).toBe(0);
  });

  it("keeps a queue of three in order when the middle one fails", async () => {
    const lock = new KeyedLock();
    const seen: number[] = [];
    const gate = deferred();
    const runs = [
      lock.run("k", async () => {
        await gate.promise;
        seen.push(1);
      }),
      lock.run("k", async () => {
        seen.push(2);
        throw new Error("two");
      }),
      lock.run("k", async () => {
        seen.push(3);
      }),
    ];
    gate.resolve();
    const results = await Promise.allSettled(runs);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(seen).toEqual([1, 2, 3]);
  });
});
