import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa, type ResultPromise } from "execa";

const MAKE_WHEEL = fileURLToPath(new URL("./make_wheel.py", import.meta.url));

/** A local package index (python3 -m http.server over a PEP 503 folder) on 127.0.0.1. */
export interface LocalIndex {
  /** The index URL for pip: http://127.0.0.1:PORT/simple/ */
  url: string;
  close(): Promise<void>;
}

/** Builds the given wheels and serves them; pip then installs from here, not from PyPI. */
export async function startLocalIndex(packages: Array<[name: string, version: string]>): Promise<LocalIndex> {
  const root = await mkdtemp(join(tmpdir(), "faas-index-"));
  for (const [name, version] of packages) await execa("python3", [MAKE_WHEEL, root, name, version]);
  const server: ResultPromise = execa("python3", ["-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", root], {
    reject: false,
    buffer: false,
  });
  const port = await new Promise<number>((resolve, reject) => {
    let text = "";
    const timer = setTimeout(() => reject(new Error(`package index did not start: ${text}`)), 10_000);
    server.stdout!.on("data", (chunk: Buffer) => {
      text += chunk.toString();
      const match = /port (\d+)/.exec(text);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
  });
  return {
    url: `http://127.0.0.1:${port}/simple/`,
    async close() {
      server.kill();
      await server;
      await rm(root, { recursive: true, force: true });
    },
  };
}
