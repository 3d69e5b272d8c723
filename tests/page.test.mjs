// Browser tests of the exitwise demo page (index.html + web/), driving Debian Chromium through
// playwright-core. Run:  cd tests && npm ci && node --test page.test.mjs
//
// Needs the wasm package in crate/pkg (wasm-pack build crate --release --target web --out-dir pkg
// --out-name exitwise) and at least one bundle listed in models/index.json (or, before that
// exists, a bundle under models/<name>/ or tests/out/bundles/<name>/; see server.mjs).
//
// Environment:
//   CHROMIUM=/path/to/chromium   browser binary (default /usr/bin/chromium)
//   EXITWISE_BIN=/path/exitwise  CLI used to cross-check the test-set numbers (default:
//                                target/release/exitwise, else target/debug/exitwise, else
//                                `cargo run --release --bin exitwise`; EXITWISE_CLI=skip skips)
// Screenshots go to tests/out/screenshots (printed at the end).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { chromium } from "playwright-core";
import { startServer, modelIndex, ROOT } from "./server.mjs";
import { encodePng } from "./png.mjs";

const OUT = join(ROOT, "tests", "out");
const SHOTS = join(OUT, "screenshots");
const PKG = join(ROOT, "crate", "pkg", "exitwise.js");
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const LONG = 240_000;

let browser, server, base, models;
// node:test reads a test's options when it is declared, before `before` runs.
const modelsAtStart = await modelIndex();
const modelCount = () => (Array.isArray(modelsAtStart) ? modelsAtStart.length : 1);

before(async () => {
  assert.ok(existsSync(PKG), `no wasm package at ${PKG}: build it with wasm-pack first`);
  models = await modelIndex();
  assert.ok(Array.isArray(models) && models.length > 0, "no model bundle to test with (models/index.json)");
  mkdirSync(SHOTS, { recursive: true });
  ({ server, url: base } = await startServer());
  browser = await launch();
});

after(async () => {
  if (browser) await browser.close();
  if (server) server.close();
  console.log(`screenshots: ${SHOTS}`);
});

const CHROME_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic", "--headless=new"];

/** Debian Chromium; `extra` arguments, e.g. `--enable-unsafe-webgpu` (SwiftShader's adapter). */
function launch(extra = []) {
  return chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: [...CHROME_ARGS, ...extra] });
}

/**
 * A fresh page that records console errors, page errors and worker errors. `init` (a function)
 * runs in the page before any of its scripts.
 */
async function open(t, { viewport = DESKTOP, query = "", on = browser, init = null } = {}) {
  const context = await on.newContext({ viewport, deviceScaleFactor: 1 });
  if (init) await context.addInitScript(init);
  const page = await context.newPage();
  const errors = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("worker", (w) =>
    w.on("console", (m) => {
      if (m.type() === "error") errors.push(`worker console: ${m.text()}`);
    }),
  );
  page.on("requestfailed", (r) => errors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on("response", (r) => {
    if (r.status() >= 400) errors.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  t.after(async () => {
    await context.close();
  });
  await page.goto(`${base}${query}`);
  await page.waitForSelector("body[data-ready=true]", { timeout: LONG });
  page.errors = errors;
  return page;
}

function noErrors(page) {
  assert.deepEqual(page.errors, [], "console errors, page errors or failed requests");
}

async function shot(page, name, fullPage = false) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage });
}

/**
 * Runs `body` (the source of an async function body with `model`, `mod` and `arg` in scope)
 * against the library in the page itself — not the page's workers — for expected values.
 * The source goes through CDP's evaluate, which the page's CSP (no 'unsafe-eval') allows.
 */
async function lib(page, modelPath, body, arg, backend = "auto") {
  const key = `${modelPath}|${backend}`;
  await page.evaluate(async ({ modelPath, key, backend }) => {
    if (!window.__ew) {
      const mod = await import("/crate/pkg/exitwise.js");
      await mod.default();
      window.__ew = { mod, models: {} };
    }
    const ew = window.__ew;
    if (!ew.models[key]) ew.models[key] = await ew.mod.Model.load(new URL(modelPath, location.href).href, { backend });
  }, { modelPath, key, backend });
  return page.evaluate(`(async () => {
    const mod = window.__ew.mod;
    const model = window.__ew.models[${JSON.stringify(key)}];
    const arg = ${JSON.stringify(arg === undefined ? null : arg)};
    ${body}
  })()`);
}

async function waitThresholds(page, selector, thresholds) {
  const want = thresholds.join(",");
  await page.waitForFunction(
    ({ selector, want }) => document.querySelector(selector)?.dataset.thresholds === want,
    { selector, want },
    { timeout: LONG },
  );
}

async function sliderValues(page) {
  return page.$$eval("#sliders input[type=range]", (xs) => xs.map((x) => +x.value));
}

async function resultData(page) {
  return page.$eval("#result", (r) => ({
    exit: +r.dataset.exit,
    flopsSaved: +r.dataset.flopsSaved,
    macsExecuted: +r.dataset.macsExecuted,
    label: r.dataset.label,
    input: r.dataset.input,
    saved: document.getElementById("saved").textContent,
    pred: document.getElementById("pred").textContent,
  }));
}

function pctText(x) {
  return `${(x * 100).toFixed(1).replace("-", "\u2212")}\u202f%`;
}

