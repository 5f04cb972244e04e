import { FaasError, functionNotFound } from "../../src/domain/errors.ts";
import type {
  Capabilities,
  DeployEmitter,
  DeploySpec,
  FunctionInfo,
  HealthCheck,
  InvokeOutcome,
  InvokeStream,
  LogLine,
  LogsOptions,
  Platform,
  PlatformName,
  RenderedObject,
  TrafficTarget,
} from "../../src/domain/types.ts";

/** How a FakePlatform behaves; every part has a default that does nothing but succeed. */
export interface FakePlatformOptions {
  name?: PlatformName;
  /** Replaces the default capabilities (no options, no dry run, no traffic, logs follow). */
  capabilities?: Partial<Capabilities>;
  /**
   * The deploy's steps after the fake emitted nothing: by default it emits packaging, building and
   * deploying with one log line each and stores the function. A script may emit and throw.
   */
  deploy?: (spec: DeploySpec, emit: DeployEmitter, signal: AbortSignal) => Promise<FunctionInfo>;
  /** The answer to every invoke, whatever the id: by default `null`, at once. */
  invoke?: (id: string, payloadJson: string, signal: AbortSignal) => Promise<InvokeOutcome>;
  /** The answer to every stream call: by default the invoke's result as the one chunk. */
  invokeStream?: (id: string, payloadJson: string, signal: AbortSignal) => Promise<InvokeStream>;
  /** Lines `logs` yields before it ends (or, with follow, waits for the signal). */
  logLines?: LogLine[];
}

/** A Platform backed by a Map, with the calls it received, for tests and the bench's empty stack. */
export interface FakePlatform extends Platform {
  /** Deployed functions by id. */
  readonly functions: Map<string, FunctionInfo>;
  /** Every call, as `method id` (e.g. "deploy hello", "setTraffic hello"), in order. */
  readonly calls: string[];
}

const NULL_OUTCOME: InvokeOutcome = { resultJson: "null", coldStart: false };

/**
 * A platform with nothing behind it. With capabilities.dryRun it has `render`, with
 * capabilities.traffic `setTraffic`, so that it always satisfies AgentCore's consistency check.
 */
export function createFakePlatform(options: FakePlatformOptions = {}): FakePlatform {
  const name = options.name ?? "local";
  const capabilities: Capabilities = { options: new Set(), dryRun: false, traffic: false, logsFollow: true, streaming: "incremental", ...options.capabilities };
  const functions = new Map<string, FunctionInfo>();
  const calls: string[] = [];
  const known = (id: string) => {
    const fn = functions.get(id);
    if (!fn) throw functionNotFound(id);
    return fn;
  };
  const defaultDeploy = async (spec: DeploySpec, emit: DeployEmitter): Promise<FunctionInfo> => {
    for (const phase of ["packaging", "building", "deploying"] as const) {
      emit({ type: "phase", phase, time: new Date() });
      emit({ type: "log", phase, source: "fake", line: `${phase} ${spec.id}`, time: new Date() });
    }
    return fakeFunction(spec.id, name);
  };
  const platform: FakePlatform = {
    name,
    capabilities,
    functions,
    calls,
    async deploy(spec, emit, signal) {
      calls.push(`deploy ${spec.id}`);
      const fn = await (options.deploy ?? defaultDeploy)(spec, emit, signal);
      functions.set(fn.id, fn);
      return fn;
    },
    invoke(id, payloadJson, signal) {
      // No bookkeeping here: the bench measures the stack around this call.
      return options.invoke ? options.invoke(id, payloadJson, signal) : Promise.resolve(NULL_OUTCOME);
    },
    async invokeStream(id, payloadJson, signal) {
      if (options.invokeStream) return options.invokeStream(id, payloadJson, signal);
      const { resultJson, coldStart } = await platform.invoke(id, payloadJson, signal);
      return { chunks: (async function* () { yield resultJson; })(), coldStart };
    },
    async list() {
      calls.push("list");
      return [...functions.values()].sort((a, b) => a.id.localeCompare(b.id));
    },
    async get(id) {
      calls.push(`get ${id}`);
      return known(id);
    },
    async remove(id) {
      calls.push(`remove ${id}`);
      known(id);
      functions.delete(id);
    },
    logs(id, logsOptions: LogsOptions, signal) {
      calls.push(`logs ${id}`);
      return logLines(options.logLines ?? [], logsOptions, signal);
    },
    async health(): Promise<HealthCheck[]> {
      return [{ name: "fake", ok: true, message: "nothing behind it" }];
    },
    async close() {},
  };
  if (capabilities.dryRun) {
    platform.render = async (spec): Promise<RenderedObject> => {
      calls.push(`render ${spec.id}`);
      return { kind: "fake.v1 Function", object: { name: spec.id, options: { ...spec.options } } };
    };
  }
  if (capabilities.traffic) {
    platform.setTraffic = async (id: string, traffic: TrafficTarget[]) => {
      calls.push(`setTraffic ${id}`);
      const fn = { ...known(id), traffic };
      functions.set(id, fn);
      return fn;
    };
  }
  return platform;
}

/** A ready function as the fake describes it. */
export function fakeFunction(id: string, platform: PlatformName = "local"): FunctionInfo {
  const now = new Date();
  return { id, image: "", ready: true, state: "running", platform, endpoint: `fake://${id}`, createdAt: now, updatedAt: now, revision: "r1", pythonVersion: "3.11" };
}

/** A deploy that fails with `error` after emitting `lines` as build logs. */
export function failingDeploy(error: unknown, lines: string[]): FakePlatformOptions["deploy"] {
  return async (_spec, emit) => {
    emit({ type: "phase", phase: "building", time: new Date() });
    for (const line of lines) emit({ type: "log", phase: "building", source: "fake", line, time: new Date() });
    throw error;
  };
}

async function* logLines(lines: LogLine[], options: LogsOptions, signal: AbortSignal): AsyncIterable<LogLine> {
  yield* options.tail > 0 ? lines.slice(-options.tail) : lines;
  if (!options.follow || signal.aborted) return;
  await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
}

/** A FaasError a platform would throw, for scripting failures. */
export function platformError(message: string): FaasError {
  return new FaasError("failed_precondition", message, { reason: "DEPLOY_FAILED" });
}
