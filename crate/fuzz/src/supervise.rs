//! The supervisor: runs a worker process, watches its event lines, and turns what goes wrong
//! into findings: `panic` (caught in the worker), `invariant`, `hang` (an execution over the
//! time limit: the worker is killed), `alloc` (an allocation over the cap aborted the worker),
//! `stack_overflow` and `crash` (the worker died otherwise). After a kill or a death the
//! worker restarts at the next case. Findings are written to `corpus/<target>/open/<hash>`.

use crate::case::{hex, Bases, Case, Target};
use crate::exec::generate;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const KINDS: [&str; 6] = ["panic", "invariant", "hang", "alloc", "stack_overflow", "crash"];

#[derive(Debug, Clone)]
pub struct Config {
    pub seed: u64,
    pub start: u64,
    /// Stop after this many executions (per target).
    pub execs: Option<u64>,
    pub seconds: f64,
    /// Time limit of one execution.
    pub timeout: Duration,
    pub cap_mib: u64,
    /// Where findings go (None: not written).
    pub corpus: Option<PathBuf>,
    pub models: PathBuf,
    /// Print progress every so many seconds to stderr (0: never).
    pub progress_s: u64,
}

#[derive(Debug, Clone)]
pub struct Finding {
    pub kind: String,
    pub signature: String,
    pub message: String,
    pub index: u64,
    pub count: u64,
    pub note: String,
    pub file: Option<String>,
}

#[derive(Debug, Default)]
pub struct Stats {
    pub executions: u64,
    pub outcomes: BTreeMap<String, u64>,
    pub kinds: BTreeMap<String, u64>,
    /// By signature.
    pub findings: BTreeMap<String, Finding>,
    pub harness_errors: Vec<String>,
    pub restarts: u64,
    pub max_peak: u64,
    pub max_micros: u64,
    pub next: u64,
    /// For replays: each file's result.
    pub per_index: BTreeMap<u64, String>,
}

fn spawn(args: &[String], cap_mib: u64, models: &Path) -> std::io::Result<Child> {
    Command::new(std::env::current_exe()?)
        .arg("worker")
        .args(args)
        .args(["--cap-mib", &cap_mib.to_string()])
        .env("EXITWISE_MODELS", models)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
}

/// Lines of the child's stdout, and the tail of its stderr.
fn watch(child: &mut Child) -> (Receiver<String>, Arc<Mutex<Vec<u8>>>) {
    let (tx, rx) = channel();
    let stdout = child.stdout.take().expect("piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let tail = Arc::new(Mutex::new(Vec::new()));
    let t = tail.clone();
    let mut stderr = child.stderr.take().expect("piped");
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            if let Ok(mut t) = t.lock() {
                t.extend_from_slice(&buf[..n]);
                let len = t.len();
                if len > 16384 {
                    t.drain(..len - 16384);
                }
            }
        }
    });
    (rx, tail)
}

/// Kind and signature of a worker that died during a case, from its stderr.
fn death(stderr: &str, status: Option<std::process::ExitStatus>) -> (&'static str, String) {
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
    if let Some(l) = stderr.lines().find(|l| l.contains("memory allocation of")) {
        return ("alloc", l.trim().to_string());
    }
    if stderr.contains("has overflowed its stack") {
        return ("stack_overflow", last);
    }
    ("crash", format!("{last} (status {})", status.map(|s| s.to_string()).unwrap_or_else(|| "unknown".into())))
}

/// The signatures already in the corpus, with how many files each has.
pub fn corpus_signatures(corpus: &Path) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for f in corpus_files(corpus, true) {
        if let Ok(b) = std::fs::read(&f) {
            if let Ok((_, extra)) = Case::from_bytes(&b) {
                if let Some(s) = extra.get("signature") {
                    *out.entry(s.clone()).or_default() += 1;
                }
            }
        }
    }
    out
}

/// Every file under `dir`, sorted; `open`: also those under folders named `open`.
pub fn corpus_files(dir: &Path, open: bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if d.is_file() {
            out.push(d);
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                if open || p.file_name().is_none_or(|n| n != "open") {
                    stack.push(p);
                }
            } else if p.file_name().is_some_and(|n| !n.to_string_lossy().starts_with('.') && n != "README.md") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

struct Recorder<'a> {
    target: Option<Target>,
    cfg: &'a Config,
    bases: &'a Bases,
    files: Option<&'a [PathBuf]>,
    existing: BTreeMap<String, usize>,
    stats: Stats,
}

