"""models/train/bundle.py on the shipped bundles: the one pack / reference reader, the runtime's
preprocessing, and the one ONNX-chain runner, against the files and against the CLI."""
import json
import os
import tempfile
import unittest

import support
import numpy as np

from models.train import cli, rules
from models.train.bundle import (FormatError, exit_records, load_manifest, pack_bytes, parse_pack,
                                 parse_reference, preprocess, read_pack, read_reference, reference_bytes,
                                 run_chain)

F32 = np.float32


class Packs(unittest.TestCase):
    def test_shipped_packs(self):
        for name in support.SHIPPED:
            d = support.bundle_dir(name)
            man = load_manifest(d)
            for key in ("test_pack", "calibration_pack"):
                with self.subTest(bundle=name, pack=key):
                    path = os.path.join(d, man[key]["file"])
                    px, lab = read_pack(path)
                    self.assertEqual(list(px.shape[1:]), man["input"]["shape"][1:])
                    self.assertEqual(len(lab), len(px))
                    self.assertGreaterEqual(len(px), 500)
                    self.assertLess(int(lab.max()), len(man["labels"]))
                    self.assertEqual(pack_bytes(px, lab), open(path, "rb").read())   # round trip

    def test_malformed_packs(self):
        good = pack_bytes(np.zeros((2, 1, 3, 3), np.uint8), np.zeros(2, np.uint8))
        for what, b in {"magic": b"EWTQ" + good[4:], "version": good[:4] + b"\x02" + good[5:],
                        "truncated": good[:-1], "too long": good + b"\x00", "empty": b""}.items():
            with self.subTest(what):
                with self.assertRaises(FormatError):
                    parse_pack(b)

    def test_shipped_reference(self):
        for name in support.SHIPPED:
            d = support.bundle_dir(name)
            man = load_manifest(d)
            with self.subTest(name):
                ref = read_reference(os.path.join(d, man["reference"]["file"]))
                n = len(read_pack(os.path.join(d, man["test_pack"]["file"]))[1])
                c = len(man["labels"])
                self.assertEqual([r.shape for r in ref],
                                 [(n, c + (1 if e.get("confidence") else 0)) for e in man["exits"]])
                again = parse_reference(reference_bytes(ref))
                self.assertTrue(all(np.array_equal(a, b) for a, b in zip(again, ref)))


class Preprocess(unittest.TestCase):
    def test_unit_range_is_pixel_over_255(self):
        px = np.arange(256, dtype=np.uint8).reshape(1, 1, 16, 16)
        spec = {"range": [0.0, 1.0], "mean": [0.1307], "std": [0.3081]}
        want = (px.astype(F32) / F32(255) - F32(0.1307)) / F32(0.3081)
        self.assertTrue(np.array_equal(preprocess(spec, px), want))

    def test_other_range_maps_pixels_into_it(self):
        px = np.asarray([0, 51, 255], np.uint8).reshape(1, 1, 1, 3)
        x = preprocess({"range": [-1.0, 1.0], "mean": [0.0], "std": [1.0]}, px)
        self.assertEqual(x.ravel().tolist(), [-1.0, F32(-1) + F32(51) / F32(255) * F32(2), 1.0])

    def test_matches_the_runtime_on_a_range_that_is_not_0_1(self):
        # A bundle whose logits are its first two normalised pixels: the CLI's probabilities for
        # a pack image equal softmax of Python's preprocessed pixels only if both map u8 pixels
        # into input.range the same way (the old exporter assumed [0, 1]).
        px = np.zeros((3, 1, 4, 4), np.uint8)
        px[:, 0, 0, :2] = [[0, 255], [51, 200], [255, 7]]
        spec = {"range": [-1.0, 1.0], "mean": [0.25], "std": [0.5]}
        with tempfile.TemporaryDirectory() as d:
            man = support.write_bundle(d, support.relu_segment(), rng=spec["range"], mean=spec["mean"],
                                       std=spec["std"], pack=(px, np.zeros(3, np.uint8)))
            x = preprocess(man["input"], px)
            want = rules.softmax(exit_records(man, run_chain(d, man, x))[0])
            for i in range(3):
                with self.subTest(image=i):
                    got = np.asarray(cli.classify(d, f"pack:{i}")["probabilities"], F32)
                    np.testing.assert_allclose(got, want[i], rtol=0, atol=1e-6)
            unit = preprocess({**spec, "range": [0.0, 1.0]}, px)          # the old mapping
            self.assertFalse(np.allclose(rules.softmax(exit_records(man, run_chain(d, man, unit))[0]), want))


