import { existsSync, readdirSync, realpathSync, statSync } from "node:fs";
import { chown } from "node:fs/promises";
import { dirname, join } from "node:path";
import { execa } from "execa";
import type { Logger } from "pino";
import type { HealthCheck } from "../../domain/types.ts";

/** How local functions are kept apart from the agent and from each other. */
export type Isolation = "bwrap" | "none";

/** Options of the sandbox (FAAS_BWRAP, FAAS_REQUIRE_ISOLATION, FAAS_SANDBOX_UID/GID). */
export interface SandboxOptions {
  /** The bubblewrap executable; a name is looked up on PATH. */
  bwrap: string;
  /** Fail to start (instead of running functions unisolated) when bubblewrap cannot sandbox. */
  require: boolean;
  /** When the agent runs as root: the unprivileged uid and gid functions and pip run as. */
  uid: number;
  gid: number;
  /** PATH to find bwrap and setpriv on. */
  path: string;
}

/** What one sandboxed process may see besides the system: every path at its own place. */
export interface SandboxMounts {
  /** Bound read-only (a revision, a virtualenv, the runtime shim, an interpreter's prefix). */
  readOnly: string[];
  /** Bound writable (the function's scratch directory, its socket directory, a venv being built). */
  writable: string[];
  /** Working directory inside. */
  cwd: string;
  /** Bound read-only at another place: [source outside, where it appears inside]. */
  moved?: Array<[string, string]>;
}

/** Where a worker's files are (all absolute). */
export interface WorkerPaths {
  /** Its interpreter (a virtualenv's python or a base one). */
  python: string;
  /** The runtime shim (its source, and its compiled form when there is one). */
  runtime: string[];
  revisionDir: string;
  /** Its virtualenv, when it has requirements. */
  venvDir: string | undefined;
  /** Its private writable directory (HOME inside). */
  scratchDir: string;
  /** The directory its unix socket is made in. */
  socketDir: string;
}

/** The system trees every sandbox sees read-only: programs and libraries, nothing of anyone's data. */
const SYSTEM_TREES = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];
/** What a process needs of /etc: the loader, name resolution, TLS roots, time zone, users. */
const ETC_ENTRIES = [
  "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "resolv.conf", "hosts", "host.conf", "nsswitch.conf", "gai.conf",
  "services", "protocols", "ssl", "ca-certificates", "ca-certificates.conf", "pki", "crypto-policies", "localtime", "timezone",
  "passwd", "group", "mime.types", "os-release", "pip.conf",
];
/** Namespaces every sandbox gets; the network stays shared (functions call the internet). */
const NAMESPACES = ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"];

/**
 * Runs local functions and pip under Debian's bubblewrap: each in its own mount, PID, IPC and UTS
 * namespace, with the system read-only, its own files bound where they are, a private tmpfs /tmp,
 * no view of the agent's or any other function's processes, files or environment, and killed with
 * everything it started when its parent (the agent) dies. When the agent runs as root, the process
 * inside also drops to an unprivileged uid (setpriv) before anything of the function runs.
 *
 * When bubblewrap is missing or cannot make a sandbox here, `isolation` is "none": processes run
 * as before, but still die with the agent (setpriv --pdeathsig), and `open` says why (or refuses
 * to go on with `require`).
 */
export class Sandbox {
  private readonly base: string[];
  private readonly prefixes = new Map<string, string>();

  private constructor(
    readonly isolation: Isolation,
    /** Why there is no isolation (undefined when there is). */
    readonly problem: string | undefined,
    private readonly bwrap: string,
    private readonly setpriv: string | undefined,
    private readonly options: SandboxOptions,
  ) {
    this.base = isolation === "bwrap" ? baseArgs(this.dropsPrivileges) : [];
  }

