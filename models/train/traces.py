"""Calibration traces for the shipped bundles: the whole validation split (never trained on) of
each bundle's data set, traced by the runtime itself (`exitwise trace`, crate/src/calibtrace.rs)
and named in the manifest as `calibration_trace`, hash-checked at load (crate/BUNDLE.md).

    python3 -m models.train.traces [BUNDLE ...]      (default: every bundle with a data set here)

Needs the data (models/train/data.py) and an `exitwise` binary (models/train/cli.py); no torch.
Rerun after re-exporting a bundle: a trace is bound to the digest of the parts it was made
from, and a stale one is refused at load (BAD_PACK).
"""
import json
import os
import sys
import tempfile

from . import cli
from .bundle import load_manifest, write_pack
from .data import DATASETS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FILE = "calibtrace.bin"
# bundle -> data set whose validation split calibrates it
BUNDLES = {"tiny-mnist": "mnist", "resnet-fmnist": "fmnist", "resnet-fmnist-pt": "fmnist"}


def load_split(dataset, split="val"):
    return DATASETS[dataset]["load"]()[split]


def write_trace(name, images, labels, log=print):
    """Traces (images, labels) with bundle `name` into its calibtrace.bin and names it in the
    manifest (keeping the manifest's key order)."""
    bundle = os.path.join(ROOT, name)
    with tempfile.TemporaryDirectory() as tmp:
        pack = os.path.join(tmp, "val.bin")
        write_pack(pack, images, labels)
        out = os.path.join(bundle, FILE)
        r = cli.trace(bundle, out, pack=pack)
    m = load_manifest(bundle)
    m["calibration_trace"] = {"file": FILE, "sha256": r["sha256"]}
    with open(os.path.join(bundle, "manifest.json"), "w") as f:
        json.dump(m, f, indent=2)
        f.write("\n")
    cli.info(bundle)   # it loads, trace checked against its parts
    log(f"[{name}] {r['count']} images traced -> {FILE} ({r['bytes']} bytes, sha256 {r['sha256'][:12]}…)")
    return r


def main(argv=None):
    names = (argv if argv is not None else sys.argv[1:]) or list(BUNDLES)
    cache = {}
    for name in names:
        if name not in BUNDLES:
            raise SystemExit(f"{name}: no data set known for it (one of {', '.join(BUNDLES)})")
        ds = BUNDLES[name]
        if ds not in cache:
            cache[ds] = load_split(ds)
        write_trace(name, *cache[ds])


if __name__ == "__main__":
    main()
