import type { ServerResponse } from "node:http";
import type { ConnectNodeAdapterOptions } from "@connectrpc/connect-node";
import { toJson } from "@bufbuild/protobuf";
import type { Logger } from "pino";
import {
  CapabilitiesResponseSchema,
  DeleteRequestSchema,
  DeployRequestSchema,
  InvokeRequestSchema,
  SetTrafficRequestSchema,
} from "../../gen/faas/v1/agent_pb.ts";
import { payloadJson } from "../domain/payload.ts";
import { fromDeployRequest, fromTrafficMessage, toCapabilitiesResponse } from "../service/messages.ts";
import type { AgentCore } from "../service/core.ts";
import type { DeployProgress } from "../service/results.ts";
import { invocationRoutes } from "../invocations/rest.ts";
import type { InvocationService } from "../invocations/service.ts";
import type { AgentMetrics } from "../metrics/agent-metrics.ts";
import { metricsRoute } from "./metrics-route.ts";
import { requestIdOf } from "./request-id.ts";
import type { RequestValidation } from "../service/validation.ts";
import { asFaasError, httpStatusOf, logFailedRequest } from "./errors.ts";
import { readJsonObject, requestFromJson } from "./rest-body.ts";
import { deployErrorBody, errorBody, restDeployed, restDryRun, restFunction } from "./rest-json.ts";
import { sendStream, streamFormatOf } from "./rest-stream.ts";

type NodeHandler = NonNullable<ConnectNodeAdapterOptions["fallback"]>;
type Request = Parameters<NodeHandler>[0];
type Response = Parameters<NodeHandler>[1];

export interface RestOptions {
  core: AgentCore;
  /** Served at GET /metrics in the Prometheus text format; no such route when absent. */
  metrics?: AgentMetrics;
  /** Largest body accepted; larger ones get 413. */
  maxBodyBytes: number;
  logger: Logger;
  /** The contract's request rules (proto annotations), checked before the core is called, as for the RPCs. */
  validation: RequestValidation;
  /** Async invocations (/async-invoke, /invocations); UNSUPPORTED when absent. */
  invocations?: InvocationService;
  /** Serves anything that is not a REST route (e.g. static files); 404 when absent. */
  fallback?: (req: Request, res: Response) => void;
}

const JSON_HEADERS = { "content-type": "application/json" };

/**
 * The Flask prototype's REST routes, kept as its README documents them: GET /health, POST /deploy,
 * POST /invoke, GET /functions, POST /delete (and /capabilities, /traffic). A body is parsed once
 * into the RPC's request message (rest-body.ts), checked with the same rules and converted to the
 * domain by the same functions as the RPCs, then the same AgentCore is called. Errors are
 * `{"error": "...", "reason": "...", ...}` with 400, 404, 413, 500 or 501. Credentials are the
 * guard's (guard.ts), checked before any route.
 */
export function createRestHandler(options: RestOptions): (req: Request, res: Response) => void {
  const { core, logger, validation } = options;

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
        send(res, 200, { functions: functions.map(restFunction) });
      },
    },
    "/invoke": {
      POST: async (req, res, signal) => {
        // The payload stays the JSON the client sent (a Value message would drop `__proto__` keys).
        const { payload, ...rest } = await readJsonObject(req, options.maxBodyBytes);
        const request = validation.check(InvokeRequestSchema, requestFromJson(InvokeRequestSchema, rest));
        const format = streamFormatOf(req.headers.accept);
        if (format) return sendStream(res as ServerResponse, core.invokeStream(request.id, payloadJson(payload), signal, requestIdOf(req)), format, (e) => sendError(res, e, logger));
        const out = await core.invoke(request.id, payloadJson(payload), signal, requestIdOf(req));
        // Built from the validated result, never from the worker's bytes (issue 14: a result such as
        // {"a":1,"a":2} would reach clients as the worker wrote it, not as the agent read it).
        send(res, 200, { result: out.result, status: "success", execution_time: out.executionTime, platform: out.platform, cold_start: out.coldStart });
      },
    },
    "/deploy": {
      POST: async (req, res, signal) => {
        const body = await readJsonObject(req, options.maxBodyBytes);
        const request = validation.check(DeployRequestSchema, requestFromJson(DeployRequestSchema, body));
        const progress = core.deploy(fromDeployRequest(request), signal, requestIdOf(req));
        if (/application\/x-ndjson/.test(req.headers.accept ?? "")) await streamDeploy(res, progress, logger);
        else await awaitDeploy(res, progress, logger);
      },
    },
    "/traffic": {
      POST: async (req, res, signal) => {
        const body = await readJsonObject(req, options.maxBodyBytes);
        const request = validation.check(SetTrafficRequestSchema, requestFromJson(SetTrafficRequestSchema, body));
        const fn = await core.setTraffic(request.id, request.traffic.map(fromTrafficMessage), signal);
        send(res, 200, { status: "success", function: restFunction(fn) });
      },
    },
    "/delete": {
      POST: async (req, res, signal) => {
        const body = await readJsonObject(req, options.maxBodyBytes);
        const request = validation.check(DeleteRequestSchema, requestFromJson(DeleteRequestSchema, body));
        const out = await core.remove(request.id, signal);
        send(res, 200, { status: out.status, platform: out.platform, function_id: out.functionId });
      },
    },
  };

  const async = invocationRoutes({ service: options.invocations, platform: core.platformName, validation, maxBodyBytes: options.maxBodyBytes, send });
  Object.assign(routes, async.exact);

  return (req, res) => {
    const path = (req.url ?? "/").split("?", 1)[0];
    const route = routes[path] ?? async.match(path);
    if (!route) {
      if (options.fallback) return options.fallback(req, res);
      return send(res, 404, { error: `no route ${path}` });
    }
    const handler = route[req.method ?? "GET"];
    if (!handler) {
      res.setHeader("allow", Object.keys(route).join(", "));
      return send(res, 405, { error: `method ${req.method} not allowed on ${path}` });
    }
    const controller = new AbortController();
    // Aborts work for a client that went away; a finished response needs no abort (and no DOMException).
    res.on("close", () => {
      if (!res.writableFinished) controller.abort();
    });
    handler(req, res, controller.signal).catch((error: unknown) => sendError(res, error, logger));
  };
}

async function awaitDeploy(res: Response, progress: AsyncIterable<DeployProgress>, logger: Logger): Promise<void> {
  const logs: string[] = [];
  try {
    for await (const event of progress) {
      if (event.type === "log") logs.push(event.line);
      if (event.type === "function") return send(res, 200, restDeployed(event.function));
      if (event.type === "dry_run") return send(res, 200, { status: "dry_run", ...restDryRun(event.rendered) });
    }
  } catch (error) {
    const faas = asFaasError(error);
    logFailedRequest(logger, error, faas, { route: "/deploy", requestId: res.getHeader("x-request-id") });
    // The seed's {"error": ...} plus the build log, so that a failed deploy explains itself.
    return send(res, httpStatusOf(faas), deployErrorBody(faas, logs));
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
          line({ type: "function", time, ...restDeployed(event.function) });
          break;
        case "dry_run":
          line({ type: "dry_run", time, ...restDryRun(event.rendered) });
          break;
      }
    }
  } catch (error) {
    const faas = asFaasError(error);
    line({ type: "error", status: httpStatusOf(faas), ...errorBody(faas) });
  }
  res.end();
}

function sendError(res: Response, error: unknown, logger: Logger): void {
  const faas = asFaasError(error);
  logFailedRequest(logger, error, faas, { route: res.req?.url?.split("?", 1)[0], requestId: res.getHeader("x-request-id") });
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
