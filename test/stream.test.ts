import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FaasAgent, StreamingMode } from "../gen/faas/v1/agent_pb.ts";
import { fileURLToPath } from "node:url";
import { deploy, postJson, startTestAgent, type TestAgent } from "./support/agent.ts";
import { requirePart } from "./support/requires.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const pythonEnv = { PYTHONPATH: join(ROOT, "gen"), PATH: "/usr/bin:/bin", LANG: "C.UTF-8", PYTHONDONTWRITEBYTECODE: "1" };
const noGrpcio = await requirePart("python-grpc");

/**
 * Streaming results on the local platform, end to end with real Python workers: generator and
 * async generator handlers, InvokeStream over Connect and gRPC, chunks before the generator is
 * done (a FIFO barrier the handler waits on, opened by the test only after chunk 1 arrived),
 * GeneratorExit on cancel, an error midway, a plain Invoke of a generator, back-pressure.
 */

/** Waits on FIFOs under req["dir"] (its HOME, answered to {"where": true}): `go` after the first chunk; writes `closed` on GeneratorExit. */
export const STREAMER = `import os

def handle(req):
    # Where the test's FIFOs go: HOME, the function's own directory (writable inside its sandbox).
    return os.environ["HOME"] if req.get("where") else stream(req)

def stream(req):
    d = req.get("dir", "")
    try:
        for i in range(req.get("n", 3)):
            yield {"i": i, "pad": "x" * req["pad"]} if req.get("pad") else {"i": i}
            if i == 0 and req.get("barrier"):
                with open(os.path.join(d, "go")) as f:
                    f.read()
            if req.get("boom") == i + 1:
                raise ValueError(f"boom after {i + 1}")
    except GeneratorExit:
        with open(os.path.join(d, "closed"), "w") as f:
            f.write("GeneratorExit")
        raise
`;

const ASYNC_STREAMER = `import asyncio

async def handle(req):
    for i in range(req.get("n", 3)):
        await asyncio.sleep(0)
        yield i * 10
`;

/** Yields 64 KiB chunks forever; {"ping": true} answers how many it has made so far. */
const FLOOD = `made = [0]

def flood():
    block = "x" * 65536
    while True:
        made[0] += 1
        yield block

def handle(req):
    return made[0] if req.get("ping") else flood()
`;

async function mkfifo(path: string): Promise<void> {
  await execa("mkfifo", ["-m", "0666", path]);
}

