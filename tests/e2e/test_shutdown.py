#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Clean shutdown: SIGINT, SIGTERM and --duration end a run that would never end.

The capture is replayed with net_pcap infinite_rx=1 (it loops forever, and
carries no capture timestamps, so the probe runs on the TSC clock). After the
stop: exit 0, a complete flow CSV (header, every row parses, no .tmp left),
stats with rx_packets > 0 and the conservation invariants, and the flows still
open at the stop exported with end_reason end_of_input.
"""

import collections
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safem_e2e as e2e  # noqa: E402

RUN_BEFORE_SIGNAL_S = 2.0
STOP_WITHIN_S = 15.0  # after the signal or the --duration


class Shutdown(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        e2e.require_probe()
        # infinite_rx keeps every packet of the file in mbufs: stay well under --mbufs.
        cls.pcap, cls.truth = e2e.gen_capture("--profile", "bench", "--flows", 1000, "--packets",
                                              4000, "--seed", 5)

    def check_stopped_run(self, run, wall_start_ms, wall_end_ms, workers):
        e2e.assert_run_ok(self, run)
        e2e.assert_stats_shape(self, run.stats, workers)
        s = run.stats
        self.assertGreater(s["rx_packets"], 0, "nothing received before the stop")
        e2e.assert_conservation(self, run)
        e2e.assert_rows_sane(self, run.rows)
        reasons = collections.Counter(r.end_reason for r in run.rows)
        self.assertGreater(reasons["end_of_input"], 0, "no end_of_input rows: %s" % reasons)
        # Every tuple of the file was seen (each is visited every 1000 packets).
        if s["rx_packets"] >= 2 * self.truth["frames"]:
            self.assertEqual(set(e2e.aggregate(run.rows)), set(e2e.truth_tuples(self.truth)))
        self.assertEqual(s["clock"], "tsc", "infinite_rx frames carry no timestamps")
        slack_ms = 5000
        for r in run.rows:
            self.assertTrue(wall_start_ms - slack_ms <= r.first_ms <= r.last_ms <=
                            wall_end_ms + slack_ms,
                            "TSC-clock row times must be Unix ms of the run: %r (run %d..%d)"
                            % (r, wall_start_ms, wall_end_ms))

    def signal_run(self, sig, workers=1):
        start_ms = int(time.time() * 1000)
        run = e2e.run_probe(self.pcap, workers=workers, vdev_opts="infinite_rx=1",
                            signal_after=(RUN_BEFORE_SIGNAL_S, sig, True),
                            timeout=RUN_BEFORE_SIGNAL_S + STOP_WITHIN_S)
        end_ms = int(time.time() * 1000)
        self.assertGreater(run.elapsed_s, RUN_BEFORE_SIGNAL_S * 0.9,
                           "the run ended before the signal: infinite_rx must not end\n"
                           + run.describe())
        self.check_stopped_run(run, start_ms, end_ms, workers)

    def test_sigint(self):
        self.signal_run(signal.SIGINT)

    def test_sigterm(self):
        self.signal_run(signal.SIGTERM)

    def test_sigint_two_workers(self):
        self.signal_run(signal.SIGINT, workers=2)

    def test_duration(self):
        start_ms = int(time.time() * 1000)
        run = e2e.run_probe(self.pcap, vdev_opts="infinite_rx=1", extra_opts=["--duration", "2s"],
                            timeout=2 + STOP_WITHIN_S)
        end_ms = int(time.time() * 1000)
        self.assertGreaterEqual(run.elapsed_s, 2.0, "stopped before --duration\n" + run.describe())
        self.check_stopped_run(run, start_ms, end_ms, 1)
        self.assertGreaterEqual(run.stats["elapsed_s"], 1.9, "stats.elapsed_s")

    def test_sigint_during_replay_with_packet_clock(self):
        """A signal while replaying a finite file (packet clock) also ends cleanly.

        The signal comes a third of a complete replay's time after the probe
        reports it is running, so it lands inside the replay."""
        pcap, truth = e2e.gen_capture("--profile", "bench", "--flows", 200000, "--packets",
                                      1000000, "--seed", 6)
        full = e2e.run_probe(pcap, timeout=120)
        e2e.assert_run_ok(self, full)
        delay = full.stats["elapsed_s"] / 3
        run = e2e.run_probe(pcap, signal_after=(delay, signal.SIGINT, True), timeout=120)
        e2e.assert_run_ok(self, run)
        e2e.assert_conservation(self, run)
        s = run.stats
        self.assertEqual(s["clock"], "packet")
        self.assertLessEqual(s["rx_packets"], truth["frames"])
        if s["rx_packets"] < truth["frames"]:  # stopped inside the replay, as intended
            reasons = collections.Counter(r.end_reason for r in run.rows)
            self.assertGreater(reasons["end_of_input"], 0, reasons)
        else:
            print("\nINFO: the signal (%.2f s) came after the end of the replay" % delay,
                  file=sys.stderr)

if __name__ == "__main__":
    e2e.main()
