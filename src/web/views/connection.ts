import type { App, ConnectionState } from "../app.ts";
import { REFRESH_MS } from "../app.ts";
import { byId, h } from "../dom.ts";

/**
 * The health badge in the header and the connection panel: "token required" (Health answers but
 * List is refused) and "agent unreachable" (Health gets no answer). While either shows, the list
 * and the detail view are hidden (body[data-connection]), so nothing stale looks current.
 */
export function mountConnection(app: App, tokenInput: HTMLInputElement): void {
  const badge = byId("health");
  const panel = byId("connection");
  app.onRefresh((state) => {
    document.body.dataset.connection = state.kind;
    renderBadge(badge, state);
    renderPanel(panel, state, tokenInput);
  });
}

function renderBadge(badge: HTMLElement, state: ConnectionState): void {
  if (state.kind === "unreachable") {
    badge.textContent = "agent unreachable";
    badge.className = "badge bad";
  } else if (state.kind !== "connecting") {
    const { status, platform, version } = state.health;
    badge.textContent = `${status} · ${platform} · v${version}`;
    badge.className = `badge ${status === "healthy" ? "ok" : "bad"}`;
  }
}

function renderPanel(panel: HTMLElement, state: ConnectionState, tokenInput: HTMLInputElement): void {
  panel.dataset.state = state.kind;
  switch (state.kind) {
    case "token-required":
      panel.replaceChildren(
        h("h2", { text: state.tokenEntered ? "Token refused" : "Token required" }),
        h("p", {
          text: state.tokenEntered
            ? "The agent refused the token entered above. Check it (FAAS_AUTH_TOKEN on the agent) and enter it again."
            : "This agent answers only with a bearer token. Enter it in the token field at the top of the page (it stays in this browser's local storage).",
        }),
        h("p", { class: "muted", text: `agent: ${state.message}` }),
      );
      panel.hidden = false;
      if (!state.tokenEntered && document.activeElement === document.body) tokenInput.focus();
      break;
    case "unreachable":
      panel.replaceChildren(
        h("h2", { text: "Agent unreachable" }),
        h("p", { text: `No answer from ${window.location.origin} since ${state.since.toLocaleTimeString()} (${state.message}). The functions are hidden until the agent answers again, so nothing stale looks current; the page retries every ${REFRESH_MS / 1000} s.` }),
      );
      panel.hidden = false;
      break;
    default:
      panel.hidden = true;
      panel.replaceChildren();
  }
}
