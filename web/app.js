// exitwise demo — the page. All inference runs in two module workers (web/worker.js):
//   interactive: trace the current input once, decide() for every slider move, classify();
//   evaluator:   trace the test pack once, summary() for every slider move, frontier, calibrate.
// Slider moves are coalesced (latest wins) so the page never queues stale work.

import { WorkerClient, Coalescer } from "./client.js";
import { DrawPad } from "./draw.js";
import * as fmt from "./format.js";
import { el, paint, inputToImage, renderGallery, Diagram, ExitBars, Histogram, TradeoffPlot } from "./views.js";

const $ = (id) => document.getElementById(id);
const GALLERY = 48;
const CLASSIFY_DEBOUNCE_MS = 150;
const CLASSIFY_RUNS = 5; // the latency shown is the median of this many classify() runs
const MAX_UPLOAD_SIDE = 1024;
// `?backend=cpu|webgpu` forces a backend; by default the library picks (WebGPU if usable).
const BACKEND = new URLSearchParams(location.search).get("backend") || "auto";

const state = {
  models: [],
  entry: null,
  info: null,
  thresholds: [],
  interactive: null,
  evaluator: null,
  generation: 0,
  nextInput: 1,
  current: null, // { id, input, trace, meta }
  meta: new Map(), // input id → { kind, label, caption }
  rendered: 0, // newest input id rendered
  sliders: [],
  gallery: [],
  upload: null, // { image: ImageData, name }
  evaluated: false,
  finalAccuracy: null,
  classifyTimer: 0,
};

const diagram = new Diagram($("diagram"));
const bars = new ExitBars($("bars"));
const histogram = new Histogram($("hist"));
const plot = new TradeoffPlot($("plot"), (t) => setThresholds(t.map(fmt.snap), "plot"));

// ---------------------------------------------------------------------------------------------
// Messages

function notice(text, { error = false, progress = null } = {}) {
  const n = $("notice");
  n.hidden = !text;
  n.classList.toggle("error", error);
  $("notice-text").textContent = text || "";
  const p = $("load-progress");
  p.hidden = progress === null;
  if (progress !== null) p.value = progress;
}

function describe(e) {
  return e.code && e.code !== "DEMO" ? `${e.message} (${e.code})` : e.message;
}

function ignorable(e) {
  return e.code === "CANCELLED" || e.code === "STALE";
}

function fail(e) {
  if (ignorable(e)) return;
  notice(`Something went wrong: ${describe(e)}`, { error: true });
}

/** Render timings as User Timing entries (the tests check they stay far below a frame). */
let measures = 0;
function measure(name, t0) {
  if (++measures % 2000 === 0) performance.clearMeasures();
  performance.measure(name, { start: t0, end: performance.now() });
}

// ---------------------------------------------------------------------------------------------
// Coalesced requests

const traceQ = new Coalescer(
  (args) => state.interactive.request("trace", { source: args }),
  (res) => onTrace(res),
  fail,
);

const decideQ = new Coalescer(
  (args) => state.interactive.request("decide", args),
  (res) => {
    if (state.current && res.id === state.current.id) renderDecision(res.decision, res.thresholds);
  },
  fail,
);

const summaryQ = new Coalescer(
  (args) => state.evaluator.request("summary", args),
  (summary) => renderSummary(summary),
  fail,
);

// ---------------------------------------------------------------------------------------------
// Models

async function start() {
  wireInputs();
  let list;
  try {
    const resp = await fetch("models/index.json", { cache: "no-cache" });
    if (!resp.ok) throw new Error(`models/index.json: HTTP ${resp.status}`);
    list = await resp.json();
    if (!Array.isArray(list) || !list.length) throw new Error("models/index.json lists no model");
  } catch (e) {
    notice(`No models to show: ${e.message}. Train or copy a bundle and list it in models/index.json.`, { error: true });
    $("model").replaceChildren(el("option", { text: "no model" }));
    return;
  }
  state.models = list;
  const select = $("model");
  select.replaceChildren(...list.map((m, i) => el("option", { value: i, text: m.name })));
  select.disabled = false;
  const wanted = new URLSearchParams(location.search).get("model");
  const index = Math.max(0, list.findIndex((m) => m.name === wanted));
  select.value = String(index);
  select.addEventListener("change", () => loadModel(state.models[+select.value]));
  await loadModel(list[index]);
}

