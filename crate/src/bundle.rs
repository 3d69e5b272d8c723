//! Loading a bundle: verify every file's hash, admit every ONNX part (`crate::admission`, before
//! tract sees it), check every part's shapes against its neighbours, and count every part's MACs.
//! Backends start from the result.

pub use crate::admission::LoadLimits;
use crate::admission::{admit, Estimate};
use crate::error::{err, tract_chain, Error, ErrorCode, Result};
use crate::macs::count_macs;
use crate::manifest::{Manifest, Step, INPUT};
use crate::calibtrace::CalibrationTrace;
use crate::pack::{Pack, Reference};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::{DimLike, Factoid};
use tract_onnx::tract_hir::ops::unimpl::UnimplementedOp;

/// Name of the batch symbol given to every part's first input dimension.
pub const BATCH: &str = "N";

/// One segment or exit head, parsed and checked.
#[derive(Debug, Clone)]
pub struct Part {
    pub name: String,
    pub file: String,
    /// tract's typed, decluttered graph; the batch dimension is the symbol `N` when `batchable`.
    pub graph: TypedModel,
    /// Multiply-accumulates for one input (1 MAC = 2 FLOPs).
    pub macs: u64,
    /// The ONNX file declares a dynamic batch, so N inputs can go through in one run.
    pub batchable: bool,
    /// Per input and output: the shape without the batch dimension.
    pub input_shapes: Vec<Vec<usize>>,
    pub output_shapes: Vec<Vec<usize>>,
    /// Admission's estimate of the tensor bytes the part holds at its peak, at batch 1 (a
    /// batch of n needs about n times the activations).
    pub memory: Estimate,
}

/// A verified bundle: the manifest, one [`Part`] per segment and per exit, and the data files.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub manifest: Manifest,
    pub segments: Vec<Part>,
    pub exits: Vec<Part>,
    /// Non-ONNX files the manifest names (packs, reference, calibration trace), verified.
    pub data: BTreeMap<String, Vec<u8>>,
    /// The memory budget it was admitted under ([`LoadLimits::memory_budget_bytes`]): backends
    /// keep batches within it too.
    pub memory_budget: u64,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn fetch<'a>(files: &'a BTreeMap<String, Vec<u8>>, name: &str, sha: &str) -> Result<&'a [u8]> {
    let bytes = files
        .get(name)
        .ok_or_else(|| Error::new(ErrorCode::MissingFile, format!("{name}: named by the manifest but not in the bundle")))?;
    let got = sha256_hex(bytes);
    if !got.eq_ignore_ascii_case(sha) {
        return err(ErrorCode::BundleHashMismatch, format!("{name}: sha256 is {got}, the manifest says {sha}"));
    }
    Ok(bytes)
}

impl Bundle {
    /// Loads a bundle from file name → bytes (what a browser fetched, or a folder's files), with
    /// the default [`LoadLimits`].
    pub fn from_files(files: &BTreeMap<String, Vec<u8>>) -> Result<Bundle> {
        Bundle::from_files_with(files, &LoadLimits::default())
    }