class Chain(unittest.TestCase):
    def test_matches_reference_bin(self):
        for name in ["tiny-mnist", "resnet-fmnist"]:              # max_softmax; learned confidences
            d = support.bundle_dir(name)
            man = load_manifest(d)
            px, _ = read_pack(os.path.join(d, man["test_pack"]["file"]))
            with self.subTest(name):
                got = exit_records(man, run_chain(d, man, preprocess(man["input"], px[:200])))
                ref = read_reference(os.path.join(d, man["reference"]["file"]))
                for g, r in zip(got, ref):
                    self.assertLessEqual(float(np.abs(g - r[:200]).max()), 1e-4)

    def test_decisions_match_the_cli(self):
        # onnxruntime + rules.py against tract + the crate: same exit and class for every test
        # pack image of tiny-mnist at its default thresholds.
        d = support.bundle_dir("tiny-mnist")
        man = load_manifest(d)
        px, _ = read_pack(os.path.join(d, man["test_pack"]["file"]))
        env = run_chain(d, man, preprocess(man["input"], px))
        conf, pred = zip(*(rules.exit_trace(e["rule"], env[e["logits"]]) for e in man["exits"]))
        conf, pred = np.stack(conf), np.stack(pred)
        t = [e["threshold"] for e in man["exits"][:-1]]
        ex = rules.simulate(conf, t)
        got = cli.classify_batch(d, t)
        self.assertEqual(got["count"], len(px))
        self.assertEqual(ex.tolist(), got["exits"])
        self.assertEqual(pred[ex, np.arange(len(px))].tolist(), got["classes"])
        self.assertEqual(np.bincount(ex, minlength=len(man["exits"])).tolist(), got["histogram"])

    def test_confidences_match_the_cli(self):
        # Every exit's confidence for a few images, as `classify --json` reports them.
        d = support.bundle_dir("resnet-fmnist")
        man = load_manifest(d)
        px, _ = read_pack(os.path.join(d, man["test_pack"]["file"]))
        env = run_chain(d, man, preprocess(man["input"], px[:5]))
        ones = [1.0] * (len(man["exits"]) - 1)                 # evaluate every exit
        for i in range(5):
            got = cli.classify(d, f"pack:{i}", ones)
            with self.subTest(image=i):
                self.assertEqual(len(got["exits"]), len(man["exits"]))
                for j, (e, r) in enumerate(zip(man["exits"], got["exits"])):
                    learned = env[e["confidence"]][i:i + 1] if e.get("confidence") else None
                    c, k = rules.exit_trace(e["rule"], env[e["logits"]][i:i + 1], learned)
                    self.assertAlmostEqual(float(c[0]), r["confidence"], delta=1e-5)
                    self.assertEqual(int(k[0]), r["class"])

    def test_wrong_input_count(self):
        d = support.bundle_dir("tiny-mnist")
        man = json.loads(json.dumps(load_manifest(d)))
        man["segments"][0]["inputs"] = ["input", "input"]
        with self.assertRaisesRegex(ValueError, "graph inputs"):
            run_chain(d, man, np.zeros((1, 1, 28, 28), F32))


if __name__ == "__main__":
    unittest.main()
