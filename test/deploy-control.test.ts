import { join } from "node:path";
import { createClient, ConnectError, Code } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FaasAgent } from "../gen/faas/v1/agent_pb.ts";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.ts";
import { deploy, getJson, postJson, startTestAgent, type TestAgent } from "./support/agent.ts";
import { noProcessesMentioning, tcpBarrier, workerHostPids } from "./support/agent-process.ts";

/**
 * A deploy that outlives FAAS_DEPLOY_TIMEOUT is deadline_exceeded DEPLOY_TIMEOUT (HTTP 504) on
 * every protocol, not "cancelled by the caller"; a delete of a function whose deploy is running
 * cancels that deploy (its worker is killed) and answers at once instead of waiting behind it.
 */
// The import tells the test it started (a connection to its barrier: the sandbox shares the
// network, not the file system) and then never ends.
const stuckImport = (port: number, result: number) =>
  `import socket, time\n_held = socket.create_connection(("127.0.0.1", ${port}))\ntime.sleep(3600)\ndef handle(req):\n    return ${result}`;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

type Gate = Awaited<ReturnType<typeof tcpBarrier>>;
const gates: Gate[] = [];
/** A barrier of the test's own (closed after the file). */
async function newGate(): Promise<Gate> {
  const gate = await tcpBarrier();
  gates.push(gate);
  return gate;
}
afterAll(() => gates.forEach((g) => g.close()));

/** Waits until the stuck import of `id` has reached `gate`; its worker's pid as this machine sees it. */
async function stuckWorker(agent: TestAgent, gate: Gate, id: string, except: number[] = []): Promise<number> {
  await gate.next();
  const pids = (await workerHostPids(agent.stateDir, id)).filter((pid) => !except.includes(pid));
  expect(pids).toHaveLength(1);
  return pids[0]!;
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
    const gate = await newGate();
    const res = await postJson(`${agent.url}/deploy`, { id: "stuck-rest", handler: stuckImport(gate.port, 1) });
    expect(res.status).toBe(504);
    expect(res.body.reason).toBe("DEPLOY_TIMEOUT");
    expect(res.body.error).toContain("did not finish within 2 s (FAAS_DEPLOY_TIMEOUT)");
    // Nothing of its worker is left (the stuck import ran: it reached the barrier).
    await gate.next();
    await noProcessesMentioning(join(agent.stateDir, "functions", "stuck-rest"));
    expect((await getJson(`${agent.url}/functions`)).body.functions).toEqual([]);
  });

  it.each([
    ["Connect", () => createConnectTransport({ baseUrl: agent.url, httpVersion: "1.1" })],
    ["gRPC", () => createGrpcTransport({ baseUrl: agent.url })],
  ])("%s: deadline_exceeded with reason DEPLOY_TIMEOUT", async (_name, transport) => {
    const client = createClient(FaasAgent, transport());
    const gate = await newGate();
    const error = await (async () => {
      for await (const _ of client.deploy({ id: "stuck-rpc", handler: stuckImport(gate.port, 1) }));
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
    const serving = await workerHostPids(agent.stateDir, "victim");
    const gate = await newGate();
    const redeploy = postJson(`${agent.url}/deploy`, { id: "victim", handler: stuckImport(gate.port, 2) });
    const pid = await stuckWorker(agent, gate, "victim", serving);
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
    const gate = await newGate();
    const first = postJson(`${agent.url}/deploy`, { id: "newcomer", handler: stuckImport(gate.port, 3) });
    const pid = await stuckWorker(agent, gate, "newcomer");
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
