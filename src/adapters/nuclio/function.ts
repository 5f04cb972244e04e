import { readFileSync } from "node:fs";
import { invalidArgument } from "../../domain/errors.ts";
import type { DeploySpec } from "../../domain/types.ts";
import { canonicalJson, contentHash as hashOf } from "../kit/hash.ts";
import { renderResources } from "../kit/kube-resources.ts";
import { LABELS, MANAGED_BY } from "../kit/labels.ts";
import { besideSource } from "../../paths.ts";

/** The entry module template (entry.py beside this file); only FUNCTION_SOURCE is filled in. */
export const ENTRY_TEMPLATE = readFileSync(besideSource(import.meta.url, "entry.py"), "utf8");
const SOURCE_SLOT = "{{FUNCTION_SOURCE_BASE64}}";

/** Nuclio's Python runtimes (platform-apis.md §B1); others are refused before anything is sent. */
export const NUCLIO_PYTHON_VERSIONS = ["3.9", "3.10", "3.11"] as const;
export const DEFAULT_NUCLIO_PYTHON = "3.11";

/** The label Nuclio groups functions into projects by. */
export const PROJECT_LABEL = "nuclio.io/project-name";

/**
 * The content hash goes into an annotation, not a label: Nuclio writes labels when a function is
 * created and never on an update (nuclio 1.14.1 pkg/platform/kube/client/deployer.go:175-178, the
 * same in 1.13), while annotations are replaced on every deploy (deployer.go:173).
 */
export const CONTENT_HASH_ANNOTATION = LABELS.contentHash;

/**
 * The longest function id on Nuclio: it names the Kubernetes Service `nuclio-<id>`
 * (pkg/platform/kube/types.go:60-62), and a Service name is at most 63 characters.
 */
export const MAX_NUCLIO_ID = 56;
/** Names Nuclio keeps for itself (pkg/platform/abstract/platform.go:444-447, 645-655). */
export const RESERVED_NAMES: ReadonlySet<string> = new Set(["dashboard", "controller", "dlx", "scaler"]);

/**
 * One requirement line the nuclio platform accepts: a name, optional extras, optional version
 * specifiers. Nuclio runs build commands as shell lines, so anything richer (URLs, options,
 * markers) is refused rather than quoted and hoped for.
 */
const REQUIREMENT = /^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?(\[[A-Za-z0-9._-]+(,[A-Za-z0-9._-]+)*\])?(\s*(===|==|~=|!=|>=|<=|>|<)\s*[A-Za-z0-9.*+!_-]+(\s*,\s*(===|==|~=|!=|>=|<=|>|<)\s*[A-Za-z0-9.*+!_-]+)*)?$/;

export interface NuclioTarget {
  namespace: string;
  project: string;
  /**
   * The HTTP trigger's Kubernetes Service type: NodePort when calls go to the function's external
   * URL (only a NodePort service gets one: kube/controller/nucliofunction.go:490-497), else ClusterIP.
   */
  serviceType: "ClusterIP" | "NodePort";
  /**
   * The HTTP trigger's maxRequestBodySize in bytes: the agent's own request limit, so every payload
   * the agent accepts reaches the function (Nuclio's default is 4 MiB: pkg/processor/trigger/http/
   * types.go:30, 88-89).
   */
  maxRequestBodyBytes: number;
}

/** The function's body for the dashboard (create and update), and what identifies its content. */
export interface RenderedFunction {
  body: NuclioFunction;
  contentHash: string;
  pythonVersion: string;
}

/** The parts of a NuclioFunction ({metadata, spec, status}) the agent writes and reads. */
export interface NuclioFunction {
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: Record<string, unknown> & { runtime?: string; handler?: string };
  status?: NuclioStatus;
}

export interface NuclioStatus {
  state?: string;
  message?: string;
  logs?: Array<Record<string, unknown>>;
  containerImage?: string;
  internalInvocationUrls?: string[];
  externalInvocationUrls?: string[];
  httpPort?: number;
}

/**
 * Renders the NuclioFunction for a deploy: the generated entry module as base64 source, runtime
 * python:<version>, requirements as pip build commands, labels, env, replicas, resources and the
 * HTTP trigger. Throws invalid_argument for what Nuclio would refuse (runtime, replicas,
 * requirement lines the build could not run safely).
 */
