import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FaasAgent } from "../gen/faas/v1/agent_pb.ts";
import { deploy, getJson, postJson, startTestAgent, type TestAgent } from "./support/agent.ts";
import { assertDocker, docker, skipDocker } from "./support/docker.ts";
import { startKnativeStandIn, type KnativeStandIn } from "./support/knative/index.ts";

// Ids unique to this file: images are dev.local/<id>:<hash> in the shared engine.
const HELLO = { id: "kn-hello", handler: 'def handle(req):\n    return {"hello": req.get("name", "world")}' };

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
    for (const image of await docker.listImages({ filters: { reference: ["dev.local/kn-hello"] } })) await docker.getImage(image.Id).remove({ force: true }).catch(() => undefined);
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
});
