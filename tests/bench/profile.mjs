// Where `classify` spends its time in Chromium: a CDP sampling profile (50 µs) of a loop of
// classify calls, self time by function, wasm functions named from the module's name section —
// so build the package with its symbols kept:
//
//   CARGO_PROFILE_RELEASE_OPT_LEVEL=z CARGO_PROFILE_RELEASE_STRIP=false wasm-pack build crate \
//     --release --target web --out-dir pkg-prof --out-name exitwise --no-opt -- --features webgpu
//   node tests/bench/profile.mjs /crate/pkg-prof/ tiny-mnist 3000 [defaults|all]
import { join } from "node:path";
import { chromium } from "playwright-core";
import { startServer, ROOT } from "../server.mjs";
import { functionNames } from "../wasm-binary.mjs";

const NAMES = functionNames(join(ROOT, process.argv[2], "exitwise_bg.wasm"));
const demangle = (s) => s.replace(/::h[0-9a-f]{16}$/, "");
const [pkg, bundle, reps, mode] = [process.argv[2], process.argv[3], +process.argv[4], process.argv[5] || "defaults"];
const { url, server } = await startServer();
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic", "--headless=new"] });
const page = await browser.newPage();
await page.goto(url + "tests/bench/index.html");
await page.evaluate(async ({ pkg, bundle }) => {
  const m = await import(pkg + "exitwise.js"); await m.default();
  const model = await m.Model.load("/models/" + bundle + "/", { backend: "cpu" });
  const pack = model.testPack(); const len = pack.images.length / pack.count;
  window.imgs = []; for (let i = 0; i < 500; i++) window.imgs.push(pack.images.slice(i * len, (i + 1) * len));
  window.model = model; window.ones = new Array(model.info().defaultThresholds.length).fill(1);
  for (let i = 0; i < 200; i++) await model.classify(window.imgs[i % 500]);
}, { pkg, bundle });
const cdp = await page.context().newCDPSession(page);
await cdp.send("Profiler.enable"); await cdp.send("Profiler.setSamplingInterval", { interval: 50 }); await cdp.send("Profiler.start");
const ms = await page.evaluate(async ({ reps, mode }) => { const t0 = performance.now(); for (let i = 0; i < reps; i++) await model.classify(imgs[i % 500], mode === "all" ? ones : undefined); return (performance.now() - t0) / reps; }, { reps, mode });
const { profile } = await cdp.send("Profiler.stop");
const self = new Map(); const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const dt = profile.timeDeltas; let total = 0;
profile.samples.forEach((id, i) => { const n = byId.get(id); let name = n.callFrame.functionName || `(${n.callFrame.url.split("/").pop()})`; const mm = /^wasm-function\[(\d+)\]$/.exec(name); if (mm && NAMES.has(+mm[1])) name = demangle(NAMES.get(+mm[1])); const d = dt[i] || 0; total += d; self.set(name, (self.get(name) || 0) + d); });
console.log(`${bundle} ${mode}: ${ms.toFixed(4)} ms per classify; ${(total / 1000).toFixed(0)} ms sampled`);
[...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 35).forEach(([n, d]) => console.log((100 * d / total).toFixed(1).padStart(5) + " %  " + n.slice(0, 140)));
await browser.close(); server.close();
