import { create, fromJson, toJson, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { timestampFromMs, ValueSchema } from "@bufbuild/protobuf/wkt";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { InvocationErrorSchema, InvocationSchema, type Invocation } from "../../gen/faas/v1/agent_pb.ts";
import { FaasError } from "../domain/errors.ts";
import { httpStatusOf, toConnectError } from "../server/errors.ts";
import type { InvocationRecord, StoredError } from "./types.ts";

/** A stored error as the FaasError a sync call would have thrown. */
export function faasErrorOf(error: StoredError): FaasError {
  return new FaasError(error.kind, error.message, { reason: error.reason, metadata: error.metadata });
}

/** A record as the Invocation message (the RPCs, WatchInvocation, callbacks and REST all use it). */
export function toInvocationMessage(r: InvocationRecord, withResult = true): Invocation {
  const error = r.error && faasErrorOf(r.error);
  return create(InvocationSchema, {
    invocationId: r.id,
    functionId: r.functionId,
    status: r.status,
    attempts: r.attempts,
    maxAttempts: r.maxAttempts,
    createdAt: timestampFromMs(r.createdAt),
    startedAt: r.startedAt ? timestampFromMs(r.startedAt) : undefined,
    finishedAt: r.finishedAt ? timestampFromMs(r.finishedAt) : undefined,
    nextAttemptAt: r.status === "queued" && r.attempts > 0 ? timestampFromMs(r.nextAttemptAt) : undefined,
    executionTime: r.executionTime,
    coldStart: r.coldStart,
    result: withResult && r.resultJson !== undefined ? fromJson(ValueSchema, JSON.parse(r.resultJson) as JsonValue) : undefined,
    error: error && create(InvocationErrorSchema, {
      code: codeToString(toConnectError(error).code),
      reason: error.reason,
      message: error.message,
      metadata: error.metadata,
      httpStatus: httpStatusOf(error),
    }),
    callbackUrl: r.callbackUrl,
    idempotencyKey: r.idempotencyKey,
    callbackStatus: r.callbackStatus,
  });
}

/**
 * An invocation as REST JSON (snake_case, every field present) and as the callback's body. The
 * result is the function's JSON as it returned it (a Value message would drop `__proto__` keys).
 */
export function invocationJson(r: InvocationRecord): JsonObject {
  const json = toJson(InvocationSchema, toInvocationMessage(r, false), { useProtoFieldName: true, alwaysEmitImplicit: true }) as JsonObject;
  json.result = r.resultJson === undefined ? null : (JSON.parse(r.resultJson) as JsonValue);
  if (!r.error) json.error = null;
  return json;
}
