import { describe, expect, it } from "vitest";
import { demuxBuffer } from "../src/adapters/docker/containers.ts";

/** One frame of the engine's multiplexed log format: stream byte, 3 zero bytes, big-endian size, payload. */
function frame(stream: 1 | 2, text: string): Buffer {
  const payload = Buffer.from(text, "utf8");
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

describe("demuxBuffer", () => {
  it("keeps a line whole when the engine split it across frames, per stream", () => {
    const buffer = Buffer.concat([frame(1, 'FAAS_CHECK {"type": "Syn'), frame(2, "warn\n"), frame(1, 'taxError"}\nnext\n'), frame(1, "tail")]);
    expect(demuxBuffer(buffer)).toEqual([
      { stream: "stderr", line: "warn" },
      { stream: "stdout", line: 'FAAS_CHECK {"type": "SyntaxError"}' },
      { stream: "stdout", line: "next" },
      { stream: "stdout", line: "tail" },
    ]);
  });
});
