/** `faas invoke --async`, `faas invocations [ID]` and `faas invocations watch ID` against a real agent. */
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deploy, startTestAgent, type TestAgent } from "./support/agent.ts";
import { GATED_HANDLER, startGate } from "./support/async.ts";

const BIN = fileURLToPath(new URL("../src/cli/bin.js", import.meta.url));
let agent: TestAgent;
let gate: Awaited<ReturnType<typeof startGate>>;

function faas(args: string[]) {
  return execa("node", [BIN, ...args], { reject: false, input: "", env: { FAAS_AGENT_URL: agent.url, FAAS_TOKEN: "" }, timeout: 60_000 });
}

beforeAll(async () => {
  gate = await startGate();
  agent = await startTestAgent();
  await deploy(agent, { id: "gated", handler: GATED_HANDLER });
});
afterAll(async () => {
  gate?.close();
  await agent?.dispose();
});

describe("faas invocations", () => {
  it("invoke --async prints the id; watch follows it to the result; list and show find it", async () => {
    const accepted = await faas(["invoke", "gated", "--async", "--data", JSON.stringify({ gate: gate.port, tag: "cli" }), "--idempotency-key", "cli-1"]);
    expect(accepted.stderr).toBe("");
    expect(accepted.exitCode).toBe(0);
    const id = accepted.stdout.trim();
    expect(id).toMatch(/^inv-[0-9a-f]{32}$/);
    const again = await faas(["invoke", "gated", "--async", "--data", "{}", "--idempotency-key", "cli-1"]);
    expect(again.stdout.trim()).toBe(id);
    expect(again.stderr).toMatch(/already accepted with that idempotency key/);
    await gate.arrived("cli");
    const watching = faas(["invocations", "watch", id]);
    gate.release("cli");
    const watched = await watching;
    expect(watched.exitCode).toBe(0);
    expect(watched.stdout).toMatch(/succeeded {2}attempt 1\/3/);
    expect(watched.stdout).toContain('"tag": "cli"');
    const list = await faas(["invocations", "--function", "gated", "--status", "succeeded"]);
    expect(list.stdout).toMatch(new RegExp(`${id}\\s+gated\\s+succeeded\\s+1/3`));
    const shown = await faas(["invocations", id]);
    expect(shown.stdout).toMatch(/status: {4}succeeded/);
    expect(shown.stdout).toContain('result:    {"tag":"cli"}');
    const json = await faas(["invocations", id, "-o", "json"]);
    expect(JSON.parse(json.stdout).invocation).toMatchObject({ invocationId: id, status: "succeeded", result: { tag: "cli" } });
  });

  it("watch of a failing invocation exits 1 with the function's error; usage errors are precise", async () => {
    const id = (await faas(["invoke", "gated", "--async", "--data", '{"fail": true}'])).stdout.trim();
    const watched = await faas(["invocations", "watch", id]);
    expect(watched.exitCode).toBe(1);
    expect(watched.stdout).toMatch(/failed {2}attempt 1\/3 {2}FUNCTION_ERROR/);
    expect(watched.stderr).toContain("ValueError: asked to fail");
    const both = await faas(["invoke", "gated", "--async", "--stream"]);
    expect(both.exitCode).toBe(2);
    expect(both.stderr).toContain("--stream and --async do not go together");
    const stray = await faas(["invoke", "gated", "--callback", "http://127.0.0.1:1/"]);
    expect(stray.stderr).toContain("need --async");
    const status = await faas(["invocations", "--status", "done"]);
    expect(status.exitCode).toBe(2);
    const unknown = await faas(["invocations", `inv-${"0".repeat(32)}`]);
    expect(unknown.exitCode).not.toBe(0);
    expect(unknown.stderr).toMatch(/not found/);
  });
});
