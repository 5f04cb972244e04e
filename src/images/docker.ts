import type { Readable } from "node:stream";
import type Docker from "dockerode";
import { FaasError } from "../domain/errors.ts";
import { buildImage, dockerUnavailable } from "./image.ts";
import { readProgress } from "./progress.ts";
import { pushImage, registryDigest, type RegistryAuth } from "./push.ts";
import { imageHash, type ImageInputs } from "./template.ts";
import type { Builder, ImageLog, ImageName, Images, Pusher } from "./types.ts";

/** Where images go: the engine only (local workflow) or a registry too (registry workflow). */
export type ImageTarget = { workflow: "local"; repoPrefix: string } | { workflow: "registry"; registry: string; auth: RegistryAuth | undefined };

export interface DockerImagesOptions {
  /** The engine that builds (and pushes); the caller owns the client. */
  docker: Docker;
  target: ImageTarget;
  /** Longest one image build may run (DOCKER_TIMEOUT), in milliseconds. */
  buildTimeoutMs: number;
}

/**
 * The Builder (and, in the registry workflow, the Pusher) on the Docker Engine API: images are
 * named `<repoPrefix or registry>/<id>:<content hash>`, built by the engine's build API from the
 * fixed template, pushed through its push API and run by digest.
 */
export function dockerImages(options: DockerImagesOptions): Images {
  const { docker, target } = options;
  const builder: Builder = {
    async name(inputs: ImageInputs, signal: AbortSignal): Promise<ImageName> {
      // An engine that does not answer fails the build that follows; a dry run still gets a name.
      let baseId: string | undefined;
      let withoutBase: string | undefined;
      try {
        baseId = await imageId(docker, inputs.baseImage, signal);
      } catch (error) {
        withoutBase = `the Docker engine did not answer (${(error as Error).message})`;
      }
      const hash = imageHash(inputs, baseId ?? "");
      const repository = `${target.workflow === "registry" ? target.registry : target.repoPrefix}/${inputs.id}`;
      return { repository, hash, tagged: `${repository}:${hash}`, ...(withoutBase ? { withoutBase } : {}) };
    },
    async build(inputs: ImageInputs, name: ImageName, log: ImageLog, signal: AbortSignal): Promise<boolean> {
      if (await imageId(docker, name.tagged, signal)) {
        log("building", "agent", `image ${name.tagged} exists in the engine: skipping the build`);
        return false;
      }
      if (!(await imageId(docker, inputs.baseImage, signal))) log("building", "agent", `base image ${inputs.baseImage} is not in the engine; the build will try to pull it`);
      // No per-build labels: the classic builder runs a container for each, and the tag names id and hash.
      await buildImage({ docker, inputs, tag: name.tagged, timeoutMs: options.buildTimeoutMs, onLine: (step, line) => log("building", `build ${step}`, line), signal });
      return true;
    },
  };
  if (target.workflow === "local") return { builder, pusher: undefined };
  const auth = target.auth;
  const pusher: Pusher = {
    digest(name: ImageName): Promise<string | undefined> {
      return registryDigest(docker, name.tagged, auth);
    },
    async pull(ref: string, log: ImageLog, signal: AbortSignal): Promise<void> {
      if (!(await imageId(docker, ref, signal))) await pullImage(docker, ref, auth, (line) => log("building", "pull", line), signal);
    },
    push(name: ImageName, log: ImageLog, signal: AbortSignal): Promise<string> {
      return pushImage(docker, name.tagged, auth, (line) => log("building", "push", line), signal);
    },
  };
  return { builder, pusher };
}

/** The engine's id of image `ref`, or undefined when it has none; unavailable when it does not answer. */
export async function imageId(docker: Docker, ref: string, signal: AbortSignal): Promise<string | undefined> {
  try {
    const info = await docker.getImage(ref).inspect({ abortSignal: signal } as Docker.ImageInspectOptions);
    return info.Id;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return undefined;
    throw dockerUnavailable(error);
  }
}

async function pullImage(docker: Docker, ref: string, auth: RegistryAuth | undefined, onLine: (line: string) => void, signal: AbortSignal): Promise<void> {
  let failure = "";
  try {
    const stream = (await docker.pull(ref, { authconfig: auth, abortSignal: signal } as never)) as unknown as Readable;
    await readProgress(
      stream,
      (m) => {
        if (m.status) onLine(m.id ? `${m.id}: ${m.status}` : m.status);
        if (m.error !== undefined) failure = m.errorDetail?.message ?? m.error;
      },
      signal,
    );
  } catch (error) {
    throw dockerUnavailable(error);
  }
  if (failure) throw new FaasError("unavailable", `pulling ${ref} failed: ${failure}`, { reason: "REGISTRY_UNAVAILABLE" });
}
