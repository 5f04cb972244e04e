import { isUtf8 } from "node:buffer";
import { FaasError } from "./errors.ts";

/**
 * The agent's rules for what goes into a function and what comes out, checked once on the request
 * path for every protocol (REST, Connect, gRPC, gRPC-Web) and platform. The runtime shim applies
 * the same depth and number rules for callers that reach a function directly.
 */

/** Deepest nesting of lists and objects accepted in a payload (Connect's own limit). */
export const MAX_PAYLOAD_DEPTH = 100;

/**
 * The JSON text of the payload a client sent, parsed (undefined: none was sent, which is an empty
 * object), after checkPayload: every protocol produces the text a function gets here.
 */
export function payloadJson(value: unknown): string {
  checkPayload(value);
  return value === undefined ? "{}" : JSON.stringify(value);
}

/**
 * Checks a payload already parsed from JSON: nested at most MAX_PAYLOAD_DEPTH deep, every number
 * finite (JSON.parse turns 1e400 into Infinity without a word), every string and key well-formed
 * UTF-16 (no lone surrogates, which cannot be encoded as UTF-8). Throws invalid_argument
 * INVALID_PAYLOAD naming the path of the first offence. `__proto__` keys are ordinary keys here.
 */
export function checkPayload(value: unknown, field = "payload"): void {
  // Iterative: a payload 10 000 levels deep must not overflow the agent's stack.
  const stack: Array<{ value: unknown; path: string; depth: number }> = [{ value, path: field, depth: 0 }];
  while (stack.length > 0) {
    const item = stack.pop()!;
    const v = item.value;
    switch (typeof v) {
      case "number":
        if (!Number.isFinite(v)) throw invalidPayload(`${shortPath(item.path)} is a number outside the range of a double`, shortPath(item.path));
        continue;
      case "string":
        if (!wellFormed(v)) throw invalidPayload(`${shortPath(item.path)} contains a lone surrogate (not valid Unicode)`, shortPath(item.path));
        continue;
      case "object": {
        if (v === null) continue;
        const depth = item.depth + 1;
        if (depth > MAX_PAYLOAD_DEPTH) throw invalidPayload(`${field} is nested deeper than ${MAX_PAYLOAD_DEPTH} levels`, field);
        if (Array.isArray(v)) {
          for (let i = 0; i < v.length; i++) stack.push({ value: v[i], path: `${item.path}[${i}]`, depth });
        } else {
          for (const key of Object.keys(v)) {
            if (!wellFormed(key)) throw invalidPayload(`a key in ${shortPath(item.path)} contains a lone surrogate (not valid Unicode)`, shortPath(item.path));
            stack.push({ value: (v as Record<string, unknown>)[key], path: `${item.path}.${key}`, depth });
          }
        }
        continue;
      }
      default:
        continue;
    }
  }
}

/**
 * Refuses text fields (handler source, requirements, params, env) holding lone surrogates: they
 * cannot be written as UTF-8 and would be replaced without a word. Throws invalid_argument
 * INVALID_REQUEST naming the field.
 */
export function checkText(fields: Record<string, string | Record<string, string> | undefined>): void {
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    if (typeof value === "string") {
      if (!wellFormed(value)) throw invalidText(name);
      continue;
    }
    for (const [key, text] of Object.entries(value)) {
      if (!wellFormed(key) || (typeof text === "string" && !wellFormed(text))) throw invalidText(`${name}.${key}`);
    }
  }
}

function invalidText(field: string): FaasError {
  return new FaasError("invalid_argument", `${field} contains a lone surrogate (not valid Unicode)`, { reason: "INVALID_REQUEST", metadata: { field } });
}

/** Refuses request bytes that are not UTF-8 (they would otherwise be replaced without a word). */
export function checkUtf8(bytes: Uint8Array, field = "body"): void {
  if (!isUtf8(bytes)) throw invalidPayload(`${field} is not valid UTF-8`, field);
}

/**
 * Checks a function's result before any protocol sends it: at most `maxBytes` of UTF-8
 * (RESULT_TOO_LARGE otherwise) and exactly one JSON value (WORKER_PROTOCOL_ERROR otherwise, so
 * a function can never add fields to a response around its result). Returns the parsed value.
 */
export function checkResult(resultJson: string, maxBytes: number): unknown {
  // Byte length costs a pass over the string: only needed when it could be over the limit.
  if (resultJson.length * 3 > maxBytes) {
    const size = Buffer.byteLength(resultJson);
    if (size > maxBytes) throw resultTooLarge(size, maxBytes);
  }
  try {
    return JSON.parse(resultJson);
  } catch {
    throw new FaasError("function_error", "the function's result is not one JSON value", { reason: "WORKER_PROTOCOL_ERROR" });
  }
}

/** A result over the limit (RESULT_TOO_LARGE); `size` is its length in bytes. */
export function resultTooLarge(size: number, limit: number): FaasError {
  return new FaasError("resource_exhausted", `the function's result is ${size} bytes, more than the limit of ${limit} bytes (FAAS_MAX_RESULT_BYTES)`, {
    reason: "RESULT_TOO_LARGE",
    metadata: { size: String(size), limit: String(limit) },
  });
}

/** A path for ErrorInfo metadata: long ones are cut (the message says what is wrong). */
function shortPath(path: string): string {
  return path.length <= 200 ? path : `${path.slice(0, 200)}...`;
}

/** String.prototype.isWellFormed (Node 20) without needing the ES2024 lib typings. */
function wellFormed(text: string): boolean {
  return (text as unknown as { isWellFormed(): boolean }).isWellFormed();
}

/** invalid_argument INVALID_PAYLOAD. */
export function invalidPayload(message: string, field = "payload"): FaasError {
  return new FaasError("invalid_argument", message, { reason: "INVALID_PAYLOAD", metadata: { field } });
}
