#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""--prometheus: GET /metrics while the probe runs, in the text exposition format.

The probe replays the mixed capture with a long --eof-idle, so it stays up after
the last packet; the test scrapes /metrics with curl until the counters stop
moving, stops the probe, and requires the scraped counters to equal the final
--stats JSON (one source of counters, several renderings). Every sample has
HELP and TYPE lines and counters end in _total. Other paths get 404; a bad or
busy port stops the probe with exit 2 naming --prometheus.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safem_e2e as e2e  # noqa: E402

CURL = shutil.which("curl")
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port, path="/metrics"):
    res = subprocess.run([CURL, "-s", "-i", "--max-time", "5",
                          "http://127.0.0.1:%d%s" % (port, path)],
                         capture_output=True, timeout=10)
    if res.returncode != 0:
        return None, None
    head, _, body = res.stdout.decode().partition("\r\n\r\n")
    return head.split("\r\n")[0], body


def parse(body):
    """{(name, labels): value} and {name: type}; asserts HELP/TYPE precede samples."""
    samples, types, helps = {}, {}, set()
    for line in body.splitlines():
        if line.startswith("# HELP "):
            helps.add(line.split()[2])
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            types[name] = kind
        elif line:
            m = SAMPLE.match(line)
            if m is None:
                raise AssertionError("not an exposition line: %r" % line)
            name = m.group(1)
            if name not in types or name not in helps:
                raise AssertionError("sample before its HELP/TYPE: %r" % line)
            samples[(name, m.group(2) or "")] = float(m.group(3))
    return samples, types


def total(samples, name):
    return sum(v for (n, _), v in samples.items() if n == name)


class PrometheusTest(unittest.TestCase):
    @unittest.skipIf(CURL is None, "curl not installed")
    def test_metrics_match_final_stats(self):
        binary = e2e.require_probe()
        pcap, truth = e2e.gen_capture("--seed", 1)
        outdir = e2e.new_dir("prometheus")
        stats_path = os.path.join(outdir, "stats.json")
        port = free_port()
        prefix = "safemprom%d" % os.getpid()
        argv = ([binary] + e2e.eal_args([pcap], 1, prefix)
                + ["--", "--stats", stats_path, "--prometheus", str(port), "--eof-idle", "60s",
                   "--windows", os.path.join(outdir, "w.jsonl"),
                   "--ipfix", "127.0.0.1:%d" % free_port()])
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            last = None
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline:
                time.sleep(0.5)
                status, body = scrape(port)
                if body is None:
                    continue
                samples, types = parse(body)
                if last is not None and total(samples, "safem_rx_packets_total") == \
                        truth["frames"] and samples == last:
                    break
                last = samples
            self.assertIsNotNone(last, "the endpoint never answered")
            self.assertEqual(status, "HTTP/1.0 200 OK")
            missing_status, _ = scrape(port, "/nothing")
        finally:
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
            shutil.rmtree(e2e._dpdk_runtime_dir(prefix), ignore_errors=True)
        self.assertEqual(proc.returncode, 0, err[-2000:])
        self.assertEqual(missing_status, "HTTP/1.0 404 Not Found")
        with open(stats_path) as f:
            final = json.load(f)
        for name, kind in types.items():
            if kind == "counter":
                self.assertTrue(name.startswith("safem_") and name.endswith("_total"), name)
            self.assertIn(kind, ("counter", "gauge"), name)
        self.assertEqual(total(samples, "safem_rx_packets_total"), final["rx_packets"])
        self.assertEqual(total(samples, "safem_worker_rx_packets_total"), final["rx_packets"])
        self.assertEqual(total(samples, "safem_port_rx_packets_total"), final["rx_packets"])
        self.assertEqual(total(samples, "safem_rx_bytes_total"), final["rx_bytes"])
        self.assertEqual(total(samples, "safem_parsed_packets_total"), final["parsed_packets"])
        self.assertEqual(total(samples, "safem_parse_errors_total"), final["parse_errors_total"])
        for reason, n in final["parse_errors"].items():
            self.assertEqual(samples[("safem_parse_errors_total", '{reason="%s"}' % reason)], n)
        self.assertEqual(total(samples, "safem_flow_flows_created_total"),
                         final["flows"]["created"])
        self.assertIn(("safem_flow_cache_active_flows", ""), samples)
        self.assertIn(("safem_window_close_seconds_max", ""), samples)
        self.assertIn(("safem_stream_lines_total", '{stream="windows"}'), samples)
        ipfix = [k for k in samples if k[0] == "safem_ipfix_records_sent_total"]
        self.assertEqual(len(ipfix), 1, "one sample per collector")
        # Flows still in the cache are exported at exit: by then the records equal the flows.
        self.assertLessEqual(total(samples, "safem_handoff_records_put_total"),
                             final["records"]["exported"])

    def test_bad_or_busy_port(self):
        pcap, _ = e2e.gen_capture("--seed", 1)
        run = e2e.run_probe(pcap, extra_opts=["--prometheus", "70000"], flows=False, stats=False)
        self.assertEqual(run.rc, 2, run.describe())
        self.assertIn("prometheus", run.stderr)
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen(1)
            run = e2e.run_probe(pcap, extra_opts=["--prometheus", str(busy.getsockname()[1])],
                                flows=False, stats=False)
        self.assertEqual(run.rc, 2, run.describe())
        self.assertIn("--prometheus", run.stderr)
        run = e2e.run_probe(pcap, extra_opts=["--prometheus", "9", "--prometheus-address", "x"],
                            flows=False, stats=False)
        self.assertEqual(run.rc, 2, run.describe())
        self.assertIn("--prometheus-address", run.stderr)


if __name__ == "__main__":
    e2e.main()
