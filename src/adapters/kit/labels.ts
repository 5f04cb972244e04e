/**
 * The one label (and annotation) vocabulary of every object the agent makes on any platform:
 * Docker containers, Knative Services and their revisions, Nuclio functions. Keys are Kubernetes
 * label keys (`prefix/name`), which the Docker engine accepts as they are, so one key means one
 * thing everywhere and one selector finds the agent's objects. `managed-by` is Kubernetes' own
 * recommended label (app.kubernetes.io/managed-by), which kubectl and Helm users already filter on.
 */
export const LABELS = {
  /** Always MANAGED_BY: the ownership check of every platform. */
  managedBy: "app.kubernetes.io/managed-by",
  function: "radical-faas.dev/function",
  /** The content hash of what runs (see kit/hash.ts). */
  contentHash: "radical-faas.dev/content-hash",
  /** The revision the platform runs, where it is not the content hash itself (Docker). */
  revision: "radical-faas.dev/revision",
  pythonVersion: "radical-faas.dev/python-version",
  /** Separates agents sharing one Docker engine (FAAS_DOCKER_NAMESPACE). */
  namespace: "radical-faas.dev/namespace",
  /** When the function was first deployed (ISO 8601); kept across redeploys. */
  createdAt: "radical-faas.dev/created-at",
  /** When this content was deployed (ISO 8601); an annotation where the platform has them. */
  deployedAt: "radical-faas.dev/deployed-at",
} as const;

/** The value of LABELS.managedBy on everything the agent made. */
export const MANAGED_BY = "radical-faas";

/** Label keys of the agent's Docker containers before the vocabulary was shared (read, never written). */
export const LEGACY_DOCKER_LABELS: Readonly<Record<Exclude<keyof typeof LABELS, "deployedAt">, string>> = {
  managedBy: "dev.radical-faas.managed-by",
  function: "dev.radical-faas.function",
  contentHash: "dev.radical-faas.content-hash",
  revision: "dev.radical-faas.revision",
  pythonVersion: "dev.radical-faas.python-version",
  namespace: "dev.radical-faas.namespace",
  createdAt: "dev.radical-faas.created",
};

/** Keys earlier versions wrote for the same thing, tried in order when today's key is absent. */
const LEGACY_KEYS: Readonly<Partial<Record<keyof typeof LABELS, readonly string[]>>> = {
  ...Object.fromEntries(Object.entries(LEGACY_DOCKER_LABELS).map(([k, v]) => [k, [v]])),
  // Nuclio functions carried their own managed-by key.
  managedBy: ["radical-faas.dev/managed-by", LEGACY_DOCKER_LABELS.managedBy],
};

/**
 * The value of label `key` in `labels`, under today's key or an earlier version's (so functions
 * deployed by an earlier agent are still found and owned); "" when absent.
 */
export function label(labels: Readonly<Record<string, string>> | undefined, key: keyof typeof LABELS): string {
  if (!labels) return "";
  const value = labels[LABELS[key]];
  if (value !== undefined) return value;
  for (const legacy of LEGACY_KEYS[key] ?? []) if (labels[legacy] !== undefined) return labels[legacy]!;
  return "";
}

/** Whether an object with these labels was made by this agent (any version of it). */
export function isManaged(labels: Readonly<Record<string, string>> | undefined): boolean {
  return label(labels, "managedBy") === MANAGED_BY;
}

/**
 * The `key=value` terms (all must match) selecting the agent's objects with the given labels, in
 * the vocabulary `keys` (LABELS, or LEGACY_DOCKER_LABELS to find an earlier agent's containers).
 */
export function selector(values: Partial<Record<keyof typeof LEGACY_DOCKER_LABELS, string>> = {}, keys: Readonly<Record<keyof typeof LEGACY_DOCKER_LABELS, string>> = LABELS): string[] {
  return [`${keys.managedBy}=${MANAGED_BY}`, ...Object.entries(values).map(([k, v]) => `${keys[k as keyof typeof LEGACY_DOCKER_LABELS]}=${v}`)];
}
