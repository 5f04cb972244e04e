/** A periodic sweep that stops idle instances; `stop` ends it. */
export interface Sweeper {
  stop(): void;
}

/**
 * Runs `sweep` periodically so that an instance idle for `idleTimeoutMs` is stopped within about
 * a quarter of that (every idleTimeoutMs/4, at least 50 ms, at most 5 s). With `idleTimeoutMs` 0
 * (never stop) nothing runs. The timer is unref'd: it never keeps the agent alive.
 */
export function startSweeper(idleTimeoutMs: number, sweep: (now: number) => void): Sweeper {
  if (idleTimeoutMs <= 0) return { stop() {} };
  const every = Math.min(Math.max(idleTimeoutMs / 4, 50), 5000);
  const timer = setInterval(() => sweep(Date.now()), every).unref();
  return { stop: () => clearInterval(timer) };
}
