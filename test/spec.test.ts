import { describe, expect, it } from "vitest";
import { isFaasError } from "../src/domain/errors.ts";
import { validateDeployRequest } from "../src/domain/spec.ts";

const handler = "def handle(req):\n    return req";

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (isFaasError(error) && error.kind === "invalid_argument") return error.metadata.field;
    throw error;
  }
  return undefined;
}

describe("validateDeployRequest", () => {
  it("generates func-XXXXXXXX ids", () => {
    const ids = new Set(Array.from({ length: 20 }, () => validateDeployRequest({ handler }).id));
    for (const id of ids) expect(id).toMatch(/^func-[0-9a-f]{8}$/);
    expect(ids.size).toBe(20);
  });

  it("accepts DNS-1035 labels up to 63 characters", () => {
    for (const id of ["a", "hello-world", "f1", `a${"b".repeat(62)}`]) expect(validateDeployRequest({ id, handler }).id).toBe(id);
  });

  it.each(["Hello", "1abc", "abc-", "a_b", "../x", "a/b", "a.b", " a", `a${"b".repeat(63)}`])("rejects the id %j", (id) => {
    expect(fieldOf(() => validateDeployRequest({ id, handler }))).toBe("id");
  });

  it("validates template parameters against strict patterns", () => {
    expect(validateDeployRequest({ handler, params: { PYTHON_VERSION: "3.11", PIP_INDEX_URL: "http://127.0.0.1:8000/simple/", BASE_IMAGE: "python:3.11-slim" } }).params).toEqual({
      PYTHON_VERSION: "3.11",
      PIP_INDEX_URL: "http://127.0.0.1:8000/simple/",
      BASE_IMAGE: "python:3.11-slim",
    });
    expect(fieldOf(() => validateDeployRequest({ handler, params: { PYTHON_VERSION: "3.11; rm -rf /" } }))).toBe("params.PYTHON_VERSION");
    expect(fieldOf(() => validateDeployRequest({ handler, params: { BASE_IMAGE: "python 3.11" } }))).toBe("params.BASE_IMAGE");
    expect(fieldOf(() => validateDeployRequest({ handler, params: { PIP_INDEX_URL: "file:///etc" } }))).toBe("params.PIP_INDEX_URL");
    expect(fieldOf(() => validateDeployRequest({ handler, params: { PIP_INDEX_URL: "http://x/ --trusted-host y" } }))).toBe("params.PIP_INDEX_URL");
    expect(fieldOf(() => validateDeployRequest({ handler, params: { UNKNOWN: "1" } }))).toBe("params.UNKNOWN");
    expect(fieldOf(() => validateDeployRequest({ handler, params: { constructor: "1" } }))).toBe("params.constructor");
  });

  it("validates env names and reserves FAAS_", () => {
    expect(validateDeployRequest({ handler, env: { A_1: "x" } }).env).toEqual({ A_1: "x" });
    expect(fieldOf(() => validateDeployRequest({ handler, env: { "1A": "x" } }))).toBe("env.1A");
    expect(fieldOf(() => validateDeployRequest({ handler, env: { "A=B": "x" } }))).toBe("env.A=B");
    expect(fieldOf(() => validateDeployRequest({ handler, env: { FAAS_X: "x" } }))).toBe("env.FAAS_X");
    expect(fieldOf(() => validateDeployRequest({ handler, env: { A: "x\u0000y" } }))).toBe("env.A");
  });

  it("requires a handler and bounds the sizes", () => {
    expect(fieldOf(() => validateDeployRequest({}))).toBe("handler");
    expect(fieldOf(() => validateDeployRequest({ handler: "x".repeat(1024 * 1024 + 1) }))).toBe("handler");
    expect(fieldOf(() => validateDeployRequest({ handler, requirements: "x".repeat(64 * 1024 + 1) }))).toBe("requirements");
  });
});
