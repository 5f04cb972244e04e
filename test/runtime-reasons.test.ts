import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { FRAME_STATUS, isRuntimeReason, reasonOfStatus, runtimeError } from "../src/runtime/reasons.ts";
import { RUNTIME_SHIM } from "../src/runtime/worker.ts";

/** The table from the runtime's failure reasons to FaasError (src/runtime/reasons.ts), alone. */
describe("runtime reasons → FaasError", () => {
  const pyError = { type: "ValueError", message: "bad value: 7", traceback: 'Traceback (most recent call last):\n  File "handler.py", line 2, in handle' };

  it("FUNCTION_ERROR is function_error: the exception's type and message in one line, the traceback in metadata", () => {
    const error = runtimeError("FUNCTION_ERROR", pyError);
    expect(error).toMatchObject({
      kind: "function_error",
      reason: "FUNCTION_ERROR",
      metadata: { exception_type: "ValueError", exception_message: "bad value: 7", traceback: pyError.traceback },
    });
    // One line: the traceback is in metadata only, so no surface shows it twice.
    expect(error.message).toBe("ValueError: bad value: 7");
    const multiLine = runtimeError("FUNCTION_ERROR", { ...pyError, message: "first\nsecond" });
    expect(multiLine.message).toBe("ValueError: first");
    expect(multiLine.metadata.exception_message).toBe("first\nsecond");
  });

  it("INVALID_PAYLOAD is invalid_argument INVALID_REQUEST on the payload field", () => {
    expect(runtimeError("INVALID_PAYLOAD", { message: "Expecting value: line 1" })).toMatchObject({
      kind: "invalid_argument",
      reason: "INVALID_REQUEST",
      message: "Expecting value: line 1",
      metadata: { field: "payload" },
    });
    expect(runtimeError("INVALID_PAYLOAD", {}).message).toBe("payload is not valid JSON");
  });

  it("RESULT_NOT_SERIALIZABLE is function_error saying so", () => {
    const error = runtimeError("RESULT_NOT_SERIALIZABLE", { type: "TypeError", message: "Object of type set is not JSON serializable" });
    expect(error).toMatchObject({ kind: "function_error", reason: "RESULT_NOT_SERIALIZABLE", message: "Object of type set is not JSON serializable" });
    expect(error.metadata.exception_type).toBe("TypeError");
    expect(runtimeError("RESULT_NOT_SERIALIZABLE", {}).message).toMatch(/not JSON serializable/);
  });

  it("RESULT_TOO_LARGE names the agent's limit when it is known, and the runtime's otherwise", () => {
    expect(runtimeError("RESULT_TOO_LARGE", { size: 2048 }, 1024)).toMatchObject({
      kind: "resource_exhausted",
      reason: "RESULT_TOO_LARGE",
      metadata: { size: "2048", limit: "1024" },
    });
    const unknown = runtimeError("RESULT_TOO_LARGE", { size: 2048 });
    expect(unknown).toMatchObject({ kind: "resource_exhausted", reason: "RESULT_TOO_LARGE", metadata: { size: "2048" } });
    expect(unknown.metadata.limit).toBeUndefined();
    expect(unknown.message).toMatch(/2048 bytes, more than the runtime's limit/);
  });

  it("takes the runtime's error as JSON text too, and plain text as the message", () => {
    expect(runtimeError("FUNCTION_ERROR", JSON.stringify(pyError)).metadata.exception_type).toBe("ValueError");
    expect(runtimeError("INVALID_PAYLOAD", "not json at all").message).toBe("not json at all");
    expect(runtimeError("FUNCTION_ERROR", null).metadata.exception_message).toBe("null");
  });

  it("knows exactly the four reasons, by name and by frame status byte", () => {
    expect(Object.keys(FRAME_STATUS).sort()).toEqual(["FUNCTION_ERROR", "INVALID_PAYLOAD", "RESULT_NOT_SERIALIZABLE", "RESULT_TOO_LARGE"]);
    for (const [reason, status] of Object.entries(FRAME_STATUS)) {
      expect(isRuntimeReason(reason)).toBe(true);
      expect(reasonOfStatus(status)).toBe(reason);
    }
    expect(reasonOfStatus(0)).toBeUndefined();
    expect(reasonOfStatus(5)).toBeUndefined();
    for (const other of ["WORKER_CRASHED", "constructor", "__proto__", "", 1, null]) expect(isRuntimeReason(other)).toBe(false);
  });

  it("uses the status bytes the Python shim sends", async () => {
    const shim = await readFile(RUNTIME_SHIM, "utf8");
    const byte = (name: string) => Number(new RegExp(`^${name} = (\\d+)$`, "m").exec(shim)?.[1]);
    expect(byte("STATUS_OK")).toBe(0);
    expect(FRAME_STATUS).toEqual({
      FUNCTION_ERROR: byte("STATUS_FUNCTION_ERROR"),
      INVALID_PAYLOAD: byte("STATUS_BAD_PAYLOAD"),
      RESULT_NOT_SERIALIZABLE: byte("STATUS_BAD_RESULT"),
      RESULT_TOO_LARGE: byte("STATUS_TOO_LARGE"),
    });
  });
});
