#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""JSON-line streams (lib/linesink) reach syslog and Kafka unchanged.

Kafka: tests/tools/kafka_mock_consume starts a librdkafka mock cluster (one
broker, one partition per topic), the probe replays the mixed capture with
--windows and produces window reports and flow records to it, and the helper
consumes them back: the window messages equal the --windows file lines, in
order, and the flow messages are the flow CSV rows as JSON (same columns).
A broker that is not there costs at most --kafka-flush-timeout at exit and
its messages are counted, not lost silently.

Syslog: the probe sends to a unix datagram socket of this test (RFC 3164 local
form, as to /dev/log) and to a UDP socket (RFC 5424); every datagram carries
one window report line.

Skips the Kafka tests (and exits 77 if nothing else ran) when the probe was
built without librdkafka.
"""

import collections
import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safem_e2e as e2e  # noqa: E402

KAFKA_MOCK = os.environ.get("SAFEM_KAFKA_MOCK")
SEED = 1
# Kernel receive timestamps (Linux; Python does not name the constant).
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SHORT = ("--inactive-timeout", "2s", "--active-timeout", "10s")
FACILITY_LOCAL3 = 19
SEVERITY_INFO = 6
RFC3164_LOCAL = re.compile(r"^<(\d+)>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d safem-probe\[\d+\]: (.*)$",
                           re.S)
RFC5424 = re.compile(r"^<(\d+)>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \S+ safem-probe \d+ "
                     r"windows - (.*)$", re.S)


def read_lines(path):
    with open(path) as f:
        return f.read().splitlines()


def stream_stats(stats, name):
    for s in stats.get("streams", []):
        if s["stream"] == name:
            return s
    raise AssertionError("no stream %r in --stats: %s" % (name, stats.get("streams")))


class Receiver:
    """Collects datagrams on a bound socket in a thread until stop()."""

    def __init__(self, sock):
        self.sock, self.messages = sock, []
        sock.settimeout(0.2)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while True:
            try:
                self.messages.append(self.sock.recv(1 << 20).decode())
            except socket.timeout:
                if self.done.is_set():
                    return

    def stop(self):
        self.done.set()
        self.thread.join(10)
        self.sock.close()
        return self.messages


class LineOutputsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pcap, _ = e2e.gen_capture("--seed", SEED)

    def run_windows(self, extra, **kw):
        outdir = e2e.new_dir("lines")
        windows = os.path.join(outdir, "windows.jsonl")
        run = e2e.run_probe(self.pcap, extra_opts=["--windows", windows] + list(SHORT)
                            + list(extra), **kw)
        e2e.assert_run_ok(self, run)
        return run, read_lines(windows)

    @unittest.skipIf(KAFKA_MOCK is None, "built without librdkafka (no kafka_mock_consume)")
    def test_kafka_windows_and_flows(self):
        helper = subprocess.Popen([KAFKA_MOCK, "safem.windows", "safem.flows"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        try:
            first = helper.stdout.readline().split()
            self.assertEqual(first[:1], ["BOOTSTRAP"], "helper said %r" % first)
            run, lines = self.run_windows(["--kafka-brokers", first[1],
                                           "--kafka-windows-topic", "safem.windows",
                                           "--kafka-flows-topic", "safem.flows"])
            out, err = helper.communicate("", timeout=120)
        finally:
            if helper.poll() is None:
                helper.kill()
                helper.communicate()
        self.assertEqual(helper.returncode, 0, err[-2000:])
        got = collections.defaultdict(list)
        ends = {}
        for line in out.splitlines():
            if line.startswith("END "):
                _, topic, n = line.split()
                ends[topic] = int(n)
            else:
                topic, payload = line.split("\t", 1)
                got[topic].append(payload)
        self.assertEqual(set(ends), {"safem.windows", "safem.flows"}, out[-2000:])
        self.assertGreater(len(lines), 10)
        self.assertEqual(got["safem.windows"], lines,
                         "Kafka window messages differ from the --windows file lines")
        self.assertEqual(len(got["safem.flows"]), len(run.rows),
                         "flows topic messages != flow CSV rows")
        as_rows = [e2e.Row(**json.loads(m)) for m in got["safem.flows"]]
        self.assertEqual(e2e.diff_rows(run.rows, as_rows), "", "flow JSON != flow CSV")
        for name, count in (("windows", len(lines)), ("flows", len(run.rows))):
            st = stream_stats(run.stats, name)
            self.assertEqual((st["lines"], st["kafka_queued"], st["kafka_delivered"]),
                             (count, count, count), st)
            self.assertEqual(st["kafka_dropped"] + st["kafka_failed"] +
                             st["kafka_undelivered"], 0, st)

    @unittest.skipIf(KAFKA_MOCK is None, "built without librdkafka")
    def test_kafka_broker_away_is_bounded_and_counted(self):
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        run, lines = self.run_windows(["--kafka-brokers", "127.0.0.1:%d" % port,
                                       "--kafka-windows-topic", "w",
                                       "--kafka-flush-timeout", "1s"], timeout=60)
        st = stream_stats(run.stats, "windows")
        self.assertEqual(st["lines"], len(lines))
        self.assertEqual(st["kafka_delivered"], 0, st)
        self.assertEqual(st["kafka_queued"] + st["kafka_dropped"], len(lines), st)
        self.assertEqual(st["kafka_failed"] + st["kafka_undelivered"], st["kafka_queued"], st)
        self.assertLess(run.elapsed_s, 30, "exit flush not bounded")
        self.assertIn("not delivered at exit", run.stderr)

    def test_syslog_unix_socket(self):
        path = os.path.join(e2e.new_dir("syslog"), "log.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        rx = Receiver(sock)
        try:
            run, lines = self.run_windows(["--windows-syslog", "--syslog", "unix:" + path,
                                           "--syslog-facility", "local3"])
        finally:
            messages = rx.stop()
        st = stream_stats(run.stats, "windows")
        self.assertEqual(st["lines"], len(lines))
        self.assertEqual(st["syslog_sent"] + st["syslog_dropped"], len(lines), st)
        # A non-blocking sender drops when the reader lags; on this replay it must not.
        self.assertEqual(st["syslog_dropped"], 0, st)
        payloads = []
        for m in messages:
            match = RFC3164_LOCAL.match(m)
            self.assertIsNotNone(match, "not RFC 3164 local form: %r" % m[:200])
            self.assertEqual(int(match.group(1)), FACILITY_LOCAL3 * 8 + SEVERITY_INFO)
            payloads.append(match.group(2))
        self.assertEqual(payloads, lines, "syslog messages differ from the --windows lines")

    @unittest.skipIf(KAFKA_MOCK is None, "built without librdkafka (no kafka_mock_consume)")
    def test_alerts_to_kafka_and_syslog(self):
        outdir = e2e.new_dir("alert-lines")
        pcap = os.path.join(outdir, "attack.pcap")
        e2e.gen_attack_sequence(pcap, ["syn_flood"], 5, "10.0.0.0/16", warmup_s=30, attack_s=5,
                                gap_s=10, share=0.1, rate=1000)
        path = os.path.join(outdir, "log.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        rx = Receiver(sock)
        helper = subprocess.Popen([KAFKA_MOCK, "safem.alerts"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        alerts = os.path.join(outdir, "alerts.jsonl")
        try:
            first = helper.stdout.readline().split()
            self.assertEqual(first[:1], ["BOOTSTRAP"], "helper said %r" % first)
            run = e2e.run_probe(pcap, flows=False, extra_opts=[
                "--alerts", alerts, "--home", "10.0.0.0/16", "--moving-windows", "20",
                "--alerts-syslog", "--syslog", "unix:" + path, "--kafka-brokers", first[1],
                "--kafka-alerts-topic", "safem.alerts"])
            out, err = helper.communicate("", timeout=120)
        finally:
            messages = rx.stop()
            if helper.poll() is None:
                helper.kill()
                helper.communicate()
        e2e.assert_run_ok(self, run)
        lines = read_lines(alerts)
        self.assertTrue(lines, "the SYN flood raised no alert\n" + run.describe())
        kafka = [line.split("\t", 1)[1] for line in out.splitlines()
                 if line.startswith("safem.alerts\t")]
        self.assertEqual(kafka, lines, "Kafka alert messages differ from the --alerts lines")
        payloads = [RFC3164_LOCAL.match(m).group(2) for m in messages]
        self.assertEqual(payloads, lines, "syslog alert messages differ from the --alerts lines")
        st = stream_stats(run.stats, "alerts")
        self.assertEqual((st["lines"], st["kafka_delivered"], st["syslog_sent"]),
                         (len(lines), len(lines), len(lines)), st)

    def test_syslog_udp_paced(self):
        """--syslog-rate: a UDP collector never gets more than burst + rate x T bytes
        (kernel arrival times), every report still arrives, whole and in order, and
        sent + dropped = lines."""
        rate_bits = 8000000  # 1 MB/s: the replay writes its ~2.6 MB of reports much faster
        burst = 32 << 10    # the sender's default bucket depth
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        arrivals = []
        done = threading.Event()

        def receive():
            sock.settimeout(0.2)
            while True:
                try:
                    data, anc, _, _ = sock.recvmsg(1 << 20, 1024)
                except socket.timeout:
                    if done.is_set():
                        return
                    continue
                ts = None
                for level, kind, raw in anc:
                    if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                        sec, nsec = struct.unpack("qq", raw[:16])
                        ts = sec + nsec / 1e9
                arrivals.append((ts, data.decode()))

        thread = threading.Thread(target=receive, daemon=True)
        thread.start()
        try:
            run, lines = self.run_windows(["--windows-syslog", "--syslog",
                                           "127.0.0.1:%d" % port,
                                           "--syslog-rate", str(rate_bits)])
        finally:
            done.set()
            thread.join(10)
            sock.close()
        st = stream_stats(run.stats, "windows")
        total = sum(len(m.encode()) for _, m in arrivals)
        self.assertGreater(total, 3 * burst, "too few report bytes to see the pacing")
        self.assertEqual(st["syslog_sent"] + st["syslog_dropped"], len(lines), st)
        self.assertEqual(st["syslog_dropped"], 0, st)
        self.assertEqual(len(arrivals), len(lines))
        payloads = [RFC5424.match(m).group(2) for _, m in arrivals]
        self.assertEqual(payloads, lines, "paced syslog messages differ from the --windows lines")
        # The bound, from kernel timestamps: load can only make the sender slower.
        t0 = arrivals[0][0]
        largest = max(len(m.encode()) for _, m in arrivals)
        seen = 0
        for ts, m in arrivals:
            seen += len(m.encode())
            allowed = burst + rate_bits / 8 * (ts - t0) + largest
            self.assertLessEqual(seen, allowed, "faster than --syslog-rate at %.3f s" % (ts - t0))

    def test_syslog_udp_rfc5424(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        rx = Receiver(sock)
        try:
            run, lines = self.run_windows(["--windows-syslog", "--syslog",
                                           "127.0.0.1:%d" % port])
        finally:
            messages = rx.stop()
        st = stream_stats(run.stats, "windows")
        self.assertEqual(st["syslog_sent"], len(lines), st)
        self.assertGreater(len(messages), 0)
        payloads = []
        for m in messages:
            match = RFC5424.match(m)
            self.assertIsNotNone(match, "not RFC 5424: %r" % m[:200])
            self.assertEqual(int(match.group(1)), 16 * 8 + SEVERITY_INFO)  # local0
            payloads.append(match.group(2))
        # UDP may lose datagrams in the receiver's buffer; what arrives is exact and in order.
        it = iter(lines)
        self.assertTrue(all(p in it for p in payloads), "UDP payloads are not file lines")

    def test_usage_errors(self):
        cases = [
            (["--kafka-windows-topic", "t", "--windows", "w.jsonl"], "--kafka-windows-topic"),
            (["--windows-syslog"], "--windows-syslog"),
            (["--windows", "w.jsonl", "--windows-syslog", "--syslog", "unix:/nonexistent/sock"],
             "--syslog"),
            (["--syslog-facility", "nosuch"], "syslog-facility"),
        ]
        if KAFKA_MOCK is None:
            cases.append((["--kafka-brokers", "127.0.0.1:9092", "--kafka-flows-topic", "f"],
                          "built without librdkafka"))
        else:
            cases.append((["--kafka-brokers", "127.0.0.1:9092"], "--kafka-brokers"))
            cases.append((["--kafka-brokers", "127.0.0.1:9092", "--kafka-flows-topic", "f",
                           "--kafka-property", "no.such.property=1"], "no.such.property"))
        for opts, name in cases:
            run = e2e.run_probe(self.pcap, extra_opts=opts, flows=False, stats=False)
            self.assertEqual(run.rc, 2, "want exit 2 for %s\n%s" % (opts, run.describe()))
            self.assertIn(name, run.stderr, run.describe())


if __name__ == "__main__":
    e2e.main()
