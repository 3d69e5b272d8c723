// `base: "./"` so the built app works from any folder of the test server.
export default {
  base: "./",
  logLevel: "warn",
  // Dev-server only: keep Vite's dependency pre-bundler away from the package so that
  // `new URL("exitwise_bg.wasm", import.meta.url)` still points next to exitwise.js.
  optimizeDeps: { exclude: ["exitwise"] },
};
