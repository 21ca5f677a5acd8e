#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""IPFIX export when the collector is slow, late or away (issue 14, paced export).

- A 100,000-flow end-of-capture flush to a stock nfcapd (nfdump package, default socket
  buffer: no -B) on 127.0.0.1 at the default --ipfix-rate: nfcapd stores every flow and
  counts no sequence failure.
- A TCP collector that starts after the probe, and one that disappears mid-run and comes
  back on the same port, while the probe runs live (TSC clock, net_pcap infinite_rx): no
  crash, clean exit, the probe keeps capturing (window of packets after the outage), the
  counters say what was lost (records_sent + records_dropped = records exported, and the
  collector decoded exactly records_sent), and packets are conserved.

Skips (exit 77) when nfcapd or nfdump is missing.
"""

import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safem_e2e as e2e  # noqa: E402
import test_ipfix  # noqa: E402  (its RFC 7011 decoder and TCP collector, independent of lib/ipfix)

FLUSH_FLOWS = 100000


def free_port(kind):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class IpfixFaults(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pcap, _ = e2e.gen_capture("--profile", "bench", "--flows", 5000, "--packets",
                                      20000, "--seed", 3)

    def decode(self, streams):
        records = 0
        for data in streams:
            d = test_ipfix.Decoder(self)  # one Transport Session per connection
            d.stream(data)
            records += d.records
        return records

    def run_live(self, target, during, seconds=7):
        """Live run; during(proc) runs in a thread once the probe is up (its times count
        from there, so a slow start under a sanitizer does not shift them)."""
        return e2e.run_probe(self.pcap, vdev_opts="infinite_rx=1", timeout=90, on_ready=during,
                             extra_opts=[
                                 "--mbufs", "32768", "--duration", "%ds" % seconds,
                                 "--active-timeout", "1s", "--inactive-timeout", "1s",
                                 "--observation-domain", str(test_ipfix.DOMAIN),
                                 "--ipfix", target])

    def check_accounting(self, run, decoded):
        e2e.assert_run_ok(self, run)
        s = run.stats
        self.assertEqual(s["clock"], "tsc")
        self.assertEqual(s["rx_packets"],
                         s["parsed_packets"] + s["non_ip"] + s["parse_errors_total"],
                         "packets not conserved")
        exported = s["records"]["exported"]
        self.assertGreater(exported, 0)
        self.assertEqual(s["records"]["written"], exported)
        self.assertEqual(len(run.rows), exported)
        c = s["ipfix"][0]
        self.assertEqual(c["records_sent"] + c["records_dropped"], exported,
                         "every record exported is either sent or counted as dropped: %s" % c)
        self.assertEqual(decoded, c["records_sent"],
                         "the collector decoded what the probe says it sent: %s" % c)
        return c

    def test_tcp_collector_starts_late(self):
        port = free_port(socket.SOCK_STREAM)
        coll = {}

        def during(proc):
            # Nobody listens for the first 3 s of the run: records queue up.
            time.sleep(3.0)
            coll["start_ms"] = time.time() * 1000
            coll["c"] = test_ipfix.TcpCollector(port)

        run = self.run_live("127.0.0.1:%d,proto=tcp" % port, during)
        c_thread = coll.get("c")
        self.assertIsNotNone(c_thread, "collector never started\n" + run.describe())
        c_thread.stop(linger=0.5)
        self.assertEqual(len(c_thread.streams), 1, "one connection")
        c = self.check_accounting(run, self.decode(c_thread.streams))
        # The collector got records of flows that ended before it existed.
        d = test_ipfix.Decoder(self)
        d.stream(c_thread.streams[0])
        first_end_ms = min(v[153] for _, v in d.flows)
        self.assertLess(first_end_ms, coll["start_ms"] - 1000,
                        "no record from before the collector started")
        self.assertEqual(c["reconnects"], 0, "the first connection is not a reconnect")
        # Records made before the collector came were queued, not lost: the queue
        # (8 MB) holds the first 3 s of this run.
        self.assertEqual(c["records_dropped"], 0, "%s\n%s" % (c, run.describe()))

    def test_tcp_collector_disappears_and_returns(self):
        port = free_port(socket.SOCK_STREAM)
        colls = [test_ipfix.TcpCollector(port)]

        def during(proc):
            time.sleep(2.0)
            colls[0].stop()
            time.sleep(2.0)
            if proc.poll() is None:
                colls.append(test_ipfix.TcpCollector(port))

        run = self.run_live("127.0.0.1:%d,proto=tcp" % port, during, seconds=10)
        colls[-1].stop(linger=0.5)
        self.assertEqual(len(colls), 2, "the probe ended before the collector came back\n"
                         + run.describe())
        streams = colls[0].streams + colls[1].streams
        self.assertGreaterEqual(len(colls[1].streams), 1, "no reconnection\n" + run.describe())
        c = self.check_accounting(run, self.decode(streams))
        self.assertGreaterEqual(c["reconnects"], 1, str(c))
        # Records kept coming after the outage: the second session carried records.
        d = test_ipfix.Decoder(self)
        d.stream(colls[1].streams[0])
        self.assertGreater(d.records, 0, "nothing after the reconnect")

    def test_100k_flow_flush_to_nfcapd(self):
        for tool in ("nfcapd", "nfdump"):
            if shutil.which(tool) is None:
                self.skipTest("%s not installed (Debian package nfdump)" % tool)
        pcap, _ = e2e.gen_capture("--profile", "bench", "--flows", FLUSH_FLOWS, "--packets",
                                  FLUSH_FLOWS, "--seed", 11)
        port = free_port(socket.SOCK_DGRAM)
        nfdir = e2e.new_dir("nfcapd-flush")
        help_text = subprocess.run(["nfcapd", "-h"], capture_output=True, text=True).stdout
        dir_flag = "-w" if re.search(r"^-w\s", help_text, re.M) else "-l"
        # Stock nfcapd: no -B, so the kernel's default receive buffer.
        nfcapd = subprocess.Popen(["nfcapd", "-b", "127.0.0.1", "-p", str(port), dir_flag,
                                   nfdir, "-t", "3600"], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, errors="replace")
        try:
            self.assertTrue(test_ipfix.wait_udp_bound(port), "nfcapd did not bind")
            # Long timeouts and a cache for every flow: all 100,000 leave at the end of
            # the capture, in one burst.
            run = e2e.run_probe(pcap, timeout=300, flows=False, extra_opts=[
                "--inactive-timeout", "1h", "--active-timeout", "1h",
                "--flow-cache-size", "262144", "--ipfix", "127.0.0.1:%d" % port])
        finally:
            time.sleep(1.0)  # nfcapd reads what is still in its socket
            if nfcapd.poll() is None:
                nfcapd.send_signal(signal.SIGTERM)
            try:
                log = nfcapd.communicate(timeout=30)[0]
            except subprocess.TimeoutExpired:
                nfcapd.kill()
                log = nfcapd.communicate()[0]
        e2e.assert_run_ok(self, run)
        s = run.stats
        expired = s["flows"]["expired"]
        self.assertEqual(sum(expired.values()), FLUSH_FLOWS, str(expired))
        # A few flows may leave earlier, evicted from a full cache line; the
        # rest leave together when the capture ends.
        self.assertGreater(expired.get("end_of_input", 0), FLUSH_FLOWS * 9 // 10, str(expired))
        c = s["ipfix"][0]
        self.assertEqual((c["records_sent"], c["records_dropped"]), (FLUSH_FLOWS, 0), str(c))
        files = [f for f in glob.glob(os.path.join(nfdir, "nfcapd.*")) if "current" not in f]
        self.assertTrue(files, "nfcapd wrote no file; its log:\n" + log)
        env = dict(os.environ, TZ="UTC")
        info = subprocess.run(["nfdump", "-I", "-R", nfdir], capture_output=True, text=True,
                              env=env, timeout=120).stdout
        flows = re.search(r"^Flows:\s*(\d+)", info, re.M)
        seq = re.search(r"Sequence failures:\s*(\d+)", info)
        self.assertIsNotNone(flows, "nfdump -I:\n" + info)
        self.assertEqual(int(flows.group(1)), FLUSH_FLOWS,
                         "flows stored by nfcapd\n%s\nprobe: %s" % (info, c))
        if seq:
            self.assertEqual(int(seq.group(1)), 0, "nfdump -I:\n" + info)
        self.assertGreater(c["messages_paced"], 0, "the flush was not paced: %s" % c)


if __name__ == "__main__":
    e2e.main()
