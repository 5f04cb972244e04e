import { describe, expect, it } from "vitest";
import type { DeploySpec } from "../src/domain/types.ts";
import { formatLogEntry, LogCursor } from "../src/adapters/nuclio/follow.ts";
import { buildCommands, renderFunction, shellQuote } from "../src/adapters/nuclio/function.ts";

const target = { namespace: "nuclio", project: "default", serviceType: "ClusterIP" as const, maxRequestBodyBytes: 8 * 1024 * 1024 };
const spec = (over: Partial<DeploySpec> = {}): DeploySpec =>
  ({ id: "fn", handler: "def handle(req):\n    return req\n", requirements: "", params: {}, env: {}, options: {}, ...over }) as DeploySpec;

describe("nuclio deploy log cursor", () => {
  it("shows each entry once over repeated polls, in time order, including lines Nuclio logged twice", () => {
    const cursor = new LogCursor();
    const a = { level: "info", time: 10, name: "deployer", message: "Deploying function" };
    const b = { level: "debug", time: 20, name: "builder", message: "Collecting x" };
    // The same line twice within one millisecond (pip prints identical lines) is two lines.
    expect(cursor.fresh([b, a, b])).toEqual([a, b, b]);
    expect(cursor.fresh([a, b, b])).toEqual([]);
    const c = { level: "info", time: 30, name: "deployer", message: "Build complete" };
    expect(cursor.fresh([a, b, b, c])).toEqual([c]);
    // A third copy appears later: shown once more, never the earlier ones again.
    expect(cursor.fresh([a, b, b, b, c])).toEqual([b]);
  });

  it("formats zap entries as one line: level when not info, message, other fields", () => {
    expect(formatLogEntry({ level: "info", time: 1, name: "deployer", message: "Deploying function", functionName: "echo" })).toBe("Deploying function functionName=echo");
    expect(formatLogEntry({ level: "error", time: 1, name: "deployer", message: "Failed", result: { a: 1 } })).toBe('error: Failed result={"a":1}');
  });
});

describe("nuclio function rendering", () => {
  it("quotes every pip argument and refuses requirement lines that are not name[extras] + specifiers", () => {
    expect(buildCommands("requests[socks] >= 2.0, <3\n# comment\n\nnumpy==1.26.4  # pinned\n", "http://127.0.0.1:1/simple")).toEqual([
      "python -m pip install --no-cache-dir --disable-pip-version-check --index-url 'http://127.0.0.1:1/simple' 'requests[socks]>=2.0,<3' 'numpy==1.26.4'",
    ]);
    expect(buildCommands("", undefined)).toEqual([]);
    for (const bad of ["requests; rm -rf /", "$(id)", "pkg @ https://x/y.whl", "-e .", "x==1 `id`", "a'b"]) {
      expect(() => buildCommands(bad, undefined), bad).toThrow(/not supported on the nuclio platform/);
    }
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
  });

  it("applies Nuclio's replica rules and refuses runtimes Nuclio has not", () => {
    const replicas = (options: DeploySpec["options"]) => {
      const s = renderFunction(spec({ options }), target).body.spec;
      return [s.minReplicas, s.maxReplicas];
    };
    expect(replicas({})).toEqual([1, 1]);
    expect(replicas({ minScale: 2 })).toEqual([2, 2]);
    expect(replicas({ maxScale: 4 })).toEqual([4, 4]);
    expect(replicas({ minScale: 0, maxScale: 3 })).toEqual([0, 3]);
    expect(() => replicas({ minScale: 0 })).toThrow(/max_scale is required/);
    expect(() => replicas({ maxScale: 0 })).toThrow(/max_scale must be at least 1/);
    for (const v of ["3.9", "3.10", "3.11"]) expect(renderFunction(spec({ params: { PYTHON_VERSION: v } }), target).body.spec.runtime).toBe(`python:${v}`);
    expect(() => renderFunction(spec({ params: { PYTHON_VERSION: "3.8" } }), target)).toThrow(/PYTHON_VERSION 3\.8 is not a Nuclio runtime/);
  });

  it("keeps the user's source as base64 data in the entry module, and hashes content, not time", () => {
    const tricky = 'def handle(req):\n    return """ " \' {{FUNCTION_SOURCE_BASE64}} """\n';
    const one = renderFunction(spec({ handler: tricky }), target);
    const entry = Buffer.from(String((one.body.spec.build as any).functionSourceCode), "base64").toString("utf8");
    const slot = /^FUNCTION_SOURCE = "([A-Za-z0-9+/=]*)"$/m.exec(entry);
    expect(Buffer.from(slot![1]!, "base64").toString("utf8")).toBe(tricky);
    expect(entry).not.toContain("def handle(req)");
    expect(renderFunction(spec({ handler: tricky }), target).contentHash).toBe(one.contentHash);
    expect(renderFunction(spec({ handler: tricky, env: { A: "1" } }), target).contentHash).not.toBe(one.contentHash);
  });
});
