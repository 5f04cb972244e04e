import { brotliDecompressSync, gunzipSync } from "node:zlib";
import type { ConnectRouter } from "@connectrpc/connect";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { invalidArgument } from "../domain/errors.ts";
import { toConnectError } from "./errors.ts";

/** DeployRequest's map<string, string> fields, by field number (proto/faas/v1/agent.proto). */
const MAP_FIELDS: ReadonlyMap<number, string> = new Map([
  [4, "params"],
  [5, "env"],
]);

/**
 * protobuf-es decodes a map entry by assigning `map[key] = value` on a plain object, so an entry
 * keyed "__proto__" (in JSON or binary) is dropped without a word before any handler sees the
 * message. The REST route refuses such keys with 400; this refuses them on Connect, gRPC and
 * gRPC-Web too: the Deploy handler's request bytes are read as they arrive (enveloped on every
 * streaming protocol, decompressed when flagged) and a message whose params or env holds the key
 * is answered invalid_argument INVALID_REQUEST naming the field, before it is parsed.
 */
export function refuseProtoKeys(router: ConnectRouter, readMaxBytes: number): void {
  const handlers = router.handlers;
  for (let i = 0; i < handlers.length; i++) {
    const inner = handlers[i];
    if (inner.service.typeName !== "faas.v1.FaasAgent" || inner.method.name !== "Deploy") continue;
    const wrapped: typeof inner = Object.assign(
      (req: Parameters<typeof inner>[0]) => {
        const body = req.body;
        if (!body || typeof body !== "object" || !(Symbol.asyncIterator in body)) return inner(req);
        const type = req.header.get("content-type") ?? "";
        const json = /[+/]json\b/.test(type);
        const encoding = req.header.get("connect-content-encoding") ?? req.header.get("grpc-encoding") ?? "identity";
        return inner({ ...req, body: checked(body as AsyncIterable<Uint8Array>, json, encoding, readMaxBytes) });
      },
      inner,
    );
    handlers[i] = wrapped;
  }
}

async function* checked(body: AsyncIterable<Uint8Array>, json: boolean, encoding: string, readMaxBytes: number): AsyncIterable<Uint8Array> {
  let pending = Buffer.alloc(0);
  for await (const chunk of body) {
    pending = pending.length ? Buffer.concat([pending, chunk]) : Buffer.from(chunk);
    // Check every envelope this chunk completes before passing the chunk on.
    while (pending.length >= 5) {
      const length = pending.readUInt32BE(1);
      if (length > readMaxBytes || pending.length < 5 + length) break;
      const flags = pending[0];
      let message: Buffer | undefined = pending.subarray(5, 5 + length);
      pending = pending.subarray(5 + length);
      if (flags & 0x02) continue; // an end-of-stream envelope, not a message
      if (flags & 0x01) message = decompress(message, encoding, readMaxBytes);
      const field = message && (json ? jsonProtoKey(message) : binaryProtoKey(message));
      if (field) throw toConnectError(invalidArgument(`${field}.__proto__`, `${field} must not have a key named __proto__`));
    }
    yield chunk;
  }
}

function decompress(bytes: Buffer, encoding: string, max: number): Buffer | undefined {
  try {
    if (encoding === "gzip") return gunzipSync(bytes, { maxOutputLength: max });
    if (encoding === "br") return brotliDecompressSync(bytes, { maxOutputLength: max });
  } catch {
    // Connect reports the broken or oversized envelope itself.
  }
  return undefined;
}

/** The map field of an encoded DeployRequest holding a "__proto__" key, if any. */
export function binaryProtoKey(bytes: Uint8Array): string | undefined {
  try {
    const reader = new BinaryReader(bytes);
    while (reader.pos < reader.len) {
      const [no, wireType] = reader.tag();
      const field = MAP_FIELDS.get(no);
      if (!field || wireType !== WireType.LengthDelimited) {
        reader.skip(wireType, no);
        continue;
      }
      const entry = new BinaryReader(reader.bytes());
      while (entry.pos < entry.len) {
        const [entryNo, entryType] = entry.tag();
        if (entryNo === 1 && entryType === WireType.LengthDelimited) {
          if (entry.string() === "__proto__") return field;
        } else entry.skip(entryType, entryNo);
      }
    }
  } catch {
    // Malformed: Connect's own parser says so.
  }
  return undefined;
}

/** The map field of a DeployRequest in JSON holding a "__proto__" key (JSON.parse keeps it as an own key). */
export function jsonProtoKey(bytes: Uint8Array): string | undefined {
  const text = Buffer.from(bytes).toString("utf8");
  // Cheap test first: the key is spelt out, or hidden behind escapes.
  if (!text.includes("proto") && !text.includes("\\u")) return undefined;
  try {
    const value = JSON.parse(text) as Record<string, unknown>;
    for (const field of MAP_FIELDS.values()) {
      const map = value?.[field];
      if (map && typeof map === "object" && Object.prototype.hasOwnProperty.call(map, "__proto__")) return field;
    }
  } catch {
    // Connect's own parser says so.
  }
  return undefined;
}