impl Recorder<'_> {
    fn finding(&mut self, kind: &str, signature: String, message: String, index: u64) {
        self.stats.executions += 1;
        *self.stats.kinds.entry(kind.to_string()).or_default() += 1;
        self.stats.per_index.insert(index, kind.to_string());
        if let Some(f) = self.stats.findings.get_mut(&signature) {
            f.count += 1;
        } else {
            self.stats.findings.insert(signature.clone(), Finding {
                kind: kind.into(),
                signature: signature.clone(),
                message: message.clone(),
                index,
                count: 1,
                note: String::new(),
                file: None,
            });
        }
        // The case, regenerated (or the replayed file).
        let (case, file) = match (self.target, self.files) {
            (_, Some(files)) => (None, files.get(index as usize).map(|p| p.display().to_string())),
            (Some(t), None) => (Some(generate(t, self.bases, self.cfg.seed, index)), None),
            _ => (None, None),
        };
        let written = self.stats.findings[&signature].count;
        let mut path = file;
        if let (Some(case), Some(corpus)) = (&case, &self.cfg.corpus) {
            let have = self.existing.get(&signature).copied().unwrap_or(0);
            if have + (written as usize) <= 3 {
                let bytes = case.to_bytes(&[("kind", kind), ("signature", &signature), ("message", &message)]);
                let hash = &hex(&sha256(&bytes))[..16];
                let dir = corpus.join(case.target.name()).join("open");
                let p = dir.join(hash);
                if std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&p, &bytes)).is_ok() {
                    path = Some(p.display().to_string());
                }
            }
        }
        let f = self.stats.findings.get_mut(&signature).expect("inserted");
        if f.file.is_none() {
            f.file = path;
            f.note = case.map(|c| c.note).unwrap_or_default();
        }
        eprintln!("finding {kind} at case {index}: {signature}: {}", message.chars().take(300).collect::<String>());
    }
}

fn sha256(b: &[u8]) -> Vec<u8> {
    let h = exitwise::bundle::sha256_hex(b);
    (0..h.len()).step_by(2).map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap_or(0)).collect()
}

/// Runs cases (generated for `target`, or the corpus `files`) until done, restarting the worker
/// after each hang or death. `checkpoint` sees the stats about once a minute (so an interrupted
/// run still leaves its progress behind).
pub fn supervise(
    target: Option<Target>,
    files: Option<&[PathBuf]>,
    cfg: &Config,
    bases: &Bases,
    checkpoint: &mut dyn FnMut(&Stats, f64),
) -> (Stats, f64) {
    let t0 = Instant::now();
    let existing = cfg.corpus.as_deref().map(corpus_signatures).unwrap_or_default();
    let mut r = Recorder { target, cfg, bases, files, existing, stats: Stats::default() };
    let mut next = cfg.start;
    let end = cfg.execs.map(|n| cfg.start + n);
    let mut last_progress = Instant::now();
    let mut last_checkpoint = Instant::now();
    'outer: loop {
        let left = cfg.seconds - t0.elapsed().as_secs_f64();
        if left <= 0.0 || end.is_some_and(|e| next >= e) || files.is_some_and(|f| next >= f.len() as u64) {
            break;
        }
        let mut args: Vec<String> = match (target, files) {
            (_, Some(files)) => {
                let mut a = vec!["--start".into(), next.to_string(), "--files".into()];
                a.extend(files.iter().map(|p| p.display().to_string()));
                a
            }
            (Some(t), None) => vec![t.name().into(), "--seed".into(), cfg.seed.to_string(), "--start".into(), next.to_string(), "--seconds".into(), format!("{left:.3}")],
            _ => unreachable!("a target or files"),
        };
        if let Some(e) = end {
            args.extend(["--end".into(), e.to_string()]);
        }
        let mut child = match spawn(&args, cfg.cap_mib, &cfg.models) {
            Ok(c) => c,
            Err(e) => {
                r.stats.harness_errors.push(format!("cannot start the worker: {e}"));
                break;
            }
        };
        let (rx, tail) = watch(&mut child);
        let mut current: Option<(u64, Instant)> = None;
        let mut ready = false;
        let spawned = Instant::now();
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    let (tag, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
                    let (idx, rest) = rest.split_once(' ').unwrap_or((rest, ""));
                    let idx: u64 = idx.parse().unwrap_or(next);
                    match tag {
                        "READY" => ready = true,
                        "S" => current = Some((idx, Instant::now())),
                        "D" => {
                            let mut it = rest.split(' ');
                            let label = it.next().unwrap_or("?").to_string();
                            let micros: u64 = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
                            let peak: u64 = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
                            r.stats.executions += 1;
                            r.stats.max_peak = r.stats.max_peak.max(peak);
                            r.stats.max_micros = r.stats.max_micros.max(micros);
                            r.stats.per_index.insert(idx, label.clone());
                            *r.stats.outcomes.entry(label).or_default() += 1;
                            current = None;
                            next = idx + 1;
                        }
                        "P" => {
                            let (loc, msg) = rest.split_once('\t').unwrap_or((rest, ""));
                            r.finding("panic", format!("panic at {loc}"), msg.to_string(), idx);
                            current = None;
                            next = idx + 1;
                        }
                        "I" => {
                            r.finding("invariant", format!("invariant: {rest}"), rest.to_string(), idx);
                            current = None;
                            next = idx + 1;
                        }
                        "H" | "X" => {
                            r.stats.harness_errors.push(format!("case {idx}: {rest}"));
                            r.stats.per_index.insert(idx, "harness".into());
                            next = idx + 1;
                        }
                        "END" => {
                            let _ = child.wait();
                            break 'outer;
                        }
                        _ => {}
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    if let Some((i, since)) = current {
                        if since.elapsed() > cfg.timeout {
                            let _ = child.kill();
                            let _ = child.wait();
                            let sig = format!("hang [{}]", hang_signature(&r, i));
                            r.finding("hang", sig, format!("over {} ms", cfg.timeout.as_millis()), i);
                            next = i + 1;
                            r.stats.restarts += 1;
                            continue 'outer;
                        }
                    } else if !ready && spawned.elapsed() > Duration::from_secs(300) {
                        let _ = child.kill();
                        r.stats.harness_errors.push("the worker did not start".into());
                        break 'outer;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = child.wait().ok();
                    std::thread::sleep(Duration::from_millis(50));
                    let err = tail.lock().map(|t| String::from_utf8_lossy(&t).into_owned()).unwrap_or_default();
                    match current {
                        Some((i, _)) => {
                            let (kind, what) = death(&err, status);
                            let sig = format!("{kind}: {} [{}]", squash(&what), hang_signature(&r, i));
                            r.finding(kind, sig, what, i);
                            next = i + 1;
                            r.stats.restarts += 1;
                            continue 'outer;
                        }
                        None => {
                            r.stats.harness_errors.push(format!("the worker died between cases: {}", err.chars().rev().take(2000).collect::<String>().chars().rev().collect::<String>()));
                            break 'outer;
                        }
                    }
                }
            }
            if last_checkpoint.elapsed() > Duration::from_secs(60) {
                last_checkpoint = Instant::now();
                r.stats.next = next;
                checkpoint(&r.stats, t0.elapsed().as_secs_f64());
            }
            if cfg.progress_s > 0 && last_progress.elapsed() > Duration::from_secs(cfg.progress_s) {
                last_progress = Instant::now();
                let s = t0.elapsed().as_secs_f64();
                eprintln!(
                    "{}: {} executions in {s:.0} s ({:.1}/s), next case {next}, findings {:?}",
                    target.map(|t| t.name()).unwrap_or("replay"),
                    r.stats.executions,
                    r.stats.executions as f64 / s.max(1e-9),
                    r.stats.kinds
                );
            }
        }
    }
    r.stats.next = next;
    (r.stats, t0.elapsed().as_secs_f64())
}

