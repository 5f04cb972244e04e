/**
 * Load generation: wrk (HTTP/1.1 keep-alive, bench/wrk.lua) and h2load (gRPC over h2c), each run
 * checked for errors, and one measured case of bench/run.ts with its server's CPU per request.
 */
import { readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { cpuDelta, cpuSnapshot, type CpuUse } from "./cpu.ts";
import type { Children } from "./processes.ts";
import type { Server } from "./servers.ts";
import { CONNECTIONS, H2LOAD, INVOKE_BODY, INVOKE_PATH, LOAD_THREADS, PAYLOAD, WRK, WRK_SCRIPT } from "./settings.ts";

/** What bench/wrk.lua prints (BENCH_RESULT line); latencies in microseconds. */
export interface WrkResult {
  duration_us: number;
  requests: number;
  connect: number;
  read: number;
  write: number;
  status: number;
  timeout: number;
  p50_us: number;
  p99_us: number;
}

/** Parses wrk.lua's result line and throws on any error count (non-2xx, socket errors, timeouts). */
function wrkResult(url: string, stdout: string): WrkResult {
  const line = stdout.split("\n").find((l) => l.startsWith("BENCH_RESULT "));
  if (!line) throw new Error(`wrk ${url}: no result line in ${JSON.stringify(stdout.slice(0, 500))}`);
  const result = JSON.parse(line.slice("BENCH_RESULT ".length)) as WrkResult;
  const problems: string[] = [];
  if (result.status > 0) problems.push(`${result.status} non-2xx/3xx responses`);
  for (const kind of ["connect", "read", "write", "timeout"] as const) {
    if (result[kind] > 0) problems.push(`${result[kind]} socket ${kind} errors`);
  }
  if (result.requests === 0) problems.push("no request completed");
  if (problems.length) throw new Error(`wrk ${url}: ${problems.join(", ")}`);
  return result;
}

/** One wrk run as a child of `children` (killed on interruption), POSTing `body` as JSON. */
export async function wrkOnce(children: Children, url: string, body: unknown, connections: number, seconds: number): Promise<WrkResult> {
  const env = { ...process.env, WRK_BODY: JSON.stringify(body), WRK_CONTENT_TYPE: "application/json" };
  const args = ["-t", String(Math.min(LOAD_THREADS, connections)), "-c", String(connections), "-d", `${seconds}s`, "-s", WRK_SCRIPT, url];
  const out = await children.runTool("wrk", WRK, args, env, (seconds + 20) * 1000);
  if (out.code !== 0 || !out.stdout.includes("BENCH_RESULT ")) throw new Error(`wrk failed (exit ${out.code}): ${(out.stderr || out.stdout).trim().slice(0, 1000)}`);
  return wrkResult(url, out.stdout);
}

/**
 * Requests per second of one wrk run (1 thread, 16 connections) POSTing `body` as JSON with the
 * extra `headers` ("Name: value"); throws on any error. For the platform benchmarks.
 */
export async function wrkRate(url: string, body: unknown, options: { headers?: string[]; seconds: number }): Promise<number> {
  const headers = (options.headers ?? []).flatMap((h) => ["-H", h]);
  const out = await execa(WRK, ["-t", String(LOAD_THREADS), "-c", String(CONNECTIONS), "-d", `${options.seconds}s`, ...headers, "-s", WRK_SCRIPT, url], {
    env: { ...process.env, WRK_BODY: JSON.stringify(body), WRK_CONTENT_TYPE: "application/json" },
  });
  const r = wrkResult(url, out.stdout);
  return r.requests / (r.duration_us / 1e6);
}

/** The `p`-th percentile (nearest rank) of ascending `sorted`. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export interface LoadResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
}

export interface H2loadRun {
  children: Children;
  /** h2load's per-request log goes here (and is removed). */
  logFile: string;
  server: Server;
  streams: number;
  seconds: number;
  warmupSeconds: number;
  bodyFile: string;
}

/**
 * h2load over h2c with gRPC framing. h2load cannot see grpc-status (it is in the trailers), so
 * besides its failure and status counts the DATA received must add up to one full response per
 * request: a gRPC error is a trailers-only response without DATA. Percentiles come from the
 * per-request log.
 */
