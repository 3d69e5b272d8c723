// A/B of two exitwise packages in one headless-Chromium page: `classify` at the default
// thresholds and with every exit run, on the same test images, in alternating rounds; prints the
// median ms per image and B ÷ A. The package loaded first can measure slower whichever it is:
// run it twice with the packages swapped and combine (README "CPU hot path").
//
//   node tests/bench/ab.mjs /crate/pkg-old/ /crate/pkg/ tiny-mnist,resnet-fmnist 300 8
//   (package URLs under the repository root; bundles; images; rounds)
import { chromium } from "playwright-core";
import { startServer } from "../server.mjs";
const [A, B, bundles, images, rounds] = [process.argv[2], process.argv[3], process.argv[4].split(","), +process.argv[5], +process.argv[6]];
const { url, server } = await startServer();
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic", "--headless=new"] });
const page = await browser.newPage();
await page.goto(url + "tests/bench/index.html?nosetup=1");
const out = await page.evaluate(async ({ A, B, bundles, images, rounds }) => {
  const pkgs = {};
  for (const [k, p] of [["A", A], ["B", B]]) { const m = await import(p + "exitwise.js?" + k); await m.default(); pkgs[k] = m; }
  const res = {};
  for (const b of bundles) {
    const models = {};
    for (const k of ["A", "B"]) models[k] = await pkgs[k].Model.load("/models/" + b + "/", { backend: "cpu" });
    const pack = models.A.testPack();
    const len = pack.images.length / pack.count;
    const n = Math.min(images, pack.count);
    const imgs = []; for (let i = 0; i < n; i++) { const x = new Float32Array(len); for (let j = 0; j < len; j++) x[j] = pack.images[i * len + j]; imgs.push(x); }
    const early = models.A.info().defaultThresholds.length;
    const ones = new Array(early).fill(1);
    const t = {};
    // One untimed pass each first: V8 tiers the hot wasm functions up during it.
    for (const k of ["A", "B"]) for (let i = 0; i < n; i++) await models[k].classify(imgs[i]);
    for (let r = 0; r < rounds; r++) for (const k of (r % 2 ? ["B", "A"] : ["A", "B"])) for (const [name, th] of [["defaults", undefined], ["all", ones]]) {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) await models[k].classify(imgs[i], th);
      (t[k + " " + name] ??= []).push((performance.now() - t0) / n);
    }
    const med = (v) => [...v].sort((a, b) => a - b)[v.length >> 1];
    res[b] = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, +med(v).toFixed(4)]));
    res[b]["B/A defaults"] = +(res[b]["B defaults"] / res[b]["A defaults"]).toFixed(3);
    res[b]["B/A all"] = +(res[b]["B all"] / res[b]["A all"]).toFixed(3);
  }
  return res;
}, { A, B, bundles, images, rounds });
console.log(JSON.stringify(out, null, 1));
await browser.close(); server.close();
