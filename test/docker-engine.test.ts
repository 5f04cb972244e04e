import { mkdtemp, rm } from "node:fs/promises";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deploy, getJson, postJson, startTestAgent, type TestAgent } from "./support/agent.ts";
import { assertDocker, removeNamespace, skipDocker, testNamespace } from "./support/docker.ts";

/**
 * A unix socket forwarding to the real engine, which the test can cut and restore: the agent sees
 * an engine that stops answering while the engine (and the containers) keep running.
 */
class EngineLink {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  constructor(readonly path: string) {}

  async up(): Promise<void> {
    const target = process.env.DOCKER_HOST?.startsWith("unix://") ? { path: process.env.DOCKER_HOST.slice(7) } : { path: "/var/run/docker.sock" };
    this.server = createServer((client) => {
      const engine = createConnection(target);
      for (const s of [client, engine]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
        s.on("error", () => undefined);
      }
      client.pipe(engine).pipe(client);
    });
    await new Promise<void>((resolve) => this.server!.listen(this.path, resolve));
  }

  async down(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}

describe.skipIf(skipDocker)("docker platform: engine unreachable", () => {
  const namespace = testNamespace("engine");
  let dir: string;
  let link: EngineLink;
  let agent: TestAgent;
  beforeAll(async () => {
    assertDocker();
    dir = await mkdtemp(join(tmpdir(), "faas-engine-"));
    link = new EngineLink(join(dir, "engine.sock"));
    await link.up();
    agent = await startTestAgent({ RADICAL_FAAS_PLATFORM: "docker", DOCKER_HOST: `unix://${link.path}`, FAAS_DOCKER_NAMESPACE: namespace, FAAS_IDLE_TIMEOUT: "0" });
  });
  afterAll(async () => {
    await agent?.dispose();
    await link?.down();
    await removeNamespace(namespace);
    await rm(dir, { recursive: true, force: true });
  });

  it("reports degraded, fails deploys with unavailable, and keeps running functions serving", async () => {
    await deploy(agent, { id: "survivor", handler: "def handle(req):\n    return 'still here'" });
    expect((await postJson(`${agent.url}/invoke`, { id: "survivor" })).body.result).toBe("still here");

    await link.down();
    const health = await getJson(`${agent.url}/health`);
    expect(health.body.status).toBe("degraded");
    expect(health.body.checks[0]).toMatchObject({ name: "docker", ok: false });
    expect(health.body.checks[0].message).toMatch(/unreachable/);

    const res = await postJson(`${agent.url}/deploy`, { id: "newcomer", handler: "def handle(req):\n    return 1" });
    expect(res.body.reason).toBe("PLATFORM_UNAVAILABLE");
    expect(res.body.error).toMatch(/Docker engine is unreachable/);

    for (let i = 0; i < 20; i++) expect((await postJson(`${agent.url}/invoke`, { id: "survivor" })).body.result).toBe("still here");

    await link.up();
    expect((await getJson(`${agent.url}/health`)).body.status).toBe("healthy");
    await deploy(agent, { id: "newcomer", handler: "def handle(req):\n    return 1" });
  });
});
