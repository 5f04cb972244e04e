/**
 * Nuclio platform benchmark (`npm run bench` runs it last; alone: `npm run bench:nuclio`). There is
 * no Nuclio here, so it runs against the tests' dashboard stand-in (test/support/nuclio/), whose
 * functions run for real in Python under the Nuclio harness. Every agent figure is measured against
 * a baseline in the same run, over the same hops without the agent:
 *
 *   deploy               agent deploy of a new function    vs  POST /api/functions + GET every 250 ms until ready
 *   unchanged redeploy   agent redeploy, same content      vs  one GET /api/functions/{name}
 *   invoke (dashboard)   wrk → agent REST /invoke          vs  wrk → the dashboard's /api/function_invocations
 *   invoke (external)    wrk → agent, NUCLIO_INVOKE_VIA=external  vs  wrk → the function's own port
 *
 * Bars: unchanged redeploy ≤ 100 ms; invoke throughput ≥ 0.5 × the baseline hop (the agent adds one
 * keep-alive HTTP hop in front of it, nothing spawned and nothing looked up per call).
 */
import pino from "pino";
import { startAgent } from "../src/agent.ts";
import { loadConfig } from "../src/config.ts";
import { startNuclioStandIn } from "../test/support/nuclio/dashboard.ts";
import { median, timed } from "./lib/helpers.ts";
import { wrkRate } from "./lib/load.ts";
import { PAYLOAD, taggedHandler as handler, wholeSeconds } from "./lib/settings.ts";

const ROUNDS = wholeSeconds("BENCH_NUCLIO_ROUNDS", 3, 1);
const SECONDS = wholeSeconds("BENCH_SECONDS", 5, 1);
const NS = { "x-nuclio-function-namespace": "nuclio" };

function wrk(url: string, body: unknown, headers: Record<string, string> = {}, seconds = SECONDS): Promise<number> {
  return wrkRate(url, body, { headers: Object.entries(headers).map(([k, v]) => `${k}: ${v}`), seconds });
}

function row(name: string, agentMs: number, plainMs: number, bar: string): void {
  console.log(`${name.padEnd(22)} agent ${agentMs.toFixed(0).padStart(6)} ms   plain ${plainMs.toFixed(1).padStart(6)} ms   ratio ${(agentMs / plainMs).toFixed(2).padStart(6)}   ${bar}`);
}

function rateRow(name: string, agent: number, plain: number, plainName: string): void {
  const ratio = agent / plain;
  console.log(`${name.padEnd(22)} agent ${agent.toFixed(0).padStart(6)} req/s ${plainName} ${plain.toFixed(0).padStart(6)} req/s ratio ${ratio.toFixed(2).padStart(5)}   bar ≥ 0.50: ${ratio >= 0.5 ? "PASS" : "FAIL"}`);
}

async function postJson(url: string, body: unknown): Promise<Response> {
  return fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
}

const nuclio = await startNuclioStandIn();
const cleanups: Array<() => Promise<unknown>> = [() => nuclio.close()];

/** The baseline deploy: what a plain dashboard client does (nuctl polls every 250 ms). */
async function plainDeploy(name: string, tag: string): Promise<void> {
  const body = { metadata: { name }, spec: { runtime: "python:3.11", handler: "main:handler", build: { functionSourceCode: Buffer.from(`# ${tag}\ndef handler(context, event):\n    return event.body\n`).toString("base64") } } };
  const res = await fetch(`${nuclio.url}/api/functions`, { method: "POST", headers: NS, body: JSON.stringify(body) });
  if (res.status !== 202) throw new Error(`plain create: ${res.status} ${await res.text()}`);
  for (;;) {
    const fn = (await (await fetch(`${nuclio.url}/api/functions/${name}`, { headers: NS })).json()) as { status: { state: string; message?: string } };
    if (fn.status.state === "ready") return;
    if (fn.status.state === "error" || fn.status.state === "unhealthy") throw new Error(`plain deploy: ${fn.status.message}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function main(): Promise<void> {
  const env = { ...process.env, RADICAL_FAAS_PLATFORM: "nuclio", NUCLIO_DASHBOARD_URL: nuclio.url, NUCLIO_NAMESPACE: "nuclio", PORT: "0", FAAS_HOST: "127.0.0.1", FAAS_AUTH_TOKEN: "" };
  const agent = await startAgent(loadConfig(env), pino({ level: "silent" }), env);
  cleanups.push(() => agent.stop());
  const directEnv = { ...env, NUCLIO_INVOKE_VIA: "external" };
  const direct = await startAgent(loadConfig(directEnv), pino({ level: "silent" }), directEnv);
  cleanups.push(() => direct.stop());
  console.log(`nuclio platform benchmark (dashboard stand-in, functions in real Python; median of ${ROUNDS})`);

  const deploys: number[] = [], plainDeploys: number[] = [], same: number[] = [], gets: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const id = `fn-${round}`;
    deploys.push(
      await timed(async () => {
        const res = await postJson(`${agent.url}/deploy`, { id, handler: handler(`round ${round}`) });
        if (res.status !== 200) throw new Error(`deploy failed: ${await res.text()}`);
      }),
    );
    plainDeploys.push(await timed(() => plainDeploy(`plain-${round}`, `round ${round}`)));
    same.push(await timed(() => postJson(`${agent.url}/deploy`, { id, handler: handler(`round ${round}`) }).then((r) => r.text())));
    gets.push(await timed(() => fetch(`${nuclio.url}/api/functions/${id}`, { headers: NS }).then((r) => r.text())));
  }
  row("deploy", median(deploys), median(plainDeploys), "");
  row("unchanged redeploy", median(same), median(gets), `bar ≤ 100 ms: ${median(same) <= 100 ? "PASS" : "FAIL"}`);

  // The external baseline needs a NodePort: the agent set to NUCLIO_INVOKE_VIA=external deploys fn-0
  // that way (a dashboard-proxied agent deploys ClusterIP, which has no external invocation URL).
  const external = await postJson(`${direct.url}/deploy`, { id: "fn-0", handler: handler("round 0") });
  if (external.status !== 200) throw new Error(`deploy through the external agent failed: ${await external.text()}`);
  const fn = (await (await fetch(`${nuclio.url}/api/functions/fn-0`, { headers: NS })).json()) as { status: { externalInvocationUrls?: string[] } };
  if (!fn.status.externalInvocationUrls?.length) throw new Error(`fn-0 has no external invocation URL: ${JSON.stringify(fn.status)}`);
  const own = `http://${fn.status.externalInvocationUrls[0]}/`;
  const proxy = `${nuclio.url}/api/function_invocations`;
  const proxyHeaders = { ...NS, "x-nuclio-function-name": "fn-0", "x-nuclio-path": "/" };
  // A warm-up run of each first (JIT, connection pools), as bench/docker.ts does.
  await wrk(`${agent.url}/invoke`, { id: "fn-0", payload: PAYLOAD }, {}, 2);
  await wrk(proxy, PAYLOAD, proxyHeaders, 2);
  await wrk(`${direct.url}/invoke`, { id: "fn-0", payload: PAYLOAD }, {}, 2);
  await wrk(own, PAYLOAD, {}, 2);
  rateRow("invoke (dashboard)", await wrk(`${agent.url}/invoke`, { id: "fn-0", payload: PAYLOAD }), await wrk(proxy, PAYLOAD, proxyHeaders), "proxy");
  rateRow("invoke (external)", await wrk(`${direct.url}/invoke`, { id: "fn-0", payload: PAYLOAD }), await wrk(own, PAYLOAD), "func ");
}

try {
  await main();
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
}
