import type Docker from "dockerode";
import type { Logger } from "pino";
import { dockerUnavailable } from "../../images/image.ts";
import { resolveImage } from "../../images/resolve.ts";
import { imageInputs } from "../../images/template.ts";
import type { Images } from "../../images/types.ts";
import { functionNotFound } from "../../domain/errors.ts";
import type { Capabilities, DeployEmitter, DeployPhase, DeploySpec, FunctionInfo, HealthCheck, InvokeOutcome, InvokeStream, LogLine, LogsOptions, Platform } from "../../domain/types.ts";
import { describeView, listViews, type ContainerView } from "./containers.ts";
import { ignoreNotFound, removeImageIfUnused, restartContainer, startContainer, within } from "./run.ts";
import { ContainerEndpoint } from "./channel.ts";
import { callRoute, streamRoute, type Routes } from "../kit/endpoint.ts";
import type { ContainerLimits } from "./limits.ts";
import { containerLogs } from "./logs.ts";
import { contentHash, canonicalJson } from "../kit/hash.ts";
import { KeyedLock } from "../kit/keyed-lock.ts";
import { runDeploy } from "../kit/pipeline.ts";
import { startSweeper, type Sweeper } from "../kit/sweeper.ts";

/** Options of the docker platform; see Config for their environment variables. */
export interface DockerPlatformOptions {
  /** A dockerode client for DOCKER_HOST / DOCKER_TLS_VERIFY / DOCKER_CERT_PATH; the caller owns it. */
  docker: Docker;
  /** Separates agents sharing one engine (FAAS_DOCKER_NAMESPACE); only this namespace's containers are seen. */
  namespace: string;
  /** Builds the function images (and pushes them, in the registry workflow). */
  images: Images;
  /** Longest a container may take to become healthy, in milliseconds. */
  startTimeoutMs: number;
  invokeTimeoutMs: number;
  /** Stop a function's container after this long without calls; 0 = never. */
  idleTimeoutMs: number;
  /** How long a replaced container may finish the calls it has before it is stopped. */
  drainMs: number;
  /** Memory and pids limits of every container (FAAS_DOCKER_MEMORY, FAAS_DOCKER_PIDS); default limits.ts's. */
  limits?: ContainerLimits;
  logger: Logger;
}

/** What the agent keeps about a function's current container: a cache of the engine's state. */
interface Live {
  view: ContainerView;
  endpoint: ContainerEndpoint | undefined;
  starting: Promise<ContainerEndpoint> | undefined;
  stopping: Promise<void> | undefined;
  lastUsed: number;
}

/**
 * Functions as containers on one Docker engine: one labelled container per function, published on
 * 127.0.0.1 only, built from the fixed function image template. The engine is the source of truth
 * (List/Get read containers by label); the agent caches only where each function's runtime
 * listens, so an invoke is one request on a pooled keep-alive connection.
 */
export class DockerPlatform implements Platform {
  readonly name = "docker" as const;
  /** Functions here run as one container each, without scaling, resource or traffic settings. */
  readonly capabilities: Capabilities = { options: new Set(), dryRun: false, traffic: false, logsFollow: true, streaming: "incremental" };
  private readonly live = new Map<string, Live>();
  private readonly locks = new KeyedLock();
  private readonly docker: Docker;
  private readonly sweeper: Sweeper;

  constructor(private readonly options: DockerPlatformOptions) {
    this.docker = options.docker;
    this.sweeper = startSweeper(options.idleTimeoutMs, (now) => this.stopIdle(now));
  }

