import type Docker from "dockerode";
import type { Logger } from "pino";
import { imageInputs } from "../../build/template.ts";
import { FaasError, functionNotFound, invalidArgument } from "../../domain/errors.ts";
import type { Capabilities, DeployEmitter, DeployOptionName, DeploySpec, FunctionInfo, HealthCheck, InvokeOutcome, LogLine, LogsOptions, Platform, RenderedObject, TrafficTarget } from "../../domain/types.ts";
import { contentHash } from "../../build/template.ts";
import { imageId, resolveImage, type ImageTarget } from "../docker/image.ts";
import { KeyedLock } from "../keyed-lock.ts";
import { ServingApi } from "./api.ts";
import { apiStatus } from "./kube.ts";
import { IngressInvoker } from "./invoke.ts";
import { serviceLogs } from "./logs.ts";
import { KNATIVE_LABELS, MANAGED_BY, renderService, renderTraffic, type KnativeService } from "./service.ts";
import { conditionLines, functionInfo, rollout } from "./status.ts";
import { validateKnativeSpec } from "./validate.ts";

/** Options of the knative platform; see Config for their environment variables. */
export interface KnativePlatformOptions {
  api: ServingApi;
  /** Builds images (DOCKER_HOST: e.g. minikube's engine, so the kubelet finds dev.local images). */
  docker: Docker;
  /** local: `dev.local/<id>:<hash>` (Knative skips tag resolution for dev.local); registry: push, run by digest. */
  target: ImageTarget;
  buildTimeoutMs: number;
  /** Longest a rollout may take to become Ready (KNATIVE_TIMEOUT), in milliseconds. */
  rolloutTimeoutMs: number;
  invokeTimeoutMs: number;
  /** KNATIVE_INGRESS_URL: the ingress gateway to send invokes to (Host header = the Service's host). */
  ingressUrl: string | undefined;
  logger: Logger;
}

