/** One HTTP/1.1 response read off a connection. */
export interface ParsedResponse {
  status: number;
  /** The body, decoded as UTF-8. */
  text: string;
  /** Whether the connection may carry another request (no `Connection: close`, body framed). */
  keepAlive: boolean;
  /** How many bytes of the buffer the response took (head, body and chunk framing). */
  consumed: number;
}

/** The response's body runs until the peer closes the connection (neither length nor chunked). */
export interface UntilClose {
  untilClose: true;
  status: number;
  /** Where the body starts in the buffer. */
  bodyStart: number;
}

/** A malformed response: the connection cannot be reused and the call fails. */
export class MalformedResponseError extends Error {
  override readonly name = "MalformedResponseError";
}

/**
 * Reads the first complete response in `buffer`, framed as RFC 9112 §6.3 says: no body for 1xx,
 * 204 and 304; `Transfer-Encoding: chunked` (§7.1: hex sizes with optional extensions, a zero-size
 * last chunk, optional trailers), which any hop may use (an ingress such as Envoy, the activator
 * or the queue-proxy re-frames bodies); else `Content-Length`; else the body runs to the close of
 * the connection. Returns undefined while the response is incomplete.
 */
export function parseResponse(buffer: Buffer): ParsedResponse | UntilClose | undefined {
  const headEnd = buffer.indexOf("\r\n\r\n");
  if (headEnd < 0) return undefined;
  const head = buffer.subarray(0, headEnd).toString("latin1");
  const status = Number(head.slice(9, 12));
  if (!/^HTTP\/1\.[01] \d{3}/.test(head)) throw new MalformedResponseError(`not an HTTP/1.1 response: ${JSON.stringify(head.slice(0, 40))}`);
  const bodyStart = headEnd + 4;
  const keepAlive = !/\r\nconnection:[^\r]*\bclose\b/i.test(head) && !head.startsWith("HTTP/1.0");
  if ((status >= 100 && status < 200) || status === 204 || status === 304) return { status, text: "", keepAlive, consumed: bodyStart };
  const encoding = /\r\ntransfer-encoding:([^\r]*)/i.exec(head)?.[1];
  if (encoding && /\bchunked\s*$/i.test(encoding)) return chunked(buffer, status, bodyStart, keepAlive);
  const length = /\r\ncontent-length:\s*(\d+)\s*(?:\r|$)/i.exec(head)?.[1];
  if (length === undefined) return { untilClose: true, status, bodyStart };
  const end = bodyStart + Number(length);
  if (buffer.length < end) return undefined;
  return { status, text: buffer.subarray(bodyStart, end).toString("utf8"), keepAlive, consumed: end };
}

function chunked(buffer: Buffer, status: number, start: number, keepAlive: boolean): ParsedResponse | undefined {
  const parts: Buffer[] = [];
  let at = start;
  for (;;) {
    const lineEnd = buffer.indexOf("\r\n", at);
    if (lineEnd < 0) return undefined;
    const sizeText = buffer.subarray(at, lineEnd).toString("latin1").split(";")[0]!.trim();
    if (!/^[0-9a-fA-F]{1,8}$/.test(sizeText)) throw new MalformedResponseError(`bad chunk size ${JSON.stringify(sizeText.slice(0, 20))}`);
    const size = parseInt(sizeText, 16);
    at = lineEnd + 2;
    if (size === 0) break;
    if (buffer.length < at + size + 2) return undefined;
    parts.push(buffer.subarray(at, at + size));
    if (buffer[at + size] !== 0x0d || buffer[at + size + 1] !== 0x0a) throw new MalformedResponseError("chunk data not followed by CRLF");
    at += size + 2;
  }
  // Trailer fields (ignored) up to the empty line that ends the message.
  for (;;) {
    const lineEnd = buffer.indexOf("\r\n", at);
    if (lineEnd < 0) return undefined;
    const empty = lineEnd === at;
    at = lineEnd + 2;
    if (empty) break;
  }
  return { status, text: Buffer.concat(parts).toString("utf8"), keepAlive, consumed: at };
}
