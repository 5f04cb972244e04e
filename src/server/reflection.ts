import { create, fromBinary, toBinary, type DescFile, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  ServerReflection,
  ServerReflectionRequestSchema,
  ServerReflectionResponseSchema,
  type ServerReflectionRequest,
  type ServerReflectionResponse,
} from "../../gen/grpc/reflection/v1/reflection_pb.ts";
import {
  ServerReflection as ServerReflectionAlpha,
  ServerReflectionRequestSchema as AlphaRequestSchema,
  ServerReflectionResponseSchema as AlphaResponseSchema,
} from "../../gen/grpc/reflection/v1alpha/reflection_pb.ts";

/** gRPC status codes that reflection puts in ErrorResponse.error_code. */
const NOT_FOUND = 5;
const UNIMPLEMENTED = 12;

/**
 * What reflection describes: the services served on the port. Called on every request, so it
 * sees services registered after reflection itself (the router's handlers).
 */
export type ServiceSource = () => Iterable<DescService>;

/**
 * gRPC server reflection, v1 (grpc.reflection.v1.ServerReflection): list_services,
 * file_containing_symbol and file_by_filename answer from the generated descriptors of the served
 * services, each file with its transitive dependencies as serialized FileDescriptorProtos (so
 * `buf curl` and grpcurl need no schema). Extensions are not used by the contract: those requests
 * get an UNIMPLEMENTED error response. Unknown symbols and files get NOT_FOUND error responses.
 */
export function createReflectionService(services: ServiceSource): ServiceImpl<typeof ServerReflection> {
  return {
    async *serverReflectionInfo(requests) {
      for await (const req of requests) yield answer(req, services);
    },
  };
}

/**
 * The deprecated v1alpha reflection service, which older clients (and grpcurl's fallback) still
 * call. Its messages are wire-identical to v1, so requests and answers are converted through bytes.
 */
export function createReflectionAlphaService(services: ServiceSource): ServiceImpl<typeof ServerReflectionAlpha> {
  return {
    async *serverReflectionInfo(requests) {
      for await (const req of requests) {
        const v1 = fromBinary(ServerReflectionRequestSchema, toBinary(AlphaRequestSchema, req));
        yield fromBinary(AlphaResponseSchema, toBinary(ServerReflectionResponseSchema, answer(v1, services)));
      }
    },
  };
}

/** One reflection answer. */
export function answer(req: ServerReflectionRequest, services: ServiceSource): ServerReflectionResponse {
  const base = { validHost: req.host, originalRequest: req };
  const served = [...services()];
  const request = req.messageRequest;
  switch (request.case) {
    case "listServices":
      return create(ServerReflectionResponseSchema, {
        ...base,
        messageResponse: { case: "listServicesResponse", value: { service: served.map((s) => ({ name: s.typeName })) } },
      });
    case "fileByFilename":
    case "fileContainingSymbol": {
      const files = servedFiles(served);
      const file = request.case === "fileByFilename" ? files.get(request.value) : fileDeclaring(files.values(), request.value);
      if (!file) return error(base, NOT_FOUND, `${request.case === "fileByFilename" ? "file" : "symbol"} not found: ${request.value}`);
      return create(ServerReflectionResponseSchema, {
        ...base,
        messageResponse: { case: "fileDescriptorResponse", value: { fileDescriptorProto: withDependencies(file) } },
      });
    }
    case "fileContainingExtension":
    case "allExtensionNumbersOfType":
      return error(base, UNIMPLEMENTED, "extensions are not supported");
    default:
      return error(base, UNIMPLEMENTED, "unknown reflection request");
  }
}

function error(base: Pick<ServerReflectionResponse, "validHost" | "originalRequest">, code: number, message: string): ServerReflectionResponse {
  return create(ServerReflectionResponseSchema, {
    ...base,
    messageResponse: { case: "errorResponse", value: { errorCode: code, errorMessage: message } },
  });
}

/** Every file the served services are declared in, and their dependencies, by file name. */
function servedFiles(services: DescService[]): Map<string, DescFile> {
  const files = new Map<string, DescFile>();
  const add = (file: DescFile): void => {
    if (files.has(file.proto.name)) return;
    files.set(file.proto.name, file);
    for (const dep of file.dependencies) add(dep);
  };
  for (const service of services) add(service.file);
  return files;
}

/** The file that declares a fully-qualified symbol: a service, method, message, enum or nested type. */
function fileDeclaring(files: Iterable<DescFile>, symbol: string): DescFile | undefined {
  const name = symbol.replace(/^\./, "");
  for (const file of files) {
    for (const service of file.services) {
      if (service.typeName === name || service.methods.some((m) => `${service.typeName}.${m.name}` === name)) return file;
    }
    for (const type of [...file.messages, ...file.enums, ...file.extensions]) {
      if (declares(type, name)) return file;
    }
  }
  return undefined;
}

type Declared = DescFile["messages"][number] | DescFile["enums"][number] | DescFile["extensions"][number];

function declares(type: Declared, name: string): boolean {
  if (type.typeName === name) return true;
  if (type.kind !== "message") return false;
  if (type.fields.some((f) => `${type.typeName}.${f.name}` === name)) return true;
  return [...type.nestedMessages, ...type.nestedEnums, ...type.nestedExtensions].some((t) => declares(t, name));
}

/** A file and its transitive dependencies, serialized, the file first. */
function withDependencies(file: DescFile): Uint8Array[] {
  const out: Uint8Array[] = [];
  const seen = new Set<string>();
  const visit = (f: DescFile): void => {
    if (seen.has(f.name)) return;
    seen.add(f.name);
    out.push(toBinary(FileDescriptorProtoSchema, f.proto));
    for (const dep of f.dependencies) visit(dep);
  };
  visit(file);
  return out;
}
