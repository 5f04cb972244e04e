"""The Nuclio stand-in's processor: the HTTP trigger in front of one wrapper process per worker.

  python3 harness.py --dir DIR --handler main:handler --workers N [--max-request-body-size B]

Follows nuclio/nuclio 1.14.1 (commit f7573701a7cd7f093fe37481bd8e61d6979a3d14); files cited by
path:line under pkg/processor/:
  - one wrapper process per worker (runtime/python/runtime.go:64-121, run by
    runtime/rpc/abstract.go:249-284), each with its own event socket; the processor waits for
    each wrapper's 's' packet before it serves (rpc/connection/abstract.go:198-211, 256-258);
  - one event at a time per worker; a request waits for a free worker;
  - the event map of rpc/encoder/encode.go:27-53 (see wrapper.py for why it travels as JSON);
  - wrapper packets are lines: 'r' response, 'm' metric, 'l' log, 's' started
    (rpc/connection/abstract.go:185-211); a response's body is text or base64 by body_encoding
    (rpc/result/result.go:55-88); 'l' records are written out again by the processor's logger at
    the record's level (rpc/connection/abstract.go:232-254);
  - a body longer than the trigger's maxRequestBodySize (default 4 MiB,
    trigger/http/types.go:30, 88-89) is refused with 400 before any worker sees it
    (trigger/http/trigger.go:128-135 hands the limit to fasthttp; the trigger's own test expects
    400: trigger/http/test/suite/http_test.go:115-144);
  - GET /__internal/health answers 200 without an event (trigger/http/types.go:31);
  - a wrapper that exits ends the processor with a panic (rpc/abstract.go:287-330), so the pod
    restarts; at start-up that is how an import failure fails the deploy.

When every worker has started it prints "HARNESS_READY <port>" on stdout (the stand-in's readiness).
"""

import argparse
import base64
import json
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))
SDK = os.path.join(HERE, "vendor", "nuclio-sdk-py")
DEFAULT_MAX_REQUEST_BODY_SIZE = 4 * 1024 * 1024
out_lock = threading.Lock()


def log(level, name, message, **fields):
    """One zap-style JSON line on stdout, as the processor's logger writes them."""
    entry = {"level": level, "time": int(time.time() * 1000), "name": name, "message": message}
    entry.update(fields)
    with out_lock:
        sys.stdout.write(json.dumps(entry) + "\n")
        sys.stdout.flush()


def panic(message):
    with out_lock:
        sys.stdout.flush()
        sys.stderr.write("panic: " + message + "\n")
        sys.stderr.flush()
    os._exit(2)


class Worker:
    def __init__(self, worker_id, args, sockets_dir):
        self.id = worker_id
        self.responses = queue.Queue()
        self.started = threading.Event()
        path = os.path.join(sockets_dir, "w%d.sock" % worker_id)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(1)
        env = dict(os.environ)
        # runtime.go:92-94: the function's directory and the SDK on PYTHONPATH
        env["PYTHONPATH"] = os.pathsep.join([args.dir, SDK])
        command = [sys.executable, "-u", os.path.join(HERE, "wrapper.py"), "--handler", args.handler, "--event-socket-path", path, "--worker-id", str(worker_id), "--trigger-kind", "http", "--trigger-name", "http"]
        self.process = subprocess.Popen(command, cwd=args.dir, env=env)
        threading.Thread(target=self._watch, daemon=True).start()
        listener.settimeout(60)
        try:
            self.conn, _ = listener.accept()
        except OSError:
            panic("Wrapper process for worker %d never connected" % worker_id)
        listener.close()
        self.file = self.conn.makefile("rb")
        threading.Thread(target=self._read, daemon=True).start()

    def _watch(self):
        # rpc/abstract.go:287-330
        code = self.process.wait()
        log("error", "processor.http.w%d.python" % self.id, "Unexpected termination of child process", exitCode=code, pid=self.process.pid)
        panic("Wrapper process for worker %d exited unexpectedly with: exit status %d" % (self.id, code))

    def _read(self):
        logger = "processor.http.w%d.python.logger" % self.id
        for line in self.file:
            kind, data = line[:1], line[1:]
            if kind == b"r":
                self.responses.put(json.loads(data))
            elif kind == b"s":
                self.started.set()
            elif kind == b"l":
                record = json.loads(data)
                level = {"error": "error", "critical": "error", "fatal": "error", "warning": "warn", "info": "info"}.get(record.get("level"), "debug")
                log(level, logger, record.get("message", ""), **{k: v if isinstance(v, str) else json.dumps(v) for k, v in (record.get("with") or {}).items()})

    def process_event(self, event):
        data = json.dumps(event).encode("utf-8")
        self.conn.sendall(len(data).to_bytes(4, "big") + data)
        return self.responses.get()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--handler", required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--max-request-body-size", type=int, default=0)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    max_body = args.max_request_body_size or DEFAULT_MAX_REQUEST_BODY_SIZE

    sockets_dir = tempfile.mkdtemp(prefix="nuclio-sockets-")
    workers = [Worker(i, args, sockets_dir) for i in range(max(1, args.workers))]
    for worker in workers:
        worker.started.wait()
    free = queue.Queue()
    for worker in workers:
        free.put(worker)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def _serve(self):
            length = int(self.headers.get("content-length") or 0)
            if length > max_body:
                # fasthttp refuses before reading the body; the connection is closed after it.
                self.close_connection = True
                return self._reply(400, "text/plain", {}, b"Error when parsing request")
            raw = self.rfile.read(length) if length else b""
            url = urlsplit(self.path)
            if self.command == "GET" and url.path == "/__internal/health":
                return self._reply(200, "text/plain", {}, b"")
            content_type = self.headers.get("content-type", "")
            event = {
                "content_type": content_type,
                "content-type": content_type,
                "trigger": {"kind": "http", "name": "http"},
                "fields": dict(parse_qsl(url.query)),
                "headers": {k: v for k, v in self.headers.items()},
                "id": "",
                "method": self.command,
                "path": url.path,
                "size": len(raw),
                "timestamp": int(time.time()),
                "url": "",
                "shard_id": 0,
                "num_shards": 0,
                "type": "",
                "type_version": "",
                "version": "",
                "offset": 0,
                "topic": "",
                "body": base64.b64encode(raw).decode("ascii"),
            }
            worker = free.get()
            try:
                result = worker.process_event(event)
            finally:
                free.put(worker)
            if isinstance(result, list):
                # a list returned by the handler is a batch of responses (wrapper.py:460-465); a
                # single event answers with the first (rpc/abstract.go:80-92, result.go:70-87)
                result = result[0] if result else {}
            encoding = result.get("body_encoding", "text")
            body = result.get("body") or ""
            data = base64.b64decode(body) if encoding == "base64" else str(body).encode("utf-8")
            headers = {k: str(v) for k, v in (result.get("headers") or {}).items()}
            self._reply(int(result.get("status_code") or 200), result.get("content_type") or "text/plain", headers, data)

        def _reply(self, status, content_type, headers, data):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    log("info", "processor.http", "Starting", maxRequestBodySize=max_body, workers=len(workers))
    with out_lock:
        print("HARNESS_READY %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
