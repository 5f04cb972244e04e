import type { Logger } from "pino";
import { FaasError, functionNotFound } from "../../domain/errors.ts";
import type {
  Capabilities,
  DeployEmitter,
  DeployOptionName,
  DeploySpec,
  FunctionInfo,
  HealthCheck,
  InvokeOutcome,
  InvokeStream,
  LogLine,
  LogsOptions,
  Platform,
  RenderedObject,
} from "../../domain/types.ts";
import { KeyedLock } from "../kit/keyed-lock.ts";
import { runDeploy } from "../kit/pipeline.ts";
import { isManaged as managedLabels, label, LABELS } from "../kit/labels.ts";
import { Dashboard, dashboardError } from "./dashboard.ts";
import { followDeploy, formatLogEntry, getFunction, LogCursor, sleep, TERMINAL_STATES } from "./follow.ts";
import { CONTENT_HASH_ANNOTATION, PROJECT_LABEL, renderFunction, type NuclioFunction, type NuclioTarget } from "./function.ts";
import { FunctionInvoker, type InvokeVia } from "./invoke.ts";
import { replicaLogs } from "./logs.ts";

export interface NuclioPlatformOptions {
  dashboardUrl: string;
  namespace: string;
  /** The Nuclio project functions go to (x-nuclio-project-name). */
  project: string;
  /** Bounds each dashboard request and the wait for another deploy of the same function. */
  timeoutMs: number;
  invokeTimeoutMs: number;
  invokeVia: InvokeVia;
  /** The agent's request body limit: the HTTP trigger's maxRequestBodySize, and the cap on invoke payloads. */
  maxRequestBodyBytes: number;
  logger: Logger;
}

/** Annotations that keep when the agent first deployed a function and this content (Nuclio keeps no such times). */
const CREATED_AT = LABELS.createdAt;
const DEPLOYED_AT = LABELS.deployedAt;

/**
 * Functions deployed from source through the Nuclio dashboard's REST API: Nuclio builds the image
 * with its processor around a generated entry module (entry.py) that gives `handle(req)` the same
 * payload and result semantics as every other platform. The dashboard is the source of truth (List
 * and Get read functions by label), so an agent restart loses nothing.
 */
export class NuclioPlatform implements Platform {
  readonly name = "nuclio" as const;
  /** Replicas, resources (GPUs included) and HTTP trigger workers; Knative's scaling knobs are not Nuclio's. */
  readonly capabilities: Capabilities = {
    options: new Set<DeployOptionName>(["minScale", "maxScale", "resources", "workers"]),
    dryRun: true,
    traffic: false,
    logsFollow: true,
    // Nuclio's Python wrapper answers once per event, when the handler is done (entry.py).
    streaming: "buffered",
  };
  private readonly dashboard: Dashboard;
  private readonly invoker: FunctionInvoker;
  private readonly locks = new KeyedLock();
  private readonly target: NuclioTarget;

  constructor(private readonly options: NuclioPlatformOptions) {
    this.dashboard = new Dashboard(options.dashboardUrl, options.namespace, options.project);
    this.invoker = new FunctionInvoker(this.dashboard, options.invokeVia, options.invokeTimeoutMs, options.maxRequestBodyBytes);
    this.target = {
      namespace: options.namespace,
      project: options.project,
      serviceType: options.invokeVia === "external" ? "NodePort" : "ClusterIP",
      maxRequestBodyBytes: options.maxRequestBodyBytes,
    };
  }

  async render(spec: DeploySpec): Promise<RenderedObject> {
    const { body } = renderFunction(spec, this.target);
    return { kind: "nuclio.io/v1beta1 NuclioFunction", object: body as unknown as Record<string, unknown> };
  }