const DECIDE = `
  const { index, thresholds } = arg;
  const set = model.testPack();
  const len = set.images.length / set.count;
  const trace = await model.trace(set.images.slice(index * len, (index + 1) * len));
  const d = model.decide(trace, thresholds);
  return { exit: d.exit, flopsSaved: d.flopsSaved, macsExecuted: d.macsExecuted, label: d.label, confidences: trace.exits.map((e) => e.confidence) };
`;

// ---------------------------------------------------------------------------------------------

test("the page loads, lists every model and classifies the first test image", { timeout: LONG }, async (t) => {
  const page = await open(t);
  const m = models[0];
  const options = await page.$$eval("#model option", (os) => os.map((o) => o.textContent));
  assert.deepEqual(options, models.map((x) => x.name));
  const info = await lib(page, m.path, "return { info: model.info(), backend: model.backend };");
  assert.equal(await page.$eval("#backend", (e) => e.dataset.backend), info.backend);
  assert.match(await page.textContent("#backend"), /cpu/);
  assert.equal(+(await page.$eval("#plain-macs", (e) => e.dataset.macs)), info.info.macsFull);
  // One slider per early exit, starting at the bundle's defaults (on the 0.01 grid).
  const values = await sliderValues(page);
  assert.deepEqual(values, info.info.defaultThresholds.map((x) => Math.round(x * 100) / 100));
  const labels = await page.$$eval("#sliders label", (ls) => ls.map((l) => l.textContent));
  info.info.exits.slice(0, -1).forEach((ex, i) => {
    assert.ok(labels[i].includes(ex.name), `slider ${i} names ${ex.name}`);
    assert.match(labels[i], /MACs · .*% of the plain network/);
  });
  // The first gallery image is shown and decided exactly as the library says.
  assert.equal(await page.$$eval("#gallery .thumb", (b) => b.length), Math.min(48, info.info.hasTestPack ? 48 : 0));
  await waitThresholds(page, "#result", values);
  const expected = await lib(page, m.path, DECIDE, { index: 0, thresholds: values });
  const shown = await resultData(page);
  assert.equal(shown.input, "test:0");
  assert.equal(shown.exit, expected.exit);
  assert.equal(shown.flopsSaved, expected.flopsSaved);
  assert.equal(shown.macsExecuted, expected.macsExecuted);
  assert.equal(shown.pred, expected.label);
  assert.equal(shown.saved, pctText(expected.flopsSaved));
  // A real classify() run reports its latency.
  await waitThresholds(page, "#latency-box", values);
  const lat = await page.$eval("#latency-box", (e) => ({ ms: +e.dataset.elapsedMs, exit: +e.dataset.exit, saved: +e.dataset.flopsSaved, text: e.textContent }));
  assert.ok(lat.ms >= 0 && Number.isFinite(lat.ms));
  assert.equal(lat.exit, expected.exit);
  assert.equal(lat.saved, expected.flopsSaved);
  assert.match(lat.text, /ms/);
  // The explainer carries the formula.
  assert.match(await page.textContent(".explain"), /FLOPs saved = 1 − \(MACs executed: every segment run \+ every exit head\s+evaluated\) ÷ \(MACs of the plain network\)/);
  await shot(page, "desktop-1-loaded");
  noErrors(page);
});

