import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Docker from "dockerode";
import { FakeApiServer } from "./apiserver.ts";
import { ControllerSim } from "./controller.ts";
import { IngressSim } from "./ingress.ts";

/** A running Knative stand-in: API server, controllers, ingress, and a kubeconfig pointing at them. */
export interface KnativeStandIn {
  api: FakeApiServer;
  controller: ControllerSim;
  ingress: IngressSim;
  /** The API server's URL. */
  server: string;
  /** KNATIVE_INGRESS_URL for the agent. */
  ingressUrl: string;
  /** A kubeconfig file (KUBECONFIG) naming the API server. */
  kubeconfig: string;
  domain: string;
  /** Environment for an agent using the stand-in. */
  env: Record<string, string>;
  close(): Promise<void>;
}

/**
 * Starts the stand-in on 127.0.0.1 (random ports), with namespace `default` and domain
 * `example.com`; functions run as containers on `docker`, labelled with a fresh label so that
 * parallel test files never see each other's.
 */
export async function startKnativeStandIn(docker: Docker, options: { progressDeadlineMs?: number; domain?: string } = {}): Promise<KnativeStandIn> {
  const domain = options.domain ?? "example.com";
  const api = new FakeApiServer();
  const label = `kn-${randomBytes(3).toString("hex")}`;
  const controller = new ControllerSim({ docker, store: api.store, domain, label, progressDeadlineMs: options.progressDeadlineMs ?? 2000 });
  api.hooks = controller;
  const ingress = new IngressSim(api.store, controller, api.namespaces, domain);
  const server = await api.listen();
  const ingressUrl = await ingress.listen();
  const dir = await mkdtemp(join(tmpdir(), "kn-standin-"));
  const kubeconfig = join(dir, "config");
  await writeFile(
    kubeconfig,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      // client-node refuses plain http unless the cluster skips TLS verification (as for `kubectl proxy`).
      clusters: [{ name: "standin", cluster: { server, "insecure-skip-tls-verify": true } }],
      users: [{ name: "standin", user: { token: "standin-token" } }],
      contexts: [{ name: "standin", context: { cluster: "standin", user: "standin", namespace: "default" } }],
      "current-context": "standin",
    }),
  );
  return {
    api,
    controller,
    ingress,
    server,
    ingressUrl,
    kubeconfig,
    domain,
    env: { RADICAL_FAAS_PLATFORM: "knative", KUBECONFIG: kubeconfig, KNATIVE_INGRESS_URL: ingressUrl, KNATIVE_NAMESPACE: "default", KNATIVE_DOMAIN: domain, KNATIVE_TIMEOUT: "90" },
    async close() {
      await controller.close();
      await ingress.close();
      await api.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
