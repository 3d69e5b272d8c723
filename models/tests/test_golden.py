"""models/train/rules.py against the golden vectors crate/tests/golden.rs writes with the crate's
own rules (models/train/golden/*.json; that test fails if they no longer match the crate).
Decisions (classes, exits, MACs, summaries) must be equal; floats equal to within one ulp: the
runtime's softmax calls the platform's expf (glibc natively, a musl-derived libm in wasm), which
is not correctly rounded in every case, so no mirror can promise every last bit (measured: 3 of
the ~1,200 golden probabilities differ by one ulp, all in 100-class rows)."""
import json
import os
import unittest

import support
import numpy as np

from models.train import rules

GOLDEN = os.path.join(support.REPO, "models", "train", "golden")
F32 = np.float32


def load(name):
    with open(os.path.join(GOLDEN, name)) as f:
        return json.load(f)


def f32(v):
    """Golden numbers back to float32 ("NaN", "inf", "-inf" for the non-finite)."""
    return np.asarray([float(x) for x in (v if isinstance(v, list) else [v])], F32)


def same_f32(a, b, ulps=1):
    """Equal to within `ulps` units in the last place (0: bit for bit); NaN matches NaN."""
    a, b = np.asarray(a, F32), np.asarray(b, F32)
    if a.shape != b.shape:
        return False
    nan = np.isnan(a) & np.isnan(b)                # any NaN is the runtime's NaN
    ia, ib = a.view(np.int32).astype(np.int64), b.view(np.int32).astype(np.int64)
    close = (np.sign(ia) == np.sign(ib)) & (np.abs(ia - ib) <= ulps) | (a == b)
    return bool(np.all(nan | close))


class Confidences(unittest.TestCase):
    def setUp(self):
        self.g = load("confidences.json")

    def test_file_covers_the_edges(self):
        cases = self.g["cases"]
        self.assertGreaterEqual(len(cases), 90)
        self.assertLessEqual({1, 2, 3, 10, 100}, {len(c["logits"]) for c in cases})
        self.assertTrue(any("NaN" in c["logits"] for c in cases))

    def test_softmax_argmax_and_rules(self):
        for i, c in enumerate(self.g["cases"]):
            logits = f32(c["logits"]).reshape(1, -1)
            with self.subTest(case=i, logits=c["logits"][:4]):
                p = rules.softmax(logits)
                self.assertTrue(same_f32(p[0], f32(c["probabilities"])), (p[0], c["probabilities"]))
                self.assertEqual(int(rules.argmax(p)[0]), c["class"])
                self.assertTrue(same_f32(rules.confidence("max_softmax", p), f32(c["max_softmax"])),
                                (rules.confidence("max_softmax", p), c["max_softmax"]))
                self.assertTrue(same_f32(rules.confidence("entropy", p), f32(c["entropy"])),
                                (rules.confidence("entropy", p), c["entropy"]))

    def test_rows_are_independent(self):
        # The same rows batched together give the same bits (the trace path runs batches).
        by_c = {}
        for c in self.g["cases"]:
            by_c.setdefault(len(c["logits"]), []).append(c)
        for n, cs in by_c.items():
            p = rules.softmax(np.stack([f32(c["logits"]) for c in cs]))
            for row, c in zip(p, cs):
                self.assertTrue(same_f32(row, f32(c["probabilities"])), n)

    def test_learned(self):
        values = np.concatenate([f32(c["value"]) for c in self.g["learned"]])
        want = np.concatenate([f32(c["confidence"]) for c in self.g["learned"]])
        got = rules.confidence("learned", None, values.reshape(-1, 1))
        self.assertTrue(same_f32(got, want), (got, want))

    def test_unknown_rule(self):
        with self.assertRaises(ValueError):
            rules.confidence("softmax", np.ones((1, 2), F32) / 2)


class Decisions(unittest.TestCase):
    def setUp(self):
        self.g = load("decisions.json")
        self.cost = self.g["costs"]["to_exit"]
        self.plain = self.g["costs"]["plain"]

    def test_from_logits_as_model_decide(self):
        d = self.g["from_logits"]
        logits = d["logits"]                                   # [image][exit][class]
        n, e = len(logits), len(logits[0])
        conf = np.zeros((e, n), F32)
        pred = np.zeros((e, n), np.int64)
        for j in range(e):
            conf[j], pred[j] = rules.exit_trace("max_softmax", np.stack([f32(img[j]) for img in logits]))
        for dec in d["decisions"]:
            with self.subTest(thresholds=dec["thresholds"]):
                ex = rules.simulate(conf, dec["thresholds"])
                self.assertEqual(ex.tolist(), dec["exit"])
                self.assertEqual(pred[ex, np.arange(n)].tolist(), dec["class"])
                self.assertTrue(same_f32(conf[ex, np.arange(n)], f32(dec["confidence"])))
                self.assertEqual([self.cost[x] for x in ex], dec["macs_executed"])

    def test_from_confidences_as_evaluation(self):
        d = self.g["from_confidences"]
        conf = np.stack([f32(c) for c in d["confidence"]], axis=1)        # [exit, image]
        trace = {"conf": conf, "pred": np.asarray(d["class"], np.int64).T,
                 "labels": np.asarray(d["labels"], np.int64), "cost": self.cost}
        for dec in d["decisions"]:
            with self.subTest(thresholds=dec["thresholds"]):
                self.assertEqual(rules.simulate(conf, dec["thresholds"]).tolist(), dec["exit"])
                got = rules.evaluate_thresholds(trace, dec["thresholds"], self.plain)
                s = dec["summary"]
                self.assertEqual(got["hist"], s["histogram"])
                self.assertEqual(got["acc"], s["accuracy"])
                self.assertEqual(got["mean_macs"], s["mean_macs"])
                self.assertEqual(got["saved"], s["macs_saved_fraction"])

    def test_float32_threshold_comparison(self):
        # f32(0.7) < 0.7: an image whose confidence is exactly f32(0.7) fires at threshold 0.7.
        conf = np.asarray([[F32(0.7)], [F32(0)]], F32)
        self.assertEqual(rules.simulate(conf, [0.7]).tolist(), [0])
        self.assertLess(float(F32(0.7)), 0.7)


if __name__ == "__main__":
    unittest.main()