test("moving a slider changes the fired exit and FLOPs exactly as decide() says", { timeout: LONG }, async (t) => {
  const page = await open(t);
  const m = models[0];
  const n = await page.$$eval("#sliders input[type=range]", (x) => x.length);
  assert.ok(n >= 1, "the model has an early exit");
  const defaults = await sliderValues(page);
  // An image whose first exit's confidence is mid-range, so that the slider flips it.
  const pick = await lib(page, m.path, `
    const set = model.testPack();
    const len = set.images.length / set.count;
    let best = 0, bestDist = 2;
    for (let i = 0; i < Math.min(48, set.count); i++) {
      const c = (await model.trace(set.images.slice(i * len, (i + 1) * len))).exits[0].confidence;
      const dist = Math.abs(c - 0.6);
      if (dist < bestDist) { best = i; bestDist = dist; }
    }
    return best;
  `);
  await page.click(`#gallery .thumb[data-index="${pick}"]`);
  await page.waitForSelector(`#result[data-input="test:${pick}"]`);

  const slider = page.locator("#thr-0");
  const check = async (thresholds, note) => {
    await waitThresholds(page, "#result", thresholds);
    const expected = await lib(page, m.path, DECIDE, { index: pick, thresholds });
    const shown = await resultData(page);
    assert.equal(shown.exit, expected.exit, `${note}: fired exit`);
    assert.equal(shown.flopsSaved, expected.flopsSaved, `${note}: FLOPs saved`);
    assert.equal(shown.macsExecuted, expected.macsExecuted, `${note}: MACs executed`);
    assert.equal(shown.saved, pctText(expected.flopsSaved), `${note}: FLOPs saved text`);
    assert.equal(shown.pred, expected.label, `${note}: prediction`);
    // The diagram and bars agree.
    const firedInDiagram = await page.$$eval("svg.net .exit", (gs) => gs.findIndex((g) => g.classList.contains("fired")));
    assert.equal(firedInDiagram, expected.exit, `${note}: diagram`);
    const firedBar = await page.$$eval("#bars .exit-row", (rs) => rs.findIndex((r) => r.classList.contains("fired")));
    assert.equal(firedBar, expected.exit, `${note}: bars`);
    return expected;
  };

  // Keyboard: Home → 0 (the first exit always fires), End → 1.
  await slider.focus();
  await page.keyboard.press("Home");
  const low = await check([0, ...defaults.slice(1)], "threshold 0");
  assert.equal(low.exit, 0, "a zero threshold fires the first exit");
  await shot(page, "desktop-2-slider-low");
  await page.keyboard.press("End");
  const high = await check([1, ...defaults.slice(1)], "threshold 1");
  // Arrow keys step by 0.01.
  await page.keyboard.press("ArrowLeft");
  await page.keyboard.press("ArrowLeft");
  await check([0.98, ...defaults.slice(1)], "threshold 0.98");
  // fill() on the range input, just above and below the confidence of the first exit.
  const c0 = low.confidences[0];
  const above = Math.min(1, Math.ceil(c0 * 100 + 1e-9) / 100 + 0.01);
  const below = Math.max(0, Math.floor(c0 * 100 - 1e-9) / 100);
  await slider.fill(String(above));
  const a = await check([above, ...defaults.slice(1)], `fill ${above}`);
  await slider.fill(String(below));
  const b = await check([below, ...defaults.slice(1)], `fill ${below}`);
  assert.equal(b.exit, 0, "below its confidence the first exit fires");
  assert.notEqual(a.exit, 0, "above its confidence the first exit passes");
  assert.notEqual(high.flopsSaved, low.flopsSaved);
  await shot(page, "desktop-3-slider-moved");

  // Reset returns to the bundle's defaults.
  await page.click("#reset");
  await check(defaults, "reset");
  assert.deepEqual(await sliderValues(page), defaults);

  // Every decision render stayed well under a frame.
  const worst = await page.evaluate(() => Math.max(...performance.getEntriesByName("exitwise:decision").map((e) => e.duration)));
  assert.ok(worst < 16, `decision render took ${worst} ms`);
  noErrors(page);
});

// ---------------------------------------------------------------------------------------------
// Time: measured, in the page's one worker

function msText(x) {
  return x < 1 ? `${x.toFixed(2)} ms` : x < 100 ? `${x.toFixed(1)} ms` : `${Math.round(x)} ms`;
}

async function timeData(page, id) {
  return page.$eval(id, (e) => ({
    ...Object.fromEntries(Object.entries(e.dataset)),
    value: e.querySelector(".fig-value").textContent,
    sub: e.querySelector(".fig-sub").textContent,
    label: e.querySelector(".fig-label").textContent,
  }));
}

/**
 * Time saved against the plain network (classifyFull): both times measured, finite and > 0; the
 * saving > 0 where the early-exit runs did under half the plain network's MACs (`flopsSaved`).
 */
function checkTimes(d, note, flopsSaved) {
  const exitMs = +d.elapsedMs, plainMs = +d.plainMs, saved = +d.timeSaved;
  assert.ok(Number.isFinite(exitMs) && exitMs > 0, `${note}: early-exit time ${d.elapsedMs}`);
  assert.ok(Number.isFinite(plainMs) && plainMs > 0, `${note}: plain time ${d.plainMs}`);
  assert.equal(saved, 1 - exitMs / plainMs, `${note}: time saved = 1 − early exit / plain`);
  assert.ok(Number.isFinite(saved), `${note}: time saved ${d.timeSaved}`);
  if (flopsSaved >= 0.5) assert.ok(saved > 0, `${note}: ${(flopsSaved * 100).toFixed(1)} % FLOPs saved, yet time saved ${saved} (${exitMs} ms vs ${plainMs} ms plain)`);
  assert.equal(d.value, pctText(saved), `${note}: time saved text`);
  assert.ok(d.sub.includes(`${msText(exitMs)} vs ${msText(plainMs)} plain`), `${note}: "${d.sub}"`);
  assert.match(d.label, /^(mean )?time saved vs plain network$/);
}

