import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deploy, postJson, startTestAgent, type TestAgent } from "./support/agent.ts";
import { launchBrowser, type TestBrowser } from "./support/browser.ts";
import { requirePart } from "./support/requires.ts";

// The page's Stream call card (src/web/sections/stream.ts) in real Chromium: Connect
// server-streaming over fetch, chunks shown as they arrive (a FIFO barrier the handler waits on
// after its first chunk, opened by the test only once the page shows that chunk), stop = cancel.
const STREAMER = `import os

def handle(req):
    # Where the test's FIFOs go: HOME, the function's own directory (writable inside its sandbox).
    return os.environ["HOME"] if req.get("where") else stream(req)

def stream(req):
    d = req["dir"]
    try:
        for i in range(req.get("n", 3)):
            yield {"i": i, "pad": "x" * req.get("pad", 0)}
            if i == 0 and req.get("barrier"):
                with open(os.path.join(d, "go")) as f:
                    f.read()
    except GeneratorExit:
        with open(os.path.join(d, "closed"), "w") as f:
            f.write("GeneratorExit")
        raise
`;

describe.skipIf(await requirePart("chromium"))("web page: stream call", () => {
  let agent: TestAgent;
  let browser: TestBrowser;
  let page: Page;
  let dir: string;
  beforeAll(async () => {
    agent = await startTestAgent();
    await deploy(agent, { id: "web-stream", handler: STREAMER });
    dir = (await postJson(`${agent.url}/invoke`, { id: "web-stream", payload: { where: true } })).body.result;
    browser = await launchBrowser();
    page = await browser.open(`${agent.url}/#/functions/web-stream`);
    await page.waitForSelector("#stream-start");
  });
  afterAll(async () => {
    await browser?.close();
    await agent?.dispose();
  });

  it("shows the first chunk while the generator still waits, then the rest and the end", async () => {
    const go = join(dir, "go");
    await execa("mkfifo", ["-m", "0666", go]);
    await page.fill("#stream-payload", JSON.stringify({ n: 3, barrier: true, dir }));
    await page.click("#stream-start");
    await page.waitForFunction(() => document.querySelectorAll("#stream-chunks .chunk").length === 1);
    expect(await page.textContent("#stream-status")).toBe("1 chunk…");
    await writeFile(go, "go"); // only now can the generator go on
    await rm(go);
    await page.waitForFunction(() => document.getElementById("stream-status")?.textContent?.startsWith("done: "));
    expect(await page.$$eval("#stream-chunks .chunk", (els) => els.map((e) => e.textContent))).toEqual([0, 1, 2].map((i) => JSON.stringify({ i, pad: "" })));
    expect(await page.textContent("#stream-status")).toMatch(/^done: 3 chunks in \d+\.\d ms/);
    await browser.screenshot(page, "stream");
    expect(browser.cspViolations).toEqual([]);
  });

  it("stop cancels the call: the handler's generator gets GeneratorExit", async () => {
    const go = join(dir, "go");
    const closed = join(dir, "closed");
    await execa("mkfifo", ["-m", "0666", go]);
    await execa("mkfifo", ["-m", "0666", closed]);
    const seen = readFile(closed, "utf8");
    // Endless after the barrier: only a cancel can end it (at a yield, once the window is full).
    await page.fill("#stream-payload", JSON.stringify({ n: 1_000_000_000, barrier: true, dir }));
    await page.click("#stream-start");
    await page.waitForFunction(() => document.querySelectorAll("#stream-chunks .chunk").length === 1);
    await page.click("#stream-stop");
    await page.waitForFunction(() => document.getElementById("stream-status")?.textContent === "stopped after 1 chunk");
    await writeFile(go, "go");
    expect(await seen).toBe("GeneratorExit");
  });
});
