#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""scripts/plot-entropy on real window reports (issue 3: "a script in scripts/ draws a PNG
of entropy per window over time").

The SYN-flood capture of test_windows.py goes through safem-probe --windows; the script
draws its entropies. Checked:
  * a PNG comes out (magic bytes, IHDR of the size asked for, a plausible byte count) for
    each metric, with a title that gnuplot would otherwise misread (quote, underscore);
  * OUT.png is replaced whole and no OUT.png.tmp is left;
  * a missing, empty or malformed windows file: exit 2, the message names the file and
    line, no PNG written; bad arguments: exit 2; no gnuplot on PATH: exit 3.

Without gnuplot the drawing tests are skipped and, once the rest passed, the whole test
reports skipped (exit 77), since its main purpose was not tested.
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safem_e2e as e2e  # noqa: E402
import test_windows  # noqa: E402

SCRIPT = os.path.join(e2e.SOURCE_ROOT, "scripts", "plot-entropy")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PNG_SIZE = (1200, 800)  # what the script asks gnuplot for


def run_plot(*args, env=None):
    argv = [sys.executable, SCRIPT] + [str(a) for a in args]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=180, env=env)
    res.argv = argv
    return res


def describe(res):
    return "command: %s\nexit code: %d\n--- stdout ---\n%s\n--- stderr ---\n%s" % (
        " ".join(res.argv), res.returncode, res.stdout[-2000:], res.stderr[-2000:])


def require_gnuplot():
    if shutil.which("gnuplot") is None:
        raise unittest.SkipTest("gnuplot not installed (apt-get install gnuplot-nox)")


class Plot(unittest.TestCase):
    """Drawing from a real probe's report."""

    @classmethod
    def setUpClass(cls):
        require_gnuplot()
        cls.dir = e2e.new_dir("plot")
        pcap = os.path.join(cls.dir, "synflood.pcap")
        test_windows.build_capture(pcap)
        cls.windows = os.path.join(cls.dir, "windows.jsonl")
        cls.probe_run = e2e.run_probe(pcap, workers=1, flows=False,
                                extra_opts=["--windows", cls.windows, "--window", "1s"])

    def setUp(self):
        e2e.assert_run_ok(self, self.probe_run)
        self.assertTrue(os.path.exists(self.windows), self.probe_run.describe())

    def assert_png(self, path):
        self.assertTrue(os.path.isfile(path), "no PNG at %s" % path)
        self.assertFalse(os.path.exists(path + ".tmp"), ".tmp left behind")
        with open(path, "rb") as f:
            blob = f.read()
        self.assertEqual(blob[:8], PNG_MAGIC, "not a PNG")
        # First chunk IHDR: width, height (big-endian) after length and type.
        self.assertEqual(blob[12:16], b"IHDR")
        self.assertEqual(struct.unpack(">II", blob[16:24]), PNG_SIZE)
        # Two panels of lines, axes and text: tens of KB; an empty canvas is a few KB.
        self.assertGreater(len(blob), 10000, "PNG suspiciously small")
        self.assertLess(len(blob), 5000000, "PNG suspiciously large")
        return blob

    def test_each_metric(self):
        out_dir = e2e.new_dir("png")
        for metric in ("packets", "bytes", "flows"):
            out = os.path.join(out_dir, "entropy-%s.png" % metric)
            res = run_plot(self.windows, out, "--metric", metric)
            self.assertEqual(res.returncode, 0, describe(res))
            self.assert_png(out)
        # Keep one for a human to look at when SAFEM_E2E_KEEP=1.
        print("plot: %s" % os.path.join(out_dir, "entropy-packets.png"), file=sys.stderr)

    def test_default_metric_title_and_replace(self):
        out = os.path.join(e2e.new_dir("png"), "entropy.png")
        with open(out, "wb") as f:
            f.write(b"old")
        res = run_plot(self.windows, out, "--title", "Bob's flood_test 100% \"quoted\"")
        self.assertEqual(res.returncode, 0, describe(res))
        self.assert_png(out)


