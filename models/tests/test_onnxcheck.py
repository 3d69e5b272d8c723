"""The exporter's ONNX check (models/train/onnxcheck.py) on small graphs built with onnx.helper:
what the runtime cannot run raises, naming the node and the backends; what it runs passes. The
runtime itself (`exitwise info`) is asked about the same graphs, so the mirror is checked
against admission rather than against itself."""
import os
import tempfile
import unittest

import support
import numpy as np
import onnx
from onnx import TensorProto, helper

from models.train import cli, onnxcheck
from models.train.bundle import load_manifest

S = 4


def seg(nodes, inits=(), opset=support.OPSET, domains=(), out_shape=(None, 1, S, S), inputs=None):
    return support.model(nodes, inputs or [("input", [None, 1, S, S])], [("a0", list(out_shape))],
                         inits=inits, opset=opset, domains=domains)


def conv(**kw):
    w = np.ones((1, 1, 3, 3), np.float32)
    return seg([helper.make_node("Conv", ["input", "w"], ["a0"], **kw)], inits=[("w", w)])


# name -> (segment, the text the rejection must contain, the runtime's error code)
REJECTED = {
    "unknown op": (seg([helper.make_node("Tanh", ["input"], ["a0"])]), "Tanh", "UNSUPPORTED_OP"),
    "custom domain": (seg([helper.make_node("Relu", ["input"], ["a0"], domain="com.example")],
                          domains=["com.example"]), "domain 'com.example'", "UNSUPPORTED_OP"),
    "opset 10": (seg([helper.make_node("Relu", ["input"], ["a0"])], opset=10), "operator set 10", "UNSUPPORTED_OP"),
    "opset 19": (seg([helper.make_node("Relu", ["input"], ["a0"])], opset=19), "operator set 19", "UNSUPPORTED_OP"),
    "unknown attribute": (support.relu_segment(S, alpha=0.5), "attribute alpha", "BAD_ONNX"),
    "stride 0": (conv(strides=[0, 1], pads=[1, 1, 1, 1]), "strides", "BAD_ONNX"),
    "negative pad": (conv(pads=[-1, 1, 1, 1]), "pads", "BAD_ONNX"),
    "group 0": (conv(group=0, pads=[1, 1, 1, 1]), "group", "BAD_ONNX"),
    "auto_pad typo": (conv(auto_pad="SAME"), "auto_pad", "BAD_ONNX"),
    "empty bias name": (seg([helper.make_node("Conv", ["input", "w", ""], ["a0"], pads=[1, 1, 1, 1])],
                            inits=[("w", np.ones((1, 1, 3, 3), np.float32))]), "input 2 (B)", "BAD_ONNX"),
    "double initializer": (seg([helper.make_node("Add", ["input", "b"], ["a0"])],
                               inits=[("b", np.ones((1,), np.float64))]), "data type 11", "UNSUPPORTED_OP"),
    "flag not 0/1": (seg([helper.make_node("ReduceMean", ["input"], ["a0"], axes=[1], keepdims=2)], opset=13),
                     "keepdims", "BAD_ONNX"),
    "squeeze without axes": (seg([helper.make_node("Squeeze", ["input"], ["a0"])], out_shape=(None, S, S)),
                             "Squeeze without axes", "UNSUPPORTED_OP"),
}


def gather_segment():
    # CPU only (crate/src/ops.rs): an index constant picking rows of the image.
    idx = np.asarray([0, 1, 2, 3], np.int64)
    return seg([helper.make_node("Gather", ["input", "i"], ["a0"], axis=2)], inits=[("i", idx)])


def runtime_refuses(segment):
    """The CLI's error code for a bundle whose segment is `segment`, or None if it loads."""
    with tempfile.TemporaryDirectory() as d:
        support.write_bundle(d, segment, side=S)
        try:
            cli.info(d)
            return None
        except cli.CliError as e:
            return e.code


class Rejections(unittest.TestCase):
    def test_each_rejected_with_its_reason(self):
        for name, (m, text, _) in REJECTED.items():
            with self.subTest(name):
                with self.assertRaises(onnxcheck.OnnxRejected) as c:
                    onnxcheck.check(m, "seg0.onnx")
                self.assertIn(text, str(c.exception))
                self.assertIn("seg0.onnx", str(c.exception))

    def test_runtime_refuses_the_same_graphs(self):
        for name, (m, _, code) in REJECTED.items():
            with self.subTest(name):
                self.assertEqual(runtime_refuses(m), code)

    def test_cpu_only_op_names_the_backend(self):
        m = gather_segment()
        with self.assertRaises(onnxcheck.OnnxRejected) as c:
            onnxcheck.check(m, "seg0.onnx")                     # default: both backends
        self.assertIn("cannot run on webgpu", str(c.exception))
        self.assertIn("runs on cpu only", str(c.exception))
        self.assertEqual(onnxcheck.check(m, "seg0.onnx", backends=("cpu",)), ["cpu"])
        self.assertIsNone(runtime_refuses(m))                   # the CPU runtime loads it

    def test_every_problem_listed_at_once(self):
        m = seg([helper.make_node("Tanh", ["input"], ["t"]), helper.make_node("Relu", ["t"], ["a0"], alpha=1.0)])
        found = onnxcheck.problems(m)
        self.assertEqual(len(found), 2, found)

    def test_bad_backend_name(self):
        with self.assertRaises(ValueError):
            onnxcheck.check(support.relu_segment(S), "seg0.onnx", backends=("gpu",))


class Accepted(unittest.TestCase):
    def test_small_graphs_pass_and_load(self):
        ok = {
            "relu": support.relu_segment(S),
            "conv": conv(pads=[1, 1, 1, 1], strides=[1, 1], group=1),
            "same_upper": conv(auto_pad="SAME_UPPER"),
            "squeeze with axes": seg([helper.make_node("Unsqueeze", ["input", "ax"], ["u"]),
                                      helper.make_node("Squeeze", ["u", "ax"], ["a0"])],
                                     inits=[("ax", np.asarray([0], np.int64))]),
        }
        for name, m in ok.items():
            with self.subTest(name):
                self.assertEqual(onnxcheck.check(m, "seg0.onnx"), ["cpu", "webgpu"])
                self.assertIsNone(runtime_refuses(m))

    def test_shipped_bundles_pass(self):
        # No false alarms on what the exporter actually produced.
        for name in support.SHIPPED:
            d = support.bundle_dir(name)
            man = load_manifest(d)
            for p in man["segments"] + man["exits"] + [{"file": "full.onnx"}]:
                with self.subTest(bundle=name, file=p["file"]):
                    m = onnx.load(os.path.join(d, p["file"]))
                    self.assertEqual(onnxcheck.check(m, p["file"]), ["cpu", "webgpu"])

    def test_every_listed_op_has_a_rule(self):
        # A new op in crate/src/ops.rs (hence supported_ops.json) needs its attributes here.
        ops = onnxcheck.load_supported()["ops"]
        self.assertGreater(len(ops), 30)
        self.assertEqual(sorted(set(ops) - set(onnxcheck._ATTRS)), [])
        self.assertEqual(sorted(set(onnxcheck._ATTRS) - set(ops)), [])


if __name__ == "__main__":
    unittest.main()
