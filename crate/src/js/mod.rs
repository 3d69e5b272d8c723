//! The JavaScript API (wasm-bindgen). Results are plain JS objects; their TypeScript types are
//! declared below so the generated `.d.ts` has no `any` for results or options.

use crate::bundle::{Bundle, LoadLimits};
use crate::engine::{BatchClassification, Classification, Trace};
use crate::error::{Error, ErrorCode, Result};
use crate::calibrate::CalibrateOptions;
use crate::calibtrace::CalibrationTrace;
use crate::eval::Evaluation as Eval;
use crate::input::{check_values, from_rgba, from_u8, ImageOptions};
use crate::manifest::Manifest;
use fetch::fetch_bundle;
use crate::backend::choose::Work;
use runner::{Choice, Engine, Runner, RunnerOptions};
use crate::pack::Pack;
use js_sys::{Float32Array, Function, Object, Promise, Reflect, Uint8Array};
use serde::Serialize;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use crash::Counted;
use wasm_bindgen_futures::future_to_promise;

mod crash;
pub(crate) mod ctors;
mod fetch;
mod read;
pub mod runner;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** Stable error codes: `error.code` of every error exitwise throws. */
export type ErrorCode =
  | "BAD_MANIFEST" | "MISSING_FILE" | "BUNDLE_HASH_MISMATCH" | "BAD_ONNX" | "SHAPE_MISMATCH"
  | "UNSUPPORTED_OP" | "BAD_INPUT" | "BAD_THRESHOLD" | "BAD_PACK" | "BACKEND" | "INSTANCE_CRASHED";
/** Every error exitwise throws is an `Error` with a stable `code`. */
export interface ExitwiseError extends Error { name: "ExitwiseError"; code: ErrorCode }
/** Which backend runs the model: tract on the CPU (wasm SIMD) or WGSL compute kernels on WebGPU. */
export type BackendName = "cpu" | "webgpu";
/**
 * `auto` (the default) runs the CPU unless WebGPU measured faster: when `navigator.gpu` gives a
 * hardware adapter (software ones, such as SwiftShader, are skipped) and every part lowers to
 * WGSL kernels, a short probe times the loaded model on both, and single-input calls and batched
 * calls each go to the faster one (`model.backend`, `model.batchBackend`, `model.backendReason`
 * with the timings). `webgpu` uses any adapter or fails to load (`BACKEND`, or `UNSUPPORTED_OP`
 * naming the operator). A GPU device lost later moves the model to the CPU for good.
 */
export type BackendChoice = "auto" | "cpu" | "webgpu";
/** A bundle: its base URL (ending in `/`, holding `manifest.json`), or its files by name. */
export type BundleSource = string | Map<string, Uint8Array | ArrayBuffer> | Record<string, Uint8Array | ArrayBuffer>;
export interface LoadProgress { file: string; filesLoaded: number; filesTotal: number; bytesLoaded: number }
export interface LoadOptions {
  backend?: BackendChoice;
  /**
   * Most bytes one part may need for one input (its weights plus the activations alive at once),
   * estimated from the ONNX graph before anything is allocated; a part over it is refused with
   * `BAD_ONNX`. Default 256 MiB.
   */
  memoryBudget?: number;
  /** Called after each file is fetched. */
  onProgress?: (progress: LoadProgress) => void;
}
/** An image: `ImageData` or anything with RGBA bytes and a size. Any size; resized per the manifest. */
export interface ImageLike { data: Uint8ClampedArray | Uint8Array; width: number; height: number }
/** A model input: values in the manifest's `input.range`, shape C·H·W (not normalised), or an image. */
export type ModelInput = Float32Array | ImageLike;
export interface ImageOptions { /** Invert intensities (dark ink on light paper → MNIST style). */ invert?: boolean }
/** One threshold per early exit (the final classifier takes none), each in [0, 1]. */
export type Thresholds = number[] | Float32Array;
export type ExitRule = "learned" | "max_softmax" | "entropy";
export interface ExitRecord {
  exit: number; name: string; confidence: number;
  /** `null` for the final classifier, which always fires. */
  threshold: number | null;
  class: number; fired: boolean;
}
export interface Classification {
  /** Index of the exit that fired; the last index is the final classifier. */
  exit: number; exitName: string; class: number; label: string; confidence: number;
  probabilities: number[];
  /** The exits evaluated, in order; the last one fired. */
  exits: ExitRecord[];
  segmentsRun: number;
  /** MACs executed: every segment run and every exit head evaluated (1 MAC = 2 FLOPs). */
  macsExecuted: number;
  /** MACs of the plain network: all segments + the final classifier. */
  macsFull: number;
  /** 1 − macsExecuted / macsFull (negative when exits that did not fire cost more than they saved). */
  flopsSaved: number;
  /** Wall time of the run in ms; 0 from `decide`. */
  elapsedMs: number;
  backend: BackendName;
}
/**
 * `classifyBatch`'s result: per input (in order) the exit that fired, its class and confidence,
 * each equal to what `classify` gives for that input; MACs and wall time for the whole batch.
 */