class Errors(unittest.TestCase):
    """Input and environment errors (need neither the probe nor gnuplot)."""

    def setUp(self):
        self.dir = e2e.new_dir("plot-errors")
        self.out = os.path.join(self.dir, "out.png")

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def assert_fails(self, res, code, *words):
        self.assertEqual(res.returncode, code, describe(res))
        self.assertTrue(res.stderr.startswith("plot-entropy: ") or code == 2, describe(res))
        for w in words:
            self.assertIn(w, res.stderr, describe(res))
        self.assertFalse(os.path.exists(self.out), "PNG written despite the error")
        self.assertFalse(os.path.exists(self.out + ".tmp"), ".tmp left behind")

    def good_line(self, start_ms):
        ent = {"aggregated": 3.5, "normalised": 0.5, "exact": 3.0,
               "exact_is_lower_bound": False, "exact_error_bound": 0.0}
        entropy = {"%s_%s" % (d, m): dict(ent) for d in ("src", "dst")
                   for m in ("bytes", "packets", "flows")}
        return json.dumps({"start_ms": start_ms, "end_ms": start_ms + 1000, "packets": 10,
                           "bytes": 1000, "flows": 2, "entropy": entropy}) + "\n"

    def test_missing_file(self):
        path = os.path.join(self.dir, "nope.jsonl")
        self.assert_fails(run_plot(path, self.out), 2, path, "No such file")

    def test_empty_file(self):
        path = self.write("empty.jsonl", "\n\n")
        self.assert_fails(run_plot(path, self.out), 2, path, "empty")

    def test_line_not_json(self):
        path = self.write("bad.jsonl", self.good_line(1000) + self.good_line(2000) +
                          "{\"start_ms\": 3000, \n")
        self.assert_fails(run_plot(path, self.out), 2, path + ":3:", "not a JSON object")

    def test_field_missing(self):
        line = self.good_line(2000).replace("\"dst_packets\"", "\"dst_pkts\"")
        path = self.write("partial.jsonl", self.good_line(1000) + line)
        self.assert_fails(run_plot(path, self.out), 2, path + ":2:",
                          "entropy.dst_packets.aggregated")
        # The metric chosen decides what must be present: bytes are all there.
        res = run_plot(path, self.out, "--metric", "bytes")
        if shutil.which("gnuplot") is not None:
            self.assertEqual(res.returncode, 0, describe(res))
            os.unlink(self.out)

    def test_field_not_a_number(self):
        path = self.write("text.jsonl", self.good_line(1000).replace("\"start_ms\": 1000",
                                                                    "\"start_ms\": \"soon\""))
        self.assert_fails(run_plot(path, self.out), 2, path + ":1:", "start_ms")

    def test_flow_csv_given_by_mistake(self):
        path = self.write("flows.csv", ",".join(e2e.CSV_HEADER) + "\n")
        self.assert_fails(run_plot(path, self.out), 2, path + ":1:")

    def test_bad_arguments(self):
        path = self.write("ok.jsonl", self.good_line(1000))
        self.assert_fails(run_plot(path, self.out, "--metric", "hosts"), 2, "--metric")
        self.assert_fails(run_plot(path), 2, "OUT.png")

    def test_no_gnuplot(self):
        path = self.write("ok.jsonl", self.good_line(1000))
        env = dict(os.environ, PATH=e2e.new_dir("empty-path"))
        self.assert_fails(run_plot(path, self.out, env=env), 3, "gnuplot")


def main():
    if shutil.which("gnuplot") is None:
        # Run what needs no gnuplot; report the test skipped if that passed.
        prog = unittest.TestProgram(module="__main__", exit=False, verbosity=2)
        if not prog.result.wasSuccessful():
            sys.exit(1)
        print("SKIP: gnuplot not installed (apt-get install gnuplot-nox): no PNG drawn",
              file=sys.stderr)
        sys.exit(e2e.EXIT_SKIP)
    e2e.main()


if __name__ == "__main__":
    main()
