import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ViolationsSchema } from "../gen/buf/validate/validate_pb.ts";
import { FaasAgent } from "../gen/faas/v1/agent_pb.ts";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.ts";
import { isFaasError } from "../src/domain/errors.ts";
import { validateDeployRequest, type RawDeployRequest } from "../src/domain/spec.ts";
import { RequestValidation } from "../src/service/validation.ts";
import { postJson, startTestAgent, type TestAgent } from "./support/agent.ts";

const handler = "def handle(req):\n    return req";

/** The field a check rejects, or "ok". */
function verdict(check: () => unknown): string {
  try {
    check();
    return "ok";
  } catch (error) {
    if (isFaasError(error) && error.kind === "invalid_argument") return error.metadata.field;
    throw error;
  }
}

// Requests on both sides of every rule: the rules declared in the proto must accept and reject
// exactly what src/domain/spec.ts does, naming the same field.
const CASES: Array<[string, RawDeployRequest]> = [
  ["minimal", { handler }],
  ["generated id", { id: "", handler }],
  ["good id", { id: "my-fn-2", handler }],
  ["63-character id", { id: "a".repeat(63), handler }],
  ["64-character id", { id: "a".repeat(64), handler }],
  ["uppercase id", { id: "Hello", handler }],
  ["id ending in -", { id: "abc-", handler }],
  ["id starting with a digit", { id: "1abc", handler }],
  ["path in id", { id: "../x", handler }],
  ["no handler", { id: "x" }],
  ["blank handler", { handler: " \n\t " }],
  ["handler of 1 MiB", { handler: "#".repeat(1024 * 1024) }],
  ["handler over 1 MiB", { handler: "#".repeat(1024 * 1024 + 1) }],
  ["multi-byte handler over 1 MiB", { handler: "é".repeat(512 * 1024 + 1) }],
  ["NUL in handler", { handler: "def handle(r):\0" }],
  ["requirements of 64 KiB", { handler, requirements: "x".repeat(64 * 1024) }],
  ["requirements over 64 KiB", { handler, requirements: "x".repeat(64 * 1024 + 1) }],
  ["NUL in requirements", { handler, requirements: "a\0" }],
  ["PYTHON_VERSION", { handler, params: { PYTHON_VERSION: "3.11" } }],
  ["PYTHON_VERSION 3.99", { handler, params: { PYTHON_VERSION: "3.99" } }],
  ["PYTHON_VERSION with a shell", { handler, params: { PYTHON_VERSION: "3.11; rm -rf /" } }],
  ["PYTHON_VERSION 2.7", { handler, params: { PYTHON_VERSION: "2.7" } }],
  ["PIP_INDEX_URL", { handler, params: { PIP_INDEX_URL: "http://127.0.0.1:8080/simple/" } }],
  ["PIP_INDEX_URL https", { handler, params: { PIP_INDEX_URL: "https://pypi.example/simple?x=1&y=[2]" } }],
  ["PIP_INDEX_URL file", { handler, params: { PIP_INDEX_URL: "file:///etc" } }],
  ["PIP_INDEX_URL with a space", { handler, params: { PIP_INDEX_URL: "http://x/ --trusted-host y" } }],
  ["PIP_INDEX_URL at the length limit", { handler, params: { PIP_INDEX_URL: `https://${"a".repeat(2000)}` } }],
  ["PIP_INDEX_URL over the length limit", { handler, params: { PIP_INDEX_URL: `https://${"a".repeat(2001)}` } }],
  ["BASE_IMAGE", { handler, params: { BASE_IMAGE: "registry.local:5000/team/python:3.11-slim" } }],
  ["BASE_IMAGE by digest", { handler, params: { BASE_IMAGE: `python@sha256:${"a".repeat(64)}` } }],
  ["BASE_IMAGE with a space", { handler, params: { BASE_IMAGE: "python 3.11" } }],
  ["BASE_IMAGE uppercase", { handler, params: { BASE_IMAGE: "Python" } }],
  ["unknown parameter", { handler, params: { UNKNOWN: "1" } }],
  ["parameter named like a prototype member", { handler, params: { constructor: "1" } }],
  ["env", { handler, env: { A: "1", _b2: "x" } }],
  ["env name starting with a digit", { handler, env: { "1A": "x" } }],
  ["env name with =", { handler, env: { "A=B": "x" } }],
  ["reserved env name", { handler, env: { FAAS_X: "x" } }],
  ["NUL in env value", { handler, env: { A: "x\0y" } }],
  ["env value over 32 KiB", { handler, env: { A: "x".repeat(32 * 1024 + 1) } }],
  ["128 env entries", { handler, env: Object.fromEntries(Array.from({ length: 128 }, (_, i) => [`V${i}`, "x"])) }],
  ["129 env entries", { handler, env: Object.fromEntries(Array.from({ length: 129 }, (_, i) => [`V${i}`, "x"])) }],
];

