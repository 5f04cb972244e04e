import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertDocker, docker, skipDocker } from "./support/docker.ts";
import { FakeApiServer } from "./support/knative/apiserver.ts";
import { startKnativeStandIn, type KnativeStandIn } from "./support/knative/index.ts";
import { computeServiceStatus, newGenerationStatus } from "./support/knative/conditions.ts";
import { crdValidator } from "./support/knative/schema.ts";

// The stand-in is only as good as its faithfulness: these check it against the real CRD schema,
// the captured/synthesized objects and the webhook rules of platform-apis.md §A1.
const fixture = (name: string) => JSON.parse(readFileSync(new URL(`./fixtures/knative/${name}`, import.meta.url), "utf8"));
const SERVICES = "/apis/serving.knative.dev/v1/namespaces/default/services";

function svc(name: string, spec: Record<string, any> = {}, metadata: Record<string, any> = {}) {
  return {
    apiVersion: "serving.knative.dev/v1",
    kind: "Service",
    metadata: { name, ...metadata },
    spec: { template: { spec: { containers: [{ image: "dev.local/x:1" }] } }, ...spec },
  };
}

describe("the stand-in's CRD schema", () => {
  const validate = crdValidator();
  it("accepts the captured ready Service and the synthesized failed one", () => {
    expect(validate(fixture("knative-service-ready.json"))).toEqual([]);
    expect(validate(fixture("knative-service-failed.synthesized.json"))).toEqual([]);
  });
  it("rejects numeric annotation values, string integers and missing containers", () => {
    const numeric = fixture("knative-service-ready.json");
    numeric.spec.template.metadata.annotations["autoscaling.knative.dev/min-scale"] = 1;
    expect(validate(numeric).join()).toMatch(/min-scale: Invalid value: must be string/);
    const stringly = fixture("knative-service-ready.json");
    stringly.spec.template.spec.containerConcurrency = "5";
    expect(validate(stringly).join()).toMatch(/containerConcurrency: Invalid value: must be integer/);
    const empty = fixture("knative-service-ready.json");
    delete empty.spec.template.spec.containers;
    expect(validate(empty).join()).toMatch(/containers/);
  });
});

