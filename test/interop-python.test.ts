import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestAgent, type TestAgent } from "./support/agent.ts";
import { requirePart } from "./support/requires.ts";

// Interop with a client nobody here wrote: the Python stubs protoc and grpc_python_plugin generated
// into gen/, run by Debian's python3-grpcio and python3-protobuf under /usr/bin/python3 (CI installs
// them; without them the tests skip, or fail with FAAS_REQUIRE_ALL=1).
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const PYTHON = "/usr/bin/python3";
const pythonEnv = { PYTHONPATH: join(ROOT, "gen"), PATH: "/usr/bin:/bin", LANG: "C.UTF-8", PYTHONDONTWRITEBYTECODE: "1" };

let agent: TestAgent;
let target: string;
beforeAll(async () => {
  agent = await startTestAgent();
  target = `127.0.0.1:${agent.address.port}`;
});
afterAll(async () => {
  await agent?.dispose();
});

describe.skipIf(await requirePart("python-grpc"))("generated Python client (python3-grpcio)", () => {
  it("deploys with streamed events, invokes with nested JSON, lists, and sees error codes and reasons", async () => {
    const run = await execa(PYTHON, [join(ROOT, "test", "python", "interop.py"), target, "py-interop"], { env: pythonEnv, extendEnv: false, reject: false });
    expect(run.stderr).toBe("");
    expect(run.exitCode).toBe(0);
    const report = JSON.parse(run.stdout);

    expect(report.grpc_module).toBe("/usr/lib/python3/dist-packages/grpc/__init__.py");
    const phases = report.deploy.filter((e: any) => e.phase).map((e: any) => e.phase);
    expect(phases).toEqual(["DEPLOY_PHASE_VALIDATING", "DEPLOY_PHASE_PACKAGING", "DEPLOY_PHASE_BUILDING", "DEPLOY_PHASE_DEPLOYING", "DEPLOY_PHASE_READY"]);
    expect(report.deploy).toContainEqual({ log: "importing", source: "stdout" });
    expect(report.deploy.at(-1)).toEqual({ function: "py-interop", ready: true });

    // Struct numbers are doubles on the wire, so 1 comes back as 1.0 == 1.
    const payload = { a: { b: { c: [1, "two", { d: [true, null, 3.5] }] } }, unicode: "héllo ✓", empty: {} };
    expect(report.invoke).toEqual({ result: { echo: payload, depth: [true, null, 3.5] }, status: "success", platform: "local" });
    expect(report.list).toContain("py-interop");
    expect(report.get).toEqual({ ok: "py-interop" });

    const errors = report.errors;
    expect(errors.invoke_unknown.error).toMatchObject({ code: "NOT_FOUND", reason: "FUNCTION_NOT_FOUND" });
    expect(errors.get_bad_id.error).toMatchObject({ code: "INVALID_ARGUMENT", reason: "INVALID_REQUEST" });
    expect(errors.get_bad_id.error.message).toMatch(/^id is invalid: use lowercase letters/);
    expect(errors.deploy_no_handler.error).toMatchObject({ code: "INVALID_ARGUMENT", reason: "INVALID_REQUEST" });
    expect(errors.deploy_no_handler.error.message).toMatch(/handler/);
    expect(errors.deploy_syntax_error.error).toMatchObject({ code: "INVALID_ARGUMENT", reason: "HANDLER_INVALID" });
    expect(errors.deploy_syntax_error.error.message).toMatch(/SyntaxError/);
    expect(errors.invoke_raises.error).toMatchObject({ code: "UNKNOWN", reason: "FUNCTION_ERROR" });
    expect(errors.invoke_raises.error.message).toMatch(/TypeError/);
    expect(report.delete).toEqual({ ok: "deleted" });
  });

  it("examples/python_client.py works as the README says", async () => {
    const run = await execa(PYTHON, [join(ROOT, "examples", "python_client.py"), "--agent", target, "--id", "example-py"], {
      env: pythonEnv,
      extendEnv: false,
      reject: false,
    });
    expect(run.exitCode).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ result: { customer: "Ada", total: 15, items: 2 }, functions: expect.arrayContaining(["example-py"]) });
    expect(run.stderr).toMatch(/phase DEPLOY_PHASE_BUILDING\n/);
    expect(run.stderr).toMatch(/deployed example-py revision [0-9a-f]+/);
  });

  it("examples/python_client.py reports an RPC error with its code and exits 1", async () => {
    const run = await execa(PYTHON, [join(ROOT, "examples", "python_client.py"), "--agent", target, "--id", "Not_Valid"], {
      env: pythonEnv,
      extendEnv: false,
      reject: false,
    });
    expect(run.exitCode).toBe(1);
    expect(run.stdout).toBe("");
    expect(run.stderr).toMatch(/^error: INVALID_ARGUMENT: id is invalid: use lowercase letters/m);
  });
});
