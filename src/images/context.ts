import { Readable } from "node:stream";
import { pack } from "tar-stream";
import { DOCKERFILE, RUNTIME_SOURCE, type ImageInputs } from "./template.ts";

/**
 * The build context of one function image, as a tar stream made in memory: the fixed Dockerfile,
 * the runtime shim, the handler module and requirements.txt. Nothing from the caller becomes a
 * path: the four file names are constants.
 */
export function buildContext(inputs: ImageInputs): Readable {
  const tar = pack();
  const files: Array<[string, string | Buffer]> = [
    ["Dockerfile", DOCKERFILE],
    ["faas_runtime.py", RUNTIME_SOURCE],
    ["handler.py", inputs.handler],
    ["requirements.txt", inputs.requirements],
  ];
  // A fixed mtime keeps the tar itself reproducible; the engine's cache keys on content anyway.
  const mtime = new Date(0);
  for (const [name, content] of files) tar.entry({ name, mode: 0o644, mtime }, content);
  tar.finalize();
  return tar as unknown as Readable;
}
