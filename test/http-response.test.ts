import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpClient } from "../src/runtime/http-client.ts";
import { MalformedResponseError, parseResponse } from "../src/runtime/http-response.ts";

const b = (s: string) => Buffer.from(s, "latin1");

describe("parseResponse (RFC 9112 framing)", () => {
  it("reads Content-Length bodies and waits for the rest", () => {
    const full = b("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1");
    expect(parseResponse(full)).toEqual({ status: 200, text: "hello", keepAlive: true, consumed: full.length - "HTTP/1.1".length });
    expect(parseResponse(b("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel"))).toBeUndefined();
    expect(parseResponse(b("HTTP/1.1 200 OK\r\nContent-Len"))).toBeUndefined();
  });

  it("reads chunked bodies with extensions and trailers, across any split", () => {
    const text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: 1\r\n\r\n";
    const whole = b(text + "next");
    expect(parseResponse(whole)).toEqual({ status: 200, text: "Wikipedia in\r\n\r\nchunks.", keepAlive: true, consumed: text.length });
    for (let cut = 0; cut < text.length; cut++) expect(parseResponse(b(text.slice(0, cut))), `cut at ${cut}`).toBeUndefined();
  });

  it("multi-byte UTF-8 split across chunks decodes whole", () => {
    const body = Buffer.from('{"r":"é✓"}', "utf8");
    const head = b("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n");
    const chunk = (part: Buffer) => Buffer.concat([b(`${part.length.toString(16)}\r\n`), part, b("\r\n")]);
    const msg = Buffer.concat([head, chunk(body.subarray(0, 7)), chunk(body.subarray(7)), b("0\r\n\r\n")]);
    expect(parseResponse(msg)).toMatchObject({ text: '{"r":"é✓"}', keepAlive: false });
  });

  it("has no body for 204 and 304, runs to the close without framing, and refuses garbage", () => {
    expect(parseResponse(b("HTTP/1.1 204 No Content\r\n\r\n"))).toMatchObject({ status: 204, text: "" });
    expect(parseResponse(b("HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\nupstream"))).toEqual({ untilClose: true, status: 502, bodyStart: 47 });
    expect(() => parseResponse(b("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"))).toThrow(MalformedResponseError);
    expect(() => parseResponse(b("SSH-2.0-OpenSSH\r\n\r\n"))).toThrow(MalformedResponseError);
  });
});

describe("HttpClient through chunked and close-delimited answers", () => {
  let server: Server;
  let port = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = "";
      req.on("data", (d: Buffer) => (body += d.toString()));
      req.on("end", () => {
        const { mode, size } = JSON.parse(body) as { mode: string; size: number };
        const text = JSON.stringify({ pad: "y".repeat(size) });
        if (mode === "close") {
          res.writeHead(200, { connection: "close" });
          res.socket?.setNoDelay(true);
          res.write(text.slice(0, 3));
          return void res.end(text.slice(3));
        }
        res.writeHead(200, { "content-type": "application/json" }); // no length: Node answers chunked
        res.write(text.slice(0, Math.ceil(text.length / 2)));
        res.end(text.slice(Math.ceil(text.length / 2)));
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it("keeps the pool in step over many chunked responses on one connection, and reads close-delimited ones", async () => {
    const client = new HttpClient("127.0.0.1", port);
    const signal = new AbortController().signal;
    for (let i = 0; i < 40; i++) {
      const size = [0, 1, 70_000, 5][i % 4]!;
      const mode = i % 10 === 9 ? "close" : "chunked";
      expect(JSON.parse(await client.call(JSON.stringify({ mode, size }), 10_000, signal)).pad).toHaveLength(size);
    }
    client.destroy();
  });
});
