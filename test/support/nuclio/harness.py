"""A small Nuclio Python processor for the test stand-in: serves one function over HTTP the way
Nuclio's Python runtime calls it (nuclio-sdk-py semantics, platform-apis.md §B3), in real Python.

  python3 harness.py --dir DIR --handler main:handler --workers N [--port 0]

- event.body is bytes; when the content type is exactly application/json and the body parses, it
  is the parsed value (nuclio_sdk/event.py _try_deserialize_json). event.path, method, headers,
  fields, content_type are set as well.
- context.logger.{debug,info,warn,error}[_with] print zap-style JSON lines to stdout;
  context.Response(body, headers, content_type, status_code).
- Return values (nuclio_sdk/response.py from_entrypoint_output): str -> 200 text/plain;
  bytes -> 200 application/octet-stream; dict/list -> JSON; (status, body) tuples;
  context.Response; None -> 200 with an empty body. A raised exception -> 500 text/plain.
- One event at a time per worker; --workers workers (the HTTP trigger's numWorkers).
- GET /__internal/health answers 200 without calling the handler (the readiness probe).
- An import failure prints the traceback to stderr and exits 1. When listening, prints
  "HARNESS_READY <port>" to stdout.
"""

import argparse
import importlib
import json
import sys
import threading
import time
import traceback
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit


class Response:
    def __init__(self, headers=None, body=None, content_type=None, status_code=200):
        self.headers = headers or {}
        self.body = body
        self.status_code = status_code
        self.content_type = content_type or "text/plain"


class Logger:
    def __init__(self, name):
        self.name = name
        self.lock = threading.Lock()

    def _log(self, level, message, *args, **kwargs):
        entry = {"level": level, "time": int(time.time() * 1000), "name": self.name, "message": str(message) % args if args else str(message)}
        entry.update({k: v if isinstance(v, (str, int, float, bool)) or v is None else repr(v) for k, v in kwargs.items()})
        with self.lock:
            sys.stdout.write(json.dumps(entry) + "\n")
            sys.stdout.flush()

    def debug(self, message, *args):
        self._log("debug", message, *args)

    def info(self, message, *args):
        self._log("info", message, *args)

    def warn(self, message, *args):
        self._log("warn", message, *args)

    def error(self, message, *args):
        self._log("error", message, *args)

    def debug_with(self, message, *args, **kwargs):
        self._log("debug", message, *args, **kwargs)

    def info_with(self, message, *args, **kwargs):
        self._log("info", message, *args, **kwargs)

    def warn_with(self, message, *args, **kwargs):
        self._log("warn", message, *args, **kwargs)

    def error_with(self, message, *args, **kwargs):
        self._log("error", message, *args, **kwargs)


class Context:
    def __init__(self, worker_id):
        self.logger = Logger("processor")
        self.Response = Response
        self.user_data = types.SimpleNamespace()
        self.worker_id = worker_id


class Event:
    def __init__(self, body, content_type, headers, method, path, fields):
        self.body = body
        self.content_type = content_type
        self.headers = headers
        self.method = method
        self.path = path
        self.fields = fields
        self.id = ""
        self.trigger = types.SimpleNamespace(kind="http", name="http")


def decode_body(raw, content_type):
    if content_type == "application/json" and raw:
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def encode_output(output):
    """(status, content_type, headers, body bytes) for what the handler returned."""
    if isinstance(output, Response):
        status, content_type, headers, body = output.status_code, output.content_type, dict(output.headers), output.body
    elif isinstance(output, tuple) and len(output) == 2 and isinstance(output[0], int):
        status, content_type, headers, body = output[0], None, {}, output[1]
    else:
        status, content_type, headers, body = 200, None, {}, output
    if body is None:
        data, default_type = b"", "text/plain"
    elif isinstance(body, (dict, list)):
        data, default_type = json.dumps(body).encode(), "application/json"
    elif isinstance(body, bytes):
        data, default_type = body, "application/octet-stream"
    else:
        data, default_type = str(body).encode(), "text/plain"
    return status, content_type or default_type, headers, data


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--handler", required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    module_name, _, function_name = args.handler.partition(":")
    sys.path.insert(0, args.dir)
    try:
        entry = getattr(importlib.import_module(module_name), function_name)
    except BaseException:
        sys.stderr.write(traceback.format_exc())
        sys.stderr.flush()
        sys.stdout.flush()
        sys.exit(1)

    contexts = [Context(i) for i in range(max(1, args.workers))]
    free = list(contexts)
    available = threading.Semaphore(len(contexts))
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def _serve(self):
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            url = urlsplit(self.path)
            if self.command == "GET" and url.path == "/__internal/health":
                return self._reply(200, "text/plain", {}, b"")
            content_type = self.headers.get("content-type", "")
            event = Event(decode_body(raw, content_type), content_type, dict(self.headers), self.command, url.path, dict(parse_qsl(url.query)))
            available.acquire()
            with lock:
                context = free.pop()
            try:
                output = entry(context, event)
                status, ctype, headers, data = encode_output(output)
            except Exception as exc:
                context.logger.error_with("Exception caught in handler", exc=repr(exc), traceback=traceback.format_exc())
                status, ctype, headers, data = 500, "text/plain", {}, str(exc).encode()
            finally:
                with lock:
                    free.append(context)
                available.release()
            self._reply(status, ctype, headers, data)

        def _reply(self, status, content_type, headers, data):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            for key, value in headers.items():
                self.send_header(key, str(value))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print("HARNESS_READY %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
