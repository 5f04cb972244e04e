/**
 * Throughput and latency benchmark of the agent against reference points, on a trivial JSON
 * handler. Run with `npm run bench` (add `-- --json` for a JSON report on stdout; the human
 * report then goes to stderr). BENCH_SECONDS (default 5) sets the length of each load,
 * BENCH_WARMUP_SECONDS (default 1) the warm-up before each.
 *
 * Cases (HTTP/1.1 keep-alive with wrk, gRPC over h2c with h2load; 127.0.0.1 only, one load at a time):
 *   a   the runtime shim called directly (faas_runtime.py --protocol http)
 *   b   Flask on waitress running the same handler module
 *   c   REST POST /invoke through the agent
 *   d   nginx (1 worker, upstream keepalive) in front of the runtime shim
 *   e   Connect JSON POST /faas.v1.FaasAgent/Invoke through the agent
 *   f   gRPC FaasAgent/Invoke through the agent
 *   g   the same Connect server stack around a platform that does nothing (Connect JSON and gRPC)
 *   a1, c1  a and c at one connection: the latency the agent adds
 *
 * Exit code: 0 when every figure was measured (whether or not the bars are met), 1 when a
 * measurement could not be made (a server did not start, wrong responses, errors under load).
 */
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect as http2Connect, type IncomingHttpHeaders } from "node:http2";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
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
const PYTHON = "python3"; // the one first on PATH (pyenv), as the agent uses by default

const JSON_OUT = process.argv.includes("--json");
const SECONDS = positiveNumber("BENCH_SECONDS", 5);
const WARMUP_SECONDS = positiveNumber("BENCH_WARMUP_SECONDS", 1, true);
const CONNECTIONS = 16;
/** Streams per HTTP/2 connection for the gRPC loads: CONNECTIONS × 1 calls in flight, as with wrk. */
const GRPC_STREAMS = 1;
/** Load-generator threads: one, so that the servers keep most of the machine's 2 cores. */
const LOAD_THREADS = 1;

const HANDLER_SOURCE = 'def handle(req):\n    return {"ok": True, "echo": req}\n';
const PAYLOAD = { name: "bench", n: 1 };
const FUNCTION_ID = "bench";
const EXPECTED_RESULT = { ok: true, echo: PAYLOAD };
const INVOKE_PATH = "/faas.v1.FaasAgent/Invoke";

function positiveNumber(name: string, fallback: number, allowZero = false): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0 || (value === 0 && !allowZero) || value > 600) {
    throw new Error(`${name}=${raw} is invalid: expected a number of seconds${allowZero ? "" : " > 0"} (at most 600)`);
  }
  return value;
}

/** Human-readable output: stdout, or stderr when stdout carries the JSON report. */
function say(line = ""): void {
  (JSON_OUT ? process.stderr : process.stdout).write(line + "\n");
}

// ---------------------------------------------------------------------------------------------
// Child processes: each in a process group of its own, so that whatever it forks (nginx's worker,
// the agent's Python workers) can be killed with it; all killed on exit, whatever the exit.

interface Child {
  name: string;
  proc: ChildProcess;
  exited: Promise<void>;
  exitCode: number | null;
  logPath: string | undefined;
}

const children = new Set<Child>();

