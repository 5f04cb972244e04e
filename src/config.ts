import { existsSync, readFileSync } from "node:fs";
import { DEFAULT_CONTAINER_LIMITS, parseMemory, type ContainerLimits } from "./adapters/docker/limits.ts";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { parseEnv } from "node:util";
import type { PlatformName } from "./domain/types.ts";
import { invocationsConfig } from "./invocations/config.ts";
import type { InvocationsConfig } from "./invocations/types.ts";
import { bool, ConfigError, httpUrl, int, list, nonEmpty, oneOf, optionalHttpUrl, seconds } from "./settings.ts";

export { ConfigError } from "./settings.ts";

/** The agent's configuration, parsed and validated once at start-up from the environment. */
export interface Config {
  platform: PlatformName;
  workflow: "local" | "registry";
  registry: string | undefined;
  dockerRepoPrefix: string;
  host: string;
  port: number;
  debug: boolean;
  logLevel: string;
  /** FAAS_LOG_FORMAT: `json` lines, `pretty` human lines, or `auto` (pretty on a terminal, else JSON). */
  logFormat: "auto" | "json" | "pretty";
  /** Bearer tokens; empty = no authentication. */
  authTokens: string[];
  /** The one port's exposure: TLS, the Host and Origin allow-lists (see src/server/exposure.ts). */
  exposure: ExposureConfig;
  /** Largest request body accepted, in bytes (REST and RPC). */
  maxBodyBytes: number;
  /** Largest function result returned, in bytes, on every protocol and platform (default: maxBodyBytes). */
  maxResultBytes: number;
  /** Longest an invoke may run, in milliseconds. */
  invokeTimeoutMs: number;
  /** Longest a deploy may run, in milliseconds. */
  deployTimeoutMs: number;
  /** Time without calls after which a worker is stopped, in milliseconds; 0 = never. */
  idleTimeoutMs: number;
  /** Grace period for calls and streams in flight at shutdown, in milliseconds. */
  shutdownGraceMs: number;
  local: {
    stateDir: string;
    /** Interpreter used when a deploy does not set PYTHON_VERSION. */
    python: string;
    /** Threads each worker runs sync handlers on. */
    workerThreads: number;
    /** Spare sandboxed workers kept started per interpreter in use, for cold starts (FAAS_WARM_WORKERS; 0: none). */
    warmWorkers: number;
    /**
     * The sandbox of workers and pip: FAAS_BWRAP (bubblewrap executable), FAAS_REQUIRE_ISOLATION=1
     * (refuse to start without one), FAAS_SANDBOX_UID / FAAS_SANDBOX_GID (who functions run as
     * when the agent is root; default 65534, nobody).
     */
    sandbox: { bwrap: string; require: boolean; uid: number; gid: number };
  };
  /** The knative platform: KNATIVE_DOMAIN, KNATIVE_NAMESPACE, KNATIVE_TIMEOUT (rollout wait, s), KNATIVE_INGRESS_URL (invokes go there with a Host header). */
  knative: { domain: string; namespace: string; timeoutSeconds: number; ingressUrl: string | undefined };
  /**
   * The nuclio platform: the dashboard's URL, the namespace and project functions go to,
   * NUCLIO_TIMEOUT (seconds) for each dashboard request and for waiting on a deploy under way,
   * and how calls reach functions (NUCLIO_INVOKE_VIA).
   */
  nuclio: {
    namespace: string;
    platformKind: string;
    timeoutSeconds: number;
    dashboardUrl: string;
    project: string;
    invokeVia: "dashboard" | "internal" | "external";
  };
  /** Async invocations (docs/async.md): the queue, its retention and bounds, retries, concurrency, callbacks. */
  invocations: InvocationsConfig;
  /** The docker platform (and image builds): DOCKER_TIMEOUT bounds a build; FAAS_DOCKER_NAMESPACE separates agents sharing an engine. */
  docker: { timeoutSeconds: number; namespace: string; limits: ContainerLimits };
}

/** How the port is exposed: TLS and mTLS, and whom browsers and Host headers may name. */
export interface ExposureConfig {
  /** FAAS_TLS_CERT / FAAS_TLS_KEY (PEM files); FAAS_TLS_CLIENT_CA turns on mutual TLS. Undefined = plain text. */
  tls: { certFile: string; keyFile: string; clientCaFile: string | undefined } | undefined;
  /** FAAS_ALLOWED_HOSTS: Host header values answered besides loopback and FAAS_HOST (`name`, `name:port`, `.suffix`, `*`). */
  allowedHosts: string[];
  /** FAAS_ALLOWED_ORIGINS: browser origins (`https://app.example.com`) allowed besides the agent's own, with CORS. */
  allowedOrigins: string[];
  /** FAAS_ALLOW_INSECURE=1: the operator means to listen beyond loopback without a token or mTLS. */
  allowInsecure: boolean;
}

/** Platforms this build of the agent implements. */
export const AVAILABLE_PLATFORMS: readonly PlatformName[] = ["local", "docker", "knative", "nuclio"];
const ALL_PLATFORMS: readonly PlatformName[] = ["local", "docker", "knative", "nuclio"];

