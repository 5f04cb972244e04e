/**
 * A hostile function against its agent and its neighbours, on the local platform, with the agent
 * started as `npm start` starts it (its own process, a token in its environment). Each attack of
 * issue 14 is a handler; under bubblewrap each one is defeated. The same handler run by an agent
 * without a sandbox (FAAS_BWRAP pointing nowhere) shows that the attacks are real: there they work.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { noProcessesMentioning, processesMentioning, spawnAgent, type AgentProcess } from "./support/agent-process.ts";
import { requirePart } from "./support/requires.ts";

const skip = await requirePart("bubblewrap");
const TOKEN = `tok-${randomBytes(12).toString("hex")}`;
const SECRET = `victim-secret-${randomBytes(8).toString("hex")}`;

/** The victim: a function with a secret in its env, answering "victim-ok". */
const VICTIM = `
def handle(req):
    return "victim-ok"
`;

/** The attacker: tries everything issue 14 found it could do, and reports what it got. */
const ATTACKER = String.raw`
import json, os, socket, urllib.request, urllib.error

def attempt(fn):
    try:
        return {"ok": True, "value": fn()}
    except Exception as e:
        return {"ok": False, "error": type(e).__name__ + ": " + str(e)}

def read(path):
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace")

def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return "written"

def tokens_in_proc():
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                for var in read("/proc/%s/environ" % pid).split("\0"):
                    if var.startswith("FAAS_AUTH_TOKEN="):
                        found.append(var.split("=", 1)[1])
            except Exception:
                pass
    return found

def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    s.close()
    return "connected"

def call_api(url, token):
    req = urllib.request.Request(url + "/functions", headers={"Authorization": "Bearer " + token} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code

def handle(req):
    stolen = tokens_in_proc() + [v for k, v in os.environ.items() if k == "FAAS_AUTH_TOKEN"]
    own = os.path.join(os.getcwd(), "handler.py")
    return {
        "uid": os.getuid(),
        "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "agent_environ": attempt(lambda: read("/proc/%d/environ" % req["agent_pid"])),
        "stolen": stolen,
        "env_keys": sorted(os.environ),
        "victim_record": attempt(lambda: read(req["victim_record"])),
        "victim_overwrite": attempt(lambda: write(req["victim_handler"], "def handle(req):\n    return 'pwned'\n")),
        "own_overwrite": attempt(lambda: write(own, "def handle(req):\n    return 'self-pwned'\n")),
        "victim_socket": attempt(lambda: connect(req["victim_socket"])),
        "state_dir": attempt(lambda: os.listdir(req["state_dir"])),
        "functions_dir": attempt(lambda: os.listdir(os.path.join(req["state_dir"], "functions"))),
        "write_usr": attempt(lambda: write("/usr/pwned", "x")),
        "write_scratch": attempt(lambda: write(os.path.join(os.environ["HOME"], "note"), "x")),
        "write_tmp": attempt(lambda: write("/tmp/note", "x")),
        "api_with_stolen": [call_api(req["agent_url"], t) for t in stolen] or [call_api(req["agent_url"], "")],
    }
`;

interface Target {
  agent: AgentProcess;
  stateDir: string;
}

async function startTarget(extra: Record<string, string> = {}): Promise<Target> {
  const stateDir = await mkdtemp(join(tmpdir(), "faas-hostile-"));
  const agent = await spawnAgent({ FAAS_STATE_DIR: stateDir, FAAS_AUTH_TOKEN: TOKEN, ...extra });
  return { agent, stateDir };
}

