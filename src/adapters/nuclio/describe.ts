import type { FunctionInfo, LogLine } from "../../domain/types.ts";
import { isManaged as managedLabels, label, LABELS } from "../kit/labels.ts";
import { formatLogEntry, LogCursor } from "./follow.ts";
import { CONTENT_HASH_ANNOTATION, type NuclioFunction } from "./function.ts";

/** Annotations that keep when the agent first deployed a function and this content (Nuclio keeps no such times). */
export const CREATED_AT = LABELS.createdAt;
export const DEPLOYED_AT = LABELS.deployedAt;

/** Whether `fn` carries the agent's managed-by label. */
export function isManaged(fn: NuclioFunction): boolean {
  return managedLabels(fn.metadata.labels);
}

/** A Nuclio function as the agent describes it. */
export function describe(fn: NuclioFunction): FunctionInfo {
  const state = fn.status?.state ?? "unknown";
  const annotations = fn.metadata.annotations ?? {};
  const updated = new Date(annotations[DEPLOYED_AT] ?? Date.now());
  const internal = fn.status?.internalInvocationUrls?.[0];
  const ready = state === "ready" || state === "scaledToZero";
  return {
    id: fn.metadata.name,
    image: fn.status?.containerImage ?? "",
    ready,
    state,
    platform: "nuclio",
    endpoint: internal ? `http://${internal}` : "",
    createdAt: new Date(annotations[CREATED_AT] ?? updated.toISOString()),
    updatedAt: updated,
    // Functions deployed before the hash moved to an annotation still carry it as a (create-time) label.
    revision: annotations[CONTENT_HASH_ANNOTATION] ?? label(fn.metadata.labels, "contentHash"),
    pythonVersion: (fn.spec.runtime ?? "").replace(/^python:?/, ""),
    ...(ready || !fn.status?.message ? {} : { message: fn.status.message }),
  };
}

/** The dashboard's deploy log of `fn` (status.logs, then status.message when it failed) as log lines. */
export function deployLog(fn: NuclioFunction): LogLine[] {
  const lines: LogLine[] = new LogCursor().fresh(fn.status?.logs ?? []).map((entry) => ({
    time: new Date(Number(entry.time) || Date.now()),
    stream: entry.level === "error" || entry.level === "warn" ? "stderr" : "stdout",
    line: formatLogEntry(entry),
  }));
  const state = fn.status?.state ?? "";
  if (fn.status?.message && (state === "error" || state === "unhealthy")) {
    for (const line of fn.status.message.split("\n")) lines.push({ time: new Date(), stream: "stderr", line });
  }
  return lines;
}
