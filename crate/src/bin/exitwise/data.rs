//! Everything the CLI reads from outside: bundles, packs, PNG images and threshold lists. Each
//! failure becomes a library [`Error`] with its stable code.

use exitwise::engine::check_thresholds;
use exitwise::input::{from_rgba, from_u8, ImageOptions};
use exitwise::manifest::{FileRef, Manifest};
use exitwise::bundle::LoadLimits;
use exitwise::calibtrace::CalibrationTrace;
use exitwise::pack::Pack;
use exitwise::{BatchClassification, Bundle, CpuModel, Error, ErrorCode, Evaluation, Result, Trace};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

/// Images traced per `trace_batch` call.
pub const CHUNK: usize = 256;
/// Largest PNG accepted, in pixels (the decoder buffer is 4 bytes per pixel).
const MAX_PIXELS: u64 = 1 << 28;

fn error<T>(code: ErrorCode, message: impl Into<String>) -> Result<T> {
    Err(Error::new(code, message))
}

/// The bundle folder for a path that names the folder or its `manifest.json`.
fn bundle_dir(path: &Path) -> Result<PathBuf> {
    if path.is_dir() {
        return Ok(path.to_path_buf());
    }
    if path.is_file() {
        if path.file_name().is_some_and(|n| n == "manifest.json") {
            return Ok(match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            });
        }
        return error(ErrorCode::MissingFile, format!(
            "{} is a file; give the bundle's folder (the one holding manifest.json)", path.display()
        ));
    }
    error(ErrorCode::MissingFile, format!("{}: no such bundle folder", path.display()))
}

/// Loads, verifies and prepares a bundle on the tract CPU backend.
pub fn load_model(path: &Path) -> Result<CpuModel> {
    CpuModel::new(Bundle::from_dir(bundle_dir(path)?)?)
}

/// [`load_model`] without the bundle's calibration trace (to make a new one).
pub fn load_model_untraced(path: &Path) -> Result<CpuModel> {
    let limits = LoadLimits { calibration_trace: false, ..LoadLimits::default() };
    CpuModel::new(Bundle::from_dir_with(bundle_dir(path)?, &limits)?)
}

/// What `calibrate` calibrates on: `--calib-trace FILE`, `--calib-pack FILE`, else the bundle's
/// calibration trace, else its calibration pack (traced now). Returns the source and the
/// evaluation.
pub fn calibration_set(model: &CpuModel, pack: Option<&Path>, trace: Option<&Path>) -> Result<(String, Evaluation)> {
    let m = model.manifest();
    let from_trace = |name: &str, bytes: &[u8]| -> Result<Evaluation> {
        let t = CalibrationTrace::parse(name, bytes)?;
        t.check(name, m)?;
        Evaluation::from_calibration_trace(m, &model.costs, &t)
    };
    if let Some(path) = trace {
        return trace_file(model, path);
    }
    if let (None, Some(r)) = (pack, &m.calibration_trace) {
        let Some(bytes) = model.bundle.data.get(&r.file) else {
            return error(ErrorCode::MissingFile, format!("{}: named by the manifest but not loaded", r.file));
        };
        return Ok((r.file.clone(), from_trace(&r.file, bytes)?));
    }
    let calib = pack_for(model, pack, Split::Calibration)?;
    let ev = evaluate(model, &calib.pack)?;
    Ok((calib.source, ev))
}

/// The evaluation an EWCT trace file (`exitwise trace`) records, checked against the model's
/// parts; returns its name and the evaluation.
pub fn trace_file(model: &CpuModel, path: &Path) -> Result<(String, Evaluation)> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).or_else(|e| error(ErrorCode::MissingFile, format!("{name}: {e}")))?;
    let t = CalibrationTrace::parse(&name, &bytes)?;
    t.check(&name, model.manifest())?;
    Ok((name, Evaluation::from_calibration_trace(model.manifest(), &model.costs, &t)?))
}

/// Traces a labelled pack into a calibration trace (`EWCT`), `batch` images at a time.
pub fn calibration_trace(model: &CpuModel, pack: &Pack, batch: usize) -> Result<CalibrationTrace> {
    let traces = trace_pack_by(model, pack, batch)?;
    CalibrationTrace::from_traces(model.manifest(), &traces, &pack.labels)
}

/// A labelled pack and where it came from.
pub struct Labelled {
    pub source: String,
    pub pack: Pack,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Test,
    Calibration,
}

