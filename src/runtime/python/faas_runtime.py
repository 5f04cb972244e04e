"""radical-faas runtime shim: serves one Python function's `handle(req)`.

Shipped into every function, on every platform, so that payload and result semantics are the same
everywhere: the request body is JSON and reaches `handle` as the parsed value; whatever `handle`
returns is serialised as JSON and is the result. Output printed by the handler goes to the
process's stdout/stderr (the function's logs), never into the result.

Usage:
    python3 faas_runtime.py --handler PATH --listen unix:/path/to.sock --protocol frame
    python3 faas_runtime.py --handler PATH --listen tcp:0.0.0.0:8080 --protocol http
    python3 faas_runtime.py --handler PATH --protocol http     (listens on tcp:0.0.0.0:$PORT, default 8080)
    python3 faas_runtime.py --handler PATH --check             (imports the handler and exits: 0 ok, 3 failed)

Without --ready-fd (in a container), an import failure also prints a line `FAAS_CHECK {json}` to
stdout before exiting with 3, so that the agent can report the traceback from the container's output.

Protocols:
  frame  (the agent's local platform) length-prefixed frames, many calls multiplexed on one
         connection. Request:  u32 body length, u32 call id, u8 kind (1 invoke, 2 cancel), body.
         Response: u32 body length, u32 call id, u8 status, body. Status 0: body is the result
         JSON; 1: `handle` raised; 2: the payload is not JSON (or nested deeper than
         FAAS_MAX_DEPTH, or has a number JSON cannot carry); 3: the result is not JSON; 4: the
         result is larger than FAAS_MAX_RESULT_BYTES. For 1-3 the body is a JSON object
         {type, message, traceback}; for 4 it is {"size": N}.
  http   (containers, reverse proxies) HTTP/1.1 keep-alive. POST any path: JSON body in, result
         JSON out with 200; 500 {"error": {...}, "reason": "FUNCTION_ERROR"|"RESULT_NOT_SERIALIZABLE"
         |"RESULT_TOO_LARGE"} or 400 {"error": ..., "reason": "INVALID_PAYLOAD"} on failure. GET /healthz answers 200.
         A connection that opens with the bytes "FAAS-FRAMES/1\r\n" is answered with
         "FAAS-FRAMES/1 OK\r\n" and speaks the frame protocol from then on: the agent's docker
         platform multiplexes its calls to a container this way, over the one published port.

Sync handlers run on a thread pool (FAAS_WORKER_THREADS, default 64) so that calls run
concurrently; `async def handle` runs on the event loop. The handler module is imported before the
server listens: an import failure is reported on --ready-fd as JSON and the process exits with 3.
"""

import argparse
import asyncio
import collections
import importlib.util
import inspect
import json
import os
import queue
import signal
import socket
import struct
import sys
import threading
import traceback

RUNTIME_VERSION = "2"

STATUS_OK = 0
STATUS_FUNCTION_ERROR = 1
STATUS_BAD_PAYLOAD = 2
STATUS_BAD_RESULT = 3
STATUS_TOO_LARGE = 4

KIND_INVOKE = 1
KIND_CANCEL = 2

HEADER = struct.Struct(">IIB")
# A TCP connection to the HTTP port that starts with this speaks frames (answered with FRAME_ACK).
FRAME_PREFACE = b"FAAS-FRAMES/1\r\n"
FRAME_ACK = b"FAAS-FRAMES/1 OK\r\n"
MAX_BODY = int(os.environ.get("FAAS_MAX_BODY_BYTES", str(64 * 1024 * 1024)))
MAX_RESULT = int(os.environ.get("FAAS_MAX_RESULT_BYTES", str(64 * 1024 * 1024)))
# Payloads nested deeper than this are refused, as Connect and the agent refuse them.
MAX_DEPTH = int(os.environ.get("FAAS_MAX_DEPTH", "100"))
# Error texts are diagnostics: a handler's gigantic exception message must not become a giant frame.
MAX_ERROR_TEXT = 64 * 1024

_dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def _finite_float(text):
    value = float(text)
    if value in (_INF, -_INF):
        raise ValueError(f"the number {text[:40]} is outside the range of a double")
    return value


def _no_constant(name):
    raise ValueError(f"{name} is not JSON")


