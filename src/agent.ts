import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { Logger } from "pino";
import type { ImageTarget } from "./images/docker.ts";
import type { Config } from "./config.ts";
import type { Platform } from "./domain/types.ts";
import { AgentCore } from "./service/core.ts";
import { AgentMetrics } from "./metrics/agent-metrics.ts";
import { asFaasError, httpStatusOf } from "./server/errors.ts";
import { SourceStore } from "./service/sources.ts";
import { openInvocations } from "./invocations/open.ts";
import type { InvocationService } from "./invocations/service.ts";
import { createAgentServer, type AgentServerOptions } from "./server/server.ts";
import { besideSource, PACKAGE_ROOT } from "./paths.ts";
import { startIdleCollector } from "./idle-gc.ts";

/** The agent's version, from package.json. */
export const VERSION: string = (JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8")) as { version: string }).version;

/** Where `npm run build:web` (src/web/vite.config.ts) puts the web page the agent serves at `/`. */
export const WEB_ROOT: string = besideSource(import.meta.url, "web/dist");

/** A started agent: its address and a graceful `stop`. */
export interface RunningAgent {
  address: AddressInfo;
  url: string;
  core: AgentCore;
  platform: Platform;
  /** Durable async invocations (SQLite in the state dir, or JetStream with FAAS_QUEUE_URL). */
  invocations: InvocationService;
  metrics: AgentMetrics;
  /** Re-reads the TLS certificates (main.ts calls it on SIGHUP). */
  reloadTls(): void;
  stop(): Promise<void>;
}

/**
 * Builds the agent from a Config (platform → core → server) and starts listening. Used by main.ts
 * and by the tests, which start real agents on port 0. `extra.platform` replaces the configured
 * platform (benchmarks measure the server stack over a platform that does nothing).
 */
export async function startAgent(
  config: Config,
  logger: Logger,
  env: NodeJS.ProcessEnv,
  extra: Pick<AgentServerOptions, "extraRoutes"> & { platform?: Platform } = {},
): Promise<RunningAgent> {
  // A failed call is labelled with the REST status it is answered with, whatever protocol carried it.
  const metrics: AgentMetrics = new AgentMetrics({
    platform: extra.platform?.name ?? config.platform,
    statusOf: (error) => httpStatusOf(asFaasError(error)),
    listFunctions: (signal) => platform.list(signal),
  });
  const platform: Platform = extra.platform ?? (await openPlatform(config, logger, env, metrics));
  const core = new AgentCore({
    platform,
    workflow: config.workflow,
    version: VERSION,
    deployTimeoutMs: config.deployTimeoutMs,
    maxResultBytes: config.maxResultBytes,
    metrics,
    logger,
    sources: new SourceStore(join(config.local.stateDir, "sources")),
  });
  let invocations: InvocationService;
  try {
    invocations = await openInvocations(config.invocations, config.local.stateDir, core, logger);
  } catch (error) {
    await platform.close();
    throw error;
  }
  const server = createAgentServer({
    core,
    invocations,
    metrics,
    logger,
    authTokens: config.authTokens,
    bindHost: config.host,
    allowedHosts: config.exposure.allowedHosts,
    allowedOrigins: config.exposure.allowedOrigins,
    tls: config.exposure.tls,
    maxBodyBytes: config.maxBodyBytes,
    maxTimeoutMs: Math.max(config.invokeTimeoutMs, config.deployTimeoutMs),
    webRoot: WEB_ROOT,
    extraRoutes: extra.extraRoutes,
  });
  let address: AddressInfo;
  try {
    address = await server.listen(config.port, config.host);
    await invocations.start();
  } catch (error) {
    await invocations.close();
    await platform.close();
    throw error;
  }
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  // Once a burst of load is over, the heap is collected rather than left at its high-water mark.
  const idleCollector = startIdleCollector({ logger });
  let stopping: Promise<void> | undefined;
  return {
    address,
    url: `${config.exposure.tls ? "https" : "http"}://${host}:${address.port}`,
    reloadTls: () => server.reloadTls(),
    core,
    platform,
    invocations,
    metrics,
    stop() {
      stopping ??= (async () => {
        idleCollector.stop();
        core.markShuttingDown();
        // Before the platform closes: an attempt cut short by the shutdown is queued again, not failed.
        await invocations.close();
        await server.close(config.shutdownGraceMs);
        await platform.close();
      })();
      return stopping;
    },
  };
}

/**
 * Opens the configured platform. Each platform's module (and the libraries it needs: dockerode,
 * @kubernetes/client-node, tar-stream) is imported only when that platform is configured, so the
 * default local agent neither loads nor holds them.
 */
async function openPlatform(config: Config, logger: Logger, env: NodeJS.ProcessEnv, metrics: AgentMetrics): Promise<Platform> {
  switch (config.platform) {
    case "local": {
      const { LocalPlatform } = await import("./adapters/local/platform.ts");
      return LocalPlatform.open({
        stateDir: config.local.stateDir,
        python: config.local.python,
        workerThreads: config.local.workerThreads,
        warmWorkers: config.local.warmWorkers,
        idleTimeoutMs: config.idleTimeoutMs,
        invokeTimeoutMs: config.invokeTimeoutMs,
        deployTimeoutMs: config.deployTimeoutMs,
        drainMs: config.shutdownGraceMs,
        maxResultBytes: config.maxResultBytes,
        hostEnv: env,
        sandbox: { ...config.local.sandbox, path: env.PATH ?? "/usr/local/bin:/usr/bin:/bin" },
        logger: logger.child({ adapter: "local" }),
        onWorkerLost: (id, reason) => metrics.workerRestarted(id, reason),
      });
    }
    case "nuclio": {
      const { NuclioPlatform } = await import("./adapters/nuclio/platform.ts");
      return new NuclioPlatform({
        dashboardUrl: config.nuclio.dashboardUrl,
        namespace: config.nuclio.namespace,
        project: config.nuclio.project,
        timeoutMs: config.nuclio.timeoutSeconds * 1000,
        invokeTimeoutMs: config.invokeTimeoutMs,
        invokeVia: config.nuclio.invokeVia,
        maxRequestBodyBytes: config.maxBodyBytes,
        logger: logger.child({ adapter: "nuclio" }),
      });
    }
    case "docker": {
      const [{ DockerPlatform }, { dockerImages }, { dockerFromEnv }, { registryAuth }] = await Promise.all([
        import("./adapters/docker/platform.ts"),
        import("./images/docker.ts"),
        import("./images/engine.ts"),
        import("./images/push.ts"),
      ]);
      const docker = dockerFromEnv(env);
      return new DockerPlatform({
        docker,
        namespace: config.docker.namespace,
        images: dockerImages({ docker, target: imageTarget(config, env, config.dockerRepoPrefix, registryAuth), buildTimeoutMs: config.docker.timeoutSeconds * 1000 }),
        startTimeoutMs: Math.min(config.deployTimeoutMs, 60_000),
        invokeTimeoutMs: config.invokeTimeoutMs,
        idleTimeoutMs: config.idleTimeoutMs,
        drainMs: config.shutdownGraceMs,
        limits: config.docker.limits,
        logger: logger.child({ adapter: "docker" }),
      });
    }
    case "knative": {
      const [{ KnativePlatform }, { ServingApi }, { loadKubeConfig }, { dockerImages }, { dockerFromEnv }, { registryAuth }] = await Promise.all([
        import("./adapters/knative/platform.ts"),
        import("./adapters/knative/api.ts"),
        import("./adapters/knative/kube.ts"),
        import("./images/docker.ts"),
        import("./images/engine.ts"),
        import("./images/push.ts"),
      ]);
      return new KnativePlatform({
        api: new ServingApi(loadKubeConfig(env), config.knative.namespace),
        // Knative skips tag resolution for dev.local images, so one built into the cluster's engine runs as is.
        images: dockerImages({ docker: dockerFromEnv(env), target: imageTarget(config, env, "dev.local", registryAuth), buildTimeoutMs: config.docker.timeoutSeconds * 1000 }),
        rolloutTimeoutMs: config.knative.timeoutSeconds * 1000,
        invokeTimeoutMs: config.invokeTimeoutMs,
        ingressUrl: config.knative.ingressUrl,
        logger: logger.child({ adapter: "knative" }),
      });
    }
    default:
      // loadConfig refuses platforms this build does not have; this is the compiler's guard.
      throw new Error(`platform ${config.platform} is not available`);
  }
}

/** The registry workflow pushes to FAAS_REGISTRY; the local one keeps images in the engine under `repoPrefix`. */
function imageTarget(config: Config, env: NodeJS.ProcessEnv, repoPrefix: string, registryAuth: typeof import("./images/push.ts").registryAuth): ImageTarget {
  return config.workflow === "registry" && config.registry
    ? { workflow: "registry", registry: config.registry, auth: registryAuth(config.registry, env) }
    : { workflow: "local", repoPrefix };
}
