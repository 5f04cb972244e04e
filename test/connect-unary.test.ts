import { request as h1request } from "node:http";
import { connect as h2connect } from "node:http2";
import { gunzipSync, gzipSync } from "node:zlib";
import type { IncomingMessage, ServerResponse } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create, toBinary } from "@bufbuild/protobuf";
import { FaasAgent, InvokeRequestSchema } from "../gen/faas/v1/agent_pb.ts";
import { createConnectUnaryHandler } from "../src/server/connect-unary.ts";
import { postJson, startTestAgent, type TestAgent } from "./support/agent.ts";

// Which requests the Connect fast path takes: unary FaasAgent POSTs in the Connect protocol (JSON
// or proto, uncompressed); everything else must be left untouched for the Connect adapter.
const impl = Object.fromEntries(FaasAgent.methods.map((m) => [m.localName, () => ({})]));
const handler = createConnectUnaryHandler({
  services: [{ desc: FaasAgent, impl: impl as never }],
  interceptors: [],
  jsonOptions: {},
  readMaxBytes: 1024,
  writeMaxBytes: 1024,
  maxTimeoutMs: 1000,
  shutdownSignal: new AbortController().signal,
});

function fakeRequest(url: string, headers: Record<string, string>, method = "POST"): IncomingMessage {
  // Enough of a request for the routing decision; a taken request is then read, so give it streams.
  return { url, method, headers, on: () => undefined, once: () => undefined } as unknown as IncomingMessage;
}
const fakeResponse = { once: () => undefined, off: () => undefined, destroyed: true, destroy: () => undefined } as unknown as ServerResponse;

