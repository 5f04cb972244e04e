import { FaasError } from "../../domain/errors.ts";
import type { ServingApi } from "./api.ts";
import type { KnativeService } from "./service.ts";
import { condition, conditionLines, rollout } from "./status.ts";

/** How the agent waits for a rollout. */
export interface RolloutWait {
  api: ServingApi;
  id: string;
  /** The Service's metadata.generation the wait is for. */
  generation: number;
  /** KNATIVE_TIMEOUT in milliseconds. */
  timeoutMs: number;
  /**
   * How long Ready=False must last before it is final (kn's error window: knative/client @ e411e8847
   * pkg/wait/wait_for_ready.go:143-145 and :219-237, 2 s by default). A True or Unknown Ready in
   * the meantime cancels it.
   */
  errorWindowMs: number;
  /** Called with each condition line that changed. */
  report: (line: string) => void;
  signal: AbortSignal;
}

/** Consecutive watches that may end within a second without any event before the API counts as broken. */
const MAX_EMPTY_WATCHES = 100;

/**
 * Watches the Service until the rollout of `generation` is done and returns its last state, or
 * throws: DEPLOY_FAILED (Ready=False that outlived the error window), DEPLOY_TIMEOUT (naming the
 * condition it waited on and the revision's conditions), or the watch's own failure. Watches the
 * API server ends are resumed from the last resourceVersion seen; when that version is no longer
 * in the server's history (410 Expired) the wait starts over from the current state, as client-go's
 * reflector does.
 */
export async function waitForRollout(o: RolloutWait): Promise<KnativeService> {
  const deadline = AbortSignal.any([o.signal, AbortSignal.timeout(o.timeoutMs)]);
  const windowOver = new AbortController();
  const watchSignal = AbortSignal.any([deadline, windowOver.signal]);
  let window: NodeJS.Timeout | undefined;
  let seen = new Set<string>();
  let last: KnativeService | undefined;
  let resourceVersion: string | undefined;
  try {
    for (let empty = 0; ; ) {
      const started = Date.now();
      let events = 0;
      let finished: boolean;
      try {
        finished = await o.api.watchService(
          o.id,
          (event) => {
            events++;
            if (event.type === "ERROR") {
              // 410 Expired/Gone: the version to resume from was compacted away; start from the current state.
              if (event.object?.code === 410) resourceVersion = undefined;
              else throw new FaasError("unavailable", `the watch of Service ${o.id} failed: ${event.object?.message ?? "ERROR event"}`, { reason: "PLATFORM_UNAVAILABLE" });
              return false;
            }
            if (event.type === "DELETED") throw new FaasError("failed_precondition", `Service ${o.id} was deleted during the deploy`, { reason: "DEPLOY_FAILED" });
            const svc = event.object;
            resourceVersion = svc.metadata?.resourceVersion ?? resourceVersion;
            if ((svc.metadata?.generation ?? 0) < o.generation) return false;
            const lines = conditionLines(svc);
            for (const line of lines) if (!seen.has(line)) o.report(line);
            seen = new Set(lines);
            last = svc;
            const state = rollout(svc);
            if (state.done && !state.ready) {
              window ??= setTimeout(() => windowOver.abort(), o.errorWindowMs);
              return false;
            }
            clearTimeout(window);
            window = undefined;
            return state.done;
          },
          watchSignal,
          resourceVersion,
        );
      } catch (error) {
        if (windowOver.signal.aborted && last) throwIfFailed(o.id, last);
        if (deadline.aborted && (deadline.reason as Error)?.name === "TimeoutError") {
          if (last && rollout(last).done) throwIfFailed(o.id, last);
          throw await timeoutError(o, last, error);
        }
        throw error;
      }
      if (finished && last) return last;
      empty = events === 0 && Date.now() - started < 1000 ? empty + 1 : 0;
      if (empty > MAX_EMPTY_WATCHES) throw new FaasError("unavailable", `the watches of Service ${o.id} keep ending without events`, { reason: "PLATFORM_UNAVAILABLE" });
    }
  } finally {
    clearTimeout(window);
  }
}

/** DEPLOY_FAILED with Knative's reason and message when the Service's rollout failed. */
export function throwIfFailed(id: string, svc: KnativeService): void {
  const state = rollout(svc);
  if (state.done && !state.ready) {
    throw new FaasError("failed_precondition", `Knative could not make ${id} ready: ${state.reason}: ${state.message}`, {
      reason: "DEPLOY_FAILED",
      metadata: { platform_reason: state.reason, platform_message: state.message, revision: svc.status?.latestCreatedRevisionName ?? "" },
    });
  }
}

/**
 * DEPLOY_TIMEOUT naming what the rollout was waiting on: the Service's Ready condition and the
 * latest revision's conditions (read once more). Knative reports a pod that cannot start (an image
 * the kubelet cannot pull, a pod that cannot be scheduled) only when the Deployment's progress
 * deadline expires (knative/serving @ 98e5ef90aa70 pkg/reconciler/revision/reconcile_resources.go:127-130;
 * config-deployment progress-deadline, 600 s by default), so below that KNATIVE_TIMEOUT ends first.
 */
async function timeoutError(o: RolloutWait, last: KnativeService | undefined, cause: unknown): Promise<FaasError> {
  const ready = last ? condition(last, "Ready") : undefined;
  const waiting = ready ? `Ready=${ready.status}${ready.reason ? ` ${ready.reason}` : ""}${ready.message ? `: ${ready.message}` : ""}` : "the Service's first status";
  const revision = (last?.status?.latestCreatedRevisionName as string | undefined) ?? "";
  let revisionState = "";
  if (revision) {
    const rev = await o.api.getRevision(revision).catch(() => undefined);
    if (rev) revisionState = `; revision ${revision}: ${conditionLines(rev).join(", ")}`;
  }
  return new FaasError(
    "deadline_exceeded",
    `Service ${o.id} was not ready within ${o.timeoutMs / 1000} s: waiting on ${waiting}${revisionState}. Knative reports pods that cannot start ` +
      "(an image the node cannot pull, a pod that cannot be scheduled) only after the deployment's progress deadline (600 s by default), " +
      "so with KNATIVE_TIMEOUT below it such a deploy ends in DEPLOY_TIMEOUT",
    { reason: "DEPLOY_TIMEOUT", cause, metadata: { waiting_on: "Ready", platform_reason: ready?.reason ?? "", platform_message: ready?.message ?? "", revision } },
  );
}
