import { ConfigError, int, nonEmpty, seconds } from "../settings.ts";
import type { InvocationsConfig } from "./types.ts";

/** The async invocations' settings from the environment (docs/configuration.md); throws ConfigError naming the variable. */
export function invocationsConfig(env: NodeJS.ProcessEnv): InvocationsConfig {
  return {
    queueUrl: queueUrl(env),
    ackWaitMs: seconds(env, "FAAS_QUEUE_ACK_WAIT", 30),
    retentionMs: seconds(env, "FAAS_INVOCATION_RETENTION", 86400),
    maxRecords: int(env, "FAAS_INVOCATION_MAX", 100_000, 10, 10_000_000),
    concurrency: int(env, "FAAS_ASYNC_CONCURRENCY", 8, 1, 1024),
    maxAttempts: int(env, "FAAS_ASYNC_MAX_ATTEMPTS", 3, 1, 10),
    retryBaseMs: seconds(env, "FAAS_ASYNC_RETRY_BASE", 1),
    callbackSecret: nonEmpty(env.FAAS_CALLBACK_SECRET),
    callbackTries: int(env, "FAAS_CALLBACK_TRIES", 4, 1, 20),
  };
}

function queueUrl(env: NodeJS.ProcessEnv): string | undefined {
  const raw = nonEmpty(env.FAAS_QUEUE_URL);
  if (raw?.split(",").some((u) => !URL.canParse(u.trim()) || !/^(nats|tls):$/.test(new URL(u.trim()).protocol))) {
    throw new ConfigError(`FAAS_QUEUE_URL=${raw} is invalid; expected nats://host:port (several separated by commas)`);
  }
  return raw;
}
