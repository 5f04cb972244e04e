// The table of `faas` subcommands. To add one: write it with `command({...})` (command.ts) in a
// file of its own and add it here; main.ts parses its options, prints its help and runs it.
import type { Command } from "./command.ts";
import { deployCommand } from "./deploy.ts";
import { devCommand } from "./dev.ts";
import { deleteCommand, getCommand, healthCommand, invokeCommand, listCommand, logsCommand, trafficCommand } from "./functions.ts";
import { initCommand } from "./init.ts";
import { invocationsCommand } from "./invocations.ts";

/** Every subcommand by name, in the order `faas --help` lists them. */
export const COMMANDS: Record<string, Command<any>> = {
  init: initCommand,
  deploy: deployCommand,
  dev: devCommand,
  invoke: invokeCommand,
  invocations: invocationsCommand,
  list: listCommand,
  get: getCommand,
  logs: logsCommand,
  delete: deleteCommand,
  traffic: trafficCommand,
  health: healthCommand,
};
