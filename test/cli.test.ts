import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestAgent, type TestAgent } from "./support/agent.ts";
import { count, emptyPackageIndex, expectReadable, type PackageIndex } from "./support/cli.ts";

// The real `faas` binary (package.json "bin"), run as a child process against real agents.
const BIN = fileURLToPath(new URL("../src/cli/bin.js", import.meta.url));
const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /;

let agent: TestAgent;
let dir: string;
let index: PackageIndex;
beforeAll(async () => {
  agent = await startTestAgent();
  dir = await mkdtemp(join(tmpdir(), "faas-cli-"));
  index = await emptyPackageIndex();
});
afterAll(async () => {
  await agent?.dispose();
  await index?.close();
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

  it("a handler that does not import: one sentence, the traceback once (streamed), reason with -v", async () => {
    const handler = await file("broken.py", "def handle(:\n    pass\n");
    const res = await faas(["deploy", handler, "--id", "broken"]);
    expect(res.exitCode).toBe(1);
    expect(res.stderr).toMatch(/^error: function broken failed to import: SyntaxError: invalid syntax/);
    expect(res.stdout).toMatch(/log import: SyntaxError: invalid syntax/); // the streamed log lines
    expect(count(res.stdout + res.stderr, "    def handle(:")).toBe(1); // the traceback once
    expectReadable(res.stderr);
    expect(res.stderr).not.toContain("reason:");
    const verbose = await faas(["deploy", handler, "--id", "broken", "-v"]);
    expect(verbose.stderr).toMatch(/code: invalid_argument {2}reason: HANDLER_INVALID/);
    expect(count(verbose.stdout + verbose.stderr, "    def handle(:")).toBe(1);
    const json = await faas(["deploy", handler, "--id", "broken", "-o", "json"]);
    expect(json.exitCode).toBe(1);
    expect(JSON.parse(json.stderr).error).toMatchObject({ code: "invalid_argument", reason: "HANDLER_INVALID", message: expect.stringMatching(/^function broken failed to import: SyntaxError/) });
    expect(count(json.stdout + json.stderr, "def handle(:")).toBe(1);
    const get = await faas(["get", "broken"]);
    expect(get.exitCode).toBe(1);
  });

  it("pip's failure: the sentence, pip's output exactly once (text, -v and -o json)", async () => {
    const handler = await file("req.py", "def handle(req):\n    return 1\n");
    const requirements = await file("requirements.txt", "requests==2.31.0\n");
    // A real pip against a package index that has no such version (plus the machine's own indexes).
    const args = ["deploy", handler, "--id", "req-fn", "--requirements", requirements, "--param", `PIP_INDEX_URL=${index.url}`];
    for (const extra of [[], ["-v"], ["-o", "json"]]) {
      const res = await faas([...args, ...extra]);
      const all = res.stdout + res.stderr;
      expect(res.exitCode, extra.join(" ")).toBe(1);
      expect(count(all, "ERROR: No matching distribution found for requests==2.31.0"), extra.join(" ")).toBe(1);
      expect(count(all, "Looking in indexes"), extra.join(" ")).toBe(1);
      if (extra[0] === "-o") {
        const { error } = JSON.parse(res.stderr);
        expect(error).toMatchObject({ code: "failed_precondition", reason: "DEPENDENCY_INSTALL_FAILED", message: "pip could not install requests==2.31.0: no matching distribution" });
        expect(error.metadata.exit_code).toBe("1");
      } else {
        expect(res.stderr).toMatch(/^error: pip could not install requests==2\.31\.0: no matching distribution(\n|$)/);
        expect(res.stdout).toMatch(/phase building\n/);
        expectReadable(res.stderr);
        expect(res.stderr.includes("reason: DEPENDENCY_INSTALL_FAILED")).toBe(extra[0] === "-v");
      }
    }
    // A line pip cannot parse: it fails at once, without any package index.
    const bad = await faas(["deploy", handler, "--id", "req-fn", "--requirements", await file("bad-requirements.txt", "not a requirement ===\n")]);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/^error: pip could not read the requirement "not a requirement ===" \(line 1\): invalid requirement$/);
    expect(count(bad.stdout + bad.stderr, "ERROR: Invalid requirement")).toBe(1);
  }, 240_000);

  it("rejects bad arguments with exit code 2, in words", async () => {
    const missing = await faas(["deploy", join(dir, "nope.py")]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toMatch(/^error: cannot read the handler file .*nope\.py: no such file$/);
    const handler = await file("ok.py", "def handle(req):\n    return 1\n");
    const badParam = await faas(["deploy", handler, "--param", "NOEQUALS"]);
    expect(badParam.exitCode).toBe(2);
    expect(badParam.stderr).toContain('--param takes KEY=VALUE, got "NOEQUALS"');
    const invalid = await faas(["deploy", handler, "--id", "Not_A_Label"]);
    expect(invalid.exitCode).toBe(1);
    expect(invalid.stderr).toMatch(/^error: id is invalid: use lowercase letters/);
    expectReadable(invalid.stderr);
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
    expect(call.stderr).toMatch(/^error: function raiser raised ValueError: bad input 7\n {2}Traceback \(most recent call last\):\n/);
    expect(count(call.stderr, 'raise ValueError("bad input " + str(req))')).toBe(1); // the traceback once
    expect(call.stderr.trimEnd().split("\n").at(-1)).toBe("  ValueError: bad input 7");
    expectReadable(call.stderr);
    const verbose = await faas(["invoke", "raiser", "--data", "7", "-v"]);
    expect(verbose.stderr).toContain("code: unknown  reason: FUNCTION_ERROR");
    expect(verbose.stderr).toContain("exception_type: ValueError");
    expect(count(verbose.stderr, 'raise ValueError("bad input " + str(req))')).toBe(1);
    const json = JSON.parse((await faas(["invoke", "raiser", "--data", "7", "-o", "json"])).stderr);
    expect(json.error).toMatchObject({ code: "unknown", reason: "FUNCTION_ERROR", message: "function raiser raised ValueError: bad input 7", metadata: { exception_type: "ValueError" } });
    expect(json.error.lines.at(-1)).toBe("ValueError: bad input 7");
    expect(json.error.metadata.traceback).toBeUndefined(); // it is `lines`
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
    expect(text.stdout).toMatch(/^echo3\s+(running|idle)\s+yes\s+local\s+3\.\d+\s+(just now|\d+s ago|\d+m ago)$/m);
    const json = JSON.parse((await faas(["list", "-o", "json"])).stdout);
    const echo3 = json.functions.find((f: { id: string }) => f.id === "echo3");
    expect(echo3).toMatchObject({ status: "deployed", platform: "local", ready: true, pythonVersion: expect.any(String) });
    expect(echo3.updatedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/); // exact, the API's JSON name
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
    expect(get.stderr).toBe('error: function "echo3" not found');
    expect((await faas(["get", "echo3", "-v"])).stderr).toContain("code: not_found  reason: FUNCTION_NOT_FOUND");
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
      expect(none.stderr).toBe("error: the agent requires a token and none valid was sent\nhint: pass --token or set FAAS_TOKEN (the agent's FAAS_AUTH_TOKEN)");
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
    expect(down.stderr).toBe("error: cannot reach the agent at http://127.0.0.1:9\nhint: is the agent running? set --agent or FAAS_AGENT_URL");
  });

  it("usage errors exit with code 2 and say what is wrong in a sentence", async () => {
    const cases: Array<[string[], string]> = [
      [["bogus"], 'error: unknown command "bogus" (see faas --help)'],
      [["list", "--nope"], "error: unknown option --nope (see faas list --help)"],
      [["list", "-x"], "error: unknown option -x (see faas list --help)"],
      [["get"], "error: usage: faas get ID"],
      [["get", "a", "b"], "error: usage: faas get ID"],
      [["list", "--data", "1"], "error: faas list does not take --data (invoke does; see faas list --help)"],
      [["deploy", "x.py", "--id"], "error: --id needs a value"],
      [["deploy", "x.py", "--id", "--env", "A=b"], "error: --id needs a value (for one starting with \"-\", write --id=--env)"],
      [["logs", "x", "--follow=yes"], "error: --follow takes no value"],
      [["logs", "x", "--tail", "many"], 'error: --tail takes a number of lines, got "many"'],
      [["list", "-o", "yaml"], 'error: -o takes text or json, got "yaml"'],
      [["invoke", "x", "--data", "@/nonexistent/payload.json"], "error: cannot read the data file /nonexistent/payload.json: no such file"],
      [["list", "--cacert", "/nonexistent/ca.pem"], "error: cannot read --cacert /nonexistent/ca.pem: no such file"],
    ];
    const results = await Promise.all(cases.map(([args]) => faas(args)));
    results.forEach((res, i) => {
      expect(res.exitCode, cases[i][0].join(" ")).toBe(2);
      expect(res.stderr, cases[i][0].join(" ")).toBe(cases[i][1]);
    });
    const none = await faas([]);
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toMatch(/^Usage: faas/);
    const help = await faas(["--help"]);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toMatch(/^Usage: faas/);
    for (const name of ["init", "deploy", "dev", "invoke", "list", "get", "logs", "delete", "traffic", "health"]) expect(help.stdout).toContain(`\n  ${name}`);
    const deployHelp = await faas(["deploy", "--help"]);
    expect(deployHelp.exitCode).toBe(0);
    expect(deployHelp.stdout).toMatch(/^Usage: faas deploy \[FILE\.py \| ID\]/);
    const json = await faas(["list", "--nope", "-o", "json"]);
    expect(JSON.parse(json.stderr)).toEqual({ error: { code: "usage", message: "unknown option --nope (see faas list --help)" } });
  }, 180_000); // 15 CLI processes, 13 at once: a minute on a loaded machine

  it("--version prints the package's version", async () => {
    const { version } = JSON.parse(await readFile(fileURLToPath(new URL("../package.json", import.meta.url)), "utf8"));
    const res = await faas(["--version"]);
    expect(res.exitCode).toBe(0);
    expect(res.stdout).toBe(`faas ${version}`);
    expect(JSON.parse((await faas(["--version", "-o", "json"])).stdout)).toEqual({ version });
  });
});
