import type { ServerResponse } from "node:http";

/** A stored API object (JSON). */
export type Obj = Record<string, any>;

/** The resources the stand-in serves: `group/version/plural`-like keys. */
export type Resource = "services" | "revisions" | "pods";

interface Watcher {
  resource: Resource;
  namespace: string;
  match: (o: Obj) => boolean;
  res: ServerResponse;
}

interface HistoryEntry {
  rv: number;
  resource: Resource;
  type: "ADDED" | "MODIFIED" | "DELETED";
  object: Obj;
}

/**
 * The stand-in's etcd: objects per resource and namespace, one global resourceVersion counter, an
 * event history (so a watch from a resourceVersion replays what it missed) and open watch streams.
 */
export class ObjectStore {
  private rv = 1000;
  /** The oldest resourceVersion a watch may start from (raised by compaction). */
  private floor = 1000;
  /** false: compact after every write, so that any resumed watch that missed an event gets 410. */
  keepHistory = true;
  /** Watches answered 410 Expired. */
  expired = 0;
  /**
   * Test hook: runs when the server ends a watch at its timeout, just before the stream ends. A write
   * made here lands between the client's last event and its resume, the interleaving a busy cluster
   * produces, so that (with `keepHistory` false) the resume is certain to get 410.
   */
  onWatchTimeout: (() => void) | undefined;
  private readonly expiredWaiters: (() => void)[] = [];
  private readonly objects = new Map<string, Obj>();
  private readonly history: HistoryEntry[] = [];
  private readonly watchers = new Set<Watcher>();
  private readonly deliveries: { key: string; rv: number; resolve: () => void }[] = [];

  /** The current resourceVersion (as lists report it). */
  get resourceVersion(): string {
    return String(this.rv);
  }

  get(resource: Resource, namespace: string, name: string): Obj | undefined {
    const o = this.objects.get(key(resource, namespace, name));
    return o ? structuredClone(o) : undefined;
  }

  list(resource: Resource, namespace: string, match: (o: Obj) => boolean = () => true): Obj[] {
    const prefix = `${resource}/${namespace}/`;
    return [...this.objects.entries()]
      .filter(([k, o]) => k.startsWith(prefix) && match(o))
      .map(([, o]) => structuredClone(o))
      .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
  }

  /** Stores `object` (new or changed) with a fresh resourceVersion and tells the watchers. */
  put(resource: Resource, object: Obj): Obj {
    const k = key(resource, object.metadata.namespace, object.metadata.name);
    const type = this.objects.has(k) ? "MODIFIED" : "ADDED";
    object.metadata.resourceVersion = String(++this.rv);
    this.objects.set(k, structuredClone(object));
    this.emit({ rv: this.rv, resource, type, object });
    return structuredClone(object);
  }

  remove(resource: Resource, namespace: string, name: string): Obj | undefined {
    const k = key(resource, namespace, name);
    const object = this.objects.get(k);
    if (!object) return undefined;
    this.objects.delete(k);
    object.metadata.resourceVersion = String(++this.rv);
    this.emit({ rv: this.rv, resource, type: "DELETED", object });
    return object;
  }

  /**
   * Streams watch events as JSON lines: without `fromRv`, ADDED for every current match first;
   * with it, every later event from the history. The stream stays open until the client leaves or
   * `timeoutMs` passes (then the server ends it, as kube-apiserver ends every watch after its
   * request timeout). A `fromRv` older than the history kept is answered, as the watch cache does,
   * with one ERROR event carrying a 410 Expired Status and the end of the stream
   * (kubernetes/kubernetes master, as indexed, not pinned to a commit:
   * staging/src/k8s.io/apiserver/pkg/storage/cacher/watch_cache.go getAllEventsSinceLocked,
   * `too old resource version: %d (%d)` as errors.NewResourceExpired; cacher.go newErrWatcher).
   */
  watch(resource: Resource, namespace: string, match: (o: Obj) => boolean, fromRv: number | undefined, res: ServerResponse, timeoutMs?: number): void {
    res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
    res.flushHeaders();
    const send = (type: string, o: Obj) => {
      res.write(`${JSON.stringify({ type, object: o })}\n`);
      this.delivered(key(resource, namespace, o.metadata.name), Number(o.metadata.resourceVersion));
    };
    if (fromRv === undefined) {
      for (const o of this.list(resource, namespace, match)) send("ADDED", o);
    } else if (fromRv < this.floor) {
      this.expired++;
      for (const wake of this.expiredWaiters.splice(0)) wake();
      const message = `too old resource version: ${fromRv} (${this.floor})`;
      res.write(`${JSON.stringify({ type: "ERROR", object: { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason: "Expired", code: 410 } })}\n`);
      return void res.end();
    } else {
      for (const e of this.history) {
        if (e.rv > fromRv && e.resource === resource && e.object.metadata.namespace === namespace && match(e.object)) send(e.type, e.object);
      }
    }
    const watcher: Watcher = { resource, namespace, match, res };
    this.watchers.add(watcher);
    const timer = timeoutMs !== undefined ? setTimeout(() => (this.onWatchTimeout?.(), res.end()), timeoutMs) : undefined;
    res.on("close", () => {
      clearTimeout(timer);
      this.watchers.delete(watcher);
    });
  }

