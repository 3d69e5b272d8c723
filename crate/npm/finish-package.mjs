// Turns wasm-pack's output (crate/pkg) into the published `exitwise` package:
//   * package.json gains `exports`, `homepage`, `bugs`, `engines` and checks its version
//     against Cargo.toml (wasm-pack already copies name, description, licence, keywords);
//   * the .wasm's raw, gzip -9 and brotli-11 sizes are printed;
//   * with --opt (an experiment, not the default: on this crate every wasm-opt level tried made
//     the raw file smaller and the gzip larger — see the README's "Package size"), the .wasm
//     goes through binaryen's wasm-opt (the npm `binaryen` package: Debian's binaryen 108
//     corrupts wasm-bindgen's externref table).
// Usage: node crate/npm/finish-package.mjs <pkg dir> [--opt <path to wasm-opt>]
import { existsSync, readFileSync, writeFileSync, renameSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

const [dir, flag, wasmOpt] = process.argv.slice(2);
const TS_SELF = '/* @ts-self-types="./exitwise.d.ts" */\n';
if (!dir) throw new Error("usage: finish-package.mjs <pkg dir> [--opt <wasm-opt>]");
const pkgPath = join(dir, "package.json");
const pkg = JSON.parse(readFileSync(pkgPath, "utf8"));
const wasm = join(dir, "exitwise_bg.wasm");

const cargo = readFileSync(new URL("../../Cargo.toml", import.meta.url), "utf8");
const version = /\[workspace\.package\][^[]*?version\s*=\s*"([^"]+)"/s.exec(cargo)?.[1];
if (pkg.version !== version) throw new Error(`package.json version ${pkg.version} != Cargo.toml ${version}`);
if (pkg.name !== "exitwise" || pkg.type !== "module") throw new Error("wasm-pack output is not the `exitwise` ES module package");

// wasm-bindgen's glue becomes exitwise_glue.js, a factory of instances (each call: a fresh copy
// of its module state), and exitwise.js the facade in crate/npm/facade.js, which starts a fresh
// instance after a trap (see there). Checked strictly: a wasm-bindgen upgrade that changes the
// glue's shape fails here, not in a user's app.
const gluePath = join(dir, "exitwise.js");
const facadeSrc = readFileSync(new URL("./facade.js", import.meta.url), "utf8");
const glue = readFileSync(gluePath, "utf8");
if (glue.includes("async function __wbg_init(")) {
  const lines = glue.split("\n");
  if (lines[0] !== TS_SELF.trim()) throw new Error("exitwise.js does not start with wasm-bindgen's @ts-self-types line");
  let i = 1;
  const head = [];
  while (i < lines.length && (lines[i].startsWith("import ") || lines[i] === "")) head.push(lines[i++]);
  const exported = [];
  const body = lines.slice(i).map((l) => {
    let m;
    if ((m = /^export (class|function) (\w+)/.exec(l))) {
      // The start function (crate/src/js/ctors.rs) runs once at init, from the glue itself.
      if (m[2] !== "run_constructors_once") exported.push([m[2], m[2]]);
      return l.slice("export ".length);
    }
    if ((m = /^export \{ (.*) \};$/.exec(l))) {
      for (const part of m[1].split(", ")) {
        const [local, name = local] = part.split(" as ");
        exported.push([name, local]);
      }
      return "";
    }
    if (/^export /.test(l)) throw new Error(`glue: unexpected export line ${JSON.stringify(l)}`);
    return l;
  });
  const names = exported.map(([n]) => n).sort().join(",");
  const expected = ["Evaluation", "Model", "__exitwiseRunning", "__exitwiseTrap", "default", "initSync"].join(",");
  if (names !== expected) throw new Error(`glue exports ${names}; the facade covers ${expected}: update crate/npm/facade.js`);
  if (!glue.includes("let wasmModule, wasmInstance, wasm;")) throw new Error("glue: no wasmModule binding");
  const ret = exported.map(([n, l]) => `${n === "default" ? '"default"' : n}: ${l}`).join(", ");
  const factory = [
    "// wasm-bindgen's glue, made a factory by crate/npm/finish-package.mjs: every createInstance()",
    "// has its own module state (wasm instance, heap, closures, finalizers). Use exitwise.js.",
    ...head,
    "export function createInstance() {",
    ...body,
    `return { ${ret}, module: () => wasmModule };`,
    "}",
    "",
  ].join("\n");
  writeFileSync(join(dir, "exitwise_glue.js"), factory);
} else if (!existsSync(join(dir, "exitwise_glue.js"))) {
  throw new Error(`${gluePath} is neither wasm-bindgen's glue nor the facade over exitwise_glue.js`);
}
writeFileSync(gluePath, TS_SELF + facadeSrc);

const repo = typeof pkg.repository === "object" ? pkg.repository.url : pkg.repository;
Object.assign(pkg, {
  homepage: `${repo.replace(/\.git$/, "")}#readme`,
  bugs: { url: `${repo.replace(/\.git$/, "")}/issues` },
  // The `web` target: plain ES modules that fetch the .wasm next to them via import.meta.url,
  // so one build works with or without a bundler (Vite, webpack 5) and in module workers.
  exports: {
    ".": { types: "./exitwise.d.ts", default: "./exitwise.js" },
    "./exitwise_bg.wasm": "./exitwise_bg.wasm",
    "./package.json": "./package.json",
  },
  engines: { node: ">=18" },
});
pkg.files = [...new Set([...(pkg.files || []), "exitwise_bg.wasm", "exitwise.js", "exitwise_glue.js", "exitwise.d.ts", "README.md"])];
// The facade registers global error listeners when imported (see facade.js).
pkg.sideEffects = ["./exitwise.js", "./snippets/*"];
writeFileSync(pkgPath, JSON.stringify(pkg, null, 2) + "\n");

const sizes = () => {
  const raw = readFileSync(wasm);
  const brotli = brotliCompressSync(raw, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
  return { raw: raw.length, gzip: gzipSync(raw, { level: 9 }).length, brotli };
};
const before = sizes();
if (flag === "--opt") {
  if (!wasmOpt) throw new Error("--opt needs the path to wasm-opt");
  // Features rustc's wasm32 target emits by default, plus simd128 (.cargo/config.toml).
  const features = ["simd", "bulk-memory", "nontrapping-float-to-int", "sign-ext", "mutable-globals", "reference-types", "multivalue"];
  const out = `${wasm}.opt`;
  execFileSync(wasmOpt, [wasm, "-Oz", "--strip-debug", "--strip-producers", ...features.map((f) => `--enable-${f}`), "-o", out], { stdio: "inherit" });
  renameSync(out, wasm);
}
const after = sizes();
const line = (s) => `${s.raw} bytes raw, ${s.gzip} gzip -9, ${s.brotli} brotli -11`;
console.log(`exitwise_bg.wasm: ${flag === "--opt" ? `${line(before)} → wasm-opt -Oz → ` : ""}${line(after)}`);
