import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { createRegistry, fromBinary, toJson } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { FaasAgent } from "../gen/faas/v1/agent_pb.ts";
import { requirePart } from "./support/requires.ts";
import { file_buf_validate_validate } from "../node_modules/@bufbuild/protovalidate/dist/esm/gen/buf/validate/validate_pb.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BUF = join(ROOT, "node_modules", ".bin", "buf");
/** buf generate runs protoc (python, pyi) and grpc_python_plugin from Debian's packages. */
const skipProtoc = await requirePart("protoc");

async function files(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    // Python writes __pycache__ beside the modules it imports (git ignores them).
    if (!entry.isFile() || entry.parentPath.split(/[\\/]/).includes("__pycache__")) continue;
    const path = join(entry.parentPath, entry.name);
    out.set(relative(dir, path), await readFile(path, "utf8"));
  }
  return out;
}

describe("the contract", () => {
  it("passes buf lint", async () => {
    const result = await execa(BUF, ["lint"], { cwd: ROOT, reject: false });
    expect(result.stdout + result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
  });

  it.skipIf(skipProtoc)("gen/ is exactly what buf generate makes from proto/", async () => {
    const out = await mkdtemp(join(tmpdir(), "faas-gen-"));
    try {
      await execa(BUF, ["generate", "-o", out], { cwd: ROOT, env: { PATH: `${join(ROOT, "node_modules", ".bin")}:${process.env.PATH}` } });
      const fresh = await files(join(out, "gen"));
      const committed = await files(join(ROOT, "gen"));
      expect([...committed.keys()].sort()).toEqual([...fresh.keys()].sort());
      for (const [path, text] of fresh) expect(committed.get(path), `gen/${path} is stale: run npx buf generate`).toBe(text);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });

  it("vendored validate.proto is what @bufbuild/protovalidate was built from", async () => {
    // Compiled by buf, it gives the very descriptor the validator package embeds (rules included),
    // so the annotations in agent.proto mean to buf what they mean to the validator.
    const out = await mkdtemp(join(tmpdir(), "faas-image-"));
    try {
      await execa(BUF, ["build", "-o", join(out, "image.binpb")], { cwd: ROOT });
      const image = fromBinary(FileDescriptorSetSchema, await readFile(join(out, "image.binpb")));
      const built = image.file.find((f) => f.name === "buf/validate/validate.proto")!;
      built.sourceCodeInfo = undefined;
      const registry = createRegistry(file_buf_validate_validate, ...file_buf_validate_validate.dependencies);
      const json = (p: typeof built) => toJson(FileDescriptorProtoSchema, p, { registry });
      expect(json(built)).toEqual(json(file_buf_validate_validate.proto));
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });

  it("serves FaasAgent under /faas.v1.FaasAgent with every rpc", () => {
    expect(FaasAgent.typeName).toBe("faas.v1.FaasAgent");
    expect(Object.keys(FaasAgent.method).sort()).toEqual(["cancelInvocation", "capabilities", "delete", "deploy", "get", "getInvocation", "health", "invoke", "invokeAsync", "invokeStream", "list", "listInvocations", "logs", "setTraffic", "watchInvocation"]);
  });

  it("comments every rpc, message, field and enum value", async () => {
    const proto = await readFile(join(ROOT, "proto", "faas", "v1", "agent.proto"), "utf8");
    const lines = proto.split("\n");
    const declaration = /^\s*(rpc |message |enum |oneof |(repeated |map<[^>]+> )?[A-Za-z_.]+ [a-z_]+ = \d+;|[A-Z_]+ = \d+;)/;
    const uncommented = lines.filter((line, i) => declaration.test(line) && !/^\s*\/\//.test(lines[i - 1] ?? "")).map((l) => l.trim());
    expect(uncommented).toEqual([]);
  });
});
