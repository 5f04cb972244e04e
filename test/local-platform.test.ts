import { mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FaasAgent } from "../gen/faas/v1/agent_pb.ts";
import { deploy, getJson, postJson, startTestAgent, type TestAgent } from "./support/agent.ts";
import { startLocalIndex, type LocalIndex } from "./support/pypi.ts";

const invoke = (agent: TestAgent, id: string, payload: unknown = {}) => postJson(`${agent.url}/invoke`, { id, payload });

describe("local platform: workers", () => {
  let agent: TestAgent;
  beforeAll(async () => {
    agent = await startTestAgent({ FAAS_IDLE_TIMEOUT: "0" });
  });
  afterAll(async () => {
    await agent?.dispose();
  });

  it("passes every JSON type to handle and returns exactly what it returned", async () => {
    await deploy(agent, { id: "echo", handler: "def handle(req):\n    return req" });
    for (const payload of [{ a: [1, { b: null }] }, [1, 2, 3], "text", 42, 1.5, true, null]) {
      const res = await invoke(agent, "echo", payload);
      expect(res.status).toBe(200);
      expect(res.body.result).toEqual(payload);
    }
    // An omitted payload is an empty object, as in the prototype.
    const res = await postJson(`${agent.url}/invoke`, { id: "echo" });
    expect(res.body.result).toEqual({});
  });

  it("runs 100 concurrent calls of a sync handler sleeping 100 ms concurrently", async () => {
    // A barrier of 50 inside handle: it only opens when 50 calls run at once, and it breaks (the
    // calls fail) if they cannot. Two rounds of 50 pass it. Wall time is measured by npm run bench.
    await deploy(agent, {
      id: "sleepy",
      handler: [
        "import threading, time",
        "barrier = threading.Barrier(50, timeout=20)",
        "def handle(req):",
        "    if req.get('barrier'):",
        "        barrier.wait()",
        "    time.sleep(0.1)",
        "    return 'slept'",
      ].join("\n"),
    });
    await invoke(agent, "sleepy"); // warm
    const results = await Promise.all(Array.from({ length: 100 }, () => invoke(agent, "sleepy", { barrier: true })));
    expect(results.filter((r) => r.status !== 200).map((r) => r.body)).toEqual([]);
    expect(results.every((r) => r.body.result === "slept")).toBe(true);
  });

  it("supports async def handle, run concurrently on the event loop", async () => {
    await deploy(agent, { id: "asyncy", handler: "import asyncio\nasync def handle(req):\n    await asyncio.sleep(0.1)\n    return {'n': req['n']}" });
    const results = await Promise.all(Array.from({ length: 50 }, (_, n) => invoke(agent, "asyncy", { n })));
    expect(results.map((r) => r.body.result.n)).toEqual(Array.from({ length: 50 }, (_, n) => n));
  });

  it("sends printed output to the function's logs, not into the result", async () => {
    const client = createClient(FaasAgent, createConnectTransport({ baseUrl: agent.url, httpVersion: "1.1" }));
    await deploy(agent, { id: "printer", handler: "import sys\ndef handle(req):\n    print('out:', req['m'])\n    print('err:', req['m'], file=sys.stderr)\n    return 'done'" });
    const controller = new AbortController();
    const followed: string[] = [];
    const following = (async () => {
      try {
        for await (const line of client.logs({ id: "printer", follow: true, tail: 1 }, { signal: controller.signal })) {
          followed.push(`${line.stream}|${line.line}`);
          if (followed.some((l) => l === "stderr|err: second")) controller.abort();
        }
      } catch {
        // aborted
      }
    })();
    const res = await invoke(agent, "printer", { m: "first" });
    expect(res.body.result).toBe("done");
    await new Promise((r) => setTimeout(r, 100));
    await invoke(agent, "printer", { m: "second" });
    await following;
    expect(followed).toContain("stdout|out: second");
    const tail: string[] = [];
    for await (const line of client.logs({ id: "printer", tail: 4 })) tail.push(`${line.stream}|${line.line}`);
    expect(tail.sort()).toEqual(["stderr|err: first", "stderr|err: second", "stdout|out: first", "stdout|out: second"]);
  });

  it("redeploys atomically: no call fails, calls in flight finish on the old version", async () => {
    const version = (v: number) => `import time\ndef handle(req):\n    time.sleep(0.02)\n    return ${v}`;
    await deploy(agent, { id: "swap", handler: version(1) });
    let stop = false;
    const seen: number[] = [];
    const failures: unknown[] = [];
    const loops = Array.from({ length: 8 }, async () => {
      while (!stop) {
        const res = await invoke(agent, "swap");
        if (res.status === 200) seen.push(res.body.result);
        else failures.push(res.body);
      }
    });
    await new Promise((r) => setTimeout(r, 200));
    await deploy(agent, { id: "swap", handler: version(2) });
    const afterDeploy = seen.length;
    await new Promise((r) => setTimeout(r, 200));
    await deploy(agent, { id: "swap", handler: version(3) });
    await new Promise((r) => setTimeout(r, 200));
    stop = true;
    await Promise.all(loops);
    expect(failures).toEqual([]);
    expect(seen.filter((v) => v === 1).length).toBeGreaterThan(0);
    expect(seen.filter((v) => v === 2).length).toBeGreaterThan(0);
    expect(seen.at(-1)).toBe(3);
    // Once the deploy of 2 returned, only calls that were already in flight may still answer 1.
    expect(seen.slice(afterDeploy + 8).includes(1)).toBe(false);
  });

  it("an unchanged redeploy changes nothing", async () => {
    const first = await deploy(agent, { id: "same", handler: "def handle(req):\n    return 'same'" });
    const second = await deploy(agent, { id: "same", handler: "def handle(req):\n    return 'same'" });
    expect(second.revision).toBe(first.revision);
    expect(second.endpoint).toBe(first.endpoint);
  });

  it("a failed redeploy leaves the previous version serving", async () => {
    await deploy(agent, { id: "keeper", handler: "def handle(req):\n    return 'v1'" });
    const broken = await postJson(`${agent.url}/deploy`, { id: "keeper", handler: "def handle(req):\n    return 'v2'\nraise RuntimeError('boom at import')" });
    expect(broken.status).toBe(400);
    expect(broken.body.error).toMatch(/RuntimeError: boom at import/);
    expect((await invoke(agent, "keeper")).body.result).toBe("v1");
  });

  it("reports a crash to the call that was running and restarts on the next call", async () => {
    await deploy(agent, { id: "crashy", handler: "import os\ndef handle(req):\n    if req.get('crash'):\n        os._exit(7)\n    return 'alive'" });
    expect((await invoke(agent, "crashy")).body).toMatchObject({ result: "alive", cold_start: false });
    const crashed = await invoke(agent, "crashy", { crash: true });
    expect(crashed.status).toBe(500);
    expect(crashed.body.reason).toBe("WORKER_CRASHED");
    expect(crashed.body.error).toMatch(/exited with code 7/);
    const next = await invoke(agent, "crashy");
    expect(next.body).toMatchObject({ result: "alive", cold_start: true });
  });
});

