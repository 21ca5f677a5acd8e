#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Memory budget and a short soak.

  - --stats "memory": the probe's memory by use (flow tables, trees,
    distributions, queues, mbufs), other set-up allocations, the process at
    start-up and their total, from the real allocations: it follows
    --flow-cache-size and --mbufs, trees and distributions only exist with
    windows, and the resident set stays under the total;
  - the live clock stays on the wall clock (stats.live_clock);
  - scripts/soak --minutes 1: a live spoofed SYN flood plus normal traffic with
    windows, alerts, SVM and IPFIX on; memory within the budget, window
    reports on time, every frame accounted (the script's own checks).
"""

import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safem_e2e as e2e  # noqa: E402

USES = ("flow_tables", "trees", "distributions", "queues", "mbufs")
MEMBERS = USES + ("other", "process_start", "total", "rss")
SANITIZED = os.environ.get("SAFEM_SANITIZE", "none") not in ("", "none")


class MemoryBudget(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        e2e.require_probe()
        cls.pcap, cls.truth = e2e.gen_capture("--seed", 4)

    def memory(self, opts):
        run = e2e.run_probe(self.pcap, extra_opts=opts)
        e2e.assert_run_ok(self, run)
        e2e.assert_frames_accounted(self, run.stats)
        mem = run.stats.get("memory")
        self.assertIsInstance(mem, dict, "stats.memory")
        self.assertEqual(set(mem), set(MEMBERS), "stats.memory members")
        for k in MEMBERS:
            self.assertIsInstance(mem[k], int, "stats.memory.%s" % k)
        self.assertEqual(mem["total"], sum(mem[k] for k in USES + ("other", "process_start")))
        if not SANITIZED:
            self.assertLessEqual(mem["rss"], mem["total"], "resident set over the budget")
        return run.stats, mem

    def test_follows_the_allocations(self):
        stats, small = self.memory(["--flow-cache-size", "65536", "--mbufs", "8191"])
        fc = stats["flow_cache"]
        # The table is the entries plus the signature lines and a header.
        self.assertGreaterEqual(small["flow_tables"], fc["bytes_per_worker"])
        self.assertLess(small["flow_tables"], fc["bytes_per_worker"] * 1.25)
        self.assertEqual(small["trees"], 0, "no windows, no trees")
        self.assertEqual(small["distributions"], 0, "no windows, no distributions")
        self.assertGreater(small["queues"], 0)
        self.assertGreaterEqual(small["mbufs"], 8191 * 2048, "8191 mbufs of 2 KB data room")
        _, big = self.memory(["--flow-cache-size", "262144", "--mbufs", "16383"])
        self.assertAlmostEqual(big["flow_tables"] / small["flow_tables"], 4, delta=0.05)
        self.assertAlmostEqual(big["mbufs"] / small["mbufs"], 2, delta=0.05)

    def test_windows_and_detection(self):
        d = e2e.new_dir("mem")
        _, mem = self.memory(["--flow-cache-size", "65536", "--windows",
                              os.path.join(d, "w.jsonl"), "--alerts",
                              os.path.join(d, "a.jsonl"), "--home", "10.0.0.0/8"])
        self.assertGreater(mem["trees"], 0)
        self.assertGreater(mem["distributions"], 0)


class LiveClock(unittest.TestCase):
    def test_stays_on_the_wall_clock(self):
        """The live clock's TSC rate is measured, not taken from EAL's nominal
        frequency (0.15 % off on the VM this was written on: 15 ms after 10 s,
        2.4 s after 30 minutes). Allowed: NTP's largest slew between the
        monotonic and the wall clock (500 ppm) over the run, plus 1 ms."""
        e2e.require_probe()
        pcap, _ = e2e.gen_capture("--profile", "bench", "--flows", 1000, "--packets", 10000,
                                  "--seed", 13)
        run = e2e.run_probe(pcap, vdev_opts="infinite_rx=1", timeout=60, flows=False,
                            extra_opts=["--mbufs", "32768", "--duration", "10s"])
        e2e.assert_run_ok(self, run)
        e2e.assert_frames_accounted(self, run.stats)
        lc = run.stats.get("live_clock")
        self.assertIsInstance(lc, dict, "stats.live_clock on the TSC clock")
        self.assertLess(abs(lc["offset_ms"]), 0.5 * run.elapsed_s + 1.0, lc)
        self.assertAlmostEqual(lc["tsc_hz"] / lc["eal_tsc_hz"], 1, delta=0.05)


class ShortSoak(unittest.TestCase):
    def test_one_minute(self):
        probe = e2e.require_probe()
        if os.geteuid() != 0:
            self.skipTest("scripts/soak needs root for its veth pair")
        d = e2e.new_dir("soak")
        summary = os.path.join(d, "summary.json")
        argv = [sys.executable, os.path.join(e2e.SOURCE_ROOT, "scripts", "soak"),
                "--minutes", "1", "--rate", "10000", "--out", os.path.join(d, "out"),
                "--summary", summary]
        if SANITIZED:
            argv.append("--no-memory-check")
        res = subprocess.run(argv, capture_output=True, text=True, timeout=240,
                             env=dict(os.environ, SAFEM_PROBE=probe))
        if res.returncode == 2 and "cannot create a veth pair" in res.stderr:
            self.skipTest(res.stderr.strip())
        self.assertEqual(res.returncode, 0, "soak failed:\n%s\n%s" % (res.stdout[-3000:],
                                                                     res.stderr[-3000:]))
        with open(summary) as f:
            s = json.load(f)
        self.assertEqual(s["violations"], [])
        self.assertGreaterEqual(s["window_reports"], 55, "a minute of 1 s windows")
        self.assertGreater(s["flows_evicted"], 0, "the flood must overflow the flow cache")
        self.assertEqual(s["rx_packets"] + s["imissed"], s["port_rx_packets"])


if __name__ == "__main__":
    e2e.main()
