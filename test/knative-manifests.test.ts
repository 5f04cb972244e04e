import { readFileSync } from "node:fs";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";

// deploy/kubernetes cannot be applied here (no cluster): check that it parses, has the objects the
// README promises, and that the Role grants exactly what the adapter calls.
const dir = new URL("../deploy/kubernetes/", import.meta.url);
const docs = parseAllDocuments(readFileSync(new URL("agent.yaml", dir), "utf8")).map((d) => {
  expect(d.errors).toEqual([]);
  return d.toJS() as Record<string, any>;
});
const byKind = (kind: string) => docs.find((d) => d.kind === kind)!;

describe("deploy/kubernetes", () => {
  it("has a ServiceAccount, Role, RoleBinding, Deployment and Service", () => {
    expect(docs.map((d) => d.kind)).toEqual(["ServiceAccount", "Role", "RoleBinding", "Deployment", "Service"]);
    expect(byKind("RoleBinding").roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "radical-faas-agent" });
    expect(byKind("RoleBinding").subjects).toEqual([{ kind: "ServiceAccount", name: "radical-faas-agent" }]);
    const pod = byKind("Deployment").spec.template.spec;
    expect(pod.serviceAccountName).toBe("radical-faas-agent");
    const env = Object.fromEntries(pod.containers[0].env.map((e: { name: string; value?: string }) => [e.name, e.value ?? "(from)"]));
    expect(env).toMatchObject({ RADICAL_FAAS_PLATFORM: "knative", KNATIVE_NAMESPACE: "(from)" });
    expect(byKind("Service").spec.selector).toEqual(byKind("Deployment").spec.selector.matchLabels);
  });

  it("limits the Role to what the agent calls, in its namespace only", () => {
    const rules = byKind("Role").rules.map((r: any) => [r.apiGroups.join(), r.resources.join(), [...r.verbs].sort().join()]);
    expect(rules).toEqual([
      ["serving.knative.dev", "services", "create,delete,get,list,patch,update,watch"],
      ["serving.knative.dev", "revisions", "get,list,watch"],
      ["", "pods", "get,list,watch"],
      ["", "pods/log", "get"],
    ]);
  });

  it("the Dockerfile runs the agent on Node 20 and the e2e script is valid bash", async () => {
    const dockerfile = readFileSync(new URL("Dockerfile", dir), "utf8");
    expect(dockerfile.match(/^FROM .*/gm)).toEqual(["FROM node:20-bookworm-slim AS build", "FROM node:20-bookworm-slim"]);
    expect(dockerfile).toContain('CMD ["node", "dist/src/main.js"]');
    const check = await execa("bash", ["-n", new URL("e2e-knative.sh", dir).pathname], { reject: false });
    expect(check.exitCode, check.stderr).toBe(0);
  });
});
