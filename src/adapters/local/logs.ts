import { createWriteStream, writeFileSync, type WriteStream } from "node:fs";
import { readFile } from "node:fs/promises";
import type { LogLine } from "../../domain/types.ts";

const KEPT_LINES = 2000;
const REWRITE_BYTES = 4 * 1024 * 1024;

/**
 * A function's output: the last lines in memory for tail and follow, and a JSON-lines file so that
 * they survive an agent restart. The file is rewritten to the kept lines when it grows past a few
 * MiB, so it never grows without bound.
 */
export class FunctionLog {
  private readonly lines: LogLine[] = [];
  private readonly followers = new Set<(line: LogLine) => void>();
  private stream: WriteStream | undefined;
  private bytes = 0;

  constructor(private readonly path: string) {}

  /** Loads the lines kept in the file from a previous run. */
  async load(): Promise<void> {
    const text = await readFile(this.path, "utf8").catch(() => "");
    this.bytes = Buffer.byteLength(text);
    for (const raw of text.split("\n").slice(-KEPT_LINES - 1)) {
      if (!raw) continue;
      try {
        const { t, s, l } = JSON.parse(raw) as { t: string; s: "stdout" | "stderr"; l: string };
        this.lines.push({ time: new Date(t), stream: s, line: l });
      } catch {
        // a torn last line from a crash
      }
    }
    if (this.lines.length > KEPT_LINES) this.lines.splice(0, this.lines.length - KEPT_LINES);
  }

  append(stream: "stdout" | "stderr", line: string): void {
    const entry: LogLine = { time: new Date(), stream, line };
    this.lines.push(entry);
    if (this.lines.length > KEPT_LINES) this.lines.shift();
    const raw = JSON.stringify({ t: entry.time.toISOString(), s: stream, l: line }) + "\n";
    this.bytes += Buffer.byteLength(raw);
    if (this.bytes > REWRITE_BYTES) this.compact();
    else {
      this.stream ??= createWriteStream(this.path, { flags: "a", mode: 0o600 }).on("error", () => {});
      this.stream.write(raw);
    }
    for (const follower of this.followers) follower(entry);
  }

  /** The last `count` lines (all kept when 0). */
  tail(count: number): LogLine[] {
    return count > 0 ? this.lines.slice(-count) : [...this.lines];
  }

  /** Calls `listener` with every new line until the returned function is called. */
  follow(listener: (line: LogLine) => void): () => void {
    this.followers.add(listener);
    return () => this.followers.delete(listener);
  }

  async close(): Promise<void> {
    const stream = this.stream;
    this.stream = undefined;
    if (stream) await new Promise<void>((resolve) => stream.end(resolve));
  }

  /** Rewrites the file to the kept lines (rare: once per few MiB of output). */
  private compact(): void {
    this.stream?.end();
    this.stream = undefined;
    const text = this.lines.map((e) => JSON.stringify({ t: e.time.toISOString(), s: e.stream, l: e.line }) + "\n").join("");
    this.bytes = Buffer.byteLength(text);
    try {
      writeFileSync(this.path, text, { mode: 0o600 });
    } catch {
      // logs are best effort; the function keeps serving
    }
  }
}
