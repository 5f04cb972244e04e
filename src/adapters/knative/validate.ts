import { invalidArgument } from "../../domain/errors.ts";
import type { DeploySpec } from "../../domain/types.ts";

/**
 * The limits of a default Knative Serving installation (config-defaults, config-autoscaler) that
 * its admission webhook enforces; the agent checks them itself so that a bad value is refused
 * before anything is built or applied.
 */
export const KNATIVE_LIMITS = {
  /** config-defaults max-revision-timeout-seconds. */
  maxTimeoutSeconds: 600,
  /** config-defaults container-concurrency-max-limit. */
  maxContainerConcurrency: 1000,
  /** A revision name is a DNS-1035 label. */
  maxNameLength: 63,
  /** scale-to-zero-pod-retention-period: 0 ≤ d ≤ 1h. */
  maxRetentionSeconds: 3600,
} as const;

/** Environment variables Knative sets itself (k8s_validation.go reservedEnvVars). */
export const RESERVED_ENV = ["PORT", "K_SERVICE", "K_CONFIGURATION", "K_REVISION"] as const;

/** Length of the content-hash suffix of revision names (`<id>-<suffix>`). */
export const REVISION_SUFFIX_LENGTH = 10;


/**
 * Checks a deploy for the Knative platform with the webhook's rules (platform-apis.md §A1) that
 * are Knative's alone: timeoutSeconds 0..600, containerConcurrency 0..1000, retention within 1h,
 * reserved env names, an id short enough for `<id>-<hash>` revision names and tags short enough
 * for `<tag>-<id>` host labels. What every platform agrees on (target ≥ 0.01, max-scale ≥
 * min-scale, quantities, DNS-1035 tags and revision names, unique tags) the domain has checked
 * already (domain/options.ts). Throws invalid_argument naming the field.
 */
export function validateKnativeSpec(spec: DeploySpec): void {
  const o = spec.options;
  if (spec.id.length > KNATIVE_LIMITS.maxNameLength - REVISION_SUFFIX_LENGTH - 1) {
    throw invalidArgument("id", `id must be at most ${KNATIVE_LIMITS.maxNameLength - REVISION_SUFFIX_LENGTH - 1} characters on knative (revision names are "<id>-<hash>", at most 63)`);
  }
  if (o.timeoutSeconds !== undefined && (o.timeoutSeconds < 0 || o.timeoutSeconds > KNATIVE_LIMITS.maxTimeoutSeconds)) {
    throw invalidArgument("options.timeout_seconds", `expected 0 <= ${o.timeoutSeconds} <= ${KNATIVE_LIMITS.maxTimeoutSeconds}: timeoutSeconds`);
  }
  if (o.containerConcurrency !== undefined && (o.containerConcurrency < 0 || o.containerConcurrency > KNATIVE_LIMITS.maxContainerConcurrency)) {
    throw invalidArgument("options.container_concurrency", `expected 0 <= ${o.containerConcurrency} <= ${KNATIVE_LIMITS.maxContainerConcurrency}: containerConcurrency`);
  }
  if (o.scaleToZeroRetention !== undefined) {
    const s = goDurationSeconds(o.scaleToZeroRetention);
    if (s === undefined || s < 0 || s > KNATIVE_LIMITS.maxRetentionSeconds) {
      throw invalidArgument("options.scale_to_zero_retention", `invalid value: ${o.scaleToZeroRetention}: autoscaling.knative.dev/scale-to-zero-pod-retention-period (a duration from 0s to 1h)`);
    }
  }
  for (const name of Object.keys(spec.env)) {
    if ((RESERVED_ENV as readonly string[]).includes(name)) throw invalidArgument("env", `${name} is a reserved environment variable: spec.template.spec.containers[0].env`);
  }
  for (const [i, t] of (o.traffic ?? []).entries()) {
    // A tag is served at `<tag>-<id>.<namespace>.<domain>` (tag-template); a host label over 63
    // characters fails the Route with ErrorConfig after the apply (knative/serving
    // pkg/reconciler/route/domains/domains.go:136-139), so it is refused here.
    if (t.tag && t.tag.length + 1 + spec.id.length > KNATIVE_LIMITS.maxNameLength) {
      throw invalidArgument(`options.traffic[${i}].tag`, `the tag's host label "${t.tag}-${spec.id}" must be no more than ${KNATIVE_LIMITS.maxNameLength} characters (Knative serves a tag at <tag>-<id>.<namespace>.<domain>)`);
    }
  }
}

/** A Go duration ("1h30m", "90s", "500ms", "0") in seconds, or undefined when it is not one. */
export function goDurationSeconds(text: string): number | undefined {
  if (text === "0") return 0;
  const unit: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
  const re = /([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * unit[m[2]!]!;
    matched = re.lastIndex;
  }
  return matched === text.length && matched > 0 ? total : undefined;
}
