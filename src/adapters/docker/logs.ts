import { PassThrough, type Readable } from "node:stream";
import type Docker from "dockerode";
import { dockerUnavailable } from "../../images/image.ts";
import type { LogLine, LogsOptions } from "../../domain/types.ts";
import { StringDecoder } from "node:string_decoder";
import { BoundedLines, MAX_LINE_BYTES } from "../../runtime/bounded-lines.ts";
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
  // Lines are cut at MAX_LINE_BYTES (and the cut marked) as they arrive: a container that writes
  // one endless line (the engine hands it over in 16 KiB pieces) cannot make the agent buffer it.
  let room = true;
  const splitter = (stream: "stdout" | "stderr") => ({
    decoder: new StringDecoder("utf8"),
    lines: new BoundedLines(MAX_LINE_BYTES, (text) => (room = queue.push(parseTimestamped(text, stream)) && room)),
  });
  const splitters = { stdout: splitter("stdout"), stderr: splitter("stderr") };
  const sink = (stream: "stdout" | "stderr") => {
    const out = new PassThrough();
    out.on("data", (chunk: Buffer) => {
      room = true;
      splitters[stream].lines.push(splitters[stream].decoder.write(chunk));
      if (!room) raw.pause();
    });
    // The last partial lines once demuxStream's PassThrough has delivered what it holds.
    out.on("end", () => {
      splitters[stream].lines.push(splitters[stream].decoder.end());
      splitters[stream].lines.end();
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
