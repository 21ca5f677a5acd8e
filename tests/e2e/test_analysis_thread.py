#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The window analysis runs on its own thread (docs/architecture.md, "Analysis thread").

Replay (packet clock), 1 and 2 workers, sliding windows with detection, the flow CSV
on as well:
  * the window reports and alerts are complete (one report per slide over the
    capture, volumes summing to the parsed totals) and identical with 1 and 2
    workers (timings aside): the queue keeps each worker's pane order;
  * --stats has the `analysis` object and it adds up: every pane a worker closed was
    queued and analysed, none refused, the queue never held more than it can.

Live (TSC clock, net_pcap infinite_rx) with an expensive analysis (alpha 1e-4, so
every flow's prefix is kept and printed, 16 q values, short flow timeouts so records
keep coming): no record is dropped at the hand-off while windows keep being reported.
This checks that the main lcore keeps draining records while windows are analysed; it
does not prove that the old single-thread design would have dropped records on this
machine (that needs an analysis slower than the hand-off's slack, which depends on
the load of the box the test runs on).
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safem_e2e as e2e  # noqa: E402

HOME = "10.0.0.0/8"
WARMUP_S = 70  # more than the moving baseline's warm-up at a 1 s slide
ATTACK_S = 20
GAP_S = 10
SHARE = 0.2
WINDOW_PANE_BUFFERS = 4  # app/safem-probe/main.c
Q_VALUES = "-5,-4,-3,-2,-1.5,-1,-0.5,0,0.5,1,1.5,2,3,4,5,6"


def without_timings(obj):
    if isinstance(obj, dict):
        return {k: without_timings(v) for k, v in obj.items()
                if k != "timing" and not k.endswith("_us")}
    if isinstance(obj, list):
        return [without_timings(x) for x in obj]
    return obj


class AnalysisThread(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        e2e.require_probe()
        if not os.path.exists(e2e.GEN_ATTACKS):
            raise unittest.SkipTest("scripts/gen-attacks missing")
        cls.dir = e2e.new_dir("analysis")
        cls.pcap = os.path.join(cls.dir, "attacks.pcap")
        cls.truth = e2e.gen_attack_sequence(cls.pcap, ["syn_flood", "horizontal_scan"], 23, HOME,
                                            WARMUP_S, ATTACK_S, GAP_S, SHARE)
        cls.runs = {}
        for workers in (1, 2):
            windows = os.path.join(cls.dir, "windows-%d.jsonl" % workers)
            alerts = os.path.join(cls.dir, "alerts-%d.jsonl" % workers)
            run = e2e.run_probe(cls.pcap, workers=workers, extra_opts=[
                "--windows", windows, "--alerts", alerts, "--window", "2s", "--slide", "1s"])
            cls.runs[workers] = (run, windows, alerts)

    def outputs(self, workers):
        run, windows, alerts = self.runs[workers]
        e2e.assert_run_ok(self, run)
        e2e.assert_conservation(self, run)
        for path in (windows, alerts):
            self.assertTrue(os.path.exists(path), path + "\n" + run.describe())
            self.assertFalse(os.path.exists(path + ".tmp"))
        return run, e2e.read_json_lines(windows), e2e.read_json_lines(alerts)

    def assert_analysis_stats(self, run, workers):
        s = run.stats
        a = s.get("analysis")
        self.assertIsInstance(a, dict, "stats.analysis missing\n" + run.describe())
        closed = sum(w["windows_closed"] for w in s["workers"])
        self.assertEqual(a["thread"], "control")
        self.assertEqual(a["panes_queued"], closed, "every closed pane is queued")
        self.assertEqual(a["panes_analysed"], a["panes_queued"], "every queued pane analysed")
        self.assertEqual(a["queue_full"], 0)
        self.assertEqual(a["queue_size"], workers * (WINDOW_PANE_BUFFERS + 1))
        self.assertGreaterEqual(a["queue_high_water"], 1)
        self.assertLessEqual(a["queue_high_water"], workers * WINDOW_PANE_BUFFERS)
        self.assertGreater(a["busy_ms_total"], 0)
        self.assertLessEqual(a["busy_ms_max"], a["busy_ms_total"])
        return a

    def test_reports_complete(self):
        run, reports, alerts = self.outputs(1)
        s = run.stats
        starts = [r["end_ms"] - 1000 for r in reports]
        self.assertEqual(starts, list(range(starts[0], starts[0] + 1000 * len(starts), 1000)),
                         "one report per slide, none missing")
        self.assertEqual(len(reports), s["windows"]["reported"])
        self.assertTrue(all(r["end_ms"] - r["start_ms"] == 2000 for r in reports))
        duration_s = WARMUP_S + 2 * (ATTACK_S + GAP_S)
        self.assertTrue(duration_s <= len(reports) <= duration_s + 2,
                        "%d reports for a %d s capture" % (len(reports), duration_s))
        # Every packet is in two 2 s windows, but those of the last pane in one.
        total = sum(r["packets"] for r in reports)
        self.assertTrue(s["parsed_packets"] < total <= 2 * s["parsed_packets"],
                        "%d packets over the windows, %d parsed" % (total, s["parsed_packets"]))
        self.assertGreater(len(alerts), 0, "the attacks raised no alert")
        self.assertEqual(s["detection"]["windows"], len(reports))
        self.assertEqual(s["records"]["dropped"], 0)
        self.assert_analysis_stats(run, 1)

    def test_one_and_two_workers_identical(self):
        _, one, alerts_one = self.outputs(1)
        run2, two, alerts_two = self.outputs(2)
        self.assertEqual(len(one), len(two))
        for a, b in zip(one, two):
            self.assertEqual(without_timings(a), without_timings(b))
        self.assertEqual([without_timings(a) for a in alerts_one],
                         [without_timings(a) for a in alerts_two])
        a = self.assert_analysis_stats(run2, 2)
        # Both workers close every pane, so each window needs two panes.
        self.assertEqual(a["panes_queued"] % 2, 0)

    def test_live_expensive_analysis_drops_no_record(self):
        # infinite_rx holds the whole file in mbufs: 5000 flows in 20000 packets.
        pcap, _ = e2e.gen_capture("--profile", "bench", "--flows", 5000, "--packets", 20000,
                                  "--seed", 5)
        windows = os.path.join(self.dir, "live-windows.jsonl")
        run = e2e.run_probe(pcap, vdev_opts="infinite_rx=1", timeout=60, extra_opts=[
            "--mbufs", "32768", "--duration", "4s", "--windows", windows,
            "--alerts", os.path.join(self.dir, "live-alerts.jsonl"),
            "--active-timeout", "1s", "--inactive-timeout", "1s",
            "--alpha", "0.0001", "--q=" + Q_VALUES])
        e2e.assert_run_ok(self, run)
        s = run.stats
        self.assertEqual(s["clock"], "tsc")
        self.assertGreater(s["records"]["exported"], 0)
        self.assertEqual(s["records"]["dropped"], 0, "records dropped at the hand-off")
        self.assertEqual(s["records"]["written"], s["records"]["exported"])
        reports = e2e.read_json_lines(windows)
        self.assertGreaterEqual(len(reports), 2, "windows stopped coming\n" + run.describe())
        self.assertEqual(len(reports), s["windows"]["reported"])
        # alpha 1e-4 keeps every one of the 5000 sources: the reports are large.
        self.assertGreater(max(len(r["prefixes"]["src_packets"]) for r in reports), 1000)
        self.assert_analysis_stats(run, 1)


if __name__ == "__main__":
    e2e.main()
