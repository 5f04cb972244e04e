/** Bounds of a FollowBuffer. */
export interface FollowBufferOptions<T> {
  /** Most items buffered for a reader that has fallen behind. */
  maxItems: number;
  /** Most bytes buffered (as `size` weighs items). */
  maxBytes: number;
  /** The weight of one item in bytes. */
  size: (item: T) => number;
  /** The item that stands for `count` items dropped before the ones that follow it. */
  marker: (count: number) => T;
  /** Ends the iteration (without error) when it aborts. */
  signal?: AbortSignal;
}

/**
 * The lines waiting for one follower of a log whose writer cannot pause (a process's output is
 * appended whatever the readers do). A follower slower than the writer gets the newest lines: past
 * `maxItems` or `maxBytes` the oldest buffered ones are dropped, and the next batch it reads starts
 * with one marker item saying how many went, so memory stays bounded however slow the reader is
 * and it still knows that it missed some. For exactly one consumer.
 */
export class FollowBuffer<T> implements AsyncIterable<T> {
  /** Items dropped so far, in total. */
  droppedTotal = 0;
  private items: T[] = [];
  private head = 0;
  private bytes = 0;
  private dropped = 0;
  private ended = false;
  private wake: (() => void) | undefined;

  constructor(private readonly options: FollowBufferOptions<T>) {
    const signal = options.signal;
    if (signal?.aborted) this.abandon();
    else signal?.addEventListener("abort", () => this.abandon(), { once: true });
  }

  /** Items buffered and not yet taken. */
  get length(): number {
    return this.items.length - this.head;
  }

  /** Bytes buffered and not yet taken. */
  get bufferedBytes(): number {
    return this.bytes;
  }

  /** Buffers one item, dropping the oldest ones if that goes over a bound. Never blocks. */
  push(item: T): void {
    if (this.ended) return;
    this.items.push(item);
    this.bytes += this.options.size(item);
    while (this.length > 1 && (this.length > this.options.maxItems || this.bytes > this.options.maxBytes)) {
      this.bytes -= this.options.size(this.items[this.head]);
      // The slot is cleared: a dropped item must not stay alive until the next compaction (up to
      // 1024 of them, which for 64 KiB lines would be 64 MiB past the bound).
      (this.items as Array<T | undefined>)[this.head] = undefined;
      this.head++;
      this.dropped++;
      this.droppedTotal++;
    }
    // Compact now and then so that dropping stays O(1) per item.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    this.wake?.();
  }

  /** No more items: the iteration ends once the buffered ones are taken. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.wake?.();
  }

  /**
   * The reader went away (`signal` aborted): no more items, and the buffered ones are dropped at
   * once, since nobody will take them. Memory is freed even if the reader's consumer never
   * resumes the iteration (a response stuck on a socket that is gone).
   */
  abandon(): void {
    this.end();
    this.items = [];
    this.head = 0;
    this.bytes = 0;
    this.dropped = 0;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    try {
      for (;;) {
        if (this.length > 0 || this.dropped > 0) {
          const batch = this.items.slice(this.head);
          this.items = [];
          this.head = 0;
          this.bytes = 0;
          if (this.dropped > 0) {
            const count = this.dropped;
            this.dropped = 0;
            yield this.options.marker(count);
          }
          yield* batch;
          continue;
        }
        if (this.ended) return;
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
      }
    } finally {
      this.ended = true;
      this.items = [];
      this.head = 0;
      this.bytes = 0;
    }
  }
}