describe("the stand-in's API server and webhooks", () => {
  const api = new FakeApiServer();
  let base = "";
  beforeAll(async () => {
    base = await api.listen();
  });
  afterAll(() => api.close());
  const send = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(base + path, { method, headers: { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as any };
  };

  it("accepts the ready fixture's spec and applies Knative's defaults", async () => {
    const ready = fixture("knative-service-ready.json");
    const created = await send("POST", SERVICES, { apiVersion: ready.apiVersion, kind: ready.kind, metadata: { name: "pmml", labels: ready.metadata.labels }, spec: ready.spec });
    expect(created.status).toBe(201);
    expect(created.body.metadata).toMatchObject({ generation: 1, namespace: "default" });
    const plain = await send("POST", SERVICES, svc("plain"));
    expect(plain.body.spec.template.spec).toMatchObject({ containerConcurrency: 0, timeoutSeconds: 300, containers: [{ name: "user-container", readinessProbe: { tcpSocket: { port: 0 }, successThreshold: 1 } }] });
    expect(plain.body.spec.traffic).toEqual([{ latestRevision: true, percent: 100 }]);
  });

  it("answers AlreadyExists, Conflict, NotFound and Invalid as metav1.Status", async () => {
    const dup = await send("POST", SERVICES, svc("plain"));
    expect(dup).toMatchObject({ status: 409, body: { kind: "Status", status: "Failure", reason: "AlreadyExists", code: 409 } });
    const current = (await send("GET", `${SERVICES}/plain`)).body;
    const stale = await send("PUT", `${SERVICES}/plain`, { ...current, metadata: { ...current.metadata, resourceVersion: "1" } });
    expect(stale).toMatchObject({ status: 409, body: { reason: "Conflict" } });
    expect(stale.body.message).toMatch(/the object has been modified; please apply your changes to the latest version and try again/);
    expect(await send("GET", `${SERVICES}/nope`)).toMatchObject({ status: 404, body: { reason: "NotFound", message: 'services.serving.knative.dev "nope" not found' } });
    const invalid = await send("POST", SERVICES, svc("typed", { template: { spec: { containerConcurrency: "5", containers: [{ image: "dev.local/x:1" }] } } }));
    expect(invalid).toMatchObject({ status: 422, body: { reason: "Invalid" } });

    const changed = { ...current, spec: { ...current.spec, template: { ...current.spec.template, spec: { ...current.spec.template.spec, timeoutSeconds: 30 } } } };
    const updated = await send("PUT", `${SERVICES}/plain`, changed);
    expect(updated.status).toBe(200);
    expect(updated.body.metadata.generation).toBe(2);
    expect(Number(updated.body.metadata.resourceVersion)).toBeGreaterThan(Number(current.metadata.resourceVersion));
  });

  it.each([
    [svc("a1", {}, { annotations: { "autoscaling.knative.dev/min-scale": "1" } }), 'autoscaling annotations must be put under "spec.template.metadata.annotations" to work'],
    [svc("a2", { traffic: [{ latestRevision: true, percent: 90 }] }), "Traffic targets sum to 90, want 100: spec.traffic"],
    [svc("a3", { template: { metadata: { name: "other-1" }, spec: { containers: [{ image: "dev.local/x:1" }] } } }), 'invalid value: "other-1" must have prefix "a3-": spec.template.metadata.name'],
    [svc("a4", { template: { spec: { containers: [{ image: "dev.local/x:1", ports: [{ containerPort: 8012 }] }] } } }), "8012 is a reserved port"],
    [svc("a5", { template: { spec: { containers: [{ image: "dev.local/x:1", env: [{ name: "K_SERVICE", value: "x" }] }] } } }), "K_SERVICE is a reserved environment variable"],
    [svc("a6", { template: { spec: { timeoutSeconds: 601, containers: [{ image: "dev.local/x:1" }] } } }), "expected 0 <= 601 <= 600: spec.template.spec.timeoutSeconds"],
    [svc("a7", { template: { spec: { containerConcurrency: 1001, containers: [{ image: "dev.local/x:1" }] } } }), "expected 0 <= 1001 <= 1000"],
    [svc("a8", { traffic: [{ revisionName: "a8-1", latestRevision: true, percent: 100 }] }), 'may not set revisionName "a8-1" when latestRevision is true'],
    [svc("a9", { template: { metadata: { annotations: { "autoscaling.knative.dev/metric": "cpu" } }, spec: { containers: [{ image: "dev.local/x:1" }] } } }), "autoscaling.knative.dev/metric"],
    [svc("a10", { template: { metadata: { annotations: { "autoscaling.knative.dev/min-scale": "3", "autoscaling.knative.dev/max-scale": "2" } }, spec: { containers: [{ image: "dev.local/x:1" }] } } }), "max-scale=2 is less than min-scale=3"],
  ])("refuses %#: %s", async (object, message) => {
    const res = await send("POST", SERVICES, object);
    expect(res.status).toBe(400);
    expect(res.body.reason).toBe("BadRequest");
    expect(res.body.message).toContain('admission webhook "validation.webhook.serving.knative.dev" denied the request: validation failed: ');
    expect(res.body.message).toContain(message);
  });

  it("refuses a template change that keeps its BYO revision name", async () => {
    const created = await send("POST", SERVICES, svc("byo", { template: { metadata: { name: "byo-one" }, spec: { containers: [{ image: "dev.local/x:1" }] } } }));
    expect(created.status).toBe(201);
    const next = structuredClone(created.body);
    next.spec.template.spec.containers[0].image = "dev.local/x:2";
    const res = await send("PUT", `${SERVICES}/byo`, next);
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(/Saw the following changes without a name change \(-old \+new\)/);
  });

  it("K1: an update keeping the BYO name is not defaulted: a fresh template is refused, the stored one with new traffic is not", async () => {
    const fresh = { metadata: { name: "keep-a" }, spec: { containers: [{ image: "dev.local/x:1", readinessProbe: { httpGet: { path: "/healthz", port: 8080 }, successThreshold: 1 } }] } };
    const created = await send("POST", SERVICES, svc("keep", { template: fresh }));
    expect(created.status).toBe(201);
    // configuration_defaults.go / revision_defaults.go: the create-time defaults are stored.
    expect(created.body.spec.template.spec).toMatchObject({ timeoutSeconds: 300, containerConcurrency: 0, enableServiceLinks: false, containers: [{ name: "user-container" }] });
    const resent = { ...created.body, spec: { template: fresh, traffic: [{ latestRevision: true, percent: 100, tag: "x" }] } };
    const refused = await send("PUT", `${SERVICES}/keep`, resent);
    expect(refused.status).toBe(400);
    expect(refused.body.message).toContain("Saw the following changes without a name change (-old +new): spec.template.metadata.name");
    expect(refused.body.message).toMatch(/spec\.timeoutSeconds: 300 → <unset>/);
    expect(refused.body.message).toMatch(/spec\.enableServiceLinks: false → <unset>/);
    const kept = await send("PUT", `${SERVICES}/keep`, { ...created.body, spec: { ...created.body.spec, traffic: resent.spec.traffic } });
    expect(kept.status, JSON.stringify(kept.body)).toBe(200);
    expect(kept.body.spec.template).toEqual(created.body.spec.template);
    // A new BYO name is defaulted on update, except enableServiceLinks (only in create).
    const renamed = await send("PUT", `${SERVICES}/keep`, { ...kept.body, spec: { ...kept.body.spec, template: { ...fresh, metadata: { name: "keep-b" } } } });
    expect(renamed.status, JSON.stringify(renamed.body)).toBe(200);
    expect(renamed.body.spec.template.spec).toMatchObject({ timeoutSeconds: 300, containerConcurrency: 0 });
    expect(renamed.body.spec.template.spec.enableServiceLinks).toBeUndefined();
  });

  it("S6: answers what RBAC denies with 403 Forbidden and the API server's message", async () => {
    api.forbidden.add("watch services");
    try {
      const res = await fetch(`${base}${SERVICES}?watch=true`);
      expect(res.status).toBe(403);
      expect(await res.json()).toMatchObject({
        kind: "Status",
        reason: "Forbidden",
        code: 403,
        message: 'services.serving.knative.dev is forbidden: User "system:serviceaccount:default:radical-faas" cannot watch resource "services" in API group "serving.knative.dev" in the namespace "default"',
      });
      expect((await send("GET", SERVICES)).status).toBe(200);
    } finally {
      api.forbidden.delete("watch services");
    }
  });

  it("S6: ends a watch after timeoutSeconds; a resume from a compacted resourceVersion gets one ERROR 410 Expired", async () => {
    const started = Date.now();
    const ended = await fetch(`${base}${SERVICES}?watch=true&timeoutSeconds=1&fieldSelector=${encodeURIComponent("metadata.name=keep")}`);
    const text = await ended.text(); // resolves only when the server ends the stream
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(text.trim().split("\n").map((l) => JSON.parse(l).type)).toEqual(["ADDED"]);
    const rv = Number((await send("GET", `${SERVICES}/keep`)).body.metadata.resourceVersion);
    api.store.compact();
    await send("POST", SERVICES, svc("after-compaction"));
    const gone = await (await fetch(`${base}${SERVICES}?watch=true&resourceVersion=${rv - 1}`)).text();
    const events = gone.trim().split("\n").map((l) => JSON.parse(l));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: "ERROR", object: { kind: "Status", code: 410, reason: "Expired" } });
    expect(events[0].object.message).toMatch(/^too old resource version: \d+ \(\d+\)$/);
  });

  it("lists by label and watches by name", async () => {
    await send("POST", SERVICES, svc("w1", {}, { labels: { team: "a" } }));
    await send("POST", SERVICES, svc("w2", {}, { labels: { team: "b" } }));
    const listed = await send("GET", `${SERVICES}?labelSelector=${encodeURIComponent("team=a")}`);
    expect(listed.body.items.map((i: any) => i.metadata.name)).toEqual(["w1"]);
    const abort = new AbortController();
    const res = await fetch(`${base}${SERVICES}?watch=true&fieldSelector=${encodeURIComponent("metadata.name=w2")}`, { signal: abort.signal });
    const reader = res.body!.getReader();
    const events: any[] = [];
    let text = "";
    const reading = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        text += Buffer.from(value).toString();
        for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n")) {
          events.push(JSON.parse(text.slice(0, nl)));
          text = text.slice(nl + 1);
        }
        if (events.length >= 2) return;
      }
    })();
    await new Promise((r) => setTimeout(r, 100));
    await send("PUT", `${SERVICES}/w1`, { ...(await send("GET", `${SERVICES}/w1`)).body, spec: svc("w1", { traffic: [{ latestRevision: true, percent: 100, tag: "t" }] }).spec });
    const w2 = (await send("GET", `${SERVICES}/w2`)).body;
    await send("PUT", `${SERVICES}/w2`, { ...w2, metadata: { ...w2.metadata, labels: { team: "c" } } });
    await reading;
    abort.abort();
    expect(events.map((e) => [e.type, e.object.metadata.name])).toEqual([["ADDED", "w2"], ["MODIFIED", "w2"]]);
  });
});

