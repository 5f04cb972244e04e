import { PassThrough } from "node:stream";
import { CoreV1Api, CustomObjectsApi, Log, Watch, type KubeConfig } from "@kubernetes/client-node";
import { apiError, apiStatus, SERVING } from "./kube.ts";
import type { KnativeService } from "./service.ts";

/** A watch event on Services. */
export type WatchEvent = { type: "ADDED" | "MODIFIED" | "DELETED"; object: KnativeService } | { type: "ERROR"; object: KnativeService };

/**
 * The Kubernetes API calls the Knative platform makes, in one namespace: Services (get, list,
 * create, replace, delete, watch), Revisions (list), pods (list) and pod logs. Failures become
 * FaasErrors (apiError); "not found" is returned as undefined where callers expect it.
 */
export class ServingApi {
  private readonly custom: CustomObjectsApi;
  private readonly core: CoreV1Api;

  constructor(
    private readonly kc: KubeConfig,
    readonly namespace: string,
  ) {
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.core = kc.makeApiClient(CoreV1Api);
  }

  /** The Service `name`, or undefined when there is none. */
  async getService(name: string): Promise<KnativeService | undefined> {
    try {
      return (await this.custom.getNamespacedCustomObject({ ...SERVING, namespace: this.namespace, plural: "services", name })) as KnativeService;
    } catch (error) {
      if (apiStatus(error) === 404) return undefined;
      throw apiError(error, `read of Service ${name}`);
    }
  }

  /** Services matching a label selector. */
  async listServices(labelSelector: string): Promise<KnativeService[]> {
    try {
      const list = (await this.custom.listNamespacedCustomObject({ ...SERVING, namespace: this.namespace, plural: "services", labelSelector })) as { items: KnativeService[] };
      return list.items;
    } catch (error) {
      throw apiError(error, "list of Services");
    }
  }

  /** Revisions matching a label selector. */
  async listRevisions(labelSelector: string): Promise<KnativeService[]> {
    try {
      const list = (await this.custom.listNamespacedCustomObject({ ...SERVING, namespace: this.namespace, plural: "revisions", labelSelector })) as { items: KnativeService[] };
      return list.items;
    } catch (error) {
      throw apiError(error, "list of Revisions");
    }
  }

  /** Creates a Service; throws the raw error on 409 AlreadyExists so callers can retry as an update. */
  async createService(body: KnativeService): Promise<KnativeService> {
    try {
      return (await this.custom.createNamespacedCustomObject({ ...SERVING, namespace: this.namespace, plural: "services", body })) as KnativeService;
    } catch (error) {
      if (apiStatus(error) === 409) throw error;
      throw apiError(error, `Service ${body.metadata.name}`);
    }
  }

  /** Replaces a Service (body carries metadata.resourceVersion); throws the raw error on 409 Conflict or 404. */
  async replaceService(body: KnativeService): Promise<KnativeService> {
    try {
      return (await this.custom.replaceNamespacedCustomObject({ ...SERVING, namespace: this.namespace, plural: "services", name: body.metadata.name, body })) as KnativeService;
    } catch (error) {
      if (apiStatus(error) === 409 || apiStatus(error) === 404) throw error;
      throw apiError(error, `Service ${body.metadata.name}`);
    }
  }

  /** Deletes a Service (foreground); false when it did not exist. */
  async deleteService(name: string): Promise<boolean> {
    try {
      await this.custom.deleteNamespacedCustomObject({ ...SERVING, namespace: this.namespace, plural: "services", name, propagationPolicy: "Foreground" });
      return true;
    } catch (error) {
      if (apiStatus(error) === 404) return false;
      throw apiError(error, `deletion of Service ${name}`);
    }
  }

  /** The Revision `name`, or undefined when there is none. */
  async getRevision(name: string): Promise<KnativeService | undefined> {
    try {
      return (await this.custom.getNamespacedCustomObject({ ...SERVING, namespace: this.namespace, plural: "revisions", name })) as KnativeService;
    } catch (error) {
      if (apiStatus(error) === 404) return undefined;
      throw apiError(error, `read of Revision ${name}`);
    }
  }

