#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""scripts/plot-hosts on real window reports (issue 13: the Top-N host view as a picture).

A gen-attacks capture with a horizontal scanner goes through safem-probe --windows --top 8;
the script draws its host view. Checked:
  * the report's hosts lists hold at most --top hosts each, ranked by their metric;
  * a PNG comes out (magic bytes, IHDR of the size asked for, a plausible byte count) for
    each ranking, and the picture's data names the scanner with profile scan_exploit;
  * a missing, empty or malformed windows file, or a report without hosts (--top 0):
    exit 2 naming the file and line, no PNG written; bad arguments: exit 2; no gnuplot
    on PATH: exit 3.
Without gnuplot the drawing tests are skipped and the whole test reports skipped (77).
"""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safem_e2e as e2e  # noqa: E402

SCRIPT = os.path.join(e2e.SOURCE_ROOT, "scripts", "plot-hosts")
PNG_SIZE = (1200, 900)
HOME = "10.0.0.0/16"


def run_plot(*args):
    return e2e.run_script(SCRIPT, *args)


describe = e2e.describe_script


class Plot(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        e2e.require_gnuplot()
        if not os.path.exists(e2e.GEN_ATTACKS):
            raise unittest.SkipTest("scripts/gen-attacks missing")
        cls.dir = e2e.new_dir("plot-hosts")
        pcap = os.path.join(cls.dir, "scan.pcap")
        cls.truth = e2e.gen_attack_sequence(pcap, ["horizontal_scan"], seed=31, home=HOME,
                                            warmup_s=3, attack_s=6, gap_s=2, share=0.1)
        cls.windows = os.path.join(cls.dir, "windows.jsonl")
        cls.probe_run = e2e.run_probe(pcap, flows=False, extra_opts=[
            "--windows", cls.windows, "--top", "8", "--model", "none", "--home", HOME])

    def test_report_top_lists(self):
        e2e.assert_run_ok(self, self.probe_run)
        for w in e2e.read_json_lines(self.windows):
            for metric in ("flows", "packets", "bytes"):
                top = w["hosts"]["by_" + metric]
                self.assertLessEqual(len(top), 8)
                values = [h[metric] for h in top]
                self.assertEqual(values, sorted(values, reverse=True))

    def test_each_ranking(self):
        e2e.assert_run_ok(self, self.probe_run)
        out_dir = e2e.new_dir("png")
        for metric in ("flows", "packets", "bytes"):
            out = os.path.join(out_dir, "hosts-%s.png" % metric)
            res = run_plot(self.windows, out, "--by", metric, "--title", "it's 100% \"hosts\"")
            self.assertEqual(res.returncode, 0, describe(res))
            e2e.assert_png(self, out, PNG_SIZE, 10000, 5000000)
        print("plot: %s" % os.path.join(out_dir, "hosts-flows.png"), file=sys.stderr)

    def test_scanner_in_the_picture(self):
        sys.path.insert(0, os.path.join(e2e.SOURCE_ROOT, "scripts"))
        import importlib.machinery
        import importlib.util
        loader = importlib.machinery.SourceFileLoader("plot_hosts", SCRIPT)
        spec = importlib.util.spec_from_loader("plot_hosts", loader)
        ph = importlib.util.module_from_spec(spec)
        loader.exec_module(ph)
        rows = ph.read_hosts(self.windows, "flows")
        summary = ph.summarise(rows, "flows", 10)
        scanner = self.truth["attacks"][0]["involved"]["scanners"][0]
        port = self.truth["attacks"][0]["involved"]["target_port"]
        entry = [s for s in summary if s[0] == scanner]
        self.assertEqual(len(entry), 1, summary)
        self.assertEqual(entry[0][2], "scan_exploit")
        self.assertEqual(entry[0][3], port)


class Errors(e2e.ScriptErrorsMixin, unittest.TestCase):
    prog = "plot-hosts"

    def good_line(self, start_ms, hosts=True):
        h = {"host": "10.0.0.1", "flows": 5, "packets": 9, "bytes": 900, "peers": 3,
             "ports": [{"port": 443, "flows": 5}], "profile": "server"}
        report = {"start_ms": start_ms, "end_ms": start_ms + 1000, "packets": 9,
                  "bytes": 900, "flows": 5}
        if hosts:
            report["hosts"] = {"by_flows": [h], "by_packets": [h], "by_bytes": [h]}
        return json.dumps(report) + "\n"

    def test_missing_file(self):
        path = os.path.join(self.dir, "nope.jsonl")
        self.assert_fails(run_plot(path, self.out), 2, path, "No such file")

    def test_empty_file(self):
        path = self.write("empty.jsonl", "\n")
        self.assert_fails(run_plot(path, self.out), 2, path, "empty")

    def test_line_not_json(self):
        path = self.write("bad.jsonl", self.good_line(1000) + "{\"start_ms\": \n")
        self.assert_fails(run_plot(path, self.out), 2, path + ":2:", "not a JSON object")

    def test_no_hosts_member(self):
        path = self.write("nohosts.jsonl", self.good_line(1000) + self.good_line(2000, False))
        self.assert_fails(run_plot(path, self.out), 2, path + ":2:", "hosts.by_flows")

    def test_bad_arguments(self):
        path = self.write("ok.jsonl", self.good_line(1000))
        self.assert_fails(run_plot(path, self.out, "--by", "hosts"), 2, "--by")
        self.assert_fails(run_plot(path, self.out, "--top", "0"), 2, "--top")
        self.assert_fails(run_plot(path), 2, "OUT.png")

    def test_no_gnuplot(self):
        path = self.write("ok.jsonl", self.good_line(1000))
        self.assert_fails(e2e.run_script_without_gnuplot(SCRIPT, path, self.out), 3, "gnuplot")


if __name__ == "__main__":
    e2e.main_needing_gnuplot()
