import type { ServerResponse } from "node:http";
import type Docker from "dockerode";
import { containerLogs } from "../../../src/adapters/docker/logs.ts";
import type { ControllerHooks } from "./apiserver.ts";
import type { ObjectStore, Obj } from "./store.ts";
import { computeServiceStatus, newGenerationStatus, revisionConditions, type RevisionState } from "./conditions.ts";
import { stable } from "./webhook.ts";

/** Registries whose images Knative does not resolve to digests (config-deployment registries-skipping-tag-resolving). */
const SKIP_TAG_RESOLVING = ["kind.local", "ko.local", "dev.local"];

/** A running (or failed) revision: its container and where the ingress reaches it. */
export interface LiveRevision {
  name: string;
  service: string;
  namespace: string;
  state: RevisionState;
  containerId?: string;
  port?: number;
}

export interface ControllerOptions {
  docker: Docker;
  store: ObjectStore;
  domain: string;
  /** Label on every container the stand-in starts (cleanup). */
  label: string;
  /** config-deployment progress-deadline, shortened for tests (Knative's default is 600 s). */
  progressDeadlineMs: number;
  /**
   * Longest the short-lived state after an update (Ready=False NewObservedGenFailure) is held for a
   * watcher to see it before the Configuration catches up (default 3 s).
   */
  transientHoldMs?: number;
}

/**
 * (Knative line references: knative/serving @ 98e5ef90aa7033797aa0a61ef97f3ff7e49a3944.)
 *
 * The Knative controllers, simulated: for each new template a Revision (BYO name or
 * `<service>-%05d`), whose image runs on the real Docker engine (127.0.0.1 only, PORT=8080 and the
 * K_* variables) as the revision's "pod"; readiness only when the container answers /healthz;
 * failures as Knative reports them (ContainerMissing, ImagePullBackOff after the progress
 * deadline, ExitCode<N>); Service status (conditions, revisions, url, address, traffic) recomputed
 * after every change; foreground deletion removes the containers.
 */
export class ControllerSim implements ControllerHooks {
  readonly revisions = new Map<string, LiveRevision>();
  private readonly configGeneration = new Map<string, number>();
  private readonly queue = new Map<string, Promise<void>>();
  /** Each revision's template (labels, annotations, spec) as stable JSON: a change makes a new revision. */
  private readonly templates = new Map<string, string>();
  /** config-deployment progress-deadline in ms (tests may change it between deploys). */
  progressDeadlineMs: number;
  /**
   * Images the node cannot pull although the agent's engine has them (e.g. DOCKER_HOST is not the
   * node's engine): the kubelet backs off until the progress deadline.
   */
  unpullable: (image: string) => boolean = () => false;
  /**
   * Test hook: awaited before a revision whose container answers is reported ready, so that a test
   * can hold a rollout until the client has been through a given interleaving.
   */
  readyGate: (() => Promise<void>) | undefined;
  private readonly stopped = new AbortController();
  /** Services for which a Ready=False state after an update was produced (and seen by a watch). */
  readonly transients: string[] = [];

  constructor(private readonly o: ControllerOptions) {
    this.progressDeadlineMs = o.progressDeadlineMs;
  }

  reconcile(svc: Obj): void {
    const k = `${svc.metadata.namespace}/${svc.metadata.name}`;
    const next = (this.queue.get(k) ?? Promise.resolve()).then(() => this.reconcileNow(svc.metadata.namespace, svc.metadata.name)).catch(() => undefined);
    this.queue.set(k, next);
  }

  async finalize(svc: Obj): Promise<void> {
    await this.queue.get(`${svc.metadata.namespace}/${svc.metadata.name}`);
    await new Promise((r) => setTimeout(r, 150)); // deletion takes a moment on a real cluster too
    for (const rev of [...this.revisions.values()].filter((r) => r.service === svc.metadata.name && r.namespace === svc.metadata.namespace)) {
      if (rev.containerId) await this.o.docker.getContainer(rev.containerId).remove({ force: true }).catch(() => undefined);
      this.o.store.remove("pods", rev.namespace, podName(rev.name));
      this.o.store.remove("revisions", rev.namespace, rev.name);
      this.revisions.delete(rev.name);
    }
    this.configGeneration.delete(`${svc.metadata.namespace}/${svc.metadata.name}`);
  }

