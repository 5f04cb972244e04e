import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isFaasError } from "../src/domain/errors.ts";
import { ByteQueue } from "../src/runtime/byte-queue.ts";
import { FrameChannel } from "../src/runtime/frames.ts";

/** A peer that answers whatever the test makes it write, over a real unix socket. */
let dir: string;
let server: Server;
let peer: Socket;
let channel: FrameChannel;

function frame(id: number, status: number, body: Buffer): Buffer {
  const header = Buffer.alloc(9);
  header.writeUInt32BE(body.length, 0);
  header.writeUInt32BE(id, 4);
  header.writeUInt8(status, 8);
  return Buffer.concat([header, body]);
}

/** Writes `data` in chunks of `size` bytes, each its own write (and mostly its own read). */
async function writeChunked(data: Buffer, size: number): Promise<void> {
  for (let offset = 0; offset < data.length; offset += size) {
    if (!peer.write(data.subarray(offset, offset + size))) await once(peer, "drain");
  }
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "faas-frames-"));
  const path = join(dir, "s.sock");
  server = createServer();
  const accepted = once(server, "connection");
  server.listen(path);
  await once(server, "listening");
  const socket = connect(path);
  [peer] = (await accepted) as [Socket];
  peer.on("error", () => {});
  channel = new FrameChannel(socket, { maxFrameBytes: 8 * 1024 * 1024 });
});

afterEach(async () => {
  channel.destroy();
  peer.destroy();
  server.close();
  await rm(dir, { recursive: true, force: true });
});

describe("frame reassembly", () => {
  it("reassembles a result sent in 4 KiB pieces exactly, and in linear time", async () => {
    const body = Buffer.from(JSON.stringify("z".repeat(7 * 1024 * 1024)));
    const call = channel.call("{}", 60_000);
    const started = performance.now();
    await writeChunked(frame(1, 0, body), 4096);
    const result = await call;
    expect(result.length).toBe(body.length);
    expect(result === body.toString()).toBe(true);
    // 1 800 pieces: a copy of everything buffered per piece (the old way) moved ~6 GB here.
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it("a frame over maxFrameBytes fails its call with RESULT_TOO_LARGE, unbuffered, and the channel goes on", async () => {
    const big = channel.call("{}", 60_000).catch((e: unknown) => e);
    const next = channel.call("{}", 60_000);
    await writeChunked(frame(1, 0, Buffer.alloc(20 * 1024 * 1024, 0x31)), 65536);
    peer.write(frame(2, 0, Buffer.from('"next"')));
    const error = await big;
    expect(isFaasError(error) && error.reason).toBe("RESULT_TOO_LARGE");
    expect(await next).toBe('"next"');
  });

  it("an unknown status or a body that is not UTF-8 is WORKER_PROTOCOL_ERROR", async () => {
    const bad = channel.call("{}", 60_000);
    peer.write(frame(1, 0, Buffer.from([0x22, 0xff, 0x22])));
    const error = await bad.catch((e: unknown) => e);
    expect(isFaasError(error) && error.reason).toBe("WORKER_PROTOCOL_ERROR");
    const forged = channel.call("{}", 60_000);
    peer.write(frame(2, 77, Buffer.from("{}")));
    const error2 = await forged.catch((e: unknown) => e);
    expect(isFaasError(error2) && error2.reason).toBe("WORKER_PROTOCOL_ERROR");
    expect(channel.isClosed).toBe(true);
  });

  it("fuzz: random bytes settle every call (answer, error or timeout) and never throw", async () => {
    for (let round = 0; round < 30; round++) {
      const calls = Array.from({ length: 3 }, () => channel.call("{}", 300).then(() => "ok", (e: unknown) => (isFaasError(e) ? e.reason : "other")));
      peer.write(randomBytes(1 + ((round * 7919) % 20000)));
      const outcomes = await Promise.all(calls);
      for (const outcome of outcomes) expect(["ok", "INVOKE_TIMEOUT", "WORKER_PROTOCOL_ERROR", "RESULT_TOO_LARGE", "FUNCTION_ERROR", "INVALID_REQUEST", "RESULT_NOT_SERIALIZABLE", "other"]).toContain(outcome);
      if (channel.isClosed) break;
    }
  });
});

describe("ByteQueue", () => {
  it("takes messages across chunk boundaries without losing or reordering a byte", () => {
    const queue = new ByteQueue();
    const data = randomBytes(100_000);
    for (let offset = 0; offset < data.length; offset += 777) queue.push(data.subarray(offset, offset + 777));
    const parts: Buffer[] = [];
    for (const n of [1, 9, 5000, 776, 778, 30_000]) parts.push(Buffer.from(queue.take(n)));
    expect(queue.peek(3).equals(data.subarray(36_564, 36_567))).toBe(true);
    parts.push(queue.take(queue.length));
    expect(Buffer.concat(parts).equals(data)).toBe(true);
    expect(queue.length).toBe(0);
  });
});
