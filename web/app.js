// exitwise demo — the page. All inference runs in one module worker (web/worker.js), which
// holds the only copy of the model: it traces the current input once and answers decide() for
// every slider move, times real early-exit runs against the plain network (classifyFull),
// traces the test pack into one Evaluation and answers summary() for every slider move, the
// frontier and calibrate() — every number from the library's own methods; this page only
// formats them. The worker runs one request at a time, so a timing never shares it with other
// work; long jobs (tracing or timing the test pack) are sent as many short requests, so slider
// answers slip in between.
// Slider moves are coalesced (latest wins) so the page never queues stale work.

import { WorkerClient, Coalescer, cancelled } from "./client.js";
import { DrawPad } from "./draw.js";
import * as fmt from "./format.js";
import { el, paint, inputToImage, renderGallery, Diagram, ExitBars, Histogram, TradeoffPlot } from "./views.js";

const $ = (id) => document.getElementById(id);
const GALLERY = 48;
const TIME_DEBOUNCE_MS = 150; // after the last slider move, time the current input
const PACK_DEBOUNCE_MS = 500; // … and then the test pack
// Test-pack requests are sized to take about this long, so a slider's decide() queued behind
// one waits no longer. Tracing goes in multiples of the library's 64-image batches.
const CHUNK_TARGET_MS = 200;
const EVAL_BATCH = 64;
const MAX_UPLOAD_SIDE = 1024;
// `?backend=cpu|webgpu` forces a backend; by default the library picks (WebGPU if usable).
const BACKEND = new URLSearchParams(location.search).get("backend") || "auto";

