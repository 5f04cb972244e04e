import { PassThrough, type Readable } from "node:stream";
import type Docker from "dockerode";
import { dockerUnavailable } from "../../build/image.ts";
import type { LogLine, LogsOptions } from "../../domain/types.ts";
import { LineSplitter } from "../../build/progress.ts";

/**
 * A container's output lines, read from the engine's logs API (timestamps on): the last
 * `options.tail` lines (0 = all), then, with `follow`, new lines until `signal` aborts or the
 * container goes away. The engine connection is closed in `finally`.
 */
export async function* containerLogs(docker: Docker, containerId: string, options: LogsOptions, signal: AbortSignal): AsyncIterable<LogLine> {
  let raw: Readable;
  try {
    const params = { stdout: true, stderr: true, timestamps: true, tail: options.tail > 0 ? options.tail : "all", abortSignal: signal };
    raw = options.follow
      ? ((await docker.getContainer(containerId).logs({ ...params, follow: true } as never)) as unknown as Readable)
      : bufferStream((await docker.getContainer(containerId).logs({ ...params, follow: false } as never)) as unknown as Buffer);
  } catch (error) {
    if (signal.aborted) return;
    throw dockerUnavailable(error);
  }
  const queue: LogLine[] = [];
  let ended = false;
  let wake: (() => void) | undefined;
  const splitters = { stdout: new LineSplitter(), stderr: new LineSplitter() };
  const sink = (stream: "stdout" | "stderr") => {
    const out = new PassThrough();
    out.on("data", (chunk: Buffer) => {
      for (const text of splitters[stream].push(chunk.toString("utf8"))) queue.push(parseLine(stream, text));
      wake?.();
    });
    return out;
  };
  docker.modem.demuxStream(raw, sink("stdout"), sink("stderr"));
  const finish = () => {
    ended = true;
    wake?.();
  };
  raw.on("end", finish);
  raw.on("close", finish);
  raw.on("error", finish);
  const onAbort = () => raw.destroy();
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    while (true) {
      if (queue.length > 0) {
        yield* queue.splice(0, queue.length);
        continue;
      }
      if (ended || signal.aborted) break;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
    // Let demuxStream's PassThroughs deliver what they still hold before the last partial lines.
    await new Promise((resolve) => setImmediate(resolve));
    yield* queue.splice(0, queue.length);
    for (const stream of ["stdout", "stderr"] as const) for (const text of splitters[stream].flush()) yield parseLine(stream, text);
  } finally {
    signal.removeEventListener("abort", onAbort);
    raw.destroy();
  }
}

/** A line `2024-01-01T00:00:00.123456789Z text` as the engine writes it with timestamps on. */
function parseLine(stream: "stdout" | "stderr", text: string): LogLine {
  const space = text.indexOf(" ");
  const time = space > 0 ? new Date(text.slice(0, space)) : new Date(Number.NaN);
  if (Number.isNaN(time.getTime())) return { time: new Date(), stream, line: text };
  return { time, stream, line: text.slice(space + 1) };
}

function bufferStream(buffer: Buffer): Readable {
  const stream = new PassThrough();
  stream.end(buffer);
  return stream;
}
