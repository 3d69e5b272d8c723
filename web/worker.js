// exitwise demo — the inference worker (a module worker). The page runs two of these:
//   * "interactive": traces the current input once, then answers decide() for any thresholds
//     and runs real early-exit classify() calls;
//   * "evaluation": traces the test pack (and, on demand, the calibration pack) once, then
//     answers Evaluation.summary() for any thresholds, the frontier and calibrate().
// Both keep the main thread free. Requests are handled one at a time in arrival order (a queue),
// so a load (async fetches) or a running call (a Promise) never interleaves with another.
//
// Protocol: the page posts { rid, type, args }; the worker answers { rid, ok: true, result }
// or { rid, ok: false, error: { message, code } }, and may post { rid, progress } before that.

import init, { Model } from "../crate/pkg/exitwise.js";

let ready = null; // Promise of the wasm module's initialisation
let model = null;
let info = null;
let testPack = null; // LabelledSet of the bundle's test pack, if any
const evaluations = new Map(); // "test" | "calibration" → Evaluation
let current = null; // { id, input: Float32Array, trace }

function post(msg, transfer) {
  self.postMessage(msg, transfer || []);
}

function errorOf(e) {
  if (e && typeof e === "object") {
    return { message: String(e.message || e), code: e.code || null, name: e.name || "Error" };
  }
  return { message: String(e), code: null, name: "Error" };
}

function need(cond, message, code = "DEMO") {
  if (!cond) {
    const e = new Error(message);
    e.code = code;
    throw e;
  }
}

function packImages(set, first, count) {
  const len = set.images.length / set.count;
  const n = Math.min(count, set.count - first);
  return {
    images: set.images.slice(first * len, (first + n) * len),
    labels: set.labels.slice(first, first + n),
    count: n,
  };
}

async function evaluation(kind, progress) {
  let ev = evaluations.get(kind);
  if (ev) return ev;
  const set = kind === "test" ? testPack : model.calibrationPack();
  need(set, `this bundle has no ${kind === "test" ? "test" : "calibration"} pack`);
  const started = performance.now();
  ev = await model.evaluate(set.images, set.labels, (p) => progress({ kind, done: p.done, total: p.total }));
  ev.elapsedMs = performance.now() - started;
  evaluations.set(kind, ev);
  return ev;
}

const handlers = {
  async load({ url, gallery, backend = "auto" }, progress) {
    if (!ready) ready = init();
    await ready;
    for (const ev of evaluations.values()) ev.free();
    evaluations.clear();
    if (model) model.free();
    model = null;
    current = null;
    const started = performance.now();
    model = await Model.load(url, { backend, onProgress: (p) => progress({ kind: "load", ...p }) });
    info = model.info();
    testPack = info.hasTestPack ? model.testPack() : null;
    if (testPack) await model.classify(packImages(testPack, 0, 1).images); // warm-up: first-run costs stay out of the timings
    const result = { info, backend: model.backend, fallbackReason: model.fallbackReason ?? null, loadMs: performance.now() - started, testCount: testPack ? testPack.count : 0 };
    if (gallery && testPack) result.gallery = packImages(testPack, 0, gallery);
    return result;
  },

  /** Traces one input: a test-pack image by index, an image (ImageData-like) or raw values. */
  async trace({ source }) {
    need(model, "no model loaded");
    let input;
    if (source.kind === "test") {
      need(testPack && source.index >= 0 && source.index < testPack.count, "no such test image");
      input = packImages(testPack, source.index, 1).images;
    } else if (source.kind === "image") {
      input = model.imageToInput(source.image, { invert: !!source.invert });
    } else {
      input = source.input;
    }
    const started = performance.now();
    const trace = await model.trace(input);
    const traceMs = performance.now() - started;
    current = { id: source.id, input, trace };
    return { id: source.id, input, trace, traceMs };
  },

  decide({ id, thresholds }) {
    need(current && current.id === id, "stale input", "STALE");
    return { id, thresholds, decision: model.decide(current.trace, thresholds) };
  },

  /** A real early-exit run, `repeat` times: the last result, with every run's elapsedMs. */
  async classify({ id, thresholds, repeat = 1 }) {
    need(current && current.id === id, "stale input", "STALE");
    const times = [];
    let result;
    for (let i = 0; i < repeat; i++) {
      result = await model.classify(current.input, thresholds);
      times.push(result.elapsedMs);
    }
    return { id, thresholds, result, times };
  },

  async evaluate({ kind }, progress) {
    need(model, "no model loaded");
    const ev = await evaluation(kind, progress);
    // For context in the plot: the same threshold at every early exit, 0.00 … 1.00.
    const k = info.exits.length - 1;
    const uniform = [];
    for (let s = 0; k > 0 && s <= 100; s++) {
      const r = ev.summary(new Array(k).fill(s / 100));
      uniform.push({ threshold: s / 100, accuracy: r.accuracy, macsSavedFraction: r.macsSavedFraction });
    }
    return {
      kind,
      count: ev.count,
      elapsedMs: ev.elapsedMs,
      frontier: ev.frontier(),
      uniform,
      exitAccuracies: ev.exitAccuracies(),
    };
  },

  summary({ kind = "test", thresholds }) {
    const ev = evaluations.get(kind);
    need(ev, `the ${kind} pack is not evaluated yet`);
    return ev.summary(thresholds);
  },

  async calibrate({ maxDrop }, progress) {
    need(model, "no model loaded");
    const ev = await evaluation("calibration", progress);
    const thresholds = ev.calibrate(maxDrop);
    return { thresholds, count: ev.count, summary: ev.summary(thresholds) };
  },
};

let queue = Promise.resolve();

self.onmessage = (event) => {
  const msg = event.data;
  queue = queue.then(async () => {
    const handler = handlers[msg.type];
    try {
      need(handler, `unknown request ${msg.type}`);
      const result = await handler(msg.args || {}, (progress) => post({ rid: msg.rid, progress }));
      post({ rid: msg.rid, ok: true, result });
    } catch (e) {
      post({ rid: msg.rid, ok: false, error: errorOf(e) });
    }
  });
};
