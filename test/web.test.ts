import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestAgent, type TestAgent } from "./support/agent.ts";
import { chromiumPath, requirePart } from "./support/requires.ts";

// The web page the agent serves at `/`, driven in real Chromium (Debian's package; .ci/run installs
// it). The page is built by `npm run build:web`, which `npm test` runs first (pretest).
const CHROMIUM = chromiumPath();
const skipChromium = await requirePart("chromium");
const SCREENSHOT = process.env.FAAS_UI_SCREENSHOT ?? join(tmpdir(), "faas-ui.png");

let agent: TestAgent;
let browser: BrowserContext;
let profile: string;
let page: Page;
beforeAll(async () => {
  agent = await startTestAgent();
  if (skipChromium) return; // "static files" below needs no browser
  profile = await mkdtemp(join(tmpdir(), "faas-chromium-"));
  // A fresh profile each run (playwright passes it as --user-data-dir).
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    viewport: { width: 1280, height: 1100 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-quic",
    ],
  });
  page = browser.pages()[0] ?? (await browser.newPage());
  await page.goto(agent.url);
});
afterAll(async () => {
  await browser?.close();
  await agent?.dispose();
  if (profile) await rm(profile, { recursive: true, force: true });
});

/** Fills the deploy form and submits it. */
async function submitDeploy(id: string, handler: string, params = ""): Promise<void> {
  await page.fill("#deploy-id", id);
  await page.fill("#deploy-handler", handler);
  await page.fill("#deploy-params", params);
  await page.click("#deploy-button");
}

