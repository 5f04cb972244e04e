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
}

/** The outcome of a successful call. */
export interface InvokeOutcome {
  /** What `handle` returned, serialised as JSON text. */
  resultJson: string;
  /** Whether the function had to be started for this call. */
  coldStart: boolean;
}

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
 * A FaaS platform. Every method takes an AbortSignal where it does I/O and throws FaasError with
 * the platform's own error as `cause`.
 */
export interface Platform {
  readonly name: PlatformName;
  /** Deploys (or atomically replaces) a function, reporting progress through `emit`. */
  deploy(spec: DeploySpec, emit: DeployEmitter, signal: AbortSignal): Promise<FunctionInfo>;
  /** Calls `handle` with the JSON text `payloadJson`. */
  invoke(id: string, payloadJson: string, signal: AbortSignal): Promise<InvokeOutcome>;
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
