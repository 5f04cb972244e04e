import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { startAgent, type RunningAgent } from "../../src/agent.ts";
import { loadConfig } from "../../src/config.ts";

export interface TestAgent extends RunningAgent {
  stateDir: string;
  env: NodeJS.ProcessEnv;
  /** Stops the agent and removes its state directory. */
  dispose(): Promise<void>;
}

/**
 * Starts a real agent on 127.0.0.1, port 0, with a fresh state directory (or `stateDir`), a silent
 * logger and the given environment on top of this process's (an undefined value unsets a variable).
 */
export async function startTestAgent(overrides: Record<string, string | undefined> = {}, stateDir?: string): Promise<TestAgent> {
  const dir = stateDir ?? (await mkdtemp(join(tmpdir(), "faas-test-")));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: "0",
    FAAS_HOST: "127.0.0.1",
    FAAS_STATE_DIR: dir,
    FAAS_AUTH_TOKEN: "",
    FAAS_SHUTDOWN_GRACE: "2",
    ...overrides,
  };
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete env[name];
  const agent = await startAgent(loadConfig(env), pino({ level: "silent" }), env);
  return {
    ...agent,
    stateDir: dir,
    env,
    async dispose() {
      await agent.stop();
      if (!stateDir) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** POSTs JSON and returns the status and parsed body. */
export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** GETs JSON. */
export async function getJson(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { headers });
  return { status: res.status, body: await res.json() };
}

/** Deploys through REST and fails the test with the agent's error if it does not succeed. */
export async function deploy(agent: { url: string }, body: Record<string, unknown>): Promise<any> {
  const res = await postJson(`${agent.url}/deploy`, body);
  if (res.status !== 200) throw new Error(`deploy failed with ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}
