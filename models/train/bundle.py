"""Bundle files without PyTorch (numpy + onnxruntime): packs, reference outputs, the runtime's
preprocessing, and the one runner of a bundle's ONNX parts in the runtime's order.

Formats: crate/BUNDLE.md. Preprocessing mirrors crate/src/input.rs (`from_u8`, then
`normalize_into`) in float32, so that inputs made here are the runtime's inputs.
"""
import json
import os
import struct

import numpy as np

F32 = np.float32


class FormatError(ValueError):
    """A pack or reference file that does not follow BUNDLE.md."""


def load_manifest(bundle_dir):
    with open(os.path.join(bundle_dir, "manifest.json")) as f:
        return json.load(f)


# --- packs: testpack.bin / calibpack.bin (EWTP v1) -------------------------------------------

def pack_bytes(images_u8, labels_u8):
    """EWTP v1: header, u8 pixels image-major CHW, u8 labels."""
    images_u8 = np.ascontiguousarray(images_u8, dtype=np.uint8)
    labels_u8 = np.ascontiguousarray(labels_u8, dtype=np.uint8)
    if images_u8.ndim != 4 or labels_u8.shape != (images_u8.shape[0],):
        raise FormatError(f"pack: images {images_u8.shape} must be [n, C, H, W] with labels [n], got {labels_u8.shape}")
    n, c, h, w = images_u8.shape
    return b"EWTP" + struct.pack("<5I", 1, n, c, h, w) + images_u8.tobytes() + labels_u8.tobytes()


def write_pack(path, images_u8, labels_u8):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        f.write(pack_bytes(images_u8, labels_u8))


def parse_pack(b, what="pack"):
    """EWTP v1 bytes to (u8 pixels [n, c, h, w], u8 labels [n]); FormatError if malformed."""
    if len(b) < 24 or b[:4] != b"EWTP":
        raise FormatError(f"{what}: not an EWTP pack")
    ver, n, c, h, w = struct.unpack("<5I", b[4:24])
    if ver != 1:
        raise FormatError(f"{what}: version {ver}, expected 1")
    size = n * c * h * w
    if len(b) != 24 + size + n:
        raise FormatError(f"{what}: {len(b)} bytes, the header says {24 + size + n}")
    px = np.frombuffer(b, np.uint8, size, 24).reshape(n, c, h, w)
    lab = np.frombuffer(b, np.uint8, n, 24 + size)
    return px, lab


def read_pack(path):
    with open(path, "rb") as f:
        return parse_pack(f.read(), path)


# --- reference.bin (EWRF v1) -----------------------------------------------------------------

def reference_bytes(per_exit):
    """EWRF v1. per_exit: one float32 array [n, width] per exit (logits, then confidence)."""
    n = per_exit[0].shape[0]
    widths = [a.shape[1] for a in per_exit]
    rec = np.concatenate([a.astype(np.float32) for a in per_exit], axis=1)  # image-major records
    return (b"EWRF" + struct.pack("<3I", 1, n, len(per_exit)) + struct.pack(f"<{len(widths)}I", *widths)
            + np.ascontiguousarray(rec, dtype="<f4").tobytes())


def parse_reference(b, what="reference"):
    """EWRF v1 bytes to one float32 array [n, width] per exit."""
    if len(b) < 16 or b[:4] != b"EWRF":
        raise FormatError(f"{what}: not an EWRF file")
    ver, n, e = struct.unpack("<3I", b[4:16])
    if ver != 1 or len(b) < 16 + 4 * e:
        raise FormatError(f"{what}: version {ver} or header truncated")
    widths = struct.unpack(f"<{e}I", b[16:16 + 4 * e])
    body = 16 + 4 * e
    if len(b) != body + 4 * n * sum(widths):
        raise FormatError(f"{what}: {len(b)} bytes, the header says {body + 4 * n * sum(widths)}")
    rec = np.frombuffer(b, "<f4", n * sum(widths), body).reshape(n, sum(widths))
    out, off = [], 0
    for w in widths:
        out.append(rec[:, off:off + w].astype(F32))
        off += w
    return out


def read_reference(path):
    with open(path, "rb") as f:
        return parse_reference(f.read(), path)


# --- preprocessing (crate/src/input.rs) ------------------------------------------------------

def pixels_to_range(value_range, px):
    """input.rs `from_u8`: lo + p/255·(hi − lo) per value, in float32 (for [0, 1]: p/255)."""
    lo, hi = (F32(v) for v in value_range)
    return (lo + px.astype(F32) / F32(255.0) * (hi - lo)).astype(F32)


def normalize(spec, x):
    """input.rs `normalize_into`: (clamp(x, lo, hi) − mean[c]) / std[c], in float32."""
    lo, hi = (F32(v) for v in spec["range"])
    x = np.clip(np.asarray(x, F32), lo, hi)
    mean = np.asarray(spec["mean"], F32).reshape(1, -1, 1, 1)
    std = np.asarray(spec["std"], F32).reshape(1, -1, 1, 1)
    return ((x - mean) / std).astype(F32)


def preprocess(spec, px):
    """u8 pack pixels [n, C, H, W] to the normalised model input, as the runtime makes it.
    spec: the manifest's `input` (range, mean, std)."""
    return normalize(spec, pixels_to_range(spec["range"], px))


# --- running the parts -----------------------------------------------------------------------

def steps(manifest):
    """The parts in the runtime's order (manifest.rs `steps`): segment k, then the exits after
    k in list order."""
    out = []
    for k, seg in enumerate(manifest["segments"]):
        out.append(seg)
        out += [e for e in manifest["exits"] if e["after"] == k]
    return out


def run_chain(bundle_dir, manifest, x, threads=1):
    """Runs every part once with onnxruntime (CPU) on the normalised input x [n, C, H, W];
    returns every activation by name. `inputs[i]` binds to the graph's i-th input and
    `outputs[j]` names its j-th output, as BUNDLE.md says."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    env = {"input": np.asarray(x, F32)}
    for p in steps(manifest):
        s = ort.InferenceSession(os.path.join(bundle_dir, p["file"]), so, providers=["CPUExecutionProvider"])
        ins = s.get_inputs()
        if len(ins) != len(p["inputs"]):
            raise ValueError(f"{p['file']}: {len(ins)} graph inputs, the manifest names {len(p['inputs'])}")
        outs = s.run(None, {i.name: env[a] for i, a in zip(ins, p["inputs"])})
        if len(outs) != len(p["outputs"]):
            raise ValueError(f"{p['file']}: {len(outs)} graph outputs, the manifest names {len(p['outputs'])}")
        env.update(zip(p["outputs"], outs))
    return env


def exit_records(manifest, env):
    """Per exit, the float32 record reference.bin holds: logits [n, C], then the learned
    confidence [n, 1] when the exit has one."""
    c = len(manifest["labels"])
    out = []
    for e in manifest["exits"]:
        a = np.asarray(env[e["logits"]], F32).reshape(-1, c)
        if e.get("confidence"):
            a = np.concatenate([a, np.asarray(env[e["confidence"]], F32).reshape(-1, 1)], axis=1)
        out.append(a)
    return out
