"""What export_bundle refuses before it writes anything or imports PyTorch (parts.check_parts and
the export arguments). Run with torch blocked, so these hold on a machine without it."""
import math
import os
import sys
import tempfile
import unittest

import support  # noqa: F401  (sys.path)

from models.train.parts import Exit, PartError, Segment, check_parts


def net(**changes):
    """A valid two-segment net; `changes` replace fields: seg0_name, exit0_name, final_name,
    rule, threshold, confidence, after."""
    c = {"seg0_name": "seg0", "exit0_name": "exit0", "final_name": "final", "rule": "max_softmax",
         "threshold": 0.9, "confidence": None, "after": 0, **changes}
    segments = [Segment(c["seg0_name"], None, ["input"], ["a0"]), Segment("seg1", None, ["a0"], ["a1"])]
    outs = ["e0_logits"] + (["e0_conf"] if c["confidence"] else [])
    exits = [Exit(c["exit0_name"], c["after"], None, ["a0"], outs, "e0_logits", confidence=c["confidence"],
                  rule=c["rule"], threshold=c["threshold"]),
             Exit(c["final_name"], 1, None, ["a1"], ["logits"], "logits")]
    return segments, exits


class Parts(unittest.TestCase):
    def test_valid_net_passes(self):
        check_parts(*net())
        check_parts(*net(rule="learned", confidence="e0_conf", threshold=0.0))
        check_parts(*net(rule="entropy", threshold=1))

    def refused(self, text, **changes):
        with self.assertRaises(PartError) as c:
            check_parts(*net(**changes))
        self.assertIn(text, str(c.exception))

    def test_name_collisions(self):
        self.refused("used twice", exit0_name="seg0")
        self.refused("used twice", final_name="exit0")
        self.refused("collides with the bundle's own full.onnx", final_name="full")
        self.refused("collides", seg0_name="full")

    def test_names_that_are_not_file_names(self):
        for bad in ["a/b", "..", ".hidden", "", "x" * 124, "a b", "naïve"]:
            with self.subTest(bad):
                self.refused("not a plain file name", exit0_name=bad)

    def test_rules(self):
        for bad in ["softmax", "MaxSoftmax", "max-softmax", "", None]:
            with self.subTest(bad):
                self.refused("is not one of learned, max_softmax, entropy", rule=bad)
        self.refused("learned requires a confidence output", rule="learned")

    def test_thresholds(self):
        self.refused("needs a threshold", threshold=None)
        for bad in [1.5, -0.01, math.nan, math.inf, True, "0.9"]:
            with self.subTest(bad):
                self.refused("outside [0, 1]", threshold=bad)

    def test_placement_and_dataflow(self):
        self.refused("need a segment index", after=2)
        segments, exits = net()
        late = Exit("exit1", 1, None, ["a1"], ["e1_logits"], "e1_logits", threshold=0.5)
        with self.assertRaisesRegex(PartError, "listed after an exit placed later"):
            check_parts(segments, [late] + exits)           # exit1 (after seg1) before exit0 (after seg0)
        with self.assertRaisesRegex(PartError, "must come after the last segment"):
            check_parts(segments, exits[:1])                # no final classifier after seg1
        segments, exits = net()
        exits[0].inputs = ["a1"]                            # read before seg1 produced it
        with self.assertRaisesRegex(PartError, "not produced before it"):
            check_parts(segments, exits)
        segments, exits = net()
        segments[1].outputs = ["a0"]
        with self.assertRaisesRegex(PartError, "produced twice"):
            check_parts(segments, exits)


class ExportBundleRefuses(unittest.TestCase):
    """export_bundle itself, in a child process where `import torch` fails: the refusals come
    before torch is needed and before any file is written."""

    def run_child(self, code):
        import subprocess
        prog = ("import sys; sys.modules['torch'] = None\n"   # any `import torch` raises ImportError
                f"sys.path.insert(0, {support.REPO!r}); sys.path.insert(0, {os.path.dirname(__file__)!r})\n"
                + code)
        return subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, cwd=support.REPO)

    def test_refusals_without_torch(self):
        cases = {
            "final_name='full'": "collides",
            "exit0_name='seg0'": "used twice",
            "rule='softmax'": "is not one of",
            "threshold=None": "needs a threshold",
            "threshold=2.0": "outside [0, 1]",
        }
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "b")
            for change, text in cases.items():
                with self.subTest(change):
                    p = self.run_child(
                        "from test_parts import net\nfrom models.train.exporter import export_bundle\n"
                        f"s, e = net({change})\n"
                        f"export_bundle({out!r}, 'x', s, e, ['a', 'b'], [0.5], [0.5])\n")
                    self.assertNotEqual(p.returncode, 0)
                    self.assertIn("PartError", p.stderr)
                    self.assertIn(text, p.stderr)
                    self.assertFalse(os.path.exists(out), "nothing may be written")

    def test_bad_arguments_without_torch(self):
        cases = {
            "['a', 'b'], [0.5, 0.5], [0.5]": "mean and std need 1 entries",
            "['a', 'b'], [0.5], [0.0]": "std finite and > 0",
            "['a'], [0.5], [0.5]": "at least 2 classes",
            "['a', 'b'], [0.5], [0.5], value_range=(1.0, 0.0)": "min < max",
            "['a', 'b'], [0.5], [0.5], backends=('gpu',)": "choose from",
        }
        for args, text in cases.items():
            with self.subTest(args):
                p = self.run_child("from test_parts import net\nfrom models.train.exporter import export_bundle\n"
                                   f"export_bundle('/nonexistent/b', 'x', *net(), {args})\n")
                self.assertNotEqual(p.returncode, 0)
                self.assertIn(text, p.stderr)

    def test_valid_parts_get_as_far_as_torch(self):
        # Passing every check, the export then needs PyTorch: the child fails on importing it.
        p = self.run_child("from test_parts import net\nfrom models.train.exporter import export_bundle\n"
                           "export_bundle('/nonexistent/b', 'x', *net(), ['a', 'b'], [0.5], [0.5])\n")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("import of torch halted", p.stderr)


if __name__ == "__main__":
    unittest.main()
