import type { IncomingHttpHeaders } from "node:http";
import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues, type HandlerContext, type MethodImplSpec, type ServiceImpl } from "@connectrpc/connect";

/**
 * What the two narrow unary fast paths (grpc-unary.ts, connect-unary.ts) share: the unary methods
 * they serve, one call's abort signal, and header conversions. Both run the very interceptors and
 * implementations the Connect adapter runs; they only skip connect-node's per-call machinery.
 */

/** One unary method with its implementation, as Connect's router holds it. */
export type UnarySpec = Extract<MethodImplSpec, { kind: "unary" }>;

/** The unary methods of `services`, by request path (`/faas.v1.FaasAgent/Invoke`). */
export function unarySpecs(services: ReadonlyArray<{ desc: DescService; impl: ServiceImpl<DescService> }>): Map<string, UnarySpec> {
  const specs = new Map<string, UnarySpec>();
  for (const { desc, impl } of services) {
    for (const method of desc.methods) {
      if (method.methodKind !== "unary") continue;
      const fn = (impl as Record<string, unknown>)[method.localName];
      if (typeof fn !== "function") continue;
      specs.set(`/${desc.typeName}/${method.name}`, { kind: "unary", method, impl: fn.bind(impl) as UnarySpec["impl"] } as UnarySpec);
    }
  }
  return specs;
}

/** A response of either HTTP version: what a call's signal listens to. */
interface Closing {
  once(event: "close", listener: () => void): unknown;
  off(event: "close", listener: () => void): unknown;
}

/**
 * The signal of one call: aborted when the server shuts down, when the client goes away before the
 * answer, or at the deadline. A call that ends normally aborts nothing (connect-node aborts a
 * linked controller at the end of every call, which costs a DOMException each time). `finish`
 * marks the answer as given and removes the listeners and the timer.
 */
export function callSignal(res: Closing, shutdownSignal: AbortSignal, timeoutMs: number | undefined): { signal: AbortSignal; deadline: number | undefined; finish(): void } {
  const controller = new AbortController();
  let done = false;
  const onShutdown = () => controller.abort(new ConnectError("the server is shutting down", Code.Unavailable));
  const onClose = () => {
    if (!done) controller.abort(new ConnectError("the client cancelled the call", Code.Canceled));
  };
  shutdownSignal.addEventListener("abort", onShutdown, { once: true });
  res.once("close", onClose);
  let timer: NodeJS.Timeout | undefined;
  let deadline: number | undefined;
  if (timeoutMs !== undefined) {
    deadline = Date.now() + timeoutMs;
    timer = setTimeout(() => controller.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded)), timeoutMs);
  }
  return {
    signal: controller.signal,
    deadline,
    finish() {
      done = true;
      if (timer) clearTimeout(timer);
      shutdownSignal.removeEventListener("abort", onShutdown);
      res.off("close", onClose);
    },
  };
}

/** The HandlerContext of one fast-path call, as Connect's own handlers make it for the implementation. */
export function unaryContext(
  spec: UnarySpec,
  protocolName: "grpc" | "connect",
  call: { signal: AbortSignal; deadline: number | undefined },
  req: { headers: IncomingHttpHeaders; url?: string },
  responseHeader: Headers,
  responseTrailer: Headers,
): HandlerContext {
  return {
    method: spec.method,
    service: spec.method.parent,
    signal: call.signal,
    timeoutMs: () => (call.deadline === undefined ? undefined : call.deadline - Date.now()),
    requestMethod: "POST",
    requestHeader: requestHeaders(req.headers),
    responseHeader,
    responseTrailer,
    protocolName,
    values: createContextValues(),
    url: req.url ?? "/",
  };
}

/** Node's request headers as the Web `Headers` a HandlerContext carries (pseudo-headers left out). */
export function requestHeaders(headers: IncomingHttpHeaders): Headers {
  const out = new Headers();
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith(":") || value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) out.append(name, v);
    else out.set(name, value);
  }
  return out;
}

/** Web `Headers` as the plain object Node's writeHead takes. */
export function headerObject(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  headers.forEach((value, name) => {
    out[name] = value;
  });
  return out;
}

/** A single header's value (the first, when repeated), or null. */
export function headerValue(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  return Array.isArray(value) ? (value[0] ?? null) : value;
}
