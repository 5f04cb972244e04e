import { request } from "node:http";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStaticHandler, filePath } from "../src/server/static.ts";

let root: string;
let server: Server;
let port: number;
beforeAll(async () => {
  const parent = await mkdtemp(join(tmpdir(), "faas-static-"));
  root = join(parent, "dist");
  await mkdir(join(root, "assets"), { recursive: true });
  await writeFile(join(root, "index.html"), "<!doctype html><title>page</title>");
  await writeFile(join(root, "assets", "app-1234.js"), "console.log(1)");
  await writeFile(join(root, ".secret.js"), "hidden");
  await writeFile(join(parent, "outside.js"), "OUTSIDE-CONTENT");
  const handler = createStaticHandler(root);
  server = createServer((req, res) => handler(req as never, res as never));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server?.close();
  if (root) await rm(join(root, ".."), { recursive: true, force: true });
});

/** A raw request: the path goes on the wire exactly as given (fetch would normalise `..`). */
function raw(path: string, method = "GET"): Promise<{ status: number; type: string | undefined; body: string; cache?: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode!, type: res.headers["content-type"], body, cache: res.headers["cache-control"] }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("static file handler", () => {
  it("serves / as index.html and assets with their content types", async () => {
    const index = await raw("/");
    expect(index).toMatchObject({ status: 200, type: "text/html; charset=utf-8", body: "<!doctype html><title>page</title>", cache: "no-cache" });
    const js = await raw("/assets/app-1234.js?v=1");
    expect(js).toMatchObject({ status: 200, type: "text/javascript; charset=utf-8", body: "console.log(1)" });
    expect(js.cache).toContain("immutable");
    const head = await raw("/assets/app-1234.js", "HEAD");
    expect(head).toMatchObject({ status: 200, body: "" });
  });

  it("never leaves the root: traversal, encoded traversal, dotfiles, other methods are 404", async () => {
    for (const path of ["/../outside.js", "/assets/../../outside.js", "/%2e%2e/outside.js", "/..%2foutside.js", "/assets/..%5c..%5coutside.js", "/.secret.js", "/%00.js", "/nope.js", "/assets"]) {
      const res = await raw(path);
      expect(res.status, path).toBe(404);
      expect(JSON.parse(res.body), path).toHaveProperty("error");
      expect(res.body, path).not.toContain("OUTSIDE-CONTENT");
    }
    expect((await raw("/", "POST")).status).toBe(404);
    expect((await raw("/", "DELETE")).status).toBe(404);
  });

  it("filePath resolves inside the root only", () => {
    expect(filePath(root, "/")).toBe(join(root, "index.html"));
    expect(filePath(root, "/assets/a.js")).toBe(join(root, "assets", "a.js"));
    // Plain and %2e-encoded dot segments are resolved by URL parsing, within the root...
    expect(filePath(root, "/../x")).toBe(join(root, "x"));
    expect(filePath(root, "/a/%2e%2e/%2e%2e/x")).toBe(join(root, "x"));
    // ...and what only decoding turns into a dot segment or a separator is refused.
    expect(filePath(root, "/..%2f..%2fx")).toBeUndefined();
    expect(filePath(root, "/a/..%5c..%5cx")).toBeUndefined();
    expect(filePath(root, "/%2e%2e%2fx")).toBeUndefined();
    expect(filePath(root, "/%E0%A4%A")).toBeUndefined(); // malformed escape
  });

  it("explains how to build the page when it is missing", async () => {
    const handler = createStaticHandler(join(root, "missing"));
    const missing = createServer((req, res) => handler(req as never, res as never));
    await new Promise<void>((resolve) => missing.listen(0, "127.0.0.1", resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${(missing.address() as AddressInfo).port}/`);
      expect(res.status).toBe(404);
      expect(await res.text()).toContain("npm run build:web");
    } finally {
      missing.close();
    }
  });
});
