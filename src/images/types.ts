import type { ImageInputs } from "./template.ts";

/**
 * The image seam: what a platform that runs images (docker, knative) needs from an image
 * toolchain, as two small interfaces in the manner of knative/func's Builder and Pusher. The
 * Docker Engine API implements both (images/docker.ts); a platform gets them passed in and never
 * talks to an engine for images itself.
 */

/** Build progress: `source` is "agent", "build step N/M", "push" or "pull". */
export type ImageLog = (phase: "packaging" | "building", source: string, line: string) => void;

/** The name of the image for some inputs, known before anything is built. */
export interface ImageName {
  /** `<registry or prefix>/<id>`. */
  repository: string;
  /** The content hash (kit/hash.ts), which is also the tag. */
  hash: string;
  /** `repository:hash`. */
  tagged: string;
  /** Why the hash was computed without the base image's id (the engine did not answer); absent when it was not. */
  withoutBase?: string;
}

/** Makes function images from their inputs. */
export interface Builder {
  /**
   * The name an image of `inputs` has; builds nothing. The content hash covers the base image's id
   * in the engine, left out when the engine cannot say (`withoutBase` says why: the build then
   * fails, a dry run does not).
   */
  name(inputs: ImageInputs, signal: AbortSignal): Promise<ImageName>;
  /**
   * Makes sure the engine holds `name`, built from `inputs`: an image already there under that
   * name is this build and is reused (resolves false); otherwise it is built, every output line
   * going to `log` (resolves true). Fails with FaasError (IMAGE_BUILD_FAILED,
   * DEPENDENCY_INSTALL_FAILED, DEPLOY_TIMEOUT, PLATFORM_UNAVAILABLE).
   */
  build(inputs: ImageInputs, name: ImageName, log: ImageLog, signal: AbortSignal): Promise<boolean>;
}

/** Moves images between the engine and a registry. */
export interface Pusher {
  /** The registry's digest of `name.tagged` (`sha256:…`); undefined when it does not have it or cannot be asked. */
  digest(name: ImageName, signal: AbortSignal): Promise<string | undefined>;
  /** Makes sure the engine holds `ref` (`repository@digest`), pulling it when it does not. */
  pull(ref: string, log: ImageLog, signal: AbortSignal): Promise<void>;
  /** Pushes `name.tagged` and resolves with the digest the registry stored. */
  push(name: ImageName, log: ImageLog, signal: AbortSignal): Promise<string>;
}

/** A platform's images: a Builder, and a Pusher in the registry workflow (none: images stay in the engine). */
export interface Images {
  builder: Builder;
  pusher: Pusher | undefined;
}

/** The image a deploy runs. */
export interface ResolvedImage {
  /** What runs: `repository:hash` (no registry) or `repository@sha256:…` (registry). */
  ref: string;
  hash: string;
  /** Whether this deploy built it (false: it already existed and was verified). */
  built: boolean;
}
