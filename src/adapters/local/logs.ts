import { createWriteStream, openSync, renameSync, type WriteStream } from "node:fs";
import { open } from "node:fs/promises";
import type { LogLine } from "../../domain/types.ts";
import { FollowBuffer } from "../kit/follow-buffer.ts";

/** Bounds of a function's log; the defaults suit a function that logs a lot. */
export interface FunctionLogLimits {
  /** Lines kept in memory for tail (and loaded back after a restart). */
  keptLines: number;
  /** Bytes of line text kept in memory. */
  keptBytes: number;
  /** Bytes on disk: the current file and one rotated file, each at most half of it. */
  fileBytes: number;
  /** Longest line kept, in UTF-16 code units (the worker already cuts at this length). */
  lineBytes: number;
  /** Bytes waiting to be written before lines are dropped from the file (a disk slower than the function). */
  pendingWriteBytes: number;
  /** A slow follower's buffer: lines and bytes (older ones are dropped past either). */
  followerLines: number;
  followerBytes: number;
}

export const DEFAULT_LOG_LIMITS: FunctionLogLimits = {
  keptLines: 2000,
  keptBytes: 4 * 1024 * 1024,
  fileBytes: 16 * 1024 * 1024,
  lineBytes: 64 * 1024,
  pendingWriteBytes: 1024 * 1024,
  followerLines: 4096,
  followerBytes: 4 * 1024 * 1024,
};

/** Each record costs its line plus a small JSON envelope. */
const RECORD_OVERHEAD = 64;

/**
 * A function's output: the last lines in memory for tail and follow, and a JSON-lines file so that
 * they survive an agent restart. The file is only ever appended to (asynchronously, O(1) per line);
 * when it reaches half of `fileBytes` it is renamed to `<path>.1` (replacing the older one) and a
 * new one is started, so the two together never hold more than `fileBytes`. A line longer than
 * `lineBytes` is cut and marked; followers that fall behind lose the oldest lines they have not
 * read, with a marker line saying how many.
 */
export class FunctionLog {
  private lines: LogLine[] = [];
  private head = 0;
  private keptBytes = 0;
  private readonly followers = new Set<FollowBuffer<LogLine>>();
  private stream: WriteStream | undefined;
  private fileBytes = 0;
  private unwritten = 0;
  private closed = false;

  constructor(
    private readonly path: string,
    private readonly limits: FunctionLogLimits = DEFAULT_LOG_LIMITS,
  ) {}

  /** Loads the last lines of the files from a previous run (reading only their tails). */
  async load(): Promise<void> {
    const current = await readTail(this.path, this.limits.keptBytes);
    this.fileBytes = current.size;
    const older = current.text.length < this.limits.keptBytes ? await readTail(`${this.path}.1`, this.limits.keptBytes - current.text.length) : { text: "", size: 0 };
    for (const text of [older.text, current.text]) {
      const raws = text.split("\n");
      // A tail read starts inside a record: its first piece is not a whole line.
      if (text.length > 0) raws.shift();
      for (const raw of raws) {
        if (!raw) continue;
        try {
          const { t, s, l } = JSON.parse(raw) as { t: string; s: "stdout" | "stderr"; l: string };
          if (typeof l === "string") this.keep({ time: new Date(t), stream: s === "stderr" ? "stderr" : "stdout", line: l });
        } catch {
          // a torn last line from a crash
        }
      }
    }
  }

  append(stream: "stdout" | "stderr", text: string): void {
    if (this.closed) return;
    const line = text.length > this.limits.lineBytes ? `${text.slice(0, this.limits.lineBytes)} [line cut: ${text.length - this.limits.lineBytes} more characters dropped]` : text;
    const entry: LogLine = { time: new Date(), stream, line };
    this.keep(entry);
    this.write(JSON.stringify({ t: entry.time.toISOString(), s: stream, l: line }) + "\n");
    for (const follower of this.followers) follower.push(entry);
  }

  /** The last `count` lines (all kept when 0). */
  tail(count: number): LogLine[] {
    const kept = this.lines.slice(this.head);
    return count > 0 ? kept.slice(-count) : kept;
  }

