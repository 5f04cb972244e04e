import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { DeployPhase, FaasAgent } from "../../gen/faas/v1/agent_pb.ts";

/** The deploy phases in order, with the names the page shows. */
export const PHASES: Array<[DeployPhase, string]> = [
  [DeployPhase.VALIDATING, "validating"],
  [DeployPhase.PACKAGING, "packaging"],
  [DeployPhase.BUILDING, "building"],
  [DeployPhase.DEPLOYING, "deploying"],
  [DeployPhase.READY, "ready"],
];

/** The FaasAgent client the page uses. */
export type AgentClient = Client<typeof FaasAgent>;

/**
 * A FaasAgent client over Connect (JSON, fetch) against the page's own origin; `token()` is read
 * on every call and, when not empty, sent as a bearer token.
 */
export function createAgentClient(token: () => string): AgentClient {
  const transport = createConnectTransport({
    baseUrl: window.location.origin,
    interceptors: [
      (next) => (req) => {
        const value = token();
        if (value) req.header.set("authorization", `Bearer ${value}`);
        return next(req);
      },
    ],
  });
  return createClient(FaasAgent, transport);
}

/** Parses `KEY=VALUE` lines (blank lines ignored) into a map; throws on a malformed line. */
export function parseKeyValues(text: string, what = "params"): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line) continue;
    const eq = line.indexOf("=");
    if (eq <= 0) throw new Error(`${what} take KEY=VALUE per line, got "${line}"`);
    out[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return out;
}
