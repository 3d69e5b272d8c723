// exitwise's entry point: wasm-bindgen's glue (exitwise_glue.js, made a factory of instances by
// finish-package.mjs) behind a thin layer that keeps a trap from hanging or killing the app.
//
// exitwise never panics on purpose, but if its wasm ever traps (a bug), the instance is unusable:
// its Rust frames were abandoned mid-call. Then every call in flight rejects with an
// `ExitwiseError` of code INSTANCE_CRASHED, every model of that instance answers the same, and
// the next `Model.load` starts a fresh instance (from the already compiled module). Each instance
// has its own copy of the glue, so nothing of a dead instance (closures, finalizers, pointers)
// can ever touch a live one.
import { createInstance } from "./exitwise_glue.js";

/** Methods that return a Promise: on a dead instance they reject instead of throwing. */
const ASYNC = new Set(["classify", "trace", "classifyBatch", "classifyFull", "evaluate", "load"]);

let current = null; // the live instance: { glue, ready, dead, pending }
let firstInit; // what the app passed to init(), for an instance started before the module is known
let compiled; // the compiled WebAssembly.Module, shared by every later instance

function crashedError(cause) {
  const e = new Error("the exitwise wasm instance trapped (a bug in exitwise: please report it); its models are gone, load them again", { cause });
  e.name = "ExitwiseError";
  e.code = "INSTANCE_CRASHED";
  return e;
}

function start(initArg, sync) {
  const glue = createInstance();
  const inst = { glue, dead: false, pending: new Set(), exports: null };
  const arg = compiled ? { module_or_path: compiled } : initArg;
  const done = (exports) => {
    inst.exports = exports;
    compiled ??= glue.module();
    return exports;
  };
  if (sync) {
    inst.ready = Promise.resolve(done(glue.initSync(compiled ? { module: compiled } : initArg)));
  } else {
    inst.ready = glue.default(arg).then(done);
    inst.ready.catch(() => {
      if (current === inst) current = null; // a failed start (bad URL) can be retried
    });
  }
  current = inst;
  return inst;
}

function live() {
  return current && !current.dead ? current : start(firstInit, false);
}

function crash(inst, cause) {
  if (inst.dead) return;
  inst.dead = true;
  if (current === inst) current = null;
  const error = crashedError(cause);
  for (const reject of inst.pending) reject(error);
  inst.pending.clear();
}

const isTrap = (e) => typeof WebAssembly !== "undefined" && e instanceof WebAssembly.RuntimeError;

// A trap inside a call's microtask surfaces on the global scope, where no exitwise frame can be
// running unless the trap was ours (the count of running frames stays above zero).
if (typeof globalThis.addEventListener === "function") {
  const check = (e) => {
    const inst = current;
    if (!inst || inst.dead || !inst.exports || !isTrap(e)) return;
    let running = 1;
    try {
      running = inst.glue.__exitwiseRunning();
    } catch {
      // unreadable: the instance is gone either way
    }
    if (running > 0) crash(inst, e);
  };
  globalThis.addEventListener("error", (ev) => check(ev.error));
  globalThis.addEventListener("unhandledrejection", (ev) => check(ev.reason));
}

// Facade objects → { inst, inner } (the glue's object of that instance).
const handles = new WeakMap();

function wrap(inst, v) {
  if (v instanceof inst.glue.Model) return adopt(Model, inst, v);
  if (v instanceof inst.glue.Evaluation) return adopt(Evaluation, inst, v);
  return v;
}

function adopt(Class, inst, inner) {
  const o = Object.create(Class.prototype);
  handles.set(o, { inst, inner });
  return o;
}