test("time saved is measured, for one image and over the whole test pack", { timeout: 2 * LONG }, async (t) => {
  const page = await open(t);
  const m = models[0];
  assert.equal(await lib(page, m.path, 'return typeof model.classifyFull;'), "function", "the package runs the plain network");
  const values = await sliderValues(page);
  // One image: the figure beside FLOPs saved.
  await waitThresholds(page, "#latency-box", values);
  const one = await timeData(page, "#latency-box");
  checkTimes(one, "one image", +one.flopsSaved);
  assert.ok(+one.runs >= 9, `runs of each: ${one.runs}`);
  const order = await page.$$eval("#result .figures .fig-label", (ls) => ls.map((l) => l.textContent));
  assert.equal(order.indexOf(one.label), order.indexOf("FLOPs saved") + 1, "time saved sits next to FLOPs saved");
  t.diagnostic(`one image (${m.name}): ${one.value}: ${one.sub} (${one.runs} runs each)`);

  // The test pack: every image, early exit and plain, at the current thresholds.
  if (!(await lib(page, m.path, "return model.info().hasTestPack;"))) return t.skip("the first model has no test pack");
  await waitThresholds(page, "#pack-time-box", values);
  const pack = await timeData(page, "#pack-time-box");
  const ref = await lib(page, m.path, `
    const set = model.testPack();
    const ev = await model.evaluate(set.images, set.labels);
    const s = ev.summary(arg);
    ev.free();
    return { count: set.count, meanMacs: s.meanMacs, macsFull: model.info().macsFull, saved: s.macsSavedFraction };
  `, values);
  checkTimes(pack, "test pack", ref.saved);
  assert.equal(+pack.count, ref.count, "every test image was timed");
  assert.equal(+pack.meanMacs, ref.meanMacs, "the timed runs executed the MACs Evaluation.summary counts at these thresholds");
  assert.equal(+pack.plainMeanMacs, ref.macsFull, "the plain runs executed the plain network");
  assert.ok(pack.sub.includes(`per image · ${ref.count.toLocaleString("en-US").replace(/,/g, "\u202f")} images`), pack.sub);
  t.diagnostic(`test pack (${m.name}): ${pack.value}: ${pack.sub}`);

  // A slider move: both figures say "measuring…" (no stale time) until measured again.
  const target = [values[0] >= 0.5 ? values[0] - 0.2 : values[0] + 0.2, ...values.slice(1)].map((x) => Math.round(x * 100) / 100);
  await page.locator("#thr-0").fill(String(target[0]));
  for (const id of ["#latency", "#pack-time"]) assert.equal(await page.textContent(id), "measuring…", `${id} right after the move`);
  await waitThresholds(page, "#latency-box", target);
  const oneMoved = await timeData(page, "#latency-box");
  checkTimes(oneMoved, "one image, moved", +oneMoved.flopsSaved);
  await waitThresholds(page, "#pack-time-box", target);
  const moved = await timeData(page, "#pack-time-box");
  checkTimes(moved, "test pack, moved", 1 - +moved.meanMacs / ref.macsFull);
  t.diagnostic(`test pack at ${target.join(",")}: ${moved.value}: ${moved.sub}`);
  await shot(page, "desktop-9-time", true);
  noErrors(page);
});

test("one worker runs the model, and it is the only one the page ever starts", { timeout: (1 + modelCount()) * LONG }, async (t) => {
  const page = await open(t, {
    init: () => {
      const Native = window.Worker;
      window.__workersStarted = 0;
      window.Worker = class extends Native {
        constructor(...args) {
          super(...args);
          window.__workersStarted++;
        }
      };
    },
  });
  await page.waitForSelector("#testset[data-done=true]", { timeout: LONG });
  assert.equal(await page.evaluate(() => window.__workersStarted), 1, "Worker constructions");
  assert.equal(page.workers().length, 1, "live workers");
  // Another model replaces the first inside the same worker.
  if (models.length > 1) {
    await page.selectOption("#model", "1");
    await page.waitForFunction((name) => document.title.endsWith(name) && document.body.dataset.ready === "true", models[1].name, { timeout: LONG });
    await page.waitForSelector("#testset[data-done=true]", { timeout: LONG });
    assert.equal(await page.evaluate(() => window.__workersStarted), 1, "Worker constructions after a model switch");
    assert.equal(page.workers().length, 1, "live workers after a model switch");
  }
  noErrors(page);
});

test("sliders keep answering while the test pack is traced", { timeout: LONG }, async (t) => {
  // The slowest bundle to trace gives the longest window.
  const m = models.find((x) => x.name === "resnet-fmnist") || models[0];
  const page = await open(t, { query: `?model=${m.name}` });
  if (!(await lib(page, m.path, "return model.info().hasTestPack;"))) return t.skip(`${m.name} has no test pack`);
  const defaults = await sliderValues(page);
  let answered = 0;
  for (const v of [0.05, 0.5, 0.95, 0.3]) {
    const target = [v, ...defaults.slice(1)];
    const state = await page.evaluate(() => ({ done: document.getElementById("testset").dataset.done, progress: +document.getElementById("eval-progress").value }));
    if (state.done === "true") break;
    await page.locator("#thr-0").fill(String(v));
    const at = await page.waitForFunction(
      (want) => {
        if (document.getElementById("result").dataset.thresholds !== want) return false;
        return { done: document.getElementById("testset").dataset.done, progress: +document.getElementById("eval-progress").value };
      },
      target.join(","),
      { timeout: LONG },
    );
    const seen = await at.jsonValue();
    assert.equal(seen.done, "false", `the decide answer at ${v} came while the test pack was still being traced`);
    answered++;
    t.diagnostic(`decide answered at ${v} with the test pack ${(seen.progress * 100).toFixed(0)} % traced`);
  }
  assert.ok(answered >= 2, `slider answers during the tracing: ${answered}`);
  await page.waitForSelector("#testset[data-done=true]", { timeout: LONG });
  const d = await page.$eval("#testset", (e) => ({ ...e.dataset, status: document.getElementById("eval-status").textContent }));
  assert.ok(+d.decidesWhileTracing >= answered, `decides counted while tracing: ${d.decidesWhileTracing}`);
  assert.ok(+d.chunks > 1, `the pack was traced in ${d.chunks} requests`);
  assert.ok(+d.worstDecideMs < +d.tracedMs / 2, `the longest slider wait (${d.worstDecideMs} ms) is far below the tracing (${d.tracedMs} ms)`);
  // The frontier is one Evaluation.frontier call over the whole pack (after the tracing).
  assert.ok(Number.isFinite(+d.frontierMs) && +d.frontierMs > 0, `the frontier took ${d.frontierMs} ms`);
  assert.ok(+d.frontierPoints > 0, `frontier points: ${d.frontierPoints}`);
  assert.match(d.status, /the frontier \([\d\u202f]+ points\) found in/);
  assert.match(d.status, /Slider answers meanwhile took/);
  t.diagnostic(`${m.name}: ${d.status}`);
  noErrors(page);
});