describe("streaming results (local platform, real Python)", () => {
  let agent: TestAgent;
  let dir: string;
  let connect: Client<typeof FaasAgent>;

  beforeAll(async () => {
    agent = await startTestAgent({ FAAS_PLATFORM: "local" });
    await deploy(agent, { id: "streamer", handler: STREAMER });
    dir = (await postJson(`${agent.url}/invoke`, { id: "streamer", payload: { where: true } })).body.result;
    await deploy(agent, { id: "astreamer", handler: ASYNC_STREAMER });
    await deploy(agent, { id: "flood", handler: FLOOD });
    await deploy(agent, { id: "plain", handler: "def handle(req):\n    return {'plain': req}" });
    await deploy(agent, { id: "badchunk", handler: "def handle(req):\n    yield 1\n    yield {1, 2} if req.get('kind') == 'set' else 'x' * (req['size'])\n" });
    connect = createClient(FaasAgent, createConnectTransport({ baseUrl: agent.url, httpVersion: "1.1" }));
  });

  afterAll(async () => {
    await agent?.dispose();
  });

  it("declares incremental streaming in Capabilities", async () => {
    expect((await connect.capabilities({})).streaming).toBe(StreamingMode.INCREMENTAL);
  });

  it("sends each yielded value as a message, then the end with execution time and cold start", async () => {
    const messages = [];
    for await (const m of connect.invokeStream({ id: "streamer", payload: jsonValue({ n: 3 }) })) messages.push(m);
    expect(messages.slice(0, 3).map((m) => m.event.case === "chunk" && toJson(ValueSchema, m.event.value))).toEqual([{ i: 0 }, { i: 1 }, { i: 2 }]);
    const end = messages[3]!.event;
    expect(end.case).toBe("end");
    if (end.case !== "end") return;
    expect(end.value).toMatchObject({ status: "success", platform: "local", chunks: 3n });
    expect(end.value.executionTime).toBeGreaterThan(0);
    expect(typeof end.value.coldStart).toBe("boolean");
    expect(messages).toHaveLength(4);
  });

  it("delivers the first chunk while the generator is still running (the handler waits for the test)", async () => {
    const go = join(dir, "go");
    await mkfifo(go);
    const grpc = createClient(FaasAgent, createGrpcTransport({ baseUrl: agent.url }));
    const stream = grpc.invokeStream({ id: "streamer", payload: jsonValue({ n: 2, barrier: true, dir }) });
    const it = stream[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.value.event.case).toBe("chunk");
    // Only now may the generator go on: it is blocked opening the FIFO until we write it.
    await writeFile(go, "go");
    const rest = [];
    for (let step = await it.next(); !step.done; step = await it.next()) rest.push(step.value.event.case);
    expect(rest).toEqual(["chunk", "end"]);
    await rm(go);
  });

  /** The barrier run through one protocol: `open` starts the call and yields its messages' kinds. */
  async function barrier(open: (payload: unknown) => AsyncIterator<string>): Promise<string[]> {
    const go = join(dir, "go");
    await mkfifo(go);
    try {
      const messages = open({ n: 2, barrier: true, dir });
      const first = await messages.next();
      expect(first.value).toBe("chunk");
      await writeFile(go, "go"); // only now can the generator go on
      const rest = [];
      for (let step = await messages.next(); !step.done; step = await messages.next()) rest.push(step.value);
      return rest;
    } finally {
      await rm(go, { force: true });
    }
  }

  it("REST NDJSON: one line per chunk as it comes, then the status line", async () => {
    const lines: any[] = [];
    const rest = await barrier((payload) =>
      (async function* () {
        for await (const line of restLines(agent.url, { id: "streamer", payload }, "application/x-ndjson", "\n")) {
          lines.push(JSON.parse(line));
          yield lines.at(-1).type as string;
        }
      })(),
    );
    expect(rest).toEqual(["chunk", "done"]);
    expect(lines[0]).toEqual({ type: "chunk", result: { i: 0 } });
    expect(lines[2]).toMatchObject({ type: "done", status: "success", platform: "local", chunks: 2, cold_start: false });
    expect(lines[2].execution_time).toBeGreaterThan(0);
  });

  it("REST SSE: events chunk and done", async () => {
    const events: string[] = [];
    const rest = await barrier((payload) =>
      (async function* () {
        for await (const event of restLines(agent.url, { id: "streamer", payload }, "text/event-stream", "\n\n")) {
          events.push(event);
          yield /^event: (\w+)/.exec(event)![1]!;
        }
      })(),
    );
    expect(rest).toEqual(["chunk", "done"]);
    expect(events[0]).toBe('event: chunk\ndata: {"i":0}');
    expect(JSON.parse(events[2]!.split("data: ")[1]!)).toMatchObject({ status: "success", chunks: 2 });
  });

  it.skipIf(noGrpcio)("gRPC from Python (grpcio, generated client): messages as they come", async () => {
    const rest = await barrier((payload) =>
      (async function* () {
        const run = execa("/usr/bin/python3", [join(ROOT, "test", "python", "stream_client.py"), `127.0.0.1:${agent.address.port}`, "streamer", JSON.stringify(payload)], { env: pythonEnv, extendEnv: false });
        for await (const line of run) yield Object.keys(JSON.parse(String(line)))[0]!;
      })(),
    );
    expect(rest).toEqual(["chunk", "end"]);
  });

  it("the CLI's `faas invoke --stream` prints each chunk as it comes", async () => {
    const lines: string[] = [];
    let exit: Promise<unknown> | undefined;
    const rest = await barrier((payload) =>
      (async function* () {
        const run = execa("node", [join(ROOT, "src", "cli", "bin.js"), "invoke", "streamer", "--stream", "-v", "--data", JSON.stringify(payload)], {
          env: { FAAS_AGENT_URL: agent.url, FAAS_TOKEN: "" },
          stdin: "ignore",
          reject: false,
        });
        exit = run;
        for await (const line of run) {
          lines.push(String(line));
          yield "chunk";
        }
      })(),
    );
    expect(rest).toEqual(["chunk"]);
    expect(lines).toEqual(['{"i":0}', '{"i":1}']);
    const done = (await exit) as { exitCode: number; stderr: string };
    expect(done.exitCode).toBe(0);
    expect(done.stderr).toMatch(/^chunks: 2 {2}time: \d+\.\d ms {2}cold start: (yes|no) {2}platform: local\n?$/);
  });

  it("REST: a failure before the first chunk is a plain error answer; one after it is the status line", async () => {
    const missing = await fetch(`${agent.url}/invoke`, { method: "POST", headers: { accept: "application/x-ndjson", "content-type": "application/json" }, body: JSON.stringify({ id: "nope" }) });
    expect(missing.status).toBe(404);
    expect((await missing.json()).reason).toBe("FUNCTION_NOT_FOUND");
    const lines = [];
    for await (const line of restLines(agent.url, { id: "streamer", payload: { n: 5, boom: 1 } }, "application/x-ndjson", "\n")) lines.push(JSON.parse(line));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toEqual({ type: "chunk", result: { i: 0 } });
    expect(lines[1]).toMatchObject({ type: "done", status: "error", code: 500, reason: "FUNCTION_ERROR" });
    expect(lines[1].error).toContain("ValueError: boom after 1");
  });

  it("a client that cancels reaches the generator as GeneratorExit", async () => {
    const closed = join(dir, "closed");
    await mkfifo(closed);
    const seen = readFile(closed, "utf8"); // resolves when the handler writes it
    const controller = new AbortController();
    const stream = connect.invokeStream({ id: "streamer", payload: jsonValue({ n: 1_000_000_000, pad: 65536, dir }) }, { signal: controller.signal });
    for await (const m of stream) {
      expect(m.event.case).toBe("chunk");
      break;
    }
    controller.abort(); // the client goes away after the first chunk (connect-es cancels by its signal)
    expect(await seen).toBe("GeneratorExit");
    await rm(closed);
    // The worker serves on: its thread was freed.
    expect((await postJson(`${agent.url}/invoke`, { id: "plain", payload: 1 })).body.result).toEqual({ plain: 1 });
  });

  it("a generator that raises midway ends the stream with the error a plain call gives, after its chunks", async () => {
    const chunks: unknown[] = [];
    const error = await (async () => {
      for await (const m of connect.invokeStream({ id: "streamer", payload: jsonValue({ n: 5, boom: 2 }) })) chunks.push(m.event.case);
    })().catch((e: unknown) => e);
    expect(chunks).toEqual(["chunk", "chunk"]);
    expect(error).toBeInstanceOf(ConnectError);
    const plain = await connect.invoke({ id: "plain", payload: jsonValue({}) }).catch(() => undefined);
    expect(plain).toBeDefined();
    const sync = await postJson(`${agent.url}/invoke`, { id: "streamer", payload: { n: 5, boom: 2 } });
    expect(sync.status).toBe(500);
    expect(sync.body.reason).toBe("FUNCTION_ERROR");
    expect((error as ConnectError).code).toBe(Code.Unknown);
    expect((error as ConnectError).message).toContain("ValueError: boom after 2");
  });

  it("each chunk obeys the result rules: not JSON or over FAAS_MAX_RESULT_BYTES ends the stream with that reason", async () => {
    for (const [payload, reason] of [
      [{ kind: "set" }, "RESULT_NOT_SERIALIZABLE"],
      [{ size: 9 * 1024 * 1024 }, "RESULT_TOO_LARGE"],
    ] as const) {
      const lines = [];
      for await (const line of restLines(agent.url, { id: "badchunk", payload }, "application/x-ndjson", "\n")) lines.push(JSON.parse(line));
      expect(lines[0]).toEqual({ type: "chunk", result: 1 });
      expect(lines[1]).toMatchObject({ type: "done", status: "error", reason });
      expect(lines).toHaveLength(2);
    }
  });

  it("a plain Invoke of a generator returns the list of what it yielded (sync and async generators)", async () => {
    expect((await postJson(`${agent.url}/invoke`, { id: "streamer", payload: { n: 3 } })).body.result).toEqual([{ i: 0 }, { i: 1 }, { i: 2 }]);
    expect((await postJson(`${agent.url}/invoke`, { id: "astreamer", payload: { n: 4 } })).body.result).toEqual([0, 10, 20, 30]);
  });

  it("streams an async generator, and a plain handler as its one chunk", async () => {
    const values = [];
    for await (const m of connect.invokeStream({ id: "astreamer", payload: jsonValue({ n: 3 }) })) if (m.event.case === "chunk") values.push(m.event.value.kind.value);
    expect(values).toEqual([0, 10, 20]);
    const plain = [];
    for await (const m of connect.invokeStream({ id: "plain", payload: jsonValue(7) })) plain.push(m.event.case);
    expect(plain).toEqual(["chunk", "end"]);
  });

  it("a slow reader pauses the generator: it runs at most a window ahead, and agent memory stays flat", async () => {
    const ping = async () => (await postJson(`${agent.url}/invoke`, { id: "flood", payload: { ping: true } })).body.result as number;
    const rssBefore = process.memoryUsage().rss;
    const stream = connect.invokeStream({ id: "flood", payload: jsonValue({}) })[Symbol.asyncIterator]();
    let taken = 0;
    let maxAhead = 0;
    let maxRss = 0;
    for (let round = 0; round < 40; round++) {
      const step = await stream.next();
      expect(step.value.event.case).toBe("chunk");
      taken++;
      // Between reads, give the generator every chance to run ahead: plain calls to the same worker.
      for (let i = 0; i < 5; i++) maxAhead = Math.max(maxAhead, (await ping()) - taken);
      maxRss = Math.max(maxRss, process.memoryUsage().rss);
    }
    await stream.return?.();
    // What may lie between the generator and this reader: the runtime's window (256 KiB) and the
    // kernel's buffers of the one loopback connection (receive and send maxima), nothing in the agent.
    const [rmem, wmem] = await Promise.all(["tcp_rmem", "tcp_wmem"].map(async (name) => Number((await readFile(`/proc/sys/net/ipv4/${name}`, "utf8")).trim().split(/\s+/)[2])));
    expect(maxAhead * 65536).toBeLessThanOrEqual(256 * 1024 + rmem! + wmem! + 4 * 65536);
    // Unpaced, 40 rounds of 200+ round trips would let it make hundreds of MiB.
    expect(maxRss - rssBefore).toBeLessThan(64 * 1024 * 1024);
  });
});