impl Split {
    fn key(self) -> &'static str {
        match self {
            Split::Test => "test_pack",
            Split::Calibration => "calibration_pack",
        }
    }
    fn flag(self) -> &'static str {
        match self {
            Split::Test => "--pack",
            Split::Calibration => "--calib-pack",
        }
    }
    fn file(self, m: &Manifest) -> Option<&FileRef> {
        match self {
            Split::Test => m.test_pack.as_ref(),
            Split::Calibration => m.calibration_pack.as_ref(),
        }
    }
}

/// Checks that a pack's images have the model's input shape and that it is not empty.
fn check_pack(m: &Manifest, name: &str, pack: &Pack) -> Result<()> {
    let want = [m.input.channels(), m.input.height(), m.input.width()];
    let got = [pack.channels, pack.height, pack.width];
    if got != want {
        return error(ErrorCode::BadPack, format!(
            "{name}: images are {}×{}×{} (C×H×W), the model takes {}×{}×{}",
            got[0], got[1], got[2], want[0], want[1], want[2]
        ));
    }
    if pack.count == 0 {
        return error(ErrorCode::BadPack, format!("{name}: the pack holds no images"));
    }
    Ok(())
}

/// The bundle's own pack of this split, if the manifest names one.
pub fn bundle_pack(model: &CpuModel, split: Split) -> Result<Option<Labelled>> {
    let m = model.manifest();
    let Some(r) = split.file(m) else { return Ok(None) };
    let Some(bytes) = model.bundle.data.get(&r.file) else {
        return error(ErrorCode::MissingFile, format!("{}: named by the manifest but not loaded", r.file));
    };
    let pack = Pack::parse(&r.file, bytes)?;
    check_pack(m, &r.file, &pack)?;
    Ok(Some(Labelled { source: r.file.clone(), pack }))
}

/// A pack from a file outside the bundle.
pub fn file_pack(model: &CpuModel, path: &Path) -> Result<Labelled> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).or_else(|e| error(ErrorCode::MissingFile, format!("{name}: {e}")))?;
    let pack = Pack::parse(&name, &bytes)?;
    check_pack(model.manifest(), &name, &pack)?;
    Ok(Labelled { source: name, pack })
}

/// `--pack FILE` when given, else the bundle's pack of this split (an error when it has none).
pub fn pack_for(model: &CpuModel, file: Option<&Path>, split: Split) -> Result<Labelled> {
    match file {
        Some(path) => file_pack(model, path),
        None => bundle_pack(model, split)?.map_or_else(
            || error(ErrorCode::MissingFile, format!(
                "bundle {:?} has no {} in its manifest; pass {} FILE (an EWTP pack)",
                model.manifest().name, split.key(), split.flag()
            )),
            Ok,
        ),
    }
}

/// Traces every image of a pack, `CHUNK` at a time (progress on stderr when it is a terminal).
pub fn trace_pack(model: &CpuModel, pack: &Pack) -> Result<Vec<Trace>> {
    trace_pack_by(model, pack, CHUNK)
}

/// [`trace_pack`], `chunk` images a batch.
pub fn trace_pack_by(model: &CpuModel, pack: &Pack, chunk: usize) -> Result<Vec<Trace>> {
    let spec = &model.manifest().input;
    let len = spec.len();
    let chunk = chunk.max(1);
    let progress = pack.count > chunk && std::io::stderr().is_terminal();
    let mut traces = Vec::with_capacity(pack.count);
    if pack.count >= chunk {
        model.plan_batch(chunk)?;
    }
    for start in (0..pack.count).step_by(chunk) {
        let n = chunk.min(pack.count - start);
        let Some(pixels) = pack.pixels.get(start * len..(start + n) * len) else {
            return error(ErrorCode::BadPack, "the pack has fewer pixels than its header says");
        };
        traces.extend(model.trace_batch(&from_u8(spec, pixels), n)?);
        if progress {
            let _ = write!(std::io::stderr(), "\rtraced {}/{}", start + n, pack.count);
        }
    }
    if progress {
        let _ = write!(std::io::stderr(), "\r\x1b[K");
    }
    Ok(traces)
}

/// Classifies every image of a pack with early exit, `batch` at a time.
pub fn classify_pack(model: &CpuModel, pack: &Pack, batch: usize, thresholds: &[f32]) -> Result<Vec<BatchClassification>> {
    if batch == 0 {
        return error(ErrorCode::BadInput, "--batch must be at least 1");
    }
    let spec = &model.manifest().input;
    let len = spec.len();
    let mut out = Vec::with_capacity(pack.count.div_ceil(batch));
    for start in (0..pack.count).step_by(batch) {
        let n = batch.min(pack.count - start);
        let Some(pixels) = pack.pixels.get(start * len..(start + n) * len) else {
            return error(ErrorCode::BadPack, "the pack has fewer pixels than its header says");
        };
        out.push(model.classify_batch(&from_u8(spec, pixels), n, thresholds)?);
    }
    Ok(out)
}

