import { createHash } from "node:crypto";
import { once } from "node:events";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa, type ResultPromise } from "execa";

/**
 * A test-only stand-in for the Nuclio dashboard (1.14.x) on 127.0.0.1, faithful to the API facts
 * in platform-apis.md §B2 and the fixtures in test/fixtures/nuclio/: 202 with an empty body on
 * create and update, 409 on a duplicate, list as a map keyed by name, namespace and project
 * headers, the state machine building → waitingForResourceConfiguration → ready | error, status.logs
 * entries {level, time (epoch ms), name, message, …} filled in on every GET, 412 while
 * provisioning, idempotent delete (204), the invocation proxy and its headers, replicas and pod
 * logs, errors as {"error", "errorStackTrace"}.
 *
 * Its "build" is real: the base64 source is written to a build directory, `spec.build.commands`
 * run in a shell (in a virtualenv, so pip installs from the test's package index), and the function
 * then runs under harness.py, a small Python processor implementing Nuclio's Python contract.
 */
export interface NuclioStandIn {
  url: string;
  /** How many builds have started (an unchanged redeploy must not start one). */
  builds(): number;
  /** The spec last submitted for a function (as the dashboard stored it). */
  storedSpec(name: string): Record<string, any> | undefined;
  /** Holds every build before its resources are configured until the returned release is called. */
  holdBuilds(): () => void;
  close(): Promise<void>;
}

const HARNESS = fileURLToPath(new URL("./harness.py", import.meta.url));
const DEFAULT_NAMESPACE = "nuclio";
const RESERVED_NAMES = new Set(["dashboard", "controller", "dlx", "scaler"]);
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const TERMINAL = new Set(["ready", "error", "unhealthy", "scaledToZero", "imported"]);
const RUNTIMES = new Set(["python", "python:3.9", "python:3.10", "python:3.11"]);
const OUTPUT_KEPT = 2000;

interface LogEntry {
  level: string;
  time: number;
  name: string;
  message: string;
  [key: string]: unknown;
}

interface Replica {
  name: string;
  port: number;
  process: ResultPromise;
  output: string[];
  followers: Set<ServerResponse>;
}

interface Fn {
  namespace: string;
  metadata: Record<string, any>;
  spec: Record<string, any>;
  status: Record<string, any>;
  logs: LogEntry[];
  replica: Replica | undefined;
  generation: number;
}

