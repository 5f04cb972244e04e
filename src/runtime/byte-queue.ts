/**
 * Bytes received and not yet consumed, kept as the chunks they arrived in. Taking a message copies
 * its bytes once (or not at all when it lies in one chunk), so reassembling a message of n bytes
 * costs O(n) however many chunks it came in — never a copy of everything buffered per chunk.
 */
export class ByteQueue {
  private chunks: Buffer[] = [];
  private head = 0;
  private bytes = 0;

  /** Bytes held. */
  get length(): number {
    return this.bytes;
  }

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
  }

  /** The first `n` bytes (n <= length) without consuming them; meant for small headers. */
  peek(n: number): Buffer {
    const first = this.chunks[this.head]!;
    if (first.length >= n) return first.subarray(0, n);
    return this.copy(n, false);
  }

  /** Removes and returns the first `n` bytes (n <= length). */
  take(n: number): Buffer {
    const first = this.chunks[this.head];
    if (first && first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.shift();
      else this.chunks[this.head] = first.subarray(n);
      this.bytes -= n;
      return out;
    }
    return this.copy(n, true);
  }

  private copy(n: number, consume: boolean): Buffer {
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    let index = this.head;
    while (filled < n) {
      const chunk = this.chunks[index]!;
      const want = Math.min(n - filled, chunk.length);
      chunk.copy(out, filled, 0, want);
      filled += want;
      if (consume) {
        if (want === chunk.length) {
          this.shift();
          index = this.head;
        } else {
          this.chunks[index] = chunk.subarray(want);
        }
      } else {
        index++;
      }
    }
    if (consume) this.bytes -= n;
    return out;
  }

  private shift(): void {
    this.chunks[this.head] = undefined as unknown as Buffer;
    this.head++;
    // Compact now and then so the array does not grow with every chunk ever received.
    if (this.head > 1024 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.head = 0;
    }
  }
}
