import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { basename, dirname, join, relative, resolve } from "node:path";
import { command } from "./command.ts";
import { CliError, EXIT_USAGE, fileProblem, prettyJson } from "./format.ts";
import { addToManifest, idFromFile, MANIFEST } from "./manifest.ts";

/** The handler `faas init` writes when the function's file does not exist yet. */
export const HANDLER_TEMPLATE = `def handle(req):
    """Called with the request's JSON payload; returns any JSON value."""
    name = req.get("name", "world") if isinstance(req, dict) else "world"
    return {"hello": name}
`;

const DNS_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/**
 * `faas init [ID]`: adds function ID (default: the directory's name) to faas.yaml, creating the
 * manifest, and ID.py from a template when it does not exist. An existing requirements.txt is
 * referenced. Needs no agent.
 */
export const initCommand = command({
  usage: "[ID] [--manifest FILE]",
  summary: "start a project: faas.yaml with function ID (default: the directory's name) and ID.py",
  details: `Writes faas.yaml (or adds the function to it) and, when it does not exist, ID.py with a
handle(req) to start from; references requirements.txt if there is one. Then: faas deploy.`,
  args: { min: 0, max: 1 },
  offline: true,
  options: { manifest: { type: "string", help: "--manifest FILE" } },
  async run(ctx, [given], values) {
    const manifest = resolve(ctx.cwd, values.manifest ?? MANIFEST);
    const dir = dirname(manifest);
    const id = given ?? idFromFile(basename(dir));
    if (!id) throw new CliError(`cannot make a function id from the directory name "${basename(dir)}": name one (faas init ID)`, EXIT_USAGE);
    if (!DNS_LABEL.test(id) || id.length > 63) {
      throw new CliError(`"${id}" is not a function id: use lowercase letters, digits and '-', start with a letter and end with a letter or digit`, EXIT_USAGE);
    }
    const handler = join(dir, `${id}.py`);
    const requirements = join(dir, "requirements.txt");
    const created: string[] = [];
    const outcome = await addToManifest(manifest, { id, handler, ...(existsSync(requirements) ? { requirements } : {}) });
    if (!existsSync(handler)) {
      try {
        await writeFile(handler, HANDLER_TEMPLATE, { flag: "wx" });
      } catch (error) {
        throw new CliError(`cannot write ${relative(ctx.cwd, handler)}: ${fileProblem(error)}`);
      }
      created.push(relative(ctx.cwd, handler));
    }
    const shown = relative(ctx.cwd, manifest) || manifest;
    if (ctx.format === "json") {
      ctx.io.stdout.write(prettyJson({ manifest: shown, id, handler: relative(ctx.cwd, handler), created: outcome === "created" ? [shown, ...created] : created }));
      return 0;
    }
    ctx.io.stdout.write(`${outcome === "created" ? "created" : "updated"} ${shown}: function ${id}, handler ${relative(dir, handler)}${existsSync(requirements) ? ", requirements requirements.txt" : ""}\n`);
    for (const file of created) ctx.io.stdout.write(`created ${file}\n`);
    ctx.io.stdout.write(`next: faas deploy, then faas invoke ${id}\n`);
    return 0;
  },
});