function startChild(name: string, command: string, args: string[], options: SpawnOptions & { logPath?: string; ipc?: boolean } = {}): Child {
  let logFd: number | undefined;
  if (options.logPath) logFd = openSync(options.logPath, "a");
  const out = logFd ?? "ignore";
  const stdio = options.stdio ?? (options.ipc ? ["ignore", out, out, "ipc"] : ["ignore", out, out]);
  const proc = spawn(command, args, { ...options, stdio, detached: true });
  if (logFd !== undefined) closeSync(logFd);
  const child: Child = { name, proc, exited: Promise.resolve(), exitCode: null, logPath: options.logPath };
  child.exited = new Promise<void>((resolve) => {
    proc.once("exit", (code, signal) => {
      child.exitCode = code ?? (signal ? 128 : -1);
      children.delete(child);
      resolve();
    });
    proc.once("error", (error) => {
      child.exitCode = -1;
      children.delete(child);
      if (options.logPath) void writeFile(options.logPath, `spawn failed: ${error.message}\n`, { flag: "a" });
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

/** SIGTERM to the child, SIGKILL to its group after `graceMs` (and to leftovers of its group). */
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

process.on("exit", killAllNow);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    say(`\nbench: ${signal}, stopping`);
    interrupted = true;
    killAllNow();
    void cleanupDir().finally(() => process.exit(130));
  });
}
let interrupted = false;

/** Runs a command to completion (bounded by `timeoutMs`) and returns its output. */
async function runTool(name: string, command: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number) {
  const child = startChild(name, command, args, { stdio: ["ignore", "pipe", "pipe"], env });
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
    signal: AbortSignal.timeout(timeoutMs),
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
 * Sends `body` once as h2load will (same path, headers and bytes) with node:http2 and checks the
 * answer: HTTP 200, grpc-status 0 and the expected result. Returns the size of the response's
 * DATA (the gRPC frame), which the load run's byte count is checked against.
 */
async function verifyGrpc(baseUrl: string, body: Buffer, expected: unknown): Promise<number> {
  const session = http2Connect(baseUrl);
  try {
    return await new Promise<number>((resolve, reject) => {
      session.once("error", reject);
      const timer = setTimeout(() => reject(new Error("gRPC verification call timed out")), 10_000);
      const stream = session.request({
        ":method": "POST",
        ":path": INVOKE_PATH,
        "content-type": "application/grpc",
        te: "trailers",
      });
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
// Measurements

interface Figure {
  key: string;
  label: string;
  tool: "wrk" | "h2load";
  connections: number;
  streams?: number;
  rps?: number;
  p50Ms?: number;
  p99Ms?: number;
  requests?: number;
  error?: string;
}

const figures = new Map<string, Figure>();

function record(figure: Figure): Figure {
  figures.set(figure.key, figure);
  if (figure.error) say(`  ${figure.key.padEnd(3)} ${figure.label}: ERROR ${figure.error}`);
  else say(`  ${figure.key.padEnd(3)} ${figure.label}: ${fmtRps(figure.rps)} req/s, p50 ${fmtMs(figure.p50Ms)} ms, p99 ${fmtMs(figure.p99Ms)} ms`);
  return figure;
}

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

async function wrkOnce(url: string, body: string, contentType: string, connections: number, seconds: number): Promise<WrkResult> {
  const env = { ...process.env, WRK_BODY: body, WRK_CONTENT_TYPE: contentType };
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

/** Warm-up, then the measured wrk run. */
async function measureWrk(key: string, label: string, url: string, body: unknown, connections = CONNECTIONS, contentType = "application/json"): Promise<Figure> {
  const figure: Figure = { key, label, tool: "wrk", connections };
  try {
    const text = JSON.stringify(body);
    if (WARMUP_SECONDS > 0) await wrkOnce(url, text, contentType, connections, Math.max(1, Math.round(WARMUP_SECONDS)));
    const r = await wrkOnce(url, text, contentType, connections, SECONDS);
    figure.requests = r.requests;
    figure.rps = r.requests / (r.duration_us / 1e6);
    figure.p50Ms = r.p50_us / 1000;
    figure.p99Ms = r.p99_us / 1000;
  } catch (error) {
    figure.error = (error as Error).message;
  }
  return record(figure);
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

/**
 * h2load over h2c with gRPC framing. h2load cannot see grpc-status (it is in the trailers), so
 * besides its failure and status counts the DATA received must add up to one full response per
 * request: a gRPC error is a trailers-only response without DATA. Percentiles come from the
 * per-request log.
 */
async function measureGrpc(key: string, label: string, baseUrl: string, bodyFile: string, responseDataBytes: number): Promise<Figure> {
  const figure: Figure = { key, label, tool: "h2load", connections: CONNECTIONS, streams: GRPC_STREAMS };
  try {
    const logFile = join(workDir, `h2load-${key}.log`);
    const args = [
      "-c", String(CONNECTIONS),
      "-m", String(GRPC_STREAMS),
      "-t", String(LOAD_THREADS),
      "-D", String(SECONDS),
      ...(WARMUP_SECONDS > 0 ? ["--warm-up-time", String(WARMUP_SECONDS)] : []),
      "-d", bodyFile,
      "-H", "content-type: application/grpc",
      "-H", "te: trailers",
      "--log-file", logFile,
      baseUrl + INVOKE_PATH,
    ];
    const out = await runTool("h2load", H2LOAD, args, process.env, (SECONDS + WARMUP_SECONDS + 20) * 1000);
    const text = out.stdout;
    const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(text);
    const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(text);
    const finished = /finished in ([\d.]+)s, ([\d.]+) req\/s/.exec(text);
    const traffic = /traffic: .*?, .*? headers .*?, [\d.]+\w*B \((\d+)\) data/.exec(text);
    if (out.code !== 0 || !req || !codes || !finished || !traffic) {
      throw new Error(`h2load failed (exit ${out.code}): ${(out.stderr + "\n" + text).trim().slice(0, 1500)}`);
    }
    const [done, succeeded, failed, errored, timeouts] = [req[3], req[4], req[5], req[6], req[7]].map(Number);
    const non2xx = Number(codes[2]) + Number(codes[3]) + Number(codes[4]);
    const dataBytes = Number(traffic[1]);
    const problems: string[] = [];
    if (failed + errored + timeouts > 0) problems.push(`${failed} failed, ${errored} errored, ${timeouts} timed out`);
    if (non2xx > 0) problems.push(`${non2xx} non-2xx responses`);
    if (succeeded === 0) problems.push("no request succeeded");
    // Warm-up traffic may be counted in the bytes but not in the requests, so only a shortfall counts.
    if (dataBytes < succeeded * responseDataBytes) {
      problems.push(`only ${dataBytes} bytes of DATA for ${succeeded} responses of ${responseDataBytes} bytes: some calls failed (grpc-status != 0)`);
    }
    if (problems.length) throw new Error(`h2load ${baseUrl}: ${problems.join(", ")}`);

    const rows = readFileSync(logFile, "utf8").split("\n");
    const latencies: number[] = [];
    for (const row of rows) {
      const [, status, micros] = row.split("\t");
      if (status === undefined) continue;
      if (status !== "200") throw new Error(`h2load log: a request ended with status ${status}`);
      latencies.push(Number(micros));
    }
    const sorted = Float64Array.from(latencies).sort();
    figure.requests = done;
    figure.rps = Number(finished[2]);
    figure.p50Ms = percentile(sorted, 50) / 1000;
    figure.p99Ms = percentile(sorted, 99) / 1000;
  } catch (error) {
    figure.error = (error as Error).message;
  }
  return record(figure);
}

function failAll(keys: [string, string, "wrk" | "h2load", number][], error: unknown): void {
  for (const [key, label, tool, connections] of keys) {
    if (!figures.has(key)) record({ key, label, tool, connections, error: (error as Error).message });
  }
}

// ---------------------------------------------------------------------------------------------
// Scenarios

const LABELS = {
  a: "runtime shim, direct HTTP",
  a1: "runtime shim, direct HTTP, 1 conn",
  b: "Flask on waitress",
  c: "agent REST /invoke",
  c1: "agent REST /invoke, 1 conn",
  d: "nginx -> runtime shim",
  e: "agent Connect JSON Invoke",
  f: "agent gRPC Invoke",
  gj: "empty stack, Connect JSON",
  gg: "empty stack, gRPC",
} as const;

async function writeHandler(): Promise<string> {
  const path = join(workDir, "handler.py");
  await writeFile(path, HANDLER_SOURCE);
  return path;
}

/** a, a1 and d: the shim on a TCP port, called directly, then through nginx. */
async function benchShim(handlerPath: string): Promise<void> {
  let shim: Child | undefined;
  let nginx: Child | undefined;
  try {
    const port = await freePort();
    shim = startChild("runtime shim", PYTHON, [SHIM, "--handler", handlerPath, "--listen", `tcp:127.0.0.1:${port}`, "--protocol", "http"], {
      logPath: join(workDir, "shim.log"),
      cwd: workDir,
    });
    const url = `http://127.0.0.1:${port}/`;
    const started = shim;
    await waitUntilReady(started, async () => expectEqual("shim result", await postJson(url, PAYLOAD), EXPECTED_RESULT));
    await measureWrk("a", LABELS.a, url, PAYLOAD);
    await measureWrk("a1", LABELS.a1, url, PAYLOAD, 1);

    try {
      const nginxPort = await freePort();
      const conf = readFileSync(NGINX_TEMPLATE, "utf8")
        .replaceAll("{{DIR}}", workDir)
        .replaceAll("{{PORT}}", String(nginxPort))
        .replaceAll("{{UPSTREAM_PORT}}", String(port));
      const confPath = join(workDir, "nginx.conf");
      await writeFile(confPath, conf);
      nginx = startChild("nginx", NGINX, ["-p", workDir, "-c", confPath, "-e", join(workDir, "nginx-error.log")], {
        logPath: join(workDir, "nginx.log"),
      });
      const proxied = `http://127.0.0.1:${nginxPort}/`;
      const n = nginx;
      await waitUntilReady(n, async () => expectEqual("nginx result", await postJson(proxied, PAYLOAD), EXPECTED_RESULT));
      await measureWrk("d", LABELS.d, proxied, PAYLOAD);
    } catch (error) {
      failAll([["d", LABELS.d, "wrk", CONNECTIONS]], error);
    }
  } catch (error) {
    failAll(
      [
        ["a", LABELS.a, "wrk", CONNECTIONS],
        ["a1", LABELS.a1, "wrk", 1],
        ["d", LABELS.d, "wrk", CONNECTIONS],
      ],
      error,
    );
  } finally {
    await stopChild(nginx);
    await stopChild(shim);
  }
}

/** b: Flask on waitress. */
async function benchFlask(handlerPath: string): Promise<void> {
  let flask: Child | undefined;
  try {
    const port = await freePort();
    flask = startChild("flask/waitress", SYSTEM_PYTHON, [FLASK_APP, handlerPath, String(port)], {
      logPath: join(workDir, "flask.log"),
      cwd: workDir,
    });
    const url = `http://127.0.0.1:${port}/`;
    const started = flask;
    await waitUntilReady(started, async () => expectEqual("flask result", await postJson(url, PAYLOAD), EXPECTED_RESULT));
    await measureWrk("b", LABELS.b, url, PAYLOAD);
  } catch (error) {
    failAll([["b", LABELS.b, "wrk", CONNECTIONS]], error);
  } finally {
    await stopChild(flask);
  }
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
  const url = await new Promise<string>((resolve, reject) => {
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
  }).catch(async (error: unknown) => {
    await stopChild(child);
    throw error;
  });
  return { child, url };
}

/** c, c1, e and f: the agent with the handler deployed. */
async function benchAgent(grpcBodyFile: string, grpcBody: Buffer): Promise<void> {
  let agent: Child | undefined;
  try {
    const started = await startServerChild("agent");
    agent = started.child;
    const url = started.url;
    const deployed = (await postJson(`${url}/deploy`, { id: FUNCTION_ID, handler: HANDLER_SOURCE }, 120_000)) as { id?: string };
    if (deployed.id !== FUNCTION_ID) throw new Error(`deploy answered ${JSON.stringify(deployed)}`);

    const restBody = { id: FUNCTION_ID, payload: PAYLOAD };
    const rest = (await postJson(`${url}/invoke`, restBody)) as { result?: unknown; status?: string };
    expectEqual("REST /invoke result", rest.result, EXPECTED_RESULT);
    const connect = (await postJson(`${url}${INVOKE_PATH}`, restBody)) as { result?: unknown; status?: string };
    expectEqual("Connect JSON Invoke result", connect.result, EXPECTED_RESULT);
    const grpcDataBytes = await verifyGrpc(url, grpcBody, EXPECTED_RESULT);

    await measureWrk("c", LABELS.c, `${url}/invoke`, restBody);
    await measureWrk("c1", LABELS.c1, `${url}/invoke`, restBody, 1);
    await measureWrk("e", LABELS.e, `${url}${INVOKE_PATH}`, restBody);
    await measureGrpc("f", LABELS.f, url, grpcBodyFile, grpcDataBytes);
  } catch (error) {
    failAll(
      [
        ["c", LABELS.c, "wrk", CONNECTIONS],
        ["c1", LABELS.c1, "wrk", 1],
        ["e", LABELS.e, "wrk", CONNECTIONS],
        ["f", LABELS.f, "h2load", CONNECTIONS],
      ],
      error,
    );
  } finally {
    await stopChild(agent, 10_000);
  }
}

/** g: the same stack with an empty platform, over Connect JSON (for e) and gRPC (for f). */
async function benchEmpty(grpcBodyFile: string, grpcBody: Buffer): Promise<void> {
  let server: Child | undefined;
  try {
    const started = await startServerChild("empty");
    server = started.child;
    const url = started.url;
    const body = { id: FUNCTION_ID, payload: PAYLOAD };
    const connect = (await postJson(`${url}${INVOKE_PATH}`, body)) as { result?: unknown; status?: string };
    expectEqual("empty Connect JSON Invoke", { result: connect.result, status: connect.status }, { result: null, status: "success" });
    const grpcDataBytes = await verifyGrpc(url, grpcBody, null);

    await measureWrk("gj", LABELS.gj, `${url}${INVOKE_PATH}`, body);
    await measureGrpc("gg", LABELS.gg, url, grpcBodyFile, grpcDataBytes);
  } catch (error) {
    failAll(
      [
        ["gj", LABELS.gj, "wrk", CONNECTIONS],
        ["gg", LABELS.gg, "h2load", CONNECTIONS],
      ],
      error,
    );
  } finally {
    await stopChild(server, 10_000);
  }
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
  const a = figures.get(num)?.rps;
  const b = figures.get(den)?.rps;
  const value = a !== undefined && b !== undefined && b > 0 ? a / b : undefined;
  return { name, description, value, bar: `>= ${min}`, pass: value === undefined ? undefined : value >= min };
}

function computeRatios(): { ratios: Ratio[]; added?: { p50Ms: number; p99Ms: number } } {
  const ratios = [
    ratio("a/b", "shim direct vs Flask on waitress", "a", "b", 5),
    ratio("c/d", "agent REST vs nginx -> shim", "c", "d", 0.3),
    ratio("e/g", "agent Connect JSON vs empty stack (Connect JSON)", "e", "gj", 0.6),
    ratio("f/g", "agent gRPC vs empty stack (gRPC)", "f", "gg", 0.6),
  ];
  const a1 = figures.get("a1");
  const c1 = figures.get("c1");
  let added: { p50Ms: number; p99Ms: number } | undefined;
  if (a1?.p50Ms !== undefined && c1?.p50Ms !== undefined && a1.p99Ms !== undefined && c1.p99Ms !== undefined) {
    added = { p50Ms: c1.p50Ms - a1.p50Ms, p99Ms: c1.p99Ms - a1.p99Ms };
  }
  ratios.push({
    name: "added p50",
    description: "agent REST p50 - shim direct p50, 1 connection (ms)",
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
  const order = ["a", "b", "c", "d", "e", "f", "gj", "gg", "a1", "c1"];
  const rows: string[][] = [["case", "what", "conns", "req/s", "p50 ms", "p99 ms"]];
  for (const key of order) {
    const f = figures.get(key);
    if (!f) continue;
    const conns = f.streams ? `${f.connections}x${f.streams}` : String(f.connections);
    rows.push([key, f.label, conns, f.error ? "ERROR" : fmtRps(f.rps), fmtMs(f.p50Ms), fmtMs(f.p99Ms)]);
  }
  const { ratios, added } = computeRatios();
  say("");
  say(`=== summary (${SECONDS} s per load after ${WARMUP_SECONDS} s warm-up; wrk/h2load ${LOAD_THREADS} thread; 127.0.0.1) ===`);
  for (const line of table(rows, ["l", "l", "r", "r", "r", "r"])) say(line);
  say("");
  const a1 = figures.get("a1");
  const c1 = figures.get("c1");
  say(`latency at 1 connection: shim direct p50 ${fmtMs(a1?.p50Ms)} / p99 ${fmtMs(a1?.p99Ms)} ms; agent REST p50 ${fmtMs(c1?.p50Ms)} / p99 ${fmtMs(c1?.p99Ms)} ms; added p50 ${fmtMs(added?.p50Ms)} / p99 ${fmtMs(added?.p99Ms)} ms`);
  say("");
  const ratioRows: string[][] = [["ratio", "value", "bar", "result", "what"]];
  for (const r of ratios) {
    const value = r.value === undefined ? "n/a" : r.name === "added p50" ? `${r.value.toFixed(3)} ms` : r.value.toFixed(2);
    ratioRows.push([r.name, value, r.bar, r.pass === undefined ? "ERROR" : r.pass ? "PASS" : "FAIL", r.description]);
  }
  for (const line of table(ratioRows, ["l", "r", "l", "l", "l"])) say(line);

  const errors = [...figures.values()].filter((f) => f.error);
  if (errors.length) {
    say("");
    say("measurements that could not be made:");
    for (const f of errors) say(`  ${f.key}: ${f.error}`);
  }

  if (JSON_OUT) {
    const json = {
      settings: { seconds: SECONDS, warmupSeconds: WARMUP_SECONDS, connections: CONNECTIONS, grpcStreams: GRPC_STREAMS, loadThreads: LOAD_THREADS },
      cases: Object.fromEntries(order.filter((k) => figures.has(k)).map((k) => [k, figures.get(k)])),
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
    say(`radical-faas bench: ${SECONDS} s per load, ${WARMUP_SECONDS} s warm-up, ${CONNECTIONS} connections (temp dir ${workDir})`);
    const handlerPath = await writeHandler();
    const grpcBody = grpcInvokeBody();
    const grpcBodyFile = join(workDir, "invoke.grpc");
    await writeFile(grpcBodyFile, grpcBody);

    say("runtime shim (direct) and nginx -> shim:");
    await benchShim(handlerPath);
    if (interrupted) return 130;
    say("Flask on waitress:");
    await benchFlask(handlerPath);
    if (interrupted) return 130;
    say("agent:");
    await benchAgent(grpcBodyFile, grpcBody);
    if (interrupted) return 130;
    say("empty stack:");
    await benchEmpty(grpcBodyFile, grpcBody);
    if (interrupted) return 130;
    return report() ? 0 : 1;
  } finally {
    for (const child of [...children]) await stopChild(child, 2000);
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
