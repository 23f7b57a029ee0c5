/**
 * Small inline SVG charts, drawn from plain numbers: a bar chart (one bar per point, coloured by a class) and a
 * line chart. No library; each returns an <svg> element to put in the page.
 */
const NS = "http://www.w3.org/2000/svg";
const W = 360;
const H = 120;
const PAD = { left: 40, right: 6, top: 8, bottom: 16 };

function node(tag, attrs, text) {
  const n = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
  if (text !== undefined) n.textContent = text;
  return n;
}

function frame(max, format, points) {
  const svg = node("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
  const y0 = H - PAD.bottom;
  svg.append(node("line", { x1: PAD.left, y1: y0, x2: W - PAD.right, y2: y0, stroke: "#e4e7ec" }));
  svg.append(node("line", { x1: PAD.left, y1: PAD.top, x2: W - PAD.right, y2: PAD.top, stroke: "#f0f2f5" }));
  svg.append(node("text", { x: PAD.left - 4, y: PAD.top + 4, "text-anchor": "end" }, format(max)));
  svg.append(node("text", { x: PAD.left - 4, y: y0, "text-anchor": "end" }, format(0)));
  if (points.length > 0) {
    svg.append(node("text", { x: PAD.left, y: H - 3 }, points[0].label));
    if (points.length > 1) {
      svg.append(node("text", { x: W - PAD.right, y: H - 3, "text-anchor": "end" }, points.at(-1).label));
    }
  } else {
    svg.append(node("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "no data yet"));
  }
  return svg;
}

/**
 * Bars, oldest left. points: [{value, label, title, color}]; format(n) labels the axis.
 * @returns {SVGSVGElement}
 */
export function barChart(points, format) {
  const max = Math.max(...points.map((p) => p.value), 0) || 1;
  const svg = frame(max, format, points);
  const slot = (W - PAD.left - PAD.right) / Math.max(points.length, 1);
  const plot = H - PAD.top - PAD.bottom;
  points.forEach((p, i) => {
    const h = Math.max((p.value / max) * plot, p.value > 0 ? 1 : 0);
    const bar = node("rect", {
      x: PAD.left + i * slot + slot * 0.15,
      y: H - PAD.bottom - h,
      width: Math.max(slot * 0.7, 1),
      height: h,
      fill: p.color ?? "#2b59c3",
    });
    bar.append(node("title", {}, p.title));
    svg.append(bar);
  });
  return svg;
}

/**
 * A line with dots, oldest left. points: [{value, label, title}]; format(n) labels the axis.
 * @returns {SVGSVGElement}
 */
export function lineChart(points, format) {
  const max = Math.max(...points.map((p) => p.value), 0) || 1;
  const svg = frame(max, format, points);
  const step = (W - PAD.left - PAD.right) / Math.max(points.length - 1, 1);
  const plot = H - PAD.top - PAD.bottom;
  const xy = points.map((p, i) => [PAD.left + i * step, H - PAD.bottom - (p.value / max) * plot]);
  if (xy.length > 1) {
    svg.append(node("polyline", { points: xy.map((c) => c.join(",")).join(" "), fill: "none", stroke: "#2b59c3" }));
  }
  xy.forEach(([x, y], i) => {
    const dot = node("circle", { cx: x, cy: y, r: 2.5, fill: "#2b59c3" });
    dot.append(node("title", {}, points[i].title));
    svg.append(dot);
  });
  return svg;
}
