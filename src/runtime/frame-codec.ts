import { FaasError } from "../domain/errors.ts";

/** Bytes of a frame's header: u32 body length, u32 call id, u8 kind or status. */
export const HEADER_BYTES = 9;

/** A request frame of `kind` carrying `payloadJson` (after a u32 `window` for a stream call). */
export function requestFrame(kind: number, id: number, payloadJson: string, window?: number): Buffer {
  const extra = window === undefined ? 0 : 4;
  const length = Buffer.byteLength(payloadJson, "utf8") + extra;
  const frame = Buffer.allocUnsafe(HEADER_BYTES + length);
  frame.writeUInt32BE(length, 0);
  frame.writeUInt32BE(id, 4);
  frame.writeUInt8(kind, 8);
  if (window !== undefined) frame.writeUInt32BE(window, HEADER_BYTES);
  frame.write(payloadJson, HEADER_BYTES + extra, "utf8");
  return frame;
}

/** A frame without payload: a cancel, or a credit of `credit` bytes (a u32 body). */
export function controlFrame(kind: number, id: number, credit?: number): Buffer {
  const frame = Buffer.alloc(HEADER_BYTES + (credit === undefined ? 0 : 4));
  frame.writeUInt32BE(credit === undefined ? 0 : 4, 0);
  frame.writeUInt32BE(id, 4);
  frame.writeUInt8(kind, 8);
  if (credit !== undefined) frame.writeUInt32BE(Math.min(credit, 0xffffffff), HEADER_BYTES);
  return frame;
}

/** A worker that broke the runtime protocol (WORKER_PROTOCOL_ERROR): the function's fault, never the agent's. */
export function protocolError(message: string): FaasError {
  return new FaasError("function_error", message, { reason: "WORKER_PROTOCOL_ERROR" });
}

export function timeoutError(timeoutMs: number): FaasError {
  return new FaasError("deadline_exceeded", `function did not return within ${timeoutMs / 1000} s`, { reason: "INVOKE_TIMEOUT" });
}

export function abortError(signal: AbortSignal): FaasError {
  return new FaasError("cancelled", "the call was cancelled by the caller", { reason: "CANCELLED", cause: signal.reason });
}
