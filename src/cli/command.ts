import type { Client } from "@connectrpc/connect";
import type { FaasAgent } from "../../gen/faas/v1/agent_pb.ts";
import type { Io, OutputFormat } from "./format.ts";

/** What every command gets: the client, where to write, the output format and a cancel signal. */
export interface CommandContext {
  client: Client<typeof FaasAgent>;
  /** The agent's URL the client talks to (for messages). */
  agentUrl: string;
  io: Io;
  format: OutputFormat;
  verbose: boolean;
  /** Aborted on SIGINT: streaming and watching commands stop and exit cleanly. */
  signal: AbortSignal;
  /** The directory relative paths (faas.yaml, handler files) are read from. */
  cwd: string;
}

/** One option, as node:util parseArgs takes it. */
export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
  /** How the help text shows it, e.g. "--id ID"; default `--name` (and ` VALUE` for strings). */
  help?: string;
}

/** The parsed values of a command's options: strings, booleans, or string lists for `multiple`. */
export type OptionValues<O extends Record<string, OptionSpec>> = {
  [K in keyof O]?: O[K] extends { type: "boolean" } ? boolean : O[K] extends { multiple: true } ? string[] : string;
};

/**
 * A `faas` subcommand. Commands live in a table (commands.ts); a new command is one entry there,
 * usually a file of its own exporting a `command({...})`.
 */
export interface Command<O extends Record<string, OptionSpec> = Record<string, OptionSpec>> {
  /** The arguments after the command name, as the help shows them: "FILE.py [--id ID]". */
  usage: string;
  /** One line saying what it does. */
  summary: string;
  /** More help lines for `faas COMMAND --help` (optional). */
  details?: string;
  /** "function": the first argument is a function id (errors then name the function). */
  about?: "function";
  /** Whether it runs without the agent (no client calls): `init`. */
  offline?: boolean;
  /** How many positional arguments it takes. */
  args: { min: number; max: number };
  /** The options it takes besides the global ones. */
  options: O;
  /** Runs the command; resolves with the exit code. Throws CliError (or a Connect error) on failure. */
  run(ctx: CommandContext, args: string[], values: OptionValues<O>): Promise<number>;
}

/** Declares a command (typing its option values from its options). */
export function command<O extends Record<string, OptionSpec>>(spec: Command<O>): Command<O> {
  return spec;
}
