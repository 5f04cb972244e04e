import type { AddressInfo, Socket } from "node:net";
import type { Http2ServerRequest, Http2ServerResponse, ServerHttp2Session } from "node:http2";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { createValidateInterceptor } from "@connectrpc/validate";
import { createServer } from "@httptoolkit/httpolyglot";
import type { Logger } from "pino";
import { FaasAgent } from "../../gen/faas/v1/agent_pb.ts";
import { Health } from "../../gen/grpc/health/v1/health_pb.ts";
import { ServerReflection } from "../../gen/grpc/reflection/v1/reflection_pb.ts";
import { ServerReflection as ServerReflectionAlpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.ts";
import { createFaasAgentService } from "../service/connect.ts";
import type { AgentCore } from "../service/core.ts";
import type { InvocationService } from "../invocations/service.ts";
import type { AgentMetrics } from "../metrics/agent-metrics.ts";
import { RequestValidation } from "../service/validation.ts";
import { TokenAuth } from "./auth.ts";
import { errorInterceptor } from "./errors.ts";
import { createGuard } from "./guard.ts";
import { createHealthService, ServingStatus } from "./health.ts";
import { answerClientError, MAX_HEADER_BYTES, releaseWritersOnClose } from "./hygiene.ts";
import { HostPolicy } from "./hosts.ts";
import { createReflectionAlphaService, createReflectionService } from "./reflection.ts";
import { createRestHandler } from "./rest.ts";
import { createStaticHandler } from "./static.ts";
import { createReloadableTls, type TlsFiles } from "./tls.ts";
import { createGrpcUnaryHandler } from "./grpc-unary.ts";
import { createConnectUnaryHandler } from "./connect-unary.ts";
import { assignRequestId } from "./request-id.ts";
import { refuseProtoKeys } from "./proto-keys.ts";
import { keepNativeHttp2 } from "./native-h2.ts";

/** The most of a refused request body the server reads and discards so the client sees the error. */
const DRAIN_LIMIT_BYTES = 256 * 1024 * 1024;

type DrainableRequest = NodeJS.ReadableStream & { complete?: boolean; destroy(error?: Error): unknown };

/**
 * Connect stops reading a message over readMaxBytes and destroys the request, which resets the
 * HTTP/2 stream (or the HTTP/1.1 connection) while the client is still sending: the client then
 * sees a reset instead of resource_exhausted. Instead, an unfinished request body is read and
 * discarded, up to a bound, so the client finishes sending and reads the error.
 */
function drainInsteadOfDestroy(req: DrainableRequest): void {
  const destroy = req.destroy.bind(req);
  req.destroy = (error?: Error) => {
    // Node's stream iterator passes an AbortError when the reader stops early: not a failure.
    if (req.complete || (error && error.name !== "AbortError")) return destroy(error);
    let seen = 0;
    req.on("data", (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > DRAIN_LIMIT_BYTES) destroy();
    });
    req.resume();
    return req;
  };
}

export interface AgentServerOptions {
  core: AgentCore;
  /** Durable async invocations (the async RPCs and REST routes); they answer UNSUPPORTED without it. */
  invocations?: InvocationService;
  /** Served at GET /metrics (behind the same credentials as the API); no route when absent. */
  metrics?: AgentMetrics;
  logger: Logger;
  authTokens: string[];
  /** The address the server will listen on (FAAS_HOST): its name is one the Host check accepts. */
  bindHost: string;
  /** FAAS_ALLOWED_HOSTS and FAAS_ALLOWED_ORIGINS (see HostPolicy). */
  allowedHosts?: readonly string[];
  allowedOrigins?: readonly string[];
  /** TLS (and mutual TLS with a client CA) on the port; plain text when absent. */
  tls?: TlsFiles;
  /** Largest request (REST body or RPC message) accepted, in bytes. */
  maxBodyBytes: number;
  /** Largest deadline a client may ask for, in milliseconds. */
  maxTimeoutMs: number;
  /** Directory of the web page's built files, served at `/`; no page when absent. */
  webRoot?: string;
  /** Registers more services on the same stack (tests and benchmarks). */
  extraRoutes?: (router: ConnectRouter) => void;
}

/** A running agent server; `close` is graceful. */
export interface AgentServer {
  /** Starts listening; resolves with the bound address (port 0 picks a free port). */
  listen(port: number, host: string): Promise<AddressInfo>;
  /**
   * Stops accepting, ends streaming RPCs (their handlers see the shutdown signal), lets requests in
   * flight finish for up to `graceMs`, closes idle keep-alive sockets and HTTP/2 sessions, then
   * destroys whatever is left.
   */
  close(graceMs: number): Promise<void>;
  /** Re-reads the TLS certificates (SIGHUP); open connections keep theirs. No-op without TLS. */
  reloadTls(): void;
}

/**
 * The agent's one port: Connect (JSON and binary over HTTP/1.1 and h2c), gRPC (h2c) and gRPC-Web
 * for FaasAgent, the standard grpc.health.v1.Health and server reflection (v1 and v1alpha), and the
 * prototype's REST routes, told apart by httpolyglot's sniffing of the connection preface. Health
 * turns NOT_SERVING when `close` begins. build only: no socket until `listen`.
 */
