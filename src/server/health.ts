import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { FaasAgent } from "../../gen/faas/v1/agent_pb.ts";
import { Health, HealthCheckResponse_ServingStatus as Status, HealthCheckResponseSchema, type HealthCheckResponse } from "../../gen/grpc/health/v1/health_pb.ts";

/**
 * The serving status that grpc.health.v1.Health reports: "" (the whole agent) and
 * "faas.v1.FaasAgent" are SERVING from the start and NOT_SERVING once shutdown begins. Any other
 * service name is unknown. Listeners are told of every change (Watch).
 */
export class ServingStatus {
  private readonly statuses = new Map<string, Status>([
    ["", Status.SERVING],
    [FaasAgent.typeName, Status.SERVING],
  ]);
  private readonly listeners = new Set<() => void>();

  /** The status of `service`, or undefined when the service is unknown. */
  get(service: string): Status | undefined {
    return this.statuses.get(service);
  }

  /** Marks every known service NOT_SERVING (shutdown has begun) and tells the watchers. */
  markShuttingDown(): void {
    for (const service of this.statuses.keys()) this.statuses.set(service, Status.NOT_SERVING);
    for (const listener of this.listeners) listener();
  }

  /** Calls `listener` after every change until the returned function is called. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/**
 * The standard gRPC health service (grpc.health.v1.Health) over a ServingStatus, as Kubernetes
 * `grpc:` probes and grpc-health-probe call it. Check fails with not_found for an unknown service;
 * Watch sends the current status (SERVICE_UNKNOWN for an unknown service), then every change, until
 * the caller cancels or the server shuts down.
 */
export function createHealthService(status: ServingStatus): ServiceImpl<typeof Health> {
  return {
    check(req) {
      const current = status.get(req.service);
      if (current === undefined) throw new ConnectError(`unknown service ${JSON.stringify(req.service)}`, Code.NotFound);
      return response(current);
    },

    async *watch(req, ctx: HandlerContext) {
      let changed: () => void = () => {};
      const wake = () => changed();
      const unsubscribe = status.subscribe(wake);
      ctx.signal.addEventListener("abort", wake);
      try {
        let last: Status | undefined;
        for (;;) {
          const current = status.get(req.service) ?? Status.SERVICE_UNKNOWN;
          // Wait for the next change before comparing, so no change between read and wait is lost.
          const next = new Promise<void>((resolve) => (changed = resolve));
          if (current !== last) {
            last = current;
            yield response(current);
          }
          // Shutdown marks NOT_SERVING, then aborts: the last status is sent before the stream ends.
          if (ctx.signal.aborted) return;
          await next;
        }
      } finally {
        unsubscribe();
        ctx.signal.removeEventListener("abort", wake);
      }
    },
  };
}

function response(status: Status): HealthCheckResponse {
  return create(HealthCheckResponseSchema, { status });
}
