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
at most one clean window after the warm-up may alert (the window right after an attack not
counted, as the evaluation does).

Brute force (docs/detection.md, class `brute_force`): one client opening short completed
TCP connections to one port of one server, at 10 % of the packets (about 15 connections a
1 s window: evidence per value needs ~10 new flows a window, so 1-5 % brute forces of
this link are under it, see "Detection limits"), port 2200 (no service of the background
and not the tuning variant's 22), seeds 83 and 84. The same shape built on port 22 was
called udp_flood before (the UDP-flood rule accepted a victim when no protocol share
rose). The real nmap ssh-brute capture of ../shared/pcaps, mixed at its own rate into
the synthetic background, is a regression case, not held-out evidence: its per-window
packets per flow were looked at when CONNECTION_PACKETS_MIN was set.
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

    def run_case(self, seed, home, sweep, attacks=COMMON, share=SHARE, extra=(),
                 min_right=MIN_RIGHT, direction=None, only_right=False):
        pcap = os.path.join(self.dir, "s%d.pcap" % seed)
        truth = e2e.gen_attack_sequence(pcap, attacks + ([sweep] if sweep else []), seed, HOME,
                                        WARMUP_S, ATTACK_S, GAP_S, share, extra=extra)
        alerts = os.path.join(self.dir, "s%d.alerts.jsonl" % seed)
        opts = ["--alerts", alerts, "--moving-windows", "20"]
        if home:
            opts += ["--home", HOME]
        run = e2e.run_probe(pcap, workers=2, flows=False, stats=False, extra_opts=opts)
        e2e.assert_run_ok(self, run)
        flagged, directions = {}, {}
        for a in e2e.read_json_lines(alerts):
            if a.get("record") in ("start", "update"):
                flagged.setdefault(a["start_ms"], a["class"])
                directions.setdefault(a["start_ms"], a.get("direction"))
        report, short = [], []
        for att in truth["attacks"]:
            ws = [w for w in truth["windows"] for x in w.get("attacks", [])
                  if x["id"] == att["id"] and x["share"] >= 0.5 * att["share_requested"]]
            got = [flagged.get(w["start_ms"], "-") for w in ws]
            right = sum(1 for w, c in zip(ws, got) if c == att["class"] and
                        direction in (None, directions.get(w["start_ms"])))
            report.append("%s: %s (%s)" % (att["spec"], " ".join(got), " ".join(
                str(directions.get(w["start_ms"], "-")) for w in ws)))
            if right < min(min_right, len(ws)) or (
                    only_right and any(c not in (att["class"], "-") for c in got)):
                short.append(att["spec"])
        # the window right after an attack is left out, as the evaluation does: it may hold
        # the attack's last packets, and the sequential scan test decides a window's
        # contacts at the end of the next one (docs/detection.md, "Sequential scan test")
        warm_end = truth["start_ms"] + WARMUP_S * 1000
        clean = [w for w in truth["windows"] if not w.get("attacks")
                 and w["start_ms"] >= warm_end]
        false = e2e.clean_windows_alerted(truth, flagged, WARMUP_S)
        report.append("clean windows alerted: %d of %d" % (len(false), len(clean)))
        self.assertEqual(short, [], "\n".join(report))
        self.assertLessEqual(len(false), 1, "\n".join(report))

    def test_with_home(self):
        self.run_case(81, True, "horizontal_scan,port=445")

    def test_without_home(self):
        self.run_case(82, False, "horizontal_scan,port=445,prefix=random")

    def test_transit_scan_with_home(self):
        # one outside source sweeping port 2323 across random (outside) addresses, a fifth
        # of them answering: transit, named in `all` (docs/detection.md, "Transit scans");
        # port, answer share and seed unused while the rule was written
        self.run_case(86, True, "horizontal_scan,port=2323,prefix=random,reply=0.2", [],
                      direction="all")

    def test_brute_force_class_at_5_percent(self):
        # at 5 % (3-8 connections a window) a brute force is not found in every window
        # (evidence per value, "Detection limits"); every window alerted is named
        # brute_force: the server's answers (one port to the client's many) are no
        # vertical scan, the client's connections no UDP flood or horizontal scan
        self.run_case(87, True, None, ["bruteforce,port=2201,rounds=2-4"], share=0.05,
                      min_right=1, only_right=True)

    def test_brute_force_with_home(self):
        self.run_case(83, True, None, ["bruteforce,port=2200,rounds=1-3"], share=0.1)

    def test_brute_force_without_home(self):
        self.run_case(84, False, None, ["bruteforce,port=2200,rounds=1-3"], share=0.1)

    def test_brute_force_real_capture(self):
        path = os.path.join(e2e.SHARED_PCAPS, "bruteforce_ssh_nmap_ctu.pcap")
        if not os.path.exists(path):
            self.skipTest("%s missing" % path)
        pcap = os.path.join(self.dir, "real_bruteforce.pcap")
        # its own rate (~90 packets/s, bursty) for its 13 s, victim moved into the home net
        truth = e2e.gen_attack_sequence(pcap, [], 85, HOME, 0, 0, 0, 0,
                                        duration=WARMUP_S + 13 + GAP_S,
                                        extra=["--attack", "pcap:%s:%d:13:0.05,timing=native,"
                                               "victim=home,class=brute_force"
                                               % (path, WARMUP_S)])
        alerts = os.path.join(self.dir, "real_bruteforce.alerts.jsonl")
        run = e2e.run_probe(pcap, workers=2, flows=False, stats=False,
                            extra_opts=["--alerts", alerts, "--moving-windows", "20",
                                        "--home", HOME])
        e2e.assert_run_ok(self, run)
        flagged = e2e.alert_classes(alerts)
        ws = [w for w in truth["windows"] if w.get("attacks")
              and w["attacks"][0]["share"] >= 0.05]
        got = [flagged.get(w["start_ms"], "-") for w in ws]
        self.assertGreaterEqual(len(ws), 3, got)
        # every alerted attack window is a brute force, and most windows are alerted
        self.assertEqual([c for c in got if c not in ("brute_force", "-")], [], got)
        self.assertGreaterEqual(got.count("brute_force"), len(ws) - 1, got)


if __name__ == "__main__":
    unittest.main()
