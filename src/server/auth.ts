import { createHash, timingSafeEqual } from "node:crypto";
import { FaasError } from "../domain/errors.ts";

/**
 * Bearer-token checks. Tokens are compared as SHA-256 digests with timingSafeEqual, so neither
 * their content nor their length leaks through timing. An empty token list disables checks.
 */
export class TokenAuth {
  private readonly digests: Buffer[];

  constructor(tokens: string[]) {
    this.digests = tokens.map(digest);
  }

  get enabled(): boolean {
    return this.digests.length > 0;
  }

  /** Whether an Authorization header value carries a valid token (always true when disabled). */
  check(authorization: string | null | undefined): boolean {
    if (!this.enabled) return true;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
    if (!match) return false;
    const presented = digest(match[1]);
    let ok = false;
    for (const d of this.digests) ok = timingSafeEqual(d, presented) || ok;
    return ok;
  }
}

function digest(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}

/** The error for a missing or wrong token. */
export function unauthenticated(): FaasError {
  return new FaasError("unauthenticated", "a valid bearer token is required (Authorization: Bearer <token>)", { reason: "UNAUTHENTICATED" });
}
