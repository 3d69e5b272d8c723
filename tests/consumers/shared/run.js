// What every consumer app does with the installed package, as a user would: load a bundle,
// classify an image at the default thresholds, move the thresholds, and meet a typed error.
// `exitwise` is the package's module namespace, imported by each app its own way.

/** An image URL → ImageData, on the main thread or in a worker (OffscreenCanvas). */
async function imageData(url) {
  const bitmap = await createImageBitmap(await (await fetch(url)).blob());
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext("2d");
  ctx.drawImage(bitmap, 0, 0);
  return ctx.getImageData(0, 0, bitmap.width, bitmap.height);
}

const pick = (c) => ({ exit: c.exit, exitName: c.exitName, class: c.class, label: c.label, confidence: c.confidence, flopsSaved: c.flopsSaved, backend: c.backend });

async function codeOf(promise) {
  try {
    await promise;
    return null;
  } catch (e) {
    return { name: e.name, code: e.code, isError: e instanceof Error };
  }
}

export async function run(exitwise, { bundle, image }) {
  const { default: init, Model } = exitwise;
  await init();
  let files = 0;
  const model = await Model.load(bundle, { backend: "auto", onProgress: () => files++ });
  const img = await imageData(image);
  const info = model.info();
  const early = info.exits.length - 1;
  const atDefaults = await model.classify(img);
  const atOnes = await model.classify(img, new Array(early).fill(1));
  const errors = {
    missingBundle: await codeOf(Model.load(new URL("/no-such-bundle/", location.href).href)),
    badThreshold: await codeOf(model.classify(img, new Array(early).fill(2))),
  };
  const after = await model.classify(img); // still works after the errors
  const backend = model.backend;
  model.free();
  return { backend, files, defaults: info.defaultThresholds, atDefaults: pick(atDefaults), atOnes: pick(atOnes), after: pick(after), errors };
}