export function renderFunction(spec: DeploySpec, target: NuclioTarget): RenderedFunction {
  if (spec.id.length > MAX_NUCLIO_ID) {
    throw invalidArgument("id", `function ids on the nuclio platform are at most ${MAX_NUCLIO_ID} characters (Nuclio names the Kubernetes Service nuclio-<id>, at most 63); this one has ${spec.id.length}`);
  }
  if (RESERVED_NAMES.has(spec.id)) {
    throw invalidArgument("id", `"${spec.id}" is reserved by Nuclio for its own services (${[...RESERVED_NAMES].join(", ")}); choose another id`);
  }
  const pythonVersion = spec.params.PYTHON_VERSION ?? DEFAULT_NUCLIO_PYTHON;
  if (!(NUCLIO_PYTHON_VERSIONS as readonly string[]).includes(pythonVersion)) {
    throw invalidArgument("params.PYTHON_VERSION", `PYTHON_VERSION ${pythonVersion} is not a Nuclio runtime; Nuclio runs python:${NUCLIO_PYTHON_VERSIONS.join(", python:")}`);
  }
  if (spec.params.BASE_IMAGE) {
    throw invalidArgument("params.BASE_IMAGE", "params.BASE_IMAGE is not supported by the nuclio platform: Nuclio builds on its own Python runtime images");
  }
  const source = ENTRY_TEMPLATE.replace(SOURCE_SLOT, Buffer.from(spec.handler, "utf8").toString("base64"));
  const spec_: Record<string, unknown> = {
    runtime: `python:${pythonVersion}`,
    handler: "main:handler",
    description: `radical-faas function ${spec.id}`,
    env: Object.entries(spec.env)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([name, value]) => ({ name, value })),
    build: {
      functionSourceCode: Buffer.from(source, "utf8").toString("base64"),
      codeEntryType: "sourceCode",
      commands: buildCommands(spec.requirements, spec.params.PIP_INDEX_URL),
    },
    triggers: {
      http: {
        kind: "http",
        name: "http",
        numWorkers: spec.options.workers ?? 1,
        attributes: { serviceType: target.serviceType, maxRequestBodySize: target.maxRequestBodyBytes },
      },
    },
    ...replicas(spec.options.minScale, spec.options.maxScale),
  };
  const resources = renderResources(spec.options.resources);
  if (resources) spec_.resources = resources;
  const contentHash = hashOf(["radical-faas nuclio function v1", canonicalJson(spec_)]);
  return {
    body: {
      metadata: {
        name: spec.id,
        namespace: target.namespace,
        labels: {
          [LABELS.managedBy]: MANAGED_BY,
          [LABELS.function]: spec.id,
          [PROJECT_LABEL]: target.project,
        },
        // Nuclio keeps no time of its own in the function: when this content was deployed.
        annotations: { [CONTENT_HASH_ANNOTATION]: contentHash, [LABELS.deployedAt]: new Date().toISOString() },
      },
      spec: spec_,
    },
    contentHash,
    pythonVersion,
  };
}

/** requirements.txt as pip build commands, every argument validated and single-quoted. */
export function buildCommands(requirements: string, indexUrl: string | undefined): string[] {
  const lines: string[] = [];
  requirements.split("\n").forEach((raw, i) => {
    const line = raw.replace(/\s+#.*$/, "").trim();
    if (line === "" || line.startsWith("#")) return;
    if (!REQUIREMENT.test(line)) {
      throw invalidArgument(
        "requirements",
        `requirements line ${i + 1} ${JSON.stringify(line)} is not supported on the nuclio platform: use name[extras] with version specifiers only`,
      );
    }
    lines.push(line.replace(/\s+/g, ""));
  });
  if (lines.length === 0) return [];
  const index = indexUrl ? ["--index-url", shellQuote(indexUrl)] : [];
  return [["python", "-m", "pip", "install", "--no-cache-dir", "--disable-pip-version-check", ...index, ...lines.map(shellQuote)].join(" ")];
}

/** `value` as one single-quoted shell word. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** Nuclio's replica rules (abstract/platform.go): one copies into the other; 0 needs a max; max ≥ 1. */
function replicas(min: number | undefined, max: number | undefined): { minReplicas: number; maxReplicas: number } {
  if (max === 0) throw invalidArgument("options.max_scale", "options.max_scale must be at least 1 on the nuclio platform");
  if (min === 0 && max === undefined) {
    throw invalidArgument("options.max_scale", "options.max_scale is required when options.min_scale is 0 on the nuclio platform");
  }
  if (min === undefined && max === undefined) return { minReplicas: 1, maxReplicas: 1 };
  return { minReplicas: min ?? max!, maxReplicas: max ?? min! };
}
