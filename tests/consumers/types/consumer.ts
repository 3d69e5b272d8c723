// A TypeScript consumer of every public API, checked with `tsc --noEmit --strict` against the
// installed package. No `any` here, and none may come back from the package: `NotAny<T>` fails
// to compile if a result type is `any`, and each `@ts-expect-error` fails if a misuse compiles.
import init, {
  Model,
  Evaluation,
  type BackendChoice,
  type BackendName,
  type BundleSource,
  type Certified,
  type Classification,
  type ErrorCode,
  type EvaluateProgress,
  type ExitInfo,
  type ExitOutput,
  type ExitRecord,
  type ExitRule,
  type ExitwiseError,
  type FrontierPoint,
  type ImageLike,
  type ImageOptions,
  type LabelledSet,
  type LoadOptions,
  type LoadProgress,
  type ModelInfo,
  type ModelInput,
  type Summary,
  type Thresholds,
  type Trace,
} from "exitwise";

type IsAny<T> = 0 extends 1 & T ? true : false;
function notAny<T>(value: T, ..._check: IsAny<T> extends true ? ["is any"] : []): T {
  return value;
}

/** Narrows a caught value to the package's error type. */
export function isExitwiseError(e: unknown): e is ExitwiseError {
  return e instanceof Error && e.name === "ExitwiseError" && typeof (e as Partial<ExitwiseError>).code === "string";
}

/** Every error code, handled exhaustively: a new code in the package breaks this switch. */
export function explain(code: ErrorCode): string {
  switch (code) {
    case "BAD_MANIFEST": return "the manifest is invalid";
    case "MISSING_FILE": return "a bundle file could not be read";
    case "BUNDLE_HASH_MISMATCH": return "a file does not match its sha-256";
    case "BAD_ONNX": return "an ONNX part does not parse";
    case "SHAPE_MISMATCH": return "parts do not fit together";
    case "UNSUPPORTED_OP": return "an operator is not supported";
    case "BAD_INPUT": return "the input is malformed";
    case "BAD_THRESHOLD": return "a threshold is out of range";
    case "BAD_PACK": return "a test pack is malformed";
    case "BACKEND": return "the backend failed";
    case "INSTANCE_CRASHED": return "the wasm instance trapped: load the model again";
    default: {
      const unreachable: never = code;
      return unreachable;
    }
  }
}

export async function demo(source: BundleSource, image: ImageLike): Promise<string[]> {
  await init();
  const lines: string[] = [];
  const backend: BackendChoice = "auto";
  const options: LoadOptions = {
    backend,
    memoryBudget: 64 << 20,
    onProgress: (p: LoadProgress) => lines.push(`${p.file}: ${p.filesLoaded}/${p.filesTotal}, ${p.bytesLoaded} B`),
  };
  const model: Model = await Model.load(source, options);
  const name: BackendName = notAny(model.backend);
  const why: string | undefined = notAny(model.fallbackReason);
  const evidence: string = notAny(model.backendReason);
  const batches: BackendName = notAny(model.batchBackend);
  lines.push(`${evidence}; batches on ${batches}`);
  if (why !== undefined) lines.push(`on the CPU because ${why}`);
  const forced: LoadOptions = { backend: "webgpu" satisfies BackendChoice };
  lines.push(`could force ${forced.backend}`);

  const info: ModelInfo = notAny(model.info());
  const exits: ExitInfo[] = info.exits;
  const rules: ExitRule[] = exits.map((e) => e.rule);
  const macs: number = info.macsFull + info.segments.reduce((s, x) => s + x.macs, 0);
  lines.push(`${info.name} on ${name}: ${info.labels.join(",")} ${info.input.shape.join("×")} ${rules.join(",")} ${macs}`);

  const imageOptions: ImageOptions = { invert: true };
  const input: Float32Array = notAny(model.imageToInput(image, imageOptions));
  const asInput: ModelInput = input;

  const thresholds: Thresholds = info.defaultThresholds.map((t) => Math.min(1, t + 0.05));
  const c: Classification = notAny(await model.classify(asInput, thresholds));
  const records: ExitRecord[] = c.exits;
  const fired: boolean = records[records.length - 1].fired;
  const threshold: number | null = records[0].threshold;
  lines.push(`${c.label} (${c.class}) at ${c.exitName} #${c.exit}, ${c.confidence}, saved ${c.flopsSaved}, ${c.macsExecuted}/${c.macsFull} MACs, ${c.segmentsRun} segments, ${c.elapsedMs} ms, ${c.backend} ${fired} ${threshold}`);
  const withDefaults: Classification = await model.classify(image, undefined, imageOptions);
  lines.push(withDefaults.probabilities.map((p) => p.toFixed(3)).join(" "));

  const trace: Trace = notAny(await model.trace(input));
  const outs: ExitOutput[] = trace.exits;
  const d: Classification = notAny(model.decide(trace, new Float32Array(thresholds)));
  lines.push(`${outs.length} exits; decide → ${d.exit}`);

  const test: LabelledSet | undefined = notAny(model.testPack());
  const calib: LabelledSet | undefined = notAny(model.calibrationPack());
  if (test && calib) {
    const ev: Evaluation = await model.evaluate(test.images, test.labels, (p: EvaluateProgress) => lines.push(`${p.done}/${p.total}`));
    const s: Summary = notAny(ev.summary(thresholds));
    const hist: number[] = s.histogram;
    const frontier: FrontierPoint[] = notAny(ev.frontier());
    const perExit: number[] = notAny(ev.exitAccuracies());
    const certified: Certified = notAny(ev.calibrate(0.5, { delta: 0.1, path: { kind: "split", fraction: 0.5 } }));
    const guarantee: string = certified.certified ? `drop ≤ ${certified.maxDrop} pt, δ ${certified.delta}, n ${certified.n}` : `needs ${certified.minImages}`;
    const calibrated: number[] = [...certified.thresholds, ...notAny(ev.calibrateGreedy(0.5))];
    lines.push(guarantee);
    lines.push(`${ev.count} images: ${s.accuracy} vs ${s.finalAccuracy}, ${s.macsSavedFraction}, ${hist} ${frontier.length} ${perExit} ${calibrated} ${calib.count}`);
    ev.free();
  }

  try {
    await model.classify(input, [2]);
  } catch (e: unknown) {
    if (isExitwiseError(e)) lines.push(`${e.code}: ${explain(e.code)}: ${e.message}`);
  }

  // Misuses the types must reject:
  // @ts-expect-error: not a backend
  const wrong: LoadOptions = { backend: "cuda" };
  // @ts-expect-error: classify resolves to a Classification, not a string
  const notString: string = await model.classify(input);
  // @ts-expect-error: not an error code
  explain("OOPS");
  // @ts-expect-error: an input is values or an image, not a string
  await model.classify("digit.png");
  lines.push(String(wrong), notString);

  model.free();
  return lines;
}
