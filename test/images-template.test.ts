import { describe, expect, it } from "vitest";
import { extract } from "tar-stream";
import { buildContext } from "../src/images/context.ts";
import { registryAuth, registryHost } from "../src/images/push.ts";
import { buildArgs, DOCKERFILE, imageHash, imageInputs, RUNTIME_SOURCE } from "../src/images/template.ts";
import type { DeploySpec } from "../src/domain/types.ts";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

const spec = (over: Partial<DeploySpec> = {}): DeploySpec => ({ id: "fn", handler: "def handle(req):\n    return req", requirements: "", params: {}, env: {}, options: {}, ...over });

describe("function image template", () => {
  it("is a constant whose only parameters are build arguments", () => {
    expect(DOCKERFILE).toMatch(/^ARG BASE_IMAGE\nFROM \$\{BASE_IMAGE\}$/m);
    expect(DOCKERFILE).toMatch(/^USER 10001:10001$/m);
    // The handler is the last layer, after requirements: a handler-only change rebuilds only it.
    expect(DOCKERFILE.indexOf("COPY requirements.txt")).toBeLessThan(DOCKERFILE.indexOf("COPY handler.py"));
    expect(DOCKERFILE.trimEnd().split("\n").at(-1)).toMatch(/^COPY handler\.py /);
    const inputs = imageInputs(spec({ params: { PYTHON_VERSION: "3.12", PIP_INDEX_URL: "http://127.0.0.1:9/simple/" } }));
    expect(buildArgs(inputs)).toEqual({ BASE_IMAGE: "python:3.12-slim", PIP_INDEX_URL: "http://127.0.0.1:9/simple/" });
    expect(buildArgs(imageInputs(spec()))).toEqual({ BASE_IMAGE: "python:3.11-slim" });
  });

  it("refuses parameters that do not match their patterns, whoever calls it", () => {
    expect(() => imageInputs(spec({ params: { PYTHON_VERSION: "3.11; rm -rf /" } }))).toThrow(/PYTHON_VERSION/);
    expect(() => imageInputs(spec({ params: { BASE_IMAGE: "python:3.11 slim" } }))).toThrow(/BASE_IMAGE/);
  });

  it("hashes every input: handler, requirements, parameters and the base image id", () => {
    const base = imageHash(imageInputs(spec()), "sha256:a");
    expect(base).toMatch(/^[0-9a-f]{20}$/);
    expect(imageHash(imageInputs(spec()), "sha256:a")).toBe(base);
    expect(imageHash(imageInputs(spec({ handler: "def handle(req):\n    return 1" })), "sha256:a")).not.toBe(base);
    expect(imageHash(imageInputs(spec({ requirements: "x==1" })), "sha256:a")).not.toBe(base);
    expect(imageHash(imageInputs(spec({ params: { PYTHON_VERSION: "3.12" } })), "sha256:a")).not.toBe(base);
    expect(imageHash(imageInputs(spec({ params: { PIP_INDEX_URL: "http://127.0.0.1:9/simple/" } })), "sha256:a")).not.toBe(base);
    expect(imageHash(imageInputs(spec()), "sha256:b")).not.toBe(base);
    // env is not in the image: it changes the container, not the hash.
    expect(imageHash(imageInputs(spec({ env: { A: "1" } })), "sha256:a")).toBe(base);
  });

  it("packs exactly the four fixed files into the build context", async () => {
    const files = new Map<string, string>();
    const tar = extract();
    tar.on("entry", (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on("data", (c: unknown) => chunks.push(c as Buffer));
      stream.on("end", () => {
        files.set(header.name, Buffer.concat(chunks).toString());
        next();
      });
    });
    const done = new Promise<void>((resolve) => tar.on("finish", () => resolve()));
    buildContext(imageInputs(spec({ requirements: "x==1\n" }))).pipe(tar);
    await done;
    expect([...files.keys()]).toEqual(["Dockerfile", "faas_runtime.py", "handler.py", "requirements.txt"]);
    expect(files.get("Dockerfile")).toBe(DOCKERFILE);
    expect(files.get("faas_runtime.py")).toBe(RUNTIME_SOURCE.toString());
    expect(files.get("handler.py")).toBe("def handle(req):\n    return req");
    expect(files.get("requirements.txt")).toBe("x==1\n");
  });
});

describe("registry credentials", () => {
  it("come from the environment first, then the Docker config file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "faas-dockercfg-"));
    await writeFile(join(dir, "config.json"), JSON.stringify({ auths: { "https://reg.example:5000": { auth: Buffer.from("me:s3cret").toString("base64") } } }));
    expect(registryHost("reg.example:5000/team")).toBe("reg.example:5000");
    expect(registryAuth("reg.example:5000/team", { DOCKER_CONFIG: dir })).toEqual({ username: "me", password: "s3cret", serveraddress: "reg.example:5000" });
    expect(registryAuth("other.example", { DOCKER_CONFIG: dir })).toBeUndefined();
    expect(registryAuth("reg.example:5000", { DOCKER_CONFIG: dir, FAAS_REGISTRY_USERNAME: "u", FAAS_REGISTRY_PASSWORD: "p" })).toMatchObject({ username: "u" });
  });
});
