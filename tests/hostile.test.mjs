// "Nothing crosses the JS boundary uncaught" (issue 15): the real package (crate/pkg) in real
// Chromium takes a flood of bad calls — the mistakes a careless app or a hostile caller makes:
// buffers transferred to a worker, getters and Proxy traps that throw, revoked Proxies, forged
// traces, Int32Array labels, hostile bundle sources — interleaved with good calls. Every bad call
// must throw or reject with an `ExitwiseError` carrying the stable code its kind calls for, and
// the wasm instance must live through all of it: good calls keep giving the same answer, wasm
// memory stays flat after warm-up, so does the number of JS values Rust holds (live slots of
// wasm-bindgen's externref table: a caught exception whose slot is never freed shows there long
// before it shows in memory), no Rust frame is left "running" (a JS exception unwinding through
// Rust would leave `__exitwiseRunning() > 0`), no page or console error, no unhandled rejection,
// and a fresh `Model.load` works at the end.
//
//   cd tests && node --test hostile.test.mjs       (after crate/pkg is built; needs models/tiny-mnist)
//
// Environment: CHROMIUM=/path/to/chromium (default /usr/bin/chromium); HOSTILE_CALLS=N makes N
// bad calls of each kind instead of 100,000 (a quick local run; at least 10,000).
//
// Structure: `before` opens tests/hostile.html, imports the package, loads tiny-mnist on the CPU
// and installs the page-side harness (`installHarness`, every kind's bad calls). The first test
// makes the first 5,000 calls of every kind (warm-up) and measures wasm memory and live externref
// slots; one test per kind then makes the rest and checks every outcome, and that memory and live
// slots are flat over them; the last test checks both against the warm-up values, the
// running-frame count, fresh loads, and the page's error log. Calls are made in
// chunks of 1,000 inside the page (one page.evaluate per kind), every chunk raced against a 5 s
// timeout (a call that never settles fails the kind), and after every chunk the good calls run.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { startServer, ROOT } from "./server.mjs";

const PKG = join(ROOT, "crate", "pkg", "exitwise.js");
const BUNDLE = join(ROOT, "models", "tiny-mnist", "manifest.json");
const CALLS = Number(process.env.HOSTILE_CALLS || 100_000);
const WARMUP = 5_000;
const CHUNK = 1_000;
const CHROME_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic", "--headless=new"];
const CODES = ["BAD_MANIFEST", "MISSING_FILE", "BUNDLE_HASH_MISMATCH", "BAD_ONNX", "SHAPE_MISMATCH", "UNSUPPORTED_OP", "BAD_INPUT", "BAD_THRESHOLD", "BAD_PACK", "BACKEND", "INSTANCE_CRASHED"];

/** The kinds, in order: [id, calls, what the calls are]. */
const KINDS = [
  ["detached", CALLS, "inputs whose ArrayBuffer was transferred (classify, trace, classifyFull, ImageLike.data) → BAD_INPUT"],
  ["proxyThresholds", CALLS, "thresholds a Proxy whose get trap throws, a revoked Proxy, a throwing element getter or toJSON (classify, decide) → BAD_THRESHOLD"],
  ["badThresholds", CALLS, "thresholds holding NaN, Infinity, 5, −3, \"x\", null, or of the wrong length → BAD_THRESHOLD"],
  ["imageOptions", CALLS, "image options whose `invert` getter throws, with an ImageLike or ImageData input (classify, trace, imageToInput) → BAD_INPUT"],
  ["imageGetters", CALLS, "an ImageLike whose data/width getter throws, a revoked Proxy, a Proxy whose traps throw, as the input → BAD_INPUT"],
  ["evaluateArgs", CALLS, "evaluate(null, labels), Int32Array labels (as is and +256, which would wrap mod 256), label 300, too few labels → BAD_INPUT"],
  ["forgedTraces", CALLS, "decide with forged traces: NaN, unnormalised, confidence 5 / −3, class 99, class ≠ argmax, missing exit, throwing getter, throwing Proxy → BAD_INPUT"],
  ["imageToInput", CALLS, "imageToInput of a Float32Array of the wrong length or holding NaN / 1e9 / −Infinity, classify of 1e9 → BAD_INPUT"],
  ["classifyBatch", CALLS, "classifyBatch with count { valueOf() { throw } }, \"2\", −1, 3 for 2 images, or detached images → BAD_INPUT"],
  ["load", CALLS, "Model.load of a throwing Proxy (of a Map, of an object), a revoked Proxy, a file getter that throws, a Map of transferred buffers, a Map subclass whose methods throw; options whose backend/onProgress getter throws → BAD_MANIFEST / MISSING_FILE (sources), BACKEND (options)"],
  ["summary", CALLS, "Evaluation.summary of a throwing Proxy, a revoked Proxy, a throwing element getter, NaN → BAD_THRESHOLD"],
];

