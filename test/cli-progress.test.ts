import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { DeployPhase, DeployResponseSchema, type DeployResponse } from "../gen/faas/v1/agent_pb.ts";
import { plainProgress, terminalProgress } from "../src/cli/progress.ts";

const time = timestampFromDate(new Date("2026-01-02T03:04:05.678Z"));
const phase = (value: DeployPhase): DeployResponse => create(DeployResponseSchema, { time, event: { case: "phase", value } });
const log = (line: string): DeployResponse => create(DeployResponseSchema, { time, event: { case: "log", value: { phase: DeployPhase.BUILDING, source: "pip", line } } });

function sink(columns?: number) {
  let text = "";
  return { stream: Object.assign({ write: (s: string) => ((text += s), true) }, { columns }) as unknown as NodeJS.WritableStream & { columns?: number }, text: () => text };
}

/** What a terminal would show: carriage returns and erase-line redraws applied, colours removed. */
function screen(raw: string): string[] {
  const lines: string[] = [""];
  for (const part of raw.replace(/\x1b\[[0-9;]*m/g, "").split(/(\r\x1b\[2K|\n)/)) {
    if (part === "\n") lines.push("");
    else if (part === "\r\x1b[2K") lines[lines.length - 1] = "";
    else lines[lines.length - 1] += part;
  }
  return lines;
}

describe("deploy progress", () => {
  it("on a terminal: a line per finished phase, log lines above, the current phase redrawn", () => {
    let now = 0;
    const out = sink(80);
    const display = terminalProgress(out.stream, () => now);
    display.event(phase(DeployPhase.VALIDATING));
    now = 100;
    display.event(phase(DeployPhase.BUILDING));
    display.event(log("Collecting requests"));
    display.event(log("x".repeat(200)));
    now = 2600;
    expect(screen(out.text()).at(-1)).toBe("… [3/5] building 0.0s"); // drawn when the phase began
    display.event(phase(DeployPhase.DEPLOYING));
    display.fail();
    const lines = screen(out.text());
    expect(lines).toEqual([
      "✓ [1/5] validating 0.1s",
      "  pip: Collecting requests",
      `  pip: ${"x".repeat(71)}…`,
      "✓ [3/5] building 2.5s",
      "✗ [4/5] deploying 0.0s",
      "",
    ]);
    expect([...display.shown()]).toEqual(["Collecting requests", "x".repeat(200)]);
  });

  it("when piped: timestamped lines, every log line remembered as shown", () => {
    const out = sink();
    const display = plainProgress(out.stream);
    display.event(phase(DeployPhase.BUILDING));
    for (let i = 0; i < 20; i++) display.event(log(`line ${i}`));
    const lines = out.text().split("\n");
    expect(lines[0]).toBe("2026-01-02T03:04:05.678Z phase building");
    expect(lines[1]).toBe("2026-01-02T03:04:05.678Z log pip: line 0");
    expect(display.shown().size).toBe(20);
    expect(display.shown().has("line 19")).toBe(true);
    expect(out.text()).not.toContain("\x1b[");
  });
});
