import { describe, expect, it } from "vitest";
import { FaasError, isFaasError } from "../src/domain/errors.ts";
import type { DeployEmitter, DeploySpec, FunctionInfo } from "../src/domain/types.ts";
import { AgentCore } from "../src/service/core.ts";
import type { DeployProgress } from "../src/service/results.ts";
import { createFakePlatform, failingDeploy, fakeFunction, platformError, type FakePlatformOptions } from "./support/fake-platform.ts";

const HANDLER = "def handle(req):\n    return req";

function coreOf(options: FakePlatformOptions = {}, deployTimeoutMs = 60_000) {
  const platform = createFakePlatform(options);
  return { platform, core: new AgentCore({ platform, workflow: "local", version: "test", deployTimeoutMs }) };
}

async function collect(progress: AsyncIterable<DeployProgress>): Promise<{ events: DeployProgress[]; error?: FaasError }> {
  const events: DeployProgress[] = [];
  try {
    for await (const event of progress) events.push(event);
  } catch (error) {
    if (!isFaasError(error)) throw error;
    return { events, error };
  }
  return { events };
}

const signal = () => new AbortController().signal;

describe("AgentCore.deploy", () => {
  it("streams validating, the platform's events in order, ready and the function last", async () => {
    const { core, platform } = coreOf();
    const { events, error } = await collect(core.deploy({ id: "hello", handler: HANDLER }, signal()));
    expect(error).toBeUndefined();
    const summary = events.map((e) => (e.type === "phase" ? `phase ${e.phase}` : e.type === "log" ? `log ${e.line}` : e.type));
    expect(summary).toEqual([
      "phase validating",
      "phase packaging",
      "log packaging hello",
      "phase building",
      "log building hello",
      "phase deploying",
      "log deploying hello",
      "phase ready",
      "function",
    ]);
    expect(platform.calls).toEqual(["deploy hello"]);
    expect(platform.functions.get("hello")?.ready).toBe(true);
  });

  it("forwards events emitted after the platform awaited, not only synchronous ones", async () => {
    const deploy = async (spec: DeploySpec, emit: DeployEmitter): Promise<FunctionInfo> => {
      for (let i = 0; i < 3; i++) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        emit({ type: "log", phase: "building", source: "fake", line: `step ${i}`, time: new Date() });
      }
      return fakeFunction(spec.id);
    };
    const { core } = coreOf({ deploy });
    const { events } = await collect(core.deploy({ id: "slow", handler: HANDLER }, signal()));
    expect(events.filter((e) => e.type === "log").map((e) => (e.type === "log" ? e.line : ""))).toEqual(["step 0", "step 1", "step 2"]);
    expect(events.at(-1)?.type).toBe("function");
  });

  it("an invalid request fails before any event and never reaches the platform", async () => {
    const { core, platform } = coreOf();
    const { events, error } = await collect(core.deploy({ id: "Bad_Id", handler: HANDLER }, signal()));
    expect(events).toEqual([]);
    expect(error).toMatchObject({ kind: "invalid_argument", reason: "INVALID_REQUEST", metadata: { field: "id" } });
    expect(platform.calls).toEqual([]);
  });

  it("generates an id when none is given", async () => {
    const { core } = coreOf();
    const { events } = await collect(core.deploy({ handler: HANDLER }, signal()));
    const last = events.at(-1);
    expect(last?.type === "function" && last.function.id).toMatch(/^func-[0-9a-f]{8}$/);
  });

  it("a failure ends the stream with the platform's error as it is: the log lines are events, never copied into it", async () => {
    const lines = Array.from({ length: 20 }, (_, i) => `pip line ${i}`);
    const original = platformError("pip install failed");
    const { core } = coreOf({ deploy: failingDeploy(original, lines) });
    const { events, error } = await collect(core.deploy({ id: "broken", handler: HANDLER }, signal()));
    expect(events.filter((e) => e.type === "log").map((e) => e.type === "log" && e.line)).toEqual(lines);
    expect(events.some((e) => e.type === "phase" && e.phase === "ready")).toBe(false);
    expect(error).toBe(original);
    expect(error!.message).toBe("pip install failed");
  });

  it("keeps an error without log lines as it is, metadata included", async () => {
    const original = new FaasError("invalid_argument", "handler does not define handle", { reason: "HANDLER_INVALID", metadata: { exception_type: "AttributeError" } });
    const { core } = coreOf({ deploy: failingDeploy(original, []) });
    const { error } = await collect(core.deploy({ id: "nohandle", handler: HANDLER }, signal()));
    expect(error).toBe(original);
  });

  it("a deploy that outlives the deploy timeout is deadline_exceeded DEPLOY_TIMEOUT", async () => {
    const deploy = (_spec: DeploySpec, _emit: DeployEmitter, deploySignal: AbortSignal) =>
      new Promise<FunctionInfo>((_resolve, reject) => deploySignal.addEventListener("abort", () => reject(deploySignal.reason), { once: true }));
    const { core } = coreOf({ deploy }, 50);
    const { error } = await collect(core.deploy({ id: "stuck", handler: HANDLER }, signal()));
    expect(error).toMatchObject({ kind: "deadline_exceeded", reason: "DEPLOY_TIMEOUT" });
    expect(error!.message).toMatch(/within 0.05 s/);
  });

  it("passes the caller's abort to the platform", async () => {
    const controller = new AbortController();
    let seen: AbortSignal | undefined;
    const deploy = (_spec: DeploySpec, emit: DeployEmitter, deploySignal: AbortSignal) => {
      seen = deploySignal;
      emit({ type: "phase", phase: "building", time: new Date() });
      return new Promise<FunctionInfo>((_resolve, reject) => deploySignal.addEventListener("abort", () => reject(new FaasError("cancelled", "cancelled", { reason: "CANCELLED" })), { once: true }));
    };
    const { core } = coreOf({ deploy });
    const iterator = core.deploy({ id: "cancel-me", handler: HANDLER }, controller.signal)[Symbol.asyncIterator]();
    expect((await iterator.next()).value).toMatchObject({ type: "phase", phase: "validating" });
    expect((await iterator.next()).value).toMatchObject({ type: "phase", phase: "building" });
    controller.abort();
    await expect(iterator.next()).rejects.toMatchObject({ kind: "cancelled" });
    expect(seen?.aborted).toBe(true);
  });
});