    /// [`Bundle::from_files`] with explicit limits (the memory budget per part).
    pub fn from_files_with(files: &BTreeMap<String, Vec<u8>>, limits: &LoadLimits) -> Result<Bundle> {
        let manifest_bytes = files
            .get("manifest.json")
            .ok_or_else(|| Error::new(ErrorCode::MissingFile, "manifest.json is not in the bundle"))?;
        let manifest = Manifest::parse(manifest_bytes)?;
        let mut data = BTreeMap::new();
        // Packs and reference outputs are checked here, once: a bundle that loads has packs that
        // parse and fit the model (so `hasTestPack` means a usable one).
        let mut test_count = None;
        for (k, r) in [&manifest.test_pack, &manifest.calibration_pack].into_iter().enumerate() {
            let Some(r) = r else { continue };
            let bytes = fetch(files, &r.file, &r.sha256)?;
            let count = check_pack(&manifest, &r.file, bytes)?;
            if k == 0 {
                test_count = Some(count);
            }
            data.insert(r.file.clone(), bytes.to_vec());
        }
        if let Some(r) = manifest.reference.as_ref().filter(|_| limits.reference) {
            let bytes = fetch(files, &r.file, &r.sha256)?;
            check_reference(&manifest, &r.file, bytes, test_count)?;
            data.insert(r.file.clone(), bytes.to_vec());
        }
        if let Some(r) = manifest.calibration_trace.as_ref().filter(|_| limits.calibration_trace) {
            let bytes = fetch(files, &r.file, &r.sha256)?;
            CalibrationTrace::parse(&r.file, bytes)?.check(&r.file, &manifest)?;
            data.insert(r.file.clone(), bytes.to_vec());
        }
        // Shapes (without batch) of every activation produced so far, in execution order.
        let input = &manifest.input;
        let mut shapes: HashMap<String, Vec<usize>> =
            HashMap::from([(INPUT.to_string(), input.shape[1..].to_vec())]);
        let mut segments = Vec::new();
        let mut exits = Vec::new();
        let onnx = crate::onnx::parser(); // one parser for every part
        for step in manifest.steps() {
            let (file, inputs, outputs) = manifest.step_io(step);
            let (name, sha) = match step {
                Step::Segment(k) => (&manifest.segments[k].name, &manifest.segments[k].sha256),
                Step::Exit(e) => (&manifest.exits[e].name, &manifest.exits[e].sha256),
            };
            let bytes = fetch(files, file, sha)?;
            let in_shapes: Vec<Vec<usize>> = inputs.iter().map(|a| shapes[a].clone()).collect();
            let part = load_part(&onnx, name, file, bytes, &in_shapes, outputs.len(), limits)?;
            for (a, s) in outputs.iter().zip(&part.output_shapes) {
                shapes.insert(a.clone(), s.clone());
            }
            match step {
                Step::Segment(_) => segments.push(part),
                Step::Exit(e) => {
                    check_exit_outputs(&manifest, e, &part, outputs)?;
                    exits.push(part)
                }
            }
        }
        Ok(Bundle { manifest, segments, exits, data, memory_budget: limits.memory_budget_bytes })
    }

    /// Loads a bundle from a folder holding `manifest.json` and the files it names.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_dir(dir: impl AsRef<std::path::Path>) -> Result<Bundle> {
        Bundle::from_dir_with(dir, &LoadLimits::default())
    }

    /// [`Bundle::from_dir`] with explicit limits.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_dir_with(dir: impl AsRef<std::path::Path>, limits: &LoadLimits) -> Result<Bundle> {
        let dir = dir.as_ref();
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|e| {
                Error::new(ErrorCode::MissingFile, format!("{}: {e}", dir.join(name).display()))
            })
        };
        let mut files = BTreeMap::new();
        let manifest_bytes = read("manifest.json")?;
        let manifest = Manifest::parse(&manifest_bytes)?;
        let named = manifest.segments.iter().map(|s| &s.file).chain(manifest.exits.iter().map(|e| &e.file));
        let data = [&manifest.test_pack, &manifest.calibration_pack, &manifest.reference, &manifest.calibration_trace];
        for f in named.chain(data.into_iter().flatten().map(|r| &r.file)) {
            // A missing file is reported by from_files with the manifest's context.
            if let Ok(bytes) = read(f) {
                files.insert(f.clone(), bytes);
            }
        }
        files.insert("manifest.json".into(), manifest_bytes);
        Bundle::from_files_with(&files, limits)
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.manifest.classes()
    }

    /// Whether every part takes a dynamic batch.
    pub fn batchable(&self) -> bool {
        self.segments.iter().chain(&self.exits).all(|p| p.batchable)
    }

    pub fn part(&self, step: Step) -> &Part {
        match step {
            Step::Segment(k) => &self.segments[k],
            Step::Exit(e) => &self.exits[e],
        }
    }
}