let browser, server, base, page;
const errors = [];
const totals = {}; // kind → { variant → { outcome → count } }
const samples = {}; // `${kind}/${variant}/${outcome}` → first message
let setup, memAfterWarmup, refsAfterWarmup;
const started = performance.now();

before(async () => {
  assert.ok(existsSync(PKG), `no wasm package at ${PKG}: build it first (./dev builds it)`);
  assert.ok(existsSync(BUNDLE), `no tiny-mnist bundle at ${BUNDLE}`);
  assert.ok(CALLS >= 2 * WARMUP, `HOSTILE_CALLS must be at least ${2 * WARMUP}`);
  ({ server, url: base } = await startServer());
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: CHROME_ARGS });
  const context = await browser.newContext();
  // An unhandled rejection or uncaught error in the page is a failure, whoever's it is.
  await context.addInitScript(() => {
    window.__unhandled = [];
    addEventListener("unhandledrejection", (e) => {
      const r = e.reason;
      window.__unhandled.push(`unhandledrejection: ${r && r.name}: ${r && r.message} (${r && r.code})`);
    });
    addEventListener("error", (e) => window.__unhandled.push(`error event: ${e.message}`));
  });
  page = await context.newPage();
  page.on("console", (m) => m.type() === "error" && errors.push(`console: ${m.text()} (${m.location().url})`));
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("requestfailed", (r) => errors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on("response", (r) => r.status() >= 400 && errors.push(`HTTP ${r.status()}: ${r.url()}`));
  const response = await page.goto(new URL("tests/hostile.html", base).href);
  assert.equal(response.status(), 200);
  setup = await page.evaluate(installHarness, { codes: CODES, chunk: CHUNK });
  console.log(`tiny-mnist on ${setup.backend}: input ${setup.len} values, ${setup.early} early exits; good classify → exit ${setup.good.exit}, class ${setup.good.class}, confidence ${setup.good.confidence}; wasm memory after load ${setup.memory} bytes`);
});

after(async () => {
  if (browser) await browser.close();
  if (server) server.close();
});

/** Runs `n` calls of `kind` in the page and adds its outcomes to the totals. */
async function runKind(kind, n) {
  const r = await page.evaluate(([k, m]) => window.__hostile.run(k, m), [kind, n]);
  const mine = (totals[kind] ??= {});
  for (const v of r.variants) {
    const o = (mine[v.name] ??= { expect: v.expect, outcomes: {} });
    for (const [key, count] of Object.entries(v.outcomes)) {
      o.outcomes[key] = (o.outcomes[key] || 0) + count;
      samples[`${kind}/${v.name}/${key}`] ??= v.samples[key];
    }
  }
  return r;
}

/** Every outcome that is not "threw/rejected ExitwiseError <the expected code>". */
function wrongOutcomes(kind) {
  const wrong = [];
  for (const [name, { expect, outcomes }] of Object.entries(totals[kind])) {
    for (const [key, count] of Object.entries(outcomes)) {
      const [mode, errName, code] = key.split(" ");
      const ok = (mode === "threw" || mode === "rejected") && errName === "ExitwiseError" && CODES.includes(code) && code === expect;
      if (!ok) wrong.push(`${kind}/${name}: ${count} × ${key} (expected ExitwiseError ${expect}); first: ${samples[`${kind}/${name}/${key}`]}`);
    }
  }
  return wrong;
}

function table(kind) {
  const lines = [];
  for (const [name, { expect, outcomes }] of Object.entries(totals[kind])) {
    for (const [key, count] of Object.entries(outcomes)) {
      lines.push(`${kind.padEnd(15)} ${name.padEnd(34)} ${String(count).padStart(7)}  ${key.padEnd(36)} expect ${expect}`);
    }
  }
  return lines;
}

