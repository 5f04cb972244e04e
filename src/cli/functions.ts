// The commands about deployed functions and the agent: invoke, list, get, delete, logs, traffic, health.
import { fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  DeleteResponseSchema,
  FunctionSchema,
  HealthResponseSchema,
  InvokeResponseSchema,
  ListResponseSchema,
  LogsResponseSchema,
  type Function as FunctionMessage,
} from "../../gen/faas/v1/agent_pb.ts";
import { command, type CommandContext } from "./command.ts";
import { readInput } from "./deploy.ts";
import { agoTime, CliError, EXIT_USAGE, isoTime, prettyJson, table, type Io } from "./format.ts";
import { trafficShares } from "./options.ts";
import { printStream } from "./stream.ts";
import { acceptAsync } from "./invocations.ts";

/** `faas invoke ID`: the payload from --data (JSON or @file), else stdin when it is not a terminal. */
export const invokeCommand = command({
  usage: "ID [--data JSON | --data @FILE] [--stream | --async [--callback URL] [--idempotency-key KEY] [--max-attempts N]]",
  summary: "call a function; without --data the payload is read from stdin when it is not a terminal; -v prints time and cold start",
  args: { min: 1, max: 1 },
  about: "function",
  options: {
    data: { type: "string", short: "d", help: "--data JSON|@FILE" },
    stream: { type: "boolean", help: "print each value a generator handler yields as it comes (a JSON line each)" },
    async: { type: "boolean", help: "queue the call and print its invocation id at once (see faas invocations)" },
    callback: { type: "string", help: "--callback URL (with --async: POST the outcome there, signed)" },
    "idempotency-key": { type: "string", help: "--idempotency-key KEY (with --async)" },
    "max-attempts": { type: "string", help: "--max-attempts N (with --async; default 3)" },
  },
  async run(ctx, [id], values) {
    const data = values.data;
    const text = data === undefined ? await readStdin(ctx.io) : data.startsWith("@") ? await readInput(ctx.cwd, data.slice(1), "data file") : data;
    let payload: JsonValue | undefined;
    if (text !== undefined && text.trim() !== "") {
      try {
        payload = JSON.parse(text) as JsonValue;
      } catch (error) {
        throw new CliError(`the payload is not valid JSON: ${(error as Error).message}`, EXIT_USAGE);
      }
    }
    const value = payload === undefined ? undefined : fromJson(ValueSchema, payload);
    if (values.stream && values.async) throw new CliError("--stream and --async do not go together", EXIT_USAGE);
    if (!values.async && (values.callback ?? values["idempotency-key"] ?? values["max-attempts"]) !== undefined) throw new CliError("--callback, --idempotency-key and --max-attempts need --async", EXIT_USAGE);
    if (values.async) return acceptAsync(ctx, id, value, { callbackUrl: values.callback, idempotencyKey: values["idempotency-key"], maxAttempts: values["max-attempts"] });
    if (values.stream) return printStream(ctx, id, value);
    const res = await ctx.client.invoke({ id, payload: value }, { signal: ctx.signal });
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
  },
});

/** `faas list`: a table with relative times, or the ListResponse as JSON (exact times) with `-o json`. */
export const listCommand = command({
  usage: "",
  summary: "list functions (UPDATED as 3m ago; -o json: exact times)",
  args: { min: 0, max: 0 },
  options: {},
  async run(ctx) {
    const res = await ctx.client.list({}, { signal: ctx.signal });
    if (ctx.format === "json") {
      ctx.io.stdout.write(prettyJson(toJson(ListResponseSchema, res, { alwaysEmitImplicit: true })));
    } else if (res.functions.length === 0) {
      ctx.io.stdout.write("no functions\n");
    } else {
      const now = new Date();
      const rows = res.functions.map((f) => [f.id, f.state, f.ready ? "yes" : "no", f.platform, f.pythonVersion, agoTime(f.updatedAt, now)]);
      ctx.io.stdout.write(table(["ID", "STATE", "READY", "PLATFORM", "PYTHON", "UPDATED"], rows));
    }
    return 0;
  },
});

/** `faas get ID`: one function's fields. */
export const getCommand = command({
  usage: "ID",
  summary: "describe a function",
  args: { min: 1, max: 1 },
  about: "function",
  options: {},
  async run(ctx, [id]) {
    const { function: fn } = await ctx.client.get({ id }, { signal: ctx.signal });
    if (!fn) throw new CliError("the agent returned no function");
    if (ctx.format === "json") {
      ctx.io.stdout.write(prettyJson(functionJson(fn)));
      return 0;
    }
    const now = new Date();
    const when = (t: FunctionMessage["createdAt"]) => (t ? `${isoTime(t)} (${agoTime(t, now)})` : "-");
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
      ["created", when(fn.createdAt)],
      ["updated", when(fn.updatedAt)],
    ];
    if (fn.message) fields.push(["message", fn.message]);
    ctx.io.stdout.write(fields.map(([k, v]) => `${`${k}:`.padEnd(10)}${v}\n`).join(""));
    return 0;
  },
});

