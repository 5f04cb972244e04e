import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { describe, expect, it } from "vitest";
import { FaasAgent } from "../gen/faas/v1/agent_pb.ts";
import { createGrpcUnaryHandler } from "../src/server/grpc-unary.ts";

// Which requests the gRPC fast path takes: unary FaasAgent methods over gRPC with the proto codec
// and no compression; every other request must be left untouched for the Connect adapter.
const calls: string[] = [];
const impl = Object.fromEntries(FaasAgent.methods.map((m) => [m.localName, () => calls.push(m.name)]));
const handler = createGrpcUnaryHandler({
  services: [{ desc: FaasAgent, impl: impl as never }],
  interceptors: [],
  readMaxBytes: 1024,
  writeMaxBytes: 1024,
  maxTimeoutMs: 1000,
  shutdownSignal: new AbortController().signal,
});

function request(url: string, headers: Record<string, string>, method = "POST"): Http2ServerRequest {
  // Enough of a request for the routing decision; a taken request is then read, so give it streams.
  const listeners: Record<string, () => void> = {};
  return { url, method, headers, on: () => undefined, once: (e: string, f: () => void) => void (listeners[e] = f) } as unknown as Http2ServerRequest;
}
const response = { once: () => undefined, off: () => undefined, stream: { destroyed: true } } as unknown as Http2ServerResponse;

describe("gRPC unary fast path: what it takes", () => {
  it("takes unary FaasAgent calls with the proto codec", () => {
    expect(handler(request("/faas.v1.FaasAgent/Invoke", { "content-type": "application/grpc" }), response)).toBe(true);
    expect(handler(request("/faas.v1.FaasAgent/List", { "content-type": "application/grpc+proto" }), response)).toBe(true);
    expect(handler(request("/faas.v1.FaasAgent/Get", { "content-type": "application/grpc", "grpc-encoding": "identity" }), response)).toBe(true);
  });

  it("leaves streaming methods, other protocols, codecs, compression, methods and unknown paths to Connect", () => {
    const left = [
      request("/faas.v1.FaasAgent/Deploy", { "content-type": "application/grpc" }),
      request("/faas.v1.FaasAgent/Logs", { "content-type": "application/grpc" }),
      request("/faas.v1.FaasAgent/Invoke", { "content-type": "application/grpc+json" }),
      request("/faas.v1.FaasAgent/Invoke", { "content-type": "application/grpc-web+proto" }),
      request("/faas.v1.FaasAgent/Invoke", { "content-type": "application/json" }),
      request("/faas.v1.FaasAgent/Invoke", { "content-type": "application/proto" }),
      request("/faas.v1.FaasAgent/Invoke", { "content-type": "application/grpc", "grpc-encoding": "gzip" }),
      request("/faas.v1.FaasAgent/Invoke", { "content-type": "application/grpc" }, "GET"),
      request("/grpc.health.v1.Health/Check", { "content-type": "application/grpc" }),
      request("/faas.v1.FaasAgent/Nope", { "content-type": "application/grpc" }),
      request("/faas.v1.FaasAgent/Invoke", {}),
    ];
    for (const req of left) expect(handler(req, response), `${req.method} ${req.url} ${JSON.stringify(req.headers)}`).toBe(false);
  });
});
