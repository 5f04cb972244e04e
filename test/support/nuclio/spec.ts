import type { IncomingMessage, ServerResponse } from "node:http";

/**
 * The Nuclio stand-in's spec handling and HTTP helpers: body checks, Nuclio's enrichment defaults
 * and the dashboard's error format (see dashboard.ts for the upstream commit the citations refer to).
 */
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const RUNTIMES = new Set(["python", "python:3.9", "python:3.10", "python:3.11"]);

/** Reads and checks a create/update body the way the dashboard and platform do. */
export async function readConfig(req: IncomingMessage, res: ServerResponse): Promise<Record<string, any> | undefined> {
  let body: Record<string, any>;
  try {
    body = JSON.parse(await readBody(req));
  } catch {
    sendError(res, 400, "Failed to parse JSON body");
    return undefined;
  }
  const name = body?.metadata?.name;
  if (typeof name !== "string" || name.length > 63 || !QUALIFIED_NAME.test(name)) {
    sendError(res, 400, `Function name doesn't conform to k8s naming convention: ${JSON.stringify(name)}`);
    return undefined;
  }
  const spec = body.spec ?? {};
  if (!RUNTIMES.has(String(spec.runtime ?? "python"))) {
    sendError(res, 400, `Runtime not supported: ${spec.runtime}`);
    return undefined;
  }
  const min = spec.minReplicas;
  const max = spec.maxReplicas;
  if (max === 0 || (min !== undefined && max !== undefined && min > max) || (min === 0 && max === undefined)) {
    sendError(res, 400, "Invalid replicas: min must be at most max, max must be positive, and min 0 requires max");
    return undefined;
  }
  return body;
}

/** The invocation fields of a status, kept through a deploy (deployer.go:78-82, kube/platform.go:284-290). */
export function invocationStatus(status: Record<string, any>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of ["internalInvocationUrls", "externalInvocationUrls", "httpPort"]) if (status[k] !== undefined) out[k] = status[k];
  return out;
}

/** The function's HTTP trigger (the one of kind http). */
export function httpTrigger(spec: Record<string, any>): Record<string, any> | undefined {
  return Object.values((spec.triggers ?? {}) as Record<string, any>).find((t) => t?.kind === "http");
}

/** Nuclio's defaults (abstract/platform.go): runtime alias, the default HTTP trigger, replicas copied. */
export function enrich(spec: Record<string, any>): Record<string, any> {
  const out = { ...spec };
  if (!out.runtime || out.runtime === "python") out.runtime = "python:3.9";
  if (!out.triggers || !Object.values(out.triggers).some((t: any) => t?.kind === "http")) {
    if (!out.disableDefaultHTTPTrigger) out.triggers = { ...out.triggers, "default-http": { class: "", kind: "http", name: "default-http", numWorkers: 1 } };
  }
  if (out.minReplicas !== undefined && out.maxReplicas === undefined) out.maxReplicas = out.minReplicas;
  if (out.maxReplicas !== undefined && out.minReplicas === undefined) out.minReplicas = out.maxReplicas;
  out.eventTimeout ??= "";
  return out;
}

export function header(req: IncomingMessage, name: string): string {
  const value = req.headers[name];
  return (Array.isArray(value) ? value[0] : value) ?? "";
}

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return void res.end();
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) }).end(text);
}

export function sendError(res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, { error: message, errorStackTrace: `${message}\n    /nuclio/pkg/dashboard/resource/function.go` });
}

/** A Go duration ("60s", "1m", "500ms") in milliseconds. */
export function goDuration(text: string): number {
  let total = 0;
  const re = /([0-9.]+)(ms|s|m|h)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) total += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "ms"]!;
  return total || 60_000;
}
