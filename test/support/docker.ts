import { randomBytes } from "node:crypto";
import type Docker from "dockerode";
import { dockerFromEnv } from "../../src/images/engine.ts";
import { labelFilter } from "../../src/adapters/docker/containers.ts";
import { partMissing, partRequired, requirePart } from "./requires.ts";

/** A client for the engine DOCKER_HOST names (the one CI starts). */
export const docker: Docker = dockerFromEnv(process.env);

/** Why Docker tests cannot run here (no engine, or no base image), or undefined when they can. */
export const dockerReason: string | undefined = await partMissing("docker");

/** CI sets FAAS_REQUIRE_DOCKER=1 (or FAAS_REQUIRE_ALL=1): then a missing engine fails the tests instead of skipping them. */
export const requireDocker = partRequired("docker");

/**
 * True when Docker tests must be skipped (recorded for the run's summary line). When the engine
 * is required but missing, importing this module throws, which fails every Docker test file.
 */
export const skipDocker: boolean = await requirePart("docker");

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
