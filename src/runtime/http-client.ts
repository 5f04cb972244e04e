import { connect, type Socket } from "node:net";
import { FaasError } from "../domain/errors.ts";
import { parseResponse, type UntilClose } from "./http-response.ts";
import { isRuntimeReason, runtimeError } from "./reasons.ts";

/** A response other than 200 that did not come from the runtime (e.g. an ingress's 404 for an unknown host). */
export class ForeignResponseError extends Error {
  override readonly name = "ForeignResponseError";
  constructor(
    readonly status: number,
    readonly text: string,
  ) {
    super(`answered ${status}: ${text.slice(0, 500)}`);
  }
}

/**
 * A function runtime (faas_runtime.py --protocol http), or an HTTP ingress in front of runtimes,
 * reached over HTTP/1.1 at `host`:`port` through a pool of keep-alive connections: a call costs one
 * request on an open socket, no lookups. The client is a small one for the runtime's own server
 * and for the proxies in front of it (one response per request; Content-Length, chunked or
 * close-delimited bodies, see http-response.ts), several times cheaper per call than node:http's
 * general-purpose client. `destroy` closes the pool.
 */
export class HttpClient {
  /** Calls in flight. */
  inflight = 0;
  private readonly idle: Connection[] = [];
  private destroyed = false;

  constructor(
    readonly host: string,
    readonly port: number,
  ) {}

  /**
   * POSTs `payloadJson` with the given Host header and returns the result JSON text. Fails with the
   * runtime's error (function_error, invalid_argument), deadline_exceeded after `timeoutMs`,
   * cancelled when `signal` aborts, a ConnectionError when no byte of a response came back (the
   * peer is gone), or a ForeignResponseError for a non-200 answer that is not the runtime's JSON.
   */
  async call(payloadJson: string, timeoutMs: number, signal: AbortSignal, hostHeader = this.host): Promise<string> {
    const body = Buffer.from(payloadJson);
    const conn = this.idle.pop() ?? new Connection(this.host, this.port);
    const { status, text, keepAlive } = await conn.request(body, hostHeader, timeoutMs, signal);
    if (keepAlive && !this.destroyed) this.idle.push(conn);
    else conn.close();
    if (status === 200) return text;
    throw responseError(status, text);
  }

  /** Closes every pooled connection; calls in flight finish and close theirs. */
  destroy(): void {
    this.destroyed = true;
    for (const conn of this.idle.splice(0)) conn.close();
  }
}

interface Pending {
  resolve: (response: { status: number; text: string; keepAlive: boolean }) => void;
  reject: (error: Error) => void;
}

/** One keep-alive connection; one request at a time. */
class Connection {
  private readonly socket: Socket;
  private buffer: Buffer = Buffer.alloc(0);
  private pending: Pending | undefined;
  private received = false;
  private broken: Error | undefined;
  private untilClose: UntilClose | undefined;

  constructor(host: string, port: number) {
    this.socket = connect({ host, port, noDelay: true });
    this.socket.on("data", (chunk: Buffer) => this.onData(chunk));
    this.socket.on("error", (error) => this.fail(error));
    this.socket.on("close", () => this.fail(new Error("connection closed")));
  }

  request(body: Buffer, hostHeader: string, timeoutMs: number, signal: AbortSignal): Promise<{ status: number; text: string; keepAlive: boolean }> {
    if (this.broken) return Promise.reject(new ConnectionError(this.broken));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.close();
        reject(new FaasError("deadline_exceeded", `function did not return within ${timeoutMs / 1000} s`, { reason: "INVOKE_TIMEOUT" }));
      }, timeoutMs);
      const onAbort = () => {
        this.close();
        reject(new FaasError("cancelled", "the call was cancelled by the caller", { reason: "CANCELLED", cause: signal.reason }));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        this.pending = undefined;
      };
      this.received = false;
      this.pending = {
        resolve: (r) => (done(), resolve(r)),
        reject: (e) => (done(), reject(e)),
      };
      this.socket.write(
        Buffer.concat([Buffer.from(`POST / HTTP/1.1\r\nHost: ${hostHeader}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`, "latin1"), body]),
      );
    });
  }

  close(): void {
    this.broken ??= new Error("connection closed");
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.received = true;
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    if (this.untilClose) return;
    let parsed: ReturnType<typeof parseResponse>;
    try {
      parsed = parseResponse(this.buffer);
    } catch (error) {
      this.close();
      this.pending?.reject(new FaasError("unavailable", `the function's address answered a malformed response: ${(error as Error).message}`, { reason: "WORKER_CRASHED", cause: error }));
      return;
    }
    if (!parsed) return;
    if ("untilClose" in parsed) {
      // Neither Content-Length nor chunked: the body ends when the peer closes (RFC 9112 §6.3 item 8).
      this.untilClose = parsed;
      return;
    }
    this.buffer = this.buffer.subarray(parsed.consumed);
    this.pending?.resolve({ status: parsed.status, text: parsed.text, keepAlive: parsed.keepAlive });
  }

  private fail(error: Error): void {
    this.broken ??= error;
    const pending = this.pending;
    if (!pending) return;
    if (this.untilClose) {
      const { status, bodyStart } = this.untilClose;
      this.untilClose = undefined;
      return pending.resolve({ status, text: this.buffer.subarray(bodyStart).toString("utf8"), keepAlive: false });
    }
    pending.reject(this.received ? new FaasError("unavailable", `the function's container broke the connection: ${error.message}`, { reason: "WORKER_CRASHED", cause: error }) : new ConnectionError(error));
  }
}

/** No response came back: the request may not have reached the function. */
export class ConnectionError extends Error {
  override readonly name = "ConnectionError";
  constructor(cause: Error) {
    super(`no response from the container: ${cause.message}`, { cause });
  }
}

/**
 * The error for a runtime's non-200 answer, exactly as the worker protocol reports it (400 =
 * invalid payload, 500 with a reason of runtime/reasons.ts); anything that is not the
 * runtime's JSON is a ForeignResponseError.
 */
export function responseError(status: number, text: string): FaasError | ForeignResponseError {
  let parsed: { reason?: string; error?: unknown } = {};
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    return new ForeignResponseError(status, text);
  }
  const error = parsed.error ?? { message: text };
  if (status === 400) return runtimeError("INVALID_PAYLOAD", error);
  if (status === 500 && isRuntimeReason(parsed.reason)) return runtimeError(parsed.reason, error);
  if (parsed.error === undefined) return new ForeignResponseError(status, text);
  return new FaasError("unavailable", `the function's container answered ${status}: ${text.slice(0, 500)}`, { reason: "WORKER_CRASHED" });
}
