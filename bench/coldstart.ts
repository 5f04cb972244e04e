/**
 * Cold start of a local function with and without the sandbox (issue 14: bubblewrap may add at
 * most 20 ms; issue 16: p50 at most 20 ms with the sandbox, as a ratio against a bare
 * `python3 -c pass`). Two agents side by side, one sandboxed (bubblewrap, and as root the uid
 * drop; its warm pool of spare workers on), one with FAAS_BWRAP pointing nowhere (isolation none,
 * as before the sandbox: every cold start starts an interpreter); the same handler on each. A cold
 * start is the REST /invoke that finds no worker: the call before it makes the worker exit (its
 * answer, WORKER_CRASHED, comes once the agent has seen the exit), so nothing waits on a timer.
 * Before each cold start the sandboxed agent's pool is full again, as it is after any scale to
 * zero (the idle timeout is far longer than a spare's start). The two agents and the bare
 * interpreter take turns, so that load on the machine hits them alike; the load average is printed.
 *
 *   npm run bench:coldstart            BENCH_COLD_STARTS (default 40) cold starts on each agent
 *   npm run -s bench:coldstart -- --json
 *
 * Exit code: 0 when every figure was measured (whether or not the bar is met), 1 otherwise.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { spawn } from "node:child_process";
import { join } from "node:path";
import pino from "pino";
import { startAgent, type RunningAgent } from "../src/agent.ts";
import { loadConfig } from "../src/config.ts";
import { checksJson, fmtMs, printChecks, table, type Check } from "./lib/report.ts";
import { createSay, wholeSeconds } from "./lib/settings.ts";

const JSON_OUT = process.argv.includes("--json");
const COLD_STARTS = wholeSeconds("BENCH_COLD_STARTS", 40, 3);
const say = createSay(JSON_OUT);
/** The bar: sandboxed cold start p50 minus plain cold start p50. */
const MAX_ADDED_MS = 20;
/** Issue 16's bar: the sandboxed cold start p50. */
const MAX_COLD_MS = 20;

const HANDLER = `import os, sys
def handle(req):
    if req.get("exit"):
        os._exit(0)
    if req.get("python"):
        return {"python": sys.executable}
    return {"ok": True}
`;

interface Side {
  name: string;
  agent: RunningAgent;
  samples: number[];
}

/** The local platform's warm pool, where the agent has one. */
const warm = (agent: RunningAgent): Promise<void> => (agent.platform as { warm?: () => Promise<void> }).warm?.() ?? Promise.resolve();

/** One bare interpreter start: `python -c pass`, spawned and waited for. */
function barePython(python: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(python, ["-c", "pass"], { stdio: "ignore", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LANG: "C.UTF-8" } });
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve(performance.now() - start) : reject(new Error(`${python} -c pass exited with ${code}`))));
  });
}

