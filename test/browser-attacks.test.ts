import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getJson, startTestAgent, type TestAgent } from "./support/agent.ts";

// A hostile web page in real Chromium against an agent started as the README says (loopback, no
// token). The page is served from a second origin: another port on 127.0.0.1, and foreign names
// mapped to 127.0.0.1 with --host-resolver-rules. The handler it tries to deploy reports a marker on
// import (over TCP to the test: its sandbox shares the network, not the file system): the marker
// proves whether any attempt ran code, the agent's list whether any deployed.
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

let dir: string;
let agent: TestAgent;
let browser: BrowserContext;
let page: Page;
let attacker: { server: Server; port: number };

/** Markers handlers reported to the test, by name; `arrived` resolves when one comes. */
const markers = { port: 0, seen: new Set<string>(), waiting: new Map<string, () => void>() };
let markerServer: NetServer;
function markerArrived(marker: string): Promise<void> {
  return markers.seen.has(marker) ? Promise.resolve() : new Promise((resolve) => markers.waiting.set(marker, resolve));
}

/** A handler whose import reports `marker` to the test: if it ever runs, the marker is seen. */
function hostileHandler(marker: string): string {
  return `import socket\nwith socket.create_connection(("127.0.0.1", ${markers.port})) as s:\n    s.sendall(${JSON.stringify(marker)}.encode())\ndef handle(req):\n    return "pwned"\n`;
}

/** Serves a blank page on 127.0.0.1 (any Host): the attacker's origin. */
async function startAttacker(port = 0): Promise<{ server: Server; port: number }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end("<!doctype html><title>cute cats</title><iframe name=sink></iframe>");
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

async function stopAttacker(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Records the status of every response the browser got from `origin` (opaque ones included). */
function recordStatuses(p: Page, origin: string): number[] {
  const statuses: number[] = [];
  p.on("response", (r) => {
    if (r.url().startsWith(origin)) statuses.push(r.status());
  });
  return statuses;
}

/**
 * The cross-origin attempts, run inside the attacker's page: a no-cors text/plain deploy (the
 * classic "simple request" that needs no preflight), a form-encoded deploy by fetch and by a real
 * form post, a text/plain form post, a JSON deploy (preflighted) and a read of /functions.
 * Returns what the page could observe.
 */
async function attack(p: Page, agentUrl: string, handler: string, id: string): Promise<Record<string, string>> {
  return p.evaluate(
    async ({ agentUrl, handler, id }) => {
      const out: Record<string, string> = {};
      const body = JSON.stringify({ id: `${id}-nocors`, handler });
      const settle = async (name: string, run: () => Promise<Response>) => {
        try {
          const res = await run();
          out[name] = res.type === "opaque" ? "opaque" : `${res.status} ${await res.text()}`;
        } catch (error) {
          out[name] = `blocked: ${(error as Error).name}`;
        }
      };
      await settle("noCorsTextPlain", () => fetch(`${agentUrl}/deploy`, { method: "POST", mode: "no-cors", body }));
      const form = new URLSearchParams({ id: `${id}-form`, handler });
      await settle("noCorsForm", () => fetch(`${agentUrl}/deploy`, { method: "POST", mode: "no-cors", body: form }));
      await settle("jsonPreflight", () =>
        fetch(`${agentUrl}/deploy`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ id: `${id}-json`, handler }) }),
      );
      await settle("read", () => fetch(`${agentUrl}/functions`));
      for (const enctype of ["application/x-www-form-urlencoded", "text/plain"]) {
        // The JSON-in-a-form trick: field name and value glue into `{"id": ..., "x": "="}`.
        const f = document.createElement("form");
        f.method = "POST";
        f.action = `${agentUrl}/deploy`;
        f.enctype = enctype;
        f.target = "sink";
        const input = document.createElement("input");
        input.name = JSON.stringify({ id: `${id}-form-${enctype.length}`, handler, x: "" }).slice(0, -2);
        input.value = '"}';
        f.append(input);
        document.body.append(f);
        const frame = document.querySelector("iframe")!;
        const loaded = new Promise((resolve) => frame.addEventListener("load", resolve, { once: true }));
        f.submit();
        await loaded;
        out[`form ${enctype}`] = "submitted";
      }
      return out;
    },
    { agentUrl, handler, id },
  );
}

beforeAll(async () => {
  markerServer = createNetServer((socket) => {
    let text = "";
    socket.on("error", () => {});
    socket.on("data", (d: Buffer) => (text += d.toString()));
    socket.on("end", () => {
      markers.seen.add(text);
      markers.waiting.get(text)?.();
    });
  });
  await new Promise<void>((resolve) => markerServer.listen(0, "127.0.0.1", resolve));
  markers.port = (markerServer.address() as AddressInfo).port;
  dir = await mkdtemp(join(tmpdir(), "faas-attack-"));
  agent = await startTestAgent();
  attacker = await startAttacker();
  browser = await chromium.launchPersistentContext(join(dir, "profile"), {
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--host-resolver-rules=MAP evil.example 127.0.0.1, MAP rebind.evil.example 127.0.0.1",
    ],
  });
  page = browser.pages()[0] ?? (await browser.newPage());
});
afterAll(async () => {
  await browser?.close();
  if (attacker) await stopAttacker(attacker.server).catch(() => {});
  await agent?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
  markerServer?.close();
});

