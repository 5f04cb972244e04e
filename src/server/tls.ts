import { readFileSync, watch, type FSWatcher } from "node:fs";
import { basename, dirname } from "node:path";
import { Server as TlsServer, type SecureContextOptions, type TLSSocket } from "node:tls";
import type { Logger } from "pino";

/** The PEM files TLS is made of; a client CA turns on mutual TLS. */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
  clientCaFile?: string;
}

/** A TLS server for httpolyglot's one port, whose certificates can be swapped while it runs. */
export interface ReloadableTls {
  server: TlsServer;
  /** Re-reads the files; new connections use them, open ones keep theirs. A bad file keeps the old ones (logged). */
  reload(): void;
  /** Stops watching the files. */
  close(): void;
}

/** How long file events are gathered before a reload, so that a cert and key written together load together. */
const SETTLE_MS = 150;

/**
 * A TLS server offering ALPN h2 and http/1.1, TLS 1.2 and later only. With a client CA it asks every
 * client for a certificate but does not reject the handshake without one: health must stay
 * reachable for probes, so the guard decides per request (TLSSocket.authorized). The files are
 * re-read on `reload()` (SIGHUP) and when they change on disk (watching their directories, as
 * rotation tools usually replace a file by renaming a new one over it).
 */
export function createReloadableTls(files: TlsFiles, logger: Logger): ReloadableTls {
  const mutual = files.clientCaFile !== undefined;
  const server = new TlsServer({
    ...read(files),
    ALPNProtocols: ["h2", "http/1.1"],
    minVersion: "TLSv1.2",
    requestCert: mutual,
    rejectUnauthorized: false,
  });
  server.on("secureConnection", (socket: TLSSocket) => {
    if (!mutual) return;
    const caller = callerOf(socket);
    if (caller) logger.info({ caller, remote: socket.remoteAddress }, "client certificate accepted");
    else logger.info({ remote: socket.remoteAddress, reason: socket.authorizationError }, "client without a valid certificate (health only)");
  });

  const reload = () => {
    try {
      server.setSecureContext({ ...read(files), minVersion: "TLSv1.2" } as SecureContextOptions);
      logger.info({ cert: files.certFile }, "tls certificates loaded");
    } catch (error) {
      logger.error({ err: error, cert: files.certFile }, "tls certificates not reloaded: keeping the previous ones");
    }
  };

  let timer: NodeJS.Timeout | undefined;
  const names = new Map<string, Set<string>>();
  for (const file of [files.certFile, files.keyFile, files.clientCaFile]) {
    if (!file) continue;
    const set = names.get(dirname(file)) ?? new Set<string>();
    set.add(basename(file));
    names.set(dirname(file), set);
  }
  const watchers: FSWatcher[] = [...names].map(([dir, set]) =>
    watch(dir, { persistent: false }, (_event, name) => {
      if (name && !set.has(name.toString())) return;
      clearTimeout(timer);
      timer = setTimeout(reload, SETTLE_MS);
    }),
  );

  return {
    server,
    reload,
    close() {
      clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}

function read(files: TlsFiles): { cert: Buffer; key: Buffer; ca?: Buffer } {
  const out: { cert: Buffer; key: Buffer; ca?: Buffer } = { cert: readFileSync(files.certFile), key: readFileSync(files.keyFile) };
  if (files.clientCaFile) out.ca = readFileSync(files.clientCaFile);
  return out;
}

/** The verified client certificate's subject (`CN=alice,O=example`), or undefined without one. */
export function callerOf(socket: TLSSocket): string | undefined {
  if (!socket.authorized) return undefined;
  const subject = socket.getPeerCertificate()?.subject as Record<string, string | string[]> | undefined;
  if (!subject) return undefined;
  return Object.entries(subject)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join("+") : v}`)
    .join(",");
}