/// Traces a pack and scores it.
pub fn evaluate(model: &CpuModel, pack: &Pack) -> Result<Evaluation> {
    let traces = trace_pack(model, pack)?;
    Evaluation::new(model.manifest(), &model.costs, &traces, &pack.labels)
}

/// `a,b,…` → one threshold per early exit, each in [0, 1]; the manifest's defaults when absent.
pub fn thresholds(m: &Manifest, given: Option<&str>) -> Result<Vec<f32>> {
    let Some(text) = given else { return Ok(m.default_thresholds()) };
    let text = text.trim();
    let t = if text.is_empty() {
        Vec::new()
    } else {
        text.split(',')
            .enumerate()
            .map(|(i, p)| {
                p.trim().parse::<f32>().or_else(|_| {
                    error(ErrorCode::BadThreshold, format!("threshold {i} is {:?}, not a number", p.trim()))
                })
            })
            .collect::<Result<Vec<f32>>>()?
    };
    check_thresholds(m, &t)?;
    Ok(t)
}

/// Where a classified image came from.
pub enum Source {
    Pack { file: String, index: usize, label: u8 },
    Png { path: String, width: usize, height: usize },
}

/// `pack:N` (image N of the bundle's test pack) or a PNG file → one input in the model's range.
pub fn image(model: &CpuModel, spec: &str, invert: bool) -> Result<(Vec<f32>, Source)> {
    let input = &model.manifest().input;
    if let Some(n) = spec.strip_prefix("pack:") {
        let index: usize = n.trim().parse().or_else(|_| {
            error(ErrorCode::BadInput, format!("{spec:?}: pack:N needs an image index N (0, 1, …)"))
        })?;
        let Labelled { source, pack } = pack_for(model, None, Split::Test)?;
        if index >= pack.count {
            return error(ErrorCode::BadInput, format!("{spec}: the test pack {source} has {} images (0…{})", pack.count, pack.count - 1));
        }
        let pixels: Vec<u8> = pack.image(index).iter().map(|&p| if invert { 255 - p } else { p }).collect();
        let label = pack.labels.get(index).copied().unwrap_or(0);
        return Ok((from_u8(input, &pixels), Source::Pack { file: source, index, label }));
    }
    let path = Path::new(spec);
    let (rgba, width, height) = read_png(path)?;
    // `..default()` keeps this compiling if the library adds options.
    #[allow(clippy::needless_update)]
    let opts = ImageOptions { invert, ..ImageOptions::default() };
    let x = from_rgba(input, &rgba, width, height, opts)?;
    Ok((x, Source::Png { path: spec.to_string(), width, height }))
}

/// Decodes a PNG of any colour type and bit depth to 8-bit RGBA.
fn read_png(path: &Path) -> Result<(Vec<u8>, usize, usize)> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).or_else(|e| error(ErrorCode::MissingFile, format!("{name}: {e}")))?;
    let bad = |e: png::DecodingError| Error::new(ErrorCode::BadInput, format!("{name}: not a readable PNG: {e}"));
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(bad)?;
    let (w, h) = (reader.info().width, reader.info().height);
    if (w as u64) * (h as u64) > MAX_PIXELS {
        return error(ErrorCode::BadInput, format!("{name}: {w}×{h} pixels is too large"));
    }
    let mut buf = vec![0u8; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut buf).map_err(bad)?;
    let (width, height) = (frame.width as usize, frame.height as usize);
    let data = buf.get(..frame.buffer_size()).unwrap_or(&[]);
    if frame.bit_depth != png::BitDepth::Eight {
        return error(ErrorCode::BadInput, format!("{name}: bit depth {:?} after conversion, expected 8", frame.bit_depth));
    }
    let rgba: Vec<u8> = match frame.color_type {
        png::ColorType::Rgba => data.to_vec(),
        png::ColorType::Rgb => data.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect(),
        png::ColorType::Grayscale => data.iter().flat_map(|&g| [g, g, g, 255]).collect(),
        png::ColorType::GrayscaleAlpha => data.chunks_exact(2).flat_map(|p| [p[0], p[0], p[0], p[1]]).collect(),
        png::ColorType::Indexed => {
            return error(ErrorCode::BadInput, format!("{name}: palette image was not expanded"));
        }
    };
    Ok((rgba, width, height))
}