describe("a hostile page on another origin", () => {
  for (const origin of ["127.0.0.1 on another port", "a foreign host name mapped to 127.0.0.1"]) {
    it(`cannot deploy or read: ${origin}`, async () => {
      const marker = `marker-${origin.length}`;
      const base = origin.startsWith("127") ? `http://127.0.0.1:${attacker.port}` : `http://evil.example:${attacker.port}`;
      const p = await browser.newPage();
      const statuses = recordStatuses(p, agent.url);
      await p.goto(`${base}/`);
      const seen = await attack(p, agent.url, hostileHandler(marker), "evil");
      await p.close();

      expect(seen.noCorsTextPlain).toBe("opaque"); // the request went out; its answer is unreadable
      expect(seen.noCorsForm).toBe("opaque");
      expect(seen.jsonPreflight).toBe("blocked: TypeError"); // preflight refused, POST never sent
      expect(seen.read).toBe("blocked: TypeError");
      expect(markers.seen.has(marker)).toBe(false);
      expect((await getJson(`${agent.url}/functions`)).body.functions).toEqual([]);
      // What the agent answered: 403 for the foreign Origin, whatever the content type.
      expect(statuses.length).toBeGreaterThanOrEqual(4);
      for (const status of statuses) expect(status).toBe(403);
    });
  }

  it("cannot read or deploy after rebinding its name to the agent's address", async () => {
    // The page is loaded from rebind.evil.example:P (the attacker's server), then P becomes the
    // agent's port: the page's same-origin requests now reach the agent, with Host rebind.evil.example:P.
    const site = await startAttacker();
    const p = await browser.newPage();
    await p.goto(`http://rebind.evil.example:${site.port}/`);
    await stopAttacker(site.server);
    const rebound = await startTestAgent({ PORT: String(site.port) });
    try {
      const marker = "marker-rebind";
      const seen = await p.evaluate(async (handler) => {
        const list = await fetch("/functions");
        const deploy = await fetch("/deploy", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ id: "evil-rebind", handler }) });
        return { list: `${list.status} ${await list.text()}`, deploy: `${deploy.status} ${await deploy.text()}` };
      }, hostileHandler(marker));
      expect(seen.list).toMatch(/^421 .*HOST_NOT_ALLOWED/);
      expect(seen.deploy).toMatch(/^421 .*HOST_NOT_ALLOWED/);
      expect(seen.list).not.toContain("functions");
      expect(markers.seen.has(marker)).toBe(false);
      expect((await getJson(`${rebound.url}/functions`)).body.functions).toEqual([]);
    } finally {
      await p.close();
      await rebound.dispose();
    }
  });
});

describe("an origin the operator allows (FAAS_ALLOWED_ORIGINS)", () => {
  it("deploys and reads through CORS: the attempts above could succeed, the checks stop them", async () => {
    const site = await startAttacker();
    const allowed = `http://evil.example:${site.port}`;
    const friendly = await startTestAgent({ FAAS_ALLOWED_ORIGINS: allowed });
    const p = await browser.newPage();
    try {
      const marker = "marker-allowed";
      await p.goto(`${allowed}/`);
      const seen = await attack(p, friendly.url, hostileHandler(marker), "ok");
      expect(seen.jsonPreflight).toMatch(/^200 .*"status":"deployed"/);
      expect(seen.read).toMatch(/^200 .*ok-json/);
      await markerArrived(marker); // the import ran: its deploy answered 200 after it
      // Still JSON only: the no-cors and form attempts were 415 and deployed nothing.
      const ids = (await getJson(`${friendly.url}/functions`)).body.functions.map((f: { id: string }) => f.id);
      expect(ids).toEqual(["ok-json"]);
    } finally {
      await p.close();
      await friendly.dispose();
      await stopAttacker(site.server);
    }
  });
});

describe("the agent's own page", () => {
  it("carries the security headers and keeps working from its own origin", async () => {
    const res = await fetch(`${agent.url}/`);
    expect(res.headers.get("content-security-policy")).toMatch(/default-src 'self'.*frame-ancestors 'none'/);
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("referrer-policy")).toBe("no-referrer");
    const p = await browser.newPage();
    const violations: string[] = [];
    p.on("console", (m) => {
      if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
    });
    try {
      await p.goto(agent.url);
      await expect.poll(() => p.textContent("#health"), { timeout: 15_000 }).toMatch(/^healthy/);
      expect(violations).toEqual([]);
    } finally {
      await p.close();
    }
  });
});
