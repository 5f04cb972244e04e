import { randomBytes } from "node:crypto";
import type Docker from "dockerode";
import { FaasError, functionNotFound } from "../../domain/errors.ts";
import type { DeployPhase, DeploySpec } from "../../domain/types.ts";
import { dockerUnavailable } from "../../images/image.ts";
import { CONTAINER_PORT } from "../../images/template.ts";
import { LABELS, MANAGED_BY } from "../kit/labels.ts";
import { DEFAULT_CONTAINER_LIMITS, limitsHostConfig, type ContainerLimits } from "./limits.ts";
import { publishedPort, waitHealthy, type ContainerView } from "./containers.ts";

/** What a new container runs: the image (reference and content hash), the revision, the Python. */
export interface ContainerMade {
  image: string;
  hash: string;
  revision: string;
  pythonVersion: string;
  /** When the function was first deployed (kept across revisions). */
  createdAt: Date;
}

/**
 * Creates and starts a function's container, labelled with the kit's vocabulary and published on
 * 127.0.0.1 only, and waits until its runtime answers /healthz. A container that does not become
 * healthy is removed (nothing half-deployed), and with it an image whose handler does not import.
 */
export async function startContainer(
  docker: Docker,
  where: { namespace: string; startTimeoutMs: number; limits?: ContainerLimits },
  spec: DeploySpec,
  made: ContainerMade,
  log: (phase: DeployPhase, source: string, line: string) => void,
  signal: AbortSignal,
): Promise<ContainerView> {
  const { image, hash, revision, pythonVersion, createdAt } = made;
  const container = await docker
    .createContainer({
      name: `faas-${where.namespace}-${spec.id}-${randomBytes(3).toString("hex")}`,
      Image: image,
      Env: [...Object.entries(spec.env).map(([k, v]) => `${k}=${v}`), `FAAS_FUNCTION_ID=${spec.id}`, `FAAS_REVISION=${revision}`],
      Labels: {
        [LABELS.managedBy]: MANAGED_BY,
        [LABELS.namespace]: where.namespace,
        [LABELS.function]: spec.id,
        [LABELS.contentHash]: hash,
        [LABELS.revision]: revision,
        [LABELS.createdAt]: createdAt.toISOString(),
        [LABELS.pythonVersion]: pythonVersion,
      },
      ExposedPorts: { [`${CONTAINER_PORT}/tcp`]: {} },
      HostConfig: { PortBindings: { [`${CONTAINER_PORT}/tcp`]: [{ HostIp: "127.0.0.1", HostPort: "" }] }, ...limitsHostConfig(where.limits ?? DEFAULT_CONTAINER_LIMITS) },
      abortSignal: signal,
    } as Docker.ContainerCreateOptions)
    .catch((error: unknown) => {
      throw dockerUnavailable(error);
    });
  try {
    await container.start();
    const port = await publishedPort(docker, container.id, signal);
    log("deploying", "agent", `started container ${container.id.slice(0, 12)}; waiting for /healthz`);
    await waitHealthy(docker, container.id, port, where.startTimeoutMs, signal);
    const now = new Date();
    return { containerId: container.id, functionId: spec.id, image, hash, revision, pythonVersion, createdAt, updatedAt: now, running: true, state: "running", port };
  } catch (error) {
    await container.remove({ force: true }).catch(() => undefined); // nothing half-deployed
    // An image whose handler does not import is of no use to anyone: it goes too.
    if ((error as FaasError).reason === "HANDLER_INVALID") await removeImageIfUnused(docker, image);
    throw error;
  }
}

/**
 * Starts function `id`'s stopped container again (after scale to zero or a crash) and waits until
 * it is healthy; resolves with its published port. not_found when the container is gone.
 */
export async function restartContainer(docker: Docker, id: string, containerId: string, startTimeoutMs: number, signal: AbortSignal): Promise<number> {
  await docker
    .getContainer(containerId)
    .start()
    .catch((error: { statusCode?: number }) => {
      if (error.statusCode === 304) return; // already running
      if (error.statusCode === 404) throw functionNotFound(id);
      throw dockerUnavailable(error);
    });
  const port = await publishedPort(docker, containerId, signal);
  await waitHealthy(docker, containerId, port, startTimeoutMs, signal);
  return port;
}

/** Removes an image (all its names) when no container of any function uses it any more. */
export async function removeImageIfUnused(docker: Docker, ref: string): Promise<void> {
  const info = await docker.getImage(ref).inspect().catch(() => undefined);
  if (!info) return;
  const users = await docker.listContainers({ all: true, filters: { ancestor: [info.Id] } });
  if (users.length > 0) return;
  // force: drop every tag of this image id (`repo:hash` and `repo@digest` name the same image).
  await docker.getImage(info.Id).remove({ force: true }).catch(() => undefined);
}

/** `promise`, or a rejection when `signal` aborts first (for engine calls that take no signal). */
export function within<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error("the engine did not answer in time"));
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** Gone already (404) or being removed by a blue/green retirement (409): either way it goes. */
export function ignoreNotFound(error: { statusCode?: number }): void {
  if (error.statusCode !== 404 && error.statusCode !== 409) throw error;
}
