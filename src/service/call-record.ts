import type { Logger } from "pino";
import { FaasError, isFaasError } from "../domain/errors.ts";
import type { AgentMetrics } from "../metrics/agent-metrics.ts";
import type { FunctionCalls } from "../metrics/invocations.ts";
import { reportFailure } from "./failures.ts";

/**
 * One call as the core counts and logs it, for Invoke and InvokeStream alike: made when the core
 * has a valid id, ended exactly once — `succeeded`, `failed` (counted by the REST status of the
 * error, and logged with the request id) or `abandoned` (the caller stopped reading a stream:
 * counted as cancelled). A call naming no function is not counted (see InvocationRecorder.unknown).
 */
export class CallRecord {
  private readonly start = performance.now();
  private readonly calls: FunctionCalls | undefined;
  private ended = false;

  constructor(
    private readonly metrics: AgentMetrics | undefined,
    private readonly logger: Logger | undefined,
    private readonly id: string,
    private readonly requestId: string,
  ) {
    this.calls = metrics?.invocations.begin(id);
  }

  /** Ends the call as a success; returns the seconds it took. */
  succeeded(coldStart: boolean): number {
    const seconds = (performance.now() - this.start) / 1000;
    if (this.ended) return seconds;
    this.ended = true;
    const { metrics, calls } = this;
    if (metrics && calls) {
      metrics.invocations.succeeded(calls, seconds, coldStart);
      if (coldStart) metrics.coldStart(calls);
    }
    return seconds;
  }

  /** Ends the call as a failure with `error`, which is logged once (reportFailure). */
  failed(error: unknown): void {
    if (this.ended) return;
    this.ended = true;
    const seconds = (performance.now() - this.start) / 1000;
    const { metrics, calls } = this;
    const status = metrics?.statusOf(error);
    if (metrics && calls) {
      if (isFaasError(error) && error.reason === "FUNCTION_NOT_FOUND") metrics.invocations.unknown(calls);
      else metrics.invocations.failed(calls, status!, seconds);
    }
    reportFailure(this.logger, error, "invoke failed", { function: this.id, requestId: this.requestId, status, seconds });
  }

  /** Ends a call whose caller went away before its end (a stream not read to the end); no-op once ended. */
  abandoned(): void {
    if (!this.ended) this.failed(new FaasError("cancelled", "the caller stopped reading the result stream", { reason: "CANCELLED" }));
  }
}

/**
 * One deploy as the core counts and logs it: made when the deploy starts (after validation, so a
 * dry run or an invalid request is not a deploy), ended once by the platform's outcome — whether or
 * not anyone still reads the progress stream.
 */
export class DeployRecord {
  private readonly start = performance.now();

  constructor(
    private readonly metrics: AgentMetrics | undefined,
    private readonly logger: Logger | undefined,
    private readonly id: string,
    private readonly requestId: string,
  ) {}

  succeeded(): void {
    this.metrics?.deployFinished("success", (performance.now() - this.start) / 1000);
  }

  /** The deploy failed with `error`; `callerGone` when its caller went away (counted as cancelled). */
  failed(error: unknown, callerGone: boolean): void {
    const seconds = (performance.now() - this.start) / 1000;
    const cancelled = callerGone || (isFaasError(error) && error.reason === "CANCELLED");
    this.metrics?.deployFinished(cancelled ? "cancelled" : "failure", seconds);
    reportFailure(this.logger, error, cancelled ? "deploy cancelled" : "deploy failed", { function: this.id, requestId: this.requestId, seconds });
  }
}
