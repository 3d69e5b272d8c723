// An exitwise bundle run on onnxruntime-web by hand: the JavaScript a user would write instead of
// using exitwise. One InferenceSession per part (manifest.json's segments and exits), run in the
// manifest's order; activations flow by the names the manifest gives (`inputs[i]` binds to the
// ONNX graph's i-th input, `outputs[j]` names its j-th output); after each exit head the
// confidence is computed as exitwise does (crate/src/rules.rs) and the run stops at the first
// exit whose confidence reaches its threshold (the final exit always fires).
//
// The arithmetic is float32 (Math.fround), as in the Rust code, so that an image whose confidence
// sits right at a threshold is decided the same way; thresholds are compared as float32 too
// (serde parses the manifest's numbers into f32).

const f = Math.fround;

/** Numerically stable softmax in float32 (rules::softmax). */
export function softmax(logits, start = 0, c = logits.length - start) {
  let max = -Infinity;
  for (let i = 0; i < c; i++) max = f32max(max, logits[start + i]);
  const p = new Float32Array(c);
  let sum = 0;
  for (let i = 0; i < c; i++) {
    p[i] = Math.exp(f(logits[start + i] - max));
    sum = f(sum + p[i]);
  }
  for (let i = 0; i < c; i++) p[i] = p[i] / sum;
  return p;
}

/** Rust's f32::max: NaN loses. */
function f32max(a, b) {
  return Number.isNaN(a) ? b : Number.isNaN(b) ? a : Math.max(a, b);
}

/** Index of the largest value, the first on ties; NaN never wins (rules::argmax). */
export function argmax(v) {
  let best = 0;
  for (let i = 0; i < v.length; i++) if (v[i] > v[best] || Number.isNaN(v[best])) best = i;
  return best;
}

/** The exit's confidence (rules::confidence): learned | max_softmax | entropy. */
export function confidence(rule, p, learned) {
  if (rule === "learned") {
    const x = f(learned ?? NaN);
    return Number.isNaN(x) ? NaN : Math.min(1, Math.max(0, x));
  }
  if (rule === "max_softmax") {
    let m = 0;
    for (const x of p) m = f32max(m, x);
    return m;
  }
  if (rule === "entropy") {
    if (p.length < 2) return 1;
    let h = 0;
    for (const x of p) if (x > 0) h = f(h + f(-x * f(Math.log(x))));
    return Math.min(1, Math.max(0, f(1 - f(h / f(Math.log(p.length))))));
  }
  throw new Error(`unknown exit rule ${rule}`);
}

/**
 * Loads every part of the bundle at `base` (a URL ending in "/") into its own session.
 * `options` are the InferenceSession options (execution providers …).
 */
export async function loadGlued(ort, base, manifest, options) {
  const steps = [];
  manifest.segments.forEach((part, k) => {
    steps.push({ part, exit: -1 });
    manifest.exits.forEach((e, i) => e.after === k && steps.push({ part: e, exit: i }));
  });
  for (const s of steps) {
    const res = await fetch(base + s.part.file);
    if (!res.ok) throw new Error(`${base}${s.part.file}: HTTP ${res.status}`);
    s.session = await ort.InferenceSession.create(new Uint8Array(await res.arrayBuffer()), options);
  }
  const chw = manifest.input.shape.slice(1);
  const last = manifest.exits.length - 1;
  const thresholds = manifest.exits.map((e, i) => (i === last ? null : f(e.threshold)));
  return { ort, manifest, steps, chw, last, thresholds, classes: manifest.labels.length };
}

/**
 * Runs the chain on `n` normalised inputs `x` (Float32Array, n·C·H·W). With `stop` (only for
 * n = 1) it returns at the first exit that fires: { exit, class, confidence, confidences };
 * without, it runs every part and returns, per exit, { classes, confidences } for the n inputs.
 */
export async function runGlued(g, x, n, stop = true) {
  const acts = new Map([["input", new g.ort.Tensor("float32", x, [n, ...g.chw])]]);
  const perExit = [];
  for (const { part, exit, session } of g.steps) {
    const feeds = {};
    session.inputNames.forEach((name, i) => (feeds[name] = acts.get(part.inputs[i])));
    const out = await session.run(feeds);
    session.outputNames.forEach((name, j) => acts.set(part.outputs[j], out[name]));
    if (exit < 0) continue;
    const e = g.manifest.exits[exit];
    const logits = acts.get(e.logits).data;
    const learned = e.confidence ? acts.get(e.confidence).data : null;
    const classes = new Int32Array(n);
    const confidences = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const p = softmax(logits, i * g.classes, g.classes);
      classes[i] = argmax(p);
      confidences[i] = confidence(e.rule, p, learned ? learned[i] : undefined);
    }
    perExit.push({ classes, confidences });
    if (stop && (exit === g.last || confidences[0] >= g.thresholds[exit])) {
      return { exit, class: classes[0], confidence: confidences[0], confidences: perExit.map((o) => o.confidences[0]) };
    }
  }
  return perExit;
}

/** (x − mean[c]) / std[c] per channel, into a new Float32Array (images `from`..`from + n`). */
export function normalise(manifest, images, from, n) {
  const [c, h, w] = manifest.input.shape.slice(1);
  const plane = h * w;
  const len = c * plane;
  const out = new Float32Array(n * len);
  const src = images.subarray(from * len, (from + n) * len);
  for (let i = 0; i < out.length; i++) {
    const ch = Math.floor(i / plane) % c;
    out[i] = (src[i] - f(manifest.input.mean[ch])) / f(manifest.input.std[ch]);
  }
  return out;
}
