import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DEFAULT_LOG_LIMITS, FunctionLog, type FunctionLogLimits } from "../src/adapters/local/logs.ts";
import { FollowBuffer } from "../src/adapters/kit/follow-buffer.ts";
import type { LogLine } from "../src/domain/types.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "faas-log-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const small: FunctionLogLimits = { ...DEFAULT_LOG_LIMITS, fileBytes: 64 * 1024, keptLines: 50, keptBytes: 16 * 1024, followerLines: 10, followerBytes: 4096 };

async function size(path: string): Promise<number> {
  return stat(path).then((s) => s.size, () => 0);
}

describe("FunctionLog on disk", () => {
  it("rotates at half the byte bound, so the current and the rotated file never hold more than it", async () => {
    const path = join(dir, "output.log");
    const log = new FunctionLog(path, small);
    for (let i = 0; i < 5000; i++) log.append("stdout", `line ${i} ${"x".repeat(40)}`);
    await log.close();
    const total = (await size(path)) + (await size(`${path}.1`));
    expect(total).toBeGreaterThan(small.fileBytes / 2);
    expect(total).toBeLessThanOrEqual(small.fileBytes + 200);
    // The newest line is last in the current file; the rotated file holds the lines just before.
    const current = (await readFile(path, "utf8")).trim().split("\n");
    expect(JSON.parse(current.at(-1)!).l).toMatch(/^line 4999 /);
    const older = (await readFile(`${path}.1`, "utf8")).trim().split("\n");
    const lastOlder = Number(JSON.parse(older.at(-1)!).l.split(" ")[1]);
    const firstCurrent = Number(JSON.parse(current[0]).l.split(" ")[1]);
    expect(firstCurrent).toBe(lastOlder + 1);
  });

  it("appends without rewriting: a file handle opened before keeps growing (same inode) until rotation", async () => {
    const path = join(dir, "output.log");
    // The file exists before the log opens it: its inode is known without waiting for the first write.
    await writeFile(path, "");
    const before = await stat(path);
    const log = new FunctionLog(path, { ...DEFAULT_LOG_LIMITS, keptLines: 3 });
    log.append("stdout", "first");
    for (let i = 0; i < 100; i++) log.append("stderr", `more ${i}`);
    await log.close();
    const after = await stat(path);
    expect(after.ino).toBe(before.ino);
    // Only 3 lines are kept in memory, but all 101 are on disk: nothing was compacted.
    expect((await readFile(path, "utf8")).trim().split("\n")).toHaveLength(101);
  });

  it("cuts a line over the limit and marks the cut", async () => {
    const log = new FunctionLog(join(dir, "output.log"), small);
    log.append("stdout", "y".repeat(small.lineBytes + 10));
    const [line] = log.tail(1);
    expect(line.line.startsWith("y".repeat(small.lineBytes))).toBe(true);
    expect(line.line).toContain("[line cut: 10 more characters dropped]");
    await log.close();
  });

  it("keeps memory bounded in lines and bytes, and loads the tail back after a restart", async () => {
    const path = join(dir, "output.log");
    const log = new FunctionLog(path, small);
    for (let i = 0; i < 3000; i++) log.append(i % 2 ? "stderr" : "stdout", `entry ${i} ${"z".repeat(100)}`);
    expect(log.tail(0).length).toBeLessThanOrEqual(small.keptLines);
    expect(log.memoryBytes).toBeLessThanOrEqual(small.keptBytes);
    await log.close();
    const again = new FunctionLog(path, small);
    await again.load();
    const lines = again.tail(0);
    expect(lines.length).toBeGreaterThan(10);
    expect(lines.length).toBeLessThanOrEqual(small.keptLines);
    expect(lines.at(-1)!.line).toMatch(/^entry 2999 /);
    expect(lines.at(-1)!.stream).toBe("stderr");
    // Consecutive: nothing torn or out of order at the file boundary.
    const numbers = lines.map((l) => Number(l.line.split(" ")[1]));
    expect(numbers).toEqual(numbers.map((_, i) => numbers[0] + i));
    await again.close();
  });
});

describe("followers", () => {
  it("a follower that stops reading loses the oldest lines, bounded, and is told how many", async () => {
    const log = new FunctionLog(join(dir, "output.log"), small);
    const controller = new AbortController();
    const { lines, unfollow } = log.follow(controller.signal);
    const iterator = lines[Symbol.asyncIterator]();
    log.append("stdout", "line 0");
    expect((await iterator.next()).value.line).toBe("line 0");
    // The reader stops reading while 1000 lines arrive.
    for (let i = 1; i <= 1000; i++) log.append("stdout", `line ${i}`);
    const got: LogLine[] = [];
    for (let i = 0; i < small.followerLines + 1; i++) got.push((await iterator.next()).value);
    expect(got[0].line).toBe(`[faas: ${1000 - small.followerLines} log lines dropped: this reader fell behind]`);
    expect(got.slice(1).map((l) => l.line)).toEqual(Array.from({ length: small.followerLines }, (_, i) => `line ${1000 - small.followerLines + 1 + i}`));
    // After catching up, lines flow again without a marker.
    log.append("stdout", "line 1001");
    expect((await iterator.next()).value.line).toBe("line 1001");
    unfollow();
    expect((await iterator.next()).done).toBe(true);
    expect(log.followerCount).toBe(0);
    await log.close();
  });

  it("bounds a follower's buffer in bytes as well as lines", () => {
    const buffer = new FollowBuffer<string>({ maxItems: 1000, maxBytes: 10_000, size: (s) => s.length, marker: (n) => `dropped ${n}` });
    for (let i = 0; i < 100; i++) buffer.push("x".repeat(1000));
    expect(buffer.bufferedBytes).toBeLessThanOrEqual(10_000);
    expect(buffer.length).toBe(10);
    expect(buffer.droppedTotal).toBe(90);
  });

  it("ends when the follower's signal aborts", async () => {
    const log = new FunctionLog(join(dir, "output.log"), small);
    const controller = new AbortController();
    const { lines } = log.follow(controller.signal);
    const done = (async () => {
      const seen: string[] = [];
      for await (const l of lines) seen.push(l.line);
      return seen;
    })();
    log.append("stdout", "a");
    await new Promise((r) => setImmediate(r));
    controller.abort();
    expect(await done).toEqual(["a"]);
    await log.close();
  });
});
