import { once } from "node:events";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { processorLogsAndBriefError } from "./logprocessing.ts";
import { ReplicaFailed, startReplica, stopReplica, venvCache, type Replica } from "./replica.ts";
import { enrich, goDuration, header, httpTrigger, invocationStatus, readBody, readConfig, sendError, sendJson } from "./spec.ts";

/**
 * A test-only stand-in for the Nuclio dashboard (1.14.x) on 127.0.0.1, faithful to the API facts
 * in platform-apis.md §B2 and the fixtures in test/fixtures/nuclio/: 202 with an empty body on
 * create and update, 409 on a duplicate, list as a map keyed by name, namespace and project
 * headers, the state machine building → waitingForResourceConfiguration → ready | error, status.logs
 * entries {level, time (epoch ms), name, message, …} filled in on every GET, 412 while
 * provisioning, idempotent delete (204), the invocation proxy and its headers, replicas and pod
 * logs, errors as {"error", "errorStackTrace"}.
 *
 * Behaviours taken from nuclio/nuclio 1.14.1 (commit f7573701a7cd7f093fe37481bd8e61d6979a3d14),
 * cited at each place as path:line: the project filter of GET, labels written on create only,
 * invocation URLs and old pods kept through a failed update, the NodePort-only external URL, 412
 * for reserved names and missing projects, skip-deploy → imported, the brief error message taken
 * from the pod log through FixEscapeChars, and the `nuclio-<name>` Service name limit.
 *
 * Its "build" is real: the base64 source is written to a build directory, `spec.build.commands`
 * run in a shell (in a virtualenv, so pip installs from the test's package index), and the function
 * then runs under harness.py (the processor's HTTP trigger) with one wrapper.py process per worker
 * (an imitation of Nuclio's Python wrapper around the vendored, unmodified nuclio-sdk-py).
 */
export interface NuclioStandIn {
  url: string;
  /** How many builds have started (an unchanged redeploy must not start one). */
  builds(): number;
  /** The spec last submitted for a function (as the dashboard stored it). */
  storedSpec(name: string): Record<string, any> | undefined;
  /** Stored labels and annotations of a function. */
  storedMeta(name: string): { labels: Record<string, string>; annotations: Record<string, string> } | undefined;
  /** Resolves once the function's state is terminal (rejects after 50 s, or if it does not exist). */
  settled(name: string): Promise<string>;
  /** Creates a project (POST /api/projects does the same). */
  addProject(name: string): void;
  /** Holds every build before its resources are configured until the returned release is called. */
  holdBuilds(): () => void;
  close(): Promise<void>;
}

const DEFAULT_NAMESPACE = "nuclio";
const RESERVED_NAMES = new Set(["dashboard", "controller", "dlx", "scaler"]);
const TERMINAL = new Set(["ready", "error", "unhealthy", "scaledToZero", "imported"]);
const PROJECT_LABEL = "nuclio.io/project-name";

