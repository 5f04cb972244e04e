import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HostPolicy } from "../src/server/hosts.ts";
import { getJson, startTestAgent, type TestAgent } from "./support/agent.ts";

// The browser attacks of browser-attacks.test.ts, made with curl (a client that can send any
// header), and the prototype README's own curl examples, which must keep working unchanged.

let agent: TestAgent;
let dir: string;
let port: number;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "faas-guard-"));
  agent = await startTestAgent();
  port = agent.address.port;
});
afterAll(async () => {
  await agent?.dispose();
  await rm(dir, { recursive: true, force: true });
});

/** Runs curl; returns the status, the response headers (lowercase names) and the body. */
async function curl(args: string[]): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const out = await execa("curl", ["-sS", "-i", "--max-time", "60", ...args]);
  // Skip interim responses (100 Continue) to the final one.
  const blocks = out.stdout.split(/\r?\n\r?\n/);
  let i = 0;
  while (/^HTTP\/[\d.]+ 1\d\d/.test(blocks[i] ?? "") && i < blocks.length - 1) i++;
  const [statusLine, ...lines] = blocks[i]!.split(/\r?\n/);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const at = line.indexOf(":");
    headers[line.slice(0, at).toLowerCase()] = line.slice(at + 1).trim();
  }
  return { status: Number(statusLine!.split(" ")[1]), headers, body: blocks.slice(i + 1).join("\n\n") };
}

function hostileHandler(marker: string): string {
  return `import pathlib\npathlib.Path(${JSON.stringify(marker)}).write_text("pwned")\ndef handle(req):\n    return "pwned"\n`;
}

describe("the prototype README's curl examples", () => {
  it("work exactly as written (against this agent's port)", async () => {
    const base = `http://localhost:${port}`;
    expect((await curl([`${base}/health`])).status).toBe(200);
    const deployed = await curl([
      "-X", "POST", `${base}/deploy`,
      "-H", "Content-Type: application/json",
      "-d", '{"id": "hello-world", "handler": "def handle(req):\\n    return \\"Hello, World!\\""}',
    ]);
    expect(deployed.status, deployed.body).toBe(200);
    const invoked = await curl(["-X", "POST", `${base}/invoke`, "-H", "Content-Type: application/json", "-d", '{"id": "hello-world", "payload": {}}']);
    expect(invoked.status).toBe(200);
    expect(JSON.parse(invoked.body)).toMatchObject({ result: "Hello, World!", status: "success" });
    const head = await curl(["-I", `${base}/health`]);
    expect(head.status).toBe(200);
    expect(head.body).toBe("");
  });
});