/**
 * Reads `.env` in `cwd` (if present) into a copy of `env`. Variables already set win, as with
 * `export $(cat .env | xargs)` followed by explicit exports.
 */
export function withDotEnv(env: NodeJS.ProcessEnv, cwd: string): NodeJS.ProcessEnv {
  const file = join(cwd, ".env");
  if (!existsSync(file)) return env;
  const parsed = parseEnv(readFileSync(file, "utf8")) as Record<string, string>;
  return { ...parsed, ...env };
}

/** Parses the environment into a Config; throws ConfigError naming the offending variable. */
export function loadConfig(env: NodeJS.ProcessEnv): Config {
  const platform = oneOf(env, "RADICAL_FAAS_PLATFORM", ALL_PLATFORMS, "local");
  if (!AVAILABLE_PLATFORMS.includes(platform)) {
    throw new ConfigError(
      `RADICAL_FAAS_PLATFORM=${platform} is not available in this version of the agent; available: ${AVAILABLE_PLATFORMS.join(", ")}`,
    );
  }
  const workflow = oneOf(env, "FAAS_WORKFLOW", ["local", "registry"] as const, "local");
  const registry = nonEmpty(env.RADICAL_FAAS_REGISTRY);
  if (workflow === "registry" && !registry) {
    throw new ConfigError("FAAS_WORKFLOW=registry needs RADICAL_FAAS_REGISTRY (the registry to push images to)");
  }
  const debug = bool(env, "FLASK_DEBUG", false) || bool(env, "FAAS_DEBUG", false);
  const host = nonEmpty(env.FAAS_HOST) ?? "127.0.0.1";
  const authTokens = (env.FAAS_AUTH_TOKEN ?? "")
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t.length > 0);
  const exposure = exposureConfig(env);
  if (!isLoopbackHost(host) && authTokens.length === 0 && !exposure.tls?.clientCaFile && !exposure.allowInsecure) {
    throw new ConfigError(
      `FAAS_HOST=${host} exposes the agent beyond this machine without authentication: set FAAS_AUTH_TOKEN (or FAAS_TLS_CLIENT_CA for mutual TLS), or FAAS_ALLOW_INSECURE=1 if you mean it`,
    );
  }
  const stateHome = nonEmpty(env.XDG_STATE_HOME) ?? join(nonEmpty(env.HOME) ?? homedir(), ".local", "state");
  return {
    platform,
    workflow,
    registry,
    dockerRepoPrefix: nonEmpty(env.DOCKER_REPO_PREFIX) ?? "library",
    host,
    port: int(env, "PORT", 5000, 0, 65535),
    debug,
    logLevel: nonEmpty(env.FAAS_LOG_LEVEL) ?? (debug ? "debug" : "info"),
    logFormat: oneOf(env, "FAAS_LOG_FORMAT", ["auto", "json", "pretty"] as const, "auto"),
    authTokens,
    exposure,
    maxBodyBytes: int(env, "FAAS_MAX_BODY_BYTES", 8 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    maxResultBytes: int(env, "FAAS_MAX_RESULT_BYTES", int(env, "FAAS_MAX_BODY_BYTES", 8 * 1024 * 1024, 1024, 1024 * 1024 * 1024), 1024, 1024 * 1024 * 1024),
    invokeTimeoutMs: seconds(env, "FAAS_INVOKE_TIMEOUT", 300),
    deployTimeoutMs: seconds(env, "FAAS_DEPLOY_TIMEOUT", 600),
    // Local cold starts are cheap (a spare from the warm pool): idle local workers stop sooner.
    idleTimeoutMs: seconds(env, "FAAS_IDLE_TIMEOUT", platform === "local" ? 60 : 600, true),
    shutdownGraceMs: seconds(env, "FAAS_SHUTDOWN_GRACE", 5, true),
    local: {
      stateDir: resolve(nonEmpty(env.FAAS_STATE_DIR) ?? join(stateHome, "radical-faas")),
      python: nonEmpty(env.FAAS_PYTHON) ?? "python3",
      workerThreads: int(env, "FAAS_WORKER_THREADS", 64, 1, 1024),
      warmWorkers: int(env, "FAAS_WARM_WORKERS", 2, 0, 64),
      sandbox: {
        bwrap: nonEmpty(env.FAAS_BWRAP) ?? "bwrap",
        require: bool(env, "FAAS_REQUIRE_ISOLATION", false),
        uid: int(env, "FAAS_SANDBOX_UID", 65534, 1, 4294967294),
        gid: int(env, "FAAS_SANDBOX_GID", 65534, 1, 4294967294),
      },
    },
    knative: {
      domain: nonEmpty(env.KNATIVE_DOMAIN) ?? "example.com",
      namespace: nonEmpty(env.KNATIVE_NAMESPACE) ?? "default",
      timeoutSeconds: int(env, "KNATIVE_TIMEOUT", 60, 1, 86400),
      ingressUrl: optionalHttpUrl(env, "KNATIVE_INGRESS_URL"),
    },
    nuclio: {
      namespace: nonEmpty(env.NUCLIO_NAMESPACE) ?? "nuclio",
      platformKind: oneOf(env, "NUCLIO_PLATFORM_KIND", ["kube", "local"] as const, "kube"),
      timeoutSeconds: int(env, "NUCLIO_TIMEOUT", 60, 1, 86400),
      dashboardUrl: httpUrl(env, "NUCLIO_DASHBOARD_URL", "http://localhost:8070"),
      project: nonEmpty(env.NUCLIO_PROJECT) ?? "default",
      invokeVia: oneOf(env, "NUCLIO_INVOKE_VIA", ["dashboard", "internal", "external"] as const, "dashboard"),
    },
    invocations: invocationsConfig(env),
    docker: { timeoutSeconds: int(env, "DOCKER_TIMEOUT", 300, 1, 86400), namespace: dockerNamespace(env), limits: containerLimits(env) },
  };
}

