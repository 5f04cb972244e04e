import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FaasAgent } from "../gen/faas/v1/agent_pb.ts";
import { LABELS } from "../src/adapters/kit/labels.ts";
import { deploy, getJson, postJson, startTestAgent, type TestAgent } from "./support/agent.ts";
import { assertDocker, docker, removeNamespace, skipDocker, testNamespace } from "./support/docker.ts";
import { startLocalIndex, type LocalIndex } from "./support/pypi.ts";

// The prototype README's examples (verbatim bodies, as in rest.test.ts), here on the docker platform.
const HELLO = { id: "hello-world", handler: 'def handle(req):\n    return "Hello, World!"' };
const DATA_PROCESSOR = {
  id: "data-processor",
  handler:
    'import json\ndef handle(req):\n    data = json.loads(req) if isinstance(req, str) else req\n    numbers = data.get("numbers", [])\n    return {"sum": sum(numbers), "average": sum(numbers)/len(numbers) if numbers else 0}',
  requirements: "",
};
const JSON_TRANSFORMER = {
  id: "json-transformer",
  handler:
    'import json\ndef handle(req):\n    data = req if isinstance(req, dict) else json.loads(req)\n    transformed = {}\n    for key, value in data.items():\n        if isinstance(value, str):\n            transformed[key.upper()] = value.lower()\n        elif isinstance(value, (int, float)):\n            transformed[key.upper()] = value * 2\n        else:\n            transformed[key.upper()] = value\n    return transformed',
};

const invoke = (agent: TestAgent, id: string, payload: unknown = {}) => postJson(`${agent.url}/invoke`, { id, payload });

/** The containers of one function in the engine, read directly (not through the agent). */
async function containersOf(namespace: string, id: string) {
  return docker.listContainers({ all: true, filters: { label: [`${LABELS.namespace}=${namespace}`, `${LABELS.function}=${id}`] } });
}

/** Deploys through the Connect API and returns every event's log lines and the final function. */
async function deployStream(agent: TestAgent, request: { id: string; handler: string; requirements?: string; params?: Record<string, string> }) {
  const client = createClient(FaasAgent, createConnectTransport({ baseUrl: agent.url, httpVersion: "1.1" }));
  const lines: string[] = [];
  let fn: unknown;
  for await (const event of client.deploy(request)) {
    if (event.event.case === "log") lines.push(`${event.event.value.source}|${event.event.value.line}`);
    if (event.event.case === "function") fn = event.event.value;
  }
  return { lines, fn };
}

