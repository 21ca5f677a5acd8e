#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Sampled scans found over several windows (issue 12): evidence over several windows
under packet sampling.

docs/detection.md, "Evidence over several windows" and "Sampled evidence over several
windows": at 1:N a scan leaves one sampled probe per target, a few a window and direction,
too few for one window's evidence; the horizons sum the scanner's and the target's flows
over 2, 4 and 8 windows, with values from every window of the horizon.

One capture of scripts/gen-attacks, seed 95 (not used while the rules or the horizons were
written: tuning seeds 1, 3, 5, 7, 41, 42, 61, 71, 100, 142), 6000 packets/s, 30 s clean
warm-up, then a vertical scan and a horizontal scan, each 10 s at 3 % of the packets with 25 s
gaps, replayed through the real probe with --sample 20 --sample-mode hash (~300 sampled
packets a window, ~9 sampled probes of the scan):
Required: each scan named with its class in at least one window, by a horizon of several
windows (horizon_windows > 1: no rule named that window alone), no other class on a scan
window, no clean window after the warm-up alerted, and a clean capture (seed 96) sampled
the same way raises nothing.
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safem_e2e as e2e  # noqa: E402

HOME = "10.0.0.0/16"
SEED, CLEAN_SEED, WARMUP_S, ATTACK_S, GAP_S, SHARE, RATE = 95, 96, 30, 10, 25, 0.03, 6000
ATTACKS = ["vertical_scan", "horizontal_scan"]
OPTS = ["--home", HOME, "--moving-windows", "20", "--sample", "20", "--sample-mode", "hash"]


class DetectSampled(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        e2e.attack_sequence_run(cls, "sampled", ATTACKS, SEED, HOME, WARMUP_S, ATTACK_S, GAP_S,
                                SHARE, OPTS, rate=RATE)

    def test_sampled_scans_found_over_windows(self):
        e2e.assert_run_ok(self, self.probe_run)
        _, flagged, rows = e2e.attack_horizon_rows(self.truth, self.alerts)
        report, short = [], []
        for att, wins, got, hz in rows:
            report.append("%s: %s (horizons %s)" % (att["spec"], " ".join(got),
                                                    " ".join(map(str, hz))))
            by_horizon = [c for c, h in zip(got, hz) if c == att["class"] and h != "-" and h > 1]
            wrong = [c for c in got if c not in ("-", att["class"])]
            if not by_horizon or wrong:
                short.append(att["spec"])
        false = e2e.clean_windows_alerted(self.truth, flagged, WARMUP_S)
        report.append("clean windows alerted: %d" % len(false))
        msg = "\n".join(report)
        print(msg)
        self.assertEqual(short, [], msg)
        self.assertEqual(false, [], msg)

    def test_clean_sampled_capture_quiet(self):
        clean = os.path.join(self.dir, "clean.pcap")
        e2e.gen_attack_sequence(clean, [], CLEAN_SEED, HOME, WARMUP_S, ATTACK_S, GAP_S, SHARE,
                                rate=RATE, duration=120)
        alerts = os.path.join(self.dir, "clean.alerts.jsonl")
        run = e2e.run_probe(clean, flows=False, extra_opts=["--alerts", alerts] + OPTS)
        e2e.assert_run_ok(self, run)
        self.assertEqual(e2e.read_json_lines(alerts), [])
        # --stats: the sampled fan-out test judged every (sampled) window and saw their first
        # contacts (its findings of the warm-up, before the sources' peaks are learnt, are
        # not alerted: counted, not asserted)
        st = run.stats["fanout_test"]
        self.assertGreater(st["windows"], 100)
        self.assertEqual(st["windows_judged"], st["windows"])
        self.assertGreater(st["contacts"], 0)
        self.assertGreaterEqual(st["ms_max"], 0.0)


if __name__ == "__main__":
    unittest.main()