export interface BatchClassification {
  count: number;
  exits: Int32Array; classes: Int32Array; confidences: Float32Array;
  /** MACs executed over the whole batch (1 MAC = 2 FLOPs). */
  macsExecuted: number;
  /** MACs of the plain network over the whole batch. */
  macsFull: number;
  flopsSaved: number;
  /** Wall time of the whole batch in ms. */
  elapsedMs: number;
  backend: BackendName;
}
export interface ExitOutput { probabilities: number[]; class: number; confidence: number }
/** Every exit's output for one input: `decide` answers for any thresholds from it. */
export interface Trace { exits: ExitOutput[] }
export interface InputInfo { shape: number[]; range: [number, number]; mean: number[]; std: number[] }
export interface SegmentInfo { name: string; file: string; macs: number }
export interface ExitInfo {
  name: string; after: number; file: string; rule: ExitRule;
  /** Default threshold; `null` for the final classifier. */
  threshold: number | null;
  /** MACs of this head. */
  macs: number;
  /** MACs executed when this exit fires. */
  cumulativeMacs: number;
}
export interface ModelInfo {
  name: string; description: string | null; labels: string[]; input: InputInfo;
  segments: SegmentInfo[]; exits: ExitInfo[];
  macsFull: number; defaultThresholds: number[]; backend: BackendName;
  hasTestPack: boolean; hasCalibrationPack: boolean;
  /** The bundle ships a calibration trace: `calibrationEvaluation()` gives it without running images. */
  hasCalibrationTrace: boolean;
}
/** Labelled inputs, `count` × C·H·W values in the input range. */
export interface LabelledSet { images: Float32Array; labels: Uint8Array; count: number }
export interface Summary {
  count: number; thresholds: number[]; accuracy: number; finalAccuracy: number;
  meanMacs: number; macsFull: number; macsSavedFraction: number; histogram: number[];
}
export interface FrontierPoint { thresholds: number[]; accuracy: number; macsSavedFraction: number }
export interface EvaluateProgress { done: number; total: number }
/** The path of threshold vectors Learn-then-Test walks: one shared threshold (the default), or
 * per-exit thresholds whose path is built on a fixed `fraction` of the set and tested on the rest. */
export type CalibrationPath = { kind: "shared" } | { kind: "split"; fraction: number };
export interface CalibrateOptions { /** Allowed failure probability, in (0, 1); default 0.1. */ delta?: number; path?: CalibrationPath }
/** A guaranteed operating point: accuracy drop ≤ maxDrop points with probability ≥ 1 − delta,
 * on data exchangeable with the calibration set. */
export interface Certified {
  thresholds: number[]; certified: boolean; maxDrop: number; delta: number; path: CalibrationPath;
  /** Images tested, and the losses (early exit wrong where the final classifier is right) among them. */
  n: number; losses: number; pValue: number;
  /** The certified bound on the drop, as a fraction (maxDrop / 100); null when nothing is certified. */
  riskUpperBound: number | null;
  stepsCertified: number; pathLength: number;
  /** Fewest images that could certify maxDrop at delta at all (zero losses). */
  minImages: number;
  macsSavedFraction: number;
}
"#;

fn js_error(e: Error) -> JsValue {
    let err = js_sys::Error::new(&e.message);
    err.set_name("ExitwiseError");
    let _ = Reflect::set(&err, &"code".into(), &e.code.as_str().into());
    err.into()
}

type JsResult<T> = std::result::Result<T, JsValue>;