  async podLog(namespace: string, pod: string, options: { follow: boolean; tailLines: number | undefined; timestamps: boolean }, res: ServerResponse): Promise<void> {
    const rev = [...this.revisions.values()].find((r) => r.namespace === namespace && podName(r.name) === pod);
    res.writeHead(200, { "content-type": "text/plain", "transfer-encoding": "chunked" });
    res.flushHeaders();
    if (!rev?.containerId) return void res.end();
    const abort = new AbortController();
    res.on("close", () => abort.abort());
    try {
      for await (const line of containerLogs(this.o.docker, rev.containerId, { follow: options.follow, tail: options.tailLines ?? 0 }, abort.signal)) {
        res.write(options.timestamps ? `${line.time.toISOString()} ${line.line}\n` : `${line.line}\n`);
      }
    } catch {
      // the container went away: the log ends
    }
    res.end();
  }

  /** Stops every container the stand-in started. */
  async close(): Promise<void> {
    this.stopped.abort();
    for (const rev of this.revisions.values()) if (rev.containerId) await this.o.docker.getContainer(rev.containerId).remove({ force: true }).catch(() => undefined);
  }

  private async reconcileNow(ns: string, name: string): Promise<void> {
    let svc = this.o.store.get("services", ns, name);
    if (!svc || svc.metadata.deletionTimestamp) return;
    if (svc.status?.observedGeneration !== undefined && svc.status.observedGeneration !== svc.metadata.generation) {
      // A new generation: first the state before the Configuration has caught up (see newGenerationStatus).
      svc.status = newGenerationStatus(svc);
      const stored = this.o.store.put("services", svc);
      const ready = (svc.status.conditions as Obj[]).find((c) => c.type === "Ready");
      // On a cluster the Configuration's reconcile comes an informer round trip later; a client that
      // watches may see this state first. The stand-in makes sure it can: it holds a False state until
      // a watch has delivered it (or transientHoldMs passed).
      if (ready?.status === "False") this.transients.push(name);
      if (ready?.status === "False") await this.o.store.seen("services", ns, name, Number(stored.metadata.resourceVersion), this.o.transientHoldMs ?? 3000);
      svc = this.o.store.get("services", ns, name);
      if (!svc || svc.metadata.deletionTimestamp) return;
    }
    const template = svc.spec.template;
    const latest = this.latestCreated(svc);
    let revName = latest?.name;
    if (!latest || this.templates.get(latest.name) !== templateKey(template) || (template.metadata?.name && template.metadata.name !== latest.name)) {
      const fresh: string = template.metadata?.name ?? `${name}-${String(this.nextGeneration(ns, name)).padStart(5, "0")}`;
      revName = fresh;
      if (!this.o.store.get("revisions", ns, fresh)) this.createRevision(svc, fresh);
    }
    svc.status = { ...(svc.status ?? {}), latestCreatedRevisionName: revName };
    this.writeStatus(svc);
  }

