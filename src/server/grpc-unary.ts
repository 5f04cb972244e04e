import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { fromBinary, toBinary, type DescMethodUnary, type DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues, type HandlerContext, type Interceptor, type MethodImplSpec, type ServiceImpl } from "@connectrpc/connect";
import { invokeUnaryImplementation } from "@connectrpc/connect/protocol";
import { parseTimeout, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";

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

type Spec = Extract<MethodImplSpec, { kind: "unary" }>;

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
  const specs = new Map<string, Spec>();
  for (const { desc, impl } of options.services) {
    for (const method of desc.methods) {
      if (method.methodKind !== "unary") continue;
      const fn = (impl as Record<string, unknown>)[method.localName];
      if (typeof fn !== "function") continue;
      specs.set(`/${desc.typeName}/${method.name}`, { kind: "unary", method, impl: fn.bind(impl) as Spec["impl"] } as Spec);
    }
  }

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

async function serve(spec: Spec, req: Http2ServerRequest, res: Http2ServerResponse, options: GrpcUnaryOptions, contentType: string): Promise<void> {
  const responseContentType = /\+proto/i.test(contentType) ? "application/grpc+proto" : "application/grpc";
  const controller = new AbortController();
  let done = false;
  const onShutdown = () => controller.abort(new ConnectError("the server is shutting down", Code.Unavailable));
  const onClose = () => {
    if (!done) controller.abort(new ConnectError("the client cancelled the call", Code.Canceled));
  };
  options.shutdownSignal.addEventListener("abort", onShutdown, { once: true });
  res.once("close", onClose);
  let timer: NodeJS.Timeout | undefined;

  const responseHeader = new Headers();
  const responseTrailer = new Headers();
  try {
    const timeout = parseTimeout(headerValue(req.headers["grpc-timeout"]), options.maxTimeoutMs);
    if (timeout.error) throw timeout.error;
    let deadline: number | undefined;
    if (timeout.timeoutMs !== undefined) {
      deadline = Date.now() + timeout.timeoutMs;
      timer = setTimeout(() => controller.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded)), timeout.timeoutMs);
    }
    const body = await readBody(req, options.readMaxBytes);
    const input = parseEnvelope(spec.method, body);
    const context: HandlerContext = {
      method: spec.method,
      service: spec.method.parent,
      signal: controller.signal,
      timeoutMs: () => (deadline === undefined ? undefined : deadline - Date.now()),
      requestMethod: "POST",
      requestHeader: requestHeaders(req),
      responseHeader,
      responseTrailer,
      protocolName: "grpc",
      values: createContextValues(),
      url: req.url,
    };
    const output = await invokeUnaryImplementation(spec, context, input, options.interceptors);
    const bytes = toBinary(spec.method.output, output as never);
    if (bytes.byteLength > options.writeMaxBytes) {
      throw new ConnectError(`message size ${bytes.byteLength} exceeds writeMaxBytes ${options.writeMaxBytes}`, Code.ResourceExhausted);
    }
    done = true;
    if (res.stream.destroyed) return;
    const envelope = Buffer.allocUnsafe(5 + bytes.byteLength);
    envelope[0] = 0;
    envelope.writeUInt32BE(bytes.byteLength, 1);
    envelope.set(bytes, 5);
    res.writeHead(200, { ...headerObject(responseHeader), "content-type": responseContentType });
    res.addTrailers({ ...headerObject(responseTrailer), "grpc-status": "0" });
    res.end(envelope);
  } catch (error) {
    done = true;
    if (res.stream.destroyed) return;
    const connectError = error instanceof ConnectError ? error : new ConnectError("internal error", Code.Internal, undefined, undefined, error);
    // Status in the trailers (with no message before them), which every gRPC client reads.
    const trailer = setTrailerStatus(new Headers(responseTrailer), connectError);
    res.writeHead(200, { ...headerObject(responseHeader), "content-type": responseContentType });
    res.addTrailers(headerObject(trailer));
    res.end();
  } finally {
    if (timer) clearTimeout(timer);
    options.shutdownSignal.removeEventListener("abort", onShutdown);
    res.off("close", onClose);
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

function requestHeaders(req: Http2ServerRequest): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (name.startsWith(":") || value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else headers.set(name, value);
  }
  return headers;
}

function headerObject(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  headers.forEach((value, name) => {
    out[name] = value;
  });
  return out;
}

function headerValue(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  return Array.isArray(value) ? (value[0] ?? null) : value;
}
