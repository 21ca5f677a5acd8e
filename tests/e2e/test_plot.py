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
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safem_e2e as e2e  # noqa: E402
import test_windows  # noqa: E402

SCRIPT = os.path.join(e2e.SOURCE_ROOT, "scripts", "plot-entropy")
PNG_SIZE = (1200, 800)  # what the script asks gnuplot for


def run_plot(*args):
    return e2e.run_script(SCRIPT, *args)


describe = e2e.describe_script


class Plot(unittest.TestCase):
    """Drawing from a real probe's report."""

    @classmethod
    def setUpClass(cls):
        e2e.require_gnuplot()
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
        # Two panels of lines, axes and text: tens of KB; an empty canvas is a few KB.
        return e2e.assert_png(self, path, PNG_SIZE, 10000, 5000000)

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


class Errors(e2e.ScriptErrorsMixin, unittest.TestCase):
    """Input and environment errors (need neither the probe nor gnuplot)."""
    prog = "plot-entropy"

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
        self.assert_fails(e2e.run_script_without_gnuplot(SCRIPT, path, self.out), 3, "gnuplot")


if __name__ == "__main__":
    e2e.main_needing_gnuplot()
