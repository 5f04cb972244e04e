import { readFileSync } from "node:fs";
import { parseArgs, type ParseArgsConfig } from "node:util";
import * as commands from "./commands.ts";
import { createAgentClient, DEFAULT_AGENT_URL } from "./client.ts";
import { deployOptions, trafficShares } from "./options.ts";
import { CliError, describeError, printError, type Io, type OutputFormat } from "./format.ts";

/** Exit code of a command that ran and failed (an RPC error, a degraded agent). */
const EXIT_FAILED = 1;
/** Exit code of a usage error: unknown command or option, missing argument, unreadable file. */
const EXIT_USAGE = 2;

const USAGE = `Usage: faas [options] <command> [arguments]

Commands:
  deploy FILE.py [--id ID] [--requirements FILE] [--param K=V]... [--env K=V]...
         [--min-scale N] [--max-scale N] [--target N] [--scale-to-zero-retention DUR]
         [--concurrency N] [--timeout SECONDS] [--cpu Q] [--memory Q] [--gpu N]
         [--workers N] [--traffic REV=PCT[:TAG]]... [--dry-run]
                          deploy a function, streaming the build; platform options as the
                          platform allows (knative: all but --workers; nuclio: scale,
                          --cpu/--memory/--gpu, --workers); --dry-run prints the object the
                          agent would apply (JSON) and changes nothing
  traffic ID REV=PCT[:TAG]...
                          split traffic between revisions (REV "latest" = the latest one)
  invoke ID [--data JSON | --data @FILE]
                          call a function; without --data the payload is read from stdin
                          when it is not a terminal; -v prints time and cold start
  list                    list functions
  get ID                  describe a function
  delete ID               delete a function
  logs ID [-f] [--tail N] print a function's output; -f follows it
  health                  the agent's health (exit code 1 when degraded)

Options:
  --agent URL             the agent (env FAAS_AGENT_URL, default ${DEFAULT_AGENT_URL})
  --token TOKEN           bearer token (env FAAS_TOKEN)
  --cacert FILE           CA certificate(s) to trust for an https:// agent (env FAAS_CACERT)
  --cert FILE, --key FILE client certificate and key for mutual TLS (env FAAS_CERT, FAAS_KEY)
  -o, --output text|json  output format (json: one document, or one object per line when streaming)
  -v, --verbose           more detail
  -h, --help              this help
`;

const OPTIONS = {
  agent: { type: "string" },
  token: { type: "string" },
  cacert: { type: "string" },
  cert: { type: "string" },
  key: { type: "string" },
  output: { type: "string", short: "o" },
  verbose: { type: "boolean", short: "v" },
  help: { type: "boolean", short: "h" },
  id: { type: "string" },
  requirements: { type: "string" },
  param: { type: "string", multiple: true },
  env: { type: "string", multiple: true },
  data: { type: "string", short: "d" },
  follow: { type: "boolean", short: "f" },
  tail: { type: "string" },
  "dry-run": { type: "boolean" },
  "min-scale": { type: "string" },
  "max-scale": { type: "string" },
  target: { type: "string" },
  "scale-to-zero-retention": { type: "string" },
  concurrency: { type: "string" },
  timeout: { type: "string" },
  cpu: { type: "string" },
  memory: { type: "string" },
  gpu: { type: "string" },
  workers: { type: "string" },
  traffic: { type: "string", multiple: true },
} satisfies ParseArgsConfig["options"];

type OptionName = keyof typeof OPTIONS;
const GLOBAL: OptionName[] = ["agent", "token", "cacert", "cert", "key", "output", "verbose", "help"];

/** Each command: its positional arguments and the options it takes besides the global ones. */
const COMMANDS: Record<string, { args: string[]; options: OptionName[]; more?: boolean }> = {
  deploy: {
    args: ["FILE.py"],
    options: ["id", "requirements", "param", "env", "dry-run", "min-scale", "max-scale", "target", "scale-to-zero-retention", "concurrency", "timeout", "cpu", "memory", "gpu", "workers", "traffic"],
  },
  traffic: { args: ["ID", "REV=PCT"], options: [], more: true },
  invoke: { args: ["ID"], options: ["data"] },
  list: { args: [], options: [] },
  get: { args: ["ID"], options: [] },
  delete: { args: ["ID"], options: [] },
  logs: { args: ["ID"], options: ["follow", "tail"] },
  health: { args: [], options: [] },
};