describe("the proto's request rules", () => {
  const validation = new RequestValidation();
  it.each(CASES)("%s: the same verdict as spec.ts", (_name, raw) => {
    expect(verdict(() => validation.deploy(raw))).toBe(verdict(() => validateDeployRequest(raw)));
  });

  it("reject ids on invoke and delete as spec.ts does", () => {
    for (const id of ["", "Bad", "a".repeat(64), "../x"]) {
      expect(verdict(() => validation.invokeId(id))).toBe("id");
      expect(verdict(() => validation.deleteId(id))).toBe("id");
    }
    expect(verdict(() => validation.invokeId("ok-id"))).toBe("ok");
  });
});

describe("enforced on every protocol", () => {
  let agent: TestAgent;
  beforeAll(async () => {
    agent = await startTestAgent();
  });
  afterAll(async () => {
    await agent?.dispose();
  });

  it.each([
    ["gRPC", (baseUrl: string) => createGrpcTransport({ baseUrl })],
    ["Connect", (baseUrl: string) => createConnectTransport({ baseUrl, httpVersion: "1.1" })],
  ])("%s: invalid_argument with ErrorInfo field and buf.validate.Violations", async (_name, transport) => {
    const client = createClient(FaasAgent, transport(agent.url));
    let error: ConnectError | undefined;
    try {
      for await (const _ of client.deploy({ id: "ok-id", handler, env: { FAAS_TOKEN: "x" }, params: { PYTHON_VERSION: "x" } }));
    } catch (e) {
      error = ConnectError.from(e);
    }
    expect(error?.code).toBe(Code.InvalidArgument);
    const [info] = error!.findDetails(ErrorInfoSchema);
    expect(info).toMatchObject({ reason: "INVALID_REQUEST", domain: "radical-faas" });
    expect(["params.PYTHON_VERSION", "env.FAAS_TOKEN"]).toContain(info.metadata.field);
    const [violations] = error!.findDetails(ViolationsSchema);
    expect(violations.violations.map((v) => v.ruleId).sort()).toEqual(["env_not_reserved", "params.PYTHON_VERSION"]);
    // The request never reached the core: nothing was deployed.
    expect(await client.list({})).toMatchObject({ functions: [] });
  });

  it("REST /deploy, /invoke and /delete check the same rules, keeping their error shape", async () => {
    const deploy = await postJson(`${agent.url}/deploy`, { id: "a".repeat(64), handler });
    // The proto's max_len rule answers (spec.ts would say "id must be at most 63 characters, got 64").
    expect(deploy).toEqual({ status: 400, body: { error: "id: must be at most 63 characters", reason: "INVALID_REQUEST", field: "id" } });
    for (const route of ["/invoke", "/delete"]) {
      const res = await postJson(`${agent.url}${route}`, { id: "Bad_ID" });
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ reason: "INVALID_REQUEST", field: "id" });
      expect(res.body.error).toMatch(/^id is invalid: use lowercase letters/);
    }
  });
});
