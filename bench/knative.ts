/**
 * Knative platform benchmark (`npm run bench:knative`; `npm run bench` runs it last). Runs the agent
 * against the test stand-in (test/support/knative: a Kubernetes API, the controller simulation on the
 * real Docker engine at DOCKER_HOST, an ingress routing by Host) and measures, against baselines in
 * the same run:
 *
 *   invoke throughput   wrk → agent REST /invoke → ingress → container
 *                       vs  wrk → the same ingress (Host header set) → the same container
 *   API calls per invoke  counted at the stand-in's API server during the agent run (must be 0)
 *   unchanged redeploy  agent redeploy of the same code (no build, nothing applied)
 *                       vs  one GET of the Service through the same client library
 *
 * Needs wrk (Debian) and the default base image (python:3.11-slim) in the engine.
 */
import { CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import pino from "pino";
import { startAgent } from "../src/agent.ts";
import { dockerFromEnv } from "../src/images/engine.ts";
import { loadConfig } from "../src/config.ts";
import { startKnativeStandIn } from "../test/support/knative/index.ts";
import { median } from "./lib/helpers.ts";
import { wrkRate } from "./lib/load.ts";
import { HANDLER_SOURCE as HANDLER, PAYLOAD, wholeSeconds } from "./lib/settings.ts";

const SECONDS = wholeSeconds("BENCH_SECONDS", 5, 1);
const ID = "kn-bench";

const wrk = (url: string, body: unknown, headers: string[] = [], seconds = SECONDS) => wrkRate(url, body, { headers, seconds });

const docker = dockerFromEnv(process.env);
const kn = await startKnativeStandIn(docker);
const env = { ...process.env, ...kn.env, PORT: "0", FAAS_HOST: "127.0.0.1", FAAS_AUTH_TOKEN: "" };
const agent = await startAgent(loadConfig(env), pino({ level: "silent" }), env);
try {
  const post = (path: string, body: unknown) => fetch(agent.url + path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const first = await post("/deploy", { id: ID, handler: HANDLER });
  if (first.status !== 200) throw new Error(`deploy failed: ${await first.text()}`);
  const host = `${ID}.default.${kn.domain}`;

  await wrk(`${agent.url}/invoke`, { id: ID, payload: PAYLOAD }, [], 2);
  await wrk(`${kn.ingressUrl}/`, PAYLOAD, [`Host: ${host}`], 2);
  const apiBefore = kn.api.requests.length;
  const viaAgent = await wrk(`${agent.url}/invoke`, { id: ID, payload: PAYLOAD });
  const apiCalls = kn.api.requests.length - apiBefore;
  const viaIngress = await wrk(`${kn.ingressUrl}/`, PAYLOAD, [`Host: ${host}`]);

  const redeploys: number[] = [];
  for (let i = 0; i < 5; i++) {
    const start = performance.now();
    const res = await post("/deploy", { id: ID, handler: HANDLER });
    if (res.status !== 200) throw new Error(`redeploy failed: ${await res.text()}`);
    redeploys.push(performance.now() - start);
  }
  const kc = new KubeConfig();
  kc.loadFromFile(kn.kubeconfig);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const gets: number[] = [];
  for (let i = 0; i < 5; i++) {
    const start = performance.now();
    await custom.getNamespacedCustomObject({ group: "serving.knative.dev", version: "v1", namespace: "default", plural: "services", name: ID });
    gets.push(performance.now() - start);
  }

  console.log("knative platform (stand-in API + real containers), medians where repeated");
  console.log(`  invoke throughput     agent ${viaAgent.toFixed(0)} req/s  vs  ingress direct ${viaIngress.toFixed(0)} req/s  ratio ${(viaAgent / viaIngress).toFixed(2)}`);
  console.log(`  API calls during the ${SECONDS}s agent invoke run: ${apiCalls}`);
  console.log(`  unchanged redeploy    ${median(redeploys).toFixed(1)} ms  vs  one Service GET ${median(gets).toFixed(1)} ms  ratio ${(median(redeploys) / median(gets)).toFixed(1)}`);
  if (apiCalls !== 0) throw new Error("invokes made Kubernetes API calls");
} finally {
  await agent.stop();
  await kn.close();
  for (const image of await docker.listImages({ filters: { reference: [`dev.local/${ID}`] } })) await docker.getImage(image.Id).remove({ force: true }).catch(() => undefined);
}
