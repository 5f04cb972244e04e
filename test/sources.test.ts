import { stat } from "node:fs/promises";
import { join } from "node:path";
import { toJson, toJsonString } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FaasAgent, GetResponseSchema } from "../gen/faas/v1/agent_pb.ts";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.ts";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { DeployRequestSchema } from "../gen/faas/v1/agent_pb.ts";
import { startTestAgent, type TestAgent } from "./support/agent.ts";

// Get's `source` (handler, requirements, params, env names and never values) and Deploy's
// `keep_env`, against a real agent on the local platform through Connect.
const HANDLER = 'import os\ndef handle(req):\n    return {k: os.environ.get(k) for k in ("GREETING", "API_SECRET", "OTHER")}\n';
const SECRET = "s3cr3t-never-returned";

let agent: TestAgent;
let client: Client<typeof FaasAgent>;
beforeAll(async () => {
  agent = await startTestAgent();
  client = createClient(FaasAgent, createConnectTransport({ baseUrl: agent.url, httpVersion: "1.1" }));
});
afterAll(() => agent?.dispose());

async function deploy(req: MessageInitShape<typeof DeployRequestSchema>): Promise<void> {
  for await (const _ of client.deploy(req));
}

async function invokeEnv(id: string): Promise<unknown> {
  const res = await client.invoke({ id });
  return res.result && toJson(ValueSchema, res.result);
}

/** The error a call fails with: code, ErrorInfo field and message. */
async function failure(call: Promise<unknown>): Promise<{ code: Code; field?: string; message: string }> {
  try {
    await call;
  } catch (error) {
    const e = ConnectError.from(error);
    return { code: e.code, field: e.findDetails(ErrorInfoSchema)[0]?.metadata.field, message: e.rawMessage };
  }
  throw new Error("the call succeeded");
}

describe("function source", () => {
  it("Get returns the deployed handler, requirements, params and env names, never env values", async () => {
    await deploy({ id: "src-one", handler: HANDLER, params: { PYTHON_VERSION: "3.11" }, env: { GREETING: "hi", API_SECRET: SECRET } });
    const res = await client.get({ id: "src-one" });
    expect(res.source).toMatchObject({ handler: HANDLER, requirements: "", params: { PYTHON_VERSION: "3.11" }, envNames: ["API_SECRET", "GREETING"] });
    expect(toJsonString(GetResponseSchema, res)).not.toContain(SECRET);
    // The record holding the values is the agent's alone.
    const info = await stat(join(agent.stateDir, "sources", "src-one.json"));
    expect(info.mode & 0o777).toBe(0o600);
  });

  it("a redeploy with keep_env keeps values it never sent, and env still overrides or adds", async () => {
    await deploy({ id: "src-one", handler: HANDLER + "# edited\n", env: { OTHER: "new" }, keepEnv: ["API_SECRET"] });
    expect(await invokeEnv("src-one")).toEqual({ GREETING: null, API_SECRET: SECRET, OTHER: "new" });
    expect((await client.get({ id: "src-one" })).source?.envNames).toEqual(["API_SECRET", "OTHER"]);
    expect((await client.get({ id: "src-one" })).source?.handler).toContain("# edited");
  });

  it("refuses keep_env names that the current deploy lacks, that env also sets, without an id or a record", async () => {
    const bad: Array<[MessageInitShape<typeof DeployRequestSchema>, RegExp]> = [
      [{ id: "src-one", handler: HANDLER, keepEnv: ["GREETING"] }, /function "src-one" has no environment variable GREETING/],
      [{ id: "src-one", handler: HANDLER, env: { API_SECRET: "x" }, keepEnv: ["API_SECRET"] }, /API_SECRET is also set in env/],
      [{ handler: HANDLER, keepEnv: ["API_SECRET"] }, /keep_env needs the id/],
      [{ id: "src-none", handler: HANDLER, keepEnv: ["API_SECRET"] }, /no record of the environment of function "src-none"/],
    ];
    for (const [req, message] of bad) {
      const f = await failure(deploy(req));
      expect(f, JSON.stringify(req.keepEnv)).toMatchObject({ code: Code.InvalidArgument, field: "keep_env" });
      expect(f.message).toMatch(message);
    }
    // A malformed name is refused by the request rules, before anything is read.
    expect(await failure(deploy({ id: "src-one", handler: HANDLER, keepEnv: ["../../x"] }))).toMatchObject({ code: Code.InvalidArgument, field: "keep_env[0]" });
    // The function still serves its last good deploy.
    expect(await invokeEnv("src-one")).toEqual({ GREETING: null, API_SECRET: SECRET, OTHER: "new" });
  });

  it("a failed deploy leaves the record of the version that serves; delete removes it", async () => {
    await failure(deploy({ id: "src-one", handler: "def handle(req)\n" }));
    expect((await client.get({ id: "src-one" })).source?.handler).toContain("# edited");
    await client.delete({ id: "src-one" });
    await expect(stat(join(agent.stateDir, "sources", "src-one.json"))).rejects.toThrow(/ENOENT/);
    // Deployed again without env: no names, and nothing kept from before the delete.
    await deploy({ id: "src-one", handler: HANDLER });
    expect((await client.get({ id: "src-one" })).source?.envNames).toEqual([]);
    expect(await failure(deploy({ id: "src-one", handler: HANDLER, keepEnv: ["API_SECRET"] }))).toMatchObject({ field: "keep_env" });
  });
});
