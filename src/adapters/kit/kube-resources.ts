import type { Resources } from "../../domain/types.ts";

/**
 * A container's `resources` block (core/v1 ResourceRequirements) for a deploy's resources, as
 * both Knative Services and Nuclio functions take it: requests and limits of cpu and memory, GPUs
 * as the extended resource `nvidia.com/gpu`, set as a limit only (Kubernetes copies a limit of an
 * extended resource to its request). Undefined when nothing is set, so the platform's defaults hold.
 */
export function renderResources(r: Resources | undefined): { requests?: Record<string, string>; limits?: Record<string, string> } | undefined {
  if (!r) return undefined;
  const requests: Record<string, string> = {};
  const limits: Record<string, string> = {};
  if (r.cpuRequest) requests.cpu = r.cpuRequest;
  if (r.memoryRequest) requests.memory = r.memoryRequest;
  if (r.cpuLimit) limits.cpu = r.cpuLimit;
  if (r.memoryLimit) limits.memory = r.memoryLimit;
  if (r.gpu) limits["nvidia.com/gpu"] = String(r.gpu);
  const out: { requests?: Record<string, string>; limits?: Record<string, string> } = {};
  if (Object.keys(requests).length) out.requests = requests;
  if (Object.keys(limits).length) out.limits = limits;
  return Object.keys(out).length ? out : undefined;
}
