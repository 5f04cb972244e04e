import { invalidArgument } from "./errors.ts";
import type { DeployOptionName, DeployOptions, Resources, TrafficTarget } from "./types.ts";
import { isDnsLabel } from "./names.ts";

/** Kubernetes CPU quantity: "1", "0.5", "250m". */
const CPU_QUANTITY = /^[0-9]+(\.[0-9]+)?m?$/;
/** Kubernetes memory quantity: "512Mi", "1G", "1000000". */
const MEMORY_QUANTITY = /^[0-9]+(\.[0-9]+)?([KMGTPE]i|[mkMGTPE])?$/;
/** A Go duration as Knative parses it (time.ParseDuration): "30s", "1m30s", "1h", and "0". */
const GO_DURATION = /^(0|([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$/;
const INT32_MAX = 2 ** 31 - 1;
export const TRAFFIC_MAX_TARGETS = 32;

/**
 * Checks what every platform agrees on: types, ranges, min ≤ max and traffic shares. Rules of one
 * platform (Knative's webhook limits, Nuclio's replica rules) are its adapter's business.
 */
export function validateOptions(raw: DeployOptions | undefined): DeployOptions {
  if (!raw) return {};
  const out: DeployOptions = {};
  if (raw.minScale !== undefined) out.minScale = count("options.min_scale", raw.minScale);
  if (raw.maxScale !== undefined) out.maxScale = count("options.max_scale", raw.maxScale);
  if (out.minScale !== undefined && out.maxScale !== undefined && out.maxScale !== 0 && out.maxScale < out.minScale) {
    throw invalidArgument("options.max_scale", `options.max_scale=${out.maxScale} is less than options.min_scale=${out.minScale}`);
  }
  if (raw.target !== undefined) {
    if (!Number.isFinite(raw.target) || raw.target < 0.01) throw invalidArgument("options.target", "options.target must be at least 0.01");
    out.target = raw.target;
  }
  if (raw.scaleToZeroRetention) {
    if (!GO_DURATION.test(raw.scaleToZeroRetention)) {
      throw invalidArgument("options.scale_to_zero_retention", `options.scale_to_zero_retention must be a duration such as "30s" or "5m", got ${JSON.stringify(raw.scaleToZeroRetention)}`);
    }
    out.scaleToZeroRetention = raw.scaleToZeroRetention;
  }
  if (raw.containerConcurrency !== undefined) out.containerConcurrency = count("options.container_concurrency", raw.containerConcurrency);
  if (raw.timeoutSeconds !== undefined) out.timeoutSeconds = count("options.timeout_seconds", raw.timeoutSeconds);
  if (raw.workers !== undefined) {
    out.workers = count("options.workers", raw.workers);
    if (out.workers < 1) throw invalidArgument("options.workers", "options.workers must be at least 1");
  }
  const resources = validateResources(raw.resources);
  if (resources) out.resources = resources;
  if (raw.traffic && raw.traffic.length > 0) out.traffic = validateTraffic(raw.traffic, "options.traffic");
  return out;
}

/** The names of the options that are set, in the proto's field names (for error messages). */
export function setOptionNames(options: DeployOptions): DeployOptionName[] {
  return (Object.keys(options) as DeployOptionName[]).filter((k) => options[k] !== undefined);
}

/** The proto field name of an option, as errors name it. */
export function optionField(name: DeployOptionName): string {
  return `options.${name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}`;
}

/**
 * Checks a traffic split: 1..32 shares, each naming a revision or `latest` (not both), percents
 * 0..100 adding up to 100, tags DNS-1035 labels and unique.
 */
export function validateTraffic(traffic: TrafficTarget[], field = "traffic"): TrafficTarget[] {
  if (traffic.length === 0) throw invalidArgument(field, `${field} must have at least one share`);
  if (traffic.length > TRAFFIC_MAX_TARGETS) throw invalidArgument(field, `${field} must have at most ${TRAFFIC_MAX_TARGETS} shares`);
  const tags = new Set<string>();
  let sum = 0;
  const out = traffic.map((t, i): TrafficTarget => {
    const at = `${field}[${i}]`;
    const revision = t.revision ?? "";
    const latest = t.latest ?? false;
    if (latest === (revision !== "")) throw invalidArgument(at, `${at}: set exactly one of revision and latest`);
    if (revision && !isDnsLabel(revision)) throw invalidArgument(`${at}.revision`, `${at}.revision ${JSON.stringify(revision)} is not a revision name`);
    const percent = t.percent ?? 0;
    if (!Number.isInteger(percent) || percent < 0 || percent > 100) throw invalidArgument(`${at}.percent`, `${at}.percent must be 0 to 100`);
    const tag = t.tag ?? "";
    if (tag) {
      if (!isDnsLabel(tag)) throw invalidArgument(`${at}.tag`, `${at}.tag ${JSON.stringify(tag)} must be a DNS-1035 label`);
      if (tags.has(tag)) throw invalidArgument(`${at}.tag`, `${at}.tag ${JSON.stringify(tag)} is used twice`);
      tags.add(tag);
    }
    sum += percent;
    return { revision, latest, percent, tag };
  });
  if (sum !== 100) throw invalidArgument(field, `${field}: traffic shares sum to ${sum}, want 100`);
  return out;
}

function validateResources(raw: Resources | undefined): Resources | undefined {
  if (!raw) return undefined;
  const out: Resources = {};
  const quantity = (key: "cpuRequest" | "cpuLimit" | "memoryRequest" | "memoryLimit", pattern: RegExp) => {
    const value = raw[key];
    if (!value) return;
    const field = optionField(key as DeployOptionName).replace("options.", "options.resources.");
    if (!pattern.test(value)) throw invalidArgument(field, `${field} ${JSON.stringify(value)} is not a ${pattern === CPU_QUANTITY ? "CPU" : "memory"} quantity`);
    out[key] = value;
  };
  quantity("cpuRequest", CPU_QUANTITY);
  quantity("cpuLimit", CPU_QUANTITY);
  quantity("memoryRequest", MEMORY_QUANTITY);
  quantity("memoryLimit", MEMORY_QUANTITY);
  if (raw.gpu) {
    if (!Number.isInteger(raw.gpu) || raw.gpu < 0 || raw.gpu > 64) throw invalidArgument("options.resources.gpu", "options.resources.gpu must be 0 to 64");
    out.gpu = raw.gpu;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

function count(field: string, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > INT32_MAX) throw invalidArgument(field, `${field} must be a whole number from 0 to ${INT32_MAX}`);
  return value;
}