/// A result as a plain JS object, through one JSON string: serialising field by field across the
/// boundary (serde-wasm-bindgen) cost ~100 µs per `Classification` in Chromium, more than a small
/// model's whole run. f32 values are written as the f64 they widen to, so JS sees exactly the
/// value Rust holds (non-finite numbers, which only a broken model gives, become `null`).
fn to_js<T: Serialize>(v: &T) -> JsResult<JsValue> {
    let fail = |e: String| js_error(Error::new(ErrorCode::Backend, format!("cannot convert a result: {e}")));
    let mut buf = Vec::with_capacity(512);
    v.serialize(&mut serde_json::Serializer::with_formatter(&mut buf, WidenF32)).map_err(|e| fail(e.to_string()))?;
    let text = String::from_utf8(buf).map_err(|e| fail(e.to_string()))?;
    js_sys::JSON::parse(&text).map_err(|_| fail("JSON.parse failed".into()))
}

/// serde_json's compact output, but f32 written as its exact f64 value.
struct WidenF32;

impl serde_json::ser::Formatter for WidenF32 {
    fn write_f32<W: ?Sized + std::io::Write>(&mut self, writer: &mut W, value: f32) -> std::io::Result<()> {
        self.write_f64(writer, value as f64)
    }
}

fn bad(code: ErrorCode, msg: impl Into<String>) -> JsValue {
    js_error(Error::new(code, msg))
}

/// Thresholds: `undefined`/`null` (the manifest's defaults), a `Float32Array` or an array of
/// numbers; read without running caller code in Rust frames (`read`).
fn thresholds_of(v: &JsValue, manifest: &Manifest) -> JsResult<Vec<f32>> {
    if v.is_undefined() || v.is_null() {
        return Ok(manifest.default_thresholds());
    }
    if let Some(t) = read::f32s(v, ErrorCode::BadThreshold, "thresholds").map_err(js_error)? {
        return Ok(t);
    }
    let t: Vec<Option<f64>> = read::json(v)
        .map_err(|e| bad(ErrorCode::BadThreshold, format!("thresholds must be an array of numbers or a Float32Array: {e}")))?;
    t.iter()
        .enumerate()
        .map(|(i, x)| x.map(|x| x as f32).ok_or_else(|| bad(ErrorCode::BadThreshold, format!("threshold {i} is not a number"))))
        .collect()
}

/// A count of inputs: a non-negative integer number.
fn count_of(v: &JsValue) -> JsResult<usize> {
    match v.as_f64() {
        Some(n) if n >= 0.0 && n.fract() == 0.0 && n <= u32::MAX as f64 => Ok(n as usize),
        _ => Err(bad(ErrorCode::BadInput, "count must be a non-negative integer")),
    }
}

/// Labels: a `Uint8Array` (or `ArrayBuffer`), or an array of integers in 0‥255; anything else
/// (an `Int32Array` would wrap mod 256) is refused.
fn labels_of(v: &JsValue) -> JsResult<Vec<u8>> {
    if let Some(l) = read::u8s(v, ErrorCode::BadInput, "labels").map_err(js_error)? {
        return Ok(l);
    }
    let l: Vec<f64> = read::json(v).map_err(|e| bad(ErrorCode::BadInput, format!("labels must be a Uint8Array or an array of class indices: {e}")))?;
    l.iter()
        .enumerate()
        .map(|(i, &x)| {
            if x >= 0.0 && x <= 255.0 && x.fract() == 0.0 {
                Ok(x as u8)
            } else {
                Err(bad(ErrorCode::BadInput, format!("label {i} is {x}, not a class index")))
            }
        })
        .collect()
}

/// Images stored one after another: a `Float32Array`.
fn images_of(v: &JsValue) -> JsResult<Vec<f32>> {
    read::f32s(v, ErrorCode::BadInput, "images")
        .map_err(js_error)?
        .ok_or_else(|| bad(ErrorCode::BadInput, "images must be a Float32Array (count × C·H·W values)"))
}

fn image_options(v: &JsValue) -> JsResult<ImageOptions> {
    if v.is_undefined() || v.is_null() {
        return Ok(ImageOptions::default());
    }
    read::json(v).map_err(|e| bad(ErrorCode::BadInput, format!("image options: {e}")))
}

