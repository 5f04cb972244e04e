import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { FaasAgent } from "../gen/faas/v1/agent_pb.ts";
import { deploy, postJson } from "./support/agent.ts";
import { processesMentioning } from "./support/agent-process.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
// The tsx loader by path: the agent runs in a scratch directory (no .env of the developer's).
const MAIN = ["--import", pathToFileURL(join(ROOT, "node_modules", "tsx", "dist", "loader.mjs")).href, join(ROOT, "src", "main.ts")];

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
      // The worker's pid as this machine sees it (inside its sandbox it has a pid of its own).
      const workers = (await processesMentioning(state)).filter((p) => p.cmdline.includes(join(state, "functions", "lingers")));
      expect(workers.length).toBeGreaterThan(0);

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
      expect(await processesMentioning(join(state, "functions", "lingers"))).toEqual([]);
    } finally {
      agent.kill("SIGKILL");
      await rm(state, { recursive: true, force: true });
    }
  });
});
