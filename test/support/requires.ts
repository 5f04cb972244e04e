/**
 * The system parts some tests need beyond Node and Python, probed once per test file.
 *
 *   const skipChromium = await requirePart("chromium");
 *   describe.skipIf(skipChromium)("web page", () => { ... });
 *
 * A part the machine lacks makes `requirePart` return true (skip), and the run ends with one line
 * naming every part that was missing and the one `apt-get install` line that provides them (see
 * skip-summary.ts). With FAAS_REQUIRE_ALL=1 (CI), or FAAS_REQUIRE_DOCKER=1 for the engine, a missing
 * part throws instead, which fails the test file that asked for it.
 */
import { access, appendFile, constants, mkdir } from "node:fs/promises";
import { delimiter, join } from "node:path";
import Docker from "dockerode";
import { execa } from "execa";
import { describeDockerHost, dockerFromEnv } from "../../src/images/engine.ts";

/** The parts tests can ask for. */
export type Part = keyof typeof PARTS;

interface PartInfo {
  /** The Debian packages that provide it. */
  apt: string[];
  /** Which tests need it, for the summary line. */
  tests: string;
  /** What else it needs beyond the packages. */
  note?: string;
  /** Resolves with why the part is unusable here, or undefined when it works. */
  probe(env: NodeJS.ProcessEnv): Promise<string | undefined>;
}

/** The base image every docker deploy builds on (the default of PYTHON_VERSION 3.11). */
export const BASE_IMAGE = "python:3.11-slim";

const PARTS = {
  docker: {
    apt: ["docker.io"],
    tests: "the Docker, knative and registry tests",
    note: `docker also needs a running engine at DOCKER_HOST with the image ${BASE_IMAGE}, as .ci/run starts`,
    probe: async (env) => {
      const docker: Docker = dockerFromEnv(env);
      const where = describeDockerHost(env);
      const down = await docker.ping().then(() => undefined, (error: Error) => `no Docker engine answers at ${where} (${error.message}); set DOCKER_HOST`);
      if (down) return down;
      return docker.getImage(BASE_IMAGE).inspect().then(() => undefined, () => `the engine at ${where} has no ${BASE_IMAGE} image (make one as .ci/run does)`);
    },
  },
  registry: {
    apt: ["docker-registry"],
    tests: "the registry workflow test",
    probe: async (env) => (env.FAAS_TEST_REGISTRY ? undefined : missingCommand(env, "docker-registry", "FAAS_TEST_REGISTRY is unset and")),
  },
  protoc: {
    apt: ["protobuf-compiler", "protobuf-compiler-grpc"],
    tests: "the check that gen/ is what buf generate makes (Python included)",
    probe: async (env) => (await missingCommand(env, "protoc")) ?? missingCommand(env, "grpc_python_plugin"),
  },
  "python-grpc": {
    apt: ["python3-grpcio", "python3-protobuf"],
    tests: "the Python gRPC interop tests",
    probe: async (env) => {
      const run = await execa("/usr/bin/python3", ["-c", "import grpc, google.protobuf"], { env, reject: false, timeout: 20_000 });
      return run.exitCode === 0 ? undefined : `/usr/bin/python3 cannot import grpc and google.protobuf (${lastLine(run.stderr || run.message)})`;
    },
  },
  curl: {
    apt: ["curl"],
    tests: "the plain curl Connect JSON test",
    probe: (env) => missingCommand(env, "curl"),
  },
  chromium: {
    apt: ["chromium"],
    tests: "the web page test in Chromium",
    probe: async (env) => {
      const path = chromiumPath(env);
      return access(path, constants.X_OK).then(() => undefined, () => `no Chromium at ${path} (CHROMIUM_PATH overrides)`);
    },
  },
  bubblewrap: {
    apt: ["bubblewrap"],
    tests: "the sandbox tests",
    probe: async (env) => {
      const missing = await missingCommand(env, "bwrap");
      if (missing) return missing;
      const run = await execa("bwrap", ["--ro-bind", "/", "/", "--dev", "/dev", "--unshare-pid", "true"], { env, reject: false, timeout: 20_000 });
      return run.exitCode === 0 ? undefined : `bwrap cannot make a sandbox here (${lastLine(run.stderr || run.message)})`;
    },
  },
  "nats-server": {
    apt: ["nats-server"],
    tests: "the queue tests",
    probe: (env) => missingCommand(env, "nats-server"),
  },
  openssl: {
    apt: ["openssl"],
    tests: "the TLS tests",
    probe: (env) => missingCommand(env, "openssl"),
  },
} satisfies Record<string, PartInfo>;