  /**
   * Watches the Service `name` (fieldSelector metadata.name), starting with its current state (or,
   * with `resourceVersion`, with what changed after that version), calling `onEvent` for each
   * event until `onEvent` returns true, the watch ends or `signal` aborts. Resolves with whether
   * `onEvent` asked to stop. A refused watch (e.g. RBAC's 403) rejects with a FaasError by status.
   */
  watchService(name: string, onEvent: (event: WatchEvent) => boolean, signal: AbortSignal, resourceVersion?: string): Promise<boolean> {
    if (signal.aborted) return Promise.reject(signal.reason ?? new Error("aborted"));
    const what = `watch of Service ${name}`;
    const hint = `the agent's account needs "watch" on services.serving.knative.dev in namespace ${this.namespace}`;
    return new Promise((resolve, reject) => {
      let finished = false;
      let controller: AbortController | undefined;
      const finish = (error: unknown, stopped: boolean) => {
        if (finished) return;
        finished = true;
        signal.removeEventListener("abort", onAbort);
        controller?.abort();
        if (error) reject(error);
        else resolve(stopped);
      };
      const onAbort = () => finish(signal.reason ?? new Error("aborted"), false);
      signal.addEventListener("abort", onAbort, { once: true });
      new Watch(this.kc)
        .watch(
          `/apis/${SERVING.group}/${SERVING.version}/namespaces/${encodeURIComponent(this.namespace)}/services`,
          { fieldSelector: `metadata.name=${name}`, ...(resourceVersion ? { resourceVersion } : {}) },
          (type: string, object: KnativeService) => {
            if (finished) return;
            try {
              if (onEvent({ type: type as WatchEvent["type"], object })) finish(undefined, true);
            } catch (error) {
              finish(error, false);
            }
          },
          (error: unknown) => finish(error ? apiError(error, what, hint) : undefined, false),
        )
        .then(
          (c) => {
            controller = c;
            if (finished) c.abort();
          },
          (error: unknown) => finish(apiError(error, what, hint), false),
        );
    });
  }

  /** Pods matching a label selector, newest first. */
  async listPods(labelSelector: string): Promise<{ name: string; created: number; phase: string }[]> {
    try {
      const list = await this.core.listNamespacedPod({ namespace: this.namespace, labelSelector });
      return list.items
        .map((p) => ({ name: p.metadata?.name ?? "", created: new Date(p.metadata?.creationTimestamp ?? 0).getTime(), phase: p.status?.phase ?? "" }))
        .sort((a, b) => b.created - a.created);
    } catch (error) {
      throw apiError(error, "list of pods");
    }
  }

  /**
   * Health: lists at most one Service in the namespace, which proves the API answers and that the
   * agent may read Knative Services there (a namespaced Role suffices; namespaces themselves are
   * cluster-scoped and need not be readable).
   */
  async probe(): Promise<void> {
    try {
      await this.custom.listNamespacedCustomObject({ ...SERVING, namespace: this.namespace, plural: "services", limit: 1 });
    } catch (error) {
      throw apiError(error, `list of Services in namespace ${this.namespace}`);
    }
  }

  /** A pod container's log as a stream of text; `follow` keeps it open until `signal` aborts. */
  async podLog(pod: string, container: string, options: { follow: boolean; tailLines?: number }, signal: AbortSignal): Promise<NodeJS.ReadableStream> {
    const out = new PassThrough();
    try {
      const controller = await new Log(this.kc).log(this.namespace, pod, container, out, { follow: options.follow, tailLines: options.tailLines, timestamps: true });
      const stop = () => {
        controller.abort();
        out.end();
      };
      if (signal.aborted) stop();
      else signal.addEventListener("abort", stop, { once: true });
      out.on("close", () => signal.removeEventListener("abort", stop));
    } catch (error) {
      throw apiError(error, `log of pod ${pod}`);
    }
    return out;
  }
}
