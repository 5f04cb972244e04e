/** Small DOM helpers for the page: no framework, nothing that needs inline scripts or styles (CSP). */

type Child = Node | string | number | false | null | undefined;
type Props = Record<string, string | number | boolean | EventListener | undefined>;

/**
 * Creates an element: `props` keys starting with `on` add listeners, `class` and `text` set the
 * class name and text, `data-*` and the rest become attributes (`true` as an empty attribute,
 * `false`/`undefined` skipped). Children are appended in order; strings become text nodes.
 */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === false) continue;
    if (typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = String(value);
    else if (key === "text") el.textContent = String(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

/** Appends children, skipping `false`, `null` and `undefined`. */
export function append(el: Element, children: Child[]): void {
  for (const child of children) {
    if (child === false || child === null || child === undefined) continue;
    el.append(typeof child === "number" ? String(child) : child);
  }
}

/** The element with this id; throws when the page has none (a mistake in index.html). */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el as T;
}

/** Shows `el` with `text`, or hides it when `text` is empty or undefined. */
export function show(el: HTMLElement, text: string | undefined): void {
  el.hidden = !text;
  el.textContent = text ?? "";
}

/** A small secondary button. */
export function button(label: string, onClick: () => void, className = "small"): HTMLButtonElement {
  return h("button", { type: "button", class: className, text: label, onclick: () => onClick() });
}
