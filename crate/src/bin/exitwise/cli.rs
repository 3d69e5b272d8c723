//! Arguments and commands.

use crate::data::{self, Split};
use crate::report::{to_json, Batched, Calibrated, Classified, Info, Scored, Swept, Traced};
use clap::{Parser, Subcommand};
use exitwise::{CalibrateOptions, CalibrationPath, CpuModel, Result};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "exitwise",
    version,
    about = "Early-exit networks: inspect exitwise/1 bundles, classify images, evaluate, sweep and calibrate thresholds",
    after_help = "Errors print `error: CODE: message` on stderr and exit with status 1 (2 for usage errors)."
)]
struct Cli {
    /// Print machine-readable JSON (snake_case keys) instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Describe a bundle: labels, input, segments and exits with their MACs.
    Info {
        /// Bundle folder (holding manifest.json).
        bundle: PathBuf,
    },
    /// Classify one image, stopping at the first exit that fires.
    Classify {
        /// Bundle folder (holding manifest.json).
        bundle: PathBuf,
        /// A PNG file (any size; gray, RGB or RGBA), or `pack:N` for image N of the bundle's test pack.
        image: String,
        /// One threshold per early exit, in [0, 1] (default: the manifest's).
        #[arg(long, value_name = "T0,T1,…", allow_hyphen_values = true)]
        thresholds: Option<String>,
        /// Invert intensities (dark ink on a light page).
        #[arg(long)]
        invert: bool,
    },
    /// Classify a pack's images with early exit at batch size N: after each exit the images
    /// that fired leave the batch and the rest go on as a smaller one.
    ClassifyBatch {
        /// Bundle folder (holding manifest.json).
        bundle: PathBuf,
        /// Images per batch.
        #[arg(long, default_value_t = 64, value_name = "N")]
        batch: usize,
        /// One threshold per early exit, in [0, 1] (default: the manifest's).
        #[arg(long, value_name = "T0,T1,…", allow_hyphen_values = true)]
        thresholds: Option<String>,
        /// An EWTP pack file to use instead of the bundle's test pack.
        #[arg(long, value_name = "FILE")]
        pack: Option<PathBuf>,
    },
    /// Trace a test pack and report accuracy, mean MACs and where images left.
    Eval {
        /// Bundle folder (holding manifest.json).
        bundle: PathBuf,
        /// One threshold per early exit, in [0, 1] (default: the manifest's).
        #[arg(long, value_name = "T0,T1,…", allow_hyphen_values = true)]
        thresholds: Option<String>,
        /// An EWTP pack file to use instead of the bundle's test pack.
        #[arg(long, value_name = "FILE")]
        pack: Option<PathBuf>,
    },
    /// The accuracy-vs-MACs frontier over a grid of thresholds.
    Sweep {
        /// Bundle folder (holding manifest.json).
        bundle: PathBuf,
        /// An EWTP pack file to use instead of the bundle's test pack.
        #[arg(long, value_name = "FILE")]
        pack: Option<PathBuf>,
    },
    /// Trace a labelled pack into a calibration trace (EWCT: every exit's confidence and class
    /// per image, plus the label), bound to this bundle's parts. Name it in the manifest as
    /// `calibration_trace` and `calibrate` (here and in the browser) reads it instead of pixels.
    Trace {
        /// Bundle folder (holding manifest.json); its current calibration trace is not loaded.
        bundle: PathBuf,
        /// The EWTP pack to trace (default: the bundle's calibration pack).
        #[arg(long, value_name = "FILE")]
        pack: Option<PathBuf>,
        /// Where to write the trace.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Images per batch. The default, 1, is how `classify` runs an image, so the trace holds
        /// the very confidences thresholds will be compared with (a batch may round the last
        /// bit of a confidence differently).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=4096))]
        batch: u32,
    },
    /// Pick thresholds on the calibration trace (or pack), report them on the test pack. By default Learn
    /// then Test: with probability ≥ 1 − δ the accuracy drop from the final classifier is ≤ the
    /// max drop on data like the calibration pack (nothing certified: thresholds stay at 1.0).
    /// `--greedy`: the old grid search, no guarantee.
    Calibrate {
        /// Bundle folder (holding manifest.json).
        bundle: PathBuf,
        /// Largest accuracy drop allowed, in percentage points, from the final classifier's:
        /// in (0, 100] (with --greedy, [0, 100]).
        #[arg(long, value_name = "PTS", allow_negative_numbers = true)]
        max_drop: f64,
        /// The guarantee fails with probability at most δ, in (0, 1).
        #[arg(long, value_name = "D", default_value_t = exitwise::calibrate::DEFAULT_DELTA, allow_negative_numbers = true, conflicts_with = "greedy")]
        delta: f64,
        /// Per-exit thresholds: build the path on this fraction of the calibration pack (a fixed
        /// pseudo-random part), test it on the rest. Default: one shared threshold, tested on all.
        #[arg(long, value_name = "FRACTION", allow_negative_numbers = true, conflicts_with = "greedy")]
        split: Option<f64>,
        /// The greedy grid search instead: accuracy ≥ final − max drop on the calibration pack
        /// itself, NO guarantee on other data.
        #[arg(long)]
        greedy: bool,
        /// An EWTP pack to calibrate on instead of the bundle's calibration trace or pack.
        #[arg(long, value_name = "FILE", conflicts_with = "calib_trace")]
        calib_pack: Option<PathBuf>,
        /// An EWCT calibration trace (`exitwise trace`) to calibrate on instead of the bundle's.
        #[arg(long, value_name = "FILE")]
        calib_trace: Option<PathBuf>,
        /// An EWTP pack to report on instead of the bundle's test pack.
        #[arg(long, value_name = "FILE")]
        pack: Option<PathBuf>,
        /// An EWCT trace (`exitwise trace`) of the test images to report on instead of a pack:
        /// no model run.
        #[arg(long, value_name = "FILE", conflicts_with = "pack")]
        test_trace: Option<PathBuf>,
    },
    /// How often calibration breaks its budget on unseen data: pool the calibration trace and
    /// a test trace, re-split them at random (parts of the original sizes) many times, and
    /// calibrate each split with Learn then Test and with the greedy search; the test part judges
    /// both.
    Resplit {
        /// Bundle folder (holding manifest.json).
        bundle: PathBuf,
        /// EWCT trace of the test images (`exitwise trace --pack TEST`).
        #[arg(long, value_name = "FILE")]
        test_trace: PathBuf,
        /// EWCT calibration trace (default: the bundle's).
        #[arg(long, value_name = "FILE")]
        calib_trace: Option<PathBuf>,
        /// Budget in percentage points, in (0, 100].
        #[arg(long, value_name = "PTS", allow_negative_numbers = true)]
        max_drop: f64,
        #[arg(long, value_name = "D", default_value_t = exitwise::calibrate::DEFAULT_DELTA, allow_negative_numbers = true)]
        delta: f64,
        /// Learn then Test on the per-exit path built on this fraction (default: shared path).
        #[arg(long, value_name = "FRACTION", allow_negative_numbers = true)]
        split: Option<f64>,
        /// Number of random re-splits.
        #[arg(long, default_value_t = 50)]
        splits: usize,
        /// Seed of the first split's permutation (split k uses seed + k).
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(text) => {
            // A closed pipe (`| head`) is not an error worth a message.
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {}: {}", e.code.as_str(), e.message);
            ExitCode::from(1)
        }
    }
}

