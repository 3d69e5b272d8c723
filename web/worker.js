// exitwise demo — the inference worker (a module worker). The page runs exactly one: it holds
// the only copy of the model and
//   * traces the current input once, then answers decide() for any thresholds;
//   * times real early-exit classify() runs against the plain network, alternating, on the
//     current input and over the test pack;
//   * traces the test pack (and, on demand, the calibration pack) and answers summaries at any
//     thresholds, the frontier and calibrate().
// Requests are handled one at a time in arrival order (a queue), so nothing ever runs beside a
// timing, and a load (async fetches) or a running call (a Promise) never interleaves with
// another. Long jobs come as many short requests from the page (the test pack is traced a few
// hundred images per `evalChunk`, timed a few dozen per `timePack`), so a slider's decide()
// waits for one chunk at most, never for the whole pack.
//
// Protocol: the page posts { rid, type, args }; the worker answers { rid, ok: true, result }
// or { rid, ok: false, error: { message, code } }, and may post { rid, progress } before that.

import init, { Model } from "../crate/pkg/exitwise.js";

let ready = null; // Promise of the wasm module's initialisation
let model = null;
let info = null;
let testPack = null; // LabelledSet of the bundle's test pack, if any
let plain = null; // how the plain network is run: { full, kind, ones }
let tested = null; // the test pack traced so far: { chunks: [{ ev, count }], count, ms, finished }
let calibration = null; // Evaluation of the calibration pack, once calibrate() asked for it
let current = null; // { id, input: Float32Array, trace }

// Most threshold combinations the frontier sweep evaluates (as in the library's
// Evaluation.frontier, which this sweep reproduces over the chunks; see frontierOf).
const FRONTIER_BUDGET = 20_000;

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
  if (tested) for (const c of tested.chunks) c.ev.free();
  tested = null;
  if (calibration) calibration.free();
  calibration = null;
  if (model) model.free();
  model = null;
  current = null;
}

// ---------------------------------------------------------------------------------------------
// The plain network, and timing

/**
 * The plain network: `model.classifyFull` (every segment and the final classifier, and only the
 * exit heads the final classifier consumes) where the package has it. Older packages lack it;
 * then the nearest run is classify() with every threshold at 1.0 — every exit head evaluated,
 * which costs more than the plain network, so it is labelled that way and never called "plain".
 */
function plainOf(m, inf) {
  if (typeof m.classifyFull === "function") return { full: true, kind: "plain" };
  return { full: false, kind: "every exit evaluated", ones: new Array(inf.exits.length - 1).fill(1) };
}

function runPlain(input) {
  return plain.full ? model.classifyFull(input) : model.classify(input, plain.ones);
}

/**
 * One early-exit run and one plain run of `input`, in an order that alternates with `flip`
 * (so neither side always runs second, on caches the other warmed). Both times are the
 * library's own `elapsedMs`, measured the same way inside the same call path.
 */
async function pair(input, thresholds, flip) {
  let r, p;
  if (flip) {
    p = await runPlain(input);
    r = await model.classify(input, thresholds);
  } else {
    r = await model.classify(input, thresholds);
    p = await runPlain(input);
  }
  return { r, p };
}

/** True when a plain-network stand-in really ran to the final classifier. */
function reachedEnd(p) {
  return p.exit === info.exits.length - 1;
}

// ---------------------------------------------------------------------------------------------
// The test pack, traced in chunks

/**
 * Summary of the whole traced pack at `thresholds`, from the chunks' own Evaluation.summary:
 * their integer counts (right answers, MACs, exits) are recovered exactly and added, then
 * divided as the library divides, so the result is bit-identical to one Evaluation of the
 * whole pack (the page test checks this against Evaluation.summary and the CLI).
 */
function summaryOf(thresholds) {
  let right = 0, finalRight = 0, macs = 0, n = 0, histogram = null, first = null;
  for (const { ev, count } of tested.chunks) {
    const s = ev.summary(thresholds);
    right += Math.round(s.accuracy * count);
    finalRight += Math.round(s.finalAccuracy * count);
    macs += Math.round(s.meanMacs * count);
    n += count;
    histogram = histogram ? histogram.map((h, i) => h + s.histogram[i]) : s.histogram.slice();
    first = first || s;
  }
  const meanMacs = macs / n;
  return {
    count: n,
    thresholds: first.thresholds,
    accuracy: right / n,
    finalAccuracy: finalRight / n,
    meanMacs,
    macsFull: first.macsFull,
    macsSavedFraction: 1 - meanMacs / Math.max(first.macsFull, 1),
    histogram,
  };
}

