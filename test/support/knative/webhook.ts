/**
 * Knative Serving's admission webhooks for serving.knative.dev/v1 Services, written from
 * platform-apis.md §A1 (knative/serving pkg/apis/serving/...): defaulting, then validation with
 * Knative's error texts. Deliberately independent of the agent's own checks in src/adapters/knative.
 *
 * Line references are to knative/serving @ 98e5ef90aa7033797aa0a61ef97f3ff7e49a3944 and
 * knative/pkg @ 521cb33b33dd unless they say otherwise.
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

/**
 * Applies the defaulting webhook in place. On an update (`old` given) whose BYO revision name is
 * unchanged, the template is NOT defaulted (pkg/apis/serving/v1/configuration_defaults.go:60-68,
 * "to avoid suggesting changes that would conflict with BYO RevisionName"): what the client sends
 * is compared as is with the stored template, which carries the create-time defaults. The route
 * part (traffic) is defaulted on every request (service_defaults.go ServiceSpec.SetDefaults).
 */
export function applyDefaults(svc: Obj, old?: Obj): void {
  const spec = (svc.spec ??= {});
  const template = (spec.template ??= {});
  const newName = template.metadata?.name as string | undefined;
  const skipTemplate = old !== undefined && !!newName && newName === old.spec?.template?.metadata?.name;
  if (!skipTemplate) defaultRevisionSpec((template.spec ??= {}), old === undefined);
  spec.traffic ??= [{ latestRevision: true, percent: 100 }];
  for (const t of spec.traffic as Obj[]) {
    t.percent ??= 0;
    t.latestRevision ??= !t.revisionName;
  }
}

/** RevisionSpec.SetDefaults with config-defaults' stock values (revision_defaults.go:50-150). */
function defaultRevisionSpec(ts: Obj, inCreate: boolean): void {
  // revision_defaults.go:53-56: revision-timeout-seconds "300" when unset or 0.
  if (!ts.timeoutSeconds) ts.timeoutSeconds = 300;
  // revision_defaults.go:74-77: container-concurrency "0" when unset.
  ts.containerConcurrency ??= 0;
  // revision_defaults.go:142-144: enable-service-links (false) only while creating.
  if (inCreate) ts.enableServiceLinks ??= false;
  const containers = (ts.containers ?? []) as Obj[];
  for (const c of containers) {
    if (containers.length === 1) c.name ||= "user-container";
    // applyDefault sets Requests/Limits to empty maps (omitted in JSON); Resources is a value struct, serialized as {}.
    c.resources ??= {};
    if (containers.length === 1 || (c.ports ?? []).length > 0) {
      // applyUserContainerDefaultReadinessProbe, then applyReadinessProbeDefaults (successThreshold 1).
      c.readinessProbe ??= {};
      const p = c.readinessProbe as Obj;
      if (!p.tcpSocket && !p.httpGet && !p.exec && !p.grpc) p.tcpSocket = { port: 0 };
      if (!p.successThreshold) p.successThreshold = 1;
    }
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
  if (old && revName) {
    // service_validation.go:46-49 → RevisionTemplateSpec.VerifyNameChange (revision_validation.go:82-108):
    // a kmp.ShortDiff of the typed templates, with no cmpopts.EquateEmpty (knative/pkg kmp/diff.go).
    const changed = old.spec?.template?.metadata?.name === revName ? templateChanges(old.spec.template, template) : [];
    if (changed.length > 0) {
      return `Saw the following changes without a name change (-old +new): spec.template.metadata.name\n${changed.join("\n")}`;
    }
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

/**
 * The paths at which two revision templates differ as Go values (what cmp.Diff sees after the
 * webhook decodes both): a JSON `null` is an unset pointer, the same as an absent field; an empty
 * `resources: {}` is the zero value of the value struct corev1.ResourceRequirements, the same as
 * none; anything else, an empty list or map included, must match exactly.
 */
export function templateChanges(a: unknown, b: unknown, path = ""): string[] {
  const x = goValue(a, path);
  const y = goValue(b, path);
  if (Array.isArray(x) && Array.isArray(y)) {
    if (x.length !== y.length) return [`${path || "."}: ${stable(x)} → ${stable(y)}`];
    return x.flatMap((v, i) => templateChanges(v, y[i], `${path}[${i}]`));
  }
  if (isObject(x) && isObject(y)) {
    const keys = [...new Set([...Object.keys(x), ...Object.keys(y)])].sort();
    return keys.flatMap((k) => templateChanges(x[k], y[k], path ? `${path}.${k}` : k));
  }
  return stable(x) === stable(y) ? [] : [`${path || "."}: ${stable(x) ?? "<unset>"} → ${stable(y) ?? "<unset>"}`];
}

function goValue(v: unknown, path: string): unknown {
  if (v === null) return undefined;
  if (/containers\[\d+\]\.resources$/.test(path) && isObject(v) && Object.keys(v).length === 0) return undefined;
  return v;
}

function isObject(v: unknown): v is Obj {
  return !!v && typeof v === "object" && !Array.isArray(v);
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
