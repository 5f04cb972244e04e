/**
 * Knative Serving's admission webhooks for serving.knative.dev/v1 Services, written from
 * platform-apis.md §A1 (knative/serving pkg/apis/serving/...): defaulting, then validation with
 * Knative's error texts. Deliberately independent of the agent's own checks in src/adapters/knative.
 */

const DNS1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const RESERVED_PORTS = [8012, 8013, 8022, 9090, 9091, 8008];
const RESERVED_ENV = ["PORT", "K_SERVICE", "K_CONFIGURATION", "K_REVISION"];
const AUTOSCALING = "autoscaling.knative.dev/";
const MAX_TIMEOUT = 600;
const MAX_CONCURRENCY = 1000;

type Obj = Record<string, any>;

/** The webhook's error, as the API server reports it (400 BadRequest). */
export function webhookDenied(text: string): string {
  return `admission webhook "validation.webhook.serving.knative.dev" denied the request: validation failed: ${text}`;
}

/** Applies the defaulting webhook in place: container name, port, probe, concurrency, timeout, traffic. */
export function applyDefaults(svc: Obj): void {
  const spec = (svc.spec ??= {});
  const template = (spec.template ??= {});
  const ts = (template.spec ??= {});
  ts.containerConcurrency ??= 0;
  if (!ts.timeoutSeconds) ts.timeoutSeconds = 300;
  ts.enableServiceLinks ??= false;
  const containers = (ts.containers ?? []) as Obj[];
  for (const c of containers) {
    if (containers.length === 1) c.name ||= "user-container";
    c.resources ??= {};
    if (containers.length === 1 && !c.readinessProbe) c.readinessProbe = { tcpSocket: { port: 0 }, successThreshold: 1 };
  }
  spec.traffic ??= [{ latestRevision: true, percent: 100 }];
  for (const t of spec.traffic as Obj[]) {
    t.percent ??= 0;
    t.latestRevision ??= !t.revisionName;
  }
}

/** The validation webhook: the first rule broken, in Knative's words, or undefined when valid. */
export function validateService(svc: Obj, old: Obj | undefined): string | undefined {
  const name = svc.metadata?.name as string;
  if (!name || !DNS1035.test(name) || name.length > 63) return `invalid value: ${name}: metadata.name`;
  for (const key of Object.keys(svc.metadata?.annotations ?? {})) {
    if (key.startsWith(AUTOSCALING)) return `autoscaling annotations must be put under "spec.template.metadata.annotations" to work: metadata.annotations`;
  }
  const template = svc.spec?.template ?? {};
  const revName = template.metadata?.name as string | undefined;
  if (revName !== undefined) {
    if (svc.metadata?.generateName) return `spec.template.metadata.name cannot be set when metadata.generateName is set: spec.template.metadata.name`;
    if (!revName.startsWith(`${name}-`)) return `invalid value: "${revName}" must have prefix "${name}-": spec.template.metadata.name`;
    if (!DNS1035.test(revName) || revName.length > 63) return `invalid value: ${revName}: spec.template.metadata.name`;
  }
  const annotationError = validateAnnotations(template.metadata?.annotations ?? {});
  if (annotationError) return annotationError;
  const ts = template.spec ?? {};
  if (ts.timeoutSeconds !== undefined && (ts.timeoutSeconds < 0 || ts.timeoutSeconds > MAX_TIMEOUT)) {
    return `expected 0 <= ${ts.timeoutSeconds} <= ${MAX_TIMEOUT}: spec.template.spec.timeoutSeconds`;
  }
  if (ts.containerConcurrency !== undefined && (ts.containerConcurrency < 0 || ts.containerConcurrency > MAX_CONCURRENCY)) {
    return `expected 0 <= ${ts.containerConcurrency} <= ${MAX_CONCURRENCY}: spec.template.spec.containerConcurrency`;
  }
  const containerError = validateContainers((ts.containers ?? []) as Obj[]);
  if (containerError) return containerError;
  const trafficError = validateTraffic((svc.spec?.traffic ?? []) as Obj[]);
  if (trafficError) return trafficError;
  if (old && revName !== undefined && old.spec?.template?.metadata?.name === revName && stable(old.spec.template) !== stable(template)) {
    return `Saw the following changes without a name change (-old +new): spec.template`;
  }
  return undefined;
}

