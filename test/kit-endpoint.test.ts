import { once } from "node:events";
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { FaasError, isFaasError } from "../src/domain/errors.ts";
import { ConnectionError, HttpClient } from "../src/runtime/http-client.ts";
import { runtimeError } from "../src/runtime/reasons.ts";
import { callRoute, RouteCache, type Endpoint, type Routes } from "../src/adapters/kit/endpoint.ts";

function noStream(): AsyncIterable<string> {
  throw new Error("not a stream test");
}

/** An endpoint that answers from a script: each call takes the next step. */
function scripted(steps: Array<string | Error>, closed: { count: number } = { count: 0 }): Endpoint & { calls: number } {
  const endpoint = {
    calls: 0,
    async call(): Promise<string> {
      const step = steps[endpoint.calls++];
      if (step === undefined) throw new Error("no more steps");
      if (step instanceof Error) throw step;
      return step;
    },
    stream: noStream,
    close() {
      closed.count++;
    },
  };
  return endpoint;
}

const signal = () => new AbortController().signal;

const lost = () => new ConnectionError(new Error("connection reset"));

describe("callRoute", () => {
  it("uses the cached endpoint without resolving, and reports no cold start", async () => {
    const cache = new RouteCache(async () => {
      throw new Error("must not resolve");
    });
    cache.remember("f", scripted(['{"ok":1}']));
    expect(await callRoute(cache, "f", "{}", signal())).toEqual({ resultJson: '{"ok":1}', resolved: false });
  });

  it("resolves once when nothing is cached, and reports it", async () => {
    let lookups = 0;
    const cache = new RouteCache(async () => (lookups++, scripted(["1", "1"])));
    expect(await callRoute(cache, "f", "{}", signal())).toEqual({ resultJson: "1", resolved: true });
    expect(await callRoute(cache, "f", "{}", signal())).toMatchObject({ resolved: false });
    expect(lookups).toBe(1);
  });

  it("retries once through a fresh endpoint when no answer came back, closing the stale one", async () => {
    const closed = { count: 0 };
    const stale = scripted([lost()], closed);
    const fresh = scripted(["2"]);
    const cache = new RouteCache(async () => fresh);
    cache.remember("f", stale);
    expect(await callRoute(cache, "f", "{}", signal())).toEqual({ resultJson: "2", resolved: true });
    expect(stale.calls).toBe(1);
    expect(fresh.calls).toBe(1);
    expect(closed.count).toBe(1);
    expect(cache.cached("f")).toBe(fresh);
  });

  it("gives up after one retry with unavailable WORKER_CRASHED", async () => {
    const endpoints = [scripted([lost()]), scripted([lost()]), scripted(["never"])];
    let lookups = 0;
    const cache = new RouteCache(async () => endpoints[lookups++]!);
    const error = await callRoute(cache, "f", "{}", signal()).catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: "unavailable", reason: "WORKER_CRASHED" });
    expect((error as Error).message).toMatch(/function "f" did not answer: no response from the container: connection reset/);
    expect(lookups).toBe(2);
  });

  it("never retries an answer: the function's error, a timeout, or a connection broken mid-answer", async () => {
    for (const failure of [
      runtimeError("FUNCTION_ERROR", { type: "ValueError", message: "no", traceback: "" }),
      new FaasError("deadline_exceeded", "slow", { reason: "INVOKE_TIMEOUT" }),
      new FaasError("unavailable", "broke the connection", { reason: "WORKER_CRASHED" }),
    ]) {
      let lookups = 0;
      const cache = new RouteCache(async () => (lookups++, scripted([failure, "second"])));
      await expect(callRoute(cache, "f", "{}", signal())).rejects.toBe(failure);
      expect(lookups).toBe(1);
    }
  });

  it("retries what the transport marks retryable, and nothing after the caller cancelled", async () => {
    const foreign = new Error("ingress 404");
    let lookups = 0;
    const cache = new RouteCache(async () => (lookups++ === 0 ? scripted([foreign]) : scripted(["ok"])));
    expect((await callRoute(cache, "f", "{}", signal(), { retryable: (e) => e === foreign })).resultJson).toBe("ok");

    const controller = new AbortController();
    controller.abort();
    let calls = 0;
    const routes: Routes = { cached: () => undefined, resolve: async () => (calls++, scripted([lost()])), drop() {} };
    await expect(callRoute(routes, "f", "{}", controller.signal)).rejects.toBeInstanceOf(ConnectionError);
    expect(calls).toBe(1);
  });
});

describe("callRoute over real HTTP connections", () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  /** A TCP server whose n-th connection is handled by `handlers[n]` (the last one for the rest). */
  async function serve(handlers: Array<(socket: Socket) => void>): Promise<number> {
    let n = 0;
    server = createServer((socket) => handlers[Math.min(n++, handlers.length - 1)]!(socket));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    return (server.address() as AddressInfo).port;
  }

  const answer = (socket: Socket) =>
    socket.once("data", () => socket.end('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\nconnection: close\r\n\r\n{"ok":true}'));

  it("retries a connection closed before any byte, on a fresh endpoint", async () => {
    const port = await serve([(socket) => socket.once("data", () => socket.destroy()), answer]);
    let lookups = 0;
    const cache = new RouteCache(async () => {
      lookups++;
      const client = new HttpClient("127.0.0.1", port);
      return { call: (p, s) => client.call(p, 5000, s), stream: noStream, close: () => client.destroy() };
    });
    expect((await callRoute(cache, "f", "{}", signal())).resultJson).toBe('{"ok":true}');
    expect(lookups).toBe(2);
    cache.close();
  });

  it("does not retry a connection that broke after the answer began", async () => {
    const port = await serve([(socket) => socket.once("data", () => socket.end("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"ha")), answer]);
    let lookups = 0;
    const cache = new RouteCache(async () => {
      lookups++;
      const client = new HttpClient("127.0.0.1", port);
      return { call: (p, s) => client.call(p, 5000, s), stream: noStream, close: () => client.destroy() };
    });
    const error = await callRoute(cache, "f", "{}", signal()).catch((e: unknown) => e);
    expect(isFaasError(error) && error.reason).toBe("WORKER_CRASHED");
    expect(lookups).toBe(1);
    cache.close();
  });
});
