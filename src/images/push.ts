import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import type Docker from "dockerode";
import { FaasError } from "../domain/errors.ts";
import { dockerUnavailable } from "./image.ts";
import { readProgress } from "./progress.ts";

/** Credentials for a registry; never logged. */
export interface RegistryAuth {
  username: string;
  password: string;
  serveraddress: string;
}

/**
 * Finds credentials for `registry` (host[:port]): FAAS_REGISTRY_USERNAME/FAAS_REGISTRY_PASSWORD
 * first, then the `auths` entry of the Docker config file ($DOCKER_CONFIG/config.json or
 * ~/.docker/config.json). Undefined when there are none (an open registry).
 */
export function registryAuth(registry: string, env: NodeJS.ProcessEnv): RegistryAuth | undefined {
  const host = registryHost(registry);
  if (env.FAAS_REGISTRY_USERNAME && env.FAAS_REGISTRY_PASSWORD) {
    return { username: env.FAAS_REGISTRY_USERNAME, password: env.FAAS_REGISTRY_PASSWORD, serveraddress: host };
  }
  const file = join(env.DOCKER_CONFIG ?? join(env.HOME ?? homedir(), ".docker"), "config.json");
  let config: { auths?: Record<string, { auth?: string }> };
  try {
    config = JSON.parse(readFileSync(file, "utf8")) as typeof config;
  } catch {
    return undefined;
  }
  for (const [key, entry] of Object.entries(config.auths ?? {})) {
    if (registryHost(key) !== host || !entry.auth) continue;
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), serveraddress: host };
  }
  return undefined;
}

/** The host[:port] part of a registry setting such as `127.0.0.1:5000/team` or `https://r.example`. */
export function registryHost(registry: string): string {
  return registry.replace(/^https?:\/\//, "").split("/")[0]!;
}

/**
 * The digest the registry holds for `ref` (`registry/repo:tag`), asked through the engine's
 * distribution API; undefined when the registry does not have it or cannot be asked.
 */
export async function registryDigest(docker: Docker, ref: string, auth: RegistryAuth | undefined): Promise<string | undefined> {
  try {
    const info = await docker.getImage(ref).distribution(auth ? { authconfig: auth } : {});
    return info.Descriptor?.digest || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Pushes the local image `ref` (`registry/repo:tag`) and returns the digest the registry stored,
 * reporting every progress line through `onLine`. A registry that cannot be reached fails with
 * unavailable REGISTRY_UNAVAILABLE; anything else the registry refuses with failed_precondition.
 */
export async function pushImage(
  docker: Docker,
  ref: string,
  auth: RegistryAuth | undefined,
  onLine: (line: string) => void,
  signal: AbortSignal,
): Promise<string> {
  const colon = ref.lastIndexOf(":");
  const tag = ref.slice(colon + 1);
  let digest = "";
  let failure = "";
  try {
    const stream = (await docker.getImage(ref).push({ tag, authconfig: auth ?? {}, abortSignal: signal } as never)) as unknown as Readable;
    await readProgress(
      stream,
      (message) => {
        if (message.status) onLine(message.id ? `${message.id}: ${message.status}${message.progress ? ` ${message.progress}` : ""}` : message.status);
        if (message.aux?.Digest) digest = message.aux.Digest;
        if (message.error !== undefined) {
          failure = message.errorDetail?.message ?? message.error;
          onLine(failure);
        }
      },
      signal,
    );
  } catch (error) {
    if (signal.aborted) throw new FaasError("cancelled", "push cancelled", { reason: "CANCELLED", cause: error });
    throw dockerUnavailable(error);
  }
  if (failure) {
    const unreachable = /connection refused|no such host|i\/o timeout|dial tcp|connection reset|EOF/i.test(failure);
    throw new FaasError(unreachable ? "unavailable" : "failed_precondition", `pushing ${ref} failed: ${failure}`, {
      reason: unreachable ? "REGISTRY_UNAVAILABLE" : "IMAGE_BUILD_FAILED",
      metadata: { docker_error: failure },
    });
  }
  if (!digest) throw new FaasError("internal", `the engine pushed ${ref} without reporting a digest`, { reason: "IMAGE_BUILD_FAILED" });
  return digest;
}
