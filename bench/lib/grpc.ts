/** The gRPC Invoke request the load generator sends, and a check of one answer to it. */
import { connect as http2Connect, type IncomingHttpHeaders } from "node:http2";
import { create, fromBinary, fromJson, toBinary, toJson, type JsonValue } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { InvokeRequestSchema, InvokeResponseSchema } from "../../gen/faas/v1/agent_pb.ts";
import { expectEqual } from "./helpers.ts";
import { FUNCTION_ID, INVOKE_PATH, PAYLOAD } from "./settings.ts";

/** The exact gRPC request body h2load sends: 5-byte prefix (uncompressed, length) + InvokeRequest. */
export function grpcInvokeBody(): Buffer {
  const message = toBinary(
    InvokeRequestSchema,
    create(InvokeRequestSchema, { id: FUNCTION_ID, payload: fromJson(ValueSchema, PAYLOAD as JsonValue) }),
  );
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

/**
 * Sends `body` once as h2load will (same path, headers and bytes, over h2c) with node:http2 and
 * checks the answer: HTTP 200, grpc-status 0, status "success" and the expected result. Returns the
 * size of the response's DATA (the gRPC frame), which the load run's byte count is checked against.
 */
export async function verifyGrpc(baseUrl: string, body: Buffer, expected: unknown): Promise<number> {
  const session = http2Connect(baseUrl);
  try {
    return await new Promise<number>((resolve, reject) => {
      session.once("error", reject);
      const timer = setTimeout(() => reject(new Error("gRPC verification call timed out")), 10_000);
      const stream = session.request({ ":method": "POST", ":path": INVOKE_PATH, "content-type": "application/grpc", te: "trailers" });
      let headers: IncomingHttpHeaders = {};
      let trailers: IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      stream.on("response", (h) => (headers = h));
      stream.on("trailers", (t) => (trailers = t));
      stream.on("data", (d: Buffer) => chunks.push(d));
      stream.once("error", reject);
      stream.once("end", () => {
        clearTimeout(timer);
        try {
          const status = Number(headers[":status"]);
          const grpcStatus = trailers["grpc-status"] ?? headers["grpc-status"];
          const grpcMessage = trailers["grpc-message"] ?? headers["grpc-message"];
          if (status !== 200) throw new Error(`gRPC call: HTTP ${status}`);
          if (grpcStatus !== "0") throw new Error(`gRPC call: grpc-status ${grpcStatus} ${grpcMessage ?? ""}`);
          const data = Buffer.concat(chunks);
          if (data.length < 5 || data[0] !== 0 || data.readUInt32BE(1) !== data.length - 5) {
            throw new Error(`gRPC call: malformed response frame (${data.length} bytes)`);
          }
          const response = fromBinary(InvokeResponseSchema, data.subarray(5));
          if (response.status !== "success") throw new Error(`gRPC call: status ${JSON.stringify(response.status)}`);
          expectEqual("gRPC result", response.result ? toJson(ValueSchema, response.result) : undefined, expected);
          resolve(data.length);
        } catch (error) {
          reject(error);
        }
      });
      stream.end(body);
    });
  } finally {
    session.close();
  }
}
