import { readFile } from "node:fs/promises";
import { relative, resolve } from "node:path";
import { fromJson, toJson, type JsonObject } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { DeployOptionsSchema, DeployResponseSchema, type Function as FunctionMessage } from "../../gen/faas/v1/agent_pb.ts";
import { command, type CommandContext, type OptionValues } from "./command.ts";
import { CliError, EXIT_USAGE, fileProblem, prettyJson } from "./format.ts";
import { functionOfFile, idFromFile, MANIFEST, readManifest, type Manifest, type ManifestFunction } from "./manifest.ts";
import { deployOptions } from "./options.ts";
import { plainProgress, terminalProgress, type ProgressDisplay } from "./progress.ts";
import { printError } from "./report.ts";

/** The options of `faas deploy` (and `faas dev`, which takes the same overrides). */
export const DEPLOY_OPTIONS = {
  manifest: { type: "string", help: "--manifest FILE" },
  id: { type: "string", help: "--id ID" },
  requirements: { type: "string", help: "--requirements FILE" },
  param: { type: "string", multiple: true, help: "--param K=V" },
  env: { type: "string", multiple: true, help: "--env K=V" },
  "min-scale": { type: "string", help: "--min-scale N" },
  "max-scale": { type: "string", help: "--max-scale N" },
  target: { type: "string", help: "--target N" },
  "scale-to-zero-retention": { type: "string", help: "--scale-to-zero-retention DUR" },
  concurrency: { type: "string", help: "--concurrency N" },
  timeout: { type: "string", help: "--timeout SECONDS" },
  cpu: { type: "string", help: "--cpu Q" },
  memory: { type: "string", help: "--memory Q" },
  gpu: { type: "string", help: "--gpu N" },
  workers: { type: "string", help: "--workers N" },
  traffic: { type: "string", multiple: true, help: "--traffic REV=PCT[:TAG]" },
} as const;

export type DeployFlags = OptionValues<typeof DEPLOY_OPTIONS>;

/** `faas deploy`: every function of faas.yaml, one of them (by id or handler file), or any FILE.py. */
export const deployCommand = command({
  usage: "[FILE.py | ID] [--manifest FILE] [--id ID] [--requirements FILE] [--param K=V]... [--env K=V]... [platform options] [--dry-run]",
  summary: "deploy the functions of faas.yaml, one of them, or FILE.py, streaming the build",
  details: `Without arguments every function in faas.yaml (or --manifest FILE) is deployed. A FILE.py
without --id takes its id from the faas.yaml function with that handler, else from the file name
(my_func.py: my-func). Flags override the manifest's values. A function whose content is already
deployed is reported unchanged. Platform options (knative: all but --workers; nuclio: scale,
--cpu/--memory/--gpu, --workers): --min-scale N --max-scale N --target N --scale-to-zero-retention DUR
--concurrency N --timeout SECONDS --cpu Q --memory Q --gpu N --workers N --traffic REV=PCT[:TAG].
--dry-run prints the object the agent would apply (JSON) and changes nothing.`,
  args: { min: 0, max: 1 },
  options: { ...DEPLOY_OPTIONS, "dry-run": { type: "boolean" } },
  async run(ctx, args, values) {
    const manifest = await readManifest(ctx.cwd, values.manifest);
    const targets = deployTargets(ctx, manifest, args[0], values);
    if (values["dry-run"]) {
      if (targets.length !== 1) throw new CliError("--dry-run takes one function: name it (faas deploy ID --dry-run)", EXIT_USAGE);
      return dryRun(ctx, await deployRequest(ctx.cwd, targets[0]));
    }
    // Read every file first: a missing one is a usage error before anything is deployed.
    const requests = await Promise.all(targets.map((t) => deployRequest(ctx.cwd, t)));
    let failed = 0;
    for (const request of requests) if ((await deployFunction(ctx, request)) === "failed") failed++;
    if (requests.length > 1 && failed > 0) ctx.io.stderr.write(`${failed} of ${requests.length} functions failed to deploy\n`);
    return failed > 0 ? 1 : 0;
  },
});

