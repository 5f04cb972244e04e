import type { KV } from "@nats-io/kv";
import type { InvocationRecord, ListFilter } from "./types.ts";

/**
 * Every agent's copy of the invocation bucket, kept by a KV watch: what List pages through and
 * what tells this agent about changes other agents make (their attempts, cancels). It keeps the
 * records without payload and result (those are read from the bucket when asked for), so its
 * memory is bounded by FAAS_INVOCATION_MAX small records.
 */
export class Mirror {
  private readonly records = new Map<string, InvocationRecord>();
  private readonly listeners: Array<(record: InvocationRecord) => void> = [];
  private stop: (() => void) | undefined;

  static async open(kv: KV): Promise<Mirror> {
    const mirror = new Mirror();
    // The watch announces its last initial entry with delta 0; an empty bucket has none.
    const initial = (await kv.status()).values;
    const watch = await kv.watch({ key: "rec.*" });
    mirror.stop = () => watch.stop();
    let ready!: () => void;
    const caughtUp = new Promise<void>((resolve) => (ready = resolve));
    if (initial === 0) ready();
    void (async () => {
      for await (const entry of watch) {
        if (entry.operation === "PUT") mirror.put(entry.json<InvocationRecord>());
        else mirror.remove(entry.key.slice("rec.".length));
        if (entry.delta === 0) ready();
      }
    })();
    await caughtUp;
    return mirror;
  }

  get size(): number {
    return this.records.size;
  }

  onChange(listener: (record: InvocationRecord) => void): void {
    this.listeners.push(listener);
  }

  /** Takes a record in (an own write at once, or one seen by the watch); each newer state is announced once. */
  put(record: InvocationRecord): void {
    const known = this.records.get(record.id);
    if (known && (known.updatedAt > record.updatedAt || (known.updatedAt === record.updatedAt && known.status === record.status && known.attempts === record.attempts && known.callbackStatus === record.callbackStatus))) return;
    this.records.set(record.id, { ...record, payloadJson: "", resultJson: undefined });
    for (const listener of this.listeners) listener(record);
  }

  /** Resolves true once a record with this id is seen, false after `ms`. */
  waitFor(id: string, ms: number): Promise<boolean> {
    if (this.records.has(id)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const listener = (record: InvocationRecord) => {
        if (record.id !== id) return;
        clearTimeout(timer);
        this.listeners.splice(this.listeners.indexOf(listener), 1);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.listeners.splice(this.listeners.indexOf(listener), 1);
        resolve(false);
      }, ms);
      this.listeners.push(listener);
    });
  }

  remove(id: string): void {
    this.records.delete(id);
  }

  all(): InvocationRecord[] {
    return [...this.records.values()];
  }

  /** Final records that finished before `before`, oldest first, at most `limit`. */
  finishedBefore(before: number, limit: number): InvocationRecord[] {
    const done = this.all().filter((r) => r.finishedAt > 0 && r.finishedAt < before);
    done.sort((a, b) => a.finishedAt - b.finishedAt);
    return done.slice(0, Number.isFinite(limit) ? limit : undefined);
  }

  /** One page, newest first (creation time, then id), after the cursor. */
  page(filter: ListFilter, after: { createdAt: number; id: string } | undefined): { records: InvocationRecord[]; more: boolean } {
    const matching = this.all().filter(
      (r) =>
        (!filter.functionId || r.functionId === filter.functionId) &&
        (!filter.status || r.status === filter.status) &&
        (!after || r.createdAt < after.createdAt || (r.createdAt === after.createdAt && r.id < after.id)),
    );
    matching.sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    return { records: matching.slice(0, filter.limit), more: matching.length > filter.limit };
  }

  close(): void {
    this.stop?.();
  }
}
