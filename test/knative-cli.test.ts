import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postJson, startTestAgent, type TestAgent } from "./support/agent.ts";
import { assertDocker, docker, skipDocker } from "./support/docker.ts";
import { startKnativeStandIn, type KnativeStandIn } from "./support/knative/index.ts";
import { crdValidator } from "./support/knative/schema.ts";

// The real `faas` binary against an agent on the knative platform (the stand-in behind it).
const BIN = fileURLToPath(new URL("../src/cli/bin.js", import.meta.url));

describe.skipIf(skipDocker)("faas CLI on the knative platform", () => {
  let kn: KnativeStandIn;
  let agent: TestAgent;
  let dir: string;
  beforeAll(async () => {
    assertDocker();
    kn = await startKnativeStandIn(docker);
    agent = await startTestAgent(kn.env);
    dir = await mkdtemp(join(tmpdir(), "faas-kn-cli-"));
  }, 120_000);
  afterAll(async () => {
    await agent?.dispose();
    await kn?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
    for (const image of await docker.listImages({ filters: { reference: ["dev.local/kn-cli"] } })) await docker.getImage(image.Id).remove({ force: true }).catch(() => undefined);
  });
  const faas = (args: string[]) => execa("node", [BIN, ...args], { reject: false, input: "", env: { FAAS_AGENT_URL: agent.url, FAAS_TOKEN: "" }, timeout: 60_000 });
  const handler = async (v: string) => {
    const path = join(dir, `${v}.py`);
    await writeFile(path, `def handle(req):\n    return "${v}"\n`);
    return path;
  };

  it("deploy --dry-run prints the Service the agent would apply, valid against the CRD, and applies nothing", async () => {
    const before = kn.api.requests.filter((r) => !r.startsWith("GET")).length;
    const res = await faas(["deploy", await handler("v1"), "--id", "kn-cli", "--dry-run", "--min-scale", "1", "--max-scale", "4", "--concurrency", "8", "--timeout", "20", "--cpu", "250m", "--memory", "256Mi", "--gpu", "1", "--env", "A=b"]);
    expect(res.exitCode, res.stderr).toBe(0);
    expect(res.stderr).toContain("serving.knative.dev/v1 Service");
    const object = JSON.parse(res.stdout);
    expect(crdValidator()(object)).toEqual([]);
    expect(object).toMatchObject({ apiVersion: "serving.knative.dev/v1", kind: "Service", metadata: { name: "kn-cli", namespace: "default" } });
    expect(object.spec.template.metadata.name).toMatch(/^kn-cli-[0-9a-f]{10}$/);
    expect(object.spec.template.metadata.annotations).toEqual({ "autoscaling.knative.dev/min-scale": "1", "autoscaling.knative.dev/max-scale": "4" });
    expect(object.spec.template.spec).toMatchObject({ containerConcurrency: 8, timeoutSeconds: 20 });
    expect(object.spec.template.spec.containers[0]).toMatchObject({
      image: expect.stringMatching(/^dev\.local\/kn-cli:[0-9a-f]{20}$/),
      env: [{ name: "A", value: "b" }],
      resources: { requests: { cpu: "250m", memory: "256Mi" }, limits: { cpu: "250m", memory: "256Mi", "nvidia.com/gpu": "1" } },
    });
    expect(kn.api.requests.filter((r) => !r.startsWith("GET")).length).toBe(before);
    expect(kn.api.store.get("services", "default", "kn-cli")).toBeUndefined();
    // The dry run names the image that the real deploy then builds.
    const deployed = await faas(["deploy", await handler("v1"), "--id", "kn-cli", "--min-scale", "1", "--max-scale", "4", "--concurrency", "8", "--timeout", "20", "--cpu", "250m", "--memory", "256Mi", "--gpu", "1", "--env", "A=b"]);
    expect(deployed.exitCode, deployed.stderr).toBe(0);
    const applied = kn.api.store.get("services", "default", "kn-cli")!;
    expect(applied.spec.template.metadata.name).toBe(object.spec.template.metadata.name);
    expect(applied.spec.template.spec.containers[0].image).toBe(object.spec.template.spec.containers[0].image);
  }, 60_000);

  it("the REST dry run answers the same object", async () => {
    const res = await postJson(`${agent.url}/deploy`, { id: "kn-cli", handler: 'def handle(req):\n    return "v1"\n', dry_run: true });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: "dry_run", kind: "serving.knative.dev/v1 Service" });
    expect(crdValidator()(res.body.object)).toEqual([]);
  });

  it("deploy --traffic keeps a share on the old revision; faas traffic moves it", async () => {
    const first = kn.api.store.get("services", "default", "kn-cli")!.status.latestReadyRevisionName;
    const res = await faas(["deploy", await handler("v2"), "--id", "kn-cli", "--traffic", `${first}=50`, "--traffic", "latest=50:next"]);
    expect(res.exitCode, res.stderr).toBe(0);
    const svc = kn.api.store.get("services", "default", "kn-cli")!;
    expect(svc.spec.traffic).toEqual([
      { revisionName: first, latestRevision: false, percent: 50 },
      { latestRevision: true, percent: 50, tag: "next" },
    ]);
    const moved = await faas(["traffic", "kn-cli", `${first}=100`]);
    expect(moved.exitCode, moved.stderr).toBe(0);
    expect(moved.stdout).toMatch(new RegExp(`^${first}\\s+100%\\s+no`, "m"));
    const asJson = await faas(["traffic", "kn-cli", "latest=100", "-o", "json"]);
    expect(JSON.parse(asJson.stdout).traffic).toEqual([expect.objectContaining({ latest: true, percent: 100 })]);
  }, 60_000);

  it("refuses bad flags as usage errors and bad values with the agent's error", async () => {
    expect((await faas(["traffic", "kn-cli", "half"])).exitCode).toBe(2);
    expect((await faas(["deploy", await handler("v3"), "--id", "kn-cli", "--min-scale", "two"])).exitCode).toBe(2);
    const tooLong = await faas(["deploy", await handler("v3"), "--id", "kn-cli", "--timeout", "601"]);
    expect(tooLong.exitCode).toBe(1);
    expect(tooLong.stderr).toMatch(/expected 0 <= 601 <= 600: timeoutSeconds/);
  }, 60_000); // three CLI processes: seconds each on a loaded machine
});
