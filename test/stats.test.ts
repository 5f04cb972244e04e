import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { toJson } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FaasAgent, GetResponseSchema } from "../gen/faas/v1/agent_pb.ts";
import { deploy, getJson, postJson, startTestAgent, type TestAgent } from "./support/agent.ts";

describe("FunctionStats in Get, List and GET /functions", () => {
  let agent: TestAgent;
  let grpc: Client<typeof FaasAgent>;
  let connect: Client<typeof FaasAgent>;
  const before = Date.now();
  beforeAll(async () => {
    agent = await startTestAgent();
    grpc = createClient(FaasAgent, createGrpcTransport({ baseUrl: agent.url }));
    connect = createClient(FaasAgent, createConnectTransport({ baseUrl: agent.url, httpVersion: "1.1" }));
    await deploy(agent, { id: "watched", handler: "def handle(req):\n    if req.get('fail'):\n        raise ValueError('asked to')\n    return req" });
    await deploy(agent, { id: "never-called", handler: "def handle(req):\n    return 1" });
    // 4 calls over REST, 3 over gRPC, 1 failure over Connect: counted once each, whatever the protocol.
    for (let i = 0; i < 4; i++) expect((await postJson(`${agent.url}/invoke`, { id: "watched", payload: { i } })).status).toBe(200);
    for (let i = 0; i < 3; i++) await grpc.invoke({ id: "watched" });
    await expect(connect.invoke({ id: "watched", payload: { kind: { case: "structValue", value: { fields: { fail: { kind: { case: "boolValue", value: true } } } } } } })).rejects.toThrow(/ValueError/);
  });
  afterAll(async () => {
    await agent?.dispose();
  });

  it("Get reports totals, the window's figures and its intervals", async () => {
    const { function: fn } = await grpc.get({ id: "watched" });
    const stats = fn!.stats!;
    expect(stats.invocations).toBe(8n);
    expect(stats.errors).toBe(1n);
    expect(stats.inflight).toBe(0);
    expect(stats.coldStarts).toBeLessThanOrEqual(1n);
    expect(stats.windowSeconds).toBe(300);
    expect(stats.recentInvocations).toBe(8n);
    expect(stats.recentErrors).toBe(1n);
    expect(stats.latencyP50Seconds).toBeGreaterThan(0);
    expect(stats.latencyP99Seconds).toBeGreaterThanOrEqual(stats.latencyP50Seconds);
    expect(stats.latencyP99Seconds).toBeLessThan(10);
    const last = Number(stats.lastInvokedAt!.seconds) * 1000;
    expect(last).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(last).toBeLessThanOrEqual(Date.now());
    expect(stats.intervals).toHaveLength(30);
    expect(stats.intervals.reduce((n, i) => n + i.invocations, 0n)).toBe(8n);
    expect(stats.intervals.every((i) => i.seconds === 10)).toBe(true);
    // The proto's JSON names, as Connect JSON clients and the CLI see them.
    const json = toJson(GetResponseSchema, await connect.get({ id: "watched" })) as { function: { stats: Record<string, unknown> } };
    expect(json.function.stats).toMatchObject({ invocations: "8", errors: "1", windowSeconds: 300, recentInvocations: "8" });
  });

  it("a function never called has zero stats and no last call", async () => {
    const { function: fn } = await connect.get({ id: "never-called" });
    expect(fn!.stats).toMatchObject({ invocations: 0n, errors: 0n, recentInvocations: 0n, latencyP50Seconds: 0, latencyP99Seconds: 0 });
    expect(fn!.stats!.lastInvokedAt).toBeUndefined();
  });

  it("List reports the same stats, without intervals", async () => {
    const { functions } = await grpc.list({});
    const watched = functions.find((f) => f.id === "watched")!;
    expect(watched.stats).toMatchObject({ invocations: 8n, errors: 1n, recentInvocations: 8n });
    expect(watched.stats!.intervals).toEqual([]);
  });

  it("GET /functions carries them in the seed's snake_case", async () => {
    const res = await getJson(`${agent.url}/functions`);
    const watched = res.body.functions.find((f: { id: string }) => f.id === "watched");
    expect(watched.stats).toMatchObject({ invocations: "8", errors: "1", cold_starts: expect.any(String), inflight: 0, window_seconds: 300, recent_invocations: "8", recent_errors: "1" });
    expect(watched.stats.latency_p50_seconds).toBeGreaterThan(0);
    expect(Date.parse(watched.stats.last_invoked_at)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(watched.stats).not.toHaveProperty("intervals");
  });

  it("a redeploy keeps the stats; a delete drops them", async () => {
    await deploy(agent, { id: "watched", handler: "def handle(req):\n    return 2" });
    expect((await grpc.get({ id: "watched" })).function!.stats!.invocations).toBe(8n);
    expect((await postJson(`${agent.url}/delete`, { id: "watched" })).status).toBe(200);
    await deploy(agent, { id: "watched", handler: "def handle(req):\n    return 3" });
    expect((await grpc.get({ id: "watched" })).function!.stats!.invocations).toBe(0n);
  });
});
