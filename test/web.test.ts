import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deploy, postJson, startTestAgent, type TestAgent } from "./support/agent.ts";
import { launchBrowser, type TestBrowser } from "./support/browser.ts";
import { startLocalIndex } from "./support/pypi.ts";
import { requirePart } from "./support/requires.ts";

// The web page the agent serves at `/`, driven in real Chromium (Debian's package; .ci/run installs
// it). The page is built by `npm run build:web`, which `npm test` runs first (pretest). Each state
// is asserted by what the page shows and saved as a screenshot (test/artifacts/web/web-*.png;
// docs/images/ holds copies for docs/web.md).
const skipChromium = await requirePart("chromium");

const HELLO = [
  "import os, sys, time",
  'print("warming up", flush=True)',
  "time.sleep(1.5)",
  'print("warm", flush=True)',
  "def handle(req):",
  '    print("handling", req.get("name"), flush=True)',
  '    print("to stderr", req.get("name"), file=sys.stderr, flush=True)',
  '    return {"hello": req.get("name", "world"), "greeting": os.environ.get("GREETING")}',
  "",
].join("\n");

let agent: TestAgent;
let browser: TestBrowser;
let page: Page;
beforeAll(async () => {
  agent = await startTestAgent();
  if (skipChromium) return; // "static files" below needs no browser
  browser = await launchBrowser();
  page = await browser.open(agent.url);
});
afterAll(async () => {
  await browser?.close();
  await agent?.dispose();
});

/** Fills the deploy form and submits it. */
async function submitDeploy(id: string, handler: string, params = "", env = ""): Promise<void> {
  await page.fill("#deploy-id", id);
  await page.fill("#deploy-handler", handler);
  await page.fill("#deploy-params", params);
  await page.fill("#deploy-env", env);
  await page.click("#deploy-button");
}

/** The page's visible text (what a person sees, hidden elements left out). */
function visibleText(p: Page): Promise<string> {
  return p.evaluate(() => document.body.innerText);
}

