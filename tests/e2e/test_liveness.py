#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A probe that never wedges: captures that used to hang it or make it run away.

Each capture is written here, frame by frame (Ethernet/IPv4/TCP), so the test
does not depend on any generator:

  - one TCP connection (both directions, 2,000 packets over 20 s) for a range
    of client ports, replayed with two workers and software RSS: for half of
    the ports the flow's owner is the worker that does not poll the file. Each
    run must end by itself with the exact flows of the reference model and the
    same window reports as one worker;
  - a capture whose last packet is stamped five years later: the run ends at
    once with a bounded number of window reports, the jump counted and marked;
  - timestamps going backwards: every packet accounted (flows and windows),
    the late ones counted;
  - SIGTERM during a busy looped run with windows and alerts on: ends within
    2 s with complete outputs.
"""

import os
import signal
import struct
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safem_e2e as e2e  # noqa: E402

CLIENT = bytes([10, 0, 0, 1])
SERVER = bytes([10, 0, 1, 2])
T0_US = 1_700_000_000_000_000
FIVE_YEARS_US = 5 * 365 * 86400 * 1_000_000
RUN_TIMEOUT_S = 60  # a wedged run is killed (and fails) well before the suite's limit


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def tcp_frame(src, dst, sport, dport, flags, payload_len=0):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, 1, 1, 5 << 4, flags, 65535, 0, 0)
    payload = b"\xab" * payload_len
    total = 20 + len(tcp) + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    eth = b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + b"\x08\x00"
    return eth + ip + tcp + payload


def write_pcap(path, frames):
    """frames: [(ts_us, bytes)] in file order (timestamps need not increase)."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for ts_us, frame in frames:
            f.write(struct.pack("<IIII", ts_us // 1_000_000, ts_us % 1_000_000, len(frame),
                                len(frame)))
            f.write(frame)
    return path


def connection(sport, packets=2000, span_s=20, start_us=T0_US):
    """One TCP connection: SYN, SYN-ACK, data both ways, no FIN (the flows stay open)."""
    frames = []
    step = span_s * 1_000_000 // packets
    for i in range(packets):
        ts = start_us + i * step
        if i % 2 == 0:
            flags = 0x02 if i == 0 else 0x10
            frames.append((ts, tcp_frame(CLIENT, SERVER, sport, 443, flags, 100)))
        else:
            flags = 0x12 if i == 1 else 0x10
            frames.append((ts, tcp_frame(SERVER, CLIENT, 443, sport, flags, 1000)))
    return frames


def window_lines(path):
    """Window reports without the run-to-run timing member."""
    out = []
    for rec in e2e.read_json_lines(path):
        rec.pop("timing", None)
        out.append(rec)
    return out


