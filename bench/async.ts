/**
 * Async invocations, for the embedded SQLite store and for NATS JetStream (a nats-server -js this
 * bench starts), in the same run, each against an agent running as its own process (local
 * platform, one function that echoes its payload or, given a gate, waits at it):
 *   idle         sync p50/p99 of IDLE_CALLS sequential POST /invoke calls, nothing else running
 *   accepted/s   BENCH_ASYNC_N (default 10 000) POST /async-invoke from 32 clients, answered 202;
 *                the first FAAS_ASYNC_CONCURRENCY (BENCH_ASYNC_CONCURRENCY, default 8) of them wait at a gate, so the other ones
 *                stay queued: accepting is measured alone, and the drain starts with all N queued
 *   completed/s  from the gate's release until none is queued or running (N / that time)
 *   drain        sync p50/p99 of sequential POST /invoke calls to the same function while the N
 *                drain; drain/idle is the figure ("the sync path's latency unchanged")
 *   lost         N minus the invocations that succeeded (must be 0)
 * The 1-minute load average is printed at the start and end of each measurement.
 * Run: npm run bench:async (BENCH_ASYNC_N, BENCH_ASYNC_IDLE_CALLS, BENCH_ASYNC_CONCURRENCY to change the counts).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { hostname, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { GATED_HANDLER, spawnAgent, startGate, startNats } from "../test/support/async.ts";

const N = Number(process.env.BENCH_ASYNC_N ?? 10_000);
const IDLE_CALLS = Number(process.env.BENCH_ASYNC_IDLE_CALLS ?? 1000);
/** FAAS_ASYNC_CONCURRENCY of the agents (default: the agent's default, 8); that many held at the gate keep the rest queued. */
const HELD = Number(process.env.BENCH_ASYNC_CONCURRENCY ?? 8);
const CLIENTS = 32;

async function post(url: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const load = () => loadavg()[0].toFixed(2);

/** Sequential sync calls: `count` of them, or (count undefined) as long as `keepGoing()` holds. */
async function syncLatencies(url: string, count: number | undefined, keepGoing: () => boolean = () => true): Promise<number[]> {
  const times: number[] = [];
  while (count === undefined ? keepGoing() : times.length < count) {
    const start = performance.now();
    const res = await post(`${url}/invoke`, { id: "echo", payload: { sync: true } });
    if (res.status !== 200) throw new Error(`sync call failed: ${JSON.stringify(res.body)}`);
    times.push(performance.now() - start);
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
  const gate = await startGate();
  const agent = await spawnAgent({ ...env, FAAS_STATE_DIR: stateDir, FAAS_ASYNC_CONCURRENCY: String(HELD) });
  try {
    const deployed = await post(`${agent.url}/deploy`, { id: "echo", handler: GATED_HANDLER });
    if (deployed.status !== 200) throw new Error(JSON.stringify(deployed.body));
    const loadAtStart = load();
    await syncLatencies(agent.url, 100); // warm-up
    const idle = await syncLatencies(agent.url, IDLE_CALLS);
    const loadAfterIdle = load();

    // The first HELD run and wait at the gate: the rest stay queued behind them.
    for (let i = 0; i < HELD; i++) {
      const res = await post(`${agent.url}/async-invoke`, { id: "echo", payload: { gate: gate.port, tag: "held" } });
      if (res.status !== 202) throw new Error(JSON.stringify(res.body));
    }
    await gate.arrived("held", HELD);
    let next = HELD;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (next < N) {
          next++;
          const res = await post(`${agent.url}/async-invoke`, { id: "echo", payload: { n: next } });
          if (res.status !== 202) throw new Error(JSON.stringify(res.body));
        }
      }),
    );
    const acceptedIn = (performance.now() - t0) / 1000;
    const loadAfterAccept = load();

    let draining = true;
    const t1 = performance.now();
    gate.release("held");
    const duringDrain = syncLatencies(agent.url, undefined, () => draining);
    while (!(await drained(agent.url))) await new Promise((r) => setTimeout(r, 100));
    const completedIn = (performance.now() - t1) / 1000;
    draining = false;
    const drain = await duringDrain;
    const loadAfterDrain = load();
    const succeeded = await countSucceeded(agent.url);
    return {
      name,
      acceptedPerSecond: (N - HELD) / acceptedIn,
      completedPerSecond: N / completedIn,
      completedIn,
      lost: N - succeeded,
      idle: { p50: percentile(idle, 50), p99: percentile(idle, 99), calls: idle.length },
      drain: { p50: percentile(drain, 50), p99: percentile(drain, 99), calls: drain.length },
      load: `${loadAtStart} → ${loadAfterIdle} (idle) → ${loadAfterAccept} (accept) → ${loadAfterDrain} (drain)`,
    };
  } finally {
    gate.close();
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
  console.log(`async invocations, N=${N}, ${new Date().toISOString()}, ${hostname()}, Node ${process.version}`);
  const results = [await measure("sqlite", {}), await measure("jetstream", { FAAS_QUEUE_URL: nats.url })];
  const ms = (v: number) => `${v.toFixed(2)} ms`;
  console.log(`(${CLIENTS} accepting clients; FAAS_ASYNC_CONCURRENCY ${HELD}; sync calls sequential, ${IDLE_CALLS} idle)`);
  console.log("backend    accepted/s  completed/s  lost  sync p50 idle → drain (ratio)     sync p99 idle → drain (ratio)     drain calls");
  for (const r of results) {
    console.log(
      `${r.name.padEnd(10)} ${r.acceptedPerSecond.toFixed(0).padStart(10)}  ${r.completedPerSecond.toFixed(0).padStart(11)}  ${String(r.lost).padStart(4)}  ` +
        `${ms(r.idle.p50)} → ${ms(r.drain.p50)} (${(r.drain.p50 / r.idle.p50).toFixed(2)})   ${ms(r.idle.p99)} → ${ms(r.drain.p99)} (${(r.drain.p99 / r.idle.p99).toFixed(2)})   ${r.drain.calls} in ${r.completedIn.toFixed(1)} s`,
    );
  }
  for (const r of results) console.log(`load average (1 min) ${r.name}: ${r.load}`);
  const [s, j] = results;
  console.log(`jetstream/sqlite: accepted ${(j.acceptedPerSecond / s.acceptedPerSecond).toFixed(2)}, completed ${(j.completedPerSecond / s.completedPerSecond).toFixed(2)}`);
  if (results.some((r) => r.lost > 0)) process.exitCode = 1;
} finally {
  await nats.stop();
}