export function createAgentServer(options: AgentServerOptions): AgentServer {
  const shutdown = new AbortController();
  const auth = new TokenAuth(options.authTokens);
  const validation = new RequestValidation();
  const fallback = options.webRoot ? createStaticHandler(options.webRoot) : undefined;
  const rest = createRestHandler({ core: options.core, invocations: options.invocations, metrics: options.metrics, maxBodyBytes: options.maxBodyBytes, logger: options.logger, validation, fallback });
  const serving = new ServingStatus();
  const hosts = new HostPolicy({ bindHost: options.bindHost, allowedHosts: options.allowedHosts ?? [], allowedOrigins: options.allowedOrigins ?? [], tls: options.tls !== undefined });
  const tls = options.tls ? createReloadableTls(options.tls, options.logger) : undefined;
  const rpcPrefixes = new Set<string>();
  // Connect's JSON codec takes a textDecoder (protocol/serialization.js): a fatal one refuses
  // invalid UTF-8 with invalid_argument instead of replacing it without a word.
  const STRICT_UTF8_JSON = { ignoreUnknownFields: true, textDecoder: new TextDecoder("utf-8", { fatal: true }) };
  // One implementation and one interceptor chain for the Connect adapter and the gRPC fast path.
  const agentService = createFaasAgentService(options.core, options.invocations);
  // Outermost first: errors are converted last. Credentials are checked by the guard, before this.
  const interceptors = [errorInterceptor(options.logger), createValidateInterceptor({ validator: validation.validator })];
  // The same settings for the Connect adapter and both fast paths beside it.
  const shared = {
    interceptors,
    jsonOptions: STRICT_UTF8_JSON,
    readMaxBytes: options.maxBodyBytes,
    writeMaxBytes: options.maxBodyBytes * 2,
    maxTimeoutMs: options.maxTimeoutMs,
    shutdownSignal: shutdown.signal,
  };
  const handler = connectNodeAdapter({
    routes: (router) => {
      rpcPrefixes.clear();
      router.service(FaasAgent, agentService);
      refuseProtoKeys(router, options.maxBodyBytes);
      router.service(Health, createHealthService(serving));
      const services = () => new Set(router.handlers.map((h) => h.service));
      router.service(ServerReflection, createReflectionService(services));
      router.service(ServerReflectionAlpha, createReflectionAlphaService(services));
      options.extraRoutes?.(router);
      for (const h of router.handlers) rpcPrefixes.add(`/${h.service.typeName}/`);
    },
    fallback: rest,
    ...shared,
  });
  // Unary FaasAgent calls over gRPC take a narrow fast path on the HTTP/2 stream (grpc-unary.ts),
  // unary Connect POSTs one on either HTTP version (connect-unary.ts); everything else, and every
  // other protocol, goes through the Connect adapter.
  const fastServices = [{ desc: FaasAgent, impl: agentService as never }];
  const grpcUnary = createGrpcUnaryHandler({ services: fastServices, ...shared });
  const connectUnary = createConnectUnaryHandler({ services: fastServices, ...shared });

  // Requests in flight per HTTP/1.1 socket, so that shutdown can close the idle ones at once;
  // every socket, so that whatever is left after the grace period can be destroyed.
  const active = new Map<Socket, number>();
  const sockets = new Set<Socket>();
  const sessions = new Set<ServerHttp2Session>();
  let closing = false;

  // The one gate every request passes before any handler (see guard.ts); a fast path added on
  // the HTTP/2 stream must call it too.
  const guard = createGuard({
    hosts,
    auth,
    tls: tls !== undefined,
    clientCertRequired: options.tls?.clientCaFile !== undefined,
    rpcPath: (path) => rpcPrefixes.has(path.slice(0, path.indexOf("/", 1) + 1)),
    maxBodyBytes: options.maxBodyBytes,
    logger: options.logger,
  });

  const server = createServer(
    {
      ...(tls ? { tls: tls.server } : {}),
      http: { maxHeaderSize: MAX_HEADER_BYTES, headersTimeout: 60_000, requestTimeout: 300_000 },
      http2: { settings: { maxConcurrentStreams: 1000, maxHeaderListSize: 2 * MAX_HEADER_BYTES } },
    },
    (req, res) => {
    drainInsteadOfDestroy(req);
    releaseWritersOnClose(res);
    assignRequestId(req, res);
    if (!guard(req, res)) return;
    if ("stream" in req) {
      // HTTP/2: sessions are tracked separately. The fast path runs after the guard, like every path.
      if (grpcUnary(req as unknown as Http2ServerRequest, res as unknown as Http2ServerResponse)) return;
      if (connectUnary(req, res)) return;
      return handler(req, res);
    }
    const socket = req.socket;
    const count = active.get(socket);
    if (count === undefined) socket.once("close", () => active.delete(socket));
    active.set(socket, (count ?? 0) + 1);
    res.on("close", () => {
      const left = (active.get(socket) ?? 1) - 1;
      active.set(socket, left);
      if (closing && left === 0) socket.destroy();
    });
    if (closing) res.setHeader("connection", "close");
    if (connectUnary(req, res)) return;
    handler(req, res);
    },
  );
  keepNativeHttp2(server);
  server.on("connection", (socket: Socket) => {
    // httpolyglot accepts the sockets itself, so Node's servers never apply their TCP_NODELAY
    // default: without it, Nagle and delayed ACKs put a 40 ms floor under every gRPC call.
    socket.setNoDelay(true);
    if (!sockets.has(socket)) {
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
    }
  });
  server.on("session", (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  server.on("clientError", answerClientError);

  return {
    listen(port, host) {
      return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          server.off("error", reject);
          const address = server.address() as AddressInfo;
          hosts.bind(address.port);
          resolve(address);
        });
      });
    },

    reloadTls() {
      tls?.reload();
    },

    async close(graceMs) {
      closing = true;
      tls?.close();
      serving.markShuttingDown();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      shutdown.abort();
      for (const session of sessions) session.close();
      for (const [socket, count] of active) if (count === 0) socket.destroy();
      const timer = setTimeout(() => {
        for (const socket of sockets) socket.destroy();
        for (const session of sessions) session.destroy();
      }, graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}
