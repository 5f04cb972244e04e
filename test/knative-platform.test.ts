import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FaasAgent } from "../gen/faas/v1/agent_pb.ts";
import { deploy, getJson, postJson, startTestAgent, type TestAgent } from "./support/agent.ts";
import { assertDocker, docker, skipDocker } from "./support/docker.ts";
import { startKnativeStandIn, type KnativeStandIn } from "./support/knative/index.ts";

// Ids unique to this file: images are dev.local/<id>:<hash> in the shared engine.
const HELLO = { id: "kn-hello", handler: 'def handle(req):\n    return {"hello": req.get("name", "world")}' };
const version = (v: string) => `def handle(req):\n    print("serving ${v}", req.get("n"))\n    return "${v}"\n`;
const IDS = ["kn-hello", "kn-split", "kn-broken", "kn-opts"];

/** The function as GET /functions shows it (with revisions and traffic). */
async function describeFn(agent: TestAgent, id: string): Promise<any> {
  return (await getJson(`${agent.url}/functions`)).body.functions.find((f: { id: string }) => f.id === id);
}

const invoke = (agent: TestAgent, id: string, payload: unknown = {}) => postJson(`${agent.url}/invoke`, { id, payload });

/** Deploys through the Connect API and returns the log lines (source|line) and the final function or error. */
async function deployStream(agent: TestAgent, request: Record<string, unknown>) {
  const client = createClient(FaasAgent, createConnectTransport({ baseUrl: agent.url, httpVersion: "1.1" }));
  const lines: string[] = [];
  let fn: any;
  for await (const event of client.deploy(request as never)) {
    if (event.event.case === "log") lines.push(`${event.event.value.source}|${event.event.value.line}`);
    if (event.event.case === "function") fn = event.event.value;
  }
  return { lines, fn };
}

