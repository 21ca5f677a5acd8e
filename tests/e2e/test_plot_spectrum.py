#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""scripts/plot-spectrum on a real probe's window report and alerts (issue 4).

A short gen-attacks capture (30 s clean warm-up, a 5 s SYN flood at 5 %) goes through
safem-probe --windows --alerts; the script draws its spectrum. Checked:
  * a PNG comes out (signature, IHDR of the size asked for, plausible byte count) for
    the default direction and weight, and for --direction all --weight flows/bytes,
    with and without --alerts; OUT.png.tmp is not left behind;
  * bad input exits 2 naming file and line (not JSON, a window without spectrum, a
    direction the report lacks, a malformed alert line), a missing or empty file exits 2,
    bad arguments exit 2, no gnuplot on PATH exits 3; no PNG is written on error.
Without gnuplot the drawing tests are skipped and the test reports skipped (77).
"""
import json
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safem_e2e as e2e  # noqa: E402

SCRIPT = os.path.join(e2e.SOURCE_ROOT, "scripts", "plot-spectrum")
GEN_ATTACKS = os.path.join(e2e.SOURCE_ROOT, "scripts", "gen-attacks")
PNG_SIZE = (1200, 1400)
HOME = "10.0.0.0/16"


def run_plot(*args):
    return e2e.run_script(SCRIPT, *args)


describe = e2e.describe_script


class Plot(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        e2e.require_gnuplot()
        cls.dir = e2e.new_dir("plot-spectrum")
        pcap = os.path.join(cls.dir, "syn.pcap")
        subprocess.run([sys.executable, GEN_ATTACKS, "--output", pcap, "--seed", "5",
                        "--rate", "1000", "--duration", "42", "--home", HOME,
                        "--attack", "syn_flood:30:5:0.05"], check=True,
                       stdout=subprocess.DEVNULL, timeout=120)
        cls.windows = os.path.join(cls.dir, "windows.jsonl")
        cls.alerts = os.path.join(cls.dir, "alerts.jsonl")
        cls.probe_run = e2e.run_probe(pcap, workers=2, flows=False, extra_opts=[
            "--windows", cls.windows, "--alerts", cls.alerts, "--home", HOME,
            "--moving-windows", "20"])

    def setUp(self):
        e2e.assert_run_ok(self, self.probe_run)
        self.assertTrue(os.path.exists(self.windows), self.probe_run.describe())

    def assert_png(self, path):
        # Four panels of seven lines and bands: well over 20 KB.
        e2e.assert_png(self, path, PNG_SIZE, 20000, 10000000)

    def test_report_has_what_the_script_reads(self):
        with open(self.windows) as f:
            w = json.loads(f.readline())
        self.assertIn("q", w["spectrum"])
        for d in ("all", "in"):
            for feat in ("src_addr", "dst_addr", "src_port", "dst_port"):
                for weight in ("flows", "packets", "bytes"):
                    self.assertEqual(len(w["spectrum"][d][feat][weight]), len(w["spectrum"]["q"]))
        self.assertIn("anomalous", w)
        self.assertIn("class", w)

    def test_default_with_alerts(self):
        out = os.path.join(e2e.new_dir("png"), "spectrum.png")
        res = run_plot(self.windows, "--alerts", self.alerts, "--output", out)
        self.assertEqual(res.returncode, 0, describe(res))
        self.assert_png(out)
        print("plot: %s" % out, file=sys.stderr)

    def test_directions_and_weights(self):
        out_dir = e2e.new_dir("png")
        for direction, weight in (("all", "flows"), ("in", "bytes"), ("out", "packets")):
            out = os.path.join(out_dir, "%s-%s.png" % (direction, weight))
            res = run_plot(self.windows, "--direction", direction, "--weight", weight, "-o", out,
                           "--title", "Bob's \"flood\" 100%_test")
            self.assertEqual(res.returncode, 0, describe(res))
            self.assert_png(out)


class Errors(e2e.ScriptErrorsMixin, unittest.TestCase):
    """Input and environment errors (need neither the probe nor gnuplot)."""
    prog = "plot-spectrum"

    def good_line(self, start_ms, directions=("all", "in")):
        q = [-2, -1, 0, 1, 2]
        spec = {"q": q}
        for d in directions:
            spec[d] = {f: {w: [1.5, 1.2, 0.4, 0.3, 0.9] for w in ("flows", "packets", "bytes")}
                       for f in ("src_addr", "dst_addr", "src_port", "dst_port")}
        return json.dumps({"start_ms": start_ms, "end_ms": start_ms + 1000, "packets": 10,
                           "spectrum": spec, "direction": directions[-1],
                           "anomalous": start_ms == 3000, "class": "normal"}) + "\n"

    def test_missing_and_empty(self):
        path = os.path.join(self.dir, "nope.jsonl")
        self.assert_fails(run_plot(path, "-o", self.out), 2, path, "No such file")
        path = self.write("empty.jsonl", "\n")
        self.assert_fails(run_plot(path, "-o", self.out), 2, path, "empty")

    def test_line_not_json(self):
        path = self.write("bad.jsonl", self.good_line(1000) + self.good_line(2000) + "{\"x\":\n")
        self.assert_fails(run_plot(path, "-o", self.out), 2, path + ":3:", "not a JSON object")

    def test_window_without_spectrum(self):
        line = json.dumps({"start_ms": 2000, "end_ms": 3000, "packets": 1}) + "\n"
        path = self.write("nospec.jsonl", self.good_line(1000) + line)
        self.assert_fails(run_plot(path, "-o", self.out), 2, path + ":2:", "spectrum")

    def test_wrong_length_and_direction(self):
        w = json.loads(self.good_line(2000))
        w["spectrum"]["in"]["dst_port"]["packets"] = [1, 2]
        path = self.write("short.jsonl", self.good_line(1000) + json.dumps(w) + "\n")
        self.assert_fails(run_plot(path, "-o", self.out), 2, path + ":2:",
                          "spectrum.in.dst_port.packets")
        path = self.write("alldir.jsonl", self.good_line(1000, ("all",)))
        self.assert_fails(run_plot(path, "--direction", "out", "-o", self.out), 2,
                          path + ":1:", "direction 'out'")

    def test_bad_alerts(self):
        windows = self.write("ok.jsonl", self.good_line(1000) + self.good_line(2000))
        alerts = self.write("alerts.jsonl", json.dumps(
            {"start_ms": 1000, "end_ms": 2000, "class": "syn_flood", "record": "start"}) +
            "\n" + json.dumps({"start_ms": "x", "end_ms": 2000, "class": "unknown"}) + "\n")
        self.assert_fails(run_plot(windows, "--alerts", alerts, "-o", self.out), 2,
                          alerts + ":2:", "start_ms")

    def test_bad_arguments(self):
        path = self.write("ok.jsonl", self.good_line(1000))
        self.assert_fails(run_plot(path, "--weight", "hosts", "-o", self.out), 2, "--weight")
        self.assert_fails(run_plot(path), 2, "--output")

    def test_no_gnuplot(self):
        path = self.write("ok.jsonl", self.good_line(1000))
        self.assert_fails(e2e.run_script_without_gnuplot(SCRIPT, path, "-o", self.out), 3, "gnuplot")

    def test_synthetic_report_draws(self):
        if shutil.which("gnuplot") is None:
            self.skipTest("gnuplot not installed")
        path = self.write("ok.jsonl", "".join(self.good_line(t) for t in range(1000, 9000, 1000)))
        res = run_plot(path, "-o", self.out)
        self.assertEqual(res.returncode, 0, describe(res))
        with open(self.out, "rb") as f:
            self.assertEqual(f.read(8), e2e.PNG_MAGIC)
        os.unlink(self.out)


if __name__ == "__main__":
    e2e.main_needing_gnuplot()
