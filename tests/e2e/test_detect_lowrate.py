#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""ICMP floods on a low-rate real link (issue 12; docs/detection.md, "ICMP floods on
low-rate links").

Through the real binary (default options and --home 10.0.0.0/8, as the evaluation runs real
backgrounds): bg_zeek_protomix.pcap of ../shared/pcaps (15-270 packets/s, windows of 6-50
flows: low-rate) as the background of scripts/gen-attacks (seed 95, not used while the rule
was written), with two floods from one source, one flow each, at 90 % of the packets of their
windows for 10 s: IPv4 echo requests on a home host (direction in) and IPv6 echo requests
between two hosts of 2001:db8::/32 (transit with an IPv4 --home: direction all). Before the
rule, packets were not judged on low-rate windows and neither flood was ever alerted (0 of
20 windows). Now:

  - every flood window is low-rate (the windows report says so), and each flood is alerted
    as icmp_flood in at least 8 of its 10 windows (a flood outweighs the link: its ICMP
    packets past their band are more than the link's busiest baseline windows carried in
    all; the first windows of the IPv6 flood can fall short of that edge);
  - clean windows scored by the evaluation (from 200 s on) stay quiet: at most one alerted.

The clean burst of one connection (a few dozen pings to one host on such a link: not named)
is the unit test test_low_rate_icmp_flood (tests/unit/test_detect.c).

Floods under the link's busiest windows ("unanswered ICMP queries"): bg_ndpi_appmix.pcap
(--home 192.168.0.0/16, seed 95 as above) with two one-source echo-request floods at 20 % of
the packets of their windows for 10 s, IPv4 on a home host and IPv6 between two outside hosts
(40-130 ICMP packets a window against a busiest window of 200-700 packets; some of their
windows are low-rate, and a missed first window is learnt and widens ICMP's band for the
rest). Each must be named icmp_flood in at least 8 of its 10 windows (main before the rule:
6 and 0; now 10 and 9), at most one clean window alerted from 200 s on.

One pair's surge of another ICMP type ("ICMP floods of any type on low-rate links (session
12)"): bg_zeek_protomix.pcap (--home 10.0.0.0/8, seed 95) with a one-source ICMPv6
destination-unreachable flood (type 1, code 4) between two hosts of 2001:db8::/32 at 20 % of
the packets for 10 s from 200 s, when the link carries 400-550 packets a window and a fifth
of them ICMP in its busiest windows: the flood stays inside ICMP's band and under the
link's busiest window, and is no query type. It must be named icmp_flood in at least 8 of its
10 windows (main before the rule: 0 of 10), at most one clean window alerted from 200 s on.

Each case is skipped with a message when its background is missing from ../shared/pcaps.
"""
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safem_e2e as e2e  # noqa: E402

BACKGROUND = os.path.join(e2e.SHARED_PCAPS, "bg_zeek_protomix.pcap")
HOME = "10.0.0.0/8"
SEED = 95
SCORED_FROM_S = 200  # the evaluation's real backgrounds: the first 200 s are never scored
FLOODS = ["icmp_flood:220:10:0.9", "icmp_flood:270:10:0.9,family=6"]
DURATION_S = 320
MIN_RIGHT = 8
# floods under the busiest windows: unanswered echo requests at 20 %
BACKGROUND_UNDER = os.path.join(e2e.SHARED_PCAPS, "bg_ndpi_appmix.pcap")
HOME_UNDER = "192.168.0.0/16"
FLOODS_UNDER = ["icmp_flood:220:10:0.2", "icmp_flood:260:10:0.2,family=6"]
# one pair's surge of an error type, inside ICMP's band
FLOODS_PAIR = ["icmp_flood:200:10:0.2,family=6,type=1,code=4"]
DURATION_PAIR_S = 260


class DetectLowRateIcmp(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(e2e.GEN_ATTACKS):
            raise unittest.SkipTest("scripts/gen-attacks missing")
        cls.dir = e2e.new_dir("lowrate")

    def test_icmp_floods_on_low_rate_link(self):
        self.check_floods(BACKGROUND, HOME, FLOODS, DURATION_S, "lowrate", True)

    def test_icmp_floods_under_busiest_windows(self):
        self.check_floods(BACKGROUND_UNDER, HOME_UNDER, FLOODS_UNDER, DURATION_S, "under",
                          False)

    def test_icmp_error_flood_of_one_pair(self):
        self.check_floods(BACKGROUND, HOME, FLOODS_PAIR, DURATION_PAIR_S, "pair", True)

    def check_floods(self, background, home, floods, duration_s, name, all_low_rate):
        if not os.path.isfile(background):
            self.skipTest("%s missing: low-rate real-background test skipped" % background)
        pcap = os.path.join(self.dir, name + ".pcap")
        argv = [sys.executable, e2e.GEN_ATTACKS, "--output", pcap, "--truth", pcap + ".json",
                "--seed", str(SEED), "--background-pcap", background, "--home", home,
                "--duration", str(duration_s)]
        for a in floods:
            argv += ["--attack", a]
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        with open(pcap + ".json") as f:
            truth = json.load(f)
        alerts = os.path.join(self.dir, name + ".alerts.jsonl")
        windows = os.path.join(self.dir, name + ".windows.jsonl")
        run = e2e.run_probe(pcap, workers=2, flows=False, stats=False,
                            extra_opts=["--alerts", alerts, "--windows", windows,
                                        "--home", home])
        e2e.assert_run_ok(self, run)
        flagged = e2e.alert_classes(alerts)
        low_rate = {w["start_ms"]: w.get("low_rate") for w in e2e.read_json_lines(windows)}
        report, short = [], []
        for att in truth["attacks"]:
            wins = [w["start_ms"] for w in e2e.attack_truth_windows(truth, att)]
            got = [flagged.get(t, "-") for t in wins]
            report.append("%s: %s (low_rate: %s)" % (
                att["spec"], " ".join(got), " ".join(str(low_rate.get(t)) for t in wins)))
            if all_low_rate:
                self.assertTrue(all(low_rate.get(t) is True for t in wins),
                                "flood windows not low-rate: " + report[-1])
            if got.count("icmp_flood") < min(MIN_RIGHT, len(got)):
                short.append(att["spec"])
        scored = truth["start_ms"] + SCORED_FROM_S * 1000
        false = [w["start_ms"] for w in truth["windows"]
                 if not w.get("attacks") and w["start_ms"] >= scored and w["start_ms"] in flagged]
        report.append("clean windows alerted from %d s: %d" % (SCORED_FROM_S, len(false)))
        sys.stderr.write("\n".join(report) + "\n")
        self.assertEqual(short, [], "\n".join(report))
        self.assertLessEqual(len(false), 1, "\n".join(report))


if __name__ == "__main__":
    unittest.main()
