/**
 * The local platform's warm pool (src/adapters/local/pool.ts): a cold start handed to a spare
 * worker sees exactly what a worker started for its function sees — its own revision at its own
 * path (read-only), its own env and nothing of the spare's, a HOME of its own, its own PID
 * namespace, uid 65534 when the agent is root — and nothing of another function served by a spare.
 * Functions the pool cannot serve (start-up settings in their env) get a worker of their own.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { processesMentioning, spawnAgent, type AgentProcess } from "./support/agent-process.ts";
import { requirePart } from "./support/requires.ts";

const skip = await requirePart("bubblewrap");
const SECRET = `pool-secret-${randomBytes(8).toString("hex")}`;

const PROBE = String.raw`
import os, sys

def attempt(fn):
    try:
        return {"ok": True, "value": fn()}
    except Exception as e:
        return {"ok": False, "error": type(e).__name__ + ": " + str(e)}

def write(path):
    with open(path, "w") as f:
        f.write("x")
    return "written"

def handle(req):
    state = req["state_dir"]
    return {
        "uid": os.getuid(),
        "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "cwd": os.getcwd(),
        "file": __file__,
        "env": dict(os.environ),
        "state_dir": attempt(lambda: os.listdir(state)),
        "functions": attempt(lambda: os.listdir(os.path.join(state, "functions"))),
        "other_record": attempt(lambda: open(os.path.join(state, "functions", req["other"], "function.json")).read()),
        "own_overwrite": attempt(lambda: write(__file__)),
        "home": attempt(lambda: write(os.path.join(os.environ["HOME"], "note"))),
        "cmdline": open("/proc/self/cmdline", "rb").read().replace(b"\0", b" ").decode(),
        "python_path": sys.path[:1],
    }
`;

interface Target {
  agent: AgentProcess;
  stateDir: string;
}

async function api(target: Target, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${target.agent.url}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** The warm_pool check's figures: spares ready, cold starts served by a spare. */
async function pool(target: Target): Promise<{ ready: number; served: number; message: string }> {
  const check = (await api(target, "/health")).body.checks.find((c: any) => c.name === "warm_pool");
  const m = /^(\d+) spare workers ready; cold starts served by a spare: (\d+)/.exec(check?.message ?? "");
  if (!m) throw new Error(`no warm_pool figures in Health: ${JSON.stringify(check)}`);
  return { ready: Number(m[1]), served: Number(m[2]), message: check.message };
}

/** Waits (up to a deadline) until `n` spares are ready: they start in the background. */
async function spares(target: Target, n: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { ready, message } = await pool(target);
    if (ready >= n) return;
    if (Date.now() > deadline) throw new Error(`the pool did not fill: ${message}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe.skipIf(skip)("the warm pool", () => {
  let target: Target;

  beforeAll(async () => {
    const stateDir = await mkdtemp(join(tmpdir(), "faas-pool-"));
    target = { stateDir, agent: await spawnAgent({ FAAS_STATE_DIR: stateDir, FAAS_REQUIRE_ISOLATION: "1", FAAS_WARM_WORKERS: "2" }) };
  });
  afterAll(async () => {
    await target?.agent.stop();
    if (target) await rm(target.stateDir, { recursive: true, force: true });
  });

  it("serves a cold start from a spare that sees only its own function, as a worker of its own would", async () => {
    expect((await api(target, "/deploy", { id: "first", handler: PROBE, env: { SECRET } })).status).toBe(200);
    await spares(target, 2);
    const before = await pool(target);
    expect((await api(target, "/deploy", { id: "second", handler: PROBE, env: { MINE: "2" } })).status).toBe(200);
    expect((await pool(target)).served).toBe(before.served + 1);

    const res = await api(target, "/invoke", { id: "second", payload: { state_dir: target.stateDir, other: "first" } });
    expect(res.status).toBe(200);
    const r = res.body.result;
    const record = JSON.parse(await readFile(join(target.stateDir, "functions", "second", "function.json"), "utf8"));
    const revision = join(target.stateDir, "functions", "second", "revisions", record.revision);
    expect(r.cwd).toBe(revision);
    expect(r.file).toBe(join(revision, "handler.py"));
    expect(r.cmdline).toContain(`--handler ${join(revision, "handler.py")}`);
    if (process.getuid?.() === 0) expect(r.uid).toBe(65534);
    expect(r.pids.every((pid: number) => pid < 10)).toBe(true);
    // Its own env: what it was deployed with, the runtime's settings; nothing of the other function.
    expect(r.env.MINE).toBe("2");
    expect(r.env.FAAS_FUNCTION_ID).toBe("second");
    expect(r.env.FAAS_REVISION).toBe(record.revision);
    expect(JSON.stringify(r)).not.toContain(SECRET);
    // The state directory shows its own function only; the other's record is not there.
    expect(r.state_dir).toEqual({ ok: true, value: ["functions"] });
    expect(r.functions).toEqual({ ok: true, value: ["second"] });
    expect(r.other_record.ok).toBe(false);
    expect(r.own_overwrite.ok).toBe(false);
    expect(r.own_overwrite.error).toMatch(/Read-only file system|Permission denied/);
    expect(r.home).toEqual({ ok: true, value: "written" });
    // The machine sees it as the function's worker (ps shows what it serves).
    const seen = await processesMentioning(join(revision, "handler.py"));
    expect(seen.some((p) => p.cmdline.includes("faas_runtime.py") && !/^\S*bwrap /.test(p.cmdline))).toBe(true);
  });

  it("reports a handler that fails to import in a spare like any other: HANDLER_INVALID with its traceback", async () => {
    await spares(target, 1);
    const before = await pool(target);
    const res = await api(target, "/deploy", { id: "broken", handler: "def handle(req):\n    return 1\nraise ValueError('no import today')\n" });
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toContain("HANDLER_INVALID");
    expect(JSON.stringify(res.body)).toContain("no import today");
    expect((await pool(target)).served).toBe(before.served + 1);
  });

  it("starts a worker of its own for a function whose env the interpreter reads as it starts", async () => {
    await spares(target, 1);
    const before = await pool(target);
    const res = await api(target, "/deploy", { id: "own", handler: "import sys\ndef handle(req):\n    return sys.flags.dont_write_bytecode\n", env: { PYTHONDONTWRITEBYTECODE: "" } });
    expect(res.status).toBe(200);
    expect((await pool(target)).served).toBe(before.served);
  });
});