interface LogEntry {
  level: string;
  time: number;
  name: string;
  message: string;
  [key: string]: unknown;
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
  const venvFor = venvCache(work);
  const projects = new Set(["default"]); // the platform creates "default" (EnsureDefaultProjectExistence)
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
    if (resource === "projects" && req.method === "POST" && !name) {
      const body = JSON.parse((await readBody(req)) || "{}") as { metadata?: { name?: string } };
      if (!body.metadata?.name) return sendError(res, 400, "Project name must be provided in metadata");
      projects.add(body.metadata.name);
      return sendJson(res, 201, body);
    }
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
    if (req.method === "GET") {
      // dashboard/resource/function.go:654-666 with :686-691: a project header filters by the
      // project label, so a function of another project is "not found".
      const project = header(req, "x-nuclio-project-name");
      if (!fn || (project && fn.metadata.labels?.[PROJECT_LABEL] !== project)) return sendError(res, 404, "Function not found");
      return sendJson(res, 200, view(fn));
    }
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
      if (project && fn.metadata.labels?.[PROJECT_LABEL] !== project) continue;
      if (only && fn.metadata.name !== only) continue;
      out[fn.metadata.name] = view(fn);
    }
    sendJson(res, 200, out);
  }

  async function create(req: IncomingMessage, res: ServerResponse, ns: string): Promise<void> {
    const body = await readConfig(req, res);
    if (!body) return;
    const name = body.metadata.name as string;
    // dashboard/resource/function.go:128-145: the duplicate check is by name and namespace only
    if (functions.has(key(ns, name))) return sendError(res, 409, "Cannot create two functions with the same name");
    const project = header(req, "x-nuclio-project-name") || body.metadata.labels?.[PROJECT_LABEL] || "default";
    if (!validForCreate(res, name, project)) return;
    const fn: Fn = { namespace: ns, metadata: {}, spec: {}, status: {}, logs: [], replica: undefined, generation: 0 };
    functions.set(key(ns, name), fn);
    accept(fn, body, ns, project, true);
    res.writeHead(202).end();
  }

  async function update(req: IncomingMessage, res: ServerResponse, ns: string, name: string): Promise<void> {
    const fn = functions.get(key(ns, name));
    if (!fn) return sendError(res, 404, "Function not found");
    if (!TERMINAL.has(fn.status.state)) return sendError(res, 412, "Function cannot be updated when existing function is being provisioned");
    const body = await readConfig(req, res);
    if (!body) return;
    if (body.metadata.name !== name) return sendError(res, 400, "Function name in path and body differ");
    // kube/platform.go:214-227: the function to update is looked up by namespace and name, whatever
    // its project; the request's project is validated like a create's.
    const project = header(req, "x-nuclio-project-name") || body.metadata.labels?.[PROJECT_LABEL] || "default";
    if (!validForCreate(res, name, project)) return;
    accept(fn, body, ns, project, false);
    res.writeHead(202).end();
  }

  /** CreateFunction's validation, answered before the 202 (dashboard/resource/function.go:324-334 returns its error). */
  function validForCreate(res: ServerResponse, name: string, project: string): boolean {
    // abstract/platform.go:444-447 (names from :645-655)
    if (RESERVED_NAMES.has(name)) {
      sendError(res, 412, `Function name ${name} is reserved and cannot be used.`);
      return false;
    }
    // abstract/platform.go:1610-1617
    if (!projects.has(project)) {
      sendError(res, 412, "Project does not exist");
      return false;
    }
    return true;
  }

  /** Stores the function with state building (before answering, so an immediate GET never 404s) and builds it. */
  function accept(fn: Fn, body: Record<string, any>, ns: string, project: string, create: boolean): void {
    // kube/client/deployer.go:168-178: spec and annotations are replaced on every deploy, labels
    // are written on create only (dashboard/resource/function.go:707-714 adds the project label).
    const labels = create ? { ...body.metadata.labels, [PROJECT_LABEL]: project } : fn.metadata.labels;
    fn.metadata = { name: body.metadata.name, namespace: ns, labels, annotations: { ...body.metadata.annotations } };
    fn.spec = enrich(body.spec ?? {});
    fn.generation += 1;
    fn.metadata.resourceVersion = String(++resourceVersion);
    fn.logs = [];
    // kube/client/deployer.go:78-82: an existing function keeps its invocation URLs and HTTP port
    // through the deploy (and its pods keep serving until new ones are ready).
    fn.status = { state: "building", ...invocationStatus(fn.status) };
    // kube/controller/nucliofunction.go:145-156: skip-deploy (nuctl import) ends as imported, unbuilt
    if (fn.metadata.annotations["skip-deploy"] === "true") {
      fn.status = { state: "imported" };
      return;
    }
    buildCount += 1;
    const generation = fn.generation;
    const running = build(fn, generation).catch((error: unknown) => {
      if (fn.generation !== generation) return;
      fail(fn, `Failed to deploy function: ${(error as Error).message}`);
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
          return fail(fn, `Failed to build function: command ${JSON.stringify(command)} exited with code ${run.exitCode}:\n${tail}`);
        }
      }
    }
    log("Build complete", "info", { result: { image: `localhost:5000/nuclio/processor-${name}:latest` } });
    if (gate) await gate;
    if (fn.generation !== generation) return;
    fn.status = { state: "waitingForResourceConfiguration", ...invocationStatus(fn.status) };
    log("Waiting for function to be ready", "info", { timeout: 120 });
    // kube/types.go:60-62: the Service is nuclio-<name>, and a Service name is a DNS-1035 label of
    // at most 63 characters (k8s.io/apimachinery validation IsDNS1035Label), so creating it fails.
    const service = `nuclio-${name}`;
    if (service.length > 63) {
      return fail(fn, `Failed to create/update service: Service "${service}" is invalid: metadata.name: Invalid value: "${service}": must be no more than 63 characters`);
    }
    const trigger = httpTrigger(fn.spec);
    const replica = await startReplica({
      functionName: name,
      generation,
      dir,
      python,
      handler: String(fn.spec.handler),
      env: Object.fromEntries(((fn.spec.env ?? []) as Array<{ name: string; value: string }>).map((e) => [e.name, e.value])),
      workers: Number(trigger?.numWorkers ?? 1),
      maxRequestBodySize: Number(trigger?.attributes?.maxRequestBodySize ?? 0),
    }).catch((error: Error) => error);
    if (fn.generation !== generation) {
      if (!(replica instanceof Error)) replica.process.kill();
      return;
    }
    if (replica instanceof Error) {
      // kube/client/deployer.go:147-155 and 208-268: on a readiness failure the pod log becomes a
      // brief error (through FixEscapeChars) and the deploy log's warning carries the whole log.
      const { formatted, brief } = processorLogsAndBriefError(replica instanceof ReplicaFailed ? replica.output : []);
      const stack = `Failed to wait for function readiness.\n\nPod logs:\n\n* ${service}-0\n${formatted}`;
      // kube/platform.go:302-307, then :272-274 (clearCallStack) for the message itself
      log("Function creation failed, setting state to error", "warn", { err: stack });
      return fail(fn, brief.split("\nCall stack:\n")[0] || `Failed to deploy function: ${replica.message}`, false);
    }
    const old = fn.replica;
    fn.replica = replica;
    if (old) stopReplica(old);
    log("Function deploy complete", "info", { httpPort: 0 });
    fn.spec.image = `localhost:5000/nuclio/processor-${name}:latest`;
    // kube/controller/nucliofunction.go:316-333 with :460-515: the internal URL always; an external
    // "ip:nodeport" only for a NodePort service (the trigger's serviceType, default ClusterIP:
    // kube/platform.go:1922-1940); httpPort is the node port, 0 otherwise.
    const nodePort = trigger?.attributes?.serviceType === "NodePort";
    fn.status = {
      state: "ready",
      containerImage: `localhost:5000/nuclio/processor-${name}:latest`,
      scaleToZero: { lastScaleEvent: "resourceUpdated", lastScaleEventTime: new Date().toISOString() },
      internalInvocationUrls: [`${service}.${fn.namespace}.svc.cluster.local:8080`],
      ...(nodePort ? { externalInvocationUrls: [`127.0.0.1:${replica.port}`], httpPort: replica.port } : {}),
    };
  }

  /**
   * A failed deploy: state error with `message`. kube/platform.go:284-290: a function that existed
   * keeps its invocation URLs and HTTP port (and, for the stand-in, its running replica: the old
   * pods stay up while the new ones never became ready), so calls keep reaching the old version.
   */
  function fail(fn: Fn, message: string, logIt = true): void {
    if (logIt) fn.logs.push({ level: "error", time: Date.now(), name: "deployer", message: "Failed to deploy function", error: message });
    fn.status = { state: "error", message, ...(fn.replica ? invocationStatus(fn.status) : {}) };
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

  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    builds: () => buildCount,
    storedSpec: (name) => functions.get(key(DEFAULT_NAMESPACE, name))?.spec,
    storedMeta(name) {
      const fn = functions.get(key(DEFAULT_NAMESPACE, name));
      return fn && { labels: { ...fn.metadata.labels }, annotations: { ...fn.metadata.annotations } };
    },
    addProject: (name) => void projects.add(name),
    async settled(name) {
      const deadline = Date.now() + 50_000;
      for (;;) {
        const fn = functions.get(key(DEFAULT_NAMESPACE, name));
        if (!fn) throw new Error(`no function ${name}`);
        if (TERMINAL.has(fn.status.state)) return fn.status.state as string;
        if (Date.now() > deadline) throw new Error(`${name} never settled`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
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

