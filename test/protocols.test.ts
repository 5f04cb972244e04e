import { fromJson, toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeployPhase, FaasAgent, type DeployResponse } from "../gen/faas/v1/agent_pb.ts";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.ts";
import { startTestAgent, type TestAgent } from "./support/agent.ts";

let agent: TestAgent;
beforeAll(async () => {
  agent = await startTestAgent();
});
afterAll(async () => {
  await agent?.dispose();
});

const protocols: Array<[string, (baseUrl: string) => Transport]> = [
  ["Connect JSON over HTTP/1.1", (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false })],
  ["Connect binary over h2c", (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true })],
  ["gRPC over h2c", (baseUrl) => createGrpcTransport({ baseUrl })],
  ["gRPC-Web over HTTP/1.1", (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "1.1" })],
];

function errorInfo(error: unknown) {
  expect(error).toBeInstanceOf(ConnectError);
  const [info] = (error as ConnectError).findDetails(ErrorInfoSchema);
  return info;
}

async function rejection(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("expected the call to fail");
}

describe.each(protocols)("%s", (name, makeTransport) => {
  let client: Client<typeof FaasAgent>;
  const id = `fn-${name.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`.replace(/-$/, "");
  beforeAll(() => {
    client = createClient(FaasAgent, makeTransport(agent.url));
  });

  it("Health", async () => {
    const res = await client.health({});
    expect(res.status).toBe("healthy");
    expect(res.platform).toBe("local");
    expect(res.checks.find((c) => c.name === "python")?.ok).toBe(true);
  });

  it("Deploy streams phases, logs and then the function", async () => {
    const events: DeployResponse[] = [];
    for await (const event of client.deploy({ id, handler: 'print("loading")\ndef handle(req):\n    return {"got": req}' })) events.push(event);
    const phases = events.filter((e) => e.event.case === "phase").map((e) => e.event.value);
    expect(phases).toEqual([DeployPhase.VALIDATING, DeployPhase.PACKAGING, DeployPhase.BUILDING, DeployPhase.DEPLOYING, DeployPhase.READY]);
    expect(events.some((e) => e.event.case === "log" && e.event.value.line === "loading")).toBe(true);
    const last = events.at(-1)!;
    expect(last.event.case).toBe("function");
    if (last.event.case === "function") {
      expect(last.event.value).toMatchObject({ id, status: "deployed", platform: "local", ready: true, state: "running" });
    }
    expect(events.every((e) => e.time !== undefined)).toBe(true);
  });

  it("Invoke passes any JSON and returns exactly what handle returned", async () => {
    const payload = { nested: { list: [1, "two", null, true], n: 1.5 }, empty: {} };
    const res = await client.invoke({ id, payload: fromJson(ValueSchema, payload) });
    expect(res.status).toBe("success");
    expect(toJson(ValueSchema, res.result!)).toEqual({ got: payload });
    expect(res.platform).toBe("local");
    expect(res.executionTime).toBeGreaterThan(0);
    const unset = await client.invoke({ id });
    expect(toJson(ValueSchema, unset.result!)).toEqual({ got: {} });
    const scalar = await client.invoke({ id, payload: fromJson(ValueSchema, "text") });
    expect(toJson(ValueSchema, scalar.result!)).toEqual({ got: "text" });
  });

  it("List and Get describe the function", async () => {
    const list = await client.list({});
    expect(list.functions.map((f) => f.id)).toContain(id);
    const got = await client.get({ id });
    expect(got.function?.id).toBe(id);
    expect(got.function?.revision).toMatch(/^[0-9a-f]{20}$/);
    expect(got.function?.createdAt).toBeDefined();
  });

  it("Logs returns what the function printed", async () => {
    const lines: string[] = [];
    for await (const line of client.logs({ id, tail: 10 })) lines.push(`${line.stream}:${line.line}`);
    expect(lines).toContain("stdout:loading");
  });

  it("errors carry codes and ErrorInfo reasons", async () => {
    const notFound = await rejection(client.invoke({ id: "does-not-exist" }));
    expect(notFound.code).toBe(Code.NotFound);
    expect(errorInfo(notFound)?.reason).toBe("FUNCTION_NOT_FOUND");
    expect(errorInfo(notFound)?.domain).toBe("radical-faas");

    const invalid = await rejection(client.get({ id: "Bad_Id" }));
    expect(invalid.code).toBe(Code.InvalidArgument);
    expect(errorInfo(invalid)?.metadata.field).toBe("id");

    const noHandler = await rejection((async () => {
      for await (const _ of client.deploy({ id: "x" }));
    })());
    expect(noHandler.code).toBe(Code.InvalidArgument);
    expect(errorInfo(noHandler)?.metadata.field).toBe("handler");

    const badParam = await rejection((async () => {
      for await (const _ of client.deploy({ id: "x", handler: "def handle(r): return r", params: { NOPE: "1" } }));
    })());
    expect(badParam.code).toBe(Code.InvalidArgument);
    expect(badParam.rawMessage).toMatch(/unknown parameter "NOPE"/);

    const syntax = await rejection((async () => {
      for await (const _ of client.deploy({ id: `${id}-broken`, handler: "def handle(req)\n  return 1" }));
    })());
    expect(syntax.code).toBe(Code.InvalidArgument);
    expect(errorInfo(syntax)?.reason).toBe("HANDLER_INVALID");
    expect(syntax.rawMessage).toMatch(/SyntaxError/);
  });

  it("a handler that raises is unknown/FUNCTION_ERROR with type, message and traceback", async () => {
    for await (const _ of client.deploy({ id: `${id}-raise`, handler: "def handle(req):\n    return 1 / 0" }));
    const error = await rejection(client.invoke({ id: `${id}-raise` }));
    expect(error.code).toBe(Code.Unknown);
    const info = errorInfo(error);
    expect(info?.reason).toBe("FUNCTION_ERROR");
    expect(info?.metadata.exception_type).toBe("ZeroDivisionError");
    expect(info?.metadata.exception_message).toBe("division by zero");
    expect(info?.metadata.traceback).toMatch(/line 2, in handle/);
  });

  it("Delete removes, then not_found", async () => {
    const res = await client.delete({ id: `${id}-raise` });
    expect(res).toMatchObject({ status: "deleted", platform: "local", functionId: `${id}-raise` });
    expect((await rejection(client.delete({ id: `${id}-raise` }))).code).toBe(Code.NotFound);
  });
});

