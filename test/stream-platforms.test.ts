import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deploy, getJson, postJson, startTestAgent, type TestAgent } from "./support/agent.ts";
import { assertDocker, docker, removeNamespace, skipDocker, testNamespace } from "./support/docker.ts";
import { startKnativeStandIn, type KnativeStandIn } from "./support/knative/index.ts";
import { startNuclioStandIn, type NuclioStandIn } from "./support/nuclio/dashboard.ts";

/**
 * The same stream on docker (frames over the container's port), knative (chunked HTTP from the
 * runtime through the ingress) and nuclio (Nuclio's wrapper answers once: buffered), with real
 * Python in real containers. The barrier is a second, plain call to the same function: the
 * generator waits after its first chunk until the test, having received that chunk, releases it.
 */
const GATED = `import threading

released = threading.Event()
closed = threading.Event()

def gen(n):
    released.clear()
    try:
        for i in range(n):
            yield {"i": i}
            if i == 0 and not released.wait(60):
                raise TimeoutError("the test never released the generator")
    except GeneratorExit:
        closed.set()
        raise

def handle(req):
    if req.get("release"):
        released.set()
        return "released"
    if req.get("closed"):
        return closed.wait(60)
    if req.get("boom"):
        return boom()
    return gen(req.get("n", 3))

def boom():
    yield 1
    raise ValueError("boom midway")
`;

/** NDJSON lines of a streaming REST invoke, as they arrive. */
async function* ndjson(agent: TestAgent, id: string, payload: unknown, signal?: AbortSignal): AsyncGenerator<any> {
  const res = await fetch(`${agent.url}/invoke`, { method: "POST", signal, headers: { accept: "application/x-ndjson", "content-type": "application/json" }, body: JSON.stringify({ id, payload }) });
  expect(res.status).toBe(200);
  const decoder = new TextDecoder();
  let text = "";
  for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
    text += decoder.decode(bytes, { stream: true });
    for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n")) {
      yield JSON.parse(text.slice(0, nl));
      text = text.slice(nl + 1);
    }
  }
}

/** The barrier: chunk 0 must arrive while the generator waits for the release only the test sends. */
async function chunkBeforeDone(agent: TestAgent, id: string): Promise<void> {
  const lines = ndjson(agent, id, { n: 3 });
  const first = await lines.next();
  expect(first.value).toEqual({ type: "chunk", result: { i: 0 } });
  expect((await postJson(`${agent.url}/invoke`, { id, payload: { release: true } })).body.result).toBe("released");
  const rest = [];
  for await (const line of lines) rest.push(line);
  expect(rest.map((l) => l.type)).toEqual(["chunk", "chunk", "done"]);
  expect(rest[2]).toMatchObject({ status: "success", chunks: 3 });
}

async function errorMidway(agent: TestAgent, id: string): Promise<void> {
  const lines = [];
  for await (const line of ndjson(agent, id, { boom: true })) lines.push(line);
  expect(lines[0]).toEqual({ type: "chunk", result: 1 });
  expect(lines[1]).toMatchObject({ type: "done", status: "error", code: 500, reason: "FUNCTION_ERROR" });
  expect(lines[1].error).toContain("ValueError: boom midway");
  // A plain call gives the same error, and the list for a generator that finishes.
  const plain = await postJson(`${agent.url}/invoke`, { id, payload: { boom: true } });
  expect([plain.status, plain.body.reason]).toEqual([500, "FUNCTION_ERROR"]);
}

async function cancelCloses(agent: TestAgent, id: string): Promise<void> {
  const controller = new AbortController();
  // Endless once released: only the cancel can end it (at a yield, once the window is full).
  const lines = ndjson(agent, id, { n: 1_000_000_000 }, controller.signal);
  expect((await lines.next()).value.type).toBe("chunk");
  controller.abort(); // the client goes away while the generator waits at its first yield
  await lines.next().catch(() => undefined);
  // Released, the generator yields on until the cancel meets it at a yield: GeneratorExit.
  await postJson(`${agent.url}/invoke`, { id, payload: { release: true } });
  expect((await postJson(`${agent.url}/invoke`, { id, payload: { closed: true } })).body.result).toBe(true);
}

