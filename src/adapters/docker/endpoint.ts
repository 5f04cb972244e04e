import { Agent, request } from "node:http";
import { FaasError } from "../../domain/errors.ts";
import { callError } from "../../runtime/worker.ts";

/**
 * One running container's runtime, reached over HTTP/1.1 on 127.0.0.1:`port` through a pool of
 * keep-alive connections: an invoke costs one request on an open socket, no lookups. `destroy`
 * closes the pool.
 */
export class HttpEndpoint {
  /** Calls in flight; a replaced container is stopped only when this reaches 0 (or a grace ends). */
  inflight = 0;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 256, scheduling: "lifo" });

  constructor(
    readonly containerId: string,
    readonly port: number,
  ) {}

  /**
   * POSTs `payloadJson` and returns the result JSON text. Fails with the runtime's error
   * (function_error, invalid_argument), deadline_exceeded after `timeoutMs`, or a ConnectionError
   * when no response came back at all (the container is gone).
   */
  call(payloadJson: string, timeoutMs: number, signal: AbortSignal): Promise<string> {
    const body = Buffer.from(payloadJson);
    return new Promise<string>((resolve, reject) => {
      let responded = false;
      const req = request(
        {
          host: "127.0.0.1",
          port: this.port,
          method: "POST",
          path: "/",
          agent: this.agent,
          headers: { "content-type": "application/json", "content-length": body.length },
          timeout: timeoutMs,
          signal,
        },
        (res) => {
          responded = true;
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("error", reject);
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            if (res.statusCode === 200) return resolve(text);
            reject(responseError(res.statusCode ?? 0, text));
          });
        },
      );
      req.on("timeout", () => {
        req.destroy(new FaasError("deadline_exceeded", `function did not return within ${timeoutMs / 1000} s`, { reason: "INVOKE_TIMEOUT" }));
      });
      req.on("error", (error) => {
        if (signal.aborted) return reject(new FaasError("cancelled", "the call was cancelled by the caller", { reason: "CANCELLED", cause: error }));
        if (error instanceof FaasError || responded) return reject(error);
        reject(new ConnectionError(error));
      });
      req.end(body);
    });
  }

  /** Closes every pooled connection. */
  destroy(): void {
    this.agent.destroy();
  }
}

/** No response came back: the request may not have reached the function. */
export class ConnectionError extends Error {
  override readonly name = "ConnectionError";
  constructor(cause: Error) {
    super(`no response from the container: ${cause.message}`, { cause });
  }
}

function responseError(status: number, text: string): FaasError {
  let parsed: { reason?: string; error?: unknown } = {};
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    // not the runtime's JSON: reported as it came
  }
  const inner = JSON.stringify(parsed.error ?? { message: text });
  if (status === 400) return callError(2, inner);
  if (status === 500 && parsed.reason === "RESULT_NOT_SERIALIZABLE") return callError(3, inner);
  if (status === 500 && parsed.reason === "FUNCTION_ERROR") return callError(1, inner);
  return new FaasError("unavailable", `the function's container answered ${status}: ${text.slice(0, 500)}`, { reason: "WORKER_CRASHED" });
}
