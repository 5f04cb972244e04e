/**
 * Throughput and latency benchmark of the agent against reference points, on a trivial JSON
 * handler. Run with `npm run bench`; `npm run -s bench -- --json` also prints the figures as JSON
 * on stdout (the human report then goes to stderr; -s keeps npm's banner off stdout).
 *
 * Environment: BENCH_SECONDS (default 5) is the length of each measured load, BENCH_WARMUP_SECONDS
 * (default 1) the warm-up before each (2 s more before the first load on each server), BENCH_ROUNDS (default 1) how many times the whole plan
 * runs (each case then reports its median run).
 *
 * Cases (HTTP/1.1 keep-alive with wrk, gRPC over h2c with h2load; 127.0.0.1 only; one load at a
 * time; the two sides of each ratio are measured back to back):
 *   a    the runtime shim called directly (faas_runtime.py --protocol http on a TCP port)
 *   b    Flask on waitress running the same handler module
 *   c    REST POST /invoke through the agent
 *   d    nginx (1 worker, upstream keepalive) in front of the runtime shim
 *   e    Connect JSON POST /faas.v1.FaasAgent/Invoke through the agent
 *   f    gRPC FaasAgent/Invoke through the agent (f: 1 stream per connection, f16: 16)
 *   g    the same server stack around a platform that does nothing (gj: Connect JSON, for e;
 *        gg/gg16: gRPC, for f/f16)
 *   a1, c1  a and c at one connection: the latency the agent adds
 *
 * Besides req/s and latency, each case reports the CPU time its server processes used per
 * request, and how much CPU other processes on the machine took meanwhile (a shared machine
 * makes the figures noisy; that column says when).
 *
 * Exit code: 0 when every figure was measured, whether or not the bars are met; 1 when a
 * measurement could not be made (a server did not start, wrong responses, errors under load).
 */
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { closeSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect as http2Connect, type IncomingHttpHeaders } from "node:http2";
import { createServer, type AddressInfo } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";
import { create, fromBinary, fromJson, toBinary, toJson, type JsonValue } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { InvokeRequestSchema, InvokeResponseSchema } from "../gen/faas/v1/agent_pb.ts";

// ---------------------------------------------------------------------------------------------
// Settings

const BENCH_DIR = fileURLToPath(new URL(".", import.meta.url));
const REPO = fileURLToPath(new URL("..", import.meta.url));
const SHIM = join(REPO, "src/runtime/python/faas_runtime.py");
const WRK_SCRIPT = join(BENCH_DIR, "wrk.lua");
const FLASK_APP = join(BENCH_DIR, "flask_app.py");
const NGINX_TEMPLATE = join(BENCH_DIR, "nginx.conf");
const SERVER_CHILD = join(BENCH_DIR, "server_child.ts");

const WRK = "/usr/bin/wrk";
const H2LOAD = "/usr/bin/h2load";
const NGINX = "/usr/sbin/nginx";
const SYSTEM_PYTHON = "/usr/bin/python3"; // has flask and waitress
const PYTHON = "python3"; // the one first on PATH (pyenv), which the agent also uses by default

const JSON_OUT = process.argv.includes("--json");
const SECONDS = wholeSeconds("BENCH_SECONDS", 5, 1);
const WARMUP_SECONDS = wholeSeconds("BENCH_WARMUP_SECONDS", 1, 0);
const ROUNDS = wholeSeconds("BENCH_ROUNDS", 1, 1);
const CONNECTIONS = 16;
/** Load-generator threads: one, so that the servers keep most of the machine's 2 cores. */
const LOAD_THREADS = 1;
const CLOCK_TICKS_PER_SECOND = 100; // getconf CLK_TCK on Linux

const HANDLER_SOURCE = 'def handle(req):\n    return {"ok": True, "echo": req}\n';
const PAYLOAD = { name: "bench", n: 1 };
const FUNCTION_ID = "bench";
const EXPECTED_RESULT = { ok: true, echo: PAYLOAD };
const INVOKE_BODY = { id: FUNCTION_ID, payload: PAYLOAD };
const INVOKE_PATH = "/faas.v1.FaasAgent/Invoke";

function wholeSeconds(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > 600) {
    throw new Error(`${name}=${raw} is invalid: expected a whole number from ${min} to 600`);
  }
  return value;
}

/** Human-readable output: stdout, or stderr when stdout carries the JSON report. */
function say(line = ""): void {
  (JSON_OUT ? process.stderr : process.stdout).write(line + "\n");
}

// ---------------------------------------------------------------------------------------------
// Child processes: each in a process group of its own, so that whatever it forks (nginx's worker,
// the agent's Python workers) is stopped with it and its CPU time can be attributed to it.

