// A tiny static server of the repository root for the page tests (test-only; the real demo is
// served by `exitwise serve`). Correct MIME types, including application/wasm.
//
// If models/index.json does not exist yet it answers that path with a listing of every
// models/<name>/manifest.json it finds, or of tests/out/bundles/<name>/ (test-only exports)
// when there is none (nothing is written to disk).
//
//   node tests/server.mjs [port]      # serve by hand, default port 8080

import { createServer } from "node:http";
import { readFile, readdir, stat } from "node:fs/promises";
import { extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".ico": "image/x-icon",
  ".onnx": "application/octet-stream",
  ".bin": "application/octet-stream",
  ".ts": "text/plain; charset=utf-8",
  ".md": "text/markdown; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
};

/**
 * Bundles: [{ name, path }] for every models/<dir>/manifest.json, or, when there is none yet,
 * every tests/out/bundles/<dir>/manifest.json (test-only exports, ignored by git).
 */
export async function listBundles(root = ROOT) {
  let found = await bundlesIn(root, "models");
  if (!found.length) found = await bundlesIn(root, "tests/out/bundles");
  const order = (n) => (n === "tiny-mnist" ? 0 : 1);
  return found.sort((a, b) => order(a.name) - order(b.name) || a.name.localeCompare(b.name));
}

async function bundlesIn(root, folder) {
  const dirs = await readdir(join(root, folder), { withFileTypes: true }).catch(() => []);
  const found = [];
  for (const d of dirs) {
    if (!d.isDirectory() || d.name.startsWith(".")) continue;
    const ok = await stat(join(root, folder, d.name, "manifest.json")).then(() => true, () => false);
    if (ok) found.push({ name: d.name, path: `${folder}/${d.name}/` });
  }
  return found;
}

/** The models listing the page will see: models/index.json, or the synthesized one. */
export async function modelIndex(root = ROOT) {
  try {
    return JSON.parse(await readFile(join(root, "models", "index.json"), "utf8"));
  } catch {
    return listBundles(root);
  }
}

export function startServer({ root = ROOT, port = 0, host = "127.0.0.1" } = {}) {
  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url, "http://localhost");
      let path = decodeURIComponent(url.pathname);
      if (path.endsWith("/")) path += "index.html";
      const file = normalize(join(root, path));
      if (file !== root && !file.startsWith(root + sep)) {
        res.writeHead(403).end("forbidden");
        return;
      }
      let body;
      try {
        body = await readFile(file);
      } catch {
        if (path === "/models/index.json") {
          body = Buffer.from(JSON.stringify(await listBundles(root)));
        } else {
          res.writeHead(404, { "content-type": "text/plain" }).end("not found");
          return;
        }
      }
      res.writeHead(200, {
        "content-type": TYPES[extname(file).toLowerCase()] || "application/octet-stream",
        "content-length": body.length,
        "cache-control": "no-store",
      });
      res.end(req.method === "HEAD" ? undefined : body);
    } catch (e) {
      res.writeHead(500, { "content-type": "text/plain" }).end(String(e));
    }
  });
  return new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(port, host, () => ok({ server, url: `http://${host}:${server.address().port}/` }));
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const port = Number(process.argv[2] || 8080);
  const { url } = await startServer({ port });
  console.log(`serving ${ROOT} on ${url}`);
}
