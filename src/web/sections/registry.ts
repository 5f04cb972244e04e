import type { GetResponse } from "../../../gen/faas/v1/agent_pb.ts";
import type { App } from "../app.ts";

/** What a detail-view section gets when the view opens a function. */
export interface SectionContext {
  app: App;
  /** The function's id. */
  id: string;
  /** Aborted when the view closes or switches to another function: end streams and timers on it. */
  signal: AbortSignal;
}

/**
 * One section of the function detail view, in its own file under src/web/sections/, registered
 * with registerSection() and imported once in sections/index.ts. The view gives it a card
 * (`<section id="section-NAME">` with the title as heading) and calls `mount` with the card's body
 * each time it opens a function; the function returned by `mount`, if any, is called with every
 * Get answer (right after mount, then on each refresh, every 2 s).
 */
export interface DetailSection {
  /** A stable name: lowercase letters and '-'. */
  name: string;
  /** The card's heading. */
  title: string;
  /** Position in the view, lower first (overview 10, stats 20, logs 30, source 40). */
  order: number;
  /** Spans the whole width of the view. */
  wide?: boolean;
  mount(body: HTMLElement, ctx: SectionContext): ((detail: GetResponse) => void) | void;
}

const registered: DetailSection[] = [];

/** Adds a section to the detail view; a second section with the same name is a mistake. */
export function registerSection(section: DetailSection): void {
  if (registered.some((s) => s.name === section.name)) throw new Error(`detail section ${section.name} is registered twice`);
  registered.push(section);
  registered.sort((a, b) => a.order - b.order);
}

/** The registered sections, in order. */
export function detailSections(): readonly DetailSection[] {
  return registered;
}
