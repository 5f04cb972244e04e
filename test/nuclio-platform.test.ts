import { toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FaasAgent } from "../gen/faas/v1/agent_pb.ts";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.ts";
import { deploy, getJson, postJson, startTestAgent, type TestAgent } from "./support/agent.ts";
import { startNuclioStandIn, type NuclioStandIn } from "./support/nuclio/dashboard.ts";
import { startLocalIndex, type LocalIndex } from "./support/pypi.ts";

const ECHO = "def handle(req):\n    return req\n";

/** Deploys with Accept: application/x-ndjson and returns every event with the ms it arrived at. */
async function streamDeploy(agent: TestAgent, body: Record<string, unknown>): Promise<Array<Record<string, any> & { at: number }>> {
  const start = performance.now();
  const res = await fetch(`${agent.url}/deploy`, { method: "POST", headers: { accept: "application/x-ndjson", "content-type": "application/json" }, body: JSON.stringify(body) });
  const events: Array<Record<string, any> & { at: number }> = [];
  const decoder = new TextDecoder();
  let partial = "";
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    const lines = (partial + decoder.decode(chunk, { stream: true })).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines.filter(Boolean)) events.push({ ...JSON.parse(line), at: performance.now() - start });
  }
  return events;
}

describe("nuclio platform, through the agent, against the dashboard stand-in", () => {
  let nuclio: NuclioStandIn;
  let agent: TestAgent;
  let index: LocalIndex;
  const env = () => ({ RADICAL_FAAS_PLATFORM: "nuclio", NUCLIO_DASHBOARD_URL: nuclio.url, NUCLIO_NAMESPACE: "nuclio", NUCLIO_TIMEOUT: "20" });

  beforeAll(async () => {
    nuclio = await startNuclioStandIn();
    index = await startLocalIndex([["faasdemo", "1.0.0"]]);
    agent = await startTestAgent(env());
  });
  afterAll(async () => {
    await agent?.dispose();
    await index?.close();
    await nuclio?.close();
  });

  it("reports the dashboard in health", async () => {
    const health = await getJson(`${agent.url}/health`);
    expect(health.body).toMatchObject({ status: "healthy", platform: "nuclio" });
    expect(health.body.checks[0].message).toMatch(/Nuclio dashboard 1\.14\.1/);
  });

  it("deploys from source with live logs and invokes with every payload kind", async () => {
    const events = await streamDeploy(agent, { id: "echo", handler: ECHO });
    const done = events.at(-1)!;
    expect(done).toMatchObject({ type: "function", id: "echo", platform: "nuclio", status: "deployed" });
    const nuclioLines = events.filter((e) => e.type === "log" && e.source === "nuclio");
    expect(nuclioLines.map((e) => e.line)).toEqual(expect.arrayContaining(["Deploying function functionName=echo", "state: building", "state: ready"]));
    // Live: the first of Nuclio's lines arrived well before the deploy ended.
    expect(done.at - nuclioLines[0]!.at).toBeGreaterThan(100);
    // No line twice (the dashboard returns every log entry on every poll).
    const texts = nuclioLines.filter((e) => !e.line.startsWith("state: ")).map((e) => e.line);
    expect(new Set(texts).size).toBe(texts.length);
    expect(events.filter((e) => e.type === "phase").map((e) => e.phase)).toEqual(["validating", "packaging", "building", "deploying", "ready"]);

    for (const payload of [{ a: 1, nested: { b: [1, 2] } }, [1, "two", null], "text", 42, 2.5, null, true]) {
      const res = await postJson(`${agent.url}/invoke`, { id: "echo", payload });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ result: payload, status: "success", platform: "nuclio" });
    }
    // No payload: the function gets {} as on every platform.
    expect((await postJson(`${agent.url}/invoke`, { id: "echo" })).body.result).toEqual({});
  }, 60_000);

  it("runs the seed's README example and reports a function's exception with its traceback", async () => {
    await deploy(agent, { id: "hello-world", handler: "def handle(req):\n    name = req.get('name', 'World')\n    return f'Hello, {name}!'\n" });
    expect((await postJson(`${agent.url}/invoke`, { id: "hello-world", payload: { name: "Nuclio" } })).body.result).toBe("Hello, Nuclio!");
    await deploy(agent, { id: "raiser", handler: "def handle(req):\n    raise ValueError('bad input: ' + str(req))\n" });
    const res = await postJson(`${agent.url}/invoke`, { id: "raiser", payload: { x: 1 } });
    expect(res.status).toBe(500);
    expect(res.body).toMatchObject({ reason: "FUNCTION_ERROR", exception_type: "ValueError", exception_message: "bad input: {'x': 1}" });
    expect(res.body.traceback).toMatch(/File "handler.py", line 2, in handle/);
    expect(res.body.traceback).not.toMatch(/main\.py/);
    const unserialisable = await deploy(agent, { id: "setter", handler: "def handle(req):\n    return {1, 2}\n" });
    expect(unserialisable.status).toBe("deployed");
    expect((await postJson(`${agent.url}/invoke`, { id: "setter" })).body.reason).toBe("RESULT_NOT_SERIALIZABLE");
  }, 60_000);

  it("installs requirements with pip as build commands, and fails a pip failure with its output", async () => {
    const events = await streamDeploy(agent, {
      id: "with-deps",
      handler: "import faasdemo\ndef handle(req):\n    return faasdemo.greet(req['who'])\n",
      requirements: "faasdemo==1.0.0\n",
      params: { PIP_INDEX_URL: index.url },
    });
    expect(events.at(-1)).toMatchObject({ type: "function", id: "with-deps" });
    expect(events.some((e) => e.type === "log" && /Successfully installed faasdemo-1\.0\.0/.test(e.line))).toBe(true);
    expect(nuclio.storedSpec("with-deps")!.build.commands).toEqual([
      `python -m pip install --no-cache-dir --disable-pip-version-check --index-url '${index.url}' 'faasdemo==1.0.0'`,
    ]);
    expect((await postJson(`${agent.url}/invoke`, { id: "with-deps", payload: { who: "ada" } })).body.result).toBe("hello ada from faasdemo");

    const failed = await postJson(`${agent.url}/deploy`, { id: "no-such-dep", handler: ECHO, requirements: "faas-missing==9.9", params: { PIP_INDEX_URL: index.url } });
    expect(failed.status).toBe(500);
    expect(failed.body).toMatchObject({ reason: "DEPLOY_FAILED", platform_reason: "error" });
    expect(failed.body.error).toMatch(/No matching distribution found for faas-missing==9\.9/);
    expect(failed.body.logs.join("\n")).toMatch(/faas-missing/);
  }, 120_000);

  it("refuses requirement lines and runtimes Nuclio could not build, before anything is sent", async () => {
    const before = nuclio.builds();
    const shell = await postJson(`${agent.url}/deploy`, { id: "evil", handler: ECHO, requirements: "requests; rm -rf /" });
    expect(shell.status).toBe(400);
    expect(shell.body).toMatchObject({ reason: "INVALID_REQUEST", field: "requirements" });
    const runtime = await postJson(`${agent.url}/deploy`, { id: "py312", handler: ECHO, params: { PYTHON_VERSION: "3.12" } });
    expect(runtime.status).toBe(400);
    expect(runtime.body.error).toMatch(/PYTHON_VERSION 3\.12 is not a Nuclio runtime; Nuclio runs python:3\.9, python:3\.10, python:3\.11/);
    const knativeOnly = await postJson(`${agent.url}/deploy`, { id: "knative-only", handler: ECHO, options: { target: 10 } });
    expect(knativeOnly.status).toBe(400);
    expect(knativeOnly.body.field).toBe("options.target");
    const zeroMax = await postJson(`${agent.url}/deploy`, { id: "zero-max", handler: ECHO, options: { min_scale: 0 } });
    expect(zeroMax.body.error).toMatch(/options.max_scale is required when options.min_scale is 0/);
    expect(nuclio.builds()).toBe(before);
  });

  it("fails a handler that does not import with HANDLER_INVALID and the traceback; other functions keep serving", async () => {
    await deploy(agent, { id: "importer", handler: "def handle(req):\n    return 'v1'\n" });
    const broken = await postJson(`${agent.url}/deploy`, { id: "importer", handler: "import not_a_module\ndef handle(req):\n    return 'v2'\n" });
    expect(broken.status).toBe(400);
    expect(broken.body).toMatchObject({ reason: "HANDLER_INVALID", exception_type: "ModuleNotFoundError" });
    expect(broken.body.traceback).toMatch(/No module named 'not_a_module'/);
    // Nuclio marks the function failed, but keeps its invocation URLs and old pods
    // (kube/platform.go:284-290): calls still reach v1. The agent reports the failure.
    const failed = (await getJson(`${agent.url}/functions`)).body.functions.find((f: any) => f.id === "importer");
    expect(failed).toMatchObject({ state: "error", ready: false });
    expect(failed.message).toMatch(/No module named 'not_a_module'/);
    expect((await postJson(`${agent.url}/invoke`, { id: "importer" })).body.result).toBe("v1");
    expect((await postJson(`${agent.url}/invoke`, { id: "echo", payload: 1 })).body.result).toBe(1);
    await deploy(agent, { id: "importer", handler: "def handle(req):\n    return 'v3'\n" });
    expect((await postJson(`${agent.url}/invoke`, { id: "importer" })).body.result).toBe("v3");
    const syntax = await postJson(`${agent.url}/deploy`, { id: "syntax", handler: "def handle(req)\n    return 1\n" });
    expect(syntax.body).toMatchObject({ reason: "HANDLER_INVALID", exception_type: "SyntaxError" });
  }, 60_000);

  it("redeploys new content, and does nothing for unchanged content", async () => {
    await deploy(agent, { id: "versions", handler: "def handle(req):\n    return 'one'\n" });
    const builds = nuclio.builds();
    const same = await streamDeploy(agent, { id: "versions", handler: "def handle(req):\n    return 'one'\n" });
    expect(same.some((e) => e.type === "log" && /unchanged/.test(e.line))).toBe(true);
    expect(nuclio.builds()).toBe(builds);
    const second = await deploy(agent, { id: "versions", handler: "def handle(req):\n    return 'two'\n" });
    expect(nuclio.builds()).toBe(builds + 1);
    expect((await postJson(`${agent.url}/invoke`, { id: "versions" })).body.result).toBe("two");
    const listed = (await getJson(`${agent.url}/functions`)).body.functions.find((f: any) => f.id === "versions");
    expect(listed).toMatchObject({ state: "ready", ready: true, platform: "nuclio", revision: second.revision, python_version: "3.11" });
  }, 60_000);

  it("passes replicas, workers, resources with GPUs and env into the function spec", async () => {
    await deploy(agent, {
      id: "tuned",
      handler: "import os\ndef handle(req):\n    return os.environ['GREETING']\n",
      env: { GREETING: "hi" },
      options: { min_scale: 1, max_scale: 3, workers: 4, resources: { cpu_limit: "2", memory_request: "256Mi", gpu: 1 } },
    });
    const spec = nuclio.storedSpec("tuned")!;
    expect(spec).toMatchObject({
      runtime: "python:3.11",
      handler: "main:handler",
      minReplicas: 1,
      maxReplicas: 3,
      env: [{ name: "GREETING", value: "hi" }],
      resources: { limits: { cpu: "2", "nvidia.com/gpu": "1" }, requests: { memory: "256Mi" } },
      triggers: { http: { kind: "http", numWorkers: 4, attributes: { serviceType: "ClusterIP", maxRequestBodySize: 8 * 1024 * 1024 } } },
    });
    expect((await postJson(`${agent.url}/invoke`, { id: "tuned" })).body.result).toBe("hi");
  }, 60_000);

  it("renders the function without deploying it (dry run)", async () => {
    const before = nuclio.builds();
    const res = await postJson(`${agent.url}/deploy`, { id: "dry", handler: ECHO, dry_run: true, options: { workers: 2 } });
    expect(res.status).toBe(200);
    expect(res.body.kind).toBe("nuclio.io/v1beta1 NuclioFunction");
    const object = res.body.object;
    expect(object.metadata).toMatchObject({ name: "dry", namespace: "nuclio", labels: { "nuclio.io/project-name": "default", "radical-faas.dev/function": "dry" } });
    const entry = Buffer.from(object.spec.build.functionSourceCode, "base64").toString("utf8");
    expect(entry).toContain(`FUNCTION_SOURCE = "${Buffer.from(ECHO).toString("base64")}"`);
    expect(entry).toMatch(/^def handler\(context, event\):$/m);
    expect(nuclio.builds()).toBe(before);
    expect((await postJson(`${agent.url}/invoke`, { id: "dry" })).status).toBe(404);
  });

  it("waits for a deploy already under way (412), or refuses once NUCLIO_TIMEOUT passes", async () => {
    await deploy(agent, { id: "busy", handler: "def handle(req):\n    return 1\n" });
    const release = nuclio.holdBuilds();
    try {
      // Someone else's update, held in the middle of its build.
      const spec = nuclio.storedSpec("busy")!;
      const put = await fetch(`${nuclio.url}/api/functions/busy`, {
        method: "PUT",
        headers: { "x-nuclio-function-namespace": "nuclio" },
        body: JSON.stringify({ metadata: { name: "busy", labels: { "radical-faas.dev/managed-by": "radical-faas", "radical-faas.dev/function": "busy" } }, spec }),
      });
      expect(put.status).toBe(202);
      const direct = await fetch(`${nuclio.url}/api/functions/busy`, { method: "PUT", headers: { "x-nuclio-function-namespace": "nuclio" }, body: JSON.stringify({ metadata: { name: "busy" }, spec }) });
      expect(direct.status).toBe(412);
      const impatient = await startTestAgent({ ...env(), NUCLIO_TIMEOUT: "1" });
      try {
        const refused = await postJson(`${impatient.url}/deploy`, { id: "busy", handler: "def handle(req):\n    return 2\n" });
        expect(refused.status).toBe(500);
        expect(refused.body.reason).toBe("DEPLOY_IN_PROGRESS");
      } finally {
        await impatient.dispose();
      }
      const waiting = postJson(`${agent.url}/deploy`, { id: "busy", handler: "def handle(req):\n    return 3\n" });
      await new Promise((r) => setTimeout(r, 500));
      release();
      expect((await waiting).status).toBe(200);
      expect((await postJson(`${agent.url}/invoke`, { id: "busy" })).body.result).toBe(3);
    } finally {
      release();
    }
  }, 60_000);

  it("streams the function's logs (tail and follow)", async () => {
    await deploy(agent, { id: "talker", handler: "def handle(req):\n    print('said', req['n'], flush=True)\n    return req['n']\n" });
    for (const n of [1, 2, 3]) await postJson(`${agent.url}/invoke`, { id: "talker", payload: { n } });
    const client = createClient(FaasAgent, createGrpcTransport({ baseUrl: agent.url }));
    const tail: string[] = [];
    for await (const line of client.logs({ id: "talker", tail: 2 })) tail.push(line.line);
    expect(tail).toEqual(["said 2", "said 3"]);
    const controller = new AbortController();
    const followed: string[] = [];
    const following = (async () => {
      for await (const line of client.logs({ id: "talker", follow: true, tail: 1 }, { signal: controller.signal })) {
        followed.push(line.line);
        if (followed.length === 2) controller.abort();
      }
    })().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    await postJson(`${agent.url}/invoke`, { id: "talker", payload: { n: 4 } });
    await following;
    expect(followed).toEqual(["said 3", "said 4"]);
  }, 60_000);

  it("lists only its own functions, also after an agent restart, and deletes idempotently", async () => {
    // A function someone deployed without the agent is not listed.
    const foreign = await fetch(`${nuclio.url}/api/functions`, {
      method: "POST",
      headers: { "x-nuclio-function-namespace": "nuclio" },
      body: JSON.stringify({ metadata: { name: "foreign" }, spec: { runtime: "python:3.11", handler: "main:handler", build: { functionSourceCode: Buffer.from("def handler(context, event):\n    return 'x'\n").toString("base64") } } }),
    });
    expect(foreign.status).toBe(202);
    expect(await foreign.text()).toBe("");
    await deploy(agent, { id: "keeper", handler: ECHO });
    const again = await startTestAgent(env());
    try {
      const ids = (await getJson(`${again.url}/functions`)).body.functions.map((f: any) => f.id);
      expect(ids).toContain("keeper");
      expect(ids).not.toContain("foreign");
      expect((await postJson(`${again.url}/invoke`, { id: "keeper", payload: [7] })).body.result).toEqual([7]);
      const refused = await postJson(`${again.url}/deploy`, { id: "foreign", handler: ECHO });
      expect(refused.status).toBe(409);
      expect((await postJson(`${again.url}/delete`, { id: "keeper" })).body).toEqual({ status: "deleted", platform: "nuclio", function_id: "keeper" });
      expect((await postJson(`${again.url}/delete`, { id: "keeper" })).status).toBe(404);
      expect((await postJson(`${again.url}/invoke`, { id: "keeper" })).status).toBe(404);
    } finally {
      await again.dispose();
    }
  }, 60_000);

  it("invokes straight at the function's external URL when NUCLIO_INVOKE_VIA=external, following a redeploy", async () => {
    const direct = await startTestAgent({ ...env(), NUCLIO_INVOKE_VIA: "external" });
    try {
      await deploy(direct, { id: "direct", handler: "def handle(req):\n    return ['direct', req]\n" });
      expect((await postJson(`${direct.url}/invoke`, { id: "direct", payload: 1 })).body.result).toEqual(["direct", 1]);
      // The redeploy moves the function to another address; the cached one fails once, then is looked up again.
      await deploy(direct, { id: "direct", handler: "def handle(req):\n    return ['moved', req]\n" });
      expect((await postJson(`${direct.url}/invoke`, { id: "direct", payload: 2 })).body.result).toEqual(["moved", 2]);
      const raised = await deploy(direct, { id: "direct-raise", handler: "def handle(req):\n    raise KeyError('k')\n" });
      expect(raised.status).toBe("deployed");
      expect((await postJson(`${direct.url}/invoke`, { id: "direct-raise" })).body).toMatchObject({ reason: "FUNCTION_ERROR", exception_type: "KeyError" });
      expect((await postJson(`${direct.url}/invoke`, { id: "no-such" })).status).toBe(404);
    } finally {
      await direct.dispose();
    }
  }, 60_000);

  it("shows the deploy log of a function that has no replica (its first deploy failed)", async () => {
    const failed = await postJson(`${agent.url}/deploy`, { id: "never-up", handler: "import missing_mod\ndef handle(req):\n    return 1\n" });
    expect(failed.body.reason).toBe("HANDLER_INVALID");
    const client = createClient(FaasAgent, createGrpcTransport({ baseUrl: agent.url }));
    const lines: Array<{ line: string; stream: string }> = [];
    for await (const line of client.logs({ id: "never-up" })) lines.push({ line: line.line, stream: line.stream });
    const text = lines.map((l) => l.line).join("\n");
    expect(text).toMatch(/^Deploying function functionName=never-up$/m);
    expect(text).toMatch(/No module named 'missing_mod'/);
    const tail: string[] = [];
    for await (const line of client.logs({ id: "never-up", tail: 2 })) tail.push(line.line);
    expect(tail).toEqual(lines.slice(-2).map((l) => l.line));
  }, 60_000);

  it("deletes a function Nuclio is still provisioning once that ends (412), or refuses after NUCLIO_TIMEOUT", async () => {
    await deploy(agent, { id: "held-del", handler: "def handle(req):\n    return 1\n" });
    const release = nuclio.holdBuilds();
    try {
      const spec = nuclio.storedSpec("held-del")!;
      const labels = { "radical-faas.dev/managed-by": "radical-faas", "radical-faas.dev/function": "held-del" };
      const put = await fetch(`${nuclio.url}/api/functions/held-del`, { method: "PUT", headers: { "x-nuclio-function-namespace": "nuclio" }, body: JSON.stringify({ metadata: { name: "held-del", labels }, spec }) });
      expect(put.status).toBe(202);
      const impatient = await startTestAgent({ ...env(), NUCLIO_TIMEOUT: "1" });
      try {
        const refused = await postJson(`${impatient.url}/delete`, { id: "held-del" });
        expect(refused.status).toBe(500);
        expect(refused.body).toMatchObject({ reason: "DEPLOY_IN_PROGRESS" });
        expect(refused.body.error).toMatch(/Nuclio is still provisioning function "held-del"/);
      } finally {
        await impatient.dispose();
      }
      const deleting = postJson(`${agent.url}/delete`, { id: "held-del" });
      await new Promise((r) => setTimeout(r, 700));
      expect((await fetch(`${nuclio.url}/api/functions/held-del`, { headers: { "x-nuclio-function-namespace": "nuclio" } })).status).toBe(200);
      release();
      expect((await deleting).body).toEqual({ status: "deleted", platform: "nuclio", function_id: "held-del" });
      expect((await fetch(`${nuclio.url}/api/functions/held-del`, { headers: { "x-nuclio-function-namespace": "nuclio" } })).status).toBe(404);
    } finally {
      release();
    }
  }, 60_000);

  it("answers over gRPC the same way", async () => {
    const client = createClient(FaasAgent, createGrpcTransport({ baseUrl: agent.url }));
    const phases: number[] = [];
    let last;
    for await (const event of client.deploy({ id: "grpc-fn", handler: "def handle(req):\n    return {'got': req}\n" })) {
      if (event.event.case === "phase") phases.push(event.event.value);
      last = event.event;
    }
    expect(last?.case).toBe("function");
    const out = await client.invoke({ id: "grpc-fn", payload: { kind: { case: "stringValue", value: "hey" } } });
    expect(toJson(ValueSchema, out.result!)).toEqual({ got: "hey" });
    const err = await client.get({ id: "missing-fn" }).catch((e: unknown) => ConnectError.from(e));
    expect((err as ConnectError).code).toBe(Code.NotFound);
    expect((err as ConnectError).findDetails(ErrorInfoSchema)[0]?.reason).toBe("FUNCTION_NOT_FOUND");
  }, 60_000);
});

describe("nuclio platform with the dashboard down", () => {
  it("reports unavailable with the dashboard's URL, and health degraded", async () => {
    const nuclio = await startNuclioStandIn();
    const url = nuclio.url;
    await nuclio.close();
    const agent = await startTestAgent({ RADICAL_FAAS_PLATFORM: "nuclio", NUCLIO_DASHBOARD_URL: url });
    try {
      const health = await getJson(`${agent.url}/health`);
      expect(health.body.status).toBe("degraded");
      expect(health.body.checks[0].message).toContain(`the Nuclio dashboard at ${url} is unreachable`);
      const res = await postJson(`${agent.url}/deploy`, { id: "down", handler: ECHO });
      expect(res.status).toBe(500);
      expect(res.body).toMatchObject({ reason: "PLATFORM_UNAVAILABLE" });
      expect(res.body.error).toContain(`the Nuclio dashboard at ${url} is unreachable`);
      expect((await postJson(`${agent.url}/invoke`, { id: "down" })).body.reason).toBe("PLATFORM_UNAVAILABLE");
    } finally {
      await agent.dispose();
    }
  });
});
