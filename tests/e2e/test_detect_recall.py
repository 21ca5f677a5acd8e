#!/usr/bin/env python3
"""Recall at a small share (issue 12): evidence per value, SYN retries by packets.

docs/detection.md, "Evidence per value": a value's flows are judged against its own
baseline counts (a Poisson tail), not against share floors of the whole link, so a 1 %
reflection (about 12 flows a window on a 1500 packets/s link) is found on its victim; a
flood of spoofed SYNs retried from one source port (few flows, many SYN-only packets) is
found by the direction's SYN retries (lib/featdist counts SYN-only packets).

One capture of scripts/gen-attacks, seed 87 (not used while the rules were written: they
were tuned on seeds 1, 3, 5, 7, 41, 42, 61, 71 and 100, and on the tuning parameters of
scripts/eval-detection), 30 s clean warm-up, then each attack for 6 s with 25 s gaps,
through the real probe (--home, --moving-windows 20):
  - three reflections at 1 % of the packets, on parameters of the test set: UDP from
    port 1900 (250-400 bytes), NTP, and TCP SYN-ACKs to one victim port;
  - spoofed SYN floods retried from one source port: 10 SYNs at once at 5 %, 8 SYNs
    200 ms apart at 3 %.
With the former share floors the probe found 3 of the 18 reflection windows (none of
the NTP or SYN-ACK ones) and 4 and 3 of the retry windows; with evidence per value 3 of
each reflection (9 of 18), 6 and 4. Required: every reflection named `reflection` in at
least 2 of its 6 windows (a third: the 1 % goal of 0.95 is not met, docs/detection-history.md
"Issue 12: test set"); the retry floods named `syn_flood` in 5 of 6 windows at 5 % (the
first may be partial) and half of them at 3 %; no clean window after the warm-up alerted
(goal: <= 0.5 % of ~120) but the window right after each attack, which the sequential tests'
one-window-late decision may alert (the evaluation does not score it either).
"""
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safem_e2e as e2e  # noqa: E402

HOME = "10.0.0.0/16"
SEED, WARMUP_S, ATTACK_S, GAP_S = 87, 30, 6, 25
ATTACKS = [  # TYPE, share, options, windows with the right class required
    ("reflection", 0.01, "proto=udp,port=1900,size=250-400", 2),
    ("reflection", 0.01, "proto=ntp", 2),
    ("reflection", 0.01, "proto=synack,victim_ports=1", 2),
    ("syn_flood", 0.05, "retries=10", 5),
    ("syn_flood", 0.03, "retries=8,retry_ms=200", 3),
]


class DetectRecall(unittest.TestCase):
    def test_small_share(self):
        if not os.path.exists(e2e.GEN_ATTACKS):
            self.skipTest("scripts/gen-attacks missing")
        workdir = e2e.new_dir("recall")
        pcap = os.path.join(workdir, "r%d.pcap" % SEED)
        truth_path = pcap + ".json"
        argv = [sys.executable, e2e.GEN_ATTACKS, "--output", pcap, "--truth", truth_path,
                "--seed", str(SEED), "--rate", "1500", "--home", HOME]
        t = WARMUP_S
        for kind, share, opts, _ in ATTACKS:
            argv += ["--attack", "%s:%d:%d:%g,%s" % (kind, t, ATTACK_S, share, opts)]
            t += ATTACK_S + GAP_S
        argv += ["--duration", str(t)]
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        with open(truth_path) as f:
            truth = json.load(f)
        alerts = os.path.join(workdir, "r%d.alerts.jsonl" % SEED)
        run = e2e.run_probe(pcap, workers=2, flows=False, stats=False,
                            extra_opts=["--alerts", alerts, "--home", HOME,
                                        "--moving-windows", "20"])
        e2e.assert_run_ok(self, run)
        flagged = e2e.alert_classes(alerts)
        report, short = [], []
        for att, (_, _, _, need) in zip(truth["attacks"], ATTACKS):
            got = [flagged.get(w["start_ms"], "-") for w in e2e.attack_truth_windows(truth, att)]
            right = got.count(att["class"])
            report.append("%s: %s" % (att["spec"], " ".join(got)))
            if right < need:
                short.append(att["spec"])
        warm_end = truth["start_ms"] + WARMUP_S * 1000
        # the window right after each attack is not scored when a sequential test alerted
        # it (as scripts/eval-detection's fp_gaps): those tests decide a window's arrivals
        # with the next one; a rule of the detector's own alerting it still counts
        late = {a["start_ms"] for a in e2e.read_json_lines(alerts)
                if a.get("record") in ("start", "update") and a.get("scan_test")}
        after = set()
        for att in truth["attacks"]:
            wins = [w["start_ms"] for w in e2e.attack_truth_windows(truth, att)]
            if len(wins) > 1 and max(wins) + wins[1] - wins[0] in late:
                after.add(max(wins) + wins[1] - wins[0])
        false = [w["start_ms"] for w in truth["windows"]
                 if not w.get("attacks") and w["start_ms"] >= warm_end
                 and w["start_ms"] not in after and w["start_ms"] in flagged]
        report.append("clean windows alerted: %d" % len(false))
        self.assertEqual(short, [], "\n".join(report))
        self.assertEqual(false, [], "\n".join(report))


if __name__ == "__main__":
    unittest.main()