_INF = float("inf")
_loads = json.JSONDecoder(parse_float=_finite_float, parse_constant=_no_constant).decode


_THIS_FILE = os.path.abspath(__file__)


def user_traceback(exc):
    """The traceback of `exc` without the runtime's and importlib's own frames (a fallback text
    when the exception cannot be rendered: its __str__ raised, or worse)."""
    try:
        frames = [
            frame
            for frame in traceback.extract_tb(exc.__traceback__)
            if os.path.abspath(frame.filename) != _THIS_FILE and not frame.filename.startswith("<frozen")
        ]
        lines = ["Traceback (most recent call last):\n"] + traceback.format_list(frames) if frames else []
        return _cut("".join(lines + traceback.format_exception_only(type(exc), exc)))
    except BaseException:
        return f"{_type_name(exc)}: {_UNRENDERABLE}\n"


_UNRENDERABLE = "<the exception's message could not be rendered>"


def _type_name(exc):
    try:
        return str(type(exc).__name__)
    except BaseException:
        return "Exception"


def _message(exc):
    try:
        return _cut(str(exc))
    except BaseException:
        return _UNRENDERABLE


def _cut(text):
    if not isinstance(text, str):
        return _UNRENDERABLE
    return text if len(text) <= MAX_ERROR_TEXT else text[:MAX_ERROR_TEXT] + f"... [cut: {len(text)} characters]"


def _error_json(type_name, message, trace):
    # Diagnostics may carry lone surrogates: replaced so that the body is always valid UTF-8.
    return _dumps({"type": type_name, "message": message, "traceback": trace}).encode("utf-8", "replace")


def _error_body(exc):
    """The {type, message, traceback} of a handler's exception; never raises."""
    try:
        return _error_json(_type_name(exc), _message(exc), user_traceback(exc))
    except BaseException:
        return _error_json("Exception", _UNRENDERABLE, "")


def _log_exception(exc):
    try:
        sys.stderr.write(user_traceback(exc))
    except BaseException:
        pass


def _encode_result(result):
    try:
        out = _dumps(result).encode()
    except BaseException as exc:  # TypeError, ValueError, RecursionError, an encoder hook that raises...
        message = f"handle returned a value that is not JSON serializable: {_message(exc)}"
        return STATUS_BAD_RESULT, _error_json(_type_name(exc), message, "")
    if len(out) > MAX_RESULT:
        return STATUS_TOO_LARGE, b'{"size":%d}' % len(out)
    # The agent and its protocols refuse values nested deeper than MAX_DEPTH; say so here, clearly.
    if out.count(b"[") + out.count(b"{") > MAX_DEPTH and _too_deep(result):
        message = f"handle returned a value nested deeper than {MAX_DEPTH} levels"
        return STATUS_BAD_RESULT, _error_json("ValueError", message, "")
    return STATUS_OK, out


