import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "vitest";

/** How many times `needle` occurs in `text`. */
export function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

/**
 * Fails unless a CLI error output reads as sentences: no gRPC status names as prefixes, no raw
 * errno codes, fetch failures or Node parser messages.
 */
export function expectReadable(stderr: string): void {
  expect(stderr).not.toMatch(/^error: (canceled|unknown|invalid_argument|deadline_exceeded|not_found|already_exists|permission_denied|resource_exhausted|failed_precondition|aborted|out_of_range|unimplemented|internal|unavailable|data_loss|unauthenticated):/m);
  expect(stderr).not.toMatch(/\[(unknown|internal|unavailable)\]|ENOENT|EACCES|ECONNREFUSED|Failed to fetch|fetch failed|ERR_PARSE_ARGS|Unknown option '|argument is ambiguous/);
}

/** A package index (PEP 503 simple API) that has no packages: pip finds no version there. */
export interface PackageIndex {
  /** The index URL, e.g. http://127.0.0.1:1234/simple */
  url: string;
  /** The project pages pip asked for. */
  requests: string[];
  close(): Promise<void>;
}

/** Starts an empty package index on 127.0.0.1 (a real HTTP server pip talks to). */
export async function emptyPackageIndex(): Promise<PackageIndex> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url ?? "");
    res.writeHead(200, { "content-type": "text/html" });
    res.end("<!DOCTYPE html><html><body></body></html>\n");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/simple`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
