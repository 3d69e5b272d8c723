"""Training of every run, resumable: a checkpoint per epoch in models/.work/ckpt/<run>.pt is picked
up on restart; the finished weights go to models/.work/ckpt/<run>.final.pt.

    python -m models.train.train tiny-mnist          # one run (1 thread)
"""
import argparse
import math
import hashlib
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import nets
from .data import DATASETS, to_input
from .exitnet import count_part_macs, exit_costs, run_parts

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))      # models/
WORK = os.path.join(ROOT, ".work")
CKPT = os.path.join(WORK, "ckpt")

# run name -> settings. Epoch counts were sized from measured epoch times on this 2-core machine
# (1 thread per process, two processes at once): tiny ~35 s/epoch, ResNet-20 ~230-280 s/epoch.
RUNS = {
    "tiny-mnist": dict(data="mnist", arch="tiny", assist=True, epochs=12, opt="adam", lr=3e-3,
                       batch=128, aug="shift"),
    "tiny-mnist-noassist": dict(data="mnist", arch="tiny", assist=False, epochs=4, opt="adam",
                                lr=3e-3, batch=128, aug="shift"),
    # Issue 13 §4: 48k/2k/10k split, longer schedule, confidence heads trained to predict
    # whether their own exit is right (binary cross-entropy, as PTEENet does) instead of EENet's
    # cost-aware loss, which squashed exit1/exit2's confidences into 0.95-1.0.
    # 32 epochs of shift_flip gave a 93.03 % final exit (target 94.0 %): three times the
    # schedule, plus random erasing (Zhong et al. 2017, +0.5 pt for ResNet-20 on Fashion-MNIST).
    "resnet-fmnist": dict(data="fmnist", arch="eenet", epochs=96, opt="sgd", lr=0.1, batch=128,
                          aug="shift_flip_erase", loss="ce_bce", bce=0.5),
    "resnet-fmnist-plain": dict(data="fmnist", arch="plain", epochs=32, opt="sgd", lr=0.1,
                                batch=128, aug="shift_flip"),
    "resnet-fmnist-pt": dict(data="fmnist", arch="pt", epochs=8, opt="adam", lr=3e-3, batch=128,
                             aug="shift_flip", loss="ce_bce", bce=0.5, backbone="resnet-fmnist-plain"),
}
SEED = 1234
_DATA_CACHE = {}


def load_data(name):
    if name not in _DATA_CACHE:
        _DATA_CACHE[name] = DATASETS[name]["load"]()
    return _DATA_CACHE[name]


def build(run):
    """Returns (segments, exits, info) of a run, untrained."""
    cfg = RUNS[run]
    torch.manual_seed(SEED)
    if cfg["arch"] == "tiny":
        s, e = nets.tiny_mnist(assist=cfg["assist"])
        return s, e, {}
    if cfg["arch"] == "eenet":
        return nets.resnet_exit_net(with_exits=True)
    if cfg["arch"] == "plain":
        return nets.resnet_exit_net(with_exits=False)
    if cfg["arch"] == "pt":
        s, e, info = nets.resnet_exit_net(with_exits=False)
        torch.manual_seed(SEED + 1)
        e = nets.attach_branches(s, e, info["places"], info["shapes"])
        return s, e, info
    raise ValueError(cfg["arch"])


def parts_state(segments, exits):
    return {f"{p.name}": p.module.state_dict() for p in list(segments) + list(exits)}


def load_parts_state(segments, exits, state, strict=True):
    for p in list(segments) + list(exits):
        if p.name in state:
            p.module.load_state_dict(state[p.name])
        elif strict:
            raise KeyError(p.name)


def load_trained(run):
    """The trained parts of a run (eval mode)."""
    s, e, info = build(run)
    st = torch.load(os.path.join(CKPT, f"{run}.final.pt"), map_location="cpu", weights_only=False)
    load_parts_state(s, e, st["parts"])
    for p in s + e:
        p.module.eval()
    return s, e, info


