// Turns wasm-pack's output (crate/pkg) into the published `exitwise` package:
//   * package.json gains `exports`, `homepage`, `bugs`, `engines` and checks its version
//     against Cargo.toml (wasm-pack already copies name, description, licence, keywords);
//   * the .wasm's raw, gzip -9 and brotli-11 sizes are printed;
//   * with --opt (an experiment, not the default: on this crate every wasm-opt level tried made
//     the raw file smaller and the gzip larger — see the README's "Package size"), the .wasm
//     goes through binaryen's wasm-opt (the npm `binaryen` package: Debian's binaryen 108
//     corrupts wasm-bindgen's externref table).
// Usage: node crate/npm/finish-package.mjs <pkg dir> [--opt <path to wasm-opt>]
import { readFileSync, writeFileSync, renameSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

const [dir, flag, wasmOpt] = process.argv.slice(2);
if (!dir) throw new Error("usage: finish-package.mjs <pkg dir> [--opt <wasm-opt>]");
const pkgPath = join(dir, "package.json");
const pkg = JSON.parse(readFileSync(pkgPath, "utf8"));
const wasm = join(dir, "exitwise_bg.wasm");

const cargo = readFileSync(new URL("../../Cargo.toml", import.meta.url), "utf8");
const version = /\[workspace\.package\][^[]*?version\s*=\s*"([^"]+)"/s.exec(cargo)?.[1];
if (pkg.version !== version) throw new Error(`package.json version ${pkg.version} != Cargo.toml ${version}`);
if (pkg.name !== "exitwise" || pkg.type !== "module") throw new Error("wasm-pack output is not the `exitwise` ES module package");

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
pkg.files = [...new Set([...(pkg.files || []), "exitwise_bg.wasm", "exitwise.js", "exitwise.d.ts", "README.md"])];
pkg.sideEffects = pkg.sideEffects || ["./snippets/*"];
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
