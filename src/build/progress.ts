import { createInterface } from "node:readline";
import type { Readable } from "node:stream";

/** One JSON message of the engine's build or push progress stream. */
export interface ProgressMessage {
  stream?: string;
  status?: string;
  id?: string;
  progress?: string;
  error?: string;
  errorDetail?: { message?: string; code?: number };
  aux?: { ID?: string; Digest?: string; Tag?: string; Size?: number };
}

/**
 * Reads the engine's newline-delimited JSON progress stream as it arrives, handing each message
 * to `onMessage`. Resolves when the stream ends; rejects when it breaks or `signal` aborts (the
 * stream is destroyed, which makes the engine cancel the build or push).
 */
export async function readProgress(stream: Readable, onMessage: (message: ProgressMessage) => void, signal: AbortSignal): Promise<void> {
  const onAbort = () => stream.destroy(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
  if (signal.aborted) onAbort();
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    const lines = createInterface({ input: stream, crlfDelay: Infinity });
    for await (const line of lines) {
      if (line.trim() === "") continue;
      let message: ProgressMessage;
      try {
        message = JSON.parse(line) as ProgressMessage;
      } catch {
        message = { stream: line };
      }
      onMessage(message);
    }
    if (signal.aborted) throw signal.reason;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/** Splits a `stream` text (which may hold several lines or half of one) into complete lines. */
export class LineSplitter {
  private rest = "";

  /** Feeds text; returns the lines it completed, without their newlines. */
  push(text: string): string[] {
    const parts = (this.rest + text).split(/\r?\n/);
    this.rest = parts.pop() ?? "";
    return parts;
  }

  /** The last unterminated line, if any. */
  flush(): string[] {
    const rest = this.rest;
    this.rest = "";
    return rest ? [rest] : [];
  }
}
