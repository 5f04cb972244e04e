import { readFile } from "node:fs/promises";
import { fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import {
  DeleteResponseSchema,
  DeployResponseSchema,
  FunctionSchema,
  HealthResponseSchema,
  InvokeResponseSchema,
  LogsResponseSchema,
  type FaasAgent,
  type Function as FunctionMessage,
} from "../../gen/faas/v1/agent_pb.ts";
import { CliError, isoTime, prettyJson, table, type Io, type OutputFormat } from "./format.ts";
import { plainProgress, terminalProgress, type ProgressDisplay } from "./progress.ts";

/** What every command gets: the client, where to write, the output format and a cancel signal. */
export interface CommandContext {
  client: Client<typeof FaasAgent>;
  io: Io;
  format: OutputFormat;
  verbose: boolean;
  /** Aborted on SIGINT: streaming commands stop and exit cleanly. */
  signal: AbortSignal;
}

/** `faas deploy FILE.py`: what the deploy command takes. */
export interface DeployArgs {
  file: string;
  id?: string;
  requirementsFile?: string;
  params: string[];
  env: string[];
  /** DeployOptions in the proto's shape (see options.ts); undefined = none. */
  options?: Record<string, unknown>;
  /** Print the object the agent would apply instead of deploying. */
  dryRun?: boolean;
}

/**
 * Deploys a function, showing the build as it streams: a progress display on a terminal, one
 * timestamped line per event when piped, one JSON object per event with `-o json`. A failed deploy
 * rejects with the agent's error; the build-log lines it streamed were already shown.
 */
export async function deploy(ctx: CommandContext, args: DeployArgs): Promise<number> {
  const handler = await readInput(args.file, "handler file");
  const requirements = args.requirementsFile ? await readInput(args.requirementsFile, "requirements file") : "";
  const request = {
    id: args.id ?? "",
    handler,
    requirements,
    params: keyValues(args.params, "--param"),
    env: keyValues(args.env, "--env"),
    ...(args.options ? { options: args.options } : {}),
    dryRun: args.dryRun ?? false,
  };
  if (args.dryRun) return dryRun(ctx, request);

  const out = ctx.io.stdout;
  const display: ProgressDisplay | undefined =
    ctx.format === "json" ? undefined : out.isTTY ? terminalProgress(out) : plainProgress(out);
  let deployed: FunctionMessage | undefined;
  try {
    for await (const event of ctx.client.deploy(request, { signal: ctx.signal })) {
      if (display) display.event(event);
      else out.write(`${JSON.stringify(toJson(DeployResponseSchema, event))}\n`);
      if (event.event.case === "function") deployed = event.event.value;
    }
  } catch (error) {
    display?.fail();
    // The agent's error message ends with the last log lines; add the CLI's own only if it did not.
    const lines = display?.lastLines() ?? [];
    const message = ConnectError.from(error).rawMessage;
    if (lines.length > 0 && !message.includes(lines[lines.length - 1].replace(/^[^:]*: /, ""))) {
      ctx.io.stderr.write(`last log lines:\n${lines.map((l) => `  ${l}`).join("\n")}\n`);
    }
    throw error;
  }
  display?.done();
  if (!deployed) throw new CliError("the deploy stream ended without the deployed function");
  if (display) out.write(`deployed ${deployed.id} (revision ${deployed.revision.slice(0, 12)}, python ${deployed.pythonVersion}, ${deployed.platform})\n`);
  return 0;
}

/** `faas deploy --dry-run`: the rendered object as JSON on stdout (pretty; the kind goes to stderr in text mode). */
async function dryRun(ctx: CommandContext, request: Parameters<CommandContext["client"]["deploy"]>[0]): Promise<number> {
  for await (const event of ctx.client.deploy(request, { signal: ctx.signal })) {
    if (event.event.case !== "dryRun") continue;
    const rendered = event.event.value;
    if (ctx.format === "text") ctx.io.stderr.write(`# ${rendered.kind} (dry run: nothing was built or applied)\n`);
    for (const difference of rendered.differences) ctx.io.stderr.write(`# the deploy would differ: ${difference}\n`);
    ctx.io.stdout.write(prettyJson(rendered.object ?? {}));
    return 0;
  }
  throw new CliError("the deploy stream ended without the rendered object");
}

/** `faas traffic ID REV=PCT...`: sets the split and prints the function's traffic. */
export async function traffic(ctx: CommandContext, id: string, shares: { revision: string; latest: boolean; percent: number; tag: string }[]): Promise<number> {
  const { function: fn } = await ctx.client.setTraffic({ id, traffic: shares }, { signal: ctx.signal });
  if (!fn) throw new CliError("the agent returned no function");
  if (ctx.format === "json") {
    ctx.io.stdout.write(prettyJson(functionJson(fn)));
  } else {
    const rows = fn.traffic.map((t) => [t.revision, `${t.percent}%`, t.latest ? "yes" : "no", t.tag || "-", t.url || "-"]);
    ctx.io.stdout.write(table(["REVISION", "PERCENT", "LATEST", "TAG", "URL"], rows));
  }
  return 0;
}

/** `faas invoke ID`: the payload from --data (JSON or @file), else stdin when it is not a terminal. */
export async function invoke(ctx: CommandContext, id: string, data: string | undefined): Promise<number> {
  const text = data === undefined ? await readStdin(ctx.io) : data.startsWith("@") ? await readInput(data.slice(1), "data file") : data;
  let payload: JsonValue | undefined;
  if (text !== undefined && text.trim() !== "") {
    try {
      payload = JSON.parse(text) as JsonValue;
    } catch (error) {
      throw new CliError(`the payload is not valid JSON: ${(error as Error).message}`, 2);
    }
  }
  const res = await ctx.client.invoke({ id, payload: payload === undefined ? undefined : fromJson(ValueSchema, payload) }, { signal: ctx.signal });
  if (ctx.format === "json") {
    ctx.io.stdout.write(prettyJson(toJson(InvokeResponseSchema, res, { alwaysEmitImplicit: true })));
  } else {
    ctx.io.stdout.write(prettyJson(res.result ? toJson(ValueSchema, res.result) : null));
    if (ctx.verbose) {
      const ms = (res.executionTime * 1000).toFixed(1);
      ctx.io.stderr.write(`time: ${ms} ms  cold start: ${res.coldStart ? "yes" : "no"}  platform: ${res.platform}\n`);
    }
  }
  return 0;
}

/** `faas list`: a table of functions, or `{"functions": [...]}` with `-o json`. */
export async function list(ctx: CommandContext): Promise<number> {
  const { functions } = await ctx.client.list({}, { signal: ctx.signal });
  if (ctx.format === "json") {
    ctx.io.stdout.write(prettyJson({ functions: functions.map(functionJson) }));
  } else if (functions.length === 0) {
    ctx.io.stdout.write("no functions\n");
  } else {
    const rows = functions.map((f) => [f.id, f.state, f.ready ? "yes" : "no", f.platform, f.pythonVersion, isoTime(f.updatedAt)]);
    ctx.io.stdout.write(table(["ID", "STATE", "READY", "PLATFORM", "PYTHON", "UPDATED"], rows));
  }
  return 0;
}

/** `faas get ID`: one function's fields. */
export async function get(ctx: CommandContext, id: string): Promise<number> {
  const { function: fn } = await ctx.client.get({ id }, { signal: ctx.signal });
  if (!fn) throw new CliError("the agent returned no function");
  if (ctx.format === "json") {
    ctx.io.stdout.write(prettyJson(functionJson(fn)));
  } else {
    const fields: Array<[string, string]> = [
      ["id", fn.id],
      ["status", fn.status],
      ["state", fn.state],
      ["ready", String(fn.ready)],
      ["platform", fn.platform],
      ["python", fn.pythonVersion],
      ["revision", fn.revision],
      ["endpoint", fn.endpoint],
      ["image", fn.image || "-"],
      ["created", isoTime(fn.createdAt)],
      ["updated", isoTime(fn.updatedAt)],
    ];
    ctx.io.stdout.write(fields.map(([k, v]) => `${`${k}:`.padEnd(10)}${v}\n`).join(""));
  }
  return 0;
}

/** `faas delete ID`. */
export async function remove(ctx: CommandContext, id: string): Promise<number> {
  const res = await ctx.client.delete({ id }, { signal: ctx.signal });
  if (ctx.format === "json") ctx.io.stdout.write(prettyJson(toJson(DeleteResponseSchema, res)));
  else ctx.io.stdout.write(`deleted ${res.functionId} (${res.platform})\n`);
  return 0;
}

/**
 * `faas logs ID [-f] [--tail N]`: `TIME STREAM LINE` per line (one JSON object per line with
 * `-o json`); with -f it follows until interrupted, which exits 0.
 */
export async function logs(ctx: CommandContext, id: string, follow: boolean, tail: number): Promise<number> {
  try {
    for await (const line of ctx.client.logs({ id, follow, tail }, { signal: ctx.signal })) {
      if (ctx.format === "json") ctx.io.stdout.write(`${JSON.stringify(toJson(LogsResponseSchema, line))}\n`);
      else ctx.io.stdout.write(`${isoTime(line.time)} ${line.stream.padEnd(6)} ${line.line}\n`);
    }
  } catch (error) {
    if (ctx.signal.aborted && ConnectError.from(error).code === Code.Canceled) return 0;
    throw error;
  }
  return 0;
}

/** `faas health`: the agent's status and checks; exits 1 when the agent reports "degraded". */
export async function health(ctx: CommandContext): Promise<number> {
  const res = await ctx.client.health({}, { signal: ctx.signal });
  if (ctx.format === "json") {
    ctx.io.stdout.write(prettyJson(toJson(HealthResponseSchema, res, { alwaysEmitImplicit: true })));
  } else {
    ctx.io.stdout.write(`${res.status} (platform ${res.platform}, workflow ${res.workflow}, version ${res.version})\n`);
    const rows = res.checks.map((c) => [c.ok ? "ok" : "FAIL", c.name, c.message]);
    if (rows.length > 0) ctx.io.stdout.write(table(["OK", "CHECK", "DETAILS"], rows));
  }
  return res.status === "healthy" ? 0 : 1;
}

function functionJson(fn: FunctionMessage) {
  return toJson(FunctionSchema, fn, { alwaysEmitImplicit: true });
}

/** `K=V` arguments as a map; a malformed one is a usage error. */
function keyValues(items: string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf("=");
    if (eq <= 0) throw new CliError(`${flag} takes KEY=VALUE, got "${item}"`, 2);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

async function readInput(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    throw new CliError(`cannot read the ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, 2);
  }
}

/** All of stdin, or undefined when stdin is a terminal (nobody is piping a payload). */
async function readStdin(io: Io): Promise<string | undefined> {
  if (io.stdin.isTTY) return undefined;
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString("utf8");
}
