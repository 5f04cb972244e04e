import { CONTAINER_PORT } from "../../images/template.ts";
import type { DeploySpec, TrafficTarget } from "../../domain/types.ts";
import { canonicalJson, contentHash } from "../kit/hash.ts";
import { renderResources } from "../kit/kube-resources.ts";
import { LABELS, MANAGED_BY } from "../kit/labels.ts";
import { SERVING } from "./kube.ts";
import { REVISION_SUFFIX_LENGTH } from "./validate.ts";

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

  // The same labels on the Service and, through the template, on its revisions (kit/labels.ts).
  const labels = {
    [LABELS.managedBy]: MANAGED_BY,
    [LABELS.function]: spec.id,
    [LABELS.contentHash]: inputs.contentHash,
    [LABELS.pythonVersion]: inputs.pythonVersion,
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

/** The revision name's suffix: the template's content hash, cut to fit `<id>-<suffix>` into 63 characters. */
function templateHash(template: unknown): string {
  return contentHash(["radical-faas knative template v1", canonicalJson(template)]).slice(0, REVISION_SUFFIX_LENGTH);
}
