// exitwise demo — rendering: the network diagram, exit confidence bars, histogram, the
// accuracy-vs-FLOPs-saved plot, thumbnails. Structure is built once per model; updates only
// touch classes, attributes and text so that they stay far below a frame.

import * as fmt from "./format.js";

const SVG = "http://www.w3.org/2000/svg";

export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c) e.append(c);
  return e;
}

function svg(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.setAttribute("class", v);
    else e.setAttribute(k, typeof v === "number" ? +v.toFixed(2) : v);
  }
  if (text !== undefined) e.textContent = text;
  return e;
}

// ---------------------------------------------------------------------------------------------
// Images

/** A model input (C·H·W values in `range`) as ImageData. */
export function inputToImage(input, info) {
  const [, c, h, w] = info.input.shape;
  const [lo, hi] = info.input.range;
  const img = new ImageData(w, h);
  const k = 255 / (hi - lo || 1);
  for (let i = 0; i < h * w; i++) {
    const r = (input[i] - lo) * k;
    const g = c >= 3 ? (input[h * w + i] - lo) * k : r;
    const b = c >= 3 ? (input[2 * h * w + i] - lo) * k : r;
    img.data[i * 4] = r;
    img.data[i * 4 + 1] = g;
    img.data[i * 4 + 2] = b;
    img.data[i * 4 + 3] = 255;
  }
  return img;
}

export function paint(canvas, image) {
  canvas.width = image.width;
  canvas.height = image.height;
  canvas.getContext("2d").putImageData(image, 0, 0);
}

/** The gallery of test-pack images: buttons with the image and its true label. */
export function renderGallery(root, gallery, info, onPick) {
  root.replaceChildren();
  // Long class names (Fashion-MNIST) get fewer, wider tiles with the name across the bottom.
  root.classList.toggle("long", info.labels.some((l) => l.length > 2));
  const len = gallery.images.length / gallery.count;
  const buttons = [];
  for (let i = 0; i < gallery.count; i++) {
    const label = info.labels[gallery.labels[i]] ?? String(gallery.labels[i]);
    const canvas = el("canvas", { "aria-hidden": "true" });
    paint(canvas, inputToImage(gallery.images.subarray(i * len, (i + 1) * len), info));
    const b = el(
      "button",
      { type: "button", class: "thumb", "data-index": i, title: label, "aria-label": `test image ${i + 1}, true label ${label}`, "aria-pressed": "false" },
      canvas,
      el("span", { class: "thumb-label", text: label }),
    );
    b.addEventListener("click", () => onPick(i));
    buttons.push(b);
    root.append(b);
  }
  return buttons;
}

// ---------------------------------------------------------------------------------------------
// The network, to scale by MACs

export class Diagram {
  constructor(root) {
    this.root = root;
  }

