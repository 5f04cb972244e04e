/**
 * Async invocations: for the embedded SQLite store and for NATS JetStream (a nats-server -js this
 * bench starts), in the same run, against an agent running as its own process (local platform,
 * an echo function):
 *   accepted/s   POST /async-invoke answered 202, BENCH_ASYNC_N (default 10 000) from 32 clients
 *   completed/s  the same invocations, from the first accept until none is queued or running
 *   sync p50/p99 of sequential POST /invoke calls to the same function while idle (before), and
 *                while the BENCH_ASYNC_N invocations drain (from the end of the accept burst until
 *                none is queued or running); the ratio drain/idle is the figure
 * Run: node --import tsx bench/async.ts (also part of npm run bench).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnAgent, startNats } from "../test/support/async.ts";

const N = Number(process.env.BENCH_ASYNC_N ?? 10_000);
const IDLE_CALLS = Number(process.env.BENCH_ASYNC_IDLE_CALLS ?? 1000);

async function post(url: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function syncLatencies(url: string, keepGoing: () => boolean, minCalls: number): Promise<number[]> {
  const times: number[] = [];
  while (times.length < minCalls || keepGoing()) {
    const start = performance.now();
    const res = await post(`${url}/invoke`, { id: "echo", payload: { sync: true } });
    if (res.status !== 200) throw new Error(`sync call failed: ${JSON.stringify(res.body)}`);
    times.push(performance.now() - start);
    if (!keepGoing() && times.length >= minCalls) break;
  }
  return times.sort((a, b) => a - b);
}

async function drained(url: string): Promise<boolean> {
  for (const status of ["queued", "running"]) {
    const res = await fetch(`${url}/invocations?function_id=echo&status=${status}&page_size=1`);
    if (((await res.json()) as { invocations: unknown[] }).invocations.length > 0) return false;
  }
  return true;
}

async function measure(name: string, env: Record<string, string>) {
  const stateDir = await mkdtemp(join(tmpdir(), "faas-bench-async-"));
  const agent = await spawnAgent({ ...env, FAAS_STATE_DIR: stateDir });
  try {
    const deployed = await post(`${agent.url}/deploy`, { id: "echo", handler: "def handle(req):\n    return req\n" });
    if (deployed.status !== 200) throw new Error(JSON.stringify(deployed.body));
    await syncLatencies(agent.url, () => false, 100); // warm-up
    const idle = await syncLatencies(agent.url, () => false, IDLE_CALLS);
    let draining = true;
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < N) {
          next++;
          const res = await post(`${agent.url}/async-invoke`, { id: "echo", payload: { n: next } });
          if (res.status !== 202) throw new Error(JSON.stringify(res.body));
        }
      }),
    );
    const acceptedIn = (performance.now() - t0) / 1000;
    // Sync calls while the accepted invocations drain (after the accept burst, which is load of its own).
    const duringDrain = syncLatencies(agent.url, () => draining, 100);
    while (!(await drained(agent.url))) await new Promise((r) => setTimeout(r, 100));
    const completedIn = (performance.now() - t0) / 1000;
    draining = false;
    const drain = await duringDrain;
    const succeeded = await countSucceeded(agent.url);
    return {
      name,
      acceptedPerSecond: N / acceptedIn,
      completedPerSecond: N / completedIn,
      lost: N - succeeded,
      idle: { p50: percentile(idle, 50), p99: percentile(idle, 99), calls: idle.length },
      drain: { p50: percentile(drain, 50), p99: percentile(drain, 99), calls: drain.length },
    };
  } finally {
    await agent.stop();
    await rm(stateDir, { recursive: true, force: true });
  }
}

async function countSucceeded(url: string): Promise<number> {
  let count = 0;
  let token = "";
  do {
    const res = await fetch(`${url}/invocations?function_id=echo&status=succeeded&page_size=1000${token ? `&page_token=${token}` : ""}`);
    const page = (await res.json()) as { invocations: unknown[]; next_page_token: string };
    count += page.invocations.length;
    token = page.next_page_token;
  } while (token);
  return count;
}

const nats = await startNats();
try {
  const results = [await measure("sqlite", {}), await measure("jetstream", { FAAS_QUEUE_URL: nats.url })];
  const ms = (v: number) => `${v.toFixed(2)} ms`;
  console.log(`async invocations, N=${N} (32 accepting clients, FAAS_ASYNC_CONCURRENCY default 8)`);
  console.log("backend    accepted/s  completed/s  lost  sync p50 idle→drain (ratio)   sync p99 idle→drain (ratio)");
  for (const r of results) {
    console.log(
      `${r.name.padEnd(10)} ${r.acceptedPerSecond.toFixed(0).padStart(10)}  ${r.completedPerSecond.toFixed(0).padStart(11)}  ${String(r.lost).padStart(4)}  ` +
        `${ms(r.idle.p50)} → ${ms(r.drain.p50)} (${(r.drain.p50 / r.idle.p50).toFixed(2)})   ${ms(r.idle.p99)} → ${ms(r.drain.p99)} (${(r.drain.p99 / r.idle.p99).toFixed(2)})`,
    );
  }
  const [s, j] = results;
  console.log(`jetstream/sqlite: accepted ${(j.acceptedPerSecond / s.acceptedPerSecond).toFixed(2)}, completed ${(j.completedPerSecond / s.completedPerSecond).toFixed(2)}`);
  if (results.some((r) => r.lost > 0)) process.exitCode = 1;
} finally {
  await nats.stop();
}