  /** Resolves at the next watch answered 410 Expired. */
  whenExpired(): Promise<void> {
    return new Promise((resolve) => this.expiredWaiters.push(resolve));
  }

  /** Forgets the event history (etcd compaction): a watch from an older resourceVersion gets 410. */
  compact(): void {
    this.history.splice(0);
    this.floor = this.rv;
  }

  /**
   * Resolves once the object's version `rv` (or a later one) has been written to a watch stream, or
   * after `fallbackMs`: lets the controller simulation hold a short-lived state until a client
   * watching the object has seen it, the interleaving a loaded cluster produces.
   */
  seen(resource: Resource, namespace: string, name: string, rv: number, fallbackMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, fallbackMs);
      this.deliveries.push({ key: key(resource, namespace, name), rv, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }

  /** Ends every watch stream (shutdown). */
  closeWatches(): void {
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
  }

  private emit(entry: HistoryEntry): void {
    entry.object = structuredClone(entry.object);
    this.history.push(entry);
    if (!this.keepHistory) this.compact();
    if (this.history.length > 5000) {
      this.history.splice(0, 1000);
      this.floor = this.history[0]!.rv - 1;
    }
    for (const w of this.watchers) {
      if (w.resource === entry.resource && w.namespace === entry.object.metadata.namespace && w.match(entry.object)) {
        w.res.write(`${JSON.stringify({ type: entry.type, object: entry.object })}\n`);
        this.delivered(key(entry.resource, entry.object.metadata.namespace, entry.object.metadata.name), entry.rv);
      }
    }
  }

  private delivered(k: string, rv: number): void {
    for (let i = this.deliveries.length - 1; i >= 0; i--) {
      const d = this.deliveries[i]!;
      if (d.key === k && rv >= d.rv) {
        this.deliveries.splice(i, 1);
        d.resolve();
      }
    }
  }
}

function key(resource: Resource, namespace: string, name: string): string {
  return `${resource}/${namespace}/${name}`;
}

/** Kubernetes label selectors: `a=b`, `a==b`, `a!=b`, `a`, `!a`, comma-separated (all must hold). */
export function labelMatcher(selector: string | null): (o: Obj) => boolean {
  if (!selector) return () => true;
  const terms = selector.split(",").map((t) => t.trim()).filter(Boolean);
  return (o) => {
    const labels = (o.metadata?.labels ?? {}) as Record<string, string>;
    return terms.every((t) => {
      let m = /^([^!=]+)!=(.*)$/.exec(t);
      if (m) return labels[m[1]!] !== m[2];
      m = /^([^!=]+)==?(.*)$/.exec(t);
      if (m) return labels[m[1]!] === m[2];
      if (t.startsWith("!")) return !(t.slice(1) in labels);
      return t in labels;
    });
  };
}

/** Field selectors the stand-in supports: `metadata.name=x` and `metadata.namespace=x`. */
export function fieldMatcher(selector: string | null): (o: Obj) => boolean {
  if (!selector) return () => true;
  const terms = selector.split(",").map((t) => /^([^=]+)==?(.*)$/.exec(t.trim()));
  return (o) =>
    terms.every((m) => {
      if (!m) return false;
      if (m[1] === "metadata.name") return o.metadata?.name === m[2];
      if (m[1] === "metadata.namespace") return o.metadata?.namespace === m[2];
      return false;
    });
}
