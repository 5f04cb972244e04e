import { createHash } from "node:crypto";
import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType, type JetStreamClient, type JsMsg } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { connect, nanos, type NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { invalidArgument } from "../domain/errors.ts";
import { Mirror } from "./mirror.ts";
import { queueFull, recoveredAfterDeath } from "./records.ts";
import { isFinal, type InvocationBackend, type InvocationRecord, type InvocationStatus, type ListFilter, type ListPage, type RunAttempt } from "./types.ts";

export interface JetStreamOptions {
  /** FAAS_QUEUE_URL: nats://host:port, several separated by commas. */
  servers: string;
  maxRecords: number;
  /** How long a handed-out message waits for an ack before another agent gets it (FAAS_QUEUE_ACK_WAIT). */
  ackWaitMs: number;
  logger: Logger;
}

const BUCKET = "faas_invocations";
/** Idempotency keys apart, so that the record bucket holds only records (the mirror counts them to know when it has caught up). */
const KEYS_BUCKET = "faas_invocation_keys";
const STREAM = "FAAS_INVOCATION_QUEUE";
const CONSUMER = "faas-runners";
const SUBJECT = "faas.invq";

/**
 * Invocations in NATS JetStream, shared by every agent pointed at the same server: the records
 * live in a KV bucket (the truth, written with compare-and-set on the entry's revision), and a
 * work-queue stream carries one message per attempt to run, handed to the agents through one
 * durable pull consumer. A message only says "look at this invocation": an agent claims it by
 * moving the record from queued to running (CAS), so a duplicate message is harmless. An agent
 * keeps the messages it holds alive (working) while it runs them; when it dies, JetStream hands
 * them to another agent after ackWait, which finds the record running, takes it as the dead
 * agent's and runs a new attempt. Each agent mirrors the bucket (a KV watch) for Get, List and
 * Watch, and so sees the changes other agents make.
 */
export class JetStreamBackend implements InvocationBackend {
  readonly kind = "jetstream" as const;
  private readonly listeners: Array<(record: InvocationRecord) => void> = [];
  private readonly held = new Set<JsMsg>();
  private readonly running = new Map<string, number>();
  private readonly waiting = new Map<string, Array<{ msg: JsMsg; id: string }>>();
  private heartbeat: NodeJS.Timeout | undefined;
  private run: RunAttempt | undefined;
  private slots = 1;
  private closed = false;
  private stopConsuming: (() => void) | undefined;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly kv: KV,
    private readonly keys: KV,
    private readonly mirror: Mirror,
    private readonly options: JetStreamOptions,
  ) {
    mirror.onChange((record) => {
      for (const listener of this.listeners) listener(record);
    });
  }

  static async open(options: JetStreamOptions): Promise<JetStreamBackend> {
    const nc = await connect({ servers: options.servers.split(",").map((s) => s.trim()), name: "radical-faas", maxReconnectAttempts: -1 });
    try {
      const jsm = await jetstreamManager(nc);
      const stream = { name: STREAM, subjects: [`${SUBJECT}.>`], retention: RetentionPolicy.Workqueue, storage: StorageType.File, duplicate_window: nanos(120_000) };
      await jsm.streams.add(stream).catch(async () => jsm.streams.update(STREAM, stream));
      const consumer = { durable_name: CONSUMER, ack_policy: AckPolicy.Explicit, ack_wait: nanos(options.ackWaitMs), max_deliver: -1, max_ack_pending: 10_000 };
      await jsm.consumers.add(STREAM, consumer).catch(async () => jsm.consumers.update(STREAM, CONSUMER, { ack_wait: consumer.ack_wait }));
      const js = jetstream(nc);
      const kvm = new Kvm(js);
      const kv = await kvm.create(BUCKET, { history: 1, storage: StorageType.File });
      const keys = await kvm.create(KEYS_BUCKET, { history: 1, storage: StorageType.File });
      const mirror = await Mirror.open(kv);
      return new JetStreamBackend(nc, js, kv, keys, mirror, options);
    } catch (error) {
      await nc.close().catch(() => undefined);
      throw error;
    }
  }

  async create(record: InvocationRecord): Promise<{ record: InvocationRecord; duplicate: boolean }> {
    if (record.idempotencyKey) {
      const key = `idem.${record.functionId}.${createHash("sha256").update(record.idempotencyKey).digest("hex")}`;
      const taken = await this.keys.create(key, record.id).then(() => undefined, async () => this.keys.get(key));
      if (taken && taken.operation === "PUT") {
        const existing = await this.get(taken.string());
        if (existing) return { record: existing, duplicate: true };
        await this.keys.update(key, record.id, taken.revision); // the key's invocation never got stored (or was pruned)
      } else if (taken) {
        await this.keys.update(key, record.id, taken.revision);
      }
    }
    if (this.mirror.size >= this.options.maxRecords) {
      const evicted = await this.prune(Number.POSITIVE_INFINITY, Math.max(1, Math.ceil(this.options.maxRecords / 100)));
      if (evicted === 0) throw queueFull(this.options.maxRecords);
    }
    // The message first: an agent that dies between the two leaves a message without a record
    // (dropped when it is old, see received) rather than a record no message will ever run.
    await this.publish(record);
    await this.kv.create(recordKey(record.id), JSON.stringify(record));
    this.mirror.put(record);
    return { record, duplicate: false };
  }

  async get(id: string): Promise<InvocationRecord | undefined> {
    const entry = await this.kv.get(recordKey(id));
    return entry && entry.operation === "PUT" ? entry.json<InvocationRecord>() : undefined;
  }

  async list(filter: ListFilter): Promise<ListPage> {
    const after = filter.pageToken ? decodeCursor(filter.pageToken) : undefined;
    const { records, more } = this.mirror.page(filter, after);
    const full = await Promise.all(records.map(async (r) => (await this.get(r.id)) ?? r));
    return { records: full, nextPageToken: more && records.length ? encodeCursor(records[records.length - 1]) : "" };
  }

  async update(id: string, from: readonly InvocationStatus[], change: (current: InvocationRecord) => Partial<InvocationRecord>): Promise<InvocationRecord | undefined> {
    for (let tries = 0; tries < 50; tries++) {
      const entry = await this.kv.get(recordKey(id));
      if (!entry || entry.operation !== "PUT") return undefined;
      const current = entry.json<InvocationRecord>();
      if (!from.includes(current.status)) return undefined;
      const next: InvocationRecord = { ...current, ...change(current), updatedAt: Date.now() };
      const written = await this.kv.update(recordKey(id), JSON.stringify(next), entry.revision).then(() => true, () => false);
      if (written) {
        this.mirror.put(next);
        return next;
      }
    }
    throw new Error(`invocation ${id}: too many concurrent writes`);
  }

  onChange(listener: (record: InvocationRecord) => void): void {
    this.listeners.push(listener);
  }

  async start(run: RunAttempt, slots: number): Promise<void> {
    this.run = run;
    this.slots = slots;
    const consumer = await this.js.consumers.get(STREAM, CONSUMER);
    // Short pulls: a pull request of an agent that died is still served until it expires (nats-server
    // 2.9 does not drop it with the connection), so what it would swallow comes back soon.
    const messages = await consumer.consume({ max_messages: 256, expires: Math.min(Math.max(this.options.ackWaitMs, 1000), 5000) });
    this.stopConsuming = () => void messages.close().catch(() => undefined);
    void (async () => {
      for await (const msg of messages) this.received(msg).catch((error: unknown) => this.options.logger.warn({ err: error }, "queue message not handled"));
    })().catch((error: unknown) => this.options.logger.error({ err: error }, "the queue consumer stopped"));
    this.heartbeat = setInterval(() => {
      for (const msg of this.held) msg.working();
    }, Math.max(200, this.options.ackWaitMs / 3));
    this.heartbeat.unref();
  }

  notify(): void {
    // JetStream hands out the message this agent published; nothing to wake.
  }

  async prune(before: number, limit = Number.POSITIVE_INFINITY): Promise<number> {
    let removed = 0;
    for (const record of this.mirror.finishedBefore(before, limit)) {
      await this.kv.purge(recordKey(record.id)).catch(() => undefined);
      if (record.idempotencyKey) {
        const key = `idem.${record.functionId}.${createHash("sha256").update(record.idempotencyKey).digest("hex")}`;
        const entry = await this.keys.get(key).catch(() => null);
        if (entry?.operation === "PUT" && entry.string() === record.id) await this.keys.purge(key).catch(() => undefined);
      }
      this.mirror.remove(record.id);
      removed++;
    }
    return removed;
  }

  async pendingCallbacks(): Promise<InvocationRecord[]> {
    return this.mirror.all().filter((r) => r.callbackStatus === "pending" && isFinal(r.status));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    this.stopConsuming?.();
    // Given back at once, so another agent need not wait out ackWait.
    for (const msg of this.held) msg.nak();
    this.held.clear();
    this.mirror.close();
    await this.nc.drain().catch(() => undefined);
  }

  private publish(record: InvocationRecord): Promise<unknown> {
    return this.js.publish(`${SUBJECT}.${record.functionId}`, record.id, { msgID: record.id });
  }

  private async received(msg: JsMsg): Promise<void> {
    if (this.closed) return msg.nak();
    const id = msg.string();
    if (!/^inv-[0-9a-f]{32}$/.test(id)) return msg.term();
    // Published just before it is stored: wait for the record briefly rather than a redelivery.
    let record = (await this.mirror.waitFor(id, 2000)) ? await this.get(id) : undefined;
    if (!record) {
      // Its agent died between publishing and storing it (never accepted), or it was pruned.
      const age = Date.now() - Number(BigInt(msg.info.timestampNanos) / 1_000_000n);
      return age > 60_000 ? msg.ack() : msg.nak(1000);
    }
    if (record.status === "running") {
      // Handed out again after ackWait: the agent running it died (a live one keeps it working).
      record = await this.update(id, ["running"], (r) => recoveredAfterDeath(r, Date.now()));
    }
    if (!record || record.status !== "queued") return msg.ack();
    const wait = record.nextAttemptAt - Date.now();
    if (wait > 0) return msg.nak(wait);
    this.held.add(msg);
    const queue = this.waiting.get(record.functionId) ?? [];
    queue.push({ msg, id });
    this.waiting.set(record.functionId, queue);
    this.pump(record.functionId);
  }

  /** Runs what this agent holds for a function, up to its free slots. */
  private pump(functionId: string): void {
    const queue = this.waiting.get(functionId);
    while (queue?.length && (this.running.get(functionId) ?? 0) < this.slots && this.run && !this.closed) {
      const { msg, id } = queue.shift()!;
      this.running.set(functionId, (this.running.get(functionId) ?? 0) + 1);
      void this.runOne(msg, id).finally(() => {
        this.running.set(functionId, (this.running.get(functionId) ?? 1) - 1);
        this.pump(functionId);
      });
    }
    if (queue?.length === 0) this.waiting.delete(functionId);
  }

  private async runOne(msg: JsMsg, id: string): Promise<void> {
    try {
      const now = Date.now();
      const claimed = await this.update(id, ["queued"], (r) => ({ status: "running", attempts: r.attempts + 1, startedAt: now }));
      if (!claimed) return this.ack(msg);
      const after = await this.run!(claimed);
      if (this.closed) return;
      if (after.status === "queued") {
        this.held.delete(msg);
        msg.nak(Math.max(0, after.nextAttemptAt - Date.now()));
        return;
      }
      this.ack(msg);
    } catch (error) {
      this.options.logger.warn({ err: error, invocation_id: id }, "an async attempt could not be recorded");
      if (!this.closed) {
        this.held.delete(msg);
        msg.nak(1000);
      }
    }
  }

  private ack(msg: JsMsg): void {
    this.held.delete(msg);
    msg.ack();
  }
}

/** A record's key in the bucket (a NATS subject token under `rec.`, so the mirror can watch `rec.*`). */
export function recordKey(id: string): string {
  return `rec.${id}`;
}

function encodeCursor(record: InvocationRecord): string {
  return Buffer.from(`${record.createdAt}.${record.id}`, "utf8").toString("base64url");
}

function decodeCursor(token: string): { createdAt: number; id: string } {
  const match = /^(\d{1,15})\.(inv-[0-9a-f]{32})$/.exec(Buffer.from(token, "base64url").toString("utf8"));
  if (!match) throw invalidArgument("page_token", "page_token is invalid: pass next_page_token of the previous page");
  return { createdAt: Number(match[1]), id: match[2] };
}
