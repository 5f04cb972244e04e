import { mkdir, mkdtemp, readFile, realpath, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestAgent, type TestAgent } from "./support/agent.ts";

// The global install docs/cli.md describes, for real: `npm pack` of this repository, `npm install -g`
// of the tarball into a temporary prefix, and `faas` run from a directory outside the repository
// with only that prefix (and node) on PATH.
const REPO = fileURLToPath(new URL("..", import.meta.url));

let agent: TestAgent;
let dir: string;
beforeAll(async () => {
  agent = await startTestAgent();
  dir = await mkdtemp(join(tmpdir(), "faas-install-"));
});
afterAll(async () => {
  await agent?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("global install of the packed package", () => {
  it("npm pack + npm install -g gives a faas that works without the repository", async () => {
    const { version } = JSON.parse(await readFile(join(REPO, "package.json"), "utf8"));
    // `npm pack` runs `prepare` (the build), so the tarball carries a current dist/.
    const packed = await execa("npm", ["pack", "--pack-destination", dir, "--json"], { cwd: REPO });
    const [{ filename }] = JSON.parse(packed.stdout) as Array<{ filename: string }>;
    const prefix = join(dir, "prefix");
    await execa("npm", ["install", "-g", "--prefix", prefix, join(dir, filename), "--no-audit", "--no-fund", "--prefer-offline"], { cwd: dir });

    const installed = join(prefix, "lib", "node_modules", "radical-faas");
    expect((await realpath(installed)).startsWith(await realpath(REPO))).toBe(false); // a copy, not a link
    await stat(join(installed, "dist", "src", "cli", "main.js"));
    // The installed faas runs the compiled CLI: sources that would fail (same mtime as the tarball's) change nothing.
    const source = join(installed, "src", "cli", "main.ts");
    const { mtime } = await stat(source);
    await writeFile(source, 'throw new Error("the TypeScript sources ran");\n');
    await utimes(source, mtime, mtime);

    const work = join(dir, "outside", "greeter");
    await mkdir(work, { recursive: true });
    const env = { PATH: [join(prefix, "bin"), dirname(process.execPath), "/usr/bin", "/bin"].join(":"), HOME: join(dir, "home"), FAAS_AGENT_URL: agent.url };
    const faas = (...args: string[]) => execa("faas", args, { cwd: work, env, extendEnv: false, reject: false, input: "", timeout: 120_000 });

    const v = await faas("--version");
    expect(v.exitCode, v.stderr).toBe(0);
    expect(v.stdout).toBe(`faas ${version}`);
    expect((await faas("init")).stdout).toContain("created faas.yaml: function greeter, handler greeter.py");
    const first = await faas("deploy");
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.stdout.split("\n").at(-1)).toMatch(/^deployed greeter /);
    const second = await faas("deploy");
    expect(second.stdout.split("\n").at(-1)).toMatch(/^greeter unchanged /);
    expect(JSON.parse((await faas("invoke", "greeter", "--data", '{"name": "npm"}')).stdout)).toEqual({ hello: "npm" });
    const usage = await faas("deploy", "--nope");
    expect(usage.exitCode).toBe(2);
    expect(usage.stderr).toBe("error: unknown option --nope (see faas deploy --help)");
  }, 600_000);
});