describe("limits", () => {
  it("a message over the size limit is resource_exhausted", async () => {
    // The client needs room to buffer 50 MB of outgoing HTTP/2 data (Node's default is 10 MB).
    const client = createClient(FaasAgent, createGrpcTransport({ baseUrl: agent.url, nodeOptions: { maxSessionMemory: 256 } }));
    const error = await rejection(client.invoke({ id: "x", payload: { kind: { case: "stringValue", value: "a".repeat(50 * 1024 * 1024) } } }));
    expect(error.code, error.message).toBe(Code.ResourceExhausted);
    const connect = createClient(FaasAgent, createConnectTransport({ baseUrl: agent.url, httpVersion: "1.1" }));
    const viaConnect = await rejection(connect.invoke({ id: "x", payload: { kind: { case: "stringValue", value: "a".repeat(50 * 1024 * 1024) } } }));
    expect(viaConnect.code, viaConnect.message).toBe(Code.ResourceExhausted);
    const health = await client.health({});
    expect(health.status).toBe("healthy");
  });

  it("a client deadline shorter than the call is deadline_exceeded", async () => {
    const client = createClient(FaasAgent, createConnectTransport({ baseUrl: agent.url, httpVersion: "1.1" }));
    for await (const _ of client.deploy({ id: "sleeper", handler: "import time\ndef handle(req):\n    time.sleep(2)\n    return 1" }));
    const error = await rejection(client.invoke({ id: "sleeper" }, { timeoutMs: 300 }));
    expect(error.code).toBe(Code.DeadlineExceeded);
  });
});
