#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Sequential guessing test through the real probe (docs/detection.md, "Brute force at a
few connections a window: sessions alike").

scripts/gen-attacks, development seed 201, the synthetic background at 1500 packets/s,
--home 10.0.0.0/16, --moving-windows 20 (the evaluation's), 30 s clean, then one client
guessing on port 3389 of one server (2-4 rounds a connection) at 2 % of the packets (about
two connections a second: under what per-value counts show) for 20 s, then 20 s clean:
  - at least 8 of the 20 windows are named `brute_force`, and an alert record carries the
    test's finding ("scan_test", test "sprt_sessions") naming the guesser of the truth,
    port 3389 and the server;
  - with --scan-test off (the guessing test goes with it), no record carries the test;
  - a clean capture of the same background (seed 202, 90 s) raises no record from the
    test, and --stats shows it judged sessions.

Session 12 ("Brute force: sessions alike, revisited"): the same background and seed, one
client guessing on port 22 with 3-6 rounds a connection, each connection lasting 1.8-3.5 s
(gen-attacks session_ms: sessions crossing window edges and overlapping, as a tool's
parallel tasks), at 2 % for 20 s: at least SSH_MIN_RIGHT of the 20 windows are named
`brute_force` (main's test, comparing with the previous session only and naming a pair
only in a window that closes an alike session, named none of them; this branch 10).
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safem_e2e as e2e  # noqa: E402

HOME = "10.0.0.0/16"
SEED, WARMUP_S, ATTACK_S, GAP_S = 201, 30, 20, 20
GUESS = "bruteforce,port=3389,rounds=2-4"
MIN_RIGHT = 8
SSH_GUESS = "bruteforce,port=22,rounds=3-6,session_ms=1800-3500"
SSH_MIN_RIGHT = 8


def brute_records(path):
    return [a for a in e2e.read_json_lines(path)
            if any(f["test"] == "sprt_sessions" for f in a.get("scan_test", []))]


def guesser_windows(case, min_right):
    """The run succeeded and at least min_right of the attack's windows are named
    brute_force; returns the attack and its windows."""
    e2e.assert_run_ok(case, case.probe_run)
    flagged = e2e.alert_classes(case.alerts)
    att = case.truth["attacks"][0]
    wins = [w["start_ms"] for w in e2e.attack_truth_windows(case.truth, att)]
    got = [flagged.get(t, "-") for t in wins]
    case.assertGreaterEqual(got.count("brute_force"), min_right, " ".join(got))
    return att, wins


class DetectBrute(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        e2e.attack_sequence_run(cls, "brute", [GUESS], SEED, HOME, WARMUP_S, ATTACK_S, GAP_S,
                                0.02, ["--home", HOME, "--moving-windows", "20"])

    def test_guesser_named(self):
        att, wins = guesser_windows(self, MIN_RIGHT)
        guesser = att["involved"]["attackers"][0]
        server = att["involved"]["victims"][0]
        named = [a for a in brute_records(self.alerts)
                 if guesser in [x["value"] for x in a["involved"]["src_addr"]]]
        self.assertTrue(named, "no sprt_sessions record names %s" % guesser)
        f = [x for x in named[0]["scan_test"] if x["test"] == "sprt_sessions"][0]
        self.assertEqual(f["class"], "brute_force")
        self.assertEqual(f["port"], 3389)
        self.assertEqual(f["target"], server)
        self.assertGreaterEqual(f["llr"], 4.59)  # log(99)
        # nothing from the test outside the attack and the window that closes its last
        last = max(wins) + (wins[1] - wins[0])
        stray = [a["start_ms"] for a in brute_records(self.alerts)
                 if not min(wins) <= a["start_ms"] <= last]
        self.assertEqual(stray, [])

    def test_off(self):
        e2e.sequential_test_off(self, self.pcap, self.dir, HOME, "--scan-test", brute_records,
                                "brute_test")

    def test_one_worker_same_findings(self):
        # the test judges sessions in a fixed order, not the log's (which depends on the
        # number of workers): one worker finds the same guesser in the same windows
        alerts = os.path.join(self.dir, "one.alerts.jsonl")
        run = e2e.run_probe(self.pcap, workers=1, flows=False, stats=False,
                            extra_opts=["--alerts", alerts, "--home", HOME,
                                        "--moving-windows", "20"])
        e2e.assert_run_ok(self, run)

        def found(path):
            return sorted((a["start_ms"], f["source"], f["target"], f["port"],
                           f["failed_contacts"], f["failed_contacts_run"])
                          for a in brute_records(path) for f in a["scan_test"]
                          if f["test"] == "sprt_sessions")

        two = found(self.alerts)
        self.assertTrue(two)
        self.assertEqual(found(alerts), two)

    def test_clean_capture_quiet(self):
        st, _, _ = e2e.sequential_test_clean(
            self, "brute-clean", SEED + 1, HOME, (WARMUP_S, ATTACK_S, GAP_S), 0.02,
            brute_records, "brute_test")
        self.assertGreater(st["sessions_closed"], 0)
        self.assertGreaterEqual(st["sessions"], st["sessions_closed"])


class DetectBruteParallel(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        e2e.attack_sequence_run(cls, "brute-ssh", [SSH_GUESS], SEED, HOME, WARMUP_S, ATTACK_S,
                                GAP_S, 0.02, ["--home", HOME, "--moving-windows", "20"])

    def test_guesser_named(self):
        guesser_windows(self, SSH_MIN_RIGHT)


if __name__ == "__main__":
    unittest.main()
