/**
 * Small line charts drawn as SVG, by hand: no chart library, nothing inline that the page's CSP
 * would refuse (colours come from classes in style.css). A chart is a fixed viewBox scaled to its
 * container's width, so it fits any screen.
 */

const SVG = "http://www.w3.org/2000/svg";
const W = 300;
const H = 80;
const PAD = { left: 4, right: 4, top: 14, bottom: 4 };

/** One line: a value per slot (undefined = no data there: the line breaks), and its CSS class. */
export interface Series {
  name: string;
  className: string;
  values: ReadonlyArray<number | undefined>;
}

export interface ChartOptions {
  /** Accessible name and the chart's caption. */
  title: string;
  /** Formats a value for the labels (the top of the scale and each series' last value). */
  format: (value: number) => string;
  /** What the x axis spans, e.g. "last 5 min". */
  span: string;
}

function el<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

/** A "nice" top for the scale: 1, 2 or 5 times a power of ten, at least `max`. */
export function niceMax(max: number): number {
  if (!(max > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 5, 10]) if (step * power >= max) return step * power;
  return 10 * power;
}

/**
 * A chart of `series` (all the same length, oldest first) with a caption, the top of its scale
 * and each series' latest value. Returns a <figure> holding the <svg>.
 */
export function lineChart(series: readonly Series[], options: ChartOptions): HTMLElement {
  const n = Math.max(2, ...series.map((s) => s.values.length));
  const top = niceMax(Math.max(0, ...series.flatMap((s) => s.values.filter((v): v is number => v !== undefined))));
  const x = (i: number) => PAD.left + (i * (W - PAD.left - PAD.right)) / (n - 1);
  const y = (v: number) => PAD.top + (1 - v / top) * (H - PAD.top - PAD.bottom);

  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": options.title, preserveAspectRatio: "none" });
  for (const frac of [0, 0.5, 1]) svg.append(el("line", { x1: PAD.left, x2: W - PAD.right, y1: y(top * frac), y2: y(top * frac), class: "grid" }));
  for (const s of series) {
    // One path with a move at every gap, so slots without data leave the line open.
    let d = "";
    let dots = "";
    let drawing = false;
    s.values.forEach((v, i) => {
      if (v === undefined) {
        drawing = false;
        return;
      }
      const at = `${x(i).toFixed(1)},${y(v).toFixed(1)}`;
      d += `${drawing ? "L" : "M"}${at}`;
      // A point alone between gaps: a zero-length segment, drawn as a dot by the round line cap.
      if (!drawing && s.values[i + 1] === undefined) dots += `M${at}l0,0`;
      drawing = true;
    });
    if (d) svg.append(el("path", { d, class: `line ${s.className}`, "data-series": s.name }));
    if (dots) svg.append(el("path", { d: dots, class: `line point ${s.className}` }));
  }

  const legend = document.createElement("figcaption");
  const title = document.createElement("span");
  title.className = "chart-title";
  title.textContent = options.title;
  legend.append(title);
  for (const s of series) {
    const last = [...s.values].reverse().find((v) => v !== undefined);
    const item = document.createElement("span");
    item.className = `key ${s.className}`;
    item.dataset.series = s.name;
    item.textContent = `${s.name} ${last === undefined ? "–" : options.format(last)}`;
    legend.append(item);
  }
  const scale = document.createElement("span");
  scale.className = "scale";
  scale.textContent = `max ${options.format(top)} · ${options.span}`;
  legend.append(scale);

  const figure = document.createElement("figure");
  figure.className = "chart-box";
  figure.append(svg, legend);
  return figure;
}
