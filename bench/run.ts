/**
 * Throughput and latency benchmark of the agent against reference points, on a trivial JSON
 * handler. Run with `npm run bench`; `npm run -s bench -- --json` also prints the figures as JSON
 * on stdout (the human report then goes to stderr; -s keeps npm's banner off stdout).
 *
 * Environment: BENCH_SECONDS (default 5) is the length of each measured load, BENCH_WARMUP_SECONDS
 * (default 1) the warm-up before each (2 s more before the first load on each server), BENCH_ROUNDS
 * (default 1) how many times the whole plan runs (each case then reports its median run).
 *
 * Cases (HTTP/1.1 keep-alive with wrk, gRPC over h2c with h2load; 127.0.0.1 only; one load at a
 * time; the two sides of each ratio are measured back to back):
 *   a    the runtime shim called directly (faas_runtime.py --protocol http on a TCP port)
 *   b    Flask on waitress running the same handler module
 *   c    REST POST /invoke through the agent
 *   d    nginx (1 worker, upstream keepalive) in front of the runtime shim
 *   e    Connect JSON POST /faas.v1.FaasAgent/Invoke through the agent
 *   f    gRPC FaasAgent/Invoke through the agent (f: 1 stream per connection, f16: 16)
 *   g    the same server stack around a platform that does nothing (gj: Connect JSON, gg/gg16:
 *        gRPC): where the agent's own time goes, not a bar
 *   x    an empty unary Invoke on @grpc/grpc-js (x: 16x1, x16: 16x16): the bar for f/f16
 *   h8   nginx in front of a minimal single-threaded asyncio server running the same handler
 *        (the fastest plain-Python server), 8 connections; c8 the agent REST at 8 connections
 *   a1, c1  a and c at one connection: the latency the agent adds
 *   start   the compiled agent as `npm start` runs it: spawn to healthy, and RSS after start
 *   stream  streaming throughput, chunks/s (bench/lib/stream.ts): the runtime shim directly (sf
 *           frames, the bar's baseline; sd its HTTP NDJSON), sr the agent's REST NDJSON, sg the
 *           agent's gRPC InvokeStream
 *
 * Besides req/s and latency, each case reports the CPU time its server processes used per
 * request, and how much CPU other processes on the machine took meanwhile (a shared machine
 * makes the figures noisy; that column says when). The machinery is in bench/lib/.
 *
 * Exit code: 0 when every figure was measured and every bar is met; 1 when a bar is missed or a
 * measurement could not be made (a server did not start, wrong responses, errors under load).
 * BENCH_CASES=key,key… measures only those cases (bars without both sides are then n/a).
 */
import { rmSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { cpuText } from "./lib/cpu.ts";
import { grpcInvokeBody } from "./lib/grpc.ts";
import { measureFootprint, type Footprint } from "./lib/footprint.ts";
import { createMeasure, type Case, type Run } from "./lib/load.ts";
import { createChildren } from "./lib/processes.ts";
import { checksJson, fmtMs, fmtRps, printChecks, ratioCheck, table, type Check } from "./lib/report.ts";
import { measureStreaming, type StreamFigure } from "./lib/stream.ts";
import { startAgentServer, startAsyncio, startEmptyServer, startFlask, startGrpcJs, startNginx, startShim, type Server, type ServerDeps } from "./lib/servers.ts";
import { CONNECTIONS, createSay, HANDLER_SOURCE, INVOKE_PATH, LOAD_THREADS, wholeSeconds } from "./lib/settings.ts";

const JSON_OUT = process.argv.includes("--json");
const SECONDS = wholeSeconds("BENCH_SECONDS", 5, 1);
const WARMUP_SECONDS = wholeSeconds("BENCH_WARMUP_SECONDS", 1, 0);
const ROUNDS = wholeSeconds("BENCH_ROUNDS", 1, 1);
const FIRST_WARMUP_EXTRA_SECONDS = 2;

const FULL_PLAN: Case[] = [
  { key: "a", label: "runtime shim, direct HTTP", server: "shim", kind: "wrk", path: "", connections: CONNECTIONS },
  { key: "b", label: "Flask on waitress", server: "flask", kind: "wrk", path: "", connections: CONNECTIONS },
  { key: "d", label: "nginx -> runtime shim", server: "nginx", kind: "wrk", path: "", connections: CONNECTIONS },
  { key: "c", label: "agent REST /invoke", server: "agent", kind: "wrk", path: "/invoke", connections: CONNECTIONS },
  { key: "e", label: "agent Connect JSON Invoke", server: "agent", kind: "wrk", path: INVOKE_PATH, connections: CONNECTIONS },
  { key: "gj", label: "empty stack, Connect JSON", server: "empty", kind: "wrk", path: INVOKE_PATH, connections: CONNECTIONS },
  { key: "f", label: "agent gRPC Invoke", server: "agent", kind: "grpc", connections: CONNECTIONS, streams: 1 },
  { key: "x", label: "empty @grpc/grpc-js Invoke", server: "grpcjs", kind: "grpc", connections: CONNECTIONS, streams: 1 },
  { key: "gg", label: "empty stack, gRPC", server: "empty", kind: "grpc", connections: CONNECTIONS, streams: 1 },
  { key: "f16", label: "agent gRPC Invoke", server: "agent", kind: "grpc", connections: CONNECTIONS, streams: 16 },
  { key: "x16", label: "empty @grpc/grpc-js Invoke", server: "grpcjs", kind: "grpc", connections: CONNECTIONS, streams: 16 },
  { key: "gg16", label: "empty stack, gRPC", server: "empty", kind: "grpc", connections: CONNECTIONS, streams: 16 },
  { key: "h8", label: "nginx -> asyncio server", server: "nginx-asyncio", kind: "wrk", path: "", connections: 8 },
  { key: "c8", label: "agent REST /invoke", server: "agent", kind: "wrk", path: "/invoke", connections: 8 },
  { key: "a1", label: "runtime shim, direct HTTP", server: "shim", kind: "wrk", path: "", connections: 1 },
  { key: "c1", label: "agent REST /invoke", server: "agent", kind: "wrk", path: "/invoke", connections: 1 },
];
/** The order of the summary table. */
const ONLY = (process.env.BENCH_CASES ?? "").split(",").map((k) => k.trim()).filter(Boolean);
const PLAN = ONLY.length ? FULL_PLAN.filter((c) => ONLY.includes(c.key)) : FULL_PLAN;
const REPORT_ORDER = ["a", "b", "c", "d", "h8", "c8", "e", "f", "x", "f16", "x16", "gj", "gg", "gg16", "a1", "c1"].filter((k) => PLAN.some((c) => c.key === k));
const MEASURE_START = !ONLY.length || ONLY.includes("start");
let footprint: Footprint | Error | undefined;
const MEASURE_STREAM = !ONLY.length || ONLY.includes("stream");
let streaming: StreamFigure[] | Error | undefined;
/** The agent's streaming path against the shim's own NDJSON, same run (set from the first measurements). */
const STREAM_BAR = 0.5;
/** gRPC streaming pays connect-node's per-message cost (envelope, HTTP/2 DATA frame, drain wait). */
const GRPC_STREAM_BAR = 0.1;

interface Figure extends Case {
  runs: Run[];
  error?: string;
  /** The median run by req/s. */
  median?: Run;
}

const say = createSay(JSON_OUT);
let workDir = "";
const children = createChildren(say, () => {
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});
const figures = new Map<string, Figure>(PLAN.map((c) => [c.key, { ...c, runs: [] }]));
const servers = new Map<string, Server | Error>();

/** The bars: each agent figure against its baseline measured in the same run. */
function checks(): Check[] {
  const rps = (key: string) => figures.get(key)?.median?.rps;
  const a1 = figures.get("a1")?.median;
  const c1 = figures.get("c1")?.median;
  const start = footprint instanceof Error ? undefined : footprint;
  const chunks = (key: string) => (streaming instanceof Error ? undefined : streaming?.find((f) => f.key === key)?.chunksPerSecond);
  const all: Check[] = [
    ratioCheck("a/b", "shim direct vs Flask on waitress", rps("a"), rps("b"), ">=", 5),
    ratioCheck("c/d", "agent REST vs nginx -> shim", rps("c"), rps("d"), ">=", 0.55),
    ratioCheck("c8/h8", "agent REST vs nginx -> asyncio server (8 conns)", rps("c8"), rps("h8"), ">=", 0.35),
    ratioCheck("e/c", "agent Connect JSON vs agent REST", rps("e"), rps("c"), ">=", 0.6),
    ratioCheck("f/x", "agent gRPC vs empty @grpc/grpc-js (16 conns x 1 stream)", rps("f"), rps("x"), ">=", 0.6),
    ratioCheck("f16/x16", "agent gRPC vs empty @grpc/grpc-js (16 conns x 16 streams)", rps("f16"), rps("x16"), ">=", 0.6),
    { name: "added p50", description: "agent REST p50 - shim direct p50, 1 connection", value: a1 && c1 ? c1.p50Ms - a1.p50Ms : undefined, unit: "ms", op: "<=", limit: 0.2 },
    ...(MEASURE_START
      ? ([
          { name: "start", description: "npm start (compiled, local, nothing deployed): spawn to healthy", value: start?.healthyMs, unit: "ms", op: "<=", limit: 500 },
          { name: "RSS", description: "npm start: agent RSS after start", value: start?.rssMb, unit: "MB", op: "<=", limit: 100 },
        ] as Check[])
      : []),
    ...(MEASURE_STREAM
      ? [
          ratioCheck("sr/sf", "streaming chunks/s: agent REST NDJSON vs the runtime shim's frames directly", chunks("sr"), chunks("sf"), ">=", STREAM_BAR),
          ratioCheck("sg/sf", "streaming chunks/s: agent gRPC InvokeStream vs the runtime shim's frames directly", chunks("sg"), chunks("sf"), ">=", GRPC_STREAM_BAR),
        ]
      : []),
  ];
  return all.filter((c) => !ONLY.length || c.value !== undefined);
}

function describe(f: Case): string {
  const conns = f.streams ? `${f.connections} conns x ${f.streams} streams` : `${f.connections} conn${f.connections > 1 ? "s" : ""}`;
  return `${f.label} (${conns})`;
}

/** Prints the summary (and the JSON report); true when every figure was measured. */
function report(): boolean {
  const rows: string[][] = [["case", "what", "conns", "req/s", "p50 ms", "p99 ms", "server CPU us/req", "other CPU"]];
  for (const key of REPORT_ORDER) {
    const f = figures.get(key)!;
    const m = f.median;
    rows.push([key, f.label, f.streams ? `${f.connections}x${f.streams}` : String(f.connections), f.error ? "ERROR" : fmtRps(m?.rps), fmtMs(m?.p50Ms), fmtMs(m?.p99Ms), m ? cpuText(m.cpuUsPerRequest) : "-", m ? `${m.otherCpuPercent.toFixed(0)}%` : "-"]);
  }
  say("");
  say(`=== summary: ${SECONDS} s per load after ${WARMUP_SECONDS} s warm-up (+${FIRST_WARMUP_EXTRA_SECONDS} s on a server's first load), ${ROUNDS} round${ROUNDS > 1 ? "s (median run)" : ""}, wrk/h2load ${LOAD_THREADS} thread, 127.0.0.1 ===`);
  for (const line of table(rows, ["l", "l", "r", "r", "r", "r", "l", "r"])) say(line);
  say("(server CPU: CPU time of the server's processes per request, by command; other CPU: what other processes on the machine used meanwhile, in % of one core)");
  say("");
  const a1 = figures.get("a1")?.median;
  const c1 = figures.get("c1")?.median;
  const added = a1 && c1 ? { p50Ms: c1.p50Ms - a1.p50Ms, p99Ms: c1.p99Ms - a1.p99Ms } : undefined;
  say(
    `latency at 1 connection: shim direct p50 ${fmtMs(a1?.p50Ms)} / p99 ${fmtMs(a1?.p99Ms)} ms; agent REST p50 ${fmtMs(c1?.p50Ms)} / p99 ${fmtMs(c1?.p99Ms)} ms; ` +
      `added p50 ${fmtMs(added?.p50Ms)} ms, p99 ${fmtMs(added?.p99Ms)} ms`,
  );
  say("");
  if (footprint) {
    say(footprint instanceof Error ? `start: could not be measured: ${footprint.message}` : `start (npm start, compiled): healthy after ${footprint.healthyMs.toFixed(0)} ms, RSS ${footprint.rssMb.toFixed(1)} MB (median of 3)`);
    say("");
  }
  if (streaming) {
    if (streaming instanceof Error) say(`streaming: could not be measured: ${streaming.message}`);
    else for (const f of streaming) say(`streaming ${f.key}  ${f.label.padEnd(34)} ${fmtRps(f.chunksPerSecond)} chunks/s`);
    say("");
  }
  const bars = checks();
  const allPass = printChecks(say, bars);

  const floored = ["f", "gg"].filter((k) => (figures.get(k)?.median?.p50Ms ?? 0) >= 35);
  if (floored.length) {
    say("");
    say(
      `note: gRPC p50 of ${floored.join(", ")} is at or above ~40 ms, the Linux delayed-ACK timeout: the server's sockets ` +
        "most likely run without TCP_NODELAY (Nagle holds back the second write of each response until the client's delayed ACK).",
    );
  }
  const errors = [...figures.values()].filter((f) => f.error);
  if (errors.length) {
    say("");
    say("measurements that could not be made:");
    for (const f of errors) say(`  ${f.key}: ${f.error}`);
  }
  if (JSON_OUT) {
    const cases = REPORT_ORDER.map((k) => {
      const f = figures.get(k)!;
      const m = f.median;
      const json = { label: f.label, tool: f.kind === "wrk" ? "wrk" : "h2load", connections: f.connections, streams: f.streams ?? null, rps: m?.rps ?? null, p50Ms: m?.p50Ms ?? null, p99Ms: m?.p99Ms ?? null, requests: m?.requests ?? null, serverCpuUsPerRequest: m?.cpuUsPerRequest ?? null, otherCpuPercent: m?.otherCpuPercent ?? null, runs: f.runs, error: f.error ?? null };
      return [k, json] as const;
    });
    const json = {
      settings: { seconds: SECONDS, warmupSeconds: WARMUP_SECONDS, rounds: ROUNDS, connections: CONNECTIONS, loadThreads: LOAD_THREADS, loadAverage: loadavg() },
      cases: Object.fromEntries(cases),
      latencyAdded: added ?? null,
      footprint: footprint instanceof Error ? { error: footprint.message } : (footprint ?? null),
      ratios: checksJson(bars),
      ok: errors.length === 0 && allPass,
    };
    process.stdout.write(JSON.stringify(json, null, 2) + "\n");
  }
  return errors.length === 0 && allPass;
}

/** Servers the plan loads, and what each of them needs started first. */
const DEPENDS: Record<string, string> = { nginx: "shim", "nginx-asyncio": "asyncio" };
const NEEDED = new Set([...PLAN.flatMap((c) => [c.server, ...(DEPENDS[c.server] ? [DEPENDS[c.server]!] : [])]), ...(MEASURE_STREAM ? ["agent"] : [])]);

async function withServer(name: string, start: () => Promise<Server>): Promise<void> {
  if (!NEEDED.has(name)) return;
  try {
    const server = await start();
    servers.set(name, server);
    say(`  ${name}: ${server.url}`);
  } catch (error) {
    const failure = error instanceof Error ? error : new Error(String(error));
    servers.set(name, failure);
    say(`  ${name}: could not start: ${failure.message}`);
  }
}

async function main(): Promise<number> {
  workDir = await mkdtemp(join(tmpdir(), "rfaas-bench-"));
  try {
    say(`radical-faas bench: ${SECONDS} s per load, ${WARMUP_SECONDS} s warm-up, ${ROUNDS} round(s); load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
    const deps: ServerDeps = { children, workDir };
    const handlerPath = join(workDir, "handler.py");
    await writeFile(handlerPath, HANDLER_SOURCE);
    const grpcBody = grpcInvokeBody();
    const grpcBodyFile = join(workDir, "invoke.grpc");
    await writeFile(grpcBodyFile, grpcBody);
    const measure = createMeasure(children, workDir, { seconds: SECONDS, warmupSeconds: WARMUP_SECONDS, firstWarmupExtraSeconds: FIRST_WARMUP_EXTRA_SECONDS }, grpcBodyFile);

    say("starting servers (all idle but the one under load):");
    await withServer("shim", () => startShim(deps, handlerPath));
    const shim = servers.get("shim");
    await withServer("nginx", () => (shim instanceof Error || !shim ? Promise.reject(new Error("the runtime shim did not start")) : startNginx(deps, shim)));
    await withServer("flask", () => startFlask(deps, handlerPath));
    await withServer("asyncio", () => startAsyncio(deps, handlerPath));
    const asyncio = servers.get("asyncio");
    await withServer("nginx-asyncio", () => (asyncio instanceof Error || !asyncio ? Promise.reject(new Error("the asyncio server did not start")) : startNginx(deps, asyncio, "nginx-asyncio")));
    await withServer("grpcjs", () => startGrpcJs(deps, grpcBody));
    await withServer("agent", () => startAgentServer(deps, grpcBody));
    await withServer("empty", () => startEmptyServer(deps, grpcBody));
    if (children.interrupted) return 130;

    for (let round = 1; round <= ROUNDS; round++) {
      say(ROUNDS > 1 ? `round ${round}/${ROUNDS}:` : "measuring:");
      for (const c of PLAN) {
        if (children.interrupted) return 130;
        const figure = figures.get(c.key)!;
        if (figure.error) continue;
        const server = servers.get(c.server);
        if (!server || server instanceof Error) {
          figure.error = `${c.server} did not start: ${server?.message ?? "?"}`;
          say(`  ${c.key.padEnd(4)} ${describe(figure)}: ERROR ${figure.error.split("\n")[0]}`);
          continue;
        }
        try {
          const run = await measure(c, server);
          figure.runs.push(run);
          say(
            `  ${c.key.padEnd(4)} ${describe(figure)}: ${fmtRps(run.rps)} req/s, p50 ${fmtMs(run.p50Ms)} ms, p99 ${fmtMs(run.p99Ms)} ms; ` +
              `server CPU ${cpuText(run.cpuUsPerRequest)} us/req; other processes ${run.otherCpuPercent.toFixed(0)}% CPU`,
          );
        } catch (error) {
          if (children.interrupted) return 130;
          figure.error = (error as Error).message;
          say(`  ${c.key.padEnd(4)} ${describe(figure)}: ERROR ${figure.error}`);
        }
      }
    }
    if (MEASURE_STREAM) {
      say("measuring streaming throughput (chunks/s):");
      const agent = servers.get("agent");
      streaming = agent && !(agent instanceof Error) ? await measureStreaming(children, workDir, agent.url).catch((error: unknown) => (error instanceof Error ? error : new Error(String(error)))) : new Error("the agent did not start");
    }
    if (MEASURE_START) {
      say("measuring the start of the compiled agent (3 starts):");
      footprint = await measureFootprint(children, workDir).catch((error: unknown) => (error instanceof Error ? error : new Error(String(error))));
    }
    for (const figure of figures.values()) figure.median = figure.error ? undefined : medianRun(figure.runs);
    return report() ? 0 : 1;
  } finally {
    await children.stopAll(10_000);
    if (workDir) await rm(workDir, { recursive: true, force: true });
    workDir = "";
  }
}

/** The median run by req/s (the lower one of an even count). */
function medianRun(runs: Run[]): Run | undefined {
  if (runs.length === 0) return undefined;
  return [...runs].sort((x, y) => x.rps - y.rps)[Math.floor((runs.length - 1) / 2)];
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    say(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
