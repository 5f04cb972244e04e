import { PassThrough, type Readable } from "node:stream";
import type Docker from "dockerode";
import { dockerUnavailable } from "../../images/image.ts";
import type { LogLine, LogsOptions } from "../../domain/types.ts";
import { LineSplitter } from "../kit/lines.ts";
import { AsyncQueue } from "../kit/queue.ts";
import { parseTimestamped } from "../kit/timestamps.ts";

/**
 * A container's output lines, read from the engine's logs API (timestamps on): the last
 * `options.tail` lines (0 = all), then, with `follow`, new lines until `signal` aborts or the
 * container goes away. A reader slower than the container pauses the engine's stream rather than
 * buffering without bound. The engine connection is closed in `finally`.
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
  const queue = new AsyncQueue<LogLine>({ signal, onDrain: () => raw.resume() });
  const splitters = { stdout: new LineSplitter(), stderr: new LineSplitter() };
  const sink = (stream: "stdout" | "stderr") => {
    const out = new PassThrough();
    out.on("data", (chunk: Buffer) => {
      let room = true;
      for (const text of splitters[stream].push(chunk)) room = queue.push(parseTimestamped(text, stream)) && room;
      if (!room) raw.pause();
    });
    // The last partial lines once demuxStream's PassThrough has delivered what it holds.
    out.on("end", () => {
      for (const text of splitters[stream].flush()) queue.push(parseTimestamped(text, stream));
      if (++ended === 2) queue.end();
    });
    return out;
  };
  let ended = 0;
  let finished = false;
  const sinks = { stdout: sink("stdout"), stderr: sink("stderr") };
  docker.modem.demuxStream(raw, sinks.stdout, sinks.stderr);
  const finish = () => {
    if (finished) return;
    finished = true;
    sinks.stdout.end();
    sinks.stderr.end();
  };
  raw.on("end", finish);
  raw.on("close", finish);
  raw.on("error", finish);
  try {
    yield* queue;
  } finally {
    raw.destroy();
  }
}

function bufferStream(buffer: Buffer): Readable {
  const stream = new PassThrough();
  stream.end(buffer);
  return stream;
}
