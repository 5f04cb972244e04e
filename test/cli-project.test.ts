import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestAgent, type TestAgent } from "./support/agent.ts";
import { count, expectReadable } from "./support/cli.ts";

// faas.yaml projects with the real `faas` binary against a real agent: init, deploy, dev.
const BIN = fileURLToPath(new URL("../src/cli/bin.js", import.meta.url));

let agent: TestAgent;
let root: string;
beforeAll(async () => {
  agent = await startTestAgent();
  root = await mkdtemp(join(tmpdir(), "faas-project-"));
});
afterAll(async () => {
  await agent?.dispose();
  if (root) await rm(root, { recursive: true, force: true });
});

function faas(cwd: string, args: string[]) {
  return execa("node", [BIN, ...args], { cwd, reject: false, input: "", env: { FAAS_AGENT_URL: agent.url, FAAS_TOKEN: "" }, timeout: 120_000 });
}

async function project(name: string): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir);
  return dir;
}

async function functionIds(): Promise<string[]> {
  const res = await faas(root, ["list", "-o", "json"]);
  return JSON.parse(res.stdout).functions.map((f: { id: string }) => f.id).sort();
}

describe("faas init && faas deploy && faas deploy", () => {
  it("deploys one function once, then reports it unchanged", async () => {
    const dir = await project("hello-app");
    const before = await functionIds();
    const init = await faas(dir, ["init"]);
    expect(init.exitCode, init.stderr).toBe(0);
    expect(init.stdout).toBe("created faas.yaml: function hello-app, handler hello-app.py\ncreated hello-app.py\nnext: faas deploy, then faas invoke hello-app");
    const manifest = await readFile(join(dir, "faas.yaml"), "utf8");
    expect(manifest).toMatch(/^functions:\n {2}- id: hello-app\n {4}handler: hello-app\.py\n/m);

    const first = await faas(dir, ["deploy"]);
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.stdout.split("\n").at(-1)).toMatch(/^deployed hello-app \(revision [0-9a-f]{12}, python 3\.\d+, local\)$/);
    const second = await faas(dir, ["deploy"]);
    expect(second.exitCode, second.stderr).toBe(0);
    expect(second.stdout.split("\n").at(-1)).toMatch(/^hello-app unchanged \(revision [0-9a-f]{12}, python 3\.\d+, local\): nothing to deploy$/);
    expect(count(second.stdout, "deployed hello-app (")).toBe(0);
    expect(await functionIds()).toEqual([...before, "hello-app"].sort());

    const call = await faas(dir, ["invoke", "hello-app", "--data", '{"name": "Ada"}']);
    expect(JSON.parse(call.stdout)).toEqual({ hello: "Ada" });
  }, 120_000);
});

