import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FaasAgent } from "../gen/faas/v1/agent_pb.ts";
import { startAgent, type RunningAgent } from "../src/agent.ts";
import { loadConfig } from "../src/config.ts";
import { createLogger } from "../src/logger.ts";

const TOKEN = "log-test-token-5f1c9a";

/** The agent's log as JSON lines, parsed as they are written. */
class Sink extends Writable {
  readonly lines: Record<string, any>[] = [];
  raw = "";
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    const text = chunk.toString();
    this.raw += text;
    for (const line of text.split("\n")) {
      if (!line.trim()) continue;
      this.lines.push(JSON.parse(line));
      this.emit("line");
    }
    done();
  }
  /** Resolves with the first line (written already or later) that matches. */
  waitFor(match: (line: Record<string, any>) => boolean): Promise<Record<string, any>> {
    return new Promise((resolve) => {
      const look = () => {
        const found = this.lines.find(match);
        if (!found) return;
        this.off("line", look);
        resolve(found);
      };
      this.on("line", look);
      look();
    });
  }
  /** Lines about one request. */
  of(requestId: string) {
    return this.lines.filter((l) => l.requestId === requestId);
  }
}

async function post(agent: RunningAgent, path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${agent.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}`, ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, requestId: res.headers.get("x-request-id") ?? "", body: await res.json() };
}

describe("the agent's log and x-request-id", () => {
  const sink = new Sink();
  let agent: RunningAgent;
  let dir: string;
  let grpc: Client<typeof FaasAgent>;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "faas-logs-"));
    const env = { ...process.env, PORT: "0", FAAS_HOST: "127.0.0.1", FAAS_STATE_DIR: dir, FAAS_AUTH_TOKEN: TOKEN, FAAS_SHUTDOWN_GRACE: "2" };
    agent = await startAgent(loadConfig(env), createLogger({ level: "info", format: "json", destination: sink }), env);
    grpc = createClient(FaasAgent, createGrpcTransport({ baseUrl: agent.url, interceptors: [(next) => (req) => (req.header.set("authorization", `Bearer ${TOKEN}`), next(req))] }));
    const deployed = await post(agent, "/deploy", { id: "moody", handler: "import os\ndef handle(req):\n    if req.get('die'):\n        os._exit(1)\n    if req.get('fail'):\n        raise KeyError('no such thing')\n    return 'fine'" });
    expect(deployed.status).toBe(200);
  });
  afterAll(async () => {
    await agent?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("answers every request with an x-request-id: the caller's when sane, else a new one", async () => {
    const fresh = await post(agent, "/invoke", { id: "moody" });
    expect(fresh.status).toBe(200);
    expect(fresh.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect((await post(agent, "/invoke", { id: "moody" }, { "x-request-id": "trace-42.a:b/c" })).requestId).toBe("trace-42.a:b/c");
    for (const insane of ["has space", "x".repeat(129), 'quote"d', "semi;colon", "<script>"]) {
      const res = await fetch(`${agent.url}/health`, { headers: { "x-request-id": insane } });
      expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
      await res.text();
    }
    // A refused request gets one too.
    const refused = await fetch(`${agent.url}/functions`);
    expect(refused.status).toBe(401);
    expect(refused.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    await refused.text();
  });

  it("logs a failed REST call once, at warn, with the function, the reason and the request id", async () => {
    const res = await post(agent, "/invoke", { id: "moody", payload: { fail: true } });
    expect(res.status).toBe(500);
    const lines = sink.of(res.requestId);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 40, msg: "invoke failed", function: "moody", reason: "FUNCTION_ERROR", status: 500, requestId: res.requestId });
    expect(lines[0]!.detail).toMatch(/KeyError/);
  });

  it("logs a failed gRPC call the same way, and returns the id as response metadata", async () => {
    const error = await grpc
      .invoke({ id: "moody", payload: { kind: { case: "structValue", value: { fields: { fail: { kind: { case: "boolValue", value: true } } } } } } })
      .then(() => undefined, (e: unknown) => ConnectError.from(e));
    expect(error?.message).toMatch(/KeyError/);
    const requestId = error!.metadata.get("x-request-id") ?? "";
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(sink.of(requestId)).toMatchObject([{ level: 40, msg: "invoke failed", function: "moody", reason: "FUNCTION_ERROR" }]);
    // An incoming id is kept over gRPC too.
    let echoed = "";
    await grpc.invoke({ id: "moody" }, { headers: { "x-request-id": "grpc-trace-7" }, onHeader: (h) => (echoed = h.get("x-request-id") ?? "") });
    expect(echoed).toBe("grpc-trace-7");
    // And over Connect (the Connect adapter, not the gRPC fast path).
    const connect = createClient(FaasAgent, createConnectTransport({ baseUrl: agent.url, httpVersion: "1.1", interceptors: [(next) => (req) => (req.header.set("authorization", `Bearer ${TOKEN}`), next(req))] }));
    let viaConnect = "";
    await connect.invoke({ id: "moody" }, { onHeader: (h) => (viaConnect = h.get("x-request-id") ?? "") });
    expect(viaConnect).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("logs a failed deploy once, with its reason", async () => {
    const res = await post(agent, "/deploy", { id: "broken", handler: "def handle(req)\n    return 1" });
    expect(res.status).toBe(400);
    expect(sink.of(res.requestId)).toMatchObject([{ level: 40, msg: "deploy failed", function: "broken", reason: "HANDLER_INVALID" }]);
  });

  it("logs an authentication failure at warn, never the token", async () => {
    const wrong = "Bearer not-the-token-9d8e7f";
    const res = await fetch(`${agent.url}/invoke`, { method: "POST", headers: { "content-type": "application/json", authorization: wrong }, body: "{}" });
    expect(res.status).toBe(401);
    const requestId = res.headers.get("x-request-id")!;
    await res.text();
    expect(sink.of(requestId)).toMatchObject([{ level: 40, msg: "request refused", reason: "UNAUTHENTICATED", status: 401, path: "/invoke", method: "POST" }]);
    expect(sink.raw).not.toContain("not-the-token-9d8e7f");
    expect(sink.raw).not.toContain(TOKEN);
  });

  it("logs a request refused before the core (invalid JSON) once", async () => {
    const res = await post(agent, "/invoke", "{not json");
    expect(res.status).toBe(400);
    expect(sink.of(res.requestId)).toMatchObject([{ level: 40, msg: "request failed", reason: "INVALID_REQUEST", route: "/invoke" }]);
  });

  it("logs a worker crash with the function and reason, and the call it broke with its request id", async () => {
    const res = await post(agent, "/invoke", { id: "moody", payload: { die: true } });
    expect(res.status).toBe(500);
    expect(sink.of(res.requestId)).toMatchObject([{ msg: "invoke failed", function: "moody", reason: "WORKER_CRASHED" }]);
    // The worker's exit is seen when the process is reaped: wait for that line (bounded by the test timeout).
    const exited = await sink.waitFor((l) => l.msg === "worker exited");
    expect(exited).toMatchObject({ level: 40, function: "moody", reason: "WORKER_EXITED" });
  });
});

describe("createLogger", () => {
  const collect = () => {
    const chunks: string[] = [];
    return { chunks, stream: new Writable({ write: (c: Buffer, _e, done) => (chunks.push(c.toString()), done()) }) };
  };

  it("writes human lines with FAAS_LOG_FORMAT=pretty", () => {
    const { chunks, stream } = collect();
    createLogger({ level: "info", format: "pretty", destination: stream, isTTY: false }).warn({ function: "hello", reason: "FUNCTION_ERROR" }, "invoke failed");
    const text = chunks.join("");
    expect(text).toMatch(/WARN/);
    expect(text).toContain("invoke failed");
    expect(text).toContain('"function":"hello"');
    expect(() => JSON.parse(text)).toThrow();
    expect(text.trim().split("\n")).toHaveLength(1);
  });

  it("writes JSON lines when not on a terminal, or with FAAS_LOG_FORMAT=json on one", () => {
    for (const options of [{ format: "auto" as const, isTTY: false }, { format: "json" as const, isTTY: true }]) {
      const { chunks, stream } = collect();
      createLogger({ level: "info", destination: stream, ...options }).info({ function: "hello" }, "function deployed");
      expect(JSON.parse(chunks.join(""))).toMatchObject({ level: 30, msg: "function deployed", function: "hello" });
    }
  });

  it("redacts tokens and environments", () => {
    const { chunks, stream } = collect();
    createLogger({ level: "info", format: "json", destination: stream }).info({ authorization: "Bearer s3cret", env: { A: "s3cret" } }, "x");
    expect(chunks.join("")).not.toContain("s3cret");
  });
});
