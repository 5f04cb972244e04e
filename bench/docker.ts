/**
 * Docker platform benchmark (`npm run bench` runs it after bench/run.ts; alone: `npm run bench:docker`).
 * Needs a Docker engine at DOCKER_HOST with the default base image (python:3.11-slim), and Debian's
 * wrk and nginx-light. Every agent figure is measured against a baseline in the same run:
 *
 *   first deploy         agent deploy of a new function   vs  plain `docker build` + `docker run` + /healthz
 *   handler-only change  agent redeploy (blue/green)      vs  the same plain build + run of the changed handler
 *   unchanged redeploy   agent redeploy, same code        vs  plain `docker build` (all cache hits) + run
 *   cold start from zero invoke after scale to zero       vs  `docker start` of the plain container + /healthz
 *   invoke throughput    wrk → agent REST /invoke         vs  wrk → nginx (upstream keep-alive) → the same container
 *
 * The plain Dockerfile is hand-written: the same base image and runtime shim, no import check.
 * Bars: unchanged redeploy ≤ 100 ms; handler-only change ≤ 1.5 × plain; throughput ≥ 0.3 × nginx.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile, copyFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import pino from "pino";
import { startAgent } from "../src/agent.ts";
import { loadConfig } from "../src/config.ts";
import { describeDockerHost, dockerFromEnv } from "../src/images/engine.ts";
import { labelFilter } from "../src/adapters/docker/containers.ts";
import { freePort, median, timed } from "./lib/helpers.ts";
import { wrkRate } from "./lib/load.ts";
import { BENCH_DIR, NGINX, PAYLOAD, SHIM, taggedHandler as handler, wholeSeconds } from "./lib/settings.ts";

const ROUNDS = wholeSeconds("BENCH_DOCKER_ROUNDS", 3, 1);
const SECONDS = wholeSeconds("BENCH_SECONDS", 5, 1);
const PLAIN_DOCKERFILE = `FROM python:3.11-slim
RUN python3 -m venv --without-pip /opt/venv
COPY faas_runtime.py /app/faas_runtime.py
USER 10001
CMD ["/opt/venv/bin/python", "/app/faas_runtime.py", "--handler", "/app/handler.py", "--listen", "tcp:0.0.0.0:8080", "--protocol", "http"]
COPY handler.py /app/handler.py
`;

const docker = dockerFromEnv(process.env);
const namespace = `bench-${randomBytes(3).toString("hex")}`;
const work = await mkdtemp(join(tmpdir(), "faas-bench-docker-"));
const plainContainers: string[] = [];
const deployed = new Set<string>();
const cleanups: Array<() => Promise<unknown>> = [];

async function healthy(port: number): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`container on ${port} never became healthy`);
}

/** The plain way: docker build, docker run (published on 127.0.0.1), wait for /healthz. */
async function plainBuildRun(tag: string): Promise<{ ms: number; container: string; port: number }> {
  await writeFile(join(work, "plain", "handler.py"), handler(tag));
  let container = "";
  let port = 0;
  const ms = await timed(async () => {
    await execa("docker", ["build", "-q", "-t", `faas-bench-plain:${namespace}`, join(work, "plain")]);
    container = (await execa("docker", ["run", "-d", "-p", "127.0.0.1::8080", `faas-bench-plain:${namespace}`])).stdout.trim();
    port = Number((await execa("docker", ["port", container, "8080/tcp"])).stdout.trim().split(":").pop());
    await healthy(port);
  });
  plainContainers.push(container);
  return { ms, container, port };
}

async function agentDeploy(url: string, id: string, tag: string): Promise<number> {
  deployed.add(`${url} ${id}`);
  return timed(async () => {
    const res = await fetch(`${url}/deploy`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ id, handler: handler(tag) }) });
    if (res.status !== 200) throw new Error(`deploy failed: ${await res.text()}`);
  });
}

const wrk = (url: string, body: unknown, seconds = SECONDS) => wrkRate(url, body, { seconds });

function row(name: string, agentMs: number, plainMs: number, bar: string): void {
  console.log(`${name.padEnd(22)} agent ${agentMs.toFixed(0).padStart(6)} ms   plain ${plainMs.toFixed(0).padStart(6)} ms   ratio ${(agentMs / plainMs).toFixed(2).padStart(5)}   ${bar}`);
}