async function loadModel(entry) {
  const generation = ++state.generation;
  state.entry = entry;
  state.evaluated = false;
  state.current = null;
  state.upload = null;
  document.body.dataset.ready = "false";
  $("testset").dataset.done = "false";
  if (state.interactive) state.interactive.terminate();
  if (state.evaluator) state.evaluator.terminate();
  clearTimeout(state.classifyTimer);
  state.interactive = new WorkerClient("exitwise-interactive");
  state.evaluator = new WorkerClient("exitwise-evaluator");
  const url = new URL(entry.path.endsWith("/") ? entry.path : `${entry.path}/`, location.href).href;
  const params = new URLSearchParams(location.search);
  if (params.get("model") !== entry.name) {
    params.set("model", entry.name);
    history.replaceState(null, "", `${location.pathname}?${params}`);
  }
  notice(`Loading ${entry.name}…`, { progress: 0 });
  resetTestPanel("waiting for the model…");
  let loaded;
  try {
    loaded = await state.interactive.request(
      "load",
      { url, gallery: GALLERY, backend: BACKEND },
      {
        onProgress: (p) =>
          notice(`Loading ${entry.name}: ${p.filesLoaded}/${p.filesTotal} files, ${fmt.int(p.bytesLoaded / 1024)} KiB`, {
            progress: p.filesLoaded / p.filesTotal,
          }),
      },
    );
  } catch (e) {
    if (ignorable(e)) return;
    notice(`Could not load ${entry.name}: ${describe(e)}`, { error: true });
    return;
  }
  if (generation !== state.generation) return;
  notice("");
  setupModel(loaded);
  evaluateTestPack(url, generation);
}

function setupModel({ info, backend, fallbackReason, gallery }) {
  state.info = info;
  $("backend").textContent = `backend: ${backend}`;
  $("backend").dataset.backend = backend;
  $("backend").title = fallbackReason ? `On the CPU: ${fallbackReason}` : `The backend running the model (${BACKEND} asked)`;
  $("plain-macs").textContent = `plain network: ${fmt.macs(info.macsFull)} MACs`;
  $("plain-macs").dataset.macs = info.macsFull;
  document.title = `exitwise — ${info.name}`;
  buildSliders(info);
  diagram.build(info);
  bars.build(info);
  const digits = info.input.shape[1] === 1 && info.labels.length === 10 && info.labels.every((l, i) => l === String(i));
  $("draw-box").hidden = !digits;
  pad.clear(false);
  $("pad-hint").hidden = false;
  $("upload-name").textContent = "";
  $("calibrate-button").disabled = !info.hasCalibrationPack;
  $("calib-status").textContent = info.hasCalibrationPack ? "" : "This bundle has no calibration pack.";
  if (gallery) {
    $("gallery-hint").textContent = "Test images, with their true labels:";
    state.gallery = renderGallery($("gallery"), gallery, info, (i) => pickTest(i));
    state.galleryLabels = gallery.labels;
    pickTest(0);
  } else {
    $("gallery-hint").textContent = "This bundle has no test pack: draw or upload an image.";
    $("gallery").replaceChildren();
    state.gallery = [];
  }
}

// ---------------------------------------------------------------------------------------------
// Thresholds

function buildSliders(info) {
  const early = info.exits.slice(0, -1);
  state.thresholds = info.defaultThresholds.map(fmt.snap);
  state.sliders = early.map((ex, i) => {
    const id = `thr-${i}`;
    const input = el("input", { type: "range", id, min: 0, max: 1, step: 0.01, value: state.thresholds[i], "data-exit": i });
    const output = el("output", { for: id, class: "thr-value", text: fmt.conf(state.thresholds[i]) });
    const share = ex.cumulativeMacs / info.macsFull;
    const label = el(
      "label",
      { for: id },
      el("span", { class: "thr-name", text: ex.name }),
      el("span", { class: "thr-cost", text: `${fmt.macs(ex.cumulativeMacs)} MACs · ${fmt.pct(share)} of the plain network` }),
    );
    input.addEventListener("input", () => {
      const t = state.thresholds.slice();
      t[i] = +input.value;
      setThresholds(t, "slider");
    });
    return { wrap: el("div", { class: "slider" }, label, el("div", { class: "slider-row" }, input, output)), input, output };
  });
  $("sliders").replaceChildren(...state.sliders.map((s) => s.wrap));
  if (!early.length) $("sliders").append(el("p", { class: "small", text: "This model has no early exit." }));
}

