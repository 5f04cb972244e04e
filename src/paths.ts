import { existsSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The package's root directory (the one holding package.json), found from this module's location:
 * `src/` when the agent runs from its TypeScript sources through tsx, `dist/src/` when it runs compiled
 * (`npm run build`).
 */
export const PACKAGE_ROOT: string = findRoot(dirname(fileURLToPath(import.meta.url)));

/** Where `npm run build` puts the compiled JavaScript (tsconfig.build.json's outDir). */
const COMPILED = join(PACKAGE_ROOT, "dist");

/**
 * A file that ships beside a module's source rather than being compiled (the Python runtime shim,
 * templates, the built web page): `relativePath` from the module at `moduleUrl`, mapped from
 * `dist/src/…` back to `src/…` when the module runs compiled, so both ways find the same file.
 */
export function besideSource(moduleUrl: string, relativePath: string): string {
  const dir = dirname(fileURLToPath(moduleUrl));
  const inCompiled = relative(COMPILED, dir);
  const sourceDir = inCompiled.startsWith("..") || inCompiled.startsWith(sep) ? dir : join(PACKAGE_ROOT, inCompiled);
  return join(sourceDir, relativePath);
}

function findRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "src"))) return dir;
    if (dirname(dir) === dir) throw new Error(`radical-faas: no package.json above ${start}`);
  }
}