describe("capabilities decide what the core answers without calling the platform", () => {
  it("an option the platform does not declare is invalid_argument naming the field", async () => {
    const { core, platform } = coreOf({ capabilities: { options: new Set(["minScale"]) } });
    const { error } = await collect(core.deploy({ id: "x", handler: HANDLER, options: { minScale: 1, workers: 2 } }, signal()));
    expect(error).toMatchObject({ kind: "invalid_argument", metadata: { field: "options.workers" } });
    expect(error!.message).toBe("options.workers is not supported by the local platform");
    expect(platform.calls).toEqual([]);
    const ok = await collect(core.deploy({ id: "x", handler: HANDLER, options: { minScale: 1 } }, signal()));
    expect(ok.error).toBeUndefined();
  });

  it("a dry run without capabilities.dryRun is unimplemented UNSUPPORTED", async () => {
    const { core, platform } = coreOf({ name: "docker" });
    const { events, error } = await collect(core.deploy({ id: "x", handler: HANDLER, dryRun: true }, signal()));
    expect(events).toEqual([]);
    expect(error).toMatchObject({ kind: "unimplemented", reason: "UNSUPPORTED", metadata: { platform: "docker" } });
    expect(error!.message).toBe("dry run is not supported by the docker platform");
    expect(platform.calls).toEqual([]);
  });

  it("a dry run with capabilities.dryRun renders and deploys nothing", async () => {
    const { core, platform } = coreOf({ capabilities: { dryRun: true, options: new Set(["minScale"]) } });
    const { events } = await collect(core.deploy({ id: "x", handler: HANDLER, dryRun: true, options: { minScale: 2 } }, signal()));
    expect(events.map((e) => e.type)).toEqual(["phase", "dry_run"]);
    const last = events.at(-1);
    expect(last?.type === "dry_run" && last.rendered).toEqual({ kind: "fake.v1 Function", object: { name: "x", options: { minScale: 2 } } });
    expect(platform.calls).toEqual(["render x"]);
  });

  it("setting traffic without capabilities.traffic is unimplemented UNSUPPORTED", async () => {
    const { core, platform } = coreOf();
    await expect(core.setTraffic("x", [{ revision: "", latest: true, percent: 100, tag: "" }], signal())).rejects.toMatchObject({
      kind: "unimplemented",
      reason: "UNSUPPORTED",
      message: "setting traffic is not supported by the local platform",
    });
    expect(platform.calls).toEqual([]);
  });

  it("setting traffic with capabilities.traffic checks the split first, then calls the platform", async () => {
    const { core, platform } = coreOf({ capabilities: { traffic: true } });
    await collect(core.deploy({ id: "split", handler: HANDLER }, signal()));
    await expect(core.setTraffic("split", [{ revision: "", latest: true, percent: 90, tag: "" }], signal())).rejects.toMatchObject({ metadata: { field: "traffic" } });
    const fn = await core.setTraffic("split", [{ revision: "", latest: true, percent: 100, tag: "" }], signal());
    expect(fn.traffic).toEqual([{ revision: "", latest: true, percent: 100, tag: "" }]);
    expect(platform.calls).toEqual(["deploy split", "setTraffic split"]);
  });

  it("following logs without capabilities.logsFollow is unsupported; the backlog still works", async () => {
    const line = { time: new Date(), stream: "stdout" as const, line: "hi" };
    const { core } = coreOf({ capabilities: { logsFollow: false }, logLines: [line] });
    expect(() => core.logs("x", { follow: true, tail: 0 }, signal())).toThrow(/following logs is not supported by the local platform/);
    const lines = [];
    for await (const l of core.logs("x", { follow: false, tail: 0 }, signal())) lines.push(l);
    expect(lines).toEqual([line]);
  });

  it("refuses a platform whose declared capabilities do not match its methods", () => {
    const platform = createFakePlatform();
    expect(() => new AgentCore({ platform: { ...platform, capabilities: { ...platform.capabilities, dryRun: true } }, workflow: "local", version: "t", deployTimeoutMs: 1 })).toThrow(/dryRun/);
    expect(() => new AgentCore({ platform: { ...platform, capabilities: { ...platform.capabilities, traffic: true } }, workflow: "local", version: "t", deployTimeoutMs: 1 })).toThrow(/traffic/);
  });
});

