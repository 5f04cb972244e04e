/**
 * Reading one setting from the environment: each reader trims the value, treats an empty one as
 * unset, and throws ConfigError naming the variable and what was expected.
 */

/** Raised for a configuration the agent cannot start with; main prints its message as one line. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

/** A comma-separated list, each item trimmed, empty items left out. */
export function list(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((v) => v.trim())
    .filter((v) => v.length > 0);
}

/** An http(s) URL (`fallback` when unset), without trailing slashes. */
export function httpUrl(env: NodeJS.ProcessEnv, name: string, fallback: string): string {
  const raw = nonEmpty(env[name]) ?? fallback;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name}=${raw} is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new ConfigError(`${name}=${raw} must be an http(s) URL`);
  return raw.replace(/\/+$/, "");
}

/** An http:// URL, or undefined when unset. */
export function optionalHttpUrl(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = nonEmpty(env[name]);
  if (raw === undefined) return undefined;
  if (!URL.canParse(raw) || new URL(raw).protocol !== "http:") throw new ConfigError(`${name}=${raw} is invalid; expected an http:// URL`);
  return raw;
}

/** The value trimmed, or undefined when it is unset or blank. */
export function nonEmpty(value: string | undefined): string | undefined {
  const v = value?.trim();
  return v ? v : undefined;
}

/** One of `allowed` (case-insensitive), `fallback` when unset. */
export function oneOf<T extends string>(env: NodeJS.ProcessEnv, name: string, allowed: readonly T[], fallback: T): T {
  const raw = nonEmpty(env[name]);
  if (raw === undefined) return fallback;
  const value = raw.toLowerCase() as T;
  if (!allowed.includes(value)) throw new ConfigError(`${name}=${raw} is invalid; expected one of: ${allowed.join(", ")}`);
  return value;
}

/** 1/true/yes/on or 0/false/no/off, `fallback` when unset. */
export function bool(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = nonEmpty(env[name])?.toLowerCase();
  if (raw === undefined) return fallback;
  if (["1", "true", "yes", "on"].includes(raw)) return true;
  if (["0", "false", "no", "off"].includes(raw)) return false;
  throw new ConfigError(`${name}=${env[name]} is invalid; expected true or false`);
}

/** An integer from `min` to `max`, `fallback` when unset. */
export function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = nonEmpty(env[name]);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name}=${raw} is invalid; expected an integer from ${min} to ${max}`);
  }
  return value;
}

/** A duration given in (possibly fractional) seconds, returned in milliseconds. */
export function seconds(env: NodeJS.ProcessEnv, name: string, fallback: number, allowZero = false): number {
  const raw = nonEmpty(env[name]);
  if (raw === undefined) return fallback * 1000;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0 || (value === 0 && !allowZero) || value > 7 * 86400) {
    throw new ConfigError(`${name}=${raw} is invalid; expected a number of seconds${allowZero ? " (0 = never)" : " greater than 0"}`);
  }
  return Math.round(value * 1000);
}
