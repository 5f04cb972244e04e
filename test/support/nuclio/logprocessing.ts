/**
 * How Nuclio turns a failed function's pod log into the deploy's error message, imitated for the
 * stand-in. Follows nuclio/nuclio 1.14.1 (commit f7573701a7cd7f093fe37481bd8e61d6979a3d14):
 * pkg/platform/abstract/platform.go:1117-1160 (GetProcessorLogsAndBriefError, called from
 * pkg/platform/kube/client/deployer.go:208-268 on a readiness failure), pkg/logprocessing/
 * logprocessing.go:35-75 (PrettifyFunctionLogLine), :77-106 (CreateFunctionLogLine), :198-231
 * (shouldAddToBriefErrorsMessage), :245-265 (createKeyValuePairs) and pkg/common/helper.go:319-331
 * (FixEscapeChars).
 */

/**
 * common.FixEscapeChars (helper.go:319-331): the two-character sequences \n, \t, \\ and \" become
 * the character they stand for, everywhere in the text. Go ranges over the map in random order;
 * this applies the entries in the order they are written there, and no text the tests use has
 * overlapping sequences, so the order cannot change a result.
 */
export function fixEscapeChars(text: string): string {
  return text.replaceAll("\\n", "\n").replaceAll("\\t", "\t").replaceAll("\\\\", "\\").replaceAll('\\"', '"');
}

const IGNORED = ["Unexpected termination of child process", "Failed to read from event connection", "Failed to read control message"];
const DEFAULT_FIELDS = new Set(["time", "level", "message", "name", "more", "datetime", "with"]);

/**
 * The pod log `lines` as Nuclio reports them: the formatted log (for the deploy log's error entry)
 * and the brief error message that becomes `status.message`, both through FixEscapeChars.
 */
export function processorLogsAndBriefError(lines: readonly string[]): { formatted: string; brief: string } {
  let formatted = "";
  const brief: string[] = [];
  let stopRaw = false;
  for (const raw of lines) {
    const parsed = prettify(raw);
    if (!parsed) {
      // platform.go:1125-1143: an unstructured line is kept as it is, until a panic or call stack
      formatted += `${raw}\n`;
      if (raw.startsWith("panic: Wrapper") || raw.startsWith("Call stack:")) stopRaw = true;
      if (!stopRaw) brief.push(raw);
      continue;
    }
    if (parsed.brief !== "") brief.push(parsed.brief);
    formatted += `${parsed.line}\n`;
  }
  // platform.go:1154 aggregates consecutive duplicates
  const aggregated = brief.filter((line, i) => i === 0 || line !== brief[i - 1]);
  return { formatted: fixEscapeChars(formatted), brief: fixEscapeChars(aggregated.join("\n")) };
}

/** logprocessing.go:35-75; undefined where Nuclio's parse fails (the line is then raw). */
function prettify(raw: string): { line: string; brief: string } | undefined {
  let text = raw.startsWith("l") ? raw.slice(1) : raw; // logprocessing.go:233-243
  text = text.replace(/,$/, "");
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof record !== "object" || record === null || Array.isArray(record)) return undefined;
  // SDK lines carry "datetime" in place of "time" (logprocessing.go:89-96)
  const time = typeof record.datetime === "string" ? record.datetime : record.time;
  if (time === undefined || typeof record.level !== "string" || typeof record.message !== "string") return undefined;
  const withFields = record.with && typeof record.with === "object" ? (record.with as Record<string, unknown>) : undefined;
  if (withFields && Object.values(withFields).some((v) => typeof v !== "string")) return undefined; // With is map[string]string
  const level = record.level.toUpperCase()[0] ?? "D";
  let worker = (withFields?.worker_id as string | undefined) ?? "";
  if (worker === "" && typeof record.name === "string" && /^processor\..*\.w[0-9]+\..*/.test(record.name)) worker = record.name.split(".")[2]!.slice(1);
  const args: string[] = [];
  if (withFields) args.push(keyValuePairs(withFields as Record<string, string>));
  else if (typeof record.more === "string" && record.more !== "") args.push(record.more);
  const extra: Record<string, string> = {};
  for (const [k, v] of Object.entries(record)) if (!DEFAULT_FIELDS.has(k) && typeof v === "string") extra[k] = v;
  if (Object.keys(extra).length) args.push(keyValuePairs(extra));
  const messageAndArgs = args.length ? `${record.message} [${args.join(" || ")}]` : record.message;
  const clock = typeof time === "number" ? new Date(time).toISOString().slice(11, 23) : String(time).slice(11, 23);
  const ignored = IGNORED.some((s) => (record.message as string).includes(s));
  const toBrief = !ignored && (worker === "" || worker === "0") && level !== "D" && level !== "I";
  return { line: `[${clock}] (${level}) ${messageAndArgs}`, brief: toBrief ? messageAndArgs : "" };
}

/** logprocessing.go:245-265 (Go's order is random; this keeps insertion order). */
function keyValuePairs(m: Record<string, string>): string {
  return Object.entries(m)
    .map(([k, v]) => `${k}="${v}"`)
    .join(" || ");
}
