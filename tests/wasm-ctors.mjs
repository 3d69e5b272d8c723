// Whether a .wasm was linked "command-style": wasm-ld then starts every exported function with
// a call to `__wasm_call_ctors` (all static constructors, again, on every call). Returns the
// share of exported functions whose first instruction calls one and the same function.
import { readFileSync } from "node:fs";

export function sharedFirstCall(path) {
  const b = readFileSync(path);
  let p = 8;
  const skip = () => { const l = leb(); p += l; };
  const leb = () => { let r = 0, s = 0, x; do { x = b[p++]; r += (x & 0x7f) * 2 ** s; s += 7; } while (x & 0x80); return r; };
  let imported = 0; const exports = []; const bodies = [];
  while (p < b.length) {
    const id = b[p++]; const size = leb(); const end = p + size;
    if (id === 2) {
      for (let n = leb(); n > 0; n--) {
        skip(); skip(); // module, name
        const kind = b[p++];
        if (kind === 0) { imported++; leb(); } else if (kind === 1) { p++; const f = b[p++]; leb(); if (f & 1) leb(); } else if (kind === 2) { const f = b[p++]; leb(); if (f & 1) leb(); } else if (kind === 3) { p += 2; } else { p++; leb(); }
      }
    } else if (id === 7) {
      for (let n = leb(); n > 0; n--) { skip(); const kind = b[p++]; const idx = leb(); if (kind === 0) exports.push(idx); }
    } else if (id === 10) {
      for (let n = leb(); n > 0; n--) { const len = leb(); bodies.push(p); p += len; }
    }
    p = end;
  }
  const firstCall = (idx) => {
    p = bodies[idx - imported];
    if (p === undefined) return null;
    for (let n = leb(); n > 0; n--) { leb(); p++; } // locals
    return b[p] === 0x10 ? (p++, leb()) : null;
  };
  const counts = new Map();
  for (const e of exports) { const c = firstCall(e); if (c !== null) counts.set(c, (counts.get(c) || 0) + 1); }
  const most = Math.max(0, ...counts.values());
  return { exports: exports.length, share: exports.length ? most / exports.length : 0 };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(sharedFirstCall(process.argv[2]));
