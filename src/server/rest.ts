import type { ServerResponse } from "node:http";
import type { ConnectNodeAdapterOptions } from "@connectrpc/connect-node";
import { fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import type { Logger } from "pino";
import { CapabilitiesResponseSchema, DeployOptionsSchema, TrafficTargetSchema } from "../../gen/faas/v1/agent_pb.ts";
import { FaasError, invalidArgument } from "../domain/errors.ts";
import { checkPayload, checkUtf8 } from "../domain/payload.ts";
import type { DeployOptions, FunctionInfo, TrafficTarget } from "../domain/types.ts";
import { fromOptionsMessage, fromTrafficMessage, toCapabilitiesResponse } from "../service/messages.ts";
import type { AgentCore, DeployProgress } from "../service/core.ts";
import type { AgentMetrics } from "../metrics/agent-metrics.ts";
import { metricsRoute } from "./metrics-route.ts";
import type { RequestValidation } from "../service/validation.ts";
import { unauthenticated, type TokenAuth } from "./auth.ts";
import { asFaasError, httpStatusOf } from "./errors.ts";

type NodeHandler = NonNullable<ConnectNodeAdapterOptions["fallback"]>;
type Request = Parameters<NodeHandler>[0];
type Response = Parameters<NodeHandler>[1];

export interface RestOptions {
  core: AgentCore;
  /** Served at GET /metrics in the Prometheus text format; no such route when absent. */
  metrics?: AgentMetrics;
  auth: TokenAuth;
  /** Largest body accepted; larger ones get 413. */
  maxBodyBytes: number;
  logger: Logger;
  /** The contract's request rules (proto annotations), checked before the core is called. */
  validation?: RequestValidation;
  /** Serves anything that is not a REST route (e.g. static files); 404 when absent. */
  fallback?: (req: Request, res: Response) => void;
}

const JSON_HEADERS = { "content-type": "application/json" };

/**
 * The Flask prototype's REST routes, kept as its README documents them: GET /health, POST /deploy,
 * POST /invoke, GET /functions, POST /delete. They call the same AgentCore as the RPCs.
 * Errors are `{"error": "...", "reason": "...", ...}` with 400, 401, 404, 413 or 500.
 */
export function createRestHandler(options: RestOptions): (req: Request, res: Response) => void {
  const { core, auth, logger } = options;

  const routes: Record<string, Record<string, (req: Request, res: Response, signal: AbortSignal) => Promise<void>>> = {
    "/health": {
      GET: async (_req, res, signal) => {
        const report = await core.health(signal);
        send(res, 200, report);
      },
    },
    ...(options.metrics ? { "/metrics": { GET: metricsRoute(options.metrics) } } : {}),
    "/capabilities": {
      GET: async (_req, res) => {
        const caps = toCapabilitiesResponse(core.platformName, core.capabilities);
        send(res, 200, toJson(CapabilitiesResponseSchema, caps, { useProtoFieldName: true, alwaysEmitImplicit: true }));
      },
    },
    "/functions": {
      GET: async (_req, res, signal) => {
        const functions = await core.list(signal);
        send(res, 200, { functions: functions.map(toRestFunction) });
      },
    },
    "/invoke": {
      POST: async (req, res, signal) => {
        const body = await readJsonObject(req, options.maxBodyBytes);
        const id = requiredString(body, "id");
        options.validation?.invokeId(id);
        checkPayload(body.payload);
        const payload = body.payload === undefined ? "{}" : JSON.stringify(body.payload);
        const out = await core.invoke(id, payload, signal);
        // The result text was checked to be exactly one JSON value (core.invoke), so splicing it in
        // cannot add fields; it saves serialising the result a second time.
        const json = `{"result":${out.resultJson},"status":"success","execution_time":${out.executionTime},"platform":"${out.platform}","cold_start":${out.coldStart}}`;
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(json) });
        res.end(json);
      },
    },
    "/deploy": {
      POST: async (req, res, signal) => {
        const body = await readJsonObject(req, options.maxBodyBytes);
        const raw = {
          id: optionalString(body, "id"),
          handler: requiredString(body, "handler"),
          requirements: optionalString(body, "requirements"),
          params: optionalStringMap(body, "params"),
          env: optionalStringMap(body, "env"),
          options: optionalOptions(body),
          dryRun: optionalBoolean(body, "dry_run") ?? optionalBoolean(body, "dryRun"),
        };
        options.validation?.deploy(raw);
        const progress = core.deploy(raw, signal);
        if (/application\/x-ndjson/.test(req.headers.accept ?? "")) await streamDeploy(res, progress, logger);
        else await awaitDeploy(res, progress);
      },
    },
    "/traffic": {
      POST: async (req, res, signal) => {
        const body = await readJsonObject(req, options.maxBodyBytes);
        const id = requiredString(body, "id");
        options.validation?.invokeId(id);
        const fn = await core.setTraffic(id, requiredTraffic(body), signal);
        send(res, 200, { status: "success", function: toRestFunction(fn) });
      },
    },
    "/delete": {
      POST: async (req, res, signal) => {
        const body = await readJsonObject(req, options.maxBodyBytes);
        const id = requiredString(body, "id");
        options.validation?.deleteId(id);
        const out = await core.remove(id, signal);
        send(res, 200, { status: out.status, platform: out.platform, function_id: out.functionId });
      },
    },
  };

  return (req, res) => {
    const path = (req.url ?? "/").split("?", 1)[0];
    const route = routes[path];
    if (!route) {
      if (options.fallback) return options.fallback(req, res);
      return send(res, 404, { error: `no route ${path}` });
    }
    const handler = route[req.method ?? "GET"];
    if (!handler) {
      res.setHeader("allow", Object.keys(route).join(", "));
      return send(res, 405, { error: `method ${req.method} not allowed on ${path}` });
    }
    if (path !== "/health" && !auth.check(req.headers.authorization)) return sendError(res, unauthenticated(), logger);
    const controller = new AbortController();
    // Aborts work for a client that went away; a finished response needs no abort (and no DOMException).
    res.on("close", () => {
      if (!res.writableFinished) controller.abort();
    });
    handler(req, res, controller.signal).catch((error: unknown) => sendError(res, error, logger));
  };
}

