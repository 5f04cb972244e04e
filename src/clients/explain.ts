// Errors people can read, for every client of the agent (the `faas` CLI, the web page). Pure
// logic: no Node-only imports, so the browser bundle can import it as it is.
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.ts";

/** What an error says, as plain data: the agent's code, message and ErrorInfo. */
export interface ErrorFacts {
  /** Connect's code name in snake case (`not_found`, `failed_precondition`). */
  code: string;
  /** The agent's message, without any code prefix. */
  message: string;
  /** ErrorInfo reason (`DEPENDENCY_INSTALL_FAILED`), when the agent sent one. */
  reason?: string;
  /** ErrorInfo domain (`radical-faas`). */
  domain?: string;
  /** ErrorInfo metadata (`traceback`, `output`, `exception_type`, ...). */
  metadata?: Record<string, string>;
}

/** Where the explanation is shown: hints name the CLI's flags or the page's fields. */
export type Surface = "cli" | "web";

/** What the caller knows besides the error. */
export interface ExplainContext {
  /** The function the failed call was about. */
  functionId?: string;
  /** The agent's URL, for "cannot reach the agent at …". */
  agentUrl?: string;
  /**
   * Lines the user has already seen, e.g. the build log a deploy streamed (the line text without
   * its `source: ` prefix). Relevant lines among them are not repeated, and metadata that only
   * repeats them is left out of `details`.
   */
  shown?: ReadonlySet<string>;
  /** Default "cli". */
  surface?: Surface;
}

/** One relevant line; `highlight` marks the line that says what went wrong (pip's ERROR lines, a traceback's last line). */
export interface ExplainedLine {
  text: string;
  highlight: boolean;
}

/** An error explained: a sentence first, then the relevant lines once, then the details. */
export interface Explanation {
  /** One sentence saying what failed: "function hello raised ZeroDivisionError: division by zero". */
  summary: string;
  /** The lines that show why (a traceback, pip's errors), those in `context.shown` left out. */
  lines: ExplainedLine[];
  /** What to do about it, when there is something obvious ("set --token or FAAS_TOKEN"). */
  hint?: string;
  /** Code, reason, domain and metadata (metadata already shown as `lines` or in `shown` left out). */
  details: ErrorFacts;
}

/** The facts of any error a client meets: a ConnectError with its ErrorInfo, a failed fetch, anything else. */
export function errorFacts(error: unknown): ErrorFacts {
  const connect = ConnectError.from(error);
  const facts: ErrorFacts = { code: codeName(connect.code), message: stripCodePrefix(connect.rawMessage) };
  const [info] = connect.findDetails(ErrorInfoSchema);
  if (info) {
    facts.reason = info.reason;
    facts.domain = info.domain;
    if (Object.keys(info.metadata).length > 0) facts.metadata = { ...info.metadata };
  }
  return facts;
}

/** Connect's code name in snake case, as on the wire: `not_found`, `invalid_argument`. */
export function codeName(code: Code): string {
  return (Code[code] ?? "unknown").replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
}

/** Explains an error: see Explanation. */
export function explain(facts: ErrorFacts, context: ExplainContext = {}): Explanation {
  const shown = context.shown ?? new Set<string>();
  const metadata = { ...facts.metadata };
  const fn = context.functionId ? `function ${context.functionId}` : "the function";
  const message = stripCodePrefix(facts.message);
  const [first = "", ...rest] = message.split("\n");
  let summary = first;
  let lines: ExplainedLine[] = rest.filter((l) => l.trim() !== "").map((text) => ({ text, highlight: false }));
  let hint: string | undefined;
  const fromTraceback = (traceback: string | undefined) => {
    if (!traceback) return;
    lines = tracebackLines(traceback);
    delete metadata.traceback;
  };

  switch (facts.reason ?? (facts.code === "unauthenticated" ? "UNAUTHENTICATED" : undefined)) {
    case "FUNCTION_ERROR": {
      const type = metadata.exception_type || first.split(":")[0];
      const text = firstLine(metadata.exception_message ?? first.slice(type.length + 2));
      summary = `${fn} raised ${type}${text ? `: ${text}` : ""}`;
      fromTraceback(metadata.traceback || rest.join("\n"));
      break;
    }
    case "HANDLER_INVALID": {
      const type = metadata.exception_type;
      const stated = first.replace(/^handler failed to import:\s*/, "");
      const detail = type && metadata.exception_message ? `${type}: ${firstLine(metadata.exception_message)}` : stated || type || "the import failed";
      summary = `${fn} failed to import: ${detail}`;
      fromTraceback(metadata.traceback || rest.join("\n"));
      break;
    }
    case "DEPENDENCY_INSTALL_FAILED": {
      const pip = explainPip(message, metadata, shown);
      summary = pip.summary;
      lines = pip.lines;
      break;
    }
    case "UNAUTHENTICATED":
      summary = "the agent requires a token and none valid was sent";
      hint = context.surface === "web" ? "enter the agent's token" : "pass --token or set FAAS_TOKEN (the agent's FAAS_AUTH_TOKEN)";
      break;
    default:
      if (unreachable(facts)) {
        summary = `cannot reach the agent${context.agentUrl ? ` at ${context.agentUrl}` : ""}`;
        hint = context.surface === "web" ? "is the agent running?" : "is the agent running? set --agent or FAAS_AGENT_URL";
        lines = [];
      }
  }

  lines = lines.filter((l) => !shown.has(l.text));
  // Multi-line metadata the user has seen (as lines above or in the streamed log) is not repeated.
  const seen = new Set([...shown, ...lines.map((l) => l.text)]);
  for (const [key, value] of Object.entries(metadata)) {
    if (value.includes("\n") && value.split("\n").every((l) => l.trim() === "" || seen.has(l))) delete metadata[key];
  }
  const details: ErrorFacts = { code: facts.code, message: summary };
  if (facts.reason) details.reason = facts.reason;
  if (facts.domain) details.domain = facts.domain;
  if (Object.keys(metadata).length > 0) details.metadata = metadata;
  return { summary, lines, ...(hint ? { hint } : {}), details };
}

