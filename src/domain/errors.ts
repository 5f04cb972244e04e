/**
 * The one error type the agent's domain, adapters and runtime throw. The server maps `kind` to a
 * Connect code and a REST status code (src/server/errors.ts); `reason` becomes the
 * google.rpc.ErrorInfo reason, `metadata` its metadata.
 */
export type FaasErrorKind =
  | "invalid_argument"
  | "not_found"
  | "already_exists"
  | "failed_precondition"
  | "resource_exhausted"
  | "unauthenticated"
  | "unavailable"
  | "deadline_exceeded"
  | "function_error"
  | "cancelled"
  | "unimplemented"
  | "internal";

/** Stable machine-readable reasons, UPPER_SNAKE as google.rpc.ErrorInfo wants them. */
export type FaasErrorReason =
  | "INVALID_REQUEST"
  | "HANDLER_INVALID"
  | "PYTHON_UNAVAILABLE"
  | "DEPENDENCY_INSTALL_FAILED"
  | "FUNCTION_NOT_FOUND"
  | "FUNCTION_ERROR"
  | "RESULT_NOT_SERIALIZABLE"
  | "WORKER_CRASHED"
  | "WORKER_PROTOCOL_ERROR"
  | "RESULT_TOO_LARGE"
  | "INVALID_PAYLOAD"
  | "INVOKE_TIMEOUT"
  | "DEPLOY_TIMEOUT"
  | "REQUEST_TOO_LARGE"
  | "UNAUTHENTICATED"
  | "CANCELLED"
  | "PLATFORM_UNAVAILABLE"
  | "IMAGE_BUILD_FAILED"
  | "REGISTRY_UNAVAILABLE"
  | "DEPLOY_FAILED"
  | "DEPLOY_IN_PROGRESS"
  | "UNSUPPORTED"
  | "INVOCATION_NOT_FOUND"
  | "INVOCATION_FINISHED"
  | "QUEUE_FULL"
  | "INTERNAL";

export interface FaasErrorOptions {
  reason: FaasErrorReason;
  /** String key/values for ErrorInfo.metadata (field, exception_type, traceback, ...). */
  metadata?: Record<string, string>;
  cause?: unknown;
}

/** An error with a kind the agent knows how to report. Recognised by `name`, not instanceof. */
export class FaasError extends Error {
  override readonly name = "FaasError";
  readonly kind: FaasErrorKind;
  readonly reason: FaasErrorReason;
  readonly metadata: Record<string, string>;

  constructor(kind: FaasErrorKind, message: string, options: FaasErrorOptions) {
    super(message, { cause: options.cause });
    this.kind = kind;
    this.reason = options.reason;
    this.metadata = options.metadata ?? {};
  }
}

/** Whether `e` is a FaasError, also across duplicate copies of this module. */
export function isFaasError(e: unknown): e is FaasError {
  return e instanceof Error && e.name === "FaasError" && "kind" in e && "reason" in e;
}

/** An invalid request field. */
export function invalidArgument(field: string, message: string): FaasError {
  return new FaasError("invalid_argument", message, { reason: "INVALID_REQUEST", metadata: { field } });
}

/** No function with this id. */
export function functionNotFound(id: string): FaasError {
  return new FaasError("not_found", `function "${id}" not found`, {
    reason: "FUNCTION_NOT_FOUND",
    metadata: { function_id: id },
  });
}

/** The agent's platform does not support this operation or option. */
export function unsupported(platform: string, what: string): FaasError {
  return new FaasError("unimplemented", `${what} is not supported by the ${platform} platform`, {
    reason: "UNSUPPORTED",
    metadata: { platform },
  });
}