/// A batch result as typed arrays: one crossing per field, not one object per input.
fn batch_to_js(b: &BatchClassification) -> JsResult<JsValue> {
    let col = |f: &dyn Fn(&Classification) -> i32| b.classifications.iter().map(f).collect::<Vec<i32>>();
    let exits = col(&|c| c.exit as i32);
    let classes = col(&|c| c.class as i32);
    let confidences: Vec<f32> = b.classifications.iter().map(|c| c.confidence).collect();
    let o = Object::new();
    let set = |k: &str, v: &JsValue| Reflect::set(&o, &k.into(), v).map(|_| ());
    set("count", &(b.classifications.len() as f64).into())?;
    set("exits", &js_sys::Int32Array::from(&exits[..]))?;
    set("classes", &js_sys::Int32Array::from(&classes[..]))?;
    set("confidences", &Float32Array::from(&confidences[..]))?;
    set("macsExecuted", &(b.macs_executed as f64).into())?;
    set("macsFull", &(b.macs_full as f64).into())?;
    set("flopsSaved", &b.flops_saved.into())?;
    set("elapsedMs", &b.elapsed_ms.into())?;
    set("backend", &b.backend.as_str().into())?;
    Ok(o.into())
}

/// An early-exit model loaded from a bundle.
///
/// Running calls (`classify`, `trace`, `evaluate`) return Promises: a GPU backend reads exit
/// outputs back asynchronously. Their arguments are read when the call is made, so the caller
/// may reuse its buffers at once. Bad arguments reject the Promise with an `ExitwiseError`.
#[wasm_bindgen]
pub struct Model {
    // Rc: a returned Promise's future must own what it runs on ('static), not borrow `self`.
    inner: Rc<Runner>,
}

