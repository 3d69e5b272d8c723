#!/usr/bin/env node
// Side-by-side browser benchmark: exitwise (backend "cpu") against onnxruntime-web (wasm backend,
// one thread, SIMD, no proxy) in one headless-Chromium page, on every bundle under models/ that
// has a manifest.json and a full.onnx. `./dev bench` builds the package and runs this.
//
//   node tests/bench/run.mjs [options]
//     --pkg DIR            the exitwise package (exitwise.js + exitwise_bg.wasm); default crate/pkg
//     --images N           test-pack images per bundle (default 1000: the whole pack)
//     --rounds R           alternating rounds (default 5); every contender runs once per round,
//                          in an order rotated by one each round; the median over rounds is reported
//     --bundles a,b        only these bundles (names under models/)
//     --out FILE           the JSON record (default target/bench/browser.json)
//     --cold-runs K        fresh navigations for the cold start, per engine (default 5; 0 skips)
//     --stage-timeout S    seconds allowed for one stage (a contender over all images, a load,
//                          a navigation; default 300)
//     --smoke              1 round, 32 images, tiny-mnist only, no cold start (for tests)
//
// Environment: CHROMIUM=/path/to/chromium (default /usr/bin/chromium).
//
// Exit status: 0 when every check passed; 1 when exitwise classify (default thresholds) and the
// glued onnxruntime-web chain disagree on the exit or class of any image, when classifyBatch
// disagrees with classify, or when a stage failed; 2 for bad options.

import { parseArgs } from "node:util";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { chromium } from "playwright-core";
import { listBundles, startServer, ROOT } from "../server.mjs";

const CHROME_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic", "--headless=new"];
const ORT_DIST = join(ROOT, "tests", "node_modules", "onnxruntime-web", "dist");
const BATCHES = [16, 64, 256];

// ---- options ---------------------------------------------------------------------------------

function options() {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        pkg: { type: "string" },
        images: { type: "string" },
        rounds: { type: "string" },
        bundles: { type: "string" },
        out: { type: "string" },
        "cold-runs": { type: "string" },
        "stage-timeout": { type: "string" },
        smoke: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
    }).values;
  } catch (e) {
    usage(e.message);
  }
  if (parsed.help) {
    console.log(readFileSync(new URL(import.meta.url), "utf8").split("\n").slice(1, 22).map((l) => l.replace(/^\/\/ ?/, "")).join("\n"));
    process.exit(0);
  }
  const int = (name, def, min) => {
    if (parsed[name] === undefined) return def;
    const v = Number(parsed[name]);
    if (!Number.isInteger(v) || v < min) usage(`--${name} must be an integer ≥ ${min}, got ${parsed[name]}`);
    return v;
  };
  const smoke = parsed.smoke;
  return {
    pkg: resolve(parsed.pkg ?? join(ROOT, "crate", "pkg")),
    images: int("images", smoke ? 32 : 1000, 1),
    rounds: int("rounds", smoke ? 1 : 5, 1),
    bundles: parsed.bundles ? parsed.bundles.split(",").map((s) => s.trim()).filter(Boolean) : smoke ? ["tiny-mnist"] : null,
    out: resolve(parsed.out ?? join(ROOT, "target", "bench", "browser.json")),
    coldRuns: int("cold-runs", smoke ? 0 : 5, 0),
    stageTimeoutMs: int("stage-timeout", 300, 1) * 1000,
    smoke,
  };
}

function usage(msg) {
  console.error(`bench: ${msg}\nusage: node tests/bench/run.mjs [--pkg DIR] [--images N] [--rounds R] [--bundles a,b] [--out FILE] [--cold-runs K] [--stage-timeout S] [--smoke]`);
  process.exit(2);
}

// ---- helpers ---------------------------------------------------------------------------------

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const log = (...a) => console.error("bench:", ...a);

