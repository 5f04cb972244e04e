"""radical-faas entry module for Nuclio: adapts Nuclio's handler(context, event) to handle(req).

The agent generates this file from a fixed template; the only part it fills in is FUNCTION_SOURCE,
the user's module as base64 (whose alphabet cannot end the string literal). The user's module is
compiled and run as the module `handler` when this one is imported, so an import failure fails the
function's start, as it does on every platform.

Nuclio's Python wrapper imports this module before its event loop runs, then calls handler()
inside the running loop and awaits a coroutine it returns (nuclio/nuclio 1.14.1,
pkg/processor/runtime/python/py/_nuclio_wrapper.py:437-456, 566-569). So an async handle is
never run with asyncio.run() here: handler() returns a coroutine that awaits it, on the wrapper's
loop, one event at a time per worker process.

An import failure prints one line "FAAS_CHECK <base64 of a JSON report>" on stdout. Nuclio reads
a failed function's pod log into its error message through common.FixEscapeChars
(pkg/common/helper.go:319-331), which rewrites backslash escapes; base64 has no backslashes, so the
report survives that on one line.

Semantics are those of the agent's runtime shim (src/runtime/python/faas_runtime.py):
  - the request body is JSON whatever the content type says: bytes are parsed, a body Nuclio already
    parsed (content type application/json) is used as it is, an empty body is {};
  - what handle returns is the result, as JSON (200, application/json);
  - handle raising gives 500 {"reason": "FUNCTION_ERROR", "error": {type, message, traceback}};
    a result that is not JSON gives 500 {"reason": "RESULT_NOT_SERIALIZABLE", ...}; a body that is
    not JSON gives 400 {"reason": "INVALID_PAYLOAD", ...};
  - a generator (or async generator) handle gives the list of the values it yields;
  - with `Accept: application/x-ndjson` the answer is the runtime shim's stream format: one line
    {"type":"chunk","result":VALUE} per yielded value, then {"type":"done"} or an error line. Nuclio's
    Python wrapper sends one response per event, after the handler returned (nuclio/nuclio
    pkg/processor/runtime/python/py/_nuclio_wrapper.py:437-456, _handle_event), so the lines all
    arrive together at the end: streaming on Nuclio is buffered, and a caller that goes away does
    not stop the generator.
"""

import base64
import inspect
import json
import sys
import traceback
import types

FUNCTION_SOURCE = "{{FUNCTION_SOURCE_BASE64}}"
CHECK_MARKER = "FAAS_CHECK "

_dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def _user_traceback(exc):
    """The traceback of `exc` without this module's own frames."""
    here = globals().get("__file__")
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != here and not f.filename.startswith("<frozen")]
    lines = ["Traceback (most recent call last):\n"] + traceback.format_list(frames) if frames else []
    return "".join(lines + traceback.format_exception_only(type(exc), exc))


def _load():
    module = types.ModuleType("handler")
    module.__file__ = "handler.py"
    sys.modules["handler"] = module
    try:
        code = compile(base64.b64decode(FUNCTION_SOURCE).decode("utf-8"), "handler.py", "exec")
        exec(code, module.__dict__)
        handle = getattr(module, "handle", None)
        if not callable(handle):
            raise AttributeError("handler module has no callable handle(req)")
    except BaseException as exc:
        text = _user_traceback(exc)
        report = {"ok": False, "type": type(exc).__name__, "message": str(exc), "traceback": text}
        encoded = base64.b64encode(json.dumps(report).encode("utf-8")).decode("ascii")
        sys.stdout.write(CHECK_MARKER + encoded + "\n")
        sys.stdout.flush()
        raise
    return handle


_handle = _load()


def _error(context, status, reason, exc, message=None):
    info = {"type": type(exc).__name__, "message": message or str(exc), "traceback": _user_traceback(exc)}
    if reason == "RESULT_NOT_SERIALIZABLE":
        info["traceback"] = ""
    body = _dumps({"reason": reason, "error": info})
    return context.Response(body=body, headers={}, content_type="application/json", status_code=status)


def handler(context, event):
    body = event.body
    if isinstance(body, (bytes, bytearray, memoryview)):
        text = bytes(body).decode("utf-8", errors="strict") if body else ""
        try:
            req = json.loads(text) if text else {}
        except ValueError as exc:
            return _error(context, 400, "INVALID_PAYLOAD", exc)
    else:
        req = body  # Nuclio parsed it already (content type application/json)
    stream = any(k.lower() == "accept" and "application/x-ndjson" in str(v) for k, v in (event.headers or {}).items())
    try:
        result = _handle(req)
    except Exception as exc:
        return _raised(context, exc)
    if inspect.isawaitable(result):
        return _finish(context, result, stream)  # a coroutine: the wrapper awaits it on its loop
    if inspect.isasyncgen(result):
        return _drain_async(context, result, stream)
    if inspect.isgenerator(result):
        return _drain(context, result, stream)
    return _respond(context, result, stream)


async def _finish(context, awaitable, stream):
    try:
        result = await awaitable
    except Exception as exc:
        return _raised(context, exc)
    return _respond(context, result, stream)


def _drain(context, gen, stream):
    values = []
    try:
        for item in gen:
            if not _add(values, item):
                gen.close()
                break
    except Exception as exc:
        return _ended(context, values, exc, stream)
    return _ended(context, values, None, stream)


async def _drain_async(context, agen, stream):
    values = []
    try:
        async for item in agen:
            if not _add(values, item):
                await agen.aclose()
                break
    except Exception as exc:
        return _ended(context, values, exc, stream)
    return _ended(context, values, None, stream)


def _add(values, item):
    """Adds a yielded value's JSON; False (and the failure appended) when it is not JSON."""
    try:
        values.append(_dumps(item))
        return True
    except (TypeError, ValueError) as exc:
        values.append(exc)
        return False


def _ended(context, values, exc, stream):
    """The answer of a generator: its list, or (stream) its lines; a failure as a plain call's."""
    bad = values.pop() if values and isinstance(values[-1], Exception) else None
    if not stream:
        if exc is not None:
            return _raised(context, exc)
        if bad is not None:
            return _not_json(context, bad)
        return context.Response(body="[" + ",".join(values) + "]", headers={}, content_type="application/json", status_code=200)
    lines = ['{"type":"chunk","result":' + v + "}" for v in values]
    if exc is not None:
        sys.stderr.write(_user_traceback(exc))
        info = {"type": type(exc).__name__, "message": str(exc), "traceback": _user_traceback(exc)}
        lines.append(_dumps({"type": "error", "reason": "FUNCTION_ERROR", "error": info}))
    elif bad is not None:
        info = {"type": type(bad).__name__, "message": f"handle returned a value that is not JSON serializable: {bad}", "traceback": ""}
        lines.append(_dumps({"type": "error", "reason": "RESULT_NOT_SERIALIZABLE", "error": info}))
    else:
        lines.append('{"type":"done"}')
    return context.Response(body="\n".join(lines) + "\n", headers={}, content_type="application/x-ndjson", status_code=200)


def _not_json(context, exc):
    return _error(context, 500, "RESULT_NOT_SERIALIZABLE", exc, f"handle returned a value that is not JSON serializable: {exc}")


def _raised(context, exc):
    sys.stderr.write(_user_traceback(exc))
    return _error(context, 500, "FUNCTION_ERROR", exc)


def _respond(context, result, stream=False):
    try:
        out = _dumps(result)
    except (TypeError, ValueError) as exc:
        return _not_json(context, exc)
    if stream:
        return _ended(context, [out], None, True)
    return context.Response(body=out, headers={}, content_type="application/json", status_code=200)