describe("local platform: timeouts, idle workers, restarts", () => {
  it("a call over FAAS_INVOKE_TIMEOUT is deadline_exceeded and the agent keeps serving", async () => {
    const agent = await startTestAgent({ FAAS_INVOKE_TIMEOUT: "0.5" });
    try {
      await deploy(agent, { id: "slow", handler: "import time\ndef handle(req):\n    time.sleep(req['s'])\n    return 'late'" });
      const res = await invoke(agent, "slow", { s: 3 });
      expect(res.status).toBe(500);
      expect(res.body.reason).toBe("INVOKE_TIMEOUT");
      expect((await invoke(agent, "slow", { s: 0 })).body.result).toBe("late");
    } finally {
      await agent.dispose();
    }
  });

  it("stops idle workers and cold-starts them on the next call", async () => {
    const agent = await startTestAgent({ FAAS_IDLE_TIMEOUT: "0.3" });
    try {
      await deploy(agent, { id: "napper", handler: "def handle(req):\n    return 'awake'" });
      expect((await invoke(agent, "napper")).body.cold_start).toBe(false);
      const deadline = Date.now() + 5000;
      let state = "running";
      while (state !== "idle" && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        state = (await getJson(`${agent.url}/functions`)).body.functions[0].state;
      }
      expect(state).toBe("idle");
      const cold = await invoke(agent, "napper");
      expect(cold.body).toMatchObject({ result: "awake", cold_start: true });
      expect((await invoke(agent, "napper")).body.cold_start).toBe(false);
    } finally {
      await agent.dispose();
    }
  });

  it("keeps every function across an agent restart", async () => {
    const first = await startTestAgent();
    await deploy(first, { id: "survivor", handler: "def handle(req):\n    return 'still here'", env: { COLOR: "blue" } });
    await deploy(first, { id: "other", handler: "import os\ndef handle(req):\n    return os.environ['COLOR']", env: { COLOR: "blue" } });
    await first.stop();
    // A first deploy that crashed before writing its record leaves a directory without one.
    await mkdir(join(first.stateDir, "functions", "half-done", "revisions", "abc"), { recursive: true });

    const second = await startTestAgent({}, first.stateDir);
    try {
      const list = await getJson(`${second.url}/functions`);
      expect(list.body.functions.map((f: { id: string }) => f.id)).toEqual(["other", "survivor"]);
      expect(list.body.functions.every((f: { state: string }) => f.state === "idle")).toBe(true);
      expect((await invoke(second, "survivor")).body).toMatchObject({ result: "still here", cold_start: true });
      expect((await invoke(second, "other")).body.result).toBe("blue");
    } finally {
      await second.dispose();
      await first.dispose();
    }
  });

  it("writes state atomically: no temporary files are left behind", async () => {
    const agent = await startTestAgent();
    try {
      await deploy(agent, { id: "tidy", handler: "def handle(req):\n    return 1" });
      await deploy(agent, { id: "tidy", handler: "def handle(req):\n    return 2" });
      await new Promise((r) => setTimeout(r, 300)); // the old revision is pruned once its worker stopped
      const files = await readdir(join(agent.stateDir, "functions", "tidy"), { recursive: true });
      expect(files.filter((f) => String(f).includes(".tmp-"))).toEqual([]);
      expect(files.filter((f) => String(f).endsWith("handler.py"))).toHaveLength(1);
    } finally {
      await agent.dispose();
    }
  });
});

