"""The torch-free modules import, and verify runs, where `import torch` fails (a child process
with torch blocked), so `pip install ./models` without the torch extra is usable."""
import subprocess
import sys
import unittest

import support

TORCH_FREE = ["bundle", "rules", "cli", "onnxcheck", "parts", "exporter", "verify", "oppoints"]
NEEDS_TORCH = ["exitnet", "nets", "train", "all"]


def child(code):
    prog = f"import sys; sys.modules['torch'] = None; sys.path.insert(0, {support.REPO!r})\n" + code
    return subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, cwd=support.REPO)


class TorchFree(unittest.TestCase):
    def test_modules_import_without_torch(self):
        for m in TORCH_FREE:
            with self.subTest(m):
                p = child(f"import models.train.{m}")
                self.assertEqual(p.returncode, 0, p.stderr)

    def test_the_block_works(self):
        # The same child cannot import the training code: the block is real.
        for m in NEEDS_TORCH:
            with self.subTest(m):
                p = child(f"import models.train.{m}")
                self.assertNotEqual(p.returncode, 0)
                self.assertIn("import of torch halted", p.stderr)

    def test_verify_runs_without_torch(self):
        p = child("from models.train.verify import check\n"
                  f"r = check({support.bundle_dir('tiny-mnist')!r})\n"
                  "assert r['max_abs_diff_vs_reference'] <= 1e-4, r\nprint('ok')")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), "ok")


if __name__ == "__main__":
    unittest.main()
