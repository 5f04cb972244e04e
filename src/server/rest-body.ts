import { fromJson, ScalarType, type DescField, type DescMessage, type JsonValue, type MessageShape } from "@bufbuild/protobuf";
import { FaasError, invalidArgument } from "../domain/errors.ts";
import { checkUtf8 } from "../domain/payload.ts";

/** A request as Node's HTTP servers hand it to a handler (only what is read here). */
type BodyRequest = { headers: { "content-length"?: string }; on(event: "data", listener: (chunk: Buffer) => void): unknown; once(event: "end", listener: () => void): unknown; once(event: "error", listener: (error: Error) => void): unknown; once(event: "close", listener: () => void): unknown };

/**
 * Reads a REST body (at most `limit` bytes; larger ones are REQUEST_TOO_LARGE) and parses it as a
 * JSON object. Bytes that are not UTF-8 are INVALID_PAYLOAD; an empty body, text that is not JSON
 * and JSON that is not an object are invalid_argument naming `body`.
 */
export async function readJsonObject(req: BodyRequest, limit: number): Promise<Record<string, unknown>> {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > limit) throw tooLarge(limit);
  const bytes = await readBody(req, limit);
  checkUtf8(bytes);
  const text = bytes.toString("utf8");
  if (text.trim() === "") throw invalidArgument("body", "request body is empty: expected a JSON object");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw invalidArgument("body", `request body is not valid JSON: ${(error as Error).message}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw invalidArgument("body", "request body must be a JSON object");
  }
  return value as Record<string, unknown>;
}

/**
 * The whole body, from the stream's events (an async iterator over the request costs a unary
 * call several promise hops and listeners). Stops collecting and fails as soon as it is larger
 * than `limit`; what is left is drained by the server (hygiene.ts).
 */
function readBody(req: BodyRequest, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on("data", (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      failed = true;
      chunks.length = 0;
      reject(tooLarge(limit));
    });
    req.once("end", () => {
      if (failed) return;
      failed = true;
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
    const fail = (error: Error) => {
      if (failed) return;
      failed = true;
      reject(error);
    };
    req.once("error", fail);
    // A client that goes away mid-body: the request ends without "end".
    req.once("close", () => fail(new Error("the client closed the connection before the end of the body")));
  });
}

/**
 * A REST body as the proto request message `schema`, in the proto's JSON form: fields by their
 * proto (snake_case) or JSON (camelCase) names. Keys the message does not have are ignored, as the
 * seed's Flask routes ignored them; inside a known field (e.g. `options`) an unknown key is an
 * error. A value of the wrong type is invalid_argument naming the field as the client wrote it
 * (`handler`, `env.A`, `traffic[1]`). A map key `__proto__` is refused: decoding would drop it
 * without a word. Only decodes: the contract's rules are checked by RequestValidation.
 */
export function requestFromJson<Desc extends DescMessage>(schema: Desc, body: Record<string, unknown>): MessageShape<Desc> {
  const known: Record<string, unknown> = {};
  const seen = new Map<DescField, string>();
  const fields = fieldsByName(schema);
  for (const [key, value] of Object.entries(body)) {
    const field = fields.get(key);
    if (!field) continue;
    const other = seen.get(field);
    if (other !== undefined) throw invalidArgument(key, `${key} is set twice (as ${other} and ${key})`);
    seen.set(field, key);
    if (field.fieldKind === "map" && value !== null && typeof value === "object" && Object.hasOwn(value, "__proto__")) {
      throw invalidArgument(`${key}.__proto__`, `${key} must not have a key named __proto__`);
    }
    known[key] = value;
  }
  try {
    return fromJson(schema, known as JsonValue);
  } catch (error) {
    throw decodeError(schema, known, error);
  }
}

const FIELDS = new WeakMap<DescMessage, Map<string, DescField>>();

/** A message's fields by proto name and by JSON name. */
function fieldsByName(schema: DescMessage): Map<string, DescField> {
  let fields = FIELDS.get(schema);
  if (!fields) {
    fields = new Map();
    for (const f of schema.fields) fields.set(f.name, f).set(f.jsonName, f);
    FIELDS.set(schema, fields);
  }
  return fields;
}

/** The first field that does not decode, as invalid_argument naming it. */
function decodeError(schema: DescMessage, known: Record<string, unknown>, error: unknown): FaasError {
  for (const [key, value] of Object.entries(known)) {
    const message = failure(() => fromJson(schema, { [key]: value } as JsonValue));
    if (message === undefined) continue;
    const field = fieldsByName(schema).get(key)!;
    return fieldError(field, key, value, message);
  }
  return invalidArgument("body", `request body is invalid: ${(error as Error).message}`);
}

function fieldError(field: DescField, key: string, value: unknown, message: string): FaasError {
  switch (field.fieldKind) {
    case "scalar":
      if (field.scalar === ScalarType.STRING) return invalidArgument(key, `${key} must be a string`);
      if (field.scalar === ScalarType.BOOL) return invalidArgument(key, `${key} must be true or false`);
      break;
    case "map":
      if (field.mapKind === "scalar" && field.scalar === ScalarType.STRING) {
        if (value === null || typeof value !== "object" || Array.isArray(value)) return invalidArgument(key, `${key} must be an object of strings`);
        const bad = Object.keys(value).find((k) => typeof (value as Record<string, unknown>)[k] !== "string");
        if (bad !== undefined) return invalidArgument(`${key}.${bad}`, `${key}.${bad} must be a string`);
      }
      break;
    case "list":
      if (field.listKind === "message" && Array.isArray(value)) {
        const item = field.message;
        for (const [i, entry] of value.entries()) {
          const why = failure(() => fromJson(item, entry as JsonValue));
          if (why !== undefined) return invalidArgument(`${key}[${i}]`, `${key}[${i}] is invalid: ${why}`);
        }
      }
      break;
    default:
      break;
  }
  return invalidArgument(key, `${key} is invalid: ${message}`);
}

/** The message of what `run` throws, or undefined when it does not throw. */
function failure(run: () => unknown): string | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

function tooLarge(limit: number): FaasError {
  return new FaasError("resource_exhausted", `request body is larger than the limit of ${limit} bytes`, {
    reason: "REQUEST_TOO_LARGE",
    metadata: { limit: String(limit) },
  });
}
