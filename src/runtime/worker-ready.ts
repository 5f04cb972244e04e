import { FaasError } from "../domain/errors.ts";
import { abortError, protocolError } from "./frames.ts";

/** Largest readiness report accepted on the control pipe (an import traceback fits easily). */
const MAX_READY_BYTES = 1024 * 1024;

/** The shim's one-line report on its control pipe: the handler imported (ok) or why not. */
export interface ReadyReport {
  ok: boolean;
  type?: string;
  message?: string;
  traceback?: string;
  python?: string;
}

export interface ReadyWait {
  /** The worker's control pipe (fd 3), read until the first line and then destroyed. */
  pipe: NodeJS.ReadableStream;
  /** Resolves when the worker process has exited. */
  exited: Promise<void>;
  /** Bound on import + listen, in milliseconds (then deadline_exceeded INVOKE_TIMEOUT). */
  timeoutMs: number;
  /** The error for a worker that exited before its report. */
  crashed: () => FaasError;
  signal?: AbortSignal;
  /** Leave the pipe open (paused) after the report: a spare reports twice (worker.ts). */
  keepOpen?: boolean;
}

/**
 * Waits for the worker's readiness report. Rejects with WORKER_PROTOCOL_ERROR for anything but
 * one JSON report line (more than MAX_READY_BYTES without a newline included: a function cannot
 * make the agent buffer its control pipe), when the pipe closes or the process exits first, after
 * `timeoutMs`, or when `signal` aborts.
 */
export function readReady(wait: ReadyWait): Promise<ReadyReport> {
  const { pipe, signal } = wait;
  return new Promise<ReadyReport>((resolve, reject) => {
    let text = "";
    const timer = setTimeout(() => fail(new FaasError("deadline_exceeded", `worker did not start within ${wait.timeoutMs} ms`, { reason: "INVOKE_TIMEOUT" })), wait.timeoutMs);
    const onAbort = () => fail(signal ? abortError(signal) : new Error("aborted"));
    signal?.addEventListener("abort", onAbort, { once: true });
    const finish = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    const fail = (e: unknown) => {
      finish();
      reject(e);
    };
    let settled = false;
    const done = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      // Nothing more is read from the control pipe: a function cannot make the agent buffer it.
      pipe.removeAllListeners("data");
      pipe.removeListener("end", onEnd);
      if (wait.keepOpen) pipe.pause();
      else (pipe as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      outcome();
    };
    pipe.setEncoding("utf8");
    pipe.resume();
    pipe.on("data", (d: string) => {
      text += d;
      const nl = text.indexOf("\n");
      if (nl < 0) {
        if (text.length > MAX_READY_BYTES) done(() => fail(protocolError(`the worker wrote more than ${MAX_READY_BYTES} bytes to its control pipe without a report`)));
        return;
      }
      done(() => {
        const report = parseReady(text.slice(0, nl));
        if (typeof report === "string") fail(protocolError(report));
        else {
          finish();
          resolve(report);
        }
      });
    });
    pipe.on("error", () => {});
    // A closed control pipe means no report is coming, whether or not the process lives on.
    const onEnd = () => done(() => fail(protocolError("the worker closed its control pipe before reporting that it was ready")));
    pipe.on("end", onEnd);
    void wait.exited.then(() => done(() => fail(wait.crashed())));
  });
}

/** A report that the handler did not import, as invalid_argument HANDLER_INVALID with its traceback. */
export function handlerInvalid(report: ReadyReport): FaasError {
  return new FaasError("invalid_argument", `handler failed to import: ${report.type}: ${report.message}\n${report.traceback ?? ""}`.trimEnd(), {
    reason: "HANDLER_INVALID",
    metadata: { exception_type: report.type ?? "", exception_message: report.message ?? "", traceback: report.traceback ?? "" },
  });
}

function parseReady(line: string): ReadyReport | string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return `the worker wrote something that is not its readiness report to its control pipe: ${JSON.stringify(line.slice(0, 200))}`;
  }
  if (value === null || typeof value !== "object" || typeof (value as ReadyReport).ok !== "boolean") {
    return `the worker's readiness report is not an object with "ok": ${JSON.stringify(line.slice(0, 200))}`;
  }
  const report = value as Record<string, unknown>;
  const text = (key: string) => (typeof report[key] === "string" ? (report[key] as string) : undefined);
  return { ok: report.ok as boolean, type: text("type"), message: text("message"), traceback: text("traceback"), python: text("python") };
}