interface Child {
  name: string;
  /** A load generator (wrk, h2load): killed at once on interruption; servers are stopped gracefully. */
  tool: boolean;
  proc: ChildProcess;
  exited: Promise<void>;
  exitCode: number | null;
  logPath: string | undefined;
}

const children = new Set<Child>();
let interrupted = false;
let rejectOnInterrupt: (error: Error) => void = () => {};
/** Rejects when the bench is interrupted; raced against every wait that could be long. */
const interruption = new Promise<never>((_, reject) => (rejectOnInterrupt = reject));
interruption.catch(() => {});
const interruptAbort = new AbortController();

function startChild(
  name: string,
  command: string,
  args: string[],
  options: SpawnOptions & { logPath?: string; ipc?: boolean; tool?: boolean } = {},
): Child {
  const { logPath, ipc, tool, ...spawnOptions } = options;
  let logFd: number | undefined;
  if (logPath) logFd = openSync(logPath, "a");
  const out = logFd ?? "ignore";
  const stdio = spawnOptions.stdio ?? (ipc ? ["ignore", out, out, "ipc"] : ["ignore", out, out]);
  const proc = spawn(command, args, { ...spawnOptions, stdio, detached: true });
  if (logFd !== undefined) closeSync(logFd);
  const child: Child = { name, tool: tool ?? false, proc, exited: Promise.resolve(), exitCode: null, logPath };
  child.exited = new Promise<void>((resolve) => {
    proc.once("exit", (code, signal) => {
      child.exitCode = code ?? (signal ? 128 : -1);
      children.delete(child);
      resolve();
    });
    proc.once("error", (error) => {
      child.exitCode = -1;
      children.delete(child);
      if (logPath) void writeFile(logPath, `spawn failed: ${error.message}\n`, { flag: "a" });
      resolve();
    });
  });
  children.add(child);
  return child;
}

function killGroup(child: Child, signal: NodeJS.Signals): void {
  const pid = child.proc.pid;
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/** SIGTERM to the child, then SIGKILL to its group after `graceMs` (and to leftovers of its group). */
async function stopChild(child: Child | undefined, graceMs = 5000): Promise<void> {
  if (!child) return;
  if (child.exitCode === null) {
    try {
      child.proc.kill("SIGTERM");
    } catch {
      // already gone
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([child.exited, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
  }
  killGroup(child, "SIGKILL");
  await child.exited;
}

function killAllNow(): void {
  for (const child of children) killGroup(child, "SIGKILL");
}

// First signal: stop the load under way, then main's finally stops the servers and removes the
// temp dir. A second signal: kill everything at once and leave.
process.on("exit", killAllNow);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (interrupted) {
      killAllNow();
      if (workDir) rmSync(workDir, { recursive: true, force: true });
      process.exit(130);
    }
    interrupted = true;
    say(`\nbench: ${signal}, stopping (again to kill at once)`);
    for (const child of children) if (child.tool) killGroup(child, "SIGKILL");
    rejectOnInterrupt(new Error(`interrupted by ${signal}`));
    interruptAbort.abort();
  });
}

/** Runs a command to completion (bounded by `timeoutMs`) and returns its output. */
async function runTool(name: string, command: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number) {
  const child = startChild(name, command, args, { stdio: ["ignore", "pipe", "pipe"], env, tool: true });
  let stdout = "";
  let stderr = "";
  child.proc.stdout?.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.proc.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child, "SIGKILL");
  }, timeoutMs);
  await child.exited;
  clearTimeout(timer);
  if (timedOut) throw new Error(`${name} did not finish within ${timeoutMs / 1000} s`);
  return { code: child.exitCode, stdout, stderr };
}

function logTail(child: Child | undefined, lines = 15): string {
  if (!child?.logPath) return "";
  try {
    const text = readFileSync(child.logPath, "utf8").trimEnd();
    return text ? `\n--- last lines of ${child.logPath} ---\n${text.split("\n").slice(-lines).join("\n")}` : "";
  } catch {
    return "";
  }
}

// ---------------------------------------------------------------------------------------------
// CPU accounting from /proc: CPU time of the server's process groups, and of everything else.

interface ProcCpu {
  pgid: number;
  comm: string;
  ticks: number;
}

