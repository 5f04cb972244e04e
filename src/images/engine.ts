import { readFileSync } from "node:fs";
import { join } from "node:path";
import Docker from "dockerode";

/**
 * A dockerode client for the engine the environment names, read from `env` (not from
 * process.env): DOCKER_HOST (unix:///path or tcp://host:port; default /var/run/docker.sock),
 * DOCKER_TLS_VERIFY and DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem), exactly what
 * `eval $(minikube docker-env)` sets. The caller owns the client.
 */
export function dockerFromEnv(env: NodeJS.ProcessEnv): Docker {
  const host = env.DOCKER_HOST?.trim() || "unix:///var/run/docker.sock";
  if (host.startsWith("unix://")) return new Docker({ socketPath: host.slice("unix://".length) });
  const url = new URL(host.replace(/^tcp:\/\//, "http://"));
  const tls = ["1", "true"].includes((env.DOCKER_TLS_VERIFY ?? "").toLowerCase());
  if (!tls) return new Docker({ host: url.hostname, port: Number(url.port || 2375), protocol: "http" });
  const certs = env.DOCKER_CERT_PATH?.trim() || join(env.HOME ?? "", ".docker");
  return new Docker({
    host: url.hostname,
    port: Number(url.port || 2376),
    protocol: "https",
    ca: readFileSync(join(certs, "ca.pem")),
    cert: readFileSync(join(certs, "cert.pem")),
    key: readFileSync(join(certs, "key.pem")),
  });
}

/** Where DOCKER_HOST points, for messages (never credentials: TLS material is not shown). */
export function describeDockerHost(env: NodeJS.ProcessEnv): string {
  return env.DOCKER_HOST?.trim() || "unix:///var/run/docker.sock";
}
