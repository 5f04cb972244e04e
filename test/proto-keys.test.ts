import { create } from "@bufbuild/protobuf";
import { createClient, ConnectError, Code } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeployRequestSchema, FaasAgent, InvokeRequestSchema } from "../gen/faas/v1/agent_pb.ts";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.ts";
import { binaryProtoKey, jsonProtoKey } from "../src/server/proto-keys.ts";
import { fromJson, toBinary } from "@bufbuild/protobuf";
import { deploy, getJson, postJson, startTestAgent, type TestAgent } from "./support/agent.ts";

/**
 * `__proto__` keys are kept or refused with 400, never dropped, on every protocol: in params and
 * env they are refused (invalid_argument INVALID_REQUEST naming the field) on REST, Connect (JSON
 * and binary), gRPC and gRPC-Web; in an invoke payload REST keeps them and the RPCs refuse them
 * (INVALID_PAYLOAD). Nothing is deployed by a refused request.
 */
let agent: TestAgent;
beforeAll(async () => {
  agent = await startTestAgent({ FAAS_IDLE_TIMEOUT: "0" });
  await deploy(agent, { id: "echo", handler: "def handle(req):\n    return req" });
});
afterAll(async () => {
  await agent?.dispose();
});

/** An object with an own key "__proto__" (an object literal would set the prototype instead). */
const protoKeyed = (value: string): Record<string, string> => JSON.parse(`{"__proto__": ${JSON.stringify(value)}}`);
const HANDLER = "def handle(req):\n    return 1";

const transports = {
  "Connect binary": () => createConnectTransport({ baseUrl: agent.url, httpVersion: "1.1", useBinaryFormat: true }),
  "Connect gzip": () => createConnectTransport({ baseUrl: agent.url, httpVersion: "2", useBinaryFormat: true, sendCompression: undefined }),
  gRPC: () => createGrpcTransport({ baseUrl: agent.url }),
  "gRPC-Web": () => createGrpcWebTransport({ baseUrl: agent.url, httpVersion: "1.1" }),
};

async function rpcError(run: () => Promise<unknown>): Promise<ConnectError> {
  const error = await run().then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(ConnectError);
  return error as ConnectError;
}

describe("__proto__ in params and env", () => {
  it.each(["env", "params"])("REST: %s.__proto__ is 400 INVALID_REQUEST", async (field) => {
    const res = await postJson(`${agent.url}/deploy`, `{"id":"rest-${field}","handler":${JSON.stringify(HANDLER)},"${field}":{"__proto__":"x"}}`);
    expect(res.status).toBe(400);
    expect(res.body.reason).toBe("INVALID_REQUEST");
  });

  for (const [name, transport] of Object.entries(transports)) {
    it.each(["env", "params"] as const)(`${name}: %s.__proto__ is invalid_argument INVALID_REQUEST, never dropped`, async (field) => {
      const client = createClient(FaasAgent, transport());
      const error = await rpcError(async () => {
        for await (const _ of client.deploy({ id: `rpc-${field}`, handler: HANDLER, [field]: protoKeyed("x") })) void _;
      });
      expect(error.code).toBe(Code.InvalidArgument);
      expect(error.rawMessage).toContain(`${field} must not have a key named __proto__`);
      const info = error.findDetails(ErrorInfoSchema)[0];
      expect(info?.reason).toBe("INVALID_REQUEST");
      expect(info?.metadata.field).toBe(`${field}.__proto__`);
    });
  }

  it.each([
    ["plainly", '"__proto__"'],
    ["behind escapes", '"\\u005f\\u005fproto\\u005f\\u005f"'],
  ])("Connect JSON (written by hand: protobuf-es clients drop the key) with the key %s is refused", async (_how, key) => {
    const body = `{"id":"escaped","handler":${JSON.stringify(HANDLER)},"env":{${key}:"x"}}`;
    const head = Buffer.alloc(5);
    head.writeUInt32BE(Buffer.byteLength(body), 1);
    const res = await fetch(`${agent.url}/faas.v1.FaasAgent/Deploy`, { method: "POST", headers: { "content-type": "application/connect+json" }, body: Buffer.concat([head, Buffer.from(body)]) as unknown as BodyInit });
    const text = Buffer.from(await res.arrayBuffer()).toString();
    expect(text).toContain("invalid_argument");
    expect(text).toContain("env must not have a key named __proto__");
  });

  it("a handler or a value that merely mentions __proto__ is deployed", async () => {
    const client = createClient(FaasAgent, transports.gRPC());
    for await (const _ of client.deploy({ id: "mentions", handler: "# __proto__\ndef handle(req):\n    return '__proto__'", env: { NOTE: "__proto__" } })) void _;
    expect((await postJson(`${agent.url}/invoke`, { id: "mentions" })).body.result).toBe("__proto__");
    const bytes = toBinary(DeployRequestSchema, create(DeployRequestSchema, { handler: "\n\t__proto__", env: { A: "__proto__" } }));
    expect(binaryProtoKey(bytes)).toBeUndefined();
    expect(jsonProtoKey(Buffer.from('{"handler":"__proto__","env":{"A":"__proto__"}}'))).toBeUndefined();
  });

  it("nothing refused was deployed", async () => {
    const ids = (await getJson(`${agent.url}/functions`)).body.functions.map((f: { id: string }) => f.id);
    expect(ids.sort()).toEqual(["echo", "mentions"]);
  });
});

describe("__proto__ in an invoke payload", () => {
  it("REST keeps it", async () => {
    const res = await postJson(`${agent.url}/invoke`, '{"id":"echo","payload":{"__proto__":{"a":1},"b":2}}');
    expect(res.status).toBe(200);
    expect(JSON.stringify(res.body.result)).toBe('{"__proto__":{"a":1},"b":2}');
  });

  // Clients built on protobuf-es drop the key themselves while encoding, so these requests are
  // written by hand: the JSON form, and the binary form of a payload keyed "__prota__" with the
  // key's bytes changed to "__proto__" (same length).
  it("Connect JSON refuses it with invalid_argument INVALID_PAYLOAD", async () => {
    const res = await fetch(`${agent.url}/faas.v1.FaasAgent/Invoke`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"id":"echo","payload":{"__proto__":{"a":1},"b":2}}' });
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain("INVALID_PAYLOAD");
  });

  it("Connect binary refuses it with invalid_argument INVALID_PAYLOAD", async () => {
    const good = toBinary(InvokeRequestSchema, fromJson(InvokeRequestSchema, { id: "echo", payload: { __prota__: { a: 1 }, b: 2 } }));
    const bytes = Buffer.from(good);
    bytes.write("__proto__", bytes.indexOf("__prota__"));
    const res = await fetch(`${agent.url}/faas.v1.FaasAgent/Invoke`, { method: "POST", headers: { "content-type": "application/proto" }, body: bytes as unknown as BodyInit });
    expect(res.status).toBe(400);
    expect(Buffer.from(await res.arrayBuffer()).toString()).toContain("__proto__");
  });
});