async function api(target: Target, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${target.agent.url}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function deployOk(target: Target, body: Record<string, unknown>): Promise<any> {
  const res = await api(target, "/deploy", body);
  if (res.status !== 200) throw new Error(`deploy failed with ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Deploys victim and attacker, wakes the victim, and runs the attack with every path the attacker could want. */
async function attack(target: Target): Promise<any> {
  await deployOk(target, { id: "victim", handler: VICTIM, env: { SECRET } });
  await deployOk(target, { id: "attacker", handler: ATTACKER });
  expect((await api(target, "/invoke", { id: "victim", payload: {} })).body.result).toBe("victim-ok");
  const record = JSON.parse(await readFile(join(target.stateDir, "functions", "victim", "function.json"), "utf8"));
  const socketDir = (await readFile(join(target.stateDir, "socket-dir"), "utf8")).trim();
  const victimDir = (await readdir(socketDir)).find((name) => name.startsWith("victim-"));
  expect(victimDir).toBeDefined();
  const res = await api(target, "/invoke", {
    id: "attacker",
    payload: {
      agent_pid: target.agent.pid,
      agent_url: target.agent.url,
      state_dir: target.stateDir,
      victim_record: join(target.stateDir, "functions", "victim", "function.json"),
      victim_handler: join(target.stateDir, "functions", "victim", "revisions", record.revision, "handler.py"),
      victim_socket: join(socketDir, victimDir!, "w.sock"),
    },
  });
  expect(res.status).toBe(200);
  return res.body.result;
}

describe.skipIf(skip)("a hostile local function, sandboxed (bubblewrap)", () => {
  let target: Target;
  let report: any;

  beforeAll(async () => {
    target = await startTarget({ FAAS_REQUIRE_ISOLATION: "1" });
    report = await attack(target);
  });
  afterAll(async () => {
    await target?.agent.stop();
    if (target) await rm(target.stateDir, { recursive: true, force: true });
  });

  it("says so in Health", async () => {
    const health = await api(target, "/health");
    expect(health.body.isolation).toBe("bwrap");
    expect(health.body.checks).toContainEqual(expect.objectContaining({ name: "isolation", ok: true }));
  });

  it("runs as an unprivileged uid when the agent is root", () => {
    if (process.getuid?.() === 0) expect(report.uid).toBe(65534);
    else expect(report.uid).toBe(process.getuid?.());
  });

  it("sees no other process: not the agent, not another function", () => {
    expect(report.pids).not.toContain(target.agent.pid);
    // Its own PID namespace: bubblewrap's init and the worker (and its threads' parent), nothing else.
    expect(report.pids.every((pid: number) => pid < 10)).toBe(true);
    expect(report.agent_environ.ok).toBe(false);
  });

  it("cannot steal the agent's token, so the API refuses it", () => {
    expect(report.stolen).toEqual([]);
    expect(report.env_keys).not.toContain("FAAS_AUTH_TOKEN");
    expect(report.env_keys).not.toContain("FAAS_STATE_DIR");
    expect(report.api_with_stolen).toEqual([401]);
  });

  it("cannot read another function's record (its env secrets) nor the state directory", () => {
    expect(report.victim_record.ok).toBe(false);
    expect(JSON.stringify(report)).not.toContain(SECRET);
    // Its view of the state directory is the path to its own revision and scratch, nothing beside.
    expect(report.state_dir).toEqual({ ok: true, value: ["functions"] });
    expect(report.functions_dir).toEqual({ ok: true, value: ["attacker"] });
  });

  it("cannot overwrite another function's handler nor its own; the victim serves unchanged", async () => {
    expect(report.victim_overwrite.ok).toBe(false);
    expect(report.own_overwrite.ok).toBe(false);
    expect(report.own_overwrite.error).toMatch(/Read-only file system|Permission denied/);
    // A cold start reads the handler from disk again: it is still the victim's.
    const before = (await api(target, "/functions")).body.functions.find((f: any) => f.id === "victim");
    await target.agent.stop();
    target.agent = await spawnAgent({ FAAS_STATE_DIR: target.stateDir, FAAS_AUTH_TOKEN: TOKEN, FAAS_REQUIRE_ISOLATION: "1" });
    const res = await api(target, "/invoke", { id: "victim", payload: {} });
    expect(res.body).toMatchObject({ result: "victim-ok", cold_start: true });
    const after = (await api(target, "/functions")).body.functions.find((f: any) => f.id === "victim");
    expect(after.revision).toBe(before.revision);
  });

  it("cannot connect to another function's unix socket", () => {
    expect(report.victim_socket.ok).toBe(false);
    expect(report.victim_socket.error).toMatch(/FileNotFoundError|No such file/);
  });

  it("writes only its scratch directory and /tmp", () => {
    expect(report.write_usr.ok).toBe(false);
    expect(report.write_scratch).toEqual({ ok: true, value: "written" });
    expect(report.write_tmp).toEqual({ ok: true, value: "written" });
  });
});

describe.skipIf(skip)("the same attacks without a sandbox (the control: they are real)", () => {
  let target: Target;
  let report: any;

  beforeAll(async () => {
    target = await startTarget({ FAAS_BWRAP: "/nonexistent/bwrap" });
    report = await attack(target);
  });
  afterAll(async () => {
    await target?.agent.stop();
    if (target) await rm(target.stateDir, { recursive: true, force: true });
  });

  it("the agent says at start-up and in Health that there is no isolation", async () => {
    expect(target.agent.output()).toMatch(/local functions run WITHOUT isolation/);
    const health = await api(target, "/health");
    expect(health.body.isolation).toBe("none");
    expect(health.body.status).toBe("degraded");
    expect(health.body.checks).toContainEqual(expect.objectContaining({ name: "isolation", ok: false, message: expect.stringMatching(/bubblewrap .* is not installed/) }));
  });

  it("every attack the sandbox stops works here", () => {
    expect(report.agent_environ.ok).toBe(true);
    expect(report.stolen).toContain(TOKEN);
    expect(report.api_with_stolen).toContain(200);
    expect(report.victim_record.value).toContain(SECRET);
    expect(report.victim_overwrite.ok).toBe(true);
    expect(report.victim_socket.ok).toBe(true);
    expect(report.pids).toContain(target.agent.pid);
    expect(report.functions_dir.value.sort()).toEqual(["attacker", "victim"]);
  });
});

describe.skipIf(skip)("FAAS_REQUIRE_ISOLATION=1 without a usable bubblewrap", () => {
  it("refuses to start, saying why", async () => {
    const stateDir = await mkdtemp(join(tmpdir(), "faas-hostile-"));
    try {
      await expect(spawnAgent({ FAAS_STATE_DIR: stateDir, FAAS_BWRAP: "/nonexistent/bwrap", FAAS_REQUIRE_ISOLATION: "1" })).rejects.toThrow(
        /radical-faas: cannot start: FAAS_REQUIRE_ISOLATION=1 but local functions cannot be isolated: bubblewrap \(\/nonexistent\/bwrap\) is not installed/,
      );
    } finally {
      await rm(stateDir, { recursive: true, force: true });
    }
  });
});

/** A handler that starts children which hold its pipes, leave its process group and ignore SIGTERM. */
function spawner(mark: string): string {
  return String.raw`
import os, signal, subprocess, sys
# Each child tells the handler on a pipe once it is set up (the test's barrier), then sleeps.
CHILD = "import os, signal, sys, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nsignal.signal(signal.SIGHUP, signal.SIG_IGN)\nos.write(int(sys.argv[1]), b'x')\ntime.sleep(100000)"
def handle(req):
    r, w = os.pipe()
    # one in a new session, holding stdout and stderr; one daemonised by a double fork
    subprocess.Popen([sys.executable, "-c", CHILD, str(w), "${mark}"], start_new_session=True, pass_fds=[w])
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.set_inheritable(w, True)
            os.execv(sys.executable, [sys.executable, "-c", CHILD, str(w), "${mark}", "daemon"])
        os._exit(0)
    os.wait()
    os.close(w)
    got = b""
    while len(got) < 2:
        got += os.read(r, 2)
    os.close(r)
    return "spawned"
`;
}

describe.skipIf(skip)("a function's processes do not outlive it nor the agent", () => {
  let target: Target;

  beforeAll(async () => {
    target = await startTarget({ FAAS_REQUIRE_ISOLATION: "1" });
  });
  afterAll(async () => {
    await target?.agent.stop().catch(() => {});
    if (target) await rm(target.stateDir, { recursive: true, force: true });
  });

  async function spawnChildren(id: string, mark: string): Promise<void> {
    await deployOk(target, { id, handler: spawner(mark) });
    expect((await api(target, "/invoke", { id, payload: {} })).body.result).toBe("spawned");
    // Both children and the worker: the test can see them (root sees every process).
    const running = await processesMentioning(mark);
    expect(running.filter((p) => p.cmdline.includes("time.sleep")).length).toBeGreaterThanOrEqual(2);
  }

  it("delete answers within the drain grace and kills the whole tree, children holding pipes included", async () => {
    const mark = `mark-${randomBytes(6).toString("hex")}`;
    await spawnChildren("spawner", mark);
    const start = Date.now();
    const res = await api(target, "/delete", { id: "spawner" });
    expect(res.status).toBe(200);
    expect(Date.now() - start).toBeLessThan(2000 + 1000); // FAAS_SHUTDOWN_GRACE=2 s
    await noProcessesMentioning(mark, 5000);
    expect((await api(target, "/invoke", { id: "spawner", payload: {} })).status).toBe(404);
  });

  it("a redeploy kills the old revision's tree", async () => {
    const mark = `mark-${randomBytes(6).toString("hex")}`;
    await spawnChildren("respawner", mark);
    await deployOk(target, { id: "respawner", handler: "def handle(req):\n    return 'v2'\n" });
    await noProcessesMentioning(mark, 5000);
    expect((await api(target, "/invoke", { id: "respawner", payload: {} })).body.result).toBe("v2");
  });

  it("kill -9 of the agent takes every worker and child with it", async () => {
    const mark = `mark-${randomBytes(6).toString("hex")}`;
    await spawnChildren("survivor", mark);
    await target.agent.kill9();
    await noProcessesMentioning(mark, 5000);
    await noProcessesMentioning(target.stateDir, 5000);
  });
});