/**
 * Runs the `faas` command line and resolves with its exit code: 0 on success, 1 when the command
 * failed (the error, its code and ErrorInfo details are printed to stderr), 2 on a usage error.
 * `env` supplies FAAS_AGENT_URL and FAAS_TOKEN.
 */
export async function main(argv: string[], io: Io = process, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let format: OutputFormat = "text";
  try {
    const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
    if (values.output !== undefined) {
      if (values.output !== "text" && values.output !== "json") throw new CliError(`-o takes text or json, got "${values.output}"`, EXIT_USAGE);
      format = values.output;
    }
    const [name, ...args] = positionals;
    if (values.help || name === "help" || name === undefined) {
      (name === undefined && !values.help ? io.stderr : io.stdout).write(USAGE);
      return name === undefined && !values.help ? EXIT_USAGE : 0;
    }
    const command = COMMANDS[name];
    if (!command) throw new CliError(`unknown command "${name}" (see faas --help)`, EXIT_USAGE);
    for (const option of Object.keys(values) as OptionName[]) {
      if (!GLOBAL.includes(option) && !command.options.includes(option)) {
        throw new CliError(`${name} does not take --${option}`, EXIT_USAGE);
      }
    }
    if (command.more ? args.length < command.args.length : args.length !== command.args.length) {
      throw new CliError(`usage: faas ${name} ${command.args.join(" ")}${command.more ? "..." : ""}`.trimEnd(), EXIT_USAGE);
    }
    let tail = 0;
    if (values.tail !== undefined) {
      if (!/^\d+$/.test(values.tail)) throw new CliError(`--tail takes a number of lines, got "${values.tail}"`, EXIT_USAGE);
      tail = Number(values.tail);
    }

    const client = createAgentClient({
      agentUrl: values.agent ?? (env.FAAS_AGENT_URL || DEFAULT_AGENT_URL),
      token: values.token ?? env.FAAS_TOKEN ?? "",
      tls: tlsFiles(values.cacert ?? env.FAAS_CACERT, values.cert ?? env.FAAS_CERT, values.key ?? env.FAAS_KEY),
    });
    const interrupt = new AbortController();
    const onSigint = () => interrupt.abort();
    process.once("SIGINT", onSigint);
    const ctx = { client, io, format, verbose: values.verbose ?? false, signal: interrupt.signal };
    try {
      switch (name) {
        case "deploy":
          return await commands.deploy(ctx, {
            file: args[0],
            id: values.id,
            requirementsFile: values.requirements,
            params: values.param ?? [],
            env: values.env ?? [],
            options: deployOptions(values),
            dryRun: values["dry-run"] ?? false,
          });
        case "traffic":
          return await commands.traffic(ctx, args[0], trafficShares(args.slice(1), "traffic"));
        case "invoke":
          return await commands.invoke(ctx, args[0], values.data);
        case "list":
          return await commands.list(ctx);
        case "get":
          return await commands.get(ctx, args[0]);
        case "delete":
          return await commands.remove(ctx, args[0]);
        case "logs":
          return await commands.logs(ctx, args[0], values.follow ?? false, tail);
        default:
          return await commands.health(ctx);
      }
    } finally {
      process.off("SIGINT", onSigint);
    }
  } catch (error) {
    // parseArgs throws TypeErrors with a code for unknown options and missing values.
    const usage = error instanceof TypeError && "code" in error && String(error.code).startsWith("ERR_PARSE_ARGS");
    const report = usage ? { code: "usage", message: error.message } : describeError(error);
    printError(io, report, format);
    return usage ? EXIT_USAGE : error instanceof CliError ? error.exitCode : EXIT_FAILED;
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
      throw new CliError(`cannot read ${what} ${file}: ${(error as Error).message}`, EXIT_USAGE);
    }
  };
  return { ca: read(cacert, "--cacert"), cert: read(cert, "--cert"), key: read(key, "--key") };
}