describe.skipIf(skipDocker)("docker platform", () => {
  const namespace = testNamespace("platform");
  let agent: TestAgent;
  let index: LocalIndex;
  beforeAll(async () => {
    assertDocker();
    index = await startLocalIndex([["faasdemo", "1.0.0"]]);
    agent = await startTestAgent({ RADICAL_FAAS_PLATFORM: "docker", FAAS_DOCKER_NAMESPACE: namespace, FAAS_IDLE_TIMEOUT: "0" });
  }, 120_000);
  afterAll(async () => {
    await agent?.dispose();
    await index?.close();
    await removeNamespace(namespace);
  });

  it("health names the engine", async () => {
    const res = await getJson(`${agent.url}/health`);
    expect(res.body).toMatchObject({ status: "healthy", platform: "docker" });
    expect(res.body.checks[0]).toMatchObject({ name: "docker", ok: true });
  });

  it("runs the README examples in labelled containers published on 127.0.0.1 only", async () => {
    const deployed = await deploy(agent, HELLO);
    expect(deployed).toMatchObject({ id: "hello-world", status: "deployed", platform: "docker" });
    expect(deployed.image).toMatch(/^library\/hello-world:[0-9a-f]{20}$/);
    expect((await invoke(agent, "hello-world")).body).toMatchObject({ result: "Hello, World!", status: "success", platform: "docker" });

    await deploy(agent, DATA_PROCESSOR);
    expect((await invoke(agent, "data-processor", { numbers: [1, 2, 3, 4, 5] })).body.result).toEqual({ sum: 15, average: 3 });
    await deploy(agent, JSON_TRANSFORMER);
    expect((await invoke(agent, "json-transformer", { name: "John", age: 30, city: "NEW YORK" })).body.result).toEqual({ NAME: "john", AGE: 60, CITY: "new york" });

    const [container] = await containersOf(namespace, "hello-world");
    expect(container!.Labels[LABELS.managedBy]).toBe("radical-faas");
    expect(container!.Labels[LABELS.contentHash]).toMatch(/^[0-9a-f]{20}$/);
    expect(container!.Ports.filter((p) => p.PublicPort).every((p) => p.IP === "127.0.0.1")).toBe(true);
    const inspect = await docker.getContainer(container!.Id).inspect();
    expect(inspect.Config.User).toBe("10001:10001");

    const list = await getJson(`${agent.url}/functions`);
    expect(list.body.functions.map((f: { id: string }) => f.id)).toEqual(["data-processor", "hello-world", "json-transformer"]);
  });

  it("reports function errors with the traceback", async () => {
    await deploy(agent, { id: "raiser", handler: "def handle(req):\n    raise ValueError('bad ' + str(req['x']))" });
    const res = await invoke(agent, "raiser", { x: 7 });
    expect(res.status).toBe(500);
    expect(res.body.reason).toBe("FUNCTION_ERROR");
    expect(res.body.error).toMatch(/ValueError: bad 7/);
  });

  it("streams every build line live and installs requirements from a local index", async () => {
    const { lines } = await deployStream(agent, {
      id: "greeter",
      handler: "import faasdemo\ndef handle(req):\n    return faasdemo.greet(req['who'])",
      requirements: "faasdemo==1.0.0",
      params: { PIP_INDEX_URL: index.url },
    });
    expect(lines.some((l) => /^build step \d+\/\d+\|Step \d+\/\d+ : FROM/.test(l))).toBe(true);
    expect(lines.some((l) => /Successfully installed faasdemo-1\.0\.0/.test(l))).toBe(true);
    expect((await invoke(agent, "greeter", { who: "docker" })).body.result).toBe("hello docker from faasdemo");
  });

  it("fails a pip failure with DEPENDENCY_INSTALL_FAILED and keeps the old revision serving", async () => {
    await deploy(agent, { id: "pip-victim", handler: "def handle(req):\n    return 'old'" });
    const res = await postJson(`${agent.url}/deploy`, {
      id: "pip-victim",
      handler: "def handle(req):\n    return 'new'",
      requirements: "does-not-exist==9.9",
      params: { PIP_INDEX_URL: index.url },
    });
    expect(res.status).toBe(500);
    expect(res.body.reason).toBe("DEPENDENCY_INSTALL_FAILED");
    // The local platform's sentence; pip's lines once, in `output`; the engine's error in `docker_error`.
    expect(res.body.error).toBe("pip could not install does-not-exist==9.9: no matching distribution");
    expect(res.body.docker_error).toMatch(/returned a non-zero code: 1/);
    expect(res.body.output).toMatch(/No matching distribution found for does-not-exist==9\.9/);
    expect(JSON.stringify(res.body).split("No matching distribution found for does-not-exist==9.9").length - 1).toBe(1);
    expect((await invoke(agent, "pip-victim")).body.result).toBe("old");
    expect(await containersOf(namespace, "pip-victim")).toHaveLength(1);
  });

  it("fails a syntax error with HANDLER_INVALID and the traceback, leaving no container or image", async () => {
    const res = await postJson(`${agent.url}/deploy`, { id: "broken", handler: "def handle(req:\n    return 1" });
    expect(res.status).toBe(400);
    expect(res.body.reason).toBe("HANDLER_INVALID");
    expect(res.body.error).toMatch(/^handler failed to import: SyntaxError: [^\n]+$/);
    expect(res.body.traceback).toMatch(/handler\.py", line 1/);
    expect(await containersOf(namespace, "broken")).toHaveLength(0);
    expect(await docker.listImages({ filters: { reference: ["library/broken", "broken"] } })).toHaveLength(0);
  });

  it("rejects bad template parameters before any build", async () => {
    const before = (await docker.listImages()).length;
    for (const params of [{ PYTHON_VERSION: "3.11; rm -rf /" }, { BASE_IMAGE: "python:3.11 slim" }, { BASE_IMAGE: "a b" }]) {
      const res = await postJson(`${agent.url}/deploy`, { id: "evil", handler: "def handle(req):\n    return 1", params });
      expect(res.status).toBe(400);
      expect(res.body.reason).toBe("INVALID_REQUEST");
    }
    expect((await docker.listImages()).length).toBe(before);
    expect(await containersOf(namespace, "evil")).toHaveLength(0);
  });

  it("redeploys unchanged code without a build or a new container (verified in the engine)", async () => {
    await deploy(agent, { id: "cached", handler: "def handle(req):\n    return 'c'" });
    const [before] = await containersOf(namespace, "cached");
    const { lines } = await deployStream(agent, { id: "cached", handler: "def handle(req):\n    return 'c'" });
    expect(lines.some((l) => /exists in the engine: skipping the build/.test(l))).toBe(true);
    expect(lines.some((l) => /nothing to do/.test(l))).toBe(true);
    expect(lines.some((l) => l.startsWith("build "))).toBe(false);
    const after = await containersOf(namespace, "cached");
    expect(after.map((c) => c.Id)).toEqual([before!.Id]);
  });

  it("redeploys blue/green under load with zero failed invokes", async () => {
    await deploy(agent, { id: "bluegreen", handler: "import time\ndef handle(req):\n    time.sleep(0.01)\n    return 'v1'" });
    let stop = false;
    const seen: string[] = [];
    const failures: unknown[] = [];
    const load = Promise.all(
      Array.from({ length: 8 }, async () => {
        while (!stop) {
          const res = await invoke(agent, "bluegreen");
          if (res.status === 200) seen.push(res.body.result);
          else failures.push(res.body);
        }
      }),
    );
    await new Promise((r) => setTimeout(r, 300));
    await deploy(agent, { id: "bluegreen", handler: "import time\ndef handle(req):\n    time.sleep(0.01)\n    return 'v2'" });
    await new Promise((r) => setTimeout(r, 500));
    stop = true;
    await load;
    expect(failures).toEqual([]);
    expect(seen).toContain("v1");
    expect(seen.at(-1)).toBe("v2");
    // The old container goes once drained.
    for (let i = 0; i < 50 && (await containersOf(namespace, "bluegreen")).length > 1; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await containersOf(namespace, "bluegreen")).toHaveLength(1);
  });

  it("restarts a container that died on the next invoke", async () => {
    await deploy(agent, { id: "phoenix", handler: "def handle(req):\n    return 'alive'" });
    const [container] = await containersOf(namespace, "phoenix");
    await docker.getContainer(container!.Id).kill();
    const res = await invoke(agent, "phoenix");
    expect(res.status).toBe(200);
    expect(res.body.result).toBe("alive");
  });

  it("streams logs (tail and follow) from the container", async () => {
    await deploy(agent, { id: "printer", handler: "import sys\ndef handle(req):\n    print('out:', req['m'])\n    print('err:', req['m'], file=sys.stderr)\n    return 'done'" });
    await invoke(agent, "printer", { m: "first" });
    const client = createClient(FaasAgent, createConnectTransport({ baseUrl: agent.url, httpVersion: "1.1" }));
    const controller = new AbortController();
    const followed: string[] = [];
    const following = (async () => {
      try {
        for await (const line of client.logs({ id: "printer", follow: true, tail: 0 }, { signal: controller.signal })) {
          followed.push(`${line.stream}|${line.line}`);
          // stdout and stderr are separate pipes: their relative order is not defined.
          if (followed.includes("stderr|err: second") && followed.includes("stdout|out: second")) controller.abort();
        }
      } catch {
        // aborted
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    await invoke(agent, "printer", { m: "second" });
    await following;
    expect(followed).toContain("stdout|out: first");
    expect(followed).toContain("stdout|out: second");
    expect(followed).toContain("stderr|err: second");
  });

  it("deletes the container and its image", async () => {
    const deployed = await deploy(agent, { id: "doomed", handler: "def handle(req):\n    return 'x'" });
    const res = await postJson(`${agent.url}/delete`, { id: "doomed" });
    expect(res.status).toBe(200);
    expect(await containersOf(namespace, "doomed")).toHaveLength(0);
    await expect(docker.getImage(deployed.image).inspect()).rejects.toMatchObject({ statusCode: 404 });
    expect((await invoke(agent, "doomed")).status).toBe(404);
  });

  it("loses nothing across an agent restart", async () => {
    const again = await startTestAgent({ RADICAL_FAAS_PLATFORM: "docker", FAAS_DOCKER_NAMESPACE: namespace, FAAS_IDLE_TIMEOUT: "0" });
    try {
      const list = await getJson(`${again.url}/functions`);
      expect(list.body.functions.map((f: { id: string }) => f.id)).toContain("hello-world");
      expect((await invoke(again, "hello-world")).body.result).toBe("Hello, World!");
    } finally {
      await again.dispose();
    }
  });
});

describe.skipIf(skipDocker)("docker platform: scale to zero", () => {
  const namespace = testNamespace("idle");
  let agent: TestAgent;
  beforeAll(async () => {
    assertDocker();
    agent = await startTestAgent({ RADICAL_FAAS_PLATFORM: "docker", FAAS_DOCKER_NAMESPACE: namespace, FAAS_IDLE_TIMEOUT: "1" });
  });
  afterAll(async () => {
    await agent?.dispose();
    await removeNamespace(namespace);
  });

  it("stops an idle container and cold-starts it on the next invoke", async () => {
    await deploy(agent, { id: "sleeper", handler: "def handle(req):\n    return 'awake'" });
    expect((await invoke(agent, "sleeper")).body.result).toBe("awake");
    let state = "";
    for (let i = 0; i < 80 && state !== "exited"; i++) {
      await new Promise((r) => setTimeout(r, 100));
      state = (await containersOf(namespace, "sleeper"))[0]!.State;
    }
    expect(state).toBe("exited");
    const res = await invoke(agent, "sleeper");
    expect(res.body.result).toBe("awake");
    expect(res.body.cold_start).toBe(true);
    expect((await containersOf(namespace, "sleeper"))[0]!.State).toBe("running");
  });
});
