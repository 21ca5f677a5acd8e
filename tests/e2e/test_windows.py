#!/usr/bin/env python3
"""Window reports through the real binary (issue 3).

A capture is built here: 20 s of background traffic between many hosts, with a
distributed SYN flood (a new random source per burst of 10 packets, SAFEM's
injection) towards one victim during seconds 8, 9 and 10.

Checked:
  * the report has the contract fields and one line per 1 s window;
  * sum over windows of packets/bytes == sum over the flow records, and == parsed totals;
  * 1 worker and 2 workers give identical reports apart from timings;
  * destination-address entropy (SAFEM eq. 1) is lower in exactly the attack windows
    than in every clean window; source entropy is not lowered.
"""
import os
import random
import struct
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safem_e2e as e2e  # noqa: E402

START_S = 1700000000          # window-aligned start (Unix seconds)
DURATION_S = 20
ATTACK_WINDOWS = (8, 9, 10)   # seconds after START_S
VICTIM = (10, 99, 0, 1)


def ipv4_frame(src, dst, proto, sport, dport, payload_len, tcp_flags=0x10):
    l4 = (struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, tcp_flags, 65535, 0, 0)
          if proto == 6 else struct.pack("!HHHH", sport, dport, 8 + payload_len, 0))
    body = l4 + bytes(payload_len)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 0, 0, 64, proto, 0,
                     bytes(src), bytes(dst))
    eth = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00"
    frame = eth + ip + body
    return frame + bytes(max(0, 60 - len(frame)))


