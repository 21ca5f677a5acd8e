#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Streamed and rotated outputs on a live-clock probe (net_pcap infinite_rx: the
capture loops forever and carries no timestamps, so the probe runs on the wall
clock, as on a live port).

- --rotate 2s for about 7 s: while it runs the live files already hold whole
  lines and at least two rotated files (PATH.YYYYmmddTHHMMSSZ, docs/formats.md)
  exist; after SIGKILL every rotated file and every live line parse, and the
  flow files together hold at least every row /metrics said was written just
  before the kill.
- --rotate-size: several files, none without rows, every row in one of them.
- SIGHUP reopens: the live file moved away keeps its lines, a new one appears
  and receives lines; together they hold every row of the run.
- SIGTERM right at a rotation boundary: clean exit, every file whole, every row
  of the run in exactly one file.
- ENOSPC on a small tmpfs: write errors counted per file, lines lost counted,
  the probe keeps capturing (conservation of frames and records), writing
  resumes once space is freed, every line that was written is still there.
"""

import calendar
import csv
import io
import json
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
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safem_e2e as e2e  # noqa: E402

STAMP = re.compile(r"^\.(\d{8}T\d{6}Z)(\.\d+)?$")
SAMPLE = re.compile(r'^(safem_file_[a-z_]+_total)\{output="([a-z-]+)"\} (\d+)$')


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def file_counters(port):
    """{(counter, output): value} of the safem_file_* samples on /metrics, or None."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            body = r.read().decode()
    except OSError:
        return None
    out = {}
    for line in body.splitlines():
        m = SAMPLE.match(line)
        if m:
            out[(m.group(1), m.group(2))] = int(m.group(3))
    return out


def rotated(path):
    """Rotated files of path, oldest first: [(stamp, full path)]."""
    d, base = os.path.split(path)
    found = []
    for name in os.listdir(d):
        if name.startswith(base) and STAMP.match(name[len(base):]):
            found.append((name[len(base):], os.path.join(d, name)))
    return sorted(found)


def whole_lines(tc, path, live=False):
    """The lines of path; fails unless the file is empty or ends with a newline. live: the
    probe is still writing the file, and a reader can see a write() of whole lines half
    done (the kernel copies it page by page: one read ended at 8192 bytes mid-line), so
    the unterminated tail is left out; every line before it is still checked whole."""
    with open(path, "rb") as f:
        data = f.read()
    if live:
        data = data[:data.rfind(b"\n") + 1]
    tc.assertTrue(data == b"" or data.endswith(b"\n"), "%s ends with a torn line" % path)
    return data.decode().splitlines()


def csv_rows(tc, path, live=False):
    """Rows of a flow CSV file (header first in every non-empty file), all well formed."""
    lines = whole_lines(tc, path, live)
    if not lines:
        return []
    tc.assertEqual(lines[0].split(","), e2e.CSV_HEADER, "%s: no header" % path)
    rows = list(csv.reader(io.StringIO("\n".join(lines[1:]))))
    for r in rows:
        tc.assertEqual(len(r), len(e2e.CSV_HEADER), "%s: bad row %r" % (path, r))
        int(r[5]), int(r[6]), int(r[7]), int(r[8])
    return rows


def json_lines(tc, path, live=False):
    return [json.loads(line) for line in whole_lines(tc, path, live)]


class LiveProbe:
    """The probe on a looped capture, outputs in outdir, signals sent by the test."""

    def __init__(self, pcap, opts, mbufs=16384):
        binary = e2e.require_probe()
        self.prefix = "safemrot%d_%d" % (os.getpid(), int(time.monotonic() * 1000) % 100000)
        self.argv = ([binary] + e2e.eal_args([pcap], 1, self.prefix, "infinite_rx=1")
                     + ["--", "--mbufs", str(mbufs)] + list(opts))
        self.chunks = {"out": [], "err": []}
        self.started = threading.Event()
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, errors="replace")
        self.readers = [threading.Thread(target=self._drain, args=(s, n), daemon=True)
                        for s, n in ((self.proc.stdout, "out"), (self.proc.stderr, "err"))]
        for t in self.readers:
            t.start()

    def _drain(self, stream, name):
        for line in stream:
            self.chunks[name].append(line)
            if name == "out" and "worker(s)" in line:
                self.started.set()
        stream.close()

    def wait_started(self, tc, timeout=60):
        deadline = time.monotonic() + timeout
        while not self.started.wait(0.1):
            tc.assertIsNone(self.proc.poll(), "the probe ended early\n" + self.describe())
            tc.assertLess(time.monotonic(), deadline, "the probe did not start")

    def finish(self, timeout=30):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("the probe did not stop within %d s\n%s"
                                 % (timeout, self.describe()))
        finally:
            for t in self.readers:
                t.join(10)
            shutil.rmtree(e2e._dpdk_runtime_dir(self.prefix), ignore_errors=True)
        return self.proc.returncode

    def describe(self):
        return "command: %s\nexit: %s\n--- stdout ---\n%s\n--- stderr ---\n%s" % (
            " ".join(self.argv), self.proc.returncode, "".join(self.chunks["out"])[-3000:],
            "".join(self.chunks["err"])[-3000:])


