import { describe, expect, it } from "vitest";
import type { DeployEvent } from "../src/domain/types.ts";
import type { Dashboard, DashboardResponse } from "../src/adapters/nuclio/dashboard.ts";
import { deployFailed, followDeploy } from "../src/adapters/nuclio/follow.ts";
import { Phases } from "../src/adapters/kit/pipeline.ts";

/** A dashboard whose GET of the function answers `states` one after the other (the last one repeats). */
function scripted(states: string[]): Dashboard {
  let i = 0;
  const answer = (): DashboardResponse => {
    const state = states[Math.min(i++, states.length - 1)]!;
    return { status: 200, headers: {}, text: JSON.stringify({ metadata: { name: "f" }, spec: {}, status: { state, ...(state === "error" ? { message: "boom" } : {}) } }) };
  };
  return { call: async () => answer() } as unknown as Dashboard;
}

async function follow(states: string[]): Promise<{ phases: string[]; outcome: unknown }> {
  const events: DeployEvent[] = [];
  const outcome = await followDeploy(scripted(states), "f", (e) => events.push(e), AbortSignal.timeout(5000), "building").catch((e: unknown) => e);
  return { phases: events.flatMap((e) => (e.type === "phase" ? [e.phase] : [])), outcome };
}

describe("nuclio deploy follow", () => {
  it("reports every phase in order through the deploy pipeline, also when a poll missed the resource-configuration state", async () => {
    // Polled every 250 ms, a busy machine can see building, then ready; the platform's deploy goes
    // through kit/pipeline.ts, whose Phases fills in "deploying" when the deploy ends.
    const events: DeployEvent[] = [];
    const phases = new Phases((e) => events.push(e));
    phases.enter("building");
    await followDeploy(scripted(["building", "ready"]), "f", phases.emitter, AbortSignal.timeout(5000), "building");
    phases.enter("deploying");
    phases.enter("ready");
    expect(events.flatMap((e) => (e.type === "phase" ? [e.phase] : []))).toEqual(["packaging", "building", "deploying", "ready"]);
  });

  it("ends at imported (terminal, neither ready nor failed) instead of polling until the deadline", async () => {
    const { outcome } = await follow(["building", "imported"]);
    expect(outcome).toMatchObject({ name: "FaasError", reason: "DEPLOY_FAILED", metadata: { platform_reason: "imported" } });
    expect((outcome as Error).message).toMatch(/imported, not deployed/);
  });

  it("reads the entry module's base64 import report wherever Nuclio put it", () => {
    const report = { type: "ImportError", message: 'a "quoted" \\n path', traceback: "Traceback (most recent call last):\n  x\n" };
    const line = `FAAS_CHECK ${Buffer.from(JSON.stringify(report)).toString("base64")}`;
    const error = deployFailed("f", "error", `Caught unhandled exception while initializing\n${line}\nmore`, []);
    expect(error).toMatchObject({ reason: "HANDLER_INVALID", metadata: { exception_type: "ImportError", exception_message: report.message, traceback: report.traceback } });
    expect(deployFailed("f", "error", "no marker here", [])).toMatchObject({ reason: "DEPLOY_FAILED", metadata: { platform_reason: "error" } });
  });
});
