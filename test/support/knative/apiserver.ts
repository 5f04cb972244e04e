import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { crdValidator } from "./schema.ts";
import { fieldMatcher, labelMatcher, ObjectStore, type Obj, type Resource } from "./store.ts";
import { applyDefaults, stable, validateService, webhookDenied } from "./webhook.ts";

/** What the API server asks of the controller simulation. */
export interface ControllerHooks {
  /** A Service was created or changed (metadata.generation may have moved). */
  reconcile(svc: Obj): void;
  /** A Service is being deleted: remove what it owns; the server deletes the object afterwards. */
  finalize(svc: Obj): Promise<void>;
  /** Streams a pod's log (text) to `res`. */
  podLog(namespace: string, pod: string, options: { follow: boolean; tailLines: number | undefined; timestamps: boolean }, res: ServerResponse): Promise<void>;
}

const SERVING_PREFIX = "/apis/serving.knative.dev/v1/namespaces/";

/**
 * A Kubernetes API server for what the Knative adapter uses: serving.knative.dev/v1 services
 * (create, get, list, replace, delete, watch) and revisions (read-only), core/v1 pods (list) with
 * pods/{name}/log, namespaces (get) and the discovery roots. Objects are validated against the real
 * CRD schema and by the webhook simulation; errors are metav1.Status bodies with Kubernetes' reasons.
 */
export class FakeApiServer {
  readonly store = new ObjectStore();
  private readonly server: Server;
  private readonly validateSchema = crdValidator();
  hooks: ControllerHooks | undefined;
  /** Namespaces that exist (GET /api/v1/namespaces/{ns} answers 404 for others). */
  readonly namespaces = new Set<string>(["default"]);
  /** Requests served, by "METHOD path" (tests assert what the adapter did or did not call). */
  readonly requests: string[] = [];
  /** The Service bodies of creates and replaces, as received (before admission). */
  readonly received: Obj[] = [];
  /**
   * Verbs RBAC denies, as "verb resource" ("watch services", "create services"): answered 403
   * Forbidden with the API server's message (kubernetes/kubernetes master as indexed, not pinned:
   * staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/errors.go forbiddenMessage).
   */
  readonly forbidden = new Set<string>();
  /**
   * How long the server lets a watch run before ending it (kube-apiserver: a random time between
   * --min-request-timeout, 1800 s, and twice that, unless the client asks for less with
   * timeoutSeconds: `minRequestTimeout * (rand.Float64() + 1.0)` in
   * staging/src/k8s.io/apiserver/pkg/endpoints/handlers/get.go ListResource, same unpinned source).
   * Undefined: only the client's timeoutSeconds ends a watch.
   */
  watchTimeoutMs: number | undefined;

