import { describe, expect, it } from "vitest";
import { renderService } from "../src/adapters/knative/service.ts";
import { functionInfo, rollout } from "../src/adapters/knative/status.ts";
import { goDurationSeconds, validateKnativeSpec } from "../src/adapters/knative/validate.ts";
import { isFaasError } from "../src/domain/errors.ts";
import { validateOptions } from "../src/domain/options.ts";
import type { DeploySpec } from "../src/domain/types.ts";
import { readFileSync } from "node:fs";
import { crdValidator } from "./support/knative/schema.ts";

// The adapter's pure parts, without a cluster: its own rules, the object it renders, and how it
// reads Knative's status (checked against the captured and synthesized fixtures).
const spec = (over: Partial<DeploySpec> = {}): DeploySpec => ({ id: "hello", handler: "def handle(r):\n    return r\n", requirements: "", params: {}, env: {}, options: {}, ...over });
const fixture = (name: string) => JSON.parse(readFileSync(new URL(`./fixtures/knative/${name}`, import.meta.url), "utf8"));

/** The agent's verdict: the rules every platform shares (domain), then Knative's own. */
function refusal(s: DeploySpec): string {
  try {
    validateOptions(s.options);
    validateKnativeSpec(s);
  } catch (error) {
    if (isFaasError(error)) return `${error.metadata.field}: ${error.message}`;
    throw error;
  }
  return "accepted";
}

describe("knative adapter: validation", () => {
  it("refuses what Knative's webhook refuses, naming the field", () => {
    expect(refusal(spec({ id: "a".repeat(53) }))).toMatch(/^id: id must be at most 52 characters/);
    expect(refusal(spec({ options: { scaleToZeroRetention: "2h" } }))).toMatch(/^options.scale_to_zero_retention:/);
    expect(refusal(spec({ options: { scaleToZeroRetention: "soon" } }))).toMatch(/^options.scale_to_zero_retention:/);
    expect(refusal(spec({ options: { minScale: 3, maxScale: 2 } }))).toBe("options.max_scale: options.max_scale=2 is less than options.min_scale=3");
    expect(refusal(spec({ options: { resources: { memoryLimit: "lots" } } }))).toMatch(/^options.resources.memory_limit:/);
    expect(refusal(spec({ env: { K_CONFIGURATION: "x" } }))).toMatch(/^env: K_CONFIGURATION is a reserved environment variable/);
    expect(refusal(spec({ options: { traffic: [{ revision: "", latest: true, percent: 50, tag: "a" }, { revision: "hello-1", latest: false, percent: 50, tag: "a" }] } }))).toMatch(/^options.traffic\[1\].tag: .*used twice/);
    expect(refusal(spec({ options: { minScale: 2, maxScale: 0, timeoutSeconds: 600, containerConcurrency: 1000, scaleToZeroRetention: "1h" } }))).toBe("accepted");
  });

  it("reads Go durations", () => {
    expect(goDurationSeconds("1m30s")).toBe(90);
    expect(goDurationSeconds("500ms")).toBe(0.5);
    expect(goDurationSeconds("0")).toBe(0);
    expect(goDurationSeconds("1 m")).toBeUndefined();
    expect(goDurationSeconds("")).toBeUndefined();
  });
});

describe("knative adapter: the Service it renders", () => {
  const full = spec({
    env: { B: "2", A: "1" },
    options: {
      minScale: 1,
      maxScale: 5,
      target: 2.5,
      scaleToZeroRetention: "30s",
      containerConcurrency: 4,
      timeoutSeconds: 60,
      resources: { cpuRequest: "250m", cpuLimit: "1", memoryRequest: "128Mi", memoryLimit: "256Mi", gpu: 2 },
      traffic: [{ revision: "hello-old", latest: false, percent: 80, tag: "stable" }, { revision: "", latest: true, percent: 20, tag: "" }],
    },
  });
  const render = (s: DeploySpec) => renderService({ spec: s, namespace: "ns", image: "dev.local/hello:abc", contentHash: "abc", pythonVersion: "3.11" });

  it("is valid against the CRD and carries every option where Knative reads it", () => {
    const svc = render(full);
    expect(crdValidator()(svc)).toEqual([]);
    expect(svc.spec.traffic).toEqual([
      { revisionName: "hello-old", latestRevision: false, percent: 80, tag: "stable" },
      { latestRevision: true, percent: 20 },
    ]);
    expect(svc.spec.template.spec.containers[0].env).toEqual([{ name: "A", value: "1" }, { name: "B", value: "2" }]);
    expect(svc.spec.template.spec.containers[0].resources).toEqual({ requests: { cpu: "250m", memory: "128Mi" }, limits: { cpu: "1", memory: "256Mi", "nvidia.com/gpu": "2" } });
    expect(svc.spec.template.metadata.annotations["autoscaling.knative.dev/target"]).toBe("2.5");
  });

  it("names the revision by the template: same input, same name; any change, a new one", () => {
    const name = (s: DeploySpec) => render(s).spec.template.metadata.name;
    expect(name(full)).toBe(name(structuredClone(full)));
    expect(name(full)).toMatch(/^hello-[0-9a-f]{10}$/);
    expect(name({ ...full, env: { A: "1" } })).not.toBe(name(full));
    expect(name({ ...full, options: { ...full.options, timeoutSeconds: 61 } })).not.toBe(name(full));
    // Traffic is not part of the template: moving it keeps the revision.
    expect(name({ ...full, options: { ...full.options, traffic: undefined } })).toBe(name(full));
  });
});

describe("knative adapter: reading status", () => {
  it("reads the captured ready Service and the synthesized failed one", () => {
    const ready = fixture("knative-service-ready.json");
    expect(rollout(ready)).toEqual({ done: true, ready: true });
    const info = functionInfo(ready, undefined);
    expect(info).toMatchObject({ id: "pmml-demo-predictor-default", ready: true, state: "ready", endpoint: ready.status.url, revision: ready.status.latestReadyRevisionName });
    expect(info.traffic).toEqual([{ revision: ready.status.traffic[0].revisionName, latest: true, percent: 100, tag: "" }]);

    const failed = fixture("knative-service-failed.synthesized.json");
    expect(rollout(failed)).toEqual({ done: true, ready: false, reason: "RevisionMissing", message: 'Configuration "hello" does not have any ready Revision.' });
    expect(functionInfo(failed, undefined)).toMatchObject({ ready: false, state: "failed", revision: "hello-00001", message: 'RevisionMissing: Configuration "hello" does not have any ready Revision.' });
    expect(rollout({ ...failed, metadata: { ...failed.metadata, generation: 2 } })).toEqual({ done: false });
  });
});
