import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FaasAgent } from "../gen/faas/v1/agent_pb.ts";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.ts";
import { isFaasError } from "../src/domain/errors.ts";
import { validateOptions, validateTraffic } from "../src/domain/options.ts";
import { deployOptions } from "../src/cli/options.ts";
import { postJson, startTestAgent, type TestAgent } from "./support/agent.ts";

const HANDLER = "def handle(req):\n    return req\n";

function fieldOfError(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (isFaasError(error)) return `${error.reason} ${error.metadata.field}: ${error.message}`;
    throw error;
  }
  throw new Error("no error");
}

describe("deploy options: what every platform agrees on", () => {
  it("accepts a full set and keeps unset fields unset", () => {
    const out = validateOptions({
      minScale: 0,
      maxScale: 5,
      target: 10,
      scaleToZeroRetention: "1m30s",
      resources: { cpuRequest: "250m", memoryLimit: "512Mi", gpu: 1 },
      traffic: [
        { revision: "", latest: true, percent: 80, tag: "" },
        { revision: "hello-abc", latest: false, percent: 20, tag: "old" },
      ],
    });
    expect(out).toEqual({
      minScale: 0,
      maxScale: 5,
      target: 10,
      scaleToZeroRetention: "1m30s",
      resources: { cpuRequest: "250m", memoryLimit: "512Mi", gpu: 1 },
      traffic: [
        { revision: "", latest: true, percent: 80, tag: "" },
        { revision: "hello-abc", latest: false, percent: 20, tag: "old" },
      ],
    });
    expect(validateOptions(undefined)).toEqual({});
  });

  it("refuses bad values naming the field", () => {
    expect(fieldOfError(() => validateOptions({ minScale: 3, maxScale: 2 }))).toBe(
      "INVALID_REQUEST options.max_scale: options.max_scale=2 is less than options.min_scale=3",
    );
    expect(fieldOfError(() => validateOptions({ target: 0 }))).toMatch(/^INVALID_REQUEST options.target:/);
    expect(fieldOfError(() => validateOptions({ scaleToZeroRetention: "5 minutes" }))).toMatch(/^INVALID_REQUEST options.scale_to_zero_retention:/);
    expect(fieldOfError(() => validateOptions({ resources: { cpuLimit: "two" } }))).toMatch(/^INVALID_REQUEST options.resources.cpu_limit:/);
    expect(fieldOfError(() => validateOptions({ resources: { memoryRequest: "1 GB" } }))).toMatch(/^INVALID_REQUEST options.resources.memory_request:/);
    expect(fieldOfError(() => validateOptions({ workers: 0 }))).toMatch(/^INVALID_REQUEST options.workers:/);
  });

  it("checks traffic splits the way Knative's webhook does", () => {
    const latest = (percent: number, tag = "") => ({ revision: "", latest: true, percent, tag });
    const rev = (revision: string, percent: number, tag = "") => ({ revision, latest: false, percent, tag });
    expect(fieldOfError(() => validateTraffic([latest(50), rev("a-1", 40)]))).toBe("INVALID_REQUEST traffic: traffic: traffic shares sum to 90, want 100");
    expect(fieldOfError(() => validateTraffic([{ revision: "a-1", latest: true, percent: 100, tag: "" }]))).toMatch(/^INVALID_REQUEST traffic\[0\]: .*exactly one of revision and latest/);
    expect(fieldOfError(() => validateTraffic([{ revision: "", latest: false, percent: 100, tag: "" }]))).toMatch(/exactly one of revision and latest/);
    expect(fieldOfError(() => validateTraffic([latest(50, "x"), rev("a-1", 50, "x")]))).toMatch(/^INVALID_REQUEST traffic\[1\].tag: .*used twice/);
    expect(fieldOfError(() => validateTraffic([latest(100, "Bad_Tag")]))).toMatch(/^INVALID_REQUEST traffic\[0\].tag:/);
    expect(fieldOfError(() => validateTraffic([]))).toMatch(/at least one share/);
    expect(validateTraffic([latest(100)])).toEqual([latest(100)]);
  });
});

describe("deploy options on a platform without them (local)", () => {
  let agent: TestAgent;
  beforeAll(async () => {
    agent = await startTestAgent();
  });
  afterAll(async () => {
    await agent?.dispose();
  });

  it("refuses an option the platform does not honour, over REST and gRPC", async () => {
    const rest = await postJson(`${agent.url}/deploy`, { id: "opt-a", handler: HANDLER, options: { min_scale: 1 } });
    expect(rest.status).toBe(400);
    expect(rest.body).toMatchObject({ reason: "INVALID_REQUEST", field: "options.min_scale", error: "options.min_scale is not supported by the local platform" });

    const client = createClient(FaasAgent, createGrpcTransport({ baseUrl: agent.url }));
    const err = await (async () => {
      for await (const _ of client.deploy({ id: "opt-a", handler: HANDLER, options: { resources: { gpu: 1 } } })) void _;
    })().catch((e: unknown) => ConnectError.from(e));
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.InvalidArgument);
    expect((err as ConnectError).findDetails(ErrorInfoSchema)[0]?.metadata.field).toBe("options.resources");
    // Nothing was deployed.
    expect((await client.list({})).functions.map((f) => f.id)).not.toContain("opt-a");
  });

  it("refuses malformed options JSON and bad values before anything else", async () => {
    const unknownField = await postJson(`${agent.url}/deploy`, { id: "opt-b", handler: HANDLER, options: { min_scael: 1 } });
    expect(unknownField.status).toBe(400);
    expect(unknownField.body.field).toBe("options");
    const badSplit = await postJson(`${agent.url}/deploy`, {
      id: "opt-b",
      handler: HANDLER,
      options: { traffic: [{ latest: true, percent: 60 }] },
    });
    expect(badSplit.status).toBe(400);
    expect(badSplit.body.error).toMatch(/sum to 60, want 100/);
  });

  it("answers dry runs and traffic changes with unimplemented / 501", async () => {
    const dry = await postJson(`${agent.url}/deploy`, { id: "opt-c", handler: HANDLER, dry_run: true });
    expect(dry.status).toBe(501);
    expect(dry.body).toMatchObject({ reason: "UNSUPPORTED", platform: "local", error: "dry run is not supported by the local platform" });
    const traffic = await postJson(`${agent.url}/traffic`, { id: "opt-c", traffic: [{ latest: true, percent: 100 }] });
    expect(traffic.status).toBe(501);
    expect(traffic.body.reason).toBe("UNSUPPORTED");

    const client = createClient(FaasAgent, createGrpcTransport({ baseUrl: agent.url }));
    const err = await client.setTraffic({ id: "opt-c", traffic: [{ latest: true, percent: 100 }] }).catch((e: unknown) => ConnectError.from(e));
    expect((err as ConnectError).code).toBe(Code.Unimplemented);
    // A plain deploy still works after all of that.
    const ok = await postJson(`${agent.url}/deploy`, { id: "opt-c", handler: HANDLER });
    expect(ok.status).toBe(200);
  });
});

describe("faas deploy option flags", () => {
  it("turn into DeployOptions, --workers included", () => {
    expect(deployOptions({ workers: "4", "min-scale": "1", gpu: "2" })).toEqual({ workers: 4, minScale: 1, resources: { gpu: 2 } });
    expect(deployOptions({})).toBeUndefined();
    expect(() => deployOptions({ workers: "four" })).toThrow(/--workers takes a whole number, got "four"/);
  });
});
