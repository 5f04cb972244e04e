#!/usr/bin/env bash
# End-to-end check of the nuclio platform against a real Nuclio (1.13/1.14 on Kubernetes). Starts
# the agent from this checkout on 127.0.0.1 and, through its REST API, deploys a sync and an async
# handler and invokes them, redeploys older content after newer content, deploys a handler that does
# not import (expecting HANDLER_INVALID with the traceback), reads logs and deletes everything.
# Nothing here runs in the project's CI (no Nuclio there).
#
# Needs: curl, node 20 with `npm ci` done, and a reachable Nuclio dashboard, e.g.
#   kubectl port-forward -n nuclio svc/nuclio-dashboard 8070:8070 &
# Variables:
#   NUCLIO_DASHBOARD_URL  the dashboard (required), e.g. http://127.0.0.1:8070
#   NUCLIO_NAMESPACE      namespace of the functions (default: nuclio)
#   NUCLIO_PROJECT        project (default: default; it must exist)
#   NUCLIO_INVOKE_VIA     dashboard (default), internal or external
#   E2E_PORT              the agent's port (default 5056)
set -euo pipefail
cd "$(dirname "$0")/../.."

: "${NUCLIO_DASHBOARD_URL:?set NUCLIO_DASHBOARD_URL to the Nuclio dashboard, e.g. http://127.0.0.1:8070}"
PORT="${E2E_PORT:-5056}"
AGENT="http://127.0.0.1:$PORT"
SUFFIX="$RANDOM"
SYNC="e2e-sync-$SUFFIX"
ASYNC="e2e-async-$SUFFIX"
BROKEN="e2e-broken-$SUFFIX"
LOG="${TMPDIR:-/tmp}/radical-faas-e2e-nuclio.log"

need() { command -v "$1" >/dev/null || { echo "e2e: $1 is required" >&2; exit 2; }; }
need curl
need node

curl -sf "$NUCLIO_DASHBOARD_URL/api/versions" >/dev/null || { echo "e2e: no Nuclio dashboard at $NUCLIO_DASHBOARD_URL" >&2; exit 2; }

export RADICAL_FAAS_PLATFORM=nuclio NUCLIO_DASHBOARD_URL PORT FAAS_HOST=127.0.0.1
export NUCLIO_NAMESPACE="${NUCLIO_NAMESPACE:-nuclio}" NUCLIO_TIMEOUT="${NUCLIO_TIMEOUT:-600}"
node --import tsx src/main.ts >"$LOG" 2>&1 &
AGENT_PID=$!
post() { curl -sS -X POST "$AGENT$1" -H 'content-type: application/json' -d "$2"; echo; }
cleanup() {
  for id in "$SYNC" "$ASYNC" "$BROKEN"; do post /delete "{\"id\":\"$id\"}" >/dev/null 2>&1 || true; done
  kill "$AGENT_PID" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 60); do curl -sf "$AGENT/health" >/dev/null && break; sleep 1; done
curl -sf "$AGENT/health" || { echo "e2e: the agent did not start; see $LOG" >&2; exit 1; }
echo

field() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=process.argv[1].split(".").reduce((o,k)=>o?.[k],JSON.parse(s));console.log(typeof v==="object"?JSON.stringify(v):v)})' "$1"; }
expect() { if [ "$1" != "$2" ]; then echo "e2e: FAILED: $3: expected $2, got $1" >&2; exit 1; fi; echo "e2e: ok: $3"; }
matches() { if ! grep -q -- "$2" <<<"$1"; then echo "e2e: FAILED: $3: no '$2' in: $1" >&2; exit 1; fi; echo "e2e: ok: $3"; }

echo "== deploy and invoke a sync handler"
out="$(post /deploy "{\"id\":\"$SYNC\",\"handler\":\"def handle(req):\\n    print('got', req, flush=True)\\n    return 'v1'\\n\"}")"
echo "$out"
expect "$(echo "$out" | field status)" deployed "deploy v1"
REV1="$(echo "$out" | field revision)"
expect "$(post /invoke "{\"id\":\"$SYNC\",\"payload\":{\"n\":1}}" | field result)" v1 "invoke v1"

echo "== deploy and invoke an async handler (awaited on the wrapper's event loop)"
out="$(post /deploy "{\"id\":\"$ASYNC\",\"handler\":\"import asyncio\\nasync def handle(req):\\n    await asyncio.sleep(0.01)\\n    return {'async': req}\\n\"}")"
expect "$(echo "$out" | field status)" deployed "deploy async"
expect "$(post /invoke "{\"id\":\"$ASYNC\",\"payload\":{\"n\":2}}" | field result)" '{"async":{"n":2}}' "invoke async"

echo "== redeploy v2, then the older v1 again"
expect "$(post /deploy "{\"id\":\"$SYNC\",\"handler\":\"def handle(req):\\n    return 'v2'\\n\"}" | field status)" deployed "deploy v2"
expect "$(post /invoke "{\"id\":\"$SYNC\",\"payload\":{}}" | field result)" v2 "invoke v2"
out="$(post /deploy "{\"id\":\"$SYNC\",\"handler\":\"def handle(req):\\n    print('got', req, flush=True)\\n    return 'v1'\\n\"}")"
expect "$(echo "$out" | field revision)" "$REV1" "v1 again has v1's revision"
expect "$(post /invoke "{\"id\":\"$SYNC\",\"payload\":{\"n\":3}}" | field result)" v1 "invoke v1 again"

echo "== a handler that does not import"
out="$(post /deploy "{\"id\":\"$BROKEN\",\"handler\":\"import no_such_module_e2e\\ndef handle(req):\\n    return 1\\n\"}")"
echo "$out"
expect "$(echo "$out" | field reason)" HANDLER_INVALID "failed deploy's reason"
matches "$(echo "$out" | field traceback)" "no_such_module_e2e" "its traceback"

echo "== logs"
logs="$(node src/cli/bin.js logs "$SYNC" --tail 50 --agent "$AGENT" || true)"
matches "$logs" "got {'n': 3}" "the function's output in its logs"

echo "== delete"
for id in "$SYNC" "$ASYNC" "$BROKEN"; do expect "$(post /delete "{\"id\":\"$id\"}" | field status)" deleted "delete $id"; done
expect "$(post /invoke "{\"id\":\"$SYNC\",\"payload\":{}}" | field reason)" FUNCTION_NOT_FOUND "invoke after delete"
echo "e2e: all checks passed"
