import { randomUUID } from "node:crypto";
import type { NodeRequest, NodeResponse } from "./refusal.ts";

/** The header that carries a request's id both ways. */
export const REQUEST_ID_HEADER = "x-request-id";

/** An incoming id is kept when it is this plain: no spaces, quotes or control characters, at most 128 characters. */
const SANE = /^[A-Za-z0-9._~:+=/-]{1,128}$/;

/**
 * Gives the request its id — the caller's `x-request-id` when it is sane, a new UUID otherwise —
 * and returns it to the caller as `x-request-id` on every answer (a refusal too; over gRPC it is
 * response metadata). The id replaces the request's own header, so every handler (REST, Connect,
 * the gRPC fast path) reads the same one from the request, and every log line about the request
 * carries it as `requestId`.
 */
export function assignRequestId(req: NodeRequest, res: NodeResponse): string {
  const incoming = req.headers[REQUEST_ID_HEADER];
  const id = typeof incoming === "string" && SANE.test(incoming) ? incoming : randomUUID();
  req.headers[REQUEST_ID_HEADER] = id;
  res.setHeader(REQUEST_ID_HEADER, id);
  return id;
}

/** The id assignRequestId gave the request ("" for a request that did not pass through it). */
export function requestIdOf(req: NodeRequest): string {
  const value = req.headers[REQUEST_ID_HEADER];
  return typeof value === "string" ? value : "";
}