describe("AgentCore's other operations", () => {
  it("invoke validates the id, measures the call and names the platform", async () => {
    const { core } = coreOf({ name: "nuclio", invoke: async () => ({ resultJson: '{"a":1}', coldStart: true }) });
    const out = await core.invoke("fn", "{}", signal());
    expect(out).toMatchObject({ resultJson: '{"a":1}', coldStart: true, platform: "nuclio" });
    expect(out.executionTime).toBeGreaterThanOrEqual(0);
    await expect(core.invoke("../etc", "{}", signal())).rejects.toMatchObject({ metadata: { field: "id" } });
  });

  it("get, remove and logs refuse an invalid id before calling the platform", async () => {
    const { core, platform } = coreOf();
    await expect(core.get("", signal())).rejects.toMatchObject({ message: "id is required" });
    await expect(core.remove("A", signal())).rejects.toMatchObject({ metadata: { field: "id" } });
    expect(() => core.logs("a_b", { follow: false, tail: 0 }, signal())).toThrow(/id "a_b" is invalid/);
    expect(platform.calls).toEqual([]);
  });

  it("remove reports what was deleted; a second remove is not_found", async () => {
    const { core } = coreOf();
    await collect(core.deploy({ id: "gone", handler: HANDLER }, signal()));
    expect(await core.remove("gone", signal())).toEqual({ status: "deleted", platform: "local", functionId: "gone" });
    await expect(core.remove("gone", signal())).rejects.toMatchObject({ kind: "not_found", reason: "FUNCTION_NOT_FOUND" });
  });

  it("health is degraded once the agent is shutting down", async () => {
    const { core } = coreOf();
    expect(await core.health(signal())).toMatchObject({ status: "healthy", platform: "local", workflow: "local", version: "test" });
    core.markShuttingDown();
    const report = await core.health(signal());
    expect(report.status).toBe("degraded");
    expect(report.checks.at(-1)).toEqual({ name: "agent", ok: false, message: "shutting down" });
  });
});
