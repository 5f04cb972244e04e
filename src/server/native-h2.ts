import type { EventEmitter } from "node:events";
import { Socket } from "node:net";
import { TLSSocket } from "node:tls";

/**
 * Keeps plain-TCP HTTP/2 (h2c) on Node's native stream. httpolyglot, having sniffed the preface,
 * marks every such socket's handle `isStreamBase = false` before handing it to its HTTP/2 server (a
 * workaround for sockets that are not sockets, such as HTTP/2 streams proxied over HTTP/2;
 * @httptoolkit/httpolyglot dist/index.js http2Listener). Node then runs the session over a
 * JSStreamSocket: every frame is read and written through JavaScript. Measured on the agent under
 * gRPC load: 18 % of its CPU in that stream's `writev`, gRPC Invoke at a third of REST.
 *
 * A `net.Socket` with a TCP handle is a real StreamBase, and Node's HTTP/2 session feeds itself the
 * bytes httpolyglot peeked and unshifted (lib/internal/http2/core.js, Http2Session constructor:
 * "Socket already has some buffered data - emulate receiving it", nodejs/node#35475), so the flag is
 * removed again for those sockets before the session is created. TLS sockets are left as they come.
 */
export function keepNativeHttp2(server: unknown): void {
  const http2Server = (server as { _http2Server?: EventEmitter })._http2Server;
  if (!http2Server) throw new Error("httpolyglot's HTTP/2 server is not where keepNativeHttp2 expects it (_http2Server)");
  http2Server.prependListener("connection", (socket: unknown) => {
    if (!(socket instanceof Socket) || socket instanceof TLSSocket) return;
    const handle = (socket as unknown as { _handle?: { isStreamBase?: boolean } })._handle;
    if (handle && Object.hasOwn(handle, "isStreamBase")) delete handle.isStreamBase;
  });
}
