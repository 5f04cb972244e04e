import { create, fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { timestampFromDate, ValueSchema, type Value } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import {
  DeleteResponseSchema,
  FaasAgent,
  GetResponseSchema,
  HealthResponseSchema,
  InvokeResponseSchema,
  InvokeStreamResponseSchema,
  ListResponseSchema,
  LogsResponseSchema,
  SetTrafficResponseSchema,
} from "../../gen/faas/v1/agent_pb.ts";
import { invalidPayload, payloadJson } from "../domain/payload.ts";
import { invocationRpcs } from "../invocations/rpc.ts";
import type { InvocationService } from "../invocations/service.ts";
import type { AgentCore } from "./core.ts";
import { fromDeployRequest, fromTrafficMessage, toCapabilitiesResponse, toDeployResponse, toFunctionMessage } from "./messages.ts";

/**
 * The FaasAgent service: converts generated messages to domain calls on the core and back (through
 * messages.ts, which the REST routes share). Errors are FaasErrors; the error interceptor
 * (server/errors.ts) turns them into Connect errors.
 */
export function createFaasAgentService(core: AgentCore, invocations?: InvocationService): ServiceImpl<typeof FaasAgent> {
  return {
    ...invocationRpcs(invocations, core.platformName),

    async *deploy(req, ctx: HandlerContext) {
      for await (const event of core.deploy(fromDeployRequest(req), ctx.signal, requestId(ctx))) yield toDeployResponse(event);
    },

    async invoke(req, ctx) {
      const out = await core.invoke(req.id, payloadJson(req.payload ? payloadToJson(req.payload) : undefined), ctx.signal, requestId(ctx));
      return create(InvokeResponseSchema, {
        result: fromJson(ValueSchema, out.result as JsonValue),
        status: "success",
        executionTime: out.executionTime,
        platform: out.platform,
        coldStart: out.coldStart,
      });
    },

    async *invokeStream(req, ctx) {
      for await (const event of core.invokeStream(req.id, payloadJson(req.payload ? payloadToJson(req.payload) : undefined), ctx.signal, requestId(ctx))) {
        if (event.type === "chunk") yield create(InvokeStreamResponseSchema, { event: { case: "chunk", value: fromJson(ValueSchema, event.result as JsonValue) } });
        else yield create(InvokeStreamResponseSchema, { event: { case: "end", value: { status: "success", executionTime: event.executionTime, platform: event.platform, coldStart: event.coldStart, chunks: BigInt(event.chunks) } } });
      }
    },

    async list(_req, ctx) {
      const functions = await core.list(ctx.signal);
      return create(ListResponseSchema, { functions: functions.map(toFunctionMessage) });
    },

    async get(req, ctx) {
      const [fn, source] = await Promise.all([core.get(req.id, ctx.signal), core.source(req.id)]);
      return create(GetResponseSchema, { function: toFunctionMessage(fn), source });
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

    capabilities() {
      return toCapabilitiesResponse(core.platformName, core.capabilities);
    },
  };
}

/**
 * The JSON of an Invoke payload. A Struct key "__proto__" set the fields' prototype while the
 * message was decoded (and would vanish without a word), and a number JSON cannot carry (1e400
 * read as Infinity) makes toJson throw: both are refused as INVALID_PAYLOAD.
 */
export function payloadToJson(value: Value): JsonValue {
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

/** The request's id, which the server put in the request's x-request-id header (server/request-id.ts). */
function requestId(ctx: HandlerContext): string {
  return ctx.requestHeader.get("x-request-id") ?? "";
}