// ---------------------------------------------------------------------------------------------

const execFileP = promisify(execFile);

async function cliEval(bundle, thresholds) {
  if (process.env.EXITWISE_CLI === "skip") return null;
  const args = ["eval", bundle, "--thresholds", thresholds.join(","), "--json"];
  const bins = [process.env.EXITWISE_BIN, join(ROOT, "target/release/exitwise"), join(ROOT, "target/debug/exitwise")].filter(Boolean);
  const bin = bins.find((b) => existsSync(b));
  const [cmd, argv] = bin ? [bin, args] : ["cargo", ["run", "--release", "--quiet", "--bin", "exitwise", "--", ...args]];
  try {
    const { stdout } = await execFileP(cmd, argv, { cwd: ROOT, maxBuffer: 1 << 24, timeout: 30 * 60_000 });
    return { via: bin || "cargo run --release", json: JSON.parse(stdout) };
  } catch (e) {
    return { via: bin || "cargo run --release", error: String(e.stderr || e.message).trim().split("\n").slice(-3).join(" | ") };
  }
}

test("the test-set panel matches Evaluation.summary and the CLI's eval; calibrate sets the sliders", { timeout: 2 * LONG }, async (t) => {
  const page = await open(t);
  const m = models[0];
  const hasTest = await lib(page, m.path, "return model.info().hasTestPack;");
  if (!hasTest) return t.skip("the first model has no test pack");
  await page.waitForSelector("#testset[data-done=true]", { timeout: LONG });
  assert.equal(await page.$eval("#eval-progress", (p) => p.hidden), true, "the progress bar is done");
  await shot(page, "desktop-4-testset", true);

  const n = (await sliderValues(page)).length;
  const targets = [[0.8, 0.95, 0.7, 0.9].slice(0, n), [0.5, 0.99, 0.6, 0.97].slice(0, n)];
  // In-page reference: the library's own Evaluation of the test pack.
  await lib(page, m.path, `
    const set = model.testPack();
    window.__ew.evaluation = await model.evaluate(set.images, set.labels);
    return null;
  `);
  for (const target of targets) {
    for (let i = 0; i < n; i++) await page.locator(`#thr-${i}`).fill(String(target[i]));
    await waitThresholds(page, "#testset", target);
    const shown = await page.$eval("#testset", (e) => ({
      accuracy: +e.dataset.accuracy,
      saved: +e.dataset.macsSavedFraction,
      count: +e.dataset.count,
      accText: document.getElementById("acc").textContent,
      savedText: document.getElementById("mean-saved").textContent,
      hist: [...document.querySelectorAll("#hist .hist-row")].map((r) => +r.dataset.count),
    }));
    const expected = await lib(page, m.path, "return window.__ew.evaluation.summary(arg);", target);
    assert.equal(shown.accuracy, expected.accuracy, "accuracy = Evaluation.summary");
    assert.equal(shown.saved, expected.macsSavedFraction, "FLOPs saved = Evaluation.summary");
    assert.equal(shown.count, expected.count);
    assert.deepEqual(shown.hist, expected.histogram);
    assert.equal(shown.accText, pctText(expected.accuracy));
    assert.equal(shown.savedText, pctText(expected.macsSavedFraction));

    const cli = await cliEval(m.path, target);
    if (!cli) {
      t.diagnostic("CLI cross-check skipped (EXITWISE_CLI=skip)");
    } else if (cli.error) {
      t.diagnostic(`TODO: CLI cross-check unavailable via ${cli.via}: ${cli.error}`);
    } else {
      assert.equal(cli.json.count, shown.count, "CLI count");
      assert.ok(Math.abs(cli.json.accuracy - shown.accuracy) < 1e-12, `accuracy: CLI ${cli.json.accuracy}, page ${shown.accuracy}`);
      assert.ok(Math.abs(cli.json.macs_saved_fraction - shown.saved) < 1e-12, `FLOPs saved: CLI ${cli.json.macs_saved_fraction}, page ${shown.saved}`);
      t.diagnostic(`CLI (${cli.via}) agrees at ${target.join(",")}: accuracy ${shown.accuracy}, saved ${shown.saved}`);
    }
  }
  const worst = await page.evaluate(() => Math.max(...performance.getEntriesByName("exitwise:summary").map((e) => e.duration)));
  assert.ok(worst < 16, `summary render took ${worst} ms`);

  // The frontier is drawn from Evaluation.frontier(); clicking a point sets its thresholds.
  const frontier = await lib(page, m.path, `
    return window.__ew.evaluation.frontier().sort((a, b) => a.macsSavedFraction - b.macsSavedFraction)
      .map((p) => p.thresholds.map((x) => Math.round(x * 100) / 100));
  `);
  assert.equal(await page.$$eval("svg.plot .frontier-pts circle", (c) => c.length), frontier.length);
  // Every point exactly as Evaluation.frontier of the whole pack (the page traced it in chunks).
  const exact = await lib(page, m.path, `
    return window.__ew.evaluation.frontier().sort((a, b) => a.macsSavedFraction - b.macsSavedFraction)
      .map((p) => ({ thresholds: p.thresholds.join(","), accuracy: String(p.accuracy), saved: String(p.macsSavedFraction) }));
  `);
  const drawn = await page.$$eval("svg.plot .frontier-pts circle", (cs) => cs.map((c) => ({ thresholds: c.dataset.thresholds, accuracy: c.dataset.accuracy, saved: c.dataset.saved })));
  assert.deepEqual(drawn, exact, "frontier = Evaluation.frontier");
  const exitAcc = await lib(page, m.path, "return window.__ew.evaluation.exitAccuracies().map(String);");
  assert.deepEqual(await page.$$eval("#hist .hist-row", (rs) => rs.map((r) => r.dataset.exitAccuracy)), exitAcc, "exit accuracies = Evaluation.exitAccuracies");
  const k = Math.floor(frontier.length / 2);
  await page.locator("svg.plot .frontier-pts circle").nth(k).dispatchEvent("click");
  await waitThresholds(page, "#testset", frontier[k]);
  assert.deepEqual(await sliderValues(page), frontier[k]);

  // Calibrate to ≤ 0.5 points: on the bundle's calibration trace (every shipped bundle has one),
  // as the library calibrates from model.calibrationEvaluation().
  const calib = await lib(page, m.path, "const i = model.info(); return { trace: i.hasCalibrationTrace, pack: i.hasCalibrationPack };");
  assert.ok(calib.trace, `${m.path}: the shipped bundle has a calibration trace`);
  if (calib.trace) {
    await page.fill("#max-drop", "0.5");
    await page.click("#calibrate-button");
    await page.waitForSelector("#calibrate[data-thresholds]", { timeout: LONG });
    const lt = await lib(page, m.path, `
      const ev = model.calibrationEvaluation();
      const c = ev.calibrate(0.5, { delta: 0.1 });
      return { t: c.thresholds.map((x) => Math.round(x * 100) / 100), certified: c.certified, count: ev.count };
    `);
    assert.ok(lt.count >= 5000, `${lt.count} traced validation images`);
    assert.equal(await page.getAttribute("#calib-status", "data-source"), "trace");
    assert.equal(await page.getAttribute("#calib-status", "data-count"), String(lt.count));
    const expected = lt.t;
    assert.deepEqual(await sliderValues(page), expected, "sliders = Evaluation.calibrate(0.5).thresholds (Learn-then-Test, δ = 0.1)");
    // The page states the runtime's guarantee, or that there is none.
    const claim = await page.textContent("#calib-status");
    assert.equal(await page.getAttribute("#calib-status", "data-certified"), String(lt.certified));
    assert.match(claim, lt.certified ? /^Guaranteed with 90 % confidence: accuracy drop ≤ 0\.5 pt on data like the calibration set/ : /^Nothing certified: /, claim);
    await waitThresholds(page, "#testset", expected);
    await waitThresholds(page, "#result", expected);
    assert.match(await page.textContent("#calib-status"), /calibration trace \([\d,\s]+ held-out validation images/);
    await shot(page, "desktop-5-calibrated", true);
  }
  noErrors(page);
});

// ---------------------------------------------------------------------------------------------

test("drawing a digit on the pad classifies it", { timeout: LONG }, async (t) => {
  const page = await open(t);
  const visible = await page.isVisible("#pad");
  if (!visible) return t.skip("the first model is not a digit model");
  const pad = await page.locator("#pad").boundingBox();
  await page.locator("#pad").scrollIntoViewIfNeeded();
  const box = await page.locator("#pad").boundingBox();
  assert.ok(pad && box);
  // A "1": one vertical stroke, a little slanted.
  await page.mouse.move(box.x + box.width * 0.52, box.y + box.height * 0.15);
  await page.mouse.down();
  for (let k = 1; k <= 12; k++) await page.mouse.move(box.x + box.width * (0.52 - 0.05 * (k / 12)), box.y + box.height * (0.15 + 0.7 * (k / 12)));
  await page.mouse.up();
  await page.waitForSelector("#result[data-input=drawing]", { timeout: LONG });
  // The figures for the whole stroke, not for one drawn while it was still going on.
  await page.waitForFunction(() => document.getElementById("result").dataset.inputId === document.body.dataset.latestInput, null, { timeout: LONG });
  await page.waitForFunction(() => document.getElementById("seen-caption").textContent === "your drawing");
  const values = await sliderValues(page);
  await waitThresholds(page, "#result", values);
  const shown = await resultData(page);
  assert.equal(shown.pred, "1", "a vertical stroke reads as 1");
  // The preview shows ink.
  const ink = await page.$eval("#seen", (c) => {
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let s = 0;
    for (let i = 0; i < d.length; i += 4) s += d[i];
    return s;
  });
  assert.ok(ink > 0, "the model input has ink");
  // Clear keeps the page working; a gallery image can be picked again.
  await page.click("#clear");
  await page.click('#gallery .thumb[data-index="1"]');
  await page.waitForSelector('#result[data-input="test:1"]');
  await page.locator("#pad").scrollIntoViewIfNeeded();
  await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.3);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.7, box.y + box.height * 0.3, { steps: 6 });
  await page.mouse.move(box.x + box.width * 0.4, box.y + box.height * 0.8, { steps: 6 });
  await page.mouse.up();
  await page.waitForSelector("#result[data-input=drawing]");
  await shot(page, "desktop-6-drawing");
  noErrors(page);
});

