import type { ImageInputs } from "./template.ts";
import type { ImageLog, ImageName, Images, ResolvedImage } from "./types.ts";

/**
 * Finds or makes the image for `inputs`: its name carries the content hash, so an image that
 * exists under that name (in the registry when there is a Pusher, else in the engine) is exactly
 * this build and is reused; otherwise it is built, and pushed and run by digest when there is a
 * Pusher.
 */
export async function resolveImage(images: Images, inputs: ImageInputs, log: ImageLog, signal: AbortSignal): Promise<ResolvedImage> {
  const { builder, pusher } = images;
  const name = await builder.name(inputs, signal);
  log("packaging", "agent", `image ${name.tagged} (content hash ${name.hash})`);
  if (pusher) {
    const digest = await pusher.digest(name, signal);
    if (digest) {
      log("building", "agent", `image ${name.tagged} exists in the registry as ${digest}: skipping the build and the push`);
      await pusher.pull(byDigest(name, digest), log, signal);
      return { ref: byDigest(name, digest), hash: name.hash, built: false };
    }
  }
  const built = await builder.build(inputs, name, log, signal);
  if (!pusher) return { ref: name.tagged, hash: name.hash, built };
  const digest = await pusher.push(name, log, signal);
  log("building", "agent", `pushed ${name.tagged} as ${digest}`);
  return { ref: byDigest(name, digest), hash: name.hash, built };
}

/** `repository@digest`: how a pushed image is run, so that a moved tag cannot change what runs. */
export function byDigest(name: ImageName, digest: string): string {
  return `${name.repository}@${digest}`;
}
