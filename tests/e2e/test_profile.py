#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Behaviour profiling end to end (docs/detection.md, "Behaviour profiles").

Captures from scripts/gen-attacks (synthetic home-network background, home
10.0.0.0/16) with one attack, replayed through safem-probe --windows:
  * a horizontal scanner (5 % of the packets) is a significant source cluster
    (direction all) with profile scan_exploit and dominant state <*, 22, *> in
    at least 90 % of the windows the truth gives it;
  * a busy HTTPS server added to the background (200 sessions/s from distinct
    clients) is `server` on its source and destination clusters in every window
    it is busy, and a server in the Top-N host view;
  * a SYN-flood victim is a significant destination cluster in every flood window;
  * 1 and 2 workers give identical `clusters` members;
  * the `clusters` contract fields are present and well-formed;
  * behaviour alerts (--behaviour-alerts; after a 25 s clean warm-up, moving baseline of 20 windows):
    one `scan_exploit` record for the scanner (class horizontal_scan, "who" the
    source cluster), none outside the attack, every record with the alert contract
    fields; the detector's alerts of the attack are `explained_by` the scanner.
"""

import ipaddress
import json
import os
import random
import struct
import sys
import unittest
import importlib.machinery
import importlib.util

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safem_e2e as e2e  # noqa: E402

HOME = "10.0.0.0/16"
OPTS = ["--model", "none", "--home", HOME]
SCAN_MIN_SHARE = 0.9  # the bar: scan_exploit in at least 90 % of the scanner's windows
CONTRACT = ("direction", "dimension", "value", "flows", "packets", "bytes", "ru", "class",
            "profile", "dominant")

_loader = importlib.machinery.SourceFileLoader(
    "gen_capture", os.path.join(e2e.SOURCE_ROOT, "scripts", "gen-capture"))
_spec = importlib.util.spec_from_loader("gen_capture", _loader)
gc = importlib.util.module_from_spec(_spec)
_loader.exec_module(gc)

SERVER = ipaddress.IPv4Address("10.0.7.80")
TURNING = ipaddress.IPv4Address("10.0.7.90")  # an HTTPS client that turns into a server
BEHAVIOUR = ("scan_exploit", "behaviour_change")
MAC_A, MAC_B = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")


def frame(src, dst, sport, dport, flags, payload=b""):
    seg = gc.tcp(src, dst, sport, dport, 1, 1, flags, payload)
    return gc.ethernet(MAC_A, MAC_B, 0x0800, gc.ipv4(src, dst, 6, seg))


def server_frames(start_us, seconds, per_second, seed, server=SERVER, client=None):
    """HTTPS sessions from distinct outside clients: SYN, SYN-ACK, ACK, request, three
    response segments, FINs (4 packets client -> server, 5 back). With `client`, the
    sessions go from that host to distinct outside servers instead."""
    rng = random.Random(seed)
    out = []
    for i in range(seconds * per_second):
        t = start_us + i * 1000000 // per_second
        peer = ipaddress.IPv4Address(0x64400000 + rng.randrange(1 << 20))
        cport = 1024 + rng.randrange(60000)
        srv, cli = (peer, client) if client is not None else (server, peer)
        S, A, P, F = gc.TCP_SYN, gc.TCP_ACK, gc.TCP_PSH, gc.TCP_FIN
        steps = [(cli, srv, cport, 443, S, b""), (srv, cli, 443, cport, S | A, b""),
                 (cli, srv, cport, 443, A, b""),
                 (cli, srv, cport, 443, P | A, b"x" * 300)]
        steps += [(srv, cli, 443, cport, A, b"y" * 1200)] * 3
        steps += [(cli, srv, cport, 443, F | A, b""), (srv, cli, 443, cport, F | A, b"")]
        for k, (s, d, sp, dp, fl, pl) in enumerate(steps):
            out.append((t + k * 300, frame(s, d, sp, dp, fl, pl)))
    return out


def write_merged(path, base, extra):
    frames = [(ts, data) for ts, data, _ in e2e.read_pcap(base)] + extra
    frames.sort(key=lambda x: x[0])
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for ts, data in frames:
            f.write(struct.pack("<IIII", ts // 1000000, ts % 1000000, len(data), len(data)))
            f.write(data)


def clusters(windows, dimension, value, direction="all"):
    """Per window start: the cluster (dimension, value) or None."""
    out = {}
    for w in windows:
        out[w["start_ms"]] = next((c for c in w["clusters"] if c["dimension"] == dimension and
                                   c["value"] == value and c["direction"] == direction), None)
    return out


class Profile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(e2e.GEN_ATTACKS):
            raise unittest.SkipTest("scripts/gen-attacks missing")
        e2e.require_probe()
        cls.dir = e2e.new_dir("profile")
        cls.scan = os.path.join(cls.dir, "scan.pcap")
        cls.scan_truth = e2e.gen_attack_sequence(cls.scan, ["horizontal_scan"], seed=21, home=HOME,
                                                 warmup_s=4, attack_s=12, gap_s=4, share=0.05)
        cls.syn = os.path.join(cls.dir, "syn.pcap")
        cls.syn_truth = e2e.gen_attack_sequence(cls.syn, ["syn_flood"], seed=22, home=HOME,
                                                warmup_s=4, attack_s=8, gap_s=3, share=0.2)
        clean = os.path.join(cls.dir, "clean.pcap")
        truth = e2e.gen_attack_sequence(clean, [], seed=23, home=HOME, warmup_s=0, attack_s=0,
                                        gap_s=0, share=0, duration=10)
        cls.server = os.path.join(cls.dir, "server.pcap")
        cls.server_start_ms = truth["start_ms"] + 2000
        write_merged(cls.server, clean, server_frames(cls.server_start_ms * 1000, 6, 200, 5))
        cls.server_end_ms = cls.server_start_ms + 6000
        cls.scan2 = os.path.join(cls.dir, "scan2.pcap")
        cls.scan2_truth = e2e.gen_attack_sequence(cls.scan2, ["horizontal_scan"], seed=24,
                                                  home=HOME, warmup_s=25, attack_s=10, gap_s=5,
                                                  share=0.05)
        cls.quiet = os.path.join(cls.dir, "quiet.pcap")
        quiet = e2e.gen_attack_sequence(cls.quiet, [], seed=26, home=HOME, warmup_s=0,
                                        attack_s=0, gap_s=0, share=0, duration=40)
        # TURNING browses 60 HTTPS sites a second for 24 s, then serves 60 clients a second
        cls.turn = os.path.join(cls.dir, "turn.pcap")
        cls.turn_ms = quiet["start_ms"] + 24000
        write_merged(cls.turn, cls.quiet,
                     server_frames(quiet["start_ms"] * 1000, 24, 60, 6, client=TURNING) +
                     server_frames(cls.turn_ms * 1000, 10, 60, 7, server=TURNING))

    def windows(self, pcap, workers=1, extra=()):
        path = os.path.join(self.dir, "w-%s-%d-%d.jsonl" % (os.path.basename(pcap), workers,
                                                           len(extra)))
        run = e2e.run_probe(pcap, workers=workers, flows=False,
                            extra_opts=["--windows", path] + OPTS + list(extra))
        e2e.assert_run_ok(self, run)
        return e2e.read_json_lines(path)

    def test_horizontal_scanner_is_scan_exploit(self):
        ws = self.windows(self.scan)
        scan = [w for w in self.scan_truth["windows"] if w["class"] == "horizontal_scan"]
        self.assertGreaterEqual(len(scan), 10)
        scanner = scan[0]["involved"]["scanners"][0]
        port = scan[0]["involved"]["target_port"]
        by_start = clusters(ws, "src_addr", scanner)
        good, report = 0, []
        for w in scan:
            c = by_start.get(w["start_ms"])
            ok = (c is not None and c["profile"] == "scan_exploit" and c["dominant"] is not None
                  and c["dominant"]["dst_port"] == port)
            good += ok
            report.append("%d: %s" % (w["start_ms"], None if c is None else
                                      (c["class"], c["ru"], c["profile"], c["dominant"])))
        self.assertGreaterEqual(good, SCAN_MIN_SHARE * len(scan), "\n".join(report))
        # never a scanner outside its windows
        attack = {w["start_ms"] for w in scan}
        late = [s for s, c in by_start.items() if c is not None and s not in attack and
                c["profile"] == "scan_exploit"]
        self.assertEqual(late, [], "scan_exploit outside the attack windows")
        # the contract
        for w in ws:
            for c in w["clusters"]:
                for k in CONTRACT:
                    self.assertIn(k, c)
                self.assertIn(c["dimension"], ("src_addr", "dst_addr", "src_port", "dst_port"))
                self.assertEqual(len(c["ru"]), 3)
                self.assertTrue(all(0 <= x <= 1 for x in c["ru"]))
                self.assertTrue(0 <= c["class"] <= 26)
                self.assertIn(c["profile"], (None, "server", "heavy_hitter", "scan_exploit"))

    def test_busy_server_is_server(self):
        ws = self.windows(self.server)
        busy = [w for w in ws if w["start_ms"] >= self.server_start_ms + 1000 and
                w["end_ms"] <= self.server_end_ms]
        self.assertGreaterEqual(len(busy), 4)
        for dim in ("src_addr", "dst_addr"):
            by_start = clusters(busy, dim, str(SERVER))
            for s, c in sorted(by_start.items()):
                self.assertIsNotNone(c, "%s: server not a significant %s cluster" % (s, dim))
                self.assertEqual(c["profile"], "server", "%s %s: %s" % (s, dim, c))
        src = clusters(busy, "src_addr", str(SERVER))
        for c in src.values():
            self.assertEqual(c["dominant"]["src_port"], 443, c)
        for w in busy:
            top = w["hosts"]["by_flows"]
            self.assertEqual(top[0]["host"], str(SERVER), top[:3])
            self.assertEqual(top[0]["profile"], "server")
            self.assertEqual(top[0]["ports"][0]["port"], 443)
            self.assertGreater(top[0]["peers"], 150)
            self.assertLessEqual(len(top), 10)

    def test_syn_flood_victim_is_destination_cluster(self):
        ws = self.windows(self.syn)
        flood = [w for w in self.syn_truth["windows"] if w["class"] == "syn_flood"]
        self.assertGreaterEqual(len(flood), 6)
        victim = flood[0]["involved"]["victims"][0]
        by_start = clusters(ws, "dst_addr", victim)
        missing = [w["start_ms"] for w in flood if by_start.get(w["start_ms"]) is None]
        self.assertEqual(missing, [], "flood windows without the victim as a dst cluster")
        for w in flood:
            c = by_start[w["start_ms"]]
            self.assertEqual(c["ru"][2] >= 0.8, True, c)  # spoofed sources: RU(src_addr) high

    def test_behaviour_alerts(self):
        alerts = os.path.join(self.dir, "alerts.jsonl")
        self.windows(self.scan2, extra=["--alerts", alerts, "--moving-windows", "20",
                                          "--behaviour-alerts"])
        records = e2e.read_json_lines(alerts)
        scan = [w for w in self.scan2_truth["windows"] if w["class"] == "horizontal_scan"]
        scanner = scan[0]["involved"]["scanners"][0]
        first, last = scan[0]["start_ms"], scan[-1]["end_ms"]
        for r in records:
            for k in ("start_ms", "end_ms", "event_type", "class"):
                self.assertIn(k, r)
        mine = [r for r in records if r["event_type"] in ("scan_exploit", "behaviour_change",
                                                            "explained_by")]
        scans = [r for r in mine if r["event_type"] == "scan_exploit"]
        of_scanner = [r for r in scans if r["who"]["dimension"] == "src_addr" and
                      r["who"]["value"] == scanner]
        self.assertEqual(len(of_scanner), 1, scans)
        self.assertEqual(of_scanner[0]["class"], "horizontal_scan")
        self.assertTrue(first <= of_scanner[0]["start_ms"] < last)
        outside = [r for r in scans if not first <= r["start_ms"] < last + 1000]
        self.assertEqual(outside, [], "scan_exploit records outside the attack")
        anomalies = [r for r in records if r["event_type"] == "anomaly" and
                     first <= r["start_ms"] < last]
        explained = [r for r in mine if r["event_type"] == "explained_by" and
                     r["who"]["value"] == scanner]
        if anomalies:
            self.assertTrue(explained, "detector alerts %s, none explained by %s" % (
                [a["start_ms"] for a in anomalies], scanner))
        for r in explained:
            self.assertIn("incident", r)

    def alerts(self, pcap, extra=()):
        path = os.path.join(self.dir, "a-%s-%d.jsonl" % (os.path.basename(pcap), len(extra)))
        ws = self.windows(pcap, extra=["--alerts", path] + list(extra))
        return ws, e2e.read_json_lines(path)

    def test_clean_capture_quiet(self):
        # behaviour alerts are on by default: 40 clean windows raise no behaviour record
        ws, records = self.alerts(self.quiet)
        self.assertEqual(len(ws), 40)
        mine = [(r["start_ms"], r["event_type"], r["who"]["dimension"], r["who"]["value"])
                for r in records if r["event_type"] in BEHAVIOUR]
        self.assertEqual(mine, [])

    def test_host_turning_server_is_a_behaviour_change(self):
        ws, records = self.alerts(self.turn)
        host = str(TURNING)
        by_start = clusters(ws, "src_addr", host)
        before = [c["class"] for s, c in by_start.items() if c is not None and s < self.turn_ms]
        self.assertGreaterEqual(len(before), 16, "the client is a significant source cluster")
        client_class = max(set(before), key=before.count)
        mine = [r for r in records if r["event_type"] in BEHAVIOUR]
        changes = [r for r in mine if r["event_type"] == "behaviour_change" and
                   r["who"]["dimension"] == "src_addr" and r["who"]["value"] == host]
        self.assertEqual(len(changes), 1, mine)
        r = changes[0]
        # the new class held two windows: reported in the second window of the server
        self.assertTrue(self.turn_ms + 1000 <= r["start_ms"] <= self.turn_ms + 3000, r)
        self.assertEqual(r["previous_class"], client_class)
        self.assertEqual(r["who"]["profile"], "server")
        for k in ("start_ms", "end_ms", "event_type", "class"):
            self.assertIn(k, r)
        # nothing before the change; after it, only clusters the host explains (the host
        # itself, or its service port whose dominant state names it)
        self.maxDiff = None
        self.assertEqual([x for x in mine if x["start_ms"] < self.turn_ms or
                          host not in json.dumps(x["who"])], [])

    def test_behaviour_alerts_off(self):
        _, records = self.alerts(self.scan2, extra=["--behaviour-alerts", "off"])
        self.assertEqual([r for r in records if "who" in r and r["event_type"] != "anomaly"], [])

    def test_one_and_two_workers_identical(self):
        one = self.windows(self.scan, workers=1)
        two = self.windows(self.scan, workers=2)
        self.assertEqual(len(one), len(two))
        for a, b in zip(one, two):
            self.assertEqual(a["start_ms"], b["start_ms"])
            self.assertEqual(a["clusters"], b["clusters"], "window %d" % a["start_ms"])
            self.assertEqual(a["hosts"], b["hosts"], "window %d" % a["start_ms"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
