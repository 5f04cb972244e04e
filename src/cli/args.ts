import { parseArgs } from "node:util";
import type { Command, OptionSpec } from "./command.ts";
import { CliError, EXIT_USAGE } from "./format.ts";

/** The command line split into the command, its positional arguments and its option values. */
export interface ParsedLine {
  /** The command's name; undefined when none was given. */
  name?: string;
  command?: Command;
  args: string[];
  values: Record<string, string | boolean | string[] | undefined>;
}

/**
 * Parses `argv` against the global options and the named command's own: unknown options, options
 * of another command, missing values and wrong argument counts are CliErrors (exit code 2) with a
 * sentence saying so, never Node's parser message. `--help` and `--version` parse without a command.
 */
export function parseLine(argv: string[], globals: Record<string, OptionSpec>, commands: Record<string, Command>): ParsedLine {
  // First pass, lenient and knowing every long option of every command (which take values): which
  // command is it? Short letters are left out: two commands may give one letter different meanings.
  const every: Record<string, OptionSpec> = {};
  for (const c of Object.values(commands)) for (const [n, spec] of Object.entries(c.options)) every[n] = { ...spec, short: undefined };
  Object.assign(every, globals);
  const first = parseArgs({ args: argv, options: toParseArgs(every), strict: false, allowPositionals: true, tokens: true });
  const positionals = first.tokens.filter((t) => t.kind === "positional").map((t) => t.value);
  const name = positionals[0];
  const command = name === undefined ? undefined : commands[name];
  if (name !== undefined && !command) throw new CliError(`unknown command "${name}" (see faas --help)`, EXIT_USAGE);

  // Second pass: only the options this command takes.
  const allowed: Record<string, OptionSpec> = { ...globals, ...command?.options };
  const where = name ? `faas ${name}` : "faas";
  const loose = parseArgs({ args: argv, options: toParseArgs(allowed), strict: false, allowPositionals: true, tokens: true });
  for (const token of loose.tokens) {
    if (token.kind === "option-terminator") break;
    if (token.kind !== "option") continue;
    const spec = allowed[token.name];
    if (!spec) {
      const short = token.rawName.startsWith("--") ? undefined : token.name;
      const elsewhere = Object.entries(commands)
        .filter(([, c]) => Object.hasOwn(c.options, token.name) || (short !== undefined && Object.values(c.options).some((o) => o.short === short)))
        .map(([n]) => n);
      throw new CliError(
        elsewhere.length > 0 && name
          ? `${where} does not take ${token.rawName} (${elsewhere.join(", ")} ${elsewhere.length > 1 ? "do" : "does"}; see faas ${name} --help)`
          : `unknown option ${token.rawName} (see ${where} --help)`,
        EXIT_USAGE,
      );
    }
    if (spec.type === "string" && (token.value === undefined || (!token.inlineValue && token.value.startsWith("-") && token.value !== "-"))) {
      throw new CliError(`${token.rawName} needs a value${token.value ? ` (for one starting with "-", write ${token.rawName}=${token.value})` : ""}`, EXIT_USAGE);
    }
    if (spec.type === "boolean" && token.inlineValue) throw new CliError(`${token.rawName} takes no value`, EXIT_USAGE);
  }
  const strict = parseArgs({ args: argv, options: toParseArgs(allowed), strict: true, allowPositionals: true });
  const args = strict.positionals.slice(1);
  if (command && !strict.values.help && (args.length < command.args.min || args.length > command.args.max)) {
    throw new CliError(`usage: faas ${name} ${command.usage}`.trimEnd(), EXIT_USAGE);
  }
  return { name, command, args, values: strict.values as ParsedLine["values"] };
}

function toParseArgs(options: Record<string, OptionSpec>) {
  const out: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }> = {};
  for (const [name, { type, short, multiple }] of Object.entries(options)) out[name] = { type, ...(short ? { short } : {}), ...(multiple ? { multiple } : {}) };
  return out;
}
