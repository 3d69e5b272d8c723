// Reading a .wasm file's structure, for tests and bench tools: one byte reader (LEB128, section
// walk) and what is asked of it.
import { readFileSync } from "node:fs";

/** A cursor over `bytes`: unsigned LEB128 numbers and skips. */
function reader(bytes, at = 0) {
  const r = {
    at,
    leb() { let v = 0, s = 0, x; do { x = bytes[r.at++]; v += (x & 0x7f) * 2 ** s; s += 7; } while (x & 0x80); return v; },
    skip() { const n = r.leb(); r.at += n; },
    byte() { return bytes[r.at++]; },
  };
  return r;
}

/** Calls `visit(id, r, end)` for each section (id, a reader at its content, its end). */
function sections(bytes, visit, at = 8) {
  const r = reader(bytes, at);
  while (r.at < bytes.length) {
    const id = r.byte(); const size = r.leb(); const end = r.at + size;
    visit(id, r, end);
    r.at = end;
  }
}

/**
 * Whether a .wasm was linked "command-style": wasm-ld then starts every exported function with a
 * call to `__wasm_call_ctors` (all static constructors, again, on every call). Returns the number
 * of exported functions and the share whose first instruction calls one and the same function.
 */
export function sharedFirstCall(path) {
  const b = readFileSync(path);
  let imported = 0; const exports = []; const bodies = [];
  sections(b, (id, r) => {
    if (id === 2) {
      for (let n = r.leb(); n > 0; n--) {
        r.skip(); r.skip(); // module, name
        const kind = r.byte();
        if (kind === 0) { imported++; r.leb(); }
        else if (kind === 1) { r.byte(); const f = r.byte(); r.leb(); if (f & 1) r.leb(); }
        else if (kind === 2) { const f = r.byte(); r.leb(); if (f & 1) r.leb(); }
        else if (kind === 3) { r.at += 2; }
        else { r.byte(); r.leb(); }
      }
    } else if (id === 7) {
      for (let n = r.leb(); n > 0; n--) { r.skip(); const kind = r.byte(); const idx = r.leb(); if (kind === 0) exports.push(idx); }
    } else if (id === 10) {
      for (let n = r.leb(); n > 0; n--) { const len = r.leb(); bodies.push(r.at); r.at += len; }
    }
  });
  const firstCall = (idx) => {
    if (bodies[idx - imported] === undefined) return null;
    const r = reader(b, bodies[idx - imported]);
    for (let n = r.leb(); n > 0; n--) { r.leb(); r.byte(); } // locals
    return r.byte() === 0x10 ? r.leb() : null;
  };
  const counts = new Map();
  for (const e of exports) { const c = firstCall(e); if (c !== null) counts.set(c, (counts.get(c) || 0) + 1); }
  const most = Math.max(0, ...counts.values());
  return { exports: exports.length, share: exports.length ? most / exports.length : 0 };
}

/** Function index → name, from the `name` custom section (empty when the build stripped it). */
export function functionNames(path) {
  const [sec] = WebAssembly.Module.customSections(new WebAssembly.Module(readFileSync(path)), "name");
  const names = new Map();
  if (!sec) return names;
  const b = new Uint8Array(sec);
  sections(b, (id, r) => {
    if (id !== 1) return;
    for (let n = r.leb(); n > 0; n--) { const idx = r.leb(); const len = r.leb(); names.set(idx, new TextDecoder().decode(b.subarray(r.at, r.at + len))); r.at += len; }
  }, 0);
  return names;
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(sharedFirstCall(process.argv[2]), functionNames(process.argv[2]).size, "names");
