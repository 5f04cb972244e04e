import { mkdtemp, mkdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { chromiumPath } from "./requires.ts";

/** Where the web tests save their screenshots (FAAS_UI_SCREENSHOTS, default test/artifacts/web/). */
export const SCREENSHOTS = process.env.FAAS_UI_SCREENSHOTS ?? join(import.meta.dirname, "..", "artifacts", "web");

/** A real Chromium (Debian's package) with a fresh profile, and the CSP violations its pages report. */
export interface TestBrowser {
  context: BrowserContext;
  /** Console messages about Content Security Policy, from every page opened with `open`. */
  cspViolations: string[];
  /** A new page at `url`, viewport `width` x `height`. */
  open(url: string, width?: number, height?: number): Promise<Page>;
  /** Saves a full-page screenshot as SCREENSHOTS/web-NAME.png and returns its path. */
  screenshot(page: Page, name: string): Promise<string>;
  close(): Promise<void>;
}

/** Launches Chromium headless with the flags the machine notes give (no sandbox, no GPU, offline). */
export async function launchBrowser(): Promise<TestBrowser> {
  const profile = await mkdtemp(join(tmpdir(), "faas-chromium-"));
  await mkdir(SCREENSHOTS, { recursive: true });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath(),
    viewport: { width: 1280, height: 1000 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
  });
  const cspViolations: string[] = [];
  return {
    context,
    cspViolations,
    async open(url, width = 1280, height = 1000) {
      const page = await context.newPage();
      // Waits end on what the page shows; the deadline only bounds a loaded machine's slowness.
      page.setDefaultTimeout(120_000);
      page.on("console", (msg) => {
        if (/Content.Security.Policy/i.test(msg.text())) cspViolations.push(msg.text());
      });
      await page.setViewportSize({ width, height });
      await page.goto(url);
      return page;
    },
    async screenshot(page, name) {
      const path = join(SCREENSHOTS, `web-${name}.png`);
      await page.screenshot({ path, fullPage: true });
      return path;
    },
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
