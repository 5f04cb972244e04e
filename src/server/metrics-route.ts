import type { ConnectNodeAdapterOptions } from "@connectrpc/connect-node";
import type { AgentMetrics } from "../metrics/agent-metrics.ts";

/**
 * GET /metrics: the Prometheus text format. It is a REST route like the others, so it sits behind
 * the edge guard and needs the bearer token when FAAS_AUTH_TOKEN is set (Prometheus sends one with
 * `authorization: {credentials: ...}` or `bearer_token_file`).
 */
type Fallback = NonNullable<ConnectNodeAdapterOptions["fallback"]>;

export function metricsRoute(metrics: AgentMetrics) {
  return async (_req: Parameters<Fallback>[0], res: Parameters<Fallback>[1]): Promise<void> => {
    const text = await metrics.text();
    res.writeHead(200, { "content-type": metrics.contentType, "content-length": Buffer.byteLength(text), "cache-control": "no-store" });
    res.end(text);
  };
}