describe.skipIf(skipDocker)("the stand-in's controller: failure shapes", () => {
  let kn: KnativeStandIn;
  beforeAll(async () => {
    assertDocker();
    kn = await startKnativeStandIn(docker, { progressDeadlineMs: 500 });
  });
  afterAll(() => kn?.close());

  async function waitDone(name: string) {
    for (let i = 0; i < 200; i++) {
      const s = kn.api.store.get("services", "default", name);
      const ready = s?.status?.conditions?.find((c: any) => c.type === "Ready");
      if (s && s.status?.observedGeneration === s.metadata.generation && ready && ready.status !== "Unknown") return s;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${name} never finished`);
  }
  const post = (body: unknown) => fetch(kn.server + SERVICES, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const shape = (s: any) => ({
    conditions: s.status.conditions.map((c: any) => ({ type: c.type, status: c.status, reason: c.reason, message: c.message.replaceAll(/"[^"]*"/g, '"…"').replace(/with message: .*$/, "with message: …") })),
    keys: Object.keys(s.status).sort(),
  });

  it("a dev.local image that is missing fails like the synthesized fixture after the progress deadline", async () => {
    expect((await post(svc("hello", {}, {}))).status).toBe(201);
    const failed = await waitDone("hello");
    const expected = fixture("knative-service-failed.synthesized.json");
    expect(shape(failed)).toEqual(shape(expected));
    expect(failed.status.conditions[0].message).toBe('Revision "hello-00001" failed with message: Back-off pulling image "dev.local/x:1".');
    expect(failed.status.url).toBe("http://hello.default.example.com");
  });

  it("an image from a registry that does not have it fails fast with ContainerMissing", async () => {
    const object = svc("missing", { template: { spec: { containers: [{ image: "127.0.0.1:5050/radical-faas-never-pushed:1" }] } } });
    expect((await post(object)).status).toBe(201);
    const failed = await waitDone("missing");
    const rev = kn.api.store.get("revisions", "default", "missing-00001")!;
    const healthy = rev.status.conditions.find((c: any) => c.type === "ContainerHealthy");
    expect(healthy).toMatchObject({ status: "False", reason: "ContainerMissing" });
    expect(healthy.message).toMatch(/^Unable to fetch image "127.0.0.1:5050\/radical-faas-never-pushed:1": failed to resolve image to digest: /);
    expect(failed.status.conditions.find((c: any) => c.type === "Ready")).toMatchObject({ status: "False", reason: "RevisionMissing" });
  });
});

describe("the stand-in's reconciler steps", () => {
  const failed = fixture("knative-service-failed.synthesized.json");
  it("S2: at a new generation, Ready turns False NewObservedGenFailure while a dependent is False", () => {
    const next = { ...failed, metadata: { ...failed.metadata, generation: failed.metadata.generation + 1 } };
    const status = newGenerationStatus(next);
    expect(status.observedGeneration).toBe(next.metadata.generation);
    const by = (t: string) => status.conditions.find((c: any) => c.type === t);
    expect(by("Ready")).toMatchObject({ status: "False", reason: "NewObservedGenFailure", message: "unsuccessfully observed a new generation" });
    expect(by("ConfigurationsReady")).toMatchObject({ status: "Unknown", reason: "OutOfDate" });
    expect(by("RoutesReady")).toMatchObject({ status: "False", reason: "RevisionMissing" });
  });
  it("S2: after a ready generation the same step leaves Ready Unknown (OutOfDate)", () => {
    const ready = fixture("knative-service-ready.json");
    const status = newGenerationStatus({ ...ready, metadata: { ...ready.metadata, generation: ready.metadata.generation + 1 } });
    expect(status.conditions.find((c: any) => c.type === "Ready")).toMatchObject({ status: "Unknown", reason: "OutOfDate" });
  });
  it("K2: a tag host label over 63 characters fails the route with ErrorConfig", () => {
    const name = "a".repeat(30);
    const svc = { metadata: { name, namespace: "default", generation: 1 }, spec: { traffic: [{ latestRevision: true, percent: 100, tag: "t".repeat(33) }] } };
    const status = computeServiceStatus(svc, `${name}-00001`, new Map([[`${name}-00001`, { phase: "ready" }]]), new Map(), "example.com");
    expect(status.conditions.find((c: any) => c.type === "Ready")).toMatchObject({ status: "False", reason: "ErrorConfig" });
    expect(status.conditions.find((c: any) => c.type === "RoutesReady").message).toBe(
      `domain name error: invalid domain name "${"t".repeat(33)}-${name}.default.example.com": url: Invalid value: "${"t".repeat(33)}-${name}": must be no more than 63 characters`,
    );
  });
});
