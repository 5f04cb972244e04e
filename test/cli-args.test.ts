import { describe, expect, it } from "vitest";
import { parseLine } from "../src/cli/args.ts";
import { COMMANDS } from "../src/cli/commands.ts";
import { GLOBAL_OPTIONS } from "../src/cli/main.ts";

// The CLI's parser: every command reads its own short letters, whatever other commands mean by them.
describe("faas command line", () => {
  it("gives each command its own meaning of a short letter (logs -f follows, invocations -f names a function)", () => {
    const logs = parseLine(["logs", "echo", "-f", "--tail", "1"], GLOBAL_OPTIONS, COMMANDS);
    expect(logs.name).toBe("logs");
    expect(logs.args).toEqual(["echo"]);
    expect(logs.values).toMatchObject({ follow: true, tail: "1" });
    const invocations = parseLine(["invocations", "-f", "echo"], GLOBAL_OPTIONS, COMMANDS);
    expect(invocations.values).toMatchObject({ function: "echo" });
    expect(invocations.args).toEqual([]);
  });

  it("has no short letter twice within one command, nor one that a global option uses", () => {
    const globalShorts = Object.values(GLOBAL_OPTIONS).flatMap((o) => ("short" in o && o.short ? [o.short] : []));
    for (const [name, command] of Object.entries(COMMANDS)) {
      const shorts = Object.values(command.options as Record<string, { short?: string }>).flatMap((o) => (o.short ? [o.short] : []));
      expect(new Set(shorts).size, name).toBe(shorts.length);
      for (const s of shorts) expect(globalShorts, `${name} -${s}`).not.toContain(s);
    }
  });

  it("names the commands that take an option a command does not, by long name or letter", () => {
    expect(() => parseLine(["list", "--follow"], GLOBAL_OPTIONS, COMMANDS)).toThrow(/faas list does not take --follow \(logs does/);
    expect(() => parseLine(["list", "-f"], GLOBAL_OPTIONS, COMMANDS)).toThrow(/faas list does not take -f \(.*logs.*; see faas list --help\)/);
    expect(() => parseLine(["list", "--nope"], GLOBAL_OPTIONS, COMMANDS)).toThrow(/unknown option --nope/);
  });
});
