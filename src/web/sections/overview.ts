import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { relativeTime } from "../../clients/time.ts";
import { h } from "../dom.ts";
import { registerSection } from "./registry.ts";

/** When, as "3m ago" with the exact time as the tooltip. */
function when(ts: Timestamp | undefined): Node {
  if (!ts) return document.createTextNode("");
  const date = timestampDate(ts);
  return h("time", { datetime: date.toISOString(), title: date.toLocaleString(), text: relativeTime(date) });
}

registerSection({
  name: "overview",
  title: "Overview",
  order: 10,
  mount(body) {
    const meta = h("dl", { class: "meta", id: "detail-meta" });
    const revisions = h("div", { id: "detail-revisions" });
    body.append(meta, revisions);
    return ({ function: fn }) => {
      if (!fn) return;
      const rows: Array<[string, Node | string, string?]> = [
        ["state", fn.state, `state-${fn.state}`],
        ["ready", fn.ready ? "yes" : "no"],
        ["platform", fn.platform],
        ["python", fn.pythonVersion],
        ["revision", fn.revision.slice(0, 12), "mono"],
        ["endpoint", fn.endpoint, "mono"],
        ["image", fn.image, "mono"],
        ["created", when(fn.createdAt)],
        ["updated", when(fn.updatedAt)],
        ["not ready", fn.message],
      ];
      meta.replaceChildren(
        ...rows.filter(([, value]) => value !== "").flatMap(([name, value, className]) => [h("dt", { text: name }), h("dd", { class: className, "data-field": name }, value)]),
      );
      if (fn.revisions.length === 0) {
        revisions.replaceChildren(h("p", { class: "muted", text: `revisions: ${fn.revision.slice(0, 12)} only (the ${fn.platform} platform keeps no older revisions)` }));
        return;
      }
      const traffic = new Map(fn.traffic.map((t) => [t.revision, t.percent]));
      revisions.replaceChildren(
        h("h4", { text: "revisions" }),
        h(
          "ul",
          { class: "revisions" },
          ...fn.revisions.map((r) =>
            h("li", { "data-revision": r.name }, h("span", { class: "mono", text: r.name }), ` ${r.ready ? "ready" : "not ready"}`, traffic.has(r.name) ? ` · ${traffic.get(r.name)}% traffic` : "", " · ", when(r.createdAt)),
          ),
        ),
      );
    };
  },
});
