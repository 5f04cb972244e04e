/**
 * The servers bench/run.ts loads: the runtime shim, nginx in front of it, Flask on waitress, a
 * minimal asyncio server (behind nginx too), an empty @grpc/grpc-js server, the agent and the
 * agent's stack around an empty platform. Each is started as a child process (see
 * processes.ts), checked to answer correctly before it is measured, and listens on 127.0.0.1.
 */
import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { verifyGrpc } from "./grpc.ts";
import { expectEqual, freePort, postJson } from "./helpers.ts";
import { logTail, waitUntilReady, type Child, type Children } from "./processes.ts";
import {
  ASYNCIO_APP, EXPECTED_RESULT, FLASK_APP, FUNCTION_ID, GRPCJS_SERVER, HANDLER_SOURCE, INVOKE_BODY, INVOKE_PATH, NGINX, NGINX_TEMPLATE, PAYLOAD, PYTHON, REPO, SERVER_CHILD,
  SHIM, SYSTEM_PYTHON,
} from "./settings.ts";

export interface Server {
  name: string;
  url: string;
  /** Process groups whose CPU counts as the server's. */
  groups: Child[];
  /** Bytes of DATA in one successful gRPC Invoke response (servers speaking gRPC only). */
  grpcResponseBytes?: number;
}

/** What starting a server needs: the run's children and its temp dir (logs, configs, state). */
export interface ServerDeps {
  children: Children;
  workDir: string;
}

/** faas_runtime.py --protocol http on a TCP port, serving the handler file at `handlerPath`. */
export async function startShim({ children, workDir }: ServerDeps, handlerPath: string): Promise<Server> {
  const port = await freePort();
  const child = children.start("runtime shim", PYTHON, [SHIM, "--handler", handlerPath, "--listen", `tcp:127.0.0.1:${port}`, "--protocol", "http"], {
    logPath: join(workDir, "shim.log"),
    cwd: workDir,
  });
  const url = `http://127.0.0.1:${port}/`;
  await waitUntilReady(children, child, async () => expectEqual("shim result", await postJson(url, PAYLOAD, 10_000, children.signal), EXPECTED_RESULT));
  return { name: "shim", url, groups: [child] };
}

/** nginx (bench/nginx.conf: one worker, upstream keep-alive) in front of a started HTTP server. */
export async function startNginx({ children, workDir: runDir }: ServerDeps, shim: Server, name = "nginx"): Promise<Server> {
  const workDir = join(runDir, name);
  await mkdir(workDir, { recursive: true });
  const port = await freePort();
  const upstreamPort = new URL(shim.url).port;
  const conf = readFileSync(NGINX_TEMPLATE, "utf8")
    .replaceAll("{{DIR}}", workDir)
    .replaceAll("{{PORT}}", String(port))
    .replaceAll("{{UPSTREAM_PORT}}", upstreamPort);
  const confPath = join(workDir, "nginx.conf");
  await writeFile(confPath, conf);
  const child = children.start(name, NGINX, ["-p", workDir, "-c", confPath, "-e", join(workDir, "nginx-error.log")], {
    logPath: join(workDir, "nginx.log"),
  });
  const url = `http://127.0.0.1:${port}/`;
  await waitUntilReady(children, child, async () => expectEqual("nginx result", await postJson(url, PAYLOAD, 10_000, children.signal), EXPECTED_RESULT));
  return { name, url, groups: [child, ...shim.groups] };
}

/** bench/flask_app.py on waitress, running the same handler module. */
export async function startFlask({ children, workDir }: ServerDeps, handlerPath: string): Promise<Server> {
  const port = await freePort();
  const child = children.start("flask/waitress", SYSTEM_PYTHON, [FLASK_APP, handlerPath, String(port)], {
    logPath: join(workDir, "flask.log"),
    cwd: workDir,
  });
  const url = `http://127.0.0.1:${port}/`;
  await waitUntilReady(children, child, async () => expectEqual("flask result", await postJson(url, PAYLOAD, 10_000, children.signal), EXPECTED_RESULT));
  return { name: "flask", url, groups: [child] };
}

/** bench/asyncio_server.py: one asyncio event loop, one thread, the same handler module. */
export async function startAsyncio({ children, workDir }: ServerDeps, handlerPath: string): Promise<Server> {
  const port = await freePort();
  const child = children.start("asyncio server", PYTHON, [ASYNCIO_APP, handlerPath, String(port)], {
    logPath: join(workDir, "asyncio.log"),
    cwd: workDir,
  });
  const url = `http://127.0.0.1:${port}/`;
  await waitUntilReady(children, child, async () => expectEqual("asyncio result", await postJson(url, PAYLOAD, 10_000, children.signal), EXPECTED_RESULT));
  return { name: "asyncio", url, groups: [child] };
}

