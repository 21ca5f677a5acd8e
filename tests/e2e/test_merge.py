#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""safem-merge through the real binaries (issue 3: "the same merge serves several probes").

The SYN-flood capture of test_windows.py is split into two captures by a hash of each
packet's unidirectional 5-tuple, so every packet of a flow goes to the same half (a flow
split between two probes would count as a flow in both). Each half is replayed through
safem-probe with --windows and --trees (one half with 1 worker, the other with 2), the
whole capture through one probe with --windows, and safem-merge merges the two tree
directories.

Checked:
  * the merged reports equal the whole-capture reports exactly, apart from "timing"
    (which safem-merge never writes): same windows, counts, entropies, prefixes;
  * the merge does not depend on the order of its inputs;
  * merging one probe's directory reproduces that probe's own reports;
  * merged --trees files merge again to the same reports (hierarchical merging);
  * sliding windows (--slide) merge the same way; a window one probe lacks is the other's;
  * read buffers grow for files beyond their first size (the merge stays exact);
    --tree-nodes folds and warns; folded probe trees make safem-merge warn;
  * errors: a corrupt or truncated tree file, a window header whose counts were altered,
    an empty directory, the same file twice, windows that disagree on their end, bad
    options: exit 2 and a message naming the culprit; no output file is left behind.
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import unittest
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safem_e2e as e2e  # noqa: E402
import test_windows  # noqa: E402

PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
# Window tree file header (lib/window/window.c): magic 8, version 4, reserved 4, then
# u64 start_ms, end_ms, packets, bytes, flows.
END_MS_OFFSET = 24
PACKETS_OFFSET = 32


def merge_path():
    return os.environ.get("SAFEM_MERGE") or os.path.join(e2e.BUILD_ROOT, "app", "safem-merge")


def require_merge():
    path = merge_path()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise unittest.SkipTest("safem-merge not found at %s (set SAFEM_MERGE)" % path)
    return path


def run_merge(*args, timeout=120):
    argv = [require_merge()] + [str(a) for a in args]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    res.argv = argv
    return res


def describe(res):
    return "command: %s\nexit code: %d\n--- stdout ---\n%s\n--- stderr ---\n%s" % (
        " ".join(res.argv), res.returncode, res.stdout[-3000:], res.stderr[-3000:])


def flow_half(key):
    """0 or 1 from the unidirectional 5-tuple: all packets of a flow in one half."""
    return zlib.crc32(repr(key).encode()) & 1


def split_capture(pcap, out0, out1):
    """Write the two halves; returns the frames in each."""
    outs = [open(out0, "wb"), open(out1, "wb")]
    counts = [0, 0]
    try:
        for f in outs:
            f.write(PCAP_HEADER)
        for ts_us, data, orig_len in e2e.read_pcap(pcap):
            parsed = e2e.parse_frame(data)
            half = flow_half(parsed.key) if parsed.status == "ok" else 0
            outs[half].write(struct.pack("<IIII", ts_us // 1000000, ts_us % 1000000, len(data),
                                         orig_len))
            outs[half].write(data)
            counts[half] += 1
    finally:
        for f in outs:
            f.close()
    return counts


