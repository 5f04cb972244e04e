import type { TLSSocket } from "node:tls";
import { Code, cors } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { TokenAuth } from "./auth.ts";
import type { HostPolicy } from "./hosts.ts";
import { isRpcContentType, refuse, wireProtocol, type NodeRequest, type NodeResponse, type Refusal } from "./refusal.ts";

/** Longest request target (path and query) accepted; longer ones get 414. */
export const MAX_URL_BYTES = 8 * 1024;

export interface GuardOptions {
  hosts: HostPolicy;
  auth: TokenAuth;
  /** The port speaks TLS: a plain-text request on it is refused, never served. */
  tls: boolean;
  /** Mutual TLS: every route but health needs a client certificate the CA verified. */
  clientCertRequired: boolean;
  /** Whether a path is an RPC path (`/package.Service/Method` of a registered service). */
  rpcPath: (path: string) => boolean;
  /** Largest REST body; a larger declared Content-Length gets 413 before the body is read. */
  maxBodyBytes: number;
  /** Each refusal is logged here (warn): request id, method, path, reason, status, peer; never a header's value. */
  logger?: Logger;
}

/**
 * Decides whether a request may reach a handler; answers it (and returns false) when not.
 * Every handler path on the port must call it first — Connect, gRPC, gRPC-Web, REST, the web page,
 * and any future fast path on the HTTP/2 stream — so that the checks live here once:
 *
 *  1. plain text on a TLS port → 400 (no silent downgrade)
 *  2. request target longer than MAX_URL_BYTES → 414
 *  3. Host (HTTP/2 :authority) not naming this agent → 421, before any routing (DNS rebinding)
 *  4. Origin neither the agent's own nor in FAAS_ALLOWED_ORIGINS → 403; allowed origins get CORS
 *  5. credentials: a verified client certificate (mTLS) and/or a bearer token, except for health
 *     (and, for the token, reflection and the web page's files)
 *  6. Content-Type: state-changing requests on RPC paths only Connect/gRPC/gRPC-Web types, on
 *     every other path only application/json → 415 (what a cross-site form or no-cors fetch
 *     can send never gets through)
 *  7. a declared REST body over the limit → 413
 *
 * HEAD is served as GET (Node sends no body for HEAD), so every GET route answers HEAD.
 */