describe("local platform: requirements from a package index", () => {
  let index: LocalIndex;
  let agent: TestAgent;
  beforeAll(async () => {
    index = await startLocalIndex([
      ["faasdemo", "1.0.0"],
      ["faasother", "2.0.0"],
    ]);
    // PIP_FIND_LINKS may point at a wheel folder on this machine; the test wants the index only.
    agent = await startTestAgent({ PIP_FIND_LINKS: undefined, PIP_NO_INDEX: undefined });
  });
  afterAll(async () => {
    await agent?.dispose();
    await index?.close();
  });

  it("installs requirements into a virtualenv, streaming pip's output", async () => {
    const res = await fetch(`${agent.url}/deploy`, {
      method: "POST",
      headers: { accept: "application/x-ndjson", "content-type": "application/json" },
      body: JSON.stringify({
        id: "with-deps",
        handler: "import faasdemo\ndef handle(req):\n    return faasdemo.greet(req['who'])",
        requirements: "faasdemo==1.0.0",
        params: { PIP_INDEX_URL: index.url },
      }),
    });
    const events = (await res.text()).trim().split("\n").map((l) => JSON.parse(l));
    const pipLines = events.filter((e) => e.type === "log" && e.source === "pip").map((e) => e.line);
    expect(pipLines.some((l: string) => /Successfully installed faasdemo-1\.0\.0/.test(l))).toBe(true);
    expect(events.at(-1)).toMatchObject({ type: "function", id: "with-deps" });
    expect((await invoke(agent, "with-deps", { who: "ada" })).body.result).toBe("hello ada from faasdemo");
  }, 120_000);

  it("reuses the virtualenv for identical requirements", async () => {
    const res = await fetch(`${agent.url}/deploy`, {
      method: "POST",
      headers: { accept: "application/x-ndjson", "content-type": "application/json" },
      body: JSON.stringify({
        id: "with-deps-too",
        handler: "import faasdemo\ndef handle(req):\n    return faasdemo.VALUE",
        requirements: "faasdemo==1.0.0",
        params: { PIP_INDEX_URL: index.url },
      }),
    });
    const events = (await res.text()).trim().split("\n").map((l) => JSON.parse(l));
    expect(events.some((e) => e.type === "log" && e.source === "pip")).toBe(false);
    expect(events.some((e) => e.type === "log" && /reusing the existing virtualenv/.test(e.line))).toBe(true);
    expect((await invoke(agent, "with-deps-too")).body.result).toBe("faasdemo 1.0.0");
  });

  it("a failing pip install is failed_precondition with pip's error, and the old version keeps serving", async () => {
    await deploy(agent, { id: "pip-victim", handler: "def handle(req):\n    return 'old'" });
    const res = await postJson(`${agent.url}/deploy`, {
      id: "pip-victim",
      handler: "def handle(req):\n    return 'new'",
      requirements: "does-not-exist==9.9",
      params: { PIP_INDEX_URL: index.url },
    });
    expect(res.status).toBe(500);
    expect(res.body.reason).toBe("DEPENDENCY_INSTALL_FAILED");
    // One sentence; pip's lines once, in `output`, and not again in `logs`.
    expect(res.body.error).toBe("pip could not install does-not-exist==9.9: no matching distribution");
    expect(res.body.exit_code).toBe("1");
    expect(res.body.output).toMatch(/ERROR: No matching distribution found for does-not-exist==9\.9/);
    const whole = JSON.stringify(res.body);
    expect(whole.split("No matching distribution found for does-not-exist==9.9").length - 1).toBe(1);
    expect(res.body.logs.some((l: string) => l.startsWith("wrote revision"))).toBe(true);
    expect((await invoke(agent, "pip-victim")).body.result).toBe("old");
    const venvs = await readdir(join(agent.stateDir, "venvs"));
    expect(venvs).toHaveLength(1); // the failed one was removed
  }, 120_000);

  it("deleting the last function using a virtualenv removes it", async () => {
    await postJson(`${agent.url}/delete`, { id: "with-deps" });
    expect(await readdir(join(agent.stateDir, "venvs"))).toHaveLength(1);
    await postJson(`${agent.url}/delete`, { id: "with-deps-too" });
    expect(await readdir(join(agent.stateDir, "venvs"))).toHaveLength(0);
  });

  it("a redeploy that drops its requirements removes the virtualenv nobody uses any more", async () => {
    await deploy(agent, { id: "venv-swap", handler: "import faasother\ndef handle(req):\n    return faasother.VALUE", requirements: "faasother==2.0.0", params: { PIP_INDEX_URL: index.url } });
    expect((await invoke(agent, "venv-swap")).body.result).toBe("faasother 2.0.0");
    expect(await readdir(join(agent.stateDir, "venvs"))).toHaveLength(1);
    await deploy(agent, { id: "venv-swap", handler: "def handle(req):\n    return 'plain'" });
    expect((await invoke(agent, "venv-swap")).body.result).toBe("plain");
    const deadline = Date.now() + 5000;
    while ((await readdir(join(agent.stateDir, "venvs"))).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await readdir(join(agent.stateDir, "venvs"))).toHaveLength(0);
  }, 120_000);
});
