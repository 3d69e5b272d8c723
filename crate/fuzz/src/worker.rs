//! The worker process: runs cases one after another and reports each on stdout, one line per
//! event, so the supervisor always knows which case is running when the worker hangs or dies:
//!
//! `READY` · `S i` (start) · `D i LABEL MICROS PEAK_BYTES` (done) · `P i LOCATION\tMESSAGE`
//! (panic caught) · `I i MESSAGE` (invariant broken) · `H i MESSAGE` (the harness itself
//! panicked) · `X i MESSAGE` (a corpus file that does not parse) · `END`.

use crate::case::{Bases, Case, Target};
use crate::exec::{execute_in, generate, Outcome, Scratch};
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub enum Source {
    Generate { target: Target, seed: u64, start: u64, end: Option<u64>, seconds: f64 },
    /// Corpus files; `start` is the first to run.
    Files { files: Vec<PathBuf>, start: u64 },
}

static LAST_PANIC: Mutex<Option<(String, String)>> = Mutex::new(None);

/// A panic location in a stable form: `crate/src/x.rs:1:2` for the workspace,
/// `tract-core-0.23.9/src/x.rs:1:2` for registry crates.
pub fn normalize_location(file: &str, line: u32, col: u32) -> String {
    let f = file.replace('\\', "/");
    let f = match (f.find("/registry/src/"), f.find("/rustc/")) {
        (Some(i), _) => {
            let rest = &f[i + "/registry/src/".len()..];
            rest.split_once('/').map(|(_, r)| r.to_string()).unwrap_or_else(|| rest.to_string())
        }
        (None, Some(i)) => format!("std{}", f[i + "/rustc/".len()..].split_once('/').map(|(_, r)| format!("/{r}")).unwrap_or_default()),
        _ => f.find("crate/").map(|i| f[i..].to_string()).unwrap_or(f.clone()),
    };
    format!("{f}:{line}:{col}")
}

/// Quiet panics: remember the last one's location and message instead of printing it.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let loc = info.location().map(|l| normalize_location(l.file(), l.line(), l.column())).unwrap_or_else(|| "unknown".into());
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic payload".into());
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = Some((loc, msg));
        }
    }));
}

fn take_panic() -> (String, String) {
    LAST_PANIC.lock().ok().and_then(|mut l| l.take()).unwrap_or_else(|| ("unknown".into(), "no message".into()))
}

fn one_line(s: &str) -> String {
    let s: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    s.chars().take(600).collect()
}

/// `EXITWISE_FUZZ_SELFTEST=panic|hang|alloc|stack`: case 2 misbehaves so, to show that the
/// harness reports each kind (the regression test's check of the harness itself).
fn selftest() {
    #[allow(unconditional_recursion)]
    fn deep(n: u64) -> u64 {
        let pad = std::hint::black_box([n; 64]);
        deep(pad[3] + 1) + pad[7]
    }
    match std::env::var("EXITWISE_FUZZ_SELFTEST").as_deref() {
        Ok("panic") => panic!("selftest panic"),
        Ok("hang") => loop {
            std::thread::sleep(Duration::from_secs(1));
        },
        Ok("alloc") => {
            std::hint::black_box(vec![1u8; 3 << 30]);
        }
        Ok("stack") => {
            std::hint::black_box(deep(0));
        }
        _ => {}
    }
}

pub fn run(source: Source, bases: &Bases) {
    install_panic_hook();
    let out = std::io::stdout();
    let mut out = out.lock();
    let mut say = |line: String| {
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    };
    say("READY".into());
    let started = Instant::now();
    let mut scratch = Scratch::default();
    let mut i = match &source {
        Source::Generate { start, .. } | Source::Files { start, .. } => *start,
    };
    loop {
        let case: Case = match &source {
            Source::Generate { target, seed, end, seconds, .. } => {
                if end.is_some_and(|e| i >= e) || started.elapsed() >= Duration::from_secs_f64(*seconds) {
                    break;
                }
                match catch_unwind(AssertUnwindSafe(|| generate(*target, bases, *seed, i))) {
                    Ok(c) => c,
                    Err(_) => {
                        let (loc, msg) = take_panic();
                        say(format!("H {i} generation panicked at {loc}: {}", one_line(&msg)));
                        i += 1;
                        continue;
                    }
                }
            }
            Source::Files { files, .. } => {
                let Some(path) = files.get(i as usize) else { break };
                match std::fs::read(path).map_err(|e| e.to_string()).and_then(|b| Case::from_bytes(&b).map(|c| c.0)) {
                    Ok(c) => c,
                    Err(e) => {
                        say(format!("X {i} {}: {}", path.display(), one_line(&e)));
                        i += 1;
                        continue;
                    }
                }
            }
        };
        say(format!("S {i}"));
        crate::alloc::take_peak();
        let t0 = Instant::now();
        let r = catch_unwind(AssertUnwindSafe(|| {
            if i == 2 {
                selftest();
            }
            execute_in(case, bases, &mut scratch)
        }));
        let micros = t0.elapsed().as_micros();
        let peak = crate::alloc::take_peak();
        match r {
            Ok(Outcome::Invariant(m)) => say(format!("I {i} {}", one_line(&m))),
            Ok(o) => say(format!("D {i} {} {micros} {peak}", o.label())),
            Err(_) => {
                let (loc, msg) = take_panic();
                say(format!("P {i} {loc}\t{}", one_line(&msg)));
            }
        }
        i += 1;
    }
    say("END".into());
}