export async function startNuclioStandIn(): Promise<NuclioStandIn> {
  const work = await mkdtemp(join(tmpdir(), "nuclio-standin-"));
  const functions = new Map<string, Fn>(); // key: namespace/name
  const venvs = new Map<string, Promise<string>>();
  let buildCount = 0;
  let resourceVersion = 1000;
  let gate: Promise<void> | undefined;
  let releaseGate: (() => void) | undefined;
  const inflight = new Set<Promise<void>>(); // builds under way, awaited by close()
  const key = (ns: string, name: string) => `${ns}/${name}`;

  const server: Server = createServer((req, res) => {
    route(req, res).catch((error: unknown) => sendError(res, 500, `Internal error: ${(error as Error).message}`));
  });

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://standin");
    const ns = header(req, "x-nuclio-function-namespace") || DEFAULT_NAMESPACE;
    const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
    if (parts[0] !== "api") return sendError(res, 404, "Not found");
    const [, resource, name, sub, replica] = parts;
    if (resource === "versions" && req.method === "GET") return sendJson(res, 200, { dashboard: { label: "1.14.1", gitCommit: "stand-in", os: "linux", arch: "amd64" } });
    if (resource === "function_invocations") return invoke(req, res, ns);
    if (resource !== "functions") return sendError(res, 404, "Not found");
    if (!name) {
      if (req.method === "GET") return list(req, res, ns);
      if (req.method === "POST") return create(req, res, ns);
      if (req.method === "DELETE") return remove(req, res, ns);
      return sendError(res, 405, "Method not allowed");
    }
    const fn = functions.get(key(ns, name));
    if (sub === "replicas" && req.method === "GET") {
      if (!fn) return sendError(res, 404, "Function not found");
      return sendJson(res, 200, { names: fn.replica ? [fn.replica.name] : [] });
    }
    if (sub === "logs" && replica && req.method === "GET") return podLogs(res, fn, replica, url.searchParams);
    if (sub) return sendError(res, 404, "Not found");
    if (req.method === "GET") return fn ? sendJson(res, 200, view(fn)) : sendError(res, 404, "Function not found");
    if (req.method === "PUT") return update(req, res, ns, name);
    return sendError(res, 405, "Method not allowed");
  }

  function view(fn: Fn) {
    // status.logs is not stored: the dashboard fills it from its deploy log stream on every GET.
    return { metadata: fn.metadata, spec: fn.spec, status: { ...fn.status, ...(fn.logs.length ? { logs: fn.logs } : {}) } };
  }

  function list(req: IncomingMessage, res: ServerResponse, ns: string): void {
    const project = header(req, "x-nuclio-project-name");
    const only = header(req, "x-nuclio-function-name");
    const out: Record<string, unknown> = {};
    for (const fn of functions.values()) {
      if (fn.namespace !== ns) continue;
      if (project && fn.metadata.labels?.["nuclio.io/project-name"] !== project) continue;
      if (only && fn.metadata.name !== only) continue;
      out[fn.metadata.name] = view(fn);
    }
    sendJson(res, 200, out);
  }

  async function create(req: IncomingMessage, res: ServerResponse, ns: string): Promise<void> {
    const body = await readConfig(req, res);
    if (!body) return;
    const name = body.metadata.name as string;
    if (functions.has(key(ns, name))) return sendError(res, 409, "Cannot create two functions with the same name");
    const project = header(req, "x-nuclio-project-name") || body.metadata.labels?.["nuclio.io/project-name"] || "default";
    if (project !== "default") return sendError(res, 412, "Project does not exist");
    const fn: Fn = { namespace: ns, metadata: {}, spec: {}, status: {}, logs: [], replica: undefined, generation: 0 };
    functions.set(key(ns, name), fn);
    accept(fn, body, ns, project);
    res.writeHead(202).end();
  }

  async function update(req: IncomingMessage, res: ServerResponse, ns: string, name: string): Promise<void> {
    const fn = functions.get(key(ns, name));
    if (!fn) return sendError(res, 404, "Function not found");
    if (!TERMINAL.has(fn.status.state)) return sendError(res, 412, "Function cannot be updated when existing function is being provisioned");
    const body = await readConfig(req, res);
    if (!body) return;
    if (body.metadata.name !== name) return sendError(res, 400, "Function name in path and body differ");
    accept(fn, body, ns, header(req, "x-nuclio-project-name") || body.metadata.labels?.["nuclio.io/project-name"] || "default");
    res.writeHead(202).end();
  }

  /** Stores the function with state building (before answering, so an immediate GET never 404s) and builds it. */
  function accept(fn: Fn, body: Record<string, any>, ns: string, project: string): void {
    fn.metadata = { ...body.metadata, namespace: ns, labels: { ...body.metadata.labels, "nuclio.io/project-name": project } };
    fn.spec = enrich(body.spec ?? {});
    fn.generation += 1;
    fn.metadata.resourceVersion = String(++resourceVersion);
    fn.logs = [];
    fn.status = { state: "building" };
    buildCount += 1;
    const generation = fn.generation;
    const running = build(fn, generation).catch((error: unknown) => {
      if (fn.generation !== generation) return;
      fail(fn, "error", `Failed to deploy function: ${(error as Error).message}`);
    });
    inflight.add(running);
    void running.finally(() => inflight.delete(running));
  }

  async function build(fn: Fn, generation: number): Promise<void> {
    const name = fn.metadata.name as string;
    const log = (message: string, level = "info", extra: Record<string, unknown> = {}) =>
      fn.logs.push({ level, time: Date.now(), name: "deployer", message, ...extra });
    log("Deploying function", "info", { functionName: name });
    log("Building", "info", { versionInfo: "Label: 1.14.1", functionName: name });
    const dir = join(work, `${name}-${generation}`);
    await mkdir(dir, { recursive: true });
    const source = Buffer.from(String(fn.spec.build?.functionSourceCode ?? ""), "base64").toString("utf8");
    const [moduleName] = String(fn.spec.handler ?? "main:handler").split(":");
    await writeFile(join(dir, `${moduleName}.py`), source);
    log("Staging files and preparing base images");
    const commands: string[] = fn.spec.build?.commands ?? [];
    let python = "python3";
    if (commands.length > 0) {
      const venv = await venvFor(commands);
      python = join(venv, "bin", "python");
      for (const command of commands) {
        log("Running build command", "info", { command });
        const run = await execa("sh", ["-c", command], {
          cwd: dir,
          env: { ...process.env, PATH: `${join(venv, "bin")}:${process.env.PATH}`, VIRTUAL_ENV: venv, PIP_DISABLE_PIP_VERSION_CHECK: "1" },
          all: true,
          reject: false,
        });
        for (const line of String(run.all ?? "").split("\n").filter(Boolean)) fn.logs.push({ level: "debug", time: Date.now(), name: "builder", message: line });
        if (run.exitCode !== 0) {
          const tail = String(run.all ?? "").split("\n").filter(Boolean).slice(-10).join("\n");
          return fail(fn, "error", `Failed to build function: command ${JSON.stringify(command)} exited with code ${run.exitCode}:\n${tail}`);
        }
      }
    }
    log("Build complete", "info", { result: { image: `localhost:5000/nuclio/processor-${name}:latest` } });
    if (gate) await gate;
    if (fn.generation !== generation) return;
    fn.status = { state: "waitingForResourceConfiguration" };
    log("Waiting for function to be ready", "info", { timeout: 120 });
    const replica = await startReplica(fn, dir, python, generation).catch((error: Error) => error);
    if (fn.generation !== generation) {
      if (!(replica instanceof Error)) replica.process.kill();
      return;
    }
    if (replica instanceof Error) {
      log("Function failed to become ready", "error", { functionName: name });
      // Nuclio replaces the message with a brief error taken from the processor's logs.
      return fail(fn, "error", `Failed to deploy function: function did not become ready: ${replica.message}`);
    }
    const old = fn.replica;
    fn.replica = replica;
    if (old) stopReplica(old);
    log("Function deploy complete", "info", { httpPort: 0 });
    fn.spec.image = `localhost:5000/nuclio/processor-${name}:latest`;
    fn.status = {
      state: "ready",
      containerImage: `localhost:5000/nuclio/processor-${name}:latest`,
      scaleToZero: { lastScaleEvent: "resourceUpdated", lastScaleEventTime: new Date().toISOString() },
      internalInvocationUrls: [`nuclio-${name}.${fn.namespace}.svc.cluster.local:8080`],
      externalInvocationUrls: [`127.0.0.1:${replica.port}`],
    };
  }

  function fail(fn: Fn, state: string, message: string): void {
    fn.logs.push({ level: "error", time: Date.now(), name: "deployer", message: "Failed to deploy function", error: message });
    fn.status = { state, message };
  }

  /** One virtualenv per distinct list of build commands (Nuclio's image layer cache, more or less). */
  function venvFor(commands: string[]): Promise<string> {
    const id = createHash("sha256").update(JSON.stringify(commands)).digest("hex").slice(0, 12);
    let made = venvs.get(id);
    if (!made) {
      const path = join(work, `venv-${id}-${venvs.size}`);
      made = execa("python3", ["-m", "venv", path]).then(() => path);
      venvs.set(id, made);
      made.catch(() => venvs.delete(id));
    }
    return made;
  }

  async function startReplica(fn: Fn, dir: string, python: string, generation: number): Promise<Replica> {
    const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, LANG: "C.UTF-8", PYTHONUNBUFFERED: "1" };
    for (const { name, value } of (fn.spec.env ?? []) as Array<{ name: string; value: string }>) env[name] = value;
    const workers = Number(fn.spec.triggers?.http?.numWorkers ?? 1);
    const proc = execa(python, [HARNESS, "--dir", dir, "--handler", String(fn.spec.handler), "--workers", String(workers)], {
      env,
      extendEnv: false,
      reject: false,
      buffer: false,
      cwd: dir,
    });
    const replica: Replica = { name: `nuclio-${fn.metadata.name}-${generation}-${createHash("sha1").update(dir).digest("hex").slice(0, 5)}`, port: 0, process: proc, output: [], followers: new Set() };
    const record = (line: string) => {
      replica.output.push(line);
      if (replica.output.length > OUTPUT_KEPT) replica.output.shift();
      for (const follower of replica.followers) follower.write(`${line}\n`);
    };
    return new Promise<Replica>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("readiness timeout")), 30_000);
      const split = (stream: NodeJS.ReadableStream, onLine: (line: string) => void) => {
        let partial = "";
        stream.setEncoding("utf8");
        stream.on("data", (chunk: string) => {
          const lines = (partial + chunk).split("\n");
          partial = lines.pop() ?? "";
          lines.forEach(onLine);
        });
      };
      split(proc.stdout!, (line) => {
        const ready = /^HARNESS_READY (\d+)$/.exec(line);
        if (ready) {
          replica.port = Number(ready[1]);
          clearTimeout(timer);
          resolve(replica);
          return;
        }
        record(line);
      });
      split(proc.stderr!, record);
      void proc.then((r) => {
        clearTimeout(timer);
        for (const follower of replica.followers) follower.end();
        for (const line of replica.output.slice(-30)) fn.logs.push({ level: "error", time: Date.now(), name: "processor", message: line });
        reject(new Error(`processor exited with code ${r.exitCode}:\n${replica.output.slice(-15).join("\n")}`));
      });
    });
  }

  function stopReplica(replica: Replica): void {
    replica.process.kill();
    for (const follower of replica.followers) follower.end();
  }

  async function remove(req: IncomingMessage, res: ServerResponse, ns: string): Promise<void> {
    let body: Record<string, any>;
    try {
      body = JSON.parse(await readBody(req));
    } catch {
      return sendError(res, 400, "Failed to parse JSON body");
    }
    const name = body?.metadata?.name;
    if (typeof name !== "string") return sendError(res, 400, "Function name must be provided in metadata");
    const fn = functions.get(key(body.metadata.namespace || ns, name));
    if (!fn) return void res.writeHead(204).end(); // idempotent
    if (!TERMINAL.has(fn.status.state) && header(req, "x-nuclio-delete-function-ignore-state-validation") !== "true") {
      return sendError(res, 412, "Function is being provisioned and cannot be deleted");
    }
    fn.generation += 1; // a build still running for it is abandoned
    if (fn.replica) stopReplica(fn.replica);
    functions.delete(key(fn.namespace, name));
    res.writeHead(204).end();
  }

  async function invoke(req: IncomingMessage, res: ServerResponse, ns: string): Promise<void> {
    const name = header(req, "x-nuclio-function-name");
    if (!name) return sendJson(res, 400, { error: "Function name must be provided" });
    const fn = functions.get(key(ns, name));
    if (!fn) return sendJson(res, 404, { error: "Failed to invoke function: Function not found" });
    const urls: string[] = [...(fn.status.internalInvocationUrls ?? []), ...(fn.status.externalInvocationUrls ?? [])];
    const chosen = header(req, "x-nuclio-invoke-url") || urls[0];
    if (!chosen || !urls.includes(chosen)) return sendJson(res, 400, { error: "Invalid function url" });
    if (!fn.replica) return sendJson(res, 500, { error: "Failed to invoke function: no replica is running" });
    const path = "/" + (header(req, "x-nuclio-path") || "").replace(/^\/+/, "");
    const timeoutMs = goDuration(header(req, "x-nuclio-invoke-timeout") || "60s");
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (!k.startsWith("x-nuclio") && k !== "host" && typeof v === "string") headers[k] = v;
    const body = Buffer.from(await readBody(req));
    headers["content-length"] = String(body.length);
    // The cluster network, simulated: every invocation URL of the function reaches its replica.
    const upstream = request({ host: "127.0.0.1", port: fn.replica.port, path, method: req.method, headers, timeout: timeoutMs }, (answer) => {
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(answer.headers)) if (!k.toLowerCase().startsWith("x-nuclio") && typeof v === "string" && k !== "connection" && k !== "keep-alive") out[k] = v;
      res.writeHead(answer.statusCode ?? 500, out);
      answer.pipe(res);
    });
    upstream.on("timeout", () => upstream.destroy(new Error("timeout")));
    upstream.on("error", (error) => sendJson(res, 500, { error: `Failed to invoke function: ${error.message}` }));
    upstream.end(body);
  }

  function podLogs(res: ServerResponse, fn: Fn | undefined, replicaName: string, query: URLSearchParams): void {
    const replica = fn?.replica;
    if (!replica || replica.name !== replicaName) return sendError(res, 404, "Replica not found");
    const tail = Number(query.get("tailLines") ?? "0");
    res.writeHead(200, { "content-type": "text/plain" });
    const lines = tail > 0 ? replica.output.slice(-tail) : replica.output;
    for (const line of lines) res.write(`${line}\n`);
    if (query.get("follow") !== "true") return void res.end();
    replica.followers.add(res);
    res.on("close", () => replica.followers.delete(res));
  }

  /** Reads and checks a create/update body the way the dashboard and platform do. */
  async function readConfig(req: IncomingMessage, res: ServerResponse): Promise<Record<string, any> | undefined> {
    let body: Record<string, any>;
    try {
      body = JSON.parse(await readBody(req));
    } catch {
      sendError(res, 400, "Failed to parse JSON body");
      return undefined;
    }
    const name = body?.metadata?.name;
    if (typeof name !== "string" || name.length > 63 || !QUALIFIED_NAME.test(name)) {
      sendError(res, 400, `Function name doesn't conform to k8s naming convention: ${JSON.stringify(name)}`);
      return undefined;
    }
    if (RESERVED_NAMES.has(name)) {
      sendError(res, 400, `Function name is reserved and cannot be used: ${name}`);
      return undefined;
    }
    const spec = body.spec ?? {};
    if (!RUNTIMES.has(String(spec.runtime ?? "python"))) {
      sendError(res, 400, `Runtime not supported: ${spec.runtime}`);
      return undefined;
    }
    const min = spec.minReplicas;
    const max = spec.maxReplicas;
    if (max === 0 || (min !== undefined && max !== undefined && min > max) || (min === 0 && max === undefined)) {
      sendError(res, 400, "Invalid replicas: min must be at most max, max must be positive, and min 0 requires max");
      return undefined;
    }
    return body;
  }

  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    builds: () => buildCount,
    storedSpec: (name) => functions.get(key(DEFAULT_NAMESPACE, name))?.spec,
    holdBuilds() {
      let release!: () => void;
      gate = new Promise<void>((r) => (release = r));
      releaseGate = release;
      return () => {
        gate = undefined;
        release();
      };
    },
    async close() {
      server.closeAllConnections();
      server.close();
      // Builds still running (a venv being made, pip, a replica starting) finish first, so nothing
      // writes into the work directory while it is removed.
      gate = undefined;
      releaseGate?.();
      await Promise.allSettled([...inflight]);
      for (const fn of functions.values()) if (fn.replica) stopReplica(fn.replica);
      await rm(work, { recursive: true, force: true, maxRetries: 3 });
    },
  };
}

