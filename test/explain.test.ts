import { readdir, readFile } from "node:fs/promises";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.ts";
import { errorFacts, explain, isErrorLine } from "../src/clients/explain.ts";
import { relativeTime } from "../src/clients/time.ts";

const PIP_OUTPUT = [
  "Looking in indexes: http://127.0.0.1:1/simple",
  "ERROR: Could not find a version that satisfies the requirement requests==2.31.0 (from versions: none)",
  "ERROR: No matching distribution found for requests==2.31.0",
];

/** A ConnectError as the agent sends it: code, message and ErrorInfo. */
function agentError(code: Code, message: string, reason: string, metadata: Record<string, string> = {}) {
  return new ConnectError(message, code, undefined, [{ desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason, domain: "radical-faas", metadata }) }]);
}

describe("explain", () => {
  it("a function's exception: who raised what, the traceback once, its last line highlighted", () => {
    const traceback = 'Traceback (most recent call last):\n  File "handler.py", line 2, in handle\n    return 1/0\nZeroDivisionError: division by zero';
    const error = agentError(Code.Unknown, `ZeroDivisionError: division by zero\n${traceback}`, "FUNCTION_ERROR", { exception_type: "ZeroDivisionError", exception_message: "division by zero", traceback });
    const e = explain(errorFacts(error), { functionId: "hello" });
    expect(e.summary).toBe("function hello raised ZeroDivisionError: division by zero");
    expect(e.lines.map((l) => l.text)).toEqual(traceback.split("\n"));
    expect(e.lines.filter((l) => l.highlight).map((l) => l.text)).toEqual(["ZeroDivisionError: division by zero"]);
    expect(e.details).toEqual({ code: "unknown", message: e.summary, reason: "FUNCTION_ERROR", domain: "radical-faas", metadata: { exception_type: "ZeroDivisionError", exception_message: "division by zero" } });
  });

  it("pip: the sentence from its ERROR lines; lines and output already shown are not repeated", () => {
    // As the agent sends it: one sentence, pip's lines once in `output`.
    const error = agentError(Code.FailedPrecondition, "pip could not install requests==2.31.0: no matching distribution", "DEPENDENCY_INSTALL_FAILED", { exit_code: "1", output: PIP_OUTPUT.join("\n") });
    const unseen = explain(errorFacts(error));
    expect(unseen.summary).toBe("pip could not install requests==2.31.0: no matching distribution");
    expect(unseen.lines).toEqual(PIP_OUTPUT.slice(1).map((text) => ({ text, highlight: true })));
    expect(unseen.details.metadata).toEqual({ exit_code: "1", output: PIP_OUTPUT.join("\n") });
    const seen = explain(errorFacts(error), { shown: new Set(PIP_OUTPUT) });
    expect(seen.lines).toEqual([]);
    expect(seen.details.metadata).toEqual({ exit_code: "1" });
  });

  it("pip's other failures, each a sentence", () => {
    const pip = (output: string) => explain({ code: "failed_precondition", message: "pip install failed (exit code 1):", reason: "DEPENDENCY_INSTALL_FAILED", metadata: { output } }).summary;
    expect(pip("ERROR: Invalid requirement: 'x ===' (from line 3 of /r.txt)")).toBe('pip could not read the requirement "x ===" (line 3): invalid requirement');
    expect(pip("ERROR: Cannot install a==1 and b==2 because these package versions have conflicting dependencies.\nERROR: ResolutionImpossible: ...")).toBe("pip could not install the requirements: their versions conflict");
    expect(pip("WARNING: Retrying ... Failed to establish a new connection: [Errno -2] Name or service not known\nERROR: Could not install x")).toBe("pip could not reach the package index");
    expect(pip("ERROR: something new")).toBe("pip could not install the requirements: something new");
    expect(pip("WARNING: Retrying ... Failed to establish a new connection\nERROR: No matching distribution found for x==1")).toBe("pip could not reach the package index to install x==1");
    // The docker platform's build failure names the step and the engine's error.
    const docker = explain({ code: "failed_precondition", message: "installing requirements failed (step 4/7): The command returned a non-zero code: 1", reason: "DEPENDENCY_INSTALL_FAILED", metadata: { step: "step 4/7", docker_error: "The command returned a non-zero code: 1" } }, { shown: new Set(PIP_OUTPUT) });
    expect(docker.summary).toBe("pip could not install requests==2.31.0: no matching distribution");
  });

  it("pip's one-line output already shown is not repeated as metadata either", () => {
    const line = "ERROR: Invalid requirement: 'x ===' (from line 1 of /r.txt)";
    const e = explain({ code: "failed_precondition", message: "pip could not read the requirement \"x ===\" (line 1): invalid requirement", reason: "DEPENDENCY_INSTALL_FAILED", metadata: { exit_code: "1", output: line } }, { shown: new Set([line]) });
    expect(e.lines).toEqual([]);
    expect(e.details.metadata).toEqual({ exit_code: "1" });
  });

  it("a worker that died: the sentence, then its last output once (from metadata)", () => {
    const e = explain({ code: "unavailable", message: "worker process died while the call was running (exited with code 3)", reason: "WORKER_CRASHED", metadata: { exit: "exited with code 3", last_output: "about to exit\nRuntimeError: gone" } });
    expect(e.summary).toBe("worker process died while the call was running (exited with code 3)");
    expect(e.lines).toEqual([{ text: "about to exit", highlight: false }, { text: "RuntimeError: gone", highlight: true }]);
    expect(e.details.metadata).toEqual({ exit: "exited with code 3" });
  });

  it("a handler that does not import, with its traceback", () => {
    const e = explain({ code: "invalid_argument", message: "handler failed to import: ModuleNotFoundError: No module named 'numpy'\nTraceback ...\nModuleNotFoundError: No module named 'numpy'", reason: "HANDLER_INVALID", metadata: { exception_type: "ModuleNotFoundError", traceback: "Traceback ...\nModuleNotFoundError: No module named 'numpy'" } }, { functionId: "f" });
    expect(e.summary).toBe("function f failed to import: ModuleNotFoundError: No module named 'numpy'");
    expect(e.lines.at(-1)).toEqual({ text: "ModuleNotFoundError: No module named 'numpy'", highlight: true });
  });

  it("an agent that cannot be reached: no raw fetch or socket message, a hint per surface", () => {
    for (const message of ["[unknown] Failed to fetch", "fetch failed", "connect ECONNREFUSED 127.0.0.1:9", "NetworkError when attempting to fetch resource."]) {
      const cli = explain(errorFacts(new ConnectError(message, Code.Unavailable)), { agentUrl: "http://127.0.0.1:9" });
      expect(cli.summary, message).toBe("cannot reach the agent at http://127.0.0.1:9");
      expect(cli.hint).toBe("is the agent running? set --agent or FAAS_AGENT_URL");
      expect(explain(errorFacts(new TypeError(message)), { surface: "web" }).summary).toBe("cannot reach the agent");
    }
    expect(explain(errorFacts(new ConnectError("x", Code.Unauthenticated)), { surface: "web" }).hint).toBe("enter the agent's token");
  });

  it("no code names as prefixes; other messages as the agent wrote them", () => {
    expect(explain({ code: "unknown", message: "unknown: something broke" }).summary).toBe("something broke");
    expect(explain({ code: "unknown", message: "[failed_precondition] x" }).summary).toBe("x");
    const notFound = explain(errorFacts(agentError(Code.NotFound, 'function "x" not found', "FUNCTION_NOT_FOUND", { function_id: "x" })));
    expect(notFound).toEqual({ summary: 'function "x" not found', lines: [], details: { code: "not_found", message: 'function "x" not found', reason: "FUNCTION_NOT_FOUND", domain: "radical-faas", metadata: { function_id: "x" } } });
  });

  it("error lines to highlight", () => {
    expect(isErrorLine("ERROR: No matching distribution found for x")).toBe(true);
    expect(isErrorLine("SyntaxError: invalid syntax")).toBe(true);
    expect(isErrorLine("Collecting requests")).toBe(false);
    expect(isErrorLine("WARNING: Location is ignored")).toBe(false);
  });

  it("src/clients has no Node-only imports (the web page bundles it)", async () => {
    const dir = new URL("../src/clients/", import.meta.url);
    for (const name of await readdir(dir)) {
      const text = await readFile(new URL(name, dir), "utf8");
      const imports = [...text.matchAll(/from\s+"([^"]+)"/g)].map((m) => m[1]);
      for (const spec of imports) expect(spec, `${name} imports ${spec}`).toMatch(/^(@connectrpc\/connect|@bufbuild\/protobuf(\/wkt)?|\.\.\/\.\.\/gen\/[^"]+_pb\.ts|\.\/[a-z-]+\.ts|\.\.\/domain\/pip\.ts)$/);
    }
    // The one domain module it shares with the agent imports nothing.
    expect(await readFile(new URL("../src/domain/pip.ts", import.meta.url), "utf8")).not.toMatch(/^import /m);
  });
});

describe("relativeTime", () => {
  const now = new Date("2026-01-01T12:00:00Z");
  const ago = (seconds: number) => relativeTime(new Date(now.getTime() - seconds * 1000), now);
  it("says how long ago", () => {
    expect([ago(0), ago(4), ago(12), ago(180), ago(3 * 3600), ago(47 * 3600), ago(3 * 86400), ago(-30)]).toEqual(["just now", "just now", "12s ago", "3m ago", "3h ago", "47h ago", "3d ago", "just now"]);
    expect(relativeTime(undefined, now)).toBe("-");
  });
});
