import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FaasAgent } from "../gen/faas/v1/agent_pb.ts";
import { postJson, startTestAgent, type TestAgent } from "./support/agent.ts";

const TOKEN = "metrics-test-token";
const AUTH = { authorization: `Bearer ${TOKEN}` };

/** One sample of the Prometheus text format: name, labels, value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the text exposition format (the subset prom-client writes: no timestamps, escaped label values). */
function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

function value(samples: Sample[], name: string, labels: Record<string, string>): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

async function scrape(agent: TestAgent): Promise<{ text: string; samples: Sample[] }> {
  const res = await fetch(`${agent.url}/metrics`, { headers: AUTH });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  return { text, samples: parse(text) };
}

async function deploy(agent: TestAgent, id: string, handler: string): Promise<void> {
  const res = await postJson(`${agent.url}/deploy`, { id, handler }, AUTH);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
}

describe("GET /metrics", () => {
  let agent: TestAgent;
  let grpc: Client<typeof FaasAgent>;
  beforeAll(async () => {
    agent = await startTestAgent({ FAAS_AUTH_TOKEN: TOKEN });
    grpc = createClient(FaasAgent, createGrpcTransport({ baseUrl: agent.url, interceptors: [(next) => (req) => (req.header.set("authorization", AUTH.authorization), next(req))] }));
    await deploy(agent, "counted-rest", "def handle(req):\n    return req");
    await deploy(agent, "counted-grpc", "def handle(req):\n    return {'n': req['n'] * 2}");
    await deploy(agent, "raises", "def handle(req):\n    return 1 / 0");
  });
  afterAll(async () => {
    await agent?.dispose();
  });

  it("needs the API's token, like every other route but health", async () => {
    expect((await fetch(`${agent.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${agent.url}/metrics`, { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
    const res = await fetch(`${agent.url}/metrics`, { headers: AUTH });
    expect(res.status).toBe(200);
    await res.text();
  });

  it("counts N REST calls as gateway_function_invocation_total{code=\"200\"} N, with their latency histogram", async () => {
    const N = 7;
    for (let i = 0; i < N; i++) {
      const res = await postJson(`${agent.url}/invoke`, { id: "counted-rest", payload: { i } }, AUTH);
      expect(res.status).toBe(200);
    }
    const { text, samples } = await scrape(agent);
    expect(text).toContain(`gateway_function_invocation_total{function_name="counted-rest",code="200"} ${N}`);
    expect(value(samples, "gateway_function_invocation_started", { function_name: "counted-rest" })).toBe(N);
    expect(value(samples, "gateway_functions_seconds_count", { function_name: "counted-rest", code: "200" })).toBe(N);
    expect(value(samples, "gateway_functions_seconds_bucket", { function_name: "counted-rest", code: "200", le: "+Inf" })).toBe(N);
    const sum = value(samples, "gateway_functions_seconds_sum", { function_name: "counted-rest", code: "200" })!;
    expect(sum).toBeGreaterThan(0);
    expect(sum).toBeLessThan(N * 10);
    // Buckets are cumulative and end at the count.
    const buckets = samples.filter((s) => s.name === "gateway_functions_seconds_bucket" && s.labels.function_name === "counted-rest");
    expect(buckets.map((b) => b.labels.le)).toEqual(["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]);
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value);
    // The first call started the worker (deploy leaves it running on the local platform, so: 0 or 1).
    expect(value(samples, "faas_cold_starts_total", { function_name: "counted-rest" }) ?? 0).toBeLessThanOrEqual(1);
    expect(value(samples, "faas_inflight_invocations", { function_name: "counted-rest" })).toBe(0);
  });

  it("counts N gRPC calls the same way", async () => {
    const N = 5;
    for (let i = 0; i < N; i++) {
      const res = await grpc.invoke({ id: "counted-grpc", payload: { kind: { case: "structValue", value: { fields: { n: { kind: { case: "numberValue", value: i } } } } } } });
      expect(res.result?.kind).toEqual({ case: "structValue", value: expect.objectContaining({ fields: { n: expect.objectContaining({ kind: { case: "numberValue", value: i * 2 } }) } }) });
    }
    const { text } = await scrape(agent);
    expect(text).toContain(`gateway_function_invocation_total{function_name="counted-grpc",code="200"} ${N}`);
  });

  it("labels a failed call with the REST status of its error, over gRPC as over REST", async () => {
    const rest = await postJson(`${agent.url}/invoke`, { id: "raises" }, AUTH);
    expect(rest.status).toBe(500);
    await expect(grpc.invoke({ id: "raises" })).rejects.toThrow(/ZeroDivisionError/);
    const { samples } = await scrape(agent);
    expect(value(samples, "gateway_function_invocation_total", { function_name: "raises", code: "500" })).toBe(2);
    expect(value(samples, "gateway_function_invocation_total", { function_name: "raises", code: "200" })).toBeUndefined();
  });

  it("makes no series for ids that name no function", async () => {
    const res = await postJson(`${agent.url}/invoke`, { id: "no-such-function" }, AUTH);
    expect(res.status).toBe(404);
    await expect(grpc.invoke({ id: "no-such-function-either" })).rejects.toThrow(/not found/);
    const { text } = await scrape(agent);
    expect(text).not.toContain("no-such-function");
  });

  it("counts deploys by platform and result, and functions by state", async () => {
    const failed = await postJson(`${agent.url}/deploy`, { id: "broken", handler: "def handle(req):\n    return (" }, AUTH);
    expect(failed.status).toBe(400);
    const { samples } = await scrape(agent);
    expect(value(samples, "faas_deploys_total", { platform: "local", result: "success" })).toBe(3);
    expect(value(samples, "faas_deploys_total", { platform: "local", result: "cancelled" })).toBeUndefined();
    expect(value(samples, "faas_deploys_total", { platform: "local", result: "failure" })).toBe(1);
    expect(value(samples, "faas_deploy_duration_seconds_count", { platform: "local", result: "success" })).toBe(3);
    const functions = samples.filter((s) => s.name === "faas_functions" && s.labels.platform === "local").reduce((n, s) => n + s.value, 0);
    expect(functions).toBe(3);
  });

  it("counts a worker that died while serving as a restart, and the call after it as a cold start", async () => {
    await deploy(agent, "crasher", "import os\ndef handle(req):\n    if req.get('die'):\n        os._exit(3)\n    return 'ok'");
    const died = await postJson(`${agent.url}/invoke`, { id: "crasher", payload: { die: true } }, AUTH);
    expect(died.status).toBe(500);
    expect(died.body.reason).toBe("WORKER_CRASHED");
    // The exit is seen when the process is reaped, which may follow the failed call: wait for it.
    const deadline = Date.now() + 20_000;
    let restarts: number | undefined;
    while (restarts === undefined && Date.now() < deadline) {
      restarts = value((await scrape(agent)).samples, "faas_worker_restarts_total", { function_name: "crasher", reason: "exited" });
    }
    expect(restarts).toBe(1);
    const again = await postJson(`${agent.url}/invoke`, { id: "crasher", payload: {} }, AUTH);
    expect(again.body).toMatchObject({ result: "ok", cold_start: true });
    const { samples } = await scrape(agent);
    expect(value(samples, "faas_cold_starts_total", { function_name: "crasher" })).toBe(1);
    expect(value(samples, "gateway_function_invocation_total", { function_name: "crasher", code: "500" })).toBe(1);
    expect(value(samples, "gateway_function_invocation_total", { function_name: "crasher", code: "200" })).toBe(1);
  });

  it("reports the process's default metrics", async () => {
    const { samples } = await scrape(agent);
    expect(value(samples, "process_cpu_user_seconds_total", {})).toBeGreaterThan(0);
    expect(value(samples, "nodejs_heap_size_used_bytes", {})).toBeGreaterThan(0);
  });

  it("drops a deleted function's series", async () => {
    const res = await postJson(`${agent.url}/delete`, { id: "raises" }, AUTH);
    expect(res.status).toBe(200);
    const { text } = await scrape(agent);
    expect(text).not.toContain('function_name="raises"');
    expect(text).toContain('function_name="counted-rest"');
  });
});
