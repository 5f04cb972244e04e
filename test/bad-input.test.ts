import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deploy, getJson, postJson, startTestAgent, type TestAgent } from "./support/agent.ts";

/**
 * The bad-input battery: every malformed payload or field, on REST and on Connect's JSON form
 * (the RPC bytes as a client would send them), answered with its precise 4xx and reason; after
 * all of them the agent is up and a function deployed before the battery still serves.
 */
let agent: TestAgent;
beforeAll(async () => {
  agent = await startTestAgent({ FAAS_IDLE_TIMEOUT: "0" });
  await deploy(agent, { id: "echo", handler: "def handle(req):\n    return req" });
});
afterAll(async () => {
  await agent?.dispose();
});

async function raw(path: string, body: string | Uint8Array): Promise<{ status: number; body: any }> {
  const res = await fetch(agent.url + path, { method: "POST", headers: { "content-type": "application/json" }, body: body as BodyInit });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

function nested(depth: number): string {
  return "[".repeat(depth) + "1" + "]".repeat(depth);
}

const invalidUtf8 = (prefix: string, suffix: string) => Buffer.concat([Buffer.from(prefix), Buffer.from([0xff, 0xfe, 0x80]), Buffer.from(suffix)]);

/** [name, invoke payload JSON text] of payloads refused with 400 INVALID_PAYLOAD on every protocol. */
const BAD_PAYLOADS: Array<[string, string]> = [
  ["nested 101 deep", nested(101)],
  ["nested 1500 deep", nested(1500)],
  ["nested 10 000 deep", nested(10_000)],
  ["a number beyond a double (1e400)", '{"n": 1e400}'],
  ["a negative number beyond a double", "[-1e400]"],
  ["a lone high surrogate", '"\\ud800"'],
  ["a lone low surrogate in a key", '{"\\udc00": 1}'],
];

describe("bad payloads are 400 INVALID_PAYLOAD", () => {
  it.each(BAD_PAYLOADS)("REST: %s", async (_name, payload) => {
    const res = await raw("/invoke", `{"id":"echo","payload":${payload}}`);
    expect(res.status).toBe(400);
    expect(res.body.reason).toBe("INVALID_PAYLOAD");
  });

  it.each(BAD_PAYLOADS)("Connect: %s", async (_name, payload) => {
    const res = await raw("/faas.v1.FaasAgent/Invoke", `{"id":"echo","payload":${payload}}`);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("invalid_argument");
  });

  it("invalid UTF-8 in the body is 400 on REST and on Connect, never replaced", async () => {
    const rest = await raw("/invoke", invalidUtf8('{"id":"echo","payload":"', '"}'));
    expect(rest.status).toBe(400);
    expect(rest.body.reason).toBe("INVALID_PAYLOAD");
    const connect = await raw("/faas.v1.FaasAgent/Invoke", invalidUtf8('{"id":"echo","payload":"', '"}'));
    expect(connect.status).toBe(400);
    expect(connect.body.code).toBe("invalid_argument");
  });

  it("depth 100 itself passes, and surrogate pairs are kept", async () => {
    const deep = await raw("/invoke", `{"id":"echo","payload":${nested(99)}}`);
    expect(deep.status).toBe(200);
    const pair = await raw("/invoke", '{"id":"echo","payload":"\\ud83d\\ude00"}');
    expect(pair.body.result).toBe("😀");
  });

  it("a __proto__ key in a payload is kept on REST and refused on Connect, never dropped", async () => {
    const rest = await raw("/invoke", '{"id":"echo","payload":{"__proto__":{"a":1},"b":2}}');
    expect(rest.status).toBe(200);
    expect(JSON.stringify(rest.body.result)).toBe('{"__proto__":{"a":1},"b":2}');
    const connect = await raw("/faas.v1.FaasAgent/Invoke", '{"id":"echo","payload":{"__proto__":{"a":1},"b":2}}');
    expect(connect.status).toBe(400);
    expect(connect.body.details?.[0]?.debug?.reason).toBe("INVALID_PAYLOAD");
  });
});

describe("bad deploy fields are 400", () => {
  it.each([
    ["a lone surrogate in the handler", '{"id":"bad1","handler":"def handle(r):\\n    return \'\\ud800\'"}', "INVALID_REQUEST"],
    ["a lone surrogate in requirements", '{"id":"bad2","handler":"def handle(r):\\n    return 1","requirements":"\\udfff"}', "INVALID_REQUEST"],
    ["a lone surrogate in an env value", '{"id":"bad3","handler":"def handle(r):\\n    return 1","env":{"A":"\\ud800"}}', "INVALID_REQUEST"],
    ["an env key named __proto__", '{"id":"bad4","handler":"def handle(r):\\n    return 1","env":{"__proto__":"x"}}', "INVALID_REQUEST"],
    ["a params key named __proto__", '{"id":"bad5","handler":"def handle(r):\\n    return 1","params":{"__proto__":"x"}}', "INVALID_REQUEST"],
  ])("REST: %s", async (_name, body, reason) => {
    const res = await raw("/deploy", body);
    expect(res.status).toBe(400);
    expect(res.body.reason).toBe(reason);
  });

  it("invalid UTF-8 in a handler is 400, never replaced", async () => {
    const res = await raw("/deploy", invalidUtf8('{"id":"bad6","handler":"def handle(r):\\n    return \'', '\'"}'));
    expect(res.status).toBe(400);
    expect(res.body.reason).toBe("INVALID_PAYLOAD");
  });
});

describe("after the battery", () => {
  it("the agent is up, nothing bad was deployed, and the function deployed before still serves", async () => {
    expect((await getJson(`${agent.url}/health`)).status).toBe(200);
    const listed = await getJson(`${agent.url}/functions`);
    expect(listed.body.functions.map((f: { id: string }) => f.id)).toEqual(["echo"]);
    const res = await postJson(`${agent.url}/invoke`, { id: "echo", payload: { still: "here" } });
    expect(res.body.result).toEqual({ still: "here" });
  });
});
