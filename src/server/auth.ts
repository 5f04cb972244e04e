import { createHash, timingSafeEqual } from "node:crypto";
import type { Interceptor } from "@connectrpc/connect";
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

/**
 * Services open without a token: probes (grpc.health.v1, as Kubernetes `grpc:` probes send no
 * credentials) and discovery (server reflection only describes the public contract).
 */
const OPEN_SERVICES = new Set(["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"]);

/** Rejects every RPC but FaasAgent's Health and the OPEN_SERVICES without a valid bearer token. */
export function authInterceptor(auth: TokenAuth): Interceptor {
  return (next) => async (req) => {
    const open = req.method.name === "Health" || OPEN_SERVICES.has(req.service.typeName);
    if (auth.enabled && !open && !auth.check(req.header.get("authorization"))) {
      throw unauthenticated();
    }
    return next(req);
  };
}

/** The error for a missing or wrong token. */
export function unauthenticated(): FaasError {
  return new FaasError("unauthenticated", "a valid bearer token is required (Authorization: Bearer <token>)", { reason: "UNAUTHENTICATED" });
}
