import { functionNotFound } from "../../domain/errors.ts";
import type { LogLine, LogsOptions } from "../../domain/types.ts";
import { readLines } from "../kit/lines.ts";
import type { Dashboard } from "./dashboard.ts";
import { dashboardError } from "./dashboard.ts";
import { FaasError } from "../../domain/errors.ts";

/**
 * A function's output through the dashboard: its replicas (`/api/functions/{name}/replicas`), then
 * each replica's pod log (`/logs/{replica}?follow&tailLines`), lines as they come. Several replicas
 * are read one after the other without follow, and side by side with it. A function with no
 * replica (its deploy failed, or it is being deployed) shows `deployLog` instead: the dashboard's
 * deploy log and message, the only output Nuclio keeps for it.
 */
export async function* replicaLogs(dashboard: Dashboard, id: string, options: LogsOptions, signal: AbortSignal, deployLog: LogLine[] = []): AsyncIterable<LogLine> {
  const res = await dashboard.call("GET", `api/functions/${encodeURIComponent(id)}/replicas`, { signal });
  if (res.status === 404) throw functionNotFound(id);
  if (res.status !== 200) throw new FaasError("unavailable", `the Nuclio dashboard could not list the replicas of "${id}": ${dashboardError(res)}`, { reason: "PLATFORM_UNAVAILABLE" });
  const names = (JSON.parse(res.text) as { names?: string[] }).names ?? [];
  if (names.length === 0) {
    yield* options.tail > 0 ? deployLog.slice(-options.tail) : deployLog;
    return;
  }
  const query = (replica: string) =>
    `api/functions/${encodeURIComponent(id)}/logs/${encodeURIComponent(replica)}?follow=${options.follow}${options.tail > 0 ? `&tailLines=${options.tail}` : ""}`;
  if (!options.follow) {
    for (const replica of names) yield* lines(dashboard, query(replica), signal);
    return;
  }
  yield* merge(names.map((replica) => lines(dashboard, query(replica), signal)));
}

async function* lines(dashboard: Dashboard, path: string, signal: AbortSignal): AsyncIterable<LogLine> {
  const { status, body } = await dashboard.stream(path, signal);
  if (status !== 200) return;
  for await (const line of readLines(body, signal)) yield { time: new Date(), stream: "stdout", line };
}

/** Interleaves several streams as their items arrive. */
async function* merge<T>(sources: AsyncIterable<T>[]): AsyncIterable<T> {
  const iterators = sources.map((s) => s[Symbol.asyncIterator]());
  const next = (i: number) => iterators[i]!.next().then((r) => ({ i, r }));
  const pending = new Map(iterators.map((_, i) => [i, next(i)]));
  while (pending.size > 0) {
    const { i, r } = await Promise.race(pending.values());
    if (r.done) {
      pending.delete(i);
      continue;
    }
    pending.set(i, next(i));
    yield r.value;
  }
}
