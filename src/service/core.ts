import { AsyncQueue } from "../adapters/kit/queue.ts";
import { invalidArgument, isFaasError, unsupported } from "../domain/errors.ts";
import { checkResult, checkText } from "../domain/payload.ts";
import { optionField, setOptionNames, validateTraffic } from "../domain/options.ts";
import { validateDeployRequest, validateId, type RawDeployRequest } from "../domain/spec.ts";
import { DeployRegistry } from "./deploy-control.ts";
import { SourceStore, type FunctionSource } from "./sources.ts";
import type { AgentMetrics } from "../metrics/agent-metrics.ts";
import type { Logger } from "pino";
import { markReported } from "./failures.ts";
import { CallRecord, DeployRecord } from "./call-record.ts";
import type { DeployProgress, HealthReport, InvokeResult, StreamEvent } from "./results.ts";
import type {
  Capabilities,
  DeployEvent,
  DeploySpec,
  FunctionInfo,
  InvokeOutcome,
  LogLine,
  LogsOptions,
  Platform,
  PlatformName,
  TrafficTarget,
} from "../domain/types.ts";

export interface AgentCoreOptions {
  platform: Platform;
  workflow: string;
  version: string;
  deployTimeoutMs: number;
  /** Largest result returned (FAAS_MAX_RESULT_BYTES), whatever the platform or protocol. */
  maxResultBytes?: number;
  /** Where each function's current source is recorded (Get's source, Deploy's keep_env); none: not recorded. */
  sources?: SourceStore;
  /** Where calls and deploys are counted, once for every protocol; nothing is counted without it. */
  metrics?: AgentMetrics;
  /** Failed calls and deploys are logged here (one line each); silent without it. */
  logger?: Logger;
}

const DEFAULT_MAX_RESULT_BYTES = 8 * 1024 * 1024;

/**
 * What the agent does, whatever the protocol: the Connect service and the REST routes both call
 * this, so validation, platform calls and errors are the same everywhere. It speaks domain types
 * only; protocol mapping happens in service/connect.ts and server/rest.ts.
 */
export class AgentCore {
  readonly platformName: PlatformName;
  private shuttingDown = false;
  private readonly deploys = new DeployRegistry();

  /** What the platform supports; every request for something else is answered here. */
  readonly capabilities: Capabilities;

  /** Throws when the platform declares a capability whose method it lacks (a programming error). */
  constructor(private readonly options: AgentCoreOptions) {
    const { platform } = options;
    this.platformName = platform.name;
    this.capabilities = platform.capabilities;
    if (this.capabilities.dryRun !== (typeof platform.render === "function")) {
      throw new Error(`platform ${platform.name}: capabilities.dryRun must be true exactly when it has render()`);
    }
    if (this.capabilities.traffic !== (typeof platform.setTraffic === "function")) {
      throw new Error(`platform ${platform.name}: capabilities.traffic must be true exactly when it has setTraffic()`);
    }
  }


  /**
   * Validates and deploys, yielding progress. The request is validated before the first event, so
   * an invalid request fails without any event. A failure ends the iteration with the platform's
   * FaasError as it is: the log lines were events of this stream, and are not copied into it.
   */
  async *deploy(raw: RawDeployRequest, signal: AbortSignal, requestId = ""): AsyncGenerator<DeployProgress> {
    if (raw.keepEnv?.length) raw = { ...raw, env: await this.sourceStore().keepEnv(raw.id, raw.env, raw.keepEnv) };
    checkText({ handler: raw.handler, requirements: raw.requirements, params: raw.params, env: raw.env });
    const spec = validateDeployRequest(raw);
    this.checkOptions(spec);
    if (raw.dryRun) {
      const render = this.options.platform.render?.bind(this.options.platform);
      if (!this.capabilities.dryRun || !render) throw unsupported(this.platformName, "dry run");
      yield { type: "phase", phase: "validating", time: new Date() };
      yield { type: "dry_run", rendered: await render(spec, signal), time: new Date() };
      return;
    }
    yield { type: "phase", phase: "validating", time: new Date() };
    // Bounded by FAAS_DEPLOY_TIMEOUT, and cancelled by a delete of the same id (deploy-control.ts).
    const control = this.deploys.start(spec.id, this.options.deployTimeoutMs, signal);
    const deploySignal = control.signal;
    // Unbounded, as a deploy's events are few (a build's lines, within the deploy timeout) and a
    // phase must never be dropped.
    const queue = new AsyncQueue<DeployEvent>({ maxItems: Number.POSITIVE_INFINITY });
    let deployed: FunctionInfo | undefined;
    const emit = (event: DeployEvent) => {
      queue.push(event);
    };
    // Counted and logged here, not where the stream is read: a deploy whose caller went away still ends.
    const record = new DeployRecord(this.options.metrics, this.options.logger, spec.id, requestId);
    void this.options.platform.deploy(spec, emit, deploySignal).then(
      (fn) => {
        deployed = fn;
        record.succeeded();
        queue.end();
      },
      (error: unknown) => {
        const failure = control.error(error ?? new Error("deploy failed"));
        record.failed(failure, signal.aborted);
        queue.end(failure);
      },
    );
    try {
      yield* queue;
    } catch (error) {
      // Already the precise error (control.error, in the platform's rejection above).
      throw markReported(error);
    } finally {
      control.done();
    }
    if (!deployed) throw new Error("the platform's deploy resolved without a function");
    // The platform serves the new version: record its source. A record that cannot be written is
    // removed rather than left describing the old version (Get then reports no source).
    const sources = this.options.sources;
    await sources?.save(spec).catch(() => sources.remove(spec.id).catch(() => undefined));
    yield { type: "phase", phase: "ready", time: new Date() };
    yield { type: "function", function: deployed, time: new Date() };
  }

