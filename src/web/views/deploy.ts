import type { App } from "../app.ts";
import { parseKeyValues } from "../api.ts";
import { BuildLog } from "../build-log.ts";
import { byId } from "../dom.ts";

const EXAMPLE_HANDLER = `import json

def handle(req):
    numbers = req.get("numbers", []) if isinstance(req, dict) else []
    return {"sum": sum(numbers), "count": len(numbers)}
`;

/**
 * The deploy card: id, handler, requirements, params and env (`KEY=VALUE` lines), with the build
 * log streaming in. A deployed function opens in the detail view.
 */
export function mountDeployCard(app: App, opened: (id: string) => void): void {
  const form = byId<HTMLFormElement>("deploy-form");
  const submit = byId<HTMLButtonElement>("deploy-button");
  const log = new BuildLog("deploy");
  form.after(log.root);
  byId<HTMLTextAreaElement>("deploy-handler").value = EXAMPLE_HANDLER;

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      let request;
      try {
        request = {
          id: byId<HTMLInputElement>("deploy-id").value.trim(),
          handler: byId<HTMLTextAreaElement>("deploy-handler").value,
          requirements: byId<HTMLTextAreaElement>("deploy-requirements").value,
          params: parseKeyValues(byId<HTMLTextAreaElement>("deploy-params").value, "params"),
          env: parseKeyValues(byId<HTMLTextAreaElement>("deploy-env").value, "env"),
        };
      } catch (error) {
        log.fail(error);
        return;
      }
      const fn = await log.run(app.client, request);
      if (fn) {
        byId<HTMLInputElement>("invoke-id").value = fn.id;
        opened(fn.id);
      }
    } finally {
      submit.disabled = false;
      void app.refresh();
    }
  });
}
