/** Domain types shared by the service and the platform adapters. No I/O here. */

export type PlatformName = "local" | "docker" | "knative" | "nuclio";

/** A validated deploy request (see spec.ts). */
export interface DeploySpec {
  id: string;
  /** Python source defining `handle(req)`. */
  handler: string;
  /** requirements.txt text; "" for none. */
  requirements: string;
  params: DeployParams;
  env: Record<string, string>;
  /** Platform settings; only those the platform supports (Capabilities.options) are set. */
  options: DeployOptions;
}

/** A deploy's platform settings (DeployOptions in the proto); unset = the platform's default. */
export interface DeployOptions {
  minScale?: number;
  /** 0 = unlimited where the platform allows it (Knative). */
  maxScale?: number;
  target?: number;
  /** A Go duration, e.g. "30s". */
  scaleToZeroRetention?: string;
  containerConcurrency?: number;
  timeoutSeconds?: number;
  resources?: Resources;
  workers?: number;
  /** The split once the deploy is ready; absent = all traffic to the new revision. */
  traffic?: TrafficTarget[];
}

/** The name of one deploy option, as Capabilities.options lists them. */
export type DeployOptionName = keyof DeployOptions;

/** Compute requests and limits; quantities as Kubernetes writes them ("250m", "512Mi"). */
export interface Resources {
  cpuRequest?: string;
  cpuLimit?: string;
  memoryRequest?: string;
  memoryLimit?: string;
  /** nvidia.com/gpu per instance. */
  gpu?: number;
}

/** One share of traffic: a named revision, or the latest ready one. */
export interface TrafficTarget {
  /** A revision name; "" when `latest`. */
  revision: string;
  latest: boolean;
  /** 0..100; the shares of one split add up to 100. */
  percent: number;
  /** "" for none. */
  tag: string;
  /** The tag's own URL (output only). */
  url?: string;
}

/** One immutable version of a function on platforms with revisions. */
export interface RevisionInfo {
  name: string;
  contentHash: string;
  image: string;
  ready: boolean;
  createdAt: Date;
}

/** The object a dry-run deploy would apply. */
export interface RenderedObject {
  /** e.g. "serving.knative.dev/v1 Service". */
  kind: string;
  /** The object as it would be sent to the platform's API (JSON-compatible). */
  object: Record<string, unknown>;
  /**
   * How the deploy's object would differ from `object`, each precisely (e.g. an image that would be
   * pushed first and run by a digest not known yet); empty when the deploy would send exactly it.
   */
  differences?: string[];
}

/** The template parameters a deploy may set; every value already validated. */
export interface DeployParams {
  PYTHON_VERSION?: string;
  PIP_INDEX_URL?: string;
  BASE_IMAGE?: string;
}

export type DeployPhase = "validating" | "packaging" | "building" | "deploying" | "ready";

/** One step of a deploy's progress, as adapters report it. */
export type DeployEvent =
  | { type: "phase"; phase: DeployPhase; time: Date }
  | { type: "log"; phase: DeployPhase; source: string; line: string; time: Date };

/** What a platform knows about a deployed function. */
export interface FunctionInfo {
  id: string;
  image: string;
  ready: boolean;
  state: string;
  platform: PlatformName;
  endpoint: string;
  createdAt: Date;
  updatedAt: Date;
  revision: string;
  pythonVersion: string;
  /** Why the function is not ready, in the platform's words; absent when ready. */
  message?: string;
  /** Revisions kept by the platform, newest first (Knative). */
  revisions?: RevisionInfo[];
  /** The traffic split (Knative). */
  traffic?: TrafficTarget[];
  /** The calls the agent counted (the core adds them for Get and List; platforms never set them). */
  stats?: FunctionStats;
}

/** A stretch of a function's recent calls: one interval, or the whole recent window. */
export interface StatsInterval {
  start: Date;
  seconds: number;
  calls: number;
  errors: number;
  /** Latency quantiles in seconds; undefined without calls. */
  p50?: number;
  p99?: number;
}

/** A function's calls as the agent counted them (FunctionStats in the proto). */
export interface FunctionStats {
  /** Calls that ended since the agent started. */
  invocations: number;
  errors: number;
  coldStarts: number;
  inflight: number;
  lastInvokedAt?: Date;
  /** The recent window (5 minutes) as one stretch. */
  window: StatsInterval;
  /** The window's intervals, oldest first; only when asked for (Get). */
  intervals?: StatsInterval[];
}

/** The outcome of a successful call. */
export interface InvokeOutcome {
  /** What `handle` returned, serialised as JSON text. */
  resultJson: string;
  /** Whether the function had to be started for this call. */
  coldStart: boolean;
}