/// A Promise settled by `op`, run on the model's engine (again on the CPU if the GPU device is
/// lost meanwhile: `op` may run twice); `convert` turns its result into JS. Errors reject it.
fn run_on<T, F, Fut>(runner: &Rc<Runner>, work: Work, op: F, convert: impl FnOnce(T) -> JsResult<JsValue> + 'static) -> Promise
where
    F: Fn(Rc<Engine>) -> Fut + 'static,
    Fut: std::future::Future<Output = Result<T>> + 'static,
    T: 'static,
{
    let runner = Rc::clone(runner);
    future_to_promise(Counted(Box::pin(async move { convert(runner.run(work, op).await.map_err(js_error)?) })))
}

/// A rejected Promise: bad arguments are reported where results are.
fn rejected(e: JsValue) -> Promise {
    Promise::reject(&e)
}

#[wasm_bindgen]
impl Model {
    /// Loads a bundle from its base URL or from its files, verifying hashes and shapes.
    #[wasm_bindgen(unchecked_return_type = "Promise<Model>")]
    pub fn load(
        #[wasm_bindgen(unchecked_param_type = "BundleSource")] source: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "LoadOptions")] options: JsValue,
    ) -> Promise {
        future_to_promise(Counted(Box::pin(async move { Ok(Model::load_from(source, options).await?.into()) })))
    }

    /// The backend in use.
    #[wasm_bindgen(getter, unchecked_return_type = "BackendName")]
    pub fn backend(&self) -> String {
        self.inner.engine().backend().into()
    }

    /// Why the model runs on the CPU when `auto` could have meant WebGPU (no `navigator.gpu`,
    /// no adapter, an operator WGSL kernels do not cover) or its GPU device was lost;
    /// `undefined` when nothing fell back.
    #[wasm_bindgen(getter, js_name = fallbackReason)]
    pub fn fallback_reason(&self) -> Option<String> {
        self.inner.fallback()
    }

    /// Why the model runs where it does, with the evidence: `auto` times a short probe of the
    /// loaded model on both backends and gives each kind of work to the faster one, e.g.
    /// `"classify: cpu (0.190 ms vs webgpu 0.930 ms); batches of 64: webgpu (0.050 vs cpu 0.310
    /// ms/input); probe 45 ms"`; software adapters are skipped unless `backend: "webgpu"`.
    #[wasm_bindgen(getter, js_name = backendReason)]
    pub fn backend_reason(&self) -> String {
        self.inner.reason()
    }

    /// The backend `classifyBatch` and `evaluate` run on (may differ from `backend` under
    /// `auto`, when the probe found a GPU faster only at batch size).
    #[wasm_bindgen(getter, js_name = batchBackend, unchecked_return_type = "BackendName")]
    pub fn batch_backend(&self) -> String {
        self.inner.engine_for(Work::Batch).backend().into()
    }

    /// Names, shapes, MACs per part and default thresholds.
    #[wasm_bindgen(unchecked_return_type = "ModelInfo")]
    pub fn info(&self) -> JsResult<JsValue> {
        to_js(&self.inner.engine().info())
    }

    /// Converts an image (any size) to a model input (C·H·W values in the input range).
    #[wasm_bindgen(js_name = imageToInput)]
    pub fn image_to_input(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ImageLike")] image: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "ImageOptions")] options: JsValue,
    ) -> JsResult<Float32Array> {
        let v = self.input_of(&image, &options)?;
        Ok(Float32Array::from(&v[..]))
    }

    /// Classifies one input, running segments in order and stopping at the first exit whose
    /// confidence reaches its threshold. Thresholds default to the manifest's.
    #[wasm_bindgen(unchecked_return_type = "Promise<Classification>")]
    pub fn classify(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ModelInput")] input: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "Thresholds")] thresholds: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "ImageOptions")] options: JsValue,
    ) -> Promise {
        let engine = self.inner.engine();
        let args = thresholds_of(&thresholds, engine.manifest()).and_then(|t| Ok((t, self.input_of(&input, &options)?)));
        let (t, x) = match args {
            Ok(a) => (Rc::new(a.0), Rc::new(a.1)),
            Err(e) => return rejected(e),
        };
        run_on(
            &self.inner,
            Work::Single,
            move |m| {
                let (t, x) = (Rc::clone(&t), Rc::clone(&x));
                async move { m.classify(&x, &t).await }
            },
            |c: Classification| to_js(&c),
        )
    }

    /// Runs every segment and exit once, keeping all exit outputs.
    #[wasm_bindgen(unchecked_return_type = "Promise<Trace>")]
    pub fn trace(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ModelInput")] input: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "ImageOptions")] options: JsValue,
    ) -> Promise {
        let x = match self.input_of(&input, &options) {
            Ok(x) => Rc::new(x),
            Err(e) => return rejected(e),
        };
        run_on(
            &self.inner,
            Work::Single,
            move |m| {
                let x = Rc::clone(&x);
                async move { m.trace(&x).await }
            },
            |t: Trace| to_js(&t),
        )
    }

    /// Classifies `count` inputs (stored one after another in `images`) with early exit at batch
    /// size `count`: the batch runs part by part and, after each exit, the inputs that fired
    /// leave it; the rest go on as a smaller batch. Each result equals `classify` on that input.
    #[wasm_bindgen(js_name = classifyBatch, unchecked_return_type = "Promise<BatchClassification>")]
    pub fn classify_batch(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Float32Array")] images: JsValue,
        #[wasm_bindgen(unchecked_param_type = "number")] count: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "Thresholds")] thresholds: JsValue,
    ) -> Promise {
        let engine = self.inner.engine();
        let args = thresholds_of(&thresholds, engine.manifest()).and_then(|t| Ok((t, images_of(&images)?, count_of(&count)?)));
        let (t, x, n) = match args {
            Ok((t, x, n)) => (Rc::new(t), Rc::new(x), n),
            Err(e) => return rejected(e),
        };
        run_on(
            &self.inner,
            Work::Batch,
            move |m| {
                let (t, x) = (Rc::clone(&t), Rc::clone(&x));
                async move { m.classify_batch(&x, n, &t).await }
            },
            |b: BatchClassification| batch_to_js(&b),
        )
    }

    /// The plain network on one input: every segment and the final classifier, no early exit
    /// (exit heads run only where the final classifier consumes them). Its `elapsedMs` is what
    /// early exit is measured against.
    #[wasm_bindgen(js_name = classifyFull, unchecked_return_type = "Promise<Classification>")]
    pub fn classify_full(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ModelInput")] input: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "ImageOptions")] options: JsValue,
    ) -> Promise {
        let x = match self.input_of(&input, &options) {
            Ok(x) => Rc::new(x),
            Err(e) => return rejected(e),
        };
        run_on(
            &self.inner,
            Work::Single,
            move |m| {
                let x = Rc::clone(&x);
                async move { m.classify_full(&x).await }
            },
            |c: Classification| to_js(&c),
        )
    }

    /// What `classify` would return at these thresholds, from a trace, in microseconds.
    #[wasm_bindgen(unchecked_return_type = "Classification")]
    pub fn decide(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Trace")] trace: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Thresholds")] thresholds: JsValue,
    ) -> JsResult<JsValue> {
        let engine = self.inner.engine();
        let t = thresholds_of(&thresholds, engine.manifest())?;
        let trace: Trace = read::json(&trace).map_err(|e| bad(ErrorCode::BadInput, format!("not a trace: {e}")))?;
        to_js(&engine.decide(&trace, &t).map_err(js_error)?)
    }

    /// The bundle's test pack (official test images), if it has one.
    #[wasm_bindgen(js_name = testPack, unchecked_return_type = "LabelledSet | undefined")]
    pub fn test_pack(&self) -> JsResult<JsValue> {
        self.pack(self.inner.engine().manifest().test_pack.as_ref().map(|r| r.file.clone()))
    }

    /// The bundle's calibration pack (held out of training), if it has one.
    #[wasm_bindgen(js_name = calibrationPack, unchecked_return_type = "LabelledSet | undefined")]
    pub fn calibration_pack(&self) -> JsResult<JsValue> {
        self.pack(self.inner.engine().manifest().calibration_pack.as_ref().map(|r| r.file.clone()))
    }

    /// The bundle's calibration trace (every exit's confidence and class over a held-out split,
    /// computed by the runtime when the bundle was made, bound to these parts) as an
    /// `Evaluation`, without running a single image: calibrate from it in milliseconds.
    /// `undefined` when the bundle has none.
    #[wasm_bindgen(js_name = calibrationEvaluation, unchecked_return_type = "Evaluation | undefined")]
    pub fn calibration_evaluation(&self) -> JsResult<JsValue> {
        let engine = self.inner.engine();
        let m = engine.manifest();
        let Some(r) = &m.calibration_trace else { return Ok(JsValue::UNDEFINED) };
        let bytes = engine.bundle().data.get(&r.file).ok_or_else(|| bad(ErrorCode::MissingFile, format!("{} missing", r.file)))?;
        let trace = CalibrationTrace::parse(&r.file, bytes).map_err(js_error)?;
        let inner = Eval::from_calibration_trace(m, engine.costs(), &trace).map_err(js_error)?;
        Ok(Evaluation { inner, manifest: m.clone() }.into())
    }

    /// Traces a labelled set once (batched), for `Evaluation.summary` at any thresholds.
    #[wasm_bindgen(unchecked_return_type = "Promise<Evaluation>")]
    pub fn evaluate(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Float32Array")] images: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | number[]")] labels: JsValue,
        #[wasm_bindgen(js_name = onProgress, unchecked_optional_param_type = "(progress: EvaluateProgress) => void")]
        on_progress: JsValue,
    ) -> Promise {
        let (images, labels) = match images_of(&images).and_then(|x| Ok((x, labels_of(&labels)?))) {
            Ok((x, l)) => (Rc::new(x), Rc::new(l)),
            Err(e) => return rejected(e),
        };
        let progress: Option<Function> = match on_progress.dyn_into::<Function>() {
            Ok(f) => Some(f),
            Err(v) if v.is_undefined() || v.is_null() => None,
            Err(_) => return rejected(bad(ErrorCode::BadInput, "onProgress must be a function")),
        };
        let len = self.inner.engine().manifest().input.len();
        if labels.is_empty() || images.len() != labels.len() * len {
            return rejected(bad(ErrorCode::BadInput, format!("{} image values for {} labels of {len} values each", images.len(), labels.len())));
        }
        run_on(
            &self.inner,
            Work::Batch,
            move |m| {
                let (images, labels, progress) = (Rc::clone(&images), Rc::clone(&labels), progress.clone());
                async move {
                    const CHUNK: usize = 64;
                    if labels.len() >= CHUNK {
                        m.plan_batch(CHUNK)?;
                    }
                    let mut traces = Vec::with_capacity(labels.len());
                    for start in (0..labels.len()).step_by(CHUNK) {
                        let n = CHUNK.min(labels.len() - start);
                        traces.extend(m.trace_batch(&images[start * len..(start + n) * len], n).await?);
                        if let Some(f) = &progress {
                            let p = Object::new();
                            let _ = Reflect::set(&p, &"done".into(), &(traces.len() as f64).into());
                            let _ = Reflect::set(&p, &"total".into(), &(labels.len() as f64).into());
                            read::call_quietly(f, &p);
                        }
                    }
                    let eval = Eval::new(m.manifest(), m.costs(), &traces, &labels)?;
                    Ok(Evaluation { inner: eval, manifest: m.manifest().clone() })
                }
            },
            |e: Evaluation| Ok(e.into()),
        )
    }
}