  private createRevision(svc: Obj, revName: string): void {
    const ns = svc.metadata.namespace;
    const gen = this.configGeneration.get(`${ns}/${svc.metadata.name}`) ?? 1;
    const revision: Obj = {
      apiVersion: "serving.knative.dev/v1",
      kind: "Revision",
      metadata: {
        name: revName,
        namespace: ns,
        labels: { ...(svc.spec.template.metadata?.labels ?? {}), "serving.knative.dev/service": svc.metadata.name, "serving.knative.dev/configuration": svc.metadata.name, "serving.knative.dev/configurationGeneration": String(gen) },
        annotations: { ...(svc.spec.template.metadata?.annotations ?? {}) },
        creationTimestamp: new Date().toISOString(),
      },
      spec: structuredClone(svc.spec.template.spec),
      status: { observedGeneration: 1, conditions: revisionConditions({ phase: "pending" }) },
    };
    this.o.store.put("revisions", revision);
    this.templates.set(revName, templateKey(svc.spec.template));
    const live: LiveRevision = { name: revName, service: svc.metadata.name, namespace: ns, state: { phase: "pending" } };
    this.revisions.set(revName, live);
    void this.run(live, revision).then((state) => {
      live.state = state;
      const stored = this.o.store.get("revisions", ns, revName);
      if (stored) this.o.store.put("revisions", { ...stored, status: { observedGeneration: 1, conditions: revisionConditions(state) } });
      this.reconcile({ metadata: { namespace: ns, name: svc.metadata.name } });
    });
  }

  /** Runs a revision's container; resolves once it answers /healthz or has failed. */
  private async run(live: LiveRevision, revision: Obj): Promise<RevisionState> {
    const container = revision.spec.containers[0] as Obj;
    const image = container.image as string;
    const registry = image.split("/")[0]!;
    const present = !this.unpullable(image) && (await this.o.docker.getImage(image).inspect().then(() => true, () => false));
    if (!present && !SKIP_TAG_RESOLVING.includes(registry)) {
      const pulled = await this.pull(image);
      if (!pulled.ok) return { phase: "failed", reason: "ContainerMissing", message: `Unable to fetch image "${image}": failed to resolve image to digest: ${pulled.error}` };
    } else if (!present) {
      // Knative waits for the Deployment's progress deadline before it reports the kubelet's waiting
      // reason (pkg/reconciler/revision/reconcile_resources.go:127-130, hasDeploymentTimedOut :285-297).
      await new Promise((r) => {
        const timer = setTimeout(r, this.progressDeadlineMs);
        this.stopped.signal.addEventListener("abort", () => (clearTimeout(timer), r(undefined)), { once: true });
      });
      return { phase: "failed", reason: "ImagePullBackOff", message: `Back-off pulling image "${image}"` };
    }
    const env = [
      "PORT=8080",
      `K_SERVICE=${live.service}`,
      `K_CONFIGURATION=${live.service}`,
      `K_REVISION=${live.name}`,
      ...((container.env ?? []) as Obj[]).map((e) => `${e.name}=${e.value ?? ""}`),
    ];
    const c = await this.o.docker.createContainer({
      name: `${this.o.label}-${live.name}`,
      Image: image,
      Env: env,
      Labels: { "radical-faas.test/knative-standin": this.o.label, "serving.knative.dev/revision": live.name },
      ExposedPorts: { "8080/tcp": {} },
      HostConfig: { PortBindings: { "8080/tcp": [{ HostIp: "127.0.0.1", HostPort: "" }] } },
    });
    live.containerId = c.id;
    await c.start();
    const port = Number((await c.inspect()).NetworkSettings.Ports["8080/tcp"]?.[0]?.HostPort);
    live.port = port;
    this.o.store.put("pods", {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: podName(live.name), namespace: live.namespace, labels: { "serving.knative.dev/service": live.service, "serving.knative.dev/revision": live.name }, creationTimestamp: new Date().toISOString() },
      spec: { containers: [{ name: "user-container", image }, { name: "queue-proxy", image: "queue-proxy" }] },
      status: { phase: "Running" },
    });
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
      const info = await c.inspect().catch(() => undefined);
      if (!info || !info.State.Running) {
        const code = info?.State.ExitCode ?? 1;
        return { phase: "failed", reason: `ExitCode${code}`, message: await this.exitMessage(c, container, code) };
      }
      const ok = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
      if (ok) {
        await this.readyGate?.();
        return { phase: "ready" };
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    return { phase: "failed", reason: "ProgressDeadlineExceeded", message: "Initial scale was never achieved" };
  }

