import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deploy, getJson, postJson, startTestAgent, type TestAgent } from "./support/agent.ts";

// The prototype README's curl examples, verbatim bodies, against the local platform.
const HELLO = { id: "hello-world", handler: 'def handle(req):\n    return "Hello, World!"' };
const DATA_PROCESSOR = {
  id: "data-processor",
  handler:
    'import json\ndef handle(req):\n    data = json.loads(req) if isinstance(req, str) else req\n    numbers = data.get("numbers", [])\n    return {"sum": sum(numbers), "average": sum(numbers)/len(numbers) if numbers else 0}',
  requirements: "",
};
const JSON_TRANSFORMER = {
  id: "json-transformer",
  handler:
    'import json\ndef handle(req):\n    data = req if isinstance(req, dict) else json.loads(req)\n    transformed = {}\n    for key, value in data.items():\n        if isinstance(value, str):\n            transformed[key.upper()] = value.lower()\n        elif isinstance(value, (int, float)):\n            transformed[key.upper()] = value * 2\n        else:\n            transformed[key.upper()] = value\n    return transformed',
};
const WEB_SCRAPER = {
  id: "web-scraper",
  handler:
    'import requests\ndef handle(req):\n    response = requests.get(req["url"])\n    return {"status": response.status_code, "length": len(response.text)}',
  requirements: "requests==2.31.0",
};

