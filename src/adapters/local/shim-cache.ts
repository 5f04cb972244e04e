import { createHash } from "node:crypto";
import { join } from "node:path";
import { execa } from "execa";
import { RUNTIME_SHIM } from "../../runtime/worker.ts";

/**
 * The runtime shim compiled once per interpreter. A worker started on the shim's source compiles
 * its 900 lines at every start (issue 14's cold start: about 8 ms of CPU on an idle machine, 30 ms
 * and more under load, and 2 MB of the worker's unique memory); `python …/faas_runtime.pyc` runs the
 * same code without that. Compiled at an interpreter's first use, by that interpreter's py_compile
 * (so the bytecode matches it), into the agent's run directory; a compile that fails (or an
 * interpreter that cannot run it) leaves the source, as before.
 */
export class CompiledShims {
  private readonly made = new Map<string, Promise<string>>();

  constructor(private readonly dir: () => string, private readonly env: Record<string, string>) {}

  /** The shim to run with `python`: its compiled form, or the source. */
  for(python: string): Promise<string> {
    let made = this.made.get(python);
    if (!made) {
      // Named faas_runtime.pyc like the source (ps and the tests find workers by that name).
      const out = join(this.dir(), `shim-${createHash("sha256").update(python).digest("hex").slice(0, 16)}`, "faas_runtime.pyc");
      const script = "import os, py_compile, sys; os.makedirs(os.path.dirname(sys.argv[2]), mode=0o755, exist_ok=True); py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)";
      made = execa(python, ["-c", script, RUNTIME_SHIM, out], { env: this.env, extendEnv: false, reject: false, timeout: 30_000, stdin: "ignore" }).then(
        (run) => (run.exitCode === 0 ? out : RUNTIME_SHIM),
        () => RUNTIME_SHIM,
      );
      this.made.set(python, made);
    }
    return made;
  }
}
