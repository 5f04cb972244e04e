/**
 * The page's one route parameter, in the URL's hash so that no server route is needed and a
 * reload keeps the view: `#/functions/ID` opens the detail view of ID; anything else is the list.
 */
export type Route = { view: "list" } | { view: "detail"; id: string };

/** The route the current URL names. */
export function currentRoute(): Route {
  const match = /^#\/functions\/([a-z][-a-z0-9]{0,62})$/.exec(window.location.hash);
  return match ? { view: "detail", id: match[1] } : { view: "list" };
}

/** The link to a function's detail view. */
export function detailHref(id: string): string {
  return `#/functions/${id}`;
}

/** Calls `listener` now and on every change of route. */
export function onRoute(listener: (route: Route) => void): void {
  window.addEventListener("hashchange", () => listener(currentRoute()));
  listener(currentRoute());
}
