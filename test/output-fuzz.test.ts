import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deploy, getJson, postJson, startTestAgent, type TestAgent } from "./support/agent.ts";

/** Random bytes (invalid UTF-8, NULs, lone CRs, no newline at all) on a worker's stdout and stderr, at import and during calls: the agent keeps serving. */
describe("stdout/stderr fuzz", { timeout: 60_000 }, () => {
  let agent: TestAgent;
  beforeAll(async () => {
    agent = await startTestAgent({ FAAS_IDLE_TIMEOUT: "0" });
    await deploy(agent, { id: "bystander", handler: "def handle(req):\n    return 'ok'" });
  });
  afterAll(async () => {
    await agent?.dispose();
  });

  it("random bytes at import and in calls never hurt the agent", async () => {
    const seed = randomBytes(4000).toString("hex");
    await deploy(agent, {
      id: "noisy",
      handler: `import os\nos.write(1, bytes.fromhex('${seed}'))\nos.write(2, bytes.fromhex('${seed}'))\ndef handle(req):\n    data = bytes.fromhex(req['hex'])\n    os.write(1 + req['fd'], data)\n    return len(data)`,
    });
    for (let i = 0; i < 20; i++) {
      const bytes = randomBytes(1 + ((i * 7919) % 200_000));
      const res = await postJson(`${agent.url}/invoke`, { id: "noisy", payload: { hex: bytes.toString("hex"), fd: i % 2 } });
      expect(res.status).toBe(200);
      expect(res.body.result).toBe(bytes.length);
    }
    expect((await getJson(`${agent.url}/health`)).status).toBe(200);
    expect((await postJson(`${agent.url}/invoke`, { id: "bystander" })).body.result).toBe("ok");
  });
});