/// Numbers out, so that one bug gives one signature whatever the sizes.
fn squash(s: &str) -> String {
    let mut out = String::new();
    let mut digits = false;
    for c in s.chars() {
        if c.is_ascii_digit() {
            if !digits {
                out.push('#');
            }
            digits = true;
        } else {
            digits = false;
            out.push(c);
        }
    }
    out.chars().take(200).collect()
}

/// Where a hang or a death happened: the base bundle and the mutated file.
fn hang_signature(r: &Recorder, i: u64) -> String {
    let case = match (r.target, r.files) {
        (_, Some(files)) => files.get(i as usize).and_then(|p| std::fs::read(p).ok()).and_then(|b| Case::from_bytes(&b).ok()).map(|c| c.0),
        (Some(t), None) => Some(generate(t, r.bases, r.cfg.seed, i)),
        _ => None,
    };
    match case {
        Some(c) => format!("{} {} {}", c.target.name(), c.base, c.note.split(';').next().unwrap_or("").trim()),
        None => "unknown case".into(),
    }
}

/// The JSON summary of one target's run.
pub fn summary(target: &str, cfg: &Config, stats: &Stats, seconds: f64) -> Value {
    let kinds: BTreeMap<&str, u64> = KINDS.iter().map(|k| (*k, stats.kinds.get(*k).copied().unwrap_or(0))).collect();
    json!({
        "target": target,
        "seed": cfg.seed,
        "start": cfg.start,
        "next_index": stats.next,
        "executions": stats.executions,
        "seconds": (seconds * 10.0).round() / 10.0,
        "execs_per_s": ((stats.executions as f64 / seconds.max(1e-9)) * 10.0).round() / 10.0,
        "findings": kinds,
        "unique_findings": stats.findings.values().map(|f| json!({
            "kind": f.kind, "signature": f.signature, "message": f.message, "count": f.count,
            "first_case": f.index, "file": f.file, "note": f.note,
        })).collect::<Vec<_>>(),
        "outcomes": stats.outcomes,
        "harness_errors": stats.harness_errors,
        "worker_restarts": stats.restarts,
        "max_peak_bytes": stats.max_peak,
        "max_execution_ms": stats.max_micros / 1000,
    })
}
