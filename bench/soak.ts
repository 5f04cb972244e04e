/**
 * `npm run soak`: SOAK_SECONDS (default 300) of mixed load against an agent process started as
 * `npm start` starts it (local platform): well-behaved functions invoked without pause, a deploy /
 * invoke / delete churn, log followers (one reading, one that never reads), and the hostile
 * handlers of test/hostile-runtime.test.ts (output floods, busy loops past the invoke timeout,
 * unrenderable exceptions, results over the limit, control-pipe junk at import). Reports the
 * agent's open fds, RSS, child processes and state-directory size at the start and at the end, and
 * the calls of well-behaved functions that failed (must be 0). Not part of `npm test`.
 *
 * Both figures are taken the same way, on a quiet agent: the start after the deploys and a first
 * call of each function plus START_SETTLE_S of quiet (the agent's idle collection, src/idle-gc.ts,
 * may run), the end after the load has stopped plus END_SETTLE_S of quiet (FAAS_IDLE_TIMEOUT
 * stops the workers, then the idle collection runs). Flat means: RSS within RSS_TOLERANCE_MIB of
 * the start, no more fds or child processes than at the start (+ FD_SLACK), and a state directory
 * within its bound (16 MiB of logs per function). Exits 1 when a figure is not flat, a call of a
 * well-behaved function failed, or /health does not answer 200.
 */
import { request as httpRequest, type ClientRequest } from "node:http";
import { readdirSync, statSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { descendants, fdCount, rssMiB, startProcessAgent, type ProcessAgent } from "../test/support/process-agent.ts";

const SECONDS = Number(process.env.SOAK_SECONDS ?? 300);
const INVOKE_TIMEOUT_S = 3;
const IDLE_TIMEOUT_S = 20;
/** Quiet before the start figure: one idle-collection period (10 s) and some. */
const START_SETTLE_S = 15;
/** Quiet before the end figure: the workers' idle timeout, then an idle-collection period, and some. */
const END_SETTLE_S = IDLE_TIMEOUT_S + 25;
const RSS_TOLERANCE_MIB = 25;
const FD_SLACK = 5;
/** The log bound of one function on disk (adapters/local/logs.ts), and room for revisions and records. */
const LOG_BOUND_MIB = 16;

interface Figures {
  fds: number;
  rssMiB: number;
  children: number;
  stateMiB: number;
}

let agent: ProcessAgent;
const failures: string[] = [];
const counts = { wellBehaved: 0, churn: 0, hostile: 0, followerLines: 0, followerReopens: 0 };

async function post(path: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(agent.url + path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const text = await res.text();
  try {
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  } catch {
    return { status: res.status, body: text };
  }
}

async function deploy(id: string, handler: string): Promise<void> {
  const res = await post("/deploy", { id, handler });
  if (res.status !== 200) throw new Error(`deploy ${id}: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
}

/** A call of a well-behaved function: anything but the expected result is a failure. */
async function expectCall(id: string, payload: unknown, expected: unknown): Promise<void> {
  counts.wellBehaved++;
  try {
    const res = await post("/invoke", { id, payload });
    if (res.status !== 200 || JSON.stringify(res.body.result) !== JSON.stringify(expected)) {
      failures.push(`${new Date().toISOString()} ${id}: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
    }
  } catch (error) {
    failures.push(`${new Date().toISOString()} ${id}: ${(error as Error).message}`);
  }
}

function dirBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    try {
      total += entry.isDirectory() ? dirBytes(path) : statSync(path).size;
    } catch {
      // removed meanwhile
    }
  }
  return total;
}

function figures(): Figures {
  return { fds: fdCount(agent.pid), rssMiB: Math.round(rssMiB(agent.pid)), children: descendants(agent.pid).length, stateMiB: Math.round((dirBytes(agent.stateDir) / 1048576) * 10) / 10 };
}

