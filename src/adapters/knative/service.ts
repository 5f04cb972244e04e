import { createHash } from "node:crypto";
import { CONTAINER_PORT } from "../../build/template.ts";
import type { DeploySpec, TrafficTarget } from "../../domain/types.ts";
import { SERVING } from "./kube.ts";
import { REVISION_SUFFIX_LENGTH } from "./validate.ts";

/** Labels the agent puts on its Services (and, through the template, on their revisions). */
export const KNATIVE_LABELS = {
  managedBy: "app.kubernetes.io/managed-by",
  function: "radical-faas.dev/function",
  hash: "radical-faas.dev/content-hash",
  python: "radical-faas.dev/python-version",
} as const;
export const MANAGED_BY = "radical-faas";

/** What a Service is made from, besides the deploy spec. */
export interface ServiceInputs {
  spec: DeploySpec;
  namespace: string;
  /** The image to run: `dev.local/<id>:<hash>` (local workflow) or `<registry>/<id>@sha256:…`. */
  image: string;
  /** The image's content hash (labels). */
  contentHash: string;
  pythonVersion: string;
}

/** A serving.knative.dev/v1 Service as the agent writes it (JSON-compatible). */
export type KnativeService = Record<string, any>;

/**
 * The Service object for a deploy. The revision name is `<id>-<hash of the template>`, so an
 * unchanged redeploy renders an identical object (nothing to apply) and any change to the image,
 * env or options gets a new name, as Knative requires of BYO revision names. Autoscaling settings
 * are template annotations (strings, as the CRD requires); env, resources, port 8080 and the
 * runtime's /healthz readiness probe are on the single container. Without `options.traffic` all
 * traffic goes to the latest revision.
 */
export function renderService(inputs: ServiceInputs): KnativeService {
  const { spec, image } = inputs;
  const o = spec.options;
  const annotations: Record<string, string> = {};
  if (o.minScale !== undefined) annotations["autoscaling.knative.dev/min-scale"] = String(o.minScale);
  if (o.maxScale !== undefined) annotations["autoscaling.knative.dev/max-scale"] = String(o.maxScale);
  if (o.target !== undefined) annotations["autoscaling.knative.dev/target"] = String(o.target);
  if (o.scaleToZeroRetention !== undefined) annotations["autoscaling.knative.dev/scale-to-zero-pod-retention-period"] = o.scaleToZeroRetention;

  const container: Record<string, unknown> = {
    name: "user-container",
    image,
    imagePullPolicy: "IfNotPresent",
    ports: [{ containerPort: CONTAINER_PORT }],
    env: Object.entries(spec.env)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, value]) => ({ name, value })),
    readinessProbe: { httpGet: { path: "/healthz", port: CONTAINER_PORT }, successThreshold: 1 },
    // A crash's message (Knative's ContainerHealthy, from the pod's last termination state) is the
    // termination-log file, which the runtime does not write; with this policy the kubelet uses the
    // log's tail instead (allowed by knative/serving pkg/apis/serving/fieldmask.go:333), so an
    // import error's traceback reaches the deploy's error.
    terminationMessagePolicy: "FallbackToLogsOnError",
  };
  const resources = renderResources(o.resources);
  if (resources) container.resources = resources;

  const labels = {
    [KNATIVE_LABELS.managedBy]: MANAGED_BY,
    [KNATIVE_LABELS.function]: spec.id,
    [KNATIVE_LABELS.hash]: inputs.contentHash,
    [KNATIVE_LABELS.python]: inputs.pythonVersion,
  };
  const templateSpec: Record<string, unknown> = { containers: [container] };
  if (o.containerConcurrency !== undefined) templateSpec.containerConcurrency = o.containerConcurrency;
  if (o.timeoutSeconds !== undefined) templateSpec.timeoutSeconds = o.timeoutSeconds;
  const template = { metadata: { labels, annotations }, spec: templateSpec };
  const revisionName = `${spec.id}-${templateHash(template)}`;

  return {
    apiVersion: `${SERVING.group}/${SERVING.version}`,
    kind: "Service",
    metadata: { name: spec.id, namespace: inputs.namespace, labels },
    spec: {
      template: { metadata: { name: revisionName, ...template.metadata }, spec: templateSpec },
      traffic: renderTraffic(o.traffic),
    },
  };
}

/** spec.traffic for a split; absent or empty = 100% to the latest revision. */
export function renderTraffic(traffic: TrafficTarget[] | undefined): Record<string, unknown>[] {
  if (!traffic || traffic.length === 0) return [{ latestRevision: true, percent: 100 }];
  return traffic.map((t) => ({
    ...(t.latest ? { latestRevision: true } : { revisionName: t.revision, latestRevision: false }),
    percent: t.percent,
    ...(t.tag ? { tag: t.tag } : {}),
  }));
}

function renderResources(r: DeploySpec["options"]["resources"]): Record<string, Record<string, string>> | undefined {
  if (!r) return undefined;
  const requests: Record<string, string> = {};
  const limits: Record<string, string> = {};
  if (r.cpuRequest) requests.cpu = r.cpuRequest;
  if (r.memoryRequest) requests.memory = r.memoryRequest;
  if (r.cpuLimit) limits.cpu = r.cpuLimit;
  if (r.memoryLimit) limits.memory = r.memoryLimit;
  // Extended resources such as GPUs are set as limits (Kubernetes copies them to requests).
  if (r.gpu) limits["nvidia.com/gpu"] = String(r.gpu);
  const out: Record<string, Record<string, string>> = {};
  if (Object.keys(requests).length) out.requests = requests;
  if (Object.keys(limits).length) out.limits = limits;
  return Object.keys(out).length ? out : undefined;
}

function templateHash(template: unknown): string {
  return createHash("sha256").update(canonical(template)).digest("hex").slice(0, REVISION_SUFFIX_LENGTH);
}

/** JSON with object keys sorted, so equal objects hash equally. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value);
}
