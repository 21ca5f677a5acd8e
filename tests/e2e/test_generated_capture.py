#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""scripts/gen-capture self-tests, then the probe against the generator's ground truth.

Generator: its truth file must agree with an independent reference parser
reading the pcap back (safem_e2e.parse_frame), cover every case the tests rely
on, and be deterministic. Probe: on the mixed capture, per-5-tuple sums,
error counters, non-IP and RX counts equal the truth exactly, and the rows
equal the reference expiry model (lib/flow/safem_flow.h deadline semantics).
"""

import collections
import os
import shutil
import struct
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safem_e2e as e2e  # noqa: E402

SEED = 1
SHORT = ("--inactive-timeout", "2s", "--active-timeout", "10s")


def features(pcap):
    """Counts of the frame shapes the mixed profile promises."""
    c = collections.Counter()
    for ts_us, data, orig in e2e.read_pcap(pcap):
        p = e2e.parse_frame(data)
        etype, off, tags = struct.unpack_from("!H", data, 12)[0] if len(data) >= 14 else 0, 14, 0
        while etype in (0x8100, 0x88A8) and off + 4 <= len(data):
            if etype == 0x88A8:
                c["qinq_outer"] += 1
            etype = struct.unpack_from("!H", data, off + 2)[0]
            off += 4
            tags += 1
        if ts_us % 1000:
            c["ts_not_whole_ms"] += 1
        if p.status != "ok":
            if p.status == "non_ip":
                c["ethertype_%04x" % etype] += 1
                if tags:
                    c["non_ip_tagged"] += 1
            continue
        key = p.key
        c["proto_%d" % key[4]] += 1
        c["tags_%d" % tags] += 1
        v6 = ":" in key[0]
        c["ipv6" if v6 else "ipv4"] += 1
        if not v6 and data[off] & 0x0F > 5:
            c["ipv4_options"] += 1
        if p.fragment == e2e.FRAG_LATER:
            c["later_fragment_v%d" % (6 if v6 else 4)] += 1
        if p.fragment == e2e.FRAG_FIRST:
            c["first_fragment_v%d" % (6 if v6 else 4)] += 1
        if v6 and data[off + 6] in e2e.IPV6_EXT:
            c["ipv6_ext"] += 1
            nh, q, n = data[off + 6], off + 40, 0
            while nh in e2e.IPV6_EXT and nh != 44:
                n += 1
                nh, q = data[q], q + ((data[q + 1] + 2) * 4 if nh == 51 else (data[q + 1] + 1) * 8)
            c["ipv6_ext_chain_%d" % n] += 1
        if off + p.ip_bytes < len(data):
            c["ethernet_padding"] += 1
        if len(data) < orig:
            c["snap_cut"] += 1
        if key[4] == 6:
            for name, bit in (("syn", 2), ("fin", 1), ("rst", 4)):
                if p.tcp_flags & bit:
                    c["tcp_" + name] += 1
    return c


class GeneratorSelfTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pcap, cls.truth = e2e.gen_capture("--seed", SEED)
        cls.ref = e2e.reference_summary(cls.pcap)

    def test_pcap_header(self):
        with open(self.pcap, "rb") as f:
            hdr = f.read(24)
        magic, major, minor, _, _, snaplen, linktype = struct.unpack("<IHHiIII", hdr)
        self.assertEqual((magic, major, minor, linktype), (0xA1B2C3D4, 2, 4, 1))
        self.assertGreaterEqual(snaplen, 1514)

    def test_truth_matches_reference_parser(self):
        t, r = self.truth, self.ref
        for key in ("frames", "frame_bytes", "ip_packets", "ip_bytes", "non_ip", "first_ts_us",
                    "last_ts_us"):
            self.assertEqual(t[key], r[key], key)
        self.assertEqual(t["errors"], r["errors"])
        self.assertEqual("", e2e.diff_tuples(e2e.truth_tuples(t), r["tuples"]))

    def test_error_frames_are_the_listed_ones(self):
        numbers = [n for n, (_, data, _) in enumerate(e2e.read_pcap(self.pcap), 1)
                   if e2e.parse_frame(data).status not in ("ok", "non_ip")]
        self.assertEqual(numbers, self.truth["error_frame_numbers"])

    def test_every_error_reason_present(self):
        self.assertEqual(set(self.truth["errors"]), set(e2e.PARSE_ERROR_REASONS))

    def test_timestamps(self):
        prev = 0
        for ts_us, data, orig in e2e.read_pcap(self.pcap):
            self.assertGreaterEqual(ts_us, prev, "timestamps must not go back")
            self.assertLessEqual(len(data), orig)
            self.assertLessEqual(len(data), 1522, "frames must fit one mbuf")
            prev = ts_us
        span_s = (self.truth["last_ts_us"] - self.truth["first_ts_us"]) / 1e6
        self.assertTrue(40 <= span_s <= 180, "span %.1f s" % span_s)

    def test_coverage(self):
        c = features(self.pcap)
        want = ["proto_6", "proto_17", "proto_132", "proto_1", "proto_58", "proto_47", "ipv4",
                "ipv6", "tags_1", "tags_2", "qinq_outer", "ipv4_options", "later_fragment_v4",
                "first_fragment_v4", "later_fragment_v6", "first_fragment_v6", "ipv6_ext",
                "ipv6_ext_chain_2", "ipv6_ext_chain_8", "ethernet_padding", "snap_cut",
                "ethertype_0806", "ethertype_88cc", "non_ip_tagged", "tcp_syn", "tcp_fin",
                "tcp_rst"]
        self.assertEqual([w for w in want if not c[w]], [], "missing features; have %s" % dict(c))
        self.assertEqual(c["ts_not_whole_ms"], 0, "mixed timestamps must be whole ms")
        self.assertTrue(2000 <= self.truth["frames"] <= 25000, self.truth["frames"])

    def test_vlan_not_in_key(self):
        """Some 5-tuple appears both untagged and tagged (one flow by default)."""
        seen = collections.defaultdict(set)
        for _, data, _ in e2e.read_pcap(self.pcap):
            p = e2e.parse_frame(data)
            if p.status == "ok":
                seen[p.key].add(p.vlan)
        self.assertTrue(any(len(v) >= 3 for v in seen.values()))

    def test_timeouts_split_flows(self):
        """Default and short timeouts both split some flows; short active ones too."""
        end = self.truth["last_ts_us"] // 1000
        pk = self.ref["packets"]

        def splits(inactive_ms, active_ms):
            rows = e2e.expected_rows(pk, inactive_ms, active_ms, end)
            by_tuple = collections.defaultdict(list)
            for r in rows:
                by_tuple[e2e.tuple_of(r)].append(r)
            nonfinal = collections.Counter()
            for rs in by_tuple.values():
                rs.sort(key=lambda r: r.first_ms)
                nonfinal.update(r.end_reason for r in rs[:-1])
            return collections.Counter(r.end_reason for r in rows), nonfinal

        default, default_splits = splits(30000, 300000)
        short, short_splits = splits(2000, 10000)
        self.assertGreater(default["tcp_end"], 20, default)
        self.assertGreater(default["end_of_input"], 5, default)
        self.assertGreater(default_splits["inactive"], 10, default_splits)
        self.assertGreater(short_splits["inactive"], 3 * default_splits["inactive"], short_splits)
        self.assertGreater(short_splits["active"], 5, short_splits)

    def test_deterministic(self):
        d = e2e.new_dir("det")
        outs = []
        for seed in (SEED, SEED, SEED + 1):
            out = os.path.join(d, "c%d.pcap" % len(outs))
            truth = out + ".json"
            subprocess.run([sys.executable, e2e.GEN_CAPTURE, "--out", out, "--truth", truth,
                            "--seed", str(seed)], check=True, timeout=120)
            with open(out, "rb") as f, open(truth, "rb") as g:
                outs.append((f.read(), g.read()))
        self.assertEqual(outs[0], outs[1], "same seed, different output")
        self.assertNotEqual(outs[0][0], outs[2][0], "different seed, same capture")
        with open(self.pcap, "rb") as f:
            self.assertEqual(f.read(), outs[0][0], "cached capture differs from a new one")

    def test_start_option(self):
        pcap, truth = e2e.gen_capture("--seed", SEED, "--start", 1600000000)
        self.assertEqual(truth["first_ts_us"] - 1600000000 * 1000000,
                         self.truth["first_ts_us"] - 1700000000 * 1000000)

    def test_bench_profile(self):
        pcap, truth = e2e.gen_capture("--profile", "bench", "--flows", 1000, "--packets", 5000,
                                      "--seed", 3)
        self.assertEqual(os.path.getsize(pcap), 24 + 5000 * (16 + 60))
        ref = e2e.reference_summary(pcap)
        for key in ("frames", "frame_bytes", "ip_packets", "ip_bytes", "non_ip", "first_ts_us",
                    "last_ts_us"):
            self.assertEqual(truth[key], ref[key], key)
        self.assertEqual(ref["errors"], {})
        self.assertEqual(len(ref["tuples"]), 1000)
        self.assertEqual(set(ref["tuples"].values()), {(5, 5 * 46)})
        self.assertEqual("", e2e.diff_tuples(e2e.truth_tuples(truth), ref["tuples"]))
        prev = None
        for ts_us, data, orig in e2e.read_pcap(pcap):
            self.assertEqual((len(data), orig), (60, 60))
            self.assertEqual(e2e_checksum(data[14:34]), 0, "IPv4 header checksum")
            if prev is not None:
                self.assertEqual(ts_us, prev + 1)
            prev = ts_us
        # Every flow once per round: the first 1000 packets are 1000 distinct flows.
        keys = [e2e.parse_frame(d).key for _, d, _ in e2e.read_pcap(pcap)]
        self.assertEqual(len(set(keys[:1000])), 1000)

    def test_bench_profile(self):
        """The bench profile writes what it was asked for: 200k packets over 100k flows.
        (How fast it does so is measured by the benchmarks, not here: the test
        machines are shared and a wall-clock limit would fail on load alone.)"""
        d = e2e.new_dir("bench")
        pcap = os.path.join(d, "b.pcap")
        subprocess.run([sys.executable, e2e.GEN_CAPTURE, "--profile", "bench", "--flows", "100000",
                        "--packets", "200000", "--out", pcap], check=True, timeout=300)
        keys = [e2e.parse_frame(data).key for _, data, _ in e2e.read_pcap(pcap)]
        self.assertEqual(len(keys), 200000)
        self.assertEqual(len(set(keys)), 100000)

    def test_help(self):
        res = subprocess.run([sys.executable, e2e.GEN_CAPTURE, "--help"], capture_output=True,
                             text=True, timeout=30)
        self.assertEqual(res.returncode, 0)
        for opt in ("--out", "--truth", "--seed", "--profile", "--flows", "--packets", "--start"):
            self.assertIn(opt, res.stdout)

    @unittest.skipUnless(shutil.which("tshark"), "tshark not installed")
    def test_tshark_decodes(self):
        """tshark sees the same frames, addresses and ports (fragment reassembly off)."""
        res = subprocess.run(
            ["tshark", "-n", "-r", self.pcap, "-o", "ip.defragment:FALSE",
             "-o", "ipv6.defragment:FALSE", "-T", "fields", "-E", "occurrence=f",
             "-e", "frame.number", "-e", "ip.src", "-e", "ip.dst", "-e", "ipv6.src",
             "-e", "ipv6.dst", "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "udp.srcport",
             "-e", "udp.dstport"], capture_output=True, text=True, timeout=120)
        self.assertEqual(res.returncode, 0, res.stderr)
        lines = res.stdout.splitlines()
        self.assertEqual(len(lines), self.truth["frames"])
        mismatches = []
        for line, (_, data, _) in zip(lines, e2e.read_pcap(self.pcap)):
            p = e2e.parse_frame(data)
            if p.status != "ok":
                continue
            f = line.split("\t")
            src, dst = (f[1], f[2]) if f[1] else (f[3], f[4])
            if (src, dst) != p.key[:2]:
                mismatches.append((f[0], "addr", (src, dst), p.key))
            if p.key[4] in (6, 17) and p.fragment != e2e.FRAG_LATER:
                ports = (f[5], f[6]) if p.key[4] == 6 else (f[7], f[8])
                if ports != (str(p.key[2]), str(p.key[3])):
                    mismatches.append((f[0], "ports", ports, p.key))
        self.assertEqual(mismatches[:10], [])


def e2e_checksum(header):
    total = sum(struct.unpack("!%dH" % (len(header) // 2), header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class ProbeOnGeneratedCapture(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        e2e.require_probe()
        cls.pcap, cls.truth = e2e.gen_capture("--seed", SEED)
        cls.ref = e2e.reference_summary(cls.pcap)
        cls.end_ms = cls.truth["last_ts_us"] // 1000
        cls.run_default = e2e.run_probe(cls.pcap)
        cls.run_short = e2e.run_probe(cls.pcap, extra_opts=SHORT)

    def check_totals(self, run):
        e2e.assert_run_ok(self, run)
        s, t = run.stats, self.truth
        self.assertEqual(s["rx_packets"], t["frames"], "rx_packets != frames in the capture")
        self.assertEqual(s["rx_bytes"], t["frame_bytes"], "rx_bytes != captured frame bytes")
        self.assertEqual(s["parsed_packets"], t["ip_packets"], "parsed_packets")
        self.assertEqual(s["parsed_bytes"], t["ip_bytes"], "parsed_bytes (IP-layer bytes)")
        self.assertEqual(s["non_ip"], t["non_ip"], "non_ip")
        got_errors = {k: v for k, v in s["parse_errors"].items() if v}
        self.assertEqual(got_errors, t["errors"], "parse error counters per reason")
        self.assertEqual(s["parse_errors_total"], sum(t["errors"].values()))
        self.assertEqual(s["clock"], "packet", "replay of a pcap file uses packet time")

    def check_tuples(self, run):
        self.assertEqual("", e2e.diff_tuples(e2e.truth_tuples(self.truth), e2e.aggregate(run.rows)),
                         "per-5-tuple sums differ from the ground truth")

    def test_default_timeouts_totals(self):
        self.check_totals(self.run_default)

    def test_default_timeouts_tuples(self):
        e2e.assert_run_ok(self, self.run_default)
        self.check_tuples(self.run_default)

    def test_short_timeouts_totals(self):
        self.check_totals(self.run_short)

    def test_short_timeouts_tuples(self):
        e2e.assert_run_ok(self, self.run_short)
        self.check_tuples(self.run_short)

    def test_rows_well_formed(self):
        for run in (self.run_default, self.run_short):
            e2e.assert_run_ok(self, run)
            e2e.assert_rows_sane(self, run.rows)
            lo, hi = self.truth["first_ts_us"] // 1000, self.truth["last_ts_us"] // 1000
            for r in run.rows:
                self.assertTrue(lo <= r.first_ms and r.last_ms <= hi,
                                "row times outside the capture [%d, %d]: %r" % (lo, hi, r))

    def test_end_reasons_plausible(self):
        run = self.run_default
        e2e.assert_run_ok(self, run)
        fin_rst = {k for _, k, _, fl in self.ref["packets"]
                   if k[4] == e2e.IPPROTO_TCP and fl & (e2e.TCP_FIN | e2e.TCP_RST)}
        ended = {e2e.tuple_of(r) for r in run.rows if r.end_reason == "tcp_end"}
        self.assertEqual(sorted(fin_rst - ended, key=repr)[:10], [],
                         "TCP tuples with FIN/RST but no tcp_end row")
        for r in run.rows:
            if r.end_reason == "tcp_end":
                self.assertEqual(r.proto, e2e.IPPROTO_TCP, repr(r))
                self.assertTrue(r.tcp_flags & (e2e.TCP_FIN | e2e.TCP_RST), repr(r))
        reasons = collections.Counter(r.end_reason for r in run.rows)
        self.assertEqual(reasons["evicted"], 0, reasons)
        self.assertGreater(reasons["end_of_input"], 0, reasons)
        self.assertGreater(reasons["inactive"], 0, reasons)

    def test_rows_equal_model_default_timeouts(self):
        run = self.run_default
        e2e.assert_run_ok(self, run)
        want = e2e.expected_rows(self.ref["packets"], 30000, 300000, self.end_ms)
        self.assertEqual("", e2e.diff_rows(want, run.rows),
                         "rows differ from the deadline model (inactive 30 s, active 300 s)")

    def test_rows_equal_model_short_timeouts(self):
        run = self.run_short
        e2e.assert_run_ok(self, run)
        want = e2e.expected_rows(self.ref["packets"], 2000, 10000, self.end_ms)
        self.assertEqual("", e2e.diff_rows(want, run.rows),
                         "rows differ from the deadline model (inactive 2 s, active 10 s)")

    def test_seed_variation(self):
        """A second seed, different start time: totals and tuples still exact."""
        pcap, truth = e2e.gen_capture("--seed", 11, "--start", 1650000000, "--flows", 500)
        run = e2e.run_probe(pcap, extra_opts=("--inactive-timeout", "5s"))
        e2e.assert_run_ok(self, run)
        self.assertEqual(run.stats["rx_packets"], truth["frames"])
        self.assertEqual(run.stats["rx_bytes"], truth["frame_bytes"])
        self.assertEqual({k: v for k, v in run.stats["parse_errors"].items() if v}, truth["errors"])
        self.assertEqual("", e2e.diff_tuples(e2e.truth_tuples(truth), e2e.aggregate(run.rows)))
        ref = e2e.reference_summary(pcap)
        want = e2e.expected_rows(ref["packets"], 5000, 300000, truth["last_ts_us"] // 1000)
        self.assertEqual("", e2e.diff_rows(want, run.rows))


if __name__ == "__main__":
    e2e.main()
