import pino from "pino";
import { describe, expect, it } from "vitest";
import type { DeployEvent, DeploySpec, FunctionInfo } from "../src/domain/types.ts";
import { KeyedLock } from "../src/adapters/kit/keyed-lock.ts";
import { Phases, runDeploy, type DeploySteps } from "../src/adapters/kit/pipeline.ts";

const spec: DeploySpec = { id: "f", handler: "def handle(req):\n    return 1", requirements: "", params: {}, env: {}, options: {} };

function info(revision: string): FunctionInfo {
  return { id: "f", image: "", ready: true, state: "running", platform: "local", endpoint: "", createdAt: new Date(0), updatedAt: new Date(0), revision, pythonVersion: "3.11" };
}

interface Running {
  hash: string;
  mine: boolean;
}

/** A platform of one function held in memory; `calls` records which steps ran. */
function fakeSteps(running: Running | undefined, hash: string, extra: Partial<DeploySteps<Running, { contentHash: string }, Running>> = {}) {
  const calls: string[] = [];
  const steps: DeploySteps<Running, { contentHash: string }, Running> = {
    current: async () => (calls.push("current"), running),
    owned: (c) => c.mine,
    render: async () => (calls.push("render"), { contentHash: hash }),
    unchanged: (c, r) => (c.hash === r.contentHash ? `${hash} runs already` : undefined),
    apply: async (r) => (calls.push("apply"), { hash: r.contentHash, mine: true }),
    describe: (x) => info("made" in x ? x.made.hash : x.current.hash),
    ...extra,
  };
  return { steps, calls };
}

function runOf(events: DeployEvent[], locks = new KeyedLock()) {
  return { spec, emit: (e: DeployEvent) => events.push(e), locks, logger: pino({ level: "silent" }), noun: "fake function", where: "memory" };
}

const phasesOf = (events: DeployEvent[]) => events.filter((e) => e.type === "phase").map((e) => e.phase);

describe("runDeploy", () => {
  it("renders, applies and describes a new function, with every phase once and in order", async () => {
    const events: DeployEvent[] = [];
    const { steps, calls } = fakeSteps(undefined, "h1");
    expect((await runDeploy(runOf(events), steps)).revision).toBe("h1");
    expect(calls).toEqual(["current", "render", "apply"]);
    expect(phasesOf(events)).toEqual(["packaging", "building", "deploying"]);
  });

  it("applies nothing when that content already runs, says so, and still emits every phase", async () => {
    const events: DeployEvent[] = [];
    const { steps, calls } = fakeSteps({ hash: "h1", mine: true }, "h1");
    expect((await runDeploy(runOf(events), steps)).revision).toBe("h1");
    expect(calls).toEqual(["current", "render"]);
    expect(events.some((e) => e.type === "log" && e.line === "h1 runs already")).toBe(true);
    expect(phasesOf(events)).toEqual(["packaging", "building", "deploying"]);
  });

  it("refuses a function this agent did not deploy before rendering anything", async () => {
    const events: DeployEvent[] = [];
    const { steps, calls } = fakeSteps({ hash: "other", mine: false }, "h1");
    await expect(runDeploy(runOf(events), steps)).rejects.toMatchObject({ kind: "already_exists", reason: "INVALID_REQUEST", metadata: { field: "id" } });
    expect(calls).toEqual(["current"]);
    expect(events).toEqual([]);
  });

  it("fills in phases the platform skipped and ignores ones it reports out of order", async () => {
    const events: DeployEvent[] = [];
    const { steps } = fakeSteps(undefined, "h2", {
      apply: async (r, _c, phases) => {
        // A platform whose states jump straight to deploying, then report building again.
        phases.emitter({ type: "phase", phase: "deploying", time: new Date() });
        phases.emitter({ type: "phase", phase: "building", time: new Date() });
        phases.log("late line");
        return { hash: r.contentHash, mine: true };
      },
    });
    await runDeploy(runOf(events), steps);
    expect(phasesOf(events)).toEqual(["packaging", "building", "deploying"]);
    expect(events.find((e) => e.type === "log")).toMatchObject({ phase: "deploying", line: "late line" });
  });

  it("emits deploying even when the platform never reported it (waitReady that saw only building)", async () => {
    const events: DeployEvent[] = [];
    const { steps } = fakeSteps(undefined, "h3", {
      waitReady: async (made, phases) => (phases.enter("building"), made),
    });
    await runDeploy(runOf(events), steps);
    expect(phasesOf(events)).toEqual(["packaging", "building", "deploying"]);
  });

  it("fails with the step's error and holds no lock afterwards", async () => {
    const locks = new KeyedLock();
    const { steps } = fakeSteps(undefined, "h4", {
      apply: async () => {
        throw new Error("apply failed");
      },
    });
    await expect(runDeploy(runOf([], locks), steps)).rejects.toThrow("apply failed");
    const again = fakeSteps(undefined, "h5");
    await expect(runDeploy(runOf([], locks), again.steps)).resolves.toMatchObject({ revision: "h5" });
  });

  it("runs two deploys of one function one after the other", async () => {
    const locks = new KeyedLock();
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const first = fakeSteps(undefined, "a", {
      apply: async (r) => {
        order.push("a apply");
        await gate;
        order.push("a done");
        return { hash: r.contentHash, mine: true };
      },
    });
    const second = fakeSteps(undefined, "b", { current: async () => (order.push("b current"), undefined) });
    const a = runDeploy(runOf([], locks), first.steps);
    const b = runDeploy(runOf([], locks), second.steps);
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual(["a apply"]);
    release();
    await Promise.all([a, b]);
    expect(order).toEqual(["a apply", "a done", "b current"]);
  });
});

describe("Phases", () => {
  it("starts at validating and only moves forward", () => {
    const events: DeployEvent[] = [];
    const phases = new Phases((e) => events.push(e));
    expect(phases.current).toBe("validating");
    phases.enter("building");
    phases.enter("packaging");
    expect(phases.current).toBe("building");
    expect(phasesOf(events)).toEqual(["packaging", "building"]);
  });
});
