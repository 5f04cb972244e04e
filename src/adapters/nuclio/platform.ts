import type { Logger } from "pino";
import { functionNotFound } from "../../domain/errors.ts";
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
import { Dashboard, dashboardError } from "./dashboard.ts";
import { CREATED_AT, DEPLOYED_AT, deployLog, describe, isManaged } from "./describe.ts";
import { followDeploy, getFunction, TERMINAL_STATES } from "./follow.ts";
import { CONTENT_HASH_ANNOTATION, renderFunction, type NuclioFunction, type NuclioTarget } from "./function.ts";
import { FunctionInvoker, type InvokeVia } from "./invoke.ts";
import { replicaLogs } from "./logs.ts";
import { assertOwned, deleteFunction, owns, platformError, submitFunction, waitProvisioned, type NuclioSite } from "./submit.ts";

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
  private readonly site: NuclioSite;

  constructor(private readonly options: NuclioPlatformOptions) {
    this.dashboard = new Dashboard(options.dashboardUrl, options.namespace, options.project);
    this.invoker = new FunctionInvoker(this.dashboard, options.invokeVia, options.invokeTimeoutMs, options.maxRequestBodyBytes);
    this.target = {
      namespace: options.namespace,
      project: options.project,
      serviceType: options.invokeVia === "external" ? "NodePort" : "ClusterIP",
      maxRequestBodyBytes: options.maxRequestBodyBytes,
    };
    this.site = { dashboard: this.dashboard, namespace: options.namespace, project: options.project, timeoutMs: options.timeoutMs };
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
        if (current) assertOwned(this.site, current);
        // A deploy someone else started is waited for (at most NUCLIO_TIMEOUT) before this one.
        if (current && !TERMINAL_STATES.has(current.status?.state ?? "")) return waitProvisioned(this.site, spec.id, (line) => phases.log(line), signal);
        return current;
      },
      owned: (fn) => owns(this.site, fn),
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
        await submitFunction(this.site, spec.id, body, current !== undefined, (line) => phases.log(line), signal);
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
      await deleteFunction(this.site, id, signal);
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
}
