import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Function as FunctionMessage } from "../../../gen/faas/v1/agent_pb.ts";
import type { App } from "../app.ts";
import { relativeTime } from "../../clients/time.ts";
import { byId, button, h } from "../dom.ts";
import { showError } from "../errors.ts";
import { readStats } from "../stats.ts";
import { detailHref } from "../router.ts";

/** The columns of the list: a header and how a function fills the cell (narrow screens show the header beside it). */
const COLUMNS: Array<{ name: string; cell: (fn: FunctionMessage) => Node | string; className?: (fn: FunctionMessage) => string }> = [
  { name: "id", cell: (fn) => h("a", { href: detailHref(fn.id), text: fn.id }), className: () => "mono" },
  { name: "state", cell: (fn) => fn.state, className: (fn) => `state-${fn.state}` },
  { name: "ready", cell: (fn) => (fn.ready ? "yes" : "no") },
  { name: "python", cell: (fn) => fn.pythonVersion },
  { name: "revision", cell: (fn) => fn.revision.slice(0, 12), className: () => "mono" },
  { name: "updated", cell: (fn) => (fn.updatedAt ? relativeTime(timestampDate(fn.updatedAt)) : "-") },
  { name: "calls 5m", cell: (fn) => callsCell(fn) },
];

/**
 * The functions card: a table of the functions (rows become cards below 640 px), "No functions
 * yet" only when the agent answered with an empty list, and list errors. Hidden while the
 * connection panel shows (token required, unreachable).
 */
export function mountList(app: App): void {
  const table = byId<HTMLTableElement>("functions");
  const head = table.querySelector("thead tr")!;
  head.replaceChildren(...COLUMNS.map((c) => h("th", { text: c.name })), h("th", { text: "" }));
  const body = table.querySelector("tbody")!;
  const empty = byId("functions-empty");
  const error = byId("functions-error");
  const updated = byId("functions-updated");

  app.onRefresh((state, functions, listError) => {
    if (state.kind !== "ok") {
      body.replaceChildren();
      table.hidden = true;
      empty.hidden = true;
      updated.textContent = "";
      return;
    }
    showError(error, listError);
    if (!functions) {
      // A list error: the error alone, no table of what the agent said earlier.
      table.hidden = true;
      empty.hidden = true;
      return;
    }
    table.hidden = functions.length === 0;
    empty.hidden = functions.length > 0;
    body.replaceChildren(...functions.map((fn) => row(app, fn, error)));
    byId("function-ids").replaceChildren(...functions.map((fn) => h("option", { value: fn.id })));
    updated.textContent = `updated ${new Date().toLocaleTimeString()}`;
  });
}

/** Calls (and errors) over the agent's 5-minute window, "-" without stats. */
function callsCell(fn: FunctionMessage): string {
  const stats = readStats(fn);
  if (!stats) return "-";
  return stats.windowErrors > 0 ? `${stats.windowCalls} (${stats.windowErrors} failed)` : String(stats.windowCalls);
}

function row(app: App, fn: FunctionMessage, error: HTMLElement): HTMLTableRowElement {
  const tr = h("tr", { "data-id": fn.id });
  for (const column of COLUMNS) tr.append(h("td", { "data-label": column.name, class: column.className?.(fn) }, column.cell(fn)));
  const use = button("invoke", () => {
    byId<HTMLInputElement>("invoke-id").value = fn.id;
    byId<HTMLTextAreaElement>("invoke-payload").focus();
  });
  const del = button("delete", async () => {
    if (!confirm(`Delete ${fn.id}?`)) return;
    try {
      await app.client.delete({ id: fn.id });
    } catch (e) {
      showError(error, e, { functionId: fn.id });
    }
    void app.refresh();
  });
  tr.append(h("td", { class: "actions" }, use, " ", del));
  return tr;
}
