import { fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { button, h } from "../dom.ts";
import { showError } from "../errors.ts";
import { registerSection } from "./registry.ts";

/** Chunks the card keeps on screen; older ones are dropped from the top (the count stays exact). */
const MAX_SHOWN = 500;

/**
 * Stream call: InvokeStream over Connect (server-streaming over fetch) with a JSON payload; each
 * chunk is shown as it arrives, then the end (chunks, time, cold start) or the error. "stop"
 * cancels the call (the handler's generator gets GeneratorExit), as does leaving the view.
 */
registerSection({
  name: "stream",
  title: "Stream call",
  order: 35,
  wide: true,
  mount(body, { app, id, signal }) {
    const payload = h("textarea", { id: "stream-payload", rows: "3", spellcheck: "false", "aria-label": "payload (JSON)" }) as HTMLTextAreaElement;
    payload.value = "{}";
    const status = h("span", { id: "stream-status", class: "muted" });
    const chunks = h("pre", { id: "stream-chunks", class: "log", "aria-live": "polite" });
    const error = h("div", { id: "stream-error", class: "error", hidden: true });
    let current: AbortController | undefined;
    const stop = button("stop", () => current?.abort());
    stop.id = "stream-stop";
    stop.hidden = true;
    const start = button("stream", () => void run(), "primary");
    start.id = "stream-start";
    body.append(payload, h("p", { class: "toolbar" }, start, " ", stop, " ", status), chunks, error);
    signal.addEventListener("abort", () => current?.abort(), { once: true });

    const run = async () => {
      showError(error, undefined);
      let value: JsonValue;
      try {
        value = payload.value.trim() === "" ? {} : (JSON.parse(payload.value) as JsonValue);
      } catch (e) {
        showError(error, new Error(`the payload is not valid JSON: ${(e as Error).message}`));
        return;
      }
      current?.abort();
      const controller = new AbortController();
      current = controller;
      chunks.replaceChildren();
      start.disabled = true;
      stop.hidden = false;
      let count = 0;
      status.textContent = "waiting for the first chunk…";
      try {
        for await (const message of app.client.invokeStream({ id, payload: fromJson(ValueSchema, value) }, { signal: controller.signal })) {
          const event = message.event;
          if (event.case === "chunk") {
            count++;
            chunks.append(h("div", { class: "line chunk", text: JSON.stringify(toJson(ValueSchema, event.value)) }));
            while (chunks.childElementCount > MAX_SHOWN) chunks.firstElementChild!.remove();
            chunks.scrollTop = chunks.scrollHeight;
            status.textContent = `${count} chunk${count === 1 ? "" : "s"}…`;
          } else if (event.case === "end") {
            const ms = (event.value.executionTime * 1000).toFixed(1);
            status.textContent = `done: ${event.value.chunks} chunks in ${ms} ms${event.value.coldStart ? " (cold start)" : ""}`;
          }
        }
      } catch (e) {
        if (controller.signal.aborted) status.textContent = `stopped after ${count} chunk${count === 1 ? "" : "s"}`;
        else {
          status.textContent = `failed after ${count} chunk${count === 1 ? "" : "s"}`;
          showError(error, e, { functionId: id });
        }
      } finally {
        if (current === controller) {
          current = undefined;
          start.disabled = false;
          stop.hidden = true;
        }
      }
    };
  },
});