const WELL_BEHAVED: Record<string, string> = {
  echo: "def handle(req):\n    return req",
  "async-echo": "import asyncio\nasync def handle(req):\n    await asyncio.sleep(0.01)\n    return req",
  logger: "import sys\nprint('logger ready')\ndef handle(req):\n    for i in range(20):\n        print('line', i, req.get('n'))\n    sys.stderr.write('to stderr\\n')\n    return req.get('n')",
};

const HOSTILE: Record<string, string> = {
  flood: "import sys\ndef handle(req):\n    for _ in range(3):\n        sys.stdout.write('y' * (10 * 1024 * 1024) + '\\n')\n    sys.stdout.flush()\n    return 'flooded'",
  firehose: "import sys\nprint('firehose ready')\ndef handle(req):\n    line = 'f' * 60000 + '\\n'\n    for _ in range(500):\n        sys.stdout.write(line)\n    sys.stdout.flush()\n    return 'sprayed'",
  spin: "def handle(req):\n    while True:\n        pass",
  "spin-async": "async def handle(req):\n    while True:\n        pass",
  unprintable: "class Bad(Exception):\n    def __str__(self):\n        raise RuntimeError('no')\ndef handle(req):\n    raise Bad()",
  huge: "def handle(req):\n    return 'h' * (9 * 1024 * 1024)",
  deep: "async def handle(req):\n    v = 1\n    for _ in range(990):\n        v = [v]\n    return v",
  crasher: "import os\ndef handle(req):\n    os._exit(3)",
};

/** Deploys whose import attacks the control pipe: each must fail, none may hurt the agent. */
const BAD_IMPORTS = [
  "import os\nos.write(3, b'not json\\n')\ndef handle(req):\n    return 1",
  "import os, time\nos.close(3)\ntime.sleep(60)\ndef handle(req):\n    return 1",
  "import os\nos.write(3, os.urandom(3000) + b'\\n')\ndef handle(req):\n    return 1",
];

function envelope(message: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(message));
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/** Follows a function's logs over Connect; `read` false: never reads (a stalled client). */
function follow(id: string, read: boolean): ClientRequest {
  const req = httpRequest(`${agent.url}/faas.v1.FaasAgent/Logs`, { method: "POST", headers: { "content-type": "application/connect+json" } }, (res) => {
    if (!read) return res.pause();
    res.on("data", (chunk: Buffer) => (counts.followerLines += chunk.toString("latin1").split('"line"').length - 1));
    res.on("error", () => {});
  });
  req.on("error", () => {});
  req.end(envelope({ id, tail: 5, follow: true }));
  return req;
}