  async deploy(spec: DeploySpec, emit: DeployEmitter, signal: AbortSignal): Promise<FunctionInfo> {
    const rendered = renderFunction(spec, this.target); // invalid requests fail before anything is read
    const run = { spec, emit, locks: this.locks, logger: this.options.logger, noun: "Nuclio function", where: `namespace ${this.options.namespace}` };
    return runDeploy(run, {
      current: async (phases) => {
        // Read without the project filter: Nuclio's names are unique per namespace, whatever the
        // project, and a filtered GET says 404 for another project's function
        // (dashboard/resource/function.go:654-666, 686-691), which a PUT would then replace.
        const current = await getFunction(this.dashboard, spec.id, signal, { anyProject: true });
        if (current) this.assertOwned(current);
        // A deploy someone else started is waited for (at most NUCLIO_TIMEOUT) before this one.
        if (current && !TERMINAL_STATES.has(current.status?.state ?? "")) return this.waitProvisioned(spec.id, (line) => phases.log(line), signal);
        return current;
      },
      owned: (fn) => this.owns(fn),
      render: async (phases) => {
        phases.enter("packaging");
        const commands = (rendered.body.spec.build as { commands: string[] }).commands;
        phases.log(`function ${spec.id}: runtime python:${rendered.pythonVersion}, content ${rendered.contentHash}${commands.length ? `, build: ${commands.join(" && ")}` : ""}`);
        return rendered;
      },
      unchanged: (current) =>
        current.metadata.annotations?.[CONTENT_HASH_ANNOTATION] === rendered.contentHash && current.status?.state === "ready"
          ? `unchanged: function ${spec.id} already runs content ${rendered.contentHash}; nothing to deploy`
          : undefined,
      apply: async (_rendered, current, phases) => {
        const body = rendered.body;
        body.metadata.annotations = { ...body.metadata.annotations, [CREATED_AT]: current?.metadata.annotations?.[CREATED_AT] ?? body.metadata.annotations?.[DEPLOYED_AT] ?? new Date().toISOString() };
        await this.submit(spec.id, body, current !== undefined, (line) => phases.log(line), signal);
        // Nuclio builds the image itself once the function is submitted; its states say how far it got.
        phases.enter("building");
        const fn = await followDeploy(this.dashboard, spec.id, phases.emitter, signal, "building");
        this.invoker.forget(spec.id);
        return fn;
      },
      describe: (running) => describe("made" in running ? running.made : running.current),
    });
  }

  async invoke(id: string, payloadJson: string, signal: AbortSignal): Promise<InvokeOutcome> {
    return { resultJson: await this.invoker.invoke(id, payloadJson, signal), coldStart: false };
  }

  async invokeStream(id: string, payloadJson: string, signal: AbortSignal): Promise<InvokeStream> {
    return { chunks: this.invoker.stream(id, payloadJson, signal), coldStart: false };
  }

