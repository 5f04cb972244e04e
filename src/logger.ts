import pino, { type DestinationStream, type Logger } from "pino";
import pretty from "pino-pretty";

/** How the agent's log is written: JSON lines, human lines, or whichever suits stdout (`auto`). */
export type LogFormat = "auto" | "json" | "pretty";

export interface LoggerOptions {
  /** pino level (`info`, `debug`, …). */
  level: string;
  /** `auto` (the default): human lines when stdout is a terminal, JSON lines otherwise. */
  format?: LogFormat;
  /** Where JSON lines go (tests pass a sink); stdout when absent. */
  destination?: DestinationStream;
  /** Whether stdout is a terminal (for `auto`); process.stdout.isTTY when absent. */
  isTTY?: boolean;
}

/** Fields every line may carry that must never be written: tokens and function environments. */
const REDACT = ["authorization", "req.headers.authorization", "headers.authorization", "env", "*.env", "token", "authTokens"];

/**
 * The agent's root logger: constant messages, data in fields (`function`, `requestId`, `reason`,
 * `rpc`, `route`, …). On a terminal (or FAAS_LOG_FORMAT=pretty) one human line per event, through
 * pino-pretty in the process (no worker thread); otherwise one JSON object per line, for
 * collectors and tests. Tokens and function environments never reach it; the redact list is a
 * second line of defence.
 */
export function createLogger(levelOrOptions: string | LoggerOptions, destination?: DestinationStream): Logger {
  const options: LoggerOptions = typeof levelOrOptions === "string" ? { level: levelOrOptions, destination } : levelOrOptions;
  const format = options.format ?? "auto";
  const human = format === "pretty" || (format === "auto" && !options.destination && (options.isTTY ?? process.stdout.isTTY === true));
  const stream = human
    ? pretty({
        colorize: options.isTTY ?? process.stdout.isTTY === true,
        translateTime: "SYS:HH:MM:ss.l",
        ignore: "pid,hostname,name",
        singleLine: true,
        destination: (options.destination as never) ?? 1,
        sync: true,
      })
    : options.destination;
  return pino({ name: "radical-faas", level: options.level, redact: { paths: REDACT, censor: "[redacted]" } }, stream);
}
