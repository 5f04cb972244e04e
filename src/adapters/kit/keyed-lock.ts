/**
 * Serialises tasks per key (a function id, a virtualenv): a task runs after every earlier task
 * with the same key has settled, whether it succeeded or failed. Tasks with other keys run freely.
 * Keys are forgotten once idle, so the map holds only keys with work queued.
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  /** Runs `task` in turn for `key`; resolves or rejects as the task does. */
  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const before = this.tails.get(key) ?? Promise.resolve();
    const run = before.then(task, task);
    const settled = run.catch(() => undefined);
    this.tails.set(key, settled);
    void settled.then(() => {
      if (this.tails.get(key) === settled) this.tails.delete(key);
    });
    return run;
  }
}
