import { ConfigError, loadConfig, withDotEnv } from "./config.ts";
import { startAgent } from "./agent.ts";
import { createLogger } from "./logger.ts";

/** Entry point: config → logger → agent; SIGTERM/SIGINT → graceful shutdown. */
async function main(): Promise<void> {
  const env = withDotEnv(process.env, process.cwd());
  let config;
  try {
    config = loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`radical-faas: configuration error: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger({ level: config.logLevel, format: config.logFormat });
  let agent;
  try {
    agent = await startAgent(config, logger, env);
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    const why = e.code === "EADDRINUSE" ? `port ${config.port} is already in use (set PORT)` : e.message;
    process.stderr.write(`radical-faas: cannot start: ${why}\n`);
    process.exit(1);
  }
  logger.info({ url: agent.url, platform: config.platform, workflow: config.workflow, auth: config.authTokens.length > 0, tls: config.exposure.tls !== undefined, mtls: config.exposure.tls?.clientCaFile !== undefined }, "agent listening");
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) process.exit(130); // a second signal: stop waiting
    logger.info({ signal }, "shutting down");
    agent.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  // SIGHUP re-reads the TLS certificates (they are also re-read when the files change).
  process.on("SIGHUP", () => agent.reloadTls());
}

void main();
