"""The strict Python yardstick of bench/run.ts: a minimal single-threaded asyncio HTTP/1.1 server
(keep-alive, Content-Length bodies only) that calls the same handler module as the runtime shim,
``handle(json.loads(body))``, and answers its JSON. Nothing else: no routing, no threads, no
framework; the fastest plain-Python server, put behind nginx as users would.

Usage: python3 asyncio_server.py HANDLER_PATH PORT
"""
import asyncio
import importlib.util
import json
import sys


def load(path):
    spec = importlib.util.spec_from_file_location("handler", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handle


async def serve(handle, reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            body = await reader.readexactly(length) if length else b""
            out = json.dumps(handle(json.loads(body) if body else None)).encode()
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(out), out))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main():
    handle = load(sys.argv[1])
    server = await asyncio.start_server(lambda r, w: serve(handle, r, w), "127.0.0.1", int(sys.argv[2]))
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