describe.skipIf(skipChromium)("web page", () => {
  it("is served at / with its bundled assets, nothing from elsewhere", async () => {
    const res = await fetch(`${agent.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const html = await res.text();
    const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]);
    expect(assets.some((a) => a.endsWith(".js"))).toBe(true);
    expect(html).not.toMatch(/(src|href)="https?:/);
    for (const asset of assets) {
      const a = await fetch(`${agent.url}${asset}`);
      expect(a.status).toBe(200);
      expect(a.headers.get("content-type")).toMatch(asset.endsWith(".js") ? /^text\/javascript/ : /^text\/css/);
    }
    await expect.poll(() => page.textContent("#health"), { timeout: 10_000 }).toMatch(/^healthy · local · v\d/);
  });

  it("streams a deploy's build log into the page while it runs", async () => {
    // The import prints a line, then takes 1.5 s: the line must show before the deploy is ready.
    const handler = 'import sys, time\nprint("warming up", flush=True)\ntime.sleep(1.5)\nprint("warm", flush=True)\ndef handle(req):\n    return {"hello": req.get("name", "world")}\n';
    await submitDeploy("web-hello", handler, "PYTHON_VERSION=3.11");
    await page.waitForFunction(() => document.getElementById("deploy-log")!.textContent!.includes("stdout: warming up"));
    const whileStreaming = await page.evaluate(() => ({
      ready: document.querySelector('#deploy-phases li[data-phase="ready"]')!.getAttribute("data-state"),
      deploying: document.querySelector('#deploy-phases li[data-phase="deploying"]')!.getAttribute("data-state"),
      log: document.getElementById("deploy-log")!.textContent!,
      button: (document.getElementById("deploy-button") as HTMLButtonElement).disabled,
    }));
    expect(whileStreaming.ready).toBe("pending");
    expect(whileStreaming.deploying).toBe("active");
    expect(whileStreaming.button).toBe(true);
    expect(whileStreaming.log).not.toContain("warm\n");
    expect(whileStreaming.log).toContain("▸ building");

    await page.waitForFunction(() => document.getElementById("deploy-status")!.textContent!.startsWith("deployed web-hello"));
    const states = await page.$$eval("#deploy-phases li", (lis) => lis.map((li) => li.getAttribute("data-state")));
    expect(states).toEqual(["done", "done", "done", "done", "done"]);
    expect(await page.textContent("#deploy-log")).toContain("stdout: warm");
    // The function list picks it up.
    await page.waitForSelector('#functions tr[data-id="web-hello"]');
    expect(await page.textContent('#functions tr[data-id="web-hello"]')).toMatch(/web-hello(running|idle)yes3\.11/);
  });

  it("invokes with a JSON payload and shows result, time and cold start", async () => {
    await page.fill("#invoke-id", "web-hello");
    await page.fill("#invoke-payload", '{"name": "chromium"}');
    await page.click("#invoke-button");
    await page.waitForSelector("#invoke-result:not([hidden])");
    expect(JSON.parse((await page.textContent("#invoke-result"))!)).toEqual({ hello: "chromium" });
    expect(await page.textContent("#invoke-time")).toMatch(/^\d+\.\d ms$/);
    expect(await page.textContent("#invoke-cold")).toMatch(/^(yes|no)$/);
    expect(await page.textContent("#invoke-platform")).toBe("local");
    expect(await page.isHidden("#invoke-error")).toBe(true);
    await page.screenshot({ path: SCREENSHOT, fullPage: true }); // streamed deploy and a successful call

    await page.fill("#invoke-payload", "{not json");
    await page.click("#invoke-button");
    await expect.poll(() => page.textContent("#invoke-error")).toMatch(/^the payload is not valid JSON/);
    expect(await page.isHidden("#invoke-result")).toBe(true); // no stale result beside the error
  });

  it("shows a broken handler's error with its traceback", async () => {
    await submitDeploy("web-broken", "import json\ndef handle(req)\n    return 1\n");
    await page.waitForSelector("#deploy-error:not([hidden])");
    const error = (await page.textContent("#deploy-error"))!;
    expect(error).toMatch(/^invalid_argument: handler failed to import: SyntaxError/);
    expect(error).toContain("reason: HANDLER_INVALID");
    expect(error).toContain('handler.py", line 2');
    expect(await page.textContent("#deploy-status")).toBe("deploy failed");
    expect(await page.getAttribute('#deploy-phases li[data-phase="deploying"]', "data-state")).toBe("failed");
    await page.screenshot({ path: SCREENSHOT.replace(/\.png$/, "-deploy-error.png"), fullPage: true });

    // A handler that raises: the invoke error shows the exception and traceback.
    await submitDeploy("web-raises", 'def handle(req):\n    raise RuntimeError("boom: " + str(req))\n');
    await page.waitForFunction(() => document.getElementById("deploy-status")!.textContent!.startsWith("deployed web-raises"));
    await page.fill("#invoke-id", "web-raises");
    await page.fill("#invoke-payload", "42");
    await page.click("#invoke-button");
    await page.waitForSelector("#invoke-error:not([hidden])");
    const invokeError = (await page.textContent("#invoke-error"))!;
    expect(invokeError).toMatch(/^unknown: /);
    expect(invokeError).toContain("reason: FUNCTION_ERROR");
    expect(invokeError).toContain("RuntimeError");
    expect(invokeError).toContain("boom: 42");
    expect(await page.isHidden("#invoke-result")).toBe(true);
    await page.screenshot({ path: SCREENSHOT.replace(/\.png$/, "-invoke-error.png"), fullPage: true });
  });
});

describe("static files", () => {
  it("serve nothing outside the built page and leave REST and Connect alone", async () => {
    // Raw traversal paths are tested in static.test.ts (fetch normalises `..`); here, the real root.
    for (const path of ["/..%2f..%2fpackage.json", "/..%2fagent.ts", "/main.ts", "/vite.config.ts", "/assets/nope.js"]) {
      const res = await fetch(`${agent.url}${path}`);
      expect(res.status, path).toBe(404);
      expect(await res.json(), path).toHaveProperty("error");
    }
    expect((await fetch(`${agent.url}/`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" })).status).toBe(404);
    expect((await fetch(`${agent.url}/`, { method: "POST" })).status).toBe(415); // no JSON, no state change
    expect((await fetch(`${agent.url}/health`)).headers.get("content-type")).toBe("application/json");
    const rpc = await fetch(`${agent.url}/faas.v1.FaasAgent/Health`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(rpc.status).toBe(200);
    expect((await rpc.json()).status).toBe("healthy");
  });
});
