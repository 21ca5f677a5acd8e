#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""scripts/gen-attacks: labelled captures (docs/detection.md, "Labelled traces").

The captures are read back with safem_e2e's pcap reader and reference frame
parser, and every claim of the truth file is checked against the pcap by an
independent count, never by the generator's own bookkeeping:
  * same arguments, same bytes (pcap and truth); another seed, other bytes;
  * every frame parses, has a valid IPv4 header checksum, total length that
    matches the frame (or the 60-byte Ethernet minimum) and a valid TCP/UDP
    checksum; timestamps are non-decreasing and inside [start_ms, end_ms);
  * windows are aligned to multiples of --window-ms, contiguous, and their
    total_packets are the pcap's packets per window;
  * per attack, a signature read from the packets (e.g. SYN-only to the victim's
    port for syn_flood, UDP from port 4000 of the infected hosts for witty)
    counts, per window, the truth's attack_packets within ATTACK_COUNT_TOL, and
    never shows in the attack's clean windows;
  * in windows the attack covers fully, attack_share is the requested share
    within SHARE_REL_TOL (relative); partial windows hold the measured share;
  * the synthetic background runs at --rate within RATE_TOL;
  * --background-pcap loops a real capture from /work/shared/pcaps (skipped
    with a message when absent): loop k is the file shifted by k periods with
    both addresses' low 16 bits XORed with k (or unchanged with --no-remap);
  * a nanosecond big-endian pcap is read; a non-Ethernet one is refused;
  * safem-probe (when built) parses every frame of the all-attacks capture.