/** POSTs `body` with `accept` and yields the answer's pieces split by `separator`, as they arrive. */
async function* restLines(url: string, body: unknown, accept: string, separator: string): AsyncGenerator<string> {
  const res = await fetch(`${url}/invoke`, { method: "POST", headers: { accept, "content-type": "application/json" }, body: JSON.stringify(body) });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain(accept);
  const decoder = new TextDecoder();
  let text = "";
  for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
    text += decoder.decode(bytes, { stream: true });
    for (let at = text.indexOf(separator); at >= 0; at = text.indexOf(separator)) {
      yield text.slice(0, at);
      text = text.slice(at + separator.length);
    }
  }
  expect(text).toBe("");
}

/** A google.protobuf.Value message (init form) of a plain JSON value. */
function jsonValue(value: unknown): any {
  if (value === null) return { kind: { case: "nullValue", value: 0 } };
  if (typeof value === "number") return { kind: { case: "numberValue", value } };
  if (typeof value === "string") return { kind: { case: "stringValue", value } };
  if (typeof value === "boolean") return { kind: { case: "boolValue", value } };
  if (Array.isArray(value)) return { kind: { case: "listValue", value: { values: value.map(jsonValue) } } };
  return { kind: { case: "structValue", value: { fields: Object.fromEntries(Object.entries(value as object).map(([k, v]) => [k, jsonValue(v)])) } } };
}