/** (right answers, MACs executed) over the whole pack at `t` (a Float32Array: the fast path). */
function scoreOf(t) {
  let right = 0, macs = 0;
  for (const { ev, count } of tested.chunks) {
    const s = ev.summary(t);
    right += Math.round(s.accuracy * count);
    macs += Math.round(s.meanMacs * count);
  }
  return { right, macs };
}

/**
 * The threshold grid of the library's Evaluation.frontier: as fine as its budget of
 * combinations allows; the sweep visits grid^k in odometer order (the first exit fastest).
 */
function sweepOf() {
  const k = info.exits.length - 1;
  let steps = 100;
  while (k > 0 && (steps + 1) ** k > FRONTIER_BUDGET) {
    steps = steps > 20 ? Math.floor(steps / 2) : steps - 1;
    if (steps <= 2) break;
  }
  const grid = [];
  for (let s = 0; s <= steps; s++) grid.push(Math.fround(s / steps)); // = s as f32 / steps as f32
  return { k, grid, total: grid.length ** k, points: [] };
}

/**
 * The frontier of the whole pack from the swept points, by the library's rule: cheapest first,
 * a point kept only if more accurate than every cheaper one, then most saving first. The page
 * test compares it point for point with Evaluation.frontier of one Evaluation of the pack.
 */
function frontierOf(points) {
  const n = tested.count;
  const sorted = points.slice().sort((a, b) => a.macs - b.macs || b.right - a.right);
  const total = info.macsFull * n;
  const frontier = [];
  let best = -1;
  for (const p of sorted) {
    if (p.right > best) {
      best = p.right;
      frontier.push({ thresholds: Array.from(p.t), accuracy: p.right / n, macsSavedFraction: total === 0 ? 0 : 1 - p.macs / total });
    }
  }
  return frontier.reverse();
}

function exitAccuraciesOf() {
  const right = new Array(info.exits.length).fill(0);
  for (const { ev, count } of tested.chunks) ev.exitAccuracies().forEach((a, e) => (right[e] += Math.round(a * count)));
  return right.map((r) => r / tested.count);
}

