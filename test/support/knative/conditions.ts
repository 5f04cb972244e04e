import type { Obj } from "./store.ts";

/** Where a revision's rollout stands. */
export type RevisionState = { phase: "pending" } | { phase: "ready" } | { phase: "failed"; reason: string; message: string };

interface Condition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

/** A Revision's conditions (ContainerHealthy, Ready, ResourcesAvailable), sorted by type. */
export function revisionConditions(state: RevisionState): Condition[] {
  const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  if (state.phase === "ready") {
    return ["ContainerHealthy", "Ready", "ResourcesAvailable"].map((type) => ({ type, status: "True", lastTransitionTime: now }));
  }
  if (state.phase === "pending") {
    return [
      { type: "ContainerHealthy", status: "Unknown", lastTransitionTime: now },
      { type: "Ready", status: "Unknown", reason: "Deploying", lastTransitionTime: now },
      { type: "ResourcesAvailable", status: "Unknown", reason: "Deploying", lastTransitionTime: now },
    ];
  }
  // ExitCode/ContainerMissing fail the container; image pull back-off fails the resources.
  const failed: Condition = { type: "", status: "False", reason: state.reason, message: state.message, lastTransitionTime: now };
  const containerFailure = state.reason.startsWith("ExitCode") || state.reason === "ContainerMissing";
  return [
    containerFailure ? { ...failed, type: "ContainerHealthy" } : { type: "ContainerHealthy", status: "Unknown", lastTransitionTime: now },
    { ...failed, type: "Ready" },
    containerFailure ? { type: "ResourcesAvailable", status: "Unknown", lastTransitionTime: now } : { ...failed, type: "ResourcesAvailable" },
  ];
}

/**
 * A Service's status as Knative's reconcilers leave it (platform-apis.md §A2): Configuration first
 * (latest created revision pending → Unknown, failed → RevisionFailed), then Route (every traffic
 * target must resolve to a ready revision, else RevisionMissing), Ready as the living condition
 * over both (the Route's reason wins when both are not True), conditions sorted by type, `url`
 * always, `address` and `traffic` only when the route is ready.
 */
export function computeServiceStatus(svc: Obj, latestCreated: string, states: Map<string, RevisionState>, created: Map<string, string>, domain: string): Obj {
  const name = svc.metadata.name as string;
  const ns = svc.metadata.namespace as string;
  const previous = new Map(((svc.status?.conditions ?? []) as Condition[]).map((c) => [c.type, c]));
  const latestState = states.get(latestCreated) ?? { phase: "pending" };
  const ready = [...states.entries()].filter(([, s]) => s.phase === "ready").map(([n]) => n);
  ready.sort((a, b) => (created.get(a) ?? "").localeCompare(created.get(b) ?? ""));
  const latestReady = latestState.phase === "ready" ? latestCreated : ready.at(-1);

  let config: Condition;
  if (latestState.phase === "ready") config = { type: "ConfigurationsReady", status: "True" };
  else if (latestState.phase === "pending") config = { type: "ConfigurationsReady", status: "Unknown" };
  else config = { type: "ConfigurationsReady", status: "False", reason: "RevisionFailed", message: `Revision "${latestCreated}" failed with message: ${latestState.message}.` };

  let route: Condition = { type: "RoutesReady", status: "True" };
  const traffic: Obj[] = [];
  // A tag's host is `{tag}-{name}.{ns}.{domain}` (tag-template); a label over 63 characters fails the
  // Route with ErrorConfig (knative/serving @ 98e5ef90aa70 pkg/reconciler/route/domains/domains.go:136-139,
  // route.go:124-125 MarkRevisionTargetTrafficError(errorConfigMsg, ...); message as in route/table_test.go:2050).
  for (const t of (svc.spec.traffic ?? []) as Obj[]) {
    const label = t.tag ? `${t.tag}-${name}` : name;
    if (label.length > 63) {
      const host = `${label}.${ns}.${domain}`;
      route = { type: "RoutesReady", status: "False", reason: "ErrorConfig", message: `domain name error: invalid domain name "${host}": url: Invalid value: "${label}": must be no more than 63 characters` };
    }
  }
  for (const t of route.status === "True" ? ((svc.spec.traffic ?? []) as Obj[]) : []) {
    const target = t.latestRevision ? latestReady : (t.revisionName as string);
    const state = target ? states.get(target) : undefined;
    if (!target && t.latestRevision) {
      route = latestState.phase === "failed"
        ? { type: "RoutesReady", status: "False", reason: "RevisionMissing", message: `Configuration "${name}" does not have any ready Revision.` }
        : { type: "RoutesReady", status: "Unknown", reason: "RevisionMissing", message: `Configuration "${name}" is waiting for a Revision to become ready.` };
      break;
    }
    if (!state) {
      route = { type: "RoutesReady", status: "False", reason: "RevisionMissing", message: `Revision "${target}" referenced in traffic not found.` };
      break;
    }
    if (state.phase !== "ready") {
      route = state.phase === "failed"
        ? { type: "RoutesReady", status: "False", reason: "RevisionMissing", message: `Revision "${target}" failed to become ready.` }
        : { type: "RoutesReady", status: "Unknown", reason: "RevisionMissing", message: `Revision "${target}" is not yet ready.` };
      break;
    }
    traffic.push({
      ...(t.tag ? { tag: t.tag } : {}),
      revisionName: target,
      latestRevision: !!t.latestRevision,
      percent: t.percent ?? 0,
      ...(t.tag ? { url: `http://${t.tag}-${name}.${ns}.${domain}` } : {}),
    });
  }

  // Ready: the Route's state when it is not True (it is propagated last), else the Configuration's.
  const source = route.status === "False" ? route : config.status === "False" ? config : route.status === "Unknown" ? route : config;
  const readyCond: Condition = source.status === "True" ? { type: "Ready", status: "True" } : { ...source, type: "Ready" };
  const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const conditions = [config, readyCond, route].map((c) => {
    const before = previous.get(c.type);
    const same = before && before.status === c.status && before.reason === c.reason && before.message === c.message;
    return { ...c, lastTransitionTime: same ? before.lastTransitionTime : now };
  });
  conditions.sort((a, b) => a.type.localeCompare(b.type));

  const status: Obj = { observedGeneration: svc.metadata.generation, conditions, latestCreatedRevisionName: latestCreated, url: `http://${name}.${ns}.${domain}` };
  if (latestReady) status.latestReadyRevisionName = latestReady;
  if (route.status === "True") {
    status.address = { url: `http://${name}.${ns}.svc.cluster.local` };
    status.traffic = traffic;
  }
  return status;
}