def _too_deep(value):
    """Whether `value` nests lists/objects deeper than MAX_DEPTH (iterative: no recursion limit)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _bad_payload(message):
    return False, _dumps({"type": "InvalidPayload", "message": message, "traceback": ""}).encode()


def _decode_payload(body):
    if not body:
        return True, {}
    try:
        value = _loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return _bad_payload(f"payload is not valid UTF-8: {exc}")
    except RecursionError:
        return _bad_payload(f"payload is nested deeper than {MAX_DEPTH} levels")
    except ValueError as exc:
        return _bad_payload(f"payload is not valid JSON: {_message(exc)}")
    # Fewer brackets than the limit cannot nest deeper than it: the walk is only for the rare rest.
    if body.count(b"[") + body.count(b"{") > MAX_DEPTH and _too_deep(value):
        return _bad_payload(f"payload is nested deeper than {MAX_DEPTH} levels")
    return True, value


def load_handler(path):
    """Imports the module at `path` and returns its `handle`; raises on any failure."""
    directory = os.path.dirname(os.path.abspath(path))
    if directory not in sys.path:
        sys.path.insert(0, directory)
    spec = importlib.util.spec_from_file_location("handler", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["handler"] = module
    spec.loader.exec_module(module)
    handle = getattr(module, "handle", None)
    if handle is None:
        raise AttributeError("the handler module does not define handle(req)")
    if not callable(handle):
        raise TypeError(f"handle must be callable, got {type(handle).__name__}")
    return handle


class Dispatcher:
    """Runs calls and hands each (status, body) to its `done` callback on the event loop thread.

    Sync handlers run on worker threads fed by a SimpleQueue; finished calls are batched back to
    the loop with one call_soon_threadsafe per batch instead of one future per call.
    """

    def __init__(self, loop, handle, max_threads):
        self.loop = loop
        self.handle = handle
        self.is_async = inspect.iscoroutinefunction(handle)
        self.max_threads = max(1, max_threads)
        self.jobs = queue.SimpleQueue()
        self.finished = collections.deque()
        self.wakeup_pending = False
        self.threads = 0
        self.idle = 0
        self.queued = 0
        self.lock = threading.Lock()
        self.inflight = 0
        self.tasks = {}

    def submit(self, body, done, key=None):
        self.inflight += 1
        if self.is_async:
            task = self.loop.create_task(self._run_async(body))
            if key is not None:
                self.tasks[key] = task
            task.add_done_callback(lambda t: self._async_done(t, done, key))
            return
        with self.lock:
            # Jobs queued but not yet taken count against idle threads: a burst behind a slow call
            # must get threads of its own, not wait in the queue behind it.
            self.queued += 1
            spawn = self.queued > self.idle and self.threads < self.max_threads
            if spawn:
                self.threads += 1
        if spawn:
            threading.Thread(target=self._worker, name="faas-worker", daemon=True).start()
        self.jobs.put((body, done))

    def cancel(self, key):
        task = self.tasks.get(key)
        if task is not None:
            task.cancel()

    async def _run_async(self, body):
        ok, value = _decode_payload(body)
        if not ok:
            return STATUS_BAD_PAYLOAD, value
        try:
            result = await self.handle(value)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # the function's own failure, reported to the caller
            _log_exception(exc)
            return STATUS_FUNCTION_ERROR, _error_body(exc)
        return _encode_result(result)

    def _async_done(self, task, done, key):
        self.inflight -= 1
        if key is not None:
            self.tasks.pop(key, None)
        if task.cancelled():
            return
        try:
            status, out = task.result()
        except BaseException as exc:  # never leave a caller without an answer
            status, out = STATUS_FUNCTION_ERROR, _error_body(exc)
        done(status, out)

    def _run_sync(self, body):
        ok, value = _decode_payload(body)
        if not ok:
            return STATUS_BAD_PAYLOAD, value
        try:
            result = self.handle(value)
        except BaseException as exc:  # SystemExit and KeyboardInterrupt raised by a handler too
            _log_exception(exc)
            return STATUS_FUNCTION_ERROR, _error_body(exc)
        return _encode_result(result)

    def _worker(self):
        jobs = self.jobs
        while True:
            with self.lock:
                self.idle += 1
            body, done = jobs.get()
            with self.lock:
                self.idle -= 1
                self.queued -= 1
            try:
                status, out = self._run_sync(body)
            except BaseException:  # nothing a handler does may end a pool thread
                status, out = STATUS_FUNCTION_ERROR, _error_json("Exception", _UNRENDERABLE, "")
            self.finished.append((done, status, out))
            if not self.wakeup_pending:
                self.wakeup_pending = True
                try:
                    self.loop.call_soon_threadsafe(self._drain)
                except RuntimeError:  # loop closed during shutdown
                    return

    def _drain(self):
        self.wakeup_pending = False
        finished = self.finished
        while finished:
            done, status, out = finished.popleft()
            self.inflight -= 1
            done(status, out)


class _Connection(asyncio.Protocol):
    """A connection's transport and unparsed input."""

    def __init__(self, dispatcher):
        self.dispatcher = dispatcher
        self.buffer = bytearray()
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def connection_lost(self, exc):
        self.transport = None