async function main(): Promise<void> {
  agent = await startProcessAgent({ FAAS_IDLE_TIMEOUT: String(IDLE_TIMEOUT_S), FAAS_INVOKE_TIMEOUT: String(INVOKE_TIMEOUT_S), FAAS_WORKER_THREADS: "4", FAAS_SHUTDOWN_GRACE: "1", FAAS_DEPLOY_TIMEOUT: "20" });
  const deadline = Date.now() + SECONDS * 1000;
  try {
    for (const [id, handler] of Object.entries({ ...WELL_BEHAVED, ...HOSTILE })) await deploy(id, handler);
    for (const id of Object.keys(WELL_BEHAVED)) await post("/invoke", { id, payload: { n: 0 } });
    await new Promise((r) => setTimeout(r, START_SETTLE_S * 1000));
    const start = figures();
    const loadAtStart = loadavg()[0];
    process.stdout.write(`soak: ${SECONDS} s against agent pid ${agent.pid}; start (after ${START_SETTLE_S} s quiet) ${JSON.stringify(start)}, load ${loadAtStart.toFixed(2)}\n`);

    const stalled = follow("firehose", false);
    const running = () => Date.now() < deadline;
    const loops: Array<Promise<void>> = [];
    // Well-behaved callers, back to back.
    for (let w = 0; w < 3; w++) {
      loops.push(
        (async () => {
          for (let n = 0; running(); n++) {
            await expectCall("echo", { n, w }, { n, w });
            await expectCall("async-echo", [n, "x"], [n, "x"]);
            if (n % 5 === 0) await expectCall("logger", { n }, n);
          }
        })(),
      );
    }
    // Deploy / invoke / delete churn over a few ids.
    loops.push(
      (async () => {
        for (let n = 0; running(); n++) {
          const id = `churn-${n % 3}`;
          counts.churn++;
          await deploy(id, `def handle(req):\n    return ${n}`).catch((e: Error) => failures.push(`churn deploy: ${e.message}`));
          await expectCall(id, {}, n);
          const del = await post("/delete", { id });
          if (del.status !== 200) failures.push(`churn delete ${id}: ${del.status} ${JSON.stringify(del.body)}`);
        }
      })(),
    );
    // A follower that reads, reopened every 10 s.
    loops.push(
      (async () => {
        while (running()) {
          const req = follow("logger", true);
          counts.followerReopens++;
          await new Promise((r) => setTimeout(r, 10_000));
          req.destroy();
        }
      })(),
    );
    // The hostile handlers, one after another; their failures are expected, the agent must not care.
    loops.push(
      (async () => {
        const ids = Object.keys(HOSTILE);
        for (let n = 0; running(); n++) {
          counts.hostile++;
          if (n % 10 === 9) await post("/deploy", { id: "bad-import", handler: BAD_IMPORTS[n % BAD_IMPORTS.length] });
          else await post("/invoke", { id: ids[n % ids.length], payload: {} }).catch(() => undefined);
        }
      })(),
    );
    await Promise.all(loops);
    stalled.destroy();
    const loadUnderLoad = loadavg()[0];
    // Quiet: idle workers stop, the agent collects its heap; the figures every 5 s show the way down.
    for (let waited = 5; waited <= END_SETTLE_S; waited += 5) {
      await new Promise((r) => setTimeout(r, 5_000));
      process.stdout.write(`soak: quiet +${waited} s ${JSON.stringify(figures())}\n`);
    }
    const health = await fetch(`${agent.url}/health`).then((r) => r.status);
    const end = figures();
    process.stdout.write(`soak: end (after ${END_SETTLE_S} s quiet) ${JSON.stringify(end)}; /health ${health}; load average ${loadAtStart.toFixed(2)} at the start, ${loadUnderLoad.toFixed(2)} when the load stopped\n`);
    process.stdout.write(`soak: calls of well-behaved functions ${counts.wellBehaved}, failed ${failures.length}; churn cycles ${counts.churn}; hostile requests ${counts.hostile}; follower lines ${counts.followerLines} over ${counts.followerReopens} follows\n`);
    for (const f of failures.slice(0, 20)) process.stdout.write(`  failed: ${f}\n`);
    const table = (["fds", "rssMiB", "children", "stateMiB"] as const).map((k) => `| ${k} | ${start[k]} | ${end[k]} |`).join("\n");
    process.stdout.write(`\n| figure | start | end |\n|---|---|---|\n${table}\n\n`);
    const grew: string[] = [];
    if (end.fds > start.fds + FD_SLACK) grew.push(`fds ${start.fds} → ${end.fds}`);
    if (end.children > start.children) grew.push(`children ${start.children} → ${end.children}`);
    if (end.rssMiB > start.rssMiB + RSS_TOLERANCE_MIB) grew.push(`RSS ${start.rssMiB} → ${end.rssMiB} MiB (more than ${RSS_TOLERANCE_MIB} MiB above the start)`);
    // Logs are bounded at 16 MiB per function (the current and one rotated file); the rest is small.
    const stateBound = LOG_BOUND_MIB * Object.keys({ ...WELL_BEHAVED, ...HOSTILE }).length + 8;
    if (end.stateMiB > stateBound) grew.push(`state dir ${end.stateMiB} MiB (bound ${stateBound} MiB)`);
    if (health !== 200) grew.push(`/health ${health}`);
    if (failures.length > 0 || grew.length > 0) {
      process.stdout.write(`soak: FAIL ${[...grew, failures.length ? `${failures.length} failed calls` : ""].filter(Boolean).join("; ")}\n`);
      process.exitCode = 1;
    } else {
      process.stdout.write("soak: PASS\n");
    }
  } finally {
    await agent.stop();
  }
}

void main();
