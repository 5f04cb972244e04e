import { create, fromJson, type JsonValue } from "@bufbuild/protobuf";
import { timestampFromDate, ValueSchema } from "@bufbuild/protobuf/wkt";
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
import { invocationRpcs } from "../invocations/rpc.ts";
import type { InvocationService } from "../invocations/service.ts";
import type { AgentCore } from "./core.ts";
import { fromDeployRequest, fromTrafficMessage, requestPayloadJson, toCapabilitiesResponse, toDeployResponse, toFunctionMessage } from "./messages.ts";

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
      const out = await core.invoke(req.id, requestPayloadJson(req.payload), ctx.signal, requestId(ctx));
      return create(InvokeResponseSchema, {
        result: fromJson(ValueSchema, out.result as JsonValue),
        status: "success",
        executionTime: out.executionTime,
        platform: out.platform,
        coldStart: out.coldStart,
      });
    },

    async *invokeStream(req, ctx) {
      for await (const event of core.invokeStream(req.id, requestPayloadJson(req.payload), ctx.signal, requestId(ctx))) {
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

/** The request's id, which the server put in the request's x-request-id header (server/request-id.ts). */
function requestId(ctx: HandlerContext): string {
  return ctx.requestHeader.get("x-request-id") ?? "";
}