test("uploading and dropping an image file classifies it, with invert", { timeout: LONG }, async (t) => {
  const page = await open(t);
  const m = models[0];
  const info = await lib(page, m.path, "return model.info();");
  const [, c, h, w] = info.input.shape;
  // A test-pack image, 5× larger and inverted (dark ink on light paper), as a PNG.
  const index = 3;
  const pixels = await lib(page, m.path, `
    const set = model.testPack();
    const len = set.images.length / set.count;
    const [lo, hi] = model.info().input.range;
    return Array.from(set.images.slice(arg * len, (arg + 1) * len), (v) => Math.round(((v - lo) / (hi - lo)) * 255));
  `, index);
  const S = 5, W = w * S, H = h * S;
  const rgba = new Uint8Array(W * H * 4);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const src = Math.floor(y / S) * w + Math.floor(x / S);
      const px = c >= 3 ? [pixels[src], pixels[h * w + src], pixels[2 * h * w + src]] : [pixels[src], pixels[src], pixels[src]];
      rgba.set([...px.map((v) => 255 - v), 255], (y * W + x) * 4);
    }
  }
  const file = join(OUT, "upload.png");
  writeFileSync(file, encodePng(W, H, rgba, 4));
  await page.setInputFiles("#file", file);
  await page.waitForSelector("#result[data-input=upload]", { timeout: LONG });
  const values = await sliderValues(page);
  await waitThresholds(page, "#result", values);
  const expectFor = (invert) =>
    lib(page, m.path, `
      const bytes = await (await fetch("/tests/out/upload.png")).blob();
      const bmp = await createImageBitmap(bytes);
      const k = Math.min(1, 1024 / Math.max(bmp.width, bmp.height));
      const cv = document.createElement("canvas");
      cv.width = Math.round(bmp.width * k); cv.height = Math.round(bmp.height * k);
      const ctx = cv.getContext("2d");
      ctx.drawImage(bmp, 0, 0, cv.width, cv.height);
      const img = ctx.getImageData(0, 0, cv.width, cv.height);
      const d = model.decide(await model.trace(img, { invert: arg.invert }), arg.thresholds);
      return { exit: d.exit, flopsSaved: d.flopsSaved, label: d.label };
    `, { invert, thresholds: values });
  if (c === 1) assert.equal(await page.isChecked("#invert"), true, "a light background turns invert on");
  const inverted = await page.isChecked("#invert");
  let expected = await expectFor(inverted);
  let shown = await resultData(page);
  assert.deepEqual([shown.exit, shown.flopsSaved, shown.pred], [expected.exit, expected.flopsSaved, expected.label]);
  if (c === 1) {
    assert.equal(shown.pred, info.labels[(await lib(page, m.path, "return model.testPack().labels[arg];", index))], "the upscaled test image keeps its label");
  }
  assert.match(await page.textContent("#upload-name"), /upload\.png/);
  await shot(page, "desktop-7-upload");

  // The invert toggle re-traces the same file.
  await page.click("#invert");
  await page.waitForFunction((want) => document.getElementById("invert").checked === want, !inverted);
  expected = await expectFor(!inverted);
  await page.waitForFunction(
    (e) => {
      const r = document.getElementById("result").dataset;
      return +r.exit === e.exit && +r.flopsSaved === e.flopsSaved && document.getElementById("pred").textContent === e.label;
    },
    expected,
    { timeout: LONG },
  );

  // Drag and drop of the same file onto the drop zone.
  await page.click('#gallery .thumb[data-index="0"]');
  await page.waitForSelector('#result[data-input="test:0"]');
  await page.evaluate(async () => {
    const blob = await (await fetch("/tests/out/upload.png")).blob();
    const dt = new DataTransfer();
    dt.items.add(new File([blob], "dropped.png", { type: "image/png" }));
    const zone = document.getElementById("drop");
    zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: dt, bubbles: true, cancelable: true }));
    zone.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
  });
  await page.waitForSelector("#result[data-input=upload]", { timeout: LONG });
  assert.match(await page.textContent("#upload-name"), /dropped\.png/);
  noErrors(page);
});

