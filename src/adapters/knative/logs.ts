import { createInterface } from "node:readline";
import type { LogLine, LogsOptions } from "../../domain/types.ts";
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
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  try {
    for await (const raw of lines) {
      if (signal.aborted) return;
      const space = raw.indexOf(" ");
      const time = space > 0 ? new Date(raw.slice(0, space)) : new Date(Number.NaN);
      if (Number.isNaN(time.getTime())) yield { time: new Date(), stream: "stdout", line: raw };
      else yield { time, stream: "stdout", line: raw.slice(space + 1) };
    }
  } finally {
    lines.close();
  }
}
