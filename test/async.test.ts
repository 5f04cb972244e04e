/**
 * Durable async invocations against a real agent with real Python workers: REST and Connect,
 * retries, idempotency, cancel, watch, signed callbacks, retention, a 10,000-invocation drain, and
 * kill -9 of the agent with invocations queued and running. Handlers meet the test at a TCP gate
 * (test/support/async.ts): every wait is on an event or a deadline, never a sleep.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toJson } from "@bufbuild/protobuf";
import { FaasAgent, InvocationSchema } from "../gen/faas/v1/agent_pb.ts";
import { deploy, getJson, postJson, startTestAgent, type TestAgent } from "./support/agent.ts";
import { GATED_HANDLER, spawnAgent, startGate, startNats } from "./support/async.ts";
import { requirePart } from "./support/requires.ts";

const SECRET = "test-callback-secret";
const FINAL = ["succeeded", "failed", "cancelled"];

/** Waits (Connect WatchInvocation, an event stream) until the invocation is final; returns every state seen. */
async function settle(url: string, id: string): Promise<any[]> {
  const client = createClient(FaasAgent, createConnectTransport({ baseUrl: url, httpVersion: "1.1" }));
  const seen: any[] = [];
  for await (const msg of client.watchInvocation({ invocationId: id }, { timeoutMs: 60_000 })) seen.push(toJson(InvocationSchema, msg.invocation!, { useProtoFieldName: true, alwaysEmitImplicit: true }));
  expect(FINAL).toContain(seen.at(-1).status);
  return seen;
}

/** Polls a condition until it holds, up to a deadline (for states no event announces, e.g. pruning). */
async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const skipNats = await requirePart("nats-server");