describe.skipIf(skipDocker)("streaming on docker", () => {
  const namespace = testNamespace("stream");
  let agent: TestAgent;
  beforeAll(async () => {
    assertDocker();
    agent = await startTestAgent({ RADICAL_FAAS_PLATFORM: "docker", FAAS_DOCKER_NAMESPACE: namespace, FAAS_IDLE_TIMEOUT: "0" });
    await deploy(agent, { id: "dk-gated", handler: GATED });
  }, 180_000);
  afterAll(async () => {
    await agent?.dispose();
    await removeNamespace(namespace);
  });

  it("declares incremental streaming", async () => {
    expect((await getJson(`${agent.url}/capabilities`)).body.streaming).toBe("STREAMING_MODE_INCREMENTAL");
  });
  it("delivers the first chunk before the generator is done", () => chunkBeforeDone(agent, "dk-gated"));
  it("ends with the error of a generator that raises midway", () => errorMidway(agent, "dk-gated"));
  it("a cancel reaches the generator as GeneratorExit", () => cancelCloses(agent, "dk-gated"));
});

describe.skipIf(skipDocker)("streaming on knative (the stand-in's ingress)", () => {
  let kn: KnativeStandIn;
  let agent: TestAgent;
  beforeAll(async () => {
    assertDocker();
    kn = await startKnativeStandIn(docker);
    agent = await startTestAgent(kn.env);
    await deploy(agent, { id: "kn-gated", handler: GATED });
  }, 180_000);
  afterAll(async () => {
    await agent?.dispose();
    await kn?.close();
    for (const image of await docker.listImages({ filters: { reference: ["dev.local/kn-gated"] } })) await docker.getImage(image.Id).remove({ force: true }).catch(() => undefined);
  });

  it("declares incremental streaming", async () => {
    expect((await getJson(`${agent.url}/capabilities`)).body.streaming).toBe("STREAMING_MODE_INCREMENTAL");
  });
  it("delivers the first chunk before the generator is done", () => chunkBeforeDone(agent, "kn-gated"));
  it("delivers it through a re-chunking ingress too", async () => {
    kn.ingress.chunked = true;
    try {
      await chunkBeforeDone(agent, "kn-gated");
    } finally {
      kn.ingress.chunked = false;
    }
  });
  it("ends with the error of a generator that raises midway", () => errorMidway(agent, "kn-gated"));
  it("a cancel reaches the generator as GeneratorExit", () => cancelCloses(agent, "kn-gated"));
});

describe("streaming on nuclio (buffered: the wrapper answers once per event)", () => {
  let nuclio: NuclioStandIn;
  let agent: TestAgent;
  beforeAll(async () => {
    nuclio = await startNuclioStandIn();
    agent = await startTestAgent({ RADICAL_FAAS_PLATFORM: "nuclio", NUCLIO_DASHBOARD_URL: nuclio.url, NUCLIO_NAMESPACE: "nuclio", NUCLIO_TIMEOUT: "20" });
    await deploy(agent, { id: "nu-stream", handler: "def handle(req):\n    for i in range(req.get('n', 3)):\n        yield {'i': i}\n    if req.get('boom'):\n        raise ValueError('boom midway')\n" });
  }, 120_000);
  afterAll(async () => {
    await agent?.dispose();
    await nuclio?.close();
  });

  it("declares buffered streaming", async () => {
    expect((await getJson(`${agent.url}/capabilities`)).body.streaming).toBe("STREAMING_MODE_BUFFERED");
  });
  it("streams every chunk (all at once when the handler is done), then the status line", async () => {
    const lines = [];
    for await (const line of ndjson(agent, "nu-stream", { n: 3 })) lines.push(line);
    expect(lines.slice(0, 3)).toEqual([0, 1, 2].map((i) => ({ type: "chunk", result: { i } })));
    expect(lines[3]).toMatchObject({ type: "done", status: "success", platform: "nuclio", chunks: 3 });
  });
  it("a plain invoke of the generator gets its list; an error midway ends the stream with it", async () => {
    expect((await postJson(`${agent.url}/invoke`, { id: "nu-stream", payload: { n: 2 } })).body.result).toEqual([{ i: 0 }, { i: 1 }]);
    const lines = [];
    for await (const line of ndjson(agent, "nu-stream", { n: 1, boom: true })) lines.push(line);
    expect(lines[0]).toEqual({ type: "chunk", result: { i: 0 } });
    expect(lines[1]).toMatchObject({ type: "done", status: "error", reason: "FUNCTION_ERROR" });
    expect(lines[1].error).toContain("boom midway");
  });
});
