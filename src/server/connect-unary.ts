import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { DescService } from "@bufbuild/protobuf";
import type { JsonReadOptions, JsonWriteOptions } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor, type ServiceImpl } from "@connectrpc/connect";
import { compressionNegotiate, createMethodSerializationLookup, invokeUnaryImplementation, type Compression } from "@connectrpc/connect/protocol";
import { codeToHttpStatus, errorToJsonBytes, parseContentType, parseTimeout, trailerMux } from "@connectrpc/connect/protocol-connect";
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";
import { callSignal, headerObject, headerValue, unaryContext, unarySpecs, type UnarySpec } from "./unary-path.ts";

/** What the fast path serves, and with the same settings as the Connect adapter beside it. */
export interface ConnectUnaryOptions {
  /** The services whose unary methods take the fast path, with the implementations Connect also routes to. */
  services: ReadonlyArray<{ desc: DescService; impl: ServiceImpl<DescService> }>;
  /** The Connect adapter's own interceptors (validation, error conversion, …), run in the same order. */
  interceptors: Interceptor[];
  /** The Connect adapter's JSON options (a strict UTF-8 decoder, unknown fields ignored). */
  jsonOptions: Partial<JsonReadOptions & JsonWriteOptions>;
  readMaxBytes: number;
  writeMaxBytes: number;
  maxTimeoutMs: number;
  /** Aborted when the server shuts down; handlers see it through `ctx.signal`. */
  shutdownSignal: AbortSignal;
}

type Request = IncomingMessage | Http2ServerRequest;
type Response = ServerResponse | Http2ServerResponse;

/** Serves a request when it is a plain unary Connect POST; returns false (untouched) for anything else. */
export type ConnectUnaryHandler = (req: Request, res: Response) => boolean;

/** Responses of at least this many bytes are compressed when the client accepts it (connect-node's default). */
const COMPRESS_MIN_BYTES = 1024;
/** What connect-node's adapter accepts and offers by default (connect-node-adapter.js). */
const COMPRESSIONS: Compression[] = [compressionGzip, compressionBrotli];

/**
 * A narrow fast path for unary calls in the Connect protocol (POST, JSON or binary), over HTTP/1.1
 * and HTTP/2: the calls the web page, curl and Connect clients make. connect-node runs every call
 * through its universal request/response layer (Web `Headers`, async iterables for one message, a
 * linked AbortController aborted with a DOMException at the end of every call), which costs a
 * unary call about twice what the agent's own work does. This path reads the body, decodes it
 * with Connect's own serialization (same options, same errors), runs the very interceptors and
 * implementation Connect would run (`invokeUnaryImplementation`: validation and error details are
 * Connect's), and answers as Connect's handler does (protocol-connect/handler-factory.js
 * createUnaryHandler): status from the code, `errorToJsonBytes`, trailers as `trailer-` headers,
 * responses of 1 KiB or more compressed with what Accept-Encoding names.
 *
 * Left to Connect: GET requests, compressed requests (Content-Encoding other than identity),
 * streaming content types and methods, and every other protocol. Call it only after the edge's
 * checks.
 */
export function createConnectUnaryHandler(options: ConnectUnaryOptions): ConnectUnaryHandler {
  const specs = unarySpecs(options.services);
  const limits = { readMaxBytes: options.readMaxBytes, writeMaxBytes: options.writeMaxBytes, compressMinBytes: COMPRESS_MIN_BYTES };
  const serializations = new Map<UnarySpec, ReturnType<typeof createMethodSerializationLookup>>();
  for (const spec of specs.values()) {
    serializations.set(spec, createMethodSerializationLookup(spec.method, undefined, options.jsonOptions, limits));
  }

  return (req, res) => {
    if (req.method !== "POST") return false;
    const type = parseContentType(req.headers["content-type"] ?? null);
    if (type === undefined || type.stream) return false;
    const encoding = req.headers["content-encoding"];
    if (encoding !== undefined && encoding !== "identity") return false;
    const spec = specs.get((req.url ?? "/").split("?", 1)[0]!);
    if (!spec) return false;
    serve(spec, serializations.get(spec)!, type.binary, req, res, options).catch((error: unknown) => {
      // Only a failure to write is left here: the connection is gone.
      res.destroy(error instanceof Error ? error : undefined);
    });
    return true;
  };
}

