/**
 * The gRPC yardstick of bench/run.ts: an empty unary FaasAgent/Invoke handler on @grpc/grpc-js over
 * h2c, run as a child process (`node --import tsx bench/grpcjs_server.ts`). It decodes each request
 * and encodes the same answer the empty stack gives (status "success", no result) with the generated
 * messages, as a real grpc-js service would; nothing else. Sends `{ url }` over IPC once listening.
 */
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { InvokeRequestSchema, InvokeResponseSchema, type InvokeRequest, type InvokeResponse } from "../gen/faas/v1/agent_pb.ts";

const service: grpc.ServiceDefinition = {
  Invoke: {
    path: "/faas.v1.FaasAgent/Invoke",
    requestStream: false,
    responseStream: false,
    requestSerialize: (m: InvokeRequest) => Buffer.from(toBinary(InvokeRequestSchema, m)),
    requestDeserialize: (b: Buffer) => fromBinary(InvokeRequestSchema, b),
    responseSerialize: (m: InvokeResponse) => Buffer.from(toBinary(InvokeResponseSchema, m)),
    responseDeserialize: (b: Buffer) => fromBinary(InvokeResponseSchema, b),
  },
};

const server = new grpc.Server();
server.addService(service, {
  Invoke: (_call: grpc.ServerUnaryCall<InvokeRequest, InvokeResponse>, callback: grpc.sendUnaryData<InvokeResponse>) => {
    callback(null, create(InvokeResponseSchema, { status: "success" }));
  },
});
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) => {
  if (error) {
    process.stderr.write(`grpcjs_server: ${error.message}\n`);
    process.exit(1);
  }
  process.send?.({ url: `http://127.0.0.1:${port}` });
});
const stop = () => server.tryShutdown(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
process.on("disconnect", stop);
