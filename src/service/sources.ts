import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { invalidArgument } from "../domain/errors.ts";
import { validateId } from "../domain/spec.ts";
import type { DeployParams, DeploySpec } from "../domain/types.ts";

/** What a successful deploy was made of, as the agent keeps it (env values included, never returned). */
export interface SourceRecord {
  handler: string;
  requirements: string;
  params: DeployParams;
  env: Record<string, string>;
}

/** A source as clients see it: env names, never values. */
export interface FunctionSource {
  handler: string;
  requirements: string;
  params: Record<string, string>;
  /** Sorted. */
  envNames: string[];
}

/**
 * The source of each function's current deploy, one file per function in `<root>/<id>.json`
 * (mode 0600: it holds env values), written atomically (temporary file, then rename). Ids are
 * validated DNS labels before they get here, so they are safe as file names. The core saves a
 * deploy once it succeeded and removes the record with the function; every platform the same.
 */
export class SourceStore {
  private ready: Promise<unknown> | undefined;

  constructor(readonly root: string) {}

  /** Records the source of `spec`, the function's new current deploy. */
  async save(spec: DeploySpec): Promise<void> {
    this.ready ??= mkdir(this.root, { recursive: true, mode: 0o700 });
    await this.ready;
    const record: SourceRecord = { handler: spec.handler, requirements: spec.requirements, params: spec.params, env: spec.env };
    const path = this.path(spec.id);
    const tmp = `${path}.tmp-${randomBytes(4).toString("hex")}`;
    await writeFile(tmp, JSON.stringify(record), { mode: 0o600 });
    await rename(tmp, path);
  }

  /** The record of a function, or undefined when there is none (or it cannot be read). */
  async load(id: string): Promise<SourceRecord | undefined> {
    try {
      return JSON.parse(await readFile(this.path(id), "utf8")) as SourceRecord;
    } catch {
      return undefined;
    }
  }

  /** The source of a function without env values, or undefined when there is no record. */
  async describe(id: string): Promise<FunctionSource | undefined> {
    const record = await this.load(id);
    if (!record) return undefined;
    return {
      handler: record.handler,
      requirements: record.requirements,
      params: { ...record.params } as Record<string, string>,
      envNames: Object.keys(record.env).sort(),
    };
  }

  /** Forgets a function. */
  async remove(id: string): Promise<void> {
    await rm(this.path(id), { force: true });
  }

  /**
   * `env` with the names in `keep` added at the values the current deploy of `id` has: each must
   * be set there and not also in `env` (invalid_argument, field keep_env, otherwise).
   */
  async keepEnv(id: string | undefined, env: Record<string, string> | undefined, keep: readonly string[]): Promise<Record<string, string> | undefined> {
    if (keep.length === 0) return env;
    if (!id) throw invalidArgument("keep_env", "keep_env needs the id of the function whose environment it keeps");
    const record = await this.load(validateId(id));
    if (!record) throw invalidArgument("keep_env", `keep_env: this agent has no record of the environment of function "${id}"; send the values in env`);
    const out = { ...env };
    for (const name of keep) {
      if (Object.hasOwn(out, name)) throw invalidArgument("keep_env", `keep_env: ${name} is also set in env; keep it or set it, not both`);
      if (!Object.hasOwn(record.env, name)) throw invalidArgument("keep_env", `keep_env: function "${id}" has no environment variable ${name}`);
      out[name] = record.env[name];
    }
    return out;
  }

  private path(id: string): string {
    return join(this.root, `${id}.json`);
  }
}