/** `faas delete ID`. */
export const deleteCommand = command({
  usage: "ID",
  summary: "delete a function",
  args: { min: 1, max: 1 },
  about: "function",
  options: {},
  async run(ctx, [id]) {
    const res = await ctx.client.delete({ id }, { signal: ctx.signal });
    if (ctx.format === "json") ctx.io.stdout.write(prettyJson(toJson(DeleteResponseSchema, res)));
    else ctx.io.stdout.write(`deleted ${res.functionId} (${res.platform})\n`);
    return 0;
  },
});

/**
 * `faas logs ID [-f] [--tail N]`: `TIME STREAM LINE` per line (one JSON object per line with
 * `-o json`); with -f it follows until interrupted, which exits 0.
 */
export const logsCommand = command({
  usage: "ID [-f] [--tail N]",
  summary: "print a function's output; -f follows it",
  args: { min: 1, max: 1 },
  about: "function",
  options: { follow: { type: "boolean", short: "f", help: "-f, --follow" }, tail: { type: "string", help: "--tail N" } },
  async run(ctx, [id], values) {
    let tail = 0;
    if (values.tail !== undefined) {
      if (!/^\d+$/.test(values.tail)) throw new CliError(`--tail takes a number of lines, got "${values.tail}"`, EXIT_USAGE);
      tail = Number(values.tail);
    }
    try {
      for await (const line of ctx.client.logs({ id, follow: values.follow ?? false, tail }, { signal: ctx.signal })) {
        if (ctx.format === "json") ctx.io.stdout.write(`${JSON.stringify(toJson(LogsResponseSchema, line))}\n`);
        else ctx.io.stdout.write(`${isoTime(line.time)} ${line.stream.padEnd(6)} ${line.line}\n`);
      }
    } catch (error) {
      if (ctx.signal.aborted && ConnectError.from(error).code === Code.Canceled) return 0;
      throw error;
    }
    return 0;
  },
});

/** `faas traffic ID REV=PCT...`: sets the split and prints the function's traffic. */
export const trafficCommand = command({
  usage: "ID REV=PCT[:TAG]...",
  summary: 'split traffic between revisions (REV "latest" = the latest one)',
  args: { min: 2, max: Infinity },
  about: "function",
  options: {},
  async run(ctx, [id, ...items]) {
    const shares = trafficShares(items, "traffic");
    const { function: fn } = await ctx.client.setTraffic({ id, traffic: shares }, { signal: ctx.signal });
    if (!fn) throw new CliError("the agent returned no function");
    if (ctx.format === "json") {
      ctx.io.stdout.write(prettyJson(functionJson(fn)));
    } else {
      const rows = fn.traffic.map((t) => [t.revision, `${t.percent}%`, t.latest ? "yes" : "no", t.tag || "-", t.url || "-"]);
      ctx.io.stdout.write(table(["REVISION", "PERCENT", "LATEST", "TAG", "URL"], rows));
    }
    return 0;
  },
});

/** `faas health`: the agent's status and checks; exits 1 when the agent reports "degraded". */
export const healthCommand = command({
  usage: "",
  summary: "the agent's health (exit code 1 when degraded)",
  args: { min: 0, max: 0 },
  options: {},
  async run(ctx: CommandContext) {
    const res = await ctx.client.health({}, { signal: ctx.signal });
    if (ctx.format === "json") {
      ctx.io.stdout.write(prettyJson(toJson(HealthResponseSchema, res, { alwaysEmitImplicit: true })));
    } else {
      ctx.io.stdout.write(`${res.status} (platform ${res.platform}, workflow ${res.workflow}, version ${res.version})\n`);
      const rows = res.checks.map((c) => [c.ok ? "ok" : "FAIL", c.name, c.message]);
      if (rows.length > 0) ctx.io.stdout.write(table(["OK", "CHECK", "DETAILS"], rows));
    }
    return res.status === "healthy" ? 0 : 1;
  },
});

function functionJson(fn: FunctionMessage) {
  return toJson(FunctionSchema, fn, { alwaysEmitImplicit: true });
}

/** All of stdin, or undefined when stdin is a terminal (nobody is piping a payload). */
async function readStdin(io: Io): Promise<string | undefined> {
  if (io.stdin.isTTY) return undefined;
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString("utf8");
}
