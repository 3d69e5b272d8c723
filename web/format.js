// exitwise demo — number formatting shared by the views.

/** 3 312 000 → "3.31 M". */
export function macs(n) {
  const a = Math.abs(n);
  if (a >= 1e9) return `${(n / 1e9).toPrecision(3)} G`;
  if (a >= 1e6) return `${(n / 1e6).toPrecision(3)} M`;
  if (a >= 1e3) return `${(n / 1e3).toPrecision(3)} k`;
  return `${Math.round(n)}`;
}

/** 0.8421 → "84.2 %" ; negative values keep a real minus sign. */
export function pct(fraction, digits = 1) {
  const s = (fraction * 100).toFixed(digits);
  return `${s.replace("-", "\u2212")}\u202f%`;
}

/** A threshold or confidence: 0.9 → "0.90". */
export function conf(x) {
  return x.toFixed(2);
}

/** Milliseconds with sensible precision. */
export function ms(x) {
  if (x < 1) return `${x.toFixed(2)} ms`;
  if (x < 100) return `${x.toFixed(1)} ms`;
  return `${Math.round(x)} ms`;
}

/** Integer with thin-space thousands. */
export function int(n) {
  return Math.round(n).toLocaleString("en-US").replace(/,/g, "\u202f");
}

/** Slider thresholds are on the 0.01 grid; library values (f32) are snapped to it. */
export function snap(x) {
  return Math.round(x * 100) / 100;
}
