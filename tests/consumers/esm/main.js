// No bundler: the page imports the package through its import map, then runs the same steps
// inside a module Worker (the pattern the package README documents).
import * as exitwise from "exitwise";
import { run } from "../shared/run.js";
import { params, publish } from "../shared/params.js";

function inWorker(p) {
  const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
  return new Promise((resolve, reject) => {
    worker.onmessage = (e) => (e.data.ok ? resolve(e.data.result) : reject(Object.assign(new Error(e.data.error), { code: e.data.code })));
    worker.onerror = (e) => reject(new Error(`worker: ${e.message}`));
    worker.postMessage(p);
  }).finally(() => worker.terminate());
}

(async () => {
  const p = params();
  const page = await run(exitwise, p);
  const worker = await inWorker(p);
  return { ...page, worker };
})().then(
  (result) => publish({ ok: true, result }),
  (e) => publish({ ok: false, error: String(e && e.stack || e), code: e && e.code }),
);