Whole test: a few seconds of traffic per capture, well under 30 s.
"""
import collections
import hashlib
import ipaddress
import json
import os
import struct
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safem_e2e as e2e  # noqa: E402

SCRIPT = os.path.join(e2e.SOURCE_ROOT, "scripts", "gen-attacks")
REAL_BG = os.path.join(e2e.SHARED_PCAPS, "bg_http_example_pcpp.pcap")
REAL_ATTACK = os.path.join(e2e.SHARED_PCAPS, "ddos_synflood_spoofed_stopddos.pcap")

SHARE_REL_TOL = 0.10       # |share - requested| <= 10 % of requested, fully covered windows
ATTACK_COUNT_TOL = (3, 0.03)  # |signature - truth| <= 3 packets + 3 %
RATE_TOL = 0.15            # synthetic background packets/s within 15 % of --rate
START_MS = 1700000000000


def gen(out_dir, name, *args):
    pcap = os.path.join(out_dir, name + ".pcap")
    truth = os.path.join(out_dir, name + ".json")
    argv = [sys.executable, SCRIPT, "--output", pcap, "--truth", truth] + [str(a) for a in args]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        raise AssertionError("%s\nexit %d\n%s" % (" ".join(argv), res.returncode, res.stderr))
    with open(truth) as f:
        return pcap, json.load(f)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def fold(s):
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def words_sum(b):
    if len(b) % 2:
        b += b"\0"
    return sum(struct.unpack("!%dH" % (len(b) // 2), b))


Pkt = collections.namedtuple("Pkt", "ts_us src dst proto sport dport flags ip_len")


def load(pcap):
    """Pkt per frame (IPv4 only has ports/flags; others keep proto None)."""
    out = []
    for ts, data, _ in e2e.read_pcap(pcap):
        p = e2e.parse_frame(data)
        if p.status != "ok":
            out.append(Pkt(ts, None, None, None, 0, 0, 0, 0))
            continue
        src, dst, sport, dport, proto = p.key
        out.append(Pkt(ts, src, dst, proto, sport, dport, p.tcp_flags, p.ip_bytes))
    return out


def check_frame(tc, data, where):
    """IPv4 header checksum and lengths, TCP/UDP checksums, of a synthetic frame."""
    tc.assertEqual(data[12:14], b"\x08\x00", where + ": not IPv4")
    ihl = (data[14] & 15) * 4
    tc.assertEqual(fold(words_sum(data[14:14 + ihl])), 0xFFFF, where + ": IPv4 header checksum")
    total = struct.unpack_from("!H", data, 16)[0]
    want = max(60, 14 + total)
    tc.assertEqual(len(data), want, where + ": frame length vs IPv4 total length %d" % total)
    if len(data) > 14 + total:
        tc.assertEqual(data[14 + total:], bytes(len(data) - 14 - total), where + ": padding")
    proto = data[23]
    l4 = data[14 + ihl:14 + total]
    if proto in (6, 17):
        ph = data[26:34] + struct.pack("!BBH", 0, proto, len(l4))
        tc.assertEqual(fold(words_sum(ph + l4)), 0xFFFF, where + ": L4 checksum")
        if proto == 17:
            tc.assertEqual(struct.unpack_from("!H", l4, 4)[0], len(l4), where + ": UDP length")
    elif proto == 1:
        tc.assertEqual(fold(words_sum(l4)), 0xFFFF, where + ": ICMP checksum")


def per_window(pkts, truth, match=None):
    """Packets (matching) per truth window, by timestamp."""
    wms = truth["parameters"]["window_ms"]
    counts = collections.Counter()
    for p in pkts:
        if match is None or match(p):
            counts[(p.ts_us // 1000 - truth["start_ms"]) // wms] += 1
    return counts


def signature(attack):
    """A predicate on Pkt that picks this attack's packets, from the attack model
    and the addresses the truth names (victim, scanner, infected hosts)."""
    kind, inv = attack["attack"], attack["involved"]
    victims = set(inv.get("victims") or ())
    if kind in ("syn_flood", "safem_flood"):
        port = inv["victim_ports"][0]
        return lambda p: (p.proto == 6 and p.dst in victims and p.dport == port
                          and p.flags & 0x12 == 0x02)
    if kind == "udp_flood":
        srcs = set(inv["attackers"])
        return lambda p: p.proto == 17 and p.dst in victims and p.src in srcs
    if kind == "reflection":
        port = inv["service_port"]
        return lambda p: (p.proto == 17 and ((p.dst in victims and p.sport == port and
                                              p.ip_len > 400) or
                                             (p.src in victims and p.dport == port and
                                              inv["direction"] == "both")))
    if kind in ("horizontal_scan", "vertical_scan"):
        sc = set(inv["scanners"])
        return lambda p: p.src in sc or p.dst in sc
    if kind == "blaster":
        inf = set(inv["infected"])
        return lambda p: p.proto == 6 and p.src in inf and p.dport == 135 and p.flags == 0x02
    if kind == "witty":
        inf = set(inv["infected"])
        return lambda p: p.proto == 17 and p.src in inf and p.sport == 4000
    raise AssertionError("no signature for %s" % kind)


class GenAttacks(unittest.TestCase):
    SHARE = 0.05

    @classmethod
    def setUpClass(cls):
        if not os.path.isfile(SCRIPT):
            raise unittest.SkipTest("scripts/gen-attacks not found at %s" % SCRIPT)
        cls.dir = e2e.new_dir("gen_attacks")
        cls.pcap, cls.truth = gen(cls.dir, "all", "--preset", "all-attacks", "--share", cls.SHARE,
                                  "--preset-attack-s", 2, "--preset-gap-s", 1, "--seed", 11,
                                  "--rate", 2000)
        cls.pkts = load(cls.pcap)
        cls.frames = list(e2e.read_pcap(cls.pcap))

    def test_deterministic(self):
        pcap2, truth2 = gen(self.dir, "all_again", "--preset", "all-attacks", "--share",
                            self.SHARE, "--preset-attack-s", 2, "--preset-gap-s", 1, "--seed", 11,
                            "--rate", 2000)
        self.assertEqual(sha256(self.pcap), sha256(pcap2), "same arguments, other pcap bytes")
        self.assertEqual(self.truth, truth2)
        pcap3, _ = gen(self.dir, "all_seed12", "--preset", "all-attacks", "--share", self.SHARE,
                       "--preset-attack-s", 2, "--preset-gap-s", 1, "--seed", 12, "--rate", 2000)
        self.assertNotEqual(sha256(self.pcap), sha256(pcap3), "seed has no effect")

    def test_frames_valid(self):
        t = self.truth
        last = 0
        for i, (ts, data, orig) in enumerate(self.frames, 1):
            where = "frame %d" % i
            self.assertEqual(len(data), orig, where)
            self.assertGreaterEqual(ts, last, where + ": timestamp goes back")
            last = ts
            self.assertTrue(t["start_ms"] * 1000 <= ts < t["end_ms"] * 1000, where)
            self.assertEqual(self.pkts[i - 1].src is not None, True, where + ": parse error")
            check_frame(self, data, where)
        self.assertEqual(len(self.frames), t["packets"])

    def test_windows(self):
        t = self.truth
        wms = t["parameters"]["window_ms"]
        wins = t["windows"]
        self.assertEqual(wins[0]["start_ms"], t["start_ms"])
        self.assertEqual(t["start_ms"] % wms, 0)
        for a, b in zip(wins, wins[1:]):
            self.assertEqual(a["end_ms"], b["start_ms"])
        counts = per_window(self.pkts, t)
        for i, w in enumerate(wins):
            self.assertEqual(w["start_ms"] % wms, 0)
            self.assertEqual(w["total_packets"], counts[i], "window %d total" % i)
        self.assertEqual(sum(w["total_packets"] for w in wins), t["packets"])
        classes = {w["class"] for w in wins}
        self.assertEqual(classes, {"normal", "syn_flood", "udp_flood", "reflection",
                                   "horizontal_scan", "vertical_scan", "worm"})

    def test_attack_shares(self):
        t = self.truth
        self.assertEqual(len(t["attacks"]), 8)
        for a in t["attacks"]:
            with self.subTest(attack=a["attack"]):
                sig = per_window(self.pkts, t, signature(a))
                in_attack = 0
                for i, w in enumerate(t["windows"]):
                    mine = [x for x in w.get("attacks", ()) if x["id"] == a["id"]]
                    if not mine:
                        self.assertLessEqual(sig[i], 2, "window %d: %d %s-like packets outside "
                                             "the attack" % (i, sig[i], a["attack"]))
                        continue
                    in_attack += 1
                    n = mine[0]["packets"]
                    tol = ATTACK_COUNT_TOL[0] + ATTACK_COUNT_TOL[1] * n
                    self.assertLessEqual(abs(sig[i] - n), tol,
                                         "window %d: signature %d, truth %d" % (i, sig[i], n))
                    self.assertAlmostEqual(w["attack_share"],
                                           w["attack_packets"] / w["total_packets"], places=5)
                    full = a["start_ms"] <= w["start_ms"] and w["end_ms"] <= a["end_ms"]
                    if full:
                        self.assertLessEqual(abs(w["attack_share"] - self.SHARE),
                                             SHARE_REL_TOL * self.SHARE,
                                             "window %d share %.4f" % (i, w["attack_share"]))
                self.assertEqual(in_attack, 2, "attack of 2 s over 2 aligned windows")

    def test_safem_bursts(self):
        a = next(x for x in self.truth["attacks"] if x["attack"] == "safem_flood")
        self.assertEqual(a["class"], "syn_flood")
        sig = signature(a)
        pk = [p for p in self.pkts
              if sig(p) and a["start_ms"] * 1000 <= p.ts_us < a["end_ms"] * 1000 + 1000]
        by_src = collections.Counter(p.src for p in pk)
        # A new source per burst of 10 SYNs; the background's own inbound sessions to the
        # victim's port add a few single SYNs.
        bursts = [s for s, n in by_src.items() if n == 10]
        self.assertLessEqual(len(by_src) - len(bursts), 2, sorted(by_src.values()))
        self.assertEqual(a["involved"]["attackers"]["count"], len(bursts))

    def test_rate(self):
        t = self.truth
        rate = t["background_packets"] / t["parameters"]["duration_s"]
        self.assertLessEqual(abs(rate - 2000) / 2000, RATE_TOL, "background %.0f pps" % rate)
        home = [ipaddress.ip_network(h) for h in t["home"]]
        both = sum(1 for p in self.pkts[:5000]
                   if p.src and any(ipaddress.ip_address(p.dst) in n for n in home))
        self.assertGreater(both, 1000, "inbound (to home) packets missing")

    def test_partial_windows_and_shares(self):
        pcap, t = gen(self.dir, "partial", "--duration", 6, "--rate", 1500, "--seed", 3,
                      "--attack", "syn_flood:1.5:3:0.2,port=443",
                      "--attack", "witty:2:2:0.01,hosts=2")
        pkts = load(pcap)
        for a in t["attacks"]:
            sig = per_window(pkts, t, signature(a))
            for i, w in enumerate(t["windows"]):
                mine = [x for x in w.get("attacks", ()) if x["id"] == a["id"]]
                n = mine[0]["packets"] if mine else 0
                self.assertLessEqual(abs(sig[i] - n), ATTACK_COUNT_TOL[0] + 0.03 * n,
                                     "%s window %d" % (a["attack"], i))
                if mine:
                    full = a["start_ms"] <= w["start_ms"] and w["end_ms"] <= a["end_ms"]
                    share = mine[0]["share"]
                    if full:
                        self.assertLessEqual(abs(share - a["share_requested"]),
                                             SHARE_REL_TOL * a["share_requested"] + 1.5 /
                                             w["total_packets"], "%s window %d" % (a["attack"], i))
                    else:  # about half the window covered
                        self.assertLess(share, a["share_requested"] * 0.75)
        w1 = t["windows"][1]
        self.assertEqual(w1["class"], "syn_flood")
        self.assertEqual(t["attacks"][1]["class"], "worm")
        self.assertEqual(len(t["attacks"][1]["involved"]["infected"]), 2)

    def test_background_pcap_loop(self):
        if not os.path.isfile(REAL_BG):
            self.skipTest("real capture %s absent (shared pcaps not mounted)" % REAL_BG)
        src = list(e2e.read_pcap(REAL_BG))
        pcap, t = gen(self.dir, "real", "--duration", 40, "--background-pcap", REAL_BG,
                      "--home", "10.0.0.0/24", "--attack", "syn_flood:20:2:0.1")
        info = t["parameters"]["background_pcaps"][0]
        self.assertEqual(info["loops"], 3)
        period = info["period_us"]
        out = list(e2e.read_pcap(pcap))
        attack_sig = signature(t["attacks"][0])
        bg = [f for f, p in zip(out, load(pcap)) if not attack_sig(p)]
        self.assertEqual(len(bg), t["background_packets"])
        first = src[0][0]
        for k in range(3):
            loop = [f for f in bg if t["start_ms"] * 1000 + k * period <= f[0] <
                    t["start_ms"] * 1000 + (k + 1) * period]
            if k < 2:
                self.assertEqual(len(loop), len(src), "loop %d packets" % k)
            shift = t["start_ms"] * 1000 + k * period - first
            self.assertEqual(sorted(ts for ts, _, _ in loop),
                             sorted(ts + shift for ts, _, _ in src)[:len(loop)])
            if k == 0:
                continue
            # IPv4: low 16 bits of both addresses XORed with the loop index, header
            # checksum still valid.
            want = sorted((ts + shift, struct.unpack_from("!I", d, 26)[0] ^ k,
                           struct.unpack_from("!I", d, 30)[0] ^ k)
                          for ts, d, _ in src if d[12:14] == b"\x08\x00")
            got = sorted((ts, struct.unpack_from("!I", d, 26)[0], struct.unpack_from("!I", d, 30)[0])
                         for ts, d, _ in loop if d[12:14] == b"\x08\x00")
            self.assertEqual(got, want[:len(got)], "loop %d addresses" % k)
            for _, d, _ in loop:
                if d[12:14] == b"\x08\x00":
                    self.assertEqual(fold(words_sum(d[14:34])), 0xFFFF, "remapped checksum")
        # The attack still gets its share on top of real traffic.
        for w in t["windows"][20:22]:
            self.assertEqual(w["class"], "syn_flood")
            self.assertLessEqual(abs(w["attack_share"] - 0.1), 0.1 * SHARE_REL_TOL +
                                 1.5 / w["total_packets"])
        pcap2, _ = gen(self.dir, "real_noremap", "--duration", 40, "--background-pcap", REAL_BG,
                       "--no-remap")
        frames = [d for _, d, _ in e2e.read_pcap(pcap2)]
        self.assertEqual(set(frames[:len(src)]), set(frames[len(src):2 * len(src)]))

    def test_pcap_attack(self):
        if not os.path.isfile(REAL_ATTACK):
            self.skipTest("real capture %s absent (shared pcaps not mounted)" % REAL_ATTACK)
        pcap, t = gen(self.dir, "pcapatk", "--duration", 5, "--rate", 1000,
                      "--attack", "pcap:%s:1:3:0.1" % REAL_ATTACK)
        a = t["attacks"][0]
        self.assertEqual(a["class"], "syn_flood")
        self.assertEqual(a["involved"]["victims"], ["10.10.10.10"])
        self.assertTrue(a["involved"]["attackers"]["spoofed"])
        sig = per_window(load(pcap), t, lambda p: p.dst == "10.10.10.10" and p.dport == 25565)
        for i in (1, 2, 3):
            w = t["windows"][i]
            self.assertEqual(sig[i], w["attack_packets"])
            self.assertLessEqual(abs(w["attack_share"] - 0.1), 0.1 * SHARE_REL_TOL +
                                 1.5 / w["total_packets"])

    def test_pcap_attack_victim_and_stretch(self):
        """victim= moves the capture's victim into the mix's network (both directions,
        checksums still valid); timing=stretch plays the file once over DURATION_S with
        its own gaps scaled."""
        if not os.path.isfile(REAL_ATTACK):
            self.skipTest("real capture %s absent (shared pcaps not mounted)" % REAL_ATTACK)
        src = list(e2e.read_pcap(REAL_ATTACK))
        pcap, t = gen(self.dir, "pcapstretch", "--duration", 40, "--rate", 200,
                      "--home", "192.168.0.0/16",
                      "--attack", "pcap:%s:5:30:0.5,timing=stretch,victim=192.168.7.9"
                      % REAL_ATTACK)
        a = t["attacks"][0]
        self.assertEqual(a["involved"]["victims"], ["192.168.7.9"])
        self.assertEqual(a["involved"]["victim_in_file"], "10.10.10.10")
        self.assertEqual(a["packets"], len(src))  # once, no loop
        frames = list(e2e.read_pcap(pcap))
        pkts = load(pcap)
        att = [(f, p) for f, p in zip(frames, pkts) if p.dport == 25565]
        self.assertEqual(len(att), len(src))
        self.assertFalse(any(p.dst == "10.10.10.10" or p.src == "10.10.10.10" for p in pkts))
        for (ts, data, _), p in att:
            self.assertEqual(p.dst, "192.168.7.9")
            # Real frames keep their own trailer: checksums over the IPv4 total length.
            ihl = (data[14] & 15) * 4
            total = struct.unpack_from("!H", data, 16)[0]
            self.assertEqual(fold(words_sum(data[14:14 + ihl])), 0xFFFF, "IPv4 checksum %d" % ts)
            l4 = data[14 + ihl:14 + total]
            ph = data[26:34] + struct.pack("!BBH", 0, 6, len(l4))
            self.assertEqual(fold(words_sum(ph + l4)), 0xFFFF, "TCP checksum %d" % ts)
        # Stretched: first packet at START_S, last just before START_S + DURATION_S, the
        # file's gaps scaled by one factor (an inner packet lands where it should).
        t0 = t["start_ms"] * 1000
        stamps = sorted(ts for (ts, _, _), _p in att)
        self.assertEqual(stamps[0], t0 + 5000000)
        self.assertGreater(stamps[-1], t0 + 34900000)
        self.assertLess(stamps[-1], t0 + 35000000)
        span_in = src[-1][0] - src[0][0]
        mid = sorted(ts for ts, _, _ in src)[len(src) // 2]
        want = t0 + 5000000 + (mid - src[0][0]) * (30000000 - 1) // span_in
        self.assertLessEqual(abs(stamps[len(src) // 2] - want), 1)
        self.assertAlmostEqual(a["involved"]["stretch"], (30000000 - 1) / span_in, places=6)
        # victim=home picks a home server; a bad timing or option is refused.
        _, t2 = gen(self.dir, "pcaphome", "--duration", 5, "--rate", 200,
                    "--home", "172.16.0.0/16",
                    "--attack", "pcap:%s:1:3:0.1,victim=home" % REAL_ATTACK)
        self.assertTrue(t2["attacks"][0]["involved"]["victims"][0].startswith("172.16."))
        # skip_s: the file from SKIP seconds after its first packet (a capture whose attack
        # starts late), every earlier frame left out, the later ones played once.
        skip = 10.0
        cut = src[0][0] + int(skip * 1e6)
        kept = [d for ts, d, _ in src if ts >= cut]
        self.assertGreater(len(kept), 0)
        self.assertLess(len(kept), len(src))
        pcap3, t3 = gen(self.dir, "pcapskip", "--duration", 40, "--rate", 200,
                        "--attack", "pcap:%s:5:30:0.5,timing=stretch,skip_s=%g"
                        % (REAL_ATTACK, skip))
        self.assertEqual(t3["attacks"][0]["packets"], len(kept))
        self.assertEqual(t3["attacks"][0]["involved"]["skipped_s"], skip)
        got = [d for (_, d, _), p in zip(e2e.read_pcap(pcap3), load(pcap3)) if p.dport == 25565]
        self.assertEqual(sorted(got), sorted(kept))
        for bad in ("timing=warp", "remap=1", "victim=nowhere", "skip_s=-1", "skip_s=1e9"):
            res = subprocess.run([sys.executable, SCRIPT, "-o", os.path.join(self.dir, "x.pcap"),
                                  "--duration", "5", "--attack",
                                  "pcap:%s:1:3:0.1,%s" % (REAL_ATTACK, bad)],
                                 capture_output=True, text=True, timeout=60)
            self.assertEqual(res.returncode, 2, bad)
            self.assertIn(bad.split("=")[0], res.stderr, bad)

    def test_pcap_formats(self):
        # Frames of the synthetic capture written as a big-endian nanosecond pcap.
        ns = os.path.join(self.dir, "be_ns.pcap")
        src = self.frames[:300]
        with open(ns, "wb") as f:
            f.write(struct.pack(">IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1))
            for ts, data, orig in src:
                f.write(struct.pack(">IIII", ts // 1000000, ts % 1000000 * 1000 + 7, len(data),
                                    orig) + data)
        pcap, t = gen(self.dir, "from_ns", "--duration", 1, "--background-pcap", ns,
                      "--no-remap")
        out = list(e2e.read_pcap(pcap))
        self.assertEqual(t["background_packets"], len(out))
        span = src[-1][0] - src[0][0]
        shifted = [(ts - src[0][0] + START_MS * 1000, d) for ts, d, _ in src]
        self.assertEqual([(ts, d) for ts, d, _ in out if ts - START_MS * 1000 <= span],
                         shifted)
        # Non-Ethernet (link type 101, raw IP): refused with a clear message.
        raw = os.path.join(self.dir, "raw.pcap")
        with open(raw, "wb") as f:
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))
            f.write(struct.pack("<IIII", 1, 0, 20, 20) + bytes(20))
        res = subprocess.run([sys.executable, SCRIPT, "--output", os.path.join(self.dir, "x.pcap"),
                              "--background-pcap", raw], capture_output=True, text=True)
        self.assertEqual(res.returncode, 2, res.stderr)
        self.assertIn("not Ethernet", res.stderr)
        self.assertIn("raw.pcap", res.stderr)
        res = subprocess.run([sys.executable, SCRIPT, "--output", os.path.join(self.dir, "x.pcap"),
                              "--attack", "nosuch:1:1:0.1"], capture_output=True, text=True)
        self.assertEqual(res.returncode, 2)
        self.assertIn("unknown attack type", res.stderr)

    def test_probe_accepts(self):
        """The real probe parses every frame: no parse error, no non-IP frame."""
        path = e2e.probe_path()
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            self.skipTest("probe binary not found at %s (set SAFEM_PROBE)" % path)
        run = e2e.run_probe([self.pcap])
        e2e.assert_run_ok(self, run)
        self.assertEqual(e2e.stat(run.stats, "rx_packets"), self.truth["packets"])
        self.assertEqual(e2e.stat(run.stats, "parsed_packets"), self.truth["packets"])
        self.assertEqual(e2e.stat(run.stats, "parse_errors_total"), 0)
        self.assertEqual(e2e.stat(run.stats, "non_ip"), 0)

    def test_icmp_flood(self):
        """icmp_flood: IPv4 (home victim) and IPv6 (2001:db8::/32) frames with valid
        checksums, one type to one victim, at the requested share."""
        pcap, t = gen(self.dir, "icmp", "--duration", 12, "--rate", 1000, "--seed", 5,
                      "--attack", "icmp_flood:2:4:0.1,type=13,sources=0",
                      "--attack", "icmp_flood:7:4:0.1,family=6,sources=2,size=300")
        v4, v6 = t["attacks"]
        self.assertEqual((v4["class"], v6["class"]), ("icmp_flood", "icmp_flood"))
        self.assertEqual(v4["involved"]["attackers"]["spoofed"], True)
        self.assertEqual(len(v6["involved"]["attackers"]), 2)
        v6_victim = ipaddress.ip_address(v6["involved"]["victims"][0])
        self.assertIn(v6_victim, ipaddress.ip_network("2001:db8::/32"))
        seen = {4: 0, 6: 0}
        for i, (_ts, data, _orig) in enumerate(e2e.read_pcap(pcap), 1):
            where = "frame %d" % i
            if data[12:14] == b"\x86\xdd":
                self.assertEqual(data[20], 58, where + ": next header")
                plen = struct.unpack_from("!H", data, 18)[0]
                body = data[54:54 + plen]
                self.assertEqual(len(body), plen, where)
                ph = data[22:54] + struct.pack("!IxxxB", plen, 58)
                self.assertEqual(fold(words_sum(ph + body)), 0xFFFF, where + ": ICMPv6 checksum")
                self.assertEqual(ipaddress.ip_address(data[38:54]), v6_victim, where)
                self.assertEqual(body[0], 128, where + ": type")
                seen[6] += 1
                continue
            check_frame(self, data, where)
            if data[23] == 1 and data[34] == 13:
                self.assertEqual(str(ipaddress.ip_address(data[30:34])),
                                 v4["involved"]["victims"][0], where)
                seen[4] += 1
        self.assertEqual(seen[4], v4["packets"])
        self.assertEqual(seen[6], v6["packets"])
        for a in (v4, v6):
            ws = [w for w in t["windows"] for x in w.get("attacks", []) if x["id"] == a["id"]
                  and a["start_ms"] + 1000 <= w["start_ms"] < a["end_ms"] - 1000]
            self.assertTrue(ws)
            for w in ws:
                self.assertAlmostEqual(w["attack_share"], 0.1, delta=0.02, msg=str(w))
        res = subprocess.run([sys.executable, SCRIPT, "--output", os.path.join(self.dir, "x.pcap"),
                              "--attack", "icmp_flood:1:1:0.1,family=5"],
                             capture_output=True, text=True)
        self.assertEqual(res.returncode, 2)
        self.assertIn("family must be 4 or 6", res.stderr)

    def test_scan_probes(self):
        """probe=: nmap's stealth (-sX, -sF, -sN) and UDP (-sU) probes, read back from the
        frames: the scanner's probes carry exactly the probe's flags (no SYN, ACK or RST),
        or are empty UDP datagrams; the answers are RST+ACK acknowledging the probe's
        sequence number (+1 for a FIN) to a probed (address, port), or ICMP port unreachable
        (type 3 code 3) quoting the probe's IP and UDP headers; the counts are the truth's;
        a wrong probe is refused."""
        cases = (("vertical_scan", "xmas", 0x29), ("vertical_scan", "fin", 0x01),
                 ("horizontal_scan", "null", 0x00), ("horizontal_scan", "udp", None),
                 ("vertical_scan", "udp", None))
        for kind, probe, flags in cases:
            with self.subTest(kind=kind, probe=probe):
                pcap, t = gen(self.dir, "scan-%s-%s" % (kind, probe), "--duration", 10,
                              "--rate", 1000, "--seed", 9,
                              "--attack", "%s:2:6:0.2,probe=%s" % (kind, probe))
                a = t["attacks"][0]
                self.assertEqual(a["involved"]["probe"], probe)
                self.assertEqual(a["involved"]["proto"], "udp" if flags is None else "tcp")
                scanner = a["involved"]["scanners"][0]
                probes, answers = self._scan_frames(pcap, scanner, flags)
                self.assertGreater(len(probes), 0)
                self.assertGreater(len(answers), 0)
                self.assertEqual(len(probes) + len(answers), a["packets"])
        for bad, msg in (("vertical_scan:1:1:0.1,probe=ack", "probe must be one of"),
                         ("vertical_scan:1:1:0.1,connect=1,probe=xmas", "connect=1 is a SYN")):
            res = subprocess.run([sys.executable, SCRIPT, "--output",
                                  os.path.join(self.dir, "x.pcap"), "--attack", bad],
                                 capture_output=True, text=True)
            self.assertEqual(res.returncode, 2, bad)
            self.assertIn(msg, res.stderr)

    def test_scan_probes_open_ports_silent(self):
        """A stealth probe to an open port gets no answer, to a closed one RST+ACK: the
        ports a SYN scan of the same host (same seed: same host, same services) finds open
        are probed by the XMAS scan and never answered; every other port answers
        (reply=1)."""
        spec = "vertical_scan:2:6:0.2,ports=1-1024,reply=1"
        runs = {}
        for probe in ("syn", "xmas"):
            pcap, t = gen(self.dir, "scan-open-" + probe, "--duration", 10, "--rate", 1000,
                          "--seed", 9, "--attack", spec + ",probe=" + probe)
            a = t["attacks"][0]
            runs[probe] = (a["involved"], self._scan_frames(
                pcap, a["involved"]["scanners"][0], 0x02 if probe == "syn" else 0x29))
        (syn_inv, (_syn_probes, syn_answers)), (x_inv, (x_probes, x_answers)) = \
            runs["syn"], runs["xmas"]
        self.assertEqual(syn_inv["victims"], x_inv["victims"])
        open_ports = {port for (_addr, port), fl in syn_answers.items() if fl == 0x12}
        self.assertTrue(open_ports, "the SYN scan found no open port")
        probed = {port for _addr, port in x_probes}
        answered = {port for _addr, port in x_answers}
        self.assertTrue(open_ports & probed, "the XMAS scan probed no open port")
        self.assertFalse(open_ports & answered, "an open port answered a stealth probe")
        # budget permitting, every closed port answers: most probed ports do
        self.assertGreater(len(answered), len(probed) // 2)

    def _scan_frames(self, pcap, scanner, flags):
        """The scanner's probes {(target, port): (sport, seq or ident)} and the answers
        {(target, port): TCP flags or ICMP (type << 8 | code)}, each checked: probes have
        exactly flags (None: empty UDP datagrams), answers acknowledge (TCP) or quote (ICMP)
        a probe sent before them."""
        probes, answers = {}, {}
        for i, (_ts, data, _orig) in enumerate(e2e.read_pcap(pcap), 1):
            where = "frame %d" % i
            check_frame(self, data, where)
            src = str(ipaddress.ip_address(data[26:30]))
            dst = str(ipaddress.ip_address(data[30:34]))
            proto, l4 = data[23], data[34:]
            if src == scanner:
                sport, dport = struct.unpack_from("!HH", l4, 0)
                if flags is None:
                    self.assertEqual(proto, 17, where)
                    self.assertEqual(struct.unpack_from("!H", l4, 4)[0], 8, where)
                    probes[(dst, dport)] = (sport, struct.unpack_from("!H", data, 18)[0])
                else:
                    self.assertEqual(proto, 6, where)
                    self.assertEqual(l4[13], flags, where + ": probe flags")
                    probes[(dst, dport)] = (sport, struct.unpack_from("!I", l4, 4)[0])
            elif dst == scanner:
                if flags is None:
                    self.assertEqual((proto, l4[0], l4[1]), (1, 3, 3), where)
                    self.assertEqual(fold(words_sum(l4[:36])), 0xFFFF, where + ": ICMP sum")
                    inner = l4[8:36]
                    self.assertEqual(inner[0], 0x45, where + ": quoted IP header")
                    self.assertEqual(fold(words_sum(inner[:20])), 0xFFFF,
                                     where + ": quoted IP header checksum")
                    self.assertEqual((inner[9], inner[12:16], inner[16:20]),
                                     (17, data[30:34], data[26:30]), where + ": quote")
                    sport, dport = struct.unpack_from("!HH", inner, 20)
                    key = (src, dport)
                    self.assertIn(key, probes, where + ": answers a probe")
                    self.assertEqual(probes[key], (sport, struct.unpack_from("!H", inner, 4)[0]),
                                     where + ": quotes the probe")
                    answers[key] = 3 << 8 | 3
                else:
                    self.assertEqual(proto, 6, where)
                    sport, dport = struct.unpack_from("!HH", l4, 0)
                    key = (src, sport)
                    self.assertIn(key, probes, where + ": answers a probe")
                    self.assertEqual(dport, probes[key][0], where)
                    if l4[13] != 0x12:
                        self.assertEqual(l4[13], 0x14, where + ": RST+ACK")
                    if flags != 0x02:  # the SYN scan's answers are the older model's
                        ack = struct.unpack_from("!I", l4, 8)[0]
                        self.assertEqual(ack, (probes[key][1] + (flags & 0x01)) & 0xFFFFFFFF,
                                         where + ": acknowledges the probe")
                    answers[key] = l4[13]
        return probes, answers

    def test_clean_preset(self):
        pcap, t = gen(self.dir, "clean", "--preset", "clean", "--duration", 3, "--rate", 500,
                      "--home", "192.168.0.0/16", "--start-unix-ms", 1700000003000)
        self.assertEqual(t["attacks"], [])
        self.assertEqual({w["class"] for w in t["windows"]}, {"normal"})
        self.assertEqual(t["home"], ["192.168.0.0/16"])
        self.assertEqual(t["windows"][0]["start_ms"], 1700000003000)
        home = ipaddress.ip_network("192.168.0.0/16")
        for p in load(pcap):
            self.assertTrue(ipaddress.ip_address(p.src) in home or
                            ipaddress.ip_address(p.dst) in home, p)


if __name__ == "__main__":
    e2e.main()