impl Model {
    /// [`Model::load`] for Rust callers (the browser tests): the model itself, not a Promise.
    pub async fn load_from(source: JsValue, options: JsValue) -> JsResult<Model> {
        ctors::ensure();
        let opt = |key: &str| read::field(&options, key, ErrorCode::Backend, "options").map_err(js_error);
        let progress = opt("onProgress")?;
        let progress: Option<Function> = match progress.dyn_into::<Function>() {
            Ok(f) => Some(f),
            Err(v) if v.is_undefined() || v.is_null() => None,
            Err(_) => return Err(bad(ErrorCode::Backend, "options.onProgress must be a function")),
        };
        let backend = opt("backend")?;
        if !backend.is_undefined() && backend.as_string().is_none() {
            return Err(bad(ErrorCode::Backend, "options.backend must be \"auto\", \"cpu\" or \"webgpu\""));
        }
        let choice = Choice::parse(backend.as_string().as_deref()).map_err(js_error)?;
        // The browser never uses the reference outputs: not fetched, not required.
        let mut limits = LoadLimits { reference: false, ..LoadLimits::default() };
        let budget = read::field(&options, "memoryBudget", ErrorCode::BadManifest, "options").map_err(js_error)?;
        if !budget.is_undefined() {
            match budget.as_f64() {
                Some(b) if b >= 1.0 && b.fract() == 0.0 && b <= u64::MAX as f64 => limits.memory_budget_bytes = b as u64,
                _ => return Err(bad(ErrorCode::BadManifest, "options.memoryBudget must be a whole number of bytes ≥ 1")),
            }
        }
        let files: std::collections::BTreeMap<String, Vec<u8>> = match source.as_string() {
            Some(base) => fetch_bundle(&base, progress.as_ref()).await.map_err(js_error)?,
            None => read::bundle_files(&source).map_err(js_error)?.into_iter().collect(),
        };
        let bundle = Bundle::from_files_with(&files, &limits).map_err(js_error)?;
        let probe_software = opt("__probeSoftwareAdapters")?.is_truthy();
        let runner = Runner::new(bundle, choice, RunnerOptions { probe_software }).await.map_err(js_error)?;
        Ok(Model { inner: Rc::new(runner) })
    }