describe.skipIf(skipDocker)("knative platform against the stand-in", () => {
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
    for (const image of await docker.listImages({ filters: { reference: IDS.map((id) => `dev.local/${id}`) } })) await docker.getImage(image.Id).remove({ force: true }).catch(() => undefined);
  });

  it("health reads the namespace through the Kubernetes API", async () => {
    const res = await getJson(`${agent.url}/health`);
    expect(res.body).toMatchObject({ status: "healthy", platform: "knative" });
    expect(res.body.checks[0]).toMatchObject({ name: "knative", ok: true });
  });

  it("deploys over RPC with streamed condition changes, then invokes through the ingress", async () => {
    const { lines, fn } = await deployStream(agent, HELLO);
    expect(lines).toContain('knative|RoutesReady=Unknown RevisionMissing: Configuration "kn-hello" is waiting for a Revision to become ready.');
    expect(lines).toContain("knative|Ready=True");
    expect(fn).toMatchObject({ id: "kn-hello", ready: true, platform: "knative", endpoint: "http://kn-hello.default.example.com" });
    expect(fn.image).toMatch(/^dev\.local\/kn-hello:[0-9a-f]{20}$/);
    const svc = kn.api.store.get("services", "default", "kn-hello")!;
    expect(svc.spec.template.metadata.name).toMatch(/^kn-hello-[0-9a-f]{10}$/);
    expect(svc.spec.template.spec.containers[0].imagePullPolicy).toBe("IfNotPresent");
    expect(svc.status.latestReadyRevisionName).toBe(svc.spec.template.metadata.name);

    const before = kn.api.requests.length;
    for (let i = 0; i < 5; i++) expect((await invoke(agent, "kn-hello", { name: `n${i}` })).body).toMatchObject({ status: "success", result: { hello: `n${i}` } });
    // The route is cached: invokes make no API calls.
    expect(kn.api.requests.slice(before)).toEqual([]);
    expect(kn.ingress.routed.get(svc.spec.template.metadata.name)).toBeGreaterThanOrEqual(5);
  });

  it("an unchanged redeploy builds nothing and applies nothing", async () => {
    const before = kn.api.requests.length;
    const revisionsBefore = kn.api.store.list("revisions", "default").length;
    const { lines, fn } = await deployStream(agent, HELLO);
    expect(fn.ready).toBe(true);
    expect(lines.some((l) => /exists in the engine: skipping the build/.test(l))).toBe(true);
    expect(lines.some((l) => /is already deployed: nothing to apply/.test(l))).toBe(true);
    expect(kn.api.requests.slice(before).filter((r) => !r.startsWith("GET"))).toEqual([]);
    expect(kn.api.store.list("revisions", "default")).toHaveLength(revisionsBefore);
  });

  it("refuses options Knative's webhook would refuse, before building or applying anything", async () => {
    const before = kn.api.requests.length;
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ options: { timeout_seconds: 601 } }, "options.timeout_seconds", /expected 0 <= 601 <= 600: timeoutSeconds/],
      [{ options: { container_concurrency: 1001 } }, "options.container_concurrency", /expected 0 <= 1001 <= 1000: containerConcurrency/],
      [{ env: { K_REVISION: "x" } }, "env", /K_REVISION is a reserved environment variable/],
      [{ env: { PORT: "9000" } }, "env", /PORT is a reserved environment variable/],
      [{ options: { target: 0.001 } }, "options.target", /target/],
    ];
    for (const [extra, field, message] of cases) {
      const res = await postJson(`${agent.url}/deploy`, { id: "kn-opts", handler: HELLO.handler, ...extra });
      expect(res.status, JSON.stringify(res.body)).toBe(400);
      expect(res.body).toMatchObject({ reason: "INVALID_REQUEST", field });
      expect(res.body.error).toMatch(message);
    }
    expect(kn.api.requests.slice(before)).toEqual([]);
    expect(await docker.listImages({ filters: { reference: ["dev.local/kn-opts"] } })).toEqual([]);
  });

  it("deploys options as template annotations and container settings", async () => {
    const fn = await deploy(agent, {
      id: "kn-opts",
      handler: HELLO.handler,
      env: { GREETING: "hi" },
      options: { min_scale: 1, max_scale: 3, target: 50, scale_to_zero_retention: "1m", container_concurrency: 10, timeout_seconds: 30, resources: { cpu_request: "100m", memory_limit: "256Mi" } },
    });
    expect(fn).toMatchObject({ status: "deployed", platform: "knative" });
    const svc = kn.api.store.get("services", "default", "kn-opts")!;
    expect(svc.spec.template.metadata.annotations).toEqual({
      "autoscaling.knative.dev/min-scale": "1",
      "autoscaling.knative.dev/max-scale": "3",
      "autoscaling.knative.dev/target": "50",
      "autoscaling.knative.dev/scale-to-zero-pod-retention-period": "1m",
    });
    expect(svc.spec.template.spec).toMatchObject({ containerConcurrency: 10, timeoutSeconds: 30 });
    expect(svc.spec.template.spec.containers[0]).toMatchObject({ env: [{ name: "GREETING", value: "hi" }], resources: { requests: { cpu: "100m" }, limits: { memory: "256Mi" } }, ports: [{ containerPort: 8080 }] });
  });

  let rev1 = "";
  let rev2 = "";
  it("a changed redeploy makes a new revision; a split keeps 70% on the previous one", async () => {
    const first = await deploy(agent, { id: "kn-split", handler: version("v1") });
    rev1 = first.revision;
    expect(rev1).toMatch(/^kn-split-[0-9a-f]{10}$/);
    await deploy(agent, { id: "kn-split", handler: version("v2"), options: { traffic: [{ revision: rev1, percent: 70 }, { latest: true, percent: 30, tag: "canary" }] } });
    const second = await describeFn(agent, "kn-split");
    rev2 = second.revision;
    expect(rev2).not.toBe(rev1);
    expect(second.revisions.map((r: { name: string }) => r.name)).toEqual([rev2, rev1]);
    expect(second.traffic).toEqual([
      { revision: rev1, latest: false, percent: 70, tag: "" },
      { revision: rev2, latest: true, percent: 30, tag: "canary", url: "http://canary-kn-split.default.example.com" },
    ]);
    const counts: Record<string, number> = {};
    for (let i = 0; i < 200; i++) {
      const res = await invoke(agent, "kn-split", { n: i });
      counts[res.body.result] = (counts[res.body.result] ?? 0) + 1;
    }
    // 200 draws at p = 0.7: the standard deviation is 6.5, so 140 ± 30 is over 4.5 sd.
    expect(counts.v1! + counts.v2!).toBe(200);
    expect(counts.v1).toBeGreaterThan(110);
    expect(counts.v1).toBeLessThan(170);
  }, 120_000);

  it("rolls back with POST /traffic and forward again with SetTraffic over RPC", async () => {
    const back = await postJson(`${agent.url}/traffic`, { id: "kn-split", traffic: [{ revision: rev1, percent: 100 }] });
    expect(back.status, JSON.stringify(back.body)).toBe(200);
    expect(back.body.function.traffic).toEqual([{ revision: rev1, latest: false, percent: 100, tag: "" }]);
    for (let i = 0; i < 20; i++) expect((await invoke(agent, "kn-split", { n: i })).body.result).toBe("v1");

    const client = createClient(FaasAgent, createConnectTransport({ baseUrl: agent.url, httpVersion: "1.1" }));
    const fwd = await client.setTraffic({ id: "kn-split", traffic: [{ latest: true, percent: 100 }] });
    expect(fwd.function?.traffic.map((t) => [t.revision, t.percent])).toEqual([[rev2, 100]]);
    for (let i = 0; i < 20; i++) expect((await invoke(agent, "kn-split", { n: i })).body.result).toBe("v2");

    const unknown = await postJson(`${agent.url}/traffic`, { id: "kn-split", traffic: [{ revision: "kn-split-nope", percent: 100 }] });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatch(/has no revision "kn-split-nope"/);
  }, 60_000);

  it("streams logs: the tail, then new lines while following", async () => {
    const client = createClient(FaasAgent, createConnectTransport({ baseUrl: agent.url, httpVersion: "1.1" }));
    await invoke(agent, "kn-split", { n: 1001 });
    const tail: string[] = [];
    for await (const entry of client.logs({ id: "kn-split", tail: 2 })) tail.push(entry.line);
    expect(tail).toHaveLength(2);
    expect(tail.at(-1)).toBe("serving v2 1001");

    const abort = new AbortController();
    const seen: string[] = [];
    const following = (async () => {
      for await (const entry of client.logs({ id: "kn-split", follow: true, tail: 1 }, { signal: abort.signal })) {
        seen.push(entry.line);
        if (entry.line === "serving v2 1002") abort.abort();
      }
    })().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 500));
    await invoke(agent, "kn-split", { n: 1002 });
    await Promise.race([following, new Promise((r) => setTimeout(r, 10_000))]);
    expect(seen).toContain("serving v2 1002");
  }, 30_000);

  it("reports a handler that fails to import as Knative's ExitCode failure, and keeps serving the rest", async () => {
    const res = await postJson(`${agent.url}/deploy`, { id: "kn-broken", handler: "import no_such_module\ndef handle(req):\n    return 1\n" });
    expect(res.status).toBe(500); // failed_precondition, as the REST table maps it
    expect(res.body).toMatchObject({ reason: "DEPLOY_FAILED", platform_reason: "RevisionMissing" });
    expect(res.body.error).toMatch(/Configuration "kn-broken" does not have any ready Revision/);
    const svc = kn.api.store.get("services", "default", "kn-broken")!;
    const config = svc.status.conditions.find((c: { type: string }) => c.type === "ConfigurationsReady");
    expect(config).toMatchObject({ status: "False", reason: "RevisionFailed" });
    expect(config.message).toMatch(/^Revision "kn-broken-[0-9a-f]{10}" failed with message: Container failed with: .*no_such_module/s);
    const rev = kn.api.store.get("revisions", "default", svc.status.latestCreatedRevisionName)!;
    expect(rev.status.conditions.find((c: { type: string }) => c.type === "ContainerHealthy").reason).toMatch(/^ExitCode\d+$/);
    const listed = (await getJson(`${agent.url}/functions`)).body;
    expect(JSON.stringify(listed)).toContain("RevisionMissing");
    expect((await invoke(agent, "kn-hello", { name: "still" })).body.result).toEqual({ hello: "still" });
  }, 60_000);

  it("fails an update whose revision crashes but keeps the previous revision serving", async () => {
    const res = await postJson(`${agent.url}/deploy`, { id: "kn-hello", handler: "raise SystemExit(4)\n" });
    expect(res.status).toBe(500); // failed_precondition, as the REST table maps it
    expect(res.body).toMatchObject({ reason: "DEPLOY_FAILED", platform_reason: "RevisionFailed" });
    expect(res.body.error).toMatch(/failed with message: Container failed with/);
    expect((await invoke(agent, "kn-hello", { name: "old" })).body.result).toEqual({ hello: "old" });
  }, 60_000);

  it("lists functions with revisions and traffic after an agent restart", async () => {
    await agent.dispose();
    agent = await startTestAgent(kn.env);
    const listed = (await getJson(`${agent.url}/functions`)).body;
    const split = listed.functions.find((f: { id: string }) => f.id === "kn-split");
    expect(split).toMatchObject({ id: "kn-split", ready: true, platform: "knative", revision: rev2 });
    expect(split.revisions.map((r: { name: string }) => r.name)).toEqual([rev2, rev1]);
    expect((await invoke(agent, "kn-split", { n: 1 })).body.result).toBe("v2");
  });

  it("delete waits until the Service is gone and its containers stopped", async () => {
    const res = await postJson(`${agent.url}/delete`, { id: "kn-split" });
    expect(res.status).toBe(200);
    expect(kn.api.store.get("services", "default", "kn-split")).toBeUndefined();
    expect(kn.api.store.list("revisions", "default").filter((r) => r.metadata.name.startsWith("kn-split-"))).toEqual([]);
    expect((await invoke(agent, "kn-split")).status).toBe(404);
    expect((await postJson(`${agent.url}/delete`, { id: "kn-split" })).status).toBe(404);
  });
});