  build(info) {
    const W = 640, pad = 10, trunkY = 14, trunkH = 38;
    const early = info.exits.slice(0, -1);
    const final = info.exits[info.exits.length - 1];
    const segTotal = info.segments.reduce((s, x) => s + x.macs, 0);
    const total = segTotal + final.macs || 1;
    const span = W - 2 * pad;
    const X = (m) => pad + (m / total) * span;
    const s = svg("svg", { viewBox: `0 0 ${W} 150`, class: "net", role: "img" });
    const defs = svg("defs");
    const hatch = svg("pattern", { id: "hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" });
    hatch.append(svg("rect", { width: 6, height: 6, class: "hatch-bg" }), svg("line", { x1: 0, y1: 0, x2: 0, y2: 6, class: "hatch-line" }));
    defs.append(hatch);
    s.append(defs);
    s.append(svg("title", {}, `The network to scale by MACs: ${info.segments.length} segments, ${early.length} early exits`));

    // Input arrow.
    this.segments = [];
    let cum = 0;
    const cumAfter = [];
    info.segments.forEach((seg, i) => {
      const x0 = X(cum), x1 = X(cum + seg.macs);
      const g = svg("g", { class: "seg" });
      g.append(svg("rect", { x: x0, y: trunkY, width: Math.max(x1 - x0 - 2, 2), height: trunkH, rx: 3 }));
      if (x1 - x0 > 44) g.append(svg("text", { x: (x0 + x1) / 2 - 1, y: trunkY + trunkH / 2 + 4, class: "seg-name" }, seg.name));
      g.append(svg("title", {}, `${seg.name}: ${fmt.macs(seg.macs)} MACs`));
      s.append(g);
      this.segments.push(g);
      cum += seg.macs;
      cumAfter.push(cum);
    });

    // Exits: early ones branch off below the trunk; the final classifier ends the trunk.
    this.exits = [];
    const lanes = [];
    info.exits.forEach((ex, i) => {
      const g = svg("g", { class: "exit" });
      const isFinal = i === info.exits.length - 1;
      const bx = X(cumAfter[ex.after]);
      let hx, hy, hw, hh;
      if (isFinal) {
        hx = bx;
        hw = Math.max(X(cumAfter[ex.after] + ex.macs) - bx, 14);
        if (hx + hw > W - 2) hx = W - 2 - hw;
        hy = trunkY;
        hh = trunkH;
      } else {
        hw = Math.max((ex.macs / total) * span, 12);
        hx = Math.min(bx - 1, W - pad - hw);
        let lane = 0;
        while (lanes[lane] !== undefined && hx < lanes[lane] + 3) lane++;
        lanes[lane] = hx + hw + 30;
        hy = 76 + lane * 34;
        hh = 18;
        g.append(svg("path", { d: `M ${bx - 1} ${trunkY + trunkH} V ${hy}`, class: "branch" }));
      }
      g.append(svg("rect", { x: hx, y: hy, width: hw, height: hh, rx: isFinal ? 6 : 3, class: "head" }));
      const label = svg("text", { x: isFinal ? hx + hw : hx, y: isFinal ? trunkY + trunkH + 16 : hy + hh + 14, class: isFinal ? "exit-name end" : "exit-name" }, ex.name);
      g.append(label);
      g.append(svg("title", {}, `${ex.name}: head ${fmt.macs(ex.macs)} MACs; ${fmt.macs(ex.cumulativeMacs)} MACs executed when it fires`));
      s.append(g);
      this.exits.push(g);
    });

    // Scale.
    const axisY = 146;
    s.append(svg("path", { d: `M ${pad} ${axisY - 6} V ${axisY - 2} H ${W - pad} V ${axisY - 6}`, class: "axis" }));
    s.append(svg("text", { x: pad, y: axisY - 10, class: "axis-label" }, "0"));
    s.append(svg("text", { x: W - pad, y: axisY - 10, class: "axis-label end" }, `${fmt.macs(total)} MACs: segments + final classifier, to scale`));
    this.root.replaceChildren(s);
    this.info = info;
  }

