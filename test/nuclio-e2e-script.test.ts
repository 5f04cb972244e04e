import { readFileSync, statSync } from "node:fs";
import { execa } from "execa";
import { describe, expect, it } from "vitest";

const script = new URL("../deploy/nuclio/e2e-nuclio.sh", import.meta.url);

describe("deploy/nuclio/e2e-nuclio.sh (run by users against a real Nuclio)", () => {
  it("is valid, executable bash that reads the dashboard URL from the environment", async () => {
    const check = await execa("bash", ["-n", script.pathname], { reject: false });
    expect(check.exitCode, check.stderr).toBe(0);
    expect(statSync(script).mode & 0o111).not.toBe(0);
    const text = readFileSync(script, "utf8");
    expect(text).toContain('"${NUCLIO_DASHBOARD_URL:?');
    // It checks what the issue asks of it: sync and async invoke, an older redeploy, a failing deploy's reason, logs, delete.
    for (const check of ["invoke v1", "invoke async", "v1 again has v1's revision", "HANDLER_INVALID", "in its logs", "invoke after delete"]) expect(text).toContain(check);
  });

  it("stops with a clear message when no dashboard URL is given", async () => {
    const run = await execa("bash", [script.pathname], { reject: false, env: { ...process.env, NUCLIO_DASHBOARD_URL: "" } });
    expect(run.exitCode).not.toBe(0);
    expect(run.stderr).toMatch(/set NUCLIO_DASHBOARD_URL/);
  });
});
