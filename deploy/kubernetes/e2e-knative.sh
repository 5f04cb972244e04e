#!/usr/bin/env bash
# End-to-end check of the knative platform on a real cluster (minikube or kind with Knative Serving
# and Kourier). Starts the agent from this checkout on 127.0.0.1, then deploys, invokes, redeploys
# with a traffic split, rolls back, lists and deletes a function through the agent's REST API, and
# checks the cluster with kubectl along the way. Nothing here runs in the project's CI (no cluster).
#
# Needs: kubectl (current context = the cluster), curl, node 20 with `npm ci` done, and a Docker
# engine whose images the cluster's kubelet sees: with minikube, run `eval "$(minikube docker-env)"`
# first (the script does it when minikube is on PATH and DOCKER_HOST is unset).
# Variables (all optional):
#   KNATIVE_NAMESPACE    namespace for the test function (default: default)
#   KNATIVE_INGRESS_URL  the Kourier gateway, e.g. http://192.168.49.2:31080 (default: asked from
#                        minikube, else http://127.0.0.1:8080 after
#                        `kubectl port-forward -n kourier-system svc/kourier 8080:80`)
#   E2E_PORT             the agent's port (default 5055)
set -euo pipefail
cd "$(dirname "$0")/../.."

NS="${KNATIVE_NAMESPACE:-default}"
PORT="${E2E_PORT:-5055}"
ID="e2e-hello-$RANDOM"
AGENT="http://127.0.0.1:$PORT"

need() { command -v "$1" >/dev/null || { echo "e2e: $1 is required" >&2; exit 2; }; }
need kubectl
need curl
need node

if [ -z "${DOCKER_HOST:-}" ] && command -v minikube >/dev/null; then
  eval "$(minikube docker-env)"
fi
if [ -z "${KNATIVE_INGRESS_URL:-}" ]; then
  if command -v minikube >/dev/null; then
    KNATIVE_INGRESS_URL="$(minikube service kourier -n kourier-system --url | head -1)"
  else
    KNATIVE_INGRESS_URL="http://127.0.0.1:8080"
  fi
fi
# The domain Knative puts in status.url (config-domain); only used for display here.
DOMAIN="$(kubectl get configmap config-domain -n knative-serving -o jsonpath='{.data}' 2>/dev/null | sed -n 's/^{"\([^"]*\)".*/\1/p')"
echo "e2e: namespace $NS, ingress $KNATIVE_INGRESS_URL, domain ${DOMAIN:-svc.cluster.local}"

kubectl get crd services.serving.knative.dev >/dev/null || { echo "e2e: Knative Serving is not installed" >&2; exit 2; }

export RADICAL_FAAS_PLATFORM=knative KNATIVE_NAMESPACE="$NS" KNATIVE_INGRESS_URL PORT FAAS_HOST=127.0.0.1 KNATIVE_TIMEOUT=300
node --import tsx src/main.ts >/tmp/radical-faas-e2e.log 2>&1 &
AGENT_PID=$!
cleanup() {
  curl -s -X POST "$AGENT/delete" -H 'content-type: application/json' -d "{\"id\":\"$ID\"}" >/dev/null 2>&1 || true
  kill "$AGENT_PID" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 60); do curl -sf "$AGENT/health" >/dev/null && break; sleep 1; done
curl -sf "$AGENT/health" || { echo "e2e: the agent did not start; see /tmp/radical-faas-e2e.log" >&2; exit 1; }
echo

post() { curl -sS -X POST "$AGENT$1" -H 'content-type: application/json' -d "$2"; echo; }
field() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=process.argv[1].split(".").reduce((o,k)=>o?.[k],JSON.parse(s));console.log(typeof v==="object"?JSON.stringify(v):v)})' "$1"; }
expect() { if [ "$1" != "$2" ]; then echo "e2e: FAILED: $3: expected $2, got $1" >&2; exit 1; fi; echo "e2e: ok: $3"; }

echo "== deploy v1"
out="$(post /deploy "{\"id\":\"$ID\",\"handler\":\"def handle(req):\\n    return 'v1'\\n\"}")"
echo "$out"
expect "$(echo "$out" | field status)" deployed "deploy v1"
REV1="$(echo "$out" | field revision)"
expect "$(kubectl get ksvc "$ID" -n "$NS" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" True "kubectl sees the Service Ready"

echo "== invoke"
expect "$(post /invoke "{\"id\":\"$ID\",\"payload\":{}}" | field result)" v1 "invoke v1"

echo "== deploy v2, keeping 50% on v1"
out="$(post /deploy "{\"id\":\"$ID\",\"handler\":\"def handle(req):\\n    return 'v2'\\n\",\"options\":{\"traffic\":[{\"revision\":\"$REV1\",\"percent\":50},{\"latest\":true,\"percent\":50}]}}")"
echo "$out"
expect "$(echo "$out" | field status)" deployed "deploy v2"
v1=0; v2=0
for _ in $(seq 1 40); do
  case "$(post /invoke "{\"id\":\"$ID\",\"payload\":{}}" | field result)" in v1) v1=$((v1 + 1)) ;; v2) v2=$((v2 + 1)) ;; esac
done
echo "e2e: 40 invokes: v1=$v1 v2=$v2"
[ "$v1" -gt 5 ] && [ "$v2" -gt 5 ] || { echo "e2e: FAILED: the split did not reach both revisions" >&2; exit 1; }

echo "== list"
curl -sS "$AGENT/functions"; echo

echo "== roll back to v1"
post /traffic "{\"id\":\"$ID\",\"traffic\":[{\"revision\":\"$REV1\",\"percent\":100}]}"
for _ in $(seq 1 10); do expect "$(post /invoke "{\"id\":\"$ID\",\"payload\":{}}" | field result)" v1 "invoke after rollback"; done

echo "== dry run"
post /deploy "{\"id\":\"$ID\",\"handler\":\"def handle(req):\\n    return 'v3'\\n\",\"dry_run\":true}" | field object >/tmp/radical-faas-e2e-dry.json
kubectl apply --dry-run=server -n "$NS" -f /tmp/radical-faas-e2e-dry.json >/dev/null && echo "e2e: ok: the cluster accepts the dry-run object (server-side dry run)"

echo "== delete"
expect "$(post /delete "{\"id\":\"$ID\"}" | field status)" deleted "delete"
if kubectl get ksvc "$ID" -n "$NS" >/dev/null 2>&1; then echo "e2e: FAILED: the Service still exists" >&2; exit 1; fi
echo "e2e: ok: the Service is gone"
echo "e2e: all checks passed"