const fmt = (n) => n.toLocaleString("en-US");
const refsText = (r) => (r.live === null ? "not exported" : `${fmt(r.live)} live slots of ${fmt(r.size)}`);

test(`warm-up: the first ${fmt(WARMUP)} bad calls of each of the ${KINDS.length} kinds; wasm memory and live externref slots measured after`, { timeout: 300_000 }, async (t) => {
  const t0 = performance.now();
  for (const [kind] of KINDS) {
    const r = await runKind(kind, WARMUP);
    assert.equal(r.hung, 0, `${kind}: ${r.hung} calls never settled within 5 s`);
    assert.deepEqual(r.goodFailures, [], `${kind}: good calls went wrong during warm-up`);
  }
  memAfterWarmup = await page.evaluate(() => window.__hostile.memory());
  refsAfterWarmup = await page.evaluate(() => window.__hostile.refs());
  t.diagnostic(`warm-up: ${fmt(WARMUP * KINDS.length)} bad calls in ${((performance.now() - t0) / 1000).toFixed(1)} s; wasm memory after warm-up ${fmt(memAfterWarmup)} bytes (after load: ${fmt(setup.memory)}); externref table: ${refsText(refsAfterWarmup)} after warm-up (after load: ${refsText(setup.refs)})`);
});

for (const [i, [kind, calls, what]] of KINDS.entries()) {
  test(`kind ${i + 1}, ${kind} (${fmt(calls)} bad calls, a good classify/decide/summary every ${fmt(CHUNK)}): ${what}`, { timeout: 300_000 }, async (t) => {
    const r = await runKind(kind, calls - WARMUP);
    t.diagnostic(`${kind}: ${fmt(calls)} bad calls (${fmt(calls - WARMUP)} after warm-up in ${(r.ms / 1000).toFixed(1)} s, ${((r.ms * 1000) / (calls - WARMUP)).toFixed(1)} µs per call with the good checks); ${r.goodChecks} good checks; wasm memory ${fmt(r.memStart)} → ${fmt(r.memEnd)} bytes; externref table ${refsText(r.refsStart)} → ${refsText(r.refsEnd)}; __exitwiseRunning() ${r.running}`);
    for (const l of table(kind)) t.diagnostic(l);
    const counted = Object.values(totals[kind]).reduce((s, v) => s + Object.values(v.outcomes).reduce((a, b) => a + b, 0), 0);
    // Every check is made and every failure reported together.
    const problems = [];
    const check = (ok, what) => ok || problems.push(what);
    check(counted === calls, `every call has an outcome: ${counted} of ${calls}`);
    check(r.hung === 0, `${r.hung} calls never settled within 5 s`);
    problems.push(...wrongOutcomes(kind));
    problems.push(...r.goodFailures.map((f) => `good call: ${f}`));
    check(r.goodChecks >= Math.floor((calls - WARMUP) / CHUNK), `only ${r.goodChecks} good checks were made`);
    check(r.memEnd === r.memStart, `wasm memory is not flat over ${fmt(calls - WARMUP)} bad calls: ${fmt(r.memStart)} → ${fmt(r.memEnd)} bytes`);
    check(r.refsEnd.live === r.refsStart.live, `JS values left held by Rust: live externref slots ${fmt(r.refsStart.live)} → ${fmt(r.refsEnd.live)} over ${fmt(calls - WARMUP)} bad calls`);
    check(r.running === 0, `__exitwiseRunning() is ${r.running}: Rust frames left running`);
    assert.deepEqual(problems, [], `${kind}: every bad call fails with its ExitwiseError and leaves the instance as it was`);
  });
}

