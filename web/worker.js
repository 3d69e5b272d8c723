// exitwise demo — the inference worker (a module worker). The page runs exactly one: it holds
// the only copy of the model and
//   * traces the current input once, then answers decide() for any thresholds;
//   * times real early-exit classify() runs against the plain network (classifyFull),
//     alternating, on the current input and over the test pack;
//   * traces the test pack into one Evaluation (chunk by chunk, appended) and the calibration
//     pack on demand, and answers summaries at any thresholds, exit accuracies, the frontier and
//     calibrate() from the library's own Evaluation methods (no rule is recomputed here).
// Requests are handled one at a time in arrival order (a queue), so nothing ever runs beside a
// timing, and a load (async fetches) or a running call (a Promise) never interleaves with
// another. Long jobs come as many short requests from the page (the test pack is traced a few
// hundred images per `evalChunk`, timed a few dozen per `timePack`), so a slider's decide()
// waits for one request at most (a chunk, or the one Evaluation.frontier call), never for the
// whole pack.
//
// Protocol: the page posts { rid, type, args }; the worker answers { rid, ok: true, result }
// or { rid, ok: false, error: { message, code } }, and may post { rid, progress } before that.

import init, { Model } from "../crate/pkg/exitwise.js";

let ready = null; // Promise of the wasm module's initialisation
let model = null;
let info = null;
let testPack = null; // LabelledSet of the bundle's test pack, if any
let tested = null; // the test pack traced so far: { ev: Evaluation, count, chunks, ms, finished }
let calibration = null; // Evaluation of the calibration pack, once calibrate() asked for it
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

function freeAll() {
  freeTested();
  if (calibration) calibration.ev.free();
  calibration = null;
  if (model) model.free();
  model = null;
  current = null;
}

// ---------------------------------------------------------------------------------------------
// Timing

/**
 * One early-exit run and one plain-network run (`classifyFull`: every segment and the final
 * classifier) of `input`, in an order that alternates with `flip` (so neither side always runs
 * second, on caches the other warmed). Both times are the library's own `elapsedMs`.
 */
async function pair(input, thresholds, flip) {
  let r, p;
  if (flip) {
    p = await model.classifyFull(input);
    r = await model.classify(input, thresholds);
  } else {
    r = await model.classify(input, thresholds);
    p = await model.classifyFull(input);
  }
  return { r, p };
}

// ---------------------------------------------------------------------------------------------
// The test pack: one Evaluation, grown chunk by chunk with Evaluation.append

function freeTested() {
  if (tested && tested.ev) tested.ev.free();
  tested = null;
}

/** The Evaluation of the whole traced test pack (every number the page shows comes from it). */
function testEvaluation() {
  need(tested && tested.finished, "the test pack is not evaluated yet", "STALE");
  return tested.ev;
}

// The bundle's calibration trace when it ships one (no image is run: the runtime traced the whole
// validation split when the bundle was made), else its calibration pack, traced now.
async function calibrationEvaluation(progress) {
  if (calibration) return calibration;
  const fromTrace = model.calibrationEvaluation();
  if (fromTrace) {
    calibration = { ev: fromTrace, source: "trace" };
    return calibration;
  }
  const set = model.calibrationPack();
  need(set, "this bundle has neither a calibration trace nor a calibration pack");
  const ev = await model.evaluate(set.images, set.labels, (p) => progress({ kind: "calibration", done: p.done, total: p.total }));
  calibration = { ev, source: "pack" };
  return calibration;
}

// ---------------------------------------------------------------------------------------------

