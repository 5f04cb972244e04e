import { watch, type FSWatcher } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { command, type CommandContext } from "./command.ts";
import { DEPLOY_OPTIONS, deployFunction, deployRequest, deployTargets, type DeployFlags, type DeployTarget } from "./deploy.ts";
import { CliError, EXIT_USAGE } from "./format.ts";
import { MANIFEST, readManifest, type Manifest } from "./manifest.ts";
import { printError } from "./report.ts";

/** How long `faas dev` waits after a file event for more (an editor's save is often several writes). */
export const SETTLE_MS = 150;

/**
 * `faas dev`: deploys every function of faas.yaml, then watches the manifest and the functions'
 * handler and requirements files and redeploys a function when one of its files is saved (all of
 * them when faas.yaml is), with the build log streaming as in `faas deploy`. A failed deploy is
 * printed and the watch goes on. Ctrl-C ends it with exit code 0.
 */
export const devCommand = command({
  usage: "[--manifest FILE] [deploy flags]",
  summary: "deploy faas.yaml's functions and redeploy each when its files are saved, until Ctrl-C",
  details: `Watches faas.yaml and every function's handler and requirements file. Saving a handler or
requirements file redeploys that function; saving faas.yaml reloads it and redeploys what changed.
The deploy flags (--env, --param, platform options) apply to every deploy.`,
  args: { min: 0, max: 0 },
  options: DEPLOY_OPTIONS,
  async run(ctx, _args, flags) {
    const load = async () => {
      const manifest = await readManifest(ctx.cwd, flags.manifest ?? MANIFEST);
      if (!manifest) throw new CliError(`no ${MANIFEST} in ${ctx.cwd}: run faas init first`, EXIT_USAGE);
      return manifest;
    };
    const loop = new DevLoop(ctx, flags, await load(), load);
    return loop.run();
  },
});

class DevLoop {
  private readonly deployed = new Map<string, string>();
  private readonly pending = new Set<string>();
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly ctx: CommandContext,
    private readonly flags: DeployFlags,
    private manifest: Manifest,
    private readonly load: () => Promise<Manifest>,
  ) {}

  async run(): Promise<number> {
    const stopped = new Promise<void>((resolve) => {
      if (this.ctx.signal.aborted) resolve();
      this.ctx.signal.addEventListener("abort", () => resolve(), { once: true });
    });
    try {
      await this.deploy(this.targets());
      this.rewatch();
      this.status();
      for (;;) {
        const changed = new Promise<void>((resolve) => (this.wake = resolve));
        await Promise.race([changed, stopped]);
        if (this.ctx.signal.aborted) break;
        await this.onChange();
      }
    } finally {
      clearTimeout(this.timer);
      for (const w of this.watchers) w.close();
    }
    return 0;
  }

  private targets(): DeployTarget[] {
    return deployTargets(this.ctx, this.manifest, undefined, this.flags);
  }

  /** Deploys the targets whose content differs from what this session last deployed. */
  private async deploy(targets: DeployTarget[]): Promise<void> {
    for (const target of targets) {
      if (this.ctx.signal.aborted) return;
      let request;
      try {
        request = await deployRequest(this.ctx.cwd, target);
      } catch (error) {
        printError(this.ctx.io, error, { format: this.ctx.format, verbose: this.ctx.verbose, functionId: target.id });
        continue;
      }
      const content = JSON.stringify(request);
      if (this.deployed.get(target.id) === content) continue;
      const outcome = await deployFunction(this.ctx, request);
      if (outcome !== "failed") this.deployed.set(target.id, content);
      else this.deployed.delete(target.id);
    }
  }

  private async onChange(): Promise<void> {
    const changed = new Set(this.pending);
    this.pending.clear();
    let targets: DeployTarget[];
    try {
      if (changed.has(this.manifest.path)) {
        this.manifest = await this.load();
        this.rewatch();
        targets = this.targets();
      } else {
        targets = this.targets().filter((t) => changed.has(resolve(this.ctx.cwd, t.handler)) || (t.requirements !== undefined && changed.has(resolve(this.ctx.cwd, t.requirements))));
      }
    } catch (error) {
      printError(this.ctx.io, error, { format: this.ctx.format, verbose: this.ctx.verbose });
      return;
    }
    if (targets.length === 0) return;
    await this.deploy(targets);
    this.status();
  }

  /** Watches the directories of the manifest and of every function's files (editors replace files by renaming). */
  private rewatch(): void {
    for (const w of this.watchers) w.close();
    const files = this.files();
    const dirs = new Set([...files].map((f) => dirname(f)));
    this.watchers = [...dirs].map((dir) =>
      watch(dir, (_event, name) => {
        const file = name ? join(dir, name.toString()) : undefined;
        if (file === undefined || !this.files().has(file)) return;
        this.pending.add(file);
        clearTimeout(this.timer);
        this.timer = setTimeout(() => this.wake?.(), SETTLE_MS);
      }),
    );
  }

  private files(): Set<string> {
    const files = new Set([this.manifest.path]);
    for (const fn of this.manifest.functions) {
      files.add(fn.handler);
      if (fn.requirements) files.add(fn.requirements);
    }
    if (this.flags.requirements) files.add(resolve(this.ctx.cwd, this.flags.requirements));
    return files;
  }

  private status(): void {
    const names = [...this.files()].map((f) => relative(this.ctx.cwd, f) || basename(f));
    const out = this.ctx.format === "json" ? this.ctx.io.stderr : this.ctx.io.stdout;
    out.write(`watching ${names.join(", ")} for changes (Ctrl-C to stop)\n`);
  }
}
