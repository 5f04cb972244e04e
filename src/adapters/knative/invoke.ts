import { FaasError } from "../../domain/errors.ts";
import { ConnectionError, ForeignResponseError, HttpClient } from "../../runtime/http-client.ts";

/** Where a function is reached: an address to connect to and the Host header to send. */
interface Route {
  client: HttpClient;
  host: string;
}

/**
 * Calls functions through Knative's ingress: POST JSON to `KNATIVE_INGRESS_URL` with `Host` set to
 * the host of the Service's status.url, or to status.url itself when no ingress is configured.
 * Each function's route is resolved once (through `lookup`, an API read) and cached; connections
 * are pooled per address, so an invoke is one request on an open socket. A call that gets no
 * answer, or the ingress's answer for an unknown host, drops the cached route and tries once more.
 */
export class IngressInvoker {
  private readonly routes = new Map<string, Route>();
  private readonly clients = new Map<string, HttpClient>();
  private readonly ingress: URL | undefined;

  constructor(
    ingressUrl: string | undefined,
    private readonly lookup: (id: string, signal: AbortSignal) => Promise<string>,
    private readonly timeoutMs: number,
  ) {
    this.ingress = ingressUrl ? new URL(ingressUrl) : undefined;
  }

  /** Calls function `id` with `payloadJson`; returns the result JSON text. */
  async call(id: string, payloadJson: string, signal: AbortSignal): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      const route = this.routes.get(id) ?? (await this.resolve(id, signal));
      try {
        return await route.client.call(payloadJson, this.timeoutMs, signal, route.host);
      } catch (error) {
        const retryable = error instanceof ConnectionError || (error instanceof ForeignResponseError && (error.status === 404 || error.status === 503));
        if (!retryable && error instanceof ForeignResponseError) {
          throw new FaasError("unavailable", `the ingress ${error.message}`, { reason: "WORKER_CRASHED", cause: error });
        }
        if (!retryable) throw error;
        this.routes.delete(id);
        if (attempt > 0) {
          throw new FaasError("unavailable", `function "${id}" did not answer through the ingress: ${error.message}`, { reason: "WORKER_CRASHED", cause: error });
        }
      }
    }
  }

  /** Sets a function's route from a Service's status.url it already has (after a deploy). */
  remember(id: string, url: string): void {
    this.routes.set(id, this.route(url));
  }

  /** Forgets a function's route (after a deploy, a traffic change or a delete). */
  forget(id: string): void {
    this.routes.delete(id);
  }

  /** Closes every pooled connection. */
  close(): void {
    for (const client of this.clients.values()) client.destroy();
    this.clients.clear();
    this.routes.clear();
  }

  private async resolve(id: string, signal: AbortSignal): Promise<Route> {
    const route = this.route(await this.lookup(id, signal));
    this.routes.set(id, route);
    return route;
  }

  private route(statusUrl: string): Route {
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
    return { client, host: url.host };
  }
}
