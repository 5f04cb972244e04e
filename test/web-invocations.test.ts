import { join } from "node:path";
import type { Page, Request } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deploy, postJson, startTestAgent, type TestAgent } from "./support/agent.ts";
import { GATED_HANDLER, startGate } from "./support/async.ts";
import { launchBrowser, SCREENSHOTS, type TestBrowser } from "./support/browser.ts";
import { requirePart } from "./support/requires.ts";

// The page's "Async invocations" card (src/web/sections/invocations.ts) in real Chromium:
// invocations queued through the REST API are listed with their status, attempts and outcome, and
// the list follows them while the view is open (one held at a TCP gate is seen running, then
// succeeded once the test lets it go); leaving the view ends the re-listing.
describe.skipIf(await requirePart("chromium"))("web page: async invocations", () => {
  let agent: TestAgent;
  let browser: TestBrowser;
  let page: Page;
  let gate: Awaited<ReturnType<typeof startGate>>;
  const listings: Request[] = [];
  const accept = async (payload: unknown): Promise<string> => {
    const res = await postJson(`${agent.url}/async-invoke`, { id: "web-async", payload });
    expect(res.status).toBe(202);
    return res.body.invocation_id;
  };
  const row = (invocationId: string) => `#invocations tr[data-invocation="${invocationId}"]`;
  const statusShown = (invocationId: string, status: string) => page.waitForSelector(`${row(invocationId)}[data-status="${status}"]`);

  beforeAll(async () => {
    gate = await startGate();
    agent = await startTestAgent();
    await deploy(agent, { id: "web-async", handler: GATED_HANDLER });
    browser = await launchBrowser();
    page = await browser.open(`${agent.url}/#/functions/web-async`);
    page.on("request", (req) => {
      if (req.url().endsWith("/faas.v1.FaasAgent/ListInvocations")) listings.push(req);
    });
    await page.waitForSelector("#invocations-status");
  });
  afterAll(async () => {
    gate?.close();
    await browser?.close();
    await agent?.dispose();
  });

  it("lists queued invocations with their final status, attempts and outcome, following a running one to its end", async () => {
    await page.waitForSelector('#invocations-status:text-matches("no async invocations")');
    const ok = await accept({ greeting: "hello" });
    const failed = await accept({ fail: true });
    const held = await accept({ gate: gate.port, tag: "held" });
    const cancelled = await accept({ gate: gate.port, tag: "cancel-me" });

    await statusShown(ok, "succeeded");
    expect(await page.textContent(`${row(ok)} td.outcome .result-value`)).toBe(JSON.stringify({ greeting: "hello" }));
    expect(await page.textContent(`${row(ok)} td.attempts`)).toBe("1/3");
    expect(await page.textContent(`${row(ok)} td[data-label="accepted"]`)).toMatch(/^(just now|\d+s ago)$/);

    await statusShown(failed, "failed");
    expect(await page.textContent(`${row(failed)} .inv-error`)).toBe("function web-async raised ValueError: asked to fail");
    expect(await page.textContent(`${row(failed)} td.outcome`)).toContain("FUNCTION_ERROR");
    expect(await page.textContent(`${row(failed)} td.attempts`)).toBe("1/3"); // never retried
    expect(await page.textContent(`${row(failed)} details pre .hl`)).toBe("ValueError: asked to fail\n");

    // Held at the gate: the page shows it running, and once let go, succeeded, without a reload.
    await gate.arrived("held");
    await statusShown(held, "running");
    expect(await page.textContent(`${row(held)} td.outcome`)).toMatch(/^attempt 1 running since /);
    gate.release("held");
    await statusShown(held, "succeeded");
    expect(await page.textContent(`${row(held)} td.outcome .result-value`)).toBe(JSON.stringify({ tag: "held" }));

    await gate.arrived("cancel-me");
    expect((await postJson(`${agent.url}/invocations/${cancelled}/cancel`, {})).body.status).toBe("cancelled");
    await statusShown(cancelled, "cancelled");
    expect(await page.textContent(`${row(cancelled)} td.outcome`)).toContain("CANCELLED");

    // Newest first, as ListInvocations gives them.
    expect(await page.$$eval("#invocations tbody tr", (trs) => trs.map((tr) => tr.getAttribute("data-invocation")))).toEqual([cancelled, held, failed, ok]);
    expect(await page.textContent("#invocations-status")).toMatch(/^the 4 · 0 queued or running · updated /);
    expect(await page.textContent(`${row(cancelled)} .inv-cancel`)).toBe("the invocation was cancelled");
    // The card alone (docs/images/web-invocations.png), and the whole view.
    await page.locator("#section-invocations").screenshot({ path: join(SCREENSHOTS, "web-invocations.png") });
    await browser.screenshot(page, "invocations-detail");
    expect(browser.cspViolations).toEqual([]);
  });

  it("leaving the view ends the re-listing", async () => {
    await page.click("#detail h2 .back");
    await page.waitForSelector("#section-invocations", { state: "detached" });
    const after = listings.length;
    // The page's own refresh (List) runs every 2 s, as the card's listing did: from the first of
    // three fresh ones to the third is two periods, so a card still listing would have listed.
    for (let i = 0; i < 3; i++) await page.waitForRequest((req) => req.url().endsWith("/faas.v1.FaasAgent/List"));
    expect(listings.length).toBe(after);
  });
});