async function awaitDeploy(res: Response, progress: AsyncIterable<DeployProgress>): Promise<void> {
  const logs: string[] = [];
  try {
    for await (const event of progress) {
      if (event.type === "log") logs.push(event.line);
      if (event.type === "function") return send(res, 200, toRestDeployed(event.function));
      if (event.type === "dry_run") return send(res, 200, { status: "dry_run", kind: event.rendered.kind, object: event.rendered.object, differences: event.rendered.differences ?? [] });
    }
  } catch (error) {
    const faas = asFaasError(error);
    // The seed's {"error": ...} plus the build log, so that a failed deploy explains itself.
    return send(res, httpStatusOf(faas), { ...errorBody(faas), logs: logs.slice(-50) });
  }
}

/** Deploy events as JSON lines, as they happen; the last line is the function or the error. */
async function streamDeploy(res: Response, progress: AsyncIterable<DeployProgress>, logger: Logger): Promise<void> {
  const iterator = progress[Symbol.asyncIterator]();
  let first: IteratorResult<DeployProgress>;
  try {
    first = await iterator.next(); // an invalid request fails here, before any status is sent
  } catch (error) {
    return sendError(res, error, logger);
  }
  res.writeHead(200, { "content-type": "application/x-ndjson", "cache-control": "no-store" });
  const line = (value: unknown) => (res as ServerResponse).write(JSON.stringify(value) + "\n");
  try {
    for (let step = first; !step.done; step = await iterator.next()) {
      const event = step.value;
      const time = event.time.toISOString();
      switch (event.type) {
        case "phase":
          line({ type: "phase", phase: event.phase, time });
          break;
        case "log":
          line({ type: "log", phase: event.phase, source: event.source, line: event.line, time });
          break;
        case "function":
          line({ type: "function", time, ...toRestDeployed(event.function) });
          break;
        case "dry_run":
          line({ type: "dry_run", time, kind: event.rendered.kind, object: event.rendered.object, differences: event.rendered.differences ?? [] });
          break;
      }
    }
  } catch (error) {
    const faas = asFaasError(error);
    line({ type: "error", status: httpStatusOf(faas), ...errorBody(faas) });
  }
  res.end();
}

function toRestDeployed(fn: FunctionInfo) {
  return { id: fn.id, image: fn.image, status: "deployed", platform: fn.platform, endpoint: fn.endpoint, revision: fn.revision };
}