describe("faas deploy with a manifest", () => {
  it("deploys every function, one by id or by file, with the manifest's env, params and requirements", async () => {
    const dir = await project("multi");
    await writeFile(join(dir, "a.py"), 'import os\ndef handle(req):\n    return {"a": os.environ["GREETING"]}\n');
    await mkdir(join(dir, "fns"));
    await writeFile(join(dir, "fns", "b_func.py"), "def handle(req):\n    return 'b'\n");
    await writeFile(join(dir, "fns", "requirements.txt"), "# nothing to install\n");
    await writeFile(
      join(dir, "faas.yaml"),
      ['functions:', '  - id: multi-a', '    handler: a.py', '    env: {GREETING: "hi"}', '    params:', '      PYTHON_VERSION: "3.11"', "  - id: multi-b", "    handler: fns/b_func.py", "    requirements: fns/requirements.txt", ""].join("\n"),
    );
    const all = await faas(dir, ["deploy"]);
    expect(all.exitCode, all.stderr).toBe(0);
    expect(all.stdout).toMatch(/^deployed multi-a \(revision \w+, python 3\.11, local\)$/m);
    expect(all.stdout).toMatch(/^deployed multi-b /m);
    expect(JSON.parse((await faas(dir, ["invoke", "multi-a"])).stdout)).toEqual({ a: "hi" });

    // A file without --id takes the manifest's id (and its env): no new function.
    const byFile = await faas(dir, ["deploy", "a.py"]);
    expect(byFile.stdout.split("\n").at(-1)).toMatch(/^multi-a unchanged /);
    const byId = await faas(join(dir, "fns"), ["deploy", "multi-b", "--manifest", "../faas.yaml"]);
    expect(byId.exitCode, byId.stderr).toBe(0);
    expect(byId.stdout.split("\n").at(-1)).toMatch(/^multi-b unchanged /);
    // Flags override the manifest.
    const env = await faas(dir, ["deploy", "a.py", "--env", "GREETING=hello"]);
    expect(env.stdout.split("\n").at(-1)).toMatch(/^deployed multi-a /);
    expect(JSON.parse((await faas(dir, ["invoke", "multi-a"])).stdout)).toEqual({ a: "hello" });
  }, 180_000);

  it("a file without --id and without a manifest takes its id from the file name, also on a redeploy", async () => {
    const dir = await project("loose");
    await writeFile(join(dir, "My_Loose_fn.py"), "def handle(req):\n    return 'loose'\n");
    const first = await faas(dir, ["deploy", "My_Loose_fn.py"]);
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.stdout.split("\n").at(-1)).toMatch(/^deployed my-loose-fn /);
    const again = await faas(dir, ["deploy", "My_Loose_fn.py"]);
    expect(again.stdout.split("\n").at(-1)).toMatch(/^my-loose-fn unchanged /);
    expect((await functionIds()).filter((id) => id.includes("loose"))).toEqual(["my-loose-fn"]);
    await writeFile(join(dir, "123.py"), "def handle(req):\n    return 1\n");
    const noId = await faas(dir, ["deploy", "123.py"]);
    expect(noId.exitCode).toBe(2);
    expect(noId.stderr).toBe('error: cannot make a function id from the file name "123.py": pass --id ID');
  }, 120_000);

  it("a bad manifest or a missing one is a usage error naming the file, the function and the key", async () => {
    const dir = await project("bad");
    const none = await faas(dir, ["deploy"]);
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toBe(`error: no faas.yaml in ${dir}: run faas init, or name a file (faas deploy FILE.py)`);
    const cases: Array<[string, string]> = [
      ["functions: [", "error: faas.yaml: line 1: not valid YAML"],
      ["fns: []\n", 'error: faas.yaml: expected "functions:", a list of functions (see faas init)'],
      ["functions:\n  - id: x\n    handlr: x.py\n", 'error: faas.yaml: functions[0]: unknown key "handlr" (known: id, handler, requirements, env, params, options)'],
      ["functions:\n  - handler: x.py\n", "error: faas.yaml: functions[0].id: expected a function id: lowercase letters, digits and '-', starting with a letter"],
      ["functions:\n  - id: x\n", "error: faas.yaml: functions[0].handler: expected the handler file, e.g. handler: main.py"],
      ["functions:\n  - {id: x, handler: x.py}\n  - {id: x, handler: y.py}\n", 'error: faas.yaml: functions[1].id: "x" appears twice'],
      ["functions:\n  - id: x\n    handler: x.py\n    params: {PYTHON_VERSION: 3.10}\n", 'error: faas.yaml: functions[0].params.PYTHON_VERSION: expected a string; quote it: PYTHON_VERSION: "3.10"'],
      ["functions:\n  - id: x\n    handler: x.py\n    options: {minScal: 1}\n", 'error: faas.yaml: functions[0].options: key "minScal" is unknown'],
      ["functions:\n  - id: x\n    handler: missing.py\n", "error: cannot read the handler file missing.py: no such file"],
    ];
    for (const [text, message] of cases) {
      await writeFile(join(dir, "faas.yaml"), text);
      const res = await faas(dir, ["deploy"]);
      expect(res.exitCode, text).toBe(2);
      expect(res.stderr.startsWith(message), `${text}\n${res.stderr}`).toBe(true);
      expectReadable(res.stderr);
    }
    // Options reach the agent, in the API's JSON names; the local platform refuses this one.
    await writeFile(join(dir, "x.py"), "def handle(req):\n    return 1\n");
    await writeFile(join(dir, "faas.yaml"), "functions:\n  - id: bad-x\n    handler: x.py\n    options: {timeoutSeconds: 30}\n");
    const refused = await faas(dir, ["deploy"]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toBe("error: options.timeout_seconds is not supported by the local platform");
    const named = await faas(dir, ["deploy", "--manifest", "nope.yaml"]);
    expect(named.stderr).toBe("error: cannot read the manifest nope.yaml: no such file");
  }, 120_000);

  it("faas init adds a second function and refuses one that is there", async () => {
    const dir = await project("two");
    await writeFile(join(dir, "requirements.txt"), "");
    expect((await faas(dir, ["init", "first"])).exitCode).toBe(0);
    const second = await faas(dir, ["init", "second"]);
    expect(second.stdout.split("\n")[0]).toBe("updated faas.yaml: function second, handler second.py, requirements requirements.txt");
    const manifest = await readFile(join(dir, "faas.yaml"), "utf8");
    expect(manifest).toMatch(/^# The functions of this project/); // the comment stays
    expect(manifest.match(/- id: /g)).toHaveLength(2);
    const again = await faas(dir, ["init", "first"]);
    expect(again.exitCode).toBe(2);
    expect(again.stderr).toBe('error: faas.yaml already has a function "first"');
    const bad = await faas(dir, ["init", "Bad_Id"]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/^error: "Bad_Id" is not a function id/);
  });
});

describe("faas dev", () => {
  it("deploys, then redeploys on save with the build log streaming, until Ctrl-C", async () => {
    const dir = await project("devapp");
    expect((await faas(dir, ["init", "devapp"])).exitCode).toBe(0);
    const child = spawn("node", [BIN, "dev"], { cwd: dir, env: { ...process.env, FAAS_AGENT_URL: agent.url, FAAS_TOKEN: "" } });
    let out = "";
    let err = "";
    const waiters: Array<() => void> = [];
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      for (const w of [...waiters]) w();
    });
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    /** Resolves once stdout holds `n` occurrences of `text`. */
    const seen = (text: string, n: number) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (count(out, text) >= n) resolve();
        };
        waiters.push(check);
        exited.then(() => reject(new Error(`faas dev exited; stdout:\n${out}\nstderr:\n${err}`)));
        check();
      });
    try {
      await seen("watching faas.yaml, devapp.py for changes", 1);
      expect(out).toMatch(/^deployed devapp /m);
      expect(JSON.parse((await faas(dir, ["invoke", "devapp"])).stdout)).toEqual({ hello: "world" });

      await writeFile(join(dir, "devapp.py"), "print('new version')\ndef handle(req):\n    return 'saved'\n");
      await seen("watching faas.yaml, devapp.py for changes", 2);
      expect(count(out, "deployed devapp (")).toBe(2);
      expect(out).toMatch(/^\S+ log stdout: new version$/m); // the build log streamed
      expect(JSON.parse((await faas(dir, ["invoke", "devapp"])).stdout)).toBe("saved");

      // A broken save: the error, once, and the watch goes on.
      await writeFile(join(dir, "devapp.py"), "def handle(:\n");
      await seen("watching faas.yaml, devapp.py for changes", 3);
      expect(err).toMatch(/^error: function devapp failed to import: SyntaxError/m);
      expect(count(out + err, "def handle(:")).toBe(1);
      expect(child.exitCode).toBeNull();
    } finally {
      child.kill("SIGINT");
    }
    expect(await exited).toBe(0);
  }, 180_000);
});
