// A Vite app: `import … from "exitwise"` resolved by the bundler from node_modules; the .wasm is
// emitted as an asset via the package's `new URL(…, import.meta.url)`.
import * as exitwise from "exitwise";
import { run } from "../shared/run.js";
import { params, publish } from "../shared/params.js";

run(exitwise, params()).then(
  (result) => publish({ ok: true, result }),
  (e) => publish({ ok: false, error: String(e && e.stack || e), code: e && e.code }),
);
