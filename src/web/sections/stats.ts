import { lineChart } from "../charts.ts";
import { relativeTime } from "../../clients/time.ts";
import { h } from "../dom.ts";
import { formatRate, formatSeconds, History, readStats, type Interval, type Stats } from "../stats.ts";
import { registerSection } from "./registry.ts";

/** The figures shown above the charts. */
function figures(stats: Stats): Array<[string, string]> {
  return [
    ["calls (5 min)", String(stats.windowCalls)],
    ["errors (5 min)", String(stats.windowErrors)],
    ["p50 (5 min)", stats.p50 === undefined ? "–" : formatSeconds(stats.p50)],
    ["p99 (5 min)", stats.p99 === undefined ? "–" : formatSeconds(stats.p99)],
    ["calls in all", String(stats.invocations)],
    ["cold starts", String(stats.coldStarts)],
    ["in flight", String(stats.inflight ?? 0)],
    ["last call", stats.lastInvoked ? relativeTime(stats.lastInvoked) : "never"],
  ];
}

/** The charts: calls and errors per second, and p50/p99 latency, per interval. */
function charts(intervals: Interval[], span: string): HTMLElement[] {
  const rate = (n: number, i: Interval) => (i.seconds > 0 ? n / i.seconds : 0);
  return [
    lineChart(
      [
        { name: "calls", className: "calls", values: intervals.map((i) => rate(i.calls, i)) },
        { name: "errors", className: "errors", values: intervals.map((i) => rate(i.errors, i)) },
      ],
      { title: "rate", format: formatRate, span },
    ),
    lineChart(
      [
        { name: "p50", className: "p50", values: intervals.map((i) => i.p50) },
        { name: "p99", className: "p99", values: intervals.map((i) => i.p99) },
      ],
      { title: "latency", format: formatSeconds, span },
    ),
  ];
}

registerSection({
  name: "stats",
  title: "Stats",
  order: 20,
  mount(body) {
    const history = new History();
    return ({ function: fn }) => {
      const stats = fn && readStats(fn);
      if (!stats) {
        body.replaceChildren(h("p", { class: "muted", id: "stats-none", text: "This agent reports no stats for its functions." }));
        return;
      }
      history.add(stats);
      const fromAgent = stats.intervals && stats.intervals.length > 0;
      const intervals = fromAgent ? stats.intervals! : history.intervals();
      const span = fromAgent ? `last ${Math.round((intervals.length * intervals[0].seconds) / 60)} min` : "since this view opened";
      body.replaceChildren(
        h("dl", { class: "figures", id: "stats-figures" }, ...figures(stats).map(([name, value]) => h("div", { "data-figure": name }, h("dt", { text: name }), h("dd", { text: value })))),
        h("div", { class: "charts", id: "stats-charts" }, ...charts(intervals, span)),
      );
    };
  },
});
