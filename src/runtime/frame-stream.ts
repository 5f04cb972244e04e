import { AsyncQueue } from "../adapters/kit/queue.ts";
import type { FaasError } from "../domain/errors.ts";

/**
 * The agent's side of one stream call on a FrameChannel (faas_runtime.py's docstring, kinds 3 and
 * 4, statuses 5 and 6): chunks the runtime sends are buffered until the reader takes them, and
 * the runtime may send only `windowBytes` of chunks the reader has not taken (credit frames give
 * back what it took), so a slow reader pauses the generator and the agent holds at most one
 * window plus one chunk per stream, however fast the generator is.
 */
export class StreamSink {
  /** Chunks and their framed sizes; never more than a window's worth (the runtime keeps to it). */
  private readonly queue = new AsyncQueue<[string, number]>({ highWaterMark: Number.MAX_SAFE_INTEGER });
  /** Bytes of chunks received that no credit frame has given back yet. */
  private uncredited = 0;
  /** Bytes the reader took since the last credit frame. */
  private taken = 0;
  private timer: NodeJS.Timeout | undefined;
  private done = false;

  constructor(
    readonly windowBytes: number,
    private readonly timeoutMs: number,
    /** Sends a credit frame of `bytes`. */
    private readonly credit: (bytes: number) => void,
    /** Gives the call up (timeout, cancel, reader gone): sends a cancel frame, fails the reader with `error`. */
    private readonly abandon: (error: FaasError | undefined) => void,
    private readonly timeoutError: () => FaasError,
  ) {
    this.arm();
  }

  /** One chunk's JSON text arrived (its size in bytes as framed). */
  chunk(text: string, bytes: number): void {
    this.uncredited += bytes;
    this.queue.push([text, bytes]);
    // The function is on the clock only while it may send: not while it waits for credit.
    if (this.uncredited >= this.windowBytes) this.disarm();
    else this.arm();
  }

  /** The stream ended: successfully (no error) or with the error of its failure frame. */
  end(error?: unknown): void {
    this.done = true;
    this.disarm();
    this.queue.end(error);
  }

  /** The chunks, as the reader takes them; leaving early gives the call up. */
  async *read(): AsyncGenerator<string> {
    try {
      for await (const [text, bytes] of this.queue) {
        yield text;
        this.took(bytes);
      }
    } finally {
      if (!this.done) {
        this.done = true;
        this.disarm();
        this.abandon(undefined);
      }
    }
  }

  private took(bytes: number): void {
    if (this.done) return;
    this.taken += bytes;
    // Credit in quarters of the window: few frames, and the runtime never runs dry while we read.
    if (this.taken * 4 >= this.windowBytes) {
      this.uncredited -= this.taken;
      this.credit(this.taken);
      this.taken = 0;
      this.arm();
    }
  }

  private arm(): void {
    this.disarm();
    this.timer = setTimeout(() => {
      if (this.done) return;
      this.done = true;
      this.abandon(this.timeoutError());
    }, this.timeoutMs);
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
