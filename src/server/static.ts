import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import type { ConnectNodeAdapterOptions } from "@connectrpc/connect-node";
import { extname, join, resolve, sep } from "node:path";

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
  ".map": "application/json",
  ".txt": "text/plain; charset=utf-8",
};

/**
 * Headers of every response the page's files get: scripts, styles, images and connections only
 * from the agent itself (images also as data: URLs, for the page's empty icon), never in a frame
 * (clickjacking), no MIME sniffing, no Referer to other sites, and no reading of the files by other
 * sites' no-cors requests.
 */
export const PAGE_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-resource-policy": "same-origin",
};

type NodeHandler = NonNullable<ConnectNodeAdapterOptions["fallback"]>;
type Request = Parameters<NodeHandler>[0];
type Response = Parameters<NodeHandler>[1];

/**
 * Serves the web page's built files (GET and HEAD) from `root`: `/` is `index.html`; anything
 * whose decoded path leaves `root`, names a hidden file, or has an unknown extension, and any
 * other method, is 404 `{"error": "no route PATH"}` as the REST routes answer. Hashed files under `/assets/` are cached for a year, the rest revalidated.
 * When `root` does not exist (the page was not built), `/` explains how to build it.
 */
export function createStaticHandler(root: string): (req: Request, res: Response) => void {
  const base = resolve(root);
  return (req, res) => {
    serve(base, req, res).catch(() => {
      if (!res.headersSent) notFound(req, res);
      else res.destroy();
    });
  };
}

async function serve(base: string, req: Request, res: Response): Promise<void> {
  for (const [name, value] of Object.entries(PAGE_SECURITY_HEADERS)) res.setHeader(name, value);
  if (req.method !== "GET" && req.method !== "HEAD") return notFound(req, res);
  const path = filePath(base, req.url ?? "/");
  const type = path && CONTENT_TYPES[extname(path)];
  const info = path && type ? await stat(path).catch(() => undefined) : undefined;
  if (!path || !type || !info?.isFile()) {
    if (req.url === "/" && !(await stat(base).catch(() => undefined))) {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
      res.end("the web page is not built: run `npm run build:web` (npm start does it)\n");
      return;
    }
    notFound(req, res);
    return;
  }
  const immutable = path.startsWith(join(base, "assets") + sep);
  res.writeHead(200, {
    "content-type": type,
    "content-length": info.size,
    "cache-control": immutable ? "public, max-age=31536000, immutable" : "no-cache",
  });
  if (req.method === "HEAD") {
    res.end();
    return;
  }
  createReadStream(path).pipe(res as unknown as NodeJS.WritableStream);
}

/** The file a URL names under `base`, or undefined when it is malformed or would leave `base`. */
export function filePath(base: string, url: string): string | undefined {
  let pathname: string;
  try {
    pathname = decodeURIComponent(new URL(url, "http://x").pathname);
  } catch {
    return undefined;
  }
  if (pathname.includes("\0") || pathname.includes("\\")) return undefined;
  if (pathname.split("/").some((segment) => segment.startsWith("."))) return undefined; // .., dotfiles
  const path = resolve(base, `.${pathname.endsWith("/") ? `${pathname}index.html` : pathname}`);
  return path.startsWith(base + sep) ? path : undefined;
}

/** 404 in the REST routes' shape, so that unknown paths answer as they did before the page. */
function notFound(req: Request, res: Response): void {
  const path = (req.url ?? "/").split("?", 1)[0];
  res.writeHead(404, { "content-type": "application/json" });
  res.end(JSON.stringify({ error: `no route ${path}` }));
}
