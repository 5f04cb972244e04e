import { createHmac, randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { Logger } from "pino";

export const SIGNATURE_HEADER = "x-faas-signature";
export const TIMESTAMP_HEADER = "x-faas-timestamp";
export const INVOCATION_HEADER = "x-faas-invocation-id";

/**
 * The signature of a callback: `sha256=` and the hex HMAC-SHA256, under the callback key, of the
 * timestamp header's value, a ".", and the body's bytes. A receiver recomputes it and compares in
 * constant time, and refuses timestamps too old (a replay). docs/async.md shows it in Python and Node.
 */
export function signCallback(key: Buffer, timestamp: string, body: string): string {
  return "sha256=" + createHmac("sha256", key).update(`${timestamp}.`).update(body).digest("hex");
}

/**
 * The callback key: FAAS_CALLBACK_SECRET when set (give every replica sharing a queue the same
 * one), else 32 random bytes kept in `file` (hex, 0600) and made on first use.
 */
export function loadCallbackKey(secret: string | undefined, file: string): Buffer {
  if (secret) return Buffer.from(secret, "utf8");
  try {
    return Buffer.from(readFileSync(file, "utf8").trim(), "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const key = randomBytes(32).toString("hex");
  try {
    writeFileSync(file, key + "\n", { mode: 0o600, flag: "wx" });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    return Buffer.from(readFileSync(file, "utf8").trim(), "utf8");
  }
  chmodSync(file, 0o600);
  return Buffer.from(key, "utf8");
}

export interface CallbackOptions {
  key: Buffer;
  /** Tries per callback (the first included). */
  tries: number;
  /** Wait before the second try; doubled for each further one. */
  retryBaseMs: number;
  /** Bound on each try (connect, redirects and the answer). */
  timeoutMs: number;
  logger: Logger;
}

const MAX_REDIRECTS = 3;

/**
 * POSTs an invocation's outcome to its callback URL. A 2xx answer delivers it; anything else
 * (another status, a network error, a timeout) is tried again with backoff, `tries` times in all.
 * Redirects are followed only to the same origin (scheme, host and port), at most 3, as a POST
 * with the same body and signature; one to another origin fails the try (and is not retried: the
 * receiver said where, and it is not allowed).
 */
export class CallbackSender {
  constructor(private readonly options: CallbackOptions) {}

  /** Resolves true when delivered, false when every try failed. Never throws. */
  async deliver(url: string, invocationId: string, body: string, signal: AbortSignal): Promise<boolean> {
    const { tries, retryBaseMs, logger } = this.options;
    for (let attempt = 1; attempt <= tries && !signal.aborted; attempt++) {
      const outcome = await this.tryOnce(url, invocationId, body, signal).catch((error: Error) => ({ ok: false, final: false, why: error.message }));
      if (outcome.ok) return true;
      logger.warn({ invocation_id: invocationId, attempt, why: outcome.why }, "callback not delivered");
      if (outcome.final || attempt === tries) break;
      await delay(retryBaseMs * 2 ** (attempt - 1), signal);
    }
    return false;
  }

  private async tryOnce(url: string, invocationId: string, body: string, signal: AbortSignal): Promise<{ ok: boolean; final: boolean; why: string }> {
    const origin = new URL(url).origin;
    const timestamp = String(Math.floor(Date.now() / 1000));
    const headers = {
      "content-type": "application/json",
      "user-agent": "radical-faas-callback",
      [SIGNATURE_HEADER]: signCallback(this.options.key, timestamp, body),
      [TIMESTAMP_HEADER]: timestamp,
      [INVOCATION_HEADER]: invocationId,
    };
    const trySignal = AbortSignal.any([signal, AbortSignal.timeout(this.options.timeoutMs)]);
    let target = url;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const res = await fetch(target, { method: "POST", headers, body, redirect: "manual", signal: trySignal });
      await res.body?.cancel().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) return { ok: true, final: true, why: "" };
      const location = res.headers.get("location");
      if (res.status >= 300 && res.status < 400 && location) {
        const next = new URL(location, target);
        if (next.origin !== origin) return { ok: false, final: true, why: `redirect to another origin (${next.origin}) refused` };
        target = next.href;
        continue;
      }
      return { ok: false, final: false, why: `answered ${res.status}` };
    }
    return { ok: false, final: true, why: `more than ${MAX_REDIRECTS} redirects` };
  }
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
