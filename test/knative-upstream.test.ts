import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deploy, getJson, postJson, startTestAgent, type TestAgent } from "./support/agent.ts";
import { assertDocker, docker, skipDocker } from "./support/docker.ts";
import { startKnativeStandIn, type KnativeStandIn } from "./support/knative/index.ts";

// What a real cluster does and a naive stand-in would not: each case follows the upstream
// behaviour cited in test/support/knative/ (re-sent templates, the state after an update, crash
// messages, progress deadlines, long tag hosts, watches that end, 403 on watch, chunked hops).
const IDS = ["kn-up-dry", "kn-up-roll", "kn-up-fix", "kn-up-pull", "kn-up-tag", "kn-up-watch", "kn-up-rbac", "kn-up-chunk"];
const REGISTRY = process.env.FAAS_TEST_REGISTRY ?? "127.0.0.1:5050";
const version = (v: string) => `def handle(req):\n    return "${v}"\n`;
const invoke = (agent: TestAgent, id: string, payload: unknown = {}) => postJson(`${agent.url}/invoke`, { id, payload });

describe.skipIf(skipDocker)("knative platform against upstream behaviour", () => {
  let kn: KnativeStandIn;
  let agent: TestAgent;
  beforeAll(async () => {
    assertDocker();
    kn = await startKnativeStandIn(docker);
    agent = await startTestAgent(kn.env);
  }, 120_000);
  afterAll(async () => {
    await agent?.dispose();
    await kn?.close();
    const refs = [...IDS.map((id) => `dev.local/${id}`), `${REGISTRY}/kn-up-dry`];
    for (const image of await docker.listImages({ filters: { reference: refs } })) await docker.getImage(image.Id).remove({ force: true }).catch(() => undefined);
  });

  it("K3: the dry run is the object the deploy sends, or says precisely how the deploy's differs", async () => {
    const dry = await postJson(`${agent.url}/deploy`, { id: "kn-up-dry", handler: version("d"), dry_run: true, options: { min_scale: 1 } });
    expect(dry.status, JSON.stringify(dry.body)).toBe(200);
    expect(dry.body.differences).toEqual([]);
    expect((await postJson(`${agent.url}/deploy`, { id: "kn-up-dry", handler: version("d"), options: { min_scale: 1 } })).status).toBe(200);
    const created = kn.api.received.filter((o) => o.metadata.name === "kn-up-dry");
    expect(created).toEqual([dry.body.object]);
    const again = await postJson(`${agent.url}/deploy`, { id: "kn-up-dry", handler: version("d"), dry_run: true, options: { min_scale: 1 } });
    expect(again.body.differences).toEqual([`Service kn-up-dry already runs revision ${dry.body.object.spec.template.metadata.name} with this traffic: the deploy would apply nothing`]);

    // Registry workflow: before the push the digest (and so the revision name) is not known; after it, it is.
    const pushing = await startTestAgent({ ...kn.env, FAAS_WORKFLOW: "registry", RADICAL_FAAS_REGISTRY: REGISTRY });
    try {
      const handler = version(`r${Date.now()}`); // new content: not in the registry yet
      const before = await postJson(`${pushing.url}/deploy`, { id: "kn-up-dry", handler, dry_run: true });
      expect(before.body.differences[0]).toMatch(new RegExp(`^${REGISTRY}/kn-up-dry:[0-9a-f]{20} is not in the registry yet: the deploy would build and push it and run it by the digest`));
      expect((await postJson(`${pushing.url}/deploy`, { id: "kn-up-dry", handler })).status).toBe(200);
      const applied = kn.api.store.get("services", "default", "kn-up-dry")!;
      expect(applied.spec.template.spec.containers[0].image).toMatch(new RegExp(`^${REGISTRY}/kn-up-dry@sha256:[0-9a-f]{64}$`));
      expect(applied.spec.template.metadata.name).not.toBe(before.body.object.spec.template.metadata.name);
      const after = await postJson(`${pushing.url}/deploy`, { id: "kn-up-dry", handler, dry_run: true });
      expect(after.body.object.spec.template.metadata.name).toBe(applied.spec.template.metadata.name);
      expect(after.body.object.spec.template.spec.containers[0].image).toBe(applied.spec.template.spec.containers[0].image);
    } finally {
      await pushing.dispose();
    }
  }, 180_000);

  it("K1: redeploying the current revision after a rollback changes only the traffic", async () => {
    const v1 = await deploy(agent, { id: "kn-up-roll", handler: version("v1") });
    const v2 = await deploy(agent, { id: "kn-up-roll", handler: version("v2") });
    const back = await postJson(`${agent.url}/traffic`, { id: "kn-up-roll", traffic: [{ revision: v1.revision, percent: 100 }] });
    expect(back.status, JSON.stringify(back.body)).toBe(200);
    const stored = kn.api.store.get("services", "default", "kn-up-roll")!;
    // The stored template carries the defaults a fresh render does not have (enableServiceLinks only on create).
    expect(stored.spec.template.spec).toMatchObject({ timeoutSeconds: 300, containerConcurrency: 0 });
    const res = await postJson(`${agent.url}/deploy`, { id: "kn-up-roll", handler: version("v2") });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const after = kn.api.store.get("services", "default", "kn-up-roll")!;
    expect(after.spec.template).toEqual(stored.spec.template);
    expect(after.spec.traffic).toEqual([{ latestRevision: true, percent: 100 }]);
    expect(kn.api.store.list("revisions", "default").filter((r) => r.metadata.name.startsWith("kn-up-roll-"))).toHaveLength(2);
    for (let i = 0; i < 5; i++) expect((await invoke(agent, "kn-up-roll")).body.result).toBe("v2");
    expect(v2.revision).toBe(after.spec.template.metadata.name);
  }, 120_000);

  it("S3: a handler that fails to import fails the deploy with its traceback in the crash message", async () => {
    const broken = await postJson(`${agent.url}/deploy`, { id: "kn-up-fix", handler: "import no_such_module\ndef handle(req):\n    return 1\n" });
    expect(broken.status, JSON.stringify(broken.body)).toBe(500);
    expect(broken.body).toMatchObject({ reason: "DEPLOY_FAILED", platform_reason: "RevisionMissing" });
    const svc = kn.api.store.get("services", "default", "kn-up-fix")!;
    expect(svc.spec.template.spec.containers[0].terminationMessagePolicy).toBe("FallbackToLogsOnError");
    const config = svc.status.conditions.find((c: { type: string }) => c.type === "ConfigurationsReady");
    expect(config.message).toMatch(/Container failed with: .*ModuleNotFoundError: No module named 'no_such_module'/s);
  }, 120_000);

  it("S2: a fix redeployed after the failed first deploy is deployed, through Ready=False NewObservedGenFailure", async () => {
    const transients = kn.controller.transients.length;
    const fixed = await postJson(`${agent.url}/deploy`, { id: "kn-up-fix", handler: version("fixed") });
    expect(fixed.status, JSON.stringify(fixed.body)).toBe(200);
    expect(fixed.body).toMatchObject({ status: "deployed" });
    // The stand-in did produce the transient failure on the way, and a watch delivered it.
    expect(kn.controller.transients.slice(transients)).toEqual(["kn-up-fix"]);
    expect((await invoke(agent, "kn-up-fix")).body.result).toBe("fixed");
  }, 120_000);

  it("S4: an image the node cannot pull times out naming the condition it waited on and the progress deadline", async () => {
    kn.controller.unpullable = (image) => image.startsWith("dev.local/kn-up-pull:");
    kn.controller.progressDeadlineMs = 600_000; // Knative's default: the agent's timeout comes first
    const quick = await startTestAgent({ ...kn.env, KNATIVE_TIMEOUT: "3" });
    try {
      const res = await postJson(`${quick.url}/deploy`, { id: "kn-up-pull", handler: version("p") });
      expect(res.status, JSON.stringify(res.body)).toBe(504); // DEPLOY_TIMEOUT is the gateway's timeout on REST
      expect(res.body).toMatchObject({ reason: "DEPLOY_TIMEOUT", waiting_on: "Ready" });
      expect(res.body.error).toMatch(/waiting on Ready=Unknown RevisionMissing/);
      expect(res.body.error).toMatch(/revision kn-up-pull-[0-9a-f]{10}: .*ResourcesAvailable=Unknown Deploying/);
      expect(res.body.error).toMatch(/progress deadline \(600 s by default\)/);
      // K1 again: retrying the same deploy re-applies nothing new and is not refused by the webhook.
      const retry = await postJson(`${quick.url}/deploy`, { id: "kn-up-pull", handler: version("p") });
      expect(retry.status, JSON.stringify(retry.body)).toBe(504);
      expect(retry.body.reason).toBe("DEPLOY_TIMEOUT");
    } finally {
      await quick.dispose();
      kn.controller.unpullable = () => false;
    }
  }, 60_000);

  it("K2: a tag whose host label `<tag>-<id>` exceeds 63 characters is refused before anything is applied", async () => {
    const before = kn.api.requests.filter((r) => !r.startsWith("GET")).length;
    const tag = "t".repeat(63 - "kn-up-tag".length); // tag + "-" + id = 64
    const res = await postJson(`${agent.url}/deploy`, { id: "kn-up-tag", handler: version("t"), options: { traffic: [{ latest: true, percent: 100, tag }] } });
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body).toMatchObject({ reason: "INVALID_REQUEST", field: "options.traffic[0].tag" });
    expect(res.body.error).toMatch(/must be no more than 63 characters/);
    expect(kn.api.requests.filter((r) => !r.startsWith("GET")).length).toBe(before);
    const ok = await postJson(`${agent.url}/deploy`, { id: "kn-up-tag", handler: version("t"), options: { traffic: [{ latest: true, percent: 100, tag: tag.slice(1) }] } });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
  }, 60_000);

  it("S6: the rollout wait survives watches the server ends and resume versions it has compacted (410)", async () => {
    kn.api.watchTimeoutMs = 150;
    kn.api.store.keepHistory = false;
    const expiredBefore = kn.api.store.expired;
    // Every watch the server ends is followed by a write before the client resumes, and the revision
    // becomes ready only after a resume has been answered 410: the test no longer depends on timing.
    const churn = { apiVersion: "v1", kind: "Pod", metadata: { name: "s6-churn", namespace: "default" }, status: {} };
    kn.api.store.onWatchTimeout = () => void kn.api.store.put("pods", structuredClone(churn));
    const expired = kn.api.store.whenExpired();
    kn.controller.readyGate = () => expired;
    try {
      const res = await postJson(`${agent.url}/deploy`, { id: "kn-up-watch", handler: version("w") });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(kn.api.requests.filter((r) => r === "GET /apis/serving.knative.dev/v1/namespaces/default/services?watch").length).toBeGreaterThan(2);
      expect(kn.api.store.expired).toBeGreaterThan(expiredBefore);
    } finally {
      kn.api.watchTimeoutMs = undefined;
      kn.api.store.keepHistory = true;
      kn.api.store.onWatchTimeout = undefined;
      kn.controller.readyGate = undefined;
      kn.api.store.remove("pods", "default", "s6-churn");
    }
  }, 60_000);

  it("S6: a watch RBAC forbids is a permission failure naming the verb, not an unavailable platform", async () => {
    kn.api.forbidden.add("watch services");
    try {
      const res = await postJson(`${agent.url}/deploy`, { id: "kn-up-rbac", handler: version("r") });
      expect(res.status, JSON.stringify(res.body)).not.toBe(503);
      expect(res.body.error).toMatch(/denied the watch of Service kn-up-rbac \(HTTP 403\)/);
      expect(res.body.error).toMatch(/"watch" on services\.serving\.knative\.dev/);
    } finally {
      kn.api.forbidden.delete("watch services");
    }
  }, 60_000);

  it("S7: invokes stay correct through an ingress hop that answers chunked, on reused connections", async () => {
    const handler = 'def handle(req):\n    return {"n": req["n"], "pad": "x" * req["size"]}\n';
    expect((await postJson(`${agent.url}/deploy`, { id: "kn-up-chunk", handler })).status).toBe(200);
    kn.ingress.chunked = true;
    try {
      for (let i = 0; i < 30; i++) {
        const size = i % 3 === 0 ? 200_000 : i % 3 === 1 ? 0 : 3000;
        const res = await invoke(agent, "kn-up-chunk", { n: i, size });
        expect(res.status, JSON.stringify(res.body).slice(0, 300)).toBe(200);
        expect(res.body.result.n).toBe(i);
        expect(res.body.result.pad).toHaveLength(size);
      }
    } finally {
      kn.ingress.chunked = false;
    }
    expect((await getJson(`${agent.url}/health`)).status).toBe(200);
  }, 120_000);
});
