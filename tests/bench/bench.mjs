// The benchmark page's side (tests/bench/index.html): exitwise and onnxruntime-web in one page,
// driven stage by stage by tests/bench/run.mjs through `window.bench`. Every call returns plain
// JSON (numbers, arrays); per-image results stay in the page and are compared by `check()`.
//
// Query: ?pkg=<URL of the folder holding exitwise.js>&ort=<URL of onnxruntime-web's dist/>

import { argmax, loadGlued, normalise, runGlued, softmax } from "./glued.mjs";

const q = new URLSearchParams(location.search);
const PKG = new URL(q.get("pkg") || "/crate/pkg/", location.href).href;
const ORT = new URL(q.get("ort") || "/tests/node_modules/onnxruntime-web/dist/", location.href).href;

let ort = null;
let ew = null;
let B = null; // the bundle under test

async function setup() {
  ort = await import(ORT + "ort.wasm.min.mjs");
  ort.env.wasm.wasmPaths = ORT;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.simd = true;
  ort.env.wasm.proxy = false;
  ew = await import(PKG + "exitwise.js");
  await ew.default();
  return {
    pkg: PKG,
    ort: ORT,
    ortVersion: ort.env.versions?.web ?? ort.env.versions?.common ?? null,
    userAgent: navigator.userAgent,
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    hardwareConcurrency: navigator.hardwareConcurrency,
  };
}

async function fetchBytes(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** Loads bundle `path` (e.g. "/models/tiny-mnist/") in both engines, with its first `images` test images. */
async function load({ path, images }) {
  unload();
  const base = new URL(path, location.href).href;
  const res = await fetch(base + "manifest.json");
  if (!res.ok) throw new Error(`${base}manifest.json: HTTP ${res.status}`);
  const manifest = await res.json();
  const model = await ew.Model.load(base, { backend: "cpu" });
  const pack = model.testPack();
  if (!pack) throw new Error(`${path}: the bundle has no test pack`);
  const len = manifest.input.shape.slice(1).reduce((a, b) => a * b, 1);
  const n = Math.min(images, pack.count);
  const options = { executionProviders: ["wasm"] };
  const full = await ort.InferenceSession.create(await fetchBytes(base + "full.onnx"), options);
  const glued = await loadGlued(ort, base, manifest, options);
  const batchDims = [full, ...glued.steps.map((s) => s.session)].map((s) => s.inputMetadata?.[0]?.shape?.[0]);
  B = {
    path, manifest, model, full, glued, len, n,
    images: pack.images.slice(0, n * len),
    labels: pack.labels.slice(0, n),
    early: manifest.exits.length - 1,
    // A batch dimension that is a name ("N") or absent from the metadata is taken as dynamic.
    dynamicBatch: batchDims.every((d) => typeof d !== "number" || d < 0),
    results: {},
  };
  const info = model.info();
  return {
    images: n,
    packCount: pack.count,
    backend: model.backend,
    hasClassifyBatch: typeof model.classifyBatch === "function",
    dynamicBatch: B.dynamicBatch,
    batchDims: batchDims.map((d) => (d === undefined ? null : d)),
    exits: manifest.exits.map((e) => ({ name: e.name, rule: e.rule, threshold: e.threshold ?? null })),
    defaultThresholds: info.defaultThresholds,
    macsFull: info.macsFull,
    cumulativeMacs: info.exits.map((e) => e.cumulativeMacs),
    parts: glued.steps.length,
  };
}

function unload() {
  if (!B) return;
  B.model.free?.();
  for (const s of [B.full, ...B.glued.steps.map((x) => x.session)]) s.release?.();
  B = null;
}

// ---- contenders: each runs over the first `n` images and returns the elapsed ms ------------

function image(i) {
  return B.images.subarray(i * B.len, (i + 1) * B.len);
}

async function ortFull(n, batch) {
  const { full, manifest } = B;
  const chw = manifest.input.shape.slice(1);
  const c = manifest.labels.length;
  const classes = new Int32Array(n);
  const t0 = performance.now();
  for (let i = 0; i < n; i += batch) {
    const b = Math.min(batch, n - i);
    const x = normalise(manifest, B.images, i, b);
    const out = await full.run({ [full.inputNames[0]]: new ort.Tensor("float32", x, [b, ...chw]) });
    const logits = out[full.outputNames[0]].data;
    for (let k = 0; k < b; k++) classes[i + k] = argmax(softmax(logits, k * c, c));
  }
  const ms = performance.now() - t0;
  return { ms, classes };
}

async function ortGlued(n) {
  const out = new Array(n);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) out[i] = await runGlued(B.glued, normalise(B.manifest, B.images, i, 1), 1, true);
  const ms = performance.now() - t0;
  return { ms, exits: Int32Array.from(out, (r) => r.exit), classes: Int32Array.from(out, (r) => r.class), confidences: out.map((r) => r.confidences) };
}

