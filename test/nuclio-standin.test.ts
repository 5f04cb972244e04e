import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNuclioStandIn, type NuclioStandIn } from "./support/nuclio/dashboard.ts";

const fixture = async (name: string) => JSON.parse(await readFile(new URL(`./fixtures/nuclio/${name}`, import.meta.url), "utf8"));
const NS = { "x-nuclio-function-namespace": "nuclio" };

/** A plain Nuclio Python function (not the agent's entry module), to test the harness's contract. */
const CONTRACT_SOURCE = `
def handler(context, event):
    context.logger.info_with("got event", path=event.path, method=event.method)
    kind = event.path.strip("/")
    if kind == "body":
        return context.Response(body={"type": type(event.body).__name__, "value": event.body if isinstance(event.body, (dict, list)) else event.body.decode()}, headers={"X-Kind": "body"}, content_type="application/json", status_code=200)
    if kind == "str":
        return "plain text"
    if kind == "bytes":
        return b"\\x00\\x01raw"
    if kind == "dict":
        return {"a": 1}
    if kind == "list":
        return [1, 2]
    if kind == "tuple":
        return 201, {"created": True}
    if kind == "response":
        return context.Response(body="teapot", headers={"X-Nuclio-Secret": "no", "X-Mine": "yes"}, content_type="text/x-tea", status_code=418)
    if kind == "none":
        return None
    raise RuntimeError("contract says no")
`;

async function deployRaw(nuclio: NuclioStandIn, name: string, source: string): Promise<Record<string, any>> {
  const res = await fetch(`${nuclio.url}/api/functions`, {
    method: "POST",
    headers: NS,
    body: JSON.stringify({
      metadata: { name },
      spec: { runtime: "python:3.11", handler: "main:handler", build: { functionSourceCode: Buffer.from(source).toString("base64"), codeEntryType: "sourceCode" }, triggers: { http: { kind: "http", numWorkers: 2 } } },
    }),
  });
  expect(res.status).toBe(202);
  expect(await res.text()).toBe("");
  return settled(nuclio, name);
}