def state_digest(modules):
    """sha-256 over every parameter and buffer (names, dtypes, shapes, raw bytes)."""
    h = hashlib.sha256()
    for m in modules:
        for k, v in sorted(m.state_dict().items()):
            t = v.detach().cpu().contiguous()
            h.update(k.encode())
            h.update(str(t.dtype).encode())
            h.update(str(tuple(t.shape)).encode())
            h.update(t.numpy().tobytes())
    return h.hexdigest()


def augment(u8, mode, gen):
    """u8 uint8 tensor [B,1,28,28] -> float in [0,1], random shift by up to 2 px (zero pad), plus a
    random horizontal flip for Fashion-MNIST."""
    x = u8.float() / 255.0
    b = x.shape[0]
    xp = F.pad(x, (2, 2, 2, 2))
    dx = torch.randint(0, 5, (b,), generator=gen)
    dy = torch.randint(0, 5, (b,), generator=gen)
    out = torch.empty_like(x)
    for i in range(b):
        out[i] = xp[i, :, dy[i]:dy[i] + 28, dx[i]:dx[i] + 28]
    if mode in ("shift_flip", "shift_flip_erase"):
        flip = torch.rand(b, generator=gen) < 0.5
        out = torch.where(flip.view(-1, 1, 1, 1), out.flip(3), out)
    if mode == "shift_flip_erase":
        random_erase(out, gen)
    return out


def random_erase(x, gen, p=0.5, area=(0.02, 0.4), aspect=(0.3, 3.3)):
    """Random erasing (Zhong et al. 2017), in place on x [B,C,H,W] in [0,1]: with probability p
    a rectangle of area in `area` x H*W and aspect ratio in `aspect` gets uniform noise."""
    b, c, hh, ww = x.shape
    u = torch.rand(b, 5, generator=gen)
    for i in range(b):
        if u[i, 0] >= p:
            continue
        s = (area[0] + (area[1] - area[0]) * u[i, 1].item()) * hh * ww
        r = math.exp(math.log(aspect[0]) + (math.log(aspect[1]) - math.log(aspect[0])) * u[i, 2].item())
        h, w = int(round(math.sqrt(s * r))), int(round(math.sqrt(s / r)))
        if h < 1 or w < 1 or h >= hh or w >= ww:
            continue
        y0 = int(u[i, 3].item() * (hh - h + 1))
        x0 = int(u[i, 4].item() * (ww - w + 1))
        x[i, :, y0:y0 + h, x0:x0 + w] = torch.rand(c, h, w, generator=gen)


def eenet_loss(logits, confs, target, costs, lam):
    """EENet cost-aware loss (Demir 2018, 'Early-exit convolutional neural networks', eq. for the
    cumulative prediction and cost, our version = their loss 'v2' plus the plain per-exit CE):
        Ŷ_N = ŷ_N,  Ŷ_n = h_n ŷ_n + (1 - h_n) Ŷ_{n+1}          (ŷ = softmax of an exit, h = sigmoid conf)
        C_N = c_N,  C_n = h_n c_n + (1 - h_n) C_{n+1}          (c = cumulative MACs / plain MACs)
        L   = Σ_n [ CE(y, Ŷ_n) + λ · C_n ]  +  Σ_n CE(y, ŷ_n)
    logits: list over exits incl. final; confs: list over early exits ([B,1] sigmoid)."""
    probs = [F.softmax(l, dim=1) for l in logits]
    N = len(logits) - 1
    cum_p, cum_c = probs[N], torch.full_like(confs[0], costs[N]) if N > 0 else None
    loss = F.nll_loss(torch.log(cum_p.clamp_min(1e-8)), target) + lam * costs[N]
    for n in range(N - 1, -1, -1):
        h = confs[n]
        cum_p = h * probs[n] + (1 - h) * cum_p
        cum_c = h * costs[n] + (1 - h) * cum_c
        loss = loss + F.nll_loss(torch.log(cum_p.clamp_min(1e-8)), target) + lam * cum_c.mean()
    for l in logits:
        loss = loss + F.cross_entropy(l, target)
    return loss


