import { fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { timestampDate, ValueSchema } from "@bufbuild/protobuf/wkt";
import type { DeployPhase } from "../../gen/faas/v1/agent_pb.ts";
import { createAgentClient, describeError, parseKeyValues, PHASES } from "./api.ts";
import "./style.css";

/** How often the function list and the health badge refresh, in milliseconds. */
const REFRESH_MS = 2000;

const EXAMPLE_HANDLER = `import json

def handle(req):
    numbers = req.get("numbers", []) if isinstance(req, dict) else []
    return {"sum": sum(numbers), "count": len(numbers)}
`;

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const tokenInput = $<HTMLInputElement>("token");
tokenInput.value = localStorage.getItem("faas-token") ?? "";
tokenInput.addEventListener("change", () => {
  localStorage.setItem("faas-token", tokenInput.value);
  void refresh();
});
const client = createAgentClient(() => tokenInput.value.trim());

function show(el: HTMLElement, text: string | undefined): void {
  el.hidden = !text;
  el.textContent = text ?? "";
}

// ---- functions list, refreshed every REFRESH_MS -------------------------------------------------

async function refresh(): Promise<void> {
  try {
    const health = await client.health({});
    const badge = $("health");
    badge.textContent = `${health.status} · ${health.platform} · v${health.version}`;
    badge.className = `badge ${health.status === "healthy" ? "ok" : "bad"}`;
  } catch {
    $("health").textContent = "agent unreachable";
    $("health").className = "badge bad";
  }
  try {
    const { functions } = await client.list({});
    const rows = functions.map((fn) => {
      const tr = document.createElement("tr");
      tr.dataset.id = fn.id;
      const cells = [fn.id, fn.state, fn.ready ? "yes" : "no", fn.pythonVersion, fn.revision.slice(0, 12), fn.updatedAt ? timestampDate(fn.updatedAt).toLocaleTimeString() : ""];
      cells.forEach((text, i) => {
        const td = document.createElement("td");
        td.textContent = text;
        if (i === 0 || i === 4) td.className = "mono";
        if (i === 1) td.className = `state-${fn.state}`;
        tr.append(td);
      });
      const actions = document.createElement("td");
      const use = button("invoke", () => {
        $<HTMLInputElement>("invoke-id").value = fn.id;
        $<HTMLTextAreaElement>("invoke-payload").focus();
      });
      const del = button("delete", async () => {
        if (!confirm(`Delete ${fn.id}?`)) return;
        try {
          await client.delete({ id: fn.id });
        } catch (error) {
          show($("functions-error"), describeError(error));
        }
        void refresh();
      });
      actions.append(use, " ", del);
      tr.append(actions);
      return tr;
    });
    $("functions").querySelector("tbody")!.replaceChildren(...rows);
    $("functions-empty").hidden = functions.length > 0;
    $("function-ids").replaceChildren(...functions.map((fn) => Object.assign(document.createElement("option"), { value: fn.id })));
    $("functions-updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    show($("functions-error"), undefined);
  } catch (error) {
    show($("functions-error"), describeError(error));
  }
}

function button(label: string, onClick: () => void): HTMLButtonElement {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "small";
  b.textContent = label;
  b.addEventListener("click", onClick);
  return b;
}

// ---- deploy, with the build log streaming in ------------------------------------------------------

const phaseItems = new Map<DeployPhase, HTMLLIElement>();
for (const [phase, name] of PHASES) {
  const li = document.createElement("li");
  li.textContent = name;
  li.dataset.phase = name;
  li.dataset.state = "pending";
  phaseItems.set(phase, li);
}
$("deploy-phases").append(...phaseItems.values());
$<HTMLTextAreaElement>("deploy-handler").value = EXAMPLE_HANDLER;

function logLine(parts: Array<[string, string]>): void {
  const log = $("deploy-log");
  const line = document.createElement("div");
  for (const [className, text] of parts) line.append(Object.assign(document.createElement("span"), { className, textContent: text }));
  log.append(line);
  log.scrollTop = log.scrollHeight;
}

$("deploy-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const submit = $<HTMLButtonElement>("deploy-button");
  submit.disabled = true;
  $("deploy-log").replaceChildren();
  show($("deploy-error"), undefined);
  $("deploy-status").textContent = "deploying…";
  $("deploy-status").className = "status";
  for (const li of phaseItems.values()) li.dataset.state = "pending";
  let active: HTMLLIElement | undefined;
  try {
    const request = {
      id: $<HTMLInputElement>("deploy-id").value.trim(),
      handler: $<HTMLTextAreaElement>("deploy-handler").value,
      requirements: $<HTMLTextAreaElement>("deploy-requirements").value,
      params: parseKeyValues($<HTMLTextAreaElement>("deploy-params").value),
    };
    for await (const res of client.deploy(request)) {
      const time = res.time ? timestampDate(res.time).toLocaleTimeString() : "";
      switch (res.event.case) {
        case "phase": {
          if (active) active.dataset.state = "done";
          active = phaseItems.get(res.event.value);
          if (active) active.dataset.state = "active";
          logLine([["time", `${time} `], ["phase", `▸ ${active?.textContent ?? res.event.value}`]]);
          break;
        }
        case "log":
          logLine([["time", `${time} `], ["src", `${res.event.value.source}: `], ["line", res.event.value.line]]);
          break;
        case "function": {
          if (active) active.dataset.state = "done";
          active = undefined;
          const fn = res.event.value;
          $("deploy-status").textContent = `deployed ${fn.id} (revision ${fn.revision.slice(0, 12)}, python ${fn.pythonVersion})`;
          $("deploy-status").className = "status ok";
          $<HTMLInputElement>("invoke-id").value = fn.id;
          break;
        }
      }
    }
  } catch (error) {
    if (active) active.dataset.state = "failed";
    $("deploy-status").textContent = "deploy failed";
    $("deploy-status").className = "status bad";
    show($("deploy-error"), error instanceof Error && !("code" in error) ? error.message : describeError(error));
  } finally {
    submit.disabled = false;
    void refresh();
  }
});

// ---- invoke ---------------------------------------------------------------------------------------

$("invoke-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const submit = $<HTMLButtonElement>("invoke-button");
  show($("invoke-error"), undefined);
  let payload: JsonValue;
  try {
    payload = JSON.parse($<HTMLTextAreaElement>("invoke-payload").value || "{}") as JsonValue;
  } catch (error) {
    show($("invoke-result"), undefined);
    $("invoke-meta").hidden = true;
    show($("invoke-error"), `the payload is not valid JSON: ${(error as Error).message}`);
    return;
  }
  submit.disabled = true;
  try {
    const res = await client.invoke({ id: $<HTMLInputElement>("invoke-id").value.trim(), payload: fromJson(ValueSchema, payload) });
    show($("invoke-result"), JSON.stringify(res.result ? toJson(ValueSchema, res.result) : null, null, 2));
    $("invoke-time").textContent = `${(res.executionTime * 1000).toFixed(1)} ms`;
    $("invoke-cold").textContent = res.coldStart ? "yes" : "no";
    $("invoke-platform").textContent = res.platform;
    $("invoke-meta").hidden = false;
  } catch (error) {
    show($("invoke-result"), undefined);
    $("invoke-meta").hidden = true;
    show($("invoke-error"), describeError(error));
  } finally {
    submit.disabled = false;
  }
});

void refresh();
setInterval(() => void refresh(), REFRESH_MS);
