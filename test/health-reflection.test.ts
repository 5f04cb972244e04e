import { create, createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FaasAgent } from "../gen/faas/v1/agent_pb.ts";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../gen/grpc/health/v1/health_pb.ts";
import { ServerReflection, ServerReflectionRequestSchema, type ServerReflectionResponse } from "../gen/grpc/reflection/v1/reflection_pb.ts";
import { ServerReflection as ServerReflectionAlpha } from "../gen/grpc/reflection/v1alpha/reflection_pb.ts";
import { startTestAgent, type TestAgent } from "./support/agent.ts";

const TOKEN = "s3cret-token";
let agent: TestAgent;
beforeAll(async () => {
  // With a token configured, to show that health and reflection need none.
  agent = await startTestAgent({ FAAS_AUTH_TOKEN: TOKEN });
});
afterAll(async () => {
  await agent?.dispose();
});

async function rejection(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("expected the call to fail");
}

async function reflect(requests: Array<ServerReflectionRequestInit>): Promise<ServerReflectionResponse[]> {
  const client = createClient(ServerReflection, createGrpcTransport({ baseUrl: agent.url }));
  const out: ServerReflectionResponse[] = [];
  async function* input() {
    for (const r of requests) yield create(ServerReflectionRequestSchema, r);
  }
  for await (const res of client.serverReflectionInfo(input())) out.push(res);
  return out;
}
type ServerReflectionRequestInit = Parameters<typeof create<typeof ServerReflectionRequestSchema>>[1];

describe("grpc.health.v1.Health", () => {
  it("Check reports SERVING overall and for faas.v1.FaasAgent, without a token", async () => {
    const health = createClient(Health, createGrpcTransport({ baseUrl: agent.url }));
    expect((await health.check({})).status).toBe(Status.SERVING);
    expect((await health.check({ service: "faas.v1.FaasAgent" })).status).toBe(Status.SERVING);
  });

  it("Check fails with not_found for an unknown service", async () => {
    const health = createClient(Health, createGrpcTransport({ baseUrl: agent.url }));
    expect((await rejection(health.check({ service: "no.such.Service" }))).code).toBe(Code.NotFound);
  });

  it("the other FaasAgent rpcs still need the token", async () => {
    const faas = createClient(FaasAgent, createGrpcTransport({ baseUrl: agent.url }));
    expect((await rejection(faas.list({}))).code).toBe(Code.Unauthenticated);
  });

  it("Watch sends the current status, SERVICE_UNKNOWN for an unknown service, and NOT_SERVING on shutdown", async () => {
    const own = await startTestAgent();
    try {
      const health = createClient(Health, createGrpcTransport({ baseUrl: own.url }));
      const unknown = health.watch({ service: "no.such.Service" })[Symbol.asyncIterator]();
      expect((await unknown.next()).value?.status).toBe(Status.SERVICE_UNKNOWN);
      const seen: Status[] = [];
      const watching = (async () => {
        for await (const res of health.watch({ service: "faas.v1.FaasAgent" })) {
          seen.push(res.status);
          if (seen.length === 1) void own.stop();
        }
      })().catch(() => undefined); // the stream ends (or is cut) when the server closes
      await watching;
      expect(seen).toEqual([Status.SERVING, Status.NOT_SERVING]);
      await unknown.return?.();
    } finally {
      await own.dispose();
    }
  });
});

describe("server reflection", () => {
  it("lists every service on the port (v1)", async () => {
    const [res] = await reflect([{ messageRequest: { case: "listServices", value: "" } }]);
    expect(res.messageResponse.case).toBe("listServicesResponse");
    const names = res.messageResponse.case === "listServicesResponse" ? res.messageResponse.value.service.map((s) => s.name) : [];
    expect(names.sort()).toEqual([
      "faas.v1.FaasAgent",
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
    ]);
  });

  it("answers file_containing_symbol with the file and its dependencies, enough to build a registry", async () => {
    const responses = await reflect([
      { messageRequest: { case: "fileContainingSymbol", value: "faas.v1.FaasAgent" } },
      { messageRequest: { case: "fileContainingSymbol", value: "faas.v1.FaasAgent.Invoke" } },
      { messageRequest: { case: "fileContainingSymbol", value: "faas.v1.Function" } },
    ]);
    for (const res of responses) {
      expect(res.messageResponse.case).toBe("fileDescriptorResponse");
      if (res.messageResponse.case !== "fileDescriptorResponse") continue;
      const files = res.messageResponse.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b));
      expect(files[0].name).toBe("faas/v1/agent.proto");
      expect(files.map((f) => f.name).sort()).toEqual([
        "buf/validate/validate.proto",
        "faas/v1/agent.proto",
        "google/protobuf/descriptor.proto",
        "google/protobuf/duration.proto",
        "google/protobuf/field_mask.proto",
        "google/protobuf/struct.proto",
        "google/protobuf/timestamp.proto",
      ]);
      // A client can rebuild the schema from these bytes alone (what buf curl and grpcurl do).
      const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: files.reverse() }));
      expect(registry.getService("faas.v1.FaasAgent")?.methods.map((m) => m.name)).toContain("Deploy");
    }
  });

  it("answers file_by_filename, and NOT_FOUND error responses for unknown names and symbols", async () => {
    const [byName, missingFile, missingSymbol] = await reflect([
      { messageRequest: { case: "fileByFilename", value: "grpc/health/v1/health.proto" } },
      { messageRequest: { case: "fileByFilename", value: "nope.proto" } },
      { messageRequest: { case: "fileContainingSymbol", value: "faas.v1.Nope" } },
    ]);
    expect(byName.messageResponse.case).toBe("fileDescriptorResponse");
    for (const res of [missingFile, missingSymbol]) {
      expect(res.messageResponse.case).toBe("errorResponse");
      if (res.messageResponse.case === "errorResponse") expect(res.messageResponse.value.errorCode).toBe(Code.NotFound);
    }
  });

  it("serves v1alpha with the same answers", async () => {
    const client = createClient(ServerReflectionAlpha, createGrpcTransport({ baseUrl: agent.url }));
    const out = [];
    for await (const res of client.serverReflectionInfo(
      (async function* () {
        yield { messageRequest: { case: "fileContainingSymbol" as const, value: "faas.v1.FaasAgent" } };
      })(),
    ))
      out.push(res);
    expect(out).toHaveLength(1);
    expect(out[0].messageResponse.case).toBe("fileDescriptorResponse");
  });
});
