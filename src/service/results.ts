import type { DeployEvent, FunctionInfo, HealthCheck, PlatformName, RenderedObject } from "../domain/types.ts";

/* What AgentCore (service/core.ts) answers, whatever the protocol: REST and Connect map these. */

/**
 * A deploy's progress as the service reports it: the platform's events, then the function (or,
 * for a dry run, the object that would be applied).
 */
export type DeployProgress =
  | DeployEvent
  | { type: "function"; function: FunctionInfo; time: Date }
  | { type: "dry_run"; rendered: RenderedObject; time: Date };

export interface InvokeResult {
  /** What `handle` returned, as JSON text: checked to be one JSON value within the result limit. */
  resultJson: string;
  /** The same, parsed. */
  result: unknown;
  /** Seconds the call took inside the agent, cold start included. */
  executionTime: number;
  coldStart: boolean;
  platform: PlatformName;
}

/** One event of a stream call: a chunk as the handler yielded it, then the end. */
export type StreamEvent =
  | { type: "chunk"; resultJson: string; result: unknown }
  | { type: "end"; executionTime: number; coldStart: boolean; platform: PlatformName; chunks: number };

export interface HealthReport {
  status: "healthy" | "degraded";
  platform: PlatformName;
  workflow: string;
  version: string;
  checks: HealthCheck[];
  /** How functions are isolated: "bwrap", "none" (local) or "container". */
  isolation: string;
}