/// A test or calibration pack that parses, holds at least one image of the model's input size,
/// and whose labels are classes of the model.
fn check_pack(m: &Manifest, file: &str, bytes: &[u8]) -> Result<usize> {
    let p = Pack::parse(file, bytes)?;
    let spec = &m.input;
    if (p.channels, p.height, p.width) != (spec.channels(), spec.height(), spec.width()) {
        return err(ErrorCode::BadPack, format!(
            "{file}: images are {}×{}×{}, the model takes {}×{}×{}",
            p.channels, p.height, p.width, spec.channels(), spec.height(), spec.width()
        ));
    }
    if p.count == 0 {
        return err(ErrorCode::BadPack, format!("{file}: holds no image"));
    }
    if let Some(l) = p.labels.iter().find(|&&l| l as usize >= m.classes()) {
        return err(ErrorCode::BadPack, format!("{file}: label {l} is not one of the model's {} classes", m.classes()));
    }
    Ok(p.count)
}

/// Reference outputs that parse and have one record per exit of the width the manifest implies
/// (`C`, or `C + 1` with a confidence output), for as many images as the test pack.
fn check_reference(m: &Manifest, file: &str, bytes: &[u8], test_count: Option<usize>) -> Result<()> {
    let r = Reference::parse(file, bytes)?;
    let widths: Vec<usize> = m.exits.iter().map(|x| m.classes() + usize::from(x.confidence.is_some())).collect();
    if r.widths != widths {
        return err(ErrorCode::BadPack, format!("{file}: records of widths {:?}, the manifest's exits give {widths:?}", r.widths));
    }
    if test_count.is_some_and(|n| n != r.count) {
        return err(ErrorCode::BadPack, format!("{file}: {} records, the test pack has {} images", r.count, test_count.unwrap_or(0)));
    }
    Ok(())
}

fn check_exit_outputs(m: &Manifest, e: usize, part: &Part, outputs: &[String]) -> Result<()> {
    let x = &m.exits[e];
    let shape_of = |name: &str| outputs.iter().position(|o| o == name).map(|i| &part.output_shapes[i]);
    if let Some(s) = shape_of(&x.logits) {
        if s != &[m.classes()] {
            return err(ErrorCode::ShapeMismatch, format!(
                "{}: logits {:?} have shape [N, {}], expected [N, {}] ({} labels)",
                x.file, x.logits, dims(s), m.classes(), m.classes()
            ));
        }
    }
    if let Some(c) = &x.confidence {
        if let Some(s) = shape_of(c) {
            if s != &[1] {
                return err(ErrorCode::ShapeMismatch, format!(
                    "{}: confidence {c:?} has shape [N, {}], expected [N, 1]", x.file, dims(s)
                ));
            }
        }
    }
    Ok(())
}

fn dims(s: &[usize]) -> String {
    s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
}

