import { copyFileSync, readFileSync, renameSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { connect as h2connect, type ClientHttp2Session } from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { execa } from "execa";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeCa, spkiHash, type TestCa } from "./support/certs.ts";
import { startTestAgent, type TestAgent } from "./support/agent.ts";

// TLS and mutual TLS on the one port, with certificates made here by openssl and real clients:
// curl, buf curl, @grpc/grpc-js, Python grpcio (the example client), the CLI and Chromium.
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BUF = join(ROOT, "node_modules", ".bin", "buf");
const PYTHON = "/usr/bin/python3";
const pythonEnv = { PYTHONPATH: join(ROOT, "gen"), PATH: "/usr/bin:/bin", LANG: "C.UTF-8", PYTHONDONTWRITEBYTECODE: "1" };
const ECHO = "def handle(req):\n    return {'echo': req}\n";

let dir: string;
let ca: TestCa;
let server: { cert: string; key: string };
let client: { cert: string; key: string };
let tlsAgent: TestAgent;
let mtlsAgent: TestAgent;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "faas-tls-"));
  ca = await makeCa(dir, "test-ca");
  server = await ca.issue("server", "server");
  client = await ca.issue("alice", "client", "/O=radical-test/CN=alice");
  tlsAgent = await startTestAgent({ FAAS_TLS_CERT: server.cert, FAAS_TLS_KEY: server.key });
  mtlsAgent = await startTestAgent({ FAAS_TLS_CERT: server.cert, FAAS_TLS_KEY: server.key, FAAS_TLS_CLIENT_CA: ca.ca });
});
afterAll(async () => {
  await tlsAgent?.dispose();
  await mtlsAgent?.dispose();
  await rm(dir, { recursive: true, force: true });
});

const port = (a: TestAgent) => a.address.port;
const curl = (args: string[]) => execa("curl", ["-sS", "--max-time", "60", "-w", "\n%{http_code} %{http_version}", ...args], { reject: false });