class FrameProtocol(_Connection):
    """The agent's framed protocol (see the module docstring)."""

    def __init__(self, dispatcher):
        super().__init__(dispatcher)
        self.outgoing = []

    def data_received(self, data):
        self.buffer += data
        self._frames_received()

    def _frames_received(self):
        buf = self.buffer
        offset = 0
        size = len(buf)
        while size - offset >= 9:
            length, call_id, kind = HEADER.unpack_from(buf, offset)
            end = offset + 9 + length
            if end > size:
                break
            body = bytes(buf[offset + 9 : end])
            offset = end
            if kind == KIND_INVOKE:
                self.dispatcher.submit(body, self._responder(call_id), key=(id(self), call_id))
            elif kind == KIND_CANCEL:
                self.dispatcher.cancel((id(self), call_id))
        if offset:
            del buf[:offset]

    def _responder(self, call_id):
        def done(status, out):
            if self.transport is None:
                return
            # Results finished in the same loop iteration leave in one write.
            if not self.outgoing:
                self.dispatcher.loop.call_soon(self._flush)
            self.outgoing.append(HEADER.pack(len(out), call_id, status) + out)

        return done

    def _flush(self):
        outgoing, self.outgoing = self.outgoing, []
        if outgoing and self.transport is not None:
            self.transport.write(b"".join(outgoing))


_REASONS = {200: b"OK", 400: b"Bad Request", 404: b"Not Found", 411: b"Length Required", 413: b"Payload Too Large", 500: b"Internal Server Error"}
_HEALTH_BODY = b'{"status":"ok"}'


class HttpProtocol(FrameProtocol):
    """A small HTTP/1.1 keep-alive server: Content-Length bodies, responses in request order.

    A connection that opens with FRAME_PREFACE speaks the framed protocol instead (after
    FRAME_ACK), so that an agent can multiplex calls over the one published port.
    """

    def __init__(self, dispatcher):
        super().__init__(dispatcher)
        # Responses must leave in request order (pipelining): slots filled as calls finish.
        self.slots = collections.deque()
        self.mode = None

    def data_received(self, data):
        buf = self.buffer
        buf += data
        if self.mode is None:
            if len(buf) < len(FRAME_PREFACE) and FRAME_PREFACE.startswith(bytes(buf)):
                return
            if buf.startswith(FRAME_PREFACE):
                del buf[: len(FRAME_PREFACE)]
                self.mode = "frame"
                self.transport.write(FRAME_ACK)
            else:
                self.mode = "http"
        if self.mode == "frame":
            self._frames_received()
            return
        while True:
            head_end = buf.find(b"\r\n\r\n")
            if head_end < 0:
                if len(buf) > 65536:
                    self._fail(431)
                return
            head = bytes(buf[:head_end]).decode("latin-1")
            lines = head.split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) != 3:
                self._fail(400)
                return
            method, path, _version = parts
            length = 0
            close = _version == "HTTP/1.0"
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    try:
                        length = int(value.strip())
                    except ValueError:
                        self._fail(400)
                        return
                elif name == "transfer-encoding":
                    self._fail(411)
                    return
                elif name == "connection":
                    token = value.strip().lower()
                    if token == "close":
                        close = True
                    elif token == "keep-alive":
                        close = False
            if length > MAX_BODY:
                self._fail(413)
                return
            body_start = head_end + 4
            if len(buf) < body_start + length:
                return
            body = bytes(buf[body_start : body_start + length])
            del buf[: body_start + length]
            slot = [None, close]
            self.slots.append(slot)
            if method == "GET" and path.split("?", 1)[0] in ("/healthz", "/health", "/__health"):
                self._finish(slot, 200, _HEALTH_BODY)
            elif method == "POST":
                self.dispatcher.submit(body, self._http_responder(slot))
            else:
                self._finish(slot, 404, b'{"error":"not found"}')
            if close:
                return

    def _http_responder(self, slot):
        def done(status, out):
            if status == STATUS_OK:
                self._finish(slot, 200, out)
            elif status == STATUS_BAD_PAYLOAD:
                self._finish(slot, 400, b'{"reason":"INVALID_PAYLOAD","error":' + out + b"}")
            else:
                reason = {STATUS_FUNCTION_ERROR: b"FUNCTION_ERROR", STATUS_TOO_LARGE: b"RESULT_TOO_LARGE"}.get(status, b"RESULT_NOT_SERIALIZABLE")
                self._finish(slot, 500, b'{"reason":"' + reason + b'","error":' + out + b"}")

        return done

    def _finish(self, slot, code, body):
        slot[0] = (
            b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n"
            % (code, _REASONS.get(code, b"Error"), len(body), b"Connection: close\r\n" if slot[1] else b"")
            + body
        )
        slots = self.slots
        out = []
        close = False
        while slots and slots[0][0] is not None:
            ready = slots.popleft()
            out.append(ready[0])
            if ready[1]:
                close = True
                break
        transport = self.transport
        if out and transport is not None:
            transport.write(b"".join(out) if len(out) > 1 else out[0])
            if close:
                transport.close()

    def _fail(self, code):
        transport = self.transport
        if transport is not None:
            transport.write(b"HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n" % (code, _REASONS.get(code, b"Error")))
            transport.close()
        self.buffer.clear()