function validateAnnotations(a: Record<string, string>): string | undefined {
  const get = (key: string, legacy?: string) => a[AUTOSCALING + key] ?? (legacy ? a[AUTOSCALING + legacy] : undefined);
  const intField = (key: string, legacy: string): number | string | undefined => {
    const raw = get(key, legacy);
    if (raw === undefined) return undefined;
    const n = Number(raw);
    return /^[0-9]+$/.test(raw) && n < 2 ** 31 ? n : `invalid value: ${raw}: ${AUTOSCALING}${key}`;
  };
  const min = intField("min-scale", "minScale");
  if (typeof min === "string") return min;
  const max = intField("max-scale", "maxScale");
  if (typeof max === "string") return max;
  if (min !== undefined && max !== undefined && max !== 0 && max < min) return `max-scale=${max} is less than min-scale=${min}: ${AUTOSCALING}max-scale`;
  const target = get("target");
  if (target !== undefined && !(Number(target) >= 0.01)) return `target ${target} should be at least 0.01: ${AUTOSCALING}target`;
  const retention = get("scale-to-zero-pod-retention-period", "scaleToZeroPodRetentionPeriod");
  if (retention !== undefined) {
    const s = goDuration(retention);
    if (s === undefined || s < 0 || s > 3600) return `invalid value: ${retention}: ${AUTOSCALING}scale-to-zero-pod-retention-period`;
  }
  const cls = get("class");
  if (cls !== undefined && cls !== "kpa.autoscaling.knative.dev" && cls !== "hpa.autoscaling.knative.dev") return `invalid value: ${cls}: ${AUTOSCALING}class`;
  const metric = get("metric");
  if (metric !== undefined && (cls ?? "kpa.autoscaling.knative.dev") === "kpa.autoscaling.knative.dev" && metric !== "concurrency" && metric !== "rps") {
    return `invalid value: ${metric}: ${AUTOSCALING}metric`;
  }
  return undefined;
}

function validateContainers(containers: Obj[]): string | undefined {
  const ports = containers.flatMap((c) => (c.ports ?? []) as Obj[]);
  if (ports.length > 1) return `more than one container port is set: spec.template.spec.containers[*].ports`;
  for (const [i, c] of containers.entries()) {
    const at = `spec.template.spec.containers[${i}]`;
    if (!c.image) return `missing field(s): ${at}.image`;
    if (!/^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*(:[\w][\w.-]{0,127})?(@sha256:[a-f0-9]{64})?$/.test(c.image)) {
      return `Failed to parse image reference: ${at}.image\nimage: "${c.image}"`;
    }
    for (const [j, p] of ((c.ports ?? []) as Obj[]).entries()) {
      if (RESERVED_PORTS.includes(p.containerPort)) return `${p.containerPort} is a reserved port: ${at}.ports[${j}].containerPort`;
      if (p.name !== undefined && !["", "h2c", "http1"].includes(p.name)) return `invalid value: ${p.name}: ${at}.ports[${j}].name`;
      if (p.protocol !== undefined && p.protocol !== "" && p.protocol !== "TCP") return `invalid value: ${p.protocol}: ${at}.ports[${j}].protocol`;
    }
    for (const [j, e] of ((c.env ?? []) as Obj[]).entries()) {
      if (RESERVED_ENV.includes(e.name)) return `${e.name} is a reserved environment variable: ${at}.env[${j}].name`;
    }
    const probe = c.readinessProbe as Obj | undefined;
    const probePort = probe?.httpGet?.port ?? probe?.tcpSocket?.port;
    const containerPort = (c.ports?.[0]?.containerPort as number | undefined) ?? 8080;
    if (probePort !== undefined && probePort !== 0 && probePort !== containerPort) return `Probe port must match container port: ${at}.readinessProbe`;
  }
  return undefined;
}

function validateTraffic(traffic: Obj[]): string | undefined {
  let sum = 0;
  const tags = new Set<string>();
  for (const [i, t] of traffic.entries()) {
    const at = `spec.traffic[${i}]`;
    if (t.configurationName !== undefined) return `disallowed fields: ${at}.configurationName`;
    if (t.url !== undefined) return `disallowed fields: ${at}.url`;
    const latest = t.latestRevision ?? !t.revisionName;
    if (latest === !!t.revisionName) return `may not set revisionName "${t.revisionName ?? ""}" when latestRevision is ${latest}: ${at}.revisionName`;
    if (t.percent !== undefined && (t.percent < 0 || t.percent > 100)) return `expected 0 <= ${t.percent} <= 100: ${at}.percent`;
    if (t.tag !== undefined) {
      if (!DNS1035.test(t.tag)) return `invalid value: ${t.tag}: ${at}.tag`;
      if (tags.has(t.tag)) return `Multiple definitions for "${t.tag}": ${at}.tag`;
      tags.add(t.tag);
    }
    sum += t.percent ?? 0;
  }
  if (traffic.length > 0 && sum !== 100) return `Traffic targets sum to ${sum}, want 100: spec.traffic`;
  return undefined;
}

function goDuration(text: string): number | undefined {
  if (text === "0") return 0;
  const m = /^(?:([0-9.]+)h)?(?:([0-9.]+)m(?!s))?(?:([0-9.]+)s)?$/.exec(text);
  if (!m || text === "") return undefined;
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}

/** JSON with sorted keys, for comparing templates. */
export function stable(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stable).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stable((value as Obj)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value);
}
