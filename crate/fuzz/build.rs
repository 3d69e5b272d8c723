//! Records the commit the fuzzer is built from, so that results name the code that was
//! fuzzed, not the checkout at the time they were written (a run can outlive commits).
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let head = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    // Only what the fuzzer compiles counts as dirty (crate sources, the fuzzer, the lock file).
    let dirty = git(&["status", "--porcelain", "--", "../src", ".", "../../Cargo.lock", "../Cargo.toml"])
        .is_some_and(|s| !s.is_empty());
    println!("cargo:rustc-env=EXITWISE_FUZZ_COMMIT={head}{}", if dirty { "-dirty" } else { "" });
    for p in ["../../.git/HEAD", "../../.git/index", "../src", "src"] {
        println!("cargo:rerun-if-changed={p}");
    }
}
