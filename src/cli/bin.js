#!/usr/bin/env node
// The `faas` command. It runs the compiled CLI (dist/, made by `npm run build`, which `npm ci` runs
// through `prepare`) when that is at least as new as every source file; otherwise (sources edited
// since the last build, or no build at all) it runs the TypeScript sources through tsx. An installed
// copy (under node_modules) runs dist/ whenever it has one.
import { readdirSync, statSync } from "node:fs";
import { dirname, join, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const compiled = join(root, "dist", "src", "cli", "main.js");
/** tsc rewrites its build info on every build that changed anything (tsconfig.build.json). */
const stamp = join(root, "dist", ".tsbuildinfo");

/** Newest modification time (ms) of the files under `dir`, 0 when it does not exist. */
function newest(dir) {
  let latest = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== "node_modules" && path !== join(root, "src", "web")) latest = Math.max(latest, newest(path));
    } else if (entry.name.endsWith(".ts")) {
      latest = Math.max(latest, statSync(path).mtimeMs);
    }
  }
  return latest;
}

function builtMtime() {
  try {
    statSync(compiled);
    return statSync(stamp).mtimeMs;
  } catch {
    return -1;
  }
}

/**
 * An installed package (npm install -g, or a dependency) is never edited, and npm gives its files
 * the time they were unpacked, in tarball order (dist/ before src/): there the build always counts.
 */
const installed = root.split(sep).includes("node_modules");

let main;
if (builtMtime() >= 0 && (installed || builtMtime() >= Math.max(newest(join(root, "src")), newest(join(root, "gen"))))) {
  ({ main } = await import(pathToFileURL(compiled).href));
} else {
  const { register } = await import("tsx/esm/api");
  register();
  ({ main } = await import("./main.ts"));
}
process.exitCode = await main(process.argv.slice(2));