  /**
   * Finds bubblewrap and makes one sandbox to see that it works. Logs a warning when functions
   * will run without isolation; throws instead with `require` (the agent does not start).
   */
  static async open(options: SandboxOptions, logger: Logger): Promise<Sandbox> {
    const setpriv = findOnPath("setpriv", options.path);
    const bwrap = options.bwrap.includes("/") ? options.bwrap : findOnPath(options.bwrap, options.path);
    let problem: string | undefined;
    if (!bwrap || !existsSync(bwrap)) problem = `bubblewrap (${options.bwrap}) is not installed: apt-get install bubblewrap`;
    else if (isRoot() && !setpriv) problem = "setpriv (util-linux) is missing, so a function could not drop root";
    else {
      const probe = new Sandbox("bwrap", undefined, bwrap, setpriv, options);
      const argv = probe.command(["/bin/true"], { readOnly: [], writable: [], cwd: "/" });
      const run = await execa(argv[0], argv.slice(1), { env: { PATH: "/usr/bin:/bin" }, extendEnv: false, reject: false, timeout: 20_000, stdin: "ignore" });
      if (run.exitCode === 0) return probe;
      problem = `bubblewrap cannot make a sandbox here: ${lastLine(String(run.stderr ?? "")) || run.shortMessage}`;
    }
    if (options.require) {
      throw new Error(`FAAS_REQUIRE_ISOLATION=1 but local functions cannot be isolated: ${problem}`);
    }
    logger.warn({ isolation: "none", problem }, "local functions run WITHOUT isolation: they can read the agent's files and see its processes");
    return new Sandbox("none", problem, "", setpriv, options);
  }

  /** Whether sandboxed processes switch to the unprivileged uid (the agent runs as root). */
  get dropsPrivileges(): boolean {
    return this.isolation === "bwrap" && isRoot();
  }

