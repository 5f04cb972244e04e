"""One worker of the Nuclio stand-in's processor: an imitation of Nuclio's Python wrapper.

Follows nuclio/nuclio 1.14.1 (commit f7573701a7cd7f093fe37481bd8e61d6979a3d14)
pkg/processor/runtime/python/py/_nuclio_wrapper.py, cited below as "wrapper.py:LINE". The
processor (harness.py) starts one of these per worker, as the Go processor starts one wrapper
process per worker runtime (pkg/processor/runtime/python/runtime.go:64-121), with the function's
directory and the vendored, unmodified nuclio-sdk-py (v0.5.13) on PYTHONPATH (runtime.go:92-94).

What is imitated, because the entry module's behaviour depends on it:
  - the handler module is imported while the wrapper object is built, before any event loop runs
    (wrapper.py:88, 320-341); an import failure is logged as "Caught unhandled exception while
    initializing" on stdout and the process exits 1 (wrapper.py:559-564);
  - the entrypoint is called inside the running event loop and a coroutine it returns is awaited
    (wrapper.py:437-456, driven by loop.run_until_complete at wrapper.py:566-569);
  - init_context(context) runs first, awaited when it is a coroutine function (wrapper.py:219-231);
  - the output goes through nuclio_sdk.Response.from_entrypoint_output with the SDK's JSON encoder
    (wrapper.py:458-468), so str, bytes, dict/list, (status, body), Response and None answer as
    they do on Nuclio (None becomes the text "None": response.py:83-84, 106-107);
  - an exception answers 500 text/plain with the body '<message> - "<exc>": <traceback>' and logs
    "Exception caught in handler" (wrapper.py:412-435);
  - after connecting, context.logger writes 'l' + JSON records to the processor (wrapper.py:52-56,
    122); print() still goes to the process's stdout, which is the pod's log (runtime.go:118-119).

Not imitated: msgpack. The Go processor sends each event as a 4-byte big-endian length and a
msgpack map (rpc/encoder/encode_msgpack.go:46-86, keys from encode.go:27-53), which msgpack's
Unpacker(raw=False) turns into a dict of str values with the body as bytes. msgpack is not
installed here, so the harness sends that same map as JSON with the body in base64, and this
file rebuilds exactly the dict msgpack would have produced before handing it to the SDK's own
deserializer (EventDeserializerKinds.msgpack, the kind runtime.go:240-250 selects by default).
No control socket either: it only carries stream-trigger acks, which HTTP functions never send.
"""

import argparse
import asyncio
import base64
import json
import logging
import re
import socket
import sys
import time
import traceback

import nuclio_sdk
import nuclio_sdk.json_encoder
import nuclio_sdk.logger


class JSONFormatterOverSocket(nuclio_sdk.logger.JSONFormatter):
    # wrapper.py:52-56: log records to the processor start with 'l'
    def format(self, record):
        return "l" + super().format(record)


