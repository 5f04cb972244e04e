import { readFileSync } from "node:fs";
import { PARAM_PATTERNS } from "../domain/spec.ts";
import { invalidArgument } from "../domain/errors.ts";
import type { DeploySpec } from "../domain/types.ts";
import { RUNTIME_SHIM } from "../runtime/worker.ts";
import { contentHash } from "../adapters/kit/hash.ts";
import { LABELS, MANAGED_BY } from "../adapters/kit/labels.ts";

/** PYTHON_VERSION when a deploy does not set one. */
export const DEFAULT_PYTHON_VERSION = "3.11";

/** The port the runtime listens on inside every function image. */
export const CONTAINER_PORT = 8080;

/** Where things live inside a function image. */
export const IMAGE_PATHS = {
  python: "/opt/faas/venv/bin/python",
  runtime: "/opt/faas/faas_runtime.py",
  handler: "/opt/faas/function/handler.py",
} as const;

/**
 * The one Dockerfile every function image is built from. It is a constant: template parameters
 * reach it only as build arguments (BASE_IMAGE, PIP_INDEX_URL), which the shell receives as
 * environment variables and quotes, so no user string is ever part of a Dockerfile line.
 * Layers: base → requirements (in a virtualenv, PEP 668; shared by every function with the same
 * requirements and parameters) → runtime and metadata → handler last, so a handler-only change
 * rebuilds one COPY layer. The handler's import is checked when the container starts: the runtime
 * imports it before listening and, failing, prints a `FAAS_CHECK {json}` line and exits 3 (see
 * src/adapters/docker/containers.ts). An import check as a build step would cost a container run
 * on every build.
 */
export const DOCKERFILE = `# radical-faas function image (generated from a fixed template; parameters are build arguments)
ARG BASE_IMAGE
FROM \${BASE_IMAGE}
LABEL ${LABELS.managedBy}=${MANAGED_BY}
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 HOME=/tmp PORT=${CONTAINER_PORT}
COPY requirements.txt /opt/faas/requirements.txt
ARG PIP_INDEX_URL
RUN set -eu; \\
    if [ -s /opt/faas/requirements.txt ]; then \\
      python3 -m venv /opt/faas/venv; \\
      if [ -n "\${PIP_INDEX_URL:-}" ]; then set -- --index-url "$PIP_INDEX_URL"; fi; \\
      /opt/faas/venv/bin/pip install --no-input "$@" -r /opt/faas/requirements.txt; \\
    else \\
      python3 -m venv --without-pip /opt/faas/venv; \\
    fi
COPY faas_runtime.py ${IMAGE_PATHS.runtime}
USER 10001:10001
WORKDIR /opt/faas/function
EXPOSE ${CONTAINER_PORT}
CMD ["${IMAGE_PATHS.python}", "${IMAGE_PATHS.runtime}", "--handler", "${IMAGE_PATHS.handler}", "--protocol", "http"]
COPY handler.py ${IMAGE_PATHS.handler}
`;

/** The runtime shim, read once: the same file the local platform runs. */
export const RUNTIME_SOURCE: Buffer = readFileSync(RUNTIME_SHIM);

/** Everything that goes into one function image, resolved from a DeploySpec. */
export interface ImageInputs {
  id: string;
  handler: string;
  requirements: string;
  pythonVersion: string;
  baseImage: string;
  /** "" when pip uses its default index. */
  pipIndexUrl: string;
}

/**
 * Resolves a spec's template parameters (defaults filled in) and checks them again against
 * PARAM_PATTERNS: this module is the last line before the engine, whoever calls it.
 */
export function imageInputs(spec: DeploySpec): ImageInputs {
  const pythonVersion = spec.params.PYTHON_VERSION ?? DEFAULT_PYTHON_VERSION;
  const baseImage = spec.params.BASE_IMAGE ?? `python:${pythonVersion}-slim`;
  const pipIndexUrl = spec.params.PIP_INDEX_URL ?? "";
  if (!PARAM_PATTERNS.PYTHON_VERSION.test(pythonVersion)) throw invalidArgument("params.PYTHON_VERSION", "parameter PYTHON_VERSION has an invalid value");
  if (!PARAM_PATTERNS.BASE_IMAGE.test(baseImage)) throw invalidArgument("params.BASE_IMAGE", "parameter BASE_IMAGE has an invalid value");
  if (pipIndexUrl && !PARAM_PATTERNS.PIP_INDEX_URL.test(pipIndexUrl)) throw invalidArgument("params.PIP_INDEX_URL", "parameter PIP_INDEX_URL has an invalid value");
  return { id: spec.id, handler: spec.handler, requirements: spec.requirements, pythonVersion, baseImage, pipIndexUrl };
}

/** The build arguments for DOCKERFILE; the only way parameters reach a build. */
export function buildArgs(inputs: ImageInputs): Record<string, string> {
  const args: Record<string, string> = { BASE_IMAGE: inputs.baseImage };
  if (inputs.pipIndexUrl) args.PIP_INDEX_URL = inputs.pipIndexUrl;
  return args;
}

/**
 * The content hash of an image (kit/hash.ts): the template, the runtime shim, the handler, the
 * requirements, every parameter and the base image's id in the engine (`baseImageId`, "" when
 * unknown). The env is not part of it: it is set on the container, not baked into the image.
 */
export function imageHash(inputs: ImageInputs, baseImageId: string): string {
  return contentHash([
    "radical-faas image v1",
    DOCKERFILE,
    RUNTIME_SOURCE,
    inputs.handler,
    inputs.requirements,
    inputs.pythonVersion,
    inputs.baseImage,
    baseImageId,
    inputs.pipIndexUrl,
  ]);
}
