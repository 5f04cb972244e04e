import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { canonicalJson, contentHash, HASH_LENGTH } from "../src/adapters/kit/hash.ts";
import { renderResources } from "../src/adapters/kit/kube-resources.ts";
import { isManaged, label, LABELS, LEGACY_DOCKER_LABELS, MANAGED_BY, selector } from "../src/adapters/kit/labels.ts";
import { LineSplitter, readLines } from "../src/adapters/kit/lines.ts";
import { AsyncQueue } from "../src/adapters/kit/queue.ts";
import { parseTimestamped } from "../src/adapters/kit/timestamps.ts";

async function collect<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of source) out.push(item);
  return out;
}

describe("LineSplitter and readLines", () => {
  it("completes lines across pieces, strips \\r\\n, and keeps the unterminated rest for flush", () => {
    const s = new LineSplitter();
    expect(s.push("a\r\nb")).toEqual(["a"]);
    expect(s.push("c\n\nd")).toEqual(["bc", ""]);
    expect(s.flush()).toEqual(["d"]);
    expect(s.flush()).toEqual([]);
  });

  it("decodes a UTF-8 character split between two buffers", () => {
    const s = new LineSplitter();
    const bytes = Buffer.from("größe\n", "utf8");
    const cut = bytes.indexOf(0xc3) + 1; // inside the two bytes of "ö"
    expect(s.push(bytes.subarray(0, cut))).toEqual([]);
    expect(s.push(bytes.subarray(cut))).toEqual(["größe"]);
  });

  it("reads the lines of a stream, the last one without a newline too", async () => {
    const stream = new PassThrough();
    stream.write("one\ntw");
    stream.end("o\nthree");
    expect(await collect(readLines(stream))).toEqual(["one", "two", "three"]);
  });

  it("ends quietly when its signal aborts, and throws a stream error otherwise", async () => {
    const controller = new AbortController();
    const stream = new PassThrough();
    const lines = readLines(stream, controller.signal)[Symbol.asyncIterator]();
    stream.write("first\n");
    expect(await lines.next()).toEqual({ done: false, value: "first" });
    const pending = lines.next();
    controller.abort();
    stream.destroy(new Error("torn down"));
    expect(await pending).toEqual({ done: true, value: undefined });

    const broken = new PassThrough();
    const reading = collect(readLines(broken));
    broken.destroy(new Error("connection reset"));
    await expect(reading).rejects.toThrow("connection reset");
  });
});

describe("AsyncQueue", () => {
  it("yields pushed items in order, waits for more, and ends after the buffered ones", async () => {
    const q = new AsyncQueue<number>();
    q.push(1);
    const it = q[Symbol.asyncIterator]();
    expect(await it.next()).toEqual({ done: false, value: 1 });
    const waiting = it.next();
    q.push(2);
    expect(await waiting).toEqual({ done: false, value: 2 });
    q.push(3);
    q.end();
    expect(await it.next()).toEqual({ done: false, value: 3 });
    expect((await it.next()).done).toBe(true);
  });

  it("throws the error given to end, after the items before it", async () => {
    const q = new AsyncQueue<string>();
    q.push("a");
    q.end(new Error("failed"));
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const item of q) seen.push(item);
      })(),
    ).rejects.toThrow("failed");
    expect(seen).toEqual(["a"]);
  });

  it("asks a producer to pause at the high-water mark and tells it when the consumer has drained", async () => {
    let drained = 0;
    const q = new AsyncQueue<number>({ highWaterMark: 2, onDrain: () => drained++ });
    expect(q.push(1)).toBe(true);
    expect(q.push(2)).toBe(false);
    const it = q[Symbol.asyncIterator]();
    expect(drained).toBe(0);
    await it.next();
    expect(drained).toBe(1);
    expect(q.push(3)).toBe(true);
  });

  it("never holds more than maxItems: the oldest are dropped and counted", async () => {
    const q = new AsyncQueue<number>({ highWaterMark: 2, maxItems: 3 });
    for (let i = 1; i <= 10; i++) q.push(i);
    expect(q.size).toBe(3);
    expect(q.dropped).toBe(7);
    q.end();
    expect(await collect(q)).toEqual([8, 9, 10]);
  });

  it("ends when its signal aborts, and runs onReturn when the consumer leaves early", async () => {
    const controller = new AbortController();
    const q = new AsyncQueue<number>({ signal: controller.signal });
    let returned = 0;
    q.onReturn(() => returned++);
    const it = q[Symbol.asyncIterator]();
    const pending = it.next();
    controller.abort();
    expect((await pending).done).toBe(true);
    expect(returned).toBe(1);
    expect(q.push(1)).toBe(false); // ended: nothing more is buffered

    const q2 = new AsyncQueue<number>();
    let left = 0;
    q2.onReturn(() => left++);
    q2.push(1);
    q2.push(2);
    for await (const item of q2) if (item === 1) break;
    expect(left).toBe(1);
  });
});

