import { get } from "node:http";
import type Docker from "dockerode";
import { FaasError, handlerInvalid } from "../../domain/errors.ts";
import type { FunctionInfo } from "../../domain/types.ts";
import { CONTAINER_PORT } from "../../images/template.ts";
import { label, LEGACY_DOCKER_LABELS, selector } from "../kit/labels.ts";

/** What the platform reads back from a container: the engine is the source of truth. */
export interface ContainerView {
  containerId: string;
  functionId: string;
  image: string;
  hash: string;
  revision: string;
  pythonVersion: string;
  createdAt: Date;
  /** When this container (this revision) was created. */
  updatedAt: Date;
  running: boolean;
  state: string;
  /** The published port on 127.0.0.1; 0 when not running. */
  port: number;
}

/**
 * The label filters selecting this agent's containers (of one function when `id` is given): today's
 * labels, and with `legacy` those earlier agents wrote (kit/labels.ts).
 */
export function labelFilter(namespace: string, id?: string, legacy = false): { label: string[] } {
  const values = id ? { namespace, function: id } : { namespace };
  return { label: legacy ? selector(values, LEGACY_DOCKER_LABELS) : selector(values) };
}

/**
 * Every container of this agent's functions, grouped by function id, newest first: the first of
 * each group is the current one (a blue/green deploy briefly has two).
 */
export async function listViews(docker: Docker, namespace: string, id: string | undefined, signal: AbortSignal): Promise<Map<string, ContainerView[]>> {
  const list = (legacy: boolean) => docker.listContainers({ all: true, filters: labelFilter(namespace, id, legacy), abortSignal: signal } as Docker.ContainerListOptions);
  // Containers an earlier agent labelled the old way are found too: one more query on the same socket.
  const summaries = (await Promise.all([list(false), list(true)])).flat();
  summaries.sort((a, b) => b.Created - a.Created);
  const out = new Map<string, ContainerView[]>();
  for (const s of summaries) {
    const labels = s.Labels ?? {};
    const functionId = label(labels, "function");
    if (!functionId) continue;
    const port = s.Ports?.find((p) => p.PrivatePort === CONTAINER_PORT && p.IP === "127.0.0.1")?.PublicPort ?? 0;
    const view: ContainerView = {
      containerId: s.Id,
      functionId,
      image: s.Image,
      hash: label(labels, "contentHash"),
      revision: label(labels, "revision"),
      pythonVersion: label(labels, "pythonVersion"),
      createdAt: new Date(label(labels, "createdAt") || s.Created * 1000),
      updatedAt: new Date(s.Created * 1000),
      running: s.State === "running",
      state: s.State,
      port,
    };
    const group = out.get(functionId) ?? [];
    group.push(view);
    out.set(functionId, group);
  }
  return out;
}

/** The public FunctionInfo of a container view. */
export function describeView(view: ContainerView): FunctionInfo {
  return {
    id: view.functionId,
    image: view.image,
    ready: true,
    state: view.running ? "running" : "idle",
    platform: "docker",
    endpoint: view.running && view.port ? `http://127.0.0.1:${view.port}` : "",
    createdAt: view.createdAt,
    updatedAt: view.updatedAt,
    revision: view.revision,
    pythonVersion: view.pythonVersion,
  };
}

/** The host port the engine published the runtime on (127.0.0.1 only), read from a running container. */
export async function publishedPort(docker: Docker, containerId: string, signal: AbortSignal): Promise<number> {
  const info = await docker.getContainer(containerId).inspect({ abortSignal: signal } as Docker.ContainerInspectOptions);
  const binding = info.NetworkSettings.Ports?.[`${CONTAINER_PORT}/tcp`]?.find((b) => b.HostIp === "127.0.0.1");
  if (!info.State.Running || !binding) {
    throw new FaasError("unavailable", `container ${containerId.slice(0, 12)} is not running (${info.State.Status}, exit ${info.State.ExitCode})`, {
      reason: "WORKER_CRASHED",
    });
  }
  return Number(binding.HostPort);
}

/** The line the runtime prints when the handler does not import (see faas_runtime.py). */
const CHECK_MARKER = "FAAS_CHECK ";

/**
 * Polls GET /healthz on 127.0.0.1:`port` until the runtime answers 200. Every ~0.25 s it checks the
 * container is still running; if it exited, fails with invalid_argument HANDLER_INVALID (and the
 * traceback) when the handler did not import, else unavailable WORKER_CRASHED with its last output.
 */
export async function waitHealthy(docker: Docker, containerId: string, port: number, timeoutMs: number, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    if (await healthz(port)) return;
    if (signal.aborted) throw signal.reason;
    if (attempt % 10 === 9) {
      const info = await docker.getContainer(containerId).inspect();
      if (!info.State.Running) {
        const output = await containerOutput(docker, containerId, 60);
        const marker = output.split("\n").find((line) => line.startsWith(CHECK_MARKER));
        if (marker) {
          // The marker says the import failed even if its JSON is damaged; then its text is the message.
          const raw = marker.slice(CHECK_MARKER.length);
          let check: { type?: string; message?: string; traceback?: string };
          try {
            check = JSON.parse(raw) as typeof check;
          } catch {
            check = { type: "ImportError", message: raw };
          }
          throw handlerInvalid(check);
        }
        // One sentence; the container's last output once, in metadata.
        throw new FaasError("unavailable", `the function's container exited with code ${info.State.ExitCode} before it was healthy`, {
          reason: "WORKER_CRASHED",
          metadata: { exit: String(info.State.ExitCode), last_output: output },
        });
      }
    }
    if (Date.now() > deadline) {
      throw new FaasError("deadline_exceeded", `the function's container was not healthy within ${timeoutMs / 1000} s`, { reason: "DEPLOY_TIMEOUT" });
    }
    await new Promise((resolve) => setTimeout(resolve, attempt < 20 ? 25 : 100));
  }
}

function healthz(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = get({ host: "127.0.0.1", port, path: "/healthz", agent: false, timeout: 1000 }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode === 200));
      res.on("error", () => resolve(false));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
  });
}

/** The last `tail` lines a container wrote (stdout and stderr), as text. */
export async function containerOutput(docker: Docker, containerId: string, tail: number): Promise<string> {
  try {
    const buffer = (await docker.getContainer(containerId).logs({ stdout: true, stderr: true, tail, follow: false })) as unknown as Buffer;
    return demuxBuffer(buffer).map((l) => l.line).join("\n");
  } catch {
    return "";
  }
}

/** Splits the engine's multiplexed log format (8-byte frame headers) held in one buffer into lines. */
export function demuxBuffer(buffer: Buffer): Array<{ stream: "stdout" | "stderr"; line: string }> {
  const out: Array<{ stream: "stdout" | "stderr"; line: string }> = [];
  // The engine frames writes, not lines: a long line can span frames, so a stream's unfinished
  // line waits for its next frame.
  const pending = { stdout: "", stderr: "" };
  let offset = 0;
  while (offset + 8 <= buffer.length) {
    const stream = buffer[offset] === 2 ? "stderr" : "stdout";
    const size = buffer.readUInt32BE(offset + 4);
    const parts = (pending[stream] + buffer.subarray(offset + 8, offset + 8 + size).toString("utf8")).split("\n");
    offset += 8 + size;
    pending[stream] = parts.pop() ?? "";
    for (const line of parts) if (line !== "") out.push({ stream, line });
  }
  for (const stream of ["stdout", "stderr"] as const) if (pending[stream] !== "") out.push({ stream, line: pending[stream] });
  return out;
}