def correctness_loss(logits, confs, target, w_bce):
    """Every exit's cross-entropy, plus for each early exit the binary cross-entropy of its
    confidence against "this exit's own prediction is right" (the target is not
    differentiated). The confidence then ranks the exit's mistakes, which is what the
    threshold needs."""
    loss = sum(F.cross_entropy(l, target) for l in logits)
    for l, h in zip(logits[:-1], confs):
        right = (l.detach().argmax(1) == target).float().unsqueeze(1)
        loss = loss + w_bce * F.binary_cross_entropy(h.clamp(1e-6, 1 - 1e-6), right)
    return loss


@torch.no_grad()
def evaluate(segments, exits, u8, labels, mean, std, batch=500):
    for p in segments + exits:
        p.module.eval()
    correct = np.zeros(len(exits))
    for i in range(0, len(u8), batch):
        x = to_input(u8[i:i + batch], mean, std)
        env = run_parts(segments, exits, x)
        y = torch.from_numpy(labels[i:i + batch].astype(np.int64))
        for j, ex in enumerate(exits):
            correct[j] += (env[ex.logits].argmax(1) == y).sum().item()
    return correct / len(u8)


def train(run, log=print):
    cfg = RUNS[run]
    os.makedirs(CKPT, exist_ok=True)
    final_path = os.path.join(CKPT, f"{run}.final.pt")
    if os.path.exists(final_path):
        log(f"[{run}] already trained ({final_path})")
        return
    ds = DATASETS[cfg["data"]]
    data = load_data(cfg["data"])
    xtr, ytr = data["train"]
    xva, yva = data["val"]
    mean, std = ds["mean"], ds["std"]
    segments, exits, info = build(run)
    sm, em = count_part_macs(segments, exits, (1, 1, 28, 28))
    cum, plain = exit_costs(segments, exits, sm, em)
    costs = [c / plain for c in cum]
    extra = {}
    if cfg["arch"] == "pt":
        bb_path = os.path.join(CKPT, f"{cfg['backbone']}.final.pt")
        if not os.path.exists(bb_path):
            raise RuntimeError(f"{run}: backbone {bb_path} not trained yet")
        bb = torch.load(bb_path, map_location="cpu", weights_only=False)
        load_parts_state(segments, exits[-1:], bb["parts"])
        backbone = [p.module for p in segments] + [exits[-1].module]
        for m in backbone:
            m.eval()
            for q in m.parameters():
                q.requires_grad_(False)
        extra["backbone_digest_before"] = state_digest(backbone)
        params = [q for e in exits[:-1] for q in e.module.parameters()]
    else:
        params = [q for p in segments + exits for q in p.module.parameters()]
    steps_per_epoch = len(xtr) // cfg["batch"]
    if cfg["opt"] == "sgd":
        opt = torch.optim.SGD(params, lr=cfg["lr"], momentum=0.9, nesterov=True, weight_decay=5e-4)
    else:
        opt = torch.optim.Adam(params, lr=cfg["lr"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg["lr"], epochs=cfg["epochs"],
                                                steps_per_epoch=steps_per_epoch, pct_start=0.25)
    ck_path = os.path.join(CKPT, f"{run}.pt")
    start_epoch, history = 0, []
    if os.path.exists(ck_path):
        ck = torch.load(ck_path, map_location="cpu", weights_only=False)
        load_parts_state(segments, exits, ck["parts"])
        opt.load_state_dict(ck["opt"])
        sched.load_state_dict(ck["sched"])
        start_epoch, history = ck["epoch"], ck["history"]
        extra = ck.get("extra", extra)
        log(f"[{run}] resuming after epoch {start_epoch}")
    log(f"[{run}] macs seg={sm} exits={em} costs={[round(c, 3) for c in costs]} "
        f"params={sum(q.numel() for p in segments + exits for q in p.module.parameters())}")
    lam = cfg.get("lam", 0.0)
    for epoch in range(start_epoch, cfg["epochs"]):
        t0 = time.time()
        gen = torch.Generator().manual_seed(SEED + epoch)
        torch.manual_seed(SEED + 1000 + epoch)
        perm = np.random.RandomState(SEED + epoch).permutation(len(xtr))
        if cfg["arch"] == "pt":
            for e in exits[:-1]:
                e.module.train()
        else:
            for p in segments + exits:
                p.module.train()
        tot, nb = 0.0, 0
        m_ = torch.tensor(mean).view(1, -1, 1, 1)
        s_ = torch.tensor(std).view(1, -1, 1, 1)
        for b in range(steps_per_epoch):
            idx = perm[b * cfg["batch"]:(b + 1) * cfg["batch"]]
            x = (augment(torch.from_numpy(xtr[idx]), cfg["aug"], gen) - m_) / s_
            y = torch.from_numpy(ytr[idx].astype(np.int64))
            if cfg["arch"] == "pt":
                with torch.no_grad():
                    env = run_parts(segments, exits[-1:], x)
                outs = [e.module(*[env[n] for n in e.inputs]) for e in exits[:-1]]
                logits = [o[0] for o in outs] + [env[exits[-1].logits]]
                if cfg.get("loss") == "ce_bce":
                    loss = correctness_loss(logits, [o[1] for o in outs], y, cfg["bce"])
                else:
                    loss = eenet_loss(logits, [o[1] for o in outs], y, costs, lam)
                loss = loss - F.cross_entropy(logits[-1], y)   # constant: final is frozen
            else:
                env = run_parts(segments, exits, x)
                logits = [env[e.logits] for e in exits]
                if cfg["arch"] == "eenet" and cfg.get("loss") == "ce_bce":
                    loss = correctness_loss(logits, [env[e.confidence] for e in exits[:-1]], y, cfg["bce"])
                elif cfg["arch"] == "eenet":
                    loss = eenet_loss(logits, [env[e.confidence] for e in exits[:-1]], y, costs, lam)
                elif cfg["arch"] == "tiny":
                    # T-RECX-style joint training: weighted sum of every exit's cross-entropy
                    w = [1.0, 0.5, 1.0]
                    loss = sum(wi * F.cross_entropy(l, y) for wi, l in zip(w, logits))
                else:
                    loss = F.cross_entropy(logits[-1], y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item()
            nb += 1
            if b % 100 == 0:
                log(f"[{run}] epoch {epoch + 1} step {b}/{steps_per_epoch} loss {tot / nb:.4f} "
                    f"{time.time() - t0:.0f}s")
        dt = time.time() - t0
        # validation accuracy is only watched (no early stopping, no selection): every 4th epoch
        # and the last, to keep 10k forward passes out of most epochs
        acc = None
        if (epoch + 1) % 4 == 0 or epoch + 1 == cfg["epochs"]:
            acc = evaluate(segments, exits, xva, yva, mean, std).tolist()
        history.append({"epoch": epoch + 1, "loss": tot / nb, "val_acc": acc, "seconds": dt})
        log(f"[{run}] epoch {epoch + 1}/{cfg['epochs']} loss {tot / nb:.4f} val "
            f"{None if acc is None else np.round(np.array(acc) * 100, 2).tolist()} {dt:.0f}s")
        torch.save({"parts": parts_state(segments, exits), "opt": opt.state_dict(),
                    "sched": sched.state_dict(), "epoch": epoch + 1, "history": history,
                    "extra": extra}, ck_path + ".tmp")
        os.replace(ck_path + ".tmp", ck_path)
    if cfg["arch"] == "pt":
        backbone = [p.module for p in segments] + [exits[-1].module]
        extra["backbone_digest_after"] = state_digest(backbone)
    torch.save({"parts": parts_state(segments, exits), "history": history, "extra": extra,
                "info": {k: v for k, v in info.items()}}, final_path)
    log(f"[{run}] done")


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+", choices=list(RUNS))
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    for r in a.runs:
        train(r, log=lambda s: print(s, flush=True))


if __name__ == "__main__":
    main()