/** Nuclio's defaults (abstract/platform.go): runtime alias, the default HTTP trigger, replicas copied. */
function enrich(spec: Record<string, any>): Record<string, any> {
  const out = { ...spec };
  if (!out.runtime || out.runtime === "python") out.runtime = "python:3.9";
  if (!out.triggers || !Object.values(out.triggers).some((t: any) => t?.kind === "http")) {
    if (!out.disableDefaultHTTPTrigger) out.triggers = { ...out.triggers, "default-http": { class: "", kind: "http", name: "default-http", numWorkers: 1 } };
  }
  if (out.minReplicas !== undefined && out.maxReplicas === undefined) out.maxReplicas = out.minReplicas;
  if (out.maxReplicas !== undefined && out.minReplicas === undefined) out.minReplicas = out.maxReplicas;
  out.eventTimeout ??= "";
  return out;
}

function header(req: IncomingMessage, name: string): string {
  const value = req.headers[name];
  return (Array.isArray(value) ? value[0] : value) ?? "";
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return void res.end();
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) }).end(text);
}

function sendError(res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, { error: message, errorStackTrace: `${message}\n    /nuclio/pkg/dashboard/resource/function.go` });
}

/** A Go duration ("60s", "1m", "500ms") in milliseconds. */
function goDuration(text: string): number {
  let total = 0;
  const re = /([0-9.]+)(ms|s|m|h)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) total += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "ms"]!;
  return total || 60_000;
}