def parse_reports(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# What the probe's detection adds to a window line from its feature
# distributions, which tree files do not carry: safem-merge cannot write them.
DETECTION_MEMBERS = ("spectrum", "patterns", "direction", "score", "deviating_metrics",
                     "baseline_windows", "anomalous", "class", "incident",
                     "spectrum_anomalous", "anomaly_source", "svm",
                     "warmup", "low_rate",
                     "horizon_windows",
                     # behaviour profiles need the flow log, which tree files do not carry
                     "clusters", "profile", "hosts")


def without_timing(reports):
    out = []
    for r in reports:
        r = dict(r)
        r.pop("timing", None)
        for k in DETECTION_MEMBERS:
            r.pop(k, None)
        out.append(r)
    return out


def first_difference(want, got):
    """Readable first difference between two report lists ('' if equal)."""
    if len(want) != len(got):
        return "%d windows expected, %d merged: starts %s vs %s" % (
            len(want), len(got), [r["start_ms"] for r in want], [r["start_ms"] for r in got])
    for a, b in zip(want, got):
        if a != b:
            keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            return "window %s differs in %s:\n  want %s\n  got  %s" % (
                a.get("start_ms"), keys, {k: a.get(k) for k in keys},
                {k: b.get(k) for k in keys})
    return ""


class Merge(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_merge()
        e2e.require_probe()
        cls.dir = e2e.new_dir("merge")
        cls.pcap = os.path.join(cls.dir, "synflood.pcap")
        cls.frames = test_windows.build_capture(cls.pcap)
        cls.halves = [os.path.join(cls.dir, "half%d.pcap" % i) for i in (0, 1)]
        cls.half_frames = split_capture(cls.pcap, *cls.halves)
        cls.full_windows = os.path.join(cls.dir, "full.jsonl")
        cls.full_run = e2e.run_probe(cls.pcap, workers=1, flows=False,
                                     extra_opts=["--windows", cls.full_windows, "--window", "1s"])
        cls.half_windows, cls.half_trees, cls.half_runs = [], [], []
        # Half 1 with two workers: the per-core merge inside a probe and the merge across
        # probes compose.
        for i, workers in ((0, 1), (1, 2)):
            windows = os.path.join(cls.dir, "half%d.jsonl" % i)
            trees = os.path.join(cls.dir, "trees%d" % i)
            os.mkdir(trees)
            run = e2e.run_probe(cls.halves[i], workers=workers, flows=False,
                                extra_opts=["--windows", windows, "--window", "1s",
                                            "--trees", trees])
            cls.half_windows.append(windows)
            cls.half_trees.append(trees)
            cls.half_runs.append(run)

    def full_reports(self):
        e2e.assert_run_ok(self, self.full_run)
        self.assertTrue(os.path.exists(self.full_windows), self.full_run.describe())
        return without_timing(e2e.read_json_lines(self.full_windows))

    def half(self, i):
        run = self.half_runs[i]
        e2e.assert_run_ok(self, run)
        self.assertTrue(os.path.exists(self.half_windows[i]), run.describe())
        files = sorted(f for f in os.listdir(self.half_trees[i]) if f.endswith(".tree"))
        self.assertTrue(files, "probe wrote no tree files\n" + run.describe())
        self.assertFalse([f for f in os.listdir(self.half_trees[i]) if f.endswith(".tmp")],
                         ".tmp tree files left behind")
        return without_timing(e2e.read_json_lines(self.half_windows[i]))

    def merge_ok(self, *args):
        res = run_merge(*args)
        self.assertEqual(res.returncode, 0, describe(res))
        self.assertNotIn("warning", res.stderr, describe(res))
        return res

    def test_split_is_real(self):
        # Both halves carry traffic in every window, and together all of it.
        self.assertEqual(sum(self.half_frames), self.frames)
        full = self.full_reports()
        for i in (0, 1):
            reports = self.half(i)
            self.assertEqual([r["start_ms"] for r in reports], [r["start_ms"] for r in full])
            self.assertTrue(all(r["packets"] > 0 for r in reports))
            self.assertEqual(len(os.listdir(self.half_trees[i])), len(full))

    def test_merged_halves_equal_full_run(self):
        full = self.full_reports()
        self.half(0)
        self.half(1)
        out = os.path.join(e2e.new_dir("out"), "merged.jsonl")
        self.merge_ok("--windows", out, self.half_trees[0], self.half_trees[1])
        self.assertFalse(os.path.exists(out + ".tmp"))
        merged = e2e.read_json_lines(out)
        for r in merged:
            self.assertNotIn("timing", r)
        self.assertEqual(len(merged), test_windows.DURATION_S)
        diff = first_difference(full, merged)
        self.assertEqual(diff, "", diff)
        # The split is by flow: a half alone does not already give the full report.
        self.assertNotEqual(self.half(0), full)

    def test_input_order_does_not_matter(self):
        self.half(0)
        self.half(1)
        ab = self.merge_ok(self.half_trees[0], self.half_trees[1]).stdout
        ba = self.merge_ok(self.half_trees[1], self.half_trees[0]).stdout
        self.assertEqual(ab, ba)
        # Files named one by one are the same input as their directory.
        files = [os.path.join(d, f) for d in self.half_trees for f in os.listdir(d)]
        self.assertEqual(self.merge_ok(*reversed(sorted(files))).stdout, ab)

    def test_single_probe_reproduces_its_reports(self):
        for i in (0, 1):
            own = self.half(i)
            res = self.merge_ok(self.half_trees[i])
            diff = first_difference(own, parse_reports(res.stdout))
            self.assertEqual(diff, "", "half %d: %s" % (i, diff))

    def test_merged_trees_merge_again(self):
        self.half(0)
        self.half(1)
        out_dir = e2e.new_dir("merged-trees")
        # --trees alone writes no report (stdout stays empty).
        res = self.merge_ok("--trees", out_dir, self.half_trees[0], self.half_trees[1])
        self.assertEqual(res.stdout, "")
        names = sorted(os.listdir(out_dir))
        self.assertEqual(names, sorted(os.listdir(self.half_trees[0])))
        again = self.merge_ok(out_dir).stdout
        direct = self.merge_ok(self.half_trees[0], self.half_trees[1]).stdout
        self.assertEqual(again, direct)
        diff = first_difference(self.full_reports(), parse_reports(again))
        self.assertEqual(diff, "", diff)

    def test_other_alpha_and_log_base_are_applied(self):
        self.half(0)
        base2 = parse_reports(self.merge_ok(self.half_trees[0]).stdout)
        base_e = parse_reports(self.merge_ok("--log-base", "e", self.half_trees[0]).stdout)
        for a, b in zip(base2, base_e):
            h2 = a["entropy"]["dst_packets"]["aggregated"]
            he = b["entropy"]["dst_packets"]["aggregated"]
            self.assertAlmostEqual(he, h2 * 0.6931471805599453, delta=1e-5)
        coarse = parse_reports(self.merge_ok("--alpha", "0.2", self.half_trees[0]).stdout)
        for a, b in zip(base2, coarse):
            self.assertLessEqual(len(b["prefixes"]["dst_packets"]),
                                 len(a["prefixes"]["dst_packets"]))
            self.assertLessEqual(len(b["prefixes"]["dst_packets"]), int(1 / 0.2) + 2)

    def test_window_missing_from_one_input(self):
        # A probe that saw nothing in a window writes no file for it: the window is then
        # the other probe's alone.
        own = self.half(0)
        d, files = self.copy_trees(1)
        gone = files[5]
        os.unlink(gone)
        merged = parse_reports(self.merge_ok(self.half_trees[0], d).stdout)
        self.assertEqual(len(merged), len(own))
        start = int(os.path.basename(gone)[len("window-"):-len(".tree")])
        by_start = {r["start_ms"]: r for r in merged}
        self.assertIn(start, by_start)
        want = [r for r in own if r["start_ms"] == start][0]
        diff = first_difference([want], [by_start[start]])
        self.assertEqual(diff, "", diff)

    def test_sliding_windows_merge_exactly(self):
        # --slide: one file per reported (overlapping) window; the same merge applies.
        opts = ["--window", "3s", "--slide", "1s"]
        out = e2e.new_dir("sliding")
        full_path = os.path.join(out, "full.jsonl")
        full_run = e2e.run_probe(self.pcap, workers=1, flows=False,
                                 extra_opts=["--windows", full_path] + opts)
        e2e.assert_run_ok(self, full_run)
        dirs = []
        for i in (0, 1):
            trees = os.path.join(out, "trees%d" % i)
            os.mkdir(trees)
            run = e2e.run_probe(self.halves[i], workers=1 + i, flows=False,
                                extra_opts=["--windows", os.path.join(out, "h%d.jsonl" % i),
                                            "--trees", trees] + opts)
            e2e.assert_run_ok(self, run)
            dirs.append(trees)
        full = without_timing(e2e.read_json_lines(full_path))
        self.assertTrue(all(r["end_ms"] - r["start_ms"] == 3000 for r in full))
        merged = parse_reports(self.merge_ok(*dirs).stdout)
        diff = first_difference(full, merged)
        self.assertEqual(diff, "", diff)

    # ---------------------------------------------------------------- errors

    def copy_trees(self, i):
        self.half(i)
        d = os.path.join(e2e.new_dir("copy"), "trees")
        shutil.copytree(self.half_trees[i], d)
        return d, sorted(os.path.join(d, f) for f in os.listdir(d))

    def assert_rejected(self, res, *words):
        self.assertEqual(res.returncode, 2, describe(res))
        self.assertTrue(res.stderr.startswith("safem-merge: "), describe(res))
        for w in words:
            self.assertIn(w, res.stderr, describe(res))

    def assert_no_output(self, out):
        self.assertFalse(os.path.exists(out), "output written despite the error")
        self.assertFalse(os.path.exists(out + ".tmp"), ".tmp left behind")

    def test_corrupt_tree_file(self):
        d, files = self.copy_trees(0)
        victim = files[len(files) // 2]
        with open(victim, "r+b") as f:
            f.seek(os.path.getsize(victim) // 2)
            b = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([b[0] ^ 0x40]))
        out = os.path.join(e2e.new_dir("out"), "merged.jsonl")
        res = run_merge("--windows", out, d, self.half_trees[1])
        self.assert_rejected(res, victim, "not a safem window tree file")
        self.assert_no_output(out)

    def test_truncated_tree_file(self):
        d, files = self.copy_trees(0)
        with open(files[0], "r+b") as f:
            f.truncate(os.path.getsize(files[0]) - 9)
        self.assert_rejected(run_merge(d), files[0], "not a safem window tree file")

    def test_altered_window_counts(self):
        # The window header has no checksum of its own; its counts must match the trees.
        d, files = self.copy_trees(0)
        with open(files[1], "r+b") as f:
            f.seek(PACKETS_OFFSET)
            (packets,) = struct.unpack("<Q", f.read(8))
            f.seek(PACKETS_OFFSET)
            f.write(struct.pack("<Q", packets + 1))
        self.assert_rejected(run_merge(d), files[1], "not a safem window tree file")

    def test_not_a_tree_file(self):
        path = os.path.join(e2e.new_dir("junk"), "window-1.tree")
        with open(path, "w") as f:
            f.write("start_ms,end_ms\n")
        self.assert_rejected(run_merge(path), path, "not a safem window tree file")
        missing = os.path.join(e2e.new_dir("missing"), "nothing.tree")
        self.assert_rejected(run_merge(missing), missing, "No such file or directory")

    def test_empty_directory(self):
        d = e2e.new_dir("empty")
        # A probe's half-written file (NAME.tree.tmp) is not an input either.
        open(os.path.join(d, "window-1700000000000.tree.tmp"), "w").close()
        out = os.path.join(e2e.new_dir("out"), "merged.jsonl")
        res = run_merge("--windows", out, d)
        self.assert_rejected(res, d, "no window tree files")
        self.assert_no_output(out)

    def test_same_file_twice(self):
        self.half(0)
        res = run_merge(self.half_trees[0], self.half_trees[0])
        self.assert_rejected(res, "same file", self.half_trees[0])

    def test_window_ends_disagree(self):
        # As if the second probe ran with another --window: same start, other end.
        d, files = self.copy_trees(1)
        with open(files[0], "r+b") as f:
            f.seek(END_MS_OFFSET)
            (end_ms,) = struct.unpack("<Q", f.read(8))
            f.seek(END_MS_OFFSET)
            f.write(struct.pack("<Q", end_ms + 1000))
        original = os.path.join(self.half_trees[0], os.path.basename(files[0]))
        out = os.path.join(e2e.new_dir("out"), "merged.jsonl")
        res = run_merge("--windows", out, self.half_trees[0], d)
        self.assert_rejected(res, original, files[0], str(end_ms), str(end_ms + 1000))
        self.assert_no_output(out)

    def test_trees_dir_must_not_be_an_input(self):
        d, _ = self.copy_trees(0)
        self.assert_rejected(run_merge("--trees", d, d), "also an input")
        missing = os.path.join(d, "nope")
        self.assert_rejected(run_merge("--trees", missing, d), missing)

    def test_options(self):
        res = run_merge("--help")
        self.assertEqual(res.returncode, 0, describe(res))
        for text in ("--alpha", "default 0.01", "--log-base", "default 2", "--tree-nodes",
                     "default 1048576", "--windows", "--trees"):
            self.assertIn(text, res.stdout)
        for args, word in ((["--bogus", "x"], "--bogus"), (["--alpha", "1", "x"], "--alpha"),
                           (["--alpha", "abc", "x"], "--alpha"),
                           (["--log-base", "1", "x"], "--log-base"),
                           (["--tree-nodes", "4", "x"], "--tree-nodes"),
                           (["--tree-nodes", "-5", "x"], "--tree-nodes"),
                           (["--windows"], "--windows"), ([], "no INPUT")):
            res = run_merge(*args)
            self.assert_rejected(res, word, "usage: safem-merge")


def build_many_addresses(path, sources=10000):
    """Two 1 s windows, each with `sources` distinct source addresses (one UDP packet each)
    to 16 destinations: every tree file of either half holds more than safem-merge's first
    read buffer (4096 nodes), so the buffers must grow for the merge to stay exact."""
    packets = []
    start_us = test_windows.START_S * 1000000
    for sec in (0, 1):
        for i in range(sources):
            src = (10, 64 + sec, i >> 8, i & 0xFF)
            dst = (192, 0, 2, 1 + i % 16)
            ts = start_us + sec * 1000000 + i * 90
            packets.append((ts, test_windows.ipv4_frame(src, dst, 17, 1024 + i % 50000, 53, 40)))
    with open(path, "wb") as f:
        f.write(PCAP_HEADER)
        for ts, frame in packets:
            f.write(struct.pack("<IIII", ts // 1000000, ts % 1000000, len(frame), len(frame)))
            f.write(frame)
    return len(packets)


class Bounds(unittest.TestCase):
    """Tree sizes: read buffers that grow, --tree-nodes that folds, folded inputs."""

    @classmethod
    def setUpClass(cls):
        require_merge()
        e2e.require_probe()
        cls.dir = e2e.new_dir("merge-bounds")
        pcap = os.path.join(cls.dir, "many.pcap")
        build_many_addresses(pcap)
        cls.halves = [os.path.join(cls.dir, "half%d.pcap" % i) for i in (0, 1)]
        split_capture(pcap, *cls.halves)
        cls.full_windows = os.path.join(cls.dir, "full.jsonl")
        cls.full_run = e2e.run_probe(pcap, workers=1, flows=False,
                                     extra_opts=["--windows", cls.full_windows])
        cls.trees, cls.runs = [], []
        for i in (0, 1):
            trees = os.path.join(cls.dir, "trees%d" % i)
            os.mkdir(trees)
            cls.trees.append(trees)
            cls.runs.append(e2e.run_probe(
                cls.halves[i], workers=1, flows=False,
                extra_opts=["--windows", os.path.join(cls.dir, "half%d.jsonl" % i),
                            "--trees", trees]))
        # A probe whose per-worker trees fold (Aguri reclaim at 64 nodes).
        cls.folded_trees = os.path.join(cls.dir, "folded")
        os.mkdir(cls.folded_trees)
        cls.folded_run = e2e.run_probe(
            cls.halves[0], workers=1, flows=False,
            extra_opts=["--windows", os.path.join(cls.dir, "folded.jsonl"), "--tree-nodes", "64",
                        "--trees", cls.folded_trees])

    def setUp(self):
        for run in [self.full_run, self.folded_run] + self.runs:
            e2e.assert_run_ok(self, run)

    def test_large_windows_merge_exactly(self):
        full = without_timing(e2e.read_json_lines(self.full_windows))
        self.assertEqual(len(full), 2)
        for r in full:
            self.assertEqual(r["distinct_sources"], 10000)
            self.assertTrue(r["distinct_exact"])
        res = run_merge(*self.trees)
        self.assertEqual(res.returncode, 0, describe(res))
        self.assertNotIn("warning", res.stderr, describe(res))
        diff = first_difference(full, parse_reports(res.stdout))
        self.assertEqual(diff, "", diff)

    def test_tree_nodes_bound_folds_and_warns(self):
        full = without_timing(e2e.read_json_lines(self.full_windows))
        res = run_merge("--tree-nodes", "1000", *self.trees)
        self.assertEqual(res.returncode, 0, describe(res))
        self.assertIn("warning: 2 of 2 windows had folded trees", res.stderr, describe(res))
        merged = parse_reports(res.stdout)
        self.assertEqual(len(merged), len(full))
        for want, got in zip(full, merged):
            # Folding moves volume up to shorter prefixes; it never loses any.
            for key in ("start_ms", "end_ms", "packets", "bytes", "flows"):
                self.assertEqual(got[key], want[key], key)
            self.assertLessEqual(got["trees"]["src"]["nodes"], 1000)
            self.assertLess(got["distinct_sources"], want["distinct_sources"])
            for p in ("src_packets", "dst_packets"):
                self.assertEqual(sum(x["packets"] for x in got["prefixes"][p]), want["packets"])

    def test_folded_probe_input_warns(self):
        res = run_merge(self.folded_trees)
        self.assertEqual(res.returncode, 0, describe(res))
        self.assertIn("warning: 2 of 2 windows had folded trees", res.stderr, describe(res))

    def test_folded_probe_input_is_not_reported_exact(self):
        """docs/formats.md: distinct_exact is false when a per-core tree folded, counting
        the folds inherited from the per-worker trees and files that were merged."""
        res = run_merge(self.folded_trees)
        reports = parse_reports(res.stdout)
        self.assertTrue(reports)
        for r in reports:
            self.assertFalse(r["distinct_exact"], "window %d" % r["start_ms"])
            self.assertGreater(r["trees"]["src"]["folds"] + r["trees"]["dst"]["folds"], 0)


if __name__ == "__main__":
    e2e.main()
