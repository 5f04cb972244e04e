import type { Logger } from "pino";
import { imageInputs } from "../../images/template.ts";
import type { Images } from "../../images/types.ts";
import { FaasError, functionNotFound, invalidArgument } from "../../domain/errors.ts";
import type { Capabilities, DeployEmitter, DeployOptionName, DeploySpec, FunctionInfo, HealthCheck, InvokeOutcome, InvokeStream, LogLine, LogsOptions, Platform, RenderedObject, TrafficTarget } from "../../domain/types.ts";
import { byDigest, resolveImage } from "../../images/resolve.ts";
import { KeyedLock } from "../kit/keyed-lock.ts";
import { runDeploy } from "../kit/pipeline.ts";
import { isManaged, LABELS, MANAGED_BY } from "../kit/labels.ts";
import { ServingApi } from "./api.ts";
import { apiStatus } from "./kube.ts";
import { IngressInvoker } from "./invoke.ts";
import { serviceLogs } from "./logs.ts";
import { renderService, renderTraffic, type KnativeService } from "./service.ts";
import { throwIfFailed, waitForRollout } from "./rollout.ts";
import { functionInfo, rollout } from "./status.ts";
import { validateKnativeSpec } from "./validate.ts";

/** Options of the knative platform; see Config for their environment variables. */
export interface KnativePlatformOptions {
  api: ServingApi;
  /**
   * Builds (and in the registry workflow pushes) images: on DOCKER_HOST, e.g. minikube's engine so
   * that the kubelet finds `dev.local/<id>:<hash>` images (Knative skips tag resolution for dev.local).
   */
  images: Images;
  /** Longest a rollout may take to become Ready (KNATIVE_TIMEOUT), in milliseconds. */
  rolloutTimeoutMs: number;
  /** How long Ready=False must last to be final (kn's error window; default 2000 ms). */
  errorWindowMs?: number;
  invokeTimeoutMs: number;
  /** KNATIVE_INGRESS_URL: the ingress gateway to send invokes to (Host header = the Service's host). */
  ingressUrl: string | undefined;
  logger: Logger;
}

const MANAGED = `${LABELS.managedBy}=${MANAGED_BY}`;

/**
 * Functions as Knative Services, through the Kubernetes API: one Service per function, one
 * Revision per distinct template (named `<id>-<template hash>`), traffic split between revisions.
 * The cluster is the source of truth; the agent caches only each function's route for invokes.
 */
export class KnativePlatform implements Platform {
  readonly name = "knative" as const;
  /** Every deploy option except `workers` (Knative scales pods, not worker processes). */
  readonly capabilities: Capabilities = {
    options: new Set<DeployOptionName>([
      "minScale",
      "maxScale",
      "target",
      "scaleToZeroRetention",
      "containerConcurrency",
      "timeoutSeconds",
      "resources",
      "traffic",
    ]),
    dryRun: true,
    traffic: true,
    logsFollow: true,
    // Chunked HTTP from the function's runtime through the ingress, as it is produced.
    streaming: "incremental",
  };
  private readonly locks = new KeyedLock();
  private readonly api: ServingApi;
  private readonly invoker: IngressInvoker;

  constructor(private readonly options: KnativePlatformOptions) {
    this.api = options.api;
    this.invoker = new IngressInvoker(options.ingressUrl, (id, signal) => this.routeUrl(id, signal), options.invokeTimeoutMs);
  }

  async deploy(spec: DeploySpec, emit: DeployEmitter, signal: AbortSignal): Promise<FunctionInfo> {
    validateKnativeSpec(spec);
    const inputs = imageInputs(spec);
    const run = { spec, emit, locks: this.locks, logger: this.options.logger, noun: "Knative Service", where: `namespace ${this.api.namespace}` };
    return runDeploy(run, {
      current: async () => (await this.api.getService(spec.id)) ?? undefined,
      owned: (current) => isManaged(current.metadata.labels),
      render: async (phases) => {
        phases.enter("building");
        const image = await resolveImage(this.options.images, inputs, (phase, source, line) => phases.log(line, source, phase), signal);
        const desired = renderService({ spec, namespace: this.api.namespace, image: image.ref, contentHash: image.hash, pythonVersion: inputs.pythonVersion });
        return { desired, revision: desired.spec.template.metadata.name as string, contentHash: image.hash };
      },
      unchanged: (current, { desired, revision }) =>
        current.spec?.template?.metadata?.name === revision && sameTraffic(current, desired) && rollout(current).done ? `revision ${revision} is already deployed: nothing to apply` : undefined,
      apply: async ({ desired, revision }, current, phases) => {
        phases.enter("deploying");
        // Same revision name: the webhook compares the template as sent with the stored one, which
        // carries Knative's create-time defaults, and refuses any difference (configuration_defaults.go
        // skips defaulting, revision_validation.go VerifyNameChange). So the update keeps the stored
        // template and changes only the traffic (or nothing, when only the rollout was unfinished).
        const sameRevision = current?.spec?.template?.metadata?.name === revision;
        const update = current && sameRevision ? { ...desired, spec: { ...desired.spec, template: current.spec.template } } : desired;
        const applied = await this.apply(update, current, signal);
        phases.log(`applied Service ${spec.id} (generation ${applied.metadata.generation}, revision ${revision})`);
        return applied;
      },
      waitReady: async (applied, phases) => {
        const done = await this.waitForRollout(spec.id, applied.metadata.generation, (line) => phases.log(line, "knative"), signal);
        this.invoker.remember(spec.id, done.status.url);
        return done;
      },
      describe: (running) => {
        if ("made" in running) return this.describe(running.made);
        throwIfFailed(spec.id, running.current); // an unchanged Service whose rollout failed
        return this.describe(running.current);
      },
    });
  }

