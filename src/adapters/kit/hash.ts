import { createHash } from "node:crypto";

/** Hex digits of every content hash the agent makes (80 bits: image tags, revisions, labels). */
export const HASH_LENGTH = 20;

/**
 * The content hash of a thing made from `fields`: SHA-256 over each field length-prefixed (so no
 * two different field lists can run together into the same bytes), HASH_LENGTH hex digits. The
 * first field should name what is hashed and its recipe's version ("radical-faas image v1"), so
 * that hashes of different things never collide and a recipe change is a deliberate new name.
 * Objects are hashed through `canonicalJson`.
 */
export function contentHash(fields: ReadonlyArray<string | Buffer>): string {
  const hash = createHash("sha256");
  for (const field of fields) {
    const bytes = typeof field === "string" ? Buffer.from(field, "utf8") : field;
    hash.update(`${bytes.length}:`);
    hash.update(bytes);
  }
  return hash.digest("hex").slice(0, HASH_LENGTH);
}

/** JSON with object keys sorted at every level, so equal objects give equal text (and hashes). */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const object = value as Record<string, unknown>;
    return `{${Object.keys(object)
      .filter((k) => object[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(object[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}