/** Runs `f` on `inst`: a trap ends the instance; a Promise is tracked so a crash settles it. */
function enter(inst, f, async) {
  if (inst.dead) {
    if (async) return Promise.reject(crashedError());
    throw crashedError();
  }
  let r;
  try {
    r = f();
  } catch (e) {
    if (!isTrap(e)) throw e;
    crash(inst, e);
    if (async) return Promise.reject(crashedError(e));
    throw crashedError(e);
  }
  if (!(r instanceof Promise)) return wrap(inst, r);
  return new Promise((resolve, reject) => {
    inst.pending.add(reject);
    r.then(
      (v) => {
        inst.pending.delete(reject);
        resolve(wrap(inst, v));
      },
      (e) => {
        inst.pending.delete(reject);
        if (isTrap(e)) crash(inst, e);
        reject(isTrap(e) ? crashedError(e) : e);
      },
    );
  });
}

function unwrapArg(inst, a) {
  const h = a !== null && typeof a === "object" ? handles.get(a) : undefined;
  if (!h) return a;
  if (h.inst !== inst) throw crashedError(); // an object of a dead instance
  return h.inner;
}

function method(key) {
  const async = ASYNC.has(key);
  return function (...args) {
    const h = handles.get(this);
    if (!h) throw new TypeError(`exitwise: ${key} called on an object that is not an exitwise model or evaluation`);
    return enter(h.inst, () => h.inner[key](...args.map((a) => unwrapArg(h.inst, a))), async);
  };
}

function free() {
  const h = handles.get(this);
  if (!h) return;
  handles.delete(this);
  if (!h.inst.dead) h.inner.free(); // a dead instance's memory is dropped with it
}

/** Copies the glue class's methods and getters onto the facade class, each through `enter`. */
function mirror(Facade, Glue) {
  for (const key of Object.getOwnPropertyNames(Glue.prototype)) {
    if (key === "constructor" || key === "free" || key.startsWith("__")) continue;
    const d = Object.getOwnPropertyDescriptor(Glue.prototype, key);
    if (d.get) {
      Object.defineProperty(Facade.prototype, key, {
        configurable: true,
        get() {
          const h = handles.get(this);
          if (!h) throw new TypeError(`exitwise: ${key} read on an object that is not an exitwise model or evaluation`);
          return enter(h.inst, () => h.inner[key], false);
        },
      });
    } else if (typeof d.value === "function") {
      Facade.prototype[key] = method(key);
    }
  }
  Facade.prototype.free = free;
  if (Symbol.dispose) Facade.prototype[Symbol.dispose] = free;
}

/** An early-exit model loaded from a bundle (see exitwise.d.ts for every method). */
export class Model {
  constructor() {
    throw new TypeError("exitwise: use Model.load(source, options)");
  }

  /** Loads a bundle; starts the wasm instance first if needed (a fresh one after a crash). */
  static load(source, options) {
    const inst = live();
    return inst.ready.then(() => enter(inst, () => inst.glue.Model.load(source, options), true));
  }
}

/** A labelled set traced once (see exitwise.d.ts). */
export class Evaluation {
  constructor() {
    throw new TypeError("exitwise: an Evaluation comes from model.evaluate(images, labels)");
  }
}

{
  const template = createInstance(); // classes only: no wasm is started
  mirror(Model, template.Model);
  mirror(Evaluation, template.Evaluation);
}

/** Starts the wasm instance (optional: `Model.load` does it); resolves to its exports. */
export default function init(moduleOrPath) {
  if (current && !current.dead) return current.ready;
  firstInit = moduleOrPath;
  return start(moduleOrPath, false).ready;
}

/** Synchronous `init` from a module or bytes. */
export function initSync(module) {
  if (current && !current.dead && current.exports) return current.exports;
  firstInit ??= module;
  return start(module, true).exports;
}

/** Rust frames running a call right now (diagnostics, tests). */
export function __exitwiseRunning() {
  const inst = current;
  return inst && inst.exports ? inst.glue.__exitwiseRunning() : 0;
}

/** Test-only: traps the live instance, at once or (`later`) inside a call's microtask. */
export function __exitwiseTrap(later) {
  const inst = current;
  if (!inst || inst.dead || !inst.exports) return Promise.reject(new Error("exitwise: no live instance to trap"));
  return enter(inst, () => inst.glue.__exitwiseTrap(later), true);
}