function setThresholds(t, from) {
  state.thresholds = t.slice();
  state.sliders.forEach((s, i) => {
    if (from !== "slider" || +s.input.value !== t[i]) s.input.value = t[i];
    s.output.textContent = fmt.conf(t[i]);
  });
  if (state.current) decideQ.push({ id: state.current.id, thresholds: state.thresholds });
  if (state.evaluated) summaryQ.push({ kind: "test", thresholds: state.thresholds });
  scheduleClassify();
}

// ---------------------------------------------------------------------------------------------
// The current input

function selectInput(source, meta) {
  const id = state.nextInput++;
  state.meta.set(id, meta);
  traceQ.push({ ...source, id });
}

function pickTest(i) {
  state.gallery.forEach((b, j) => b.setAttribute("aria-pressed", String(i === j)));
  const label = state.info.labels[state.galleryLabels[i]];
  selectInput({ kind: "test", index: i }, { kind: "test", index: i, label, caption: `test image ${i + 1}` });
}

function onTrace(res) {
  if (res.id < state.rendered) return;
  state.rendered = res.id;
  const meta = state.meta.get(res.id) || {};
  for (const k of state.meta.keys()) if (k < res.id) state.meta.delete(k);
  state.current = { ...res, meta };
  if (meta.kind !== "test") state.gallery.forEach((b) => b.setAttribute("aria-pressed", "false"));
  paint($("seen"), inputToImage(res.input, state.info));
  $("seen-caption").textContent = meta.caption || "the input";
  $("result").dataset.input = meta.kind === "test" ? `test:${meta.index}` : meta.kind;
  decideQ.push({ id: res.id, thresholds: state.thresholds });
  scheduleClassify();
}

function renderDecision(d, thresholds) {
  const t0 = performance.now();
  const { info, current } = state;
  const meta = current.meta;
  $("pred").textContent = d.label;
  let detail = `${d.exitName} ${d.exit === info.exits.length - 1 ? "(final classifier)" : "fired"} · confidence ${fmt.conf(d.confidence)}`;
  if (meta.label !== undefined) detail += ` · true label ${meta.label} ${meta.label === d.label ? "✓" : "✗"}`;
  $("pred-detail").textContent = detail;
  $("pred").classList.toggle("wrong", meta.label !== undefined && meta.label !== d.label);
  const saved = $("saved");
  saved.textContent = fmt.pct(d.flopsSaved);
  saved.classList.toggle("negative", d.flopsSaved < 0);
  $("saved-sub").textContent = d.flopsSaved < 0 ? "ran to the end: the exit heads cost extra" : "vs the plain network";
  $("executed").textContent = fmt.macs(d.macsExecuted);
  $("executed-sub").textContent = `of ${fmt.macs(d.macsFull)} (plain network)`;
  const f = $("meter-fill");
  f.style.width = `${Math.min(100, (d.macsExecuted / d.macsFull) * 100).toFixed(2)}%`;
  f.classList.toggle("over", d.macsExecuted > d.macsFull);
  diagram.update(d);
  bars.update(current.trace, thresholds, d);
  const r = $("result").dataset;
  r.exit = d.exit;
  r.exitName = d.exitName;
  r.label = d.label;
  r.flopsSaved = d.flopsSaved;
  r.macsExecuted = d.macsExecuted;
  r.thresholds = thresholds.join(",");
  document.body.dataset.ready = "true";
  measure("exitwise:decision", t0);
}

