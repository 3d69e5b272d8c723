// The bundle and image URLs come in the page's query string: ?bundle=…&image=…
export function params() {
  const q = new URLSearchParams(location.search);
  return { bundle: new URL(q.get("bundle"), location.href).href, image: new URL(q.get("image"), location.href).href };
}

/** Publishes an outcome for the test: `window.__result` and `body[data-done]`. */
export function publish(outcome) {
  window.__result = outcome;
  document.body.dataset.done = "true";
}
