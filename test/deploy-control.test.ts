import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { createClient, ConnectError, Code } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FaasAgent } from "../gen/faas/v1/agent_pb.ts";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.ts";
import { deploy, getJson, postJson, startTestAgent, type TestAgent } from "./support/agent.ts";

/**
 * A deploy that outlives FAAS_DEPLOY_TIMEOUT is deadline_exceeded DEPLOY_TIMEOUT (HTTP 504) on
 * every protocol, not "cancelled by the caller"; a delete of a function whose deploy is running
 * cancels that deploy (its worker is killed) and answers at once instead of waiting behind it.
 */
const stuckImport = (pidFile: string, result: number) =>
  `import os, time\nopen(${JSON.stringify(pidFile)}, 'w').write(str(os.getpid()))\ntime.sleep(3600)\ndef handle(req):\n    return ${result}`;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function pidFrom(path: string): Promise<number> {
  let text = "";
  await expect.poll(async () => (text = await readFile(path, "utf8").catch(() => "")), { timeout: 20_000, interval: 50 }).not.toBe("");
  return Number(text);
}

describe("FAAS_DEPLOY_TIMEOUT", { timeout: 60_000 }, () => {
  let agent: TestAgent;
  beforeAll(async () => {
    agent = await startTestAgent({ FAAS_DEPLOY_TIMEOUT: "2", FAAS_IDLE_TIMEOUT: "0" });
  });
  afterAll(async () => {
    await agent?.dispose();
  });

  it("REST: 504 with reason DEPLOY_TIMEOUT, and the stuck import is killed", async () => {
    const pidFile = join(agent.stateDir, "rest.pid");
    const res = await postJson(`${agent.url}/deploy`, { id: "stuck-rest", handler: stuckImport(pidFile, 1) });
    expect(res.status).toBe(504);
    expect(res.body.reason).toBe("DEPLOY_TIMEOUT");
    expect(res.body.error).toContain("did not finish within 2 s (FAAS_DEPLOY_TIMEOUT)");
    await expect.poll(() => alive(Number(readFileSyncSafe(pidFile))), { timeout: 10_000 }).toBe(false);
    expect((await getJson(`${agent.url}/functions`)).body.functions).toEqual([]);
  });

  it.each([
    ["Connect", () => createConnectTransport({ baseUrl: agent.url, httpVersion: "1.1" })],
    ["gRPC", () => createGrpcTransport({ baseUrl: agent.url })],
  ])("%s: deadline_exceeded with reason DEPLOY_TIMEOUT", async (_name, transport) => {
    const client = createClient(FaasAgent, transport());
    const error = await (async () => {
      for await (const _ of client.deploy({ id: "stuck-rpc", handler: stuckImport(join(agent.stateDir, "rpc.pid"), 1) }));
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.DeadlineExceeded);
    expect((error as ConnectError).findDetails(ErrorInfoSchema)[0]?.reason).toBe("DEPLOY_TIMEOUT");
  });
});

describe("delete cancels a running deploy", { timeout: 60_000 }, () => {
  let agent: TestAgent;
  beforeAll(async () => {
    // A long deploy timeout: a delete that waited behind the deploy would take a minute.
    agent = await startTestAgent({ FAAS_DEPLOY_TIMEOUT: "60", FAAS_IDLE_TIMEOUT: "0" });
  });
  afterAll(async () => {
    await agent?.dispose();
  });

  it("of a redeploy: the delete answers at once, the deploy ends CANCELLED, its worker is gone, nothing is left", async () => {
    await deploy(agent, { id: "victim", handler: "def handle(req):\n    return 1" });
    const pidFile = join(agent.stateDir, "redeploy.pid");
    const redeploy = postJson(`${agent.url}/deploy`, { id: "victim", handler: stuckImport(pidFile, 2) });
    const pid = await pidFrom(pidFile);
    const started = Date.now();
    const del = await postJson(`${agent.url}/delete`, { id: "victim" });
    expect(del.status).toBe(200);
    expect(del.body).toEqual({ status: "deleted", platform: "local", function_id: "victim" });
    expect(Date.now() - started).toBeLessThan(15_000);
    const res = await redeploy;
    expect(res.status).toBe(499);
    expect(res.body.reason).toBe("CANCELLED");
    expect(res.body.error).toContain("the function was deleted while it ran");
    await expect.poll(() => alive(pid), { timeout: 10_000 }).toBe(false);
    expect((await getJson(`${agent.url}/functions`)).body.functions).toEqual([]);
    expect((await postJson(`${agent.url}/invoke`, { id: "victim" })).status).toBe(404);
  });

  it("of a first deploy: the delete succeeds (nothing remains), and the id can be deployed again", async () => {
    const pidFile = join(agent.stateDir, "first.pid");
    const first = postJson(`${agent.url}/deploy`, { id: "newcomer", handler: stuckImport(pidFile, 3) });
    const pid = await pidFrom(pidFile);
    const del = await postJson(`${agent.url}/delete`, { id: "newcomer" });
    expect(del.status).toBe(200);
    expect((await first).body.reason).toBe("CANCELLED");
    await expect.poll(() => alive(pid), { timeout: 10_000 }).toBe(false);
    await deploy(agent, { id: "newcomer", handler: "def handle(req):\n    return 'fresh'" });
    expect((await postJson(`${agent.url}/invoke`, { id: "newcomer" })).body.result).toBe("fresh");
  });

  it("a delete of a function with no deploy running is unchanged: 404 when it does not exist", async () => {
    const res = await postJson(`${agent.url}/delete`, { id: "never-was" });
    expect(res.status).toBe(404);
    expect(res.body.reason).toBe("FUNCTION_NOT_FOUND");
  });
});

/** A pid file's number, or 0 before it exists. */
function readFileSyncSafe(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "0";
  }
}
