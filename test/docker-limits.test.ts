import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LABELS } from "../src/adapters/kit/labels.ts";
import { parseMemory } from "../src/adapters/docker/limits.ts";
import { loadConfig } from "../src/config.ts";
import { deploy, postJson, startTestAgent, type TestAgent } from "./support/agent.ts";
import { assertDocker, docker, removeNamespace, skipDocker, testNamespace } from "./support/docker.ts";

/**
 * Docker containers run with a memory and pids limit (FAAS_DOCKER_MEMORY, FAAS_DOCKER_PIDS) and
 * rotated engine logs; a container that floods its output cannot freeze the agent, nor make a
 * Logs follower buffer an endless line. Against the real engine.
 */
describe("FAAS_DOCKER_MEMORY and FAAS_DOCKER_PIDS", () => {
  it("parse as docker run --memory does, and refuse what the engine would", () => {
    expect(parseMemory("512m")).toBe(512 * 1024 * 1024);
    expect(parseMemory("1G")).toBe(1024 ** 3);
    expect(parseMemory("0")).toBe(0);
    expect(parseMemory("1k")).toBeUndefined(); // under the engine's 6 MiB minimum
    expect(parseMemory("lots")).toBeUndefined();
    expect(loadConfig({}).docker.limits).toEqual({ memoryBytes: 512 * 1024 * 1024, pids: 512 });
    expect(loadConfig({ FAAS_DOCKER_MEMORY: "64m", FAAS_DOCKER_PIDS: "0" }).docker.limits).toEqual({ memoryBytes: 64 * 1024 * 1024, pids: 0 });
    expect(() => loadConfig({ FAAS_DOCKER_MEMORY: "huge" })).toThrow(/FAAS_DOCKER_MEMORY=huge is invalid/);
    expect(() => loadConfig({ FAAS_DOCKER_PIDS: "-1" })).toThrow(/FAAS_DOCKER_PIDS=-1 is invalid/);
  });
});

describe.skipIf(skipDocker)("hostile functions on the docker platform", { timeout: 180_000 }, () => {
  const namespace = testNamespace("limits");
  let agent: TestAgent;
  beforeAll(async () => {
    assertDocker();
    agent = await startTestAgent({ RADICAL_FAAS_PLATFORM: "docker", FAAS_DOCKER_NAMESPACE: namespace, FAAS_IDLE_TIMEOUT: "0", FAAS_DOCKER_MEMORY: "96m", FAAS_DOCKER_PIDS: "64", FAAS_INVOKE_TIMEOUT: "60" });
  }, 120_000);
  afterAll(async () => {
    await agent?.dispose();
    await removeNamespace(namespace);
  });

  const call = (id: string, payload: unknown = {}) => postJson(`${agent.url}/invoke`, { id, payload });
  async function container(id: string) {
    const [info] = await docker.listContainers({ filters: { label: [`${LABELS.namespace}=${namespace}`, `${LABELS.function}=${id}`] } });
    return docker.getContainer(info.Id).inspect();
  }

  it("every container gets the memory and pids limits and rotated json-file logs", async () => {
    await deploy(agent, { id: "limited", handler: "def handle(req):\n    return 'ok'" });
    const inspect = await container("limited");
    expect(inspect.HostConfig.Memory).toBe(96 * 1024 * 1024);
    expect(inspect.HostConfig.MemorySwap).toBe(96 * 1024 * 1024);
    expect(inspect.HostConfig.PidsLimit).toBe(64);
    expect(inspect.HostConfig.LogConfig).toEqual({ Type: "json-file", Config: { "max-size": "8m", "max-file": "2" } });
  });

  it("a fork bomb meets the pids limit inside its container; the agent and the function survive", async () => {
    await deploy(agent, {
      id: "forker",
      handler: "import os, time\ndef handle(req):\n    kids = 0\n    try:\n        for _ in range(1000):\n            if os.fork() == 0:\n                time.sleep(30)\n                os._exit(0)\n            kids += 1\n    except OSError as e:\n        return {'kids': kids, 'error': e.__class__.__name__}\n    return {'kids': kids}",
    });
    const res = await call("forker");
    expect(res.status).toBe(200);
    expect(res.body.result.error).toMatch(/BlockingIOError|OSError/);
    expect(res.body.result.kids).toBeLessThan(64);
    expect((await fetch(`${agent.url}/health`)).status).toBe(200);
  });

  it("a handler that allocates past the memory limit is killed inside its container, not the host", async () => {
    await deploy(agent, { id: "hog", handler: "def handle(req):\n    if req.get('hog'):\n        b = bytearray(400 * 1024 * 1024)\n        return len(b)\n    return 'fine'" });
    const res = await call("hog", { hog: true });
    expect(res.status).toBe(500);
    expect((await fetch(`${agent.url}/health`)).status).toBe(200);
  });

  it("a container that floods its logs (endless lines) cannot freeze the agent or a follower", async () => {
    await deploy(agent, {
      id: "flooder",
      handler: "import sys\nprint('flooder ready', flush=True)\ndef handle(req):\n    for _ in range(req['n']):\n        sys.stdout.write('z' * (1024 * 1024))\n    sys.stdout.write('\\n')\n    sys.stdout.flush()\n    return 'flooded'",
    });
    const controller = new AbortController();
    const lines: string[] = [];
    // The flood starts only once the follower is attached (it has the tail line, "flooder ready"):
    // a follower that attached after the flood would get the flooded line as its tail, uncut.
    let attached!: () => void;
    const following = new Promise<void>((resolve) => (attached = resolve));
    const follower = (async () => {
      const res = await fetch(`${agent.url}/faas.v1.FaasAgent/Logs`, {
        method: "POST",
        headers: { "content-type": "application/connect+json" },
        body: envelope({ id: "flooder", tail: 1, follow: true }) as unknown as BodyInit,
        signal: controller.signal,
      });
      const reader = res.body!.getReader();
      let buffered = Buffer.alloc(0);
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffered = Buffer.concat([buffered, Buffer.from(value)]);
        while (buffered.length >= 5 && buffered.length >= 5 + buffered.readUInt32BE(1)) {
          const length = buffered.readUInt32BE(1);
          const message = JSON.parse(buffered.subarray(5, 5 + length).toString());
          buffered = buffered.subarray(5 + length);
          if (message.line !== undefined) {
            lines.push(message.line);
            attached();
          }
        }
      }
    })().catch(() => undefined);
    await following;
    // One 64 MB line while /health is asked every moment.
    const flood = call("flooder", { n: 64 });
    let worst = 0;
    let done = false;
    void flood.finally(() => (done = true));
    while (!done) {
      const started = performance.now();
      expect((await fetch(`${agent.url}/health`)).status).toBe(200);
      worst = Math.max(worst, performance.now() - started);
    }
    expect((await flood).body.result).toBe("flooded");
    expect(worst).toBeLessThan(5_000);
    await expect.poll(() => lines.some((l) => /\[line cut: \d+ more characters dropped\]$/.test(l)), { timeout: 180_000 }).toBe(true);
    for (const line of lines) expect(line.length).toBeLessThan(64 * 1024 + 100);
    controller.abort();
    await follower;
  }, 240_000);
});

function envelope(message: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(message));
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}