test("every model in the index loads from the picker", { timeout: (1 + modelCount()) * LONG }, async (t) => {
  const page = await open(t);
  for (let i = 1; i < models.length; i++) {
    await page.selectOption("#model", String(i));
    await page.waitForFunction((name) => document.title.endsWith(name) && document.body.dataset.ready === "true", models[i].name, { timeout: LONG });
    const info = await lib(page, models[i].path, "return model.info();");
    assert.equal(await page.$$eval("#sliders input[type=range]", (x) => x.length), info.exits.length - 1);
    assert.equal(+(await page.$eval("#plain-macs", (e) => e.dataset.macs)), info.macsFull);
    assert.equal(await page.$$eval("svg.net .exit", (x) => x.length), info.exits.length);
    assert.equal(await page.$$eval("svg.net .seg", (x) => x.length), info.segments.length);
    await page.waitForSelector("#testset[data-done=true]", { timeout: LONG });
    const values = await sliderValues(page);
    await waitThresholds(page, "#testset", values);
    const shown = await page.$eval("#testset", (e) => ({ accuracy: +e.dataset.accuracy, saved: +e.dataset.macsSavedFraction }));
    const cli = await cliEval(models[i].path, values);
    if (cli && cli.json) {
      assert.ok(Math.abs(cli.json.accuracy - shown.accuracy) < 1e-12, `${models[i].name} accuracy: CLI ${cli.json.accuracy}, page ${shown.accuracy}`);
      assert.ok(Math.abs(cli.json.macs_saved_fraction - shown.saved) < 1e-12, `${models[i].name} FLOPs saved: CLI ${cli.json.macs_saved_fraction}, page ${shown.saved}`);
      t.diagnostic(`${models[i].name}: CLI agrees at ${values.join(",")}: accuracy ${shown.accuracy}, saved ${shown.saved}`);
    } else if (cli) {
      t.diagnostic(`TODO: CLI cross-check unavailable via ${cli.via}: ${cli.error}`);
    }
    await shot(page, `desktop-8-model-${models[i].name}`, true);
  }
  assert.match(page.url(), new RegExp(`model=${models[models.length - 1].name}`));
  noErrors(page);
});

