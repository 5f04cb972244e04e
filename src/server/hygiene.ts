import type { Socket } from "node:net";

/**
 * Largest request line plus headers on HTTP/1.1 (Node's maxHeaderSize), and half the HTTP/2
 * header-list limit. Node's own default, set explicitly so that it is documented and tested.
 */
export const MAX_HEADER_BYTES = 16 * 1024;

type ParserError = Error & { code?: string; rawPacket?: Buffer };

/**
 * Answers a request Node's HTTP/1.1 parser refused, then closes the connection, instead of
 * dropping it without a word: 431 for headers over MAX_HEADER_BYTES (414 when the request line
 * alone is over half of it), 408 for a request that did not arrive in time, 400 for anything malformed
 * (garbage request line, `Content-Length: -1`, Content-Length with Transfer-Encoding, bad chunks).
 * The body is JSON in the REST routes' shape. Nothing is written to a socket that is gone or already
 * carries a response (pipelining).
 */
export function answerClientError(error: ParserError, socket: Socket): void {
  if (error.code === "ECONNRESET" || !socket.writable || (socket as { _httpMessage?: unknown })._httpMessage) {
    socket.destroy();
    return;
  }
  const { status, text, reason, message } = classify(error);
  const body = JSON.stringify({ error: message, reason });
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

function classify(error: ParserError): { status: number; text: string; reason: string; message: string } {
  switch (error.code) {
    case "HPE_HEADER_OVERFLOW": {
      const lineEnd = error.rawPacket?.indexOf("\r\n") ?? 0;
      const lineDone = lineEnd >= 0 && lineEnd <= MAX_HEADER_BYTES / 2;
      return lineDone
        ? { status: 431, text: "Request Header Fields Too Large", reason: "HEADERS_TOO_LARGE", message: `request headers are larger than ${MAX_HEADER_BYTES} bytes` }
        : { status: 414, text: "URI Too Long", reason: "URI_TOO_LONG", message: `the request line is longer than ${MAX_HEADER_BYTES} bytes` };
    }
    case "ERR_HTTP_REQUEST_TIMEOUT":
    case "HPE_HEADERS_TIMEOUT":
      return { status: 408, text: "Request Timeout", reason: "REQUEST_TIMEOUT", message: "the request did not arrive in time" };
    default:
      return { status: 400, text: "Bad Request", reason: "MALFORMED_REQUEST", message: `malformed HTTP request (${error.code ?? "parse error"})` };
  }
}

/** The part of a response (HTTP/1.1 or HTTP/2) that `releaseWritersOnClose` uses. */
interface WritableResponse {
  writableFinished: boolean;
  once(event: "close", listener: () => void): unknown;
  listenerCount(event: string): number;
  emit(event: "error", error: Error): boolean;
}

/**
 * When the client goes away before the response is finished, fails a write that is waiting for
 * `drain`. Node never emits `drain` (nor `error`) on a response whose socket closed while its
 * buffer was full, and Connect's server (connect-node node-universal-handler.js `write`, lines
 * 182-220 in 2.1.2) waits for exactly one of the two: without this, a streaming handler whose
 * reader stopped reading and then disconnected (a stalled `Logs` follower) would stay suspended for
 * ever, with everything it holds. The error makes Connect throw into the handler, which then ends
 * and runs its `finally` blocks.
 */
export function releaseWritersOnClose(res: WritableResponse): void {
  res.once("close", () => {
    if (res.writableFinished) return;
    if (res.listenerCount("drain") === 0 || res.listenerCount("error") === 0) return;
    // Node's own code for a write to a destroyed stream: Connect takes it as the client hanging up
    // (Code.Aborted, not logged).
    res.emit("error", Object.assign(new Error("the client closed the connection"), { code: "ERR_STREAM_DESTROYED" }));
  });
}
