import type { Logger } from "pino";
import { FaasError } from "../../domain/errors.ts";
import type { DeployEmitter, DeployPhase, DeploySpec, FunctionInfo } from "../../domain/types.ts";
import type { KeyedLock } from "./keyed-lock.ts";

/** The phases a platform goes through, in order; the core emits "validating" before and "ready" after. */
const ORDER: readonly DeployPhase[] = ["validating", "packaging", "building", "deploying", "ready"];

/**
 * A deploy's progress as a platform reports it: phases only forward and never skipped (entering
 * "deploying" from "packaging" emits "building" first), whatever order the platform's own states
 * come in; log lines belong to the phase entered last unless they name another.
 */
export class Phases {
  private index = 0;

  constructor(private readonly emit: DeployEmitter) {}

  /** The phase entered last ("validating" before any). */
  get current(): DeployPhase {
    return ORDER[this.index]!;
  }

  /** Enters `phase`, emitting every phase up to it that was not emitted yet; an earlier phase is ignored. */
  enter(phase: DeployPhase): void {
    const target = ORDER.indexOf(phase);
    while (this.index < target) {
      this.index++;
      this.emit({ type: "phase", phase: ORDER[this.index]!, time: new Date() });
    }
  }

  /** One log line (`source` "agent" unless given) in `phase`, or in the current one. */
  log(line: string, source = "agent", phase: DeployPhase = this.current, time = new Date()): void {
    this.emit({ type: "log", phase, source, line, time });
  }

  /** An emitter for code that reports events itself: its phase events go through `enter`. */
  get emitter(): DeployEmitter {
    return (event) => (event.type === "phase" ? this.enter(event.phase) : this.emit(event));
  }
}

/**
 * What a platform does for a deploy, step by step; `runDeploy` does the rest. `Current` is what
 * the platform runs for the function now, `Rendered` what this deploy would make (with its
 * content hash), `Made` what `apply` (and `waitReady`) leave running.
 */
export interface DeploySteps<Current, Rendered extends { contentHash: string }, Made> {
  /** Reads what runs for the function now; undefined when nothing does. */
  current(phases: Phases): Promise<Current | undefined>;
  /** Whether `current` was deployed by this agent (else the deploy is refused). Default: yes. */
  owned?(current: Current): boolean;
  /** Works out what this deploy makes and its content hash; may build (entering packaging, building). */
  render(phases: Phases): Promise<Rendered>;
  /** When `current` already runs exactly `rendered`, the line saying so: then nothing is applied. */
  unchanged(current: Current, rendered: Rendered): string | undefined;
  /** Makes `rendered` run: writes, builds what `render` did not, starts or applies. */
  apply(rendered: Rendered, current: Current | undefined, phases: Phases): Promise<Made>;
  /** Waits until what `apply` made serves; reports the platform's progress. Default: it already does. */
  waitReady?(made: Made, phases: Phases): Promise<Made>;
  /** The function as the deploy leaves it (what was made, or `current` when nothing was to do). */
  describe(running: { made: Made } | { current: Current }): FunctionInfo | Promise<FunctionInfo>;
}

export interface DeployRun {
  spec: DeploySpec;
  emit: DeployEmitter;
  /** The platform's lock per function id: one deploy (or delete) of a function at a time. */
  locks: KeyedLock;
  logger: Logger;
  /** What the platform calls one function, for messages ("Knative Service", "Nuclio function"). */
  noun: string;
  /** Where, for messages ("namespace default"). */
  where: string;
}

/**
 * The one deploy skeleton of every platform: under the function's lock, read what runs, refuse
 * what this agent did not deploy, render, stop when that content already runs ("nothing to do"),
 * else apply and wait until it serves; phases in order, never skipped (see Phases), the outcome
 * logged once. Throws what the steps throw.
 */
export function runDeploy<Current, Rendered extends { contentHash: string }, Made>(run: DeployRun, steps: DeploySteps<Current, Rendered, Made>): Promise<FunctionInfo> {
  const { spec } = run;
  return run.locks.run(spec.id, async () => {
    const phases = new Phases(run.emit);
    const current = await steps.current(phases);
    if (current !== undefined && steps.owned && !steps.owned(current)) {
      throw new FaasError("already_exists", `a ${run.noun} "${spec.id}" exists in ${run.where} and was not deployed by this agent`, {
        reason: "INVALID_REQUEST",
        metadata: { field: "id" },
      });
    }
    const rendered = await steps.render(phases);
    const nothingToDo = current === undefined ? undefined : steps.unchanged(current, rendered);
    if (current !== undefined && nothingToDo !== undefined) {
      phases.log(nothingToDo);
      phases.enter("deploying");
      return steps.describe({ current });
    }
    phases.enter("packaging");
    let made = await steps.apply(rendered, current, phases);
    if (steps.waitReady) made = await steps.waitReady(made, phases);
    phases.enter("deploying");
    run.logger.info({ function: spec.id, contentHash: rendered.contentHash }, "function deployed");
    return steps.describe({ made });
  });
}