/** A function to deploy: its id, files and settings (the manifest's, with the flags on top). */
export interface DeployTarget {
  id: string;
  handler: string;
  requirements?: string;
  env: Record<string, string>;
  params: Record<string, string>;
  options?: JsonObject;
}

/**
 * What `faas deploy [ARG]` deploys: every manifest function (no ARG), the manifest function with
 * that id or handler file, or the file alone (id from --id, else from the file name).
 */
export function deployTargets(ctx: CommandContext, manifest: Manifest | undefined, arg: string | undefined, flags: DeployFlags): DeployTarget[] {
  let chosen: ManifestFunction[];
  if (arg === undefined) {
    if (!manifest) throw new CliError(`no ${MANIFEST} in ${ctx.cwd}: run faas init, or name a file (faas deploy FILE.py)`, EXIT_USAGE);
    chosen = flags.id ? manifest.functions.filter((f) => f.id === flags.id) : manifest.functions;
    if (chosen.length === 0) throw new CliError(flags.id ? `${MANIFEST} has no function "${flags.id}"` : `${MANIFEST} lists no functions`, EXIT_USAGE);
    if (flags.id) flags = { ...flags, id: undefined };
  } else {
    const byId = !arg.endsWith(".py") ? manifest?.functions.find((f) => f.id === arg) : undefined;
    const entry = byId ?? functionOfFile(manifest, ctx.cwd, arg);
    const id = flags.id ?? entry?.id ?? idFromFile(arg);
    if (!id) throw new CliError(`cannot make a function id from the file name "${arg}": pass --id ID`, EXIT_USAGE);
    chosen = [entry ? { ...entry, id } : { id, handler: arg, env: {}, params: {} }];
  }
  return chosen.map((fn) => withFlags(ctx, fn, flags));
}

function withFlags(ctx: CommandContext, fn: ManifestFunction, flags: DeployFlags): DeployTarget {
  const target: DeployTarget = {
    id: fn.id,
    handler: relative(ctx.cwd, fn.handler) || fn.handler,
    env: { ...fn.env, ...keyValues(flags.env ?? [], "--env") },
    params: { ...fn.params, ...keyValues(flags.param ?? [], "--param") },
  };
  const requirements = flags.requirements ?? (fn.requirements ? relative(ctx.cwd, fn.requirements) || fn.requirements : undefined);
  if (requirements) target.requirements = requirements;
  const fromFlags = deployOptions(flags) as JsonObject | undefined;
  if (fn.options || fromFlags) {
    const resources = { ...(fn.options?.resources as JsonObject | undefined), ...(fromFlags?.resources as JsonObject | undefined) };
    target.options = { ...fn.options, ...fromFlags, ...(Object.keys(resources).length ? { resources } : {}) };
  }
  return target;
}

/** A DeployRequest as the client takes it. */
export type DeployRequestInit = Parameters<CommandContext["client"]["deploy"]>[0];

/** The DeployRequest of a target, its files read relative to `cwd` (an unreadable file is a usage error). */
export async function deployRequest(cwd: string, target: DeployTarget): Promise<DeployRequestInit> {
  return {
    id: target.id,
    handler: await readInput(cwd, target.handler, "handler file"),
    requirements: target.requirements ? await readInput(cwd, target.requirements, "requirements file") : "",
    params: target.params,
    env: target.env,
    ...(target.options ? { options: fromJson(DeployOptionsSchema, target.options) } : {}),
  };
}

/**
 * Deploys one function, showing the build as it streams: a progress display on a terminal, one
 * timestamped line per event when piped, one JSON object per event with `-o json`. Ends with
 * "deployed ID (...)" or "ID unchanged (...)" when the agent already ran this content; a failure
 * is printed here (the build log it streamed is not repeated) and resolves "failed".
 */