for (const backend of ["sqlite", "jetstream"] as const) {
  describe.skipIf(backend === "jetstream" && skipNats)(`${backend} backend`, () => {
    let nats: Awaited<ReturnType<typeof startNats>> | undefined;
    /** The agent's queue settings: none for the embedded store; JetStream with a short ack wait (a dead agent's messages come back after it). */
    const queue = (): Record<string, string> => (nats ? { FAAS_QUEUE_URL: nats.url, FAAS_QUEUE_ACK_WAIT: "2" } : {});
    beforeAll(async () => {
      if (backend === "jetstream") nats = await startNats();
    });
    afterAll(async () => {
      await nats?.stop();
    });

    describe("async invocations", () => {
      let agent: TestAgent;
      let gate: Awaited<ReturnType<typeof startGate>>;
      const answers = new Map<string, (arrival: number) => "go" | "crash" | "hold">();

      beforeAll(async () => {
        gate = await startGate((tag, n) => answers.get(tag)?.(n) ?? "hold");
        agent = await startTestAgent({ ...queue(), FAAS_ASYNC_RETRY_BASE: "0.05", FAAS_CALLBACK_SECRET: SECRET, FAAS_ASYNC_CONCURRENCY: "2" });
        await deploy(agent, { id: "gated", handler: GATED_HANDLER });
      });
      afterAll(async () => {
        gate?.close();
        await agent?.dispose();
      });

      it("accepts at once (202) and keeps the result exactly as a sync call gives it", async () => {
        const accepted = await postJson(`${agent.url}/async-invoke`, { id: "gated", payload: { x: [1, "two", { three: 3 }] } });
        expect(accepted.status).toBe(202);
        expect(accepted.body).toEqual({ invocation_id: expect.stringMatching(/^inv-[0-9a-f]{32}$/), status: "queued" });
        await settle(agent.url, accepted.body.invocation_id);
        const got = await getJson(`${agent.url}/invocations/${accepted.body.invocation_id}`);
        const sync = await postJson(`${agent.url}/invoke`, { id: "gated", payload: { x: [1, "two", { three: 3 }] } });
        expect(got.body).toMatchObject({ status: "succeeded", attempts: 1, max_attempts: 3, function_id: "gated", result: sync.body.result, error: null });
        expect(got.body.execution_time).toBeGreaterThan(0);
        expect(Date.parse(got.body.finished_at)).toBeGreaterThanOrEqual(Date.parse(got.body.started_at));
      });

      it("a FUNCTION_ERROR fails at once with the sync call's error, never retried", async () => {
        const accepted = await postJson(`${agent.url}/async-invoke`, { id: "gated", payload: { fail: true }, max_attempts: 5 });
        await settle(agent.url, accepted.body.invocation_id);
        const got = (await getJson(`${agent.url}/invocations/${accepted.body.invocation_id}`)).body;
        const sync = await postJson(`${agent.url}/invoke`, { id: "gated", payload: { fail: true } });
        expect(got.status).toBe("failed");
        expect(got.attempts).toBe(1);
        expect(got.error).toMatchObject({ code: "unknown", reason: "FUNCTION_ERROR", http_status: sync.status, message: sync.body.error });
        expect(got.error.metadata.exception_type).toBe(sync.body.exception_type);
      });

      it("retries WORKER_CRASHED with backoff up to max_attempts, then fails with it", async () => {
        answers.set("crash-once", (n) => (n === 1 ? "crash" : "go"));
        answers.set("crash-always", () => "crash");
        // One after the other: a crash ends the worker process, and with it every call it was running.
        const once = await postJson(`${agent.url}/async-invoke`, { id: "gated", payload: { gate: gate.port, tag: "crash-once" } });
        const states = await settle(agent.url, once.body.invocation_id);
        expect(states.some((s) => s.status === "queued" && s.attempts === 1 && s.error?.reason === "WORKER_CRASHED")).toBe(true);
        expect(states.at(-1)).toMatchObject({ status: "succeeded", attempts: 2, result: { tag: "crash-once" } });
        const always = await postJson(`${agent.url}/async-invoke`, { id: "gated", payload: { gate: gate.port, tag: "crash-always" }, max_attempts: 2 });
        const last = (await settle(agent.url, always.body.invocation_id)).at(-1);
        expect(last).toMatchObject({ status: "failed", attempts: 2, error: { reason: "WORKER_CRASHED", code: "unavailable" } });
      });

      it("the same idempotency key gives the same invocation; another key or function a new one", async () => {
        answers.set("idem", () => "go");
        const body = { id: "gated", payload: { gate: gate.port, tag: "idem" }, idempotency_key: "order-42" };
        const first = await postJson(`${agent.url}/async-invoke`, body);
        const again = await postJson(`${agent.url}/async-invoke`, { ...body, payload: { other: true } });
        expect(again.body.invocation_id).toBe(first.body.invocation_id);
        expect(again.body.duplicate).toBe(true);
        const other = await postJson(`${agent.url}/async-invoke`, { ...body, idempotency_key: "order-43" });
        expect(other.body.invocation_id).not.toBe(first.body.invocation_id);
        await settle(agent.url, first.body.invocation_id);
        await settle(agent.url, other.body.invocation_id);
        const after = await postJson(`${agent.url}/async-invoke`, body);
        expect(after.body).toMatchObject({ invocation_id: first.body.invocation_id, status: "succeeded", duplicate: true });
        expect(gate.arrivals.filter((t) => t === "idem")).toHaveLength(2);
      });

      it("cancels a running invocation (its call aborted) and a queued one (it never runs)", async () => {
        const running = await postJson(`${agent.url}/async-invoke`, { id: "gated", payload: { gate: gate.port, tag: "cancel-running" } });
        await gate.arrived("cancel-running");
        const cancelled = await postJson(`${agent.url}/invocations/${running.body.invocation_id}/cancel`, {});
        expect(cancelled.status).toBe(200);
        expect(cancelled.body).toMatchObject({ status: "cancelled", error: { reason: "CANCELLED" } });
        gate.release("cancel-running");
        // Two held ones fill the function's two slots; the third waits queued, then is cancelled.
        const holders = [];
        for (const tag of ["hold-1", "hold-2"]) {
          holders.push((await postJson(`${agent.url}/async-invoke`, { id: "gated", payload: { gate: gate.port, tag } })).body.invocation_id);
          await gate.arrived(tag);
        }
        const queued = await postJson(`${agent.url}/async-invoke`, { id: "gated", payload: { gate: gate.port, tag: "cancel-queued" } });
        expect((await getJson(`${agent.url}/invocations/${queued.body.invocation_id}`)).body.status).toBe("queued");
        expect((await postJson(`${agent.url}/invocations/${queued.body.invocation_id}/cancel`, {})).body.status).toBe("cancelled");
        gate.release("hold-1");
        gate.release("hold-2");
        for (const id of holders) await settle(agent.url, id);
        expect(gate.arrivals).not.toContain("cancel-queued");
        expect((await postJson(`${agent.url}/invocations/${queued.body.invocation_id}/cancel`, {})).body.status).toBe("cancelled");
        const finished = await postJson(`${agent.url}/invocations/${holders[0]}/cancel`, {});
        expect(finished.status).toBe(409);
        expect(finished.body).toMatchObject({ reason: "INVOCATION_FINISHED", error: `invocation "${holders[0]}" already succeeded`, status: "succeeded" });
      });

      it("lists by function and status, newest first, in pages", async () => {
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) ids.push((await postJson(`${agent.url}/async-invoke`, { id: "gated", payload: { n: i } })).body.invocation_id);
        for (const id of ids) await settle(agent.url, id);
        const seen: string[] = [];
        let token = "";
        for (let page = 0; page < 20; page++) {
          const res = await getJson(`${agent.url}/invocations?function_id=gated&status=succeeded&page_size=2${token ? `&page_token=${token}` : ""}`);
          expect(res.status).toBe(200);
          expect(res.body.invocations.length).toBeLessThanOrEqual(2);
          for (const inv of res.body.invocations) expect(inv).toMatchObject({ function_id: "gated", status: "succeeded" });
          seen.push(...res.body.invocations.map((i: any) => i.invocation_id));
          token = res.body.next_page_token;
          if (!token) break;
        }
        expect(seen.slice(0, 5)).toEqual([...ids].reverse());
        expect((await getJson(`${agent.url}/invocations?function_id=nobody`)).body.invocations).toEqual([]);
        expect((await getJson(`${agent.url}/invocations?status=done`)).body).toMatchObject({ reason: "INVALID_REQUEST", field: "status" });
        expect((await getJson(`${agent.url}/invocations?page_token=zz`)).body).toMatchObject({ reason: "INVALID_REQUEST", field: "page_token" });
      });

      it("answers bad requests precisely and keeps serving", async () => {
        const cases: Array<[unknown, string]> = [
          [{ payload: {} }, "id"],
          [{ id: "gated", callback_url: "ftp://x/" }, "callback_url"],
          [{ id: "gated", callback_url: "http://user@host/" }, "callback_url"],
          [{ id: "gated", max_attempts: 11 }, "max_attempts"],
          [{ id: "gated", idempotency_key: "a\u0000b" }, "idempotency_key"],
          [{ id: "gated", max_attempts: "three" }, "max_attempts"],
        ];
        for (const [body, field] of cases) {
          const res = await postJson(`${agent.url}/async-invoke`, body);
          expect(res.status, JSON.stringify(body)).toBe(400);
          expect(res.body.field).toBe(field);
        }
        expect((await getJson(`${agent.url}/invocations/inv-${"0".repeat(32)}`)).body).toMatchObject({ reason: "INVOCATION_NOT_FOUND" });
        expect((await getJson(`${agent.url}/invocations/%E0%A4%A`)).status).toBe(400);
        expect((await getJson(`${agent.url}/invocations/..%2F..%2Fetc`)).status).toBe(400);
        expect((await postJson(`${agent.url}/invoke`, { id: "gated", payload: { ok: 1 } })).status).toBe(200);
      });

      it("a queued invocation of an unknown function fails with FUNCTION_NOT_FOUND, as a sync call would", async () => {
        const accepted = await postJson(`${agent.url}/async-invoke`, { id: "nothing-here" });
        expect(accepted.status).toBe(202);
        const last = (await settle(agent.url, accepted.body.invocation_id)).at(-1);
        expect(last).toMatchObject({ status: "failed", attempts: 1, error: { reason: "FUNCTION_NOT_FOUND", code: "not_found", http_status: 404 } });
      });

      describe("callbacks", () => {
        let receiver: Server;
        let base = "";
        let other: Server;
        let otherBase = "";
        const received: Array<{ path: string; body: string; headers: IncomingMessage["headers"] }> = [];
        const otherHits: string[] = [];
        const waiters: Array<() => void> = [];
        let failFirst = 0;

        beforeAll(async () => {
          receiver = createServer((req, res) => {
            let body = "";
            req.on("data", (c) => (body += c));
            req.on("end", () => {
              if (req.url === "/same-origin-redirect") {
                res.writeHead(307, { location: "/hook" }).end();
                return;
              }
              if (req.url === "/other-origin-redirect") {
                res.writeHead(307, { location: `${otherBase}/hook` }).end();
                return;
              }
              if (req.url === "/flaky" && failFirst-- > 0) {
                res.writeHead(503).end();
                return;
              }
              received.push({ path: req.url ?? "", body, headers: req.headers });
              res.writeHead(204).end();
              waiters.splice(0).forEach((w) => w());
            });
          });
          other = createServer((req, res) => {
            otherHits.push(req.url ?? "");
            res.writeHead(204).end();
          });
          await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
          await new Promise<void>((r) => other.listen(0, "127.0.0.1", r));
          base = `http://127.0.0.1:${(receiver.address() as { port: number }).port}`;
          otherBase = `http://127.0.0.1:${(other.address() as { port: number }).port}`;
        });
        afterAll(() => {
          receiver?.close();
          other?.close();
        });

        const verify = (r: (typeof received)[number]) => {
          const expected = "sha256=" + createHmac("sha256", SECRET).update(`${r.headers["x-faas-timestamp"]}.${r.body}`).digest("hex");
          const got = String(r.headers["x-faas-signature"]);
          return got.length === expected.length && timingSafeEqual(Buffer.from(got), Buffer.from(expected));
        };

        it("POSTs the outcome, signed; a 5xx answer is tried again; the signature fails for a changed body", async () => {
          failFirst = 2;
          const accepted = await postJson(`${agent.url}/async-invoke`, { id: "gated", payload: { cb: 1 }, callback_url: `${base}/flaky` });
          const inv = accepted.body.invocation_id;
          const delivered = await until("the callback to be recorded as delivered", async () => {
            const got = (await getJson(`${agent.url}/invocations/${inv}`)).body;
            return got.callback_status === "delivered" ? got : undefined;
          });
          expect(delivered.status).toBe("succeeded");
          const hit = received.find((r) => r.headers["x-faas-invocation-id"] === inv)!;
          expect(hit.path).toBe("/flaky");
          expect(verify(hit)).toBe(true);
          expect(verify({ ...hit, body: hit.body.replace('"cb":1', '"cb":2') })).toBe(false);
          expect(JSON.parse(hit.body)).toMatchObject({ invocation_id: inv, status: "succeeded", result: { cb: 1 } });
        });

        it("follows a redirect to the same origin, never to another host", async () => {
          const same = (await postJson(`${agent.url}/async-invoke`, { id: "gated", payload: { r: 1 }, callback_url: `${base}/same-origin-redirect` })).body.invocation_id;
          const away = (await postJson(`${agent.url}/async-invoke`, { id: "gated", payload: { r: 2 }, callback_url: `${base}/other-origin-redirect` })).body.invocation_id;
          const final = async (id: string) =>
            until(`callback of ${id}`, async () => {
              const got = (await getJson(`${agent.url}/invocations/${id}`)).body;
              return got.callback_status === "delivered" || got.callback_status === "failed" ? got.callback_status : undefined;
            });
          expect(await final(same)).toBe("delivered");
          expect(received.some((r) => r.path === "/hook" && r.headers["x-faas-invocation-id"] === same && verify(r))).toBe(true);
          expect(await final(away)).toBe("failed");
          expect(otherHits).toEqual([]);
        });
      });
    });

    describe("retention", () => {
      it("prunes finished invocations after FAAS_INVOCATION_RETENTION, never queued or running ones", async () => {
        const gate = await startGate();
        const agent = await startTestAgent({ ...queue(), FAAS_INVOCATION_RETENTION: "0.5" });
        try {
          await deploy(agent, { id: "gated", handler: GATED_HANDLER });
          const done = (await postJson(`${agent.url}/async-invoke`, { id: "gated", payload: { a: 1 } })).body.invocation_id;
          await settle(agent.url, done);
          const held = (await postJson(`${agent.url}/async-invoke`, { id: "gated", payload: { gate: gate.port, tag: "held" } })).body.invocation_id;
          await gate.arrived("held");
          await until("the finished invocation to be pruned", async () => ((await getJson(`${agent.url}/invocations/${done}`)).status === 404 ? true : undefined));
          const start = Date.now();
          // A prune pass runs at least every second: two more passes must leave the running one.
          await until("two more prune passes", async () => (Date.now() - start > 2100 ? true : undefined));
          expect((await getJson(`${agent.url}/invocations/${held}`)).body.status).toBe("running");
          gate.release("held");
          expect((await settle(agent.url, held)).at(-1).status).toBe("succeeded");
        } finally {
          gate.close();
          await agent.dispose();
        }
      });
    });

    describe("kill -9 of the agent", () => {
      it("queued invocations run after the restart; running ones are retried as a new attempt", async () => {
        const stateDir = await mkdtemp(join(tmpdir(), "faas-async-kill-"));
        let restarted = false;
        // Held until the kill; after the restart every arrival is let go at once.
        const gate = await startGate(() => (restarted ? "go" : "hold"));
        const env = { ...queue(), FAAS_STATE_DIR: stateDir, FAAS_ASYNC_CONCURRENCY: "2", FAAS_ASYNC_RETRY_BASE: "0.05" };
        let child = await spawnAgent(env);
        try {
          await deploy(child, { id: "gated", handler: GATED_HANDLER });
          const tags = ["a", "b", "c", "d", "e"];
          const ids = new Map<string, string>();
          for (const tag of tags) ids.set(tag, (await postJson(`${child.url}/async-invoke`, { id: "gated", payload: { gate: gate.port, tag } })).body.invocation_id);
          // a and b running (held at the gate), c, d, e queued behind them: the agent dies.
          await gate.arrived("a");
          await gate.arrived("b");
          // (In either order: they start together, on two worker threads.)
          expect([...gate.arrivals].sort()).toEqual(["a", "b"]);
          await child.kill9();
          restarted = true;
          child = await spawnAgent(env);
          for (const tag of tags) {
            const last = (await settle(child.url, ids.get(tag)!)).at(-1);
            expect(last, tag).toMatchObject({ status: "succeeded", attempts: tag === "a" || tag === "b" ? 2 : 1, result: { tag } });
          }
          // At least once: a and b ran twice (the first time cut off by the kill), the others once.
          for (const tag of tags) expect(gate.arrivals.filter((t) => t === tag).length, tag).toBe(tag === "a" || tag === "b" ? 2 : 1);
        } finally {
          gate.close();
          await child.stop();
          await rm(stateDir, { recursive: true, force: true });
        }
      });
    });

    // Only JetStream is shared by several agents (SQLite is one agent's file): not a skip, not registered for SQLite.
    if (backend === "jetstream") describe("several agents on one queue", () => {
      it("an invocation accepted by one agent is run by another, and every agent sees it", async () => {
        let aDead = false;
        // Nothing finishes while a lives: whatever succeeds, b ran.
        const gate = await startGate(() => (aDead ? "go" : "hold"));
        const dirs = [await mkdtemp(join(tmpdir(), "faas-async-a-")), await mkdtemp(join(tmpdir(), "faas-async-b-"))];
        let a = await spawnAgent({ ...queue(), FAAS_STATE_DIR: dirs[0] });
        const b = await spawnAgent({ ...queue(), FAAS_STATE_DIR: dirs[1] });
        try {
          await deploy(a, { id: "gated", handler: GATED_HANDLER });
          await deploy(b, { id: "gated", handler: GATED_HANDLER });
          // a accepts, then dies at once; b runs what a accepted (a's messages come to b after the ack wait).
          const ids: string[] = [];
          for (let i = 0; i < 5; i++) ids.push((await postJson(`${a.url}/async-invoke`, { id: "gated", payload: { gate: gate.port, tag: `r${i}` } })).body.invocation_id);
          await gate.arrived("r0");
          await a.kill9();
          aDead = true;
          for (let i = 0; i < 5; i++) gate.release(`r${i}`); // b's calls held while a lived (a's are gone with it)
          for (const id of ids) expect((await settle(b.url, id)).at(-1).status).toBe("succeeded");
          a = await spawnAgent({ ...queue(), FAAS_STATE_DIR: dirs[0] });
          const seen = await getJson(`${a.url}/invocations/${ids[0]}`);
          expect(seen.body).toMatchObject({ status: "succeeded", result: { tag: "r0" } });
          // Cancel on one agent reaches a call running on another.
          const held = await startGate();
          const running = (await postJson(`${a.url}/async-invoke`, { id: "gated", payload: { gate: held.port, tag: "x" } })).body.invocation_id;
          await held.arrived("x");
          expect((await postJson(`${b.url}/invocations/${running}/cancel`, {})).body.status).toBe("cancelled");
          expect((await settle(a.url, running)).at(-1).status).toBe("cancelled");
          held.close();
        } finally {
          gate.close();
          await a.stop();
          await b.stop();
          for (const dir of dirs) await rm(dir, { recursive: true, force: true });
        }
      });
    });

    describe("drain", () => {
      it("10,000 queued invocations all complete: 0 lost", async () => {
        const agent = await startTestAgent({ ...queue(), FAAS_ASYNC_CONCURRENCY: "8" });
        try {
          await deploy(agent, { id: "echo", handler: "def handle(req):\n    return req\n" });
          const total = 10_000;
          const ids = new Set<string>();
          let next = 0;
          await Promise.all(
            Array.from({ length: 32 }, async () => {
              while (next < total) {
                const n = next++;
                const res = await postJson(`${agent.url}/async-invoke`, { id: "echo", payload: { n } });
                expect(res.status).toBe(202);
                ids.add(res.body.invocation_id);
              }
            }),
          );
          expect(ids.size).toBe(total);
          await until(
            "the queue to drain",
            async () => {
              const [q, r] = await Promise.all(["queued", "running"].map((s) => getJson(`${agent.url}/invocations?function_id=echo&status=${s}&page_size=1`)));
              return q.body.invocations.length === 0 && r.body.invocations.length === 0 ? true : undefined;
            },
            180_000,
          );
          const done = new Set<string>();
          let token = "";
          do {
            const page = (await getJson(`${agent.url}/invocations?function_id=echo&status=succeeded&page_size=1000${token ? `&page_token=${token}` : ""}`)).body;
            for (const inv of page.invocations) done.add(inv.invocation_id);
            token = page.next_page_token;
          } while (token);
          expect([...ids].filter((id) => !done.has(id))).toEqual([]);
          expect(done.size).toBe(total);
        } finally {
          await agent.dispose();
        }
      }, 300_000);
    });
  });
}
