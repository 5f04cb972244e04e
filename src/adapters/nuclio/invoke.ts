import { Agent, request } from "node:http";
import { FaasError, functionNotFound } from "../../domain/errors.ts";
import { isRuntimeReason, runtimeError } from "../../runtime/reasons.ts";
import { ConnectionError } from "../../runtime/http-client.ts";
import { chunksOfBody, STREAM_ACCEPT } from "../../runtime/http-stream.ts";
import { callRoute, RouteCache, streamRoute, type Endpoint } from "../kit/endpoint.ts";
import type { Dashboard, DashboardResponse } from "./dashboard.ts";
import { getFunction } from "./follow.ts";

/**
 * How calls reach a function: through the dashboard's invocation proxy (the default: works from
 * anywhere the dashboard is reachable), or straight to the function at the first internal URL (the
 * agent runs in the cluster) or external URL (NodePort) of its status, as nuctl's --via does.
 */
export type InvokeVia = "dashboard" | "internal" | "external";

/**
 * Calls functions with one keep-alive pool: nothing is spawned and nothing is looked up per call
 * (a direct URL is read from the function's status once, then cached until a call fails).
 */
export class FunctionInvoker {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 256 });
  private readonly routes = new RouteCache((id, signal) => this.lookup(id, signal));

  constructor(
    private readonly dashboard: Dashboard,
    private readonly via: InvokeVia,
    private readonly timeoutMs: number,
    /** The HTTP trigger's maxRequestBodySize the agent renders; a longer body would get Nuclio's 400. */
    private readonly maxBodyBytes: number,
  ) {}

  /**
   * Calls `handle` as a stream. Nuclio's wrapper answers an event once, when the handler is done
   * (entry.py's docstring), so the chunks all come then, from the entry module's NDJSON answer.
   */
  async *stream(id: string, payloadJson: string, signal: AbortSignal): AsyncGenerator<string> {
    if (this.via !== "dashboard") {
      yield* streamRoute(this.routes, id, payloadJson, signal, { unreachable: directUnreachable }).chunks;
      return;
    }
    yield* chunksOfBody(await this.invoke(id, payloadJson, signal, STREAM_ACCEPT));
  }

  /** Calls `handle` with `payloadJson`; resolves with the result JSON text (the NDJSON of a stream with `accept`). */
  async invoke(id: string, payloadJson: string, signal: AbortSignal, accept?: string): Promise<string> {
    const size = Buffer.byteLength(payloadJson);
    if (size > this.maxBodyBytes) {
      throw new FaasError("resource_exhausted", `the payload is ${size} bytes; the function's HTTP trigger accepts at most ${this.maxBodyBytes} (maxRequestBodySize)`, { reason: "REQUEST_TOO_LARGE" });
    }
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const both = AbortSignal.any([signal, timeout]);
    try {
      if (this.via !== "dashboard") return (await callRoute(this.routes, id, payloadJson, both, { unreachable: directUnreachable })).resultJson;
      const res = await this.viaDashboard(id, payloadJson, both, accept);
      if (res.status === 200) return res.text;
      throw this.failure(id, res);
    } catch (error) {
      if (timeout.aborted) throw new FaasError("deadline_exceeded", `function did not return within ${this.timeoutMs / 1000} s`, { reason: "INVOKE_TIMEOUT" });
      if (signal.aborted) throw new FaasError("cancelled", "the call was cancelled by the caller", { reason: "CANCELLED", cause: signal.reason });
      throw error;
    }
  }

  /** Drops a cached URL (after a deploy or delete). */
  forget(id: string): void {
    this.routes.forget(id);
  }

  close(): void {
    this.routes.close();
    this.agent.destroy();
  }

  private viaDashboard(id: string, payloadJson: string, signal: AbortSignal, accept?: string): Promise<DashboardResponse> {
    return this.dashboard.call("POST", "api/function_invocations", {
      body: payloadJson,
      signal,
      headers: {
        ...(accept ? { accept } : {}),
        "content-type": "application/json",
        "x-nuclio-function-name": id,
        "x-nuclio-path": "/",
        "x-nuclio-invoke-timeout": `${this.timeoutMs}ms`,
      },
    });
  }

  /** The function's first internal or external invocation URL, from its status; cached. */
  private async lookup(id: string, signal: AbortSignal): Promise<Endpoint> {
    const fn = await getFunction(this.dashboard, id, signal);
    if (!fn) throw functionNotFound(id);
    const address = (this.via === "internal" ? fn.status?.internalInvocationUrls : fn.status?.externalInvocationUrls)?.[0];
    if (!address) throw new FaasError("unavailable", `Nuclio function "${id}" has no ${this.via} invocation URL (state ${fn.status?.state ?? "unknown"})`, { reason: "PLATFORM_UNAVAILABLE" });
    const url = /^https?:\/\//.test(address) ? address : `http://${address}`;
    // The pool is shared by every function: closing one route leaves it to `close`.
    const call = async (payloadJson: string, signal: AbortSignal, accept?: string) => {
      const res = await post(this.agent, url, payloadJson, signal, accept);
      if (res.status === 200) return res.text;
      throw this.failure(id, res);
    };
    return {
      call,
      stream: async function* (payloadJson, signal) {
        yield* chunksOfBody(await call(payloadJson, signal, STREAM_ACCEPT));
      },
      close() {},
    };
  }

  /** A non-200 answer: the entry module's errors as on every platform, the dashboard's own otherwise. */
  private failure(id: string, res: DashboardResponse): FaasError {
    let parsed: { reason?: string; error?: unknown } = {};
    try {
      parsed = JSON.parse(res.text) as typeof parsed;
    } catch {
      // not JSON
    }
    if (isRuntimeReason(parsed.reason)) return runtimeError(parsed.reason, parsed.error ?? {});
    const message = typeof parsed.error === "string" ? parsed.error : res.text.slice(0, 500);
    if (res.status === 404) return functionNotFound(id);
    return new FaasError("unavailable", `Nuclio could not invoke function "${id}" (HTTP ${res.status}): ${message}`, { reason: "PLATFORM_UNAVAILABLE" });
  }
}

/** POSTs to a function; a failure before any answer is a ConnectionError (retried once by callRoute). */
function post(agent: Agent, url: string, payloadJson: string, signal: AbortSignal, accept?: string): Promise<DashboardResponse> {
  const body = Buffer.from(payloadJson);
  return new Promise((resolve, reject) => {
    let answered = false;
    const headers = { "content-type": "application/json", "content-length": String(body.length), ...(accept ? { accept } : {}) };
    const req = request(url, { method: "POST", agent, signal, headers }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", (error) => reject(answered || signal.aborted ? error : new ConnectionError(error)));
    req.end(body);
  });
}

function directUnreachable(id: string, error: Error): FaasError {
  return new FaasError("unavailable", `Nuclio function "${id}" did not answer: ${error.message}`, { reason: "WORKER_CRASHED", cause: error });
}
