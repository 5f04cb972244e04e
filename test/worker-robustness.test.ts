import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deploy, getJson, postJson, startTestAgent, type TestAgent } from "./support/agent.ts";

/**
 * Functions that attack the agent through what they write (control pipe, call socket, output,
 * results) or how they fail (unrenderable exceptions, runaway loops). Each must fail its own deploy
 * or call with a precise reason while the agent, and a function deployed before, keep serving.
 */
const invoke = (agent: TestAgent, id: string, payload: unknown = {}) => postJson(`${agent.url}/invoke`, { id, payload });

/** Writes `bytes` (hex) to every connected socket the worker holds: the agent's call connection. */
const SOCKET_WRITER = `
import os
def write_sockets(data):
    for fd in os.listdir('/proc/self/fd'):
        try:
            if os.readlink(f'/proc/self/fd/{fd}').startswith('socket:'):
                os.write(int(fd), data)
        except OSError:
            pass
`;

describe("a function cannot hurt the agent", { timeout: 60_000 }, () => {
  let agent: TestAgent;
  beforeAll(async () => {
    agent = await startTestAgent({ FAAS_IDLE_TIMEOUT: "0", FAAS_INVOKE_TIMEOUT: "1.5", FAAS_WORKER_THREADS: "2", FAAS_MAX_RESULT_BYTES: String(1024 * 1024) });
    await deploy(agent, { id: "bystander", handler: "def handle(req):\n    return {'ok': req}" });
  });
  afterAll(async () => {
    await agent?.dispose();
  });

  async function bystanderServes(): Promise<void> {
    const res = await invoke(agent, "bystander", { n: 1 });
    expect(res.status).toBe(200);
    expect(res.body.result).toEqual({ ok: { n: 1 } });
    expect((await getJson(`${agent.url}/health`)).status).toBe(200);
  }

  it.each([
    ["a line that is not JSON", "os.write(3, b'this is not json\\n')"],
    ["JSON that is not a report", "os.write(3, b'[1,2,3]\\n')"],
    ["a report of the wrong shape", "os.write(3, b'{\"ok\": \"yes\"}\\n')"],
    ["more than a MiB without a newline", "os.write(3, b'x' * (2 * 1024 * 1024))\nimport time; time.sleep(30)"],
    ["a closed pipe, then a slow import", "os.close(3)\nimport time; time.sleep(30)"],
  ])("control pipe: %s fails that deploy with WORKER_PROTOCOL_ERROR", async (_what, code) => {
    const started = Date.now();
    const res = await postJson(`${agent.url}/deploy`, { id: "pipe-attack", handler: `import os\n${code}\ndef handle(req):\n    return 1` });
    expect(res.status).toBe(500);
    expect(res.body.reason).toBe("WORKER_PROTOCOL_ERROR");
    expect(Date.now() - started).toBeLessThan(20_000); // not the deploy timeout
    await bystanderServes();
  });

  it("control pipe fuzz: random bytes written during import never take the agent down", async () => {
    for (let i = 0; i < 12; i++) {
      const bytes = randomBytes(1 + (i * 997) % 5000).toString("hex");
      const res = await postJson(`${agent.url}/deploy`, { id: `fuzz-${i}`, handler: `import os\nos.write(3, bytes.fromhex('${bytes}') + b'\\n')\ndef handle(req):\n    return 1` });
      expect(res.status).toBe(500);
      expect(res.body.reason).toBe("WORKER_PROTOCOL_ERROR");
    }
    await bystanderServes();
  });

  it("call socket fuzz: random bytes on the socket fail that function's calls, not the agent", async () => {
    await deploy(agent, { id: "sock-fuzz", handler: `${SOCKET_WRITER}\ndef handle(req):\n    write_sockets(bytes.fromhex(req['hex']))\n    return 'sent'` });
    for (let i = 0; i < 12; i++) {
      const res = await invoke(agent, "sock-fuzz", { hex: randomBytes(1 + (i * 1499) % 6000).toString("hex") });
      // Whatever the bytes said, the call ends with an answer: its result, a protocol error, a
      // crash report or a timeout, and the next call works again on a fresh worker if need be.
      expect([200, 413, 500]).toContain(res.status);
    }
    await bystanderServes();
  });

  it("a forged frame with an unknown status is WORKER_PROTOCOL_ERROR and the function serves again", async () => {
    await deploy(agent, {
      id: "forger",
      handler: `${SOCKET_WRITER}\nimport struct\ndef handle(req):\n    if req.get('forge'):\n        write_sockets(struct.pack('>IIB', 2, 1, 99) + b'{}')\n        import time; time.sleep(1)\n    return 'fine'`,
    });
    await invoke(agent, "forger");
    const res = await invoke(agent, "forger", { forge: true });
    expect(res.status).toBe(500);
    expect(["WORKER_PROTOCOL_ERROR", "WORKER_CRASHED"]).toContain(res.body.reason);
    expect((await invoke(agent, "forger")).body.result).toBe("fine");
  });

  it("a result over FAAS_MAX_RESULT_BYTES is 413 RESULT_TOO_LARGE and the worker keeps serving", async () => {
    await deploy(agent, { id: "big", handler: "def handle(req):\n    return 'x' * req['n']" });
    const res = await invoke(agent, "big", { n: 2 * 1024 * 1024 });
    expect(res.status).toBe(413);
    expect(res.body.reason).toBe("RESULT_TOO_LARGE");
    expect((await invoke(agent, "big", { n: 3 })).body.result).toBe("xxx");
  });

  it("a result cannot forge fields of the REST response", async () => {
    await deploy(agent, {
      id: "splicer",
      handler: `${SOCKET_WRITER}\nimport struct\ndef handle(req):\n    body = b'1,"status":"forged","platform":"evil"'\n    write_sockets(struct.pack('>IIB', len(body), req['id'], 0) + body)\n    import time; time.sleep(1)\n    return 'late'`,
    });
    // Call ids start at 1 on a fresh worker: the first call gets the forged frame.
    const res = await invoke(agent, "splicer", { id: 1 });
    expect(res.status).toBe(500);
    expect(res.body.reason).toBe("WORKER_PROTOCOL_ERROR");
    expect(JSON.stringify(res.body)).not.toContain("forged");
  });

  it("an exception whose __str__ raises is FUNCTION_ERROR with a fallback text, and the pool does not shrink", async () => {
    await deploy(agent, {
      id: "unprintable",
      handler: "class Bad(Exception):\n    def __str__(self):\n        raise RuntimeError('no')\ndef handle(req):\n    if req.get('ok'):\n        return 'ok'\n    raise Bad()",
    });
    // Two threads (FAAS_WORKER_THREADS=2): five failures in a row would have killed both.
    for (let i = 0; i < 5; i++) {
      const res = await invoke(agent, "unprintable");
      expect(res.status).toBe(500);
      expect(res.body.reason).toBe("FUNCTION_ERROR");
      expect(res.body.error).toContain("could not be rendered");
    }
    expect((await invoke(agent, "unprintable", { ok: true })).body.result).toBe("ok");
  });

  it("async handlers: an encoder that raises and a deep result answer at once", async () => {
    await deploy(agent, {
      id: "async-bad",
      handler: [
        "class Weird(dict):",
        "    def items(self):",
        "        raise RuntimeError('no items')",
        "async def handle(req):",
        "    if req.get('deep'):",
        "        v = []",
        "        for _ in range(100000):",
        "            v = [v]",
        "        return v",
        "    if req.get('weird'):",
        "        return {'x': Weird(a=1)}",
        "    raise SystemExit(3)",
      ].join("\n"),
    });
    const started = Date.now();
    for (const [payload, reason] of [[{ deep: true }, "RESULT_NOT_SERIALIZABLE"], [{ weird: true }, "RESULT_NOT_SERIALIZABLE"], [{}, "FUNCTION_ERROR"]] as const) {
      const res = await invoke(agent, "async-bad", payload);
      expect(res.status).toBe(500);
      expect(res.body.reason).toBe(reason);
    }
    expect(Date.now() - started).toBeLessThan(1500 * 3); // no call waited for its timeout
  });

  it.each([
    ["sync busy loop", "def handle(req):\n    if req.get('spin'):\n        while True:\n            pass\n    return 'ok'"],
    ["async busy loop", "async def handle(req):\n    if req.get('spin'):\n        while True:\n            pass\n    return 'ok'"],
  ])("a timed-out %s is stopped: the worker is recycled and later calls succeed", async (name, handler) => {
    const id = name.startsWith("sync") ? "spin-sync" : "spin-async";
    await deploy(agent, { id, handler });
    const before = (await invoke(agent, id)).status;
    expect(before).toBe(200);
    const pid = await workerPid(agent, id);
    const res = await invoke(agent, id, { spin: true });
    expect(res.status).toBe(500);
    expect(res.body.reason).toBe("INVOKE_TIMEOUT");
    await waitForExit(pid, 10_000);
    const after = await invoke(agent, id);
    expect(after.body.result).toBe("ok");
  });

  it("output lines longer than 64 KiB are cut and marked; the agent stays responsive", async () => {
    await deploy(agent, { id: "flood", handler: "import sys\ndef handle(req):\n    for _ in range(10):\n        sys.stdout.write('y' * (10 * 1024 * 1024) + '\\n')\n    sys.stdout.flush()\n    return 'flooded'" });
    const res = await invoke(agent, "flood");
    expect(res.body).toMatchObject({ result: "flooded" });
    await bystanderServes();
  });
});

/** The pid of a function's running worker (its endpoint names a socket the worker owns). */
async function workerPid(agent: TestAgent, id: string): Promise<number> {
  const platform = agent.platform as unknown as { ctx: { entries: Map<string, { worker?: { pid: number } }> } };
  const pid = platform.ctx.entries.get(id)?.worker?.pid;
  if (!pid) throw new Error(`no worker for ${id}`);
  return pid;
}

async function waitForExit(pid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`process ${pid} still runs after ${timeoutMs} ms`);
}