    /// Destroys the GPU device, as a driver reset would, so tests can watch the move to the CPU
    /// (Rust only; not exported to JS).
    #[doc(hidden)]
    pub fn lose_device(&self) {
        self.inner.lose_device();
    }

    fn input_of(&self, input: &JsValue, options: &JsValue) -> JsResult<Vec<f32>> {
        let engine = self.inner.engine();
        let spec = &engine.manifest().input;
        if let Some(x) = read::f32s(input, ErrorCode::BadInput, "input").map_err(js_error)? {
            check_values(spec, &x).map_err(js_error)?;
            return Ok(x);
        }
        let shape_err = || bad(ErrorCode::BadInput, "input must be a Float32Array or an image ({ data: RGBA bytes, width, height })");
        if !input.is_object() {
            return Err(shape_err());
        }
        let get = |k: &str| read::field(input, k, ErrorCode::BadInput, "input").map_err(js_error);
        let (data, w, h) = (get("data")?, get("width")?.as_f64(), get("height")?.as_f64());
        let rgba = read::rgba(&data, "input.data").map_err(js_error)?;
        if let (Some(rgba), Some(w), Some(h)) = (rgba, w, h) {
            if w >= 0.0 && h >= 0.0 && w.fract() == 0.0 && h.fract() == 0.0 && w <= u32::MAX as f64 && h <= u32::MAX as f64 {
                let opts = image_options(options)?;
                return from_rgba(spec, &rgba, w as usize, h as usize, opts).map_err(js_error);
            }
        }
        Err(shape_err())
    }

    fn pack(&self, file: Option<String>) -> JsResult<JsValue> {
        let Some(file) = file else { return Ok(JsValue::UNDEFINED) };
        let engine = self.inner.engine();
        let bytes = engine.bundle().data.get(&file).ok_or_else(|| bad(ErrorCode::MissingFile, format!("{file} missing")))?;
        let pack = Pack::parse(&file, bytes).map_err(js_error)?;
        let spec = &engine.manifest().input;
        if (pack.channels, pack.height, pack.width) != (spec.channels(), spec.height(), spec.width()) {
            return Err(bad(ErrorCode::BadPack, format!("{file}: images are {}×{}×{}, the model takes {:?}", pack.channels, pack.height, pack.width, &spec.shape[1..])));
        }
        let o = Object::new();
        let _ = Reflect::set(&o, &"images".into(), &Float32Array::from(&from_u8(spec, &pack.pixels)[..]));
        let _ = Reflect::set(&o, &"labels".into(), &Uint8Array::from(&pack.labels[..]));
        let _ = Reflect::set(&o, &"count".into(), &(pack.count as f64).into());
        Ok(o.into())
    }
}

