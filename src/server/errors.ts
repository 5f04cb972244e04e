import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.ts";
import { violationsToProto, type Violation } from "@bufbuild/protovalidate";
import { FaasError, isFaasError, type FaasErrorKind } from "../domain/errors.ts";
import { violationError } from "../service/validation.ts";
import { firstLine, wasReported } from "../service/failures.ts";

/** An error detail as a ConnectError is constructed with (a descriptor and a message). */
type OutgoingDetail = Extract<ConnectError["details"][number], { desc: unknown }>;

/** ErrorInfo.domain of every error the agent reports. */
export const ERROR_DOMAIN = "radical-faas";

/**
 * The one table from error kinds to protocol codes. REST status codes follow the prototype's
 * README: 400 for an invalid request, 404 for an unknown function, 500 for a failed deploy or a
 * failed call; 401 and 413 are added for authentication and the size limit.
 */
const KINDS: Record<FaasErrorKind, { code: Code; http: number }> = {
  invalid_argument: { code: Code.InvalidArgument, http: 400 },
  not_found: { code: Code.NotFound, http: 404 },
  already_exists: { code: Code.AlreadyExists, http: 409 },
  failed_precondition: { code: Code.FailedPrecondition, http: 500 },
  resource_exhausted: { code: Code.ResourceExhausted, http: 413 },
  unauthenticated: { code: Code.Unauthenticated, http: 401 },
  unavailable: { code: Code.Unavailable, http: 500 },
  deadline_exceeded: { code: Code.DeadlineExceeded, http: 500 },
  function_error: { code: Code.Unknown, http: 500 },
  cancelled: { code: Code.Canceled, http: 499 },
  unimplemented: { code: Code.Unimplemented, http: 501 },
  internal: { code: Code.Internal, http: 500 },
};

/** The REST status code for a FaasError. */
export function httpStatusOf(error: FaasError): number {
  // A deploy that ran out of time is the gateway's timeout; a call's timeout stays the prototype's 500.
  if (error.reason === "DEPLOY_TIMEOUT") return 504;
  // Cancelling an invocation that already ended conflicts with its state (no prototype route to follow).
  if (error.reason === "INVOCATION_FINISHED") return 409;
  return KINDS[error.kind].http;
}

/** A FaasError as a ConnectError with a google.rpc.ErrorInfo detail. */
export function toConnectError(error: FaasError): ConnectError {
  const info = create(ErrorInfoSchema, { reason: error.reason, domain: ERROR_DOMAIN, metadata: error.metadata });
  return new ConnectError(error.message, KINDS[error.kind].code, undefined, [{ desc: ErrorInfoSchema, value: info }]);
}

/**
 * Any error as a FaasError: FaasErrors as they are, ConnectErrors by their code, and anything else
 * masked as internal (the cause is logged by the caller, never sent).
 */
export function asFaasError(error: unknown): FaasError {
  if (isFaasError(error)) return error;
  if (error instanceof ConnectError) {
    if (error.code === Code.ResourceExhausted) return new FaasError("resource_exhausted", error.rawMessage, { reason: "REQUEST_TOO_LARGE" });
    if (error.code === Code.DeadlineExceeded) return new FaasError("deadline_exceeded", error.rawMessage, { reason: "INVOKE_TIMEOUT" });
    if (error.code === Code.Canceled) return new FaasError("cancelled", error.rawMessage, { reason: "CANCELLED" });
  }
  return new FaasError("internal", "internal error", { reason: "INTERNAL", cause: error });
}

/**
 * Turns whatever a handler throws into a ConnectError: FaasErrors through the table above,
 * ConnectErrors as they are (Connect's own: deadline, size limits), anything else masked as
 * internal with the cause logged; every failure not logged by the core is logged once here.
 */
export function errorInterceptor(logger: Logger): Interceptor {
  const convert = (error: unknown, method: string, requestId: string): ConnectError => {
    const { rpc, faas } = describeFailure(error);
    logFailedRequest(logger, error, faas, { rpc: method, requestId });
    return rpc;
  };
  return (next) => async (req) => {
    const requestId = req.header.get("x-request-id") ?? "";
    try {
      const res = await next(req);
      if (!res.stream) return res;
      return {
        ...res,
        message: (async function* () {
          try {
            yield* res.message;
          } catch (error) {
            throw convert(error, req.method.name, requestId);
          }
        })(),
      };
    } catch (error) {
      throw convert(error, req.method.name, requestId);
    }
  };
}

/**
 * One log line for a request that failed outside the core's own reports (those are logged where
 * they happen, service/failures.ts): warn with the reason, error with the cause for an internal
 * error, debug for a caller that went away. Never headers, so never a token.
 */
export function logFailedRequest(logger: Logger, error: unknown, faas: FaasError, fields: Record<string, unknown>): void {
  if (wasReported(error)) return;
  const line = { ...fields, reason: faas.reason, status: httpStatusOf(faas) };
  if (faas.kind === "internal") logger.error({ ...line, err: faas.cause ?? error }, "internal error");
  else if (faas.kind === "cancelled") logger.debug(line, "request cancelled");
  else logger.warn({ ...line, detail: firstLine(faas.message) }, "request failed");
}

/** Whatever a handler threw as the ConnectError its caller gets, and as the FaasError it is logged as. */
function describeFailure(error: unknown): { rpc: ConnectError; faas: FaasError } {
  if (error instanceof ConnectError) {
    // The validate interceptor's error: add the ErrorInfo every other error carries, and keep its
    // buf.validate.Violations detail.
    const violations = (error.cause as { name?: string; violations?: Violation[] } | undefined)?.violations;
    if (error.code !== Code.InvalidArgument || !violations?.length) return { rpc: error, faas: asFaasError(error) };
    const faas = violationError(violations);
    const info = toConnectError(faas);
    const [value, desc] = violationsToProto(violations);
    return { rpc: new ConnectError(info.rawMessage, info.code, undefined, [...(info.details as OutgoingDetail[]), { desc, value }], error.cause), faas };
  }
  const faas = asFaasError(error);
  return { rpc: toConnectError(faas), faas };
}
