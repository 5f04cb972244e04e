// Times as people read them, for every client (the CLI's `list`, the web page). No Node-only imports.

/**
 * How long ago `then` was, relative to `now`: "just now" under 5 s, then "12s ago", "3m ago",
 * "5h ago", "2d ago"; a time in the future (a clock skew) reads "just now". Undefined `then`: "-".
 */
export function relativeTime(then: Date | undefined, now: Date = new Date()): string {
  if (!then) return "-";
  const seconds = Math.floor((now.getTime() - then.getTime()) / 1000);
  if (seconds < 5) return "just now";
  if (seconds < 60) return `${seconds}s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h ago`;
  return `${Math.floor(hours / 24)}d ago`;
}