  constructor() {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) status(res, 500, "InternalError", (error as Error).message);
        else res.end();
      });
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.store.closeWatches();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://stand-in");
    const method = req.method ?? "GET";
    this.requests.push(`${method} ${url.pathname}${url.searchParams.get("watch") === "true" ? "?watch" : ""}`);
    const path = url.pathname;
    if (path === "/version") return json(res, 200, { major: "1", minor: "30", gitVersion: "v1.30.0-standin" });
    if (path === "/api") return json(res, 200, { kind: "APIVersions", versions: ["v1"] });
    if (path === "/apis") return json(res, 200, { kind: "APIGroupList", apiVersion: "v1", groups: [{ name: "serving.knative.dev", versions: [{ groupVersion: "serving.knative.dev/v1", version: "v1" }] }] });
    if (path === "/apis/serving.knative.dev/v1") {
      return json(res, 200, {
        kind: "APIResourceList",
        groupVersion: "serving.knative.dev/v1",
        resources: [
          { name: "services", singularName: "service", namespaced: true, kind: "Service", shortNames: ["kservice", "ksvc"], verbs: ["delete", "get", "list", "create", "update", "patch", "watch"] },
          { name: "revisions", singularName: "revision", namespaced: true, kind: "Revision", shortNames: ["rev"], verbs: ["get", "list", "watch"] },
        ],
      });
    }
    let m = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(path);
    if (m && method === "GET") {
      if (!this.namespaces.has(m[1]!)) return status(res, 404, "NotFound", `namespaces "${m[1]}" not found`, { name: m[1], kind: "namespaces" });
      return json(res, 200, { apiVersion: "v1", kind: "Namespace", metadata: { name: m[1] }, status: { phase: "Active" } });
    }
    m = /^\/api\/v1\/namespaces\/([^/]+)\/pods(?:\/([^/]+)(\/log)?)?$/.exec(path);
    if (m && method === "GET") return this.pods(m[1]!, m[2], !!m[3], url, res);
    if (path.startsWith(SERVING_PREFIX)) {
      m = /^([^/]+)\/(services|revisions)(?:\/([^/]+))?$/.exec(path.slice(SERVING_PREFIX.length));
      if (m) return this.serving(method, m[1]!, m[2] as Resource, m[3], url, req, res);
    }
    status(res, 404, "NotFound", "the server could not find the requested resource");
  }

  private async pods(ns: string, name: string | undefined, log: boolean, url: URL, res: ServerResponse): Promise<void> {
    if (!name) {
      if (url.searchParams.get("watch") === "true") return status(res, 405, "MethodNotAllowed", "the stand-in does not watch pods");
      const items = this.store.list("pods", ns, labelMatcher(url.searchParams.get("labelSelector")));
      return json(res, 200, { apiVersion: "v1", kind: "PodList", metadata: { resourceVersion: this.store.resourceVersion }, items });
    }
    const pod = this.store.get("pods", ns, name);
    if (!pod) return status(res, 404, "NotFound", `pods "${name}" not found`, { name, kind: "pods" });
    if (!log) return json(res, 200, pod);
    const container = url.searchParams.get("container");
    if (container && container !== "user-container" && container !== "queue-proxy") {
      return status(res, 400, "BadRequest", `container ${container} is not valid for pod ${name}`);
    }
    const tail = url.searchParams.get("tailLines");
    await this.hooks?.podLog(ns, name, { follow: url.searchParams.get("follow") === "true", tailLines: tail ? Number(tail) : undefined, timestamps: url.searchParams.get("timestamps") === "true" }, res);
  }

  private async serving(method: string, ns: string, resource: Resource, name: string | undefined, url: URL, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const gr = `${resource}.serving.knative.dev`;
    const kind = resource === "services" ? "Service" : "Revision";
    const watching = method === "GET" && !name && url.searchParams.get("watch") === "true";
    const verb = watching ? "watch" : ({ GET: name ? "get" : "list", POST: "create", PUT: "update", DELETE: "delete" } as Record<string, string>)[method] ?? method.toLowerCase();
    if (this.forbidden.has(`${verb} ${resource}`)) {
      const user = "system:serviceaccount:default:radical-faas";
      return status(res, 403, "Forbidden", `${gr}${name ? ` "${name}"` : ""} is forbidden: User "${user}" cannot ${verb} resource "${resource}" in API group "serving.knative.dev" in the namespace "${ns}"`, {
        ...(name ? { name } : {}),
        group: "serving.knative.dev",
        kind: resource,
      });
    }
    if (method === "GET" && !name) {
      const match = and(labelMatcher(url.searchParams.get("labelSelector")), fieldMatcher(url.searchParams.get("fieldSelector")));
      if (url.searchParams.get("watch") === "true") {
        const rv = url.searchParams.get("resourceVersion");
        const asked = url.searchParams.get("timeoutSeconds");
        const limits = [asked ? Number(asked) * 1000 : undefined, this.watchTimeoutMs].filter((t): t is number => t !== undefined);
        return this.store.watch(resource, ns, match, rv && rv !== "0" ? Number(rv) : undefined, res, limits.length ? Math.min(...limits) : undefined);
      }
      return json(res, 200, { apiVersion: "serving.knative.dev/v1", kind: `${kind}List`, metadata: { resourceVersion: this.store.resourceVersion }, items: this.store.list(resource, ns, match) });
    }
    if (method === "GET" && name) {
      const o = this.store.get(resource, ns, name);
      return o ? json(res, 200, o) : status(res, 404, "NotFound", `${gr} "${name}" not found`, { name, group: "serving.knative.dev", kind: resource });
    }
    if (resource !== "services") return status(res, 405, "MethodNotAllowed", `the server does not allow this method on the requested resource`);
    if (method === "POST" && !name) return this.create(ns, await body(req), res);
    if (method === "PUT" && name) return this.replace(ns, name, await body(req), res);
    if (method === "DELETE" && name) return this.remove(ns, name, res);
    status(res, 405, "MethodNotAllowed", "the server does not allow this method on the requested resource");
  }

  private create(ns: string, svc: Obj | undefined, res: ServerResponse): void {
    if (!svc) return status(res, 400, "BadRequest", "the request body is not JSON");
    this.received.push(structuredClone(svc));
    svc.metadata = { ...svc.metadata, namespace: ns };
    const name = svc.metadata.name as string;
    if (this.store.get("services", ns, name)) return status(res, 409, "AlreadyExists", `services.serving.knative.dev "${name}" already exists`, { name, group: "serving.knative.dev", kind: "services" });
    const refused = this.admit(svc, undefined, res);
    if (refused) return;
    delete svc.status;
    svc.metadata = { ...svc.metadata, uid: randomUUID(), generation: 1, creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, "Z") };
    const stored = this.store.put("services", svc);
    json(res, 201, stored);
    this.hooks?.reconcile(stored);
  }

  private replace(ns: string, name: string, svc: Obj | undefined, res: ServerResponse): void {
    if (!svc) return status(res, 400, "BadRequest", "the request body is not JSON");
    this.received.push(structuredClone(svc));
    const old = this.store.get("services", ns, name);
    if (!old) return status(res, 404, "NotFound", `services.serving.knative.dev "${name}" not found`, { name, group: "serving.knative.dev", kind: "services" });
    if (svc.metadata?.name !== name) return status(res, 400, "BadRequest", `the name of the object (${svc.metadata?.name}) does not match the name on the URL (${name})`);
    if (!svc.metadata?.resourceVersion) return status(res, 422, "Invalid", `services.serving.knative.dev "${name}" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update`);
    if (svc.metadata.resourceVersion !== old.metadata.resourceVersion) {
      return status(res, 409, "Conflict", `Operation cannot be fulfilled on services.serving.knative.dev "${name}": the object has been modified; please apply your changes to the latest version and try again`, { name, group: "serving.knative.dev", kind: "services" });
    }
    svc.metadata.namespace = ns;
    const refused = this.admit(svc, old, res);
    if (refused) return;
    // Immutable metadata and the status subresource come from the stored object.
    svc.metadata = { ...svc.metadata, uid: old.metadata.uid, creationTimestamp: old.metadata.creationTimestamp, generation: old.metadata.generation, deletionTimestamp: old.metadata.deletionTimestamp };
    svc.status = old.status;
    const specChanged = stable(svc.spec) !== stable(old.spec);
    if (specChanged) svc.metadata.generation = old.metadata.generation + 1;
    if (!specChanged && stable(svc.metadata.labels ?? {}) === stable(old.metadata.labels ?? {}) && stable(svc.metadata.annotations ?? {}) === stable(old.metadata.annotations ?? {})) {
      return json(res, 200, old); // a no-op update writes nothing
    }
    const stored = this.store.put("services", svc);
    json(res, 200, stored);
    this.hooks?.reconcile(stored);
  }

  private remove(ns: string, name: string, res: ServerResponse): void {
    const old = this.store.get("services", ns, name);
    if (!old) return status(res, 404, "NotFound", `services.serving.knative.dev "${name}" not found`, { name, group: "serving.knative.dev", kind: "services" });
    if (old.metadata.deletionTimestamp) return json(res, 200, old);
    // Foreground deletion: the object stays (with a deletionTimestamp) until what it owns is gone.
    old.metadata.deletionTimestamp = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    old.metadata.finalizers = ["foregroundDeletion"];
    const marked = this.store.put("services", old);
    json(res, 200, marked);
    void (this.hooks?.finalize(marked) ?? Promise.resolve()).finally(() => this.store.remove("services", ns, name));
  }

  /** Schema, then defaulting and validating webhooks; answers the refusal and returns true when refused. */
  private admit(svc: Obj, old: Obj | undefined, res: ServerResponse): boolean {
    const name = svc.metadata?.name ?? "";
    const schemaErrors = this.validateSchema({ ...svc, status: undefined });
    if (schemaErrors.length > 0) {
      status(res, 422, "Invalid", `Service.serving.knative.dev "${name}" is invalid: ${schemaErrors.join(", ")}`, { name, group: "serving.knative.dev", kind: "Service" });
      return true;
    }
    applyDefaults(svc, old);
    const denied = validateService(svc, old);
    if (denied) {
      status(res, 400, "BadRequest", webhookDenied(denied));
      return true;
    }
    return false;
  }
}

function and(a: (o: Obj) => boolean, b: (o: Obj) => boolean): (o: Obj) => boolean {
  return (o) => a(o) && b(o);
}

async function body(req: IncomingMessage): Promise<Obj | undefined> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8")) as Obj;
  } catch {
    return undefined;
  }
}

function json(res: ServerResponse, code: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(code, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/** A metav1.Status failure body. */
export function status(res: ServerResponse, code: number, reason: string, message: string, details?: Record<string, unknown>): void {
  json(res, code, { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, ...(details ? { details } : {}), code });
}
