import type { LogLine } from "../../domain/types.ts";

/**
 * A log line as the Docker engine (`timestamps=true`) and the Kubernetes pods/log API
 * (`timestamps=true`) write it: an RFC 3339 time, one space, the text. A line without a readable
 * time is kept whole, stamped with the time it was read.
 */
export function parseTimestamped(text: string, stream: LogLine["stream"] = "stdout"): LogLine {
  const space = text.indexOf(" ");
  const time = space > 0 ? new Date(text.slice(0, space)) : new Date(Number.NaN);
  if (Number.isNaN(time.getTime())) return { time: new Date(), stream, line: text };
  return { time, stream, line: text.slice(space + 1) };
}
