// A module Worker using the package. Import maps do not reach workers, so it imports the file.
import * as exitwise from "./node_modules/exitwise/exitwise.js";
import { run } from "../shared/run.js";

self.onmessage = async (e) => {
  try {
    self.postMessage({ ok: true, result: await run(exitwise, e.data) });
  } catch (err) {
    self.postMessage({ ok: false, error: String(err && err.stack || err), code: err && err.code });
  }
};
