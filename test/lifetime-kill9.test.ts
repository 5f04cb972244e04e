/**
 * `kill -9` of the agent at each step of a deploy (during pip, during the handler's import, right
 * after the swap) and during a delete: nothing it started outlives it, and after a restart on the
 * same state directory every function is at its old version or at its new one, with nothing of the
 * interrupted step left behind. Each step is reached on a barrier the test holds (a package index
 * that never answers, a handler whose import connects to the test and waits), never on a sleep.
 */
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from "node:http";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { noProcessesMentioning, spawnAgent, type AgentProcess } from "./support/agent-process.ts";
import { requirePart } from "./support/requires.ts";

const skip = await requirePart("bubblewrap");

const V1 = "def handle(req):\n    return 'v1'\n";
const V2 = "def handle(req):\n    return 'v2'\n";

/** A TCP barrier: resolves `reached` when the first connection arrives, and holds it open. */
async function barrier(): Promise<{ port: number; reached: Promise<Socket>; close(): void }> {
  const held: Socket[] = [];
  let arrive!: (socket: Socket) => void;
  const reached = new Promise<Socket>((resolve) => (arrive = resolve));
  const server: Server = createServer((socket) => {
    held.push(socket);
    socket.on("error", () => {});
    arrive(socket);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as { port: number }).port,
    reached,
    close() {
      for (const s of held) s.destroy();
      server.close();
    },
  };
}

