#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Conservation invariants of docs/formats.md on generated captures.

rx_packets == parsed_packets + non_ip + parse_errors_total, sum of CSV
packets/bytes == parsed_packets/parsed_bytes, one CSV row per expired flow
(per end reason), and nothing lost when the flow cache is too small
(evictions are counted and show up as end_reason evicted).
"""

import collections
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safem_e2e as e2e  # noqa: E402

SHORT = ("--inactive-timeout", "2s", "--active-timeout", "10s")
TINY_CACHE = ("--flow-cache-size", "16")


class Conservation(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        e2e.require_probe()
        cls.pcap, cls.truth = e2e.gen_capture("--seed", 2)

    def run_checked(self, pcaps, workers=1, opts=(), frames=None):
        run = e2e.run_probe(pcaps, workers=workers, extra_opts=opts)
        e2e.assert_run_ok(self, run)
        e2e.assert_stats_shape(self, run.stats, workers)
        e2e.assert_conservation(self, run)
        e2e.assert_rows_sane(self, run.rows)
        self.assertEqual(run.stats["rx_packets"], frames if frames is not None
                         else self.truth["frames"], "rx_packets != frames in the capture")
        return run

    def test_default_timeouts(self):
        self.run_checked(self.pcap)

    def test_short_timeouts(self):
        run = self.run_checked(self.pcap, opts=SHORT)
        reasons = collections.Counter(r.end_reason for r in run.rows)
        self.assertGreater(reasons["active"], 0, reasons)
        self.assertGreater(reasons["inactive"], 0, reasons)

    def test_two_workers(self):
        self.run_checked(self.pcap, workers=2, opts=SHORT)

    def check_evictions(self, run):
        s = run.stats
        evicted = s["flows"]["expired"]["evicted"]
        self.assertGreater(evicted, 0, "a 16-slot cache must evict on this capture")
        self.assertEqual(sum(1 for r in run.rows if r.end_reason == "evicted"), evicted)
        # Evictions split flows but lose nothing: per-tuple sums stay exact.
        self.assertEqual("", e2e.diff_tuples(e2e.truth_tuples(self.truth),
                                             e2e.aggregate(run.rows)))

    def test_tiny_cache_evicts(self):
        self.check_evictions(self.run_checked(self.pcap, opts=TINY_CACHE))

    def test_tiny_cache_short_timeouts(self):
        self.check_evictions(self.run_checked(self.pcap, opts=TINY_CACHE + SHORT))

    def test_tiny_cache_two_workers(self):
        self.check_evictions(self.run_checked(self.pcap, workers=2, opts=TINY_CACHE))

    def test_many_flows_small_cache(self):
        """20k concurrent bench flows through a 4096-slot cache."""
        pcap, truth = e2e.gen_capture("--profile", "bench", "--flows", 20000, "--packets", 60000)
        run = self.run_checked(pcap, opts=("--flow-cache-size", "4096"), frames=truth["frames"])
        self.assertGreater(run.stats["flows"]["expired"]["evicted"], 0)
        self.assertEqual(run.stats["parsed_bytes"], truth["ip_bytes"])
        self.assertEqual("", e2e.diff_tuples(e2e.truth_tuples(truth), e2e.aggregate(run.rows)))

    def test_two_files_two_queues(self):
        """Two rx_pcap files in one vdev: two RX queues, every frame counted once."""
        other, other_truth = e2e.gen_capture("--profile", "bench", "--flows", 500, "--packets",
                                             3000, "--start", 1700000020)
        frames = self.truth["frames"] + other_truth["frames"]
        run = self.run_checked([self.pcap, other], frames=frames)
        s = run.stats
        self.assertEqual(s["rx_bytes"], self.truth["frame_bytes"] + other_truth["frame_bytes"])
        self.assertEqual(s["non_ip"], self.truth["non_ip"])
        queues = s["ports"][0]["queues"]
        self.assertEqual(len(queues), 2, "one RX queue per rx_pcap file")
        self.assertEqual(sorted(q["ipackets"] for q in queues),
                         sorted((self.truth["frames"], other_truth["frames"])))
        want = e2e.truth_tuples(self.truth)
        for k, v in e2e.truth_tuples(other_truth).items():
            p, b = want.get(k, (0, 0))
            want[k] = (p + v[0], b + v[1])
        self.assertEqual("", e2e.diff_tuples(want, e2e.aggregate(run.rows)))


if __name__ == "__main__":
    e2e.main()