export function createGuard(options: GuardOptions): (req: NodeRequest, res: NodeResponse) => boolean {
  const { hosts, auth } = options;
  return (req, res) => {
    const url = req.url ?? "/";
    const path = url.split("?", 1)[0]!;
    const rpc = options.rpcPath(path);
    const contentType = req.headers["content-type"];
    const protocol = wireProtocol(contentType, rpc);
    const no = (refusal: Refusal, close = false) => {
      options.logger?.warn(
        { requestId: req.headers["x-request-id"], method: req.method, path: clip(path), reason: refusal.reason, status: refusal.status, peer: req.socket.remoteAddress },
        "request refused",
      );
      refuse(req, res, protocol, refusal, close);
      return false;
    };

    if (options.tls && !(req.socket as TLSSocket).encrypted) {
      return no({ status: 400, code: Code.FailedPrecondition, reason: "TLS_REQUIRED", message: "this port speaks TLS: use https://" }, true);
    }
    if (Buffer.byteLength(url) > MAX_URL_BYTES) {
      return no({ status: 414, code: Code.InvalidArgument, reason: "URI_TOO_LONG", message: `the request target is longer than ${MAX_URL_BYTES} bytes` });
    }
    const host = (req.headers[":authority"] as string | undefined) ?? req.headers.host;
    if (!hosts.allowsHost(host)) {
      return no({
        status: 421,
        code: Code.PermissionDenied,
        reason: "HOST_NOT_ALLOWED",
        message: `Host "${clip(host ?? "")}" does not name this agent: use a loopback address with its port, FAAS_HOST, or add the name to FAAS_ALLOWED_HOSTS`,
      });
    }
    const origin = req.headers.origin;
    if (origin !== undefined) {
      const verdict = hosts.origin(origin, host);
      if (verdict === "refused") {
        return no({
          status: 403,
          code: Code.PermissionDenied,
          reason: "ORIGIN_NOT_ALLOWED",
          message: `requests from origin "${clip(origin)}" are not allowed: only the agent's own page, or an origin listed in FAAS_ALLOWED_ORIGINS`,
        });
      }
      if (verdict === "allowed") {
        res.setHeader("access-control-allow-origin", origin);
        res.setHeader("vary", "Origin");
        res.setHeader("access-control-expose-headers", [...cors.exposedHeaders, "X-Request-Id"].join(", "));
        if (req.method === "OPTIONS") return preflight(res);
      }
    }
    if (req.method === "HEAD") (req as { method: string }).method = "GET";
    if (!rpc) res.setHeader("x-content-type-options", "nosniff");

    if (options.clientCertRequired && !isHealth(path) && !(req.socket as TLSSocket).authorized) {
      return no({ status: 401, code: Code.Unauthenticated, reason: "CLIENT_CERTIFICATE_REQUIRED", message: "a client certificate signed by the agent's client CA is required" });
    }
    if (auth.enabled && !tokenOpen(req.method ?? "GET", path, rpc) && !auth.check(req.headers.authorization)) {
      return no({ status: 401, code: Code.Unauthenticated, reason: "UNAUTHENTICATED", message: "a valid bearer token is required (Authorization: Bearer <token>)" });
    }

    if (!SAFE_METHODS.has(req.method ?? "GET")) {
      const ok = rpc ? isRpcContentType(contentType) : isJson(contentType);
      if (!ok) return no(unsupported(req.method ?? "POST", path, contentType, rpc));
      const declared = Number(req.headers["content-length"] ?? 0);
      if (!rpc && declared > options.maxBodyBytes) {
        return no({ status: 413, code: Code.ResourceExhausted, reason: "REQUEST_TOO_LARGE", message: `request body is larger than the limit of ${options.maxBodyBytes} bytes` }, true);
      }
    }
    return true;
  };
}

/** Methods that change nothing, so carry no body worth a content-type check. */
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

function isJson(contentType: string | undefined): boolean {
  return /^application\/json\s*(;|$)/i.test(contentType ?? "");
}

function unsupported(method: string, path: string, contentType: string | undefined, rpc: boolean): Refusal {
  const expected = rpc ? "application/json or application/proto (Connect), application/grpc, application/grpc-web" : "application/json";
  return {
    status: 415,
    code: Code.InvalidArgument,
    reason: "UNSUPPORTED_MEDIA_TYPE",
    message: `${method} ${clip(path)} takes Content-Type ${expected}; got ${contentType ? `"${clip(contentType)}"` : "none"}`,
  };
}

/** Health answers without credentials: Kubernetes probes present neither a certificate nor a token. */
function isHealth(path: string): boolean {
  return path === "/health" || path === "/faas.v1.FaasAgent/Health" || path.startsWith("/grpc.health.v1.Health/");
}

/** Routes open without a token: health, reflection (it only describes the public contract) and the web page's files. */
function tokenOpen(method: string, path: string, rpc: boolean): boolean {
  if (isHealth(path) || path.startsWith("/grpc.reflection.v1.ServerReflection/") || path.startsWith("/grpc.reflection.v1alpha.ServerReflection/")) return true;
  return !rpc && method === "GET" && /^\/(assets\/.*|[^/]*\.[A-Za-z0-9]+)?$/.test(path);
}

/** A CORS preflight from an allowed origin: the Connect protocols' methods and headers, plus the token. */
function preflight(res: NodeResponse): false {
  res.writeHead(204, {
    "access-control-allow-methods": cors.allowedMethods.join(", "),
    "access-control-allow-headers": [...cors.allowedHeaders, "Authorization", "Accept"].join(", "),
    "access-control-max-age": "7200",
  });
  res.end();
  return false;
}

function clip(value: string): string {
  return value.length > 200 ? `${value.slice(0, 200)}…` : value;
}