/** A package index that takes pip's first request and never answers it. */
async function heldIndex(): Promise<{ url: string; reached: Promise<IncomingMessage>; close(): void }> {
  const held: IncomingMessage[] = [];
  let arrive!: (req: IncomingMessage) => void;
  const reached = new Promise<IncomingMessage>((resolve) => (arrive = resolve));
  const server: HttpServer = createHttpServer((req) => {
    held.push(req);
    arrive(req);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/simple/`,
    reached,
    close() {
      for (const r of held) r.socket.destroy();
      server.close();
    },
  };
}

/** The import of this handler connects to the barrier and waits there for ever. */
const stuckImport = (port: number) => `import socket\n_held = socket.create_connection(("127.0.0.1", ${port}))\n_held.recv(1)\ndef handle(req):\n    return 'v2'\n`;

describe.skipIf(skip)("kill -9 of the agent at each deploy step", () => {
  let stateDir = "";
  let agent: AgentProcess | undefined;
  const cleanups: Array<() => void> = [];

  afterEach(async () => {
    await agent?.stop().catch(() => {});
    agent = undefined;
    for (const c of cleanups.splice(0)) c();
    if (stateDir) await noProcessesMentioning(stateDir);
    await rm(stateDir, { recursive: true, force: true });
  });

  async function start(extra: Record<string, string> = {}): Promise<AgentProcess> {
    agent = await spawnAgent({ FAAS_STATE_DIR: stateDir, FAAS_REQUIRE_ISOLATION: "1", ...extra });
    return agent;
  }

  async function post(path: string, body: unknown): Promise<{ status: number; body: any }> {
    const res = await fetch(`${agent!.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  /** Starts a deploy whose answer nobody waits for (the agent dies under it). */
  function deployInBackground(body: unknown): void {
    void fetch(`${agent!.url}/deploy`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }).then(
      (r) => r.text(),
      () => undefined,
    );
  }

  /** Kills the agent with SIGKILL; resolves once nothing it started runs any more. */
  async function kill9(): Promise<string> {
    const socketDir = (await readFile(join(stateDir, "socket-dir"), "utf8")).trim();
    await agent!.kill9();
    agent = undefined;
    await noProcessesMentioning(stateDir);
    return socketDir;
  }

  async function revisions(id: string): Promise<string[]> {
    return readdir(join(stateDir, "functions", id, "revisions"));
  }

  async function setUp(extra: Record<string, string> = {}): Promise<{ v1: string }> {
    stateDir = await mkdtemp(join(tmpdir(), "faas-kill9-"));
    await start(extra);
    const res = await post("/deploy", { id: "fn", handler: V1 });
    expect(res.status).toBe(200);
    expect((await post("/invoke", { id: "fn" })).body.result).toBe("v1");
    return { v1: res.body.revision };
  }

  /** Restarts on the same state directory and checks `fn` serves `expected` from revision `revision` only. */
  async function restartedServes(expected: string, revision: string, killedSocketDir: string): Promise<void> {
    await start();
    expect(existsSync(killedSocketDir)).toBe(false);
    const res = await post("/invoke", { id: "fn" });
    expect(res.body).toMatchObject({ result: expected, cold_start: true });
    const listed = await (await fetch(`${agent!.url}/functions`)).json();
    expect(listed.functions.map((f: any) => [f.id, f.revision])).toEqual([["fn", revision]]);
    expect(await revisions("fn")).toEqual([revision]);
  }

  it("during pip: no pip outlives it; after a restart the old version serves and the partial virtualenv is gone", async () => {
    const { v1 } = await setUp();
    const index = await heldIndex();
    cleanups.push(() => index.close());
    deployInBackground({ id: "fn", handler: V2, requirements: "heldpkg\n", params: { PIP_INDEX_URL: index.url } });
    const request = await index.reached;
    expect(request.url).toMatch(/heldpkg/);
    expect(await readdir(join(stateDir, "venvs"))).toHaveLength(1);
    const socketDir = await kill9();
    await restartedServes("v1", v1, socketDir);
    expect(await readdir(join(stateDir, "venvs"))).toEqual([]);
  });

  it("during the handler's import: no worker outlives it; after a restart the old version serves", async () => {
    const { v1 } = await setUp();
    const gate = await barrier();
    cleanups.push(() => gate.close());
    deployInBackground({ id: "fn", handler: stuckImport(gate.port) });
    await gate.reached;
    expect(await revisions("fn")).toHaveLength(2);
    const socketDir = await kill9();
    await restartedServes("v1", v1, socketDir);
  });

  it("during the import of a first deploy: after a restart the function does not exist, nor its directory", async () => {
    await setUp();
    const gate = await barrier();
    cleanups.push(() => gate.close());
    deployInBackground({ id: "newcomer", handler: stuckImport(gate.port) });
    await gate.reached;
    expect(existsSync(join(stateDir, "functions", "newcomer"))).toBe(true);
    await kill9();
    await start();
    expect((await post("/invoke", { id: "newcomer" })).status).toBe(404);
    expect(existsSync(join(stateDir, "functions", "newcomer"))).toBe(false);
    expect((await post("/invoke", { id: "fn" })).body.result).toBe("v1");
  });

  it("right after the swap: after a restart the new version serves, the old revision is gone", async () => {
    await setUp();
    const res = await post("/deploy", { id: "fn", handler: V2 });
    expect(res.status).toBe(200);
    const socketDir = await kill9();
    await restartedServes("v2", res.body.revision, socketDir);
  });

  it("during a delete's drain: the delete is already recorded, so the function does not come back", async () => {
    // A drain grace far longer than the test: the delete is still draining when the agent dies.
    await setUp({ FAAS_SHUTDOWN_GRACE: "120" });
    const gate = await barrier();
    cleanups.push(() => gate.close());
    // A call in flight makes the delete wait (up to the drain grace) before it stops the worker.
    await post("/deploy", { id: "fn", handler: `import socket\ndef handle(req):\n    s = socket.create_connection(("127.0.0.1", ${gate.port}))\n    s.recv(1)\n    return 'late'\n` });
    void post("/invoke", { id: "fn" }).catch(() => undefined);
    await gate.reached;
    void post("/delete", { id: "fn" }).catch(() => undefined);
    // The rename that records the delete comes first; wait for it, not for a time.
    const deadline = Date.now() + 10_000;
    while (existsSync(join(stateDir, "functions", "fn"))) {
      if (Date.now() > deadline) throw new Error("the delete was not recorded");
      await new Promise((r) => setTimeout(r, 10));
    }
    const leftovers = (await readdir(stateDir)).filter((n) => n.startsWith(".deleted-"));
    expect(leftovers).toHaveLength(1);
    await kill9();
    await start();
    expect((await post("/invoke", { id: "fn" })).status).toBe(404);
    expect((await readdir(stateDir)).filter((n) => n.startsWith(".deleted-"))).toEqual([]);
  });
});