function cpuSnapshot(): Map<number, ProcCpu> {
  const out = new Map<number, ProcCpu>();
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return out;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      const fields = stat.slice(close + 2).split(" "); // fields[0] is field 3 (state)
      out.set(Number(entry), { pgid: Number(fields[2]), comm, ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

interface CpuUse {
  /** Seconds of CPU used by the server's process groups, by command name. */
  server: Record<string, number>;
  /** Seconds of CPU used by user processes that are neither the bench's nor its children's. */
  other: number;
}

function cpuDelta(before: Map<number, ProcCpu>, after: Map<number, ProcCpu>, serverGroups: number[]): CpuUse {
  const ours = new Set<number>([process.pid]);
  for (const child of children) if (child.proc.pid !== undefined) ours.add(child.proc.pid);
  const server: Record<string, number> = {};
  let other = 0;
  for (const [pid, now] of after) {
    const ticks = now.ticks - (before.get(pid)?.ticks ?? 0);
    if (ticks <= 0) continue;
    if (serverGroups.includes(now.pgid)) server[now.comm] = (server[now.comm] ?? 0) + ticks / CLOCK_TICKS_PER_SECOND;
    // pgid 0: kernel threads (softirq work for our own loopback traffic lands there too).
    else if (now.pgid !== 0 && !ours.has(now.pgid) && pid !== process.pid) other += ticks / CLOCK_TICKS_PER_SECOND;
  }
  return { server, other };
}

// ---------------------------------------------------------------------------------------------
// Helpers

let workDir = "";

async function cleanupDir(): Promise<void> {
  if (workDir) {
    const dir = workDir;
    workDir = "";
    await rm(dir, { recursive: true, force: true });
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Retries `probe` until it succeeds, the child exits or `timeoutMs` passes. */
async function waitUntilReady<T>(child: Child, probe: () => Promise<T>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    if (interrupted) throw new Error("interrupted");
    if (child.exitCode !== null) throw new Error(`${child.name} exited with code ${child.exitCode} before it was ready${logTail(child)}`);
    try {
      return await probe();
    } catch (error) {
      last = error;
    }
    await sleep(100);
  }
  throw new Error(`${child.name} was not ready within ${timeoutMs / 1000} s: ${String(last)}${logTail(child)}`);
}

async function postJson(url: string, body: unknown, timeoutMs = 10_000): Promise<unknown> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), interruptAbort.signal]),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`POST ${url}: HTTP ${res.status}: ${text.slice(0, 500)}`);
  return JSON.parse(text) as unknown;
}

