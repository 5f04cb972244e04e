import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type MetricObjectWithValues, type MetricType, type MetricValueWithName } from "prom-client";
import type { FunctionInfo, PlatformName } from "../domain/types.ts";
import { InvocationRecorder, OPENFAAS_BUCKETS, type FunctionCalls } from "./invocations.ts";

/** Buckets of faas_deploy_duration_seconds: an unchanged redeploy takes milliseconds, an image build minutes. */
const DEPLOY_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

/** How a deploy ended, the `result` label of faas_deploys_total. */
export type DeployResult = "success" | "failure" | "cancelled";

export interface AgentMetricsOptions {
  platform: PlatformName;
  /**
   * The REST status code a failed call is answered with (server/errors.ts): the `code` label of a
   * failed call, whatever protocol carried it, as OpenFaaS labels calls by their HTTP status.
   */
  statusOf: (error: unknown) => number;
  /** The functions now, for faas_functions{platform, state}; asked at each scrape. */
  listFunctions?: (signal: AbortSignal) => Promise<FunctionInfo[]>;
}

/**
 * The agent's Prometheus metrics, one registry per agent (tests run several in a process), plus the
 * process's default metrics (one registry per process: they describe the process). The invocation
 * metrics are filled from the InvocationRecorder when scraped, so the invoke path only counts
 * numbers; deploys, cold starts and worker restarts are rare and go straight to prom-client.
 */
export class AgentMetrics {
  readonly invocations = new InvocationRecorder();
  private readonly registry = new Registry();
  private readonly deploys: Counter<"platform" | "result">;
  private readonly deploySeconds: Histogram<"platform" | "result">;
  private readonly coldStarts: Counter<"function_name">;
  private readonly restarts: Counter<"function_name" | "reason">;

  constructor(private readonly options: AgentMetricsOptions) {
    const registers = [this.registry];
    const recorder = this.invocations;
    new Counter({
      name: "gateway_function_invocation_total",
      help: "Function calls that ended, by function and by the HTTP status of the outcome (OpenFaaS-compatible)",
      labelNames: ["function_name", "code"],
      registers,
      collect() {
        this.reset();
        for (const calls of recorder.functions()) for (const s of calls.series()) this.inc({ function_name: calls.id, code: s.code }, s.count);
      },
    });
    new Counter({
      name: "gateway_function_invocation_started",
      help: "Function calls that started (OpenFaaS-compatible)",
      labelNames: ["function_name"],
      registers,
      collect() {
        this.reset();
        for (const calls of recorder.functions()) this.inc({ function_name: calls.id }, calls.started);
      },
    });
    new RecordedHistogram(
      { name: "gateway_functions_seconds", help: "Time a function call took inside the agent, cold start included (OpenFaaS-compatible)", labelNames: ["function_name", "code"], buckets: [...OPENFAAS_BUCKETS], registers },
      () => recorder.functions(),
    );
    new Gauge({
      name: "faas_inflight_invocations",
      help: "Function calls in progress",
      labelNames: ["function_name"],
      registers,
      collect() {
        this.reset();
        for (const calls of recorder.functions()) this.set({ function_name: calls.id }, calls.inflight);
      },
    });
    const list = options.listFunctions;
    new Gauge({
      name: "faas_functions",
      help: "Deployed functions by platform and state",
      labelNames: ["platform", "state"],
      registers,
      async collect() {
        this.reset();
        if (!list) return;
        // A platform that does not answer leaves the gauge empty rather than failing the scrape.
        const functions = await list(AbortSignal.timeout(5_000)).catch(() => []);
        for (const fn of functions) this.inc({ platform: fn.platform, state: fn.state || "unknown" });
      },
    });
    this.deploys = new Counter({ name: "faas_deploys_total", help: "Deploys that ended, by platform and result (success, failure, cancelled)", labelNames: ["platform", "result"], registers });
    this.deploySeconds = new Histogram({ name: "faas_deploy_duration_seconds", help: "Time a deploy took, validation to ready", labelNames: ["platform", "result"], buckets: DEPLOY_BUCKETS, registers });
    this.coldStarts = new Counter({ name: "faas_cold_starts_total", help: "Calls that had to start the function first", labelNames: ["function_name"], registers });
    this.restarts = new Counter({
      name: "faas_worker_restarts_total",
      help: "Times a function's worker (process or container) went away while serving, by reason; the next call starts a new one",
      labelNames: ["function_name", "reason"],
      registers,
    });
  }