async function serve(
  spec: UnarySpec,
  serialization: ReturnType<typeof createMethodSerializationLookup>,
  binary: boolean,
  req: Request,
  res: Response,
  options: ConnectUnaryOptions,
): Promise<void> {
  const responseHeader = new Headers({ "content-type": binary ? "application/proto" : "application/json" });
  const responseTrailer = new Headers();
  const timeout = parseTimeout(headerValue(req.headers["connect-timeout-ms"]), options.maxTimeoutMs);
  const call = callSignal(res, options.shutdownSignal, timeout.error ? undefined : timeout.timeoutMs);
  const compression = compressionNegotiate(COMPRESSIONS, null, headerValue(req.headers["accept-encoding"]), "Accept-Encoding");
  let status = 200;
  let body: Uint8Array;
  try {
    if (timeout.error) throw timeout.error;
    const bytes = await readBody(req, options.readMaxBytes);
    const input = serialization.getI(binary).parse(bytes);
    const context = unaryContext(spec, "connect", call, req, responseHeader, responseTrailer);
    const output = await invokeUnaryImplementation(spec, context, input, options.interceptors);
    body = serialization.getO(binary).serialize(output);
  } catch (error) {
    const connectError = error instanceof ConnectError ? error : new ConnectError("internal error", Code.Internal, undefined, undefined, error);
    status = codeToHttpStatus(connectError.code);
    responseHeader.set("content-type", "application/json");
    connectError.metadata.forEach((value, key) => responseHeader.set(key, value));
    body = errorToJsonBytes(connectError, options.jsonOptions);
  } finally {
    call.finish();
  }
  if (compression.response && body.byteLength >= COMPRESS_MIN_BYTES) {
    body = await compression.response.compress(body);
    responseHeader.set("content-encoding", compression.response.name);
  }
  const header = trailerMux(responseHeader, responseTrailer);
  header.set("content-length", String(body.byteLength));
  if (res.destroyed) return;
  (res as ServerResponse).writeHead(status, headerObject(header));
  (res as ServerResponse).end(body);
}

/**
 * The request body, whole, with the errors Connect's readAllBytes gives: a Content-Length over
 * readMaxBytes is refused before reading (the server's drain reads the rest), a body that grows
 * over it as soon as it does, one that differs from its Content-Length as a protocol error.
 */
function readBody(req: Request, readMaxBytes: number): Promise<Uint8Array> {
  const declared = req.headers["content-length"];
  const hint = declared === undefined ? undefined : Number.parseInt(declared, 10);
  const known = hint !== undefined && Number.isSafeInteger(hint) && hint >= 0;
  if (known && hint > readMaxBytes) {
    return Promise.reject(new ConnectError(`message size ${hint} is larger than configured readMaxBytes ${readMaxBytes}`, Code.ResourceExhausted));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    const fail = (error: ConnectError) => {
      failed = true;
      chunks.length = 0;
      reject(error);
    };
    req.on("data", (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (known && size > hint) fail(new ConnectError(`protocol error: promised ${hint} bytes, received ${size}`, Code.InvalidArgument));
      else if (size > readMaxBytes) fail(new ConnectError(`message size is larger than configured readMaxBytes ${readMaxBytes}`, Code.ResourceExhausted));
      else chunks.push(chunk);
    });
    req.once("end", () => {
      if (failed) return;
      if (known && size < hint) return fail(new ConnectError(`protocol error: promised ${hint} bytes, received ${size}`, Code.InvalidArgument));
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
    req.once("error", (error) => {
      if (!failed) fail(ConnectError.from(error, Code.Internal));
    });
    req.once("aborted", () => {
      if (!failed) fail(new ConnectError("the client cancelled the call", Code.Canceled));
    });
  });
}