fn load_part(onnx: &tract_onnx::Onnx, name: &str, file: &str, bytes: &[u8], in_shapes: &[Vec<usize>], n_outputs: usize, limits: &LoadLimits) -> Result<Part> {
    let proto = onnx
        .proto_model_for_read(&mut &*bytes)
        .map_err(|e| Error::new(ErrorCode::BadOnnx, format!("{file}: not a readable ONNX model: {}", tract_chain(&e))))?;
    let memory = admit(file, &proto, in_shapes, limits)?;
    let mut model = onnx
        .model_for_proto_model(&proto)
        .map_err(|e| Error::new(ErrorCode::BadOnnx, format!("{file}: cannot build the graph: {}", tract_chain(&e))))?;
    let unsupported: Vec<String> = model
        .nodes()
        .iter()
        .filter(|n| n.op_as::<UnimplementedOp>().is_some())
        .map(|n| n.op.name().to_string())
        .collect();
    if !unsupported.is_empty() {
        return err(ErrorCode::UnsupportedOp, format!("{file}: operators not supported: {}", unsupported.join(", ")));
    }
    let n_in = model.input_outlets().map(|o| o.len()).unwrap_or(0);
    let n_out = model.output_outlets().map(|o| o.len()).unwrap_or(0);
    if n_in != in_shapes.len() || n_out != n_outputs {
        return err(ErrorCode::ShapeMismatch, format!(
            "{file}: the graph has {n_in} inputs and {n_out} outputs, the manifest names {} and {n_outputs}",
            in_shapes.len()
        ));
    }
    let batch = model.sym(BATCH);
    let mut batchable = true;
    for (i, want) in in_shapes.iter().enumerate() {
        let fact = model.input_fact(i).map_err(|e| Error::new(ErrorCode::BadOnnx, format!("{file}: {e}")))?;
        let declared: Vec<Option<TDim>> = fact.shape.dims().map(|d| d.concretize()).collect();
        if !fact.shape.is_open() || !declared.is_empty() {
            if declared.len() != want.len() + 1 {
                return err(ErrorCode::ShapeMismatch, format!(
                    "{file}: input {i} has rank {}, its producer gives rank {} ([N, {}])",
                    declared.len(), want.len() + 1, dims(want)
                ));
            }
            for (d, (got, w)) in declared[1..].iter().zip(want).enumerate() {
                if let Some(g) = got.as_ref().and_then(|g| g.to_usize().ok()) {
                    if g != *w {
                        return err(ErrorCode::ShapeMismatch, format!(
                            "{file}: input {i} expects dim {} = {g}, its producer gives [N, {}]",
                            d + 1, dims(want)
                        ));
                    }
                }
            }
            match declared[0].as_ref().map(|d| d.to_usize()) {
                Some(Ok(1)) => batchable = false,
                Some(Ok(n)) => {
                    return err(ErrorCode::ShapeMismatch, format!("{file}: input {i} has a fixed batch of {n}, need 1 or dynamic"));
                }
                _ => {}
            }
        }
    }
    for (i, want) in in_shapes.iter().enumerate() {
        let b = if batchable { batch.to_dim() } else { 1.to_dim() };
        let shape: TVec<TDim> = std::iter::once(b).chain(want.iter().map(|d| d.to_dim())).collect();
        model
            .set_input_fact(i, InferenceFact::dt_shape(f32::datum_type(), shape))
            .map_err(|e| Error::new(ErrorCode::BadOnnx, format!("{file}: {e}")))?;
    }
    let graph = model
        .into_typed()
        .and_then(|m| m.into_decluttered())
        .map_err(|e| Error::new(ErrorCode::ShapeMismatch, format!(
            "{file}: shapes do not resolve with inputs {:?}: {}",
            in_shapes.iter().map(|s| format!("[N, {}]", dims(s))).collect::<Vec<_>>(),
            tract_chain(&e)
        )))?;
    let mut output_shapes = Vec::new();
    for o in 0..n_out {
        let fact = graph.output_fact(o).map_err(|e| Error::new(ErrorCode::BadOnnx, format!("{file}: {e}")))?;
        if fact.datum_type != f32::datum_type() {
            return err(ErrorCode::ShapeMismatch, format!("{file}: output {o} is {:?}, expected f32", fact.datum_type));
        }
        let s: Option<Vec<usize>> = fact.shape.iter().skip(1).map(|d| d.to_usize().ok()).collect();
        match s {
            Some(s) if fact.shape.rank() >= 1 => output_shapes.push(s),
            _ => return err(ErrorCode::ShapeMismatch, format!("{file}: output {o} has shape {:?}, expected [N, …] with fixed dims", fact.shape)),
        }
    }
    let macs = count_macs(&graph, &batch)
        .map_err(|e| Error::new(ErrorCode::UnsupportedOp, format!("{file}: cannot count MACs: {}", tract_chain(&e))))?;
    Ok(Part {
        name: name.to_string(),
        file: file.to_string(),
        graph,
        macs,
        batchable,
        input_shapes: in_shapes.to_vec(),
        output_shapes,
        memory,
    })
}