export async function h2loadOnce({ children, logFile, server, streams, seconds, warmupSeconds, bodyFile }: H2loadRun): Promise<LoadResult> {
  const args = [
    "-c", String(CONNECTIONS),
    "-m", String(streams),
    "-t", String(LOAD_THREADS),
    "-D", String(seconds),
    ...(warmupSeconds > 0 ? ["--warm-up-time", String(warmupSeconds)] : []),
    "-d", bodyFile,
    "-H", "content-type: application/grpc",
    "-H", "te: trailers",
    "--log-file", logFile,
    server.url + INVOKE_PATH,
  ];
  const out = await children.runTool("h2load", H2LOAD, args, process.env, (seconds + warmupSeconds + 20) * 1000);
  const text = out.stdout;
  const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(text);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(text);
  const finished = /finished in ([\d.]+)s, ([\d.]+) req\/s/.exec(text);
  const traffic = /traffic: .*? headers .*?, [\d.]+\w*B \((\d+)\) data/.exec(text);
  if (out.code !== 0 || !req || !codes || !finished || !traffic) {
    throw new Error(`h2load failed (exit ${out.code}): ${(out.stderr + "\n" + text).trim().slice(0, 1500)}`);
  }
  const [done, succeeded, failed, errored, timeouts] = [req[3], req[4], req[5], req[6], req[7]].map(Number) as [number, number, number, number, number];
  const non2xx = Number(codes[2]) + Number(codes[3]) + Number(codes[4]);
  const dataBytes = Number(traffic[1]);
  const expectedBytes = server.grpcResponseBytes ?? 1;
  const problems: string[] = [];
  if (failed + errored + timeouts > 0) problems.push(`${failed} failed, ${errored} errored, ${timeouts} timed out`);
  if (non2xx > 0) problems.push(`${non2xx} non-2xx responses`);
  if (succeeded === 0) problems.push("no request succeeded");
  if (dataBytes < succeeded * expectedBytes) {
    problems.push(`only ${dataBytes} bytes of DATA for ${succeeded} responses of ${expectedBytes} bytes: some calls failed (grpc-status != 0)`);
  }

  // Log rows: start time, status, microseconds. Requests under way when the warm-up ended are
  // logged with status 0 (their status was seen during the warm-up): at most one per stream.
  const latencies: number[] = [];
  let phaseBoundary = 0;
  const log = readFileSync(logFile, "utf8");
  await rm(logFile, { force: true });
  for (const row of log.split("\n")) {
    const [, status, micros] = row.split("\t");
    if (status === undefined) continue;
    if (status === "0") phaseBoundary++;
    else if (status !== "200") problems.push(`a request ended with status ${status}`);
    latencies.push(Number(micros));
  }
  if (phaseBoundary > CONNECTIONS * streams) problems.push(`${phaseBoundary} requests logged without a status`);
  if (problems.length) throw new Error(`h2load ${server.url}: ${[...new Set(problems)].join(", ")}`);
  const sorted = Float64Array.from(latencies).sort();
  return { rps: Number(finished[2]), p50Ms: percentile(sorted, 50) / 1000, p99Ms: percentile(sorted, 99) / 1000, requests: done };
}

/** One measured run of a case. */
export interface Run extends LoadResult {
  /** Server CPU time per request, microseconds, by command name. */
  cpuUsPerRequest: Record<string, number>;
  /** CPU other processes used during the run, in % of one core. */
  otherCpuPercent: number;
}

/** One case of a plan: which server, which tool, how many connections (and streams). */
export interface Case {
  key: string;
  label: string;
  server: string;
  kind: "wrk" | "grpc";
  /** wrk: the path to POST to (appended to the server's URL); empty for the payload-only servers. */
  path?: string;
  connections: number;
  streams?: number;
}

export interface LoadSettings {
  seconds: number;
  warmupSeconds: number;
  /** Extra warm-up seconds before the first wrk load on each server. */
  firstWarmupExtraSeconds: number;
}

/**
 * Creates the measuring step of a plan: `measure(c, server)` runs the case's load (with its
 * warm-up) and returns the run with the CPU its server's process groups used per request.
 */
export function createMeasure(children: Children, workDir: string, settings: LoadSettings, grpcBodyFile: string) {
  /** Servers that have had their first warm-up. */
  const warmed = new Set<string>();
  let h2loadRuns = 0;

  return async function measure(c: Case, server: Server): Promise<Run> {
    const groups = server.groups.map((g) => g.proc.pid).filter((p): p is number => p !== undefined);
    let result: LoadResult;
    let cpu: CpuUse;
    let seconds: number;
    if (c.kind === "wrk") {
      const url = server.url.replace(/\/$/, "") + (c.path || "/");
      // The agent's routes take {id, payload}; the shim, nginx and Flask take the payload itself.
      const body = c.path ? INVOKE_BODY : PAYLOAD;
      // The first load on a server gets a longer warm-up: V8's JIT (and CPython's caches) settle in.
      const warmup = settings.warmupSeconds > 0 ? settings.warmupSeconds + (warmed.has(server.name) ? 0 : settings.firstWarmupExtraSeconds) : 0;
      warmed.add(server.name);
      if (warmup > 0) await wrkOnce(children, url, body, c.connections, warmup);
      const before = cpuSnapshot();
      const started = performance.now();
      const r = await wrkOnce(children, url, body, c.connections, settings.seconds);
      seconds = (performance.now() - started) / 1000;
      cpu = cpuDelta(before, cpuSnapshot(), groups, children.pids());
      result = { rps: r.requests / (r.duration_us / 1e6), p50Ms: r.p50_us / 1000, p99Ms: r.p99_us / 1000, requests: r.requests };
    } else {
      // h2load does its own warm-up; the CPU window then includes it (the per-request figure is
      // scaled by the measured share of the run's time).
      const before = cpuSnapshot();
      const started = performance.now();
      const logFile = join(workDir, `h2load-${c.key}-${++h2loadRuns}.log`); // h2load appends to an existing file
      result = await h2loadOnce({ children, logFile, server, streams: c.streams ?? 1, seconds: settings.seconds, warmupSeconds: settings.warmupSeconds, bodyFile: grpcBodyFile });
      seconds = (performance.now() - started) / 1000;
      cpu = cpuDelta(before, cpuSnapshot(), groups, children.pids());
    }
    // Requests served in the CPU window, estimated at the measured rate (covers h2load's warm-up).
    const served = result.rps * seconds;
    const cpuUsPerRequest = Object.fromEntries(Object.entries(cpu.server).map(([comm, s]) => [comm, (s * 1e6) / served]));
    return { ...result, cpuUsPerRequest, otherCpuPercent: (cpu.other / seconds) * 100 };
  };
}
