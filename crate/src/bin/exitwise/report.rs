//! What the commands print: serialisable reports (JSON, snake_case keys) and their tables.

use crate::data::Source;
use exitwise::manifest::ExitRule;
use exitwise::pack::Pack;
use exitwise::{Classification, CpuModel, Evaluation, FrontierPoint, Result, Summary};
use serde::Serialize;
use std::fmt::Write;

// ---------------------------------------------------------------------------------------------
// Formatting helpers.

/// 1234567 → "1,234,567".
pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn pct(x: f64) -> String {
    format!("{:.2} %", x * 100.0)
}

fn list(t: &[f32]) -> String {
    if t.is_empty() {
        return "(none)".into();
    }
    t.iter().map(|v| format!("{v:.2}")).collect::<Vec<_>>().join(", ")
}

/// A plain text table: a header row, then rows; columns marked `right` are right-aligned.
struct Table {
    header: Vec<String>,
    right: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(columns: &[(&str, bool)]) -> Table {
        Table {
            header: columns.iter().map(|c| c.0.to_string()).collect(),
            right: columns.iter().map(|c| c.1).collect(),
            rows: Vec::new(),
        }
    }
    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }
    fn render(&self, indent: &str) -> String {
        let n = self.header.len();
        let mut widths = vec![0; n];
        for r in std::iter::once(&self.header).chain(&self.rows) {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut out = String::new();
        for r in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = indent.to_string();
            for (i, c) in r.iter().enumerate().take(n) {
                let pad = widths[i] - c.chars().count();
                if i > 0 {
                    line.push_str("  ");
                }
                if self.right[i] {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(c);
                } else {
                    line.push_str(c);
                    if i + 1 < n {
                        line.push_str(&" ".repeat(pad));
                    }
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `key  value` lines with the keys aligned.
fn fields(rows: &[(&str, String)]) -> String {
    let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    rows.iter().map(|(k, v)| format!("{k:<w$}  {v}\n")).collect()
}

pub fn to_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string_pretty(value)
        .map(|s| s + "\n")
        .map_err(|e| exitwise::Error::new(exitwise::ErrorCode::Backend, format!("cannot write JSON: {e}")))
}

// ---------------------------------------------------------------------------------------------
// info

#[derive(Serialize)]
pub struct Info {
    pub name: String,
    pub description: Option<String>,
    pub labels: Vec<String>,
    pub input: InputOut,
    pub segments: Vec<SegmentOut>,
    pub exits: Vec<ExitOut>,
    /// MACs of the plain network.
    pub macs_full: u64,
    pub default_thresholds: Vec<f32>,
    /// Every part takes a dynamic batch.
    pub batchable: bool,
    pub backend: String,
    pub test_pack: Option<PackOut>,
    pub calibration_pack: Option<PackOut>,
    /// The calibration trace was loaded (checked against these parts): `calibrate` reads it.
    pub has_calibration_trace: bool,
    pub calibration_trace: Option<TraceOut>,
}

#[derive(Serialize)]
pub struct TraceOut {
    pub file: String,
    /// Number of images traced.
    pub count: usize,
}

#[derive(Serialize)]
pub struct InputOut {
    pub shape: Vec<usize>,
    pub dtype: String,
    pub layout: String,
    pub range: [f32; 2],
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

#[derive(Serialize)]
pub struct SegmentOut {
    pub name: String,
    pub file: String,
    pub macs: u64,
    pub batchable: bool,
}

#[derive(Serialize)]
pub struct ExitOut {
    pub name: String,
    /// Index of the segment it follows.
    pub after: usize,
    pub file: String,
    pub rule: ExitRule,
    /// Default threshold; `null` for the final classifier.
    pub threshold: Option<f32>,
    /// MACs of the head alone.
    pub macs: u64,
    /// MACs executed when this exit fires (segments up to it and every head up to it).
    pub cumulative_macs: u64,
    pub is_final: bool,
}

#[derive(Serialize)]
pub struct PackOut {
    pub file: String,
    /// Number of images (`null` when the pack does not parse).
    pub count: Option<usize>,
}

impl Info {
    pub fn of(model: &CpuModel) -> Info {
        let m = model.manifest();
        let b = &model.bundle;
        let c = &model.costs;
        let last = m.exits.len().saturating_sub(1);
        let pack = |r: &Option<exitwise::manifest::FileRef>| {
            r.as_ref().map(|r| PackOut {
                file: r.file.clone(),
                count: b.data.get(&r.file).and_then(|bytes| Pack::parse(&r.file, bytes).ok()).map(|p| p.count),
            })
        };
        // Loaded means parsed and checked against these parts at load (Bundle::from_files).
        let trace = m.calibration_trace.as_ref().and_then(|r| {
            let bytes = b.data.get(&r.file)?;
            let t = exitwise::calibtrace::CalibrationTrace::parse(&r.file, bytes).ok()?;
            Some(TraceOut { file: r.file.clone(), count: t.count })
        });
        Info {
            name: m.name.clone(),
            description: m.description.clone(),
            labels: m.labels.clone(),
            input: InputOut {
                shape: m.input.shape.clone(),
                dtype: m.input.dtype.clone(),
                layout: m.input.layout.clone(),
                range: m.input.range,
                mean: m.input.mean.clone(),
                std: m.input.std.clone(),
            },
            segments: m
                .segments
                .iter()
                .enumerate()
                .map(|(k, s)| SegmentOut {
                    name: s.name.clone(),
                    file: s.file.clone(),
                    macs: c.segments.get(k).copied().unwrap_or(0),
                    batchable: b.segments.get(k).is_some_and(|p| p.batchable),
                })
                .collect(),
            exits: m
                .exits
                .iter()
                .enumerate()
                .map(|(e, x)| ExitOut {
                    name: x.name.clone(),
                    after: x.after,
                    file: x.file.clone(),
                    rule: x.rule,
                    threshold: if e == last { None } else { x.threshold },
                    macs: c.exits.get(e).copied().unwrap_or(0),
                    cumulative_macs: c.to_exit.get(e).copied().unwrap_or(0),
                    is_final: e == last,
                })
                .collect(),
            macs_full: c.plain,
            default_thresholds: m.default_thresholds(),
            batchable: b.batchable(),
            backend: exitwise::backend::Backend::name(&model.backend).to_string(),
            test_pack: pack(&m.test_pack),
            calibration_pack: pack(&m.calibration_pack),
            has_calibration_trace: trace.is_some(),
            calibration_trace: trace,
        }
    }

    pub fn text(&self) -> String {
        let i = &self.input;
        let pack = |p: &Option<PackOut>| match p {
            Some(PackOut { file, count: Some(n) }) => format!("{file} ({n} images)"),
            Some(PackOut { file, count: None }) => format!("{file} (unreadable)"),
            None => "none".into(),
        };
        let nums = |v: &[f32]| v.iter().map(|x| format!("{x}")).collect::<Vec<_>>().join(", ");
        let mut rows = vec![("model", self.name.clone())];
        if let Some(d) = &self.description {
            rows.push(("description", d.clone()));
        }
        rows.extend([
            ("labels", format!("{}: {}", self.labels.len(), self.labels.join(", "))),
            ("input", format!(
                "{:?} {} {}, range [{}, {}], mean [{}], std [{}]",
                i.shape, i.dtype, i.layout, i.range[0], i.range[1], nums(&i.mean), nums(&i.std)
            )),
            ("batchable", if self.batchable { "yes (dynamic batch)".into() } else { "no (batch of 1)".into() }),
            ("backend", self.backend.clone()),
            ("test pack", pack(&self.test_pack)),
            ("calibration pack", pack(&self.calibration_pack)),
            ("calibration trace", match &self.calibration_trace {
                Some(t) => format!("{} ({} images)", t.file, t.count),
                None => "none".into(),
            }),
        ]);
        let mut out = fields(&rows);
        let mut t = Table::new(&[("#", true), ("segment", false), ("file", false), ("MACs", true)]);
        for (k, s) in self.segments.iter().enumerate() {
            t.row(vec![k.to_string(), s.name.clone(), s.file.clone(), group(s.macs)]);
        }
        out.push_str("\nsegments\n");
        out.push_str(&t.render("  "));
        let mut t = Table::new(&[
            ("#", true),
            ("exit", false),
            ("after", false),
            ("file", false),
            ("rule", false),
            ("threshold", true),
            ("head MACs", true),
            ("MACs if it fires", true),
            ("of plain", true),
        ]);
        for (e, x) in self.exits.iter().enumerate() {
            let after = self.segments.get(x.after).map_or_else(|| x.after.to_string(), |s| s.name.clone());
            t.row(vec![
                e.to_string(),
                if x.is_final && !x.name.contains("final") { format!("{} (final)", x.name) } else { x.name.clone() },
                after,
                x.file.clone(),
                rule_name(x.rule).into(),
                x.threshold.map_or_else(|| "-".into(), |t| format!("{t:.2}")),
                group(x.macs),
                group(x.cumulative_macs),
                format!("{:.1} %", x.cumulative_macs as f64 / self.macs_full.max(1) as f64 * 100.0),
            ]);
        }
        out.push_str("\nexits\n");
        out.push_str(&t.render("  "));
        let _ = writeln!(
            out,
            "\nplain network: {} MACs = {} FLOPs (all segments + the final classifier + any head it consumes)",
            group(self.macs_full),
            group(self.macs_full.saturating_mul(2)),
        );
        out
    }
}

fn rule_name(r: ExitRule) -> &'static str {
    match r {
        ExitRule::Learned => "learned",
        ExitRule::MaxSoftmax => "max_softmax",
        ExitRule::Entropy => "entropy",
    }
}

// ---------------------------------------------------------------------------------------------
// classify

/// The library's [`Classification`] (keys in snake_case, like every CLI JSON), plus where the
/// image came from.
#[derive(Serialize)]
pub struct Classified {
    pub model: String,
    pub image: String,
    /// The pack's label for `pack:N` images.
    pub true_class: Option<usize>,
    pub true_label: Option<String>,
    pub thresholds: Vec<f32>,
    #[serde(flatten)]
    json: serde_json::Value,
    #[serde(skip)]
    result: Classification,
    #[serde(skip)]
    labels: Vec<String>,
}

/// The library serialises camelCase for JavaScript; the CLI speaks snake_case.
fn snake_keys(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let mut s = String::with_capacity(k.len() + 4);
                    for ch in k.chars() {
                        if ch.is_ascii_uppercase() {
                            s.push('_');
                            s.push(ch.to_ascii_lowercase());
                        } else {
                            s.push(ch);
                        }
                    }
                    (s, snake_keys(v))
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(snake_keys).collect()),
        other => other,
    }
}

impl Classified {
    pub fn new(model: &CpuModel, source: &Source, thresholds: &[f32], c: Classification) -> Classified {
        let labels = model.manifest().labels.clone();
        let (image, true_class) = match source {
            Source::Pack { file, index, label } => (format!("pack:{index} ({file})"), Some(*label as usize)),
            Source::Png { path, width, height } => (format!("{path} ({width}×{height})"), None),
        };
        Classified {
            model: model.manifest().name.clone(),
            image,
            true_class,
            true_label: true_class.map(|k| labels.get(k).cloned().unwrap_or_else(|| k.to_string())),
            thresholds: thresholds.to_vec(),
            json: snake_keys(serde_json::to_value(&c).unwrap_or_default()),
            result: c,
            labels,
        }
    }

    pub fn text(&self, n_exits: usize) -> String {
        let c = &self.result;
        let label = |k: usize| self.labels.get(k).cloned().unwrap_or_else(|| k.to_string());
        let mut rows = vec![("model", self.model.clone()), ("image", self.image.clone())];
        if let (Some(k), Some(l)) = (self.true_class, &self.true_label) {
            let verdict = if k == c.class { "right" } else { "wrong" };
            rows.push(("true label", format!("{l} (class {k}) — {verdict}")));
        }
        rows.extend([
            ("thresholds", list(&self.thresholds)),
            ("result", format!(
                "{} (class {}), confidence {:.4}, at {} (exit {} of {})",
                c.label, c.class, c.confidence, c.exit_name, c.exit + 1, n_exits
            )),
            ("MACs", format!(
                "{} executed of {} for the plain network — FLOPs saved {}",
                group(c.macs_executed), group(c.macs_full), pct(c.flops_saved)
            )),
            ("segments run", c.segments_run.to_string()),
            ("time", format!("{:.3} ms on {}", c.elapsed_ms, c.backend)),
        ]);
        let mut out = fields(&rows);
        let mut t = Table::new(&[
            ("#", true),
            ("exit", false),
            ("confidence", true),
            ("threshold", true),
            ("class", false),
            ("fired", false),
        ]);
        for r in &c.exits {
            t.row(vec![
                r.exit.to_string(),
                r.name.clone(),
                format!("{:.4}", r.confidence),
                r.threshold.map_or_else(|| "-".into(), |t| format!("{t:.2}")),
                format!("{} ({})", label(r.class), r.class),
                if r.fired { "yes".into() } else { "no".into() },
            ]);
        }
        out.push_str("\nexits evaluated\n");
        out.push_str(&t.render("  "));
        out
    }
}

// ---------------------------------------------------------------------------------------------
// eval / calibrate

#[derive(Serialize, Clone)]
pub struct Scored {
    pub model: String,
    pub pack: String,
    pub count: usize,
    pub thresholds: Vec<f32>,
    pub accuracy: f64,
    /// The final classifier alone (the plain network).
    pub final_accuracy: f64,
    /// Each exit on its own.
    pub exit_accuracies: Vec<f64>,
    pub mean_macs: f64,
    pub macs_full: u64,
    pub macs_saved_fraction: f64,
    /// Images that left at each exit.
    pub histogram: Vec<usize>,
}

impl Scored {
    pub fn new(model: &CpuModel, pack: &str, ev: &Evaluation, s: Summary) -> Scored {
        Scored {
            model: model.manifest().name.clone(),
            pack: pack.to_string(),
            count: s.count,
            thresholds: s.thresholds,
            accuracy: s.accuracy,
            final_accuracy: s.final_accuracy,
            exit_accuracies: ev.exit_accuracies(),
            mean_macs: s.mean_macs,
            macs_full: s.macs_full,
            macs_saved_fraction: s.macs_saved_fraction,
            histogram: s.histogram,
        }
    }

    pub fn text(&self, model: &CpuModel, seconds: Option<f64>) -> String {
        let mut rows = vec![
            ("model", self.model.clone()),
            ("pack", format!("{} ({} images)", self.pack, self.count)),
            ("thresholds", list(&self.thresholds)),
            ("accuracy", format!("{}   (final classifier alone: {})", pct(self.accuracy), pct(self.final_accuracy))),
            ("mean MACs", format!(
                "{} of {} — saved {}",
                group(self.mean_macs.round() as u64), group(self.macs_full), pct(self.macs_saved_fraction)
            )),
        ];
        if let Some(s) = seconds {
            rows.push(("traced in", format!("{s:.2} s ({:.3} ms per image)", s * 1e3 / self.count.max(1) as f64)));
        }
        let mut out = fields(&rows);
        out.push_str("\nexits\n");
        out.push_str(&self.exit_table(model).render("  "));
        out
    }

    fn exit_table(&self, model: &CpuModel) -> Table {
        let m = model.manifest();
        let mut t = Table::new(&[
            ("#", true),
            ("exit", false),
            ("threshold", true),
            ("accuracy alone", true),
            ("left here", true),
            ("share", true),
            ("MACs if it fires", true),
        ]);
        for (e, x) in m.exits.iter().enumerate() {
            let left = self.histogram.get(e).copied().unwrap_or(0);
            t.row(vec![
                e.to_string(),
                x.name.clone(),
                self.thresholds.get(e).map_or_else(|| "-".into(), |t| format!("{t:.2}")),
                self.exit_accuracies.get(e).map_or_else(String::new, |a| pct(*a)),
                left.to_string(),
                pct(left as f64 / self.count.max(1) as f64),
                group(model.costs.to_exit.get(e).copied().unwrap_or(0)),
            ]);
        }
        t
    }
}

#[derive(Serialize)]
pub struct Calibrated {
    pub model: String,
    /// `"learn-then-test"` or `"greedy"` (no guarantee).
    pub method: &'static str,
    /// Whether the thresholds carry a guarantee: Learn then Test certified a point (always false
    /// for greedy).
    pub guaranteed: bool,
    /// Allowed accuracy drop, in percentage points, from the final classifier's.
    pub max_drop: f64,
    pub thresholds: Vec<f32>,
    /// The library's Learn-then-Test result (`Certified`, keys in snake_case): `n`, `losses`,
    /// `p_value`, `risk_upper_bound`, `delta`, …; `null` for greedy.
    pub certificate: Option<serde_json::Value>,
    /// Figures on the calibration set the thresholds were chosen on.
    pub calibration: Scored,
    /// Figures on the test pack (`null` when the bundle has none and no `--pack` was given).
    pub test: Option<Scored>,
    #[serde(skip)]
    certified: Option<exitwise::Certified>,
}

/// A number with at most `digits` decimals, trailing zeros dropped: 90.0 → "90", 0.05 → "0.05".
fn short(x: f64, digits: usize) -> String {
    let s = format!("{x:.digits$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

impl Calibrated {
    pub fn new(
        model: String,
        max_drop: f64,
        thresholds: Vec<f32>,
        certified: Option<exitwise::Certified>,
        calibration: Scored,
        test: Option<Scored>,
    ) -> Calibrated {
        Calibrated {
            model,
            method: if certified.is_some() { "learn-then-test" } else { "greedy" },
            guaranteed: certified.as_ref().is_some_and(|c| c.certified),
            max_drop,
            thresholds,
            certificate: certified.as_ref().map(|c| snake_keys(serde_json::to_value(c).unwrap_or_default())),
            calibration,
            test,
            certified,
        }
    }

    pub fn text(&self, model: &CpuModel) -> String {
        let mut rows = vec![("model", self.model.clone())];
        match &self.certified {
            None => rows.extend([
                ("method", "greedy grid search — NO GUARANTEE: the drop is met on the calibration pack only, \
                            new data may drop more".to_string()),
                ("max drop", format!("{} points (on the calibration pack)", self.max_drop)),
            ]),
            Some(c) => {
                let path = match c.path {
                    exitwise::CalibrationPath::Shared => "one threshold shared by every early exit, 1.00 down to 0.00".to_string(),
                    exitwise::CalibrationPath::Split { fraction } => format!(
                        "per exit, built on {} % of the calibration pack, tested on the other {} images",
                        short(fraction * 100.0, 1), c.n
                    ),
                };
                let confidence = short((1.0 - c.delta) * 100.0, 2);
                rows.extend([
                    ("method", format!("Learn then Test (δ = {}), path: {path}", c.delta)),
                    ("max drop", format!("{} points", self.max_drop)),
                ]);
                if c.certified {
                    rows.push(("guarantee", format!(
                        "with {confidence} % confidence, accuracy drop ≤ {} pt on data like the calibration pack (risk ≤ {})",
                        self.max_drop, short(self.max_drop / 100.0, 6)
                    )));
                } else {
                    rows.push(("guarantee", format!(
                        "NONE — nothing on the path is certified; thresholds stay at 1.00 (only confidences of exactly 1 exit: \
                         not the plain network). For {} pt at δ = {} at least {} test images with no loss are needed, there are {}",
                        self.max_drop, c.delta, group(c.min_images), group(c.n as u64)
                    )));
                }
                rows.push(("evidence", format!(
                    "{} of {} images lost (exit wrong, final right) at these thresholds, p = {:.4}{}; {} of {} path steps certified",
                    c.losses, c.n, c.p_value, if c.certified { " ≤ δ" } else { " > δ" }, c.steps_certified, c.path_length
                )));
            }
        }
        rows.push(("thresholds", list(&self.thresholds)));
        let mut out = fields(&rows);
        let mut t = Table::new(&[
            ("set", false),
            ("images", true),
            ("accuracy", true),
            ("final alone", true),
            ("drop (pts)", true),
            ("mean MACs", true),
            ("saved", true),
            ("left at each exit", false),
        ]);
        for (name, s) in std::iter::once(("calibration", &self.calibration)).chain(self.test.as_ref().map(|s| ("test", s))) {
            t.row(vec![
                format!("{name}: {}", s.pack),
                s.count.to_string(),
                pct(s.accuracy),
                pct(s.final_accuracy),
                format!("{:.2}", (s.final_accuracy - s.accuracy) * 100.0),
                group(s.mean_macs.round() as u64),
                pct(s.macs_saved_fraction),
                s.histogram.iter().map(|h| h.to_string()).collect::<Vec<_>>().join(" / "),
            ]);
        }
        out.push('\n');
        out.push_str(&t.render(""));
        if self.test.is_none() {
            out.push_str("\n(no test pack: pass --pack FILE to report on one)\n");
        }
        let shown = self.test.as_ref().unwrap_or(&self.calibration);
        let _ = writeln!(out, "\nexits on {}", shown.pack);
        out.push_str(&shown.exit_table(model).render("  "));
        out
    }
}

// ---------------------------------------------------------------------------------------------
// sweep

#[derive(Serialize)]
pub struct Swept {
    pub model: String,
    pub pack: String,
    pub count: usize,
    pub final_accuracy: f64,
    pub macs_full: u64,
    /// Points not dominated by another, in the library's order (fewest MACs saved first).
    pub points: Vec<PointOut>,
}

#[derive(Serialize)]
pub struct PointOut {
    pub thresholds: Vec<f32>,
    pub accuracy: f64,
    pub macs_saved_fraction: f64,
    /// macs_full × (1 − macs_saved_fraction).
    pub mean_macs: f64,
}

impl Swept {
    pub fn new(model: &CpuModel, pack: &str, ev: &Evaluation, frontier: Vec<FrontierPoint>) -> Swept {
        let plain = model.costs.plain;
        let accs = ev.exit_accuracies();
        Swept {
            model: model.manifest().name.clone(),
            pack: pack.to_string(),
            count: ev.count(),
            final_accuracy: accs.last().copied().unwrap_or(0.0),
            macs_full: plain,
            points: frontier
                .into_iter()
                .map(|p| PointOut {
                    mean_macs: plain as f64 * (1.0 - p.macs_saved_fraction),
                    thresholds: p.thresholds,
                    accuracy: p.accuracy,
                    macs_saved_fraction: p.macs_saved_fraction,
                })
                .collect(),
        }
    }

    pub fn text(&self) -> String {
        let mut out = fields(&[
            ("model", self.model.clone()),
            ("pack", format!("{} ({} images)", self.pack, self.count)),
            ("final alone", format!("{} at {} MACs", pct(self.final_accuracy), group(self.macs_full))),
            ("frontier", format!("{} points not dominated by another (least saved first)", self.points.len())),
        ]);
        let mut t = Table::new(&[("saved", true), ("mean MACs", true), ("accuracy", true), ("Δ final (pts)", true), ("thresholds", false)]);
        for p in &self.points {
            t.row(vec![
                pct(p.macs_saved_fraction),
                group(p.mean_macs.round().max(0.0) as u64),
                pct(p.accuracy),
                format!("{:+.2}", (p.accuracy - self.final_accuracy) * 100.0),
                list(&p.thresholds),
            ]);
        }
        out.push('\n');
        out.push_str(&t.render(""));
        out
    }
}

// ---------------------------------------------------------------------------------------------
// classify-batch

/// `classify-batch`: per image the exit that fired and its class, and the totals.
#[derive(Serialize)]
pub struct Batched {
    pub model: String,
    pub pack: String,
    pub count: usize,
    pub batch: usize,
    pub thresholds: Vec<f32>,
    pub accuracy: f64,
    pub macs_executed: u64,
    pub macs_full: u64,
    pub flops_saved: f64,
    /// Images that left at each exit.
    pub histogram: Vec<usize>,
    /// Wall time per image, over the whole run.
    pub ms_per_image: f64,
    pub exits: Vec<usize>,
    pub classes: Vec<usize>,
}

impl Batched {
    pub fn new(
        model: &CpuModel,
        source: &str,
        batch: usize,
        thresholds: &[f32],
        results: &[exitwise::BatchClassification],
        labels: &[u8],
        seconds: f64,
    ) -> Batched {
        let all = || results.iter().flat_map(|b| &b.classifications);
        let exits: Vec<usize> = all().map(|c| c.exit).collect();
        let classes: Vec<usize> = all().map(|c| c.class).collect();
        let mut histogram = vec![0; model.manifest().exits.len()];
        for &e in &exits {
            if let Some(h) = histogram.get_mut(e) {
                *h += 1;
            }
        }
        let count = exits.len();
        let right = classes.iter().zip(labels).filter(|(c, l)| **c == **l as usize).count();
        let macs_executed = results.iter().map(|b| b.macs_executed).sum();
        let macs_full = results.iter().map(|b| b.macs_full).sum();
        Batched {
            model: model.manifest().name.clone(),
            pack: source.to_string(),
            count,
            batch,
            thresholds: thresholds.to_vec(),
            accuracy: if count == 0 { 0.0 } else { right as f64 / count as f64 },
            macs_executed,
            macs_full,
            flops_saved: exitwise::engine::saved(macs_executed, macs_full),
            histogram,
            ms_per_image: if count == 0 { 0.0 } else { seconds * 1e3 / count as f64 },
            exits,
            classes,
        }
    }

    pub fn text(&self) -> String {
        format!(
            "{}: {} images of {} in batches of {}, thresholds {:?}\naccuracy {:.2} %, FLOPs saved {:.1} %, {:.3} ms per image\nleft at each exit: {:?}\n",
            self.model, self.count, self.pack, self.batch, self.thresholds,
            self.accuracy * 100.0, self.flops_saved * 100.0, self.ms_per_image, self.histogram
        )
    }
}

/// `trace`: the calibration trace written.
#[derive(Serialize)]
pub struct Traced {
    pub model: String,
    pub pack: String,
    pub out: String,
    pub count: usize,
    pub exits: usize,
    pub bytes: usize,
    /// What the manifest's `calibration_trace.sha256` must say.
    pub sha256: String,
    pub seconds: f64,
}

impl Traced {
    pub fn new(model: &CpuModel, source: &str, out: &std::path::Path, bytes: &[u8], count: usize, seconds: f64) -> Traced {
        Traced {
            model: model.manifest().name.clone(),
            pack: source.to_string(),
            out: out.display().to_string(),
            count,
            exits: model.manifest().exits.len(),
            bytes: bytes.len(),
            sha256: exitwise::bundle::sha256_hex(bytes),
            seconds,
        }
    }

    pub fn text(&self) -> String {
        format!(
            "{}: traced {} images of {} ({} exits) in {:.1} s\nwrote {} ({} bytes), sha256 {}\n",
            self.model, self.count, self.pack, self.exits, self.seconds, self.out, self.bytes, self.sha256
        )
    }
}