/**
 * Knative's living condition set for a Service (happy = Ready; dependents ConfigurationsReady and
 * RoutesReady), applied to a list of conditions in place: knative/pkg @ 521cb33b33dd
 * apis/condition_set.go. Only what the reconcilers' first steps need.
 */
export class ServiceConditions {
  private static readonly dependents = ["ConfigurationsReady", "RoutesReady"];
  constructor(readonly conditions: Condition[]) {}

  get(type: string): Condition | undefined {
    return this.conditions.find((c) => c.type === type);
  }

  /** condition_set.go MarkUnknown (:354-392): a False dependent turns the happy condition False instead. */
  markUnknown(type: string, reason: string, message: string): void {
    this.set({ type, status: "Unknown", reason, message });
    let dependent = false;
    for (const d of ServiceConditions.dependents) {
      if (this.get(d)?.status === "False") {
        if (this.get("Ready")?.status !== "False") this.markFalse("Ready", reason, message);
        return;
      }
      if (d === type) dependent = true;
    }
    if (dependent) this.set({ type: "Ready", status: "Unknown", reason, message });
  }

  /** condition_set.go MarkFalse (:395): the condition and, for a dependent, the happy one. */
  markFalse(type: string, reason: string, message: string): void {
    this.set({ type, status: "False", reason, message });
    if (ServiceConditions.dependents.includes(type)) this.set({ type: "Ready", status: "False", reason, message });
  }

  /** condition_set.go SetCondition: replaces by type, keeps the transition time of an unchanged condition, sorts by type. */
  private set(c: Condition): void {
    const i = this.conditions.findIndex((x) => x.type === c.type);
    const before = i >= 0 ? this.conditions[i] : undefined;
    const same = before && before.status === c.status && before.reason === c.reason && before.message === c.message;
    const next = { ...c, lastTransitionTime: same ? before.lastTransitionTime : new Date().toISOString().replace(/\.\d+Z$/, "Z") };
    if (i >= 0) this.conditions[i] = next;
    else this.conditions.push(next);
    this.conditions.sort((a, b) => a.type.localeCompare(b.type));
  }
}

/**
 * The status a Service shows right after an update, before its Configuration has caught up: the
 * generated reconciler's PreProcessReconcile marks Ready Unknown "NewObservedGenFailure" (knative/pkg
 * reconciler/reconcile_common.go:68-71), which becomes False while a dependent is still False; the
 * Service reconciler then marks ConfigurationsReady Unknown "OutOfDate" and, with a BYO revision
 * name, returns before touching the Route (pkg/reconciler/service/service.go:83-92;
 * service_lifecycle.go:85-87); PostProcessReconcile bumps observedGeneration (reconcile_common.go:82).
 */
export function newGenerationStatus(svc: Obj): Obj {
  const status = structuredClone(svc.status ?? {}) as Obj;
  const set = new ServiceConditions((status.conditions ?? []) as Condition[]);
  set.markUnknown("Ready", "NewObservedGenFailure", "unsuccessfully observed a new generation");
  set.markUnknown("ConfigurationsReady", "OutOfDate", "The Configuration is still working to reflect the latest desired specification.");
  return { ...status, conditions: set.conditions, observedGeneration: svc.metadata.generation };
}