function scheduleClassify() {
  clearTimeout(state.classifyTimer);
  $("latency-box").classList.add("stale");
  state.classifyTimer = setTimeout(async () => {
    const cur = state.current;
    if (!cur) return;
    const thresholds = state.thresholds.slice();
    try {
      const res = await state.interactive.request("classify", { id: cur.id, thresholds, repeat: CLASSIFY_RUNS });
      if (state.current !== cur || thresholds.join() !== state.thresholds.join()) return;
      const c = res.result;
      const median = res.times.slice().sort((a, b) => a - b)[res.times.length >> 1];
      $("latency").textContent = fmt.ms(median);
      $("latency-sub").textContent = `classify() → ${c.exitName}, median of ${res.times.length} runs`;
      $("latency-box").title = `A real early-exit run at these thresholds: ${c.exitName} fired, ${fmt.pct(c.flopsSaved)} FLOPs saved; runs: ${res.times.map(fmt.ms).join(", ")}`;
      $("latency-box").classList.remove("stale");
      const d = $("latency-box").dataset;
      d.elapsedMs = median;
      d.exit = c.exit;
      d.flopsSaved = c.flopsSaved;
      d.thresholds = thresholds.join(",");
    } catch (e) {
      fail(e);
    }
  }, CLASSIFY_DEBOUNCE_MS);
}

// ---------------------------------------------------------------------------------------------
// Drawing and uploads

const pad = new DrawPad($("pad"), (image) => {
  $("pad-hint").hidden = !!image;
  if (!image) return;
  selectInput({ kind: "image", image, invert: false }, { kind: "drawing", caption: "your drawing" });
});

function wireInputs() {
  $("clear").addEventListener("click", () => pad.clear());
  $("file").addEventListener("change", (e) => {
    const file = e.target.files && e.target.files[0];
    if (file) loadFile(file);
    e.target.value = "";
  });
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const file = e.dataTransfer && e.dataTransfer.files[0];
    if (file) loadFile(file);
  });
  $("invert").addEventListener("change", () => {
    if (state.upload) traceUpload();
  });
  $("calibrate").addEventListener("submit", (e) => {
    e.preventDefault();
    calibrate();
  });
  $("reset").addEventListener("click", () => {
    if (state.info) setThresholds(state.info.defaultThresholds.map(fmt.snap), "reset");
  });
}

async function loadFile(file) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    $("upload-name").textContent = `${file.name}: not an image this browser can read`;
    return;
  }
  const k = Math.min(1, MAX_UPLOAD_SIDE / Math.max(bitmap.width, bitmap.height));
  const w = Math.max(1, Math.round(bitmap.width * k)), h = Math.max(1, Math.round(bitmap.height * k));
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0, w, h);
  bitmap.close();
  const image = ctx.getImageData(0, 0, w, h);
  state.upload = { image, name: file.name };
  // Dark ink on light paper? Guess from the border; the toggle overrides.
  const light = state.info && state.info.input.shape[1] === 1 && borderLuma(image) > 127;
  $("invert").checked = light;
  $("upload-name").textContent = `${file.name} (${w}×${h})${light ? " · light background: inverted" : ""}`;
  traceUpload();
}

function traceUpload() {
  const { image, name } = state.upload;
  selectInput({ kind: "image", image, invert: $("invert").checked }, { kind: "upload", caption: name });
}

function borderLuma({ data, width: w, height: h }) {
  let sum = 0, n = 0;
  const add = (x, y) => {
    const i = (y * w + x) * 4;
    sum += 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2];
    n++;
  };
  for (let x = 0; x < w; x++) {
    add(x, 0);
    add(x, h - 1);
  }
  for (let y = 0; y < h; y++) {
    add(0, y);
    add(w - 1, y);
  }
  return sum / n;
}

// ---------------------------------------------------------------------------------------------
// The test pack

function resetTestPanel(status) {
  $("eval-progress").value = 0;
  $("eval-progress").hidden = false;
  $("eval-status").textContent = status;
  for (const id of ["acc", "mean-saved"]) $(id).textContent = "–";
  for (const id of ["acc-sub", "mean-macs"]) $(id).textContent = "";
  $("hist").replaceChildren();
  $("plot").replaceChildren();
  $("calib-status").textContent = "";
}

