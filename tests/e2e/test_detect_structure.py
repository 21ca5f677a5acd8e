#!/usr/bin/env python3
"""Classes from traffic structure (issue 12, docs/detection.md "Classes from structure").

The attack shapes that the port-list rules misnamed or missed, rebuilt with
scripts/gen-attacks, each 5 s at 4 % of the packets after a 30 s clean warm-up, through
the real probe (default model, --moving-windows 20): a SYN flood with ECE+CWR on a game
port, a TCP SYN-ACK reflection from 22/80/443, UDP reflections from IKE (4500) and
BACnet (47808), a DNS amplification sent as IP fragments, one source sweeping port 445
(across random addresses without --home; across the home /16 with it) and an nmap
connect scan. Seeds 81 and 82 were not used while the rules were written (tuning used
seeds 1, 3, 5, 7, 41, 42, 61, 71, 100 at 1, 3, 4 and 5 %).

Each attack must be alerted with its class in at least 4 of its 5 windows (the goal is
class accuracy >= 0.9 and recall >= 0.95; 4 of 5 leaves the partial first window), and
at most one clean window after the warm-up may alert.
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safem_e2e as e2e  # noqa: E402

HOME = "10.0.0.0/16"
WARMUP_S, ATTACK_S, GAP_S, SHARE = 30, 5, 12, 0.04
COMMON = ["syn_flood,flags=ece+cwr,port=27015", "reflection,proto=synack",
          "reflection,proto=udp,port=4500", "reflection,proto=udp,port=47808",
          "reflection,fragments=1", "vertical_scan,connect=1"]
MIN_RIGHT = 4


class DetectStructure(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(e2e.GEN_ATTACKS):
            raise unittest.SkipTest("scripts/gen-attacks missing")
        cls.dir = e2e.new_dir("structure")

    def run_case(self, seed, home, sweep):
        pcap = os.path.join(self.dir, "s%d.pcap" % seed)
        truth = e2e.gen_attack_sequence(pcap, COMMON + [sweep], seed, HOME, WARMUP_S, ATTACK_S,
                                        GAP_S, SHARE)
        alerts = os.path.join(self.dir, "s%d.alerts.jsonl" % seed)
        opts = ["--alerts", alerts, "--moving-windows", "20"]
        if home:
            opts += ["--home", HOME]
        run = e2e.run_probe(pcap, workers=2, flows=False, stats=False, extra_opts=opts)
        e2e.assert_run_ok(self, run)
        flagged = {}
        for a in e2e.read_json_lines(alerts):
            if a.get("record") in ("start", "update"):
                flagged.setdefault(a["start_ms"], a["class"])
        report, short = [], []
        for att in truth["attacks"]:
            ws = [w for w in truth["windows"] for x in w.get("attacks", [])
                  if x["id"] == att["id"] and x["share"] >= 0.5 * att["share_requested"]]
            got = [flagged.get(w["start_ms"], "-") for w in ws]
            right = sum(1 for c in got if c == att["class"])
            report.append("%s: %s" % (att["spec"], " ".join(got)))
            if right < min(MIN_RIGHT, len(ws)):
                short.append(att["spec"])
        warm_end = truth["start_ms"] + WARMUP_S * 1000
        clean = [w for w in truth["windows"] if not w.get("attacks")
                 and w["start_ms"] >= warm_end]
        false = [w["start_ms"] for w in clean if w["start_ms"] in flagged]
        report.append("clean windows alerted: %d of %d" % (len(false), len(clean)))
        self.assertEqual(short, [], "\n".join(report))
        self.assertLessEqual(len(false), 1, "\n".join(report))

    def test_with_home(self):
        self.run_case(81, True, "horizontal_scan,port=445")

    def test_without_home(self):
        self.run_case(82, False, "horizontal_scan,port=445,prefix=random")


if __name__ == "__main__":
    unittest.main()
