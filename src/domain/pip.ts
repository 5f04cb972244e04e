// What a failed pip install said, in one sentence: for the agent's error message (local
// virtualenvs, image builds) and for its clients' explanations (src/clients/explain.ts). Pure
// logic on pip's output lines: no Node-only imports, so the browser bundle can import it too.

/** pip's lines that say what went wrong (`ERROR: …`, "No matching distribution"), each once, in order. */
export function pipErrorLines(lines: readonly string[]): string[] {
  return [...new Set(lines.filter((l) => /^\s*ERROR:|No matching distribution|Could not find a version|error:/.test(l)))];
}

/**
 * One sentence for a failed install from pip's output lines ("pip could not install
 * requests==2.31.0: no matching distribution"), or undefined when they say nothing recognisable.
 * An index that could not be reached comes first: pip then also reports no matching distribution,
 * which would point at the wrong cause.
 */
export function pipSentence(lines: readonly string[]): string | undefined {
  const find = (pattern: RegExp) => {
    for (const line of lines) {
      const m = pattern.exec(line);
      if (m) return m;
    }
    return undefined;
  };
  let m: RegExpExecArray | undefined;
  const wanted = find(/No matching distribution found for (\S+)/) ?? find(/Could not find a version that satisfies the requirement (\S+)/);
  if (find(/Failed to establish a new connection|Could not fetch URL|Max retries exceeded|Name or service not known|Temporary failure in name resolution/)) {
    return `pip could not reach the package index${wanted ? ` to install ${wanted[1]}` : ""}`;
  }
  if ((m = wanted)) {
    return `pip could not install ${m[1]}: no matching distribution`;
  }
  if ((m = find(/Invalid requirement: '([^']*)'(?: \(from line (\d+))?/))) {
    return `pip could not read the requirement ${JSON.stringify(m[1])}${m[2] ? ` (line ${m[2]})` : ""}: invalid requirement`;
  }
  if (find(/conflicting dependencies|ResolutionImpossible/)) return "pip could not install the requirements: their versions conflict";
  const error = pipErrorLines(lines)[0]?.replace(/^\s*ERROR:\s*/, "");
  return error ? `pip could not install the requirements: ${error}` : undefined;
}