async function main(): Promise<void> {
  try {
    await docker.ping();
  } catch (error) {
    console.error(`bench/docker.ts: no Docker engine at ${describeDockerHost(process.env)}: ${(error as Error).message}`);
    process.exitCode = 1;
    return;
  }
  await execa("mkdir", ["-p", join(work, "plain")]);
  await writeFile(join(work, "plain", "Dockerfile"), PLAIN_DOCKERFILE);
  await copyFile(SHIM, join(work, "plain", "faas_runtime.py"));
  const env = { ...process.env, RADICAL_FAAS_PLATFORM: "docker", FAAS_DOCKER_NAMESPACE: namespace, PORT: "0", FAAS_HOST: "127.0.0.1", FAAS_AUTH_TOKEN: "", FAAS_IDLE_TIMEOUT: "0" };
  const agent = await startAgent(loadConfig(env), pino({ level: "silent" }), env);
  cleanups.push(() => agent.stop());
  const idleEnv = { ...env, FAAS_IDLE_TIMEOUT: "1" };
  const idleAgent = await startAgent(loadConfig(idleEnv), pino({ level: "silent" }), idleEnv);
  cleanups.push(() => idleAgent.stop());

  console.log(`docker platform benchmark (engine ${describeDockerHost(process.env)}, median of ${ROUNDS})`);
  // Warm both paths once (the shared venv and runtime layers), as a user's second function would find them.
  await agentDeploy(agent.url, "warm", "warm");
  await plainBuildRun("warm");

  const first: number[] = [], firstPlain: number[] = [], change: number[] = [], changePlain: number[] = [], same: number[] = [], samePlain: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const id = `fn-${round}`;
    first.push(await agentDeploy(agent.url, id, `first ${round} ${namespace}`));
    firstPlain.push((await plainBuildRun(`first ${round} ${namespace}`)).ms);
    change.push(await agentDeploy(agent.url, id, `changed ${round} ${namespace}`));
    changePlain.push((await plainBuildRun(`changed ${round} ${namespace}`)).ms);
    same.push(await agentDeploy(agent.url, id, `changed ${round} ${namespace}`));
    samePlain.push((await plainBuildRun(`changed ${round} ${namespace}`)).ms);
  }
  row("first deploy", median(first), median(firstPlain), "");
  row("handler-only change", median(change), median(changePlain), `bar ≤ 1.50 × plain: ${median(change) <= 1.5 * median(changePlain) ? "PASS" : "FAIL"}`);
  row("unchanged redeploy", median(same), median(samePlain), `bar ≤ 100 ms: ${median(same) <= 100 ? "PASS" : "FAIL"}`);

  // Cold start from zero.
  await agentDeploy(idleAgent.url, "sleeper", "sleeper");
  const cold: number[] = [], coldPlain: number[] = [];
  const plain = await plainBuildRun("sleeper");
  for (let round = 0; round < ROUNDS; round++) {
    await fetch(`${idleAgent.url}/invoke`, { method: "POST", body: JSON.stringify({ id: "sleeper", payload: PAYLOAD }), headers: { "content-type": "application/json" } });
    for (let i = 0; i < 100; i++) {
      const [c] = await docker.listContainers({ all: true, filters: labelFilter(namespace, "sleeper") });
      if (c?.State === "exited") break;
      await new Promise((r) => setTimeout(r, 100));
    }
    cold.push(
      await timed(async () => {
        const res = await fetch(`${idleAgent.url}/invoke`, { method: "POST", body: JSON.stringify({ id: "sleeper", payload: PAYLOAD }), headers: { "content-type": "application/json" } });
        const body = (await res.json()) as { cold_start: boolean };
        if (!body.cold_start) throw new Error("expected a cold start");
      }),
    );
    await execa("docker", ["stop", "-t", "2", plain.container]);
    coldPlain.push(
      await timed(async () => {
        await execa("docker", ["start", plain.container]);
        const port = Number((await execa("docker", ["port", plain.container, "8080/tcp"])).stdout.trim().split(":").pop());
        await healthy(port);
        await fetch(`http://127.0.0.1:${port}/`, { method: "POST", body: JSON.stringify(PAYLOAD) });
      }),
    );
  }
  row("cold start from zero", median(cold), median(coldPlain), "");

  // Invoke throughput: through the agent vs an nginx keep-alive hop to the same container.
  const [target] = await docker.listContainers({ filters: labelFilter(namespace, "fn-0") });
  const upstream = target!.Ports.find((p) => p.PrivatePort === 8080)!.PublicPort;
  const nginxPort = await freePort();
  const conf = (await readFile(join(BENCH_DIR, "nginx.conf"), "utf8")).replaceAll("{{DIR}}", work).replaceAll("{{PORT}}", String(nginxPort)).replaceAll("{{UPSTREAM_PORT}}", String(upstream));
  await writeFile(join(work, "nginx.conf"), conf);
  const nginx = execa(NGINX, ["-p", work, "-c", join(work, "nginx.conf"), "-e", join(work, "nginx-error.log")], { reject: false });
  cleanups.push(async () => {
    nginx.kill();
    await nginx;
  });
  for (let i = 0; i < 100 && !(await fetch(`http://127.0.0.1:${nginxPort}/`, { method: "POST", body: "{}" }).then((r) => r.ok, () => false)); i++) await new Promise((r) => setTimeout(r, 50));
  // A warm-up run of each first (JIT, connection pools), as bench/run.ts does.
  await wrk(`${agent.url}/invoke`, { id: "fn-0", payload: PAYLOAD }, 2);
  await wrk(`http://127.0.0.1:${nginxPort}/`, PAYLOAD, 2);
  const viaAgent = await wrk(`${agent.url}/invoke`, { id: "fn-0", payload: PAYLOAD });
  const viaNginx = await wrk(`http://127.0.0.1:${nginxPort}/`, PAYLOAD);
  console.log(
    `${"invoke throughput".padEnd(22)} agent ${viaAgent.toFixed(0).padStart(6)} req/s nginx ${viaNginx.toFixed(0).padStart(6)} req/s ratio ${(viaAgent / viaNginx).toFixed(2).padStart(5)}   bar ≥ 0.30 × nginx: ${viaAgent >= 0.3 * viaNginx ? "PASS" : "FAIL"}`,
  );
}

try {
  await main();
} finally {
  // Delete through the agents (containers and their images), before stopping them.
  for (const key of deployed) {
    const [url, id] = key.split(" ");
    await fetch(`${url}/delete`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ id }) }).catch(() => undefined);
  }
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  for (const id of plainContainers) await docker.getContainer(id).remove({ force: true }).catch(() => undefined);
  for (const c of await docker.listContainers({ all: true, filters: labelFilter(namespace) }).catch(() => [])) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  await docker.getImage(`faas-bench-plain:${namespace}`).remove({ force: true }).catch(() => undefined);
  await rm(work, { recursive: true, force: true });
}
