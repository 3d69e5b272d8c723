"""models/train/cli.py and what is built on it: the MACs and operating points Python reports are
the CLI's. oppoints recomputed through the CLI must reproduce the committed
models/<name>/operating-points.json (which crate/tests/calibrate_report.rs holds the CLI to)."""
import json
import os
import unittest

import support

from models.train import cli, oppoints


class Cli(unittest.TestCase):
    def test_errors_carry_the_code(self):
        d = support.bundle_dir("tiny-mnist")
        with self.assertRaises(cli.CliError) as c:
            cli.evaluate(d, thresholds=[1.5, 0.5])
        self.assertEqual(c.exception.code, "BAD_THRESHOLD")
        with self.assertRaises(cli.CliError) as c:
            cli.info(os.path.join(support.MODELS, "no-such-bundle"))
        self.assertEqual(c.exception.code, "MISSING_FILE")

    def test_costs_are_the_runtime_count(self):
        for name in ["tiny-mnist", "resnet-fmnist"]:
            d = support.bundle_dir(name)
            want = json.load(open(os.path.join(d, "operating-points.json")))
            with self.subTest(name):
                got = cli.costs(d)
                self.assertEqual(got, {k: want[k] for k in ("segment_macs", "exit_macs", "macs_to_exit", "macs_full")})

    def test_evaluate_at_given_thresholds(self):
        d = support.bundle_dir("tiny-mnist")
        e = cli.evaluate(d, thresholds=[1.0, 1.0])
        self.assertEqual(e["thresholds"], [1.0, 1.0])
        self.assertEqual(e["histogram"], [0, 0, e["count"]])        # no confidence is exactly 1.0
        self.assertEqual(e["accuracy"], e["final_accuracy"])


class OperatingPoints(unittest.TestCase):
    def test_tiny_mnist_reproduces_the_committed_file(self):
        committed = json.load(open(os.path.join(support.bundle_dir("tiny-mnist"), "operating-points.json")))
        got = oppoints.bundle_points("tiny-mnist", "models/tiny-mnist/")
        self.assertEqual(oppoints.compare(committed, got), [])
        self.assertEqual(len(got["operating_points"]), 3)

    def test_compare_sees_differences(self):
        a = {"x": [1, 2.0], "computed_by": "a"}
        self.assertEqual(oppoints.compare(a, {"x": [1, 2.0], "computed_by": "b"}), [])
        self.assertEqual(oppoints.compare(a, {"x": [1, 2.5], "computed_by": "a"}), [".x[1]: 2.0 vs 2.5"])


if __name__ == "__main__":
    unittest.main()
