import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/config.ts";

// Safe exposure: listening beyond loopback needs a token or mutual TLS, unless the operator says so.
const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));

describe("start-up beyond loopback", () => {
  it("stops with one line saying why and how to fix it", async () => {
    const run = await execa("node", ["--import", "tsx", MAIN], {
      env: { ...process.env, FAAS_HOST: "0.0.0.0", PORT: "0", FAAS_AUTH_TOKEN: "", FAAS_ALLOW_INSECURE: "" },
      reject: false,
      timeout: 30_000,
    });
    expect(run.exitCode).toBe(2);
    const lines = run.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/FAAS_HOST=0\.0\.0\.0 exposes the agent .* set FAAS_AUTH_TOKEN .*FAAS_TLS_CLIENT_CA.*FAAS_ALLOW_INSECURE=1/);
  });

  it("starts with a token, with mTLS, or with FAAS_ALLOW_INSECURE=1; loopback needs none", () => {
    expect(() => loadConfig({ FAAS_HOST: "192.168.1.5" })).toThrow(ConfigError);
    expect(() => loadConfig({ FAAS_HOST: "::" })).toThrow(ConfigError);
    expect(() => loadConfig({ FAAS_HOST: "my-laptop.lan" })).toThrow(ConfigError);
    expect(loadConfig({ FAAS_HOST: "0.0.0.0", FAAS_AUTH_TOKEN: "t" }).host).toBe("0.0.0.0");
    expect(loadConfig({ FAAS_HOST: "0.0.0.0", FAAS_ALLOW_INSECURE: "1" }).exposure.allowInsecure).toBe(true);
    for (const host of ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.53"]) expect(loadConfig({ FAAS_HOST: host }).host).toBe(host);
  });

  it("checks the allow-lists and the TLS variables", () => {
    expect(loadConfig({ FAAS_ALLOWED_HOSTS: "a.example, .corp.example:8443,*", FAAS_ALLOWED_ORIGINS: "https://app.example.com" }).exposure).toMatchObject({
      allowedHosts: ["a.example", ".corp.example:8443", "*"],
      allowedOrigins: ["https://app.example.com"],
    });
    expect(() => loadConfig({ FAAS_ALLOWED_ORIGINS: "https://app.example.com/path" })).toThrow(/not an origin/);
    expect(() => loadConfig({ FAAS_ALLOWED_ORIGINS: "*" })).toThrow(/not an origin/);
    expect(() => loadConfig({ FAAS_ALLOWED_HOSTS: "a b" })).toThrow(/FAAS_ALLOWED_HOSTS/);
    expect(() => loadConfig({ FAAS_TLS_CERT: "/nonexistent.pem" })).toThrow(/go together/);
    expect(() => loadConfig({ FAAS_TLS_CERT: "/nonexistent.pem", FAAS_TLS_KEY: "/nonexistent.key" })).toThrow(/no such file/);
  });
});
