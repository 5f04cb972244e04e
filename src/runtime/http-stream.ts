import { request, type Agent } from "node:http";
import { AsyncQueue } from "../adapters/kit/queue.ts";
import { FaasError } from "../domain/errors.ts";
import { ConnectionError, responseError } from "./http-client.ts";
import { timeoutError, protocolError } from "./frame-codec.ts";
import { isRuntimeReason, runtimeError } from "./reasons.ts";

/**
 * Stream calls over HTTP (faas_runtime.py's docstring, `Accept: application/x-ndjson`): the
 * runtime's answer is one NDJSON line per yielded value, `{"type":"chunk","result":VALUE}`, then
 * `{"type":"done"}` or `{"type":"error","reason":...,"error":{...}}`. The runtime's own HTTP
 * server (containers behind Knative's ingress) writes the lines as they are produced; Nuclio's
 * entry module writes them all in its one response.
 */

/** The Accept header that asks a runtime for a stream. */
export const STREAM_ACCEPT = "application/x-ndjson";
const CHUNK_PREFIX = '{"type":"chunk","result":';
/** Bytes of lines read ahead of the reader before the socket is paused (TCP then pauses the runtime). */
const READ_AHEAD_BYTES = 256 * 1024;
/** Longest error answer read before it is cut. */
const MAX_ERROR_BODY = 1024 * 1024;

/** One line of a stream answer: a chunk's JSON text, the end, or the failure that ends it. */
export type StreamLine = { chunk: string } | { done: true } | { error: FaasError };

/** Reads one line of a stream answer; anything but the three line kinds is WORKER_PROTOCOL_ERROR. */
export function parseStreamLine(line: string): StreamLine {
  // The runtime writes chunk lines exactly so: the value's text is taken as it is (core checks it).
  if (line.startsWith(CHUNK_PREFIX) && line.endsWith("}")) return { chunk: line.slice(CHUNK_PREFIX.length, -1) };
  let parsed: { type?: unknown; reason?: unknown; error?: unknown };
  try {
    parsed = JSON.parse(line) as typeof parsed;
  } catch {
    return { error: protocolError(`the function sent a stream line that is not JSON: ${JSON.stringify(line.slice(0, 100))}`) };
  }
  if (parsed?.type === "done") return { done: true };
  if (parsed?.type === "error") {
    if (parsed.reason === "INVALID_PAYLOAD") return { error: runtimeError("INVALID_PAYLOAD", parsed.error ?? {}) };
    if (isRuntimeReason(parsed.reason)) return { error: runtimeError(parsed.reason, parsed.error ?? {}) };
  }
  return { error: protocolError(`the function sent an unknown stream line: ${JSON.stringify(line.slice(0, 100))}`) };
}

/** The chunks of a stream answer received whole (Nuclio's one response); throws its failure. */
export function* chunksOfBody(text: string): Generator<string> {
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const parsed = parseStreamLine(line);
    if ("chunk" in parsed) yield parsed.chunk;
    else if ("error" in parsed) throw parsed.error;
    else return;
  }
  throw protocolError("the function's stream answer ended without its last line");
}

export interface HttpStreamTarget {
  host: string;
  port: number;
  /** The Host header (Knative's ingress routes by it). */
  hostHeader?: string;
  path?: string;
  agent?: Agent;
  /** Headers besides content-type and accept. */
  headers?: Record<string, string>;
}

/**
 * POSTs `payloadJson` asking for a stream and yields each chunk's JSON text as its line arrives.
 * A non-200 answer fails as a plain call would (http-client.ts responseError); no answer at all is a
 * ConnectionError. At most READ_AHEAD_BYTES (plus one line) are read ahead of the reader; the
 * runtime waits for the rest (TCP). INVOKE_TIMEOUT when nothing arrives for `timeoutMs` while
 * the reader waits; leaving early closes the connection, which closes the handler's generator.
 */
export async function* httpStream(target: HttpStreamTarget, payloadJson: string, timeoutMs: number, signal: AbortSignal): AsyncGenerator<string> {
  const body = Buffer.from(payloadJson);
  const controller = new AbortController();
  const onAbort = () => controller.abort();
  signal.addEventListener("abort", onAbort, { once: true });
  let buffered = 0;
  let paused = false;
  let timer: NodeJS.Timeout | undefined;
  let failure: unknown;
  const queue = new AsyncQueue<[string, number]>({ highWaterMark: Number.MAX_SAFE_INTEGER });
  const fail = (error: unknown) => {
    failure ??= error;
    queue.end(failure);
    controller.abort();
  };
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => fail(timeoutError(timeoutMs)), timeoutMs);
  };
  const req = request(
    {
      host: target.host,
      port: target.port,
      path: target.path ?? "/",
      method: "POST",
      agent: target.agent,
      signal: controller.signal,
      headers: { ...target.headers, host: target.hostHeader ?? target.host, "content-type": "application/json", accept: STREAM_ACCEPT, "content-length": String(body.length) },
    },
    (res) => {
      if (res.statusCode !== 200) return void readError(res, res.statusCode ?? 0).then(fail, fail);
      res.setEncoding("utf8");
      let partial = "";
      res.on("data", (text: string) => {
        arm();
        let start = 0;
        for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n", start)) {
          const line = partial + text.slice(start, nl);
          partial = "";
          start = nl + 1;
          const parsed = parseStreamLine(line);
          if ("error" in parsed) return fail(parsed.error);
          if ("done" in parsed) {
            clearTimeout(timer);
            return void queue.end();
          }
          const bytes = Buffer.byteLength(parsed.chunk);
          buffered += bytes;
          queue.push([parsed.chunk, bytes]);
        }
        partial += text.slice(start);
        if (partial.length > READ_AHEAD_BYTES * 64) return fail(protocolError("the function sent a stream line longer than any result may be"));
        if (buffered >= READ_AHEAD_BYTES && !paused) {
          paused = true;
          clearTimeout(timer);
          res.pause();
        }
      });
      res.on("end", () => fail(new FaasError("unavailable", "the function's stream ended without its last line", { reason: "WORKER_CRASHED" })));
      res.on("error", (error) => fail(new FaasError("unavailable", `the function's stream broke: ${error.message}`, { reason: "WORKER_CRASHED", cause: error })));
      const resume = () => {
        if (paused && buffered < READ_AHEAD_BYTES / 2) {
          paused = false;
          arm();
          res.resume();
        }
      };
      reader.resume = resume;
    },
  );
  const reader: { resume: () => void } = { resume: () => {} };
  req.on("error", (error) => {
    if (signal.aborted) fail(new FaasError("cancelled", "the call was cancelled by the caller", { reason: "CANCELLED", cause: signal.reason }));
    else if (failure === undefined) fail(req.socket?.bytesRead ? new FaasError("unavailable", `the function's connection broke: ${error.message}`, { reason: "WORKER_CRASHED", cause: error }) : new ConnectionError(error));
  });
  arm();
  req.end(body);
  try {
    for await (const [chunk, bytes] of queue) {
      buffered -= bytes;
      reader.resume();
      yield chunk;
    }
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", onAbort);
    controller.abort(); // a reader that left early closes the connection: the generator is closed
  }
}

async function readError(res: NodeJS.ReadableStream, status: number): Promise<unknown> {
  let text = "";
  res.setEncoding("utf8");
  for await (const piece of res as AsyncIterable<string>) {
    if (text.length < MAX_ERROR_BODY) text += piece;
  }
  const error = responseError(status, text);
  return error;
}
