import type { Readable } from "node:stream";
import type Docker from "dockerode";
import { FaasError } from "../domain/errors.ts";
import { pipSentence } from "../domain/pip.ts";
import { buildContext } from "./context.ts";
import { LineSplitter } from "../adapters/kit/lines.ts";
import { readProgress, type ProgressMessage } from "./progress.ts";
import { buildArgs, type ImageInputs } from "./template.ts";

/** What buildImage needs; the caller owns `docker`. */
export interface ImageBuildOptions {
  docker: Docker;
  inputs: ImageInputs;
  /** The full image name to tag, `<repo>/<id>:<hash>`. */
  tag: string;
  /** Longest the build may run (DOCKER_TIMEOUT), in milliseconds. */
  timeoutMs: number;
  /** Every line of build output as it arrives, with the step it belongs to ("step 3/12"). */
  onLine: (step: string, line: string) => void;
  signal: AbortSignal;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;
const STEP_LINE = /^Step (\d+\/\d+) : (.*)$/;
/** Lines of the current build step kept for its error (pip's last lines). */
const STEP_LINES_KEPT = 25;

/**
 * Builds one function image through the engine's build API (classic builder, host network so that
 * a package index on 127.0.0.1 is reachable) and returns its image id. Fails with FaasError:
 * failed_precondition DEPENDENCY_INSTALL_FAILED when pip fails, failed_precondition IMAGE_BUILD_FAILED
 * for any other failing step, deadline_exceeded when `timeoutMs` passes, unavailable when the
 * engine does not answer. A failed pip step says pip's sentence (its lines in metadata `output`);
 * other failures carry Docker's own error.
 */
export async function buildImage(options: ImageBuildOptions): Promise<string> {
  const { docker, inputs, onLine } = options;
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = AbortSignal.any([options.signal, timeout]);
  let step = "build";
  let instruction = "";
  let imageId = "";
  let failure: ProgressMessage | undefined;
  const splitter = new LineSplitter();
  // The current step's last lines: pip's, when the requirements step fails.
  const stepLines: string[] = [];
  const onText = (raw: string) => {
    const line = raw.replace(ANSI, "");
    const stepMatch = STEP_LINE.exec(line);
    if (stepMatch) {
      step = `step ${stepMatch[1]}`;
      instruction = stepMatch[2]!;
      stepLines.length = 0;
    } else {
      stepLines.push(line);
      if (stepLines.length > STEP_LINES_KEPT) stepLines.shift();
    }
    const built = /^Successfully built ([0-9a-f]+)$/.exec(line);
    if (built) imageId = built[1]!;
    onLine(step, line);
  };

  let stream: Readable;
  try {
    stream = (await docker.buildImage(buildContext(inputs) as unknown as NodeJS.ReadableStream, {
      t: options.tag,
      buildargs: buildArgs(inputs),
      networkmode: "host",
      rm: true,
      forcerm: true,
      version: "1",
      abortSignal: signal,
    } as Docker.ImageBuildOptions)) as unknown as Readable;
  } catch (error) {
    throw engineError(error, signal, timeout, options.timeoutMs);
  }
  try {
    await readProgress(
      stream,
      (message) => {
        if (message.stream !== undefined) for (const line of splitter.push(message.stream)) onText(line);
        else if (message.status !== undefined) onText(message.id ? `${message.id}: ${message.status}` : message.status);
        if (message.aux?.ID) imageId = message.aux.ID;
        if (message.error !== undefined) failure = message;
      },
      signal,
    );
  } catch (error) {
    throw engineError(error, signal, timeout, options.timeoutMs);
  }
  for (const line of splitter.flush()) onText(line);

  if (failure) {
    const dockerError = failure.errorDetail?.message ?? failure.error ?? "build failed";
    if (instruction.includes("requirements.txt") && instruction.startsWith("RUN")) {
      // The same sentence and `output` as the local platform's pip failure.
      const pipLines = stepLines.filter((l) => !l.startsWith(" ---> ") && l !== dockerError);
      throw new FaasError("failed_precondition", pipSentence(pipLines) ?? `installing requirements failed (${step}): ${dockerError}`, {
        reason: "DEPENDENCY_INSTALL_FAILED",
        metadata: { docker_error: dockerError, step, output: pipLines.join("\n") },
      });
    }
    throw new FaasError("failed_precondition", `image build failed at ${step} (${instruction}): ${dockerError}`, {
      reason: "IMAGE_BUILD_FAILED",
      metadata: { docker_error: dockerError, step },
    });
  }
  if (!imageId) throw new FaasError("internal", "the engine finished the build without an image id", { reason: "IMAGE_BUILD_FAILED" });
  return imageId;
}

/** Maps a failure to reach or keep talking to the engine to a FaasError. */
export function engineError(error: unknown, signal: AbortSignal, timeout: AbortSignal, timeoutMs: number): FaasError {
  if (timeout.aborted) {
    return new FaasError("deadline_exceeded", `image build did not finish within DOCKER_TIMEOUT (${timeoutMs / 1000} s)`, {
      reason: "DEPLOY_TIMEOUT",
      cause: error,
    });
  }
  if (signal.aborted) return new FaasError("cancelled", "image build cancelled", { reason: "CANCELLED", cause: error });
  return dockerUnavailable(error);
}

/** The engine could not be reached (or broke the connection). */
export function dockerUnavailable(error: unknown): FaasError {
  const message = error instanceof Error ? error.message : String(error);
  return new FaasError("unavailable", `the Docker engine is unreachable: ${message}`, { reason: "PLATFORM_UNAVAILABLE", cause: error });
}
