import { FaasError } from "../domain/errors.ts";

/** Why a deploy's signal aborted, when the agent (not the caller) aborted it. */
export type DeployStop = "timeout" | "deleted";

/**
 * A deploy's own signal: it aborts when the caller goes away, when FAAS_DEPLOY_TIMEOUT passes, or
 * when a delete of the same function cancels it. `error` turns whatever the platform threw once
 * the signal aborted into the precise error for the deploy's caller: DEPLOY_TIMEOUT
 * (deadline_exceeded) after the timeout, CANCELLED naming the delete after a delete, the
 * platform's own error otherwise.
 */
export interface DeployControl {
  readonly signal: AbortSignal;
  error(error: unknown): unknown;
  /** Stops the timer and forgets the deploy (call once it has ended, however). */
  done(): void;
}

/** The deploys running now, per function id, so that a delete can cancel them instead of waiting behind them. */
export class DeployRegistry {
  private readonly running = new Map<string, Set<AbortController>>();
  private readonly stops = new WeakMap<AbortController, DeployStop>();

  /** Registers a deploy of `id` bounded by `timeoutMs` and by the caller's `signal`. */
  start(id: string, timeoutMs: number, signal: AbortSignal): DeployControl {
    const own = new AbortController();
    let set = this.running.get(id);
    if (!set) this.running.set(id, (set = new Set()));
    set.add(own);
    // A timer held here, not AbortSignal.timeout(): Node 20's AbortSignal.any keeps its sources only
    // weakly, so a timeout signal nothing else references can be collected and never fire.
    const timer = setTimeout(() => this.stop(own, "timeout", new DOMException("deploy timed out", "TimeoutError")), timeoutMs);
    const combined = AbortSignal.any([signal, own.signal]);
    return {
      signal: combined,
      error: (error) => {
        const why = this.stops.get(own);
        if (why === "timeout" && !signal.aborted) {
          return new FaasError("deadline_exceeded", `deploy of "${id}" did not finish within ${timeoutMs / 1000} s (FAAS_DEPLOY_TIMEOUT)`, { reason: "DEPLOY_TIMEOUT", cause: error });
        }
        if (why === "deleted") {
          return new FaasError("cancelled", `deploy of "${id}" was cancelled: the function was deleted while it ran`, { reason: "CANCELLED", metadata: { cancelled_by: "delete" }, cause: error });
        }
        return error;
      },
      done: () => {
        clearTimeout(timer);
        const current = this.running.get(id);
        current?.delete(own);
        if (current?.size === 0) this.running.delete(id);
      },
    };
  }

  /** Cancels every deploy of `id` running now; returns how many there were. */
  cancel(id: string): number {
    const set = this.running.get(id);
    if (!set) return 0;
    for (const controller of set) this.stop(controller, "deleted", new DOMException("the function was deleted", "AbortError"));
    return set.size;
  }

  private stop(controller: AbortController, why: DeployStop, reason: DOMException): void {
    if (controller.signal.aborted) return;
    this.stops.set(controller, why);
    controller.abort(reason);
  }
}
