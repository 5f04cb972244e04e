import { Agent, request, type IncomingHttpHeaders } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { FaasError } from "../../domain/errors.ts";

/** A response from the dashboard (or a function behind it), body read in full. */
export interface DashboardResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/**
 * The Nuclio dashboard's REST API (platform-apis.md §B2) over one keep-alive pool: every request
 * carries the namespace header (and the project header where the dashboard reads it). Errors
 * reaching the dashboard become FaasError unavailable PLATFORM_UNAVAILABLE naming its URL; HTTP
 * error statuses are returned for the caller to map.
 */
export class Dashboard {
  private readonly base: URL;
  private readonly agent: Agent;
  private readonly send: typeof request;

  constructor(
    baseUrl: string,
    readonly namespace: string,
    readonly project: string,
  ) {
    this.base = new URL(baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`);
    const https = this.base.protocol === "https:";
    this.agent = https ? new HttpsAgent({ keepAlive: true, maxSockets: 64 }) : new Agent({ keepAlive: true, maxSockets: 64 });
    this.send = https ? (httpsRequest as unknown as typeof request) : request;
  }

  /** The dashboard's URL, for messages. */
  get url(): string {
    return this.base.href.replace(/\/$/, "");
  }

  /**
   * One request to `path` (relative to the dashboard, e.g. "api/functions"). `body` is sent as
   * JSON (a string as it is). Resolves with any HTTP status; rejects only when the dashboard cannot
   * be reached or `signal` aborts. `anyProject` leaves out the project header, which the dashboard
   * reads as a filter on reads (dashboard/resource/function.go:686-691) and as the label to set on
   * creates.
   */
  call(
    method: string,
    path: string,
    options: { body?: unknown; headers?: Record<string, string>; signal?: AbortSignal; timeoutMs?: number; anyProject?: boolean } = {},
  ): Promise<DashboardResponse> {
    const url = new URL(path, this.base);
    const payload = options.body === undefined ? undefined : Buffer.from(typeof options.body === "string" ? options.body : JSON.stringify(options.body));
    const headers: Record<string, string> = {
      "x-nuclio-function-namespace": this.namespace,
      ...(options.anyProject ? {} : { "x-nuclio-project-name": this.project }),
      ...options.headers,
    };
    if (payload) {
      headers["content-type"] ??= "application/json";
      headers["content-length"] = String(payload.length);
    }
    return new Promise((resolve, reject) => {
      const req = this.send(url, { method, headers, agent: this.agent, signal: options.signal, timeout: options.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", (e) => reject(this.unreachable(e)));
      });
      req.on("timeout", () => req.destroy(new Error(`no answer within ${options.timeoutMs} ms`)));
      req.on("error", (e) => reject(options.signal?.aborted ? abortError(options.signal) : this.unreachable(e)));
      req.end(payload);
    });
  }

  /** Like `call`, for a streamed response (pod logs): resolves once the headers are in. */
  stream(path: string, signal: AbortSignal): Promise<{ status: number; body: AsyncIterable<Buffer> }> {
    const url = new URL(path, this.base);
    return new Promise((resolve, reject) => {
      const req = this.send(url, { method: "GET", headers: { "x-nuclio-function-namespace": this.namespace }, agent: this.agent, signal }, (res) => {
        resolve({ status: res.statusCode ?? 0, body: res });
      });
      req.on("error", (e) => reject(signal.aborted ? abortError(signal) : this.unreachable(e)));
      req.end();
    });
  }

  /** Closes the pool's idle connections. */
  close(): void {
    this.agent.destroy();
  }

  private unreachable(error: Error): FaasError {
    return new FaasError("unavailable", `the Nuclio dashboard at ${this.url} is unreachable: ${error.message}`, {
      reason: "PLATFORM_UNAVAILABLE",
      cause: error,
    });
  }
}

/** The dashboard's error text: `{"error": ...}` bodies, or the body itself. */
export function dashboardError(res: DashboardResponse): string {
  try {
    const parsed = JSON.parse(res.text) as { error?: unknown };
    if (typeof parsed.error === "string") return parsed.error;
  } catch {
    // not JSON
  }
  return res.text.trim().slice(0, 500) || `HTTP ${res.status}`;
}

function abortError(signal: AbortSignal): FaasError {
  const reason = signal.reason as Error | undefined;
  if (reason?.name === "TimeoutError") return new FaasError("deadline_exceeded", "the Nuclio dashboard did not answer in time", { reason: "DEPLOY_TIMEOUT", cause: reason });
  return new FaasError("cancelled", "the request was cancelled", { reason: "CANCELLED", cause: reason });
}