/** Every part, no stopping, `batch` images per run; per exit, the classes and confidences. */
async function ortAllParts(n, batch) {
  const perExit = B.manifest.exits.map(() => ({ classes: new Int32Array(n), confidences: new Float32Array(n) }));
  const t0 = performance.now();
  for (let i = 0; i < n; i += batch) {
    const b = Math.min(batch, n - i);
    const r = await runGlued(B.glued, normalise(B.manifest, B.images, i, b), b, false);
    r.forEach((o, e) => {
      perExit[e].classes.set(o.classes, i);
      perExit[e].confidences.set(o.confidences, i);
    });
  }
  const ms = performance.now() - t0;
  return { ms, perExit };
}

async function ewClassify(n, thresholds) {
  const out = new Array(n);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) out[i] = await B.model.classify(image(i), thresholds);
  const ms = performance.now() - t0;
  return {
    ms,
    exits: Int32Array.from(out, (r) => r.exit),
    classes: Int32Array.from(out, (r) => r.class),
    confidences: out.map((r) => r.exits.map((e) => e.confidence)),
    macs: out.reduce((s, r) => s + r.macsExecuted, 0),
  };
}

async function ewEvaluate(n) {
  const images = B.images.subarray(0, n * B.len);
  const labels = B.labels.subarray(0, n);
  const t0 = performance.now();
  const ev = await B.model.evaluate(images, labels);
  const ms = performance.now() - t0;
  const s = ev.summary(B.model.info().defaultThresholds);
  ev.free?.();
  return { ms, accuracy: s.accuracy, histogram: s.histogram };
}

async function ewClassifyBatch(n, batch) {
  const exits = new Int32Array(n);
  const classes = new Int32Array(n);
  const confidences = new Float32Array(n);
  const t0 = performance.now();
  for (let i = 0; i < n; i += batch) {
    const b = Math.min(batch, n - i);
    const r = await B.model.classifyBatch(B.images.subarray(i * B.len, (i + b) * B.len), b);
    exits.set(r.exits, i);
    classes.set(r.classes, i);
    confidences.set(r.confidences, i);
  }
  const ms = performance.now() - t0;
  return { ms, exits, classes, confidences };
}

const BATCHES = [16, 64, 256];

/** The contenders for the loaded bundle: name → run(n). */
function contenders() {
  const all = new Array(B.early).fill(1);
  const c = {
    "ort.full.b1": (n) => ortFull(n, 1),
    "ort.glued": (n) => ortGlued(n),
    "ort.allparts.b1": (n) => ortAllParts(n, 1),
    "ew.classify": (n) => ewClassify(n, undefined),
    "ew.classify.all": (n) => ewClassify(n, all),
    "ew.evaluate": (n) => ewEvaluate(n),
  };
  if (B.dynamicBatch) c["ort.allparts.b64"] = (n) => ortAllParts(n, 64);
  if (typeof B.model.classifyBatch === "function") for (const b of BATCHES) c[`ew.classifyBatch.b${b}`] = (n) => ewClassifyBatch(n, b);
  if (B.dynamicBatch) for (const b of BATCHES) c[`ort.full.b${b}`] = (n) => ortFull(n, b);
  return c;
}

function names() {
  return Object.keys(contenders());
}

/** Runs contender `name` over `n` images (default: all loaded); keeps its per-image results. */
async function run({ name, n }) {
  const f = contenders()[name];
  if (!f) throw new Error(`no contender ${name} for ${B.path}`);
  const count = Math.min(n ?? B.n, B.n);
  const r = await f(count);
  if (count === B.n) B.results[name] = r;
  const summary = { name, ms: r.ms, images: count, perImageMs: r.ms / count };
  if (r.accuracy !== undefined) Object.assign(summary, { accuracy: r.accuracy, histogram: r.histogram });
  if (r.macs !== undefined) summary.meanMacs = r.macs / count;
  if (r.exits) summary.histogram = histogram(r.exits);
  if (r.classes) summary.accuracy = accuracy(r.classes, count);
  return summary;
}

function accuracy(classes, n) {
  let ok = 0;
  for (let i = 0; i < n; i++) ok += classes[i] === B.labels[i];
  return ok / n;
}

function histogram(exits) {
  const h = new Array(B.manifest.exits.length).fill(0);
  for (const e of exits) h[e]++;
  return h;
}

