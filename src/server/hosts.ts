import { networkInterfaces } from "node:os";
import { isLoopbackHost } from "../config.ts";

/** What the Host and Origin checks need to know about the agent. */
export interface HostPolicyOptions {
  /** The address the agent listens on (FAAS_HOST). */
  bindHost: string;
  /** FAAS_ALLOWED_HOSTS entries: `name`, `name:port`, `.suffix` (the name and its subdomains), `*`. */
  allowedHosts: readonly string[];
  /** FAAS_ALLOWED_ORIGINS: exact origins (`https://app.example.com`) a browser may call from. */
  allowedOrigins: readonly string[];
  /** Whether the port speaks TLS: a Host without a port then means 443, else 80. */
  tls: boolean;
}

/** How a request's Origin relates to the agent. */
export type OriginVerdict = "own" | "allowed" | "refused";

/**
 * The DNS-rebinding defence (as the MCP SDK, Vite's `server.allowedHosts` and Jupyter do it): a
 * request is answered only when its Host names this agent — a loopback name or address on the
 * agent's port, FAAS_HOST on that port (every interface address when FAAS_HOST is a wildcard), or
 * an FAAS_ALLOWED_HOSTS entry. A page whose name was rebound to 127.0.0.1 still sends its own name
 * as Host, so it is refused before any route runs.
 */
export class HostPolicy {
  private readonly exact = new Set<string>();
  private readonly anyPort = new Set<string>();
  private readonly suffixes: string[] = [];
  private readonly anyHost: boolean;
  private readonly origins: Set<string>;
  private port = 0;

  constructor(private readonly options: HostPolicyOptions) {
    this.anyHost = options.allowedHosts.includes("*");
    for (const entry of options.allowedHosts) {
      if (entry === "*") continue;
      if (entry.startsWith(".")) this.suffixes.push(entry);
      else if (splitHost(entry).port === undefined) this.anyPort.add(entry);
      else this.exact.add(entry);
    }
    this.origins = new Set(options.allowedOrigins);
  }

  /** Sets the port the agent listens on, once it is bound (port 0 picks one). */
  bind(port: number): void {
    this.port = port;
    const names = ["localhost", "127.0.0.1", "[::1]"];
    const bind = this.options.bindHost.toLowerCase();
    if (bind === "0.0.0.0" || bind === "::" || bind === "[::]") {
      // A wildcard listens on every interface: each address is this agent (Kubernetes probes use the pod IP).
      for (const addresses of Object.values(networkInterfaces())) {
        for (const a of addresses ?? []) names.push(a.family === "IPv6" ? `[${a.address.split("%")[0]}]` : a.address);
      }
    } else {
      names.push(bind.includes(":") && !bind.startsWith("[") ? `[${bind}]` : bind);
    }
    for (const name of names) this.exact.add(`${name}:${port}`);
  }

  /** Whether a Host header (or HTTP/2 :authority) names this agent. */
  allowsHost(host: string | undefined): boolean {
    if (this.anyHost) return true;
    if (!host) return false;
    const value = host.toLowerCase();
    const { name, port } = splitHost(value);
    const effectivePort = port ?? (this.options.tls ? 443 : 80);
    if (this.exact.has(`${name}:${effectivePort}`) || this.anyPort.has(name)) return true;
    // Loopback names other than the listed ones (127.0.0.2, app.localhost) on the agent's port.
    if (effectivePort === this.port && isLoopbackHost(name)) return true;
    return this.suffixes.some((s) => name === s.slice(1) || name.endsWith(s));
  }

  /**
   * Whether an Origin header is the agent's own (the same host and port as the request's Host,
   * whatever the scheme, so that a TLS-terminating proxy in front still counts as own), one of
   * FAAS_ALLOWED_ORIGINS, or neither. `null` and malformed origins are refused.
   */
  origin(origin: string, host: string | undefined): OriginVerdict {
    if (this.origins.has(origin)) return "allowed";
    if (!host || !URL.canParse(origin)) return "refused";
    const url = new URL(origin);
    if (url.origin === "null") return "refused";
    const h = host.toLowerCase().replace(/:(80|443)$/, "");
    return url.host === h ? "own" : "refused";
  }
}

/** Splits `name[:port]` (IPv6 in brackets); port undefined when absent or malformed. */
export function splitHost(value: string): { name: string; port: number | undefined } {
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d{1,5}))?$/.exec(value);
  if (!m) return { name: value, port: undefined };
  return { name: m[1]!, port: m[2] === undefined ? undefined : Number(m[2]) };
}
