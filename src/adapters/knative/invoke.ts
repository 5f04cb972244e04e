import { FaasError } from "../../domain/errors.ts";
import { ForeignResponseError, HttpClient } from "../../runtime/http-client.ts";
import type { InvokeStream } from "../../domain/types.ts";
import { httpStream } from "../../runtime/http-stream.ts";
import { callRoute, RouteCache, streamRoute, type Endpoint, type RouteCallOptions } from "../kit/endpoint.ts";

const ROUTE_OPTIONS: RouteCallOptions = {
  // The ingress answers 404 (no such host yet) or 503 (no ready revision) for a stale route.
  retryable: (error) => error instanceof ForeignResponseError && (error.status === 404 || error.status === 503),
  unreachable: (fn, error) => new FaasError("unavailable", `function "${fn}" did not answer through the ingress: ${error.message}`, { reason: "WORKER_CRASHED", cause: error }),
};

/**
 * Calls functions through Knative's ingress: POST JSON to `KNATIVE_INGRESS_URL` with `Host` set to
 * the host of the Service's status.url, or to status.url itself when no ingress is configured.
 * Each function's route is resolved once (through `lookup`, an API read) and cached (kit
 * RouteCache); connections are pooled per address, so an invoke is one request on an open socket.
 * A call that gets no answer, or the ingress's answer for an unknown host, drops the cached route
 * and tries once more.
 */
export class IngressInvoker {
  private readonly routes: RouteCache;
  private readonly clients = new Map<string, HttpClient>();
  private readonly ingress: URL | undefined;

  constructor(
    ingressUrl: string | undefined,
    lookup: (id: string, signal: AbortSignal) => Promise<string>,
    private readonly timeoutMs: number,
  ) {
    this.ingress = ingressUrl ? new URL(ingressUrl) : undefined;
    this.routes = new RouteCache(async (id, signal) => this.route(await lookup(id, signal)));
  }

  /** Calls function `id` with `payloadJson`; returns the result JSON text. */
  async call(id: string, payloadJson: string, signal: AbortSignal): Promise<string> {
    try {
      const { resultJson } = await callRoute(this.routes, id, payloadJson, signal, ROUTE_OPTIONS);
      return resultJson;
    } catch (error) {
      throw foreign(error);
    }
  }

  /** Calls function `id` as a stream: chunked NDJSON from its runtime, through the ingress as it comes. */
  stream(id: string, payloadJson: string, signal: AbortSignal): InvokeStream {
    const stream = streamRoute(this.routes, id, payloadJson, signal, ROUTE_OPTIONS);
    async function* chunks(): AsyncGenerator<string> {
      try {
        yield* stream.chunks;
      } catch (error) {
        throw foreign(error);
      }
    }
    return { chunks: chunks(), get coldStart() { return stream.coldStart; } };
  }

  /** Sets a function's route from a Service's status.url it already has (after a deploy). */
  remember(id: string, url: string): void {
    this.routes.remember(id, this.route(url));
  }

  /** Forgets a function's route (after a deploy, a traffic change or a delete). */
  forget(id: string): void {
    this.routes.forget(id);
  }

  /** Closes every pooled connection. */
  close(): void {
    this.routes.close();
    for (const client of this.clients.values()) client.destroy();
    this.clients.clear();
  }

  /** The endpoint of a function at `statusUrl`: a request on the pooled client of its address. */
  private route(statusUrl: string): Endpoint {
    const url = new URL(statusUrl);
    const target = this.ingress ?? url;
    const port = Number(target.port || (target.protocol === "https:" ? 443 : 80));
    if (target.protocol !== "http:") throw new FaasError("failed_precondition", `only http:// ingress addresses are supported, not ${target.protocol}`, { reason: "PLATFORM_UNAVAILABLE" });
    const key = `${target.hostname}:${port}`;
    let client = this.clients.get(key);
    if (!client) {
      client = new HttpClient(target.hostname.replace(/^\[|\]$/g, ""), port);
      this.clients.set(key, client);
    }
    const pooled = client;
    const stream = { host: pooled.host, port, hostHeader: url.host };
    // Routes share their address's pool: closing one route leaves the pool to `close`.
    return {
      call: (payloadJson, signal) => pooled.call(payloadJson, this.timeoutMs, signal, url.host),
      // A stream has a connection of its own: its answer closes it.
      stream: (payloadJson, signal) => httpStream(stream, payloadJson, this.timeoutMs, signal),
      close() {},
    };
  }
}

function foreign(error: unknown): unknown {
  return error instanceof ForeignResponseError ? new FaasError("unavailable", `the ingress ${error.message}`, { reason: "WORKER_CRASHED", cause: error }) : error;
}
