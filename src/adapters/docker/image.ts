import type { Readable } from "node:stream";
import type Docker from "dockerode";
import { FaasError } from "../../domain/errors.ts";
import { buildImage, dockerUnavailable } from "../../build/image.ts";
import { readProgress } from "../../build/progress.ts";
import { pushImage, registryDigest, type RegistryAuth } from "../../build/push.ts";
import { contentHash, type ImageInputs } from "../../build/template.ts";

/** Where images go: the engine only (local workflow) or a registry too (registry workflow). */
export type ImageTarget = { workflow: "local"; repoPrefix: string } | { workflow: "registry"; registry: string; auth: RegistryAuth | undefined };

/** The image a deploy runs. */
export interface ResolvedImage {
  /** What the container is created from: `repo:hash` (local) or `repo@sha256:…` (registry). */
  ref: string;
  hash: string;
  /** Whether it was built by this deploy (false: it already existed and was verified). */
  built: boolean;
}

export interface ResolveOptions {
  docker: Docker;
  inputs: ImageInputs;
  target: ImageTarget;
  timeoutMs: number;
  /** Progress lines: `source` is "agent", "build step N/M", "push" or "pull". */
  log: (phase: "packaging" | "building", source: string, line: string) => void;
  signal: AbortSignal;
}

/**
 * Finds or makes the image for `inputs`: its name carries the content hash, so an image that
 * exists under that name (verified by inspecting it in the engine, or by asking the registry for
 * its digest) is exactly this build and is reused; otherwise it is built (and pushed, in the
 * registry workflow, then run by digest).
 */
export async function resolveImage(options: ResolveOptions): Promise<ResolvedImage> {
  const { docker, inputs, target, log, signal } = options;
  const baseId = await imageId(docker, inputs.baseImage, signal);
  if (!baseId) log("packaging", "agent", `base image ${inputs.baseImage} is not in the engine; the build will try to pull it`);
  const hash = contentHash(inputs, baseId ?? "");
  const repo = target.workflow === "registry" ? `${target.registry}/${inputs.id}` : `${target.repoPrefix}/${inputs.id}`;
  const tagged = `${repo}:${hash}`;
  log("packaging", "agent", `image ${tagged} (content hash ${hash})`);

  if (target.workflow === "registry") {
    const digest = await registryDigest(docker, tagged, target.auth);
    if (digest) {
      const byDigest = `${repo}@${digest}`;
      log("building", "agent", `image ${tagged} exists in the registry as ${digest}: skipping the build and the push`);
      if (!(await imageId(docker, byDigest, signal))) await pullImage(docker, byDigest, target.auth, (line) => log("building", "pull", line), signal);
      return { ref: byDigest, hash, built: false };
    }
  } else if (await imageId(docker, tagged, signal)) {
    log("building", "agent", `image ${tagged} exists in the engine: skipping the build`);
    return { ref: tagged, hash, built: false };
  }

  // No per-build labels: the classic builder runs a container for each, and the tag names id and hash.
  await buildImage({ docker, inputs, tag: tagged, timeoutMs: options.timeoutMs, onLine: (step, line) => log("building", `build ${step}`, line), signal });
  if (target.workflow === "local") return { ref: tagged, hash, built: true };
  const digest = await pushImage(docker, tagged, target.auth, (line) => log("building", "push", line), signal);
  log("building", "agent", `pushed ${tagged} as ${digest}`);
  return { ref: `${repo}@${digest}`, hash, built: true };
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