describe("REST routes of the prototype's README", () => {
  let agent: TestAgent;
  beforeAll(async () => {
    agent = await startTestAgent();
  });
  afterAll(async () => {
    await agent?.dispose();
  });

  it("GET /health answers the seed's shape", async () => {
    const res = await getJson(`${agent.url}/health`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: "healthy", platform: "local", workflow: "local", isolation: "bwrap" });
    expect(res.body.checks.map((c: { name: string }) => c.name)).toEqual(["python", "state_dir", "isolation", "warm_pool"]);
  });

  it("deploys and invokes the basic example: a string stays a string", async () => {
    const deployed = await deploy(agent, HELLO);
    expect(deployed).toMatchObject({ id: "hello-world", status: "deployed", platform: "local" });
    expect(typeof deployed.image).toBe("string");
    expect(deployed.endpoint).toMatch(/^unix:/);

    const res = await postJson(`${agent.url}/invoke`, { id: "hello-world", payload: {} });
    expect(res.status).toBe(200);
    expect(res.body.result).toBe("Hello, World!");
    expect(res.body.status).toBe("success");
    expect(res.body.platform).toBe("local");
    expect(res.body.execution_time).toBeGreaterThan(0);
    expect(res.body.execution_time).toBeLessThan(5);
  });

  it("runs the data-processing example", async () => {
    await deploy(agent, DATA_PROCESSOR);
    const res = await postJson(`${agent.url}/invoke`, { id: "data-processor", payload: { numbers: [1, 2, 3, 4, 5] } });
    expect(res.status).toBe(200);
    expect(res.body.result).toEqual({ sum: 15, average: 3 });
  });

  it("runs the JSON-processing example", async () => {
    await deploy(agent, JSON_TRANSFORMER);
    const res = await postJson(`${agent.url}/invoke`, {
      id: "json-transformer",
      payload: { name: "John Doe", age: 30, score: 85.5, active: true },
    });
    expect(res.body.result).toEqual({ NAME: "john doe", AGE: 60, SCORE: 171, ACTIVE: 2 });
  });

  it("generates an id when none is given (the README's testing example)", async () => {
    const deployed = await deploy(agent, { handler: 'def handle(req): return "test"' });
    expect(deployed.id).toMatch(/^func-[0-9a-f]{8}$/);
    const res = await postJson(`${agent.url}/invoke`, { id: deployed.id, payload: {} });
    expect(res.body.result).toBe("test");
  });

  it("the web-scraper example, which needs the network, fails with a clear error and crashes nothing", async () => {
    // Verbatim from the README. There is no network here: either pip cannot get requests==2.31.0
    // (the deploy fails with pip's error) or, where it can, the call to httpbin.org fails.
    const res = await postJson(`${agent.url}/deploy`, WEB_SCRAPER);
    if (res.status === 200) {
      const invoke = await postJson(`${agent.url}/invoke`, { id: "web-scraper", payload: { url: "https://httpbin.org/json" } });
      expect(invoke.status).toBe(500);
      expect(invoke.body.reason).toBe("FUNCTION_ERROR");
      expect(invoke.body.exception_type).toMatch(/ConnectionError/);
    } else {
      expect(res.status).toBe(500);
      expect(res.body.reason).toBe("DEPENDENCY_INSTALL_FAILED");
      expect(res.body.error).toMatch(/pip install failed[\s\S]*requests==2\.31\.0/);
      expect(res.body.logs.length).toBeGreaterThan(0);
      const list = await getJson(`${agent.url}/functions`);
      expect(list.body.functions.map((f: { id: string }) => f.id)).not.toContain("web-scraper");
    }
    expect((await getJson(`${agent.url}/health`)).status).toBe(200);
  }, 120_000);

  it("GET /functions lists deployed functions with the seed's fields", async () => {
    const res = await getJson(`${agent.url}/functions`);
    expect(res.status).toBe(200);
    const hello = res.body.functions.find((f: { id: string }) => f.id === "hello-world");
    expect(hello).toMatchObject({ id: "hello-world", image: "", ready: true, platform: "local" });
    expect(["running", "idle"]).toContain(hello.state);
    expect(Date.parse(hello.created_at)).not.toBeNaN();
  });

  it("POST /delete removes a function; a second delete is 404", async () => {
    await deploy(agent, { id: "to-delete", handler: "def handle(req):\n    return 1" });
    const res = await postJson(`${agent.url}/delete`, { id: "to-delete" });
    expect(res).toEqual({ status: 200, body: { status: "deleted", platform: "local", function_id: "to-delete" } });
    const again = await postJson(`${agent.url}/delete`, { id: "to-delete" });
    expect(again.status).toBe(404);
    const invoke = await postJson(`${agent.url}/invoke`, { id: "to-delete", payload: {} });
    expect(invoke.status).toBe(404);
  });

  it("POST /deploy with Accept: application/x-ndjson streams the events as JSON lines", async () => {
    const res = await fetch(`${agent.url}/deploy`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/x-ndjson" },
      body: JSON.stringify({ id: "streamed", handler: 'print("importing")\ndef handle(req):\n    return req' }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/x-ndjson");
    const lines = (await res.text()).trim().split("\n").map((l) => JSON.parse(l));
    const phases = lines.filter((l) => l.type === "phase").map((l) => l.phase);
    expect(phases).toEqual(["validating", "packaging", "building", "deploying", "ready"]);
    expect(lines.some((l) => l.type === "log" && l.line === "importing")).toBe(true);
    expect(lines.at(-1)).toMatchObject({ type: "function", id: "streamed", status: "deployed" });
  });

  describe("bad input gets a precise error and the agent keeps serving", () => {
    const cases: Array<[string, unknown, number, string]> = [
      ["missing handler", { id: "x" }, 400, "handler"],
      ["empty handler", { id: "x", handler: "   " }, 400, "handler"],
      ["uppercase id", { id: "Hello", handler: "def handle(r): return r" }, 400, "id"],
      ["too long id", { id: "a".repeat(64), handler: "def handle(r): return r" }, 400, "id"],
      ["path characters in id", { id: "../x", handler: "def handle(r): return r" }, 400, "id"],
      ["unknown params", { id: "x", handler: "def handle(r): return r", params: { FOO: "1" } }, 400, "params.FOO"],
      ["a shell in PYTHON_VERSION", { id: "x", handler: "def handle(r): return r", params: { PYTHON_VERSION: "3.11; rm -rf /" } }, 400, "params.PYTHON_VERSION"],
      ["a reserved env name", { id: "x", handler: "def handle(r): return r", env: { FAAS_AUTH_TOKEN: "x" } }, 400, "env.FAAS_AUTH_TOKEN"],
      ["a handler that is not a string", { id: "x", handler: 42 }, 400, "handler"],
    ];
    for (const [name, body, status, field] of cases) {
      it(`deploy: ${name}`, async () => {
        const res = await postJson(`${agent.url}/deploy`, body);
        expect(res.status).toBe(status);
        expect(res.body.reason).toBe("INVALID_REQUEST");
        expect(res.body.field).toBe(field);
        expect(typeof res.body.error).toBe("string");
      });
    }

    it("deploy: a handler with a syntax error is 400 with the traceback", async () => {
      const res = await postJson(`${agent.url}/deploy`, { id: "broken", handler: "def handle(req)\n    return 1" });
      expect(res.status).toBe(400);
      expect(res.body.reason).toBe("HANDLER_INVALID");
      expect(res.body.exception_type).toBe("SyntaxError");
      expect(res.body.error).toMatch(/SyntaxError/);
      expect(res.body.traceback).toMatch(/handler\.py", line 1/);
      expect(res.body.traceback).not.toMatch(/faas_runtime/);
    });

    it("deploy: a handler without handle() is 400", async () => {
      const res = await postJson(`${agent.url}/deploy`, { id: "nohandle", handler: "def other(req):\n    return 1" });
      expect(res.status).toBe(400);
      expect(res.body.reason).toBe("HANDLER_INVALID");
      expect(res.body.error).toMatch(/does not define handle/);
    });

    it("deploy: PYTHON_VERSION that is not installed lists the versions found", async () => {
      const res = await postJson(`${agent.url}/deploy`, { id: "oldpy", handler: "def handle(r): return r", params: { PYTHON_VERSION: "3.99" } });
      expect(res.status).toBe(500);
      expect(res.body.reason).toBe("PYTHON_UNAVAILABLE");
      expect(res.body.error).toMatch(/3\.99 is not installed.*found: .*3\.\d+/);
    });

    it("invoke: unknown function is 404", async () => {
      const res = await postJson(`${agent.url}/invoke`, { id: "nope", payload: {} });
      expect(res.status).toBe(404);
      expect(res.body).toMatchObject({ reason: "FUNCTION_NOT_FOUND", error: 'function "nope" not found' });
    });

    it("invoke: missing id is 400", async () => {
      const res = await postJson(`${agent.url}/invoke`, { payload: {} });
      expect(res.status).toBe(400);
      expect(res.body.field).toBe("id");
    });

    it("malformed JSON is 400", async () => {
      for (const path of ["/deploy", "/invoke", "/delete"]) {
        const res = await postJson(`${agent.url}${path}`, '{"id": "x", ');
        expect(res.status).toBe(400);
        expect(res.body.error).toMatch(/not valid JSON/);
      }
    });

    it("a JSON body that is not an object is 400", async () => {
      for (const body of ["[1,2]", '"text"', "42", "null"]) {
        const res = await postJson(`${agent.url}/invoke`, body);
        expect(res.status).toBe(400);
        expect(res.body.error).toMatch(/must be a JSON object/);
      }
    });

    it("a 50 MB body is 413 without being read", async () => {
      const big = Buffer.alloc(50 * 1024 * 1024, 0x61);
      const status = await new Promise<number>((resolve, reject) => {
        const url = new URL(`${agent.url}/deploy`);
        const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: "POST", headers: { "content-type": "application/json", "content-length": big.length } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on("error", reject);
        req.end(big);
      });
      expect(status).toBe(413);
    });

    it("a function raising is 500 with the exception type, message and traceback", async () => {
      await deploy(agent, { id: "raiser", handler: 'def handle(req):\n    raise ValueError("bad value: " + str(req["n"]))' });
      const res = await postJson(`${agent.url}/invoke`, { id: "raiser", payload: { n: 7 } });
      expect(res.status).toBe(500);
      expect(res.body).toMatchObject({ reason: "FUNCTION_ERROR", exception_type: "ValueError", exception_message: "bad value: 7" });
      expect(res.body.traceback).toMatch(/line 2, in handle/);
    });

    it("a result that is not JSON is 500 saying so", async () => {
      await deploy(agent, { id: "setter", handler: "def handle(req):\n    return {1, 2}" });
      const res = await postJson(`${agent.url}/invoke`, { id: "setter", payload: {} });
      expect(res.status).toBe(500);
      expect(res.body.reason).toBe("RESULT_NOT_SERIALIZABLE");
      expect(res.body.error).toMatch(/not JSON serializable/);
    });

    it("unknown routes are 404 and wrong methods 405", async () => {
      expect((await getJson(`${agent.url}/nope`)).status).toBe(404);
      expect((await getJson(`${agent.url}/invoke`)).status).toBe(405);
    });

    it("after all of that, deployed functions still serve", async () => {
      const res = await postJson(`${agent.url}/invoke`, { id: "hello-world", payload: {} });
      expect(res).toMatchObject({ status: 200, body: { result: "Hello, World!" } });
    });
  });
});

describe("bearer-token auth", () => {
  let agent: TestAgent;
  beforeAll(async () => {
    agent = await startTestAgent({ FAAS_AUTH_TOKEN: "s3cret-one, s3cret-two" });
  });
  afterAll(async () => {
    await agent?.dispose();
  });

  it("health needs no token", async () => {
    expect((await getJson(`${agent.url}/health`)).status).toBe(200);
  });

  it("every other route is 401 without a valid token", async () => {
    expect((await getJson(`${agent.url}/functions`)).status).toBe(401);
    expect((await getJson(`${agent.url}/functions`, { authorization: "Bearer wrong" })).status).toBe(401);
    const res = await postJson(`${agent.url}/deploy`, HELLO);
    expect(res).toMatchObject({ status: 401, body: { reason: "UNAUTHENTICATED" } });
  });

  it("any configured token works", async () => {
    expect((await getJson(`${agent.url}/functions`, { authorization: "Bearer s3cret-one" })).status).toBe(200);
    expect((await getJson(`${agent.url}/functions`, { authorization: "Bearer s3cret-two" })).status).toBe(200);
  });

  it("the function's worker does not see the agent's token", async () => {
    const auth = { authorization: "Bearer s3cret-one" };
    const deployed = await postJson(`${agent.url}/deploy`, { id: "env-peek", handler: "import os\ndef handle(req):\n    return dict(os.environ)", env: { GREETING: "hi" } }, auth);
    expect(deployed.status).toBe(200);
    const res = await postJson(`${agent.url}/invoke`, { id: "env-peek", payload: {} }, auth);
    expect(res.body.result.GREETING).toBe("hi");
    expect(JSON.stringify(res.body.result)).not.toMatch(/s3cret/);
    expect(Object.keys(res.body.result)).not.toContain("FAAS_AUTH_TOKEN");
  });
});
