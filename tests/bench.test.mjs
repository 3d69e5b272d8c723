// The browser benchmark's smoke mode (tests/bench/run.mjs --smoke: 1 round, 32 tiny-mnist test
// images, no cold start) as a test: it runs, exitwise classify and the glued onnxruntime-web
// chain agree on every image, and every number it records is finite and positive.
// Run:  cd tests && node --test bench.test.mjs
//
// Needs the wasm package in crate/pkg (or BENCH_PKG=/path/to/pkg), Chromium (CHROMIUM, default
// /usr/bin/chromium) and onnxruntime-web in tests/node_modules.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const RUN = fileURLToPath(new URL("./bench/run.mjs", import.meta.url));

test("bench --smoke: exitwise and onnxruntime-web agree; every number is finite and positive", { timeout: 600_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "exitwise-bench-test-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, "browser.json");
  const args = [RUN, "--smoke", "--out", out, ...(process.env.BENCH_PKG ? ["--pkg", process.env.BENCH_PKG] : [])];
  const { code, stdout, stderr } = await new Promise((done) => {
    execFile(process.execPath, args, { timeout: 540_000, maxBuffer: 16 << 20 }, (e, stdout, stderr) => done({ code: e ? (e.code ?? e.signal) : 0, stdout, stderr }));
  });
  assert.equal(code, 0, `bench --smoke failed (${code}):\n${stdout}\n${stderr}`);
  const rec = JSON.parse(readFileSync(out, "utf8"));
  assert.equal(rec.ok, true);
  assert.deepEqual(rec.failures, []);
  assert.match(rec.browser.version ?? "", /^\d+\./);
  assert.match(rec.ort.version, /^1\.\d+\.\d+$/);
  const bundles = Object.entries(rec.bundles);
  assert.deepEqual(bundles.map(([n]) => n), ["tiny-mnist"]);
  for (const [name, b] of bundles) {
    assert.equal(b.images, 32, `${name}: images`);
    assert.equal(b.agreement.defaults.disagreements, 0, `${name}: exitwise vs glued ort`);
    assert.equal(b.agreement.defaults.images, 32);
    for (const [k, v] of Object.entries(b.agreement.classifyBatch ?? {})) assert.equal(v.disagreements, 0, `${name}: classifyBatch ${k}`);
    const want = ["ort.full.b1", "ort.glued", "ort.allparts.b1", "ew.classify", "ew.classify.all", "ew.evaluate", "ort.allparts.b64", "ort.full.b16", "ort.full.b64", "ort.full.b256"];
    assert.ok(b.hasClassifyBatch, `${name}: the package has classifyBatch`);
    want.push("ew.classifyBatch.b16", "ew.classifyBatch.b64", "ew.classifyBatch.b256");
    assert.deepEqual(Object.keys(b.contenders).sort(), want.sort(), `${name}: contenders`);
    for (const [c, v] of Object.entries(b.contenders)) {
      assert.equal(v.rounds.length, 1, `${name} ${c}: rounds`);
      for (const x of [v.medianPerImageMs, v.minPerImageMs, v.maxPerImageMs, ...v.rounds.flatMap((r) => [r.ms, r.perImageMs])]) {
        assert.ok(Number.isFinite(x) && x > 0, `${name} ${c}: ${x} is not a finite positive number`);
      }
    }
    for (const [k, v] of Object.entries(b.ratios)) {
      if (v === null) assert.ok(k.includes("classifyBatch") && !b.hasClassifyBatch, `${name}: ratio ${k} missing`);
      else assert.ok(Number.isFinite(v) && v > 0, `${name}: ratio ${k} = ${v}`);
    }
    // Calibration from the shipped trace (the whole 10,000-image MNIST validation split).
    assert.equal(b.calibration?.images, 10000, `${name}: calibration trace images`);
    for (const x of [b.calibration.medianEvaluationMs, ...b.calibration.evaluationMs, ...Object.values(b.calibration.medianCalibrateMs)]) {
      assert.ok(Number.isFinite(x) && x >= 0, `${name}: calibration time ${x}`);
    }
    assert.deepEqual(Object.keys(b.calibration.medianCalibrateMs).sort(), ["0.1", "0.5", "1"]);
  }
  assert.match(stdout, /exitwise defaults ÷ ort glued/);
});
