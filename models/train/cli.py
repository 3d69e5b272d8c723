"""The `exitwise` CLI from Python: operating points, evaluations, MAC counts and classifications
come from the Rust crate (the one implementation of the rules), read from its `--json` output.

The binary: $EXITWISE_BIN, else the newer of target/release/exitwise and target/debug/exitwise
of this repository, else `exitwise` on PATH. Build it with
`cargo build --workspace --features exitwise/webgpu` from the repository root.
"""
import json
import os
import shutil
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class CliError(RuntimeError):
    """`exitwise` exited non-zero; `code` is its error code (e.g. BAD_THRESHOLD), or None."""

    def __init__(self, args, status, code, message):
        super().__init__(f"exitwise {' '.join(args)}: exit status {status}: {code or ''}: {message}")
        self.status, self.code, self.message = status, code, message


def find_exitwise():
    env = os.environ.get("EXITWISE_BIN")
    if env:
        if not os.access(env, os.X_OK):
            raise FileNotFoundError(f"EXITWISE_BIN={env} is not an executable")
        return env
    built = [p for p in (os.path.join(REPO, "target", k, "exitwise") for k in ("release", "debug"))
             if os.access(p, os.X_OK)]
    if built:
        return max(built, key=os.path.getmtime)   # a stale build of the other profile loses
    on_path = shutil.which("exitwise")
    if on_path:
        return on_path
    raise FileNotFoundError("no exitwise binary: set EXITWISE_BIN, or run "
                            "`cargo build --workspace --features exitwise/webgpu` in the repository root")


def run(*args, binary=None):
    """Runs `exitwise ARGS --json`; returns the parsed JSON or raises CliError."""
    args = [str(a) for a in args]
    p = subprocess.run([binary or find_exitwise(), *args, "--json"], capture_output=True, text=True)
    if p.returncode != 0:
        # The CLI prints `error: CODE: message` (clap's usage errors have no code).
        err = p.stderr.strip()
        code, message = None, err
        if err.startswith("error: ") and ": " in err[7:]:
            head, rest = err[7:].split(": ", 1)
            if head.replace("_", "").isupper():
                code, message = head, rest
        raise CliError(args, p.returncode, code, message)
    return json.loads(p.stdout)


def _thresholds(t):
    return ",".join(repr(float(x)) for x in t)


def info(bundle):
    return run("info", bundle)


def evaluate(bundle, thresholds=None, pack=None):
    args = ["eval", bundle]
    if thresholds is not None:
        args += ["--thresholds", _thresholds(thresholds)]
    if pack is not None:
        args += ["--pack", pack]
    return run(*args)


def sweep(bundle, pack=None):
    return run("sweep", bundle, *(["--pack", pack] if pack is not None else []))


def classify_batch(bundle, thresholds=None, pack=None, batch=64):
    args = ["classify-batch", bundle, "--batch", batch]
    if thresholds is not None:
        args += ["--thresholds", _thresholds(thresholds)]
    if pack is not None:
        args += ["--pack", pack]
    return run(*args)


def classify(bundle, image, thresholds=None):
    """`image`: a PNG path or `pack:N` (image N of the bundle's test pack)."""
    args = ["classify", bundle, image]
    if thresholds is not None:
        args += ["--thresholds", _thresholds(thresholds)]
    return run(*args)


def calibrate(bundle, max_drop, greedy=False, delta=None, split=None, calib_pack=None, pack=None,
              calib_trace=None, test_trace=None):
    """`exitwise calibrate`: Learn then Test by default, `greedy=True` for the grid search (no
    guarantee). calib_pack / pack: EWTP files instead of the bundle's calibration data / test
    pack; calib_trace: an EWCT trace instead of the bundle's (by default the CLI calibrates on
    the bundle's calibration trace when it has one, else on its calibration pack); test_trace:
    an EWCT trace to report on instead of a pack (no model run)."""
    args = ["calibrate", bundle, "--max-drop", repr(float(max_drop))]
    if greedy:
        args.append("--greedy")
    if delta is not None:
        args += ["--delta", repr(float(delta))]
    if split is not None:
        args += ["--split", repr(float(split))]
    if calib_pack is not None:
        args += ["--calib-pack", calib_pack]
    if calib_trace is not None:
        args += ["--calib-trace", calib_trace]
    if pack is not None:
        args += ["--pack", pack]
    if test_trace is not None:
        args += ["--test-trace", test_trace]
    return run(*args)


def resplit(bundle, test_trace, max_drop, split=None, splits=50, seed=1, delta=None):
    """`exitwise resplit`: the bundle's calibration trace and `test_trace` pooled and re-split
    `splits` times; how often LTT (shared path, or the split one) and greedy break `max_drop`."""
    args = ["resplit", bundle, "--test-trace", test_trace, "--max-drop", repr(float(max_drop)),
            "--splits", splits, "--seed", seed]
    if split is not None:
        args += ["--split", repr(float(split))]
    if delta is not None:
        args += ["--delta", repr(float(delta))]
    return run(*args)


def trace(bundle, out, pack=None):
    """`exitwise trace`: the bundle's calibration trace (EWCT) of an EWTP pack, written to `out`
    by the runtime itself; returns the CLI's report (images, sha256, ...)."""
    return run("trace", bundle, "--out", out, *(["--pack", pack] if pack is not None else []))


def costs(bundle):
    """The runtime's MAC accounting (crate/src/engine.rs `Costs`): per segment, per exit head,
    per exit when it fires, and the plain network."""
    i = info(bundle)
    return {"segment_macs": [s["macs"] for s in i["segments"]], "exit_macs": [e["macs"] for e in i["exits"]],
            "macs_to_exit": [e["cumulative_macs"] for e in i["exits"]], "macs_full": i["macs_full"]}
