/**
 * What every function container may use (FAAS_DOCKER_MEMORY, FAAS_DOCKER_PIDS): a handler that
 * allocates without end is killed by the kernel's OOM killer inside its own cgroup, a fork bomb
 * meets its pids limit, and its output is kept by the engine in two rotated files of 8 MiB (the
 * json-file driver's max-size / max-file), so that no function can take the engine's host, or the
 * agent reading its logs, down with it.
 */
export interface ContainerLimits {
  /** Memory limit in bytes (swap included: no swap beyond it); 0 = unlimited. */
  memoryBytes: number;
  /** Most processes and threads in the container; 0 = unlimited. */
  pids: number;
}

export const DEFAULT_CONTAINER_LIMITS: ContainerLimits = { memoryBytes: 512 * 1024 * 1024, pids: 512 };

/** Output the engine keeps per container: files of this size, this many. */
export const LOG_FILE_SIZE = "8m";
export const LOG_FILES = "2";

/** The HostConfig fields that apply `limits` (docker run --memory --memory-swap --pids-limit --log-opt). */
export function limitsHostConfig(limits: ContainerLimits): Record<string, unknown> {
  return {
    ...(limits.memoryBytes > 0 ? { Memory: limits.memoryBytes, MemorySwap: limits.memoryBytes } : {}),
    ...(limits.pids > 0 ? { PidsLimit: limits.pids } : {}),
    LogConfig: { Type: "json-file", Config: { "max-size": LOG_FILE_SIZE, "max-file": LOG_FILES } },
  };
}

/** Parses a memory size as `docker run --memory` takes it: bytes, or a number with b, k, m or g ("512m"); "0" = unlimited. */
export function parseMemory(text: string): number | undefined {
  const match = /^(\d+)([bkmg]?)$/i.exec(text.trim());
  if (!match) return undefined;
  const scale = { "": 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[match[2].toLowerCase() as "" | "b" | "k" | "m" | "g"];
  const bytes = Number(match[1]) * scale;
  // The engine refuses less than 6 MiB.
  if (bytes !== 0 && bytes < 6 * 1024 * 1024) return undefined;
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}
