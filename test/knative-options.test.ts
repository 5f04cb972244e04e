import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderService, renderTraffic, type KnativeService } from "../src/adapters/knative/service.ts";
import { validateKnativeSpec } from "../src/adapters/knative/validate.ts";
import { validateOptions } from "../src/domain/options.ts";
import type { DeployOptions, DeploySpec } from "../src/domain/types.ts";
import { FakeApiServer } from "./support/knative/apiserver.ts";
import { computeServiceStatus } from "./support/knative/conditions.ts";
import { crdValidator } from "./support/knative/schema.ts";
import { templateChanges } from "./support/knative/webhook.ts";

// Every option the knative platform takes, at its edges and combined: what the agent renders must
// pass the real CRD schema, knative/serving's admission (defaulting + validation, on create and on
// each kind of update the agent makes) and the Route's rules; what the agent refuses, Knative must
// refuse too (at admission or in the Route), so the agent is neither looser nor stricter.
const ID = "opt-fn"; // 6 characters: room for long tags
const base = (options: DeployOptions, env: Record<string, string> = {}): DeploySpec => ({ id: ID, handler: "def handle(r):\n    return r\n", requirements: "", params: {}, env, options });
const render = (s: DeploySpec, image = "dev.local/opt-fn:0123456789abcdef0123") =>
  renderService({ spec: s, namespace: "default", image, contentHash: "0123456789abcdef0123", pythonVersion: "3.11" });

const latest = { revision: "", latest: true, tag: "" };
const CASES: [string, DeployOptions, Record<string, string>?][] = [
  ["none", {}],
  ["minScale 0", { minScale: 0 }],
  ["minScale 2^31-1", { minScale: 2 ** 31 - 1 }],
  ["maxScale 0 (unlimited) with minScale 3", { minScale: 3, maxScale: 0 }],
  ["maxScale = minScale", { minScale: 4, maxScale: 4 }],
  ["maxScale < minScale", { minScale: 5, maxScale: 4 }],
  ["target 0.01", { target: 0.01 }],
  ["target 0.001", { target: 0.001 }],
  ["target 1000", { target: 1000 }],
  ["retention 0", { scaleToZeroRetention: "0" }],
  ["retention 1h", { scaleToZeroRetention: "1h" }],
  ["retention 1h1s", { scaleToZeroRetention: "1h1s" }],
  ["retention 1m30s", { scaleToZeroRetention: "1m30s" }],
  ["retention bad", { scaleToZeroRetention: "soon" }],
  ["containerConcurrency 0", { containerConcurrency: 0 }],
  ["containerConcurrency 1000", { containerConcurrency: 1000 }],
  ["containerConcurrency 1001", { containerConcurrency: 1001 }],
  ["timeoutSeconds 0", { timeoutSeconds: 0 }],
  ["timeoutSeconds 600", { timeoutSeconds: 600 }],
  ["timeoutSeconds 601", { timeoutSeconds: 601 }],
  ["resources all", { resources: { cpuRequest: "250m", cpuLimit: "1", memoryRequest: "128Mi", memoryLimit: "1Gi", gpu: 1 } }],
  ["resources gpu 0", { resources: { gpu: 0 } }],
  ["resources bad quantity", { resources: { cpuRequest: "lots" } }],
  ["env", {}, { A: "1", LONG: "x".repeat(1000) }],
  ["env reserved", {}, { K_SERVICE: "x" }],
  ["traffic latest", { traffic: [{ ...latest, percent: 100 }] }],
  ["traffic tag at 63", { traffic: [{ ...latest, percent: 100, tag: "t".repeat(63 - ID.length - 1) }] }],
  ["traffic tag at 64", { traffic: [{ ...latest, percent: 100, tag: "t".repeat(64 - ID.length - 1) }] }],
  ["traffic tag not DNS-1035", { traffic: [{ ...latest, percent: 100, tag: "Canary" }] }],
  ["traffic split with tags", { traffic: [{ revision: `${ID}-old0000000`, latest: false, percent: 70, tag: "stable" }, { ...latest, percent: 30, tag: "canary" }] }],
  ["traffic duplicate tags", { traffic: [{ revision: `${ID}-old0000000`, latest: false, percent: 50, tag: "a" }, { ...latest, percent: 50, tag: "a" }] }],
  ["everything", { minScale: 1, maxScale: 10, target: 50, scaleToZeroRetention: "5m", containerConcurrency: 8, timeoutSeconds: 120, resources: { cpuLimit: "2", memoryLimit: "512Mi" } }],
];