/** A stream call under way (Platform.invokeStream). */
export interface InvokeStream {
  /** Each value the handler yields, as JSON text, as it comes; a plain handler's result is the one chunk. */
  readonly chunks: AsyncIterable<string>;
  /** Whether the function had to be started for this call; final once the chunks have ended. */
  readonly coldStart: boolean;
}

/**
 * How a platform delivers a stream call's chunks: `incremental` as the handler yields them (with
 * back-pressure and cancel), or `buffered`: all at once when the handler is done, because the
 * platform's runtime returns one response per call (Nuclio).
 */
export type StreamingMode = "incremental" | "buffered";

/** One line a function wrote. */
export interface LogLine {
  time: Date;
  stream: "stdout" | "stderr";
  line: string;
}

export interface LogsOptions {
  follow: boolean;
  /** Most recent lines to send first; 0 = all kept. */
  tail: number;
}

export interface HealthCheck {
  name: string;
  ok: boolean;
  message: string;
}

/** Sink for deploy progress. */
export type DeployEmitter = (event: DeployEvent) => void;

/**
 * What a platform supports, declared once in one object: the core refuses what is not declared
 * (an option with invalid_argument naming the field, an operation with unimplemented and reason
 * UNSUPPORTED), and the Capabilities RPC and `GET /capabilities` report it so that clients can ask
 * instead of trying. A new capability is a new required field here, so that every platform must
 * declare it.
 */
export interface Capabilities {
  /** The deploy options the platform honours; the core refuses any other option that is set. */
  readonly options: ReadonlySet<DeployOptionName>;
  /** Deploys with `dryRun` render the object the deploy would apply (Platform.render must exist). */
  readonly dryRun: boolean;
  /** Revisions with a traffic split between them (Platform.setTraffic must exist). */
  readonly traffic: boolean;
  /** Logs with `follow` keep streaming new lines until the caller cancels. */
  readonly logsFollow: boolean;
  /** How stream calls (Platform.invokeStream) deliver chunks. */
  readonly streaming: StreamingMode;
}

/**
 * A FaaS platform. Every method takes an AbortSignal where it does I/O and throws FaasError with
 * the platform's own error as `cause`.
 */
export interface Platform {
  readonly name: PlatformName;
  /** What this platform supports; the core answers anything else without calling it. */
  readonly capabilities: Capabilities;
  /** How its functions are isolated (HealthResponse.isolation); unset means each runs in its own container. */
  readonly isolation?: "bwrap" | "none";
  /** Deploys (or atomically replaces) a function, reporting progress through `emit`. */
  deploy(spec: DeploySpec, emit: DeployEmitter, signal: AbortSignal): Promise<FunctionInfo>;
  /**
   * Renders the object `deploy` would apply, building and applying nothing (dry run). Present
   * exactly when `capabilities.dryRun`.
   */
  render?(spec: DeploySpec, signal: AbortSignal): Promise<RenderedObject>;
  /**
   * Sets the traffic split between revisions (already checked: shares add up to 100, each names
   * a revision or latest). Present exactly when `capabilities.traffic`.
   */
  setTraffic?(id: string, traffic: TrafficTarget[], signal: AbortSignal): Promise<FunctionInfo>;
  /** Calls `handle` with the JSON text `payloadJson`. */
  invoke(id: string, payloadJson: string, signal: AbortSignal): Promise<InvokeOutcome>;
  /**
   * Calls `handle` as a stream (see InvokeStream; delivered as `capabilities.streaming` says).
   * Resolves once the function is found (FaasError not_found otherwise); call failures end the
   * chunks' iteration with the error a plain call would give; leaving the iteration early cancels.
   */
  invokeStream(id: string, payloadJson: string, signal: AbortSignal): Promise<InvokeStream>;
  /** Every function this agent deployed, ordered by id. */
  list(signal: AbortSignal): Promise<FunctionInfo[]>;
  /** One function, or FaasError not_found. */
  get(id: string, signal: AbortSignal): Promise<FunctionInfo>;
  /** Stops and removes a function, or FaasError not_found. */
  remove(id: string, signal: AbortSignal): Promise<void>;
  /** The function's output lines; ends when the signal aborts (follow) or the backlog is sent. */
  logs(id: string, options: LogsOptions, signal: AbortSignal): AsyncIterable<LogLine>;
  /** Checks of what the platform depends on. */
  health(signal: AbortSignal): Promise<HealthCheck[]>;
  /** Stops every process the platform started; functions stay deployed. */
  close(): Promise<void>;
}
