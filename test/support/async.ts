/**
 * Helpers of the async invocation tests: an agent as its own process (to kill -9), a TCP gate that
 * handlers meet (the sandbox shares the network, not the file system), and a handler using it.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";

/** The agent as its own process (to kill -9): the one helper the isolation and lifetime tests use too. */
export { spawnAgent, type AgentProcess as AgentChild } from "./agent-process.ts";

/** What the gate answers a handler that arrived: "go" lets it return, "crash" makes it kill its process. */
export type GateAnswer = "go" | "crash" | "hold";

/**
 * A TCP server handlers connect to with their tag; each arrival is recorded and answered by
 * `decide` (default: held until `release(tag)`).
 */
export async function startGate(decide: (tag: string, arrival: number) => GateAnswer = () => "hold") {
  const arrivals: string[] = [];
  const held = new Map<string, Socket[]>();
  const waiters: Array<{ tag: string; count: number; resolve: () => void }> = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
    let buffer = "";
    socket.on("data", (chunk) => {
      buffer += chunk.toString();
      const nl = buffer.indexOf("\n");
      if (nl < 0) return;
      const tag = buffer.slice(0, nl);
      buffer = "";
      arrivals.push(tag);
      const count = arrivals.filter((t) => t === tag).length;
      const answer = decide(tag, count);
      if (answer === "hold") held.set(tag, [...(held.get(tag) ?? []), socket]);
      else socket.end(answer + "\n");
      for (const w of [...waiters]) {
        if (w.tag === tag && count >= w.count) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as { port: number }).port,
    arrivals,
    /** Resolves when `tag` has arrived `count` times in all. */
    arrived(tag: string, count = 1): Promise<void> {
      if (arrivals.filter((t) => t === tag).length >= count) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ tag, count, resolve }));
    },
    release(tag: string, answer: GateAnswer = "go") {
      for (const s of held.get(tag) ?? []) s.end(answer + "\n");
      held.delete(tag);
    },
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/**
 * A handler that, given {"gate": PORT, "tag": T}, meets the gate and returns {"tag": T} when let
 * go, kills its own process on "crash", and raises when the gate closes; {"fail": true} raises
 * ValueError; anything else is echoed.
 */
export const GATED_HANDLER = `import os, socket

def handle(req):
    if req.get("fail"):
        raise ValueError("asked to fail")
    if req.get("gate"):
        s = socket.create_connection(("127.0.0.1", req["gate"]))
        s.sendall((req["tag"] + "\\n").encode())
        answer = s.makefile().readline().strip()
        s.close()
        if answer == "crash":
            os._exit(3)
        if answer != "go":
            raise RuntimeError("the gate closed")
        return {"tag": req["tag"]}
    return req
`;

/** A NATS server with JetStream (Debian's nats-server -js) on a free port, with its own store directory. */
export async function startNats(): Promise<{ url: string; stop(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "faas-nats-"));
  const child = execa("nats-server", ["-js", "-a", "127.0.0.1", "-p", "-1", "-sd", dir], { reject: false, buffer: false, stdin: "ignore" });
  let out = "";
  const url = await new Promise<string>((resolve, reject) => {
    const seen = (chunk: Buffer) => {
      out += chunk.toString();
      const match = /Listening for client connections on (127\.0\.0\.1:\d+)/.exec(out);
      if (match && /Server is ready/.test(out)) resolve(`nats://${match[1]}`);
    };
    child.stderr!.on("data", seen);
    child.stdout!.on("data", seen);
    void child.then(() => reject(new Error(`nats-server exited: ${out}`)));
  });
  return {
    url,
    async stop() {
      child.kill("SIGTERM");
      await child;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