describe("contentHash", () => {
  it("is HASH_LENGTH hex digits, stable, and separates fields by their lengths", () => {
    const h = contentHash(["thing v1", "ab", "c"]);
    expect(h).toMatch(new RegExp(`^[0-9a-f]{${HASH_LENGTH}}$`));
    expect(contentHash(["thing v1", "ab", "c"])).toBe(h);
    expect(contentHash(["thing v1", "a", "bc"])).not.toBe(h);
    expect(contentHash(["thing v1", "abc"])).not.toBe(h);
    expect(contentHash(["thing v1", Buffer.from("ab"), "c"])).toBe(h);
  });

  it("hashes objects by canonical JSON: key order does not matter, undefined members are absent", () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { f: 2, e: 3 }], c: undefined } })).toBe('{"a":{"d":[1,{"e":3,"f":2}]},"b":1}');
    expect(contentHash([canonicalJson({ x: 1, y: 2 })])).toBe(contentHash([canonicalJson({ y: 2, x: 1 })]));
  });
});

describe("labels", () => {
  it("reads today's keys and the keys earlier agents wrote", () => {
    expect(label({ [LABELS.function]: "new" }, "function")).toBe("new");
    expect(label({ [LEGACY_DOCKER_LABELS.function]: "old" }, "function")).toBe("old");
    expect(label({ [LABELS.function]: "new", [LEGACY_DOCKER_LABELS.function]: "old" }, "function")).toBe("new");
    expect(label(undefined, "function")).toBe("");
    expect(isManaged({ [LABELS.managedBy]: MANAGED_BY })).toBe(true);
    expect(isManaged({ "radical-faas.dev/managed-by": MANAGED_BY })).toBe(true);
    expect(isManaged({ [LEGACY_DOCKER_LABELS.managedBy]: MANAGED_BY })).toBe(true);
    expect(isManaged({ [LABELS.managedBy]: "helm" })).toBe(false);
    expect(isManaged({})).toBe(false);
  });

  it("selects by managed-by plus the given labels, in either vocabulary", () => {
    expect(selector({ namespace: "ns", function: "f" })).toEqual([`${LABELS.managedBy}=radical-faas`, `${LABELS.namespace}=ns`, `${LABELS.function}=f`]);
    expect(selector({ namespace: "ns" }, LEGACY_DOCKER_LABELS)).toEqual(["dev.radical-faas.managed-by=radical-faas", "dev.radical-faas.namespace=ns"]);
  });
});

describe("parseTimestamped and renderResources", () => {
  it("splits an RFC 3339 prefix off a line, and keeps a line without one whole", () => {
    const line = parseTimestamped("2024-01-02T03:04:05.123456789Z hello world", "stderr");
    expect(line).toEqual({ time: new Date("2024-01-02T03:04:05.123Z"), stream: "stderr", line: "hello world" });
    const plain = parseTimestamped("no time here");
    expect(plain.line).toBe("no time here");
    expect(plain.stream).toBe("stdout");
  });

  it("renders requests, limits and GPUs as a limit, and nothing when nothing is set", () => {
    expect(renderResources({ cpuRequest: "100m", memoryLimit: "256Mi", gpu: 1 })).toEqual({ requests: { cpu: "100m" }, limits: { memory: "256Mi", "nvidia.com/gpu": "1" } });
    expect(renderResources({})).toBeUndefined();
    expect(renderResources(undefined)).toBeUndefined();
  });
});
