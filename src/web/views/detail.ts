import { Code, ConnectError } from "@connectrpc/connect";
import type { GetResponse } from "../../../gen/faas/v1/agent_pb.ts";
import type { App } from "../app.ts";
import { byId, h } from "../dom.ts";
import { showError } from "../errors.ts";
import type { Route } from "../router.ts";
import { detailSections } from "../sections/registry.ts";

/**
 * The function detail view (`#/functions/ID`): one card per registered section, fed with the
 * function's Get answer on open and on every refresh. Opening another function or going back to
 * the list aborts the sections' signal (their streams end). While the connection panel shows, the
 * view is hidden.
 */
export function mountDetail(app: App): (route: Route) => void {
  const view = byId("detail");
  const list = byId("functions-card");
  type Open = { id: string; controller: AbortController; grid: HTMLElement; updates: Array<(detail: GetResponse) => void> };
  let open: Open | undefined;

  const load = async () => {
    const current = open;
    if (!current || app.state.kind !== "ok") return;
    try {
      const detail = await app.client.get({ id: current.id }, { signal: current.controller.signal });
      if (open !== current) return;
      showError(byId("detail-error"), undefined);
      current.grid.hidden = false;
      for (const update of current.updates) update(detail);
    } catch (error) {
      if (open !== current || current.controller.signal.aborted) return;
      const gone = ConnectError.from(error).code === Code.NotFound;
      // A function that is gone shows nothing of what it was.
      if (gone) current.grid.hidden = true;
      showError(byId("detail-error"), gone ? new Error(`function ${current.id} is not deployed (deleted?)`) : error, { functionId: current.id });
    }
  };
  app.onRefresh(() => void load());

  return (route) => {
    open?.controller.abort();
    open = undefined;
    list.hidden = route.view !== "list";
    view.hidden = route.view !== "detail";
    if (route.view !== "detail") {
      view.replaceChildren();
      return;
    }
    const controller = new AbortController();
    const grid = h("div", { class: "sections" });
    const current: Open = { id: route.id, controller, grid, updates: [] };
    open = current;
    view.replaceChildren(
      h("h2", {}, h("a", { href: "#/", class: "back", text: "← functions" }), " ", h("span", { class: "mono", id: "detail-id", text: route.id })),
      h("div", { id: "detail-error", class: "error", hidden: true }),
      grid,
    );
    for (const section of detailSections()) {
      const body = h("div", { class: "section-body" });
      grid.append(h("section", { id: `section-${section.name}`, class: section.wide ? "section wide" : "section" }, h("h3", { text: section.title }), body));
      const update = section.mount(body, { app, id: route.id, signal: controller.signal });
      if (update) current.updates.push(update);
    }
    void load();
  };
}
