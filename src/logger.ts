import pino, { type DestinationStream, type Logger } from "pino";

/**
 * The agent's root logger: JSON lines on stdout, constant messages, data in fields. Tokens and
 * function environments never reach it; the redact list is a second line of defence.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      name: "radical-faas",
      level,
      redact: { paths: ["authorization", "req.headers.authorization", "env", "*.env", "token", "authTokens"], censor: "[redacted]" },
    },
    destination,
  );
}
