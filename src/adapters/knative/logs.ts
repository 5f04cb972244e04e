import type { LogLine, LogsOptions } from "../../domain/types.ts";
import { readLines } from "../kit/lines.ts";
import { parseTimestamped } from "../kit/timestamps.ts";
import type { ServingApi } from "./api.ts";

/**
 * The log lines of a function's newest pod (label `serving.knative.dev/service=<id>`, container
 * `user-container`), read through the pods/log API with timestamps: the last `tail` lines (all
 * when 0), then, with `follow`, new lines until `signal` aborts. No pod = no lines.
 */
export async function* serviceLogs(api: ServingApi, id: string, options: LogsOptions, signal: AbortSignal): AsyncIterable<LogLine> {
  const pods = await api.listPods(`serving.knative.dev/service=${id}`);
  const pod = pods.find((p) => p.phase === "Running") ?? pods[0];
  if (!pod) return;
  const stream = await api.podLog(pod.name, "user-container", { follow: options.follow, tailLines: options.tail > 0 ? options.tail : undefined }, signal);
  for await (const raw of readLines(stream, signal)) yield parseTimestamped(raw);
}