function toRestFunction(fn: FunctionInfo) {
  return {
    id: fn.id,
    image: fn.image,
    ready: fn.ready,
    state: fn.state,
    platform: fn.platform,
    endpoint: fn.endpoint,
    revision: fn.revision,
    python_version: fn.pythonVersion,
    created_at: fn.createdAt.toISOString(),
    updated_at: fn.updatedAt.toISOString(),
    ...(fn.message ? { message: fn.message } : {}),
    ...(fn.revisions?.length
      ? {
          revisions: fn.revisions.map((r) => ({
            name: r.name,
            content_hash: r.contentHash,
            image: r.image,
            ready: r.ready,
            created_at: r.createdAt.toISOString(),
          })),
        }
      : {}),
    ...(fn.traffic?.length
      ? { traffic: fn.traffic.map((t) => ({ revision: t.revision, latest: t.latest, percent: t.percent, tag: t.tag, ...(t.url ? { url: t.url } : {}) })) }
      : {}),
  };
}

function errorBody(error: FaasError): Record<string, unknown> {
  return { error: error.message, reason: error.reason, ...error.metadata };
}

function sendError(res: Response, error: unknown, logger: Logger): void {
  const faas = asFaasError(error);
  if (faas.kind === "internal") logger.error({ err: faas.cause ?? error }, "internal error");
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // An oversized body is not read: close the connection rather than drain megabytes.
  if (faas.kind === "resource_exhausted" && "shouldKeepAlive" in res) res.setHeader("connection", "close");
  send(res, httpStatusOf(faas), errorBody(faas));
}

function send(res: Response, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const json = JSON.stringify(body);
  res.writeHead(status, { ...JSON_HEADERS, "content-length": Buffer.byteLength(json) });
  res.end(json);
}

/** Reads the body (at most `limit` bytes) and parses it as a JSON object. */
async function readJsonObject(req: Request, limit: number): Promise<Record<string, unknown>> {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge(limit);
    chunks.push(chunk);
  }
  const bytes = Buffer.concat(chunks);
  checkUtf8(bytes);
  const text = bytes.toString("utf8");
  if (text.trim() === "") throw invalidArgument("body", "request body is empty: expected a JSON object");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw invalidArgument("body", `request body is not valid JSON: ${(error as Error).message}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw invalidArgument("body", "request body must be a JSON object");
  }
  return value as Record<string, unknown>;
}

function tooLarge(limit: number): FaasError {
  return new FaasError("resource_exhausted", `request body is larger than the limit of ${limit} bytes`, {
    reason: "REQUEST_TOO_LARGE",
    metadata: { limit: String(limit) },
  });
}

function requiredString(body: Record<string, unknown>, field: string): string {
  const value = body[field];
  if (value === undefined || value === null || value === "") throw invalidArgument(field, `${field} is required`);
  if (typeof value !== "string") throw invalidArgument(field, `${field} must be a string`);
  return value;
}

function optionalString(body: Record<string, unknown>, field: string): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw invalidArgument(field, `${field} must be a string`);
  return value;
}

function optionalStringMap(body: Record<string, unknown>, field: string): Record<string, string> | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "object" || Array.isArray(value)) throw invalidArgument(field, `${field} must be an object of strings`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    // Assigning it would set the prototype and drop the entry without a word.
    if (k === "__proto__") throw invalidArgument(`${field}.${k}`, `${field} must not have a key named __proto__`);
    if (typeof v !== "string") throw invalidArgument(`${field}.${k}`, `${field}.${k} must be a string`);
    out[k] = v;
  }
  return out;
}

function optionalBoolean(body: Record<string, unknown>, field: string): boolean | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "boolean") throw invalidArgument(field, `${field} must be true or false`);
  return value;
}

/** `options` in the proto's JSON form (snake_case or camelCase names), as the domain's options. */
function optionalOptions(body: Record<string, unknown>): DeployOptions | undefined {
  const value = body.options;
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "object" || Array.isArray(value)) throw invalidArgument("options", "options must be an object");
  try {
    return fromOptionsMessage(fromJson(DeployOptionsSchema, value as JsonValue));
  } catch (error) {
    throw invalidArgument("options", `options is invalid: ${(error as Error).message}`);
  }
}

/** `traffic`: a non-empty array of {revision | latest, percent, tag}. */
function requiredTraffic(body: Record<string, unknown>): TrafficTarget[] {
  const value = body.traffic;
  if (!Array.isArray(value) || value.length === 0) throw invalidArgument("traffic", "traffic is required: an array of {revision or latest, percent, tag}");
  return value.map((item, i) => {
    try {
      return fromTrafficMessage(fromJson(TrafficTargetSchema, item as JsonValue));
    } catch (error) {
      throw invalidArgument(`traffic[${i}]`, `traffic[${i}] is invalid: ${(error as Error).message}`);
    }
  });
}