  /** Sets a function's traffic split between its revisions (platforms with revisions only). */
  async setTraffic(id: string, traffic: TrafficTarget[], signal: AbortSignal): Promise<FunctionInfo> {
    validateId(id);
    const checked = validateTraffic(traffic);
    const set = this.options.platform.setTraffic?.bind(this.options.platform);
    if (!this.capabilities.traffic || !set) throw unsupported(this.platformName, "setting traffic");
    return set(id, checked, signal);
  }

  /** Refuses options the platform does not honour, naming the first one. */
  private checkOptions(spec: DeploySpec): void {
    for (const name of setOptionNames(spec.options)) {
      if (!this.capabilities.options.has(name)) {
        const field = optionField(name);
        throw invalidArgument(field, `${field} is not supported by the ${this.platformName} platform`);
      }
    }
  }

  /**
   * Calls a function with a JSON payload (text). Every call that reaches a function is counted
   * (metrics and stats); a failed one is also logged, with `requestId`.
   */
  async invoke(id: string, payloadJson: string, signal: AbortSignal, requestId = ""): Promise<InvokeResult> {
    validateId(id);
    const call = new CallRecord(this.options.metrics, this.options.logger, id, requestId);
    let outcome: InvokeOutcome;
    let result: unknown;
    try {
      outcome = await this.options.platform.invoke(id, payloadJson, signal);
      result = checkResult(outcome.resultJson, this.options.maxResultBytes ?? DEFAULT_MAX_RESULT_BYTES);
    } catch (error) {
      call.failed(error);
      throw error;
    }
    const executionTime = call.succeeded(outcome.coldStart);
    return { resultJson: outcome.resultJson, result, executionTime, coldStart: outcome.coldStart, platform: this.platformName };
  }


  /**
   * Calls a function as a stream: each chunk (checked like an invoke result: one JSON value within
   * the result limit) as the platform delivers it, then the end. A failure ends the iteration with
   * the error a plain invoke gives; leaving the iteration early cancels the call.
   */
  async *invokeStream(id: string, payloadJson: string, signal: AbortSignal, requestId = ""): AsyncGenerator<StreamEvent> {
    validateId(id);
    const call = new CallRecord(this.options.metrics, this.options.logger, id, requestId);
    const max = this.options.maxResultBytes ?? DEFAULT_MAX_RESULT_BYTES;
    try {
      const stream = await this.options.platform.invokeStream(id, payloadJson, signal);
      let chunks = 0;
      for await (const resultJson of stream.chunks) {
        const result = checkResult(resultJson, max);
        chunks++;
        yield { type: "chunk", resultJson, result };
      }
      const executionTime = call.succeeded(stream.coldStart);
      yield { type: "end", executionTime, coldStart: stream.coldStart, platform: this.platformName, chunks };
    } catch (error) {
      call.failed(error);
      throw error;
    } finally {
      call.abandoned();
    }
  }


  /** Every function, each with its stats (without the window's intervals). */
  async list(signal: AbortSignal): Promise<FunctionInfo[]> {
    const functions = await this.options.platform.list(signal);
    const recorder = this.options.metrics?.invocations;
    return recorder ? functions.map((fn) => ({ ...fn, stats: recorder.stats(fn.id) })) : functions;
  }

  /** One function, with its stats and the window's intervals. */
  async get(id: string, signal: AbortSignal): Promise<FunctionInfo> {
    const fn = await this.options.platform.get(validateId(id), signal);
    const recorder = this.options.metrics?.invocations;
    return recorder ? { ...fn, stats: recorder.stats(fn.id, { intervals: true }) } : fn;
  }

  /** What the function's current deploy was made of (env names only), or undefined without a record. */
  async source(id: string): Promise<FunctionSource | undefined> {
    return this.options.sources?.describe(validateId(id));
  }

  async remove(id: string, signal: AbortSignal): Promise<{ status: "deleted"; platform: PlatformName; functionId: string }> {
    // A deploy of the same id would hold the platform's lock until it ends: cancel it instead.
    const cancelled = this.deploys.cancel(validateId(id));
    try {
      await this.options.platform.remove(id, signal);
    } catch (error) {
      // A first deploy cancelled here leaves nothing to remove: the delete did what was asked.
      if (!(cancelled > 0 && isFaasError(error) && error.kind === "not_found")) throw error;
    }
    this.options.metrics?.forget(id);
    await this.options.sources?.remove(id);
    return { status: "deleted", platform: this.platformName, functionId: id };
  }

  logs(id: string, options: LogsOptions, signal: AbortSignal): AsyncIterable<LogLine> {
    validateId(id);
    if (options.follow && !this.capabilities.logsFollow) throw unsupported(this.platformName, "following logs");
    return this.options.platform.logs(id, options, signal);
  }

  async health(signal: AbortSignal): Promise<HealthReport> {
    const checks = await this.options.platform.health(signal);
    if (this.shuttingDown) checks.push({ name: "agent", ok: false, message: "shutting down" });
    return {
      status: checks.every((c) => c.ok) ? "healthy" : "degraded",
      platform: this.platformName,
      workflow: this.options.workflow,
      version: this.options.version,
      checks,
      isolation: this.options.platform.isolation ?? "container",
    };
  }

  private sourceStore(): SourceStore {
    if (!this.options.sources) throw invalidArgument("keep_env", "keep_env is not available: this agent records no function sources");
    return this.options.sources;
  }

  /** Marks the agent as shutting down: Health reports degraded from now on. */
  markShuttingDown(): void {
    this.shuttingDown = true;
  }
}