async function post(agent: RunningAgent, path: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${agent.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

async function openSide(name: string, dir: string, extra: Record<string, string>): Promise<Side> {
  const env = { ...process.env, PORT: "0", FAAS_HOST: "127.0.0.1", FAAS_AUTH_TOKEN: "", FAAS_STATE_DIR: join(dir, name), FAAS_IDLE_TIMEOUT: "0", ...extra };
  const agent = await startAgent(loadConfig(env), pino({ level: "silent" }), env);
  const deployed = await post(agent, "/deploy", { id: "cold", handler: HANDLER });
  if (deployed.status !== 200) throw new Error(`${name}: deploy answered ${deployed.status} ${JSON.stringify(deployed.body)}`);
  return { name, agent, samples: [] };
}

/** One cold start: stop the worker (the call that exits it), then time the call that starts a new one. */
async function coldStart(side: Side): Promise<void> {
  const exit = await post(side.agent, "/invoke", { id: "cold", payload: { exit: true } });
  if (exit.body.reason !== "WORKER_CRASHED") throw new Error(`${side.name}: the exit call answered ${exit.status} ${JSON.stringify(exit.body)}`);
  await warm(side.agent);
  const start = performance.now();
  const res = await post(side.agent, "/invoke", { id: "cold", payload: {} });
  const ms = performance.now() - start;
  if (res.status !== 200 || res.body.cold_start !== true) throw new Error(`${side.name}: expected a cold start, got ${res.status} ${JSON.stringify(res.body)}`);
  side.samples.push(ms);
}

function quantile(samples: number[], q: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function main(): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), "faas-bench-cold-"));
  const sides: Side[] = [];
  try {
    const sandboxed = await openSide("sandboxed", dir, { FAAS_REQUIRE_ISOLATION: "1" });
    sides.push(sandboxed);
    const plain = await openSide("plain", dir, { FAAS_BWRAP: "/nonexistent/bwrap", FAAS_REQUIRE_ISOLATION: "0" });
    sides.push(plain);
    if (plain.agent.platform.isolation !== "none" || sandboxed.agent.platform.isolation !== "bwrap") throw new Error("the two agents do not differ in isolation");
    const python = String((await post(plain.agent, "/invoke", { id: "cold", payload: { python: true } })).body.result.python);
    const bare: number[] = [];
    // Warm the page cache and the interpreters once each, then alternate.
    for (const side of sides) await coldStart(side);
    for (const side of sides) side.samples.length = 0;
    const load0 = loadavg()[0]!;
    for (let i = 0; i < COLD_STARTS; i++) {
      for (const side of i % 2 ? [...sides].reverse() : sides) await coldStart(side);
      bare.push(await barePython(python));
    }
    const load1 = loadavg()[0]!;

    const rows = [["agent", "isolation", "cold starts", "p50 ms", "p90 ms", "min ms"]];
    for (const s of sides) rows.push([s.name, s.agent.platform.isolation ?? "", String(s.samples.length), fmtMs(quantile(s.samples, 0.5)), fmtMs(quantile(s.samples, 0.9)), fmtMs(Math.min(...s.samples))]);
    rows.push([`${python} -c pass`, "", String(bare.length), fmtMs(quantile(bare, 0.5)), fmtMs(quantile(bare, 0.9)), fmtMs(Math.min(...bare))]);
    say(`=== cold start of a local function (REST /invoke finding no worker), ${COLD_STARTS} each, alternating; load average ${load0.toFixed(2)} -> ${load1.toFixed(2)} ===`);
    for (const line of table(rows, ["l", "l", "r", "r", "r", "r"])) say(line);
    const added = quantile(sandboxed.samples, 0.5) - quantile(plain.samples, 0.5);
    const ratio = quantile(sandboxed.samples, 0.5) / quantile(plain.samples, 0.5);
    const bareRatio = quantile(sandboxed.samples, 0.5) / quantile(bare, 0.5);
    say(`sandboxed / plain p50: ${ratio.toFixed(2)}; sandboxed / bare python p50: ${bareRatio.toFixed(2)}; plain / bare python p50: ${(quantile(plain.samples, 0.5) / quantile(bare, 0.5)).toFixed(2)}`);
    say("");
    const checks: Check[] = [
      { name: "cold added", description: "sandboxed cold start p50 - plain cold start p50 (issue 14)", value: added, unit: "ms", op: "<=", limit: MAX_ADDED_MS },
      { name: "cold sandboxed", description: `sandboxed cold start p50 (issue 16; ${bareRatio.toFixed(2)} x a bare python -c pass)`, value: quantile(sandboxed.samples, 0.5), unit: "ms", op: "<=", limit: MAX_COLD_MS },
    ];
    printChecks(say, checks);
    if (JSON_OUT) {
      const figures = Object.fromEntries(sides.map((s) => [s.name, { p50Ms: quantile(s.samples, 0.5), p90Ms: quantile(s.samples, 0.9), samples: s.samples }]));
      figures.barePython = { p50Ms: quantile(bare, 0.5), p90Ms: quantile(bare, 0.9), samples: bare };
      process.stdout.write(`${JSON.stringify({ coldStart: figures, ratio, bareRatio, loadAverage: [load0, load1], checks: checksJson(checks) }, null, 2)}\n`);
    }
    return 0;
  } catch (error) {
    say(`cold start bench failed: ${(error as Error).message}`);
    return 1;
  } finally {
    for (const side of sides) await side.agent.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