  /** Highlights what ran for a decision (a Classification). */
  update(decision) {
    const fired = decision.exit;
    const lastSeg = this.info.exits[fired].after;
    this.segments.forEach((g, i) => g.setAttribute("class", i <= lastSeg ? "seg run" : "seg skipped"));
    this.exits.forEach((g, i) => {
      const state = i < fired ? "passed" : i === fired ? "fired" : "skipped";
      g.setAttribute("class", `exit ${state}${i === this.exits.length - 1 ? " final" : ""}`);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Exit confidence bars

export class ExitBars {
  constructor(root) {
    this.root = root;
  }

  build(info) {
    this.info = info;
    this.rows = info.exits.map((ex, i) => {
      const fill = el("div", { class: "bar-fill" });
      const mark = el("div", { class: "bar-mark" });
      const value = el("span", { class: "bar-value" });
      const says = el("span", { class: "bar-says" });
      const row = el(
        "div",
        { class: "exit-row", "data-exit": i },
        el("span", { class: "bar-name", text: ex.name }),
        el("div", { class: "bar-track" }, fill, mark),
        value,
        says,
      );
      if (i === info.exits.length - 1) mark.hidden = true;
      return { row, fill, mark, value, says };
    });
    this.root.replaceChildren(...this.rows.map((r) => r.row));
  }

  update(trace, thresholds, decision) {
    const fired = decision.exit;
    this.rows.forEach((r, i) => {
      const out = trace.exits[i];
      const t = thresholds[i];
      const state = i < fired ? "passed" : i === fired ? "fired" : "skipped";
      r.row.className = `exit-row ${state}`;
      r.fill.style.width = `${(out.confidence * 100).toFixed(2)}%`;
      if (t !== undefined) r.mark.style.left = `${(t * 100).toFixed(2)}%`;
      const label = this.info.labels[out.class] ?? out.class;
      if (i === this.rows.length - 1) {
        r.value.textContent = `${fmt.conf(out.confidence)}`;
        r.says.textContent = state === "fired" ? `says ${label} · always fires` : `says ${label} · not run`;
      } else {
        const cmp = out.confidence >= t ? "≥" : "<";
        r.value.textContent = `${fmt.conf(out.confidence)} ${cmp} ${fmt.conf(t)}`;
        r.says.textContent =
          state === "fired" ? `says ${label} · fires` : state === "passed" ? `says ${label} · passes on` : `says ${label} · not run`;
      }
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Exit histogram of the test set

export class Histogram {
  constructor(root) {
    this.root = root;
  }

  build(info, exitAccuracies) {
    this.rows = info.exits.map((ex, i) => {
      const fill = el("div", { class: "bar-fill" });
      const value = el("span", { class: "bar-value" });
      const acc = exitAccuracies ? ` (alone: ${fmt.pct(exitAccuracies[i])} accurate)` : "";
      const row = el(
        "div",
        { class: "hist-row", title: `${ex.name}${acc}`, "data-exit-accuracy": exitAccuracies ? String(exitAccuracies[i]) : undefined },
        el("span", { class: "bar-name", text: ex.name }),
        el("div", { class: "bar-track" }, fill),
        value,
      );
      return { row, fill, value };
    });
    this.root.replaceChildren(...this.rows.map((r) => r.row));
  }

  update(summary) {
    summary.histogram.forEach((n, i) => {
      const r = this.rows[i];
      const f = n / summary.count;
      r.fill.style.width = `${(f * 100).toFixed(2)}%`;
      r.value.textContent = `${fmt.int(n)} · ${fmt.pct(f, 0)}`;
      r.row.dataset.count = n;
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Accuracy vs FLOPs saved

export class TradeoffPlot {
  constructor(root, onPick) {
    this.root = root;
    this.onPick = onPick;
  }

  build(frontier, finalAccuracy, uniform = []) {
    const W = 480, H = 300, m = { l: 62, r: 14, t: 26, b: 44 };
    const pts = [...frontier].sort((a, b) => a.macsSavedFraction - b.macsSavedFraction);
    const xs = pts.map((p) => p.macsSavedFraction).concat(uniform.map((p) => p.macsSavedFraction), [0]);
    const ys = pts.map((p) => p.accuracy).concat(uniform.map((p) => p.accuracy), [finalAccuracy]);
    let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
    let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
    const xp = Math.max((x1 - x0) * 0.06, 0.01), yp = Math.max((y1 - y0) * 0.08, 0.002);
    [x0, x1, y0, y1] = [x0 - xp, x1 + xp, y0 - yp, Math.min(y1 + yp, 1.0001)];
    this.domain = { x0, x1, y0, y1 };
    const X = (v) => m.l + ((v - x0) / (x1 - x0)) * (W - m.l - m.r);
    const Y = (v) => H - m.b - ((v - y0) / (y1 - y0)) * (H - m.t - m.b);
    this.X = X;
    this.Y = Y;
    const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "plot", role: "img" });
    s.append(svg("title", {}, "Test-set accuracy against mean FLOPs saved: the frontier over a threshold sweep and the current thresholds"));

    // Grid and ticks.
    const g = svg("g", { class: "grid" });
    for (const v of ticks(x0, x1, 6)) {
      g.append(svg("line", { x1: X(v), x2: X(v), y1: m.t, y2: H - m.b }));
      g.append(svg("text", { x: X(v), y: H - m.b + 16, class: "tick x" }, fmt.pct(v, 0)));
    }
    for (const v of ticks(y0, y1, 5)) {
      g.append(svg("line", { x1: m.l, x2: W - m.r, y1: Y(v), y2: Y(v) }));
      g.append(svg("text", { x: m.l - 6, y: Y(v) + 4, class: "tick y" }, fmt.pct(v, (y1 - y0) < 0.05 ? 1 : 0)));
    }
    s.append(g);
    s.append(svg("text", { x: (m.l + W - m.r) / 2, y: H - 6, class: "axis-title" }, "mean FLOPs saved →"));
    s.append(svg("text", { x: 4, y: 14, class: "axis-title start" }, "↑ accuracy"));

    // The same threshold at every exit, for context.
    if (uniform.length) {
      const u = uniform.map((p, i) => `${i ? "L" : "M"} ${X(p.macsSavedFraction).toFixed(1)} ${Y(p.accuracy).toFixed(1)}`).join(" ");
      const path = svg("path", { d: u, class: "uniform" });
      path.append(svg("title", {}, "The same threshold at every exit, from 0 to 1"));
      s.append(path);
    }

    // Frontier.
    const d = pts.map((p, i) => `${i ? "L" : "M"} ${X(p.macsSavedFraction).toFixed(1)} ${Y(p.accuracy).toFixed(1)}`).join(" ");
    s.append(svg("path", { d, class: "frontier" }));
    const dots = svg("g", { class: "frontier-pts" });
    for (const p of pts) {
      const c = svg("circle", { cx: X(p.macsSavedFraction), cy: Y(p.accuracy), r: 3.2 });
      // The exact values, for tests and tools (the drawn position is rounded).
      c.dataset.thresholds = p.thresholds.join(",");
      c.dataset.accuracy = String(p.accuracy);
      c.dataset.saved = String(p.macsSavedFraction);
      c.append(svg("title", {}, `${fmt.pct(p.accuracy)} accurate, ${fmt.pct(p.macsSavedFraction)} FLOPs saved at thresholds ${p.thresholds.map(fmt.conf).join(", ")} — click to use`));
      c.addEventListener("click", () => this.onPick(p.thresholds));
      dots.append(c);
    }
    s.append(dots);

    // The plain network.
    const px = X(0), py = Y(finalAccuracy);
    s.append(svg("path", { d: `M ${px} ${py - 6} L ${px + 6} ${py} L ${px} ${py + 6} L ${px - 6} ${py} Z`, class: "plain" }));
    s.append(svg("text", { x: px + 9, y: py - 8, class: "plain-label" }, "plain network"));

    // The operating point.
    this.guideX = svg("line", { class: "op-guide", y1: m.t, y2: H - m.b });
    this.guideY = svg("line", { class: "op-guide", x1: m.l, x2: W - m.r });
    this.op = svg("circle", { r: 6.5, class: "op" });
    this.opLabel = svg("text", { class: "op-label" });
    s.append(this.guideX, this.guideY, this.op, this.opLabel);
    this.hideOp();
    this.W = W;
    this.root.replaceChildren(s);
  }

  hideOp() {
    for (const e of [this.guideX, this.guideY, this.op, this.opLabel]) e.setAttribute("visibility", "hidden");
  }

  update(summary) {
    const { x0, x1, y0, y1 } = this.domain;
    const clamp = (v, a, b) => Math.min(Math.max(v, a), b);
    const x = this.X(clamp(summary.macsSavedFraction, x0, x1));
    const y = this.Y(clamp(summary.accuracy, y0, y1));
    for (const e of [this.guideX, this.guideY, this.op, this.opLabel]) e.setAttribute("visibility", "visible");
    this.guideX.setAttribute("x1", x.toFixed(1));
    this.guideX.setAttribute("x2", x.toFixed(1));
    this.guideY.setAttribute("y1", y.toFixed(1));
    this.guideY.setAttribute("y2", y.toFixed(1));
    this.op.setAttribute("cx", x.toFixed(1));
    this.op.setAttribute("cy", y.toFixed(1));
    const right = x > this.W * 0.62;
    this.opLabel.setAttribute("x", (right ? x - 10 : x + 10).toFixed(1));
    this.opLabel.setAttribute("y", (y + 20).toFixed(1));
    this.opLabel.setAttribute("class", right ? "op-label end" : "op-label");
    this.opLabel.textContent = "you are here";
  }
}

/** Round tick values within [a, b]. */
function ticks(a, b, n) {
  const raw = (b - a) / n;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((k) => k * p).find((s) => s >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(a / step) * step; v <= b + 1e-12; v += step) out.push(+v.toFixed(10));
  return out;
}