test("after every kind: memory and live externref slots flat since warm-up, no Rust frame running, a fresh Model.load works (from the URL and from a Map subclass whose methods throw), no page error", { timeout: 120_000 }, async (t) => {
  const end = await page.evaluate(() => window.__hostile.finish());
  const total = KINDS.reduce((s, [, n]) => s + n, 0);
  const seconds = (performance.now() - started) / 1000;
  const summary = [
    `bad calls: ${fmt(total)} (${KINDS.map(([k, n]) => `${k} ${fmt(n)}`).join(", ")})`,
    `wall time: ${seconds.toFixed(1)} s for the whole file (browser start, load, warm-up, every kind, fresh load)`,
    `wasm memory: ${fmt(setup.memory)} after load, ${fmt(memAfterWarmup)} after warm-up, ${fmt(end.memBeforeLoad)} after the last bad call, ${fmt(end.memAfterLoad)} after the fresh loads`,
    `externref table: ${refsText(setup.refs)} after load, ${refsText(refsAfterWarmup)} after warm-up, ${refsText(end.refsBeforeLoad)} after the last bad call`,
    `__exitwiseRunning(): ${end.running} at the end`,
    `fresh load: ${end.fresh.ok ? `classify → exit ${end.fresh.exit}, class ${end.fresh.class}, same answer: ${end.fresh.same}` : `FAILED: ${end.fresh.error}`}`,
    `load of a Map subclass whose methods throw, holding the real bundle: ${end.subclass.ok ? `loads (${end.subclass.files} files), same answer: ${end.subclass.same}` : `FAILED: ${end.subclass.error}`}`,
    `__exitwiseRunning() after the fresh loads: ${end.runningAfter}`,
  ];
  for (const l of summary) t.diagnostic(l);
  t.diagnostic("per kind, variant and outcome (count, how it failed, error name, code):");
  for (const [kind] of KINDS) for (const l of totals[kind] ? table(kind) : []) t.diagnostic(`  ${l}`);
  const wrong = KINDS.flatMap(([kind]) => (totals[kind] ? wrongOutcomes(kind) : [`${kind}: never ran`]));
  const problems = [...wrong];
  const check = (ok, what) => ok || problems.push(what);
  check(end.memBeforeLoad === memAfterWarmup, `wasm memory after the last bad call (${fmt(end.memBeforeLoad)}) differs from its value after warm-up (${fmt(memAfterWarmup)})`);
  check(end.refsBeforeLoad.live === refsAfterWarmup.live, `live externref slots after the last bad call (${fmt(end.refsBeforeLoad.live)}) differ from their count after warm-up (${fmt(refsAfterWarmup.live)}): JS values leaked`);
  check(end.running === 0, `__exitwiseRunning() is ${end.running}: a call unwound through Rust frames`);
  check(end.fresh.ok, `a fresh Model.load failed: ${end.fresh.error}`);
  check(!end.fresh.ok || end.fresh.same, "the fresh model gives another answer than the first model");
  check(end.oldSame, "the first model no longer gives its answer");
  check(end.subclass.ok, `a Map subclass whose methods throw, holding the real bundle, failed to load: ${end.subclass.error}`);
  check(!end.subclass.ok || end.subclass.same, "the model loaded from the Map subclass gives another answer");
  check(end.runningAfter === 0, `__exitwiseRunning() is ${end.runningAfter} after the fresh loads`);
  problems.push(...errors, ...end.unhandled);
  assert.deepEqual(problems, [], "typed errors only, memory and held JS values flat, no Rust frame running, fresh loads work, no page error, console error or unhandled rejection");
});

/**
 * Runs in the page: imports the package, loads tiny-mnist, and installs `window.__hostile`
 * with `run(kind, n)` (n bad calls of `kind`, variants in turn, in chunks raced against 5 s,
 * good calls after every chunk), `memory()` and `finish()`.
 */