describe("cross-site requests, sent with curl", () => {
  const attempts: Array<[string, string[], number, string]> = [
    ["a text/plain deploy (a browser's no-cors simple request)", ["-H", "Content-Type: text/plain;charset=UTF-8"], 415, "UNSUPPORTED_MEDIA_TYPE"],
    ["a form-encoded deploy", ["-H", "Content-Type: application/x-www-form-urlencoded"], 415, "UNSUPPORTED_MEDIA_TYPE"],
    ["a multipart deploy", ["-H", "Content-Type: multipart/form-data; boundary=x"], 415, "UNSUPPORTED_MEDIA_TYPE"],
    ["a deploy without a content type", ["-H", "Content-Type:"], 415, "UNSUPPORTED_MEDIA_TYPE"],
    ["a JSON deploy from a foreign Origin", ["-H", "Content-Type: application/json", "-H", "Origin: http://evil.example"], 403, "ORIGIN_NOT_ALLOWED"],
    ["a JSON deploy from another port of 127.0.0.1", ["-H", "Content-Type: application/json", "-H", "Origin: http://127.0.0.1:1"], 403, "ORIGIN_NOT_ALLOWED"],
    ["a JSON deploy from Origin null (sandboxed frame)", ["-H", "Content-Type: application/json", "-H", "Origin: null"], 403, "ORIGIN_NOT_ALLOWED"],
    ["a rebound JSON deploy (foreign Host)", ["-H", "Content-Type: application/json", "-H", "Host: rebind.evil.example:PORT"], 421, "HOST_NOT_ALLOWED"],
    ["a rebound deploy on the agent's address but another port", ["-H", "Content-Type: application/json", "-H", "Host: 127.0.0.1:1"], 421, "HOST_NOT_ALLOWED"],
  ];
  for (const [name, headers, status, reason] of attempts) {
    it(`refuses ${name} with ${status}, and nothing runs`, async () => {
      const marker = join(dir, `marker-${name.length}`);
      const body = JSON.stringify({ id: "evil", handler: hostileHandler(marker) });
      const res = await curl(["-X", "POST", `http://127.0.0.1:${port}/deploy`, ...headers.map((h) => h.replace("PORT", String(port))), "--data-binary", body]);
      expect(res.status, res.body).toBe(status);
      expect(JSON.parse(res.body)).toMatchObject({ reason });
      expect(res.headers["access-control-allow-origin"]).toBeUndefined();
      expect(existsSync(marker)).toBe(false);
      expect((await getJson(`${agent.url}/functions`)).body.functions.map((f: { id: string }) => f.id)).not.toContain("evil");
    });
  }

  it("refuses a rebinding read of /functions and a foreign preflight, without CORS headers", async () => {
    const read = await curl([`http://127.0.0.1:${port}/functions`, "-H", `Host: rebind.evil.example:${port}`]);
    expect(read.status).toBe(421);
    expect(read.body).not.toContain("functions");
    const preflight = await curl(["-X", "OPTIONS", `http://127.0.0.1:${port}/deploy`, "-H", "Origin: http://evil.example", "-H", "Access-Control-Request-Method: POST"]);
    expect(preflight.status).toBe(403);
    expect(Object.keys(preflight.headers).filter((h) => h.startsWith("access-control-"))).toEqual([]);
  });

  it("refuses non-RPC content types on the RPC paths and Connect GET of a method with effects", async () => {
    const url = `http://127.0.0.1:${port}/faas.v1.FaasAgent/Deploy`;
    const plain = await curl(["-X", "POST", url, "-H", "Content-Type: text/plain", "--data-binary", '{"handler": "def handle(r): return 1"}']);
    expect(plain.status).toBe(415);
    expect(JSON.parse(plain.body)).toMatchObject({ code: "invalid_argument" });
    expect(JSON.parse(plain.body).message).toContain("application/grpc");
    const get = await curl([`${url}?encoding=json&message=${encodeURIComponent('{"handler":"def handle(r): return 1"}')}`]);
    expect(get.status).toBe(405);
    const list = await curl([`http://127.0.0.1:${port}/faas.v1.FaasAgent/List?encoding=json&message=%7B%7D`]);
    expect(list.status).toBe(200); // side-effect-free methods keep Connect GET
  });

  it("serves the same requests to the agent's own page and to FAAS_ALLOWED_HOSTS names", async () => {
    const own = await curl([`http://127.0.0.1:${port}/functions`, "-H", `Origin: http://127.0.0.1:${port}`]);
    expect(own.status).toBe(200);
    expect(own.headers["access-control-allow-origin"]).toBeUndefined(); // same origin needs no CORS
    const named = await startTestAgent({ FAAS_ALLOWED_HOSTS: "faas.internal, .corp.example" });
    try {
      for (const host of ["faas.internal", "faas.internal:8443", "api.corp.example", "corp.example"]) {
        expect((await curl([`${named.url}/functions`, "-H", `Host: ${host}`])).status, host).toBe(200);
      }
      expect((await curl([`${named.url}/functions`, "-H", "Host: evilcorp.example"])).status).toBe(421);
    } finally {
      await named.dispose();
    }
  });
});

describe("HostPolicy", () => {
  const policy = (bindHost = "127.0.0.1", allowedHosts: string[] = [], tls = false) => {
    const p = new HostPolicy({ bindHost, allowedHosts, allowedOrigins: ["https://app.example.com"], tls });
    p.bind(5000);
    return p;
  };

  it("accepts loopback names and addresses on the agent's port only", () => {
    const p = policy();
    for (const h of ["localhost:5000", "LOCALHOST:5000", "127.0.0.1:5000", "[::1]:5000", "app.localhost:5000", "127.0.0.2:5000"]) expect(p.allowsHost(h), h).toBe(true);
    for (const h of ["localhost:5001", "localhost", "evil.example:5000", "127.0.0.1.nip.io:5000", "", undefined, "[::2]:5000"]) expect(p.allowsHost(h), String(h)).toBe(false);
  });

  it("accepts FAAS_HOST, and every interface address when it is a wildcard", () => {
    expect(policy("myhost.lan").allowsHost("myhost.lan:5000")).toBe(true);
    expect(policy("myhost.lan").allowsHost("myhost.lan:5001")).toBe(false);
    expect(policy("0.0.0.0").allowsHost("127.0.0.1:5000")).toBe(true);
    expect(policy("0.0.0.0", ["*"]).allowsHost("anything.example")).toBe(true);
  });

  it("judges origins: own (any scheme, as behind a TLS proxy), allowed, or refused", () => {
    const p = policy();
    expect(p.origin("http://localhost:5000", "localhost:5000")).toBe("own");
    expect(p.origin("https://faas.example.com", "faas.example.com")).toBe("own");
    expect(p.origin("https://faas.example.com", "faas.example.com:443")).toBe("own");
    expect(p.origin("https://app.example.com", "localhost:5000")).toBe("allowed");
    expect(p.origin("http://localhost:5001", "localhost:5000")).toBe("refused");
    expect(p.origin("null", "localhost:5000")).toBe("refused");
    expect(p.origin("file://", "localhost:5000")).toBe("refused");
  });
});
