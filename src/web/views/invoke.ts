import { fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import type { App } from "../app.ts";
import { byId, show } from "../dom.ts";
import { showError } from "../errors.ts";

/** The invoke card: a function id and a JSON payload; shows the result, time and cold start. */
export function mountInvokeCard(app: App): void {
  const submit = byId<HTMLButtonElement>("invoke-button");
  const result = byId("invoke-result");
  const meta = byId("invoke-meta");
  const error = byId("invoke-error");
  byId<HTMLFormElement>("invoke-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(error, undefined);
    show(result, undefined);
    meta.hidden = true;
    let payload: JsonValue;
    try {
      payload = JSON.parse(byId<HTMLTextAreaElement>("invoke-payload").value || "{}") as JsonValue;
    } catch (e) {
      showError(error, new Error(`the payload is not valid JSON: ${(e as Error).message}`));
      return;
    }
    submit.disabled = true;
    try {
      const res = await app.client.invoke({ id: byId<HTMLInputElement>("invoke-id").value.trim(), payload: fromJson(ValueSchema, payload) });
      show(result, JSON.stringify(res.result ? toJson(ValueSchema, res.result) : null, null, 2));
      byId("invoke-time").textContent = `${(res.executionTime * 1000).toFixed(1)} ms`;
      byId("invoke-cold").textContent = res.coldStart ? "yes" : "no";
      byId("invoke-platform").textContent = res.platform;
      meta.hidden = false;
    } catch (e) {
      showError(error, e, { functionId: byId<HTMLInputElement>("invoke-id").value.trim() || undefined });
    } finally {
      submit.disabled = false;
    }
  });
}
