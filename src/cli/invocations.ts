// Async invocations from the CLI: `faas invoke ID --async` (in functions.ts, calling acceptAsync),
// `faas invocations [ID]` and `faas invocations watch ID`.
import { toJson } from "@bufbuild/protobuf";
import type { Value } from "@bufbuild/protobuf/wkt";
import {
  GetInvocationResponseSchema,
  InvocationSchema,
  InvokeAsyncResponseSchema,
  ListInvocationsResponseSchema,
  type Invocation,
} from "../../gen/faas/v1/agent_pb.ts";
import { command, type CommandContext } from "./command.ts";
import { agoTime, CliError, EXIT_USAGE, prettyJson, table } from "./format.ts";

const STATUSES = ["queued", "running", "succeeded", "failed", "cancelled"];

/** `faas invoke ID --async`: prints the invocation id (or, with -o json, the InvokeAsyncResponse). */
export async function acceptAsync(
  ctx: CommandContext,
  id: string,
  payload: Value | undefined,
  extra: { callbackUrl?: string; idempotencyKey?: string; maxAttempts?: string },
): Promise<number> {
  const maxAttempts = extra.maxAttempts === undefined ? 0 : Number(extra.maxAttempts);
  if (!Number.isInteger(maxAttempts) || maxAttempts < 0) throw new CliError(`--max-attempts must be a whole number, not "${extra.maxAttempts}"`, EXIT_USAGE);
  const res = await ctx.client.invokeAsync(
    { id, payload, callbackUrl: extra.callbackUrl ?? "", idempotencyKey: extra.idempotencyKey ?? "", maxAttempts },
    { signal: ctx.signal },
  );
  if (ctx.format === "json") ctx.io.stdout.write(prettyJson(toJson(InvokeAsyncResponseSchema, res, { alwaysEmitImplicit: true })));
  else {
    ctx.io.stdout.write(`${res.invocationId}\n`);
    if (ctx.verbose || res.duplicate) ctx.io.stderr.write(`${res.duplicate ? "already accepted with that idempotency key" : "accepted"}: ${res.status}\n`);
  }
  return 0;
}

/** `faas invocations [ID]`, `faas invocations watch ID`. */
export const invocationsCommand = command({
  usage: "[INVOCATION_ID | watch INVOCATION_ID] [--function ID] [--status STATUS] [--limit N]",
  summary: "list async invocations (newest first), show one, or watch one until it ends",
  details: "watch prints each change as it happens and exits 0 when the invocation succeeded, 1 when it failed or was cancelled.",
  args: { min: 0, max: 2 },
  options: {
    function: { type: "string", short: "f", help: "--function ID" },
    status: { type: "string", help: "--status queued|running|succeeded|failed|cancelled" },
    limit: { type: "string", help: "--limit N (default 20)" },
  },
  async run(ctx, args, values) {
    if (args[0] === "watch") {
      if (args.length !== 2) throw new CliError("usage: faas invocations watch INVOCATION_ID", EXIT_USAGE);
      return watch(ctx, args[1]);
    }
    if (args.length === 2) throw new CliError(`unexpected argument "${args[1]}"`, EXIT_USAGE);
    if (args[0]) return show(ctx, args[0]);
    if (values.status !== undefined && !STATUSES.includes(values.status)) throw new CliError(`--status must be one of ${STATUSES.join(", ")}`, EXIT_USAGE);
    const limit = values.limit === undefined ? 20 : Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new CliError("--limit must be a whole number from 1 to 1000", EXIT_USAGE);
    const res = await ctx.client.listInvocations({ functionId: values.function ?? "", status: values.status ?? "", pageSize: limit }, { signal: ctx.signal });
    if (ctx.format === "json") {
      ctx.io.stdout.write(prettyJson(toJson(ListInvocationsResponseSchema, res, { alwaysEmitImplicit: true })));
      return 0;
    }
    if (res.invocations.length === 0) {
      ctx.io.stdout.write("no invocations\n");
      return 0;
    }
    const now = new Date();
    const rows = res.invocations.map((inv) => [inv.invocationId, inv.functionId, inv.status, `${inv.attempts}/${inv.maxAttempts}`, agoTime(inv.createdAt, now), outcome(inv)]);
    ctx.io.stdout.write(table(["ID", "FUNCTION", "STATUS", "ATTEMPTS", "CREATED", "OUTCOME"], rows));
    return 0;
  },
});

async function show(ctx: CommandContext, invocationId: string): Promise<number> {
  const res = await ctx.client.getInvocation({ invocationId }, { signal: ctx.signal });
  if (ctx.format === "json") ctx.io.stdout.write(prettyJson(toJson(GetInvocationResponseSchema, res, { alwaysEmitImplicit: true })));
  else ctx.io.stdout.write(describe(res.invocation!));
  return 0;
}

async function watch(ctx: CommandContext, invocationId: string): Promise<number> {
  let last: Invocation | undefined;
  for await (const msg of ctx.client.watchInvocation({ invocationId }, { signal: ctx.signal })) {
    last = msg.invocation!;
    if (ctx.format === "json") ctx.io.stdout.write(JSON.stringify(toJson(InvocationSchema, last)) + "\n");
    else ctx.io.stdout.write(`${new Date().toISOString()}  ${last.status}  attempt ${last.attempts}/${last.maxAttempts}${last.error && last.status !== "succeeded" ? `  ${last.error.reason}` : ""}\n`);
  }
  if (!last) return 1;
  if (ctx.format !== "json" && last.status === "succeeded") ctx.io.stdout.write(prettyJson((toJson(InvocationSchema, last) as { result?: unknown }).result ?? null));
  if (ctx.format !== "json" && last.error && last.status !== "succeeded") ctx.io.stderr.write(`${last.error.message}\n`);
  return last.status === "succeeded" ? 0 : 1;
}

function outcome(inv: Invocation): string {
  if (inv.status === "succeeded") return `${(inv.executionTime * 1000).toFixed(1)} ms`;
  return inv.error ? inv.error.reason : "";
}

function describe(inv: Invocation): string {
  const json = toJson(InvocationSchema, inv) as Record<string, unknown>;
  const lines = [
    `id:        ${inv.invocationId}`,
    `function:  ${inv.functionId}`,
    `status:    ${inv.status}`,
    `attempts:  ${inv.attempts}/${inv.maxAttempts}`,
    `created:   ${agoTime(inv.createdAt)}`,
  ];
  if (inv.finishedAt) lines.push(`finished:  ${agoTime(inv.finishedAt)} (${(inv.executionTime * 1000).toFixed(1)} ms)`);
  if (inv.callbackUrl) lines.push(`callback:  ${inv.callbackUrl} (${inv.callbackStatus})`);
  if (inv.error) lines.push(`error:     ${inv.error.reason} (${inv.error.code}): ${inv.error.message}`);
  if (inv.status === "succeeded") lines.push(`result:    ${JSON.stringify(json.result ?? null)}`);
  return lines.join("\n") + "\n";
}
