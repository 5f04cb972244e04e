import { readFile, writeFile } from "node:fs/promises";
import { basename, dirname, isAbsolute, relative, resolve } from "node:path";
import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import { isMap, isScalar, isSeq, parseDocument, YAMLParseError } from "yaml";
import { DeployOptionsSchema } from "../../gen/faas/v1/agent_pb.ts";
import { CliError, EXIT_USAGE, fileProblem } from "./format.ts";

/** The manifest's file name, looked for in the current directory. */
export const MANIFEST = "faas.yaml";

/** One function of a faas.yaml, its paths made absolute (relative to the manifest's directory). */
export interface ManifestFunction {
  id: string;
  /** The handler file (Python source defining handle(req)). */
  handler: string;
  /** The requirements file, if any. */
  requirements?: string;
  env: Record<string, string>;
  params: Record<string, string>;
  /** DeployOptions in the API's JSON names (minScale, timeoutSeconds, resources.cpuLimit, ...). */
  options?: JsonObject;
}

/** A faas.yaml as read: where it is and its functions, in file order. */
export interface Manifest {
  path: string;
  functions: ManifestFunction[];
}

const KEYS = ["id", "handler", "requirements", "env", "params", "options"];
const DNS_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/**
 * Reads and checks a faas.yaml. `path` undefined: `faas.yaml` in `cwd`, and undefined when there
 * is none; a named file that cannot be read, bad YAML, unknown keys, a missing id or handler,
 * duplicate ids, non-string env or params values and invalid options are CliErrors (exit code 2)
 * naming the file, the function and the key.
 */
export async function readManifest(cwd: string, path?: string): Promise<Manifest | undefined> {
  const file = resolve(cwd, path ?? MANIFEST);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if (path === undefined && (error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new CliError(`cannot read the manifest ${path ?? MANIFEST}: ${fileProblem(error)}`, EXIT_USAGE);
  }
  const name = relative(cwd, file) || file;
  const fail = (where: string, what: string): never => {
    throw new CliError(`${name}: ${where}${where ? ": " : ""}${what}`, EXIT_USAGE);
  };
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) {
    const [first] = doc.errors;
    const line = first instanceof YAMLParseError && first.linePos ? `line ${first.linePos[0].line}` : "";
    fail(line, `not valid YAML (${first.message.split("\n")[0].replace(/ at line \d+, column \d+.*/, "")})`);
  }
  const root = doc.toJS() as unknown;
  if (!isObject(root) || !Array.isArray(root.functions)) fail("", 'expected "functions:", a list of functions (see faas init)');
  const dir = dirname(file);
  const seen = new Set<string>();
  const functions = ((root as { functions: unknown[] }).functions).map((entry, i): ManifestFunction => {
    const where = `functions[${i}]`;
    if (!isObject(entry)) return fail(where, "expected a function (id, handler, ...)");
    for (const key of Object.keys(entry)) if (!KEYS.includes(key)) fail(where, `unknown key "${key}" (known: ${KEYS.join(", ")})`);
    const id = entry.id;
    if (typeof id !== "string" || !DNS_LABEL.test(id) || id.length > 63) fail(`${where}.id`, "expected a function id: lowercase letters, digits and '-', starting with a letter");
    if (seen.has(id as string)) fail(`${where}.id`, `"${id}" appears twice`);
    seen.add(id as string);
    if (typeof entry.handler !== "string" || entry.handler === "") fail(`${where}.handler`, "expected the handler file, e.g. handler: main.py");
    if (entry.requirements !== undefined && typeof entry.requirements !== "string") fail(`${where}.requirements`, "expected a file name, e.g. requirements: requirements.txt");
    const fn: ManifestFunction = {
      id: id as string,
      handler: resolve(dir, entry.handler as string),
      env: stringMap(entry.env, `${where}.env`, fail, (key) => sourceOf(doc.getIn(["functions", i, "env", key], true))),
      params: stringMap(entry.params, `${where}.params`, fail, (key) => sourceOf(doc.getIn(["functions", i, "params", key], true))),
    };
    if (entry.requirements) fn.requirements = resolve(dir, entry.requirements as string);
    if (entry.options !== undefined) {
      if (!isObject(entry.options)) fail(`${where}.options`, "expected options such as minScale: 1");
      try {
        fromJson(DeployOptionsSchema, entry.options as JsonObject);
      } catch (error) {
        fail(`${where}.options`, (error as Error).message.replace(/^cannot decode message faas\.v1\.DeployOptions from JSON: /, ""));
      }
      fn.options = entry.options as JsonObject;
    }
    return fn;
  });
  return { path: file, functions };
}

