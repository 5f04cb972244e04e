import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, withDotEnv } from "../src/config.ts";

describe("loadConfig", () => {
  it("defaults to the local platform on 127.0.0.1:5000 without auth", () => {
    const config = loadConfig({ HOME: "/home/u" });
    expect(config).toMatchObject({ platform: "local", workflow: "local", host: "127.0.0.1", port: 5000, authTokens: [], debug: false, logLevel: "info", dockerRepoPrefix: "library" });
    expect(config.local.stateDir).toBe("/home/u/.local/state/radical-faas");
    expect(config.knative).toEqual({ domain: "example.com", namespace: "default", timeoutSeconds: 60 });
    expect(config.nuclio).toEqual({
      namespace: "nuclio",
      platformKind: "kube",
      timeoutSeconds: 60,
      dashboardUrl: "http://localhost:8070",
      project: "default",
      invokeVia: "dashboard",
    });
    expect(config.docker.timeoutSeconds).toBe(300);
  });

  it("reads the prototype's variables and the new ones", () => {
    const config = loadConfig({
      PORT: "5001",
      FLASK_DEBUG: "true",
      FAAS_HOST: "0.0.0.0",
      FAAS_AUTH_TOKEN: "a, b",
      FAAS_IDLE_TIMEOUT: "0",
      FAAS_INVOKE_TIMEOUT: "2.5",
      FAAS_STATE_DIR: "/tmp/s",
      KNATIVE_DOMAIN: "192.168.49.2.nip.io",
      NUCLIO_PLATFORM_KIND: "local",
    });
    expect(config).toMatchObject({ port: 5001, debug: true, logLevel: "debug", host: "0.0.0.0", authTokens: ["a", "b"], idleTimeoutMs: 0, invokeTimeoutMs: 2500 });
    expect(config.local.stateDir).toBe("/tmp/s");
    expect(config.knative.domain).toBe("192.168.49.2.nip.io");
    expect(config.nuclio.platformKind).toBe("local");
  });

  it.each([
    [{ RADICAL_FAAS_PLATFORM: "lambda" }, /RADICAL_FAAS_PLATFORM=lambda is invalid; expected one of: local, docker, knative, nuclio/],
    [{ RADICAL_FAAS_PLATFORM: "knative", KNATIVE_INGRESS_URL: "kourier:80" }, /KNATIVE_INGRESS_URL=kourier:80 is invalid; expected an http:\/\/ URL/],
    [{ RADICAL_FAAS_PLATFORM: "docker", FAAS_DOCKER_NAMESPACE: "Bad Name" }, /FAAS_DOCKER_NAMESPACE=Bad Name is invalid/],
    [{ FAAS_WORKFLOW: "registry" }, /FAAS_WORKFLOW=registry needs RADICAL_FAAS_REGISTRY/],
    [{ NUCLIO_DASHBOARD_URL: "localhost:8070" }, /NUCLIO_DASHBOARD_URL=localhost:8070 must be an http\(s\) URL/],
    [{ NUCLIO_DASHBOARD_URL: "not a url" }, /NUCLIO_DASHBOARD_URL=not a url is not a URL/],
    [{ NUCLIO_INVOKE_VIA: "ssh" }, /NUCLIO_INVOKE_VIA=ssh is invalid/],
    [{ PORT: "http" }, /PORT=http is invalid/],
    [{ FLASK_DEBUG: "maybe" }, /FLASK_DEBUG=maybe is invalid/],
    [{ FAAS_INVOKE_TIMEOUT: "0" }, /FAAS_INVOKE_TIMEOUT=0 is invalid/],
  ])("refuses %o", (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});

describe("withDotEnv", () => {
  it("reads .env from the working directory; exported variables win", async () => {
    const dir = await mkdtemp(join(tmpdir(), "faas-env-"));
    try {
      await writeFile(join(dir, ".env"), "FAAS_WORKFLOW=local\nPORT=5005\nKNATIVE_NAMESPACE=dev\n");
      const env = withDotEnv({ PORT: "6000" }, dir);
      expect(env).toMatchObject({ FAAS_WORKFLOW: "local", PORT: "6000", KNATIVE_NAMESPACE: "dev" });
      expect(withDotEnv({ A: "1" }, tmpdir())).toEqual({ A: "1" });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
