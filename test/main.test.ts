import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { execa } from "execa";
import { beforeAll, describe, expect, it } from "vitest";
import { FaasAgent } from "../gen/faas/v1/agent_pb.ts";
import { deploy, postJson } from "./support/agent.ts";
import { processesMentioning } from "./support/agent-process.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
// The tsx loader by path: the agent runs in a scratch directory (no .env of the developer's).
const MAIN = ["--import", pathToFileURL(join(ROOT, "node_modules", "tsx", "dist", "loader.mjs")).href, join(ROOT, "src", "main.ts")];

// What `npm start` runs: the JavaScript `npm run build` compiles into dist/ (npm ci and pretest run it).
const COMPILED = [join(ROOT, "dist", "src", "main.js")];
// Refuses the packages named in FAAS_TEST_DENY_MODULES at resolution (test/support/deny-hooks.mjs).
const DENY = ["--import", pathToFileURL(join(ROOT, "test", "support", "deny-modules.mjs")).href];
const PLATFORM_LIBRARIES = "dockerode,@kubernetes/client-node,tar-stream";

/** Starts `node …argv` as the agent on a free port; resolves with its URL once it listens. */
async function startProcess(argv: string[], env: Record<string, string>): Promise<{ url: string; proc: ReturnType<typeof execa>; state: string }> {
  const state = await mkdtemp(join(tmpdir(), "faas-main-"));
  const proc = execa("node", argv, { cwd: tmpdir(), env: { PORT: "0", FAAS_STATE_DIR: state, FAAS_SHUTDOWN_GRACE: "2", ...env }, reject: false });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    proc.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const match = /"url":"(http:[^"]+)"/.exec(out);
      if (match) resolve(match[1]!);
    });
    void proc.then((r) => reject(new Error(`agent exited ${r.exitCode}: ${out}${r.stderr}`)));
  });
  return { url, proc, state };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("the agent process (npm start)", () => {
  it("refuses an unknown or unavailable platform with one clear line", async () => {
    for (const [platform, message] of [
      ["lambda", "radical-faas: configuration error: RADICAL_FAAS_PLATFORM=lambda is invalid; expected one of: local, docker, knative, nuclio"],
    ]) {
      const result = await execa("node", MAIN, { cwd: tmpdir(), env: { RADICAL_FAAS_PLATFORM: platform }, reject: false });
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toBe(message);
    }
  });

  it("says so in one line when the port is taken", async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    const port = (blocker.address() as { port: number }).port;
    const state = await mkdtemp(join(tmpdir(), "faas-main-"));
    try {
      const result = await execa("node", MAIN, { cwd: tmpdir(), env: { PORT: String(port), FAAS_STATE_DIR: state }, reject: false });
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toBe(`radical-faas: cannot start: port ${port} is already in use (set PORT)`);
    } finally {
      blocker.close();
      await rm(state, { recursive: true, force: true });
    }
  });

  it("shuts down on SIGTERM within seconds: streams end, workers stop", async () => {
    const state = await mkdtemp(join(tmpdir(), "faas-main-"));
    const agent = execa("node", MAIN, { cwd: tmpdir(), env: { PORT: "0", FAAS_STATE_DIR: state, FAAS_SHUTDOWN_GRACE: "2" }, reject: false });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = "";
        agent.stdout!.on("data", (chunk: Buffer) => {
          out += chunk.toString();
          const match = /"url":"(http:[^"]+)"/.exec(out);
          if (match) resolve(match[1]);
        });
        void agent.then(() => reject(new Error(`agent exited: ${out}`)));
      });
      await deploy({ url }, { id: "lingers", handler: "import os\ndef handle(req):\n    return os.getpid()" });
      expect((await postJson(`${url}/invoke`, { id: "lingers", payload: {} })).body.result).toEqual(expect.any(Number));
      // The worker's processes as this machine sees them (inside its sandbox it has pids of its own).
      const lingers = join(state, "functions", "lingers");
      expect((await processesMentioning(lingers)).length).toBeGreaterThan(0);

      // An open server stream (Logs follow over gRPC) must be ended by the shutdown, not hang it.
      const client = createClient(FaasAgent, createGrpcTransport({ baseUrl: url }));
      const follow = (async () => {
        const lines: string[] = [];
        for await (const line of client.logs({ id: "lingers", follow: true })) lines.push(line.line);
        return lines;
      })().catch((error: unknown) => error);
      await new Promise((r) => setTimeout(r, 200));

      const start = Date.now();
      agent.kill("SIGTERM");
      const result = await agent;
      expect(result.exitCode).toBe(0);
      expect(Date.now() - start).toBeLessThan(5000);
      await follow; // settles (ended or errored), does not hang
      expect(await processesMentioning(lingers)).toEqual([]);
    } finally {
      agent.kill("SIGKILL");
      await rm(state, { recursive: true, force: true });
    }
  });
});

describe("the compiled agent (what npm start runs)", () => {
  beforeAll(async () => {
    // `npm test` builds first (pretest); a bare `vitest run` gets one build here.
    if (!existsSync(COMPILED[0]!)) await execa("npm", ["run", "build"], { cwd: ROOT });
  }, 120_000);

  it("serves health, the web page, deploy and invoke from dist/ (the runtime shim and assets found from there)", async () => {
    const { url, proc, state } = await startProcess(COMPILED, {});
    try {
      const health = await (await fetch(`${url}/health`)).json();
      expect(health.status).toBe("healthy");
      const page = await fetch(`${url}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toMatch(/<script type="module"/);
      await deploy({ url }, { id: "compiled", handler: "def handle(req):\n    return {'twice': req['n'] * 2}" });
      const res = await postJson(`${url}/invoke`, { id: "compiled", payload: { n: 21 } });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.result).toEqual({ twice: 42 });
    } finally {
      proc.kill("SIGTERM");
      await proc;
      await rm(state, { recursive: true, force: true });
    }
  });

  it("loads no other platform's libraries on the local platform (and does load them where they are needed)", async () => {
    const local = await startProcess([...DENY, ...COMPILED], { FAAS_TEST_DENY_MODULES: PLATFORM_LIBRARIES });
    try {
      expect((await (await fetch(`${local.url}/health`)).json()).status).toBe("healthy");
    } finally {
      local.proc.kill("SIGTERM");
      await local.proc;
      await rm(local.state, { recursive: true, force: true });
    }
    // The same hook stops an agent that needs one of them: the check above can fail.
    const state = await mkdtemp(join(tmpdir(), "faas-main-"));
    try {
      const docker = await execa("node", [...DENY, ...COMPILED], {
        cwd: tmpdir(),
        env: { PORT: "0", FAAS_STATE_DIR: state, RADICAL_FAAS_PLATFORM: "docker", FAAS_TEST_DENY_MODULES: "dockerode" },
        reject: false,
      });
      expect(docker.exitCode).not.toBe(0);
      expect(docker.stderr).toMatch(/module dockerode was loaded, and this test forbids it/);
    } finally {
      await rm(state, { recursive: true, force: true });
    }
  });

  it("runs the faas command from dist/ when the build is current, without tsx", async () => {
    const { url, proc, state } = await startProcess(COMPILED, {});
    try {
      const cli = await execa("node", [...DENY, join(ROOT, "src", "cli", "bin.js"), "--agent", url, "list"], {
        env: { FAAS_TEST_DENY_MODULES: "tsx" },
        reject: false,
      });
      expect(cli.stderr).toBe("");
      expect(cli.exitCode).toBe(0);
    } finally {
      proc.kill("SIGTERM");
      await proc;
      await rm(state, { recursive: true, force: true });
    }
  });
});