/**
 * Whether a listen address keeps the agent on this machine: `localhost` (and `*.localhost`),
 * 127.0.0.0/8 and ::1. Any other name or address (0.0.0.0, ::, an interface address, a host name)
 * counts as exposed.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, "");
  if (h === "localhost" || h.endsWith(".localhost")) return true;
  if (h === "::1" || h === "0:0:0:0:0:0:0:1") return true;
  return /^127(\.\d{1,3}){3}$/.test(h) || /^::ffff:127(\.\d{1,3}){3}$/.test(h);
}

function exposureConfig(env: NodeJS.ProcessEnv): ExposureConfig {
  const cert = nonEmpty(env.FAAS_TLS_CERT);
  const key = nonEmpty(env.FAAS_TLS_KEY);
  const clientCa = nonEmpty(env.FAAS_TLS_CLIENT_CA);
  if ((cert === undefined) !== (key === undefined)) throw new ConfigError("FAAS_TLS_CERT and FAAS_TLS_KEY go together: set both (PEM files) or neither");
  if (clientCa && !cert) throw new ConfigError("FAAS_TLS_CLIENT_CA needs TLS: set FAAS_TLS_CERT and FAAS_TLS_KEY too");
  for (const [name, file] of [["FAAS_TLS_CERT", cert], ["FAAS_TLS_KEY", key], ["FAAS_TLS_CLIENT_CA", clientCa]] as const) {
    if (file !== undefined && !existsSync(file)) throw new ConfigError(`${name}=${file}: no such file`);
  }
  const allowedOrigins = list(env.FAAS_ALLOWED_ORIGINS).map((origin) => {
    const parsed = URL.canParse(origin) ? new URL(origin) : undefined;
    if (!parsed || !/^https?:$/.test(parsed.protocol) || parsed.origin !== origin.replace(/\/$/, "")) {
      throw new ConfigError(`FAAS_ALLOWED_ORIGINS: "${origin}" is not an origin; expected scheme://host[:port], e.g. https://app.example.com`);
    }
    return parsed.origin;
  });
  const allowedHosts = list(env.FAAS_ALLOWED_HOSTS).map((h) => h.toLowerCase());
  for (const h of allowedHosts) {
    if (!/^(\*|\.?[a-z0-9._-]+(:\d{1,5})?|\[[0-9a-f:.]+\](:\d{1,5})?)$/.test(h)) {
      throw new ConfigError(`FAAS_ALLOWED_HOSTS: "${h}" is invalid; expected host, host:port, .suffix or *`);
    }
  }
  return {
    tls: cert && key ? { certFile: resolve(cert), keyFile: resolve(key), clientCaFile: clientCa && resolve(clientCa) } : undefined,
    allowedHosts,
    allowedOrigins,
    allowInsecure: bool(env, "FAAS_ALLOW_INSECURE", false),
  };
}

function dockerNamespace(env: NodeJS.ProcessEnv): string {
  const raw = nonEmpty(env.FAAS_DOCKER_NAMESPACE) ?? "default";
  if (!/^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/.test(raw)) {
    throw new ConfigError(`FAAS_DOCKER_NAMESPACE=${raw} is invalid; expected up to 32 lowercase letters, digits and '-'`);
  }
  return raw;
}

/** FAAS_DOCKER_MEMORY (docker's --memory form, "0" = unlimited) and FAAS_DOCKER_PIDS (0 = unlimited). */
function containerLimits(env: NodeJS.ProcessEnv): ContainerLimits {
  const memoryText = nonEmpty(env.FAAS_DOCKER_MEMORY);
  const memoryBytes = memoryText === undefined ? DEFAULT_CONTAINER_LIMITS.memoryBytes : parseMemory(memoryText);
  if (memoryBytes === undefined) throw new ConfigError(`FAAS_DOCKER_MEMORY=${memoryText} is invalid; expected bytes or a number with k, m or g (at least 6m), e.g. 512m, or 0 for no limit`);
  return { memoryBytes, pids: int(env, "FAAS_DOCKER_PIDS", DEFAULT_CONTAINER_LIMITS.pids, 0, 1 << 22) };
}
