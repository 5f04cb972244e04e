import { create, toJson, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { timestampFromDate, ValueSchema, type Value } from "@bufbuild/protobuf/wkt";
import {
  CapabilitiesResponseSchema,
  DeployOptionsSchema,
  DeployPhase,
  DeployResponseSchema,
  FunctionSchema,
  FunctionStatsSchema,
  type CapabilitiesResponse,
  type DeployOptions as DeployOptionsMessage,
  type DeployRequest,
  type DeployResponse,
  type Function as FunctionMessage,
  type FunctionStats as FunctionStatsMessage,
  type TrafficTarget as TrafficTargetMessage,
  StreamingMode,
} from "../../gen/faas/v1/agent_pb.ts";
import { invalidPayload, payloadJson } from "../domain/payload.ts";
import type { RawDeployRequest } from "../domain/spec.ts";
import type { Capabilities, DeployOptionName, FunctionStats, DeployOptions, DeployPhase as DomainPhase, FunctionInfo, PlatformName, TrafficTarget } from "../domain/types.ts";
import type { DeployProgress } from "./results.ts";

/**
 * The one conversion between the generated messages and the domain, used by the Connect service
 * and the REST routes alike (REST bodies are parsed into the same request messages first).
 */

const PHASES: Record<DomainPhase, DeployPhase> = {
  validating: DeployPhase.VALIDATING,
  packaging: DeployPhase.PACKAGING,
  building: DeployPhase.BUILDING,
  deploying: DeployPhase.DEPLOYING,
  ready: DeployPhase.READY,
};

/** A DeployRequest message as the core's raw deploy request (validated by the core). */
export function fromDeployRequest(req: DeployRequest): RawDeployRequest {
  return {
    id: req.id,
    handler: req.handler,
    requirements: req.requirements,
    params: req.params,
    env: req.env,
    options: fromOptionsMessage(req.options),
    dryRun: req.dryRun,
    keepEnv: req.keepEnv,
  };
}

/** DeployOptions as the domain's options; unset message fields stay unset. */
export function fromOptionsMessage(m: DeployOptionsMessage | undefined): DeployOptions | undefined {
  if (!m) return undefined;
  const r = m.resources;
  return {
    minScale: m.minScale,
    maxScale: m.maxScale,
    target: m.target,
    scaleToZeroRetention: m.scaleToZeroRetention || undefined,
    containerConcurrency: m.containerConcurrency,
    timeoutSeconds: m.timeoutSeconds,
    workers: m.workers,
    resources: r
      ? {
          cpuRequest: r.cpuRequest || undefined,
          cpuLimit: r.cpuLimit || undefined,
          memoryRequest: r.memoryRequest || undefined,
          memoryLimit: r.memoryLimit || undefined,
          gpu: r.gpu || undefined,
        }
      : undefined,
    traffic: m.traffic.length > 0 ? m.traffic.map(fromTrafficMessage) : undefined,
  };
}

/** A TrafficTarget message as the domain's. */
export function fromTrafficMessage(t: TrafficTargetMessage): TrafficTarget {
  return { revision: t.revision, latest: t.latest, percent: t.percent, tag: t.tag };
}

/** A deploy's progress event as a DeployResponse. */
export function toDeployResponse(event: DeployProgress): DeployResponse {
  const time = timestampFromDate(event.time);
  switch (event.type) {
    case "phase":
      return create(DeployResponseSchema, { time, event: { case: "phase", value: PHASES[event.phase] } });
    case "log":
      return create(DeployResponseSchema, {
        time,
        event: { case: "log", value: { phase: PHASES[event.phase], source: event.source, line: event.line } },
      });
    case "function":
      return create(DeployResponseSchema, { time, event: { case: "function", value: toFunctionMessage(event.function) } });
    case "dry_run":
      return create(DeployResponseSchema, {
        time,
        event: { case: "dryRun", value: { kind: event.rendered.kind, object: event.rendered.object as JsonObject, differences: event.rendered.differences ?? [] } },
      });
  }
}

/** A domain function as the Function message. */
export function toFunctionMessage(fn: FunctionInfo): FunctionMessage {
  return create(FunctionSchema, {
    id: fn.id,
    image: fn.image,
    status: "deployed",
    ready: fn.ready,
    state: fn.state,
    platform: fn.platform,
    endpoint: fn.endpoint,
    createdAt: timestampFromDate(fn.createdAt),
    updatedAt: timestampFromDate(fn.updatedAt),
    revision: fn.revision,
    pythonVersion: fn.pythonVersion,
    message: fn.message ?? "",
    revisions: (fn.revisions ?? []).map((r) => ({
      name: r.name,
      contentHash: r.contentHash,
      image: r.image,
      ready: r.ready,
      createdAt: timestampFromDate(r.createdAt),
    })),
    traffic: (fn.traffic ?? []).map((t) => ({ revision: t.revision, latest: t.latest, percent: t.percent, tag: t.tag, url: t.url ?? "" })),
    stats: fn.stats ? toStatsMessage(fn.stats) : undefined,
  });
}

/** A function's stats as the FunctionStats message (quantiles without calls are 0). */
function toStatsMessage(stats: FunctionStats): FunctionStatsMessage {
  const { window } = stats;
  return create(FunctionStatsSchema, {
    invocations: BigInt(stats.invocations),
    errors: BigInt(stats.errors),
    coldStarts: BigInt(stats.coldStarts),
    inflight: stats.inflight,
    lastInvokedAt: stats.lastInvokedAt ? timestampFromDate(stats.lastInvokedAt) : undefined,
    windowSeconds: window.seconds,
    recentInvocations: BigInt(window.calls),
    recentErrors: BigInt(window.errors),
    latencyP50Seconds: window.p50 ?? 0,
    latencyP99Seconds: window.p99 ?? 0,
    intervals: (stats.intervals ?? []).map((i) => ({
      startTime: timestampFromDate(i.start),
      seconds: i.seconds,
      invocations: BigInt(i.calls),
      errors: BigInt(i.errors),
      latencyP50Seconds: i.p50 ?? 0,
      latencyP99Seconds: i.p99 ?? 0,
    })),
  });
}

/**
 * A platform's capabilities as the CapabilitiesResponse: options by their proto names, in the
 * order DeployOptions declares them (the domain's option names are the fields' local names).
 */
export function toCapabilitiesResponse(platform: PlatformName, caps: Capabilities): CapabilitiesResponse {
  return create(CapabilitiesResponseSchema, {
    platform,
    options: DeployOptionsSchema.fields.filter((f) => caps.options.has(f.localName as DeployOptionName)).map((f) => f.name),
    dryRun: caps.dryRun,
    traffic: caps.traffic,
    logsFollow: caps.logsFollow,
    streaming: caps.streaming === "buffered" ? StreamingMode.BUFFERED : StreamingMode.INCREMENTAL,
  });
}

/** An Invoke-like request's payload as the JSON text the core takes ("null" when absent; checked as payloadToJson says). */
export function requestPayloadJson(payload: Value | undefined): string {
  return payloadJson(payload ? payloadToJson(payload) : undefined);
}

/**
 * The JSON of an Invoke payload. A Struct key "__proto__" set the fields' prototype while the
 * message was decoded (and would vanish without a word), and a number JSON cannot carry (1e400
 * read as Infinity) makes toJson throw: both are refused as INVALID_PAYLOAD.
 */
function payloadToJson(value: Value): JsonValue {
  const stack: Value[] = [value];
  while (stack.length > 0) {
    const v = stack.pop()!;
    if (v.kind.case === "structValue") {
      const fields = v.kind.value.fields;
      if (Object.getPrototypeOf(fields) !== Object.prototype) throw invalidPayload("payload keys named __proto__ are not supported over Connect and gRPC");
      stack.push(...Object.values(fields));
    } else if (v.kind.case === "listValue") {
      stack.push(...v.kind.value.values);
    } else if (v.kind.case === "numberValue" && !Number.isFinite(v.kind.value)) {
      throw invalidPayload("payload holds a number outside the range of a double");
    }
  }
  return toJson(ValueSchema, value);
}
