import { Agent, createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { ControllerSim } from "./controller.ts";
import type { ObjectStore, Obj } from "./store.ts";

/**
 * The ingress gateway (Kourier's role): routes each request by its Host header to a revision's
 * container according to the Service's status.traffic, choosing by weighted random draw per
 * request; `{tag}-{name}.{ns}.{domain}` reaches the tagged revision. Unknown hosts get 404 with
 * an empty body. Counts requests per revision for tests.
 */
export class IngressSim {
  private readonly server: Server;
  private readonly agent = new Agent({ keepAlive: true });
  /** Requests routed, by revision name. */
  readonly routed = new Map<string, number>();
  /**
   * Answer as a re-framing hop does: drop the function's Content-Length and send the body with
   * `Transfer-Encoding: chunked`, in several chunks (any HTTP/1.1 hop may, RFC 9112 §6.1 and §7.1;
   * Envoy does when its upstream answered over HTTP/2 without a length).
   */
  chunked = false;

  constructor(
    private readonly store: ObjectStore,
    private readonly controller: ControllerSim,
    private readonly namespaces: Set<string>,
    private readonly domain: string,
  ) {
    this.server = createServer((req, res) => {
      const host = (req.headers.host ?? "").replace(/:\d+$/, "");
      const revision = this.pick(host);
      const port = revision ? this.controller.revisions.get(revision)?.port : undefined;
      if (!revision || !port) {
        req.resume();
        res.writeHead(404, { "content-length": 0 });
        return void res.end();
      }
      this.routed.set(revision, (this.routed.get(revision) ?? 0) + 1);
      const upstream = request({ host: "127.0.0.1", port, method: req.method, path: req.url, headers: { ...req.headers, "k-revision": revision }, agent: this.agent }, (up) => {
        if (!this.chunked) {
          res.writeHead(up.statusCode ?? 502, up.headers);
          return void up.pipe(res);
        }
        const { "content-length": _length, ...headers } = up.headers;
        res.writeHead(up.statusCode ?? 502, { ...headers, "transfer-encoding": "chunked" });
        up.on("data", (data: Buffer) => {
          // Split each piece in two so that every response has several chunks.
          const half = Math.ceil(data.length / 2);
          res.write(data.subarray(0, half));
          if (half < data.length) res.write(data.subarray(half));
        });
        up.on("end", () => res.end());
      });
      // A client that goes away resets the hop to the function: the queue-proxy forwards with Go's
      // httputil.ReverseProxy, whose outgoing request carries the incoming request's context, which
      // is cancelled when the client closes (golang/go @ 03c62d50d3eb
      // src/net/http/httputil/reverseproxy.go:180-195, ServeHTTP: ctx, CloseNotify → cancel,
      // outreq := req.WithContext(ctx)).
      res.on("close", () => {
        if (!res.writableFinished) upstream.destroy();
      });
      upstream.on("error", () => {
        if (!res.headersSent) res.writeHead(503, { "content-length": 0 });
        res.end();
      });
      req.pipe(upstream);
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.agent.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The revision a request for `host` goes to, or undefined when no route serves that host. */
  private pick(host: string): string | undefined {
    for (const ns of this.namespaces) {
      for (const svc of this.store.list("services", ns)) {
        const traffic = (svc.status?.traffic ?? []) as Obj[];
        const base = `${svc.metadata.name}.${ns}.${this.domain}`;
        if (host === base) return weighted(traffic);
        const tagged = traffic.find((t) => t.tag && host === `${t.tag}-${base}`);
        if (tagged) return tagged.revisionName as string;
      }
    }
    return undefined;
  }
}

function weighted(traffic: Obj[]): string | undefined {
  const total = traffic.reduce((s, t) => s + (t.percent ?? 0), 0);
  if (total <= 0) return undefined;
  let draw = Math.random() * total;
  for (const t of traffic) {
    draw -= t.percent ?? 0;
    if (draw < 0) return t.revisionName as string;
  }
  return traffic.at(-1)?.revisionName as string;
}