describe("TLS on the one port", () => {
  it("serves REST and Connect to curl --cacert, over HTTP/1.1 and h2 (ALPN)", async () => {
    const base = `https://localhost:${port(tlsAgent)}`;
    const health = await curl(["--cacert", ca.ca, "--http1.1", `${base}/health`]);
    expect(health.stdout).toMatch(/"status":"healthy"[\s\S]*\n200 1\.1$/);
    const deployed = await curl(["--cacert", ca.ca, "--http2", "-X", "POST", `${base}/deploy`, "-H", "Content-Type: application/json", "-d", JSON.stringify({ id: "tls-echo", handler: ECHO })]);
    expect(deployed.stdout).toMatch(/"status":"deployed"[\s\S]*\n200 2$/);
    const connect = await curl(["--cacert", ca.ca, "-X", "POST", `${base}/faas.v1.FaasAgent/Invoke`, "-H", "Content-Type: application/json", "-d", '{"id":"tls-echo","payload":{"a":1}}']);
    expect(connect.stdout).toMatch(/"echo":\s*\{"a":1\}[\s\S]*\n200 2$/);
    const head = await curl(["--cacert", ca.ca, "-I", `${base}/functions`]);
    expect(head.stdout).toMatch(/\n200 2$/);
  });

  it("refuses plain text on the TLS port, and curl without the CA refuses the agent", async () => {
    const plain = await curl([`http://127.0.0.1:${port(tlsAgent)}/health`]);
    expect(plain.stdout).toMatch(/TLS_REQUIRED[\s\S]*\n400 1\.1$/);
    const h2c = await curl(["--http2-prior-knowledge", `http://127.0.0.1:${port(tlsAgent)}/health`]);
    expect(h2c.stdout).toMatch(/TLS_REQUIRED[\s\S]*\n400 2$/);
    const untrusted = await curl([`https://localhost:${port(tlsAgent)}/health`]);
    expect(untrusted.exitCode).toBe(60); // curl: peer certificate cannot be authenticated
  });

  it("refuses TLS 1.1 and older", async () => {
    const old = await curl(["--cacert", ca.ca, "--tlsv1.1", "--tls-max", "1.1", `https://localhost:${port(tlsAgent)}/health`]);
    expect(old.exitCode).not.toBe(0);
  });

  it("serves gRPC to @grpc/grpc-js with TLS credentials and to buf curl", async () => {
    const definition = protoLoader.loadSync(["faas/v1/agent.proto"], { includeDirs: [join(ROOT, "proto"), join(ROOT, "proto", "vendor")], enums: String, defaults: true, oneofs: true });
    const loaded = grpc.loadPackageDefinition(definition) as any;
    const faas = new loaded.faas.v1.FaasAgent(`localhost:${port(tlsAgent)}`, grpc.credentials.createSsl(readFileSync(ca.ca)));
    try {
      const res = await new Promise<any>((resolve, reject) => faas.Invoke({ id: "tls-echo", payload: { stringValue: "hi" } }, (e: Error | null, r: any) => (e ? reject(e) : resolve(r))));
      expect(res.result).toMatchObject({ structValue: { fields: { echo: { stringValue: "hi" } } } });
    } finally {
      faas.close();
    }
    const buf = await execa(BUF, ["curl", "--cacert", ca.ca, "--protocol", "grpc", "-d", "{}", `https://localhost:${port(tlsAgent)}/faas.v1.FaasAgent/Health`], { reject: false });
    expect(buf.stderr).toBe("");
    expect(JSON.parse(buf.stdout)).toMatchObject({ status: "healthy" });
  });

  it("serves the example Python client (grpcio) with --cacert, and the CLI with --cacert", async () => {
    const py = await execa(PYTHON, [join(ROOT, "examples", "python_client.py"), "--agent", `localhost:${port(tlsAgent)}`, "--id", "tls-py", "--cacert", ca.ca], { env: pythonEnv, extendEnv: false, reject: false });
    expect(py.exitCode, py.stderr).toBe(0);
    expect(JSON.parse(py.stdout).functions).toContain("tls-py");
    const cli = await execa("node", ["--import", "tsx", join(ROOT, "src", "cli", "bin.js"), "--agent", tlsAgent.url.replace("127.0.0.1", "localhost"), "--cacert", ca.ca, "list"], { reject: false });
    expect(cli.exitCode, cli.stderr).toBe(0);
    expect(cli.stdout).toContain("tls-py");
  });

  it("loads the web page in Chromium over TLS", async () => {
    const profile = join(dir, "chromium");
    const browser = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", `--ignore-certificate-errors-spki-list=${spkiHash(server.cert)}`],
    });
    try {
      const page = browser.pages()[0] ?? (await browser.newPage());
      const res = await page.goto(`https://localhost:${port(tlsAgent)}/`);
      expect(res?.status()).toBe(200);
      await expect.poll(() => page.textContent("#health"), { timeout: 15_000 }).toMatch(/^healthy/);
    } finally {
      await browser.close();
    }
  });
});

