import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import { ApiException, KubeConfig } from "@kubernetes/client-node";
import { FaasError } from "../../domain/errors.ts";

/** Knative Serving's API group and version. */
export const SERVING = { group: "serving.knative.dev", version: "v1" } as const;

/**
 * The cluster configuration, as kubectl finds it: the file(s) in KUBECONFIG, else ~/.kube/config,
 * else the pod's service account when the agent runs inside the cluster.
 */
export function loadKubeConfig(env: NodeJS.ProcessEnv): KubeConfig {
  const kc = new KubeConfig();
  const home = env.HOME?.trim() || homedir();
  try {
    // The agent's environment (not process.env): the files in KUBECONFIG, merged, the first one's context current.
    const files = (env.KUBECONFIG ?? "").split(delimiter).filter((f) => f.trim() && existsSync(f));
    if (files.length > 0) {
      kc.loadFromFile(files[0]!);
      for (const file of files.slice(1)) {
        const more = new KubeConfig();
        more.loadFromFile(file);
        kc.mergeConfig(more, true);
      }
    } else if (existsSync(join(home, ".kube", "config"))) kc.loadFromFile(join(home, ".kube", "config"));
    else if (env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
    else throw new Error("no KUBECONFIG, no ~/.kube/config and not inside a cluster");
  } catch (error) {
    throw new FaasError("unavailable", `cannot load the Kubernetes configuration: ${(error as Error).message}`, { reason: "PLATFORM_UNAVAILABLE", cause: error });
  }
  if (!kc.getCurrentCluster()) throw new FaasError("unavailable", "the Kubernetes configuration names no current cluster", { reason: "PLATFORM_UNAVAILABLE" });
  return kc;
}

/**
 * The HTTP status of a failed API call, or undefined when the call got no answer. API calls fail
 * with an ApiException; a refused watch, in client-node 1.4, with a plain Error carrying
 * `statusCode` (dist/watch.js: `error.statusCode = response.status`).
 */
export function apiStatus(error: unknown): number | undefined {
  if (error instanceof ApiException) return error.code;
  const code = (error as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof code === "number" ? code : undefined;
}

/** The metav1.Status message of a failed API call (its body), or the error's own message. */
export function apiMessage(error: unknown): string {
  if (error instanceof ApiException) {
    try {
      const body = typeof error.body === "string" ? (JSON.parse(error.body) as { message?: string }) : (error.body as { message?: string });
      if (body?.message) return body.message;
    } catch {
      // not a Status body
    }
    return `HTTP ${error.code}`;
  }
  return (error as Error).message;
}

/**
 * A FaasError for an API call that failed, by HTTP status: invalid_argument for a rejected object
 * (400, 422), failed_precondition for a denied one (401, 403: credentials or RBAC, which retrying
 * does not cure; `hint` says which permission), else unavailable.
 */
export function apiError(error: unknown, what: string, hint?: string): FaasError {
  const status = apiStatus(error);
  const message = apiMessage(error);
  if (status === 400 || status === 422) {
    return new FaasError("invalid_argument", `the cluster refused the ${what}: ${message}`, { reason: "INVALID_REQUEST", cause: error, metadata: { platform_message: message } });
  }
  if (status === 403 || status === 401) {
    return new FaasError("failed_precondition", `the cluster denied the ${what} (HTTP ${status}): ${message}${hint ? `; ${hint}` : ""}`, {
      reason: "PLATFORM_UNAVAILABLE",
      cause: error,
      metadata: { http_status: String(status) },
    });
  }
  return new FaasError("unavailable", `the Kubernetes API failed the ${what}: ${message}`, { reason: "PLATFORM_UNAVAILABLE", cause: error });
}
