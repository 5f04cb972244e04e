import { isUtf8 } from "node:buffer";
import type { Socket } from "node:net";
import type { FaasError } from "../domain/errors.ts";
import { resultTooLarge } from "../domain/payload.ts";
import { ByteQueue } from "./byte-queue.ts";
import { abortError, controlFrame, HEADER_BYTES, protocolError, requestFrame, timeoutError } from "./frame-codec.ts";
import { StreamSink } from "./frame-stream.ts";
import { reasonOfStatus, runtimeError } from "./reasons.ts";

export { abortError, protocolError, timeoutError } from "./frame-codec.ts";

/**
 * The client side of the runtime shim's framed protocol (faas_runtime.py's docstring): calls
 * multiplexed by id on one stream socket, frames written in the same tick leaving in one syscall,
 * results in any order, a cancel frame for a call given up on, and stream calls whose chunks are
 * paced by credit frames (frame-stream.ts). Used over a unix socket for local workers and over TCP
 * (after FRAME_PREFACE) for containers.
 */


const KIND_INVOKE = 1;
const KIND_CANCEL = 2;
const KIND_STREAM = 3;
const KIND_CREDIT = 4;
const STATUS_OK = 0;
const STATUS_CHUNK = 5;
const STATUS_END = 6;
/** Failure statuses 1-4 are runtime/reasons.ts FRAME_STATUS (RESULT_TOO_LARGE: the body is {"size": N}). */
const MAX_STATUS = STATUS_END;
const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;
/** Bytes of chunks a stream's runtime may send ahead of its reader (the agent's memory per stream). */
export const DEFAULT_STREAM_WINDOW_BYTES = 256 * 1024;

/** Sent first on a TCP connection to a container's HTTP port to switch it to frames. */
export const FRAME_PREFACE = Buffer.from("FAAS-FRAMES/1\r\n", "latin1");
/** The runtime's answer to FRAME_PREFACE. */
export const FRAME_ACK = Buffer.from("FAAS-FRAMES/1 OK\r\n", "latin1");

interface Pending {
  resolve: (resultJson: string) => void;
  reject: (error: unknown) => void;
  timer: NodeJS.Timeout;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

export interface FrameChannelOptions {
  /** Bytes the peer sends before its first frame (FRAME_ACK on TCP); a mismatch fails the channel. */
  expectAck?: Buffer;
  /**
   * Largest result body kept, in bytes (FAAS_MAX_RESULT_BYTES); a larger one fails its call with
   * RESULT_TOO_LARGE and is discarded as it arrives, so memory stays bounded. Default 64 MiB.
   */
  maxFrameBytes?: number;
  /** Called once when the socket closes or fails, with the calls still pending (already removed). */
  onClose?: (pending: Array<{ reject: (error: unknown) => void }>, error: Error | undefined) => void;
}

/** One framed connection. The owner created the socket; `destroy` closes it. */
export class FrameChannel {
  private readonly pending = new Map<number, Pending>();
  private readonly streams = new Map<number, { sink: StreamSink; signal: AbortSignal | undefined; onAbort: (() => void) | undefined }>();
  private nextId = 1;
  private readonly input = new ByteQueue();
  /** Bytes of an oversized frame still to discard. */
  private skipping = 0;
  private readonly maxFrameBytes: number;
  private corked = false;
  private awaitingAck: Buffer | undefined;
  private ackSeen: Buffer | undefined;
  private closed = false;
  private broken = false;
  private failure: Error | undefined;

  constructor(
    private readonly socket: Socket,
    private readonly options: FrameChannelOptions = {},
  ) {
    this.awaitingAck = options.expectAck;
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (error) => (this.failure ??= error));
    socket.on("close", () => this.onClose());
  }

  /** Calls in flight. */
  get inflight(): number {
    return this.pending.size + this.streams.size;
  }

  /** Whether the socket has closed: every later call fails at once. */
  get isClosed(): boolean {
    return this.closed || this.broken;
  }