class Rotation(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        e2e.require_probe()
        # infinite_rx keeps every packet of the file in mbufs: stay well under --mbufs.
        cls.pcap, _ = e2e.gen_capture("--profile", "bench", "--flows", 1000, "--packets", 4000,
                                      "--seed", 5)

    def common_opts(self, d):
        # Short timeouts: flows end (and are written) all the time, not only at the stop.
        return ["--flows", os.path.join(d, "flows.csv"), "--stats", os.path.join(d, "stats.json"),
                "--active-timeout", "1s", "--inactive-timeout", "1s"]

    def test_rotate_then_sigkill(self):
        d = e2e.new_dir("rotate")
        flows, windows = os.path.join(d, "flows.csv"), os.path.join(d, "windows.jsonl")
        flows_json = os.path.join(d, "flows.jsonl")
        port = free_port()
        probe = LiveProbe(self.pcap, self.common_opts(d) + [
            "--windows", windows, "--window", "1s", "--rotate", "2s",
            "--flows-json", flows_json, "--prometheus", str(port)])
        try:
            probe.wait_started(self)
            start = time.monotonic()
            time.sleep(5.0)
            # While it runs: whole lines in the live files, rotated files already there.
            self.assertIsNone(probe.proc.poll(), probe.describe())
            csv_rows(self, flows, live=True)
            json_lines(self, windows, live=True)
            json_lines(self, flows_json, live=True)
            for path in (flows, windows, flows_json):
                self.assertGreaterEqual(len(rotated(path)), 2, "rotated: %s" % os.listdir(d))
            time.sleep(max(0.0, 7.0 - (time.monotonic() - start)))
            counters = file_counters(port)
            self.assertIsNotNone(counters, "no /metrics\n" + probe.describe())
            written = counters[("safem_file_lines_written_total", "flows")]
            reports = counters[("safem_file_lines_written_total", "windows")]
            json_written = counters[("safem_file_lines_written_total", "flows-json")]
            probe.proc.send_signal(signal.SIGKILL)
        finally:
            if probe.proc.poll() is None:
                probe.proc.kill()
            probe.finish()
        self.assertEqual(probe.proc.returncode, -signal.SIGKILL)
        self.assertFalse(os.path.exists(os.path.join(d, "stats.json")))
        self.assertFalse([n for n in os.listdir(d) if n.endswith(".tmp")])
        # Every file parses; the flow files hold every row written before the kill.
        flow_files = rotated(flows)
        rows = sum(len(csv_rows(self, p)) for _, p in flow_files) + len(csv_rows(self, flows))
        self.assertGreater(written, 0, "no flow row written in 7 s")
        self.assertGreaterEqual(rows, written, "rows lost by the kill (files %s)" % flow_files)
        lines = sum(len(json_lines(self, p)) for _, p in rotated(windows))
        lines += len(json_lines(self, windows))
        self.assertGreaterEqual(lines, reports)
        self.assertGreater(reports, 0)
        records = sum(len(json_lines(self, p)) for _, p in rotated(flows_json))
        records += len(json_lines(self, flows_json))
        self.assertGreaterEqual(records, json_written)
        self.assertGreater(json_written, 0)
        # One rotated file per interval: stamps 2 s apart, on even seconds (UTC epoch).
        stamps = [calendar.timegm(time.strptime(s[1:16], "%Y%m%dT%H%M%S"))
                  for s, _ in flow_files]
        self.assertTrue(3 <= len(stamps) <= 5, "%d rotated files in 7 s" % len(stamps))
        # (An interval is skipped only if the main lcore stalled for longer than one.)
        for a, b in zip(stamps, stamps[1:]):
            self.assertTrue(b > a and (b - a) % 2 == 0,
                            "rotated stamps %s" % [s for s, _ in flow_files])
        self.assertTrue(all(int(s) % 2 == 0 for s in stamps))

    def test_sighup_reopens(self):
        d = e2e.new_dir("hup")
        flows = os.path.join(d, "flows.csv")
        moved = flows + ".old"
        probe = LiveProbe(self.pcap, self.common_opts(d))
        try:
            probe.wait_started(self)
            time.sleep(2.5)
            os.rename(flows, moved)  # what logrotate does before its postrotate SIGHUP
            probe.proc.send_signal(signal.SIGHUP)
            time.sleep(2.5)
            self.assertTrue(os.path.exists(flows), "no new live file after SIGHUP")
            self.assertGreater(len(csv_rows(self, flows, live=True)), 0,
                               "the new live file gets no rows")
        finally:
            if probe.proc.poll() is None:
                probe.proc.send_signal(signal.SIGTERM)
        self.assertEqual(probe.finish(), 0, probe.describe())
        with open(os.path.join(d, "stats.json")) as f:
            s = json.load(f)
        old, new = csv_rows(self, moved), csv_rows(self, flows)
        self.assertGreater(len(old), 0)
        self.assertEqual(len(old) + len(new), s["records"]["written"])
        self.assertEqual(s["records"]["written"], s["records"]["exported"])
        files = {f["output"]: f for f in s["files"]}
        self.assertEqual(files["flows"]["reopens"], 1)
        self.assertEqual(files["flows"]["lines_written"], len(old) + len(new))

    def test_rotate_by_size(self):
        d = e2e.new_dir("size")
        flows = os.path.join(d, "flows.csv")
        probe = LiveProbe(self.pcap, self.common_opts(d) + ["--rotate-size", "50k",
                                                             "--duration", "4s"])
        self.assertEqual(probe.finish(60), 0, probe.describe())
        with open(os.path.join(d, "stats.json")) as f:
            s = json.load(f)
        parts = rotated(flows)
        self.assertGreaterEqual(len(parts), 2, "rotated: %s" % os.listdir(d))
        self.assertEqual(s["files"][0]["rotations"], len(parts))
        rows = 0
        for _, p in parts:
            n = len(csv_rows(self, p))
            self.assertGreater(n, 0, "%s: a rotated file without rows" % p)
            rows += n
        rows += len(csv_rows(self, flows))
        self.assertEqual(rows, s["records"]["written"])

    def test_sigterm_at_rotation(self):
        for offset_ms in (0, 3):
            with self.subTest(offset_ms=offset_ms):
                d = e2e.new_dir("term")
                flows = os.path.join(d, "flows.csv")
                windows = os.path.join(d, "windows.jsonl")
                probe = LiveProbe(self.pcap, self.common_opts(d) + [
                    "--windows", windows, "--window", "1s", "--rotate", "1s"])
                try:
                    probe.wait_started(self)
                    time.sleep(2.0)
                    # SIGTERM just at a whole second of the wall clock: the rotation of
                    # the interval that ends there is under way or about to start.
                    now = time.time()
                    time.sleep(1.0 - (now - int(now)) + offset_ms / 1000.0)
                    probe.proc.send_signal(signal.SIGTERM)
                finally:
                    rc = probe.finish()
                self.assertEqual(rc, 0, probe.describe())
                with open(os.path.join(d, "stats.json")) as f:
                    s = json.load(f)
                self.assertFalse([n for n in os.listdir(d) if n.endswith(".tmp")])
                self.assertGreaterEqual(len(rotated(flows)), 1)
                rows = sum(len(csv_rows(self, p)) for _, p in rotated(flows))
                rows += len(csv_rows(self, flows))
                self.assertEqual(rows, s["records"]["written"], "rows in the files")
                self.assertEqual(s["records"]["written"], s["records"]["exported"])
                self.assertEqual(s["records"]["exported"] + s["records"]["dropped"],
                                 s["flows"]["created"])
                reports = sum(len(json_lines(self, p)) for _, p in rotated(windows))
                reports += len(json_lines(self, windows))
                self.assertEqual(reports, s["windows"]["reported"])
                for f in s["files"]:
                    self.assertEqual(f["write_errors"], 0, f)
                    self.assertEqual(f["lines_lost"], 0, f)

    def test_disk_full(self):
        if os.geteuid() != 0:
            self.skipTest("mounting a tmpfs needs root")
        d = e2e.new_dir("enospc")
        mnt = os.path.join(d, "small")
        os.mkdir(mnt)
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", mnt],
                             capture_output=True, text=True)
        if res.returncode != 0:
            self.skipTest("cannot mount a tmpfs here: %s" % res.stderr.strip())
        try:
            self.run_disk_full(d, mnt)
        finally:
            subprocess.run(["umount", "-l", mnt], capture_output=True)

    def run_disk_full(self, d, mnt):
        flows = os.path.join(mnt, "flows.csv")
        windows = os.path.join(mnt, "windows.jsonl")
        ballast = os.path.join(mnt, "ballast")
        with open(ballast, "wb") as f:
            f.write(b"\0" * (384 << 10))
        stats_path = os.path.join(d, "stats.json")
        port = free_port()
        probe = LiveProbe(self.pcap, [
            "--flows", flows, "--stats", stats_path, "--windows", windows, "--window", "1s",
            "--active-timeout", "1s", "--inactive-timeout", "1s", "--rotate", "2s",
            "--prometheus", str(port)])
        try:
            probe.wait_started(self)
            # Until the disk is full and a flush failed.
            deadline = time.monotonic() + 30
            while True:
                c = file_counters(port) or {}
                if c.get(("safem_file_write_errors_total", "flows"), 0) > 0:
                    break
                self.assertLess(time.monotonic(), deadline, "no write error on a full disk")
                self.assertIsNone(probe.proc.poll(), probe.describe())
                time.sleep(0.3)
            time.sleep(1.0)
            self.assertIsNone(probe.proc.poll(), "the probe stopped on a full disk")
            before = file_counters(port)[("safem_file_lines_written_total", "flows")]
            # The operator frees space: the next flush writes again.
            os.unlink(ballast)
            deadline = time.monotonic() + 10
            while file_counters(port)[("safem_file_lines_written_total", "flows")] <= before:
                self.assertLess(time.monotonic(), deadline, "writing did not resume")
                time.sleep(0.3)
            probe.proc.send_signal(signal.SIGTERM)
        finally:
            if probe.proc.poll() is None:
                probe.proc.send_signal(signal.SIGTERM)
            rc = probe.finish()
        with open(stats_path) as f:
            s = json.load(f)
        files = {f["output"]: f for f in s["files"]}
        fl = files["flows"]
        self.assertGreater(fl["write_errors"], 0)
        self.assertGreater(fl["lines_lost"], 0)
        # The window reports share the disk: they may or may not have hit it full;
        # a lost line is always a counted error.
        if files["windows"]["lines_lost"] > 0:
            self.assertGreater(files["windows"]["write_errors"], 0, files["windows"])
        # Lost lines make the exit status 1, the file named on stderr with the counts.
        self.assertEqual(rc, 1, probe.describe())
        self.assertRegex("".join(probe.chunks["err"]),
                         r"--flows %s: \d+ write error\(s\), \d+ line\(s\) lost" % re.escape(flows))
        # The probe kept capturing: every frame and every record is accounted for.
        self.assertGreater(s["rx_packets"], 0)
        self.assertEqual(s["rx_packets"],
                         s["parsed_packets"] + s["non_ip"] + s["parse_errors_total"])
        self.assertEqual(s["records"]["exported"] + s["records"]["dropped"],
                         s["flows"]["created"])
        self.assertEqual(s["records"]["written"], s["records"]["exported"])
        self.assertEqual(fl["lines_written"] + fl["lines_lost"], s["records"]["written"])
        # Nothing written was taken back: the files hold exactly the rows written, whole.
        rows = sum(len(csv_rows(self, p)) for _, p in rotated(flows)) + len(csv_rows(self, flows))
        self.assertEqual(rows, fl["lines_written"])
        reports = sum(len(json_lines(self, p)) for _, p in rotated(windows))
        reports += len(json_lines(self, windows))
        self.assertEqual(reports, files["windows"]["lines_written"])


if __name__ == "__main__":
    e2e.main()