class Liveness(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        e2e.require_probe()
        cls.dir = e2e.new_dir("liveness")

    def run_windows(self, pcap, workers, extra=(), timeout=RUN_TIMEOUT_S, **kw):
        windows = os.path.join(e2e.new_dir("w"), "windows.jsonl")
        run = e2e.run_probe(pcap, workers=workers, timeout=timeout,
                            extra_opts=["--windows", windows] + list(extra), **kw)
        return run, windows

    def test_one_connection_two_workers(self):
        owners = set()
        for sport in range(40000, 40016):
            with self.subTest(sport=sport):
                frames = connection(sport)
                pcap = write_pcap(os.path.join(self.dir, "conn%d.pcap" % sport), frames)
                ref = e2e.reference_summary(pcap)
                end_ms = ref["last_ts_us"] // 1000
                expected = e2e.expected_rows(ref["packets"], 30000, 300000, end_ms)
                one, win1 = self.run_windows(pcap, 1)
                two, win2 = self.run_windows(pcap, 2)
                for run in (one, two):
                    e2e.assert_run_ok(self, run)
                    e2e.assert_conservation(self, run)
                    self.assertEqual(sorted(run.rows), sorted(expected),
                                     e2e.diff_rows(expected, run.rows))
                w1, w2 = window_lines(win1), window_lines(win2)
                self.assertEqual(len(w1), 20, "20 s of packets, 1 s windows")
                self.assertEqual(sum(w["packets"] for w in w2), ref["ip_packets"])
                self.assertEqual(w1, w2, "1 and 2 workers give different window reports")
                self.assertTrue(two.stats["software_rss"])
                # Worker 0 polls the file; the flow's owner (symmetric hash) is worker 0
                # or worker 1, which only gets dispatched packets and ticks. Both cases
                # must occur over the port range (checked below).
                owner = [i for i, w in enumerate(two.stats["workers"]) if w["flow_packets"]]
                self.assertEqual(len(owner), 1, "both directions of a flow on one worker")
                owners.add(owner[0])
        self.assertEqual(owners, {0, 1}, "the port range did not cover both flow owners")

    def test_five_year_jump(self):
        frames = connection(41000, packets=400, span_s=20)
        last_ts, _ = frames[-1]
        frames.append((last_ts + FIVE_YEARS_US, tcp_frame(CLIENT, SERVER, 41000, 443, 0x10, 10)))
        pcap = write_pcap(os.path.join(self.dir, "jump.pcap"), frames)
        for workers in (1, 2):
            with self.subTest(workers=workers):
                start = time.monotonic()
                run, windows = self.run_windows(pcap, workers, timeout=30)
                e2e.assert_run_ok(self, run)
                e2e.assert_conservation(self, run)
                self.assertLess(time.monotonic() - start, 20, "the jump was walked, not skipped")
                reports = e2e.read_json_lines(windows)
                # 20 windows with packets, the one after the jump, one marker.
                self.assertLessEqual(len(reports), 20 + 1 + 1, "reports: %d" % len(reports))
                self.assertEqual(sum(r["packets"] for r in reports), run.stats["parsed_packets"])
                jumps = [r for r in reports if "time_jump" in r]
                self.assertEqual(len(jumps), 1, "one report marks the jump")
                jump = jumps[0]["time_jump"]
                self.assertGreaterEqual(jump["to_ms"] - jump["from_ms"], FIVE_YEARS_US // 1000 - 25000)
                self.assertEqual(jumps[0]["start_ms"], jump["to_ms"])
                self.assertGreaterEqual(sum(w["time_jumps"] for w in run.stats["workers"]), 1)
                self.assertEqual(run.stats["windows"]["time_jumps"], 1)

    def test_backwards_timestamps(self):
        # Three connections; every 50th packet of the file is stamped 10 s earlier.
        frames = []
        for k, sport in enumerate((42000, 42001, 42002)):
            frames += connection(sport, packets=600, span_s=30, start_us=T0_US + k * 7_000)
        frames.sort(key=lambda f: f[0])
        frames = [(ts - 10_000_000 if i % 50 == 49 else ts, fr) for i, (ts, fr) in enumerate(frames)]
        pcap = write_pcap(os.path.join(self.dir, "backwards.pcap"), frames)
        for workers in (1, 2):
            with self.subTest(workers=workers):
                run, windows = self.run_windows(pcap, workers)
                e2e.assert_run_ok(self, run)
                e2e.assert_conservation(self, run)
                reports = e2e.read_json_lines(windows)
                self.assertEqual(sum(r["packets"] for r in reports), run.stats["parsed_packets"])
                late = sum(w["late_packets"] for w in run.stats["workers"])
                self.assertEqual(late, len(frames) // 50, "late packets counted")

    def test_sigterm_busy_loop_with_windows(self):
        pcap = write_pcap(os.path.join(self.dir, "busy.pcap"),
                          [(0, tcp_frame(bytes([10, 1, i >> 8, i & 255]), SERVER, 1024 + i % 5000,
                                         80, 0x02)) for i in range(20000)])
        alerts = os.path.join(e2e.new_dir("a"), "alerts.jsonl")
        for workers in (1, 2):
            with self.subTest(workers=workers):
                run, windows = self.run_windows(
                    pcap, workers, extra=["--alerts", alerts, "--mbufs", "32768"], vdev_opts="infinite_rx=1",
                    signal_after=(3.0, signal.SIGTERM, True), timeout=3.0 + 10)
                e2e.assert_run_ok(self, run)
                self.assertGreater(run.stats["rx_packets"], 0)
                for path in (run.flows_path, windows, alerts):
                    self.assertTrue(os.path.exists(path), path)
                    self.assertFalse(os.path.exists(path + ".tmp"), path + ".tmp left")
                after = run.stats.get("shutdown", {}).get("seconds")
                self.assertIsNotNone(after, "stats.shutdown.seconds")
                self.assertLess(after, 2.0, "stopping took %.2f s" % after)
                e2e.read_json_lines(windows)  # whole lines only
                rec = run.stats["records"]
                self.assertEqual(rec["written"], rec["exported"])
                self.assertEqual(rec["exported"] + rec["dropped"], run.stats["flows"]["created"])


if __name__ == "__main__":
    e2e.main()
