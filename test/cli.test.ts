import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestAgent, type TestAgent } from "./support/agent.ts";

// The real `faas` binary (package.json "bin"), run as a child process against real agents.
const BIN = fileURLToPath(new URL("../src/cli/bin.js", import.meta.url));
const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /;

let agent: TestAgent;
let dir: string;
beforeAll(async () => {
  agent = await startTestAgent();
  dir = await mkdtemp(join(tmpdir(), "faas-cli-"));
});
afterAll(async () => {
  await agent?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Runs `faas ARGS` against `agentUrl` (no token unless given), with stdin from `input` (else empty). */
function faas(args: string[], options: { input?: string; env?: Record<string, string>; agentUrl?: string } = {}) {
  return execa("node", [BIN, ...args], {
    reject: false,
    input: options.input ?? "",
    env: { FAAS_AGENT_URL: options.agentUrl ?? agent.url, FAAS_TOKEN: "", ...options.env },
    timeout: 60_000,
  });
}

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

const ECHO = 'import sys\nprint("loading echo")\ndef handle(req):\n    print("called with", req, file=sys.stderr)\n    return {"got": req}\n';

describe("faas deploy", () => {
  it("streams the build as timestamped lines when piped and exits 0", async () => {
    const handler = await file("echo.py", ECHO);
    const res = await faas(["deploy", handler, "--id", "echo", "--env", "GREETING=hi", "--param", "PYTHON_VERSION=3.11"]);
    expect(res.exitCode).toBe(0);
    const lines = res.stdout.split("\n");
    const progress = lines.filter((l) => TIMESTAMP.test(l)).map((l) => l.replace(TIMESTAMP, ""));
    expect(progress.filter((l) => l.startsWith("phase "))).toEqual(["phase validating", "phase packaging", "phase building", "phase deploying", "phase ready"]);
    expect(progress).toContain("log stdout: loading echo");
    expect(progress.at(-1)).toBe("deployed echo");
    expect(lines.at(-1)).toMatch(/^deployed echo \(revision [0-9a-f]{12}, python 3\.11, local\)$/);
    expect(res.stdout).not.toContain("\x1b["); // no terminal control codes in a pipe
  });

  it("with -o json prints one JSON event per line, the function last", async () => {
    const handler = await file("json.py", "def handle(req):\n    return 1\n");
    const res = await faas(["deploy", handler, "--id", "json-fn", "-o", "json"]);
    expect(res.exitCode).toBe(0);
    const events = res.stdout.split("\n").map((l) => JSON.parse(l));
    expect(events.filter((e) => e.phase).map((e) => e.phase)).toContain("DEPLOY_PHASE_BUILDING");
    expect(events.every((e) => typeof e.time === "string")).toBe(true);
    expect(events.at(-1).function).toMatchObject({ id: "json-fn", status: "deployed", ready: true, platform: "local" });
  });

  it("fails with exit code 1, the error with its reason, and the traceback", async () => {
    const handler = await file("broken.py", "def handle(:\n    pass\n");
    const res = await faas(["deploy", handler, "--id", "broken"]);
    expect(res.exitCode).toBe(1);
    expect(res.stderr).toMatch(/^error: invalid_argument: handler failed to import/);
    expect(res.stderr).toContain("reason: HANDLER_INVALID");
    expect(res.stderr).toContain("SyntaxError");
    expect(res.stdout).toMatch(/log import: SyntaxError: invalid syntax/); // the streamed log lines
    const get = await faas(["get", "broken"]);
    expect(get.exitCode).toBe(1);
  });

  it("reads requirements from a file and reports pip's failure", async () => {
    const handler = await file("req.py", "def handle(req):\n    return 1\n");
    // A line pip cannot parse: it fails at once, without any package index.
    const requirements = await file("requirements.txt", "not a requirement ===\n");
    const res = await faas(["deploy", handler, "--id", "req-fn", "--requirements", requirements]);
    expect(res.exitCode).toBe(1);
    expect(res.stderr).toMatch(/error: failed_precondition: /);
    expect(res.stderr).toContain("reason: DEPENDENCY_INSTALL_FAILED");
    expect(res.stdout).toMatch(/phase building\n/);
  });

  it("rejects bad arguments with exit code 2", async () => {
    const missing = await faas(["deploy", join(dir, "nope.py")]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toMatch(/^error: cannot read the handler file .*nope\.py: ENOENT/);
    const handler = await file("ok.py", "def handle(req):\n    return 1\n");
    const badParam = await faas(["deploy", handler, "--param", "NOEQUALS"]);
    expect(badParam.exitCode).toBe(2);
    expect(badParam.stderr).toContain('--param takes KEY=VALUE, got "NOEQUALS"');
    const invalid = await faas(["deploy", handler, "--id", "Not_A_Label"]);
    expect(invalid.exitCode).toBe(1);
    expect(invalid.stderr).toMatch(/^error: invalid_argument: /);
    expect(invalid.stderr).toContain("reason: INVALID_REQUEST");
  });
});

describe("faas invoke", () => {
  beforeAll(async () => {
    const res = await faas(["deploy", await file("echo2.py", ECHO), "--id", "echo2"]);
    expect(res.exitCode).toBe(0);
  });

  it("prints the result of --data JSON", async () => {
    const res = await faas(["invoke", "echo2", "--data", '{"n": [1, 2.5, null], "s": "x"}']);
    expect(res.exitCode).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual({ got: { n: [1, 2.5, null], s: "x" } });
    expect(res.stderr).toBe("");
  });

  it("reads --data @file and stdin; no payload means {}", async () => {
    const data = await file("payload.json", '{"from": "file"}');
    const fromFile = await faas(["invoke", "echo2", "--data", `@${data}`]);
    expect(JSON.parse(fromFile.stdout)).toEqual({ got: { from: "file" } });
    const fromStdin = await faas(["invoke", "echo2"], { input: '["from", "stdin"]' });
    expect(JSON.parse(fromStdin.stdout)).toEqual({ got: ["from", "stdin"] });
    const empty = await faas(["invoke", "echo2"]);
    expect(JSON.parse(empty.stdout)).toEqual({ got: {} });
  });

  it("prints time and cold start with -v, the whole response with -o json", async () => {
    const verbose = await faas(["invoke", "echo2", "-v", "--data", "1"]);
    expect(verbose.exitCode).toBe(0);
    expect(verbose.stderr).toMatch(/^time: \d+\.\d ms {2}cold start: (yes|no) {2}platform: local\n?$/);
    const json = await faas(["invoke", "echo2", "-o", "json", "--data", '"x"']);
    const body = JSON.parse(json.stdout);
    expect(body).toMatchObject({ result: { got: "x" }, status: "success", platform: "local", coldStart: false });
    expect(body.executionTime).toBeGreaterThan(0);
  });

  it("fails on bad JSON (2), unknown functions and handler exceptions (1)", async () => {
    const bad = await faas(["invoke", "echo2", "--data", "{nope"]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/^error: the payload is not valid JSON/);
    const unknown = await faas(["invoke", "no-such-fn", "-o", "json"]);
    expect(unknown.exitCode).toBe(1);
    expect(JSON.parse(unknown.stderr)).toEqual({
      error: { code: "not_found", message: 'function "no-such-fn" not found', reason: "FUNCTION_NOT_FOUND", domain: "radical-faas", metadata: { function_id: "no-such-fn" } },
    });
    const raising = await faas(["deploy", await file("raise.py", 'def handle(req):\n    raise ValueError("bad input " + str(req))\n'), "--id", "raiser"]);
    expect(raising.exitCode).toBe(0);
    const call = await faas(["invoke", "raiser", "--data", "7"]);
    expect(call.exitCode).toBe(1);
    expect(call.stderr).toMatch(/^error: unknown: /);
    expect(call.stderr).toContain("reason: FUNCTION_ERROR");
    expect(call.stderr).toContain("exception_type: ValueError");
    expect(call.stderr).toContain("bad input 7");
  });
});

describe("faas list, get, logs, delete, health", () => {
  beforeAll(async () => {
    expect((await faas(["deploy", await file("echo3.py", ECHO), "--id", "echo3"])).exitCode).toBe(0);
  });

  it("list prints a table and -o json", async () => {
    const text = await faas(["list"]);
    expect(text.exitCode).toBe(0);
    expect(text.stdout.split("\n")[0]).toMatch(/^ID\s+STATE\s+READY\s+PLATFORM\s+PYTHON\s+UPDATED$/);
    expect(text.stdout).toMatch(/^echo3\s+(running|idle)\s+yes\s+local\s+3\.\d+\s+\d{4}-/m);
    const json = JSON.parse((await faas(["list", "-o", "json"])).stdout);
    expect(json.functions.find((f: { id: string }) => f.id === "echo3")).toMatchObject({ status: "deployed", platform: "local", ready: true });
  });

  it("get describes a function", async () => {
    const text = await faas(["get", "echo3"]);
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toMatch(/^id: +echo3$/m);
    expect(text.stdout).toMatch(/^revision: +[0-9a-f]{20}$/m);
    const json = JSON.parse((await faas(["get", "echo3", "-o", "json"])).stdout);
    expect(json).toMatchObject({ id: "echo3", platform: "local", image: "" });
  });

  it("logs prints the last lines and follows new ones until interrupted", async () => {
    await faas(["invoke", "echo3", "--data", '"first"']);
    const tail = await faas(["logs", "echo3", "--tail", "1"]);
    expect(tail.exitCode).toBe(0);
    expect(tail.stdout.trim().split("\n")).toHaveLength(1);
    expect(tail.stdout).toMatch(/^\d{4}-\S+Z stderr called with first$/);
    const json = await faas(["logs", "echo3", "-o", "json"]);
    expect(json.stdout.trim().split("\n").map((l) => JSON.parse(l).line)).toEqual(["loading echo", "called with first"]);

    // -f: a line written after the command started shows up; SIGINT ends it with exit code 0.
    const child = spawn("node", [BIN, "logs", "echo3", "-f", "--tail", "1"], { env: { ...process.env, FAAS_AGENT_URL: agent.url } });
    let out = "";
    const seen = (text: string) =>
      new Promise<void>((resolve) => {
        const check = () => out.includes(text) && resolve();
        child.stdout.on("data", (chunk: Buffer) => {
          out += chunk.toString();
          check();
        });
        check();
      });
    await seen("called with first");
    await faas(["invoke", "echo3", "--data", '"second"']);
    await seen("called with second");
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    child.kill("SIGINT");
    expect(await exited).toBe(0);
  });

  it("delete removes a function; get then fails with not_found", async () => {
    const res = await faas(["delete", "echo3"]);
    expect(res.exitCode).toBe(0);
    expect(res.stdout).toBe("deleted echo3 (local)");
    const get = await faas(["get", "echo3"]);
    expect(get.exitCode).toBe(1);
    expect(get.stderr).toMatch(/^error: not_found: function "echo3" not found\n {2}reason: FUNCTION_NOT_FOUND/);
    const again = await faas(["delete", "echo3", "-o", "json"]);
    expect(again.exitCode).toBe(1);
    expect(JSON.parse(again.stderr).error.code).toBe("not_found");
  });

  it("health prints the checks, -o json the response", async () => {
    const text = await faas(["health"]);
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toMatch(/^healthy \(platform local, workflow local, version \d+\.\d+\.\d+\)$/m);
    expect(text.stdout).toMatch(/^ok\s+python\s+/m);
    const json = JSON.parse((await faas(["health", "-o", "json"])).stdout);
    expect(json).toMatchObject({ status: "healthy", platform: "local" });
  });
});

describe("faas options", () => {
  it("sends --token or FAAS_TOKEN as a bearer token", async () => {
    const secured = await startTestAgent({ FAAS_AUTH_TOKEN: "s3cret" });
    try {
      const none = await faas(["list"], { agentUrl: secured.url });
      expect(none.exitCode).toBe(1);
      expect(none.stderr).toMatch(/^error: unauthenticated: /);
      expect(none.stderr).toContain("reason: UNAUTHENTICATED");
      const wrong = await faas(["list", "--token", "wrong"], { agentUrl: secured.url });
      expect(wrong.exitCode).toBe(1);
      const flag = await faas(["list", "--token", "s3cret"], { agentUrl: secured.url });
      expect(flag.exitCode).toBe(0);
      expect(flag.stdout).toBe("no functions");
      const env = await faas(["list", "-o", "json"], { agentUrl: secured.url, env: { FAAS_TOKEN: "s3cret" } });
      expect(JSON.parse(env.stdout)).toEqual({ functions: [] });
      expect((await faas(["health"], { agentUrl: secured.url })).exitCode).toBe(0); // health needs no token
    } finally {
      await secured.dispose();
    }
  });

  it("--agent overrides FAAS_AGENT_URL; an unreachable agent is exit code 1", async () => {
    const viaFlag = await faas(["health", "--agent", agent.url], { agentUrl: "http://127.0.0.1:9" });
    expect(viaFlag.exitCode).toBe(0);
    const down = await faas(["health"], { agentUrl: "http://127.0.0.1:9" });
    expect(down.exitCode).toBe(1);
    expect(down.stderr).toMatch(/^error: unavailable: .*is the agent running\?/);
  });

  it("usage errors exit with code 2", async () => {
    const cases = [["bogus"], ["list", "--nope"], ["get"], ["list", "--data", "1"], ["logs", "x", "--tail", "many"], ["list", "-o", "yaml"], []];
    const results = await Promise.all(cases.map((args) => faas(args)));
    results.forEach((res, i) => {
      expect(res.exitCode, cases[i].join(" ")).toBe(2);
      expect(res.stderr, cases[i].join(" ")).toMatch(/^(error: |Usage: faas)/);
    });
    const help = await faas(["--help"]);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toMatch(/^Usage: faas/);
  });
});
