import { existsSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { FaasError } from "../../domain/errors.ts";
import { pipSentence } from "../../domain/pip.ts";
import type { Sandbox } from "./sandbox.ts";

/** Written into a virtualenv last: one without it is partial (an install that failed or was cut short). */
export const COMPLETE_MARKER = ".faas-complete";
const ERROR_LINES = 25;

export interface VenvOptions {
  /** Directory of the virtualenv (`<stateDir>/venvs/<key>`). */
  dir: string;
  /** Interpreter to create it with. */
  python: string;
  requirements: string;
  /** Package index for pip, if the deploy set PIP_INDEX_URL. */
  indexUrl: string | undefined;
  /** Environment for venv and pip (PATH, HOME, proxy and PIP_* settings of the agent). */
  env: Record<string, string>;
  /** venv and pip run in it: they see the interpreter and this virtualenv only, and die with the agent. */
  sandbox: Sandbox;
  timeoutMs: number;
  /** Receives each line of venv and pip output as it is written. */
  onLine: (source: "venv" | "pip", line: string) => void;
  signal: AbortSignal;
}

/**
 * Makes sure a virtualenv with `requirements` installed exists at `dir` and returns its python.
 * A complete one (marker file written last) is reused; a partial one from a failed or interrupted
 * install is removed first. A failed pip install throws failed_precondition
 * DEPENDENCY_INSTALL_FAILED (a sentence; pip's last lines in metadata `output`) and leaves nothing behind.
 */
export async function ensureVenv(options: VenvOptions): Promise<{ python: string; reused: boolean }> {
  const python = join(options.dir, "bin", "python");
  if (existsSync(join(options.dir, COMPLETE_MARKER))) return { python, reused: true };
  await rm(options.dir, { recursive: true, force: true });
  try {
    // Made here and handed over: inside the sandbox it is the one place pip may write.
    await mkdir(options.dir, { mode: 0o755 });
    await options.sandbox.hand(options.dir);
    await run(options, "venv", options.python, ["-m", "venv", options.dir]);
    const requirementsFile = join(options.dir, "requirements.txt");
    await writeFile(requirementsFile, options.requirements);
    const args = ["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--progress-bar", "off", "-r", requirementsFile];
    if (options.indexUrl) args.push("--index-url", options.indexUrl);
    await run(options, "pip", python, args);
    await writeFile(join(options.dir, COMPLETE_MARKER), new Date().toISOString());
    return { python, reused: false };
  } catch (error) {
    await rm(options.dir, { recursive: true, force: true });
    throw error;
  }
}

async function run(options: VenvOptions, source: "venv" | "pip", file: string, args: string[]): Promise<void> {
  const recent: string[] = [];
  const { sandbox } = options;
  const argv = sandbox.command([file, ...args], { readOnly: [sandbox.pythonPrefix(options.python)], writable: [options.dir], cwd: options.dir });
  // Inside the sandbox HOME and the temporary directory are its private tmpfs.
  const inside = sandbox.isolation === "none" ? {} : { HOME: "/tmp", TMPDIR: "/tmp" };
  const child = execa(argv[0], argv.slice(1), {
    env: { ...options.env, ...inside, PYTHONUNBUFFERED: "1" },
    extendEnv: false,
    all: true,
    buffer: false,
    reject: false,
    stdin: "ignore",
    // Its own process group: a cancelled or timed-out install takes whatever it started with it.
    detached: true,
  });
  const killGroup = () => {
    try {
      if (child.pid) process.kill(-child.pid, "SIGKILL");
    } catch {
      // the group is gone already
    }
  };
  if (options.signal.aborted) killGroup();
  options.signal.addEventListener("abort", killGroup, { once: true });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup();
  }, options.timeoutMs);
  try {
    for await (const line of child.iterable({ from: "all" })) {
      const text = String(line);
      recent.push(text);
      if (recent.length > ERROR_LINES) recent.shift();
      options.onLine(source, text);
    }
  } finally {
    clearTimeout(timer);
    options.signal.removeEventListener("abort", killGroup);
  }
  const result = await child;
  killGroup();
  if (options.signal.aborted) throw new FaasError("cancelled", `${source} was cancelled`, { reason: "CANCELLED" });
  if (timedOut) {
    throw new FaasError("deadline_exceeded", `${source} did not finish within ${options.timeoutMs / 1000} s`, { reason: "DEPENDENCY_INSTALL_FAILED" });
  }
  if (result.exitCode !== 0) {
    // One sentence; pip's last lines once, in metadata (REST: the `output` field).
    const exit = `exit code ${result.exitCode ?? result.signal}`;
    const sentence = source === "pip" ? (pipSentence(recent) ?? `pip install failed (${exit})`) : `creating the virtualenv failed (${exit})`;
    throw new FaasError("failed_precondition", sentence, {
      reason: "DEPENDENCY_INSTALL_FAILED",
      metadata: { exit_code: String(result.exitCode ?? ""), output: recent.join("\n") },
    });
  }
}