// Deadlines, not sleeps: generous ones, since a deploy on a loaded CI machine can take a minute.
describe.skipIf(skipChromium)("web page", { timeout: 240_000 }, () => {
  it("is served at / with its bundled assets, nothing from elsewhere", async () => {
    const res = await fetch(`${agent.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(res.headers.get("content-security-policy")).toMatch(/^default-src 'self'/);
    const html = await res.text();
    const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]);
    expect(assets.some((a) => a.endsWith(".js"))).toBe(true);
    expect(html).not.toMatch(/(src|href)="https?:/);
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)|\sstyle=/); // nothing inline: the CSP would block it
    for (const asset of assets) {
      const a = await fetch(`${agent.url}${asset}`);
      expect(a.status).toBe(200);
      expect(a.headers.get("content-type")).toMatch(asset.endsWith(".js") ? /^text\/javascript/ : /^text\/css/);
    }
    await expect.poll(() => page.textContent("#health"), { timeout: 10_000 }).toMatch(/^healthy · local · v\d/);
  });

  it("says 'No functions yet' when the agent answers with none", async () => {
    await page.waitForSelector("#functions-empty:not([hidden])");
    expect(await page.textContent("#functions-empty")).toBe("No functions yet: deploy one below.");
    expect(await page.isHidden("#functions")).toBe(true);
    expect(await page.isHidden("#connection")).toBe(true);
    await browser.screenshot(page, "empty");
  });

  it("streams a deploy's build log into the page while it runs, then opens the function", async () => {
    // The import prints a line, then takes 1.5 s: the line must show before the deploy is ready.
    await submitDeploy("web-hello", HELLO, "PYTHON_VERSION=3.11", "GREETING=hi there\nAPI_SECRET=s3cr3t-value");
    await page.waitForFunction(() => document.getElementById("deploy-log")!.textContent!.includes("warming up"));
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
    expect(await page.textContent("#deploy-log")).toContain("warm");
    // The deployed function opens in the detail view.
    await page.waitForURL(/#\/functions\/web-hello$/);
    await page.waitForSelector('#detail-meta dd[data-field="state"]');
    expect(await page.isHidden("#functions-card")).toBe(true);
    await browser.screenshot(page, "deploy");
  });

  it("invokes with a JSON payload and shows result, time and cold start; env reaches the function", async () => {
    await page.fill("#invoke-id", "web-hello");
    await page.fill("#invoke-payload", '{"name": "chromium"}');
    await page.click("#invoke-button");
    await page.waitForSelector("#invoke-result:not([hidden])");
    expect(JSON.parse((await page.textContent("#invoke-result"))!)).toEqual({ hello: "chromium", greeting: "hi there" });
    expect(await page.textContent("#invoke-time")).toMatch(/^\d+\.\d ms$/);
    expect(await page.textContent("#invoke-cold")).toMatch(/^(yes|no)$/);
    expect(await page.textContent("#invoke-platform")).toBe("local");
    expect(await page.isHidden("#invoke-error")).toBe(true);

    await page.fill("#invoke-payload", "{not json");
    await page.click("#invoke-button");
    await expect.poll(() => page.textContent("#invoke-error")).toMatch(/^the payload is not valid JSON/);
    expect(await page.isHidden("#invoke-result")).toBe(true); // no stale result beside the error
  });

  it("shows the function's detail and follows its logs live", async () => {
    expect(await page.textContent('#detail-meta dd[data-field="state"]')).toMatch(/^(running|idle)$/);
    expect(await page.textContent('#detail-meta dd[data-field="python"]')).toBe("3.11");
    expect(await page.textContent('#detail-meta dd[data-field="platform"]')).toBe("local");
    // The call above is in the backlog the stream sends first...
    await page.waitForFunction(() => document.getElementById("logs")!.textContent!.includes("handling chromium"));
    expect(await page.textContent("#logs")).toContain("to stderr chromium");
    expect(await page.$$eval("#logs .stderr", (lines) => lines.map((l) => l.textContent))).toEqual([expect.stringContaining("to stderr chromium")]);
    // ...and a call made now arrives on the open stream (follow), without a reload.
    const res = await postJson(`${agent.url}/invoke`, { id: "web-hello", payload: { name: "followed-live" } });
    expect(res.status).toBe(200);
    await page.waitForFunction(() => document.getElementById("logs")!.textContent!.includes("handling followed-live"));
    expect(await page.textContent("#logs-status")).toBe("following…");
    // Stats from Get: the two calls above, and charts of them.
    for (let n = 0; n < 6; n++) expect((await postJson(`${agent.url}/invoke`, { id: "web-hello", payload: { name: `call-${n}` } })).status).toBe(200);
    await page.waitForFunction(() => document.querySelector('#stats-figures [data-figure="calls (5 min)"] dd')?.textContent === "8");
    expect(await page.textContent('#stats-figures [data-figure="errors (5 min)"] dd')).toBe("0");
    expect(await page.textContent('#stats-figures [data-figure="p50 (5 min)"] dd')).toMatch(/^\d+(\.\d+)? (µs|ms|s)$/);
    expect(await page.textContent('#stats-figures [data-figure="last call"] dd')).toMatch(/^(just now|\d+s ago)$/);
    // The rate chart has a line through the slots with calls; the latency chart's p50 and p99 too.
    expect(await page.$$eval("#stats-charts svg", (svgs) => svgs.map((s) => s.getAttribute("aria-label")))).toEqual(["rate", "latency"]);
    for (const series of ["calls", "p50", "p99"]) expect(await page.getAttribute(`#stats-charts path[data-series="${series}"]`, "d")).toMatch(/^M[\d.]+,[\d.]+/);
    expect(await page.textContent('#stats-charts .scale')).toContain("last 5 min");
    await browser.screenshot(page, "detail");
  });

  it("shows the handler source and env names, never env values", async () => {
    await page.waitForSelector("#source-handler");
    expect(await page.textContent("#source-handler")).toBe(HELLO);
    expect(await page.$$eval("#source-env li", (lis) => lis.map((li) => li.textContent))).toEqual(["API_SECRET", "GREETING"]);
    expect(await page.textContent("#source-params")).toBe("PYTHON_VERSION=3.11");
    expect(await page.$eval("#detail", (el) => el.innerHTML)).not.toContain("s3cr3t-value");
  });

  it("edits and redeploys with the build log streaming; kept env values stay, removed ones go", async () => {
    await page.click("#source-edit");
    expect(await page.inputValue("#edit-handler")).toBe(HELLO);
    expect(await page.inputValue("#edit-params")).toBe("PYTHON_VERSION=3.11");
    // The current variables are listed by name with an empty value ("unchanged"): the page never had them.
    expect(await page.$$eval("#edit-form li[data-env]", (lis) => lis.map((li) => li.getAttribute("data-env")))).toEqual(["API_SECRET", "GREETING"]);
    expect(await page.inputValue('#edit-form li[data-env="API_SECRET"] input[type="password"]')).toBe("");
    const edited = [
      "import os, time",
      'print("edited build", flush=True)',
      "time.sleep(1.0)",
      "def handle(req):",
      '    print("handling", req.get("name"), flush=True)',
      '    return {"edited": True, "secret": os.environ.get("API_SECRET"), "greeting": os.environ.get("GREETING"), "added": os.environ.get("ADDED")}',
      "",
    ].join("\n");
    await page.fill("#edit-handler", edited);
    await page.check('#edit-form li[data-env="GREETING"] input[type="checkbox"]');
    await page.fill("#edit-env", "ADDED=yes");
    await page.click("#edit-deploy");
    await page.waitForFunction(() => document.getElementById("redeploy-log")?.textContent?.includes("edited build"));
    expect(await page.getAttribute('#redeploy-phases li[data-phase="ready"]', "data-state")).toBe("pending");
    await page.waitForFunction(() => document.getElementById("redeploy-status")!.textContent!.startsWith("deployed web-hello"));
    await browser.screenshot(page, "redeploy");
    const res = await postJson(`${agent.url}/invoke`, { id: "web-hello", payload: { name: "after-edit" } });
    expect(res.body.result).toEqual({ edited: true, secret: "s3cr3t-value", greeting: null, added: "yes" });
    // Closing the editor shows the new source.
    await page.click("#edit-form button.small");
    await page.waitForFunction(() => document.getElementById("source-handler")?.textContent?.includes("edited build"));
    expect(await page.$$eval("#source-env li", (lis) => lis.map((li) => li.textContent))).toEqual(["ADDED", "API_SECRET"]);
  });

  it("lists the functions, each linking to its detail view", async () => {
    await page.click("#detail .back");
    await page.waitForSelector('#functions tr[data-id="web-hello"]');
    expect(await page.textContent('#functions tr[data-id="web-hello"]')).toMatch(/^web-hello(running|idle)yes3\.11[0-9a-f]{12}(just now|\d+[smhd] ago)/);
    expect(await page.isHidden("#detail")).toBe(true);
    expect(await page.isHidden("#functions-empty")).toBe(true);
    await browser.screenshot(page, "list");
    await page.click('#functions tr[data-id="web-hello"] a');
    await page.waitForURL(/#\/functions\/web-hello$/);
    await page.waitForSelector("#section-logs");
    await page.goBack();
    await page.waitForSelector('#functions tr[data-id="web-hello"]');
  });

  it("shows what functions print and contain as text, never as markup", async () => {
    const markup = '<img src=x onerror="window.__pwned=1"><b id=injected>bold</b>';
    const handler = `print(${JSON.stringify(markup)}, flush=True)\n# ${markup}\ndef handle(req):\n    print(${JSON.stringify(markup)}, flush=True)\n    raise ValueError(${JSON.stringify(markup)})\n`;
    await deploy(agent, { id: "web-markup", handler, env: { HTML_NAME: "1" } });
    await postJson(`${agent.url}/invoke`, { id: "web-markup", payload: {} });
    await page.goto(`${agent.url}/#/functions/web-markup`);
    await page.waitForFunction(() => document.getElementById("logs")?.textContent?.includes("onerror"));
    await page.waitForSelector("#source-handler");
    await page.fill("#invoke-id", "web-markup");
    await page.fill("#invoke-payload", "{}");
    await page.click("#invoke-button");
    await page.waitForSelector("#invoke-error:not([hidden])");
    expect(await page.textContent("#invoke-error")).toContain(markup);
    expect(await page.textContent("#source-handler")).toContain(markup);
    expect(await page.evaluate(() => ({ imgs: document.querySelectorAll("img").length, injected: document.getElementById("injected"), pwned: (window as { __pwned?: number }).__pwned }))).toEqual({ imgs: 0, injected: null, pwned: undefined });
    // Deleted while in view: the view says so and shows nothing of what it was.
    expect((await postJson(`${agent.url}/delete`, { id: "web-markup" })).status).toBe(200);
    await page.waitForFunction(() => document.getElementById("detail-error")?.textContent === "function web-markup is not deployed (deleted?)");
    expect(await page.isHidden("#section-source")).toBe(true);
    await page.goto(`${agent.url}/#/functions/web-hello`);
    await page.waitForSelector("#source-handler");
  });

  it("explains a broken handler: the sentence first, the traceback once, code and reason under details", async () => {
    await submitDeploy("web-broken", "import json\ndef handle(req)\n    return 1\n");
    await page.waitForSelector("#deploy-error:not([hidden])");
    expect(await page.textContent("#deploy-error .headline")).toMatch(/^function web-broken failed to import: SyntaxError: /);
    expect(await page.textContent("#deploy-error details")).toContain("reason: HANDLER_INVALID");
    expect(await page.isVisible("#deploy-error details pre")).toBe(false); // folded
    const card = await page.$eval("#deploy-card", (el) => (el as HTMLElement).innerText);
    expect(card.split('handler.py", line 2').length - 1).toBe(1); // the traceback once, log and error together
    expect(await page.textContent("#deploy-status")).toBe("deploy failed");
    expect(await page.getAttribute('#deploy-phases li[data-phase="deploying"]', "data-state")).toBe("failed");
    await browser.screenshot(page, "deploy-error");

    // A malformed env line fails before anything is sent.
    await submitDeploy("web-env", "def handle(req):\n    return 1\n", "", "NOEQUALS");
    await expect.poll(() => page.textContent("#deploy-error")).toBe('env take KEY=VALUE per line, got "NOEQUALS"');
  });

  it("explains a failed pip install: the sentence, pip's error lines once and highlighted", async () => {
    const index = await startLocalIndex([]);
    try {
      await page.fill("#deploy-requirements", "requests==2.31.0\n");
      await submitDeploy("web-pip", "import requests\ndef handle(req):\n    return 1\n", `PIP_INDEX_URL=${index.url}`);
      await page.waitForSelector("#deploy-error:not([hidden])");
    } finally {
      await page.fill("#deploy-requirements", "");
      await index.close();
    }
    expect(await page.textContent("#deploy-error .headline")).toBe("pip could not install requests==2.31.0: no matching distribution");
    const card = await page.$eval("#deploy-card", (el) => (el as HTMLElement).innerText);
    expect(card.split("ERROR: No matching distribution found for requests==2.31.0").length - 1).toBe(1);
    expect(await page.$$eval("#deploy-log .hl", (els) => els.map((e) => e.textContent))).toContain("ERROR: No matching distribution found for requests==2.31.0");
    expect(await page.textContent("#deploy-error details")).toContain("reason: DEPENDENCY_INSTALL_FAILED");
    await browser.screenshot(page, "deploy-pip-error");
  });

  it("explains a handler that raises: 'function X raised T: message', the traceback's last line highlighted", async () => {
    await submitDeploy("web-raises", 'def handle(req):\n    raise RuntimeError("boom: " + str(req))\n');
    await page.waitForFunction(() => document.getElementById("deploy-status")!.textContent!.startsWith("deployed web-raises"));
    await page.fill("#invoke-id", "web-raises");
    await page.fill("#invoke-payload", "42");
    await page.click("#invoke-button");
    await page.waitForSelector("#invoke-error:not([hidden])");
    expect(await page.textContent("#invoke-error .headline")).toBe("function web-raises raised RuntimeError: boom: 42");
    expect(await page.$$eval("#invoke-error .lines .hl", (els) => els.map((e) => e.textContent))).toEqual(["RuntimeError: boom: 42\n"]);
    expect(await page.textContent("#invoke-error .lines")).toContain("Traceback (most recent call last)");
    expect(await page.textContent("#invoke-error details")).toContain("reason: FUNCTION_ERROR");
    const text = await page.$eval("#invoke-card", (el) => (el as HTMLElement).innerText);
    expect(text.split('raise RuntimeError("boom: " + str(req))').length - 1).toBe(1);
    expect(await page.isHidden("#invoke-result")).toBe(true);
    await browser.screenshot(page, "invoke-error");
  });

  it("fits a 400 px wide screen: nothing scrolls sideways, in the list and in the detail view", async () => {
    const narrow = await browser.open(agent.url, 400, 900);
    try {
      await narrow.waitForSelector('#functions tr[data-id="web-hello"]');
      const width = () => narrow.evaluate(() => document.documentElement.scrollWidth);
      expect(await width()).toBeLessThanOrEqual(400);
      // Rows are cards: each cell carries its column name.
      expect(await narrow.$eval('#functions tr[data-id="web-hello"] td[data-label="state"]', (td) => getComputedStyle(td, "::before").content)).toBe('"state"');
      await browser.screenshot(narrow, "narrow-list");
      await narrow.click('#functions tr[data-id="web-hello"] a');
      await narrow.waitForFunction(() => document.getElementById("logs")?.textContent?.includes("handling followed-live"));
      expect(await width()).toBeLessThanOrEqual(400);
      await browser.screenshot(narrow, "narrow-detail");
      await narrow.click("#source-edit");
      await narrow.waitForSelector('#edit-form li[data-env="API_SECRET"]');
      expect(await width()).toBeLessThanOrEqual(400);
    } finally {
      await narrow.close();
    }
  });

  it("with a token required and none entered, says so (never 'No functions yet'), then works with the token", async () => {
    const locked = await startTestAgent({ FAAS_AUTH_TOKEN: "tok-web-123" });
    const p = await browser.open(locked.url);
    try {
      await p.waitForSelector('#connection[data-state="token-required"]');
      expect(await p.textContent("#connection h2")).toBe("Token required");
      const text = await visibleText(p);
      expect(text).toContain("This agent answers only with a bearer token");
      expect(text).not.toContain("No functions yet");
      expect(await p.isHidden("#functions-card")).toBe(true);
      expect(await p.evaluate(() => document.activeElement?.id)).toBe("token");
      await browser.screenshot(p, "token-required");

      await p.fill("#token", "wrong-token");
      await p.press("#token", "Enter");
      await p.dispatchEvent("#token", "change");
      await p.waitForFunction(() => document.querySelector("#connection h2")?.textContent === "Token refused");
      expect(await visibleText(p)).not.toContain("No functions yet");

      await p.fill("#token", "tok-web-123");
      await p.dispatchEvent("#token", "change");
      await p.waitForSelector("#functions-empty:not([hidden])");
      expect(await p.isHidden("#connection")).toBe(true);
    } finally {
      await p.evaluate(() => localStorage.removeItem("faas-token"));
      await p.close();
      await locked.dispose();
    }
  });

  it("when the agent goes away, says it is unreachable and hides the old view; when it is back, carries on", async () => {
    const stateDir = await mkdtemp(join(tmpdir(), "faas-web-away-"));
    let away: TestAgent | undefined = await startTestAgent({}, stateDir);
    const port = String(away.address.port);
    const p = await browser.open(`${away.url}/#/functions/web-away`);
    try {
      await deploy(away, { id: "web-away", handler: 'def handle(req):\n    print("call", req["n"], flush=True)\n    return req\n' });
      await postJson(`${away.url}/invoke`, { id: "web-away", payload: { n: 1 } });
      await p.waitForFunction(() => document.getElementById("logs")?.textContent?.includes("call 1"));
      await away.stop();
      away = undefined;
      await p.waitForSelector('#connection[data-state="unreachable"]');
      expect(await p.textContent("#connection h2")).toBe("Agent unreachable");
      expect(await p.textContent("#health")).toBe("agent unreachable");
      expect(await p.isHidden("#detail")).toBe(true);
      expect(await p.isHidden("#functions-card")).toBe(true);
      expect(await visibleText(p)).not.toContain("web-away");
      await browser.screenshot(p, "unreachable");

      // The agent is back on the same port: the view shows again and the logs follow again.
      away = await startTestAgent({ PORT: port }, stateDir);
      await p.waitForSelector("#connection", { state: "hidden" });
      await p.waitForSelector("#detail:not([hidden])");
      await p.waitForFunction(() => document.getElementById("logs-status")?.textContent === "following…" && document.getElementById("logs")!.textContent!.includes("call 1"));
      expect((await postJson(`${away.url}/invoke`, { id: "web-away", payload: { n: 2 } })).status).toBe(200);
      await p.waitForFunction(() => document.getElementById("logs")?.textContent?.includes("call 2"));
    } finally {
      await p.close();
      await away?.stop();
      await rm(stateDir, { recursive: true, force: true });
    }
  });

  it("broke no rule of the agent's Content Security Policy", () => {
    expect(browser.cspViolations).toEqual([]);
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
