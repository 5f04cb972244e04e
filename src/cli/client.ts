import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { FaasAgent } from "../../gen/faas/v1/agent_pb.ts";

/** Where the CLI finds the agent when neither --agent nor FAAS_AGENT_URL says. */
export const DEFAULT_AGENT_URL = "http://localhost:5000";

/** How the CLI reaches the agent. */
export interface Connection {
  /** The agent's base URL, e.g. http://localhost:5000. */
  agentUrl: string;
  /** Bearer token sent as `Authorization: Bearer <token>` on every call; none when empty. */
  token: string;
  /** For an https:// agent: CA certificates to trust, and a client certificate and key for mutual TLS. */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
}

/**
 * A FaasAgent client over Connect (binary, HTTP/1.1, so it works through any HTTP proxy the agent
 * sits behind), with the bearer token on every request.
 */
export function createAgentClient(connection: Connection): Client<typeof FaasAgent> {
  const interceptors: Interceptor[] = [];
  if (connection.token) {
    interceptors.push((next) => (req) => {
      req.header.set("authorization", `Bearer ${connection.token}`);
      return next(req);
    });
  }
  const transport = createConnectTransport({
    baseUrl: connection.agentUrl,
    httpVersion: "1.1",
    useBinaryFormat: true,
    interceptors,
    nodeOptions: connection.tls,
  });
  return createClient(FaasAgent, transport);
}