/** `promise`, or a rejection naming `label` after `ms`, or when `abort` (a page crash) rejects. */
function stage(label, ms, promise, abort) {
  let timer;
  const timeout = new Promise((_, fail) => {
    timer = setTimeout(() => fail(new Error(`timed out after ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout, abort].filter(Boolean)).then(
    (v) => (clearTimeout(timer), v),
    (e) => {
      clearTimeout(timer);
      throw new Error(`${label}: ${e?.message ?? e}`);
    },
  );
}

function sha256(file) {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

/**
 * A folder to serve: the repository's models/ and tests/ (the bench page, onnxruntime-web's
 * dist/) and the package under test as pkg/ (it may live outside the repository), as symlinks.
 */
function serveRoot(pkg) {
  const dir = mkdtempSync(join(tmpdir(), "exitwise-bench-"));
  symlinkSync(join(ROOT, "models"), join(dir, "models"));
  symlinkSync(join(ROOT, "tests"), join(dir, "tests"));
  symlinkSync(pkg, join(dir, "pkg"));
  return dir;
}

// ---- the run ---------------------------------------------------------------------------------

async function main() {
  const opt = options();
  const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
  const problems = [];
  if (!existsSync(join(opt.pkg, "exitwise.js")) || !existsSync(join(opt.pkg, "exitwise_bg.wasm"))) problems.push(`no exitwise package in ${opt.pkg} (exitwise.js + exitwise_bg.wasm): build it (./dev bench does) or pass --pkg DIR`);
  if (!existsSync(join(ORT_DIST, "ort.wasm.min.mjs"))) problems.push(`no onnxruntime-web in ${ORT_DIST}: run npm install in tests/`);
  if (!existsSync(chromiumPath)) problems.push(`no Chromium at ${chromiumPath} (set CHROMIUM)`);
  let bundles = (await listBundles(ROOT)).filter((b) => b.path.startsWith("models/") && existsSync(join(ROOT, b.path, "full.onnx")));
  if (opt.bundles) {
    const missing = opt.bundles.filter((n) => !bundles.some((b) => b.name === n));
    if (missing.length) problems.push(`no bundle with manifest.json and full.onnx for ${missing.join(", ")} (have ${bundles.map((b) => b.name).join(", ") || "none"})`);
    bundles = opt.bundles.map((n) => bundles.find((b) => b.name === n)).filter(Boolean);
  }
  if (!bundles.length) problems.push("no bundle to benchmark (models/<name>/ with manifest.json and full.onnx)");
  if (problems.length) {
    for (const p of problems) console.error(`bench: ${p}`);
    return 1;
  }

  const pkgJson = existsSync(join(opt.pkg, "package.json")) ? JSON.parse(readFileSync(join(opt.pkg, "package.json"), "utf8")) : {};
  const ortJson = JSON.parse(readFileSync(join(ORT_DIST, "..", "package.json"), "utf8"));
  const record = {
    date: new Date().toISOString(),
    command: ["node", relative(ROOT, process.argv[1]), ...process.argv.slice(2)].join(" "),
    options: { images: opt.images, rounds: opt.rounds, coldRuns: opt.coldRuns, smoke: opt.smoke, stageTimeoutS: opt.stageTimeoutMs / 1000 },
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? null, loadavgStart: loadavg(), loadavgEnd: null, node: process.version },
    browser: { executable: chromiumPath, version: null, userAgent: null, args: CHROME_ARGS },
    ort: { package: "onnxruntime-web", version: ortJson.version, versionInPage: null, backend: "wasm", numThreads: 1, simd: true, proxy: false, entry: "ort.wasm.min.mjs" },
    exitwise: { pkg: opt.pkg, version: pkgJson.version ?? null, wasmSha256: sha256(join(opt.pkg, "exitwise_bg.wasm")), backend: "cpu", hasClassifyBatch: null },
    bundles: {},
    coldStart: null,
    failures: [],
  };

  const root = serveRoot(opt.pkg);
  let server, browser;
  const cleanup = () => {
    try { server?.close(); } catch {}
    rmSync(root, { recursive: true, force: true });
  };
  const onSignal = async () => {
    await browser?.close().catch(() => {});
    cleanup();
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    let url;
    ({ server, url } = await startServer({ root }));
    browser = await stage("launching Chromium", 60_000, chromium.launch({ executablePath: chromiumPath, args: CHROME_ARGS }));
    record.browser.version = browser.version();
    log(`Chromium ${record.browser.version}, onnxruntime-web ${ortJson.version}, exitwise ${record.exitwise.version ?? "?"} from ${opt.pkg}`);

    const context = await browser.newContext();
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
    page.on("console", (m) => m.type() === "error" && errors.push(`console: ${m.text()}`));
    page.on("requestfailed", (r) => errors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
    page.on("response", (r) => r.status() >= 400 && errors.push(`HTTP ${r.status()}: ${r.url()}`));
    const crashed = new Promise((_, fail) => {
      page.once("crash", () => fail(new Error("the page crashed")));
      page.once("close", () => fail(new Error("the page closed")));
    });
    crashed.catch(() => {});
    const call = (label, fn, arg, ms = opt.stageTimeoutMs) =>
      stage(label, ms, page.evaluate(fn, arg), crashed).catch((e) => {
        throw new Error(errors.length ? `${e.message}\n  page errors:\n    ${errors.join("\n    ")}` : e.message);
      });

    const query = `?pkg=/pkg/&ort=/tests/node_modules/onnxruntime-web/dist/`;
    await stage("opening the bench page", opt.stageTimeoutMs, page.goto(`${url}tests/bench/index.html${query}`).then(() => page.waitForSelector("body[data-ready=true]", { timeout: opt.stageTimeoutMs })), crashed);
    const env = await call("loading exitwise and onnxruntime-web", () => window.bench.setup());
    record.browser.userAgent = env.userAgent;
    record.browser.crossOriginIsolated = env.crossOriginIsolated;
    record.ort.versionInPage = env.ortVersion;

    for (const b of bundles) {
      log(`${b.name}: loading`);
      const info = await call(`${b.name}: loading the bundle`, (a) => window.bench.load(a), { path: `/${b.path}`, images: opt.images });
      record.exitwise.hasClassifyBatch = info.hasClassifyBatch;
      const names = await call(`${b.name}: contenders`, () => window.bench.names());
      const rec = { path: b.path, ...info, contenders: Object.fromEntries(names.map((n) => [n, { rounds: [] }])), orders: [], checks: [], warmup: [] };
      record.bundles[b.name] = rec;
      // Warm-up, not recorded: a few images through every contender (JIT, first allocations).
      for (const name of names) rec.warmup.push(await call(`${b.name}: warm-up ${name}`, (a) => window.bench.run(a), { name, n: Math.min(16, info.images) }));
      for (let r = 0; r < opt.rounds; r++) {
        const order = names.map((_, i) => names[(i + r) % names.length]);
        rec.orders.push(order);
        for (const name of order) {
          const res = await call(`${b.name}: round ${r + 1} ${name}`, (a) => window.bench.run(a), { name });
          rec.contenders[name].rounds.push(res);
        }
        const check = await call(`${b.name}: round ${r + 1} checks`, () => window.bench.check());
        rec.checks.push(check);
        log(`${b.name}: round ${r + 1}/${opt.rounds} done (exitwise vs glued ort: ${check.defaults?.disagreements ?? "?"} disagreements)`);
      }
      for (const c of Object.values(rec.contenders)) {
        const per = c.rounds.map((x) => x.perImageMs);
        Object.assign(c, { medianPerImageMs: median(per), minPerImageMs: Math.min(...per), maxPerImageMs: Math.max(...per) });
      }
      rec.ratios = ratios(rec);
      rec.agreement = agreement(rec);
      const cal = await call(`${b.name}: calibration from the trace`, () => window.bench.calibration());
      if (cal) {
        const mid = (xs) => median(xs);
        rec.calibration = { ...cal, medianEvaluationMs: mid(cal.evaluationMs),
          medianCalibrateMs: Object.fromEntries(Object.entries(cal.calibrateMs).map(([d, xs]) => [d, mid(xs)])) };
      }
      await call(`${b.name}: unloading`, () => window.bench.unload());
    }
    await context.close();

    if (opt.coldRuns > 0) record.coldStart = await coldStart(browser, url, opt);
  } catch (e) {
    record.failures.push(String(e?.message ?? e));
  } finally {
    await browser?.close().catch(() => {});
    cleanup();
  }
  record.machine.loadavgEnd = loadavg();

  for (const [name, rec] of Object.entries(record.bundles)) {
    const a = rec.agreement;
    if (!a) continue;
    if (a.defaults.disagreements > 0) record.failures.push(`${name}: exitwise classify (defaults) and the glued onnxruntime-web chain disagree on ${a.defaults.disagreements} image(s) (exit or class)`);
    for (const [k, v] of Object.entries(a.classifyBatch ?? {})) if (v.disagreements > 0) record.failures.push(`${name}: classifyBatch ${k} disagrees with classify on ${v.disagreements} image(s)`);
  }
  record.ok = record.failures.length === 0;
  mkdirSync(dirname(opt.out), { recursive: true });
  writeFileSync(opt.out, JSON.stringify(record, null, 2) + "\n");
  console.log(report(record));
  const shown = relative(process.cwd(), opt.out);
  console.log(`\nJSON: ${shown && !shown.startsWith("..") ? shown : opt.out}`);
  for (const f of record.failures) console.error(`bench: FAILED: ${f}`);
  return record.ok ? 0 : 1;
}

/** Worst over rounds of each check (per-image results are deterministic; any round may differ). */
function agreement(rec) {
  const worst = (get) => rec.checks.map(get).filter(Boolean).reduce((a, b) => (b.disagreements > a.disagreements ? b : a), { disagreements: -1 });
  const out = {};
  const d = worst((c) => c.defaults);
  out.defaults = d.disagreements < 0 ? { disagreements: NaN, missing: true } : { ...d, maxConfidenceDiff: Math.max(...rec.checks.map((c) => c.defaults?.maxConfidenceDiff ?? 0)) };
  const all = worst((c) => c.allExits);
  if (all.disagreements >= 0) out.allExits = all;
  const fv = worst((c) => c.fullVsFinal);
  if (fv.disagreements >= 0) out.fullVsFinal = fv;
  for (const b of BATCHES) {
    const x = worst((c) => c.classifyBatch?.[`b${b}`]);
    if (x.disagreements >= 0) (out.classifyBatch ??= {})[`b${b}`] = x;
  }
  return out;
}

function ratios(rec) {
  const m = (n) => rec.contenders[n]?.medianPerImageMs;
  const r = (a, b) => (m(a) !== undefined && m(b) !== undefined ? m(a) / m(b) : null);
  return {
    "ew.classify / ort.glued": r("ew.classify", "ort.glued"),
    "ew.classify / ort.full.b1": r("ew.classify", "ort.full.b1"),
    "ew.classify.all / ort.allparts.b1": r("ew.classify.all", "ort.allparts.b1"),
    "ew.classify.all / ort.full.b1": r("ew.classify.all", "ort.full.b1"),
    // Throughput (images/s) ratio: > 1 means exitwise evaluates faster.
    "ew.evaluate / ort.allparts.b64 (throughput)": r("ort.allparts.b64", "ew.evaluate"),
    "ew.classifyBatch.b64 / ort.full.b64": r("ew.classifyBatch.b64", "ort.full.b64"),
    "ew.classifyBatch.b64 / ew.classify": r("ew.classifyBatch.b64", "ew.classify"),
  };
}

/** Fresh navigations (a new browser context each: no cache) to cold.html, alternating engines. */
async function coldStart(browser, url, opt) {
  const runs = { exitwise: [], ort: [] };
  const model = "/models/tiny-mnist/";
  for (let k = 0; k < opt.coldRuns; k++) {
    for (const engine of k % 2 ? ["ort", "exitwise"] : ["exitwise", "ort"]) {
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        const q = new URLSearchParams({ engine, model, pkg: "/pkg/", ort: "/tests/node_modules/onnxruntime-web/dist/" });
        const r = await stage(`cold start ${engine} #${k + 1}`, opt.stageTimeoutMs, page.goto(`${url}tests/bench/cold.html?${q}`).then(() => page.waitForFunction(() => window.__cold, null, { timeout: opt.stageTimeoutMs })).then((h) => h.jsonValue()));
        if (r.error) throw new Error(`cold start ${engine} #${k + 1}: ${r.error}`);
        runs[engine].push(r);
      } finally {
        await context.close();
      }
    }
  }
  const med = (rs) => median(rs.map((r) => r.ms));
  return { model, runs, medianMs: { exitwise: med(runs.exitwise), ort: med(runs.ort) } };
}

// ---- the printed report ----------------------------------------------------------------------

const ROWS = [
  ["ort.full.b1", "ort full.onnx, batch 1"],
  ["ort.glued", "ort glued parts, early exit (defaults)"],
  ["ort.allparts.b1", "ort all parts, batch 1"],
  ["ew.classify", "exitwise classify, defaults"],
  ["ew.classify.all", "exitwise classify, thresholds 1.0"],
  ["ew.evaluate", "exitwise evaluate (test set)"],
  ["ort.allparts.b64", "ort all parts, batch 64 (test set)"],
  ...BATCHES.map((b) => [`ew.classifyBatch.b${b}`, `exitwise classifyBatch @${b}`]),
  ...BATCHES.map((b) => [`ort.full.b${b}`, `ort full.onnx @${b}`]),
];

const RATIO_ROWS = [
  ["ew.classify / ort.glued", "exitwise defaults ÷ ort glued"],
  ["ew.classify / ort.full.b1", "exitwise defaults ÷ ort full"],
  ["ew.classify.all / ort.allparts.b1", "exitwise all exits ÷ ort all parts"],
  ["ew.classify.all / ort.full.b1", "exitwise all exits ÷ ort full"],
  ["ew.evaluate / ort.allparts.b64 (throughput)", "evaluate img/s ÷ ort parts@64 (>1 good)"],
  ["ew.classifyBatch.b64 / ort.full.b64", "classifyBatch@64 ÷ ort full@64"],
  ["ew.classifyBatch.b64 / ew.classify", "classifyBatch@64 ÷ classify loop"],
];

function report(rec) {
  const names = Object.keys(rec.bundles);
  const lines = [];
  const w0 = 42;
  const w = Math.max(14, ...names.map((n) => n.length + 2));
  const row = (label, cells) => lines.push(label.padEnd(w0) + cells.map((c) => String(c).padStart(w)).join(""));
  lines.push("");
  lines.push(`exitwise ${rec.exitwise.version ?? "?"} (backend cpu; wasm ${rec.exitwise.wasmSha256.slice(0, 12)}) vs onnxruntime-web ${rec.ort.version} (wasm, 1 thread, SIMD, no proxy)`);
  lines.push(`Chromium ${rec.browser.version ?? "?"} headless; ${rec.machine.cpus} CPUs (${rec.machine.cpuModel ?? "?"}), load ${rec.machine.loadavgStart.map((x) => x.toFixed(1)).join("/")} at start; ${rec.date}`);
  lines.push(`${rec.options.rounds} alternating round(s), median over rounds; images per bundle: ${names.map((n) => `${n} ${rec.bundles[n].images}`).join(", ")}`);
  lines.push("");
  row("ms per image (median)", names);
  const fmt = (x) => (x === undefined || x === null || !Number.isFinite(x) ? "—" : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(3));
  for (const [key, label] of ROWS) {
    const cells = names.map((n) => {
      const b = rec.bundles[n];
      const c = b.contenders?.[key];
      if (c?.medianPerImageMs !== undefined) return fmt(c.medianPerImageMs);
      if (key.startsWith("ew.classifyBatch") && !b.hasClassifyBatch) return "n/a†";
      if (key.startsWith("ort.") && b.dynamicBatch === false) return "n/a‡";
      return "—";
    });
    row(`  ${label}`, cells);
  }
  row("throughput, images/s", names.map(() => ""));
  for (const key of ["ew.evaluate", "ort.allparts.b64"]) {
    const label = ROWS.find((r) => r[0] === key)[1];
    row(`  ${label}`, names.map((n) => {
      const c = rec.bundles[n].contenders?.[key];
      return c?.medianPerImageMs ? Math.round(1000 / c.medianPerImageMs).toLocaleString("en-US") : "—";
    }));
  }
  row("ratios (< 1: exitwise faster)", names.map(() => ""));
  for (const [key, label] of RATIO_ROWS) {
    row(`  ${label}`, names.map((n) => {
      const v = rec.bundles[n].ratios?.[key];
      if (v === null && key.includes("classifyBatch") && !rec.bundles[n].hasClassifyBatch) return "n/a†";
      return v === null || v === undefined ? "—" : `${v.toFixed(2)}×`;
    }));
  }
  row("checks", names.map(() => ""));
  row("  exit+class ≠ (exitwise vs ort glued)", names.map((n) => rec.bundles[n].agreement?.defaults?.disagreements ?? "—"));
  row("  max |Δ confidence| (exitwise vs ort)", names.map((n) => {
    const v = rec.bundles[n].agreement?.defaults?.maxConfidenceDiff;
    return Number.isFinite(v) ? v.toExponential(1) : "—";
  }));
  row("  exits fired, exitwise defaults", names.map((n) => rec.bundles[n].contenders?.["ew.classify"]?.rounds?.[0]?.histogram?.join("/") ?? "—"));
  row("  accuracy, exitwise defaults", names.map((n) => {
    const a = rec.bundles[n].contenders?.["ew.classify"]?.rounds?.[0]?.accuracy;
    return a === undefined ? "—" : `${(a * 100).toFixed(1)} %`;
  }));
  row("  at 1.0: fired early / ≠ ort", names.map((n) => {
    const a = rec.bundles[n].agreement?.allExits;
    return a ? `${a.firedEarlyAtOne} / ${a.disagreements}` : "—";
  }));
  row("  full.onnx class ≠ final exit (ort)", names.map((n) => rec.bundles[n].agreement?.fullVsFinal?.disagreements ?? "—"));
  row("  classifyBatch ≠ classify (16/64/256)", names.map((n) => {
    const b = rec.bundles[n];
    if (!b.hasClassifyBatch) return "n/a†";
    const cb = b.agreement?.classifyBatch;
    return cb ? BATCHES.map((k) => cb[`b${k}`]?.disagreements ?? "—").join("/") : "—";
  }));
  if (names.some((n) => !rec.bundles[n].hasClassifyBatch)) lines.push("  † n/a (not in this build): the package has no Model.classifyBatch");
  if (names.some((n) => rec.bundles[n].dynamicBatch === false)) lines.push("  ‡ n/a: an ONNX file has a fixed batch dimension");
  row("calib. trace: images: load + LTT 0.5pt ms", names.map((n) => {
    const c = rec.bundles[n].calibration;
    return c ? `${c.images}: ${c.medianEvaluationMs.toFixed(1)} + ${c.medianCalibrateMs["0.5"].toFixed(1)}` : "—";
  }));
  if (rec.coldStart) {
    const c = rec.coldStart;
    lines.push("");
    lines.push(`cold start, fresh navigation → first result, ${c.model} (median of ${c.runs.exitwise.length}):`);
    const marks = (rs) => Object.keys(rs[0]?.marks ?? {}).map((k) => `${k} ${median(rs.map((r) => r.marks[k])).toFixed(0)}`).join(", ");
    lines.push(`  exitwise (import, init, Model.load, classify)  ${c.medianMs.exitwise.toFixed(0)} ms   (${marks(c.runs.exitwise)})`);
    lines.push(`  ort (import, session of full.onnx, run)        ${c.medianMs.ort.toFixed(0)} ms   (${marks(c.runs.ort)})`);
  }
  for (const [n, b] of Object.entries(rec.bundles)) {
    for (const d of b.agreement?.defaults?.details ?? []) lines.push(`  ${n} image ${d.image}: exitwise exit ${d.exitwise.exit} class ${d.exitwise.class} confidences ${d.exitwise.confidences.map((x) => x.toFixed(7)).join(", ")}; ort exit ${d.ort.exit} class ${d.ort.class} confidences ${d.ort.confidences.map((x) => x.toFixed(7)).join(", ")}`);
  }
  return lines.join("\n");
}

process.exitCode = await main().catch((e) => {
  console.error(`bench: ${e?.stack ?? e}`);
  return 1;
});