test("phone width: one column, no horizontal scrolling", { timeout: LONG }, async (t) => {
  const page = await open(t, { viewport: PHONE });
  await page.waitForSelector("#testset[data-done=true]", { timeout: LONG });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `page is ${overflow}px wider than the phone`);
  // Nothing sticks out of its card.
  const outside = await page.evaluate(() => {
    const bad = [];
    for (const card of document.querySelectorAll(".card")) {
      const r = card.getBoundingClientRect();
      for (const e of card.querySelectorAll("*")) {
        const q = e.getBoundingClientRect();
        if (q.width && (q.right > r.right + 1 || q.left < r.left - 1)) bad.push(`${card.className} > ${e.tagName}.${e.className?.baseVal ?? e.className}`);
      }
    }
    return bad;
  });
  assert.deepEqual(outside, []);
  await shot(page, "phone-1-top");
  await shot(page, "phone-2-full", true);
  await page.locator("#result").screenshot({ path: join(SHOTS, "phone-3-result.png") });
  await page.locator("#testset").screenshot({ path: join(SHOTS, "phone-4-testset.png") });
  const slider = page.locator("#thr-0");
  if (await slider.count()) {
    await slider.fill("0.3");
    await waitThresholds(page, "#testset", [0.3, ...(await sliderValues(page)).slice(1)]);
  }
  noErrors(page);
});

// ---------------------------------------------------------------------------------------------

test("forced to WebGPU, the page runs every part on the GPU and the test set matches the CPU exactly", { timeout: 2 * LONG }, async (t) => {
  // SwiftShader's adapter, exposed by this flag; without an adapter the load fails and so does this test.
  const gpuBrowser = await launch(["--enable-unsafe-webgpu"]);
  t.after(() => gpuBrowser.close());
  const m = models[0];
  const page = await open(t, { on: gpuBrowser, query: `?model=${m.name}&backend=webgpu` });
  assert.equal(await page.$eval("#backend", (e) => e.dataset.backend), "webgpu", await page.$eval("#backend", (e) => e.title));
  await page.waitForSelector("#testset[data-done=true]", { timeout: LONG });
  assert.equal(await page.$eval("#testset", (e) => e.dataset.backend), "webgpu", "the test set was traced on WebGPU");
  // Reference: the library on the CPU, in the same page.
  await lib(page, m.path, "const s = model.testPack(); window.__ew.cpuEval = await model.evaluate(s.images, s.labels); return null;", null, "cpu");
  const n = (await sliderValues(page)).length;
  for (const target of [[0.5, 0.99, 0.6].slice(0, n), [0.9, 0.8, 0.97].slice(0, n), new Array(n).fill(1)]) {
    for (let i = 0; i < n; i++) await page.locator(`#thr-${i}`).fill(String(target[i]));
    await waitThresholds(page, "#testset", target);
    const shown = await page.$eval("#testset", (e) => ({
      accuracy: +e.dataset.accuracy,
      saved: +e.dataset.macsSavedFraction,
      hist: [...document.querySelectorAll("#hist .hist-row")].map((r) => +r.dataset.count),
    }));
    const cpu = await lib(page, m.path, "return window.__ew.cpuEval.summary(arg);", target, "cpu");
    assert.equal(shown.accuracy, cpu.accuracy, `accuracy at ${target}: same predictions on WebGPU and CPU`);
    assert.deepEqual(shown.hist, cpu.histogram, `exit histogram at ${target}: same exit decisions`);
    assert.equal(shown.saved, cpu.macsSavedFraction);
  }
  // A single classify through the library on WebGPU reports its backend.
  const single = await lib(page, m.path, "const s = model.testPack(); return (await model.classify(s.images.slice(0, s.images.length / s.count))).backend;", null, "webgpu");
  assert.equal(single, "webgpu");
  await shot(page, "desktop-webgpu");
  noErrors(page);
});