/** Whether a build-log line is one that says what went wrong (pip's `ERROR:` lines and the like); clients highlight these. */
export function isErrorLine(line: string): boolean {
  return /^\s*(ERROR|error|FATAL|fatal)\b|^\s*[A-Za-z_.]*(Error|Exception)\b.*:|No matching distribution|Could not find a version/.test(line);
}

/** The sentence and error lines of a failed pip install, from its output (metadata or message) and the streamed log. */
function explainPip(message: string, metadata: Record<string, string>, shown: ReadonlySet<string>): { summary: string; lines: ExplainedLine[] } {
  const output = metadata.output ?? metadata.docker_error ?? message;
  // The streamed build log last: on image platforms pip's lines are only there.
  const all = [...output.split("\n"), ...message.split("\n").slice(1), ...shown];
  const errors = [...new Set(all.filter((l) => /^\s*ERROR:|No matching distribution|Could not find a version|error:/.test(l)))];
  const lines = errors.map((text) => ({ text, highlight: true }));
  const find = (pattern: RegExp) => {
    for (const line of all) {
      const m = pattern.exec(line);
      if (m) return m;
    }
    return undefined;
  };
  let m: RegExpExecArray | undefined;
  if (/did not finish within/.test(message)) return { summary: firstLine(message), lines };
  if ((m = find(/No matching distribution found for (\S+)/) ?? find(/Could not find a version that satisfies the requirement (\S+)/))) {
    return { summary: `pip could not install ${m[1]}: no matching distribution`, lines };
  }
  if ((m = find(/Invalid requirement: '([^']*)'(?: \(from line (\d+))?/))) {
    return { summary: `pip could not read the requirement ${JSON.stringify(m[1])}${m[2] ? ` (line ${m[2]})` : ""}: invalid requirement`, lines };
  }
  if (find(/conflicting dependencies|ResolutionImpossible/)) return { summary: "pip could not install the requirements: their versions conflict", lines };
  if (find(/Failed to establish a new connection|Could not fetch URL|Max retries exceeded|Name or service not known|Temporary failure in name resolution/)) {
    return { summary: "pip could not reach the package index", lines };
  }
  const error = errors[0]?.replace(/^\s*ERROR:\s*/, "");
  if (error) return { summary: `pip could not install the requirements: ${error}`, lines };
  return { summary: firstLine(message) || "pip could not install the requirements", lines };
}

/** A traceback's lines, its last (the exception) highlighted. */
function tracebackLines(traceback: string): ExplainedLine[] {
  const lines = traceback.replace(/\n+$/, "").split("\n");
  const last = lines.length - 1;
  return lines.map((text, i) => ({ text, highlight: i === last }));
}

/** Whether the error is the client failing to reach the agent at all (not an error the agent sent). */
function unreachable(facts: ErrorFacts): boolean {
  if (facts.reason) return false;
  if (facts.code !== "unavailable" && facts.code !== "unknown" && facts.code !== "internal") return false;
  return /ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|fetch failed|Failed to fetch|NetworkError|Load failed|socket hang up|other side closed/i.test(facts.message);
}

/** A message without a leading gRPC code name (`[unknown] …`, `failed_precondition: …`). */
function stripCodePrefix(message: string): string {
  return message.replace(/^\[[a-z_]+\]\s*/, "").replace(/^(canceled|unknown|invalid_argument|deadline_exceeded|not_found|already_exists|permission_denied|resource_exhausted|failed_precondition|aborted|out_of_range|unimplemented|internal|unavailable|data_loss|unauthenticated):\s+/, "");
}

function firstLine(text: string): string {
  return text.split("\n")[0].trim();
}