async function calibrationEvaluation(progress) {
  if (calibration) return calibration;
  const set = model.calibrationPack();
  need(set, "this bundle has no calibration pack");
  calibration = await model.evaluate(set.images, set.labels, (p) => progress({ kind: "calibration", done: p.done, total: p.total }));
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
    plain = plainOf(model, info);
    testPack = info.hasTestPack ? model.testPack() : null;
    if (testPack) {
      // Warm-up: first-run costs (plans, allocations) stay out of every timing.
      const first = packImages(testPack, 0, 1).images;
      await model.classify(first);
      await runPlain(first);
    }
    const result = {
      info,
      backend: model.backend,
      fallbackReason: model.fallbackReason ?? null,
      loadMs: performance.now() - started,
      testCount: testPack ? testPack.count : 0,
      plainKind: plain.kind,
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
    let result, plainResult, spent = 0;
    for (let i = 0; i < maxRuns && (i < minRuns || spent < budgetMs); i++) {
      const { r, p } = await pair(current.input, thresholds, i % 2 === 1);
      exitTimes.push(r.elapsedMs);
      plainTimes.push(p.elapsedMs);
      spent += r.elapsedMs + p.elapsedMs;
      result = r;
      plainResult = p;
    }
    return {
      id, thresholds, result, exitTimes, plainTimes,
      plainKind: plain.kind,
      plainExit: plainResult.exit,
      plainExitName: plainResult.exitName,
      plainComplete: plain.full || reachedEnd(plainResult),
      plainMacs: plainResult.macsExecuted,
    };
  },

  /**
   * Times test-pack images [from, from + count): each one early exit at `thresholds` and plain,
   * alternating which goes first. Sums of the library's elapsedMs and of MACs executed.
   */
  async timePack({ from, count, thresholds }) {
    need(testPack, "this bundle has no test pack");
    const n = Math.min(count, testPack.count - from);
    need(n > 0, "no such test images");
    const len = testPack.images.length / testPack.count;
    let exitMs = 0, plainMs = 0, exitMacs = 0, plainMacs = 0, notPlain = 0;
    for (let i = from; i < from + n; i++) {
      const input = testPack.images.subarray(i * len, (i + 1) * len);
      const { r, p } = await pair(input, thresholds, i % 2 === 1);
      exitMs += r.elapsedMs;
      plainMs += p.elapsedMs;
      exitMacs += r.macsExecuted;
      plainMacs += p.macsExecuted;
      if (!plain.full && !reachedEnd(p)) notPlain++;
    }
    return { from, count: n, total: testPack.count, thresholds, exitMs, plainMs, exitMacs, plainMacs, notPlain, plainKind: plain.kind };
  },

  /**
   * Traces test-pack images [from, from + count) as one Evaluation (chunks must come in order;
   * `from` 0 starts over). The page sends these one after another, so other requests run
   * between them.
   */
  async evalChunk({ from, count }) {
    need(model, "no model loaded");
    need(testPack, "this bundle has no test pack");
    if (from === 0) {
      if (tested) for (const c of tested.chunks) c.ev.free();
      tested = { chunks: [], count: 0, ms: 0, finished: false };
    }
    need(tested && tested.count === from && !tested.finished, `test chunks out of order at ${from}`);
    const part = packImages(testPack, from, count);
    need(part.count > 0, "no such test images");
    const started = performance.now();
    const ev = await model.evaluate(part.images, part.labels);
    const ms = performance.now() - started;
    tested.chunks.push({ ev, count: part.count });
    tested.count += part.count;
    tested.ms += ms;
    return { done: tested.count, total: testPack.count, ms, tracedMs: tested.ms };
  },

  /** After the last chunk: exit accuracies and the uniform-threshold curve. */
  evalFinish() {
    need(tested && tested.count === testPack.count, "the test pack is not traced yet");
    // For context in the plot: the same threshold at every early exit, 0.00 … 1.00.
    const k = info.exits.length - 1;
    const uniform = [];
    for (let s = 0; k > 0 && s <= 100; s++) {
      const r = summaryOf(new Array(k).fill(s / 100));
      uniform.push({ threshold: s / 100, accuracy: r.accuracy, macsSavedFraction: r.macsSavedFraction });
    }
    tested.finished = true;
    tested.sweep = sweepOf();
    return {
      kind: "test",
      count: tested.count,
      chunks: tested.chunks.length,
      elapsedMs: tested.ms,
      uniform,
      exitAccuracies: exitAccuraciesOf(),
      sweepTotal: tested.sweep.total,
    };
  },

  /**
   * Scores grid points [from, from + count) of the frontier sweep (in order; the page sends
   * these one after another, so other requests run between them). With the last one, the
   * frontier.
   */
  sweep({ from, count }) {
    need(tested && tested.finished, "the test pack is not evaluated yet", "STALE");
    const sw = tested.sweep;
    need(from === sw.points.length, `sweep out of order at ${from}`);
    const started = performance.now();
    const end = Math.min(sw.total, from + count);
    const len = sw.grid.length;
    for (let p = from; p < end; p++) {
      const t = new Float32Array(sw.k);
      for (let d = 0, q = p; d < sw.k; d++, q = Math.floor(q / len)) t[d] = sw.grid[q % len];
      sw.points.push({ ...scoreOf(t), t });
    }
    const result = { done: end, total: sw.total, ms: performance.now() - started };
    if (end === sw.total) result.frontier = frontierOf(sw.points);
    return result;
  },

  summary({ thresholds }) {
    need(tested && tested.finished, "the test pack is not evaluated yet", "STALE");
    return summaryOf(thresholds);
  },

  /** Traces the calibration pack (once, in one call: the user asked and waits for it). */
  async calibrate({ maxDrop }, progress) {
    need(model, "no model loaded");
    const started = performance.now();
    const ev = await calibrationEvaluation(progress);
    const thresholds = ev.calibrate(maxDrop);
    return { thresholds, count: ev.count, summary: ev.summary(thresholds), elapsedMs: performance.now() - started };
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