/** bench/grpcjs_server.ts: an empty unary Invoke on @grpc/grpc-js, checked over gRPC (`grpcBody`). */
export async function startGrpcJs({ children, workDir }: ServerDeps, grpcBody: Buffer): Promise<Server> {
  const child = children.start("grpc-js server", process.execPath, ["--import", "tsx", GRPCJS_SERVER], {
    cwd: REPO,
    ipc: true,
    logPath: join(workDir, "grpcjs.log"),
  });
  const url = await childUrl(children, child);
  const grpcResponseBytes = await verifyGrpc(url, grpcBody, undefined);
  return { name: "grpcjs", url, groups: [child], grpcResponseBytes };
}

/** The `{ url }` a child sends over IPC once it listens (30 s at most). */
async function childUrl(children: Children, child: Child): Promise<string> {
  try {
    return await Promise.race([children.interruption, new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${child.name} did not start within 30 s${logTail(child)}`)), 30_000);
      child.proc.once("message", (m: { url?: unknown }) => {
        clearTimeout(timer);
        if (typeof m?.url === "string") resolve(m.url);
        else reject(new Error(`${child.name} sent ${JSON.stringify(m)}`));
      });
      void child.exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`${child.name} exited with code ${child.exitCode} before listening${logTail(child)}`));
      });
    })]);
  } catch (error) {
    await children.stop(child);
    throw error;
  }
}

/** Starts bench/server_child.ts in `mode` and resolves with its URL once it listens. */
async function startServerChild({ children, workDir }: ServerDeps, mode: "agent" | "empty"): Promise<{ child: Child; url: string }> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: "0",
    FAAS_HOST: "127.0.0.1",
    FAAS_STATE_DIR: join(workDir, `state-${mode}`),
    FAAS_IDLE_TIMEOUT: "0",
    FAAS_AUTH_TOKEN: "",
    FAAS_LOG_LEVEL: "warn",
    RADICAL_FAAS_PLATFORM: "local",
    FAAS_WORKFLOW: "local",
    TMPDIR: workDir, // the local platform's socket directory goes in our temp dir
  };
  const child = children.start(`server_child ${mode}`, process.execPath, ["--import", "tsx", SERVER_CHILD, mode], {
    env,
    cwd: REPO,
    ipc: true,
    logPath: join(workDir, `${mode}.log`),
  });
  return { child, url: await childUrl(children, child) };
}

/** The agent with the handler deployed, checked over REST, Connect JSON and gRPC (`grpcBody`). */
export async function startAgentServer(deps: ServerDeps, grpcBody: Buffer): Promise<Server> {
  const { child, url } = await startServerChild(deps, "agent");
  const post = (path: string, body: unknown, timeoutMs?: number) => postJson(`${url}${path}`, body, timeoutMs, deps.children.signal);
  const deployed = (await post("/deploy", { id: FUNCTION_ID, handler: HANDLER_SOURCE }, 120_000)) as { id?: string };
  if (deployed.id !== FUNCTION_ID) throw new Error(`deploy answered ${JSON.stringify(deployed)}`);
  const rest = (await post("/invoke", INVOKE_BODY)) as { result?: unknown; status?: string };
  expectEqual("REST /invoke", { result: rest.result, status: rest.status }, { result: EXPECTED_RESULT, status: "success" });
  const connect = (await post(INVOKE_PATH, INVOKE_BODY)) as { result?: unknown; status?: string };
  expectEqual("Connect JSON Invoke", { result: connect.result, status: connect.status }, { result: EXPECTED_RESULT, status: "success" });
  const grpcResponseBytes = await verifyGrpc(url, grpcBody, EXPECTED_RESULT);
  return { name: "agent", url, groups: [child], grpcResponseBytes };
}

/** The same stack with the empty platform, checked over Connect JSON and gRPC. */
export async function startEmptyServer(deps: ServerDeps, grpcBody: Buffer): Promise<Server> {
  const { child, url } = await startServerChild(deps, "empty");
  const connect = (await postJson(`${url}${INVOKE_PATH}`, INVOKE_BODY, 10_000, deps.children.signal)) as { result?: unknown; status?: string };
  expectEqual("empty Connect JSON Invoke", { result: connect.result, status: connect.status }, { result: null, status: "success" });
  const grpcResponseBytes = await verifyGrpc(url, grpcBody, null);
  return { name: "empty", url, groups: [child], grpcResponseBytes };
}