  /** The content type of `text()`. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The scrape: the process's default metrics, then the agent's. */
  async text(): Promise<string> {
    const [process, agent] = await Promise.all([processRegistry().metrics(), this.registry.metrics()]);
    return `${process}\n${agent}`;
  }

  /** A call found the function scaled to zero (or its worker gone) and started it. */
  coldStart(calls: FunctionCalls): void {
    this.coldStarts.inc({ function_name: calls.id });
  }

  deployFinished(result: DeployResult, seconds: number): void {
    const labels = { platform: this.options.platform, result };
    this.deploys.inc(labels);
    this.deploySeconds.observe(labels, seconds);
  }

  /** A function's worker went away while it was serving (`reason`: exited, retired, …). */
  workerRestarted(functionId: string, reason: string): void {
    this.restarts.inc({ function_name: functionId, reason });
  }

  /** A deleted function's series go with it. */
  forget(functionId: string): void {
    this.invocations.forget(functionId);
    this.coldStarts.remove({ function_name: functionId });
    for (const reason of RESTART_REASONS) this.restarts.remove({ function_name: functionId, reason });
  }

  /** The REST status of a failed call's error (AgentMetricsOptions.statusOf). */
  statusOf(error: unknown): number {
    return this.options.statusOf(error);
  }
}

/** The reasons platforms report worker restarts with (see workerRestarted). */
export const RESTART_REASONS = ["exited", "retired"] as const;

/**
 * A histogram whose figures are kept by the InvocationRecorder (plain numbers on the invoke path)
 * and only turned into prom-client's values when scraped. prom-client has no way to set a
 * histogram's buckets, so its two readers are overridden: `get` (JSON) and `getForPromString`,
 * which the registry prefers for the text format (prom-client 15 lib/registry.js,
 * getMetricsAsString). test/metrics.test.ts checks the exposition, so a prom-client that reads
 * histograms differently fails there.
 */
class RecordedHistogram extends Histogram<"function_name" | "code"> {
  private readonly metricName: string;
  private readonly metricHelp: string;

  constructor(
    config: ConstructorParameters<typeof Histogram<"function_name" | "code">>[0],
    private readonly source: () => Iterable<FunctionCalls>,
  ) {
    super(config);
    this.metricName = config.name;
    this.metricHelp = config.help;
  }

  /** What the registry formats as text (prom-client's own reader, not in its type declarations). */
  getForPromString(): Promise<MetricObjectWithValues<MetricValueWithName<"function_name" | "code">>> {
    return this.get();
  }

  override async get(): Promise<MetricObjectWithValues<MetricValueWithName<"function_name" | "code">>> {
    const name = this.metricName;
    const values: MetricValueWithName<"function_name" | "code">[] = [];
    for (const calls of this.source()) {
      for (const s of calls.series()) {
        const labels = { function_name: calls.id, code: s.code };
        let cumulative = 0;
        for (let i = 0; i < OPENFAAS_BUCKETS.length; i++) {
          cumulative += s.buckets[i]!;
          values.push({ metricName: `${name}_bucket`, labels: bucket(labels, OPENFAAS_BUCKETS[i]!), value: cumulative });
        }
        values.push({ metricName: `${name}_bucket`, labels: bucket(labels, "+Inf"), value: s.count });
        values.push({ metricName: `${name}_sum`, labels, value: s.sum });
        values.push({ metricName: `${name}_count`, labels, value: s.count });
      }
    }
    return { name, help: this.metricHelp, type: HISTOGRAM, values, aggregator: "sum", collect: () => undefined };
  }
}

/** prom-client declares `type` as a numeric enum its JavaScript does not export; the registry writes the string. */
const HISTOGRAM = "histogram" as unknown as MetricType;

/** A bucket's labels: the series' own and `le` (which prom-client's label types leave out). */
function bucket(labels: Record<string, string>, le: number | string): Record<string, string | number> {
  return { ...labels, le };
}

let processMetrics: Registry | undefined;

/** The process's default metrics (CPU, memory, event loop, GC), registered once per process. */
function processRegistry(): Registry {
  if (!processMetrics) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics });
  }
  return processMetrics;
}
