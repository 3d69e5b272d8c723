//! `exitwise-fuzz <manifest|pack|onnx|all> --seconds N [--seed S]` — see `crate/fuzz/README.md`.

use exitwise_fuzz::case::{models_dir, Bases, Target};
use exitwise_fuzz::supervise::{corpus_files, summary, supervise, Config};
use exitwise_fuzz::worker::{self, Source};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[global_allocator]
static ALLOC: exitwise_fuzz::alloc::Counting = exitwise_fuzz::alloc::Counting;

const USAGE: &str = "usage:
  exitwise-fuzz <manifest|pack|onnx|all> [--seconds N] [--execs N] [--seed S] [--start I] [--resume]
                [--timeout-ms T] [--cap-mib M] [--corpus DIR | --no-write] [--results FILE] [--progress S]
      fuzz each target for N seconds (default 60) or N executions; a JSON summary on stdout
  exitwise-fuzz replay [--skip-open] [--timeout-ms T] [--cap-mib M] PATH...
      run corpus files (folders are searched); exit status 1 if any is a finding
  exitwise-fuzz case <target> --seed S --index I [--out FILE]
      write generated case I (to reproduce a finding of a run)";

struct Args(Vec<String>);

impl Args {
    fn flag(&mut self, name: &str) -> bool {
        match self.0.iter().position(|a| a == name) {
            Some(i) => {
                self.0.remove(i);
                true
            }
            None => false,
        }
    }
    fn value(&mut self, name: &str) -> Option<String> {
        let i = self.0.iter().position(|a| a == name)?;
        if i + 1 >= self.0.len() {
            die(&format!("{name} needs a value"));
        }
        let v = self.0.remove(i + 1);
        self.0.remove(i);
        Some(v)
    }
    fn num<T: std::str::FromStr>(&mut self, name: &str) -> Option<T> {
        self.value(name).map(|v| v.parse().unwrap_or_else(|_| die(&format!("{name}: not a number: {v}"))))
    }
}

fn die(msg: &str) -> ! {
    eprintln!("exitwise-fuzz: {msg}\n{USAGE}");
    std::process::exit(2)
}

fn load_bases() -> Bases {
    Bases::load(&models_dir()).unwrap_or_else(|e| die(&format!("cannot read the models: {e}")))
}