class Wrapper:
    def __init__(self, logger, loop, handler, event_socket_path, worker_id, trigger_kind, trigger_name, namespace):
        self._logger = logger
        self._loop = loop
        self._json_encoder = nuclio_sdk.json_encoder.Encoder()
        self._platform = nuclio_sdk.Platform("kube", namespace=namespace)
        # wrapper.py:88: the handler module is imported here, outside any running loop
        self._entrypoint = self._load_entrypoint_from_handler(handler)
        self._event_sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._event_sock.connect(event_socket_path)
        self._event_sock_wfile = self._event_sock.makefile("w")
        self._event_sock.setblocking(False)
        self._entrypoint_module = sys.modules[self._entrypoint.__module__]
        self._context = nuclio_sdk.Context(self._logger, self._platform, worker_id, nuclio_sdk.TriggerInfo(trigger_kind, trigger_name))
        # wrapper.py:122: from now on context.logger writes to the processor
        self._logger.set_handler("default", self._event_sock_wfile, JSONFormatterOverSocket())
        self._buffer = b""

    def _load_entrypoint_from_handler(self, handler):
        # wrapper.py:320-341
        match = re.match(r"^([\w|-]+(\.[\w|-]+)*):(\w+)$", handler)
        if not match:
            raise ValueError("Malformed handler - {!r}".format(handler))
        module_name, entrypoint = match.group(1), match.group(3)
        module = __import__(module_name)
        for sub in module_name.split(".")[1:]:
            module = getattr(module, sub)
        try:
            return getattr(module, entrypoint)
        except Exception:
            self._logger.error_with("Handler not found", handler=handler)
            raise

    async def initialize(self):
        # wrapper.py:196-209 and 219-231
        if hasattr(self._entrypoint_module, "init_context"):
            init_context = getattr(self._entrypoint_module, "init_context")
            try:
                result = init_context(self._context)
                if asyncio.iscoroutinefunction(init_context):
                    await result
            except BaseException:
                self._logger.error("Exception raised while running init_context")
                raise
        await self._write_packet("s")

    async def serve_requests(self):
        # wrapper.py:131-194, without drain/termination signals (the stand-in just kills the process)
        while True:
            length = int.from_bytes(await self._recv_exactly(4), "big")
            event = self._resolve_event(json.loads(await self._recv_exactly(length)))
            try:
                await self._handle_event(event)
            except BaseException as exc:
                await self._log_and_response_error(exc, "Exception caught in handler")
            del event

    async def _recv_exactly(self, n):
        while len(self._buffer) < n:
            chunk = await self._loop.sock_recv(self._event_sock, 65536)
            if not chunk:
                # wrapper.py:373-375, 397-398: the processor went away
                raise SystemExit(1)
            self._buffer += chunk
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out

    def _resolve_event(self, wire):
        # The dict msgpack.Unpacker(raw=False) yields for the Go encoder's map: str values, bytes body.
        message = dict(wire)
        message["body"] = base64.b64decode(wire["body"])
        return nuclio_sdk.Event.deserialize(message, kind=nuclio_sdk.event.EventDeserializerKinds.msgpack)

    async def _handle_event(self, event):
        # wrapper.py:437-456
        start_time = time.time()
        entrypoint_output = self._entrypoint(self._context, event)
        if asyncio.iscoroutine(entrypoint_output):
            entrypoint_output = await entrypoint_output
        duration = time.time() - start_time or sys.float_info.min
        await self._write_packet("m" + json.dumps({"duration": duration}))
        await self._write_packet("r" + self._encode_entrypoint_output(entrypoint_output))

    def _encode_entrypoint_output(self, entrypoint_output):
        # wrapper.py:458-468
        if isinstance(entrypoint_output, list):
            response = [nuclio_sdk.Response.from_entrypoint_output(self._json_encoder.encode, o) for o in entrypoint_output]
        else:
            response = nuclio_sdk.Response.from_entrypoint_output(self._json_encoder.encode, entrypoint_output)
        return self._json_encoder.encode(response)

    async def _log_and_response_error(self, exc, error_message):
        # wrapper.py:415-435
        encoded_error_response = '{0} - "{1}": {2}'.format(error_message, exc, traceback.format_exc())
        self._logger.error_with(error_message, exc=str(exc), traceback=traceback.format_exc())
        body = self._json_encoder.encode({"body": encoded_error_response or error_message, "body_encoding": "text", "content_type": "text/plain", "status_code": 500})
        await self._write_packet("r" + body)

    async def _write_packet(self, body):
        # wrapper.py:364-365: one line per packet
        await self._loop.sock_sendall(self._event_sock, (body + "\n").encode("utf-8"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--handler", required=True)
    parser.add_argument("--event-socket-path", required=True)
    parser.add_argument("--worker-id", default="0")
    parser.add_argument("--trigger-kind", default="http")
    parser.add_argument("--trigger-name", default="http")
    parser.add_argument("--namespace", default="nuclio")
    args = parser.parse_args()

    # wrapper.py:533-540: JSON records on stdout until the socket is there, worker id bound
    root_logger = nuclio_sdk.Logger(logging.DEBUG)
    root_logger.set_handler("default", sys.stdout, nuclio_sdk.logger.JSONFormatter())
    root_logger.bind(worker_id=args.worker_id)

    # wrapper.py:542 uses asyncio.get_event_loop(); a new loop set as current is the same here
    # without the deprecation warning of newer Pythons.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        wrapper = Wrapper(root_logger, loop, args.handler, args.event_socket_path, args.worker_id, args.trigger_kind, args.trigger_name, args.namespace)
    except BaseException as exc:
        # wrapper.py:559-564
        root_logger.error_with("Caught unhandled exception while initializing", err=str(exc), traceback=traceback.format_exc())
        raise SystemExit(1)

    # wrapper.py:566-574
    try:
        loop.run_until_complete(wrapper.initialize())
        loop.run_until_complete(wrapper.serve_requests())
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


if __name__ == "__main__":
    main()