fn run(cli: &Cli) -> Result<String> {
    let json = cli.json;
    match &cli.command {
        Command::Info { bundle } => {
            let model = data::load_model(bundle)?;
            let info = Info::of(&model);
            if json { to_json(&info) } else { Ok(info.text()) }
        }
        Command::Classify { bundle, image, thresholds, invert } => {
            let model = data::load_model(bundle)?;
            let t = data::thresholds(model.manifest(), thresholds.as_deref())?;
            let (x, source) = data::image(&model, image, *invert)?;
            let c = model.classify(&x, &t)?;
            let out = Classified::new(&model, &source, &t, c);
            if json { to_json(&out) } else { Ok(out.text(model.manifest().exits.len())) }
        }
        Command::ClassifyBatch { bundle, batch, thresholds, pack } => {
            let model = data::load_model(bundle)?;
            let t = data::thresholds(model.manifest(), thresholds.as_deref())?;
            let p = data::pack_for(&model, pack.as_deref(), Split::Test)?;
            let start = Instant::now();
            let results = data::classify_pack(&model, &p.pack, *batch, &t)?;
            let seconds = start.elapsed().as_secs_f64();
            let out = Batched::new(&model, &p.source, *batch, &t, &results, &p.pack.labels, seconds);
            if json { to_json(&out) } else { Ok(out.text()) }
        }
        Command::Eval { bundle, thresholds, pack } => {
            let model = data::load_model(bundle)?;
            let t = data::thresholds(model.manifest(), thresholds.as_deref())?;
            let p = data::pack_for(&model, pack.as_deref(), Split::Test)?;
            let start = Instant::now();
            let ev = data::evaluate(&model, &p.pack)?;
            let seconds = start.elapsed().as_secs_f64();
            let out = Scored::new(&model, &p.source, &ev, ev.summary(&t, model.manifest())?);
            if json { to_json(&out) } else { Ok(out.text(&model, Some(seconds))) }
        }
        Command::Sweep { bundle, pack } => {
            let model = data::load_model(bundle)?;
            let p = data::pack_for(&model, pack.as_deref(), Split::Test)?;
            let ev = data::evaluate(&model, &p.pack)?;
            let out = Swept::new(&model, &p.source, &ev, ev.frontier());
            if json { to_json(&out) } else { Ok(out.text()) }
        }
        Command::Trace { bundle, pack, out, batch } => {
            let model = data::load_model_untraced(bundle)?;
            let p = data::pack_for(&model, pack.as_deref(), Split::Calibration)?;
            let start = Instant::now();
            let trace = data::calibration_trace(&model, &p.pack, *batch as usize)?;
            let seconds = start.elapsed().as_secs_f64();
            let bytes = trace.to_bytes();
            std::fs::write(out, &bytes).map_err(|e| {
                exitwise::Error::new(exitwise::ErrorCode::MissingFile, format!("{}: {e}", out.display()))
            })?;
            let done = Traced::new(&model, &p.source, out, &bytes, trace.count, seconds);
            if json { to_json(&done) } else { Ok(done.text()) }
        }
        Command::Calibrate { bundle, max_drop, delta, split, greedy, calib_pack, calib_trace, pack, test_trace } => {
            let model = data::load_model(bundle)?;
            let method = if *greedy {
                Method::Greedy
            } else {
                let path = split.map_or(CalibrationPath::Shared, |fraction| CalibrationPath::Split { fraction });
                Method::Ltt(CalibrateOptions { delta: *delta, path })
            };
            let test = match test_trace {
                Some(path) => Test::Trace(path),
                None => Test::Pack(pack.as_deref()),
            };
            let out = calibrate(&model, *max_drop, &method, calib_pack.as_deref(), calib_trace.as_deref(), test)?;
            if json { to_json(&out) } else { Ok(out.text(&model)) }
        }
        Command::Resplit { bundle, test_trace, calib_trace, max_drop, delta, split, splits, seed } => {
            let model = data::load_model(bundle)?;
            let path = split.map_or(CalibrationPath::Shared, |fraction| CalibrationPath::Split { fraction });
            let options = CalibrateOptions { delta: *delta, path };
            exitwise::calibrate::check_options(*max_drop, &options)?;
            let (_, test) = data::trace_file(&model, test_trace)?;
            let (_, cal) = data::calibration_set(&model, None, calib_trace.as_deref())?;
            let r = exitwise::resplit::resplit(model.manifest(), &cal, &test, *max_drop, &options, *splits, *seed)?;
            if json { to_json(&r) } else { Ok(resplit_text(&r)) }
        }
    }
}

