//! The fuzzer's regression and smoke tests (`cargo test --workspace` runs them):
//! - every corpus file outside `open/` replays to Ok or a typed error (no panic, hang,
//!   allocation over the cap, crash); `EXITWISE_FUZZ_OPEN=1` replays the open findings too,
//!   and fails until they are fixed (then move them out of `open/`);
//! - each target runs a few hundred executions with a fixed seed and finds nothing new (a
//!   finding that matches an open corpus entry's signature is tolerated);
//! - the harness reports each kind of finding (a worker made to panic, hang, over-allocate).
//!
//! Everything runs through the `exitwise-fuzz` binary, so each case is supervised as in a
//! fuzzing run: a hostile case cannot hang or abort the test process.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_exitwise-fuzz");
/// Debug builds are slow: a generous time limit per execution.
const TIMEOUT_MS: &str = "60000";
/// Executions per target in the smoke run.
const SMOKE_EXECS: u64 = 500;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

fn open_wanted() -> bool {
    std::env::var("EXITWISE_FUZZ_OPEN").is_ok_and(|v| v == "1")
}

fn run(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, Value, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("the exitwise-fuzz binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("no JSON summary ({e}):\n{stdout}\n{stderr}"));
    (out.status.code(), json, stderr)
}

/// The signatures of the open findings (those the smoke runs may meet until they are fixed).
fn open_signatures() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for t in ["manifest", "pack", "onnx"] {
        let Ok(entries) = std::fs::read_dir(corpus().join(t).join("open")) else { continue };
        for e in entries.flatten() {
            let Ok(bytes) = std::fs::read(e.path()) else { continue };
            let head = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]).into_owned();
            out.extend(head.lines().filter_map(|l| l.strip_prefix("signature ")).map(String::from));
        }
    }
    out
}

#[test]
fn corpus_replays_to_ok_or_typed_errors() {
    let t0 = Instant::now();
    let dir = corpus().display().to_string();
    let mut args = vec!["replay", "--timeout-ms", TIMEOUT_MS];
    if !open_wanted() {
        args.push("--skip-open");
    }
    args.push(&dir);
    let (code, v, stderr) = run(&args, &[]);
    let failing: Vec<&Value> = v["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| !r["result"].as_str().is_some_and(|s| s.contains(':') || s == "classified" || s == "parsed"))
        .collect();
    println!("replayed {} corpus files in {:.1} s", v["files"], t0.elapsed().as_secs_f64());
    if open_wanted() {
        for r in v["results"].as_array().into_iter().flatten() {
            let f = r["file"].as_str().unwrap_or("");
            if f.contains("/open/") && !failing.iter().any(|x| x["file"] == f) {
                println!("fixed: {f} -> {} (move it out of open/)", r["result"]);
            }
        }
    }
    assert!(
        failing.is_empty() && code == Some(0),
        "corpus files that are findings:\n{}\n{}\n{stderr}",
        serde_json::to_string_pretty(&failing).unwrap_or_default(),
        serde_json::to_string_pretty(&v["findings"]).unwrap_or_default()
    );
}

#[test]
fn smoke_each_target_finds_nothing_new() {
    let open = open_signatures();
    let n = SMOKE_EXECS.to_string();
    for target in ["manifest", "pack", "onnx"] {
        let t0 = Instant::now();
        let (code, v, stderr) = run(&[target, "--execs", &n, "--seed", "7", "--seconds", "600", "--no-write", "--progress", "0", "--timeout-ms", TIMEOUT_MS], &[]);
        let s = &v["targets"][0];
        println!("{target}: {} executions in {:.1} s, outcomes {}", s["executions"], t0.elapsed().as_secs_f64(), s["outcomes"]);
        assert_eq!(code, Some(0), "{stderr}");
        assert_eq!(s["executions"].as_u64(), Some(SMOKE_EXECS), "{s}");
        assert_eq!(s["harness_errors"].as_array().map(Vec::len), Some(0), "{s}");
        let new: Vec<&Value> = s["unique_findings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| !open.contains(f["signature"].as_str().unwrap_or("")))
            .collect();
        assert!(new.is_empty(), "{target}: new findings (rerun with the fuzzer to save them):\n{}", serde_json::to_string_pretty(&new).unwrap_or_default());
        // The target reaches past the first checks: some executions load, prepare and run.
        let o = &s["outcomes"];
        assert!(o["classified"].as_u64().unwrap_or(0) + o["parsed"].as_u64().unwrap_or(0) > 0, "{target}: nothing ever loads: {o}");
    }
}

#[test]
fn harness_reports_each_kind_of_finding() {
    let dir = std::env::temp_dir().join(format!("exitwise-fuzz-selftest-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let corpus = dir.display().to_string();
    for (selftest, kind) in [("panic", "panic"), ("hang", "hang"), ("alloc", "alloc")] {
        let (code, v, stderr) = run(
            &["pack", "--execs", "4", "--seed", "3", "--corpus", &corpus, "--progress", "0", "--timeout-ms", "3000"],
            &[("EXITWISE_FUZZ_SELFTEST", selftest)],
        );
        let s = &v["targets"][0];
        assert_eq!(code, Some(0), "{stderr}");
        assert_eq!(s["executions"].as_u64(), Some(4), "{selftest}: {s}");
        assert_eq!(s["findings"][kind].as_u64(), Some(1), "{selftest}: {s}");
        let f = &s["unique_findings"][0];
        assert_eq!(f["first_case"].as_u64(), Some(2), "{f}");
        // The finding was written and replays (without the selftest it is an ordinary case).
        let file = f["file"].as_str().unwrap_or_else(|| panic!("not written: {f}"));
        assert!(file.contains("/pack/open/"), "{file}");
        let (code, r, _) = run(&["replay", "--timeout-ms", TIMEOUT_MS, file], &[]);
        assert_eq!(code, Some(0), "{r}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
