import { randomBytes } from "node:crypto";
import type Docker from "dockerode";
import { describeDockerHost, dockerFromEnv } from "../../src/images/engine.ts";
import { labelFilter } from "../../src/adapters/docker/containers.ts";

/** A client for the engine DOCKER_HOST names (the one CI starts). */
export const docker: Docker = dockerFromEnv(process.env);

/** Whether the engine answers; tests needing Docker skip (with this reason) when it does not. */
export const dockerReason: string | undefined = await docker.ping().then(
  () => undefined,
  (error: Error) => `no Docker engine answers at ${describeDockerHost(process.env)} (${error.message}); set DOCKER_HOST`,
);

/** CI sets FAAS_REQUIRE_DOCKER=1: then a missing engine fails the tests instead of skipping them. */
export const requireDocker = process.env.FAAS_REQUIRE_DOCKER === "1";

/** True when Docker tests must be skipped; prints why once. */
export const skipDocker: boolean = dockerReason !== undefined && !requireDocker;
if (skipDocker) console.warn(`skipping Docker tests: ${dockerReason}`);

/** Throws when the engine is required but missing (call in beforeAll). */
export function assertDocker(): void {
  if (dockerReason) throw new Error(`FAAS_REQUIRE_DOCKER=1 but ${dockerReason}`);
}

/** A fresh FAAS_DOCKER_NAMESPACE, so that test files sharing one engine never see each other's functions. */
export function testNamespace(prefix: string): string {
  return `t-${prefix}-${randomBytes(3).toString("hex")}`;
}

/** Removes every container a namespace left behind (and the images only they used). */
export async function removeNamespace(namespace: string): Promise<void> {
  if (dockerReason) return;
  const containers = await docker.listContainers({ all: true, filters: labelFilter(namespace) });
  for (const c of containers) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  for (const image of new Set(containers.map((c) => c.Image))) await docker.getImage(image).remove().catch(() => undefined);
}
