import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { fromBinary, toBinary, type DescMethodUnary, type DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor, type ServiceImpl } from "@connectrpc/connect";
import { invokeUnaryImplementation } from "@connectrpc/connect/protocol";
import { parseTimeout, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { callSignal, headerObject, headerValue, unaryContext, unarySpecs, type UnarySpec } from "./unary-path.ts";

/** What the fast path serves, and with the same settings as the Connect adapter beside it. */
export interface GrpcUnaryOptions {
  /** The services whose unary methods take the fast path, with the implementations Connect also routes to. */
  services: ReadonlyArray<{ desc: DescService; impl: ServiceImpl<DescService> }>;
  /** The Connect adapter's own interceptors (validation, error conversion, …), run in the same order. */
  interceptors: Interceptor[];
  readMaxBytes: number;
  writeMaxBytes: number;
  maxTimeoutMs: number;
  /** Aborted when the server shuts down; handlers see it through `ctx.signal`. */
  shutdownSignal: AbortSignal;
}

/** Serves a request when it is a plain unary gRPC call; returns false (untouched) for anything else. */
export type GrpcUnaryHandler = (req: Http2ServerRequest, res: Http2ServerResponse) => boolean;

/** grpc (proto codec) only; JSON codec, gRPC-Web and Connect stay on the Connect adapter. */
const GRPC_PROTO = /^application\/grpc(\+proto)?\s*(;|$)/i;

/**
 * A narrow fast path for unary gRPC calls on the HTTP/2 stream. connect-node handles every call
 * through its universal request/response layer: a Web `Headers` per direction, a chain of async
 * iterables for a single message, and a linked AbortController per call that is aborted (creating
 * a DOMException) when the call ends — about four fifths of a unary gRPC call's cost on the agent's
 * 2-core machine, and idle time on top. This path reads the one envelope, decodes it, runs the very
 * interceptors and implementation Connect would run (`invokeUnaryImplementation`, so validation and
 * error details are Connect's own), and writes the reply with Connect's trailer encoding
 * (`setTrailerStatus`, so `grpc-status-details-bin` is identical).
 *
 * Left to Connect: compressed requests (`grpc-encoding` other than identity), the JSON codec,
 * streaming methods, and every other protocol. Call it only after the edge's checks.
 */
export function createGrpcUnaryHandler(options: GrpcUnaryOptions): GrpcUnaryHandler {
  const specs = unarySpecs(options.services);

  return (req, res) => {
    if (req.method !== "POST") return false;
    const contentType = req.headers["content-type"];
    if (!contentType || !GRPC_PROTO.test(contentType)) return false;
    const encoding = req.headers["grpc-encoding"];
    if (encoding !== undefined && encoding !== "identity") return false;
    const spec = specs.get(req.url.split("?", 1)[0]!);
    if (!spec) return false;
    serve(spec, req, res, options, contentType).catch((error: unknown) => {
      // Only a failure to write is left here: the stream is gone.
      if (!res.stream.destroyed) res.stream.destroy(error instanceof Error ? error : undefined);
    });
    return true;
  };
}

async function serve(spec: UnarySpec, req: Http2ServerRequest, res: Http2ServerResponse, options: GrpcUnaryOptions, contentType: string): Promise<void> {
  const responseContentType = /\+proto/i.test(contentType) ? "application/grpc+proto" : "application/grpc";
  const responseHeader = new Headers();
  const responseTrailer = new Headers();
  const timeout = parseTimeout(headerValue(req.headers["grpc-timeout"]), options.maxTimeoutMs);
  const call = callSignal(res, options.shutdownSignal, timeout.error ? undefined : timeout.timeoutMs);
  try {
    if (timeout.error) throw timeout.error;
    const body = await readBody(req, options.readMaxBytes);
    const input = parseEnvelope(spec.method, body);
    const context = unaryContext(spec, "grpc", call, req, responseHeader, responseTrailer);
    const output = await invokeUnaryImplementation(spec, context, input, options.interceptors);
    const bytes = toBinary(spec.method.output, output as never);
    if (bytes.byteLength > options.writeMaxBytes) {
      throw new ConnectError(`message size ${bytes.byteLength} exceeds writeMaxBytes ${options.writeMaxBytes}`, Code.ResourceExhausted);
    }
    call.finish();
    if (res.stream.destroyed) return;
    const envelope = Buffer.allocUnsafe(5 + bytes.byteLength);
    envelope[0] = 0;
    envelope.writeUInt32BE(bytes.byteLength, 1);
    envelope.set(bytes, 5);
    res.writeHead(200, { ...headerObject(responseHeader), "content-type": responseContentType });
    res.addTrailers({ ...headerObject(responseTrailer), "grpc-status": "0" });
    res.end(envelope);
  } catch (error) {
    call.finish();
    if (res.stream.destroyed) return;
    const connectError = error instanceof ConnectError ? error : new ConnectError("internal error", Code.Internal, undefined, undefined, error);
    // Status in the trailers (with no message before them), which every gRPC client reads.
    const trailer = setTrailerStatus(new Headers(responseTrailer), connectError);
    res.writeHead(200, { ...headerObject(responseHeader), "content-type": responseContentType });
    res.addTrailers(headerObject(trailer));
    res.end();
  } finally {
    call.finish();
  }
}

/**
 * The request body, whole. A message over readMaxBytes is answered resource_exhausted after the
 * rest of the body has been read and dropped (so the client, still sending, sees the error and not
 * a reset), as the server's drain does for Connect.
 */
function readBody(req: Http2ServerRequest, readMaxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (tooLarge) return;
      // The envelope's own length prefix may already say the message is too large.
      if (chunks.length === 0 && chunk.length >= 5 && chunk.readUInt32BE(1) > readMaxBytes) tooLarge = true;
      else if (size > readMaxBytes + 5) tooLarge = true;
      if (tooLarge) chunks.length = 0;
      else chunks.push(chunk);
    });
    req.once("end", () => {
      if (tooLarge) reject(new ConnectError(`message size is larger than configured readMaxBytes ${readMaxBytes}`, Code.ResourceExhausted));
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
    req.once("error", reject);
    req.once("aborted", () => reject(new ConnectError("the client cancelled the call", Code.Canceled)));
  });
}

/** The single message of a unary request, with the errors Connect's gRPC handler gives. */
function parseEnvelope(method: DescMethodUnary, body: Buffer): ReturnType<typeof fromBinary> {
  if (body.length === 0) throw new ConnectError("protocol error: missing input message for unary method", Code.Unimplemented);
  if (body.length < 5) throw new ConnectError("protocol error: premature end of stream", Code.InvalidArgument);
  const flags = body[0]!;
  const length = body.readUInt32BE(1);
  if (body.length < 5 + length) throw new ConnectError("protocol error: premature end of stream", Code.InvalidArgument);
  if (body.length > 5 + length) throw new ConnectError("protocol error: received extra input message for unary method", Code.Unimplemented);
  if ((flags & 0b1) === 0b1) throw new ConnectError("protocol error: received compressed message without grpc-encoding", Code.Internal);
  try {
    return fromBinary(method.input, body.subarray(5));
  } catch (error) {
    throw ConnectError.from(error, Code.Internal);
  }
}