async function installHarness({ codes, chunk }) {
  const ew = await import("/crate/pkg/exitwise.js");
  const wasm = await ew.default();
  const memory = () => wasm.memory.buffer.byteLength;
  // wasm-bindgen keeps every JS value Rust holds in this table and nulls a slot when it frees
  // it, so its non-null slots are the JS values Rust holds now: a value never freed stays.
  const table = wasm.__wbindgen_externrefs;
  const liveRefs = () => {
    if (!(table instanceof WebAssembly.Table)) return null;
    let live = 0;
    for (let i = 0; i < table.length; i++) if (table.get(i) !== null) live++;
    return live;
  };
  const refs = () => ({ live: liveRefs(), size: table instanceof WebAssembly.Table ? table.length : null });
  const model = await ew.Model.load("/models/tiny-mnist/", { backend: "cpu" });
  const info = model.info();
  const len = info.input.shape.slice(1).reduce((a, b) => a * b, 1);
  const [, c, h, w] = info.input.shape;
  const early = info.exits.length - 1;
  const T = info.defaultThresholds;
  const pack = model.testPack();
  const good = pack.images.slice(0, len);
  const good2 = pack.images.slice(0, 2 * len);
  const evalN = 4;
  const evalImages = pack.images.slice(0, evalN * len);
  const evalLabels = pack.labels.slice(0, evalN);

  // What a good answer is, compared as JSON without the wall time.
  const key = (r) => JSON.stringify({ ...r, elapsedMs: 0 });
  const refClassify = key(await model.classify(good));
  const trace = await model.trace(good);
  const refDecide = key(model.decide(trace, T));
  const evaluation = await model.evaluate(evalImages, evalLabels);
  const refSummary = JSON.stringify(evaluation.summary(T));
  const goodResult = JSON.parse(refClassify);

  // Hostile values.
  const boom = () => {
    throw new Error("boom");
  };
  const detach = (ta) => {
    structuredClone(ta.buffer, { transfer: [ta.buffer] });
    return ta;
  };
  const revoked = () => {
    const r = Proxy.revocable({}, {});
    r.revoke();
    return r.proxy;
  };
  const throwingProxy = (target) => new Proxy(target, { get: boom, has: boom, ownKeys: boom, getOwnPropertyDescriptor: boom });
  const throwingElement = (arr, i) => Object.defineProperty(arr, i, { get: boom, enumerable: true });
  const rgba = () => {
    const d = new Uint8ClampedArray(w * h * 4);
    for (let i = 0; i < w * h; i++) d.set([good[i % len] * 255, good[i % len] * 255, good[i % len] * 255, 255], i * 4);
    return d;
  };
  const imageLike = { data: rgba(), width: w, height: h };
  const imageData = new ImageData(rgba(), w, h);
  const badOptions = {
    get invert() {
      throw new Error("boom");
    },
  };
  const withValue = (i, v) => {
    const x = good.slice();
    x[i] = v;
    return x;
  };
  const forge = (f) => {
    const t = structuredClone(trace);
    f(t);
    return t;
  };
  const argmin = (p) => p.indexOf(Math.min(...p));
  const class99 = forge((t) => (t.exits[0].class = 99));
  const forged = {
    nan: forge((t) => (t.exits[0].probabilities[1] = NaN)),
    unnormalised: forge((t) => (t.exits[1].probabilities = t.exits[1].probabilities.map((p) => p * 0.5))),
    confidence5: forge((t) => (t.exits[0].confidence = 5)),
    confidenceNeg3: forge((t) => (t.exits[early].confidence = -3)),
    class99,
    notArgmax: forge((t) => (t.exits[0].class = argmin(t.exits[0].probabilities))),
    missingExit: forge((t) => t.exits.pop()),
    getter: {
      get exits() {
        throw new Error("boom");
      },
    },
    proxy: throwingProxy(structuredClone(trace)),
  };
  const int32Labels = new Int32Array(evalLabels);
  const int32Wrapping = Int32Array.from(evalLabels, (l) => l + 256);
  class LazyFiles extends Map {
    entries() {
      throw new Error("not fetched yet");
    }
    [Symbol.iterator]() {
      throw new Error("not fetched yet");
    }
    forEach() {
      throw new Error("not fetched yet");
    }
    get() {
      throw new Error("not fetched yet");
    }
    has() {
      throw new Error("not fetched yet");
    }
    get size() {
      throw new Error("not fetched yet");
    }
  }
  const detachedBuffer = () => {
    const b = new ArrayBuffer(16);
    structuredClone(b, { transfer: [b] });
    return b;
  };
  const bytes = new Uint8Array([123, 125]);

  // Each kind: variants taken in turn; `expect` is the code each call must fail with.
  const v = (name, expect, call) => ({ name, expect, call });
  const KINDS = {
    detached: [
      v("classify(detached)", "BAD_INPUT", () => model.classify(detach(good.slice()))),
      v("trace(detached)", "BAD_INPUT", () => model.trace(detach(good.slice()))),
      v("classifyFull(detached)", "BAD_INPUT", () => model.classifyFull(detach(good.slice()))),
      v("classify({data: detached})", "BAD_INPUT", () => model.classify({ data: detach(rgba()), width: w, height: h })),
    ],
    proxyThresholds: [
      v("classify(x, Proxy get throws)", "BAD_THRESHOLD", () => model.classify(good, throwingProxy([0.9, 0.9]))),
      v("classify(x, revoked Proxy)", "BAD_THRESHOLD", () => model.classify(good, revoked())),
      v("classify(x, element getter)", "BAD_THRESHOLD", () => model.classify(good, throwingElement([0.9, 0.9], 1))),
      v("classify(x, toJSON throws)", "BAD_THRESHOLD", () => model.classify(good, Object.assign([0.9, 0.9], { toJSON: boom }))),
      v("decide(trace, Proxy)", "BAD_THRESHOLD", () => model.decide(trace, throwingProxy([0.9, 0.9]))),
    ],
    badThresholds: [
      v("[0.9, NaN]", "BAD_THRESHOLD", () => model.classify(good, [0.9, NaN])),
      v("[Infinity, 0.9]", "BAD_THRESHOLD", () => model.classify(good, [Infinity, 0.9])),
      v("[5, 0.9]", "BAD_THRESHOLD", () => model.classify(good, [5, 0.9])),
      v("[0.9, -3]", "BAD_THRESHOLD", () => model.classify(good, [0.9, -3])),
      v('["x", 0.9]', "BAD_THRESHOLD", () => model.classify(good, ["x", 0.9])),
      v("[null, 0.9]", "BAD_THRESHOLD", () => model.classify(good, [null, 0.9])),
      v("Float32Array [NaN, 0.5]", "BAD_THRESHOLD", () => model.classify(good, new Float32Array([NaN, 0.5]))),
      v("[0.5] (too few)", "BAD_THRESHOLD", () => model.classify(good, [0.5])),
    ],
    imageOptions: [
      v("classify(ImageLike, T, opts)", "BAD_INPUT", () => model.classify(imageLike, T, badOptions)),
      v("classify(ImageData, undef, opts)", "BAD_INPUT", () => model.classify(imageData, undefined, badOptions)),
      v("trace(ImageLike, opts)", "BAD_INPUT", () => model.trace(imageLike, badOptions)),
      v("imageToInput(ImageData, opts)", "BAD_INPUT", () => model.imageToInput(imageData, badOptions)),
    ],
    imageGetters: [
      v("classify({get data() throws})", "BAD_INPUT", () =>
        model.classify({
          get data() {
            throw new Error("boom");
          },
          width: w,
          height: h,
        }),
      ),
      v("classify({get width() throws})", "BAD_INPUT", () =>
        model.classify({
          data: imageLike.data,
          get width() {
            throw new Error("boom");
          },
          height: h,
        }),
      ),
      v("classify(revoked Proxy)", "BAD_INPUT", () => model.classify(revoked())),
      v("classify(throwing Proxy)", "BAD_INPUT", () => model.classify(throwingProxy({ data: imageLike.data, width: w, height: h }))),
      v("imageToInput(revoked Proxy)", "BAD_INPUT", () => model.imageToInput(revoked())),
    ],
    evaluateArgs: [
      v("evaluate(null, labels)", "BAD_INPUT", () => model.evaluate(null, evalLabels)),
      v("evaluate(x, Int32Array)", "BAD_INPUT", () => model.evaluate(evalImages, int32Labels)),
      v("evaluate(x, Int32Array +256)", "BAD_INPUT", () => model.evaluate(evalImages, int32Wrapping)),
      v("evaluate(x, [.., 300])", "BAD_INPUT", () => model.evaluate(evalImages, [...evalLabels.slice(0, evalN - 1), 300])),
      v("evaluate(x, too few labels)", "BAD_INPUT", () => model.evaluate(evalImages, evalLabels.slice(0, evalN - 1))),
    ],
    forgedTraces: Object.entries(forged).map(([name, t]) => v(`decide(${name})`, "BAD_INPUT", () => model.decide(t, T))),
    imageToInput: [
      v("imageToInput(Float32Array(3))", "BAD_INPUT", () => model.imageToInput(new Float32Array(3))),
      v("imageToInput(NaN)", "BAD_INPUT", () => model.imageToInput(withValue(7, NaN))),
      v("imageToInput(1e9)", "BAD_INPUT", () => model.imageToInput(withValue(len - 1, 1e9))),
      v("imageToInput(-Infinity)", "BAD_INPUT", () => model.imageToInput(withValue(0, -Infinity))),
      v("classify(1e9)", "BAD_INPUT", () => model.classify(withValue(100, 1e9))),
    ],
    classifyBatch: [
      v("count {valueOf throws}", "BAD_INPUT", () =>
        model.classifyBatch(good2, {
          valueOf() {
            throw 1;
          },
        }),
      ),
      v("detached images", "BAD_INPUT", () => model.classifyBatch(detach(good2.slice()), 2)),
      v('count "2"', "BAD_INPUT", () => model.classifyBatch(good2, "2")),
      v("count -1", "BAD_INPUT", () => model.classifyBatch(good2, -1)),
      v("count 3 for 2 images", "BAD_INPUT", () => model.classifyBatch(good2, 3)),
    ],
    load: [
      v("Proxy of a Map, traps throw", "BAD_MANIFEST", () => ew.Model.load(throwingProxy(new Map([["manifest.json", bytes]])))),
      v("Proxy, ownKeys throws", "BAD_MANIFEST", () => ew.Model.load(new Proxy({ "manifest.json": bytes }, { ownKeys: boom }))),
      v("revoked Proxy", "BAD_MANIFEST", () => ew.Model.load(revoked())),
      v("file getter throws", "BAD_MANIFEST", () =>
        ew.Model.load({
          "manifest.json": bytes,
          get "seg0.onnx"() {
            throw new Error("boom");
          },
        }),
      ),
      v("Map of transferred buffers", "BAD_MANIFEST", () => ew.Model.load(new Map([["manifest.json", detachedBuffer()]]))),
      // A genuine Map is read through Map.prototype's own methods, never the subclass's
      // overrides, so it is an empty bundle: no manifest.json.
      v("Map subclass, methods throw", "MISSING_FILE", () => ew.Model.load(new LazyFiles())),
      v("options {get backend() throws}", "BACKEND", () =>
        ew.Model.load("/models/tiny-mnist/", {
          get backend() {
            throw new Error("boom");
          },
        }),
      ),
      v("options {get onProgress() throws}", "BACKEND", () =>
        ew.Model.load("/models/tiny-mnist/", {
          get onProgress() {
            throw new Error("boom");
          },
        }),
      ),
    ],
    summary: [
      v("summary(throwing Proxy)", "BAD_THRESHOLD", () => evaluation.summary(throwingProxy([0.9, 0.9]))),
      v("summary(revoked Proxy)", "BAD_THRESHOLD", () => evaluation.summary(revoked())),
      v("summary(element getter)", "BAD_THRESHOLD", () => evaluation.summary(throwingElement([0.9, 0.9], 0))),
      v("summary([NaN, 0.9])", "BAD_THRESHOLD", () => evaluation.summary([NaN, 0.9])),
    ],
  };

  const describe = (e) => {
    try {
      return `${e && e.name}: ${e && e.message}`;
    } catch {
      return "(cannot describe)";
    }
  };
  const outcomeOf = (mode, e) => {
    if (mode === "resolved" || mode === "returned") return `${mode} - -`;
    const isError = e instanceof Error;
    const name = isError ? e.name : `non-Error(${typeof e})`;
    const code = isError && typeof e.code === "string" ? e.code : "-";
    return `${mode} ${String(name).replace(/\s/g, "_")} ${code.replace(/\s/g, "_")}`;
  };

  /** The good calls: classify, decide and summary give their reference answers. */
  async function goodCalls(where) {
    const failures = [];
    try {
      const r = await Promise.race([model.classify(good), new Promise((_, no) => setTimeout(() => no(new Error("classify hung for 5 s")), 5000))]);
      if (key(r) !== refClassify) failures.push(`${where}: classify gave ${key(r)}, not ${refClassify}`);
    } catch (e) {
      failures.push(`${where}: classify failed: ${describe(e)} (${e && e.code})`);
    }
    try {
      const d = key(model.decide(trace, T));
      if (d !== refDecide) failures.push(`${where}: decide gave ${d}`);
      const s = JSON.stringify(evaluation.summary(T));
      if (s !== refSummary) failures.push(`${where}: summary gave ${s}`);
    } catch (e) {
      failures.push(`${where}: decide/summary failed: ${describe(e)} (${e && e.code})`);
    }
    return failures;
  }

  const offsets = {};
  async function run(kind, n) {
    const variants = KINDS[kind];
    const out = variants.map((x) => ({ name: x.name, expect: x.expect, outcomes: {}, samples: {} }));
    const record = (j, mode, e) => {
      const k = outcomeOf(mode, e);
      const o = out[j];
      o.outcomes[k] = (o.outcomes[k] || 0) + 1;
      if (!(k in o.samples)) o.samples[k] = mode === "resolved" || mode === "returned" ? `${mode}: ${typeof e}` : describe(e);
    };
    let hung = 0;
    let goodChecks = 0;
    const goodFailures = [];
    const memStart = memory();
    const refsStart = refs();
    const t0 = performance.now();
    let next = offsets[kind] || 0;
    for (let done = 0; done < n; ) {
      const m = Math.min(chunk, n - done);
      const pending = [];
      let settled = 0;
      for (let i = 0; i < m; i++) {
        const j = next++ % variants.length;
        let r;
        try {
          r = variants[j].call();
        } catch (e) {
          record(j, "threw", e);
          continue;
        }
        if (r && typeof r.then === "function") {
          pending.push(
            r.then(
              (value) => {
                settled++;
                record(j, "resolved", value);
              },
              (e) => {
                settled++;
                record(j, "rejected", e);
              },
            ),
          );
        } else {
          record(j, "returned", r);
        }
      }
      let timer;
      const outcome = await Promise.race([Promise.all(pending).then(() => "settled"), new Promise((ok) => (timer = setTimeout(() => ok("timeout"), 5000)))]);
      clearTimeout(timer);
      if (outcome === "timeout") {
        hung += pending.length - settled;
        break;
      }
      done += m;
      goodChecks++;
      goodFailures.push(...(await goodCalls(`${kind} after ${done}`)));
      if (goodFailures.length > 20) break;
    }
    offsets[kind] = next;
    return { kind, n, ms: performance.now() - t0, variants: out, hung, goodChecks, goodFailures, memStart, memEnd: memory(), refsStart, refsEnd: refs(), running: ew.__exitwiseRunning() };
  }

  async function finish() {
    const memBeforeLoad = memory();
    const refsBeforeLoad = refs();
    const running = ew.__exitwiseRunning();
    const oldSame = key(await model.classify(good)) === refClassify;
    let fresh;
    try {
      const m2 = await Promise.race([ew.Model.load("/models/tiny-mnist/", { backend: "cpu" }), new Promise((_, no) => setTimeout(() => no(new Error("load hung for 5 s")), 5000))]);
      const r = await m2.classify(good);
      fresh = { ok: true, exit: r.exit, class: r.class, same: key(r) === refClassify };
      m2.free();
    } catch (e) {
      fresh = { ok: false, error: `${describe(e)} (${e && e.code})` };
    }
    // The Map subclass whose methods throw, holding the real bundle: a genuine Map is read
    // through Map.prototype's own methods, so it loads (the empty one above is an empty bundle).
    let subclass;
    try {
      const manifest = await (await fetch("/models/tiny-mnist/manifest.json")).json();
      const names = ["manifest.json", ...manifest.segments.map((s) => s.file), ...manifest.exits.map((e) => e.file)];
      for (const r of [manifest.test_pack, manifest.calibration_pack, manifest.reference, manifest.calibration_trace]) if (r) names.push(r.file);
      const files = new LazyFiles();
      for (const n of names) Map.prototype.set.call(files, n, new Uint8Array(await (await fetch(`/models/tiny-mnist/${n}`)).arrayBuffer()));
      const m3 = await Promise.race([ew.Model.load(files, { backend: "cpu" }), new Promise((_, no) => setTimeout(() => no(new Error("load hung for 5 s")), 5000))]);
      const r = await m3.classify(good);
      subclass = { ok: true, files: names.length, same: key(r) === refClassify };
      m3.free();
    } catch (e) {
      subclass = { ok: false, error: `${describe(e)} (${e && e.code})` };
    }
    return { memBeforeLoad, refsBeforeLoad, running, oldSame, fresh, subclass, memAfterLoad: memory(), runningAfter: ew.__exitwiseRunning(), unhandled: window.__unhandled };
  }

  window.__hostile = { run, memory, refs, finish };
  return { len, early, backend: model.backend, good: { exit: goodResult.exit, class: goodResult.class, confidence: goodResult.confidence }, memory: memory(), refs: refs() };
}
