import type { FunctionInfo, RevisionInfo, TrafficTarget } from "../../domain/types.ts";
import { label } from "../kit/labels.ts";
import type { KnativeService } from "./service.ts";

/** One entry of status.conditions. */
export interface Condition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

/** The outcome of a rollout, by Knative's done-ness test (Service.IsReady / IsFailed). */
export type Rollout = { done: false } | { done: true; ready: true } | { done: true; ready: false; reason: string; message: string };

/** The Service's condition of `type`, if any. */
export function condition(svc: KnativeService, type: string): Condition | undefined {
  return (svc.status?.conditions as Condition[] | undefined)?.find((c) => c.type === type);
}

/**
 * Ready=False reasons that only say a reconciler has not caught up with a new generation yet and
 * are always overwritten: knative/pkg @ 521cb33b33dd reconciler/reconcile_common.go:68-71 marks Ready
 * "NewObservedGenFailure" (False while a dependent is still False), and the Service reconciler
 * marks "OutOfDate" until its Configuration or Route has observed the change
 * (knative/serving @ 98e5ef90aa70 pkg/apis/serving/v1/service_lifecycle.go:85-87, :124-126).
 */
export const TRANSIENT_REASONS: ReadonlySet<string> = new Set(["NewObservedGenFailure", "OutOfDate"]);

/**
 * Done when status.observedGeneration == metadata.generation and Ready is True or False, except a
 * False for one of the TRANSIENT_REASONS (not done).
 */
export function rollout(svc: KnativeService): Rollout {
  if (svc.status?.observedGeneration !== svc.metadata?.generation) return { done: false };
  const ready = condition(svc, "Ready");
  if (ready?.status === "True") return { done: true, ready: true };
  if (ready?.status === "False" && !TRANSIENT_REASONS.has(ready.reason ?? "")) return { done: true, ready: false, reason: ready.reason ?? "Unknown", message: ready.message ?? "" };
  return { done: false };
}

/** One line per condition, to compare successive states and to report changes. */
export function conditionLines(svc: KnativeService): string[] {
  return ((svc.status?.conditions as Condition[] | undefined) ?? []).map(
    (c) => `${c.type}=${c.status}${c.reason ? ` ${c.reason}` : ""}${c.message ? `: ${c.message}` : ""}`,
  );
}

/** A Revision object's summary, newest first when sorted by the caller. */
export function revisionInfo(rev: KnativeService): RevisionInfo {
  const ready = (rev.status?.conditions as Condition[] | undefined)?.find((c) => c.type === "Ready");
  return {
    name: rev.metadata.name,
    contentHash: label(rev.metadata.labels, "contentHash"),
    image: rev.spec?.containers?.[0]?.image ?? "",
    ready: ready?.status === "True",
    createdAt: new Date(rev.metadata.creationTimestamp ?? 0),
  };
}

/** status.traffic as the domain's TrafficTarget list. */
export function statusTraffic(svc: KnativeService): TrafficTarget[] {
  return ((svc.status?.traffic as Record<string, any>[] | undefined) ?? []).map((t) => ({
    revision: t.revisionName ?? "",
    latest: t.latestRevision === true,
    percent: t.percent ?? 0,
    tag: t.tag ?? "",
    ...(t.url ? { url: t.url } : {}),
  }));
}

/** What the agent reports about a Service and its revisions. */
export function functionInfo(svc: KnativeService, revisions: KnativeService[] | undefined): FunctionInfo {
  const ready = condition(svc, "Ready");
  const state = rollout(svc);
  const created = new Date(svc.metadata.creationTimestamp ?? 0);
  const info: FunctionInfo = {
    id: svc.metadata.name,
    image: svc.spec?.template?.spec?.containers?.[0]?.image ?? "",
    ready: ready?.status === "True",
    state: !state.done ? "deploying" : state.ready ? "ready" : "failed",
    platform: "knative",
    endpoint: svc.status?.url ?? "",
    createdAt: created,
    updatedAt: ready?.lastTransitionTime ? new Date(ready.lastTransitionTime) : created,
    revision: svc.status?.latestReadyRevisionName ?? svc.status?.latestCreatedRevisionName ?? "",
    pythonVersion: label(svc.metadata.labels, "pythonVersion"),
    traffic: statusTraffic(svc),
  };
  if (ready?.status !== "True" && ready?.message) info.message = `${ready.reason ?? ""}: ${ready.message}`;
  if (revisions) {
    info.revisions = revisions.map(revisionInfo).sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.name < b.name ? 1 : -1));
  }
  return info;
}
