import type { FunctionSource, GetResponse } from "../../../gen/faas/v1/agent_pb.ts";
import { parseKeyValues } from "../api.ts";
import { BuildLog } from "../build-log.ts";
import { button, h } from "../dom.ts";
import { registerSection } from "./registry.ts";

/** KEY=VALUE lines of a map, sorted by key. */
function keyValues(map: Record<string, string>): string {
  return Object.keys(map)
    .sort()
    .map((k) => `${k}=${map[k]}`)
    .join("\n");
}

registerSection({
  name: "source",
  title: "Source",
  order: 40,
  wide: true,
  mount(body, { app, id }) {
    const view = h("div", { id: "source-view" });
    const editButton = button("edit and redeploy", () => openEditor(), "small");
    editButton.id = "source-edit";
    const editor = h("div", { id: "source-editor", hidden: true });
    body.append(view, editor);
    let shown: FunctionSource | undefined;
    let revision = "";

    const render = (detail: GetResponse) => {
      const source = detail.source;
      if (!source) {
        view.replaceChildren(h("p", { class: "muted", text: "This agent has no record of the function's source (deployed by another agent, or before the agent kept them)." }));
        return;
      }
      const params = keyValues(source.params);
      view.replaceChildren(
        h("h4", { text: "environment variables (names only)" }),
        source.envNames.length > 0 ? h("ul", { class: "chips", id: "source-env" }, ...source.envNames.map((n) => h("li", { text: n }))) : h("p", { class: "muted", id: "source-env", text: "none" }),
        params ? h("h4", { text: "params" }) : "",
        params ? h("pre", { class: "code", id: "source-params", text: params }) : "",
        source.requirements.trim() ? h("h4", { text: "requirements.txt" }) : "",
        source.requirements.trim() ? h("pre", { class: "code", id: "source-requirements", text: source.requirements }) : "",
        h("h4", { text: "handler.py" }),
        h("pre", { class: "code", id: "source-handler", text: source.handler }),
        h("p", {}, editButton),
      );
    };

    const openEditor = () => {
      if (!shown) return;
      const source = shown;
      const handler = h("textarea", { id: "edit-handler", rows: Math.min(24, source.handler.split("\n").length + 2), spellcheck: "false" });
      handler.value = source.handler;
      const requirements = h("textarea", { id: "edit-requirements", rows: 2, spellcheck: "false" });
      requirements.value = source.requirements;
      const params = h("textarea", { id: "edit-params", rows: 2, spellcheck: "false" });
      params.value = keyValues(source.params);
      // Each current variable: kept as it is (its value never comes to the page), replaced, or removed.
      const rows = source.envNames.map((name) => {
        const value = h("input", { type: "password", autocomplete: "off", placeholder: "unchanged", "aria-label": `new value of ${name}` });
        const remove = h("input", { type: "checkbox", "aria-label": `remove ${name}` });
        return { name, value, remove, el: h("li", { "data-env": name }, h("span", { class: "mono", text: name }), value, h("label", { class: "inline" }, remove, " remove")) };
      });
      const added = h("textarea", { id: "edit-env", rows: 2, spellcheck: "false", placeholder: "new variables: KEY=VALUE per line" });
      const submit = h("button", { type: "submit", id: "edit-deploy", text: "Redeploy" });
      const cancel = button("close", () => close());
      const log = new BuildLog("redeploy");
      const form = h(
        "form",
        { id: "edit-form" },
        h("label", {}, "handler.py", handler),
        h("label", {}, "requirements.txt", requirements),
        h("label", {}, "params", params),
        rows.length > 0 ? h("div", { class: "env-edit" }, h("span", { class: "label", text: "environment variables" }), h("ul", { class: "env-rows" }, ...rows.map((r) => r.el))) : "",
        h("label", {}, "add env", added),
        h("p", {}, submit, " ", cancel),
      );
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        submit.disabled = true;
        try {
          const env = parseKeyValues(added.value, "env");
          const keepEnv: string[] = [];
          for (const row of rows) {
            if (row.remove.checked) continue;
            if (row.value.value) env[row.name] = row.value.value;
            else if (!Object.hasOwn(env, row.name)) keepEnv.push(row.name);
          }
          const request = { id, handler: handler.value, requirements: requirements.value, params: parseKeyValues(params.value, "params"), env, keepEnv };
          if (await log.run(app.client, request)) void app.refresh();
        } catch (error) {
          log.fail(error);
        } finally {
          submit.disabled = false;
        }
      });
      editor.replaceChildren(h("h4", { text: "edit and redeploy" }), form, log.root);
      editor.hidden = false;
      view.hidden = true;
      handler.focus();
    };

    const close = () => {
      editor.hidden = true;
      editor.replaceChildren();
      view.hidden = false;
    };

    return (detail) => {
      // Re-render only when the deploy changed, so reading (or the open editor) is not disturbed.
      const rev = `${detail.function?.revision}:${detail.source ? "1" : "0"}`;
      if (rev === revision) return;
      revision = rev;
      shown = detail.source;
      render(detail);
    };
  },
});
