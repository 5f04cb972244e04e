import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa, type ResultPromise } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ContainerEndpoint } from "../src/adapters/docker/channel.ts";
import { ConnectionError } from "../src/runtime/http-client.ts";
import { isFaasError } from "../src/domain/errors.ts";
import { RUNTIME_SHIM } from "../src/runtime/worker.ts";

const HANDLER = `import time

def handle(req):
    if req.get("sleep"):
        time.sleep(req["sleep"])
    if req.get("fail"):
        raise ValueError("asked to fail")
    return {"echo": req}
`;

async function freePort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  server.close();
  return port;
}

/** The shim in its container mode (HTTP on a TCP port), as function images run it, in real Python. */
describe("runtime shim: HTTP and framed calls on one port", () => {
  let dir: string;
  let port: number;
  let shim: ResultPromise;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "faas-frames-"));
    await writeFile(join(dir, "handler.py"), HANDLER);
    port = await freePort();
    shim = execa("python3", [RUNTIME_SHIM, "--handler", join(dir, "handler.py"), "--listen", `tcp:127.0.0.1:${port}`, "--protocol", "http"], { reject: false });
    for (let i = 0; i < 100; i++) {
      if (await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error("the shim never answered /healthz");
  });

  afterAll(async () => {
    shim?.kill();
    await shim;
    await rm(dir, { recursive: true, force: true });
  });

  it("answers plain HTTP as before", async () => {
    const res = await fetch(`http://127.0.0.1:${port}/`, { method: "POST", body: JSON.stringify({ a: 1 }) });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ echo: { a: 1 } });
  });

  it("multiplexes framed calls on one connection, results out of order", async () => {
    const endpoint = new ContainerEndpoint("test", port, 10000);
    try {
      const signal = new AbortController().signal;
      const order: string[] = [];
      const slow = endpoint.call(JSON.stringify({ sleep: 2, n: "slow" }), signal).then((r) => (order.push("slow"), r));
      const fast = Array.from({ length: 50 }, (_, i) => endpoint.call(JSON.stringify({ n: i }), signal).then((r) => (order.push("fast"), r)));
      const results = await Promise.all([slow, ...fast]);
      expect(JSON.parse(results[0]!)).toEqual({ echo: { sleep: 2, n: "slow" } });
      expect(results.slice(1).map((r) => JSON.parse(r).echo.n)).toEqual(Array.from({ length: 50 }, (_, i) => i));
      // The slow call did not hold the others back (no head-of-line blocking).
      expect(order.at(-1)).toBe("slow");
    } finally {
      endpoint.close();
    }
  });

  it("reports the function's exception, a timeout and a cancel, and the connection stays usable", async () => {
    const endpoint = new ContainerEndpoint("test", port, 5000);
    // The deadline is the endpoint's own: a second endpoint with a short one.
    const short = new ContainerEndpoint("test", port, 1000);
    try {
      const error = await endpoint.call(JSON.stringify({ fail: true }), new AbortController().signal).catch((e: unknown) => e);
      expect(isFaasError(error) && error.reason).toBe("FUNCTION_ERROR");
      expect(isFaasError(error) && error.metadata.exception_type).toBe("ValueError");
      const timeout = await short.call(JSON.stringify({ sleep: 3 }), new AbortController().signal).catch((e: unknown) => e);
      expect(isFaasError(timeout) && timeout.reason).toBe("INVOKE_TIMEOUT");
      expect(JSON.parse(await short.call('{"n":1}', new AbortController().signal))).toEqual({ echo: { n: 1 } });
      const controller = new AbortController();
      const cancelled = endpoint.call(JSON.stringify({ sleep: 1 }), controller.signal).catch((e: unknown) => e);
      controller.abort();
      expect(isFaasError(await cancelled) && ((await cancelled) as { reason: string }).reason).toBe("CANCELLED");
      expect(JSON.parse(await endpoint.call('{"n":[1,2]}', new AbortController().signal))).toEqual({ echo: { n: [1, 2] } });
    } finally {
      endpoint.close();
      short.close();
    }
  });

  it("fails pending calls with ConnectionError when nothing answers", async () => {
    const endpoint = new ContainerEndpoint("test", await freePort(), 5000);
    const error = await endpoint.call("{}", new AbortController().signal).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectionError);
    endpoint.close();
  });
});