/**
 * Compares the per-image results of the last full-size runs:
 * - exitwise classify (defaults) vs the glued ort chain: exit index and class of every image;
 * - exitwise classify at thresholds 1.0 vs the glued chain's decision at 1.0 (from "all parts");
 * - classifyBatch at each batch size vs classify, per image;
 * - full.onnx's class vs the final exit's (all parts), as a sanity check of the glued chain.
 */
function check() {
  const R = B.results;
  const out = {};
  const ew = R["ew.classify"];
  const gl = R["ort.glued"];
  if (ew && gl) {
    const bad = [];
    let maxConfDiff = 0;
    for (let i = 0; i < B.n; i++) {
      const a = ew.confidences[i], b = gl.confidences[i];
      for (let e = 0; e < Math.min(a.length, b.length); e++) maxConfDiff = Math.max(maxConfDiff, Math.abs(a[e] - b[e]));
      if (ew.exits[i] !== gl.exits[i] || ew.classes[i] !== gl.classes[i]) {
        bad.push({ image: i, exitwise: { exit: ew.exits[i], class: ew.classes[i], confidences: a }, ort: { exit: gl.exits[i], class: gl.classes[i], confidences: b } });
      }
    }
    out.defaults = { images: B.n, disagreements: bad.length, details: bad.slice(0, 20), maxConfidenceDiff: maxConfDiff, thresholds: B.glued.thresholds.slice(0, -1) };
  }
  const all = R["ew.classify.all"];
  const ap = R["ort.allparts.b1"];
  if (all && ap) {
    // The chain's decision at thresholds 1.0: the first exit with confidence ≥ 1 (a confidence
    // can be exactly 1.0 in float32), else the final one.
    const bad = [];
    let early = 0;
    for (let i = 0; i < B.n; i++) {
      let e = 0;
      while (e < B.early && !(ap.perExit[e].confidences[i] >= 1)) e++;
      if (all.exits[i] < B.early) early++;
      if (all.exits[i] !== e || all.classes[i] !== ap.perExit[e].classes[i]) {
        bad.push({ image: i, exitwise: { exit: all.exits[i], class: all.classes[i], confidences: all.confidences[i] }, ort: { exit: e, class: ap.perExit[e].classes[i], confidences: ap.perExit.map((o) => o.confidences[i]) } });
      }
    }
    out.allExits = { images: B.n, disagreements: bad.length, details: bad.slice(0, 20), firedEarlyAtOne: early };
  }
  const full = R["ort.full.b1"];
  if (full && ap) {
    let d = 0;
    for (let i = 0; i < B.n; i++) d += full.classes[i] !== ap.perExit[B.early].classes[i];
    out.fullVsFinal = { images: B.n, disagreements: d };
  }
  for (const b of BATCHES) {
    const cb = R[`ew.classifyBatch.b${b}`];
    if (!cb || !ew) continue;
    const bad = [];
    let maxConfDiff = 0;
    for (let i = 0; i < B.n; i++) {
      const fired = ew.confidences[i][ew.exits[i]];
      maxConfDiff = Math.max(maxConfDiff, Math.abs(cb.confidences[i] - fired));
      if (cb.exits[i] !== ew.exits[i] || cb.classes[i] !== ew.classes[i]) {
        bad.push({ image: i, classify: { exit: ew.exits[i], class: ew.classes[i], confidence: fired }, classifyBatch: { exit: cb.exits[i], class: cb.classes[i], confidence: cb.confidences[i] } });
      }
    }
    (out.classifyBatch ??= {})[`b${b}`] = { images: B.n, disagreements: bad.length, details: bad.slice(0, 20), maxConfidenceDiff: maxConfDiff };
  }
  return out;
}

/** Calibrating from the bundle's calibration trace, as the page does: `calibrationEvaluation()`
 *  (parse, no image run) and Learn-then-Test `calibrate(maxDrop, { delta: 0.1 })`, `times` times
 *  each; ms per call. null when the bundle ships no trace. */
function calibration({ times = 7 } = {}) {
  if (typeof B.model.calibrationEvaluation !== "function") return null;
  const load = [];
  const search = {};
  let count = 0;
  for (let k = 0; k < times; k++) {
    const t0 = performance.now();
    const ev = B.model.calibrationEvaluation();
    load.push(performance.now() - t0);
    if (!ev) return null;
    count = ev.count;
    for (const d of [0.1, 0.5, 1.0]) {
      const t1 = performance.now();
      ev.calibrate(d, { delta: 0.1 });
      (search[d] ??= []).push(performance.now() - t1);
    }
    ev.free?.();
  }
  return { images: count, evaluationMs: load, calibrateMs: search };
}

window.bench = { setup, load, names, run, check, calibration, unload };
document.body.dataset.ready = "true";
