import { createHash } from "node:crypto";
import type { ServerResponse } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa, type ResultPromise } from "execa";

const HARNESS = fileURLToPath(new URL("./harness.py", import.meta.url));
const OUTPUT_KEPT = 2000;
const READY_TIMEOUT_MS = 30_000;

/** One running "pod" of a function: the harness processor, its output and log followers. */
export interface Replica {
  name: string;
  port: number;
  process: ResultPromise;
  /** The pod log: processor and wrapper stdout and stderr, in order, the latest OUTPUT_KEPT lines. */
  output: string[];
  followers: Set<ServerResponse>;
}

/** What a replica runs: the built function directory and its python, env and HTTP trigger. */
export interface ReplicaSpec {
  functionName: string;
  generation: number;
  dir: string;
  python: string;
  handler: string;
  env: Record<string, string>;
  workers: number;
  /** The HTTP trigger's maxRequestBodySize attribute (0: the processor's default). */
  maxRequestBodySize: number;
}

/** A replica that did not become ready, with the pod log it left (for the brief error). */
export class ReplicaFailed extends Error {
  constructor(
    message: string,
    readonly output: string[],
  ) {
    super(message);
  }
}

/**
 * Starts the harness processor for a function and resolves once every worker has started
 * (HARNESS_READY); rejects with ReplicaFailed carrying the pod log if it exits first.
 */
export function startReplica(spec: ReplicaSpec): Promise<Replica> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: spec.dir, LANG: "C.UTF-8", PYTHONUNBUFFERED: "1", PYTHONDONTWRITEBYTECODE: "1", ...spec.env };
  const args = [HARNESS, "--dir", spec.dir, "--handler", spec.handler, "--workers", String(spec.workers)];
  if (spec.maxRequestBodySize > 0) args.push("--max-request-body-size", String(spec.maxRequestBodySize));
  const proc = execa(spec.python, args, { env, extendEnv: false, reject: false, buffer: false, cwd: spec.dir });
  const replica: Replica = {
    name: `nuclio-${spec.functionName}-${spec.generation}-${createHash("sha1").update(spec.dir).digest("hex").slice(0, 5)}`,
    port: 0,
    process: proc,
    output: [],
    followers: new Set(),
  };
  const record = (line: string) => {
    replica.output.push(line);
    if (replica.output.length > OUTPUT_KEPT) replica.output.shift();
    for (const follower of replica.followers) follower.write(`${line}\n`);
  };
  return new Promise<Replica>((resolve, reject) => {
    const timer = setTimeout(() => reject(new ReplicaFailed("readiness timeout", replica.output)), READY_TIMEOUT_MS);
    split(proc.stdout!, (line) => {
      const ready = /^HARNESS_READY (\d+)$/.exec(line);
      if (!ready) return record(line);
      replica.port = Number(ready[1]);
      clearTimeout(timer);
      resolve(replica);
    });
    split(proc.stderr!, record);
    void proc.then((r) => {
      clearTimeout(timer);
      for (const follower of replica.followers) follower.end();
      reject(new ReplicaFailed(`processor exited with code ${r.exitCode}`, replica.output));
    });
  });
}

/** Stops a replica and ends its log followers. */
export function stopReplica(replica: Replica): void {
  replica.process.kill();
  for (const follower of replica.followers) follower.end();
}

/** Where the build commands of a function ran: one virtualenv per distinct list of commands. */
export function venvCache(work: string): (commands: string[]) => Promise<string> {
  const venvs = new Map<string, Promise<string>>();
  return (commands) => {
    const id = createHash("sha256").update(JSON.stringify(commands)).digest("hex").slice(0, 12);
    let made = venvs.get(id);
    if (!made) {
      const path = join(work, `venv-${id}-${venvs.size}`);
      made = execa("python3", ["-m", "venv", path]).then(() => path);
      venvs.set(id, made);
      made.catch(() => venvs.delete(id));
    }
    return made;
  };
}

function split(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let partial = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    const lines = (partial + chunk).split("\n");
    partial = lines.pop() ?? "";
    lines.forEach(onLine);
  });
}