  async deploy(spec: DeploySpec, emit: DeployEmitter, signal: AbortSignal): Promise<FunctionInfo> {
    const inputs = imageInputs(spec); // parameters checked again before anything reaches the engine
    const run = { spec, emit, locks: this.locks, logger: this.options.logger, noun: "container", where: `namespace ${this.options.namespace}` };
    // Only this agent's containers are listed (by label), so whatever is current is owned.
    return runDeploy(run, {
      current: async () => {
        await this.ping(signal);
        return (await this.views(spec.id, signal)).get(spec.id)?.[0];
      },
      render: async (phases) => {
        phases.enter("building");
        const image = await resolveImage(this.options.images, inputs, (phase, source, line) => phases.log(line, source, phase), signal);
        return { image, contentHash: contentHash(["radical-faas docker revision v1", image.ref, canonicalJson(spec.env)]) };
      },
      unchanged: (current, { contentHash: revision }) =>
        current.revision === revision ? `revision ${revision} is already deployed in container ${current.containerId.slice(0, 12)}: nothing to do` : undefined,
      apply: async ({ image, contentHash: revision }, current, phases) => {
        phases.enter("deploying");
        const log = (phase: DeployPhase, source: string, line: string) => phases.log(line, source, phase);
        const made = { image: image.ref, hash: image.hash, revision, pythonVersion: inputs.pythonVersion, createdAt: current?.createdAt ?? new Date() };
        const view = await startContainer(this.docker, { namespace: this.options.namespace, startTimeoutMs: this.options.startTimeoutMs, limits: this.options.limits }, spec, made, log, signal);
        const previous = this.live.get(spec.id);
        // The switch: calls made from here on go to the new container; the old one drains, then goes.
        this.live.set(spec.id, { view, endpoint: new ContainerEndpoint(view.containerId, view.port, this.options.invokeTimeoutMs), starting: undefined, stopping: undefined, lastUsed: Date.now() });
        const olds = ((await this.views(spec.id, signal)).get(spec.id) ?? []).filter((v) => v.containerId !== view.containerId);
        void this.retire(olds, previous?.endpoint);
        phases.log(`container ${view.containerId.slice(0, 12)} is healthy on 127.0.0.1:${view.port}`);
        return view;
      },
      describe: (running) => describeView("made" in running ? running.made : running.current),
    });
  }

  async invoke(id: string, payloadJson: string, signal: AbortSignal): Promise<InvokeOutcome> {
    const live = this.live.get(id) ?? (await this.adopt(id, signal));
    live.lastUsed = Date.now();
    try {
      const { resultJson, resolved } = await callRoute(this.routesOf(id, live), id, payloadJson, signal);
      return { resultJson, coldStart: resolved };
    } finally {
      live.lastUsed = Date.now();
    }
  }

  async invokeStream(id: string, payloadJson: string, signal: AbortSignal): Promise<InvokeStream> {
    const live = this.live.get(id) ?? (await this.adopt(id, signal));
    live.lastUsed = Date.now();
    return streamRoute(this.routesOf(id, live), id, payloadJson, signal);
  }

  /** The function's Live entry is the route cache; starting the container is the resolve (a cold start). */
  private routesOf(id: string, first: Live): Routes {
    let live = first;
    return {
      cached: () => (live = this.live.get(id) ?? live).endpoint,
      resolve: (_id, s) => this.ensureRunning(id, live, s),
      drop: (_id, endpoint) => {
        if (live.endpoint === endpoint) live.endpoint = undefined;
      },
    };
  }

