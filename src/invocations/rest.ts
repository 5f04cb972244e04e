import type { IncomingMessage, ServerResponse } from "node:http";
import {
  CancelInvocationRequestSchema,
  GetInvocationRequestSchema,
  InvokeAsyncRequestSchema,
  ListInvocationsRequestSchema,
} from "../../gen/faas/v1/agent_pb.ts";
import { unsupported } from "../domain/errors.ts";
import { payloadJson } from "../domain/payload.ts";
import { readJsonObject, requestFromJson } from "../server/rest-body.ts";
import type { RequestValidation } from "../service/validation.ts";
import { invocationJson } from "./messages.ts";
import { DEFAULT_PAGE_SIZE } from "./rpc.ts";
import type { InvocationService } from "./service.ts";
import type { InvocationStatus } from "./types.ts";

type Handler = (req: IncomingMessage, res: ServerResponse, signal: AbortSignal) => Promise<void>;
type Send = (res: ServerResponse, status: number, body: unknown) => void;

export interface InvocationRestOptions {
  service: InvocationService | undefined;
  platform: string;
  validation: RequestValidation;
  maxBodyBytes: number;
  send: Send;
}

/**
 * The REST routes of async invocations: POST /async-invoke (the body of /invoke plus
 * callback_url, idempotency_key, max_attempts) → 202 {"invocation_id", "status"}; GET
 * /invocations?function_id=…&status=…&page_size=…&page_token=…; GET /invocations/{id}; POST
 * /invocations/{id}/cancel. Requests are decoded into the RPC messages and checked by the same rules.
 */
export function invocationRoutes(options: InvocationRestOptions): {
  exact: Record<string, Record<string, Handler>>;
  match(path: string): Record<string, Handler> | undefined;
} {
  const { validation, send } = options;
  const svc = (): InvocationService => {
    if (!options.service) throw unsupported(options.platform, "async invocation");
    return options.service;
  };
  return {
    exact: {
      "/async-invoke": {
        POST: async (req, res) => {
          const { payload, ...rest } = await readJsonObject(req, options.maxBodyBytes);
          const request = validation.check(InvokeAsyncRequestSchema, requestFromJson(InvokeAsyncRequestSchema, rest));
          const { record, duplicate } = await svc().accept({
            functionId: request.id,
            payloadJson: payloadJson(payload),
            callbackUrl: request.callbackUrl,
            idempotencyKey: request.idempotencyKey,
            maxAttempts: request.maxAttempts,
          });
          send(res, 202, { invocation_id: record.id, status: record.status, ...(duplicate ? { duplicate: true } : {}) });
        },
      },
      "/invocations": {
        GET: async (req, res) => {
          const query = new URL(req.url ?? "/", "http://agent").searchParams;
          const body: Record<string, unknown> = {};
          for (const name of ["function_id", "status", "page_token"]) {
            const value = query.get(name);
            if (value !== null) body[name] = value;
          }
          const size = query.get("page_size") ?? query.get("limit");
          if (size !== null) body.page_size = /^\d{1,9}$/.test(size) ? Number(size) : size;
          const request = validation.check(ListInvocationsRequestSchema, requestFromJson(ListInvocationsRequestSchema, body));
          const page = await svc().list({
            functionId: request.functionId || undefined,
            status: (request.status || undefined) as InvocationStatus | undefined,
            limit: request.pageSize || DEFAULT_PAGE_SIZE,
            pageToken: request.pageToken || undefined,
          });
          send(res, 200, { invocations: page.records.map(invocationJson), next_page_token: page.nextPageToken });
        },
      },
    },
    match(path): Record<string, Handler> | undefined {
      const found = /^\/invocations\/([^/]+)(\/cancel)?$/.exec(path);
      if (!found) return undefined;
      let invocationId = found[1];
      try {
        invocationId = decodeURIComponent(invocationId);
      } catch {
        // not percent-encoded UTF-8: the id rule refuses it as it is
      }
      if (found[2]) {
        const cancel: Record<string, Handler> = {
          POST: async (_req, res) => {
            const request = validation.check(CancelInvocationRequestSchema, requestFromJson(CancelInvocationRequestSchema, { invocation_id: invocationId }));
            send(res, 200, invocationJson(await svc().cancel(request.invocationId)));
          },
        };
        return cancel;
      }
      const one: Record<string, Handler> = {
        GET: async (_req, res) => {
          const request = validation.check(GetInvocationRequestSchema, requestFromJson(GetInvocationRequestSchema, { invocation_id: invocationId }));
          send(res, 200, invocationJson(await svc().get(request.invocationId)));
        },
      };
      return one;
    },
  };
}