function expectEqual(what: string, actual: unknown, expected: unknown): void {
  if (!isDeepStrictEqual(actual, expected)) {
    throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

/** The exact gRPC request body h2load sends: 5-byte prefix (uncompressed, length) + InvokeRequest. */
function grpcInvokeBody(): Buffer {
  const message = toBinary(
    InvokeRequestSchema,
    create(InvokeRequestSchema, { id: FUNCTION_ID, payload: fromJson(ValueSchema, PAYLOAD as JsonValue) }),
  );
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

/**
 * Sends `body` once as h2load will (same path, headers and bytes, over h2c) with node:http2 and
 * checks the answer: HTTP 200, grpc-status 0, status "success" and the expected result. Returns the
 * size of the response's DATA (the gRPC frame), which the load run's byte count is checked against.
 */
async function verifyGrpc(baseUrl: string, body: Buffer, expected: unknown): Promise<number> {
  const session = http2Connect(baseUrl);
  try {
    return await new Promise<number>((resolve, reject) => {
      session.once("error", reject);
      const timer = setTimeout(() => reject(new Error("gRPC verification call timed out")), 10_000);
      const stream = session.request({ ":method": "POST", ":path": INVOKE_PATH, "content-type": "application/grpc", te: "trailers" });
      let headers: IncomingHttpHeaders = {};
      let trailers: IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      stream.on("response", (h) => (headers = h));
      stream.on("trailers", (t) => (trailers = t));
      stream.on("data", (d: Buffer) => chunks.push(d));
      stream.once("error", reject);
      stream.once("end", () => {
        clearTimeout(timer);
        try {
          const status = Number(headers[":status"]);
          const grpcStatus = trailers["grpc-status"] ?? headers["grpc-status"];
          const grpcMessage = trailers["grpc-message"] ?? headers["grpc-message"];
          if (status !== 200) throw new Error(`gRPC call: HTTP ${status}`);
          if (grpcStatus !== "0") throw new Error(`gRPC call: grpc-status ${grpcStatus} ${grpcMessage ?? ""}`);
          const data = Buffer.concat(chunks);
          if (data.length < 5 || data[0] !== 0 || data.readUInt32BE(1) !== data.length - 5) {
            throw new Error(`gRPC call: malformed response frame (${data.length} bytes)`);
          }
          const response = fromBinary(InvokeResponseSchema, data.subarray(5));
          if (response.status !== "success") throw new Error(`gRPC call: status ${JSON.stringify(response.status)}`);
          expectEqual("gRPC result", response.result ? toJson(ValueSchema, response.result) : undefined, expected);
          resolve(data.length);
        } catch (error) {
          reject(error);
        }
      });
      stream.end(body);
    });
  } finally {
    session.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Servers

interface Server {
  name: string;
  url: string;
  /** Process groups whose CPU counts as the server's. */
  groups: Child[];
  /** Bytes of DATA in one successful gRPC Invoke response (servers speaking gRPC only). */
  grpcResponseBytes?: number;
}

const servers = new Map<string, Server | Error>();

async function withServer(name: string, start: () => Promise<Server>): Promise<void> {
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

async function startShim(handlerPath: string): Promise<Server> {
  const port = await freePort();
  const child = startChild("runtime shim", PYTHON, [SHIM, "--handler", handlerPath, "--listen", `tcp:127.0.0.1:${port}`, "--protocol", "http"], {
    logPath: join(workDir, "shim.log"),
    cwd: workDir,
  });
  const url = `http://127.0.0.1:${port}/`;
  await waitUntilReady(child, async () => expectEqual("shim result", await postJson(url, PAYLOAD), EXPECTED_RESULT));
  return { name: "shim", url, groups: [child] };
}

async function startNginx(shim: Server): Promise<Server> {
  const port = await freePort();
  const upstreamPort = new URL(shim.url).port;
  const conf = readFileSync(NGINX_TEMPLATE, "utf8")
    .replaceAll("{{DIR}}", workDir)
    .replaceAll("{{PORT}}", String(port))
    .replaceAll("{{UPSTREAM_PORT}}", upstreamPort);
  const confPath = join(workDir, "nginx.conf");
  await writeFile(confPath, conf);
  const child = startChild("nginx", NGINX, ["-p", workDir, "-c", confPath, "-e", join(workDir, "nginx-error.log")], {
    logPath: join(workDir, "nginx.log"),
  });
  const url = `http://127.0.0.1:${port}/`;
  await waitUntilReady(child, async () => expectEqual("nginx result", await postJson(url, PAYLOAD), EXPECTED_RESULT));
  return { name: "nginx", url, groups: [child, ...shim.groups] };
}

async function startFlask(handlerPath: string): Promise<Server> {
  const port = await freePort();
  const child = startChild("flask/waitress", SYSTEM_PYTHON, [FLASK_APP, handlerPath, String(port)], {
    logPath: join(workDir, "flask.log"),
    cwd: workDir,
  });
  const url = `http://127.0.0.1:${port}/`;
  await waitUntilReady(child, async () => expectEqual("flask result", await postJson(url, PAYLOAD), EXPECTED_RESULT));
  return { name: "flask", url, groups: [child] };
}

/** Starts bench/server_child.ts in `mode` and resolves with its URL once it listens. */
async function startServerChild(mode: "agent" | "empty"): Promise<{ child: Child; url: string }> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: "0",
    FAAS_HOST: "127.0.0.1",
    FAAS_STATE_DIR: join(workDir, `state-${mode}`),
    FAAS_IDLE_TIMEOUT: "0",
    FAAS_AUTH_TOKEN: "",
    FAAS_LOG_LEVEL: "warn",
    RADICAL_FAAS_PLATFORM: "local",
    FAAS_WORKFLOW: "local",
    TMPDIR: workDir, // the local platform's socket directory goes in our temp dir
  };
  const child = startChild(`server_child ${mode}`, process.execPath, ["--import", "tsx", SERVER_CHILD, mode], {
    env,
    cwd: REPO,
    ipc: true,
    logPath: join(workDir, `${mode}.log`),
  });
  try {
    const url = await Promise.race([interruption, new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${child.name} did not start within 30 s${logTail(child)}`)), 30_000);
      child.proc.once("message", (m: { url?: unknown }) => {
        clearTimeout(timer);
        if (typeof m?.url === "string") resolve(m.url);
        else reject(new Error(`${child.name} sent ${JSON.stringify(m)}`));
      });
      void child.exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`${child.name} exited with code ${child.exitCode} before listening${logTail(child)}`));
      });
    })]);
    return { child, url };
  } catch (error) {
    await stopChild(child);
    throw error;
  }
}

/** The agent with the handler deployed, checked over REST, Connect JSON and gRPC. */
async function startAgentServer(grpcBody: Buffer): Promise<Server> {
  const { child, url } = await startServerChild("agent");
  const deployed = (await postJson(`${url}/deploy`, { id: FUNCTION_ID, handler: HANDLER_SOURCE }, 120_000)) as { id?: string };
  if (deployed.id !== FUNCTION_ID) throw new Error(`deploy answered ${JSON.stringify(deployed)}`);
  const rest = (await postJson(`${url}/invoke`, INVOKE_BODY)) as { result?: unknown; status?: string };
  expectEqual("REST /invoke", { result: rest.result, status: rest.status }, { result: EXPECTED_RESULT, status: "success" });
  const connect = (await postJson(`${url}${INVOKE_PATH}`, INVOKE_BODY)) as { result?: unknown; status?: string };
  expectEqual("Connect JSON Invoke", { result: connect.result, status: connect.status }, { result: EXPECTED_RESULT, status: "success" });
  const grpcResponseBytes = await verifyGrpc(url, grpcBody, EXPECTED_RESULT);
  return { name: "agent", url, groups: [child], grpcResponseBytes };
}

/** The same stack with the empty platform, checked over Connect JSON and gRPC. */
async function startEmptyServer(grpcBody: Buffer): Promise<Server> {
  const { child, url } = await startServerChild("empty");
  const connect = (await postJson(`${url}${INVOKE_PATH}`, INVOKE_BODY)) as { result?: unknown; status?: string };
  expectEqual("empty Connect JSON Invoke", { result: connect.result, status: connect.status }, { result: null, status: "success" });
  const grpcResponseBytes = await verifyGrpc(url, grpcBody, null);
  return { name: "empty", url, groups: [child], grpcResponseBytes };
}

// ---------------------------------------------------------------------------------------------
// Measurements

interface Run {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  /** Server CPU time per request, microseconds, by command name. */
  cpuUsPerRequest: Record<string, number>;
  /** CPU other processes used during the run, in % of one core. */
  otherCpuPercent: number;
}

interface Case {
  key: string;
  label: string;
  server: string;
  kind: "wrk" | "grpc";
  /** wrk: the path to POST to (appended to the server's URL). */
  path?: string;
  connections: number;
  streams?: number;
}

interface Figure extends Case {
  runs: Run[];
  error?: string;
  /** The median run by req/s. */
  median?: Run;
}

const PLAN: Case[] = [
  { key: "a", label: "runtime shim, direct HTTP", server: "shim", kind: "wrk", path: "", connections: CONNECTIONS },
  { key: "b", label: "Flask on waitress", server: "flask", kind: "wrk", path: "", connections: CONNECTIONS },
  { key: "d", label: "nginx -> runtime shim", server: "nginx", kind: "wrk", path: "", connections: CONNECTIONS },
  { key: "c", label: "agent REST /invoke", server: "agent", kind: "wrk", path: "/invoke", connections: CONNECTIONS },
  { key: "e", label: "agent Connect JSON Invoke", server: "agent", kind: "wrk", path: INVOKE_PATH, connections: CONNECTIONS },
  { key: "gj", label: "empty stack, Connect JSON", server: "empty", kind: "wrk", path: INVOKE_PATH, connections: CONNECTIONS },
  { key: "f", label: "agent gRPC Invoke", server: "agent", kind: "grpc", connections: CONNECTIONS, streams: 1 },
  { key: "gg", label: "empty stack, gRPC", server: "empty", kind: "grpc", connections: CONNECTIONS, streams: 1 },
  { key: "f16", label: "agent gRPC Invoke", server: "agent", kind: "grpc", connections: CONNECTIONS, streams: 16 },
  { key: "gg16", label: "empty stack, gRPC", server: "empty", kind: "grpc", connections: CONNECTIONS, streams: 16 },
  { key: "a1", label: "runtime shim, direct HTTP", server: "shim", kind: "wrk", path: "", connections: 1 },
  { key: "c1", label: "agent REST /invoke", server: "agent", kind: "wrk", path: "/invoke", connections: 1 },
];

const figures = new Map<string, Figure>(PLAN.map((c) => [c.key, { ...c, runs: [] }]));

interface WrkResult {
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

async function wrkOnce(url: string, body: unknown, connections: number, seconds: number): Promise<WrkResult> {
  const env = { ...process.env, WRK_BODY: JSON.stringify(body), WRK_CONTENT_TYPE: "application/json" };
  const args = ["-t", String(Math.min(LOAD_THREADS, connections)), "-c", String(connections), "-d", `${seconds}s`, "-s", WRK_SCRIPT, url];
  const out = await runTool("wrk", WRK, args, env, (seconds + 20) * 1000);
  const line = out.stdout.split("\n").find((l) => l.startsWith("BENCH_RESULT "));
  if (out.code !== 0 || !line) throw new Error(`wrk failed (exit ${out.code}): ${(out.stderr || out.stdout).trim().slice(0, 1000)}`);
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

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

interface LoadResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
}

/**
 * h2load over h2c with gRPC framing. h2load cannot see grpc-status (it is in the trailers), so
 * besides its failure and status counts the DATA received must add up to one full response per
 * request: a gRPC error is a trailers-only response without DATA. Percentiles come from the
 * per-request log.
 */
let h2loadRuns = 0;

async function h2loadOnce(key: string, server: Server, streams: number, bodyFile: string): Promise<LoadResult> {
  const logFile = join(workDir, `h2load-${key}-${++h2loadRuns}.log`); // h2load appends to an existing file
  const args = [
    "-c", String(CONNECTIONS),
    "-m", String(streams),
    "-t", String(LOAD_THREADS),
    "-D", String(SECONDS),
    ...(WARMUP_SECONDS > 0 ? ["--warm-up-time", String(WARMUP_SECONDS)] : []),
    "-d", bodyFile,
    "-H", "content-type: application/grpc",
    "-H", "te: trailers",
    "--log-file", logFile,
    server.url + INVOKE_PATH,
  ];
  const out = await runTool("h2load", H2LOAD, args, process.env, (SECONDS + WARMUP_SECONDS + 20) * 1000);
  const text = out.stdout;
  const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(text);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(text);
  const finished = /finished in ([\d.]+)s, ([\d.]+) req\/s/.exec(text);
  const traffic = /traffic: .*? headers .*?, [\d.]+\w*B \((\d+)\) data/.exec(text);
  if (out.code !== 0 || !req || !codes || !finished || !traffic) {
    throw new Error(`h2load failed (exit ${out.code}): ${(out.stderr + "\n" + text).trim().slice(0, 1500)}`);
  }
  const [done, succeeded, failed, errored, timeouts] = [req[3], req[4], req[5], req[6], req[7]].map(Number);
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

/** Servers that have had their first warm-up. */
const warmed = new Set<string>();
const FIRST_WARMUP_EXTRA_SECONDS = 2;

async function measure(figure: Figure, server: Server, grpcBodyFile: string): Promise<void> {
  const groups = server.groups.map((c) => c.proc.pid).filter((p): p is number => p !== undefined);
  let result: LoadResult;
  let cpu: CpuUse;
  let seconds: number;
  if (figure.kind === "wrk") {
    const url = server.url.replace(/\/$/, "") + (figure.path || "/");
    // The agent's routes take {id, payload}; the shim, nginx and Flask take the payload itself.
    const body = figure.path ? INVOKE_BODY : PAYLOAD;
    // The first load on a server gets a longer warm-up: V8's JIT (and CPython's caches) settle in.
    const warmup = WARMUP_SECONDS > 0 ? WARMUP_SECONDS + (warmed.has(server.name) ? 0 : FIRST_WARMUP_EXTRA_SECONDS) : 0;
    warmed.add(server.name);
    if (warmup > 0) await wrkOnce(url, body, figure.connections, warmup);
    const before = cpuSnapshot();
    const started = performance.now();
    const r = await wrkOnce(url, body, figure.connections, SECONDS);
    seconds = (performance.now() - started) / 1000;
    cpu = cpuDelta(before, cpuSnapshot(), groups);
    result = { rps: r.requests / (r.duration_us / 1e6), p50Ms: r.p50_us / 1000, p99Ms: r.p99_us / 1000, requests: r.requests };
  } else {
    // h2load does its own warm-up; the CPU window then includes it (the per-request figure is
    // scaled by the measured share of the run's time).
    const before = cpuSnapshot();
    const started = performance.now();
    result = await h2loadOnce(figure.key, server, figure.streams ?? 1, grpcBodyFile);
    seconds = (performance.now() - started) / 1000;
    cpu = cpuDelta(before, cpuSnapshot(), groups);
  }
  // Requests served in the CPU window, estimated at the measured rate (covers h2load's warm-up).
  const served = result.rps * seconds;
  const cpuUsPerRequest = Object.fromEntries(Object.entries(cpu.server).map(([comm, s]) => [comm, (s * 1e6) / served]));
  const run: Run = { ...result, cpuUsPerRequest, otherCpuPercent: (cpu.other / seconds) * 100 };
  figure.runs.push(run);
}

function medianRun(runs: Run[]): Run | undefined {
  if (runs.length === 0) return undefined;
  const sorted = [...runs].sort((x, y) => x.rps - y.rps);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

function describe(figure: Figure): string {
  const conns = figure.streams ? `${figure.connections} conns x ${figure.streams} streams` : `${figure.connections} conn${figure.connections > 1 ? "s" : ""}`;
  return `${figure.label} (${conns})`;
}

function cpuText(run: Run): string {
  const total = Object.values(run.cpuUsPerRequest).reduce((x, y) => x + y, 0);
  const parts = Object.entries(run.cpuUsPerRequest)
    .filter(([, us]) => us >= total * 0.02) // e.g. tsx's esbuild service, idle in the agent's group
    .sort((x, y) => y[1] - x[1])
    .map(([comm, us]) => `${comm} ${us.toFixed(0)}`);
  return parts.length ? parts.join(" + ") : "-";
}

// ---------------------------------------------------------------------------------------------
// Report

interface Ratio {
  name: string;
  description: string;
  value?: number;
  bar: string;
  pass?: boolean;
}

function fmtRps(v: number | undefined): string {
  return v === undefined ? "-" : Math.round(v).toLocaleString("en-US");
}

function fmtMs(v: number | undefined): string {
  return v === undefined || Number.isNaN(v) ? "-" : v.toFixed(3);
}

function ratio(name: string, description: string, num: string, den: string, min: number): Ratio {
  const a = figures.get(num)?.median?.rps;
  const b = figures.get(den)?.median?.rps;
  const value = a !== undefined && b !== undefined && b > 0 ? a / b : undefined;
  return { name, description, value, bar: `>= ${min}`, pass: value === undefined ? undefined : value >= min };
}

function computeRatios(): { ratios: Ratio[]; added?: { p50Ms: number; p99Ms: number } } {
  const ratios = [
    ratio("a/b", "shim direct vs Flask on waitress", "a", "b", 5),
    ratio("c/d", "agent REST vs nginx -> shim", "c", "d", 0.3),
    ratio("e/g", "agent Connect JSON vs empty stack, Connect JSON", "e", "gj", 0.6),
    ratio("f/g", "agent gRPC vs empty stack, gRPC (16 conns x 1 stream)", "f", "gg", 0.6),
    ratio("f16/g16", "agent gRPC vs empty stack, gRPC (16 conns x 16 streams)", "f16", "gg16", 0.6),
  ];
  const a1 = figures.get("a1")?.median;
  const c1 = figures.get("c1")?.median;
  const added = a1 && c1 ? { p50Ms: c1.p50Ms - a1.p50Ms, p99Ms: c1.p99Ms - a1.p99Ms } : undefined;
  ratios.push({
    name: "added p50",
    description: "agent REST p50 - shim direct p50, 1 connection",
    value: added?.p50Ms,
    bar: "<= 1 ms",
    pass: added === undefined ? undefined : added.p50Ms <= 1,
  });
  return { ratios, added };
}

function table(rows: string[][], align: ("l" | "r")[]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((cell, i) => (align[i] === "r" ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))).join("  ").trimEnd());
}

function report(): boolean {
  const order = ["a", "b", "c", "d", "e", "f", "f16", "gj", "gg", "gg16", "a1", "c1"];
  const rows: string[][] = [["case", "what", "conns", "req/s", "p50 ms", "p99 ms", "server CPU us/req", "other CPU"]];
  for (const key of order) {
    const f = figures.get(key)!;
    const m = f.median;
    const conns = f.streams ? `${f.connections}x${f.streams}` : String(f.connections);
    rows.push([
      key,
      f.label,
      conns,
      f.error ? "ERROR" : fmtRps(m?.rps),
      fmtMs(m?.p50Ms),
      fmtMs(m?.p99Ms),
      m ? cpuText(m) : "-",
      m ? `${m.otherCpuPercent.toFixed(0)}%` : "-",
    ]);
  }
  const { ratios, added } = computeRatios();
  say("");
  say(`=== summary: ${SECONDS} s per load after ${WARMUP_SECONDS} s warm-up (+${FIRST_WARMUP_EXTRA_SECONDS} s on a server's first load), ${ROUNDS} round${ROUNDS > 1 ? "s (median run)" : ""}, wrk/h2load ${LOAD_THREADS} thread, 127.0.0.1 ===`);
  for (const line of table(rows, ["l", "l", "r", "r", "r", "r", "l", "r"])) say(line);
  say("(server CPU: CPU time of the server's processes per request, by command; other CPU: what other processes on the machine used meanwhile, in % of one core)");
  say("");
  const a1 = figures.get("a1")?.median;
  const c1 = figures.get("c1")?.median;
  say(
    `latency at 1 connection: shim direct p50 ${fmtMs(a1?.p50Ms)} / p99 ${fmtMs(a1?.p99Ms)} ms; agent REST p50 ${fmtMs(c1?.p50Ms)} / p99 ${fmtMs(c1?.p99Ms)} ms; ` +
      `added p50 ${fmtMs(added?.p50Ms)} ms, p99 ${fmtMs(added?.p99Ms)} ms`,
  );
  say("");
  const ratioRows: string[][] = [["ratio", "value", "bar", "result", "what"]];
  for (const r of ratios) {
    const value = r.value === undefined ? "n/a" : r.name === "added p50" ? `${r.value.toFixed(3)} ms` : r.value.toFixed(2);
    ratioRows.push([r.name, value, r.bar, r.pass === undefined ? "ERROR" : r.pass ? "PASS" : "FAIL", r.description]);
  }
  for (const line of table(ratioRows, ["l", "r", "l", "l", "l"])) say(line);

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
    const json = {
      settings: { seconds: SECONDS, warmupSeconds: WARMUP_SECONDS, rounds: ROUNDS, connections: CONNECTIONS, loadThreads: LOAD_THREADS, loadAverage: loadavg() },
      cases: Object.fromEntries(
        order.map((k) => {
          const f = figures.get(k)!;
          return [
            k,
            {
              label: f.label,
              tool: f.kind === "wrk" ? "wrk" : "h2load",
              connections: f.connections,
              streams: f.streams ?? null,
              rps: f.median?.rps ?? null,
              p50Ms: f.median?.p50Ms ?? null,
              p99Ms: f.median?.p99Ms ?? null,
              requests: f.median?.requests ?? null,
              serverCpuUsPerRequest: f.median?.cpuUsPerRequest ?? null,
              otherCpuPercent: f.median?.otherCpuPercent ?? null,
              runs: f.runs,
              error: f.error ?? null,
            },
          ];
        }),
      ),
      latencyAdded: added ?? null,
      ratios: ratios.map((r) => ({ name: r.name, description: r.description, value: r.value ?? null, bar: r.bar, pass: r.pass ?? null })),
      ok: errors.length === 0,
    };
    process.stdout.write(JSON.stringify(json, null, 2) + "\n");
  }
  return errors.length === 0;
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  workDir = await mkdtemp(join(tmpdir(), "rfaas-bench-"));
  try {
    say(`radical-faas bench: ${SECONDS} s per load, ${WARMUP_SECONDS} s warm-up, ${ROUNDS} round(s); load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
    const handlerPath = join(workDir, "handler.py");
    await writeFile(handlerPath, HANDLER_SOURCE);
    const grpcBody = grpcInvokeBody();
    const grpcBodyFile = join(workDir, "invoke.grpc");
    await writeFile(grpcBodyFile, grpcBody);

    say("starting servers (all idle but the one under load):");
    await withServer("shim", () => startShim(handlerPath));
    const shim = servers.get("shim");
    await withServer("nginx", () => (shim instanceof Error || !shim ? Promise.reject(new Error("the runtime shim did not start")) : startNginx(shim)));
    await withServer("flask", () => startFlask(handlerPath));
    await withServer("agent", () => startAgentServer(grpcBody));
    await withServer("empty", () => startEmptyServer(grpcBody));
    if (interrupted) return 130;

    for (let round = 1; round <= ROUNDS; round++) {
      say(ROUNDS > 1 ? `round ${round}/${ROUNDS}:` : "measuring:");
      for (const c of PLAN) {
        if (interrupted) return 130;
        const figure = figures.get(c.key)!;
        if (figure.error) continue;
        const server = servers.get(c.server);
        if (!server || server instanceof Error) {
          figure.error = `${c.server} did not start: ${server?.message ?? "?"}`;
          say(`  ${c.key.padEnd(4)} ${describe(figure)}: ERROR ${figure.error.split("\n")[0]}`);
          continue;
        }
        try {
          await measure(figure, server, grpcBodyFile);
          const run = figure.runs[figure.runs.length - 1];
          say(
            `  ${c.key.padEnd(4)} ${describe(figure)}: ${fmtRps(run.rps)} req/s, p50 ${fmtMs(run.p50Ms)} ms, p99 ${fmtMs(run.p99Ms)} ms; ` +
              `server CPU ${cpuText(run)} us/req; other processes ${run.otherCpuPercent.toFixed(0)}% CPU`,
          );
        } catch (error) {
          if (interrupted) return 130;
          figure.error = (error as Error).message;
          say(`  ${c.key.padEnd(4)} ${describe(figure)}: ERROR ${figure.error}`);
        }
      }
    }
    for (const figure of figures.values()) figure.median = figure.error ? undefined : medianRun(figure.runs);
    return report() ? 0 : 1;
  } finally {
    for (const child of [...children]) await stopChild(child, 10_000);
    await cleanupDir();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    say(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
