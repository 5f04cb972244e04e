import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import {
  CancelInvocationResponseSchema,
  GetInvocationResponseSchema,
  InvokeAsyncResponseSchema,
  ListInvocationsResponseSchema,
  WatchInvocationResponseSchema,
  type CancelInvocationRequest,
  type GetInvocationRequest,
  type InvokeAsyncRequest,
  type ListInvocationsRequest,
  type WatchInvocationRequest,
} from "../../gen/faas/v1/agent_pb.ts";
import { unsupported } from "../domain/errors.ts";
import { requestPayloadJson } from "../service/messages.ts";
import { toInvocationMessage } from "./messages.ts";
import type { InvocationService } from "./service.ts";
import type { InvocationStatus } from "./types.ts";

/** Page size when a request sets none. */
export const DEFAULT_PAGE_SIZE = 50;

/**
 * The async RPCs of FaasAgent (InvokeAsync, GetInvocation, ListInvocations, CancelInvocation,
 * WatchInvocation) on the invocation service; the requests were validated by the interceptor.
 * Without a service (an agent built without one) each answers UNSUPPORTED.
 */
export function invocationRpcs(service: InvocationService | undefined, platform: string) {
  const svc = (): InvocationService => {
    if (!service) throw unsupported(platform, "async invocation");
    return service;
  };
  return {
    async invokeAsync(req: InvokeAsyncRequest) {
      const { record, duplicate } = await svc().accept({
        functionId: req.id,
        payloadJson: requestPayloadJson(req.payload),
        callbackUrl: req.callbackUrl,
        idempotencyKey: req.idempotencyKey,
        maxAttempts: req.maxAttempts,
      });
      return create(InvokeAsyncResponseSchema, { invocationId: record.id, status: record.status, duplicate });
    },

    async getInvocation(req: GetInvocationRequest) {
      return create(GetInvocationResponseSchema, { invocation: toInvocationMessage(await svc().get(req.invocationId)) });
    },

    async listInvocations(req: ListInvocationsRequest) {
      const page = await svc().list({
        functionId: req.functionId || undefined,
        status: (req.status || undefined) as InvocationStatus | undefined,
        limit: req.pageSize || DEFAULT_PAGE_SIZE,
        pageToken: req.pageToken || undefined,
      });
      return create(ListInvocationsResponseSchema, { invocations: page.records.map((r) => toInvocationMessage(r)), nextPageToken: page.nextPageToken });
    },

    async cancelInvocation(req: CancelInvocationRequest) {
      return create(CancelInvocationResponseSchema, { invocation: toInvocationMessage(await svc().cancel(req.invocationId)) });
    },

    async *watchInvocation(req: WatchInvocationRequest, ctx: HandlerContext) {
      for await (const record of svc().watch(req.invocationId, ctx.signal)) {
        yield create(WatchInvocationResponseSchema, { invocation: toInvocationMessage(record) });
      }
    },
  };
}