  /**
   * Sends one call. Resolves with the result's JSON text; rejects with FaasError FUNCTION_ERROR,
   * RESULT_NOT_SERIALIZABLE, INVALID_REQUEST (payload), INVOKE_TIMEOUT or CANCELLED, or with what
   * `onClose` gives the calls pending when the connection goes away.
   */
  call(payloadJson: string, timeoutMs: number, signal?: AbortSignal): Promise<string> {
    const id = this.takeId();
    const frame = requestFrame(KIND_INVOKE, id, payloadJson);
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => this.abandon(id, timeoutError(timeoutMs)), timeoutMs);
      let onAbort: (() => void) | undefined;
      if (signal) {
        onAbort = () => this.abandon(id, abortError(signal));
        signal.addEventListener("abort", onAbort, { once: true });
      }
      this.pending.set(id, { resolve, reject, timer, signal, onAbort });
      this.write(frame);
    });
  }

  /**
   * Sends one stream call: yields each chunk's JSON text as the runtime sends it, and ends when the
   * generator is done. Fails as `call` does (the failure frame of a generator that raised midway,
   * INVOKE_TIMEOUT when the runtime sends nothing for `timeoutMs` while it may, CANCELLED); a
   * reader that stops early cancels the call (GeneratorExit in the handler). Memory: at most
   * `windowBytes` of chunks plus one are held for a reader that does not keep up.
   */
  stream(payloadJson: string, timeoutMs: number, signal?: AbortSignal, windowBytes = DEFAULT_STREAM_WINDOW_BYTES): AsyncIterable<string> {
    const id = this.takeId();
    const frame = requestFrame(KIND_STREAM, id, payloadJson, windowBytes);
    const sink = new StreamSink(
      windowBytes,
      timeoutMs,
      (bytes) => this.sendControl(KIND_CREDIT, id, bytes),
      (error) => this.abandonStream(id, error),
      () => timeoutError(timeoutMs),
    );
    const onAbort = signal && (() => this.abandonStream(id, abortError(signal)));
    if (onAbort) signal.addEventListener("abort", onAbort, { once: true });
    this.streams.set(id, { sink, signal, onAbort });
    this.write(frame);
    if (signal?.aborted) this.abandonStream(id, abortError(signal));
    return sink.read();
  }

  /** Rejects every pending call with `error` (e.g. the process died). */
  failAll(error: unknown): void {
    for (const [id, call] of this.pending) {
      this.settle(id, call);
      call.reject(error);
    }
    for (const id of [...this.streams.keys()]) this.endStream(id, error);
  }

  /** Closes the socket; pending calls go to `onClose`. */
  destroy(): void {
    this.socket.destroy();
  }

  private write(frame: Buffer): void {
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      // After the poll phase: the calls of every request read in this loop iteration go together.
      setImmediate(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(frame);
  }

  private takeId(): number {
    const id = this.nextId;
    this.nextId = id === 0xffffffff ? 1 : id + 1;
    return id;
  }

  private abandon(id: number, error: FaasError): void {
    const call = this.pending.get(id);
    if (!call) return;
    this.settle(id, call);
    call.reject(error);
    this.sendControl(KIND_CANCEL, id);
  }

  /** Gives a stream up: a cancel frame to the runtime, `error` (if any) to its reader. */
  private abandonStream(id: number, error: unknown): void {
    if (!this.streams.has(id)) return;
    this.endStream(id, error);
    this.sendControl(KIND_CANCEL, id);
  }

  private endStream(id: number, error?: unknown): void {
    const stream = this.streams.get(id);
    if (!stream) return;
    this.streams.delete(id);
    if (stream.onAbort) stream.signal?.removeEventListener("abort", stream.onAbort);
    stream.sink.end(error);
  }

  /** Sends a cancel frame, or a credit frame of `credit` bytes. */
  private sendControl(kind: number, id: number, credit?: number): void {
    if (!this.closed && !this.socket.destroyed) this.write(controlFrame(kind, id, credit));
  }

  private settle(id: number, call: Pending): void {
    this.pending.delete(id);
    clearTimeout(call.timer);
    if (call.onAbort) call.signal?.removeEventListener("abort", call.onAbort);
  }

  private onData(chunk: Buffer): void {
    if (this.awaitingAck) {
      const ack = this.awaitingAck;
      const seen = this.ackSeen ? Buffer.concat([this.ackSeen, chunk]) : chunk; // at most ack.length kept
      const n = Math.min(seen.length, ack.length);
      if (!seen.subarray(0, n).equals(ack.subarray(0, n))) {
        this.failure = new Error(`the runtime did not accept framed calls (it answered ${JSON.stringify(seen.subarray(0, 40).toString("latin1"))})`);
        this.socket.destroy();
        return;
      }
      if (n < ack.length) {
        this.ackSeen = seen;
        return;
      }
      this.awaitingAck = this.ackSeen = undefined;
      chunk = seen.subarray(ack.length);
    }
    if (this.skipping > 0) {
      // The rest of a frame too large to keep: dropped as it arrives, never buffered.
      const n = Math.min(this.skipping, chunk.length);
      this.skipping -= n;
      chunk = chunk.subarray(n);
    }
    if (chunk.length > 0) this.input.push(chunk);
    while (!this.closed && this.skipping === 0 && this.input.length >= HEADER_BYTES) {
      const header = this.input.peek(HEADER_BYTES);
      const length = header.readUInt32BE(0);
      const id = header.readUInt32BE(4);
      const status = header.readUInt8(8);
      if (status > MAX_STATUS) {
        this.protocolError(`the worker sent a frame with an unknown status ${status}`);
        return;
      }
      if (length > this.maxFrameBytes) {
        this.input.take(HEADER_BYTES);
        const kept = Math.min(length, this.input.length);
        this.input.take(kept);
        this.skipping = length - kept;
        const call = this.pending.get(id);
        if (call) {
          this.settle(id, call);
          call.reject(resultTooLarge(length, this.maxFrameBytes));
        }
        if (this.streams.has(id)) this.abandonStream(id, resultTooLarge(length, this.maxFrameBytes));
        continue;
      }
      if (this.input.length < HEADER_BYTES + length) break;
      const frame = this.input.take(HEADER_BYTES + length);
      if (this.streams.has(id)) {
        this.streamFrame(id, status, frame.subarray(HEADER_BYTES));
        continue;
      }
      const call = this.pending.get(id);
      if (!call) continue; // abandoned (timeout or cancel)
      this.settle(id, call);
      const body = frame.subarray(HEADER_BYTES);
      if (status === STATUS_CHUNK || status === STATUS_END) {
        this.protocolError(`the worker sent a stream frame (status ${status}) for a plain call`);
        return;
      }
      if (!isUtf8(body)) call.reject(protocolError("the worker sent a result that is not UTF-8"));
      else if (status === STATUS_OK) call.resolve(body.toString("utf8"));
      else call.reject(runtimeError(reasonOfStatus(status) ?? "RESULT_NOT_SERIALIZABLE", body.toString("utf8"), this.maxFrameBytes));
    }
  }

  private streamFrame(id: number, status: number, body: Buffer): void {
    if (!isUtf8(body)) return this.abandonStream(id, protocolError("the worker sent a chunk that is not UTF-8"));
    if (status === STATUS_CHUNK) return this.streams.get(id)!.sink.chunk(body.toString("utf8"), body.length);
    if (status === STATUS_END) return this.endStream(id);
    if (status === STATUS_OK) return this.protocolError("the worker sent a plain result (status 0) for a stream call");
    this.endStream(id, runtimeError(reasonOfStatus(status) ?? "RESULT_NOT_SERIALIZABLE", body.toString("utf8"), this.maxFrameBytes));
  }

  /** A peer that breaks the protocol cannot be trusted with more calls: they fail, the socket closes. */
  private protocolError(message: string): void {
    this.failure = new Error(message);
    this.broken = true;
    this.failAll(protocolError(message));
    this.socket.destroy();
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    const left = [...this.pending.entries()];
    for (const [id, call] of left) this.settle(id, call);
    const streams = [...this.streams.keys()].map((id) => ({ reject: (error: unknown) => this.endStream(id, error) }));
    this.options.onClose?.([...left.map(([, call]) => call), ...streams], this.failure);
  }
}
