#!/usr/bin/env python3
"""Telemetry: while safem-probe runs, dpdk-telemetry.py answers /safem/stats with live
counters that grow, and /ethdev/stats with the NIC counters. /safem/stats also has the
per-RX-queue breakdown, the IPFIX exporter counters per collector, the window close time
and the line stream counters, consistent with the final --stats."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safem_e2e as e2e  # noqa: E402

TELEMETRY = shutil.which("dpdk-telemetry.py")


def query(prefix, command):
    out = subprocess.run([TELEMETRY, "-f", prefix], input=command + "\n", text=True,
                         capture_output=True, timeout=20).stdout
    # The client prints one JSON object per command, possibly after a banner line.
    start = out.find("{")
    if start < 0:
        raise AssertionError("no JSON from dpdk-telemetry.py for %s: %r" % (command, out))
    obj, _ = json.JSONDecoder().raw_decode(out[start:])
    return obj[command.split(",")[0]]


class TelemetryTest(unittest.TestCase):
    @unittest.skipIf(TELEMETRY is None, "dpdk-telemetry.py not installed (Debian package dpdk)")
    def test_live_counters(self):
        binary = e2e.require_probe()
        outdir = e2e.new_dir("telemetry")
        pcap = os.path.join(outdir, "mixed.pcap")
        e2e.gen_capture("--profile", "mixed", "--seed", "7", "--out", pcap)
        prefix = "safemtel%d" % os.getpid()
        stats_path = os.path.join(outdir, "stats.json")
        collector = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        collector.bind(("127.0.0.1", 0))
        target = "127.0.0.1:%d" % collector.getsockname()[1]
        argv = ([binary] + e2e.eal_args([pcap], 1, prefix, vdev_opts="infinite_rx=1")
                + ["--", "--stats", stats_path, "--duration", "30s", "--ipfix", target,
                   "--inactive-timeout", "100ms", "--windows", os.path.join(outdir, "w.jsonl"),
                   "--window", "200ms"])
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            first = None
            deadline = time.monotonic() + 20
            # The command answers from its registration on, a moment before the
            # workers start (and on a loaded 2-CPU box that moment can last a
            # query or two): wait for the first packets.
            while time.monotonic() < deadline and (first is None or not first["rx_packets"]):
                time.sleep(0.5)
                try:
                    first = query(prefix, "/safem/stats")
                except (AssertionError, subprocess.TimeoutExpired):
                    first = None
            self.assertIsNotNone(first, "telemetry socket never answered")
            time.sleep(1.0)
            second = query(prefix, "/safem/stats")
            ethdev = query(prefix, "/ethdev/stats,0")
        finally:
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
            shutil.rmtree(e2e._dpdk_runtime_dir(prefix), ignore_errors=True)
            collector.close()
        self.assertEqual(proc.returncode, 0, err[-2000:])
        for name in ("rx_packets", "rx_bytes", "parsed_packets", "non_ip", "parse_errors_total",
                     "parse_error_truncated_l4", "flow_flows_created", "flow_packets",
                     "handoff_records_put", "records_written"):
            self.assertIn(name, second)
        self.assertGreater(first["rx_packets"], 0)
        self.assertGreater(second["rx_packets"], first["rx_packets"], "counters are not live")
        self.assertGreater(ethdev["ipackets"], 0)
        with open(stats_path) as f:
            final = json.load(f)
        self.assertGreaterEqual(final["rx_packets"], second["rx_packets"])
        # Per RX queue (NIC counters), parallel arrays named by "pPORTqQUEUE".
        self.assertEqual(second["rx_queue_names"], ["p0q0"])
        self.assertGreater(second["rx_queue_packets"][0], 0)
        self.assertGreater(second["rx_queue_bytes"][0], 0)
        # IPFIX exporter counters per collector.
        self.assertEqual(second["ipfix_names"], [target])
        for name in ("messages_sent", "records_sent", "records_dropped", "bytes_sent",
                     "templates_sent", "send_errors", "reconnects"):
            self.assertEqual(len(second["ipfix_" + name]), 1, name)
            self.assertLessEqual(second["ipfix_" + name][0], final["ipfix"][0][name], name)
        self.assertGreater(second["ipfix_records_sent"][0], 0, "no records exported live")
        # Window close time and the window report stream.
        self.assertGreater(second["windows_reported"], 0)
        self.assertIn("window_close_us_max", second)
        self.assertLessEqual(second["window_close_us_max"],
                             final["windows"]["close_ms_max"] * 1000 + 1)
        self.assertEqual(second["stream_names"], ["windows"])
        # The window report file: written lines, live, never more than were made.
        self.assertEqual(second["file_names"], ["windows"])
        self.assertLessEqual(second["file_lines_written"][0], second["stream_lines"][0])
        self.assertLessEqual(second["file_lines_written"][0],
                             final["files"][0]["lines_written"])
        self.assertEqual(second["file_write_errors"], [0])
        # Read while the analysis thread writes: a report may be between the two counters.
        self.assertLessEqual(abs(second["stream_lines"][0] - second["windows_reported"]), 1)
        # The analysis thread's queue (docs/formats.md): every pane queued is analysed
        # or still waiting, and nothing was refused.
        for name in ("analysis_panes_queued", "analysis_panes_analysed",
                     "analysis_queue_high_water", "analysis_queue_full",
                     "analysis_busy_us_total", "analysis_busy_us_max"):
            self.assertIn(name, second)
        self.assertGreater(second["analysis_panes_queued"], 0)
        self.assertLessEqual(second["analysis_panes_analysed"], second["analysis_panes_queued"])
        self.assertEqual(second["analysis_queue_full"], 0)
        self.assertLessEqual(second["analysis_panes_queued"], final["analysis"]["panes_queued"])


if __name__ == "__main__":
    e2e.main()
