import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deploy, startTestAgent, type TestAgent } from "./support/agent.ts";
import { requirePart } from "./support/requires.ts";

// Interop with clients written elsewhere: @grpc/grpc-js loading the .proto at run time (no code
// generated here), the buf CLI's curl (with the schema from reflection and from the proto files),
// and plain curl speaking the Connect protocol's JSON.
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BUF = join(ROOT, "node_modules", ".bin", "buf");
const ECHO = 'def handle(req):\n    return {"echo": req}\n';
const NESTED = { a: { b: [1, "two", { c: [true, null, 3.5] }] }, s: "héllo ✓" };

let agent: TestAgent;
beforeAll(async () => {
  agent = await startTestAgent();
  await deploy(agent, { id: "interop-echo", handler: ECHO });
});
afterAll(async () => {
  await agent?.dispose();
});

describe("@grpc/grpc-js with @grpc/proto-loader", () => {
  const definition = protoLoader.loadSync(["faas/v1/agent.proto", "grpc/health/v1/health.proto"], {
    includeDirs: [join(ROOT, "proto"), join(ROOT, "proto", "vendor")],
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const loaded = grpc.loadPackageDefinition(definition) as any;
  let faas: any;
  let health: any;
  beforeAll(() => {
    const target = `127.0.0.1:${agent.address.port}`;
    faas = new loaded.faas.v1.FaasAgent(target, grpc.credentials.createInsecure());
    health = new loaded.grpc.health.v1.Health(target, grpc.credentials.createInsecure());
  });
  afterAll(() => {
    faas?.close();
    health?.close();
  });
  const unary = (client: any, method: string, req: object) =>
    new Promise<any>((resolve, reject) => client[method](req, (error: grpc.ServiceError | null, res: any) => (error ? reject(error) : resolve(res))));

  it("answers a health Check like a Kubernetes grpc: probe", async () => {
    expect(await unary(health, "Check", {})).toEqual({ status: "SERVING" });
    expect(await unary(health, "Check", { service: "faas.v1.FaasAgent" })).toEqual({ status: "SERVING" });
    await expect(unary(health, "Check", { service: "x.Y" })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  });

  it("streams a deploy, invokes with a google.protobuf.Value, lists", async () => {
    const events: any[] = [];
    await new Promise<void>((resolve, reject) => {
      const call = faas.Deploy({ id: "grpcjs-fn", handler: ECHO });
      call.on("data", (e: any) => events.push(e));
      call.on("error", reject);
      call.on("end", resolve);
    });
    expect(events.filter((e) => e.event === "phase").map((e) => e.phase)).toEqual([
      "DEPLOY_PHASE_VALIDATING",
      "DEPLOY_PHASE_PACKAGING",
      "DEPLOY_PHASE_BUILDING",
      "DEPLOY_PHASE_DEPLOYING",
      "DEPLOY_PHASE_READY",
    ]);
    expect(events.at(-1).function).toMatchObject({ id: "grpcjs-fn", ready: true, platform: "local" });

    const payload = { structValue: { fields: { n: { numberValue: 2 }, list: { listValue: { values: [{ stringValue: "x" }, { boolValue: true }] } } } } };
    const res = await unary(faas, "Invoke", { id: "grpcjs-fn", payload });
    expect(res.status).toBe("success");
    expect(res.result.structValue.fields.echo).toMatchObject(payload);

    const list = await unary(faas, "List", {});
    expect(list.functions.map((f: any) => f.id)).toEqual(expect.arrayContaining(["grpcjs-fn", "interop-echo"]));
  });

  it("gets gRPC status codes for errors", async () => {
    await expect(unary(faas, "Get", { id: "no-such-fn" })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    await expect(unary(faas, "Get", { id: "Bad_ID" })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
  });
});

describe("buf curl", () => {
  const buf = (args: string[]) => execa(BUF, ["curl", ...args], { cwd: ROOT, reject: false });
  const invoke = JSON.stringify({ id: "interop-echo", payload: NESTED });

  it("lists the services and methods through reflection", async () => {
    const services = await buf(["--http2-prior-knowledge", "--list-services", agent.url]);
    expect(services.stdout.split("\n").sort()).toEqual([
      "faas.v1.FaasAgent",
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
    ]);
    const methods = await buf(["--http2-prior-knowledge", "--reflect-protocol", "grpc-v1alpha", "--list-methods", agent.url]);
    expect(methods.stdout).toContain("faas.v1.FaasAgent/Deploy");
  });

  describe.each(["grpc", "grpcweb", "connect"])("--protocol %s", (protocol) => {
    it("invokes with the schema from reflection", async () => {
      const res = await buf(["--protocol", protocol, "--http2-prior-knowledge", "-d", invoke, `${agent.url}/faas.v1.FaasAgent/Invoke`]);
      expect(res.stderr).toBe("");
      expect(JSON.parse(res.stdout)).toMatchObject({ result: { echo: NESTED }, status: "success" });
    });

    it("invokes with the schema from the proto files, over HTTP/1.1 where the protocol allows", async () => {
      const h2 = protocol === "grpc" ? ["--http2-prior-knowledge"] : [];
      const res = await buf(["--protocol", protocol, ...h2, "--schema", ".", "-d", invoke, `${agent.url}/faas.v1.FaasAgent/Invoke`]);
      expect(JSON.parse(res.stdout)).toMatchObject({ result: { echo: NESTED }, status: "success" });
    });

    it("sees not_found with a google.rpc.ErrorInfo detail", async () => {
      const res = await buf(["--protocol", protocol, "--http2-prior-knowledge", "-d", '{"id":"missing-fn"}', `${agent.url}/faas.v1.FaasAgent/Get`]);
      expect(res.exitCode).not.toBe(0);
      const error = JSON.parse(res.stdout || res.stderr);
      expect(error.code).toBe("not_found");
      expect(error.details[0].type).toBe("google.rpc.ErrorInfo");
    });
  });

  it("streams a deploy as one JSON object per event", async () => {
    const req = JSON.stringify({ id: "bufcurl-fn", handler: ECHO });
    const res = await buf(["--http2-prior-knowledge", "-d", req, `${agent.url}/faas.v1.FaasAgent/Deploy`]);
    expect(res.exitCode).toBe(0);
    const events = res.stdout.split(/\n(?=\{)/).map((chunk) => JSON.parse(chunk));
    expect(events[0].phase).toBe("DEPLOY_PHASE_VALIDATING");
    expect(events.at(-1).function).toMatchObject({ id: "bufcurl-fn", ready: true });
  });
});

describe.skipIf(await requirePart("curl"))("plain curl (Connect JSON over HTTP/1.1)", () => {
  const curl = (path: string, body: string) =>
    execa("curl", ["-sS", "-X", "POST", "-H", "content-type: application/json", "-d", body, "-w", "\n%{http_code}", `${agent.url}${path}`], { reject: false });

  it("invokes with a nested payload", async () => {
    const res = await curl("/faas.v1.FaasAgent/Invoke", JSON.stringify({ id: "interop-echo", payload: NESTED }));
    const [body, status] = res.stdout.split("\n");
    expect(status).toBe("200");
    expect(JSON.parse(body)).toMatchObject({ result: { echo: NESTED }, status: "success", platform: "local" });
  });

  it("gets an error as the Connect JSON error with HTTP 404", async () => {
    const res = await curl("/faas.v1.FaasAgent/Get", '{"id":"missing-fn"}');
    const [body, status] = res.stdout.split("\n");
    expect(status).toBe("404");
    expect(JSON.parse(body)).toMatchObject({ code: "not_found", message: 'function "missing-fn" not found' });
  });
});
