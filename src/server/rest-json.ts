import { toJson, type JsonObject } from "@bufbuild/protobuf";
import { FunctionSchema } from "../../gen/faas/v1/agent_pb.ts";
import type { FaasError } from "../domain/errors.ts";
import type { FunctionInfo, RenderedObject } from "../domain/types.ts";
import { toFunctionMessage } from "../service/messages.ts";

/**
 * The JSON the REST routes answer with, in the seed's shapes. A function is the Function message
 * of the RPCs (the one mapping, service/messages.ts) in its proto JSON form with snake_case names,
 * without the fields the seed's listing never had: `status`, and `message`, `revisions`,
 * `traffic` and a share's `url` when they are empty (and the stats' `intervals`, which only Get
 * fills).
 */
export function restFunction(fn: FunctionInfo): JsonObject {
  const json = toJson(FunctionSchema, toFunctionMessage(fn), { useProtoFieldName: true, alwaysEmitImplicit: true }) as JsonObject;
  delete json.status;
  if (!json.message) delete json.message;
  if ((json.revisions as unknown[]).length === 0) delete json.revisions;
  const traffic = json.traffic as JsonObject[];
  if (traffic.length === 0) delete json.traffic;
  for (const share of traffic) if (!share.url) delete share.url;
  const stats = json.stats as JsonObject | undefined;
  if (stats && (stats.intervals as unknown[]).length === 0) delete stats.intervals;
  return json;
}

/** The seed's answer to a deploy: the function's id, image, status, platform, endpoint, revision. */
export function restDeployed(fn: FunctionInfo): JsonObject {
  const f = restFunction(fn);
  return { id: f.id, image: f.image, status: "deployed", platform: f.platform, endpoint: f.endpoint, revision: f.revision };
}

/** A dry run's object the platform would apply, and how the real deploy's would differ. */
export function restDryRun(rendered: RenderedObject): JsonObject {
  return { kind: rendered.kind, object: rendered.object as JsonObject, differences: rendered.differences ?? [] };
}

/** The seed's error body, `{"error": message, "reason": REASON, ...metadata}`. */
export function errorBody(error: FaasError): Record<string, unknown> {
  return { error: error.message, reason: error.reason, ...error.metadata };
}

/** Metadata keys that hold output lines (pip's, a traceback, a worker's stderr). */
const LINE_FIELDS = ["output", "traceback", "last_output"];

/**
 * A failed deploy's body: the error body plus `logs`, the last `max` build-log lines that its
 * fields do not already carry (pip's output is in `output`, an import traceback in `traceback`),
 * so that no line is in the body twice.
 */
export function deployErrorBody(error: FaasError, logs: readonly string[], max = 50): Record<string, unknown> {
  const carried = new Set(LINE_FIELDS.flatMap((key) => (error.metadata[key] ?? "").split("\n")).filter((l) => l.trim() !== ""));
  return { ...errorBody(error), logs: logs.filter((l) => !carried.has(l)).slice(-max) };
}
