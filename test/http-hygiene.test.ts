import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestAgent, type TestAgent } from "./support/agent.ts";

// Malformed and oversized requests, written byte for byte on a raw socket: each gets a real HTTP
// answer with its status before the connection closes, and the agent keeps serving.
let agent: TestAgent;
beforeAll(async () => {
  agent = await startTestAgent({ FAAS_MAX_BODY_BYTES: "65536" });
});
afterAll(async () => {
  await agent?.dispose();
});

/** Sends raw bytes and reads until the server closes; returns the status line's code and the text. */
function raw(bytes: string | Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(agent.address.port, "127.0.0.1");
    const chunks: Buffer[] = [];
    socket.on("data", (c) => chunks.push(c));
    socket.on("error", reject);
    socket.on("close", () => {
      const text = Buffer.concat(chunks).toString("latin1");
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text });
    });
    socket.end(bytes);
  });
}

const host = () => `Host: 127.0.0.1:${agent.address.port}\r\n`;

describe("malformed requests get an answer", () => {
  const cases: Array<[string, () => string, number]> = [
    ["5,000 headers", () => `GET /health HTTP/1.1\r\n${host()}${Array.from({ length: 5000 }, (_, i) => `x-h${i}: v\r\n`).join("")}\r\n`, 431],
    ["a 70 KB header", () => `GET /health HTTP/1.1\r\n${host()}x-big: ${"a".repeat(70_000)}\r\n\r\n`, 431],
    ["a garbage request line", () => "GARBAGE\x01\x02 nonsense\r\n\r\n", 400],
    ["Content-Length: -1", () => `POST /deploy HTTP/1.1\r\n${host()}Content-Type: application/json\r\nContent-Length: -1\r\n\r\n{}`, 400],
    ["Content-Length with Transfer-Encoding", () => `POST /deploy HTTP/1.1\r\n${host()}Content-Type: application/json\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`, 400],
    ["a 20 KB request line", () => `GET /${"a".repeat(20_000)} HTTP/1.1\r\n${host()}\r\n`, 414],
    ["a 10 KB URL (under the header limit)", () => `GET /functions?q=${"a".repeat(10_000)} HTTP/1.1\r\n${host()}Connection: close\r\n\r\n`, 414],
    ["a body declared larger than the limit", () => `POST /deploy HTTP/1.1\r\n${host()}Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n{}`, 413],
  ];
  for (const [name, bytes, status] of cases) {
    it(`${name} → ${status}`, async () => {
      const res = await raw(bytes());
      expect(res.status, res.text.slice(0, 300)).toBe(status);
      expect(res.text).toMatch(/"error":/);
      expect((await fetch(`${agent.url}/health`)).status).toBe(200); // still serving
    });
  }
});

describe("HEAD", () => {
  it("answers on every GET route, without a body", async () => {
    for (const path of ["/health", "/functions", "/capabilities", "/"]) {
      const res = await fetch(`${agent.url}${path}`, { method: "HEAD" });
      expect(res.status, path).toBe(200);
      expect(await res.text(), path).toBe("");
    }
  });
});