fn main() {
    let mut args = Args(std::env::args().skip(1).collect());
    let Some(cmd) = args.0.first().cloned() else { die("no command") };
    args.0.remove(0);
    let timeout = Duration::from_millis(args.num("--timeout-ms").unwrap_or(5000));
    let cap_mib: u64 = args.num("--cap-mib").unwrap_or(1024);
    match cmd.as_str() {
        "worker" => {
            exitwise_fuzz::alloc::set_cap((cap_mib as usize) << 20);
            let start: u64 = args.num("--start").unwrap_or(0);
            let end: Option<u64> = args.num("--end");
            let source = if args.flag("--files") {
                Source::Files { files: args.0.iter().map(PathBuf::from).collect(), start }
            } else {
                let t = args.0.first().and_then(|t| Target::parse(t)).unwrap_or_else(|| die("worker: no target"));
                Source::Generate { target: t, seed: args.num("--seed").unwrap_or(0), start, end, seconds: args.num("--seconds").unwrap_or(60.0) }
            };
            let bases = load_bases();
            worker::run(source, &bases);
        }
        "replay" => {
            let skip_open = args.flag("--skip-open");
            if args.0.is_empty() {
                die("replay: no path");
            }
            let files: Vec<PathBuf> = args.0.iter().flat_map(|p| corpus_files(Path::new(p), !skip_open)).collect();
            let cfg = config(0, 0, None, f64::INFINITY, timeout, cap_mib, None, 0);
            let bases = load_bases();
            let (stats, seconds) = supervise(None, Some(&files), &cfg, &bases, &mut |_, _| {});
            let results: Vec<Value> = files
                .iter()
                .enumerate()
                .map(|(i, f)| json!({"file": f.display().to_string(), "result": stats.per_index.get(&(i as u64)).cloned().unwrap_or_else(|| "not run".into())}))
                .collect();
            let bad = results.iter().filter(|r| {
                let s = r["result"].as_str().unwrap_or("");
                exitwise_fuzz::supervise::KINDS.contains(&s) || s == "harness" || s == "not run"
            }).count();
            println!("{}", serde_json::to_string_pretty(&json!({
                "files": files.len(), "failing": bad, "seconds": (seconds * 10.0).round() / 10.0,
                "results": results, "findings": summary("replay", &cfg, &stats, seconds)["unique_findings"],
                "harness_errors": stats.harness_errors,
            })).unwrap_or_default());
            std::process::exit(if bad == 0 { 0 } else { 1 });
        }
        "case" => {
            let t = args.0.first().and_then(|t| Target::parse(t)).unwrap_or_else(|| die("case: no target"));
            let seed = args.num("--seed").unwrap_or(0);
            let index = args.num("--index").unwrap_or_else(|| die("case: --index"));
            let case = exitwise_fuzz::exec::generate(t, &load_bases(), seed, index);
            let bytes = case.to_bytes(&[]);
            match args.value("--out") {
                Some(p) => std::fs::write(&p, bytes).unwrap_or_else(|e| die(&format!("{p}: {e}"))),
                None => println!("{} case {index} (seed {seed}, base {}): {}", t.name(), case.base, case.note),
            }
        }
        _ => {
            let targets: Vec<Target> = match cmd.as_str() {
                "all" => Target::ALL.to_vec(),
                t => vec![Target::parse(t).unwrap_or_else(|| die(&format!("unknown target {t}")))],
            };
            let seconds: f64 = args.num("--seconds").unwrap_or(60.0);
            let execs: Option<u64> = args.num("--execs");
            let seed: u64 = args.num("--seed").unwrap_or(1);
            let start: Option<u64> = args.num("--start");
            let resume = args.flag("--resume");
            let no_write = args.flag("--no-write");
            let corpus = args.value("--corpus").map(PathBuf::from).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"));
            let results = args.value("--results").map(PathBuf::from);
            let progress: u64 = args.num("--progress").unwrap_or(60);
            if !args.0.is_empty() {
                die(&format!("unknown arguments {:?}", args.0));
            }
            let bases = load_bases();
            let mut out = Vec::new();
            for t in targets {
                let start = start.unwrap_or_else(|| match (resume, &results) {
                    (true, Some(r)) => resume_index(r, t.name(), seed),
                    _ => 0,
                });
                let cfg = config(seed, start, execs, seconds, timeout, cap_mib, (!no_write).then(|| corpus.clone()), progress);
                let run_id = format!("{}-{}-{start}", today(), t.name());
                let mut checkpoint = |stats: &exitwise_fuzz::supervise::Stats, secs: f64| {
                    if let Some(r) = &results {
                        record(r, &summary(t.name(), &cfg, stats, secs), &run_id, false);
                    }
                };
                let (stats, secs) = supervise(Some(t), None, &cfg, &bases, &mut checkpoint);
                let s = summary(t.name(), &cfg, &stats, secs);
                eprintln!("{}: {} executions in {:.0} s, findings {}", t.name(), s["executions"], secs, s["findings"]);
                if let Some(r) = &results {
                    record(r, &s, &run_id, true);
                }
                out.push(s);
            }
            println!("{}", serde_json::to_string_pretty(&json!({ "targets": out })).unwrap_or_default());
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn config(seed: u64, start: u64, execs: Option<u64>, seconds: f64, timeout: Duration, cap_mib: u64, corpus: Option<PathBuf>, progress_s: u64) -> Config {
    Config { seed, start, execs, seconds, timeout, cap_mib, corpus, models: models_dir(), progress_s }
}

/// Where the last recorded run of `target` under `seed` stopped.
fn resume_index(results: &Path, target: &str, seed: u64) -> u64 {
    let v: Value = std::fs::read(results).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or(Value::Null);
    v["targets"][target]["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["seed"] == seed)
        .filter_map(|r| r["next_index"].as_u64())
        .max()
        .unwrap_or(0)
}

/// Adds one run to the results file (or updates it: `run_id`), with per target the runs and
/// their totals. `done`: the run ended (else it is a checkpoint of a run in progress).
fn record(results: &Path, s: &Value, run_id: &str, done: bool) {
    let mut v: Value = std::fs::read(results).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_else(|| json!({}));
    if !v.is_object() {
        v = json!({});
    }
    let target = s["target"].as_str().unwrap_or("?").to_string();
    let (date, commit) = (today(), commit());
    let mut run = s.clone();
    run["date"] = json!(date);
    run["commit"] = json!(commit);
    run["run_id"] = json!(run_id);
    run["finished"] = json!(done);
    let t = &mut v["targets"][&target];
    if !t["runs"].is_array() {
        t["runs"] = json!([]);
    }
    if let Some(runs) = t["runs"].as_array_mut() {
        match runs.iter_mut().find(|r| r["run_id"] == run_id) {
            Some(r) => *r = run,
            None => runs.push(run),
        }
    }
    let runs = t["runs"].as_array().cloned().unwrap_or_default();
    let sum = |k: &str| runs.iter().map(|r| r[k].as_f64().unwrap_or(0.0)).sum::<f64>();
    t["executions"] = json!(sum("executions") as u64);
    t["seconds"] = json!((sum("seconds") * 10.0).round() / 10.0);
    let mut findings = serde_json::Map::new();
    for k in exitwise_fuzz::supervise::KINDS {
        findings.insert(k.into(), json!(runs.iter().map(|r| r["findings"][k].as_u64().unwrap_or(0)).sum::<u64>()));
    }
    t["findings"] = Value::Object(findings);
    // Each signature once, with its executions over all runs and a corpus file.
    let mut sigs: BTreeMap<String, Value> = BTreeMap::new();
    for f in runs.iter().flat_map(|r| r["unique_findings"].as_array().cloned().unwrap_or_default()) {
        let key = f["signature"].as_str().unwrap_or("").to_string();
        let e = sigs.entry(key).or_insert_with(|| json!({"kind": f["kind"], "signature": f["signature"], "message": f["message"], "count": 0, "file": f["file"]}));
        e["count"] = json!(e["count"].as_u64().unwrap_or(0) + f["count"].as_u64().unwrap_or(0));
        if e["file"].is_null() {
            e["file"] = f["file"].clone();
        }
    }
    t["unique_findings"] = json!(sigs.into_values().collect::<Vec<_>>());
    v["updated"] = json!(date);
    v["commit"] = json!(commit);
    v["command"] = json!("cargo run --profile fuzz -p exitwise-fuzz -- <target|all> --seconds N [--seed S] [--resume --results crate/fuzz/results.json]");
    let _ = std::fs::write(results, serde_json::to_string_pretty(&v).unwrap_or_default() + "\n");
}

/// The commit this binary was built from (`build.rs`), `-dirty` with local changes.
fn commit() -> String {
    env!("EXITWISE_FUZZ_COMMIT").to_string()
}

/// Now, UTC, as `YYYY-MM-DDTHH:MM:SSZ`.
fn today() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem / 60 % 60, rem % 60)
}