/** The Chromium the web tests drive: CHROMIUM_PATH, else Debian's. */
export function chromiumPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.CHROMIUM_PATH ?? "/usr/bin/chromium";
}

/** Whether a missing `part` must fail the tests rather than skip them. */
export function partRequired(part: Part, env: NodeJS.ProcessEnv = process.env): boolean {
  return env.FAAS_REQUIRE_ALL === "1" || (part === "docker" && env.FAAS_REQUIRE_DOCKER === "1");
}

const probes = new Map<Part, Promise<string | undefined>>();

/** Why `part` is unusable here, or undefined when it works (probed once per test file). */
export function partMissing(part: Part): Promise<string | undefined> {
  let probe = probes.get(part);
  if (!probe) {
    probe = PARTS[part].probe(process.env).catch((error: Error) => `probe failed: ${error.message}`);
    probes.set(part, probe);
  }
  return probe;
}

/**
 * True when the tests needing `part` must be skipped: the part is missing and not required. A
 * missing part that is required (FAAS_REQUIRE_ALL=1, or FAAS_REQUIRE_DOCKER=1 for docker) throws,
 * naming the part and the package that provides it. A skip is recorded for the run's summary line.
 */
export async function requirePart(part: Part): Promise<boolean> {
  const reason = await partMissing(part);
  if (reason === undefined) return false;
  const info: PartInfo = PARTS[part];
  if (partRequired(part)) {
    const flag = process.env.FAAS_REQUIRE_ALL === "1" ? "FAAS_REQUIRE_ALL=1" : "FAAS_REQUIRE_DOCKER=1";
    throw new Error(`${flag} but ${part} is missing: ${reason} (apt-get install -y ${info.apt.join(" ")})`);
  }
  await recordSkip(part, reason);
  return true;
}

/** The Debian packages that provide `part`. */
export function aptPackages(part: Part): string[] {
  return PARTS[part].apt;
}

/** What `part` needs beyond its packages, if anything. */
export function partNote(part: Part): string | undefined {
  const info: PartInfo = PARTS[part];
  return info.note;
}

/** Which tests need `part`, in words. */
export function partTests(part: Part): string {
  return PARTS[part].tests;
}

/** Whether `name` is a known part (the summary reads part names back from files). */
export function isPart(name: string): name is Part {
  return Object.hasOwn(PARTS, name);
}

/** Environment variable naming the directory skips are recorded in (set by vitest.config.ts). */
export const SKIP_DIR_ENV = "FAAS_SKIP_DIR";

async function recordSkip(part: Part, reason: string): Promise<void> {
  const dir = process.env[SKIP_DIR_ENV];
  // One line per skip; several test files may append at once, each line is a single small write.
  if (!dir) return;
  await mkdir(dir, { recursive: true });
  await appendFile(join(dir, "skips.tsv"), `${part}\t${reason.replace(/\s+/g, " ")}\n`);
}

async function missingCommand(env: NodeJS.ProcessEnv, name: string, prefix = ""): Promise<string | undefined> {
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const found = await access(join(dir, name), constants.X_OK).then(() => true, () => false);
    if (found) return undefined;
  }
  return `${prefix ? prefix + " " : ""}${name} is not on PATH`;
}

function lastLine(text: string | undefined): string {
  return (text ?? "").trim().split("\n").at(-1) ?? "";
}
