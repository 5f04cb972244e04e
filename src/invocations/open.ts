import { join } from "node:path";
import type { Logger } from "pino";
import type { AgentCore } from "../service/core.ts";
import { CallbackSender, loadCallbackKey } from "./callback.ts";
import { InvocationService } from "./service.ts";
import type { InvocationBackend, InvocationsConfig } from "./types.ts";

/**
 * The agent's async invocations: JetStream when FAAS_QUEUE_URL is set (its client is imported only
 * then), else SQLite at <stateDir>/invocations.db. Not started: the caller starts it once the core
 * serves.
 */
export async function openInvocations(config: InvocationsConfig, stateDir: string, core: AgentCore, logger: Logger): Promise<InvocationService> {
  const log = logger.child({ component: "invocations" });
  let backend: InvocationBackend;
  if (config.queueUrl) {
    const { JetStreamBackend } = await import("./jetstream.ts");
    backend = await JetStreamBackend.open({ servers: config.queueUrl, maxRecords: config.maxRecords, ackWaitMs: config.ackWaitMs, logger: log });
  } else {
    const { SqliteBackend } = await import("./sqlite.ts");
    backend = new SqliteBackend(join(stateDir, "invocations.db"), config.maxRecords);
  }
  return new InvocationService({
    backend,
    invoke: (id, payload, signal) => core.invoke(id, payload, signal),
    concurrency: config.concurrency,
    retentionMs: config.retentionMs,
    defaultMaxAttempts: config.maxAttempts,
    retryBaseMs: config.retryBaseMs,
    retryMaxMs: Math.max(config.retryBaseMs, 60_000),
    callbacks: new CallbackSender({
      key: loadCallbackKey(config.callbackSecret, join(stateDir, "callback.key")),
      tries: config.callbackTries,
      retryBaseMs: Math.min(config.retryBaseMs, 1000),
      timeoutMs: 10_000,
      logger: log,
    }),
    logger: log,
  });
}
