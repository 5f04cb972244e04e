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
  for (const t of (svc.spec.traffic ?? []) as Obj[]) {
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
