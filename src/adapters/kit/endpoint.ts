import { FaasError } from "../../domain/errors.ts";
import type { InvokeStream } from "../../domain/types.ts";
import { ConnectionError } from "../../runtime/http-client.ts";

/**
 * One way to call one function, whatever carries the call: a local worker's unix socket, a
 * container's framed TCP connection, a Knative route through the ingress, Nuclio's invocation
 * proxy. Deadlines are the endpoint's own (set when it is made); `signal` cancels.
 */
export interface Endpoint {
  /**
   * Calls `handle` with the JSON text `payloadJson`; resolves with the result's JSON text. Rejects
   * with FaasError (runtime/reasons.ts, INVOKE_TIMEOUT, CANCELLED, ...), or with ConnectionError
   * when no byte of an answer came back, so the call may not have reached the function: the only
   * failure a caller may retry without running the function twice.
   */
  call(payloadJson: string, signal: AbortSignal): Promise<string>;
  /**
   * Calls `handle` as a stream: yields each value a generator handler yields, as JSON text, as it
   * comes (a plain handler's result is the one chunk), and ends when the generator is done. Fails
   * as `call` does (ConnectionError only before the first chunk); the endpoint reads no further
   * ahead of its reader than a bounded buffer, so a slow reader pauses the generator; a reader that
   * stops early cancels the call. Where the transport cannot carry chunks as they come (Nuclio),
   * they all come once the handler is done (Capabilities.streaming says which).
   */
  stream(payloadJson: string, signal: AbortSignal): AsyncIterable<string>;
  /** Closes what the endpoint holds open; calls on it afterwards fail with ConnectionError. */
  close(): void;
}

/** Where a platform keeps each function's endpoint, and how it makes one. */
export interface Routes {
  /** The endpoint in use for `id`, if there is one. */
  cached(id: string): Endpoint | undefined;
  /** Makes (and keeps) an endpoint for `id`: a lookup, or starting the function. */
  resolve(id: string, signal: AbortSignal): Promise<Endpoint>;
  /** Forgets `endpoint` as the one of `id` (if it still is), after it lost its connection. */
  drop(id: string, endpoint: Endpoint): void;
}

export interface RouteCallOptions {
  /** Failures worth another route besides ConnectionError (e.g. an ingress's 404 for an unknown host). */
  retryable?: (error: unknown) => boolean;
  /** The error to report when the retry failed too; default unavailable WORKER_CRASHED. */
  unreachable?: (id: string, error: Error) => FaasError;
}

/** What `callRoute` gives back: the result, and whether a route had to be made for it (a cold start). */
export interface RouteCall {
  resultJson: string;
  resolved: boolean;
}

/**
 * Calls function `id` through its cached endpoint (making one when there is none), and once more
 * through a fresh one when the first gave no answer at all (ConnectionError, or `retryable`): the
 * function moved, restarted or scaled to zero. Never more than one retry, and never after an
 * answer began, so a call is not run twice.
 */
export async function callRoute(routes: Routes, id: string, payloadJson: string, signal: AbortSignal, options: RouteCallOptions = {}): Promise<RouteCall> {
  let resolved = false;
  for (let attempt = 0; ; attempt++) {
    let endpoint = routes.cached(id);
    if (!endpoint) {
      endpoint = await routes.resolve(id, signal);
      resolved = true;
    }
    try {
      return { resultJson: await endpoint.call(payloadJson, signal), resolved };
    } catch (error) {
      const retryable = error instanceof ConnectionError || (options.retryable?.(error) ?? false);
      if (!retryable || signal.aborted) throw error;
      routes.drop(id, endpoint);
      if (attempt > 0) throw (options.unreachable ?? unreachable)(id, error as Error);
    }
  }
}

/**
 * `callRoute` for a stream call: the same route, cold start and single retry, which is possible
 * only while no chunk has come (a stream that breaks after its first chunk fails with
 * WORKER_CRASHED: chunks already sent stay sent, nothing runs twice).
 */
export function streamRoute(routes: Routes, id: string, payloadJson: string, signal: AbortSignal, options: RouteCallOptions = {}): InvokeStream {
  let coldStart = false;
  async function* chunks(): AsyncGenerator<string> {
    for (let attempt = 0; ; attempt++) {
      let endpoint = routes.cached(id);
      if (!endpoint) {
        endpoint = await routes.resolve(id, signal);
        coldStart = true;
      }
      let started = false;
      try {
        for await (const chunk of endpoint.stream(payloadJson, signal)) {
          started = true;
          yield chunk;
        }
        return;
      } catch (error) {
        const retryable = error instanceof ConnectionError || (options.retryable?.(error) ?? false);
        if (!retryable || signal.aborted) throw error;
        routes.drop(id, endpoint);
        if (started || attempt > 0) throw (options.unreachable ?? unreachable)(id, error as Error);
      }
    }
  }
  return {
    chunks: chunks(),
    get coldStart() {
      return coldStart;
    },
  };
}

/**
 * Routes kept in a map, made by `lookup` (a read of the platform's state), for platforms whose
 * endpoints are addresses: Knative routes, Nuclio functions. `close` closes every endpoint.
 */
export class RouteCache implements Routes {
  private readonly routes = new Map<string, Endpoint>();

  constructor(private readonly lookup: (id: string, signal: AbortSignal) => Promise<Endpoint>) {}

  cached(id: string): Endpoint | undefined {
    return this.routes.get(id);
  }

  async resolve(id: string, signal: AbortSignal): Promise<Endpoint> {
    const endpoint = await this.lookup(id, signal);
    this.remember(id, endpoint);
    return endpoint;
  }

  drop(id: string, endpoint: Endpoint): void {
    if (this.routes.get(id) !== endpoint) return;
    this.routes.delete(id);
    endpoint.close();
  }

  /** Sets the endpoint of `id` (after a deploy that knows it), closing the one it replaces. */
  remember(id: string, endpoint: Endpoint): void {
    const old = this.routes.get(id);
    this.routes.set(id, endpoint);
    if (old && old !== endpoint) old.close();
  }

  /** Forgets the endpoint of `id` (after a deploy, a traffic change or a delete) and closes it. */
  forget(id: string): void {
    const old = this.routes.get(id);
    this.routes.delete(id);
    old?.close();
  }

  close(): void {
    for (const endpoint of this.routes.values()) endpoint.close();
    this.routes.clear();
  }
}

function unreachable(id: string, error: Error): FaasError {
  return new FaasError("unavailable", `function "${id}" did not answer: ${error.message}`, { reason: "WORKER_CRASHED", cause: error });
}