/** The function of `manifest` whose handler is `file`, if any. */
export function functionOfFile(manifest: Manifest | undefined, cwd: string, file: string): ManifestFunction | undefined {
  const path = resolve(cwd, file);
  return manifest?.functions.find((f) => f.handler === path);
}

/**
 * A function id made from a file name: `my_func.py` → `my-func`. Undefined when nothing valid is
 * left (then the caller asks for --id).
 */
export function idFromFile(file: string): string | undefined {
  const id = basename(file)
    .replace(/\.py$/i, "")
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^[^a-z]+/, "")
    .replace(/-+$/, "")
    .replace(/-{2,}/g, "-")
    .slice(0, 63)
    .replace(/-+$/, "");
  return DNS_LABEL.test(id) ? id : undefined;
}

/**
 * Adds a function to the faas.yaml at `path`, creating it when missing; comments and the other
 * functions stay as they were. Throws a usage CliError when the id is already there.
 */
export async function addToManifest(path: string, fn: { id: string; handler: string; requirements?: string }): Promise<"created" | "updated"> {
  let text: string | undefined;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw new CliError(`cannot read ${basename(path)}: ${fileProblem(error)}`, EXIT_USAGE);
  }
  const entry: Record<string, unknown> = { id: fn.id, handler: rel(path, fn.handler) };
  if (fn.requirements) entry.requirements = rel(path, fn.requirements);
  entry.env = {};
  entry.params = {};
  if (text === undefined) {
    const doc = parseDocument(HEADER);
    doc.set("functions", doc.createNode([entry]));
    doc.commentBefore = HEADER_COMMENT;
    await writeFile(path, doc.toString(), { flag: "wx" });
    return "created";
  }
  const doc = parseDocument(text);
  const functions = doc.get("functions");
  if (!isSeq(functions)) throw new CliError(`${basename(path)}: expected "functions:", a list of functions`, EXIT_USAGE);
  for (const item of functions.items) {
    if (isMap(item) && item.get("id") === fn.id) throw new CliError(`${basename(path)} already has a function "${fn.id}"`, EXIT_USAGE);
  }
  functions.add(doc.createNode(entry));
  await writeFile(path, doc.toString());
  return "updated";
}

const HEADER = "functions: []\n";
const HEADER_COMMENT = [
  " The functions of this project: `faas deploy` deploys them all, `faas dev` redeploys on save.",
  " Each: id, handler (a .py file defining handle(req)), requirements (a pip requirements file),",
  " env (environment variables), params (PYTHON_VERSION, PIP_INDEX_URL, BASE_IMAGE) and options",
  " (the API's DeployOptions: minScale, maxScale, target, containerConcurrency, timeoutSeconds,",
  " resources: {cpuLimit, memoryLimit, ...}, workers, traffic). Paths are relative to this file.",
].join("\n");

function rel(manifest: string, file: string): string {
  const r = relative(dirname(manifest), file);
  return isAbsolute(r) || r.startsWith("..") ? file : r;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A scalar's text as written (3.10 stays "3.10", where its value would be 3.1). */
function sourceOf(node: unknown): string | undefined {
  return isScalar(node) && typeof node.source === "string" ? node.source : undefined;
}

function stringMap(value: unknown, where: string, fail: (where: string, what: string) => never, source: (key: string) => string | undefined): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!isObject(value)) return fail(where, "expected NAME: value pairs");
  const out: Record<string, string> = {};
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== "string") fail(`${where}.${key}`, `expected a string; quote it: ${key}: "${source(key) ?? String(v)}"`);
    out[key] = v as string;
  }
  return out;
}