export async function deployFunction(ctx: CommandContext, request: DeployRequestInit): Promise<"deployed" | "unchanged" | "failed"> {
  const id = request.id ?? "";
  const out = ctx.io.stdout;
  const display: ProgressDisplay | undefined = ctx.format === "json" ? undefined : out.isTTY ? terminalProgress(out) : plainProgress(out);
  const printed = new Set<string>(); // with -o json: the log lines the events carried
  let deployed: FunctionMessage | undefined;
  try {
    const before = await current(ctx, id);
    for await (const event of ctx.client.deploy(request, { signal: ctx.signal })) {
      if (display) display.event(event);
      else {
        out.write(`${JSON.stringify(toJson(DeployResponseSchema, event))}\n`);
        if (event.event.case === "log" && printed.size < 20_000) printed.add(event.event.value.line);
      }
      if (event.event.case === "function") deployed = event.event.value;
    }
    display?.done();
    if (!deployed) throw new CliError("the deploy stream ended without the deployed function");
    const unchanged = before !== undefined && before.revision === deployed.revision && sameTime(before, deployed);
    const facts = `revision ${deployed.revision.slice(0, 12)}, python ${deployed.pythonVersion}, ${deployed.platform}`;
    if (display) out.write(unchanged ? `${deployed.id} unchanged (${facts}): nothing to deploy\n` : `deployed ${deployed.id} (${facts})\n`);
    return unchanged ? "unchanged" : "deployed";
  } catch (error) {
    display?.fail();
    if (ctx.signal.aborted) {
      ctx.io.stderr.write(`interrupted: the deploy of ${id || "the function"} was cancelled\n`);
      return "failed";
    }
    printError(ctx.io, error, { format: ctx.format, verbose: ctx.verbose, functionId: id || undefined, agentUrl: ctx.agentUrl, shown: display?.shown() ?? printed });
    return "failed";
  }
}

/** The function as it runs now, or undefined when there is none. */
async function current(ctx: CommandContext, id: string): Promise<FunctionMessage | undefined> {
  if (!id) return undefined;
  try {
    return (await ctx.client.get({ id }, { signal: ctx.signal })).function;
  } catch (error) {
    if (ConnectError.from(error).code === Code.NotFound) return undefined;
    throw error;
  }
}

function sameTime(a: FunctionMessage, b: FunctionMessage): boolean {
  return a.updatedAt?.seconds === b.updatedAt?.seconds && a.updatedAt?.nanos === b.updatedAt?.nanos;
}

/** `faas deploy --dry-run`: the rendered object as JSON on stdout (pretty; the kind goes to stderr in text mode). */
async function dryRun(ctx: CommandContext, request: DeployRequestInit): Promise<number> {
  for await (const event of ctx.client.deploy({ ...request, dryRun: true }, { signal: ctx.signal })) {
    if (event.event.case !== "dryRun") continue;
    const rendered = event.event.value;
    if (ctx.format === "text") ctx.io.stderr.write(`# ${rendered.kind} (dry run: nothing was built or applied)\n`);
    for (const difference of rendered.differences) ctx.io.stderr.write(`# the deploy would differ: ${difference}\n`);
    ctx.io.stdout.write(prettyJson(rendered.object ?? {}));
    return 0;
  }
  throw new CliError("the deploy stream ended without the rendered object");
}

/** `K=V` arguments as a map; a malformed one is a usage error. */
export function keyValues(items: string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf("=");
    if (eq <= 0) throw new CliError(`${flag} takes KEY=VALUE, got "${item}"`, EXIT_USAGE);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

/** A file's text (`path` relative to `cwd`); an unreadable file is a usage error in words ("no such file"). */
export async function readInput(cwd: string, path: string, what: string): Promise<string> {
  try {
    return await readFile(resolve(cwd, path), "utf8");
  } catch (error) {
    throw new CliError(`cannot read the ${what} ${path}: ${fileProblem(error)}`, EXIT_USAGE);
  }
}
