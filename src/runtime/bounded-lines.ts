/** Longest output line kept (a worker's, a container's); the rest of a longer line is cut and the cut marked. */
export const MAX_LINE_BYTES = 64 * 1024;

/**
 * Splits a stream of text into lines, cutting any line longer than `max` characters: the cut part
 * is dropped as it arrives (never buffered) and the line ends with a marker saying how much went.
 * (The kit's LineSplitter keeps whole lines; a worker's output must be bounded.)
 */
export class BoundedLines {
  private partial = "";
  private dropped = 0;

  constructor(
    private readonly max: number,
    private readonly onLine: (line: string) => void,
  ) {}

  /** Feeds a piece of text; complete lines go to `onLine`. */
  push(chunk: string): void {
    let start = 0;
    for (let nl = chunk.indexOf("\n"); nl >= 0; nl = chunk.indexOf("\n", start)) {
      this.add(chunk.slice(start, nl));
      this.emit();
      start = nl + 1;
    }
    if (start < chunk.length) this.add(chunk.slice(start));
  }

  /** Emits the unterminated last line, if any (call once the source has ended). */
  end(): void {
    if (this.partial || this.dropped) this.emit();
  }

  private add(piece: string): void {
    const room = this.max - this.partial.length;
    if (piece.length <= room) this.partial += piece;
    else {
      if (room > 0) this.partial += piece.slice(0, room);
      this.dropped += piece.length - Math.max(room, 0);
    }
  }

  private emit(): void {
    const line = this.dropped ? `${this.partial} [line cut: ${this.dropped} more characters dropped]` : this.partial;
    this.partial = "";
    this.dropped = 0;
    this.onLine(line);
  }
}
