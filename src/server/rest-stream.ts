import type { ServerResponse } from "node:http";
import type { StreamEvent } from "../service/results.ts";
import { asFaasError, httpStatusOf } from "./errors.ts";
import { errorBody } from "./rest-json.ts";

/**
 * POST /invoke as a stream, chosen by the Accept header:
 *   application/x-ndjson  one line per chunk `{"type":"chunk","result":VALUE}`, then one status line
 *                         `{"type":"done","status":"success","execution_time":S,"platform":P,
 *                         "cold_start":B,"chunks":N}`, or `{"type":"done","status":"error",
 *                         "code":HTTP_STATUS,"error":MESSAGE,"reason":REASON,...}`;
 *   text/event-stream     SSE events `chunk` (data: the value's JSON) and `done` (data: the status
 *                         object above without "type").
 * Failures before the first chunk (unknown function, invalid payload, a handler that raises
 * before it yields) are answered as a plain invoke's errors are, with their HTTP status.
 */
export type StreamFormat = "ndjson" | "sse";

/** The stream format an Accept header asks for, or undefined for a plain JSON answer. */
export function streamFormatOf(accept: string | undefined): StreamFormat | undefined {
  if (!accept) return undefined;
  if (/\bapplication\/x-ndjson\b/i.test(accept)) return "ndjson";
  if (/\btext\/event-stream\b/i.test(accept)) return "sse";
  return undefined;
}

const CONTENT_TYPE: Record<StreamFormat, string> = { ndjson: "application/x-ndjson", sse: "text/event-stream; charset=utf-8" };

/**
 * Writes a stream call's events as they come, waiting for the socket to drain between writes (so
 * a slow reader pauses the generator). `fail` answers an error before anything was written.
 */
export async function sendStream(res: ServerResponse, events: AsyncIterable<StreamEvent>, format: StreamFormat, fail: (error: unknown) => void): Promise<void> {
  const iterator = events[Symbol.asyncIterator]();
  let step: IteratorResult<StreamEvent>;
  try {
    step = await iterator.next();
  } catch (error) {
    return fail(error);
  }
  res.writeHead(200, { "content-type": CONTENT_TYPE[format], "cache-control": "no-store", "x-accel-buffering": "no" });
  res.flushHeaders();
  const write = (piece: string) => (res.write(piece) ? undefined : drained(res));
  try {
    for (; !step.done; step = await iterator.next()) {
      if (res.destroyed) return;
      const event = step.value;
      if (event.type === "chunk") await write(format === "sse" ? `event: chunk\ndata: ${JSON.stringify(event.result)}\n\n` : `{"type":"chunk","result":${JSON.stringify(event.result)}}\n`);
      else await write(done({ status: "success", execution_time: event.executionTime, platform: event.platform, cold_start: event.coldStart, chunks: event.chunks }, format));
    }
  } catch (error) {
    const faas = asFaasError(error);
    if (!res.destroyed) await write(done({ ...errorBody(faas), status: "error", code: httpStatusOf(faas) }, format));
  } finally {
    await iterator.return?.();
  }
  res.end();
}

function done(status: Record<string, unknown>, format: StreamFormat): string {
  return format === "sse" ? `event: done\ndata: ${JSON.stringify(status)}\n\n` : `${JSON.stringify({ type: "done", ...status })}\n`;
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const finish = () => {
      res.off("drain", finish);
      res.off("close", finish);
      resolve();
    };
    res.on("drain", finish);
    res.on("close", finish);
  });
}