/// How `calibrate` picks thresholds.
enum Method {
    /// Learn then Test ([`exitwise::Evaluation::calibrate`]).
    Ltt(CalibrateOptions),
    /// The greedy grid search, no guarantee ([`exitwise::Evaluation::calibrate_greedy`]).
    Greedy,
}

/// A loaded test set.
enum TestSet {
    Pack(data::Labelled),
    Trace((String, exitwise::Evaluation)),
}

/// What `calibrate` reports on: a pack (the bundle's test pack when `None`) or a test trace.
enum Test<'a> {
    Pack(Option<&'a std::path::Path>),
    Trace(&'a std::path::Path),
}

fn resplit_text(r: &exitwise::resplit::Resplit) -> String {
    let line = |name: &str, m: &exitwise::resplit::MethodRecord| {
        format!(
            "{name:<7} budget broken in {} of {} splits ({:.1} %); test drop mean {:.2} pt, max {:.2} pt; MACs saved {:.1} %\n",
            m.violations, r.splits, 100.0 * m.violation_rate, m.mean_test_drop_pt, m.max_test_drop_pt, 100.0 * m.mean_test_macs_saved
        )
    };
    format!(
        "{} random re-splits of {} images into {} calibration + {} test, budget {} pt\n{}{}",
        r.splits, r.pool, r.calibration, r.test, r.max_drop, line("LTT", &r.ltt), line("greedy", &r.greedy)
    )
}

fn calibrate(
    model: &CpuModel,
    max_drop: f64,
    method: &Method,
    calib_pack: Option<&std::path::Path>,
    calib_trace: Option<&std::path::Path>,
    test_on: Test,
) -> Result<Calibrated> {
    let m = model.manifest();
    // Check the arguments before the (slow) tracing.
    match method {
        Method::Ltt(options) => exitwise::calibrate::check_options(max_drop, options)?,
        Method::Greedy if !(max_drop.is_finite() && (0.0..=100.0).contains(&max_drop)) => {
            return Err(exitwise::Error::new(
                exitwise::ErrorCode::BadThreshold,
                format!("--max-drop is {max_drop}, must be within [0, 100] percentage points"),
            ));
        }
        Method::Greedy => {}
    }
    // Find the test pack before the (slow) tracing so that a missing one fails fast.
    let test = match test_on {
        Test::Pack(Some(path)) => Some(TestSet::Pack(data::file_pack(model, path)?)),
        Test::Pack(None) => data::bundle_pack(model, Split::Test)?.map(TestSet::Pack),
        Test::Trace(path) => Some(TestSet::Trace(data::trace_file(model, path)?)),
    };
    let (source, ev) = data::calibration_set(model, calib_pack, calib_trace)?;
    let (t, certificate) = match method {
        Method::Ltt(options) => {
            let c = ev.calibrate(max_drop, options)?;
            (c.thresholds.clone(), Some(c))
        }
        Method::Greedy => (ev.calibrate_greedy(max_drop)?, None),
    };
    let calibration = Scored::new(model, &source, &ev, ev.summary(&t, m)?);
    let test = match test {
        Some(TestSet::Pack(p)) => {
            let ev = data::evaluate(model, &p.pack)?;
            Some(Scored::new(model, &p.source, &ev, ev.summary(&t, m)?))
        }
        Some(TestSet::Trace((source, ev))) => Some(Scored::new(model, &source, &ev, ev.summary(&t, m)?)),
        None => None,
    };
    Ok(Calibrated::new(m.name.clone(), max_drop, t, certificate, calibration, test))
}
