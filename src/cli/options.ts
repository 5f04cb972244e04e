import { CliError } from "./format.ts";

/** The deploy flags for platform options (`faas deploy --min-scale 1 ...`), as parsed by parseArgs. */
export interface OptionFlags {
  "min-scale"?: string;
  "max-scale"?: string;
  target?: string;
  "scale-to-zero-retention"?: string;
  concurrency?: string;
  timeout?: string;
  cpu?: string;
  memory?: string;
  gpu?: string;
  workers?: string;
  traffic?: string[];
}

/** A traffic share in the request's (proto) shape. */
export interface TrafficShare {
  revision: string;
  latest: boolean;
  percent: number;
  tag: string;
}

/**
 * DeployOptions (proto shape) from the flags; undefined when none is given. `--cpu` and `--memory`
 * set both request and limit; `--traffic` takes REV=PCT (see trafficShares).
 */
export function deployOptions(flags: OptionFlags): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  const whole = (flag: keyof OptionFlags, field: string) => {
    const raw = flags[flag] as string | undefined;
    if (raw === undefined) return;
    if (!/^\d+$/.test(raw)) throw new CliError(`--${flag} takes a whole number, got "${raw}"`, 2);
    out[field] = Number(raw);
  };
  whole("min-scale", "minScale");
  whole("max-scale", "maxScale");
  whole("concurrency", "containerConcurrency");
  whole("timeout", "timeoutSeconds");
  whole("workers", "workers");
  if (flags.target !== undefined) {
    const n = Number(flags.target);
    if (!Number.isFinite(n) || flags.target.trim() === "") throw new CliError(`--target takes a number, got "${flags.target}"`, 2);
    out.target = n;
  }
  if (flags["scale-to-zero-retention"] !== undefined) out.scaleToZeroRetention = flags["scale-to-zero-retention"];
  const resources: Record<string, unknown> = {};
  if (flags.cpu !== undefined) Object.assign(resources, { cpuRequest: flags.cpu, cpuLimit: flags.cpu });
  if (flags.memory !== undefined) Object.assign(resources, { memoryRequest: flags.memory, memoryLimit: flags.memory });
  if (flags.gpu !== undefined) {
    if (!/^\d+$/.test(flags.gpu)) throw new CliError(`--gpu takes a whole number, got "${flags.gpu}"`, 2);
    resources.gpu = Number(flags.gpu);
  }
  if (Object.keys(resources).length > 0) out.resources = resources;
  if (flags.traffic?.length) out.traffic = trafficShares(flags.traffic, "--traffic");
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * Traffic shares from `REV=PCT` items, optionally `REV=PCT:TAG`; REV `latest` means the latest
 * ready revision. The agent checks that the shares add up to 100.
 */
export function trafficShares(items: string[], what: string): TrafficShare[] {
  return items.map((item) => {
    const m = /^([a-z0-9][-a-z0-9]*)=(\d{1,3})(?::([a-z][-a-z0-9]*))?$/.exec(item);
    if (!m) throw new CliError(`${what} takes REVISION=PERCENT or REVISION=PERCENT:TAG (REVISION "latest" = the latest revision), got "${item}"`, 2);
    const latest = m[1] === "latest";
    return { revision: latest ? "" : m[1]!, latest, percent: Number(m[2]), tag: m[3] ?? "" };
  });
}