async function evaluateTestPack(url, generation) {
  const ev = state.evaluator;
  try {
    const loaded = await ev.request("load", { url, backend: BACKEND });
    $("testset").dataset.backend = loaded.backend;
    if (!loaded.info.hasTestPack) {
      $("eval-status").textContent = "This bundle has no test pack.";
      $("eval-progress").hidden = true;
      return;
    }
    $("eval-status").textContent = `Tracing ${fmt.int(loaded.testCount)} test images through every exit…`;
    const res = await ev.request("evaluate", { kind: "test" }, {
      onProgress: (p) => {
        $("eval-progress").value = p.done / p.total;
        $("eval-status").textContent =
          p.done < p.total
            ? `Tracing test images through every exit: ${fmt.int(p.done)} / ${fmt.int(p.total)}`
            : `${fmt.int(p.total)} test images traced; sweeping thresholds for the frontier…`;
      },
    });
    if (generation !== state.generation) return;
    const summary0 = await ev.request("summary", { kind: "test", thresholds: state.thresholds });
    state.finalAccuracy = summary0.finalAccuracy;
    $("eval-progress").value = 1;
    $("eval-progress").hidden = true;
    $("eval-status").textContent = `${fmt.int(res.count)} test images traced in ${fmt.ms(res.elapsedMs)}; every slider move re-scores them all.`;
    histogram.build(state.info, res.exitAccuracies);
    plot.build(res.frontier, summary0.finalAccuracy, res.uniform);
    state.evaluated = true;
    summaryQ.push({ kind: "test", thresholds: state.thresholds });
  } catch (e) {
    if (ignorable(e)) return;
    $("eval-status").textContent = `Evaluation failed: ${describe(e)}`;
  }
}

function renderSummary(s) {
  if (!state.evaluated || s.thresholds.length !== state.thresholds.length) return;
  const t0 = performance.now();
  $("acc").textContent = fmt.pct(s.accuracy);
  const drop = (s.finalAccuracy - s.accuracy) * 100;
  $("acc-sub").textContent = `plain network ${fmt.pct(s.finalAccuracy)} · ${drop > 0.0005 ? `−${drop.toFixed(1)}` : drop < -0.0005 ? `+${(-drop).toFixed(1)}` : "±0.0"} points`;
  $("mean-saved").textContent = fmt.pct(s.macsSavedFraction);
  $("mean-saved").classList.toggle("negative", s.macsSavedFraction < 0);
  $("mean-macs").textContent = `${fmt.macs(s.meanMacs)} of ${fmt.macs(s.macsFull)} MACs per image`;
  histogram.update(s);
  plot.update(s);
  const d = $("testset").dataset;
  d.accuracy = s.accuracy;
  d.macsSavedFraction = s.macsSavedFraction;
  d.count = s.count;
  d.thresholds = s.thresholds.map(fmt.snap).join(",");
  d.done = "true";
  measure("exitwise:summary", t0);
}

// ---------------------------------------------------------------------------------------------
// Calibration

async function calibrate() {
  const maxDrop = Number($("max-drop").value);
  const status = $("calib-status");
  if (!(maxDrop >= 0 && maxDrop <= 100)) {
    status.textContent = "Enter a number of points between 0 and 100.";
    return;
  }
  const button = $("calibrate-button");
  const progress = $("calib-progress");
  const generation = state.generation;
  button.disabled = true;
  status.textContent = state.evaluated ? "Calibrating…" : "Waiting for the test-pack evaluation…";
  try {
    const res = await state.evaluator.request("calibrate", { maxDrop }, {
      onProgress: (p) => {
        progress.hidden = false;
        progress.value = p.done / p.total;
        status.textContent = `Tracing the calibration pack: ${fmt.int(p.done)} / ${fmt.int(p.total)}`;
      },
    });
    if (generation !== state.generation) return;
    const t = res.thresholds.map(fmt.snap);
    setThresholds(t, "calibrate");
    const s = res.summary;
    status.textContent =
      `On ${fmt.int(res.count)} held-out calibration images: ${fmt.pct(s.accuracy)} accurate ` +
      `(plain ${fmt.pct(s.finalAccuracy)}), ${fmt.pct(s.macsSavedFraction)} FLOPs saved. Thresholds ${t.map(fmt.conf).join(", ")}.`;
    $("calibrate").dataset.thresholds = t.join(",");
  } catch (e) {
    if (ignorable(e)) return;
    status.textContent = `Calibration failed: ${describe(e)}`;
  } finally {
    progress.hidden = true;
    if (generation === state.generation) button.disabled = !(state.info && state.info.hasCalibrationPack);
  }
}

start().catch(fail);