/// A labelled set traced once: accuracy, cost and exit histogram for any thresholds.
#[wasm_bindgen]
pub struct Evaluation {
    inner: Eval,
    manifest: Manifest,
}

#[wasm_bindgen]
impl Evaluation {
    #[wasm_bindgen(getter)]
    pub fn count(&self) -> usize {
        self.inner.count()
    }

    /// Adds `other`'s images (an evaluation of the same model) after this one's: evaluating a
    /// set in chunks and appending them equals one `evaluate` over the whole set.
    pub fn append(&mut self, other: &Evaluation) -> JsResult<()> {
        self.inner.append(&other.inner).map_err(js_error)
    }

    /// Accuracy, mean MACs, fraction saved and exit histogram at these thresholds.
    #[wasm_bindgen(unchecked_return_type = "Summary")]
    pub fn summary(&self, #[wasm_bindgen(unchecked_param_type = "Thresholds")] thresholds: JsValue) -> JsResult<JsValue> {
        if thresholds.is_undefined() || thresholds.is_null() {
            return Err(bad(ErrorCode::BadThreshold, "summary needs thresholds (one per early exit)"));
        }
        let t = thresholds_of(&thresholds, &self.manifest)?;
        to_js(&self.inner.summary(&t, &self.manifest).map_err(js_error)?)
    }

    /// Accuracy of each exit on its own.
    #[wasm_bindgen(js_name = exitAccuracies, unchecked_return_type = "number[]")]
    pub fn exit_accuracies(&self) -> JsResult<JsValue> {
        to_js(&self.inner.exit_accuracies())
    }

    /// The accuracy-vs-cost frontier over a threshold sweep.
    #[wasm_bindgen(unchecked_return_type = "FrontierPoint[]")]
    pub fn frontier(&self) -> JsResult<JsValue> {
        to_js(&self.inner.frontier())
    }

    /// Guaranteed calibration (Learn-then-Test, `crate/BUNDLE.md`): the most aggressive
    /// thresholds of a fixed path whose accuracy drop is ≤ `maxDrop` points with probability
    /// ≥ 1 − δ on data like this set (`options.delta`, default 0.1). `certified` is false, and
    /// the thresholds all 1.0, when this set is too small or the model too weak to certify it.
    #[wasm_bindgen(unchecked_return_type = "Certified")]
    pub fn calibrate(
        &self,
        #[wasm_bindgen(js_name = maxDrop, unchecked_param_type = "number")] max_drop: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "CalibrateOptions")] options: JsValue,
    ) -> JsResult<JsValue> {
        let max_drop = max_drop.as_f64().ok_or_else(|| bad(ErrorCode::BadThreshold, "maxDrop must be a number of points"))?;
        let options: CalibrateOptions = if options.is_undefined() || options.is_null() {
            CalibrateOptions::default()
        } else {
            read::json(&options).map_err(|e| bad(ErrorCode::BadThreshold, format!("calibrate options: {e}")))?
        };
        to_js(&self.inner.calibrate(max_drop, &options).map_err(js_error)?)
    }

    /// The greedy search of earlier versions: thresholds minimising mean MACs with accuracy on
    /// *this* set ≥ final accuracy − `maxDrop` points. No guarantee on other data: on the
    /// shipped bundles it broke its budget on the test set in 5 of 9 operating points.
    #[wasm_bindgen(js_name = calibrateGreedy, unchecked_return_type = "number[]")]
    pub fn calibrate_greedy(&self, #[wasm_bindgen(js_name = maxDrop, unchecked_param_type = "number")] max_drop: JsValue) -> JsResult<JsValue> {
        let max_drop = max_drop.as_f64().ok_or_else(|| bad(ErrorCode::BadThreshold, "maxDrop must be a number of points"))?;
        to_js(&self.inner.calibrate_greedy(max_drop).map_err(js_error)?)
    }
}
