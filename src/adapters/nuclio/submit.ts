import { FaasError } from "../../domain/errors.ts";
import { dashboardError, type Dashboard } from "./dashboard.ts";
import { isManaged } from "./describe.ts";
import { getFunction, sleep, TERMINAL_STATES } from "./follow.ts";
import { PROJECT_LABEL, type NuclioFunction } from "./function.ts";

/** Where the agent's functions live on Nuclio, and how long a dashboard request may take. */
export interface NuclioSite {
  dashboard: Dashboard;
  namespace: string;
  project: string;
  /** Bounds each dashboard request and the waits for a deploy under way (NUCLIO_TIMEOUT). */
  timeoutMs: number;
}

/**
 * Creates (POST) or replaces (PUT) function `id`. A function created meanwhile by this agent is
 * replaced, anyone else's is refused (already_exists); a deploy under way (412) is waited for, at
 * most `timeoutMs`; a 412 that waiting would not change (a reserved name, no such project) fails
 * at once; 400 is invalid_argument on `id`.
 */
export async function submitFunction(site: NuclioSite, id: string, body: NuclioFunction, exists: boolean, log: (line: string) => void, signal: AbortSignal): Promise<void> {
  const { dashboard, timeoutMs } = site;
  let update = exists;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = update
      ? await dashboard.call("PUT", `api/functions/${encodeURIComponent(id)}`, { body, signal, timeoutMs })
      : await dashboard.call("POST", "api/functions", { body, signal, timeoutMs });
    if (res.status === 202 || res.status === 200 || res.status === 201 || res.status === 204) return;
    if (res.status === 409 && !update) {
      // Created meanwhile (the duplicate check is by name and namespace only: function.go:128-145).
      // Replace it only if it is this agent's, in this project; never someone else's.
      const created = await getFunction(dashboard, id, signal, { anyProject: true });
      if (created) assertOwned(site, created);
      update = true;
      continue;
    }
    if (res.status === 412) {
      const message = dashboardError(res);
      const refused = preconditionRefusal(id, message, site);
      if (refused) throw refused;
      if (Date.now() >= deadline) throw inProgress(id, message);
      log(`Nuclio is still provisioning function ${id}; waiting for it to finish`);
      await sleep(500, signal);
      continue;
    }
    if (res.status === 400) {
      throw new FaasError("invalid_argument", `Nuclio refused function "${id}": ${dashboardError(res)}`, { reason: "INVALID_REQUEST", metadata: { field: "id" } });
    }
    throw platformError(`${update ? "update" : "create"} function "${id}"`, res.status, dashboardError(res));
  }
}

/** Deletes function `id`; one being provisioned (412) is retried until `timeoutMs`, then DEPLOY_IN_PROGRESS. */
export async function deleteFunction(site: NuclioSite, id: string, signal: AbortSignal): Promise<void> {
  const { dashboard, timeoutMs } = site;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await dashboard.call("DELETE", "api/functions", { body: { metadata: { name: id, namespace: site.namespace } }, signal, timeoutMs });
    if (res.status === 204 || res.status === 200 || res.status === 404) return;
    if (res.status === 412 && Date.now() < deadline) {
      await sleep(500, signal); // being provisioned: Nuclio refuses until that ends
      continue;
    }
    if (res.status === 412) throw inProgress(id, dashboardError(res));
    throw platformError(`delete function "${id}"`, res.status, dashboardError(res));
  }
}

/** Waits (at most NUCLIO_TIMEOUT) until a deploy someone else started has finished. */
export async function waitProvisioned(site: NuclioSite, id: string, log: (line: string) => void, signal: AbortSignal): Promise<NuclioFunction | undefined> {
  log(`Nuclio is still provisioning function ${id}; waiting for it to finish`);
  const deadline = Date.now() + site.timeoutMs;
  for (;;) {
    const fn = await getFunction(site.dashboard, id, signal, { anyProject: true });
    if (!fn || TERMINAL_STATES.has(fn.status?.state ?? "")) return fn;
    if (Date.now() >= deadline) throw inProgress(id, `state ${fn.status?.state}`);
    await sleep(250, signal);
  }
}

/** Whether `fn` was deployed by this agent into its project. */
export function owns(site: NuclioSite, fn: NuclioFunction): boolean {
  return isManaged(fn) && (fn.metadata.labels?.[PROJECT_LABEL] ?? "default") === site.project;
}

/** Throws already_exists, saying whose it is, unless this agent owns `fn`. */
export function assertOwned(site: NuclioSite, fn: NuclioFunction): void {
  if (owns(site, fn)) return;
  const project = fn.metadata.labels?.[PROJECT_LABEL] ?? "default";
  const whose = isManaged(fn) ? `belongs to project "${project}"` : `was not deployed by this agent (project "${project}")`;
  throw new FaasError("already_exists", `Nuclio function "${fn.metadata.name}" exists in namespace ${site.namespace} and ${whose}; Nuclio names are unique per namespace, so choose another id`, {
    reason: "INVALID_REQUEST",
    metadata: { field: "id" },
  });
}

/** The dashboard failed (any status it should not answer) as unavailable PLATFORM_UNAVAILABLE. */
export function platformError(what: string, status: number, message: string): FaasError {
  return new FaasError("unavailable", `the Nuclio dashboard could not ${what} (HTTP ${status}): ${message}`, { reason: "PLATFORM_UNAVAILABLE" });
}

/**
 * The 412s that are not "being provisioned": a reserved name (abstract/platform.go:444-447) and a
 * project that does not exist (:1616). Waiting would not change either.
 */
function preconditionRefusal(id: string, message: string, site: { project: string; namespace: string }): FaasError | undefined {
  if (/is reserved and cannot be used/.test(message)) {
    return new FaasError("invalid_argument", `Nuclio refused function "${id}": ${message}`, { reason: "INVALID_REQUEST", metadata: { field: "id" } });
  }
  if (/Project does not exist/i.test(message)) {
    return new FaasError("failed_precondition", `Nuclio project "${site.project}" does not exist in namespace ${site.namespace}: create it (nuctl create project ${site.project}) or set NUCLIO_PROJECT`, {
      reason: "DEPLOY_FAILED",
      metadata: { platform_reason: "ProjectNotFound" },
    });
  }
  return undefined;
}

function inProgress(id: string, detail: string): FaasError {
  return new FaasError("failed_precondition", `Nuclio is still provisioning function "${id}" (${detail}); try again when that deploy has finished`, {
    reason: "DEPLOY_IN_PROGRESS",
    metadata: { function_id: id },
  });
}
