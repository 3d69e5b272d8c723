// Reads of caller-supplied values, for the Rust side of the JS API (crate/src/js/read.rs).
//
// A JS exception that unwinds through Rust frames skips their clean-up: wasm's shadow-stack
// pointer is not restored and RefCell borrows stay taken, so enough of them kill the instance.
// Caller mistakes throw in ordinary JS (a buffer transferred to a worker, a Proxy or getter that
// throws, a revoked Proxy), so every read that can run caller code or touch a caller buffer
// happens here. The exported functions never throw: each returns `[true, value]` or
// `[false, message]`. (Not wasm-bindgen's `catch` imports: each exception they catch leaks a slot
// of its externref table — 100,000 bad calls, 100,000 slots.) What they hand back is fresh and
// ours (no caller getters left on it).

const TypedArray = Object.getPrototypeOf(Uint8Array);
const getter = (proto, key) => Object.getOwnPropertyDescriptor(proto, key).get;
// The engine's own accessors, read once: a caller's object cannot override them.
const tagOf = getter(TypedArray.prototype, Symbol.toStringTag);
const bufferOf = getter(TypedArray.prototype, "buffer");
const offsetOf = getter(TypedArray.prototype, "byteOffset");
const lengthOf = getter(TypedArray.prototype, "length");
const detachedOf = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, "detached")?.get;
const abLengthOf = getter(ArrayBuffer.prototype, "byteLength");
const apply = Reflect.apply;
const KINDS = { Float32Array, Uint8Array, Uint8ClampedArray };

function isArrayBuffer(v) {
  try {
    apply(abLengthOf, v, []);
    return true;
  } catch {
    return false;
  }
}

function checkAttached(buffer) {
  let detached = false;
  if (detachedOf) {
    try {
      detached = apply(detachedOf, buffer, []);
    } catch {
      detached = false; // a SharedArrayBuffer: never detached
    }
  } else {
    // Engines without `ArrayBuffer.prototype.detached`: making a view of a detached buffer throws.
    try {
      new Uint8Array(buffer, 0, 0);
    } catch {
      detached = true;
    }
  }
  if (detached) throw new TypeError("its ArrayBuffer is detached (transferred to a worker or closed): pass a buffer you still own");
}

/**
 * A fresh view (no copy) of `v` when `v` is a genuine typed array of `kind` ("Float32Array",
 * "Uint8Array", "Uint8ClampedArray") — or, for "Uint8Array", an ArrayBuffer; `null` when it is
 * not; throws when its buffer is detached.
 */
function view(v, kind) {
  const Ctor = KINDS[kind];
  if (v === null || (typeof v !== "object" && typeof v !== "function")) return null;
  if (kind === "Uint8Array" && isArrayBuffer(v)) {
    checkAttached(v);
    return new Uint8Array(v);
  }
  if (apply(tagOf, v, []) !== kind) return null; // undefined for anything not a typed array
  const buffer = apply(bufferOf, v, []);
  checkAttached(buffer);
  return new Ctor(buffer, apply(offsetOf, v, []), apply(lengthOf, v, []));
}

/** `v[key]`: may run a getter or a Proxy trap, hence here. */
function getKey(v, key) {
  return v == null ? undefined : v[key];
}

/** Whether `v` is a genuine Map (not fooled by a Proxy or a forged Symbol.toStringTag). */
function isMap(v) {
  try {
    Map.prototype.has.call(v, "");
    return true;
  } catch {
    return false;
  }
}

/**
 * A bundle's files given as a Map or a plain object: `[names, views]`, each name a string and
 * each view a fresh Uint8Array; throws (caught) on any getter, trap or entry that fails.
 */
function entries(source) {
  const entries = isMap(source) ? Array.from(Map.prototype.entries.call(source)) : Object.entries(source);
  const names = [];
  const views = [];
  for (const entry of entries) {
    const [name, bytes] = entry;
    if (typeof name !== "string") throw new TypeError("bundle file names must be strings");
    const bytesView = view(bytes, "Uint8Array");
    if (bytesView === null) throw new TypeError(`${name}: expected a Uint8Array or ArrayBuffer`);
    names.push(name);
    views.push(bytesView);
  }
  return [names, views];
}

/** What a thrown value says; never throws itself (its `message` may be a throwing getter). */
export function describe(e) {
  try {
    const m = e instanceof Error ? e.message : e;
    return typeof m === "string" ? m : String(m);
  } catch {
    return "an exception that cannot be described";
  }
}

/** `[true, f()]`, or `[false, what the exception says]`. */
function attempt(f) {
  try {
    return [true, f()];
  } catch (e) {
    return [false, describe(e)];
  }
}

/**
 * A fresh view (no copy) of `v` when `v` is a genuine typed array of `kind` ("Float32Array",
 * "Uint8Array", "Uint8ClampedArray") — or, for "Uint8Array", an ArrayBuffer; `null` when it is
 * not; a failure when its buffer is detached.
 */
export const typedView = (v, kind) => attempt(() => view(v, kind));
/** `v[key]`, which may run a getter or a Proxy trap. */
export const field = (v, key) => attempt(() => getKey(v, key));
/** A bundle's files given as a Map or a plain object: `[names, views]`. */
export const bundleEntries = (source) => attempt(() => entries(source));
/** `JSON.stringify(v)`, which runs getters, `toJSON` and Proxy traps. */
export const stringify = (v) => attempt(() => JSON.stringify(v));
/** `f(arg)` for a caller's callback (progress): whatever it throws is dropped. */
export function callQuietly(f, arg) {
  try {
    f(arg);
  } catch {
    // a callback's own bug is not the model's failure
  }
}
