import { DeployPhase, type DeployResponse } from "../../gen/faas/v1/agent_pb.ts";
import { isErrorLine } from "../clients/explain.ts";
import { isoTime } from "./format.ts";

/** How many build-log lines a display remembers as shown (so that a failure does not repeat them). */
export const SHOWN_LINES = 20_000;

const PHASE_NAMES: Record<DeployPhase, string> = {
  [DeployPhase.UNSPECIFIED]: "unspecified",
  [DeployPhase.VALIDATING]: "validating",
  [DeployPhase.PACKAGING]: "packaging",
  [DeployPhase.BUILDING]: "building",
  [DeployPhase.DEPLOYING]: "deploying",
  [DeployPhase.READY]: "ready",
};

/** A deploy phase's lowercase name, as the CLI and the web page show it. */
export function phaseName(phase: DeployPhase): string {
  return PHASE_NAMES[phase] ?? `phase ${phase}`;
}

/** Shows a deploy's events as they arrive; `fail` and `done` end the display. */
export interface ProgressDisplay {
  event(event: DeployResponse): void;
  /** Ends the display of a failed deploy (before the error is printed). */
  fail(): void;
  /** Ends the display of a successful deploy. */
  done(): void;
  /** The build-log lines shown (their text, without the source), at most SHOWN_LINES. */
  shown(): ReadonlySet<string>;
}

type Out = NodeJS.WritableStream & { columns?: number };

/**
 * Plain, timestamped lines, one per event, for pipes and log files:
 * `2026-01-01T00:00:00.000Z phase building` and `2026-01-01T00:00:00.000Z log pip: Collecting x`.
 */
export function plainProgress(out: Out): ProgressDisplay {
  const shown = new Set<string>();
  return {
    event(event) {
      const time = isoTime(event.time);
      switch (event.event.case) {
        case "phase":
          out.write(`${time} phase ${phaseName(event.event.value)}\n`);
          break;
        case "log":
          remember(shown, event.event.value.line);
          out.write(`${time} log ${event.event.value.source}: ${event.event.value.line}\n`);
          break;
        case "function":
          out.write(`${time} deployed ${event.event.value.id}\n`);
          break;
      }
    },
    fail() {},
    done() {},
    shown: () => shown,
  };
}

/**
 * A progress display for a terminal: one line per phase with its number and elapsed time (✓ once
 * passed), the build log scrolling above the current phase (dim; the lines saying what went wrong,
 * such as pip's ERROR lines, in red), and the current phase line redrawn in place as lines arrive.
 */
export function terminalProgress(out: Out, now: () => number = Date.now): ProgressDisplay {
  const shown = new Set<string>();
  const total = DeployPhase.READY;
  let current: { phase: DeployPhase; started: number } | undefined;
  let statusShown = false;

  const clearStatus = () => {
    if (statusShown) out.write("\r\x1b[2K");
    statusShown = false;
  };
  const drawStatus = () => {
    if (!current || current.phase === DeployPhase.READY) return;
    clearStatus();
    const seconds = ((now() - current.started) / 1000).toFixed(1);
    out.write(`\x1b[36m… [${current.phase}/${total}] ${phaseName(current.phase)}\x1b[0m \x1b[2m${seconds}s\x1b[0m`);
    statusShown = true;
  };
  const finishPhase = (mark: string) => {
    if (!current) return;
    clearStatus();
    const seconds = ((now() - current.started) / 1000).toFixed(1);
    out.write(`${mark} [${current.phase}/${total}] ${phaseName(current.phase)} \x1b[2m${seconds}s\x1b[0m\n`);
  };
  const timer = setInterval(drawStatus, 200);
  timer.unref();

  return {
    event(event) {
      switch (event.event.case) {
        case "phase":
          finishPhase("\x1b[32m✓\x1b[0m");
          current = { phase: event.event.value, started: now() };
          drawStatus();
          break;
        case "log": {
          const line = `${event.event.value.source}: ${event.event.value.line}`;
          remember(shown, event.event.value.line);
          clearStatus();
          // One screen line each, so the status line below stays in place; a narrow or unknown width: no cut.
          const width = out.columns && out.columns >= 40 ? out.columns : Infinity;
          const style = isErrorLine(event.event.value.line) ? "\x1b[1;31m" : "\x1b[2m";
          out.write(`  ${style}${line.length > width - 3 ? `${line.slice(0, width - 4)}…` : line}\x1b[0m\n`);
          drawStatus();
          break;
        }
        case "function":
          clearStatus();
          current = undefined;
          out.write(`\x1b[32m✓\x1b[0m [${total}/${total}] ready: ${event.event.value.id}\n`);
          break;
      }
    },
    fail() {
      clearInterval(timer);
      finishPhase("\x1b[31m✗\x1b[0m");
      current = undefined;
    },
    done() {
      clearInterval(timer);
      clearStatus();
    },
    shown: () => shown,
  };
}

function remember(shown: Set<string>, line: string): void {
  if (shown.size < SHOWN_LINES) shown.add(line);
}
