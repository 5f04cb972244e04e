import { FaasError } from "../domain/errors.ts";
import { resultTooLarge } from "../domain/payload.ts";

/**
 * The one table from the runtime's failure reasons to FaasError, for every transport: the framed
 * protocol's status byte (local workers, containers), the HTTP protocol's `reason` field (the
 * runtime's own HTTP server, Knative's ingress) and the Nuclio entry module's (which answers the
 * same reasons; see faas_runtime.py's docstring and nuclio/entry.py).
 */
export type RuntimeReason = "FUNCTION_ERROR" | "INVALID_PAYLOAD" | "RESULT_NOT_SERIALIZABLE" | "RESULT_TOO_LARGE";

/** The framed protocol's status byte of each failure (faas_runtime.py STATUS_*); 0 is success. */
export const FRAME_STATUS: Readonly<Record<RuntimeReason, number>> = {
  FUNCTION_ERROR: 1,
  INVALID_PAYLOAD: 2,
  RESULT_NOT_SERIALIZABLE: 3,
  RESULT_TOO_LARGE: 4,
};

const BY_STATUS = new Map<number, RuntimeReason>(Object.entries(FRAME_STATUS).map(([reason, status]) => [status, reason as RuntimeReason]));

/** The reason of a frame status byte; undefined for 0 (success) and for bytes the runtime never sends. */
export function reasonOfStatus(status: number): RuntimeReason | undefined {
  return BY_STATUS.get(status);
}

/** Whether `value` is one of the runtime's failure reasons. */
export function isRuntimeReason(value: unknown): value is RuntimeReason {
  return typeof value === "string" && Object.hasOwn(FRAME_STATUS, value);
}

/**
 * The FaasError of a runtime failure. `error` is the runtime's error object ({type, message,
 * traceback}; {size} for RESULT_TOO_LARGE), or its JSON text; `maxResultBytes` is the limit a
 * RESULT_TOO_LARGE names (0: the runtime's own, unknown here).
 */
export function runtimeError(reason: RuntimeReason, error: unknown, maxResultBytes = 0): FaasError {
  const info = errorInfo(error);
  const metadata = { exception_type: info.type ?? "", exception_message: info.message ?? "", traceback: info.traceback ?? "" };
  switch (reason) {
    case "FUNCTION_ERROR":
      // One line; the traceback (and a message of several lines) only in metadata, shown once.
      return new FaasError("function_error", `${info.type}: ${(info.message ?? "").split("\n", 1)[0]}`, { reason: "FUNCTION_ERROR", metadata });
    case "INVALID_PAYLOAD":
      return new FaasError("invalid_argument", info.message ?? "payload is not valid JSON", { reason: "INVALID_REQUEST", metadata: { field: "payload" } });
    case "RESULT_NOT_SERIALIZABLE":
      return new FaasError("function_error", info.message ?? "handle returned a value that is not JSON serializable", { reason: "RESULT_NOT_SERIALIZABLE", metadata });
    case "RESULT_TOO_LARGE":
      if (maxResultBytes > 0) return resultTooLarge(Number(info.size ?? 0), maxResultBytes);
      // A runtime behind HTTP applies its own limit, which the agent does not know.
      return new FaasError("resource_exhausted", `the function's result is ${Number(info.size ?? 0)} bytes, more than the runtime's limit (FAAS_MAX_RESULT_BYTES)`, {
        reason: "RESULT_TOO_LARGE",
        metadata: { size: String(info.size ?? 0) },
      });
  }
}

function errorInfo(error: unknown): { type?: string; message?: string; traceback?: string; size?: number } {
  if (typeof error === "string") {
    try {
      return errorInfo(JSON.parse(error));
    } catch {
      return { message: error };
    }
  }
  return error !== null && typeof error === "object" ? (error as Record<string, never>) : { message: String(error) };
}
