#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""IPFIX export checked by real collectors.

UDP: the probe replays the mixed capture and exports to nfcapd (nfdump package)
on 127.0.0.1; nfdump reads the flows back and every flow (addresses, ports,
protocol, packets, bytes, TCP flags, start/end within 1 ms) must equal the
probe's own flow CSV of the same run, as a multiset; the CSV in turn must
match the generator's ground truth per 5-tuple. tshark captures the exported
datagrams on lo and decodes them: no malformed packet, no expert error, no
sequence warning, and as many data records as the probe exported.

TCP: the same against a collector in this file (RFC 7011 decoder written
from the RFC, independent of lib/ipfix) and tshark on the captured stream.
Two collectors at once (--ipfix A --ipfix B) each get every flow. With --flow-key-vlan,
vlanId carries each flow's outer VLAN.

Skips (exit 77) when nfcapd, nfdump or tshark is missing, or when the probe
has no --ipfix option yet.
"""

import collections
import datetime
import glob
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safem_e2e as e2e  # noqa: E402

SEED = 1
SHORT = ("--inactive-timeout", "2s", "--active-timeout", "10s")
DOMAIN = 7

# The templates of docs/integration.md: (IE, length) in wire order.
TEMPLATE_V4 = [(8, 4), (12, 4), (7, 2), (32, 2), (11, 2), (4, 1), (1, 8), (2, 8), (152, 8),
               (153, 8), (6, 1), (136, 1), (60, 1), (58, 2)]
TEMPLATE_V6 = [(27, 16), (28, 16), (7, 2), (139, 2), (11, 2), (4, 1), (1, 8), (2, 8), (152, 8),
               (153, 8), (6, 1), (136, 1), (60, 1), (58, 2)]
END_REASON_CODES = {"inactive": 1, "active": 2, "tcp_end": 3, "end_of_input": 4, "evicted": 5}

# A flow as compared: everything the CSV and the collectors both carry.
Flow = collections.namedtuple("Flow", ["src_addr", "dst_addr", "src_port", "dst_port", "proto",
                                       "packets", "bytes", "tcp_flags", "first_ms", "last_ms"])


def flow_of_row(r):
    return Flow(e2e.canonical_addr(r.src_addr), e2e.canonical_addr(r.dst_addr), r.src_port,
                r.dst_port, r.proto, r.packets, r.bytes, r.tcp_flags, r.first_ms, r.last_ms)


def assert_same_flows(tc, want, got, what):
    """Multiset equality; first/last may differ by at most 1 ms (they are equal here)."""
    def key(f):
        return f[:8]
    want_k = collections.Counter(key(f) for f in want)
    got_k = collections.Counter(key(f) for f in got)
    if want_k != got_k:
        missing = list((want_k - got_k).elements())[:10]
        extra = list((got_k - want_k).elements())[:10]
        tc.fail("%s: %d flows expected, %d got\nmissing, e.g.: %s\nunexpected, e.g.: %s"
                % (what, len(want), len(got), missing, extra))
    times_w, times_g = collections.defaultdict(list), collections.defaultdict(list)
    for f in want:
        times_w[key(f)].append((f.first_ms, f.last_ms))
    for f in got:
        times_g[key(f)].append((f.first_ms, f.last_ms))
    for k in times_w:
        for (fw, lw), (fg, lg) in zip(sorted(times_w[k]), sorted(times_g[k])):
            if abs(fw - fg) > 1 or abs(lw - lg) > 1:
                tc.fail("%s: %s start/end %d/%d, want %d/%d (within 1 ms)"
                        % (what, k, fg, lg, fw, lw))


# ---------------------------------------------------------------------------
# Tools and probe support

def which_all(*names):
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        raise unittest.SkipTest("%s not installed (Debian packages nfdump, tshark)"
                                % ", ".join(missing))


_ipfix_support = None


def require_ipfix_option():
    global _ipfix_support
    probe = e2e.require_probe()
    if _ipfix_support is None:
        res = subprocess.run([probe, "--", "--help"], capture_output=True, text=True,
                             timeout=60)
        _ipfix_support = "--ipfix" in res.stdout
    if not _ipfix_support:
        raise unittest.SkipTest("safem-probe has no --ipfix option yet")


def free_port(kind):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_udp_bound(port, timeout=10.0):
    """Until something has 127.0.0.1:port bound in /proc/net/udp."""
    needle = ("0100007F:%04X" % port).encode()
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with open("/proc/net/udp", "rb") as f:
            if needle in f.read():
                return True
        time.sleep(0.05)
    return False


class Capture:
    """tshark writing what crosses lo on one port to a file."""

    def __init__(self, path, bpf):
        self.path = path
        self.lines = []
        self.ready = threading.Event()
        self.proc = subprocess.Popen(["tshark", "-i", "lo", "-f", bpf, "-w", path, "-q"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True, errors="replace")
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        if not self.ready.wait(20):
            self.stop()
            raise AssertionError("tshark did not start capturing:\n" + "".join(self.lines))

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line)
            if "Capturing on" in line:
                self.ready.set()

    def stop(self):
        if self.proc.poll() is None:
            time.sleep(0.5)  # let the last packets reach the capture
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(5)
        self.proc.stderr.close()


def tshark_decode(tc, capture, decode_as):
    """tshark -V of a capture: (number of data records, text). Fails on malformed packets,
    expert errors and IPFIX sequence warnings."""
    res = subprocess.run(["tshark", "-r", capture, "-d", decode_as, "-V"], capture_output=True,
                         text=True, errors="replace", timeout=300)
    tc.assertEqual(res.returncode, 0, "tshark -r failed: %s" % res.stderr[-2000:])
    text = res.stdout
    for bad in ("Malformed", "Expert Info (Error", "Unexpected flow sequence"):
        i = text.find(bad)
        tc.assertEqual(i, -1, "tshark reports %r:\n%s" % (bad, text[max(0, i - 2000):i + 500]))
    tc.assertNotIn("Data Template: 256 (not found", text)
    records = len(re.findall(r"^\s+Flow \d+$", text, re.M))
    return records, text


# ---------------------------------------------------------------------------
# Independent IPFIX decoder (RFC 7011 section 3)

class Decoder:
    def __init__(self, tc):
        self.tc = tc
        self.templates = {}
        self.flows = []
        self.messages = 0
        self.records = 0  # for the sequence number check

    def message(self, buf):
        tc = self.tc
        version, length, export_time, seq, domain = struct.unpack_from("!HHIII", buf, 0)
        tc.assertEqual(version, 10)
        tc.assertEqual(length, len(buf))
        tc.assertEqual(domain, DOMAIN, "observation domain id")
        tc.assertGreater(export_time, 1600000000, "export time is wall clock")
        # RFC 7011 section 3.1: data records sent before this message.
        tc.assertEqual(seq, self.records % 2 ** 32, "sequence number of message %d"
                       % self.messages)
        off = 16
        while off < length:
            set_id, set_len = struct.unpack_from("!HH", buf, off)
            tc.assertGreaterEqual(set_len, 4)
            end = off + set_len
            tc.assertLessEqual(end, length)
            off += 4
            if set_id == 2:
                while off + 4 <= end:
                    tid, count = struct.unpack_from("!HH", buf, off)
                    off += 4
                    fields = [struct.unpack_from("!HH", buf, off + 4 * i) for i in range(count)]
                    off += 4 * count
                    self.templates[tid] = fields
                tc.assertEqual(self.templates.get(256), TEMPLATE_V4)
                tc.assertEqual(self.templates.get(257), TEMPLATE_V6)
            else:
                tc.assertIn(set_id, self.templates, "data set before its template")
                fields = self.templates[set_id]
                rlen = sum(n for _, n in fields)
                tc.assertEqual((end - off) % rlen, 0, "padding or a cut record")
                while off + rlen <= end:
                    self.flows.append(self._record(fields, buf, off))
                    self.records += 1
                    off += rlen
            off = end
        self.messages += 1

    @staticmethod
    def _record(fields, buf, off):
        v = {}
        for ie, n in fields:
            raw = buf[off:off + n]
            v[ie] = raw if ie in (8, 12, 27, 28) else int.from_bytes(raw, "big")
            off += n
        v6 = 27 in v
        fam = socket.AF_INET6 if v6 else socket.AF_INET
        src = socket.inet_ntop(fam, v[27 if v6 else 8])
        dst = socket.inet_ntop(fam, v[28 if v6 else 12])
        return Flow(src, dst, v[7], v[11], v[4], v[2], v[1], v[6], v[152], v[153]), v

    def stream(self, data):
        off = 0
        while off + 4 <= len(data):
            length = struct.unpack_from("!H", data, off + 2)[0]
            self.tc.assertGreaterEqual(length, 16)
            self.tc.assertLessEqual(off + length, len(data), "stream ends inside a message")
            self.message(data[off:off + length])
            off += length
        self.tc.assertEqual(off, len(data))


class UdpCollector(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.datagrams = []
        self.stopping = threading.Event()
        self.start()

    def run(self):
        while not self.stopping.is_set():
            try:
                self.datagrams.append(self.sock.recv(65536))
            except socket.timeout:
                continue

    def stop(self):
        time.sleep(0.3)
        self.stopping.set()
        self.join(5)
        self.sock.close()


class TcpCollector(threading.Thread):
    """A TCP collector (port 0: any free one) accepting connections one after the other,
    keeping each stream's bytes; stop() closes the connection and the listener
    (test_ipfix_faults uses it too)."""

    def __init__(self, port=0):
        super().__init__(daemon=True)
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", port))
        self.lsock.listen(4)
        self.lsock.settimeout(0.1)
        self.port = self.lsock.getsockname()[1]
        self.streams = []
        self.stopping = threading.Event()
        self.start()

    def run(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                break  # the listener is closed: going away
            chunks = []
            conn.settimeout(0.1)
            closing_since = None
            while True:
                if self.stopping.is_set() and closing_since is None:
                    # Going away cleanly: half-close, then read until the exporter
                    # has seen it and closed its end, so nothing it sent is lost
                    # unseen. (A killed collector loses what its socket held, which
                    # no exporter can count: TCP gives the sender no receipt.)
                    # The listener first, so that the exporter's reconnection
                    # is refused instead of landing in a backlog about to vanish.
                    self.lsock.close()
                    conn.shutdown(socket.SHUT_WR)
                    closing_since = time.monotonic()
                if closing_since is not None and time.monotonic() - closing_since > 10:
                    break  # the exporter never closed: the test fails on the count
                try:
                    b = conn.recv(1 << 20)
                except socket.timeout:
                    continue
                if not b:
                    break
                chunks.append(b)
            conn.close()
            self.streams.append(b"".join(chunks))

    def stop(self, linger=0.0):
        """linger: keep reading this long first (the exporter's last messages)."""
        time.sleep(linger)
        self.stopping.set()
        self.join(15)
        self.lsock.close()


# ---------------------------------------------------------------------------


class IpfixExport(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        which_all("nfcapd", "nfdump", "tshark")
        require_ipfix_option()
        cls.pcap, cls.truth = e2e.gen_capture("--seed", SEED)

    def run_probe(self, targets, extra=(), repeat=False):
        # Several targets: one --ipfix each (repeat) or one value separated by spaces.
        opts = list(SHORT) + list(extra) + ["--observation-domain", str(DOMAIN)]
        for t in (targets if repeat else [" ".join(targets)]):
            opts += ["--ipfix", t]
        run = e2e.run_probe(self.pcap, extra_opts=opts)
        self.assertEqual(run.rc, 0, run.describe())
        self.assertIsNone(run.csv_error)
        self.assertTrue(run.rows, "no flows in the CSV\n" + run.describe())
        # The CSV is the reference; it must itself be the ground truth.
        self.assertEqual("", e2e.diff_tuples(e2e.truth_tuples(self.truth),
                                             e2e.aggregate(run.rows)))
        # Per-collector counters in --stats: all sent, nothing dropped.
        ipfix = (run.stats or {}).get("ipfix")
        self.assertIsInstance(ipfix, list, "stats.ipfix")
        self.assertEqual([c.get("collector") for c in ipfix], list(targets), "stats.ipfix")
        for c in ipfix:
            self.assertEqual((c.get("records_sent"), c.get("records_dropped"),
                              c.get("send_errors")), (len(run.rows), 0, 0), "stats.ipfix: %s" % c)
        return run

    def test_udp_to_nfcapd(self):
        port = free_port(socket.SOCK_DGRAM)
        nfdir = e2e.new_dir("nfcapd")
        help_text = subprocess.run(["nfcapd", "-h"], capture_output=True, text=True).stdout
        dir_flag = "-w" if re.search(r"^-w\s", help_text, re.M) else "-l"  # -l before 1.7
        nfcapd = subprocess.Popen(["nfcapd", "-b", "127.0.0.1", "-p", str(port), dir_flag,
                                   nfdir, "-t", "3600"], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, errors="replace")
        try:
            self.assertTrue(wait_udp_bound(port), "nfcapd did not bind port %d" % port)
            cap = Capture(os.path.join(nfdir, "..", "udp-%d.pcapng" % port),
                          "udp and port %d" % port)
            try:
                run = self.run_probe(["127.0.0.1:%d" % port])
            finally:
                cap.stop()
        finally:
            # SIGTERM: nfcapd writes its stat record and renames the file.
            if nfcapd.poll() is None:
                nfcapd.send_signal(signal.SIGTERM)
            try:
                log = nfcapd.communicate(timeout=30)[0]
            except subprocess.TimeoutExpired:
                nfcapd.kill()
                log = nfcapd.communicate()[0]
        files = [f for f in glob.glob(os.path.join(nfdir, "nfcapd.*")) if "current" not in f]
        self.assertTrue(files, "nfcapd wrote no file; its log:\n" + log)
        env = dict(os.environ, TZ="UTC")
        res = subprocess.run(["nfdump", "-R", nfdir, "-o", "json"], capture_output=True,
                             text=True, env=env, timeout=120)
        self.assertEqual(res.returncode, 0, res.stderr)
        got = [self.nfdump_flow(rec) for rec in json.loads(res.stdout or "[]")
               if rec.get("type") == "FLOW"]
        want = [flow_of_row(r) for r in run.rows]
        assert_same_flows(self, want, got, "nfdump vs probe CSV")
        # nfcapd checks the sequence numbers per observation domain.
        info = subprocess.run(["nfdump", "-I", "-R", nfdir], capture_output=True, text=True,
                              env=env, timeout=60).stdout
        m = re.search(r"Sequence failures:\s*(\d+)", info)
        if m:
            self.assertEqual(int(m.group(1)), 0, "nfdump -I:\n" + info)
        records, text = tshark_decode(self, cap.path, "udp.port==%d,cflow" % port)
        self.assertEqual(records, len(run.rows), "data records decoded by tshark")
        self.assertIn("Observation Domain Id: %d" % DOMAIN, text)

    @staticmethod
    def nfdump_flow(rec):
        """A flow from one nfdump -o json record (nfdump 1.7 field names)."""
        def ms(text):
            t = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f")
            return int(t.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000 + 0.5)
        src = rec.get("src4_addr", rec.get("src6_addr"))
        dst = rec.get("dst4_addr", rec.get("dst6_addr"))
        if "icmp_type" in rec:  # ICMP: nfdump splits the NetFlow dst port into type, code
            sport, dport = 0, rec["icmp_type"] << 8 | rec["icmp_code"]
        else:
            sport, dport = rec.get("src_port", 0), rec.get("dst_port", 0)
        flags = rec.get("tcp_flags", 0)
        if isinstance(flags, str):  # "...AP.SF": one letter per bit, CWR first
            flags = sum(1 << (7 - i) for i, ch in enumerate(flags[-8:].rjust(8, "."))
                        if ch != ".")
        return Flow(str(ipaddress.ip_address(src)), str(ipaddress.ip_address(dst)), sport,
                    dport, rec["proto"], rec["in_packets"], rec["in_bytes"], flags,
                    ms(rec["first"]), ms(rec["last"]))

    def test_tcp_collector(self):
        collector = TcpCollector()
        cap = Capture(os.path.join(e2e.new_dir("tcp"), "tcp.pcapng"),
                      "tcp and port %d" % collector.port)
        try:
            run = self.run_probe(["127.0.0.1:%d,proto=tcp" % collector.port])
        finally:
            cap.stop()
            collector.stop(linger=0.3)
        self.assertEqual(len(collector.streams), 1, "one connection for the whole run")
        dec = Decoder(self)
        dec.stream(collector.streams[0])
        self.check_decoded(dec, run)
        records, _ = tshark_decode(self, cap.path, "tcp.port==%d,cflow" % collector.port)
        self.assertEqual(records, len(run.rows), "data records decoded by tshark")

    def test_two_udp_collectors(self):
        a, b = UdpCollector(), UdpCollector()
        try:
            run = self.run_probe(["127.0.0.1:%d" % a.port, "127.0.0.1:%d,proto=udp" % b.port],
                                 repeat=True)
        finally:
            a.stop()
            b.stop()
        for c in (a, b):
            dec = Decoder(self)
            for d in c.datagrams:
                self.assertLessEqual(len(d), 1500 - 28, "message larger than the MTU")
                dec.message(d)
            self.check_decoded(dec, run)

    def test_vlan_ids(self):
        """--flow-key-vlan: each record's vlanId is the outer VLAN of its packets."""
        c = UdpCollector()
        try:
            run = self.run_probe(["127.0.0.1:%d" % c.port], extra=["--flow-key-vlan"])
        finally:
            c.stop()
        dec = Decoder(self)
        for d in c.datagrams:
            dec.message(d)
        self.assertEqual(dec.records, len(run.rows))
        want, got = collections.Counter(), collections.Counter()
        for _, data, _ in e2e.read_pcap(self.pcap):
            p = e2e.parse_frame(data)
            if p.status == "ok":
                want[(p.key, p.vlan, "packets")] += 1
                want[(p.key, p.vlan, "bytes")] += p.ip_bytes
        for f, v in dec.flows:
            got[(tuple(f[:5]), v[58], "packets")] += f.packets
            got[(tuple(f[:5]), v[58], "bytes")] += f.bytes
        self.assertTrue(any(k[1] for k in want), "capture has no VLAN-tagged IP packet")
        diff = sorted(((k, want[k], got[k]) for k in set(want) | set(got) if want[k] != got[k]),
                      key=repr)
        self.assertFalse(diff, "%d (5-tuple, vlanId, counter) want/got differ, e.g.: %s"
                         % (len(diff), diff[:5]))

    def check_decoded(self, dec, run):
        self.assertEqual(dec.records, len(run.rows))
        assert_same_flows(self, [flow_of_row(r) for r in run.rows], [f for f, _ in dec.flows],
                          "decoded IPFIX vs probe CSV")
        # What only the IPFIX records carry: end reason, IP version, ICMP type/code.
        want = collections.Counter((flow_of_row(r)[:5], END_REASON_CODES[r.end_reason])
                                   for r in run.rows)
        got = collections.Counter((f[:5], v[136]) for f, v in dec.flows)
        self.assertEqual(want, got, "flowEndReason")
        for f, v in dec.flows:
            self.assertEqual(v[60], 6 if ":" in f.src_addr else 4)
            icmp = v.get(32, v.get(139))
            want_icmp = f.dst_port if f.proto == (58 if v[60] == 6 else 1) else 0
            self.assertEqual(icmp, want_icmp, "icmpTypeCode of %s" % (f,))


if __name__ == "__main__":
    e2e.main()
