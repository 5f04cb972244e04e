/** How an AsyncQueue buffers what its producer pushes ahead of its consumer. */
export interface AsyncQueueOptions {
  /**
   * Items buffered before `push` answers false: a producer that can pause (a socket, a stream)
   * should, until `onDrain` is called. Default 1024.
   */
  highWaterMark?: number;
  /**
   * Hard bound on the buffer: past it the oldest item is dropped (counted in `dropped`), so a
   * producer that cannot pause (a callback) never grows memory without bound. Default 4 × highWaterMark.
   */
  maxItems?: number;
  /** Called when the consumer has taken every buffered item after `push` answered false. */
  onDrain?: () => void;
  /** Ends the iteration (without error) when it aborts; items not yet taken are discarded. */
  signal?: AbortSignal;
}

/**
 * Turns pushes (callbacks, stream events) into one async iterable, for exactly one consumer:
 * items come out in push order, waiting when there are none; `end()` finishes the iteration once
 * the buffer is taken, `end(error)` makes it throw there. Leaving the loop early (break, return,
 * a throw in the consumer) calls `onReturn` so that the producer can stop.
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  /** Items dropped because the buffer reached `maxItems`. */
  dropped = 0;
  private items: T[] = [];
  private head = 0;
  private ended = false;
  private failure: { error: unknown } | undefined;
  private wake: (() => void) | undefined;
  private draining = false;
  private readonly highWaterMark: number;
  private readonly maxItems: number;
  private returnHandlers: Array<() => void> = [];

  constructor(private readonly options: AsyncQueueOptions = {}) {
    this.highWaterMark = options.highWaterMark ?? 1024;
    this.maxItems = options.maxItems ?? this.highWaterMark * 4;
    const signal = options.signal;
    if (signal) {
      if (signal.aborted) this.abort();
      else signal.addEventListener("abort", () => this.abort(), { once: true });
    }
  }

  /** Items buffered and not yet taken. */
  get size(): number {
    return this.items.length - this.head;
  }

  /** Buffers one item; false when the buffer is at its high-water mark (pause until onDrain). */
  push(item: T): boolean {
    if (this.ended) return false;
    this.items.push(item);
    if (this.size > this.maxItems) {
      this.head++;
      this.dropped++;
      if (this.head >= this.maxItems) {
        this.items = this.items.slice(this.head);
        this.head = 0;
      }
    }
    this.wake?.();
    const room = this.size < this.highWaterMark;
    if (!room) this.draining = true;
    return room;
  }

  /** No more items: the iteration ends after the buffered ones, throwing `error` if given. */
  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    if (error !== undefined) this.failure = { error };
    this.wake?.();
  }

  /** Registers `handler` to run once when the consumer stops early or the iteration ends. */
  onReturn(handler: () => void): void {
    this.returnHandlers.push(handler);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    try {
      for (;;) {
        if (this.size > 0) {
          const batch = this.items.slice(this.head);
          this.items = [];
          this.head = 0;
          if (this.draining) {
            this.draining = false;
            this.options.onDrain?.();
          }
          yield* batch;
          continue;
        }
        if (this.ended) break;
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
      }
      if (this.failure) throw this.failure.error;
    } finally {
      this.ended = true;
      const handlers = this.returnHandlers.splice(0);
      for (const handler of handlers) handler();
    }
  }

  private abort(): void {
    this.items = [];
    this.head = 0;
    this.end();
  }
}
