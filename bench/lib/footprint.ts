/**
 * The agent's footprint as `npm start` runs it (the compiled JavaScript in dist/, local platform,
 * nothing deployed): time from spawning node to the first healthy /health, and resident memory once
 * it has settled. Each start gets a fresh state directory; the median of the runs is reported.
 */
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { join } from "node:path";
import { freePort, median } from "./helpers.ts";
import { logTail, type Children } from "./processes.ts";
import { REPO } from "./settings.ts";

export interface Footprint {
  /** Spawn to the first 200 from /health, ms (median). */
  healthyMs: number;
  /** VmRSS one second after healthy, MB (median). */
  rssMb: number;
}

/** The compiled agent `npm start` runs. */
export const COMPILED_MAIN = join(REPO, "dist", "src", "main.js");

/** Starts the compiled agent `runs` times, one after the other, and returns the medians. */
export async function measureFootprint(children: Children, workDir: string, runs = 3): Promise<Footprint> {
  if (!existsSync(COMPILED_MAIN)) throw new Error(`${COMPILED_MAIN} is missing: run npm run build (npm run bench does)`);
  const healthy: number[] = [];
  const rss: number[] = [];
  for (let i = 0; i < runs; i++) {
    const port = await freePort();
    const state = await mkdtemp(join(workDir, "footprint-"));
    const started = performance.now();
    const child = children.start("agent (npm start)", process.execPath, [COMPILED_MAIN], {
      env: { ...process.env, PORT: String(port), FAAS_HOST: "127.0.0.1", FAAS_STATE_DIR: state, FAAS_AUTH_TOKEN: "", FAAS_LOG_LEVEL: "warn", RADICAL_FAAS_PLATFORM: "local", TMPDIR: workDir },
      cwd: workDir,
      logPath: join(workDir, "footprint.log"),
    });
    try {
      for (;;) {
        if (child.exitCode !== null) throw new Error(`the agent exited with ${child.exitCode}${logTail(child)}`);
        if (performance.now() - started > 30_000) throw new Error(`the agent was not healthy within 30 s${logTail(child)}`);
        const ok = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
        if (ok) break;
        await new Promise((r) => setTimeout(r, 5));
      }
      healthy.push(performance.now() - started);
      await new Promise((r) => setTimeout(r, 1000));
      const status = readFileSync(`/proc/${child.proc.pid}/status`, "utf8");
      rss.push(Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) / 1024);
    } finally {
      await children.stop(child);
    }
  }
  return { healthyMs: median(healthy), rssMb: median(rss) };
}