/** Whether the agent accepts the spec: the rules every platform shares (domain), then Knative's own. */
function agentAccepts(s: DeploySpec): boolean {
  try {
    validateOptions(s.options);
    validateKnativeSpec(s);
    return true;
  } catch {
    return false;
  }
}

/** Whether the Route, with every referenced revision ready, would be Ready (no ErrorConfig etc.). */
function routeReady(svc: KnativeService): boolean {
  const names = [svc.spec.template.metadata.name as string, ...((svc.spec.traffic ?? []) as { revisionName?: string }[]).map((t) => t.revisionName).filter((n): n is string => !!n)];
  const states = new Map(names.map((n) => [n, { phase: "ready" as const }]));
  const status = computeServiceStatus({ ...svc, metadata: { ...svc.metadata, generation: 1 } }, names[0]!, states, new Map(), "example.com");
  return status.conditions.find((c: { type: string }) => c.type === "Ready")?.status === "True";
}

describe("the Knative objects the agent renders, for every option", () => {
  const api = new FakeApiServer();
  const schema = crdValidator();
  let url = "";
  beforeAll(async () => {
    url = `${await api.listen()}/apis/serving.knative.dev/v1/namespaces/default/services`;
  });
  afterAll(() => api.close());
  const send = async (method: string, path: string, body: unknown) => {
    const res = await fetch(url + path, { method, headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as KnativeService };
  };
  const remove = async (name: string) => {
    await fetch(`${url}/${name}`, { method: "DELETE" });
  };

  it.each(CASES)("%s: the agent accepts exactly what Knative accepts, on create and on each update", async (_name, options, env) => {
    const s = base(options, env);
    const object = render(s);
    const accepted = agentAccepts(s);
    const schemaErrors = schema(object);
    const created = await send("POST", "", object);
    try {
      if (!accepted) {
        // Refused by the agent: Knative refuses it (schema, admission), or the Route fails after it.
        expect(schemaErrors.length > 0 || created.status !== 201 || !routeReady(created.body), JSON.stringify(created.body).slice(0, 300)).toBe(true);
        return;
      }
      expect(schemaErrors, "CRD schema").toEqual([]);
      expect(created.status, JSON.stringify(created.body).slice(0, 500)).toBe(201);
      expect(routeReady(created.body), "route").toBe(true);

      // An update to a new revision (a changed image) from a plain stored Service.
      const next = render(s, "dev.local/opt-fn:ffffffffffffffffffff");
      const stored = created.body;
      const renamed = await send("PUT", `/${ID}`, { ...next, metadata: { ...stored.metadata } });
      expect(renamed.status, JSON.stringify(renamed.body).slice(0, 500)).toBe(200);

      // The same revision with other traffic, as the agent sends it: the stored template kept.
      const traffic = renderTraffic([{ revision: stored.spec.template.metadata.name, latest: false, percent: 100, tag: "" }]);
      const kept = await send("PUT", `/${ID}`, { ...renamed.body, spec: { ...renamed.body.spec, traffic } });
      expect(kept.status, JSON.stringify(kept.body).slice(0, 500)).toBe(200);
      // ...whereas a fresh render under the same name is refused whenever Knative's defaults filled
      // anything in (timeoutSeconds, containerConcurrency, a probe field...).
      const fresh = { ...next, metadata: { ...kept.body.metadata }, spec: { ...next.spec, traffic } };
      const differs = templateChanges(kept.body.spec.template, next.spec.template).length > 0;
      expect(differs).toBe(options.timeoutSeconds === undefined || options.containerConcurrency === undefined);
      const resent = await send("PUT", `/${ID}`, fresh);
      expect(resent.status).toBe(differs ? 400 : 200);
      if (differs) expect(resent.body.message).toMatch(/Saw the following changes without a name change/);
    } finally {
      await remove(ID);
    }
  });
});
