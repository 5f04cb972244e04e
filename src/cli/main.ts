import { readFileSync } from "node:fs";
import { parseLine } from "./args.ts";
import { createAgentClient, DEFAULT_AGENT_URL } from "./client.ts";
import type { Command, OptionSpec } from "./command.ts";
import { COMMANDS } from "./commands.ts";
import { CliError, EXIT_FAILED, EXIT_USAGE, fileProblem, type Io, type OutputFormat } from "./format.ts";
import { printError } from "./report.ts";
import { packageVersion } from "./version.ts";

/** The options every command takes. */
export const GLOBAL_OPTIONS = {
  agent: { type: "string", help: "--agent URL" },
  token: { type: "string", help: "--token TOKEN" },
  cacert: { type: "string", help: "--cacert FILE" },
  cert: { type: "string", help: "--cert FILE" },
  key: { type: "string", help: "--key FILE" },
  output: { type: "string", short: "o", help: "-o, --output text|json" },
  verbose: { type: "boolean", short: "v", help: "-v, --verbose" },
  help: { type: "boolean", short: "h", help: "-h, --help" },
  version: { type: "boolean", help: "--version" },
} satisfies Record<string, OptionSpec>;

const GLOBAL_HELP = `Options:
  --agent URL             the agent (env FAAS_AGENT_URL, default ${DEFAULT_AGENT_URL})
  --token TOKEN           bearer token (env FAAS_TOKEN)
  --cacert FILE           CA certificate(s) to trust for an https:// agent (env FAAS_CACERT)
  --cert FILE, --key FILE client certificate and key for mutual TLS (env FAAS_CERT, FAAS_KEY)
  -o, --output text|json  output format (json: one document, or one object per line when streaming)
  -v, --verbose           more detail (errors: code, reason and metadata)
  -h, --help              help (faas COMMAND --help: that command's)
  --version               the version of faas
`;

/** `faas --help`: every command of the table with its usage and summary. */
export function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${`${name} ${c.usage}`.trimEnd()}\n      ${c.summary}`);
  return `Usage: faas [options] <command> [arguments]\n\nCommands:\n${lines.join("\n")}\n\n${GLOBAL_HELP}`;
}

/** `faas COMMAND --help`. */
function commandUsage(name: string, c: Command): string {
  const options = Object.values(c.options).map((o) => o.help).filter(Boolean);
  let text = `Usage: faas ${name} ${c.usage}\n\n${c.summary}\n`;
  if (c.details) text += `\n${c.details}\n`;
  if (options.length) text += `\nOptions: ${options.join(", ")}\n`;
  return `${text}\n${GLOBAL_HELP}`;
}

/**
 * Runs the `faas` command line and resolves with its exit code: 0 on success, 1 when the command
 * failed (a sentence saying what failed, then the relevant lines, on stderr), 2 on a usage error.
 * `env` supplies FAAS_AGENT_URL, FAAS_TOKEN and the TLS files; `cwd` is where faas.yaml is looked for.
 */
export async function main(argv: string[], io: Io = process, env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): Promise<number> {
  let format: OutputFormat = argv.includes("-o") && argv[argv.indexOf("-o") + 1] === "json" ? "json" : "text";
  let verbose = false;
  let functionId: string | undefined;
  let agentUrl = env.FAAS_AGENT_URL || DEFAULT_AGENT_URL;
  try {
    const { name, command, args, values } = parseLine(argv, GLOBAL_OPTIONS, COMMANDS);
    if (values.output !== undefined) {
      if (values.output !== "text" && values.output !== "json") throw new CliError(`-o takes text or json, got "${values.output}"`, EXIT_USAGE);
      format = values.output;
    }
    verbose = values.verbose === true;
    if (values.version) {
      io.stdout.write(format === "json" ? `${JSON.stringify({ version: packageVersion() })}\n` : `faas ${packageVersion()}\n`);
      return 0;
    }
    if (values.help || name === "help" || !command || !name) {
      const text = name && command ? commandUsage(name, command) : usage();
      const asked = values.help === true || name === "help";
      (asked ? io.stdout : io.stderr).write(text);
      return asked ? 0 : EXIT_USAGE;
    }
    if (command.about === "function") functionId = args[0];
    agentUrl = (values.agent as string | undefined) ?? agentUrl;
    const client = createAgentClient({
      agentUrl,
      token: (values.token as string | undefined) ?? env.FAAS_TOKEN ?? "",
      tls: command.offline ? undefined : tlsFiles((values.cacert as string | undefined) ?? env.FAAS_CACERT, (values.cert as string | undefined) ?? env.FAAS_CERT, (values.key as string | undefined) ?? env.FAAS_KEY),
    });
    const interrupt = new AbortController();
    const onSigint = () => interrupt.abort();
    process.once("SIGINT", onSigint);
    try {
      return await command.run({ client, agentUrl, io, format, verbose, signal: interrupt.signal, cwd }, args, values as never);
    } finally {
      process.off("SIGINT", onSigint);
    }
  } catch (error) {
    printError(io, error, { format, verbose, functionId, agentUrl });
    return error instanceof CliError ? error.exitCode : EXIT_FAILED;
  }
}

/** Reads the TLS files the options name; a client certificate needs its key and the other way round. */
function tlsFiles(cacert: string | undefined, cert: string | undefined, key: string | undefined): { ca?: Buffer; cert?: Buffer; key?: Buffer } | undefined {
  if (!cacert && !cert && !key) return undefined;
  if (!cert !== !key) throw new CliError("--cert and --key go together (or FAAS_CERT and FAAS_KEY)", EXIT_USAGE);
  const read = (file: string | undefined, what: string) => {
    if (!file) return undefined;
    try {
      return readFileSync(file);
    } catch (error) {
      throw new CliError(`cannot read ${what} ${file}: ${fileProblem(error)}`, EXIT_USAGE);
    }
  };
  return { ca: read(cacert, "--cacert"), cert: read(cert, "--cert"), key: read(key, "--key") };
}
