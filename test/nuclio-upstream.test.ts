import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deploy, getJson, postJson, startTestAgent, type TestAgent } from "./support/agent.ts";
import { startNuclioStandIn, type NuclioStandIn } from "./support/nuclio/dashboard.ts";

/**
 * The nuclio platform where a real Nuclio (1.14.1) differs from what the adapter first assumed:
 * each test drives the agent against the stand-in, whose behaviour for that case follows the
 * upstream source cited in test/support/nuclio/.
 */
describe("nuclio platform against Nuclio's upstream behaviour", () => {
  let nuclio: NuclioStandIn;
  let agent: TestAgent;
  let meet: string;
  const env = () => ({ RADICAL_FAAS_PLATFORM: "nuclio", NUCLIO_DASHBOARD_URL: nuclio.url, NUCLIO_NAMESPACE: "nuclio", NUCLIO_TIMEOUT: "20" });
  const invoke = (id: string, payload?: unknown, on: TestAgent = agent) => postJson(`${on.url}/invoke`, payload === undefined ? { id } : { id, payload });

  beforeAll(async () => {
    nuclio = await startNuclioStandIn();
    agent = await startTestAgent(env());
    meet = await mkdtemp(join(tmpdir(), "nuclio-meet-"));
  });
  afterAll(async () => {
    await agent?.dispose();
    await nuclio?.close();
    if (meet) await rm(meet, { recursive: true, force: true });
  });

  it("N1: answers with handle's result for async handlers inside the wrapper's event loop, and reports their exceptions", async () => {
    await deploy(agent, { id: "async-fn", handler: "import asyncio\nasync def handle(req):\n    await asyncio.sleep(0)\n    return {'async': req}\n" });
    expect(await invoke("async-fn", { n: 1 })).toMatchObject({ status: 200, body: { result: { async: { n: 1 } }, status: "success" } });
    await deploy(agent, { id: "async-raise", handler: "async def handle(req):\n    raise KeyError('gone')\n" });
    const raised = await invoke("async-raise", {});
    expect(raised.status).toBe(500);
    expect(raised.body).toMatchObject({ reason: "FUNCTION_ERROR", exception_type: "KeyError" });
    expect(raised.body.traceback).toMatch(/File "handler.py", line 2, in handle/);
  }, 60_000);

  it("N10: runs one wrapper process per worker (two events side by side in two processes)", async () => {
    // Each call writes its pid into a shared folder and waits (until a deadline) for a second one:
    // only two workers running at once meet; their pids differ because each worker is a process.
    const handler = [
      "import os, time",
      "def handle(req):",
      "    d = os.path.join(os.environ['MEET_DIR'], req['tag'])",
      "    os.makedirs(d, exist_ok=True)",
      "    open(os.path.join(d, str(os.getpid())), 'w').close()",
      "    deadline = time.time() + req['wait']",
      "    while len(os.listdir(d)) < 2:",
      "        if time.time() > deadline:",
      "            raise TimeoutError('alone')",
      "        time.sleep(0.01)",
      "    return os.getpid()",
    ].join("\n");
    await deploy(agent, { id: "two-procs", handler, env: { MEET_DIR: meet }, options: { workers: 2 } });
    const pair = await Promise.all([1, 2].map(() => invoke("two-procs", { tag: "two", wait: 20 })));
    expect(pair.map((r) => r.status)).toEqual([200, 200]);
    expect(pair[0]!.body.result).not.toBe(pair[1]!.body.result);
    await deploy(agent, { id: "one-proc", handler, env: { MEET_DIR: meet }, options: { workers: 1 } });
    const serial = await Promise.all([1, 2].map(() => invoke("one-proc", { tag: "one", wait: 1 })));
    expect(serial[0]!.body).toMatchObject({ reason: "FUNCTION_ERROR", exception_type: "TimeoutError" });
  }, 60_000);

  it("N2: redeploys older content after newer content (the content hash is not a create-only label)", async () => {
    const v = (n: number) => `def handle(req):\n    return 'v${n}'\n`;
    const first = await deploy(agent, { id: "back-and-forth", handler: v(1) });
    await deploy(agent, { id: "back-and-forth", handler: v(2) });
    expect((await invoke("back-and-forth")).body.result).toBe("v2");
    const again = await deploy(agent, { id: "back-and-forth", handler: v(1) });
    expect((await invoke("back-and-forth")).body.result).toBe("v1");
    expect(again.revision).toBe(first.revision);
    const builds = nuclio.builds();
    await deploy(agent, { id: "back-and-forth", handler: v(1) });
    expect(nuclio.builds()).toBe(builds); // unchanged now
  }, 90_000);

  it("N6: never replaces a same-named function of another project", async () => {
    nuclio.addProject("other");
    const foreignSource = Buffer.from("def handler(context, event):\n    return 'theirs'\n").toString("base64");
    const created = await fetch(`${nuclio.url}/api/functions`, {
      method: "POST",
      headers: { "x-nuclio-function-namespace": "nuclio", "x-nuclio-project-name": "other" },
      // Even deployed by another agent (same labels), it belongs to project "other".
      body: JSON.stringify({ metadata: { name: "shared", labels: { "radical-faas.dev/managed-by": "radical-faas" } }, spec: { runtime: "python:3.11", handler: "main:handler", build: { functionSourceCode: foreignSource } } }),
    });
    expect(created.status).toBe(202);
    await nuclio.settled("shared");
    const builds = nuclio.builds();
    const refused = await postJson(`${agent.url}/deploy`, { id: "shared", handler: "def handle(req):\n    return 'mine'\n" });
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatch(/project "other"/);
    expect(nuclio.builds()).toBe(builds);
    expect(nuclio.storedSpec("shared")!.build.functionSourceCode).toBe(foreignSource);
    expect((await getJson(`${agent.url}/functions`)).body.functions.map((f: any) => f.id)).not.toContain("shared");
  }, 60_000);

  it("N3: refuses ids longer than 56 characters up front (Nuclio's Service is nuclio-<id>, at most 63)", async () => {
    const builds = nuclio.builds();
    const long = await postJson(`${agent.url}/deploy`, { id: "a".repeat(57), handler: "def handle(req):\n    return 1\n" });
    expect(long.status).toBe(400);
    expect(long.body).toMatchObject({ reason: "INVALID_REQUEST", field: "id" });
    expect(long.body.error).toMatch(/56/);
    expect(nuclio.builds()).toBe(builds);
    await deploy(agent, { id: "b".repeat(56), handler: "def handle(req):\n    return 56\n" });
    expect((await invoke("b".repeat(56))).body.result).toBe(56);
  }, 60_000);

  it("N4: NUCLIO_INVOKE_VIA=external deploys a NodePort service and calls it there", async () => {
    const external = await startTestAgent({ ...env(), NUCLIO_INVOKE_VIA: "external" });
    try {
      await deploy(external, { id: "node-port", handler: "def handle(req):\n    return ['np', req]\n" });
      expect(nuclio.storedSpec("node-port")!.triggers.http.attributes.serviceType).toBe("NodePort");
      expect((await invoke("node-port", 1, external)).body.result).toEqual(["np", 1]);
    } finally {
      await external.dispose();
    }
  }, 60_000);

  it("N5: a payload over Nuclio's 4 MiB default reaches the function (the trigger's limit is set to the agent's)", async () => {
    await deploy(agent, { id: "big-body", handler: "def handle(req):\n    return len(req['blob'])\n" });
    const blob = "x".repeat(5 * 1024 * 1024);
    const res = await invoke("big-body", { blob });
    expect(res.status).toBe(200);
    expect(res.body.result).toBe(blob.length);
    expect(nuclio.storedSpec("big-body")!.triggers.http.attributes.maxRequestBodySize).toBe(8 * 1024 * 1024);
  }, 60_000);

  it("N7: an import failure is HANDLER_INVALID with its traceback after FixEscapeChars, quotes and backslashes included", async () => {
    const res = await postJson(`${agent.url}/deploy`, { id: "bad-import", handler: "raise ImportError('no \"quoted\" C:\\\\path\\\\n here')\ndef handle(req):\n    return 1\n" });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ reason: "HANDLER_INVALID", exception_type: "ImportError", exception_message: 'no "quoted" C:\\path\\n here' });
    expect(res.body.traceback).toMatch(/File "handler.py", line 1, in <module>/);
  }, 60_000);

  it("N8: tells a reserved name and a missing project from a deploy under way", async () => {
    const reserved = await postJson(`${agent.url}/deploy`, { id: "dashboard", handler: "def handle(req):\n    return 1\n" });
    expect(reserved.status).toBe(400);
    expect(reserved.body).toMatchObject({ reason: "INVALID_REQUEST", field: "id" });
    expect(reserved.body.error).toMatch(/reserved/);
    const lost = await startTestAgent({ ...env(), NUCLIO_PROJECT: "no-such-project", NUCLIO_TIMEOUT: "5" });
    try {
      const missing = await postJson(`${lost.url}/deploy`, { id: "orphan", handler: "def handle(req):\n    return 1\n" });
      expect(missing.status).toBe(500);
      expect(missing.body).toMatchObject({ reason: "DEPLOY_FAILED", platform_reason: "ProjectNotFound" });
      expect(missing.body.error).toMatch(/project "no-such-project" does not exist/);
    } finally {
      await lost.dispose();
    }
  }, 60_000);

  it("N9: after a failed update, calls keep reaching the version that was running", async () => {
    await deploy(agent, { id: "survivor", handler: "def handle(req):\n    return 'v1'\n" });
    const broken = await postJson(`${agent.url}/deploy`, { id: "survivor", handler: "import nowhere\ndef handle(req):\n    return 'v2'\n" });
    expect(broken.status).not.toBe(200);
    expect((await invoke("survivor")).body.result).toBe("v1");
    const listed = (await getJson(`${agent.url}/functions`)).body.functions.find((f: any) => f.id === "survivor");
    expect(listed).toMatchObject({ state: "error", ready: false });
    expect(listed.message).toMatch(/No module named 'nowhere'/);
  }, 60_000);
});