describe("mutual TLS", () => {
  it("needs a client certificate for every route but health", async () => {
    const base = `https://localhost:${port(mtlsAgent)}`;
    expect((await curl(["--cacert", ca.ca, `${base}/health`])).stdout).toMatch(/\n200 2$/);
    const refused = await curl(["--cacert", ca.ca, `${base}/functions`]);
    expect(refused.stdout).toMatch(/CLIENT_CERTIFICATE_REQUIRED[\s\S]*\n401 2$/);
    const rpc = await curl(["--cacert", ca.ca, "-X", "POST", `${base}/faas.v1.FaasAgent/List`, "-H", "Content-Type: application/json", "-d", "{}"]);
    expect(rpc.stdout).toMatch(/"code":"unauthenticated"[\s\S]*\n401 2$/);
    const ok = await curl(["--cacert", ca.ca, "--cert", client.cert, "--key", client.key, `${base}/functions`]);
    expect(ok.stdout).toMatch(/"functions"[\s\S]*\n200 2$/);
  });

  it("serves grpcio with a client certificate and refuses it without one", async () => {
    const target = `localhost:${port(mtlsAgent)}`;
    const ok = await execa(PYTHON, [join(ROOT, "examples", "python_client.py"), "--agent", target, "--id", "mtls-py", "--cacert", ca.ca, "--cert", client.cert, "--key", client.key], { env: pythonEnv, extendEnv: false, reject: false });
    expect(ok.exitCode, ok.stderr).toBe(0);
    const refused = await execa(PYTHON, [join(ROOT, "examples", "python_client.py"), "--agent", target, "--id", "mtls-py2", "--cacert", ca.ca], { env: pythonEnv, extendEnv: false, reject: false });
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(/UNAUTHENTICATED: a client certificate/);
  });

  it("combines with a token: both are required", async () => {
    const both = await startTestAgent({ FAAS_TLS_CERT: server.cert, FAAS_TLS_KEY: server.key, FAAS_TLS_CLIENT_CA: ca.ca, FAAS_AUTH_TOKEN: "s3cret" });
    try {
      const base = `https://localhost:${port(both)}/functions`;
      const certOnly = await curl(["--cacert", ca.ca, "--cert", client.cert, "--key", client.key, base]);
      expect(certOnly.stdout).toMatch(/UNAUTHENTICATED[\s\S]*\n401 2$/);
      const tokenOnly = await curl(["--cacert", ca.ca, "-H", "Authorization: Bearer s3cret", base]);
      expect(tokenOnly.stdout).toMatch(/CLIENT_CERTIFICATE_REQUIRED[\s\S]*\n401 2$/);
      const full = await curl(["--cacert", ca.ca, "--cert", client.cert, "--key", client.key, "-H", "Authorization: Bearer s3cret", base]);
      expect(full.stdout).toMatch(/\n200 2$/);
    } finally {
      await both.dispose();
    }
  });
});

describe("certificate swap", () => {
  it("re-reads the files when they change, without dropping a connected client", async () => {
    const swapDir = await mkdtemp(join(dir, "swap-"));
    const certFile = join(swapDir, "tls.pem");
    const keyFile = join(swapDir, "tls.key");
    copyFileSync(server.cert, certFile);
    copyFileSync(server.key, keyFile);
    const agent = await startTestAgent({ FAAS_TLS_CERT: certFile, FAAS_TLS_KEY: keyFile });
    const ca2 = await makeCa(dir, "second-ca");
    const next = await ca2.issue("server2", "server");
    let session: ClientHttp2Session | undefined;
    try {
      session = h2connect(`https://localhost:${port(agent)}`, { ca: readFileSync(ca.ca) });
      const get = (s: ClientHttp2Session) =>
        new Promise<number>((resolve, reject) => {
          const req = s.request({ ":path": "/health" });
          req.on("response", (h) => resolve(Number(h[":status"])));
          req.on("error", reject);
          req.resume();
          req.end();
        });
      expect(await get(session)).toBe(200);
      // Rotate as tools do: write new files, rename them over the old ones.
      copyFileSync(next.key, `${keyFile}.new`);
      copyFileSync(next.cert, `${certFile}.new`);
      renameSync(`${keyFile}.new`, keyFile);
      renameSync(`${certFile}.new`, certFile);
      const issuer = () =>
        new Promise<string>((resolve, reject) => {
          const s = tlsConnect({ host: "127.0.0.1", port: port(agent), rejectUnauthorized: false, ALPNProtocols: ["h2"] }, () => {
            resolve(String(s.getPeerCertificate().issuer.CN));
            s.destroy();
          });
          s.on("error", reject);
        });
      await expect.poll(issuer, { timeout: 20_000 }).toBe("second-ca");
      expect(await get(session)).toBe(200); // the open connection kept working
      expect(session.destroyed).toBe(false);
    } finally {
      session?.close();
      await agent.dispose();
    }
  });
});
