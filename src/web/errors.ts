import { describeError } from "./api.ts";
import { h } from "./dom.ts";

/**
 * Shows an error in `el` (a <pre>): what the agent said, readable first. Replaces the element's
 * content and un-hides it; `undefined` hides it.
 */
export function showError(el: HTMLElement, error: unknown): void {
  if (error === undefined) {
    el.hidden = true;
    el.replaceChildren();
    return;
  }
  const text = error instanceof Error && !("code" in error) ? error.message : describeError(error);
  const [headline, ...rest] = text.split("\n");
  el.replaceChildren(h("strong", { class: "headline", text: headline }), ...(rest.length > 0 ? ["\n" + rest.join("\n")] : []));
  el.hidden = false;
}
