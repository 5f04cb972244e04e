/**
 * A server for bench/run.ts, run as a child process (`node --import tsx bench/server_child.ts MODE`)
 * so that it has a process of its own, as in production. Configured from the environment by
 * loadConfig like src/main.ts. Sends `{ url }` over the IPC channel once listening; stops
 * gracefully on SIGTERM or when the parent goes away.
 *
 *   agent  the real agent: startAgent (local platform, Python workers)
 *   empty  the same server stack (startAgent with its platform replaced: httpolyglot + Connect,
 *          interceptors, REST fallback, AgentCore) around the tests' fake platform, whose invoke
 *          returns `null` at once
 */
import { startAgent } from "../src/agent.ts";
import { loadConfig } from "../src/config.ts";
import { createLogger } from "../src/logger.ts";
import { createFakePlatform } from "../test/support/fake-platform.ts";

async function main(): Promise<void> {
  const mode = process.argv[2];
  const config = loadConfig(process.env);
  const logger = createLogger(config.logLevel);
  let url: string;
  let stop: () => Promise<void>;

  if (mode === "agent") {
    const agent = await startAgent(config, logger, process.env);
    url = agent.url;
    stop = () => agent.stop();
  } else if (mode === "empty") {
    // The same server stack startAgent builds, with the empty platform in place of the local one.
    const agent = await startAgent(config, logger, process.env, { platform: createFakePlatform() });
    url = agent.url;
    stop = () => agent.stop();
  } else {
    throw new Error(`unknown mode ${JSON.stringify(mode)}: expected agent or empty`);
  }

  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`server_child: stop failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
  process.on("disconnect", shutdown); // the bench is gone: do not linger
  process.send?.({ url });
}

main().catch((error: unknown) => {
  process.stderr.write(`server_child: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