  async list(signal: AbortSignal): Promise<FunctionInfo[]> {
    const views = await this.views(undefined, signal);
    return [...views.values()].map((group) => describeView(group[0]!)).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async get(id: string, signal: AbortSignal): Promise<FunctionInfo> {
    const view = (await this.views(id, signal)).get(id)?.[0];
    if (!view) throw functionNotFound(id);
    return describeView(view);
  }

  async remove(id: string, signal: AbortSignal): Promise<void> {
    await this.locks.run(id, async () => {
      const group = (await this.views(id, signal)).get(id);
      if (!group) throw functionNotFound(id);
      this.live.get(id)?.endpoint?.close();
      this.live.delete(id);
      const images = new Set(group.map((v) => v.image));
      for (const view of group) await this.docker.getContainer(view.containerId).remove({ force: true }).catch(ignoreNotFound);
      for (const image of images) await removeImageIfUnused(this.docker, image);
      this.options.logger.info({ function: id }, "function deleted");
    });
  }

  async *logs(id: string, options: LogsOptions, signal: AbortSignal): AsyncIterable<LogLine> {
    const view = (await this.views(id, signal)).get(id)?.[0];
    if (!view) throw functionNotFound(id);
    yield* containerLogs(this.docker, view.containerId, options, signal);
  }

  async health(signal: AbortSignal): Promise<HealthCheck[]> {
    try {
      const version = await within(this.docker.version(), AbortSignal.any([signal, AbortSignal.timeout(3000)]));
      return [{ name: "docker", ok: true, message: `Docker engine ${version.Version} (API ${version.ApiVersion})` }];
    } catch (error) {
      return [{ name: "docker", ok: false, message: `the Docker engine is unreachable: ${(error as Error).message}` }];
    }
  }

  async close(): Promise<void> {
    this.sweeper.stop();
    for (const live of this.live.values()) live.endpoint?.close();
    this.live.clear();
  }

  /** Starts the function's container again (after scale to zero or a crash), once however many calls wait. */
  private ensureRunning(id: string, live: Live, signal: AbortSignal): Promise<ContainerEndpoint> {
    live.starting ??= (async () => {
      await live.stopping;
      const port = await restartContainer(this.docker, id, live.view.containerId, this.options.startTimeoutMs, signal);
      live.endpoint?.close();
      live.view = { ...live.view, port, running: true, state: "running" };
      live.endpoint = new ContainerEndpoint(live.view.containerId, port, this.options.invokeTimeoutMs);
      this.options.logger.debug({ function: id }, "container started");
      return live.endpoint;
    })().finally(() => {
      live.starting = undefined;
    });
    return live.starting;
  }

  /** Looks a function up in the engine the first time this agent is asked for it (e.g. after a restart). */
  private async adopt(id: string, signal: AbortSignal): Promise<Live> {
    const view = (await this.views(id, signal)).get(id)?.[0];
    if (!view) throw functionNotFound(id);
    const existing = this.live.get(id);
    if (existing) return existing;
    const live: Live = { view, endpoint: view.running && view.port ? new ContainerEndpoint(view.containerId, view.port, this.options.invokeTimeoutMs) : undefined, starting: undefined, stopping: undefined, lastUsed: Date.now() };
    this.live.set(id, live);
    return live;
  }

  /** Stops and removes replaced containers once their calls have finished (or the grace ends). */
  private async retire(olds: ContainerView[], endpoint: ContainerEndpoint | undefined): Promise<void> {
    const deadline = Date.now() + this.options.drainMs;
    while (endpoint && endpoint.inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    endpoint?.close();
    for (const old of olds) await this.docker.getContainer(old.containerId).remove({ force: true }).catch(() => undefined);
  }

  private stopIdle(now: number): void {
    for (const [id, live] of this.live) {
      const endpoint = live.endpoint;
      if (!endpoint || endpoint.inflight > 0 || live.starting || now - live.lastUsed < this.options.idleTimeoutMs) continue;
      live.endpoint = undefined;
      endpoint.close();
      live.view = { ...live.view, running: false, state: "exited" };
      this.options.logger.debug({ function: id }, "idle container stopping");
      live.stopping = this.docker
        .getContainer(live.view.containerId)
        .stop({ t: 2 })
        .catch(() => undefined)
        .finally(() => {
          live.stopping = undefined;
        });
    }
  }

  private async views(id: string | undefined, signal: AbortSignal): Promise<Map<string, ContainerView[]>> {
    try {
      return await listViews(this.docker, this.options.namespace, id, signal);
    } catch (error) {
      throw dockerUnavailable(error);
    }
  }

  private async ping(signal: AbortSignal): Promise<void> {
    try {
      await this.docker.ping({ abortSignal: AbortSignal.any([signal, AbortSignal.timeout(5000)]) } as never);
    } catch (error) {
      throw dockerUnavailable(error);
    }
  }
}