  /**
   * ContainerHealthy's message for a container that exited, as a cluster produces it. Knative reads
   * the pod's LastTerminationState.Terminated, i.e. after the kubelet restarted the container once
   * (reconcile_resources.go:114-126; the stand-in does not wait for that restart): "Container failed
   * with: " + the termination message, or "container exited with no error" for exit 0 without one.
   * The kubelet fills the termination message from the file at terminationMessagePath (the runtime
   * writes none), and from the log only under terminationMessagePolicy FallbackToLogsOnError with a
   * non-zero exit: the last 80 lines, at most their last 2048 bytes (kubernetes @ fbba6b47ad98
   * pkg/kubelet/kuberuntime/kuberuntime_container.go convertToKubeContainerStatus,
   * readLastStringFromContainerLogs; the constants MaxContainerTerminationMessageLogLines/Length
   * from pkg/kubelet/container/runtime.go, unpinned).
   */
  private async exitMessage(c: Docker.Container, container: Obj, code: number): Promise<string> {
    let message = "";
    if (container.terminationMessagePolicy === "FallbackToLogsOnError" && code !== 0) {
      const logs = Buffer.from(demux((await c.logs({ stdout: true, stderr: true, tail: 80 }).catch(() => Buffer.alloc(0))) as Buffer), "utf8");
      message = logs.subarray(Math.max(0, logs.length - 2048)).toString("utf8");
    }
    return `Container failed with: ${code === 0 && message === "" ? "container exited with no error" : message}`;
  }

  private async pull(image: string): Promise<{ ok: true } | { ok: false; error: string }> {
    try {
      const stream = await this.o.docker.pull(image);
      const out: Obj[] = await new Promise((resolve, reject) => this.o.docker.modem.followProgress(stream, (e: Error | null, r: Obj[]) => (e ? reject(e) : resolve(r))));
      const failure = out.find((m) => m.error);
      return failure ? { ok: false, error: failure.error } : { ok: true };
    } catch (error) {
      return { ok: false, error: (error as Error).message };
    }
  }

  private writeStatus(svc: Obj): void {
    const ns = svc.metadata.namespace;
    const revs = this.o.store.list("revisions", ns, (r) => r.metadata.labels?.["serving.knative.dev/service"] === svc.metadata.name);
    const states = new Map(revs.map((r) => [r.metadata.name as string, this.revisions.get(r.metadata.name)?.state ?? ({ phase: "pending" } as RevisionState)]));
    const created = new Map(revs.map((r) => [r.metadata.name as string, r.metadata.creationTimestamp as string]));
    const current = this.o.store.get("services", ns, svc.metadata.name);
    if (!current || current.metadata.deletionTimestamp) return;
    current.status = computeServiceStatus(current, svc.status.latestCreatedRevisionName, states, created, this.o.domain);
    this.o.store.put("services", current);
  }

  private latestCreated(svc: Obj): { name: string; object: Obj } | undefined {
    const name = svc.status?.latestCreatedRevisionName as string | undefined;
    const object = name ? this.o.store.get("revisions", svc.metadata.namespace, name) : undefined;
    return name && object ? { name, object } : undefined;
  }

  private nextGeneration(ns: string, name: string): number {
    const n = (this.configGeneration.get(`${ns}/${name}`) ?? 0) + 1;
    this.configGeneration.set(`${ns}/${name}`, n);
    return n;
  }
}

/** What makes a template a new revision: its labels, annotations and spec (not its name). */
function templateKey(template: Obj): string {
  return stable({ labels: template.metadata?.labels ?? {}, annotations: template.metadata?.annotations ?? {}, spec: template.spec });
}

/** The single pod a revision's "deployment" has. */
export function podName(revision: string): string {
  return `${revision}-deployment-0`;
}

/** Docker's multiplexed log frames → text. */
function demux(buf: Buffer): string {
  let out = "";
  for (let i = 0; i + 8 <= buf.length; ) {
    const size = buf.readUInt32BE(i + 4);
    out += buf.subarray(i + 8, i + 8 + size).toString("utf8");
    i += 8 + size;
  }
  return out;
}