def build_capture(path, seed=3):
    rng = random.Random(seed)
    clients = [(10, 1, rng.randrange(256), rng.randrange(1, 255)) for _ in range(400)]
    servers = [(192, 0, rng.randrange(2, 3), rng.randrange(1, 255)) for _ in range(300)]
    packets = []  # (ts_us, frame)
    for sec in range(DURATION_S):
        for i in range(1500):  # background: client <-> server exchanges
            ts = (START_S + sec) * 1_000_000 + rng.randrange(1_000_000)
            c, s = rng.choice(clients), rng.choice(servers)
            sport = 1024 + rng.randrange(60000)
            if rng.random() < 0.5:
                packets.append((ts, ipv4_frame(c, s, 6, sport, 443, rng.randrange(0, 1200))))
            else:
                packets.append((ts, ipv4_frame(s, c, 17, 53, sport, rng.randrange(20, 400))))
        if sec in ATTACK_WINDOWS:
            base = (START_S + sec) * 1_000_000
            for burst in range(400):  # 4000 SYNs: bursts of 10 from a new source, ~10 ms apart
                src = (rng.randrange(1, 224), rng.randrange(256), rng.randrange(256),
                       rng.randrange(1, 255))
                t0 = base + burst * 2400
                for k in range(10):
                    packets.append((t0 + k * 10, ipv4_frame(src, VICTIM, 6,
                                                            1024 + rng.randrange(60000), 80, 0,
                                                            tcp_flags=0x02)))
    packets.sort(key=lambda p: p[0])
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for ts, frame in packets:
            f.write(struct.pack("<IIII", ts // 1_000_000, ts % 1_000_000, len(frame), len(frame)))
            f.write(frame)
    return len(packets)


def without_timings(report):
    r = dict(report)
    r.pop("timing", None)
    return r


class Windows(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = e2e.new_dir("windows")
        cls.pcap = os.path.join(cls.dir, "synflood.pcap")
        cls.frames = build_capture(cls.pcap)
        cls.runs = {}
        for workers in (1, 2):
            windows = os.path.join(cls.dir, "windows-%d.jsonl" % workers)
            run = e2e.run_probe(cls.pcap, workers=workers,
                                extra_opts=["--windows", windows, "--window", "1s"])
            cls.runs[workers] = (run, windows)
        cls.sliding_path = os.path.join(cls.dir, "sliding.jsonl")
        cls.sliding_run = e2e.run_probe(cls.pcap, workers=2, extra_opts=[
            "--windows", cls.sliding_path, "--window", "3s", "--slide", "1s"])

    def reports(self, workers):
        run, path = self.runs[workers]
        e2e.assert_run_ok(self, run)
        self.assertTrue(os.path.exists(path), "no windows file\n" + run.describe())
        self.assertFalse(os.path.exists(path + ".tmp"))
        return run, e2e.read_json_lines(path)

    def test_contract_and_totals(self):
        run, reports = self.reports(1)
        self.assertEqual(run.stats["rx_packets"], self.frames)
        for r in reports:
            for field in ("start_ms", "end_ms", "packets", "bytes", "flows"):
                self.assertIn(field, r)
            self.assertEqual(r["end_ms"] - r["start_ms"], 1000)
            self.assertEqual(r["start_ms"] % 1000, 0)
        starts = [r["start_ms"] for r in reports]
        self.assertEqual(starts, sorted(starts))
        self.assertEqual(starts[0], START_S * 1000)
        self.assertEqual(len(reports), DURATION_S)
        self.assertEqual(sum(r["packets"] for r in reports), run.stats["parsed_packets"])
        self.assertEqual(sum(r["bytes"] for r in reports), run.stats["parsed_bytes"])
        self.assertEqual(sum(r["packets"] for r in reports), sum(x.packets for x in run.rows))
        self.assertEqual(sum(r["bytes"] for r in reports), sum(x.bytes for x in run.rows))
        # Every flow record contributes to at least one window.
        self.assertGreaterEqual(sum(r["flows"] for r in reports), len(run.rows))

    def test_one_and_two_workers_identical(self):
        _, one = self.reports(1)
        _, two = self.reports(2)
        self.assertEqual(len(one), len(two))
        for a, b in zip(one, two):
            self.assertEqual(without_timings(a), without_timings(b))

    def test_syn_flood_lowers_destination_entropy_in_its_windows(self):
        _, reports = self.reports(1)
        dst = {}
        src = {}
        for r in reports:
            sec = r["start_ms"] // 1000 - START_S
            dst[sec] = r["entropy"]["dst_packets"]["aggregated"]
            src[sec] = r["entropy"]["src_packets"]["aggregated"]
        clean = [s for s in dst if s not in ATTACK_WINDOWS]
        for s in ATTACK_WINDOWS:
            self.assertLess(dst[s], min(dst[c] for c in clean),
                            "dst entropy %s in attack window %d vs clean %s" % (dst[s], s, dst))
            # Spoofed sources spread out: source entropy does not drop.
            self.assertGreater(src[s], min(src[c] for c in clean))
        # The victim is named in the pruned destination tree of the attack windows.
        for r in reports:
            sec = r["start_ms"] // 1000 - START_S
            prefixes = {p["prefix"] for p in r["prefixes"]["dst_packets"]}
            if sec in ATTACK_WINDOWS:
                self.assertIn("10.99.0.1/32", prefixes)
            else:
                self.assertNotIn("10.99.0.1/32", prefixes)

    def test_normalised_entropy_is_over_the_ipv4_space(self):
        """All traffic is IPv4: normalised = aggregated / 32 bits, so clean windows stay
        close to each other whatever residual the IPv4 root keeps after pruning."""
        _, reports = self.reports(1)
        clean = []
        for r in reports:
            for name, e in r["entropy"].items():
                self.assertAlmostEqual(e["normalised"], e["aggregated"] / 32.0, places=5,
                                       msg=name)
                self.assertTrue(0.0 <= e["normalised"] <= 1.0)
            if r["start_ms"] // 1000 - START_S not in ATTACK_WINDOWS:
                clean.append(r["entropy"]["dst_packets"]["normalised"])
        self.assertLess(max(clean) - min(clean), 0.05, clean)

    def test_sliding_windows_sum_their_panes(self):
        _, tumbling = self.reports(1)
        e2e.assert_run_ok(self, self.sliding_run)
        sliding = e2e.read_json_lines(self.sliding_path)
        by_start = {r["start_ms"]: r for r in tumbling}
        self.assertEqual(len(sliding), len(tumbling))
        for r in sliding:
            self.assertEqual(r["end_ms"] - r["start_ms"], 3000)
            covered = [by_start[t] for t in range(r["start_ms"], r["end_ms"], 1000)
                       if t in by_start]
            self.assertEqual(r["packets"], sum(c["packets"] for c in covered))
            self.assertEqual(r["bytes"], sum(c["bytes"] for c in covered))
            self.assertEqual(r["flows"], sum(c["flows"] for c in covered))
        # Reports come every slide: end times step by 1 s.
        ends = [r["end_ms"] for r in sliding]
        self.assertEqual(ends, list(range(ends[0], ends[0] + 1000 * len(ends), 1000)))

    def test_bad_window_options(self):
        for opts, name in ((["--window", "1s", "--slide", "0.7s"], "slide"),
                           (["--alpha", "1.5"], "alpha"), (["--log-base", "1"], "log-base"),
                           (["--trees", self.dir], "trees")):
            run = e2e.run_probe(self.pcap, extra_opts=opts)
            self.assertEqual(run.rc, 2, run.describe())
            self.assertIn(name, run.stderr)


if __name__ == "__main__":
    e2e.main()