  async list(signal: AbortSignal): Promise<FunctionInfo[]> {
    const res = await this.dashboard.call("GET", "api/functions", { signal, timeoutMs: this.options.timeoutMs });
    if (res.status !== 200) throw platformError("list functions", res.status, dashboardError(res));
    const all = JSON.parse(res.text) as Record<string, NuclioFunction>;
    return Object.values(all)
      .filter(isManaged)
      .map(describe)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async get(id: string, signal: AbortSignal): Promise<FunctionInfo> {
    const fn = await getFunction(this.dashboard, id, signal);
    if (!fn || !isManaged(fn)) throw functionNotFound(id);
    return describe(fn);
  }

  async remove(id: string, signal: AbortSignal): Promise<void> {
    await this.locks.run(id, async () => {
      const fn = await getFunction(this.dashboard, id, signal);
      if (!fn || !isManaged(fn)) throw functionNotFound(id);
      const deadline = Date.now() + this.options.timeoutMs;
      for (;;) {
        const res = await this.dashboard.call("DELETE", "api/functions", { body: { metadata: { name: id, namespace: this.options.namespace } }, signal, timeoutMs: this.options.timeoutMs });
        if (res.status === 204 || res.status === 200 || res.status === 404) break;
        if (res.status === 412 && Date.now() < deadline) {
          await sleep(500, signal); // being provisioned: Nuclio refuses until that ends
          continue;
        }
        if (res.status === 412) throw inProgress(id, dashboardError(res));
        throw platformError(`delete function "${id}"`, res.status, dashboardError(res));
      }
      this.invoker.forget(id);
      this.options.logger.info({ function: id }, "function deleted");
    });
  }

  async *logs(id: string, options: LogsOptions, signal: AbortSignal): AsyncIterable<LogLine> {
    const fn = await getFunction(this.dashboard, id, signal);
    if (!fn || !isManaged(fn)) throw functionNotFound(id);
    yield* replicaLogs(this.dashboard, id, options, signal, deployLog(fn));
  }

  async health(signal: AbortSignal): Promise<HealthCheck[]> {
    try {
      const res = await this.dashboard.call("GET", "api/versions", { signal: AbortSignal.any([signal, AbortSignal.timeout(3000)]) });
      if (res.status !== 200) return [{ name: "nuclio", ok: false, message: `the Nuclio dashboard at ${this.dashboard.url} answered ${res.status}: ${dashboardError(res)}` }];
      const label = (JSON.parse(res.text) as { dashboard?: { label?: string } }).dashboard?.label;
      return [{ name: "nuclio", ok: true, message: `Nuclio dashboard ${label ?? ""} at ${this.dashboard.url}, namespace ${this.options.namespace}`.replace("  ", " ") }];
    } catch (error) {
      return [{ name: "nuclio", ok: false, message: (error as Error).message }];
    }
  }

  async close(): Promise<void> {
    this.invoker.close();
    this.dashboard.close();
  }

  /** Creates (POST) or replaces (PUT) the function; a deploy under way (412) is waited for. */
  private async submit(id: string, body: NuclioFunction, exists: boolean, log: (line: string) => void, signal: AbortSignal): Promise<void> {
    let update = exists;
    const deadline = Date.now() + this.options.timeoutMs;
    for (;;) {
      const res = update
        ? await this.dashboard.call("PUT", `api/functions/${encodeURIComponent(id)}`, { body, signal, timeoutMs: this.options.timeoutMs })
        : await this.dashboard.call("POST", "api/functions", { body, signal, timeoutMs: this.options.timeoutMs });
      if (res.status === 202 || res.status === 200 || res.status === 201 || res.status === 204) return;
      if (res.status === 409 && !update) {
        // Created meanwhile (the duplicate check is by name and namespace only: function.go:128-145).
        // Replace it only if it is this agent's, in this project; never someone else's.
        const created = await getFunction(this.dashboard, id, signal, { anyProject: true });
        if (created) this.assertOwned(created);
        update = true;
        continue;
      }
      if (res.status === 412) {
        const message = dashboardError(res);
        const refused = preconditionRefusal(id, message, this.options);
        if (refused) throw refused;
        if (Date.now() >= deadline) throw inProgress(id, message);
        log(`Nuclio is still provisioning function ${id}; waiting for it to finish`);
        await sleep(500, signal);
        continue;
      }
      if (res.status === 400) {
        throw new FaasError("invalid_argument", `Nuclio refused function "${id}": ${dashboardError(res)}`, { reason: "INVALID_REQUEST", metadata: { field: "id" } });
      }
      throw platformError(`${update ? "update" : "create"} function "${id}"`, res.status, dashboardError(res));
    }
  }

  /** Whether `fn` was deployed by this agent into its project. */
  private owns(fn: NuclioFunction): boolean {
    return isManaged(fn) && (fn.metadata.labels?.[PROJECT_LABEL] ?? "default") === this.options.project;
  }

  /** Throws already_exists, saying whose it is, unless this agent owns `fn`. */
  private assertOwned(fn: NuclioFunction): void {
    if (this.owns(fn)) return;
    const project = fn.metadata.labels?.[PROJECT_LABEL] ?? "default";
    const whose = isManaged(fn) ? `belongs to project "${project}"` : `was not deployed by this agent (project "${project}")`;
    throw new FaasError("already_exists", `Nuclio function "${fn.metadata.name}" exists in namespace ${this.options.namespace} and ${whose}; Nuclio names are unique per namespace, so choose another id`, {
      reason: "INVALID_REQUEST",
      metadata: { field: "id" },
    });
  }

  /** Waits (at most NUCLIO_TIMEOUT) until a deploy someone else started has finished. */
  private async waitProvisioned(id: string, log: (line: string) => void, signal: AbortSignal): Promise<NuclioFunction | undefined> {
    log(`Nuclio is still provisioning function ${id}; waiting for it to finish`);
    const deadline = Date.now() + this.options.timeoutMs;
    for (;;) {
      const fn = await getFunction(this.dashboard, id, signal, { anyProject: true });
      if (!fn || TERMINAL_STATES.has(fn.status?.state ?? "")) return fn;
      if (Date.now() >= deadline) throw inProgress(id, `state ${fn.status?.state}`);
      await sleep(250, signal);
    }
  }
}

/** The dashboard's deploy log of `fn` (status.logs, then status.message when it failed) as log lines. */
function deployLog(fn: NuclioFunction): LogLine[] {
  const lines: LogLine[] = new LogCursor().fresh(fn.status?.logs ?? []).map((entry) => ({
    time: new Date(Number(entry.time) || Date.now()),
    stream: entry.level === "error" || entry.level === "warn" ? "stderr" : "stdout",
    line: formatLogEntry(entry),
  }));
  const state = fn.status?.state ?? "";
  if (fn.status?.message && (state === "error" || state === "unhealthy")) {
    for (const line of fn.status.message.split("\n")) lines.push({ time: new Date(), stream: "stderr", line });
  }
  return lines;
}

function isManaged(fn: NuclioFunction): boolean {
  return managedLabels(fn.metadata.labels);
}

/** A Nuclio function as the agent describes it. */
function describe(fn: NuclioFunction): FunctionInfo {
  const state = fn.status?.state ?? "unknown";
  const annotations = fn.metadata.annotations ?? {};
  const updated = new Date(annotations[DEPLOYED_AT] ?? Date.now());
  const internal = fn.status?.internalInvocationUrls?.[0];
  const ready = state === "ready" || state === "scaledToZero";
  return {
    id: fn.metadata.name,
    image: fn.status?.containerImage ?? "",
    ready,
    state,
    platform: "nuclio",
    endpoint: internal ? `http://${internal}` : "",
    createdAt: new Date(annotations[CREATED_AT] ?? updated.toISOString()),
    updatedAt: updated,
    // Functions deployed before the hash moved to an annotation still carry it as a (create-time) label.
    revision: annotations[CONTENT_HASH_ANNOTATION] ?? label(fn.metadata.labels, "contentHash"),
    pythonVersion: (fn.spec.runtime ?? "").replace(/^python:?/, ""),
    ...(ready || !fn.status?.message ? {} : { message: fn.status.message }),
  };
}

/**
 * The 412s that are not "being provisioned": a reserved name (abstract/platform.go:444-447) and a
 * project that does not exist (:1616). Waiting would not change either.
 */
function preconditionRefusal(id: string, message: string, options: { project: string; namespace: string }): FaasError | undefined {
  if (/is reserved and cannot be used/.test(message)) {
    return new FaasError("invalid_argument", `Nuclio refused function "${id}": ${message}`, { reason: "INVALID_REQUEST", metadata: { field: "id" } });
  }
  if (/Project does not exist/i.test(message)) {
    return new FaasError("failed_precondition", `Nuclio project "${options.project}" does not exist in namespace ${options.namespace}: create it (nuctl create project ${options.project}) or set NUCLIO_PROJECT`, {
      reason: "DEPLOY_FAILED",
      metadata: { platform_reason: "ProjectNotFound" },
    });
  }
  return undefined;
}

function inProgress(id: string, detail: string): FaasError {
  return new FaasError("failed_precondition", `Nuclio is still provisioning function "${id}" (${detail}); try again when that deploy has finished`, {
    reason: "DEPLOY_IN_PROGRESS",
    metadata: { function_id: id },
  });
}

function platformError(what: string, status: number, message: string): FaasError {
  return new FaasError("unavailable", `the Nuclio dashboard could not ${what} (HTTP ${status}): ${message}`, { reason: "PLATFORM_UNAVAILABLE" });
}