  /** The uid and gid that own what a sandboxed process writes (its scratch and socket directories, a venv it builds). */
  get owner(): { uid: number; gid: number } {
    return this.dropsPrivileges ? { uid: this.options.uid, gid: this.options.gid } : { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  }

  /** The Health check: which isolation local functions have, and why not when they have none. */
  health(): HealthCheck {
    if (this.isolation === "none") return { name: "isolation", ok: false, message: `none: ${this.problem}` };
    const who = this.dropsPrivileges ? `, as uid ${this.options.uid}` : "";
    return { name: "isolation", ok: true, message: `bwrap: own PID, mount, IPC and UTS namespaces${who}; network shared` };
  }

  /** Makes `dir` (created by the agent) writable by the sandboxed process. */
  async hand(dir: string): Promise<void> {
    if (this.dropsPrivileges) await chown(dir, this.options.uid, this.options.gid);
  }

  /**
   * The argv that runs `argv` in a sandbox seeing `mounts` (or, without isolation, dying with its
   * parent). The environment is whatever the caller spawns it with: nothing else passes in.
   */
  command(argv: string[], mounts: SandboxMounts): string[] {
    if (this.isolation === "none") return this.setpriv ? [this.setpriv, "--pdeathsig", "SIGKILL", "--", ...argv] : argv;
    const args = [this.bwrap, ...this.base];
    const made = new Set<string>();
    const bind = (flag: string, path: string, source = path) => {
      if (SYSTEM_TREES.some((tree) => path === tree || path.startsWith(`${tree}/`))) return; // already there, read-only
      // bwrap makes missing mount points 0700 when privileged: make each parent traversable.
      for (const parent of ancestors(path)) {
        if (made.has(parent)) continue;
        made.add(parent);
        args.push("--perms", "0755", "--dir", parent);
      }
      args.push(flag, source, path);
    };
    for (const path of mounts.readOnly) bind("--ro-bind", path);
    for (const [source, path] of mounts.moved ?? []) bind("--ro-bind", path, source);
    for (const path of mounts.writable) bind("--bind", path);
    args.push("--chdir", mounts.cwd);
    if (!this.dropsPrivileges) return [...args, "--", ...argv];
    const { uid, gid } = this.options;
    return [
      ...args,
      "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP",
      "--",
      this.setpriv!, `--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
      "--",
      ...argv,
    ];
  }

  /**
   * The argv of a function's worker: its revision, virtualenv, interpreter and the runtime shim
   * read-only, its scratch and socket directories writable, the revision as working directory.
   */
  workerCommand(argv: string[], paths: WorkerPaths): string[] {
    const readOnly = [this.pythonPrefix(paths.python), ...paths.runtime, paths.revisionDir];
    if (paths.venvDir) readOnly.push(paths.venvDir);
    return this.command(argv, { readOnly, writable: [paths.scratchDir, paths.socketDir], cwd: paths.revisionDir });
  }

  /**
   * The argv of a spare worker (pool.ts): its interpreter and the runtime shim read-only, its
   * socket directory writable, and its own slot's directory read-only at the place of the state
   * directory's `functions`: the revision it is handed later appears there (hard links) at the
   * path a worker started for that function would see, and nothing else of the state directory.
   */
  spareCommand(argv: string[], paths: { python: string; runtime: string[]; socketDir: string; slot: string; functionsDir: string }): string[] {
    const readOnly = [this.pythonPrefix(paths.python), ...paths.runtime];
    return this.command(argv, { readOnly, writable: [paths.socketDir], cwd: paths.socketDir, moved: [[paths.slot, paths.functionsDir]] });
  }

  /** The environment a sandboxed worker gets on top of its function's own (HOME, PATH inside). */
  workerEnv(paths: WorkerPaths): Record<string, string> {
    const bins = [paths.venvDir && join(paths.venvDir, "bin"), join(this.pythonPrefix(paths.python), "bin"), "/usr/local/bin", "/usr/bin", "/bin"];
    return { HOME: paths.scratchDir, TMPDIR: "/tmp", PATH: [...new Set(bins.filter(Boolean))].join(":") };
  }

  /**
   * The installation prefix of the interpreter `python` (a venv's python leads to its base), which
   * a sandbox must bind for the interpreter to find its standard library: found the way CPython
   * finds it, by walking up from the real executable to `lib/python3.N/os.py`.
   */
  pythonPrefix(python: string): string {
    let prefix = this.prefixes.get(python);
    if (prefix === undefined) {
      const real = realpathSync(python);
      prefix = dirname(dirname(real));
      for (let dir = dirname(real); dir !== "/"; dir = dirname(dir)) {
        if (hasStdlib(dir)) {
          prefix = dir;
          break;
        }
      }
      this.prefixes.set(python, prefix);
    }
    return prefix;
  }
}

function baseArgs(dropsPrivileges: boolean): string[] {
  const args = ["--die-with-parent", "--new-session", ...NAMESPACES];
  // A normal user's bubblewrap makes a user namespace; none may be made inside it.
  if (!dropsPrivileges) args.push("--unshare-user", "--disable-userns");
  for (const tree of SYSTEM_TREES) {
    if (!existsSync(tree)) continue;
    const link = readLink(tree);
    if (link !== undefined) args.push("--symlink", link, tree);
    else args.push("--ro-bind", tree, tree);
  }
  args.push("--perms", "0755", "--dir", "/etc");
  for (const entry of ETC_ENTRIES) args.push("--ro-bind-try", `/etc/${entry}`, `/etc/${entry}`);
  // Debian's interpreters read /etc/python3.N (sitecustomize).
  for (const entry of safeReaddir("/etc")) if (/^python3(\.\d+)?$/.test(entry)) args.push("--ro-bind-try", `/etc/${entry}`, `/etc/${entry}`);
  args.push("--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp");
  return args;
}

function ancestors(path: string): string[] {
  const out: string[] = [];
  for (let dir = dirname(path); dir !== "/" && dir !== "."; dir = dirname(dir)) out.unshift(dir);
  return out;
}

function hasStdlib(dir: string): boolean {
  return safeReaddir(join(dir, "lib")).some((name) => /^python3\.\d+$/.test(name) && existsSync(join(dir, "lib", name, "os.py")));
}

function readLink(path: string): string | undefined {
  try {
    const real = realpathSync(path);
    return real === path ? undefined : real.replace(/^\//, "");
  } catch {
    return undefined;
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function findOnPath(name: string, path: string): string | undefined {
  for (const dir of path.split(":")) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

function lastLine(text: string): string {
  return text.trim().split("\n").at(-1) ?? "";
}
