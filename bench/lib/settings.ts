/**
 * What every benchmark shares: where the bench's files and tools are, the trivial JSON handler all
 * of them deploy, and how settings are read from the environment.
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";

export const BENCH_DIR = fileURLToPath(new URL("..", import.meta.url));
export const REPO = fileURLToPath(new URL("../..", import.meta.url));
export const SHIM = join(REPO, "src/runtime/python/faas_runtime.py");
export const WRK_SCRIPT = join(BENCH_DIR, "wrk.lua");
export const FLASK_APP = join(BENCH_DIR, "flask_app.py");
export const NGINX_TEMPLATE = join(BENCH_DIR, "nginx.conf");
export const SERVER_CHILD = join(BENCH_DIR, "server_child.ts");
export const GRPCJS_SERVER = join(BENCH_DIR, "grpcjs_server.ts");
export const ASYNCIO_APP = join(BENCH_DIR, "asyncio_server.py");

export const WRK = "/usr/bin/wrk";
export const H2LOAD = "/usr/bin/h2load";
export const NGINX = "/usr/sbin/nginx";
/** Debian's python3: the one with flask and waitress. */
export const SYSTEM_PYTHON = "/usr/bin/python3";
/** The python3 first on PATH, which the agent also uses by default. */
export const PYTHON = "python3";

/** Load-generator threads: one, so that the servers keep most of the machine's 2 cores. */
export const LOAD_THREADS = 1;
/** Connections of every load at full concurrency. */
export const CONNECTIONS = 16;

export const HANDLER_SOURCE = 'def handle(req):\n    return {"ok": True, "echo": req}\n';
/** The handler with a comment line, so that each `tag` gives different content (a new build). */
export const taggedHandler = (tag: string): string => `# ${tag}\n${HANDLER_SOURCE}`;
export const PAYLOAD = { name: "bench", n: 1 };
export const FUNCTION_ID = "bench";
export const EXPECTED_RESULT = { ok: true, echo: PAYLOAD };
export const INVOKE_BODY = { id: FUNCTION_ID, payload: PAYLOAD };
export const INVOKE_PATH = "/faas.v1.FaasAgent/Invoke";

/**
 * A whole number from the environment variable `name` (from `min` to 600), or `fallback` when it
 * is unset or blank. Throws on anything else, so that a typo does not silently bench the default.
 */
export function wholeSeconds(name: string, fallback: number, min: number, env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > 600) {
    throw new Error(`${name}=${raw} is invalid: expected a whole number from ${min} to 600`);
  }
  return value;
}

/** Writes one human-readable line. */
export type Say = (line?: string) => void;

/** Human-readable output on stdout, or on stderr when stdout carries a JSON report. */
export function createSay(jsonOnStdout: boolean): Say {
  return (line = "") => void (jsonOnStdout ? process.stderr : process.stdout).write(line + "\n");
}