/** Polls a function until its state is terminal (a virtualenv and pip may take a while on a loaded machine). */
async function settled(nuclio: NuclioStandIn, name: string): Promise<Record<string, any>> {
  const deadline = Date.now() + 50_000;
  while (Date.now() < deadline) {
    const fn = await (await fetch(`${nuclio.url}/api/functions/${name}`, { headers: NS })).json();
    if (["ready", "error", "unhealthy"].includes(fn.status.state)) return fn;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${name} never finished deploying`);
}

function invoke(nuclio: NuclioStandIn, name: string, path: string, body: string, contentType: string, extra: Record<string, string> = {}) {
  return fetch(`${nuclio.url}/api/function_invocations`, {
    method: "POST",
    headers: { ...NS, "x-nuclio-function-name": name, "x-nuclio-path": path, "content-type": contentType, ...extra },
    body,
  });
}

describe("Nuclio dashboard stand-in", () => {
  let nuclio: NuclioStandIn;
  let deployed: Record<string, any>;
  beforeAll(async () => {
    nuclio = await startNuclioStandIn();
    deployed = await deployRaw(nuclio, "contract", CONTRACT_SOURCE);
  });
  afterAll(async () => {
    await nuclio?.close();
  });

  it("answers GET and list with the shapes of the (synthesized) dashboard fixtures", async () => {
    const get = await fixture("nuclio-dashboard-get-function.synthesized.json");
    expect(Object.keys(deployed).sort()).toEqual(Object.keys(get).sort());
    expect(Object.keys(deployed.metadata)).toEqual(expect.arrayContaining(["name", "namespace", "labels", "resourceVersion"]));
    expect(Object.keys(deployed.status)).toEqual(expect.arrayContaining(Object.keys(get.status)));
    expect(deployed.status.state).toBe("ready");
    expect(deployed.metadata.labels["nuclio.io/project-name"]).toBe("default");
    for (const entry of deployed.status.logs) {
      expect(Object.keys(entry)).toEqual(expect.arrayContaining(["level", "time", "name", "message"]));
      expect(typeof entry.time).toBe("number");
    }
    const list = await (await fetch(`${nuclio.url}/api/functions`, { headers: NS })).json();
    const listFixture = await fixture("nuclio-dashboard-list-functions.synthesized.json");
    expect(Object.keys(list)).toEqual(["contract"]);
    expect(Object.keys(list.contract).sort()).toEqual(Object.keys(Object.values(listFixture)[0] as object).sort());
    const missing = await fetch(`${nuclio.url}/api/functions/nope`, { headers: NS });
    expect(missing.status).toBe(404);
    expect(Object.keys(await missing.json()).sort()).toEqual(["error", "errorStackTrace"]);
    const otherNamespace = await (await fetch(`${nuclio.url}/api/functions`, { headers: { "x-nuclio-function-namespace": "elsewhere" } })).json();
    expect(otherNamespace).toEqual({});
  });

  it("runs functions under the Nuclio Python contract: body bytes or parsed JSON, every return kind", async () => {
    const json = await invoke(nuclio, "contract", "/body", '{"x": [1]}', "application/json");
    expect(await json.json()).toEqual({ type: "dict", value: { x: [1] } });
    expect(json.headers.get("x-kind")).toBe("body");
    const charset = await invoke(nuclio, "contract", "/body", '{"x": 1}', "application/json; charset=utf-8");
    expect(await charset.json()).toEqual({ type: "bytes", value: '{"x": 1}' });
    const text = await invoke(nuclio, "contract", "/body", "hello", "text/plain");
    expect(await text.json()).toEqual({ type: "bytes", value: "hello" });

    const str = await invoke(nuclio, "contract", "/str", "", "text/plain");
    expect([str.status, str.headers.get("content-type"), await str.text()]).toEqual([200, "text/plain", "plain text"]);
    const bytes = await invoke(nuclio, "contract", "bytes", "", "text/plain");
    expect(Buffer.from(await bytes.arrayBuffer())).toEqual(Buffer.from([0, 1, 0x72, 0x61, 0x77]));
    expect(await (await invoke(nuclio, "contract", "/dict", "", "text/plain")).json()).toEqual({ a: 1 });
    // A list is a batch of responses to Nuclio; one event gets the first (nuclio-sdk-py response.py, rpc/abstract.go).
    const list = await invoke(nuclio, "contract", "/list", "", "text/plain");
    expect([list.status, list.headers.get("content-type"), await list.text()]).toEqual([200, "text/plain", "1"]);
    const tuple = await invoke(nuclio, "contract", "/tuple", "", "text/plain");
    expect([tuple.status, await tuple.json()]).toEqual([201, { created: true }]);
    const response = await invoke(nuclio, "contract", "/response", "", "text/plain");
    expect([response.status, response.headers.get("content-type"), await response.text()]).toEqual([418, "text/x-tea", "teapot"]);
    expect(response.headers.get("x-mine")).toBe("yes");
    expect(response.headers.get("x-nuclio-secret")).toBeNull(); // the proxy strips X-Nuclio* headers
    const none = await invoke(nuclio, "contract", "/none", "", "text/plain");
    // The SDK turns None into the text "None" (response.py:83-84, 106-107).
    expect([none.status, await none.text()]).toEqual([200, "None"]);
    // The wrapper's text for an exception (_nuclio_wrapper.py:415-435).
    const raised = await invoke(nuclio, "contract", "/raise", "", "text/plain");
    expect(raised.status).toBe(500);
    expect(await raised.text()).toMatch(/^Exception caught in handler - "contract says no": Traceback \(most recent call last\):\n[\s\S]*RuntimeError: contract says no\n$/);
  });

  it("checks the invocation headers and shows context.logger lines in the replica's log", async () => {
    expect((await invoke(nuclio, "nope", "/", "", "text/plain")).status).toBe(404);
    const badUrl = await invoke(nuclio, "contract", "/", "", "text/plain", { "x-nuclio-invoke-url": "10.0.0.1:8080" });
    expect([badUrl.status, await badUrl.json()]).toEqual([400, { error: "Invalid function url" }]);
    // A ClusterIP function (the default serviceType) has no external URL (controller/nucliofunction.go:490-497).
    expect(deployed.status.externalInvocationUrls).toBeUndefined();
    const internal = await invoke(nuclio, "contract", "/dict", "", "text/plain", { "x-nuclio-invoke-url": deployed.status.internalInvocationUrls[0] });
    expect(await internal.json()).toEqual({ a: 1 });
    const { names } = await (await fetch(`${nuclio.url}/api/functions/contract/replicas`, { headers: NS })).json();
    expect(names).toHaveLength(1);
    const log = await (await fetch(`${nuclio.url}/api/functions/contract/logs/${names[0]}?follow=false&tailLines=50`, { headers: NS })).text();
    const entries = log.trim().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
    expect(entries.some((e) => e.message === "got event" && e.path === "/dict" && e.level === "info" && /^processor\.http\.w[01]\.python\.logger$/.test(e.name))).toBe(true);
  });

  it("puts a failing build command or an import error into state error with the output in its logs", async () => {
    const broken = await deployRaw(nuclio, "broken-import", "import not_there\ndef handler(context, event):\n    return 1\n");
    expect(broken.status.state).toBe("error");
    // The brief error from the pod log is the message; the deploy log's warning carries the whole log.
    expect(broken.status.message).toMatch(/Caught unhandled exception while initializing \[err="No module named 'not_there'"/);
    const warning = broken.status.logs.find((e: any) => e.message === "Function creation failed, setting state to error");
    expect(warning.err).toMatch(/^Failed to wait for function readiness\.\n\nPod logs:\n/);
    expect(warning.err).toMatch(/ModuleNotFoundError: No module named 'not_there'/);
    const res = await fetch(`${nuclio.url}/api/functions`, {
      method: "POST",
      headers: NS,
      body: JSON.stringify({ metadata: { name: "broken-build" }, spec: { runtime: "python:3.11", handler: "main:handler", build: { functionSourceCode: Buffer.from("def handler(c, e):\n    return 1\n").toString("base64"), commands: ["echo building; exit 7"] } } }),
    });
    expect(res.status).toBe(202);
    const fn = await settled(nuclio, "broken-build");
    expect(fn.status.state).toBe("error");
    expect(fn.status.message).toMatch(/exited with code 7/);
    expect(fn.status.logs.some((e: any) => e.message === "building")).toBe(true);
  }, 60_000);

  it("refuses what Nuclio refuses: duplicates, bad names, bad replicas; deletes idempotently, not while provisioning", async () => {
    const body = (name: string, spec: Record<string, unknown> = {}) => JSON.stringify({ metadata: { name }, spec: { runtime: "python:3.11", handler: "main:handler", build: { functionSourceCode: Buffer.from(CONTRACT_SOURCE).toString("base64") }, ...spec } });
    expect((await fetch(`${nuclio.url}/api/functions`, { method: "POST", headers: NS, body: body("contract") })).status).toBe(409);
    const reserved = await fetch(`${nuclio.url}/api/functions`, { method: "POST", headers: NS, body: body("dashboard") });
    expect([reserved.status, (await reserved.json()).error]).toEqual([412, "Function name dashboard is reserved and cannot be used."]);
    expect((await fetch(`${nuclio.url}/api/functions`, { method: "POST", headers: NS, body: body("-bad-") })).status).toBe(400);
    expect((await fetch(`${nuclio.url}/api/functions`, { method: "POST", headers: NS, body: body("zero", { minReplicas: 0 }) })).status).toBe(400);
    expect((await fetch(`${nuclio.url}/api/functions`, { method: "POST", headers: { ...NS, "x-nuclio-project-name": "nope" }, body: body("p") })).status).toBe(412);
    const release = nuclio.holdBuilds();
    try {
      expect((await fetch(`${nuclio.url}/api/functions`, { method: "POST", headers: NS, body: body("held") })).status).toBe(202);
      await new Promise((r) => setTimeout(r, 100));
      const del = () => fetch(`${nuclio.url}/api/functions`, { method: "DELETE", headers: NS, body: JSON.stringify({ metadata: { name: "held", namespace: "nuclio" } }) });
      expect((await del()).status).toBe(412);
      release();
      expect((await settled(nuclio, "held")).status.state).toBe("ready");
      expect((await del()).status).toBe(204);
      expect((await del()).status).toBe(204);
      expect((await fetch(`${nuclio.url}/api/functions/held`, { headers: NS })).status).toBe(404);
    } finally {
      release();
    }
  });
});
