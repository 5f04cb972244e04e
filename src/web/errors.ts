import { errorFacts, explain, type ErrorFacts } from "../clients/explain.ts";
import { h } from "./dom.ts";

/** What the page knows besides the error: the function, and the build-log lines it already shows. */
export interface ErrorContext {
  functionId?: string;
  /** Lines on screen already (a deploy's streamed log): not repeated. */
  shown?: ReadonlySet<string>;
}

/**
 * Shows an error in `el`, readable first (src/clients/explain.ts, the same explanation as the
 * CLI's): the sentence, a hint, the relevant lines once (error lines highlighted), then code,
 * reason and metadata folded under "details". A plain Error the page made itself (a malformed
 * form field) shows its message alone. `undefined` hides `el`.
 */
export function showError(el: HTMLElement, error: unknown, context: ErrorContext = {}): void {
  if (error === undefined) {
    el.hidden = true;
    el.replaceChildren();
    return;
  }
  el.hidden = false;
  if (error instanceof Error && !("code" in error)) {
    el.replaceChildren(h("div", { class: "headline", text: error.message }));
    return;
  }
  const explained = explain(errorFacts(error), { ...context, surface: "web" });
  el.replaceChildren(
    h("div", { class: "headline", text: explained.summary }),
    explained.hint ? h("div", { class: "hint", text: explained.hint }) : "",
    explained.lines.length > 0 ? h("pre", { class: "lines" }, ...explained.lines.map((l) => h("span", { class: l.highlight ? "hl" : "", text: `${l.text}\n` }))) : "",
    h("details", {}, h("summary", { text: "details" }), h("pre", { class: "facts", text: factsText(explained.details) })),
  );
}

/** Code, reason, domain and metadata, one per line (multi-line metadata as a block). */
function factsText(facts: ErrorFacts): string {
  const out = [`code: ${facts.code}`];
  if (facts.reason) out.push(`reason: ${facts.reason}`);
  if (facts.domain) out.push(`domain: ${facts.domain}`);
  for (const [key, value] of Object.entries(facts.metadata ?? {})) out.push(value.includes("\n") ? `${key}:\n${value}` : `${key}: ${value}`);
  return out.join("\n");
}
