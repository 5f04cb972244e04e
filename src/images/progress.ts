import type { Readable } from "node:stream";
import { readLines } from "../adapters/kit/lines.ts";

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
    for await (const line of readLines(stream)) {
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
