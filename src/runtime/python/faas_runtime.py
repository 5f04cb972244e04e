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
    python3 faas_runtime.py --spare ROOM --listen unix:... --protocol frame --ready-fd 3 --exit-on-stdin-eof
        (a warm spare: reports {"ok": true, "spare": true} on --ready-fd, then takes its function as
        one JSON line {"handler", "cwd", "env"} on stdin and goes on as with --handler)

Without --ready-fd (in a container), an import failure also prints a line `FAAS_CHECK {json}` to
stdout before exiting with 3, so that the agent can report the traceback from the container's output.

Protocols:
  frame  (the agent's local platform) length-prefixed frames, many calls multiplexed on one
         connection. Request:  u32 body length, u32 call id, u8 kind, body. Kinds: 1 invoke (body:
         the payload), 2 cancel (empty body), 3 invoke-stream (body: u32 window in bytes, then the
         payload), 4 credit (body: u32 bytes the agent has taken off a stream since its last credit).
         Response: u32 body length, u32 call id, u8 status, body. Status 0: body is the result
         JSON; 1: `handle` raised; 2: the payload is not JSON (or nested deeper than
         FAAS_MAX_DEPTH, or has a number JSON cannot carry); 3: the result is not JSON; 4: the
         result is larger than FAAS_MAX_RESULT_BYTES. For 1-3 the body is a JSON object
         {type, message, traceback}; for 4 it is {"size": N}.
         A stream call (kind 3) is answered with status 5 frames, one per yielded value (its JSON,
         each within the result rules), then one status 6 frame (empty body) when the generator is
         done, or one failure frame (1-4) that ends the stream: chunks already sent stay sent. The
         runtime sends a chunk only while fewer than `window` bytes of chunks are uncredited, so a
         slow reader pauses the generator. A cancel (or the connection closing) closes the
         generator: GeneratorExit at its `yield`.
  http   (containers, reverse proxies) HTTP/1.1 keep-alive. POST any path: JSON body in, result
         JSON out with 200; 500 {"error": {...}, "reason": "FUNCTION_ERROR"|"RESULT_NOT_SERIALIZABLE"
         |"RESULT_TOO_LARGE"} or 400 {"error": ..., "reason": "INVALID_PAYLOAD"} on failure. GET /healthz answers 200.
         With `Accept: application/x-ndjson` the answer is a stream: 200, chunked, one line per
         yielded value `{"type":"chunk","result":VALUE}` as it is produced, then `{"type":"done"}`
         or `{"type":"error","reason":...,"error":{...}}`; paced by TCP (the generator waits while
         the socket's buffer is full); the connection closes after it, and a client that goes away
         closes the generator.
         A connection that opens with the bytes "FAAS-FRAMES/1\r\n" is answered with
         "FAAS-FRAMES/1 OK\r\n" and speaks the frame protocol from then on: the agent's docker
         platform multiplexes its calls to a container this way, over the one published port.

A handler may be a generator (`def handle(req): yield ...`) or an async generator: a stream call
gets its values one by one; a plain call gets the list of them (within FAAS_MAX_RESULT_BYTES). A
handler that returns a plain value answers a stream call with that value as its only chunk.

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

RUNTIME_VERSION = "3"

STATUS_OK = 0
STATUS_FUNCTION_ERROR = 1
STATUS_BAD_PAYLOAD = 2
STATUS_BAD_RESULT = 3
STATUS_TOO_LARGE = 4
STATUS_CHUNK = 5
STATUS_END = 6

KIND_INVOKE = 1
KIND_CANCEL = 2
KIND_STREAM = 3
KIND_CREDIT = 4

HEADER = struct.Struct(">IIB")
U32 = struct.Struct(">I")
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


# The source's path, also when this runs compiled (python …/faas_runtime.pyc): what tracebacks name.
_THIS_FILE = os.path.abspath(sys._getframe().f_code.co_filename)


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


def _encode_result(result, max_depth=MAX_DEPTH):
    try:
        out = _dumps(result).encode()
    except BaseException as exc:  # TypeError, ValueError, RecursionError, an encoder hook that raises...
        message = f"handle returned a value that is not JSON serializable: {_message(exc)}"
        return STATUS_BAD_RESULT, _error_json(_type_name(exc), message, "")
    if len(out) > MAX_RESULT:
        return STATUS_TOO_LARGE, b'{"size":%d}' % len(out)
    # The agent and its protocols refuse values nested deeper than MAX_DEPTH; say so here, clearly.
    if out.count(b"[") + out.count(b"{") > max_depth and _too_deep(result, max_depth):
        message = f"handle returned a value nested deeper than {MAX_DEPTH} levels"
        return STATUS_BAD_RESULT, _error_json("ValueError", message, "")
    return STATUS_OK, out


def _too_deep(value, max_depth=MAX_DEPTH):
    """Whether `value` nests lists/objects deeper than `max_depth` (iterative: no recursion limit)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > max_depth:
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


class Call:
    """One call in flight: whether it was cancelled and, for a stream, how many bytes of chunks it
    may still send before it waits (the agent's credit; a paused HTTP socket is credit 0).

    `credit` and `cancelled` change on the loop thread and are read by the call's worker thread.
    """

    __slots__ = ("credit", "cancelled", "cond", "event", "task")

    def __init__(self, credit=0):
        self.credit = credit
        self.cancelled = False
        self.cond = threading.Condition()
        self.event = None  # an asyncio.Event, for a stream run on the loop
        self.task = None  # the asyncio task of an async handler

    def grant(self, n):
        with self.cond:
            self.credit += n
            self.cond.notify()
        if self.event is not None:
            self.event.set()

    def block(self):
        with self.cond:
            self.credit = 0

    def unblock(self):
        self.grant(_UNLIMITED - self.credit)

    def cancel(self):
        with self.cond:
            self.cancelled = True
            self.cond.notify()
        if self.task is not None:
            self.task.cancel()

    def acquire(self, n):
        """Waits (a worker thread) until the stream may send `n` more bytes; False once cancelled."""
        with self.cond:
            while self.credit <= 0 and not self.cancelled:
                self.cond.wait()
            self.credit -= n
            return not self.cancelled

    async def acquire_async(self, n):
        """`acquire` for a stream run on the loop (a cancel cancels its task instead)."""
        while self.credit <= 0:
            if self.event is None:
                self.event = asyncio.Event()
            self.event.clear()
            await self.event.wait()
        self.credit -= n


_UNLIMITED = 1 << 62


class Dispatcher:
    """Runs calls and hands each (status, body) to its `done` callback on the event loop thread:
    once for a plain call, once per chunk (STATUS_CHUNK) and once at the end for a stream.

    Sync handlers run on worker threads fed by a SimpleQueue; finished calls and chunks are batched
    back to the loop with one call_soon_threadsafe per batch instead of one future per call.
    """

    def __init__(self, loop, handle, max_threads):
        self.loop = loop
        self.bind(handle)
        self.max_threads = max(1, max_threads)
        self.jobs = queue.SimpleQueue()
        self.finished = collections.deque()
        self.wakeup_pending = False
        self.threads = 0
        self.idle = 0
        self.queued = 0
        self.lock = threading.Lock()
        self.inflight = 0

    def bind(self, handle):
        """Sets the function the calls run (a spare gets its function after it started)."""
        self.handle = handle
        self.is_async = inspect.iscoroutinefunction(handle) or inspect.isasyncgenfunction(handle)

    def submit(self, body, done, stream=False, credit=0):
        """Starts a call; returns its Call (cancel it when its caller goes away)."""
        self.inflight += 1
        call = Call(credit)
        if self.is_async:
            emit = (lambda out: done(STATUS_CHUNK, out)) if stream else None
            call.task = self.loop.create_task(self._run_async(body, call, emit))
            call.task.add_done_callback(lambda t: self._async_done(t, done))
            return call
        with self.lock:
            # Jobs queued but not yet taken count against idle threads: a burst behind a slow call
            # must get threads of its own, not wait in the queue behind it.
            self.queued += 1
            spawn = self.queued > self.idle and self.threads < self.max_threads
            if spawn:
                self.threads += 1
        if spawn:
            threading.Thread(target=self._worker, name="faas-worker", daemon=True).start()
        self.jobs.put((body, done, call, stream))
        return call

    async def _run_async(self, body, call, emit):
        ok, value = _decode_payload(body)
        if not ok:
            return STATUS_BAD_PAYLOAD, value
        try:
            result = self.handle(value)
            if inspect.isawaitable(result):
                result = await result
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # the function's own failure, reported to the caller
            _log_exception(exc)
            return STATUS_FUNCTION_ERROR, _error_body(exc)
        if inspect.isasyncgen(result):
            return await _drive_async(result, call, emit)
        return _single(result, emit)

    def _async_done(self, task, done):
        self.inflight -= 1
        if task.cancelled():
            return
        try:
            status, out = task.result()
        except BaseException as exc:  # never leave a caller without an answer
            status, out = STATUS_FUNCTION_ERROR, _error_body(exc)
        done(status, out)

    def _run_sync(self, body, call, emit):
        ok, value = _decode_payload(body)
        if not ok:
            return STATUS_BAD_PAYLOAD, value
        try:
            result = self.handle(value)
        except BaseException as exc:  # SystemExit and KeyboardInterrupt raised by a handler too
            _log_exception(exc)
            return STATUS_FUNCTION_ERROR, _error_body(exc)
        if inspect.isgenerator(result):
            return _drive_sync(result, call, emit)
        return _single(result, emit)

    def _worker(self):
        jobs = self.jobs
        while True:
            with self.lock:
                self.idle += 1
            body, done, call, stream = jobs.get()
            with self.lock:
                self.idle -= 1
                self.queued -= 1
            emit = (lambda out, done=done: self._post(done, STATUS_CHUNK, out)) if stream else None
            try:
                status, out = self._run_sync(body, call, emit)
            except BaseException:  # nothing a handler does may end a pool thread
                status, out = STATUS_FUNCTION_ERROR, _error_json("Exception", _UNRENDERABLE, "")
            if not self._post(done, status, out):
                return

    def _post(self, done, status, out):
        """Hands a result or chunk to the loop (from a worker thread); False once the loop is closed."""
        self.finished.append((done, status, out))
        if not self.wakeup_pending:
            self.wakeup_pending = True
            try:
                self.loop.call_soon_threadsafe(self._drain)
            except RuntimeError:  # loop closed during shutdown
                return False
        return True

    def _drain(self):
        self.wakeup_pending = False
        finished = self.finished
        while finished:
            done, status, out = finished.popleft()
            if status != STATUS_CHUNK:
                self.inflight -= 1
            done(status, out)


def _single(result, emit):
    """A plain value: the result of a plain call, the only chunk of a stream call."""
    status, out = _encode_result(result)
    if emit is None or status != STATUS_OK:
        return status, out
    emit(out)
    return STATUS_END, b""


def _collect(parts, out):
    """Adds a generator's value to a plain call's list; a failure (status, body) once it is too large."""
    parts[0] += len(out) + 1
    if parts[0] > MAX_RESULT:
        return STATUS_TOO_LARGE, b'{"size":%d}' % parts[0]
    parts.append(out)
    return None


def _listed(parts):
    return STATUS_OK, b"[" + b",".join(parts[1:]) + b"]"


def _drive_sync(gen, call, emit):
    """Runs a generator on a worker thread: each value a chunk through `emit` (paced by the call's
    credit), or, for a plain call (emit None), into the list that is its result. A cancel closes
    the generator (GeneratorExit at its yield); a raise ends the stream as a sync call's would."""
    parts = [1]
    try:
        while True:
            if call.cancelled:
                gen.close()
                return STATUS_END, b""
            try:
                item = next(gen)
            except StopIteration:
                break
            status, out = _encode_result(item, MAX_DEPTH if emit else MAX_DEPTH - 1)
            if status == STATUS_OK:
                if emit is None:
                    failed = _collect(parts, out)
                    if failed is None:
                        continue
                    status, out = failed
                elif call.acquire(len(out)):
                    emit(out)
                    continue
                else:
                    status, out = STATUS_END, b""
            gen.close()
            return status, out
    except BaseException as exc:  # the generator raised midway: chunks sent stay sent
        _log_exception(exc)
        return STATUS_FUNCTION_ERROR, _error_body(exc)
    return _listed(parts) if emit is None else (STATUS_END, b"")


async def _drive_async(agen, call, emit):
    """`_drive_sync` for an async generator, on the loop. A cancel cancels the call's task: a
    generator waiting at its yield gets GeneratorExit, one awaiting inside gets CancelledError."""
    parts = [1]
    try:
        while True:
            try:
                item = await agen.__anext__()
            except StopAsyncIteration:
                break
            status, out = _encode_result(item, MAX_DEPTH if emit else MAX_DEPTH - 1)
            if status == STATUS_OK:
                if emit is None:
                    failed = _collect(parts, out)
                    if failed is None:
                        continue
                    status, out = failed
                else:
                    await call.acquire_async(len(out))
                    emit(out)
                    continue
            await agen.aclose()
            return status, out
    except asyncio.CancelledError:
        try:
            await agen.aclose()
        except BaseException:
            pass
        raise
    except BaseException as exc:
        _log_exception(exc)
        return STATUS_FUNCTION_ERROR, _error_body(exc)
    return _listed(parts) if emit is None else (STATUS_END, b"")


class _Connection(asyncio.Protocol):
    """A connection's transport, unparsed input and calls in flight (cancelled when it closes)."""

    def __init__(self, dispatcher):
        self.dispatcher = dispatcher
        self.buffer = bytearray()
        self.transport = None
        self.calls = {}

    def connection_made(self, transport):
        self.transport = transport

    def connection_lost(self, exc):
        self.transport = None
        calls, self.calls = self.calls, {}
        for call in calls.values():
            call.cancel()


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
        calls = self.calls
        while size - offset >= 9:
            length, call_id, kind = HEADER.unpack_from(buf, offset)
            end = offset + 9 + length
            if end > size:
                break
            body = bytes(buf[offset + 9 : end])
            offset = end
            if kind == KIND_INVOKE:
                calls[call_id] = self.dispatcher.submit(body, self._responder(call_id))
            elif kind == KIND_STREAM and length >= 4:
                window = U32.unpack_from(body)[0]
                calls[call_id] = self.dispatcher.submit(body[4:], self._responder(call_id), stream=True, credit=max(1, window))
            elif kind == KIND_CANCEL:
                call = calls.pop(call_id, None)
                if call is not None:
                    call.cancel()
            elif kind == KIND_CREDIT and length >= 4:
                call = calls.get(call_id)
                if call is not None:
                    call.grant(U32.unpack_from(body)[0])
        if offset:
            del buf[:offset]

    def _responder(self, call_id):
        def done(status, out):
            if status != STATUS_CHUNK:
                self.calls.pop(call_id, None)
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


def _reason_of(status):
    return {STATUS_FUNCTION_ERROR: b"FUNCTION_ERROR", STATUS_TOO_LARGE: b"RESULT_TOO_LARGE"}.get(status, b"RESULT_NOT_SERIALIZABLE")


def _chunked(line):
    """The last piece of a chunked NDJSON stream: `line`, then the zero-size chunk."""
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(line), line)


_STREAM_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
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
        self.streaming = False

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
        if self.streaming:
            buf.clear()  # nothing after a stream request is read (its response closes the connection)
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
            stream = False
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "accept":
                    stream = "application/x-ndjson" in value.lower()
                elif name == "content-length":
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
            elif method == "POST" and stream:
                # A stream is the connection's last response: nothing after it is read.
                slot[1] = True
                self.streaming = True
                buf.clear()
                slot += [False, body]  # slot[2]: whether its head was written; slot[3]: the payload
                if self.slots[0] is slot:
                    self._start_stream(slot)
                return
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
                self._finish(slot, 500, b'{"reason":"' + _reason_of(status) + b'","error":' + out + b"}")

        return done

    def _start_stream(self, slot):
        """Starts a stream once its response is the connection's first: its writes go out directly."""
        key = object()
        body, slot[3] = slot[3], None
        self.calls[key] = self.dispatcher.submit(body, self._stream_responder(slot, key), stream=True, credit=_UNLIMITED)

    def _stream_responder(self, slot, key):
        """Writes a stream's chunks as NDJSON lines in a chunked 200 once its first chunk comes; a
        stream that fails before any chunk is answered as a plain call is."""

        def done(status, out):
            if status == STATUS_CHUNK:
                piece = b'{"type":"chunk","result":' + out + b"}\n"
                head = b"" if slot[2] else _STREAM_HEAD
                slot[2] = True
                self._write(head + b"%x\r\n%s\r\n" % (len(piece), piece))
                return
            self.calls.pop(key, None)
            if not slot[2]:
                if status == STATUS_END:
                    self._finish_raw(slot, _STREAM_HEAD + _chunked(b'{"type":"done"}\n'))
                else:
                    self._http_responder(slot)(status, out)
                return
            if status == STATUS_END:
                line = b'{"type":"done"}\n'
            elif status == STATUS_BAD_PAYLOAD:
                line = b'{"type":"error","reason":"INVALID_PAYLOAD","error":' + out + b"}\n"
            else:
                line = b'{"type":"error","reason":"' + _reason_of(status) + b'","error":' + out + b"}\n"
            self._finish_raw(slot, _chunked(line))

        return done

    def _write(self, data):
        if self.transport is not None:
            self.transport.write(data)

    def pause_writing(self):
        # A stream's reader is slower than its generator: the generator waits (bounded memory).
        # Framed streams are paced by the agent's credit instead.
        if self.mode == "http":
            for call in self.calls.values():
                call.block()

    def resume_writing(self):
        if self.mode == "http":
            for call in self.calls.values():
                call.unblock()

    def _finish(self, slot, code, body):
        self._finish_raw(
            slot,
            b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n"
            % (code, _REASONS.get(code, b"Error"), len(body), b"Connection: close\r\n" if slot[1] else b"")
            + body,
        )

    def _finish_raw(self, slot, data):
        slot[0] = data
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
                return
        # A stream waiting behind earlier responses starts once it is first.
        if slots and len(slots[0]) > 3 and slots[0][3] is not None:
            self._start_stream(slots[0])

    def _fail(self, code):
        transport = self.transport
        if transport is not None:
            transport.write(b"HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n" % (code, _REASONS.get(code, b"Error")))
            transport.close()
        self.buffer.clear()


def _report_ready(fd, message, close=True):
    if fd is None:
        return
    try:
        os.write(fd, (json.dumps(message) + "\n").encode())
        if close:
            os.close(fd)
    except OSError:
        pass


async def _await_function(ready_fd, reader):
    """A spare (--spare) has imported everything, listens, and waits for the function it is to
    serve: it says so on `ready_fd` (kept open for the readiness report), then reads one JSON line
    on stdin, {"handler": PATH, "cwd": DIR, "env": {...}}, takes that environment as its whole
    environment and that directory as its working directory, and returns the handler's path. Ends
    quietly when stdin ends first (the agent stopped the spare or went away)."""
    _report_ready(ready_fd, {"ok": True, "spare": True}, close=False)
    data = await reader.readline()
    if not data.endswith(b"\n"):
        os._exit(0)
    job = json.loads(data)
    os.environ.clear()
    os.environ.update(job["env"])
    os.chdir(job["cwd"])
    _retitle(job["handler"])
    return job["handler"]


def _retitle(handler):
    """Shows the function in this process's command line (ps, /proc/PID/cmdline) as a worker started
    for it shows it: `--spare ROOM` becomes `--handler PATH`, written over the room the spare kept."""
    try:
        with open("/proc/self/cmdline", "rb") as f:
            argv = f.read().rstrip(b"\0").split(b"\0")
        i = argv.index(b"--spare")
        argv[i : i + 2] = [b"--handler", os.fsencode(handler)]
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end (fields 48, 49)
        text = b"\0".join(argv) + b"\0"
        if len(text) <= end - start:
            with open("/proc/self/mem", "r+b", buffering=0) as mem:
                mem.seek(start)
                mem.write(text.ljust(end - start, b"\0"))
    except (OSError, ValueError, IndexError):
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


async def _listen(loop, args, dispatcher):
    protocol = FrameProtocol if args.protocol == "frame" else HttpProtocol
    kind, _, address = args.listen.partition(":")
    if kind == "unix":
        if os.path.exists(address):
            os.unlink(address)
        return await loop.create_unix_server(lambda: protocol(dispatcher), address, backlog=1024)
    if kind == "tcp":
        host, _, port = address.rpartition(":")
        server = await loop.create_server(lambda: protocol(dispatcher), host or "0.0.0.0", int(port), backlog=1024, reuse_address=True)
        for sock in server.sockets:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return server
    raise SystemExit(f"--listen must be unix:PATH or tcp:HOST:PORT, got {args.listen!r}")


async def serve(args):
    loop = asyncio.get_running_loop()
    dispatcher = Dispatcher(loop, None, int(os.environ.get("FAAS_WORKER_THREADS", "64")))
    reader = server = None
    if args.exit_on_stdin_eof or args.spare is not None:
        # The agent holds our stdin open (a spare's function comes on it); EOF means it is gone.
        reader = asyncio.StreamReader(limit=MAX_BODY)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    if args.spare is not None:
        # A spare listens (and the agent connects) before it has a function: a cold start is the import.
        server = await _listen(loop, args, dispatcher)
        args.handler = await _await_function(args.ready_fd, reader)
    try:
        dispatcher.bind(load_handler(args.handler))
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
    if server is None:
        server = await _listen(loop, args, dispatcher)

    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if args.exit_on_stdin_eof:
        # EOF on stdin means the agent is gone, so we must not linger as an orphan.
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
    parser.add_argument("--handler", help="path of the module defining handle(req) (required unless --spare)")
    parser.add_argument("--listen", default=None, help="unix:PATH or tcp:HOST:PORT (default tcp:0.0.0.0:$PORT, PORT default 8080)")
    parser.add_argument("--check", action="store_true", help="import the handler, report and exit")
    parser.add_argument("--protocol", choices=("frame", "http"), default="http")
    parser.add_argument("--ready-fd", type=int, default=None, help="file descriptor to report readiness on")
    parser.add_argument("--exit-on-stdin-eof", action="store_true")
    parser.add_argument("--spare", metavar="ROOM", help="start without a function and wait for one on stdin (the agent's warm pool); ROOM is ignored text that keeps room in the command line for --handler PATH")
    args = parser.parse_args()
    if args.spare is None and not args.handler:
        parser.error("--handler is required")
    if args.check:
        check(args)
    if args.listen is None:
        args.listen = "tcp:0.0.0.0:" + os.environ.get("PORT", "8080")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
