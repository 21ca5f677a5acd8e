#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""scripts/eval-behaviour through the real probe (issue 13 item 5 figures).

A short run (one 40 s clean synthetic capture, the two real backgrounds for 40 s when
../shared/pcaps has them, one attack capture): exit 0 (clean behaviour records within the
0.5 % goal), one line per capture, the summary's counts add up, the horizontal and
vertical scanners of the synthetic attack capture are found as scan_exploit with the
scanner as "who". A missing probe exits 2 naming it.
"""
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safem_e2e as e2e  # noqa: E402

SCRIPT = os.path.join(e2e.SOURCE_ROOT, "scripts", "eval-behaviour")


def run_eval(*args, probe=None, timeout=600):
    env = dict(os.environ, SAFEM_PROBE=probe or e2e.probe_path())
    return e2e.run_script(SCRIPT, *args, env=env, timeout=timeout)


class EvalBehaviour(unittest.TestCase):
    def test_short_run(self):
        e2e.require_probe()
        res = run_eval("--clean-seed", "7", "--attack-seed", "8", "--duration", "40",
                       "--real-duration", "40")
        self.assertEqual(res.returncode, 0, e2e.describe_script(res))
        lines = res.stdout.splitlines()
        captures = [x for x in lines if re.match(r"^(clean|real|attacks)-", x)]
        self.assertIn("clean-7", captures[0])
        summary = re.search(r"clean windows (\d+), with a behaviour record (\d+) \(([\d.]+) %",
                            res.stdout)
        self.assertIsNotNone(summary, e2e.describe_script(res))
        total = sum(int(re.search(r"clean windows +(\d+)", x).group(1)) for x in captures)
        self.assertEqual(int(summary.group(1)), total)
        self.assertLessEqual(float(summary.group(3)), 0.5)
        synthetic = next(x for x in captures if x.startswith("attacks-8 "))
        self.assertIn("horizontal_scan:scan_exploit@", synthetic)
        self.assertIn("vertical_scan:scan_exploit@", synthetic)

    def test_missing_probe(self):
        res = run_eval("--clean-seed", "7", probe="/nonexistent/safem-probe")
        self.assertEqual(res.returncode, 2, e2e.describe_script(res))
        self.assertIn("/nonexistent/safem-probe", res.stderr)


if __name__ == "__main__":
    e2e.main()
