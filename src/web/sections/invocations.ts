import { toJson } from "@bufbuild/protobuf";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { InvocationSchema, type Invocation } from "../../../gen/faas/v1/agent_pb.ts";
import { explain } from "../../clients/explain.ts";
import { relativeTime } from "../../clients/time.ts";
import { REFRESH_MS } from "../app.ts";
import { h } from "../dom.ts";
import { showError } from "../errors.ts";
import { registerSection } from "./registry.ts";

/** Invocations the card lists: the newest of the function's (ListInvocations is newest first). */
const SHOWN = 20;
/** Characters of a result shown in its row; the whole result is the cell's tooltip. */
const RESULT_CHARS = 120;

/**
 * Recent async invocations of the function (ListInvocations through the page's Connect client),
 * listed again every REFRESH_MS while the view is open, until the view's signal aborts (which also
 * aborts a listing in flight): id, status, attempts, when it was accepted, and the outcome (the
 * result and time, or the error explained as the CLI explains it, its traceback folded).
 */
registerSection({
  name: "invocations",
  title: "Async invocations",
  order: 37,
  wide: true,
  mount(body, { app, id, signal }) {
    const status = h("span", { id: "invocations-status", class: "muted", text: "loading…" });
    const rows = h("tbody");
    const table = h(
      "table",
      { id: "invocations", hidden: true },
      h("thead", {}, h("tr", {}, ...["id", "status", "attempts", "accepted", "outcome"].map((name) => h("th", { text: name })))),
      rows,
    );
    const error = h("div", { id: "invocations-error", class: "error", hidden: true });
    body.append(h("p", { class: "toolbar" }, status), table, error);

    // One row per invocation, rebuilt only when the invocation changed (an open traceback stays open).
    const shown = new Map<string, { key: string; row: HTMLTableRowElement; time: HTMLTimeElement }>();
    const render = (invocations: Invocation[]) => {
      const now = new Date();
      const next = invocations.map((inv) => {
        const key = `${inv.status}|${inv.attempts}|${inv.finishedAt?.seconds}|${inv.finishedAt?.nanos}|${inv.error?.reason}|${inv.callbackStatus}`;
        let entry = shown.get(inv.invocationId);
        if (!entry || entry.key !== key) entry = { key, ...row(inv, id, now) };
        else entry.time.textContent = relativeTime(timestampDate(inv.createdAt!), now);
        return [inv.invocationId, entry] as const;
      });
      shown.clear();
      for (const [invocationId, entry] of next) shown.set(invocationId, entry);
      rows.replaceChildren(...next.map(([, entry]) => entry.row));
      table.hidden = invocations.length === 0;
      const open = invocations.filter((inv) => inv.status === "queued" || inv.status === "running").length;
      status.textContent =
        invocations.length === 0
          ? "no async invocations of this function yet (POST /async-invoke, InvokeAsync or faas invoke ID --async)"
          : `the ${invocations.length === SHOWN ? `latest ${SHOWN}` : invocations.length} · ${open} queued or running · updated ${now.toLocaleTimeString()}`;
    };

    void (async () => {
      while (!signal.aborted) {
        try {
          const res = await app.client.listInvocations({ functionId: id, pageSize: SHOWN }, { signal });
          showError(error, undefined);
          render(res.invocations);
        } catch (e) {
          if (signal.aborted) return;
          status.textContent = "could not list the invocations";
          showError(error, e, { functionId: id });
        }
        await pause(REFRESH_MS, signal);
      }
    })();
  },
});

/** A table row for one invocation, and its "accepted" time element (updated as time passes). */
function row(inv: Invocation, functionId: string, now: Date): { row: HTMLTableRowElement; time: HTMLTimeElement } {
  const created = timestampDate(inv.createdAt!);
  const time = h("time", { datetime: created.toISOString(), title: created.toLocaleString(), text: relativeTime(created, now) });
  const tr = h(
    "tr",
    { "data-invocation": inv.invocationId, "data-status": inv.status },
    h("td", { class: "mono", "data-label": "id", title: inv.invocationId, text: `${inv.invocationId.slice(0, 16)}…` }),
    h("td", { class: `inv-status inv-${inv.status}`, "data-label": "status", text: inv.status }),
    h("td", { class: "attempts", "data-label": "attempts", text: `${inv.attempts}/${inv.maxAttempts}` }),
    h("td", { "data-label": "accepted" }, time),
    h("td", { class: "outcome", "data-label": "outcome" }, ...outcome(inv, functionId)),
  );
  return { row: tr, time };
}

/** What the invocation came to so far: the result and its time, or its error explained. */
function outcome(inv: Invocation, functionId: string): Node[] {
  if (inv.status === "succeeded") {
    const result = JSON.stringify((toJson(InvocationSchema, inv) as { result?: unknown }).result ?? null);
    const cut = result.length > RESULT_CHARS ? `${result.slice(0, RESULT_CHARS)}…` : result;
    return [h("span", { class: "mono result-value", title: result, text: cut }), h("span", { class: "muted", text: ` · ${ms(inv.executionTime)}${inv.coldStart ? " (cold start)" : ""}` })];
  }
  if (inv.status === "running") return [h("span", { class: "muted", text: `attempt ${inv.attempts} running since ${when(inv.startedAt)}` })];
  if (!inv.error) return [h("span", { class: "muted", text: inv.status === "queued" ? "waiting for its first attempt" : "" })];
  const explained = explain({ code: inv.error.code, message: inv.error.message, reason: inv.error.reason, metadata: { ...inv.error.metadata } }, { functionId, surface: "web" });
  const retry = inv.status === "queued" ? `attempt ${inv.attempts} failed, retrying ${inv.nextAttemptAt ? when(inv.nextAttemptAt, "in") : "soon"}: ` : "";
  // A cancel is what someone asked for, not a failure: not shown in red.
  const className = inv.status === "cancelled" ? "inv-cancel" : "inv-error";
  const out: Node[] = [h("span", { class: className, title: inv.error.message, text: `${retry}${explained.summary}` }), h("span", { class: "muted", text: ` · ${inv.error.reason || inv.error.code}` })];
  if (explained.lines.length > 0) {
    out.push(h("details", {}, h("summary", { text: "traceback" }), h("pre", { class: "lines" }, ...explained.lines.map((l) => h("span", { class: l.highlight ? "hl" : "", text: `${l.text}\n` })))));
  }
  return out;
}

function ms(seconds: number): string {
  return `${(seconds * 1000).toFixed(1)} ms`;
}

/** A time as "3s ago" (or, for one ahead, "in 3s"). */
function when(ts: Timestamp | undefined, ahead?: "in"): string {
  if (!ts) return "-";
  const date = timestampDate(ts);
  if (!ahead) return relativeTime(date);
  const seconds = Math.max(0, Math.ceil((date.getTime() - Date.now()) / 1000));
  return `in ${seconds}s`;
}

/** Resolves after `ms`, or at once when `signal` aborts (its listener removed either way). */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
