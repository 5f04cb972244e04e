import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { contentTypeRegExp as connectTypes, errorToJson } from "@connectrpc/connect/protocol-connect";
import { contentTypeRegExp as grpcTypes } from "@connectrpc/connect/protocol-grpc";
import { contentTypeRegExp as grpcWebTypes } from "@connectrpc/connect/protocol-grpc-web";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.ts";
import { ERROR_DOMAIN } from "./errors.ts";

export type NodeRequest = IncomingMessage | Http2ServerRequest;
export type NodeResponse = ServerResponse | Http2ServerResponse;

/** Which wire protocol a request speaks, so that a refusal is one its client can read. */
export type WireProtocol = "grpc" | "grpc-web" | "connect" | "rest";

/** A request the edge turns away before any route runs. */
export interface Refusal {
  /** HTTP status for REST and Connect (gRPC and gRPC-Web always answer 200 with grpc-status). */
  status: number;
  /** The Connect/gRPC code gRPC-family clients see. */
  code: Code;
  /** ErrorInfo.reason, UPPER_SNAKE, also `reason` in the REST body. */
  reason: string;
  message: string;
}

/** The protocol of a request: by its content type, and by its path for Connect (GET has none). */
export function wireProtocol(contentType: string | undefined, rpcPath: boolean): WireProtocol {
  const type = contentType ?? "";
  if (grpcWebTypes.test(type)) return "grpc-web";
  if (grpcTypes.test(type)) return "grpc";
  return rpcPath ? "connect" : "rest";
}

/** Whether a content type is one the RPC paths speak (Connect, gRPC, gRPC-Web). */
export function isRpcContentType(contentType: string | undefined): boolean {
  const type = contentType ?? "";
  return connectTypes.test(type) || grpcTypes.test(type) || grpcWebTypes.test(type);
}

/**
 * Answers a refused request in its own protocol and ends it: gRPC and gRPC-Web as a trailers-only
 * response (HTTP 200, grpc-status and grpc-message), Connect as its JSON error with an ErrorInfo
 * detail, REST as the prototype's `{"error": ..., "reason": ...}`. `close` also ends an HTTP/1.1
 * connection afterwards (the body was not read).
 */
export function refuse(req: NodeRequest, res: NodeResponse, protocol: WireProtocol, refusal: Refusal, close = false): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers: Record<string, string | number> = {};
  if (close && !("stream" in req)) headers.connection = "close";
  if (protocol === "grpc" || protocol === "grpc-web") {
    headers["content-type"] = protocol === "grpc" ? "application/grpc" : "application/grpc-web+proto";
    headers["grpc-status"] = String(refusal.code);
    headers["grpc-message"] = encodeURIComponent(refusal.message);
    res.writeHead(200, headers);
    res.end();
    return;
  }
  let body: string;
  if (protocol === "connect") {
    const info = create(ErrorInfoSchema, { reason: refusal.reason, domain: ERROR_DOMAIN });
    const error = new ConnectError(refusal.message, refusal.code, undefined, [{ desc: ErrorInfoSchema, value: info }]);
    body = JSON.stringify(errorToJson(error, undefined));
  } else {
    body = JSON.stringify({ error: refusal.message, reason: refusal.reason });
  }
  headers["content-type"] = "application/json";
  headers["content-length"] = Buffer.byteLength(body);
  res.writeHead(refusal.status, headers);
  res.end(body);
}
