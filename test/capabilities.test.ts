import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { createValidateInterceptor } from "@connectrpc/validate";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FaasAgent } from "../gen/faas/v1/agent_pb.ts";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.ts";
import { startAgent, type RunningAgent } from "../src/agent.ts";
import { loadConfig } from "../src/config.ts";
import type { Capabilities } from "../src/domain/types.ts";
import { AgentCore } from "../src/service/core.ts";
import { createFaasAgentService } from "../src/service/connect.ts";
import { errorInterceptor } from "../src/server/errors.ts";
import { createFakePlatform } from "./support/fake-platform.ts";
import { getJson, postJson } from "./support/agent.ts";

/** The FaasAgent service over an in-memory transport, with the server's error and validation interceptors. */
function clientOver(capabilities: Partial<Capabilities>, name: "local" | "knative" = "local") {
  const platform = createFakePlatform({ name, capabilities });
  const core = new AgentCore({ platform, workflow: "local", version: "test", deployTimeoutMs: 10_000 });
  const transport = createRouterTransport((router) => router.service(FaasAgent, createFaasAgentService(core)), {
    router: { interceptors: [errorInterceptor(pino({ level: "silent" })), createValidateInterceptor()] },
  });
  return { client: createClient(FaasAgent, transport), platform };
}

async function rejection(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("expected the call to fail");
}

describe("Capabilities over the router transport", () => {
  it("reports the declared capabilities, options by proto name in DeployOptions order", async () => {
    const { client } = clientOver({ options: new Set(["workers", "minScale", "resources"]), dryRun: true, traffic: true }, "knative");
    const caps = await client.capabilities({});
    expect(caps).toMatchObject({ platform: "knative", options: ["min_scale", "resources", "workers"], dryRun: true, traffic: true, logsFollow: true });
  });

  it("answers an unsupported operation with unimplemented, reason UNSUPPORTED, without calling the platform", async () => {
    const { client, platform } = clientOver({ logsFollow: false });
    const traffic = await rejection(client.setTraffic({ id: "fn", traffic: [{ latest: true, percent: 100 }] }));
    expect(traffic.code).toBe(Code.Unimplemented);
    expect(traffic.findDetails(ErrorInfoSchema)[0]).toMatchObject({ reason: "UNSUPPORTED", metadata: { platform: "local" } });
    const dryRun = await rejection((async () => {
      for await (const _ of client.deploy({ id: "fn", handler: "def handle(r): return r", dryRun: true }));
    })());
    expect(dryRun.code).toBe(Code.Unimplemented);
    expect(dryRun.rawMessage).toBe("dry run is not supported by the local platform");
    const follow = await rejection((async () => {
      for await (const _ of client.logs({ id: "fn", follow: true }));
    })());
    expect(follow.code).toBe(Code.Unimplemented);
    expect(platform.calls).toEqual([]);
  });

  it("answers an unsupported option with invalid_argument naming it", async () => {
    const { client } = clientOver({ options: new Set(["minScale"]) });
    const error = await rejection((async () => {
      for await (const _ of client.deploy({ id: "fn", handler: "def handle(r): return r", options: { minScale: 1, timeoutSeconds: 5 } }));
    })());
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.findDetails(ErrorInfoSchema)[0]?.metadata.field).toBe("options.timeout_seconds");
  });
});

describe("GET /capabilities", () => {
  let agent: RunningAgent;
  beforeAll(async () => {
    const env = { PORT: "0", FAAS_HOST: "127.0.0.1", FAAS_AUTH_TOKEN: "tok" };
    const platform = createFakePlatform({ name: "knative", capabilities: { options: new Set(["target", "traffic"]), dryRun: true, traffic: true } });
    agent = await startAgent(loadConfig(env), pino({ level: "silent" }), env, { platform });
  });
  afterAll(async () => {
    await agent?.stop();
  });

  it("returns the capabilities in the REST routes' snake_case, every field present", async () => {
    const res = await getJson(`${agent.url}/capabilities`, { authorization: "Bearer tok" });
    expect(res).toEqual({
      status: 200,
      body: { platform: "knative", options: ["target", "traffic"], dry_run: true, traffic: true, logs_follow: true, streaming: "STREAMING_MODE_INCREMENTAL" },
    });
  });

  it("needs the token like every route but /health", async () => {
    expect((await getJson(`${agent.url}/capabilities`)).status).toBe(401);
  });

  it("is GET only", async () => {
    expect((await postJson(`${agent.url}/capabilities`, {}, { authorization: "Bearer tok" })).status).toBe(405);
  });
});
