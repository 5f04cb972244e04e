import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { decodeToken, encodeToken, queueFull, recoveredAfterDeath } from "./records.ts";
import { COLUMNS, fromRow, MUTABLE_COLUMNS, SCHEMA, toRow, type Row } from "./sqlite-rows.ts";
import type { InvocationBackend, InvocationRecord, InvocationStatus, ListFilter, ListPage, RunAttempt } from "./types.ts";

/**
 * The embedded store: one SQLite file (better-sqlite3, WAL) in the agent's state directory holds
 * the invocations and is the queue. A write is committed to the WAL before the call returns, so it
 * survives a kill -9 of the agent (the OS keeps the file; only a power loss can drop the last
 * commits, as synchronous=NORMAL allows). One agent owns the file.
 */
export class SqliteBackend implements InvocationBackend {
  readonly kind = "sqlite" as const;
  private readonly db: Database.Database;
  private readonly listeners: Array<(record: InvocationRecord) => void> = [];
  private readonly running = new Map<string, number>();
  private run: RunAttempt | undefined;
  private slots = 1;
  private count: number;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private closed = false;
  private readonly sql;

  constructor(file: string, private readonly maxRecords: number) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    this.db.pragma("busy_timeout = 5000");
    this.db.exec(SCHEMA);
    const db = this.db;
    this.sql = {
      insert: db.prepare(`INSERT INTO invocations (${COLUMNS.join(", ")}) VALUES (${COLUMNS.map((c) => "@" + c).join(", ")})`),
      update: db.prepare(`UPDATE invocations SET ${MUTABLE_COLUMNS.map((c) => `${c} = @${c}`).join(", ")} WHERE id = @id`),
      get: db.prepare<[string], Row>("SELECT * FROM invocations WHERE id = ?"),
      byKey: db.prepare<[string, string], Row>("SELECT * FROM invocations WHERE function_id = ? AND idempotency_key = ?"),
      count: db.prepare<[], { n: number }>("SELECT COUNT(*) AS n FROM invocations"),
      evict: db.prepare<[number]>(
        "DELETE FROM invocations WHERE seq IN (SELECT seq FROM invocations WHERE finished_at > 0 ORDER BY finished_at LIMIT ?)",
      ),
      prune: db.prepare<[number]>("DELETE FROM invocations WHERE finished_at > 0 AND finished_at < ?"),
      // The queue index, named: left to itself the planner takes invocations_due (status, next_attempt_at)
      // and sorts every queued row by seq on each pump (10,000 queued: milliseconds per pump, on the event loop).
      due: db.prepare<[string, number, number], Row>(
        "SELECT * FROM invocations INDEXED BY invocations_queue WHERE function_id = ? AND status = 'queued' AND next_attempt_at <= ? ORDER BY seq LIMIT ?",
      ),
      queuedFunctions: db.prepare<[], { function_id: string }>("SELECT DISTINCT function_id FROM invocations WHERE status = 'queued'"),
      nextDue: db.prepare<[number], { t: number | null }>("SELECT MIN(next_attempt_at) AS t FROM invocations WHERE status = 'queued' AND next_attempt_at > ?"),
      running: db.prepare<[], Row>("SELECT * FROM invocations WHERE status = 'running'"),
      callbacks: db.prepare<[], Row>("SELECT * FROM invocations WHERE callback_status = 'pending'"),
    };
    this.count = this.sql.count.get()!.n;
  }

  async create(record: InvocationRecord): Promise<{ record: InvocationRecord; duplicate: boolean }> {
    const result = this.db.transaction(() => {
      if (record.idempotencyKey) {
        const existing = this.sql.byKey.get(record.functionId, record.idempotencyKey);
        if (existing) return { record: fromRow(existing), duplicate: true };
      }
      if (this.count >= this.maxRecords) {
        // Bounded: the oldest finished invocations make room; queued and running ones never do.
        this.count -= this.sql.evict.run(Math.max(1, Math.ceil(this.maxRecords / 100))).changes;
        if (this.count >= this.maxRecords) throw queueFull(this.maxRecords);
      }
      this.sql.insert.run(toRow(record));
      this.count += 1;
      return { record, duplicate: false };
    })();
    if (!result.duplicate) {
      this.emit(record);
      this.notify(record.functionId);
    }
    return result;
  }

  async get(id: string): Promise<InvocationRecord | undefined> {
    const row = this.sql.get.get(id);
    return row && fromRow(row);
  }

  async list(filter: ListFilter): Promise<ListPage> {
    const where: string[] = [];
    const args: Array<string | number> = [];
    if (filter.functionId) {
      where.push("function_id = ?");
      args.push(filter.functionId);
    }
    if (filter.status) {
      where.push("status = ?");
      args.push(filter.status);
    }
    const after = filter.pageToken ? decodeToken(filter.pageToken) : undefined;
    if (after !== undefined) {
      where.push("seq < ?");
      args.push(after);
    }
    const sql = `SELECT * FROM invocations ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY seq DESC LIMIT ?`;
    const rows = this.db.prepare<Array<string | number>, Row>(sql).all(...args, filter.limit + 1);
    const more = rows.length > filter.limit;
    const page = rows.slice(0, filter.limit);
    return { records: page.map(fromRow), nextPageToken: more ? encodeToken(page[page.length - 1].seq) : "" };
  }

  async update(
    id: string,
    from: readonly InvocationStatus[],
    change: (current: InvocationRecord) => Partial<InvocationRecord>,
  ): Promise<InvocationRecord | undefined> {
    if (this.closed) return undefined;
    const updated = this.db.transaction(() => {
      const row = this.sql.get.get(id);
      if (!row || !from.includes(row.status)) return undefined;
      const current = fromRow(row);
      const next: InvocationRecord = { ...current, ...change(current), updatedAt: Date.now() };
      this.sql.update.run(toRow(next));
      return next;
    })();
    if (updated) this.emit(updated);
    return updated;
  }

  onChange(listener: (record: InvocationRecord) => void): void {
    this.listeners.push(listener);
  }

  async start(run: RunAttempt, slots: number): Promise<void> {
    this.run = run;
    this.slots = slots;
    // The agent that owned the file died (or was stopped) with these running: a new attempt each.
    const now = Date.now();
    for (const row of this.sql.running.all()) await this.update(row.id, ["running"], (r) => recoveredAfterDeath(r, now));
    this.pumpAll();
  }

  notify(functionId: string): void {
    if (!this.closed && this.run) this.pump(functionId);
  }

  async prune(before: number): Promise<number> {
    const removed = this.sql.prune.run(before).changes;
    this.count -= removed;
    return removed;
  }

  async pendingCallbacks(): Promise<InvocationRecord[]> {
    return this.sql.callbacks.all().map(fromRow);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.db.close();
  }

  private emit(record: InvocationRecord): void {
    for (const listener of this.listeners) listener(record);
  }

  /** Claims what is due for one function, up to its free slots, and hands it to `run`. */
  private pump(functionId: string): void {
    const run = this.run;
    if (!run || this.closed) return;
    const free = this.slots - (this.running.get(functionId) ?? 0);
    if (free <= 0) return;
    const now = Date.now();
    for (const row of this.sql.due.all(functionId, now, free)) {
      const claimed = this.claim(row.id, now);
      if (!claimed) continue;
      this.running.set(functionId, (this.running.get(functionId) ?? 0) + 1);
      void run(claimed)
        .then((after) => {
          if (after.status === "queued") this.wakeAt(after.nextAttemptAt);
        })
        .catch(() => undefined)
        .finally(() => {
          this.running.set(functionId, (this.running.get(functionId) ?? 1) - 1);
          this.pump(functionId);
        });
    }
    this.wakeAt(this.sql.nextDue.get(now)?.t ?? Number.POSITIVE_INFINITY);
  }

  private claim(id: string, now: number): InvocationRecord | undefined {
    const row = this.sql.get.get(id);
    if (!row || row.status !== "queued") return undefined;
    const next: InvocationRecord = { ...fromRow(row), status: "running", attempts: row.attempts + 1, startedAt: now, updatedAt: now };
    this.sql.update.run(toRow(next));
    this.emit(next);
    return next;
  }

  private pumpAll(): void {
    for (const { function_id } of this.sql.queuedFunctions.all()) this.pump(function_id);
    this.wakeAt(this.sql.nextDue.get(Date.now())?.t ?? Number.POSITIVE_INFINITY);
  }

  /** Makes sure the queue is looked at again by `at` (a retry's backoff ends). */
  private wakeAt(at: number): void {
    if (this.closed || !Number.isFinite(at) || at >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timerAt = Number.POSITIVE_INFINITY;
      this.pumpAll();
    }, Math.max(0, at - Date.now()));
    this.timer.unref();
  }
}
