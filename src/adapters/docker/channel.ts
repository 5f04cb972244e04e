import { connect } from "node:net";
import { FRAME_ACK, FRAME_PREFACE, FrameChannel } from "../../runtime/frames.ts";
import { ConnectionError } from "../../runtime/http-client.ts";
import type { Endpoint } from "../kit/endpoint.ts";

/**
 * One running container's runtime, reached on 127.0.0.1:`port` (its published HTTP port) over one
 * TCP connection that speaks the runtime's framed protocol: calls multiplexed on it, the calls of
 * one tick written in one syscall, results in any order. An invoke costs a frame on an open
 * socket: no lookups, no per-call connection. `close` closes it.
 */
export class ContainerEndpoint implements Endpoint {
  /** Calls in flight; a replaced container is stopped when this is 0. */
  inflight = 0;
  private channel: FrameChannel | undefined;
  private destroyed = false;

  constructor(
    readonly containerId: string,
    readonly port: number,
    /** Longest a call may take (FAAS_INVOKE_TIMEOUT), in milliseconds. */
    private readonly timeoutMs: number,
  ) {}

  /**
   * Calls `handle` with `payloadJson` and returns the result JSON text. Fails with the runtime's
   * error (runtime/reasons.ts), deadline_exceeded after the endpoint's timeout, cancelled when
   * `signal` aborts, or a ConnectionError when the connection went away before the result came
   * (the container is gone or restarting).
   */
  async call(payloadJson: string, signal: AbortSignal): Promise<string> {
    if (this.destroyed) throw new ConnectionError(new Error("the endpoint was closed"));
    this.inflight++;
    try {
      return await this.open().call(payloadJson, this.timeoutMs, signal);
    } finally {
      this.inflight--;
    }
  }

  /** A stream call on the same connection (FrameChannel.stream: credit-paced chunks). */
  async *stream(payloadJson: string, signal: AbortSignal): AsyncGenerator<string> {
    if (this.destroyed) throw new ConnectionError(new Error("the endpoint was closed"));
    this.inflight++;
    try {
      yield* this.open().stream(payloadJson, this.timeoutMs, signal);
    } finally {
      this.inflight--;
    }
  }

  /** Closes the connection; calls still on it fail with ConnectionError. */
  close(): void {
    this.destroyed = true;
    this.channel?.destroy();
    this.channel = undefined;
  }

  private open(): FrameChannel {
    if (this.channel && !this.channel.isClosed) return this.channel;
    // Writes before the connection is up are queued by the socket, so calls need not wait.
    const socket = connect({ host: "127.0.0.1", port: this.port, noDelay: true });
    socket.write(FRAME_PREFACE);
    const channel = new FrameChannel(socket, {
      expectAck: FRAME_ACK,
      onClose: (pending, error) => {
        if (this.channel === channel) this.channel = undefined;
        const cause = error ?? new Error("connection closed");
        for (const call of pending) call.reject(new ConnectionError(cause));
      },
    });
    this.channel = channel;
    return channel;
  }
}
