import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LABELS } from "../src/adapters/kit/labels.ts";
import { deploy, postJson, startTestAgent, type TestAgent } from "./support/agent.ts";
import { assertDocker, docker, removeNamespace, skipDocker, testNamespace } from "./support/docker.ts";
import { freePort, startRegistry, type TestRegistry } from "./support/registry.ts";
import { requirePart } from "./support/requires.ts";

const invoke = (agent: TestAgent, id: string, payload: unknown = {}) => postJson(`${agent.url}/invoke`, { id, payload });

describe.skipIf(skipDocker || (await requirePart("registry")))("docker platform: registry workflow", () => {
  const namespace = testNamespace("registry");
  let registry: TestRegistry;
  let agent: TestAgent;
  beforeAll(async () => {
    assertDocker();
    registry = await startRegistry();
    agent = await startTestAgent({
      RADICAL_FAAS_PLATFORM: "docker",
      FAAS_WORKFLOW: "registry",
      RADICAL_FAAS_REGISTRY: registry.address,
      FAAS_DOCKER_NAMESPACE: namespace,
      FAAS_IDLE_TIMEOUT: "0",
    });
  }, 60_000);
  afterAll(async () => {
    await agent?.dispose();
    await removeNamespace(namespace);
    await registry?.close();
  });

  it("pushes to the registry, deploys by digest, and pulls it back when the engine lost it", async () => {
    const id = `pushed-${namespace.slice(-6)}`;
    const fn = { id, handler: "def handle(req):\n    return 'from the registry'" };
    const deployed = await deploy(agent, fn);
    expect(deployed.image).toMatch(new RegExp(`^${registry.address.replace(/\./g, "\\.")}/${id}@sha256:[0-9a-f]{64}$`));
    expect((await invoke(agent, id)).body.result).toBe("from the registry");

    // The registry itself holds the tag, and its manifest digest is the one deployed.
    const tags = (await (await fetch(`http://${registry.address}/v2/${id}/tags/list`)).json()) as { tags: string[] };
    expect(tags.tags).toHaveLength(1);
    const manifest = await fetch(`http://${registry.address}/v2/${id}/manifests/${tags.tags[0]}`, {
      method: "HEAD",
      headers: { accept: "application/vnd.docker.distribution.manifest.v2+json" },
    });
    expect(deployed.image.endsWith(manifest.headers.get("docker-content-digest")!)).toBe(true);

    // Delete removes container and image from the engine; the registry keeps the image.
    expect((await postJson(`${agent.url}/delete`, { id })).status).toBe(200);
    await expect(docker.getImage(deployed.image).inspect()).rejects.toMatchObject({ statusCode: 404 });

    // Same code again: verified in the registry, so no build and no push, only a pull.
    const res = await fetch(`${agent.url}/deploy`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(fn) });
    expect(res.status).toBe(200);
    const again = (await res.json()) as { image: string };
    expect(again.image).toBe(deployed.image);
    expect((await invoke(agent, id)).body.result).toBe("from the registry");
  });

  it("fails with unavailable when the registry is down, deploying nothing", async () => {
    const down = await startTestAgent({
      RADICAL_FAAS_PLATFORM: "docker",
      FAAS_WORKFLOW: "registry",
      RADICAL_FAAS_REGISTRY: `127.0.0.1:${await freePort()}`,
      FAAS_DOCKER_NAMESPACE: namespace,
    });
    try {
      const res = await postJson(`${down.url}/deploy`, { id: "nowhere", handler: "def handle(req):\n    return 'never'" });
      expect(res.body.reason).toBe("REGISTRY_UNAVAILABLE");
      expect(res.body.error).toMatch(/connection refused/);
      const containers = await docker.listContainers({ all: true, filters: { label: [`${LABELS.namespace}=${namespace}`, `${LABELS.function}=nowhere`] } });
      expect(containers).toHaveLength(0);
    } finally {
      await down.dispose();
    }
  });
});
