import { StringDecoder } from "node:string_decoder";

/**
 * Splits text that arrives in pieces (a process's output, a log stream, a build's `stream`
 * messages) into complete lines, without their `\n` or `\r\n`. Buffers are decoded as UTF-8 across
 * piece boundaries, so a character split between two chunks is never mangled.
 */
export class LineSplitter {
  private rest = "";
  private readonly decoder = new StringDecoder("utf8");

  /** Feeds a piece; returns the lines it completed. */
  push(piece: string | Buffer): string[] {
    const text = typeof piece === "string" ? piece : this.decoder.write(piece);
    if (!text.includes("\n")) {
      this.rest += text;
      return [];
    }
    const parts = (this.rest + text).split(/\r?\n/);
    this.rest = parts.pop() ?? "";
    return parts;
  }

  /** The last unterminated line, if any (call once the source has ended). */
  flush(): string[] {
    const rest = this.rest + this.decoder.end();
    this.rest = "";
    return rest ? [rest] : [];
  }
}

/**
 * The lines of a chunked source, as they complete; the unterminated last line comes when the
 * source ends. Ends (without error) when `signal` aborts; the source is closed either way, since
 * leaving the loop returns its iterator.
 */
export async function* readLines(source: AsyncIterable<string | Buffer>, signal?: AbortSignal): AsyncIterable<string> {
  const splitter = new LineSplitter();
  try {
    for await (const chunk of source) {
      yield* splitter.push(chunk);
      if (signal?.aborted) return;
    }
  } catch (error) {
    if (signal?.aborted) return;
    throw error;
  }
  yield* splitter.flush();
}

/** The last `keep` lines pushed, oldest first: what an error message quotes of a process's or a deploy's output. */
export class RecentLines {
  private readonly kept: string[] = [];

  constructor(private readonly keep: number) {}

  push(line: string): void {
    this.kept.push(line);
    if (this.kept.length > this.keep) this.kept.shift();
  }

  /** The last `n` lines kept (all of them by default), oldest first. */
  last(n = this.keep): string[] {
    return this.kept.slice(-n);
  }
}