const handlers = {
  async load({ url, gallery, backend = "auto" }, progress) {
    if (!ready) ready = init();
    await ready;
    freeAll();
    const started = performance.now();
    model = await Model.load(url, { backend, onProgress: (p) => progress({ kind: "load", ...p }) });
    info = model.info();
    testPack = info.hasTestPack ? model.testPack() : null;
    if (testPack) {
      // Warm-up: first-run costs (plans, allocations) stay out of every timing.
      const first = packImages(testPack, 0, 1).images;
      await model.classify(first);
      await model.classifyFull(first);
    }
    const result = {
      info,
      backend: model.backend,
      fallbackReason: model.fallbackReason ?? null,
      backendReason: model.backendReason,
      loadMs: performance.now() - started,
      testCount: testPack ? testPack.count : 0,
    };
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

  /**
   * The current input, early exit at `thresholds` against the plain network, alternating:
   * at least `minRuns` pairs, more until both sides have run for `budgetMs` together (the
   * timer is coarse, so short runs need many samples), at most `maxRuns`. Every run's time.
   */
  async time({ id, thresholds, minRuns = 9, maxRuns = 101, budgetMs = 40 }) {
    need(current && current.id === id, "stale input", "STALE");
    const exitTimes = [], plainTimes = [];
    let result, spent = 0;
    for (let i = 0; i < maxRuns && (i < minRuns || spent < budgetMs); i++) {
      const { r, p } = await pair(current.input, thresholds, i % 2 === 1);
      exitTimes.push(r.elapsedMs);
      plainTimes.push(p.elapsedMs);
      spent += r.elapsedMs + p.elapsedMs;
      result = r;
    }
    return { id, thresholds, result, exitTimes, plainTimes };
  },

  /**
   * Times test-pack images [from, from + count): each one early exit at `thresholds` and plain,
   * alternating which goes first. Sums of the library's elapsedMs, and of its macsExecuted (to
   * show the timed runs did the work Evaluation.summary counts; not displayed).
   */
  async timePack({ from, count, thresholds }) {
    need(testPack, "this bundle has no test pack");
    const n = Math.min(count, testPack.count - from);
    need(n > 0, "no such test images");
    const len = testPack.images.length / testPack.count;
    let exitMs = 0, plainMs = 0, exitMacs = 0, plainMacs = 0;
    for (let i = from; i < from + n; i++) {
      const input = testPack.images.subarray(i * len, (i + 1) * len);
      const { r, p } = await pair(input, thresholds, i % 2 === 1);
      exitMs += r.elapsedMs;
      plainMs += p.elapsedMs;
      exitMacs += r.macsExecuted;
      plainMacs += p.macsExecuted;
    }
    return { from, count: n, total: testPack.count, thresholds, exitMs, plainMs, exitMacs, plainMacs };
  },

  /**
   * Traces test-pack images [from, from + count) and appends their Evaluation to the pack's
   * (chunks must come in order; `from` 0 starts over). The page sends these one after another,
   * so other requests run between them.
   */
  async evalChunk({ from, count }) {
    need(model, "no model loaded");
    need(testPack, "this bundle has no test pack");
    if (from === 0) {
      freeTested();
      tested = { ev: null, count: 0, chunks: 0, ms: 0, finished: false };
    }
    need(tested && tested.count === from && !tested.finished, `test chunks out of order at ${from}`);
    const part = packImages(testPack, from, count);
    need(part.count > 0, "no such test images");
    const started = performance.now();
    const ev = await model.evaluate(part.images, part.labels);
    if (!tested.ev) {
      tested.ev = ev;
    } else {
      try {
        tested.ev.append(ev);
      } finally {
        ev.free();
      }
    }
    const ms = performance.now() - started;
    tested.count = tested.ev.count;
    tested.chunks++;
    tested.ms += ms;
    return { done: tested.count, total: testPack.count, ms, tracedMs: tested.ms };
  },

  /** After the last chunk: exit accuracies and the uniform-threshold curve. */
  evalFinish() {
    need(tested && tested.count === testPack.count, "the test pack is not traced yet");
    tested.finished = true;
    const ev = tested.ev;
    // For context in the plot: the same threshold at every early exit, 0.00 … 1.00.
    const k = info.exits.length - 1;
    const uniform = [];
    for (let s = 0; k > 0 && s <= 100; s++) {
      const r = ev.summary(new Array(k).fill(s / 100));
      uniform.push({ threshold: s / 100, accuracy: r.accuracy, macsSavedFraction: r.macsSavedFraction });
    }
    return { kind: "test", count: ev.count, chunks: tested.chunks, elapsedMs: tested.ms, uniform, exitAccuracies: ev.exitAccuracies() };
  },

  /** The accuracy-vs-cost frontier of the whole test pack: Evaluation.frontier, in one call. */
  frontier() {
    const ev = testEvaluation();
    const started = performance.now();
    const frontier = ev.frontier();
    return { frontier, ms: performance.now() - started };
  },

  summary({ thresholds }) {
    return testEvaluation().summary(thresholds);
  },

  /** Calibrates on the bundle's calibration trace, else on its calibration pack (traced once, in
   *  one call: the user asked and waits for it). calibrateMs: the Learn-then-Test search alone. */
  async calibrate({ maxDrop }, progress) {
    need(model, "no model loaded");
    const started = performance.now();
    const { ev, source } = await calibrationEvaluation(progress);
    const searched = performance.now();
    const certified = ev.calibrate(maxDrop, { delta: 0.1 });
    const done = performance.now();
    const thresholds = certified.thresholds;
    return { thresholds, certified, source, count: ev.count, summary: ev.summary(thresholds),
             elapsedMs: done - started, calibrateMs: done - searched };
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
