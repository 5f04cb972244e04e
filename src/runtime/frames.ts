import type { Socket } from "node:net";
import { FaasError } from "../domain/errors.ts";

/**
 * The client side of the runtime shim's framed protocol (faas_runtime.py's docstring): calls
 * multiplexed by id on one stream socket, frames written in the same tick leaving in one syscall,
 * results in any order, a cancel frame for a call given up on. Used over a unix socket for local
 * workers and over TCP (after FRAME_PREFACE) for containers.
 */

const KIND_INVOKE = 1;
const KIND_CANCEL = 2;
const HEADER_BYTES = 9;
export const STATUS_OK = 0;
export const STATUS_FUNCTION_ERROR = 1;
export const STATUS_BAD_PAYLOAD = 2;

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
  /** Called once when the socket closes or fails, with the calls still pending (already removed). */
  onClose?: (pending: Array<{ reject: (error: unknown) => void }>, error: Error | undefined) => void;
}

/** One framed connection. The owner created the socket; `destroy` closes it. */
export class FrameChannel {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private buffered: Buffer | undefined;
  private corked = false;
  private awaitingAck: Buffer | undefined;
  private closed = false;
  private failure: Error | undefined;

  constructor(
    private readonly socket: Socket,
    private readonly options: FrameChannelOptions = {},
  ) {
    this.awaitingAck = options.expectAck;
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (error) => (this.failure ??= error));
    socket.on("close", () => this.onClose());
  }

  /** Calls in flight. */
  get inflight(): number {
    return this.pending.size;
  }

  /** Whether the socket has closed: every later call fails at once. */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Sends one call. Resolves with the result's JSON text; rejects with FaasError FUNCTION_ERROR,
   * RESULT_NOT_SERIALIZABLE, INVALID_REQUEST (payload), INVOKE_TIMEOUT or CANCELLED, or with what
   * `onClose` gives the calls pending when the connection goes away.
   */
  call(payloadJson: string, timeoutMs: number, signal?: AbortSignal): Promise<string> {
    const id = this.nextId;
    this.nextId = id === 0xffffffff ? 1 : id + 1;
    const body = Buffer.from(payloadJson, "utf8");
    const frame = Buffer.allocUnsafe(HEADER_BYTES + body.length);
    frame.writeUInt32BE(body.length, 0);
    frame.writeUInt32BE(id, 4);
    frame.writeUInt8(KIND_INVOKE, 8);
    body.copy(frame, HEADER_BYTES);
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

  /** Rejects every pending call with `error` (e.g. the process died). */
  failAll(error: unknown): void {
    for (const [id, call] of this.pending) {
      this.settle(id, call);
      call.reject(error);
    }
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

  private abandon(id: number, error: FaasError): void {
    const call = this.pending.get(id);
    if (!call) return;
    this.settle(id, call);
    call.reject(error);
    if (!this.closed && !this.socket.destroyed) {
      const cancel = Buffer.alloc(HEADER_BYTES);
      cancel.writeUInt32BE(id, 4);
      cancel.writeUInt8(KIND_CANCEL, 8);
      this.write(cancel);
    }
  }

  private settle(id: number, call: Pending): void {
    this.pending.delete(id);
    clearTimeout(call.timer);
    if (call.onAbort) call.signal?.removeEventListener("abort", call.onAbort);
  }

  private onData(chunk: Buffer): void {
    let buf = this.buffered ? Buffer.concat([this.buffered, chunk]) : chunk;
    if (this.awaitingAck) {
      const ack = this.awaitingAck;
      const n = Math.min(buf.length, ack.length);
      if (!buf.subarray(0, n).equals(ack.subarray(0, n))) {
        this.failure = new Error(`the runtime did not accept framed calls (it answered ${JSON.stringify(buf.subarray(0, 40).toString("latin1"))})`);
        this.socket.destroy();
        return;
      }
      if (n < ack.length) {
        this.buffered = buf;
        return;
      }
      this.awaitingAck = undefined;
      buf = buf.subarray(ack.length);
    }
    let offset = 0;
    while (buf.length - offset >= HEADER_BYTES) {
      const length = buf.readUInt32BE(offset);
      const end = offset + HEADER_BYTES + length;
      if (end > buf.length) break;
      const id = buf.readUInt32BE(offset + 4);
      const status = buf.readUInt8(offset + 8);
      const body = buf.toString("utf8", offset + HEADER_BYTES, end);
      offset = end;
      const call = this.pending.get(id);
      if (!call) continue; // abandoned (timeout or cancel)
      this.settle(id, call);
      if (status === STATUS_OK) call.resolve(body);
      else call.reject(callError(status, body));
    }
    this.buffered = offset === buf.length ? undefined : buf.subarray(offset);
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    const left = [...this.pending.entries()];
    for (const [id, call] of left) this.settle(id, call);
    this.options.onClose?.(
      left.map(([, call]) => call),
      this.failure,
    );
  }
}

/** The FaasError for a runtime status (1 function error, 2 bad payload, 3 bad result) and its JSON body. */
export function callError(status: number, body: string): FaasError {
  let info: { type?: string; message?: string; traceback?: string } = {};
  try {
    info = JSON.parse(body);
  } catch {
    info = { message: body };
  }
  const metadata = { exception_type: info.type ?? "", exception_message: info.message ?? "", traceback: info.traceback ?? "" };
  if (status === STATUS_FUNCTION_ERROR) {
    return new FaasError("function_error", `${info.type}: ${info.message}\n${info.traceback ?? ""}`.trimEnd(), { reason: "FUNCTION_ERROR", metadata });
  }
  if (status === STATUS_BAD_PAYLOAD) {
    return new FaasError("invalid_argument", info.message ?? "payload is not valid JSON", { reason: "INVALID_REQUEST", metadata: { field: "payload" } });
  }
  return new FaasError("function_error", info.message ?? "handle returned a value that is not JSON serializable", { reason: "RESULT_NOT_SERIALIZABLE", metadata });
}

export function timeoutError(timeoutMs: number): FaasError {
  return new FaasError("deadline_exceeded", `function did not return within ${timeoutMs / 1000} s`, { reason: "INVOKE_TIMEOUT" });
}

export function abortError(signal: AbortSignal): FaasError {
  return new FaasError("cancelled", "the call was cancelled by the caller", { reason: "CANCELLED", cause: signal.reason });
}
