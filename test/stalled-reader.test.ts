import { request as httpRequest, type ClientRequest, type IncomingMessage } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAgent, type RunningAgent } from "../src/agent.ts";
import { loadConfig } from "../src/config.ts";
import type { LogLine } from "../src/domain/types.ts";
import { createFakePlatform } from "./support/fake-platform.ts";

// A streaming RPC whose reader stops reading and then disconnects: the agent's handler must end
// (its `finally` runs), not stay suspended in Connect's wait for a `drain` Node never emits on a
// closed socket. Before the fix every such reader of `Logs` pinned its follow buffer for ever:
// the soak's one stalled follower held 60 MB of log lines after the load had stopped.

/** 12 MB: more than loopback TCP buffers take from a reader that does not read, less than a message may be. */
const LINE = "x".repeat(12 * 1024 * 1024);

let agent: RunningAgent;
let dir: string;
let yielded = 0;
let onYield: (() => void) | undefined;
let finished: () => void = () => {};
const ended = new Promise<void>((resolve) => (finished = resolve));
let aborted = false;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "faas-stalled-"));
  const platform = createFakePlatform();
  platform.logs = async function* (_id, _options, signal): AsyncGenerator<LogLine> {
    try {
      for (;;) {
        yielded++;
        onYield?.();
        yield { time: new Date(), stream: "stdout", line: LINE };
      }
    } finally {
      aborted = signal.aborted;
      finished();
    }
  };
  const env = { ...process.env, PORT: "0", FAAS_HOST: "127.0.0.1", FAAS_STATE_DIR: dir, FAAS_AUTH_TOKEN: "" };
  agent = await startAgent(loadConfig(env), pino({ level: "silent" }), env, { platform });
});
afterAll(async () => {
  await agent?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function envelope(message: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(message));
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

describe("a streaming reader that stops reading, then disconnects", () => {
  it("ends the handler (Logs over Connect, HTTP/1.1)", async () => {
    let req: ClientRequest;
    const firstLine = new Promise<void>((resolve) => (onYield = resolve));
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      req = httpRequest(`${agent.url}/faas.v1.FaasAgent/Logs`, { method: "POST", headers: { "content-type": "application/connect+json" } }, resolve);
      req.on("error", reject);
      req.end(envelope({ id: "fn", follow: true }));
    });
    expect(res.statusCode).toBe(200);
    res.pause(); // never read: the agent's write of the first 12 MB line cannot finish
    await firstLine;
    req!.destroy();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<"stuck">((resolve) => (timer = setTimeout(() => resolve("stuck"), 20_000)));
    const outcome = await Promise.race([ended.then(() => "ended" as const), deadline]);
    clearTimeout(timer);
    expect(outcome).toBe("ended");
    expect(aborted).toBe(true);
    expect(yielded).toBeLessThanOrEqual(3); // the reader's stop was felt: no line after line was produced for nobody
  }, 60_000);
});