  /**
   * A follower's view of the new lines, ending when `signal` aborts or `unfollow` is called. It
   * never blocks the log: a follower that stops reading loses the oldest unread lines past its
   * bound and gets a marker line counting them.
   */
  follow(signal: AbortSignal): { lines: AsyncIterable<LogLine>; unfollow: () => void } {
    const buffer = new FollowBuffer<LogLine>({
      maxItems: this.limits.followerLines,
      maxBytes: this.limits.followerBytes,
      size: (entry) => entry.line.length * 2 + RECORD_OVERHEAD,
      marker: (count) => ({ time: new Date(), stream: "stderr", line: `[faas: ${count} log lines dropped: this reader fell behind]` }),
      signal,
    });
    this.followers.add(buffer);
    const unfollow = () => {
      this.followers.delete(buffer);
      buffer.end();
    };
    return { lines: buffer, unfollow };
  }

  /** Followers attached now (for tests and metrics). */
  get followerCount(): number {
    return this.followers.size;
  }

  /** Bytes of line text held in memory for tail. */
  get memoryBytes(): number {
    return this.keptBytes;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const follower of this.followers) follower.end();
    this.followers.clear();
    const stream = this.stream;
    this.stream = undefined;
    if (stream) await new Promise<void>((resolve) => stream.end(resolve));
  }

  private keep(entry: LogLine): void {
    this.lines.push(entry);
    this.keptBytes += entry.line.length * 2 + RECORD_OVERHEAD;
    while (this.lines.length - this.head > 1 && (this.lines.length - this.head > this.limits.keptLines || this.keptBytes > this.limits.keptBytes)) {
      this.keptBytes -= this.lines[this.head].line.length * 2 + RECORD_OVERHEAD;
      // Cleared, so that a line past the bounds is freed now, not at the next compaction.
      (this.lines as Array<LogLine | undefined>)[this.head] = undefined;
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.lines.length) {
      this.lines = this.lines.slice(this.head);
      this.head = 0;
    }
  }

  /** Appends one record; rotates first when the file is full. Best effort: a failing disk never stops the function. */
  private write(record: string): void {
    const size = Buffer.byteLength(record);
    if (this.fileBytes + size > this.limits.fileBytes / 2 && this.fileBytes > 0) this.rotate();
    if (this.unwritten > this.limits.pendingWriteBytes) return; // the disk is behind: the line stays in memory only
    if (!this.stream) {
      // Opened at once (one system call, rare), so that the stream is bound to this inode before
      // any rotation renames it; createWriteStream would open it later, by path.
      let fd: number;
      try {
        fd = openSync(this.path, "a", 0o600);
      } catch {
        return;
      }
      const stream = createWriteStream("", { fd }).on("error", () => {
        if (this.stream === stream) this.stream = undefined;
      });
      this.stream = stream;
    }
    this.fileBytes += size;
    this.unwritten += size;
    this.stream.write(record, () => {
      this.unwritten -= size;
    });
  }

  /**
   * The current file becomes `<path>.1`. A rename is one metadata operation; the old stream keeps
   * writing what it has into the renamed file (same inode), so no record is lost or reordered.
   */
  private rotate(): void {
    const old = this.stream;
    this.stream = undefined;
    old?.end();
    try {
      renameSync(this.path, `${this.path}.1`);
    } catch {
      // nothing to rotate (never written, or removed): start afresh all the same
    }
    this.fileBytes = 0;
  }
}

/** The last `bytes` of a file as text (empty when it does not exist) and the file's size. */
async function readTail(path: string, bytes: number): Promise<{ text: string; size: number }> {
  let handle;
  try {
    handle = await open(path, "r");
  } catch {
    return { text: "", size: 0 };
  }
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, Math.max(0, bytes));
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    // A whole file starts at a record; mark it so that load() keeps its first line.
    const text = buffer.toString("utf8");
    return { text: length === size ? `\n${text}` : text, size };
  } finally {
    await handle.close();
  }
}
