import type { DeployEmitter, DeployPhase } from "../../domain/types.ts";
import type { Dashboard } from "./dashboard.ts";
import { dashboardError } from "./dashboard.ts";
import type { NuclioFunction } from "./function.ts";
import { FaasError, handlerInvalid } from "../../domain/errors.ts";

/** States after which nothing more happens without a new deploy (functionconfig/types.go:892-901 "provisioned"). */
export const TERMINAL_STATES = new Set(["ready", "error", "unhealthy", "scaledToZero", "imported"]);
const FAILED_STATES = new Set(["error", "unhealthy"]);
const POLL_MS = 250;

/** The deploy phase a Nuclio state belongs to. */
function phaseOf(state: string): DeployPhase | undefined {
  switch (state) {
    case "waitingForBuild":
    case "building":
      return "building";
    case "waitingForResourceConfiguration":
    case "configuringResources":
    case "waitingForScaleResourceFromZero":
    case "waitingForScaleResourceToZero":
      return "deploying";
    default:
      return undefined;
  }
}

/**
 * Reads one function; undefined when the dashboard says 404. Filtered by the agent's project
 * unless `anyProject` (then any function of that name in the namespace).
 */
export async function getFunction(dashboard: Dashboard, name: string, signal: AbortSignal, options: { anyProject?: boolean } = {}): Promise<NuclioFunction | undefined> {
  const res = await dashboard.call("GET", `api/functions/${encodeURIComponent(name)}`, { signal, anyProject: options.anyProject });
  if (res.status === 404) return undefined;
  if (res.status !== 200) {
    throw new FaasError("unavailable", `the Nuclio dashboard could not read function "${name}": ${dashboardError(res)}`, { reason: "PLATFORM_UNAVAILABLE" });
  }
  return JSON.parse(res.text) as NuclioFunction;
}

/**
 * Follows a deploy the way Nuclio's own clients do (polling GET; the dashboard has no watch) until
 * the state is terminal: every new `status.logs` entry becomes one log event, in time order and
 * once only; state changes become phase events (the kit's Phases keeps them in order and fills
 * in a phase whose state a poll missed). Resolves with the function when it is ready; rejects with DEPLOY_FAILED (platform_reason = the state) carrying Nuclio's message
 * when it failed, or was imported instead of deployed (`imported`: terminal, neither).
 */
export async function followDeploy(dashboard: Dashboard, name: string, emit: DeployEmitter, signal: AbortSignal, phase?: DeployPhase): Promise<NuclioFunction> {
  const cursor = new LogCursor();
  const recent: string[] = [];
  let lastState = "";
  let importReport = ""; // the entry module's FAAS_CHECK line, wherever it is in the logs
  let lastPhase: DeployPhase | undefined = phase;
  for (;;) {
    const fn = await getFunction(dashboard, name, signal);
    if (!fn) throw new FaasError("internal", `function "${name}" disappeared from the Nuclio dashboard during its deploy`, { reason: "DEPLOY_FAILED", metadata: { platform_reason: "deleted" } });
    const state = fn.status?.state ?? "";
    for (const entry of cursor.fresh(fn.status?.logs ?? [])) {
      const line = formatLogEntry(entry);
      if (line.includes("FAAS_CHECK ")) importReport = line;
      recent.push(line);
      if (recent.length > 20) recent.shift();
      emit({ type: "log", phase: lastPhase ?? "building", source: "nuclio", line, time: entryTime(entry) });
    }
    if (state !== lastState) {
      const phase = phaseOf(state);
      if (phase && phase !== lastPhase) {
        lastPhase = phase;
        emit({ type: "phase", phase, time: new Date() });
      }
      emit({ type: "log", phase: lastPhase ?? "building", source: "nuclio", line: `state: ${state || "unknown"}`, time: new Date() });
      lastState = state;
    }
    if (state === "ready" || state === "scaledToZero") return fn;
    if (FAILED_STATES.has(state)) throw deployFailed(name, state, fn.status?.message ?? "", [importReport, ...recent]);
    if (state === "imported") {
      // kube/controller/nucliofunction.go:145-156: a function carrying skip-deploy (nuctl import)
      // is stored but never built or run; waiting longer changes nothing.
      throw new FaasError("failed_precondition", `Nuclio function "${name}" was imported, not deployed (someone set its skip-deploy annotation); deploy it again to run it`, {
        reason: "DEPLOY_FAILED",
        metadata: { platform_reason: state },
      });
    }
    await sleep(POLL_MS, signal);
  }
}

/**
 * Which `status.logs` entries are new. The dashboard returns the whole deploy log on every GET
 * (platform-apis.md §B2), so an entry is new when this poll holds more copies of it (same time,
 * message and fields) than all earlier polls did: a line repeated within the same millisecond is
 * shown as often as Nuclio logged it, and no line is shown twice. Entries come out in time order.
 */
export class LogCursor {
  private readonly shown = new Map<string, number>();

  fresh(entries: ReadonlyArray<Record<string, unknown>>): Array<Record<string, unknown>> {
    const sorted = entries.map((entry, i) => ({ entry, i })).sort((a, b) => Number(a.entry.time ?? 0) - Number(b.entry.time ?? 0) || a.i - b.i);
    const counted = new Map<string, number>();
    const out: Array<Record<string, unknown>> = [];
    for (const { entry } of sorted) {
      const key = JSON.stringify(entry);
      const n = (counted.get(key) ?? 0) + 1;
      counted.set(key, n);
      if (n > (this.shown.get(key) ?? 0)) {
        this.shown.set(key, n);
        out.push(entry);
      }
    }
    return out;
  }
}

/** A zap log entry as one line: the message, then its other fields as key=value. */
export function formatLogEntry(entry: Record<string, unknown>): string {
  const extra = Object.entries(entry)
    .filter(([k]) => !["level", "time", "name", "message", "ctx"].includes(k))
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
  const level = typeof entry.level === "string" && entry.level !== "info" ? `${entry.level}: ` : "";
  return `${level}${String(entry.message ?? "")}${extra.length ? ` ${extra.join(" ")}` : ""}`;
}

function entryTime(entry: Record<string, unknown>): Date {
  const t = Number(entry.time);
  return Number.isFinite(t) && t > 0 ? new Date(t) : new Date();
}

/**
 * A failed deploy. An import failure of the handler (the entry module's FAAS_CHECK line in the
 * function's output: base64 of a JSON report, which Nuclio's FixEscapeChars leaves intact) is
 * HANDLER_INVALID with the traceback, as on every platform.
 */
export function deployFailed(name: string, state: string, message: string, recent: string[]): FaasError {
  const text = [message, ...recent].join("\n");
  const marker = /FAAS_CHECK ([A-Za-z0-9+/]+={0,2})/.exec(text);
  if (marker) {
    try {
      const report = JSON.parse(Buffer.from(marker[1]!, "base64").toString("utf8")) as { type?: string; message?: string; traceback?: string };
      return handlerInvalid(report);
    } catch {
      // not the marker's JSON after all: reported as a failed deploy below
    }
  }
  return new FaasError("failed_precondition", `Nuclio function "${name}" is ${state}: ${message || "no message"}`, {
    reason: "DEPLOY_FAILED",
    metadata: { platform_reason: state },
  });
}

/** Waits `ms`, or rejects when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
