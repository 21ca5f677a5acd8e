#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Destination-side sequential test through the real probe (docs/detection.md,
"Destination-side sequential test (victims)").

scripts/gen-attacks, development seed 201, the synthetic background at 1500 packets/s,
--home 10.0.0.0/16, --moving-windows 20 (the evaluation's), 30 s clean, then a UDP reflection
from source port 1900 of many reflectors to one home victim at 1 % of the packets
(15 datagrams a second, each from a new reflector most of the time, none asked for) for 6 s,
30 s clean, then a spoofed SYN flood with 6 retries at 1 % for 6 s, 30 s clean:
  - the probe names at least 3 of the 6 windows of each attack with the truth's class
    (`reflection`, `syn_flood`) (a window's arrivals are decided at the end of the next: the
    first window is judged with the second), and a record from the test ("test": "victim")
    names the victim of the truth as its target and the reflectors' port 1900;
  - with --victim-test off, no record carries the victim test's finding;
  - a clean capture of the same background (seed 202, 90 s) raises no record from the
    test, and no alert after the warm-up; its observations were also judged in their own
    window (session 11, "Decisions in the observation's own window"), with no finding
    from those provisional steps.

Few-source unsolicited replies and ICMP requests (session 10; docs/detection.md, the section
of that name), development seed 202, the same layout: an ICMPv6 echo-reply flood from 2
hosts to one (2001:db8::/32, transit on the IPv4 --home) at 1 % for 6 s, then an ICMP
echo-request flood from spoofed sources on a home host at 1 % for 6 s:
  - the reply flood is named `icmp_flood` in at least 3 of its 6 windows and a record from
    the test's second walk names its victim (2 sources are 2 new arrivals: the first walk
    alone never flags it);
  - no window of the request flood is named `reflection` (requests are not answers), and at
    least 3 are named `icmp_flood`.

Few-source UDP floods (session 11; docs/detection.md, the section of that name),
development seed 200, the same layout: a UDP flood from 3 hosts (random source and
destination ports, 1400 bytes) on a home host at 1 % for 6 s, then the same from 2 hosts:
  - no window of either is named `reflection` (a flood from random source ports answers
    nothing), and at least 3 of each are named `udp_flood`; a record from the test's second
    walk names the first one's victim (3 or 2 sources are 3 or 2 new arrivals: the first
    walk alone never flags them).
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safem_e2e as e2e  # noqa: E402

HOME = "10.0.0.0/16"
SEED, WARMUP_S, ATTACK_S, GAP_S = 201, 30, 6, 30
ATTACKS = ["reflection,proto=udp,port=1900,size=250-400", "syn_flood,retries=6,retry_ms=300"]
CLASSES = ["reflection", "syn_flood"]
MIN_RIGHT = 3


def victim_records(path):
    return [a for a in e2e.read_json_lines(path)
            if any(f.get("test") == "victim" for f in a.get("scan_test", []))]


class DetectVictim(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        e2e.attack_sequence_run(cls, "victim", ATTACKS, SEED, HOME, WARMUP_S, ATTACK_S, GAP_S,
                                0.01, ["--home", HOME, "--moving-windows", "20"])

    def test_attacks_named(self):
        e2e.assert_run_ok(self, self.probe_run)
        flagged = e2e.alert_classes(self.alerts)
        for att, cls_ in zip(self.truth["attacks"], CLASSES):
            wins = [w["start_ms"] for w in e2e.attack_truth_windows(self.truth, att)]
            got = [flagged.get(t, "-") for t in wins]
            self.assertGreaterEqual(got.count(cls_), MIN_RIGHT, cls_ + ": " + " ".join(got))
        refl = self.truth["attacks"][0]
        victim = refl["involved"]["victims"][0]
        named = [a for a in victim_records(self.alerts)
                 if victim in [x["value"] for x in a["involved"]["dst_addr"]]]
        self.assertTrue(named, "no victim test record names %s" % victim)
        f = [x for x in named[0]["scan_test"] if x["test"] == "victim"][0]
        self.assertEqual(f["class"], "reflection")
        self.assertEqual(f["port"], 1900)
        self.assertGreaterEqual(f["sources"], 1)

    def test_off(self):
        e2e.sequential_test_off(self, self.pcap, self.dir, HOME, "--victim-test", victim_records,
                                "victim_test")

    def test_clean_capture_quiet(self):
        st, truth, alerts = e2e.sequential_test_clean(
            self, "victim-clean", SEED + 1, HOME, (WARMUP_S, ATTACK_S, GAP_S), 0.01,
            victim_records, "victim_test")
        self.assertGreater(st["arrivals"], 0)
        self.assertGreaterEqual(st["arrivals"], st["successes"] + st["failures"])
        # decisions in the observation's own window (session 11): taken, never a finding
        # on clean traffic
        self.assertGreater(st["provisional_failures"] + st["provisional_young"], 0)
        self.assertEqual(st["provisional_findings"], 0)
        flagged = e2e.alert_classes(alerts)
        self.assertEqual(e2e.clean_windows_alerted(truth, flagged, WARMUP_S), [])


class DetectFewSourceReplies(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        e2e.attack_sequence_run(cls, "victim-replies",
                                ["icmp_flood,family=6,type=129,sources=2,size=500",
                                 "icmp_flood,type=8,sources=0,size=64"],
                                SEED + 1, HOME, WARMUP_S, ATTACK_S, GAP_S, 0.01,
                                ["--home", HOME, "--moving-windows", "20"])

    def test_replies_and_requests(self):
        e2e.assert_run_ok(self, self.probe_run)
        flagged = e2e.alert_classes(self.alerts)
        got = [[flagged.get(w["start_ms"], "-") for w in e2e.attack_truth_windows(self.truth, a)]
               for a in self.truth["attacks"]]
        self.assertGreaterEqual(got[0].count("icmp_flood"), MIN_RIGHT, " ".join(got[0]))
        self.assertNotIn("reflection", got[1], " ".join(got[1]))
        self.assertGreaterEqual(got[1].count("icmp_flood"), MIN_RIGHT, " ".join(got[1]))
        victim = self.truth["attacks"][0]["involved"]["victims"][0]
        named = [a for a in victim_records(self.alerts)
                 if victim in [x["value"] for x in a["involved"]["dst_addr"]]]
        self.assertTrue(named, "no victim test record names %s" % victim)



class DetectFewSourceUdp(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        e2e.attack_sequence_run(cls, "victim-udp", ["udp_flood", "udp_flood,sources=2"],
                                SEED - 1, HOME, WARMUP_S, ATTACK_S, GAP_S, 0.01,
                                ["--home", HOME, "--moving-windows", "20"])

    def test_few_source_floods(self):
        e2e.assert_run_ok(self, self.probe_run)
        flagged = e2e.alert_classes(self.alerts)
        for att in self.truth["attacks"]:
            got = [flagged.get(w["start_ms"], "-") for w in e2e.attack_truth_windows(self.truth, att)]
            self.assertNotIn("reflection", got, " ".join(got))
            self.assertGreaterEqual(got.count("udp_flood"), MIN_RIGHT, " ".join(got))
        victim = self.truth["attacks"][0]["involved"]["victims"][0]
        named = [a for a in victim_records(self.alerts)
                 if victim in [x["value"] for x in a["involved"]["dst_addr"]]]
        self.assertTrue(named, "no victim test record names %s" % victim)


if __name__ == "__main__":
    unittest.main()