const MANAGED = `${KNATIVE_LABELS.managedBy}=${MANAGED_BY}`;

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
    return this.locks.run(spec.id, async () => {
      const log = (phase: "packaging" | "building" | "deploying", source: string, line: string) => emit({ type: "log", phase, source, line, time: new Date() });
      const current = await this.api.getService(spec.id);
      if (current && current.metadata.labels?.[KNATIVE_LABELS.managedBy] !== MANAGED_BY) {
        throw new FaasError("already_exists", `a Knative Service "${spec.id}" exists in namespace ${this.api.namespace} and was not deployed by this agent`, { reason: "DEPLOY_FAILED" });
      }
      emit({ type: "phase", phase: "packaging", time: new Date() });
      emit({ type: "phase", phase: "building", time: new Date() });
      const image = await resolveImage({ docker: this.options.docker, inputs, target: this.options.target, timeoutMs: this.options.buildTimeoutMs, log, signal });
      const desired = renderService({ spec, namespace: this.api.namespace, image: image.ref, contentHash: image.hash, pythonVersion: inputs.pythonVersion });
      emit({ type: "phase", phase: "deploying", time: new Date() });
      const revision = desired.spec.template.metadata.name as string;
      if (current && current.spec?.template?.metadata?.name === revision && sameTraffic(current, desired) && rollout(current).done) {
        log("deploying", "agent", `revision ${revision} is already deployed: nothing to apply`);
        throwIfFailed(spec.id, current);
        return this.describe(current);
      }
      const applied = await this.apply(desired, current, signal);
      log("deploying", "agent", `applied Service ${spec.id} (generation ${applied.metadata.generation}, revision ${revision})`);
      const done = await this.waitForRollout(spec.id, applied.metadata.generation, (line) => log("deploying", "knative", line), signal);
      this.invoker.remember(spec.id, done.status.url);
      this.options.logger.info({ function: spec.id, revision, image: image.ref }, "function deployed");
      return this.describe(done);
    });
  }

  async render(spec: DeploySpec, signal: AbortSignal): Promise<RenderedObject> {
    validateKnativeSpec(spec);
    const inputs = imageInputs(spec);
    // The image name deploy would use, computed from the content hash without building anything.
    const baseId = await imageId(this.options.docker, inputs.baseImage, signal).catch(() => undefined);
    const hash = contentHash(inputs, baseId ?? "");
    const repo = this.options.target.workflow === "registry" ? `${this.options.target.registry}/${spec.id}` : `${this.options.target.repoPrefix}/${spec.id}`;
    const object = renderService({ spec, namespace: this.api.namespace, image: `${repo}:${hash}`, contentHash: hash, pythonVersion: inputs.pythonVersion });
    return { kind: "serving.knative.dev/v1 Service", object };
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

  /** Watches the Service until the rollout of `generation` is done; reports each condition change. */
  private async waitForRollout(id: string, generation: number, report: (line: string) => void, signal: AbortSignal): Promise<KnativeService> {
    const deadline = AbortSignal.any([signal, AbortSignal.timeout(this.options.rolloutTimeoutMs)]);
    let seen = new Set<string>();
    let last: KnativeService | undefined;
    let finished = false;
    // API servers end watches after a while (minutes): watch again, from the current state, until done.
    for (let round = 0; !finished && !deadline.aborted && round < 100; round++) {
      finished = await this.api
        .watchService(
          id,
          (event) => {
            if (event.type === "DELETED") throw new FaasError("failed_precondition", `Service ${id} was deleted during the deploy`, { reason: "DEPLOY_FAILED" });
            if (event.type === "ERROR") return false;
            const svc = event.object;
            if ((svc.metadata?.generation ?? 0) < generation) return false;
            const lines = conditionLines(svc);
            for (const line of lines) if (!seen.has(line)) report(line);
            seen = new Set(lines);
            last = svc;
            return rollout(svc).done;
          },
          deadline,
        )
        .catch((error: unknown) => rethrowTimeout(error, deadline, `Service ${id} was not ready within ${this.options.rolloutTimeoutMs / 1000} s`, last));
    }
    if (!finished || !last) throw new FaasError("unavailable", `the watch of Service ${id} ended before the rollout finished`, { reason: "PLATFORM_UNAVAILABLE" });
    throwIfFailed(id, last);
    return last;
  }

  private async owned(id: string): Promise<KnativeService> {
    const svc = await this.api.getService(id);
    if (!svc || svc.metadata.labels?.[KNATIVE_LABELS.managedBy] !== MANAGED_BY) throw functionNotFound(id);
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

/** DEPLOY_FAILED with Knative's reason and message when the Service's rollout failed. */
function throwIfFailed(id: string, svc: KnativeService): void {
  const state = rollout(svc);
  if (state.done && !state.ready) {
    throw new FaasError("failed_precondition", `Knative could not make ${id} ready: ${state.reason}: ${state.message}`, {
      reason: "DEPLOY_FAILED",
      metadata: { platform_reason: state.reason, platform_message: state.message, revision: svc.status?.latestCreatedRevisionName ?? "" },
    });
  }
}

function sameTraffic(a: KnativeService, b: KnativeService): boolean {
  const norm = (t: Record<string, unknown>[] | undefined) => JSON.stringify((t ?? []).map((x) => [x.revisionName ?? "", x.latestRevision ?? !x.revisionName, x.percent ?? 0, x.tag ?? ""]));
  return norm(a.spec?.traffic) === norm(b.spec?.traffic);
}

function rethrowTimeout(error: unknown, deadline: AbortSignal, message: string, last?: KnativeService): never {
  if (deadline.aborted && (deadline.reason as Error)?.name === "TimeoutError") {
    const detail = last ? ` (last conditions: ${conditionLines(last).join("; ")})` : "";
    throw new FaasError("deadline_exceeded", message + detail, { reason: "DEPLOY_TIMEOUT", cause: error });
  }
  throw error;
}