  /**
   * The Service the deploy would send, its image named as resolveImage names it (content hash with
   * the base image's id; in the registry workflow, by digest when the registry already has it),
   * without building or applying anything. `differences` says precisely where the deploy's request
   * would not be this object: an image still to be pushed (digest and revision name unknown), an
   * engine that did not answer, an existing Service (an update, or nothing to apply).
   */
  async render(spec: DeploySpec, signal: AbortSignal): Promise<RenderedObject> {
    validateKnativeSpec(spec);
    const inputs = imageInputs(spec);
    const differences: string[] = [];
    const { builder, pusher } = this.options.images;
    const name = await builder.name(inputs, signal);
    if (name.withoutBase) {
      differences.push(
        `${name.withoutBase}, so the content hash was computed without the id of ${inputs.baseImage}; ` +
          "the deploy needs the engine, and its image tag, content-hash label and revision name would differ",
      );
    }
    let image = name.tagged;
    if (pusher) {
      const digest = await pusher.digest(name, signal);
      if (digest) image = byDigest(name, digest);
      else {
        differences.push(
          `${image} is not in the registry yet: the deploy would build and push it and run it by the digest the push returns (${name.repository}@sha256:…), ` +
            "so spec.template.spec.containers[0].image and the revision name spec.template.metadata.name (a hash of the template) would differ",
        );
      }
    }
    const object = renderService({ spec, namespace: this.api.namespace, image, contentHash: name.hash, pythonVersion: inputs.pythonVersion });
    const current = await this.api.getService(spec.id).catch(() => null);
    const revision = object.spec.template.metadata.name as string;
    if (current === null) differences.push("the Kubernetes API did not answer, so whether the deploy would create the Service or update an existing one is not known");
    else if (current?.spec?.template?.metadata?.name === revision) {
      differences.push(
        sameTraffic(current, object) && rollout(current).done
          ? `Service ${spec.id} already runs revision ${revision} with this traffic: the deploy would apply nothing`
          : `Service ${spec.id} already has revision ${revision}: the deploy would keep the stored template (with Knative's defaults) and send only spec.traffic`,
      );
    } else if (current) {
      differences.push(`Service ${spec.id} exists: the deploy would send this as an update, with the existing metadata (its resourceVersion, the labels merged)`);
    }
    return { kind: "serving.knative.dev/v1 Service", object, differences };
  }

  async setTraffic(id: string, traffic: TrafficTarget[], signal: AbortSignal): Promise<FunctionInfo> {
    return this.locks.run(id, async () => {
      const current = await this.owned(id);
      const known = new Set((await this.api.listRevisions(`serving.knative.dev/service=${id}`)).map((r) => r.metadata.name as string));
      for (const [i, t] of traffic.entries()) {
        if (!t.latest && !known.has(t.revision)) throw invalidArgument(`traffic[${i}].revision`, `function "${id}" has no revision "${t.revision}"; it has: ${[...known].sort().join(", ")}`);
      }
      const desired = { ...current, spec: { ...current.spec, traffic: renderTraffic(traffic) } };
      const applied = await this.apply(desired, current, signal);
      const done = await this.waitForRollout(id, applied.metadata.generation, () => undefined, signal);
      this.invoker.forget(id);
      return this.describe(done);
    });
  }

  async invoke(id: string, payloadJson: string, signal: AbortSignal): Promise<InvokeOutcome> {
    return { resultJson: await this.invoker.call(id, payloadJson, signal), coldStart: false };
  }

  async invokeStream(id: string, payloadJson: string, signal: AbortSignal): Promise<InvokeStream> {
    const { chunks } = this.invoker.stream(id, payloadJson, signal);
    return { chunks, coldStart: false };
  }