const state = {
  models: [],
  entry: null,
  info: null,
  thresholds: [],
  worker: null,
  generation: 0,
  nextInput: 1,
  current: null, // { id, input, trace, meta }
  meta: new Map(), // input id → { kind, label, caption }
  rendered: 0, // newest input id rendered
  sliders: [],
  gallery: [],
  upload: null, // { image: ImageData, name }
  evaluated: false,
  tracing: null, // while the test pack is traced and its frontier found: { decides, worstDecideMs }
  plotted: false, // the frontier is drawn
  lastSummary: null,
  finalAccuracy: null,
  timeTimer: 0,
  packTimer: 0,
  packRun: 0, // id of the newest test-pack timing; older ones stop
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
// Requests

/** A request to the worker for the current model; answers for an older model are dropped. */
async function ask(type, args, opts) {
  const generation = state.generation;
  try {
    const result = await state.worker.request(type, args, opts);
    if (generation !== state.generation) throw cancelled();
    return result;
  } catch (e) {
    if (generation !== state.generation) throw cancelled();
    throw e;
  }
}

const traceQ = new Coalescer(
  (args) => ask("trace", { source: args }),
  (res) => onTrace(res),
  fail,
);

const decideQ = new Coalescer(
  async (args) => {
    const t0 = performance.now();
    const res = await ask("decide", args);
    // Slider answers while the test pack is traced: how many, and the longest wait.
    const tracing = state.tracing;
    if (tracing) {
      tracing.decides++;
      tracing.worstDecideMs = Math.max(tracing.worstDecideMs, performance.now() - t0);
      const d = $("testset").dataset;
      d.decidesWhileTracing = tracing.decides;
      d.worstDecideMs = tracing.worstDecideMs;
    }
    return res;
  },
  (res) => {
    if (state.current && res.id === state.current.id) renderDecision(res.decision, res.thresholds);
  },
  fail,
);

const summaryQ = new Coalescer(
  (args) => ask("summary", args),
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
  state.plotted = false;
  state.lastSummary = null;
  state.current = null;
  state.upload = null;
  document.body.dataset.ready = "false";
  state.tracing = null;
  $("testset").dataset.done = "false";
  clearTimeout(state.timeTimer);
  clearTimeout(state.packTimer);
  state.packRun++;
  // One worker for the page's lifetime: a new model replaces the old one inside it (requests
  // already queued for the old model finish first, and ask() drops their answers).
  if (state.worker && state.worker.broken) {
    state.worker.terminate();
    state.worker = null;
  }
  if (!state.worker) state.worker = new WorkerClient("exitwise");
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
    loaded = await ask(
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
  evaluateTestPack(loaded);
}

function setupModel({ info, backend, backendReason, gallery }) {
  state.info = info;
  resetTiming();
  $("backend").textContent = `backend: ${backend}`;
  $("backend").dataset.backend = backend;
  // The runtime's own evidence for its choice (auto: measured timings, or why the GPU was skipped).
  $("backend").title = `${BACKEND} asked; ${backendReason}`;
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
  $("calibrate-button").disabled = !canCalibrate(info);
  $("calib-status").textContent = canCalibrate(info) ? "" : "This bundle has no calibration data.";
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
  if (state.evaluated) summaryQ.push({ thresholds: state.thresholds });
  scheduleTiming();
  schedulePackTiming();
}

// ---------------------------------------------------------------------------------------------
// The current input

function selectInput(source, meta) {
  const id = state.nextInput++;
  state.meta.set(id, meta);
  // The newest input asked for: a drawing sends one per stroke, and tests wait for the last.
  document.body.dataset.latestInput = id;
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
  decideQ.push({ id: res.id, thresholds: state.thresholds });
  scheduleTiming();
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
  // Which input the figures are for: set with them, so the two never disagree.
  r.input = meta.kind === "test" ? `test:${meta.index}` : meta.kind;
  r.inputId = current.id;
  r.exit = d.exit;
  r.exitName = d.exitName;
  r.label = d.label;
  r.flopsSaved = d.flopsSaved;
  r.macsExecuted = d.macsExecuted;
  r.thresholds = thresholds.join(",");
  document.body.dataset.ready = "true";
  measure("exitwise:decision", t0);
}

// ---------------------------------------------------------------------------------------------
// Time: measured, never estimated

function mean(xs) {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** "0.21 ms vs 0.54 ms plain" */
function versus(exitMs, plainMs) {
  return `${fmt.ms(exitMs)} vs ${fmt.ms(plainMs)} plain`;
}

/** The time-saved figure: `value` and `sub`, or "measuring…" while what it showed is stale. */
function setTimeFigure(box, valueEl, subEl, { value, sub, negative = false, pending = false }) {
  box.classList.toggle("stale", pending);
  valueEl.classList.toggle("pending", pending);
  valueEl.classList.toggle("negative", !pending && negative);
  valueEl.textContent = pending ? "measuring…" : value;
  if (sub !== undefined) subEl.textContent = sub;
}

function resetTiming() {
  for (const id of ["latency-box", "pack-time-box"]) {
    const d = $(id).dataset;
    for (const k of Object.keys(d)) delete d[k];
  }
  setTimeFigure($("latency-box"), $("latency"), $("latency-sub"), { pending: true, sub: "waiting for an input" });
  setTimeFigure($("pack-time-box"), $("pack-time"), $("pack-time-sub"), { pending: true, sub: "after the test pack is traced" });
}

/**
 * Times the current input at the current thresholds after a pause. `again`: the same input and
 * thresholds once more (after the test pack's tracing, whose wasm compilation and allocations
 * can slow the first runs), keeping the figure shown until the new one is in.
 */
function scheduleTiming({ again = false } = {}) {
  clearTimeout(state.timeTimer);
  if (!again) setTimeFigure($("latency-box"), $("latency"), $("latency-sub"), { pending: true });
  state.timeTimer = setTimeout(async () => {
    const cur = state.current;
    if (!cur) return;
    const thresholds = state.thresholds.slice();
    try {
      const res = await ask("time", { id: cur.id, thresholds });
      if (state.current !== cur || thresholds.join() !== state.thresholds.join()) return;
      renderTiming(res);
    } catch (e) {
      fail(e);
    }
  }, TIME_DEBOUNCE_MS);
}

function renderTiming(res) {
  const c = res.result;
  const exitMs = mean(res.exitTimes);
  const plainMs = mean(res.plainTimes);
  const runs = res.exitTimes.length;
  const box = $("latency-box");
  const d = box.dataset;
  d.elapsedMs = exitMs;
  d.exit = c.exit;
  d.flopsSaved = c.flopsSaved;
  d.runs = runs;
  d.thresholds = res.thresholds.join(",");
  const order = `${runs} runs of each, alternating, in the page's one worker`;
  const saved = plainMs > 0 ? 1 - exitMs / plainMs : NaN;
  d.plainMs = plainMs;
  d.timeSaved = saved;
  setTimeFigure(box, $("latency"), $("latency-sub"), {
    value: Number.isFinite(saved) ? fmt.pct(saved) : "–",
    sub: versus(exitMs, plainMs),
    negative: saved < 0,
  });
  box.title =
    `Wall time of classify() at these thresholds (${c.exitName} fired, ${fmt.pct(c.flopsSaved)} FLOPs saved) against ` +
    `the plain network (classifyFull): mean of ${order}, ` +
    `as the library's elapsedMs. Early exit: ${res.exitTimes.map(fmt.ms).join(", ")}. Plain: ${res.plainTimes.map(fmt.ms).join(", ")}.`;
}

/** Times the whole test pack at the current thresholds, a chunk per request, after a pause. */
function schedulePackTiming() {
  clearTimeout(state.packTimer);
  const run = ++state.packRun;
  if (!state.evaluated) return;
  setTimeFigure($("pack-time-box"), $("pack-time"), $("pack-time-sub"), { pending: true, sub: "at these thresholds" });
  state.packTimer = setTimeout(() => timePack(run).catch(fail), PACK_DEBOUNCE_MS);
}

async function timePack(run) {
  const thresholds = state.thresholds.slice();
  const total = state.testCount;
  const sums = { exitMs: 0, plainMs: 0, exitMacs: 0, plainMacs: 0 };
  let from = 0, count = 16;
  while (from < total) {
    if (run !== state.packRun) return; // thresholds moved, or another model: start over later
    const res = await ask("timePack", { from, count, thresholds });
    if (run !== state.packRun) return;
    for (const k of Object.keys(sums)) sums[k] += res[k];
    from += res.count;
    $("pack-time-sub").textContent = `${fmt.int(from)} / ${fmt.int(total)} test images at these thresholds`;
    // Size the next request to about CHUNK_TARGET_MS.
    const ms = res.exitMs + res.plainMs;
    count = Math.max(4, Math.min(500, Math.round(ms > 0 ? (res.count * CHUNK_TARGET_MS) / ms : res.count * 2)));
  }
  const exitMs = sums.exitMs / total;
  const plainMs = sums.plainMs / total;
  const saved = plainMs > 0 ? 1 - exitMs / plainMs : NaN;
  const d = $("pack-time-box").dataset;
  d.elapsedMs = exitMs;
  d.plainMs = plainMs;
  d.timeSaved = saved;
  d.count = total;
  d.meanMacs = sums.exitMacs / total;
  d.plainMeanMacs = sums.plainMacs / total;
  d.thresholds = thresholds.join(",");
  setTimeFigure($("pack-time-box"), $("pack-time"), $("pack-time-sub"), {
    value: Number.isFinite(saved) ? fmt.pct(saved) : "–",
    sub: `${versus(exitMs, plainMs)} per image · ${fmt.int(total)} images`,
    negative: saved < 0,
  });
  $("pack-time-box").title =
    "Mean wall time per test image: classify() at these thresholds against the plain network (classifyFull), " +
    `one after the other for each image (alternating which goes first) in the page's one worker, as the library's elapsedMs.`;
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

/**
 * Traces the test pack in the one worker, a chunk per request, each sized to take about
 * CHUNK_TARGET_MS: slider decide()s sent meanwhile are answered between two chunks.
 */
async function evaluateTestPack(loaded) {
  const d = $("testset").dataset;
  d.backend = loaded.backend;
  for (const k of ["decidesWhileTracing", "worstDecideMs", "chunks", "largestChunkMs", "tracedMs", "frontierMs", "frontierPoints"]) delete d[k];
  if (!loaded.info.hasTestPack) {
    $("eval-status").textContent = "This bundle has no test pack.";
    $("eval-progress").hidden = true;
    setTimeFigure($("pack-time-box"), $("pack-time"), $("pack-time-sub"), { value: "–", sub: "this bundle has no test pack" });
    return;
  }
  const total = loaded.testCount;
  state.testCount = total;
  $("eval-status").textContent = `Tracing ${fmt.int(total)} test images through every exit…`;
  const tracing = (state.tracing = { decides: 0, worstDecideMs: 0 });
  try {
    let from = 0, batches = 1, chunks = 0, largest = 0;
    while (from < total) {
      const chunk = await ask("evalChunk", { from, count: batches * EVAL_BATCH });
      chunks++;
      largest = Math.max(largest, chunk.ms);
      from = chunk.done;
      $("eval-progress").value = from / total;
      $("eval-status").textContent = `Tracing test images through every exit: ${fmt.int(from)} / ${fmt.int(total)}`;
      batches = Math.max(1, Math.min(8, Math.round((batches * CHUNK_TARGET_MS) / Math.max(chunk.ms, 1))));
    }
    const res = await ask("evalFinish");
    const summary0 = await ask("summary", { thresholds: state.thresholds });
    d.chunks = chunks;
    d.largestChunkMs = largest;
    d.tracedMs = res.elapsedMs;
    state.finalAccuracy = summary0.finalAccuracy;
    const traced = `${fmt.int(res.count)} test images traced in ${fmt.ms(res.elapsedMs)} (${chunks} requests, ≤ ${fmt.ms(largest)} each)`;
    $("eval-status").textContent = `${traced}; finding the frontier…`;
    histogram.build(state.info, res.exitAccuracies);
    state.evaluated = true;
    summaryQ.push({ thresholds: state.thresholds });

    // The frontier: Evaluation.frontier of the whole pack, one request.
    const front = await ask("frontier");
    d.frontierMs = front.ms;
    d.frontierPoints = front.frontier.length;
    state.tracing = null;
    $("eval-progress").value = 1;
    $("eval-progress").hidden = true;
    const answers = tracing.decides ? ` Slider answers meanwhile took ≤ ${fmt.ms(tracing.worstDecideMs)}.` : "";
    $("eval-status").textContent =
      `${traced}, the frontier (${fmt.int(front.frontier.length)} points) found in ${fmt.ms(front.ms)}; ` +
      `every slider move re-scores them all.${answers}`;
    plot.build(front.frontier, summary0.finalAccuracy, res.uniform);
    state.plotted = true;
    if (state.lastSummary) renderSummary(state.lastSummary);
    scheduleTiming({ again: true });
    schedulePackTiming();
  } catch (e) {
    if (state.tracing === tracing) state.tracing = null;
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
  state.lastSummary = s;
  if (state.plotted) plot.update(s);
  const d = $("testset").dataset;
  d.accuracy = s.accuracy;
  d.macsSavedFraction = s.macsSavedFraction;
  d.count = s.count;
  d.thresholds = s.thresholds.map(fmt.snap).join(",");
  // Done when the numbers and the frontier are both there.
  d.done = String(!!state.plotted);
  measure("exitwise:summary", t0);
}

// ---------------------------------------------------------------------------------------------
// Calibration

function canCalibrate(info) {
  return info.hasCalibrationTrace || info.hasCalibrationPack;
}

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
  status.textContent = "Calibrating…";
  try {
    const res = await ask("calibrate", { maxDrop }, {
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
    const c = res.certified;
    const confidence = `${fmt.int(Math.round((1 - c.delta) * 100))} %`;
    // The runtime's Learn-then-Test result, in its own terms: what is guaranteed, and on what.
    const claim = c.certified
      ? `Guaranteed with ${confidence} confidence: accuracy drop ≤ ${maxDrop} pt on data like the calibration set ` +
        `(${fmt.int(c.losses)} losses in ${fmt.int(c.n)} images, p = ${c.pValue.toPrecision(2)}).`
      : `Nothing certified: ${fmt.int(c.n)} images cannot guarantee ≤ ${maxDrop} pt with ${confidence} confidence ` +
        `(that needs ≥ ${fmt.int(c.minImages)} images even with no loss, or a larger budget); thresholds stay at 1.`;
    status.dataset.certified = String(c.certified);
    status.dataset.source = res.source;
    status.dataset.count = String(res.count);
    status.dataset.calibrateMs = String(res.calibrateMs);
    const from = res.source === "trace"
      ? `the bundle's calibration trace (${fmt.int(res.count)} held-out validation images, traced by the runtime when the bundle was made)`
      : `the ${fmt.int(res.count)} held-out calibration images`;
    status.textContent =
      `${claim} On ${from}: ${fmt.pct(s.accuracy)} accurate ` +
      `(plain ${fmt.pct(s.finalAccuracy)}), ${fmt.pct(s.macsSavedFraction)} FLOPs saved. Thresholds ${t.map(fmt.conf).join(", ")}. ` +
      `(Search ${fmt.ms(res.calibrateMs)}; ${fmt.ms(res.elapsedMs)} in all in the worker, which answered nothing else meanwhile.)`;
    $("calibrate").dataset.thresholds = t.join(",");
  } catch (e) {
    if (ignorable(e)) return;
    status.textContent = `Calibration failed: ${describe(e)}`;
  } finally {
    progress.hidden = true;
    if (generation === state.generation) button.disabled = !(state.info && canCalibrate(state.info));
  }
}

start().catch(fail);
