import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa, type ResultPromise } from "execa";

/** An image registry (distribution v2) on 127.0.0.1 for the registry workflow's tests. */
export interface TestRegistry {
  /** host:port, as RADICAL_FAAS_REGISTRY takes it. */
  address: string;
  close(): Promise<void>;
}

/**
 * The registry CI started (FAAS_TEST_REGISTRY=host:port), or else Debian's `docker-registry`
 * started here with a config of its own on a free port of 127.0.0.1, storing under a temp dir.
 */
export async function startRegistry(): Promise<TestRegistry> {
  if (process.env.FAAS_TEST_REGISTRY) return { address: process.env.FAAS_TEST_REGISTRY, close: async () => undefined };
  const root = await mkdtemp(join(tmpdir(), "faas-registry-"));
  const port = await freePort();
  const config = join(root, "config.yml");
  await writeFile(config, `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${root}/data\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n`);
  const child: ResultPromise = execa("docker-registry", ["serve", config], { reject: false, buffer: false, stdio: "ignore" });
  const address = `127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    const up = await fetch(`http://${address}/v2/`).then((r) => r.ok, () => false);
    if (up) break;
    if (i > 100 || child.exitCode !== null) throw new Error(`docker-registry did not start on ${address}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    address,
    async close() {
      child.kill();
      await child;
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** A port of 127.0.0.1 that nothing listens on (bound, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