describe("Connect unary fast path: what it takes", () => {
  it("takes unary FaasAgent POSTs with the JSON or proto codec", () => {
    for (const type of ["application/json", "application/json; charset=utf-8", "application/proto"]) {
      expect(handler(fakeRequest("/faas.v1.FaasAgent/Invoke", { "content-type": type }), fakeResponse), type).toBe(true);
    }
    expect(handler(fakeRequest("/faas.v1.FaasAgent/List", { "content-type": "application/json", "content-encoding": "identity" }), fakeResponse)).toBe(true);
  });

  it("leaves streaming methods, other protocols, compression, GET and unknown paths to Connect", () => {
    const left = [
      fakeRequest("/faas.v1.FaasAgent/Deploy", { "content-type": "application/json" }),
      fakeRequest("/faas.v1.FaasAgent/Logs", { "content-type": "application/connect+json" }),
      fakeRequest("/faas.v1.FaasAgent/Invoke", { "content-type": "application/connect+json" }),
      fakeRequest("/faas.v1.FaasAgent/Invoke", { "content-type": "application/grpc" }),
      fakeRequest("/faas.v1.FaasAgent/Invoke", { "content-type": "application/grpc-web+proto" }),
      fakeRequest("/faas.v1.FaasAgent/Invoke", { "content-type": "text/plain" }),
      fakeRequest("/faas.v1.FaasAgent/Invoke", { "content-type": "application/json", "content-encoding": "gzip" }),
      fakeRequest("/faas.v1.FaasAgent/Health?encoding=json&message=%7B%7D", {}, "GET"),
      fakeRequest("/grpc.health.v1.Health/Check", { "content-type": "application/json" }),
      fakeRequest("/faas.v1.FaasAgent/Nope", { "content-type": "application/json" }),
      fakeRequest("/faas.v1.FaasAgent/Invoke", {}),
    ];
    for (const req of left) expect(handler(req, fakeResponse), `${req.method} ${req.url} ${JSON.stringify(req.headers)}`).toBe(false);
  });
});

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** One HTTP/1.1 POST; `gzip` sends the body gzipped (which the fast path leaves to the Connect adapter). */
function post(agent: TestAgent, path: string, body: Buffer, headers: Record<string, string>, gzip = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const sent = gzip ? gzipSync(body) : body;
    const req = h1request(`${agent.url}${path}`, { method: "POST", headers: { ...headers, ...(gzip ? { "content-encoding": "gzip" } : {}), "content-length": String(sent.length) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers as Record<string, string>, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end(sent);
  });
}

/** What a client can tell apart in an answer: status, the Connect headers, and the decoded body. */
function seen(answer: Answer): { status: number; type: string; trailers: Record<string, string>; body: string } {
  const trailers = Object.fromEntries(Object.entries(answer.headers).filter(([k]) => k.startsWith("trailer-")));
  const body = answer.headers["content-encoding"] === "gzip" ? gunzipSync(answer.body) : answer.body;
  const type = answer.headers["content-type"] ?? "";
  return { status: answer.status, type, trailers, body: type.includes("proto") ? body.toString("base64") : body.toString("utf8") };
}

describe("Connect unary fast path: answers as the Connect adapter does", () => {
  let agent: TestAgent;
  beforeAll(async () => {
    agent = await startTestAgent();
    const deployed = await postJson(`${agent.url}/deploy`, { id: "cu", handler: "def handle(req):\n    return {'echo': req, 'pad': 'x' * req.get('pad', 0)}\n" });
    expect(deployed.status).toBe(200);
  }, 120_000);
  afterAll(() => agent?.stop());

  const json = { "content-type": "application/json" };
  const cases: Array<{ name: string; path: string; body: Buffer; headers: Record<string, string> }> = [
    { name: "an invoke", path: "/faas.v1.FaasAgent/Invoke", body: Buffer.from('{"id":"cu","payload":{"a":1}}'), headers: json },
    { name: "an invoke with a large result, gzip accepted", path: "/faas.v1.FaasAgent/Invoke", body: Buffer.from('{"id":"cu","payload":{"pad":5000}}'), headers: { ...json, "accept-encoding": "gzip" } },
    { name: "a binary invoke", path: "/faas.v1.FaasAgent/Invoke", body: Buffer.from(toBinary(InvokeRequestSchema, create(InvokeRequestSchema, { id: "cu" }))), headers: { "content-type": "application/proto" } },
    { name: "an unknown function", path: "/faas.v1.FaasAgent/Invoke", body: Buffer.from('{"id":"nope"}'), headers: json },
    { name: "an invalid id (validation, with details)", path: "/faas.v1.FaasAgent/Invoke", body: Buffer.from('{"id":"../x"}'), headers: json },
    { name: "unknown fields (ignored)", path: "/faas.v1.FaasAgent/Get", body: Buffer.from('{"id":"cu","bogus":1}'), headers: json },
    { name: "not JSON", path: "/faas.v1.FaasAgent/Invoke", body: Buffer.from("{nope"), headers: json },
    { name: "invalid UTF-8", path: "/faas.v1.FaasAgent/Invoke", body: Buffer.from([0x7b, 0x22, 0x69, 0x64, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]), headers: json },
    { name: "a wrong field type", path: "/faas.v1.FaasAgent/Invoke", body: Buffer.from('{"id":5}'), headers: json },
    { name: "a bad timeout header", path: "/faas.v1.FaasAgent/Health", body: Buffer.from("{}"), headers: { ...json, "connect-timeout-ms": "soon" } },
    { name: "a list", path: "/faas.v1.FaasAgent/List", body: Buffer.from("{}"), headers: json },
  ];

  for (const c of cases) {
    it(`${c.name}: the same status, content type, trailers and body on both paths`, async () => {
      const fast = seen(await post(agent, c.path, c.body, c.headers));
      const adapter = seen(await post(agent, c.path, c.body, c.headers, true));
      // Figures that differ per call (time, stats) are not part of the comparison.
      const stable = (s: ReturnType<typeof seen>) => ({ ...s, body: s.body.replace(/"executionTime":[0-9.e-]+/g, "").replace(/"stats":\{[^}]*\}/g, "").replace(/"(lastInvokedAt|updatedAt|createdAt)":"[^"]*"/g, "") });
      if (c.headers["content-type"] === "application/proto" && fast.status === 200) {
        // Binary answers carry execution_time: compare the status and type only.
        expect({ status: fast.status, type: fast.type }).toEqual({ status: adapter.status, type: adapter.type });
      } else {
        expect(stable(fast)).toEqual(stable(adapter));
      }
    });
  }

  it("answers an oversized body resource_exhausted, as the adapter does", async () => {
    const big = Buffer.from(JSON.stringify({ id: "cu", payload: { s: "x".repeat(11 * 1024 * 1024) } }));
    const fast = await post(agent, "/faas.v1.FaasAgent/Invoke", big, json);
    expect(fast.status).toBe(429);
    expect(JSON.parse(fast.body.toString()).code).toBe("resource_exhausted");
  });

  it("serves Connect JSON over HTTP/2 too", async () => {
    const session = h2connect(agent.url);
    try {
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const stream = session.request({ ":method": "POST", ":path": "/faas.v1.FaasAgent/Invoke", "content-type": "application/json" });
        let status = 0;
        let body = "";
        stream.on("response", (h) => (status = Number(h[":status"])));
        stream.setEncoding("utf8");
        stream.on("data", (d: string) => (body += d));
        stream.on("end", () => resolve({ status, body }));
        stream.on("error", reject);
        stream.end('{"id":"cu","payload":{"h2":true}}');
      });
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body).result).toEqual({ echo: { h2: true }, pad: "" });
    } finally {
      session.close();
    }
  });
});
