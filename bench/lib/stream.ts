/**
 * Streaming throughput: chunks per second of one stream call of a generator handler that yields
 * small JSON objects as fast as it can, read as fast as the client can, measured
 *   sd   from the runtime shim directly (faas_runtime.py --protocol http, Accept: application/x-ndjson)
 *   sf   from the runtime shim directly over its framed protocol (runtime/frames.ts FrameChannel,
 *        the transport the agent itself uses for local workers and containers): the baseline
 *   sr   through the agent, REST POST /invoke with Accept: application/x-ndjson (local platform: frames)
 *   sg   through the agent, gRPC InvokeStream (@connectrpc/connect-node client over h2c)
 * back to back in the same run, each the median of BENCH_STREAM_RUNS (default 3) streams of
 * BENCH_STREAM_CHUNKS (default 200 000) chunks after one warm-up stream.
 */
import { request } from "node:http";
import { connect } from "node:net";
import { FRAME_ACK, FRAME_PREFACE, FrameChannel } from "../../src/runtime/frames.ts";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { fromJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { FaasAgent } from "../../gen/faas/v1/agent_pb.ts";
import { freePort, postJson } from "./helpers.ts";
import { waitUntilReady, type Children } from "./processes.ts";
import { PYTHON, SHIM } from "./settings.ts";

export const STREAM_HANDLER = `def handle(req):
    for i in range(req.get("n", 3)):
        yield {"i": i}
`;
const FUNCTION_ID = "bench-stream";
const CHUNKS = Number(process.env.BENCH_STREAM_CHUNKS ?? 200_000);
const RUNS = Number(process.env.BENCH_STREAM_RUNS ?? 3);

export interface StreamFigure {
  key: "sd" | "sf" | "sr" | "sg";
  label: string;
  chunksPerSecond: number;
}

/** Measures sd, sr and sg; `agentUrl` is a running agent (local platform). */
export async function measureStreaming(children: Children, workDir: string, agentUrl: string): Promise<StreamFigure[]> {
  const handlerPath = join(workDir, "stream_handler.py");
  await writeFile(handlerPath, STREAM_HANDLER);
  const port = await freePort();
  const shim = children.start("stream shim", PYTHON, [SHIM, "--handler", handlerPath, "--listen", `tcp:127.0.0.1:${port}`, "--protocol", "http"], { logPath: join(workDir, "stream-shim.log"), cwd: workDir });
  await waitUntilReady(children, shim, async () => {
    if ((await postJson(`http://127.0.0.1:${port}/`, { n: 2 })) === null) throw new Error("no answer");
  });
  const deployed = (await postJson(`${agentUrl}/deploy`, { id: FUNCTION_ID, handler: STREAM_HANDLER }, 120_000)) as { id?: string };
  if (deployed.id !== FUNCTION_ID) throw new Error(`deploy of ${FUNCTION_ID} answered ${JSON.stringify(deployed)}`);
  const agent = new URL(agentUrl);
  const socket = connect({ host: "127.0.0.1", port, noDelay: true });
  socket.write(FRAME_PREFACE);
  const framed = new FrameChannel(socket, { expectAck: FRAME_ACK });
  const grpc = createClient(FaasAgent, createGrpcTransport({ baseUrl: agentUrl }));
  const cases: Array<[StreamFigure["key"], string, () => Promise<number>]> = [
    ["sd", "runtime shim direct, HTTP NDJSON", () => ndjsonLines("127.0.0.1", port, "/", { n: CHUNKS })],
    [
      "sf",
      "runtime shim direct, frames",
      async () => {
        let chunks = 0;
        for await (const _ of framed.stream(JSON.stringify({ n: CHUNKS }), 60_000)) chunks++;
        return chunks;
      },
    ],
    ["sr", "agent REST /invoke, NDJSON", () => ndjsonLines(agent.hostname, Number(agent.port), "/invoke", { id: FUNCTION_ID, payload: { n: CHUNKS } })],
    [
      "sg",
      "agent gRPC InvokeStream",
      async () => {
        let chunks = 0;
        for await (const m of grpc.invokeStream({ id: FUNCTION_ID, payload: fromJson(ValueSchema, { n: CHUNKS }) })) if (m.event.case === "chunk") chunks++;
        return chunks;
      },
    ],
  ];
  const figures: StreamFigure[] = [];
  try {
    for (const [key, label, run] of cases) {
      await run(); // warm-up
      const rates: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const start = performance.now();
        const got = await run();
        if (got !== CHUNKS) throw new Error(`${key}: ${got} chunks instead of ${CHUNKS}`);
        rates.push(CHUNKS / ((performance.now() - start) / 1000));
      }
      figures.push({ key, label, chunksPerSecond: rates.sort((a, b) => a - b)[Math.floor((rates.length - 1) / 2)]! });
    }
  } finally {
    framed.destroy();
    await postJson(`${agentUrl}/delete`, { id: FUNCTION_ID }).catch(() => undefined);
  }
  return figures;
}

/** POSTs `body` asking for NDJSON and counts the chunk lines of the answer. */
function ndjsonLines(host: string, port: number, path: string, body: unknown): Promise<number> {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, method: "POST", headers: { "content-type": "application/json", accept: "application/x-ndjson", "content-length": payload.length } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`${path} answered ${res.statusCode}`));
      let chunks = 0;
      let done = false;
      let partial = "";
      res.setEncoding("utf8");
      res.on("data", (text: string) => {
        const lines = (partial + text).split("\n");
        partial = lines.pop()!;
        for (const line of lines) {
          if (line.startsWith('{"type":"chunk"')) chunks++;
          else if (line.includes('"type":"done"') && !line.includes('"status":"error"')) done = true;
          else return reject(new Error(`${path}: unexpected line ${line.slice(0, 200)}`));
        }
      });
      res.on("end", () => (done ? resolve(chunks) : reject(new Error(`${path}: the stream ended without its done line`))));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(payload);
  });
}
