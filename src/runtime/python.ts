import { execa } from "execa";
import { FaasError } from "../domain/errors.ts";

/** A Python interpreter found on this machine. */
export interface PythonInfo {
  /** Absolute path of the interpreter (sys.executable: no pyenv shim between us and it). */
  executable: string;
  /** "3.N" */
  version: string;
  /** "3.N.M" */
  fullVersion: string;
}

const CANDIDATE_MINORS = Array.from({ length: 12 }, (_, i) => i + 6); // 3.6 .. 3.17

/**
 * Finds interpreters by asking them for their version (a `python3.N` on PATH may be a pyenv shim
 * that refuses to run, so existence is not enough). Results are cached for the process's life:
 * probing happens at deploy time only, never on an invoke.
 */
export class PythonFinder {
  private readonly cache = new Map<string, Promise<PythonInfo | undefined>>();

  constructor(private readonly defaultExecutable: string, private readonly env: Record<string, string>) {}

  /** Runs `executable` once to learn its version; undefined if it does not run. */
  probe(executable: string): Promise<PythonInfo | undefined> {
    let found = this.cache.get(executable);
    if (!found) {
      found = execa(executable, ["-c", "import sys; print('%d.%d.%d' % sys.version_info[:3]); print(sys.executable)"], {
        env: this.env,
        extendEnv: false,
        timeout: 15_000,
        reject: false,
      }).then((r) => {
        const [full = "", path = ""] = String(r.stdout ?? "").trim().split("\n");
        if (r.exitCode !== 0 || !/^3\.\d+\.\d+$/.test(full) || !path.startsWith("/")) return undefined;
        return { executable: path, version: full.split(".").slice(0, 2).join("."), fullVersion: full };
      });
      this.cache.set(executable, found);
    }
    return found;
  }

  /** The default interpreter; failed_precondition PYTHON_UNAVAILABLE if it does not run. */
  async default(): Promise<PythonInfo> {
    const info = await this.probe(this.defaultExecutable);
    if (!info) {
      throw new FaasError("failed_precondition", `the default Python interpreter ${JSON.stringify(this.defaultExecutable)} does not run (set FAAS_PYTHON)`, {
        reason: "PYTHON_UNAVAILABLE",
      });
    }
    return info;
  }

  /**
   * The interpreter for PYTHON_VERSION "3.N": the default one if it has that version, else
   * `python3.N`. Throws failed_precondition PYTHON_UNAVAILABLE listing the versions found.
   */
  async find(version: string | undefined): Promise<PythonInfo> {
    if (!version) return this.default();
    const fallback = await this.probe(this.defaultExecutable);
    if (fallback?.version === version) return fallback;
    const info = await this.probe(`python${version}`);
    if (info?.version === version) return info;
    const installed = await this.installedVersions();
    throw new FaasError(
      "failed_precondition",
      `PYTHON_VERSION ${version} is not installed on this machine; found: ${installed.length ? installed.join(", ") : "none"}`,
      { reason: "PYTHON_UNAVAILABLE", metadata: { requested: version, installed: installed.join(",") } },
    );
  }

  /** Every "3.N" that runs here, ascending. */
  async installedVersions(): Promise<string[]> {
    const probes = await Promise.all([
      this.probe(this.defaultExecutable),
      ...CANDIDATE_MINORS.map((minor) => this.probe(`python3.${minor}`)),
    ]);
    const versions = new Set(probes.filter((p): p is PythonInfo => p !== undefined).map((p) => p.version));
    return [...versions].sort((a, b) => Number(a.split(".")[1]) - Number(b.split(".")[1]));
  }
}
