// Where the cold start spends its time in Chromium: a CDP sampling profile (100 µs) of fresh
// navigations to cold.html (a new browser context each: no cache), self time by function summed
// over the runs, wasm functions named from the module's name section — so build the package with
// its symbols kept (see profile.mjs):
//
//   node tests/bench/profile-load.mjs /crate/pkg-prof/ tiny-mnist 5
import { join } from "node:path";
import { chromium } from "playwright-core";
import { startServer, ROOT } from "../server.mjs";
import { functionNames } from "../wasm-binary.mjs";

const [pkg, bundle, runs] = [process.argv[2], process.argv[3], +(process.argv[4] || 3)];
const NAMES = functionNames(join(ROOT, pkg, "exitwise_bg.wasm"));
const demangle = (s) => s.replace(/::h[0-9a-f]{16}$/, "");
const { url, server } = await startServer();
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic", "--headless=new"] });
const self = new Map();
let total = 0;
for (let k = 0; k < runs; k++) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const cdp = await ctx.newCDPSession(page);
  await cdp.send("Profiler.enable");
  await cdp.send("Profiler.setSamplingInterval", { interval: 100 });
  await cdp.send("Profiler.start");
  await page.goto(`${url}tests/bench/cold.html?engine=exitwise&pkg=${pkg}&model=/models/${bundle}/`);
  const r = await (await page.waitForFunction(() => window.__cold)).jsonValue();
  const { profile } = await cdp.send("Profiler.stop");
  if (r.error) throw new Error(r.error);
  console.log(`run ${k + 1}: ${JSON.stringify(Object.fromEntries(Object.entries(r.marks).map(([m, v]) => [m, Math.round(v)])))}`);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  profile.samples.forEach((id, i) => {
    const n = byId.get(id);
    let name = n.callFrame.functionName || `(${n.callFrame.url.split("/").pop() || "program"})`;
    const m = /^wasm-function\[(\d+)\]$/.exec(name);
    if (m && NAMES.has(+m[1])) name = demangle(NAMES.get(+m[1]));
    const d = profile.timeDeltas[i] || 0;
    total += d;
    self.set(name, (self.get(name) || 0) + d);
  });
  await ctx.close();
}
console.log(`${bundle}: ${(total / 1000 / runs).toFixed(0)} ms sampled per run`);
[...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 40).forEach(([n, d]) => console.log((100 * d / total).toFixed(1).padStart(5) + " %  " + n.slice(0, 150)));
await browser.close();
server.close();