  async list(_signal: AbortSignal): Promise<FunctionInfo[]> {
    const [services, revisions] = await Promise.all([this.api.listServices(MANAGED), this.api.listRevisions(MANAGED)]);
    return services
      .map((svc) => functionInfo(svc, revisions.filter((r) => r.metadata.labels?.["serving.knative.dev/service"] === svc.metadata.name)))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async get(id: string, _signal: AbortSignal): Promise<FunctionInfo> {
    return this.describe(await this.owned(id));
  }

  async remove(id: string, signal: AbortSignal): Promise<void> {
    await this.locks.run(id, async () => {
      await this.owned(id);
      this.invoker.forget(id);
      // Watch first, then delete, so that the DELETED event cannot be missed.
      const stop = new AbortController();
      const deadline = AbortSignal.any([signal, stop.signal, AbortSignal.timeout(this.options.rolloutTimeoutMs)]);
      const gone = this.api.watchService(id, (e) => e.type === "DELETED", deadline);
      gone.catch(() => undefined); // settled below, or abandoned through `stop`
      try {
        if (!(await this.api.deleteService(id))) throw functionNotFound(id);
        if (await this.api.getService(id)) {
          await gone.catch((error: unknown) => rethrowTimeout(error, deadline, `Service ${id} was not deleted within ${this.options.rolloutTimeoutMs / 1000} s`));
        }
      } finally {
        stop.abort();
      }
      this.options.logger.info({ function: id }, "function deleted");
    });
  }

  async *logs(id: string, options: LogsOptions, signal: AbortSignal): AsyncIterable<LogLine> {
    await this.owned(id);
    yield* serviceLogs(this.api, id, options, signal);
  }

  async health(_signal: AbortSignal): Promise<HealthCheck[]> {
    try {
      await this.api.probe();
      return [{ name: "knative", ok: true, message: `Kubernetes API answers; Services in namespace ${this.api.namespace} readable` }];
    } catch (error) {
      return [{ name: "knative", ok: false, message: (error as Error).message }];
    }
  }

  async close(): Promise<void> {
    this.invoker.close();
  }

  /** Creates or replaces the Service, retrying on 409 (someone else changed it, or created it meanwhile). */
  private async apply(desired: KnativeService, current: KnativeService | undefined, signal: AbortSignal): Promise<KnativeService> {
    for (let attempt = 0; attempt < 5 && !signal.aborted; attempt++) {
      try {
        if (!current) return await this.api.createService(desired);
        const body: KnativeService = { ...desired, metadata: { ...current.metadata, labels: { ...current.metadata.labels, ...desired.metadata.labels }, resourceVersion: current.metadata.resourceVersion } };
        delete body.status;
        return await this.api.replaceService(body);
      } catch (error) {
        const status = apiStatus(error);
        if (status !== 409 && status !== 404) throw error;
        current = await this.api.getService(desired.metadata.name);
      }
    }
    throw new FaasError("failed_precondition", `Service ${desired.metadata.name} kept changing while the agent applied it`, { reason: "DEPLOY_IN_PROGRESS" });
  }

  /** Waits for the rollout of `generation` (rollout.ts); reports each condition change. */
  private waitForRollout(id: string, generation: number, report: (line: string) => void, signal: AbortSignal): Promise<KnativeService> {
    return waitForRollout({ api: this.api, id, generation, timeoutMs: this.options.rolloutTimeoutMs, errorWindowMs: this.options.errorWindowMs ?? 2000, report, signal });
  }

  private async owned(id: string): Promise<KnativeService> {
    const svc = await this.api.getService(id);
    if (!svc || !isManaged(svc.metadata.labels)) throw functionNotFound(id);
    return svc;
  }

  private async describe(svc: KnativeService): Promise<FunctionInfo> {
    return functionInfo(svc, await this.api.listRevisions(`serving.knative.dev/service=${svc.metadata.name}`));
  }

  /** The URL a function is reached at (status.url), for the invoke cache. */
  private async routeUrl(id: string, _signal: AbortSignal): Promise<string> {
    const svc = await this.owned(id);
    const url = svc.status?.url as string | undefined;
    if (!url || !rollout(svc).done) throw new FaasError("unavailable", `function "${id}" has no ready route yet`, { reason: "WORKER_CRASHED" });
    return url;
  }
}

function sameTraffic(a: KnativeService, b: KnativeService): boolean {
  const norm = (t: Record<string, unknown>[] | undefined) => JSON.stringify((t ?? []).map((x) => [x.revisionName ?? "", x.latestRevision ?? !x.revisionName, x.percent ?? 0, x.tag ?? ""]));
  return norm(a.spec?.traffic) === norm(b.spec?.traffic);
}

function rethrowTimeout(error: unknown, deadline: AbortSignal, message: string): never {
  if (deadline.aborted && (deadline.reason as Error)?.name === "TimeoutError") throw new FaasError("deadline_exceeded", message, { reason: "DEPLOY_TIMEOUT", cause: error });
  throw error;
}