def _report_ready(fd, message):
    if fd is None:
        return
    try:
        os.write(fd, (json.dumps(message) + "\n").encode())
        os.close(fd)
    except OSError:
        pass


def check(args):
    """Imports the handler and exits 0, or prints the traceback and a CHECK_MARKER JSON line and exits 3.

    Image builds run this as their last step, so an image that cannot import its handler never exists.
    """
    try:
        load_handler(args.handler)
    except BaseException as exc:
        text = user_traceback(exc)
        sys.stderr.write(text)
        sys.stderr.flush()
        print(CHECK_MARKER + json.dumps({"ok": False, "type": type(exc).__name__, "message": str(exc), "traceback": text}), flush=True)
        os._exit(3)
    print(CHECK_MARKER + json.dumps({"ok": True, "python": "%d.%d.%d" % sys.version_info[:3], "runtime": RUNTIME_VERSION}), flush=True)
    os._exit(0)


CHECK_MARKER = "FAAS_CHECK "


async def serve(args):
    loop = asyncio.get_running_loop()
    try:
        handle = load_handler(args.handler)
    except BaseException as exc:  # SyntaxError, ImportError, anything the module raises
        text = user_traceback(exc)
        sys.stderr.write(text)
        report = {"ok": False, "type": type(exc).__name__, "message": str(exc), "traceback": text}
        _report_ready(args.ready_fd, report)
        if args.ready_fd is None:  # a container: whoever started it reads the marker from its output
            print(CHECK_MARKER + json.dumps(report))
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(3)

    dispatcher = Dispatcher(loop, handle, int(os.environ.get("FAAS_WORKER_THREADS", "64")))
    protocol = FrameProtocol if args.protocol == "frame" else HttpProtocol
    kind, _, address = args.listen.partition(":")
    if kind == "unix":
        if os.path.exists(address):
            os.unlink(address)
        server = await loop.create_unix_server(lambda: protocol(dispatcher), address, backlog=1024)
    elif kind == "tcp":
        host, _, port = address.rpartition(":")
        server = await loop.create_server(lambda: protocol(dispatcher), host or "0.0.0.0", int(port), backlog=1024, reuse_address=True)
        for sock in server.sockets:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    else:
        raise SystemExit(f"--listen must be unix:PATH or tcp:HOST:PORT, got {args.listen!r}")

    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if args.exit_on_stdin_eof:
        # The agent holds our stdin open; EOF means it is gone, so we must not linger as an orphan.
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

        async def watch_parent():
            while await reader.read(4096):
                pass
            stop.set()

        loop.create_task(watch_parent())

    _report_ready(args.ready_fd, {"ok": True, "python": "%d.%d.%d" % sys.version_info[:3], "runtime": RUNTIME_VERSION})
    await stop.wait()
    server.close()
    # Let calls in flight finish (bounded), then exit.
    for _ in range(100):
        if dispatcher.inflight == 0:
            break
        await asyncio.sleep(0.05)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def main():
    parser = argparse.ArgumentParser(description="radical-faas Python runtime")
    parser.add_argument("--handler", required=True, help="path of the module defining handle(req)")
    parser.add_argument("--listen", default=None, help="unix:PATH or tcp:HOST:PORT (default tcp:0.0.0.0:$PORT, PORT default 8080)")
    parser.add_argument("--check", action="store_true", help="import the handler, report and exit")
    parser.add_argument("--protocol", choices=("frame", "http"), default="http")
    parser.add_argument("--ready-fd", type=int, default=None, help="file descriptor to report readiness on")
    parser.add_argument("--exit-on-stdin-eof", action="store_true")
    args = parser.parse_args()
    if args.check:
        check(args)
    if args.listen is None:
        args.listen = "tcp:0.0.0.0:" + os.environ.get("PORT", "8080")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
