import { create, fromJson, toJson, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { timestampFromDate, ValueSchema, type Value } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import {
  DeleteResponseSchema,
  DeployPhase,
  DeployResponseSchema,
  FaasAgent,
  FunctionSchema,
  GetResponseSchema,
  HealthResponseSchema,
  InvokeResponseSchema,
  ListResponseSchema,
  LogsResponseSchema,
  SetTrafficResponseSchema,
  type DeployOptions as DeployOptionsMessage,
  type DeployResponse,
  type TrafficTarget as TrafficTargetMessage,
  type Function as FunctionMessage,
} from "../../gen/faas/v1/agent_pb.ts";
import { checkPayload, invalidPayload } from "../domain/payload.ts";
import type { DeployOptions, DeployPhase as DomainPhase, FunctionInfo, TrafficTarget } from "../domain/types.ts";
import type { AgentCore, DeployProgress } from "./core.ts";

const PHASES: Record<DomainPhase, DeployPhase> = {
  validating: DeployPhase.VALIDATING,
  packaging: DeployPhase.PACKAGING,
  building: DeployPhase.BUILDING,
  deploying: DeployPhase.DEPLOYING,
  ready: DeployPhase.READY,
};

/**
 * The FaasAgent service: converts generated messages to domain calls on the core and back. Errors
 * are FaasErrors; the error interceptor (server/errors.ts) turns them into Connect errors.
 */
export function createFaasAgentService(core: AgentCore): ServiceImpl<typeof FaasAgent> {
  return {
    async *deploy(req, ctx: HandlerContext) {
      const progress = core.deploy(
        {
          id: req.id,
          handler: req.handler,
          requirements: req.requirements,
          params: req.params,
          env: req.env,
          options: fromOptionsMessage(req.options),
          dryRun: req.dryRun,
        },
        ctx.signal,
      );
      for await (const event of progress) yield toDeployResponse(event);
    },

    async invoke(req, ctx) {
      const payload = req.payload ? payloadToJson(req.payload) : undefined;
      checkPayload(payload);
      const payloadJson = payload === undefined ? "{}" : JSON.stringify(payload);
      const out = await core.invoke(req.id, payloadJson, ctx.signal);
      return create(InvokeResponseSchema, {
        result: fromJson(ValueSchema, out.result as JsonValue),
        status: "success",
        executionTime: out.executionTime,
        platform: out.platform,
        coldStart: out.coldStart,
      });
    },

    async list(_req, ctx) {
      const functions = await core.list(ctx.signal);
      return create(ListResponseSchema, { functions: functions.map(toFunctionMessage) });
    },

    async get(req, ctx) {
      return create(GetResponseSchema, { function: toFunctionMessage(await core.get(req.id, ctx.signal)) });
    },

    async delete(req, ctx) {
      return create(DeleteResponseSchema, await core.remove(req.id, ctx.signal));
    },

    async setTraffic(req, ctx) {
      const fn = await core.setTraffic(req.id, req.traffic.map(fromTrafficMessage), ctx.signal);
      return create(SetTrafficResponseSchema, { function: toFunctionMessage(fn) });
    },

    async *logs(req, ctx) {
      for await (const line of core.logs(req.id, { follow: req.follow, tail: req.tail }, ctx.signal)) {
        yield create(LogsResponseSchema, { time: timestampFromDate(line.time), stream: line.stream, line: line.line });
      }
    },

    async health(_req, ctx) {
      return create(HealthResponseSchema, await core.health(ctx.signal));
    },
  };
}

function toDeployResponse(event: DeployProgress): DeployResponse {
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
        event: {
          case: "dryRun",
          value: { kind: event.rendered.kind, object: event.rendered.object as JsonObject },
        },
      });
  }
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
  });
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
