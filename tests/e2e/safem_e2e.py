# SPDX-License-Identifier: BSD-3-Clause
"""Shared helpers for the end-to-end tests (Python 3 standard library only).

What is here:
  - locating the probe binary, the source tree and scripts/gen-capture;
  - run_probe(): one run of the real binary with the EAL arguments of
    docs/configuration.md, outputs in a private temporary directory;
  - a pcap/pcapng reader and a reference frame parser written from the
    contract (independently of scripts/gen-capture, so each checks the other);
  - a reference flow expiry model (deadline semantics of lib/flow/safem_flow.h)
    giving the exact CSV rows a probe must write for a replayed capture;
  - assertions shared by several tests (CSV shape, conservation invariants);
  - main(): unittest runner that exits 77 (meson: skipped) when every test
    was skipped, 1 on any failure, 0 otherwise.

Environment (set by meson test): SAFEM_PROBE, SAFEM_SOURCE_ROOT, SAFEM_BUILD_ROOT.
SAFEM_E2E_KEEP=1 keeps the temporary directory (it is also kept on failure).
"""

import atexit
import collections
import csv
import itertools
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = (os.environ.get("SAFEM_SOURCE_ROOT")
               or os.path.normpath(os.path.join(HERE, "..", "..")))
BUILD_ROOT = os.environ.get("SAFEM_BUILD_ROOT") or os.path.join(SOURCE_ROOT, "build")
GEN_CAPTURE = os.path.join(SOURCE_ROOT, "scripts", "gen-capture")
SHARED_PCAPS = os.path.normpath(os.path.join(SOURCE_ROOT, "..", "shared", "pcaps"))

CSV_HEADER = ["src_addr", "dst_addr", "src_port", "dst_port", "proto", "packets", "bytes",
              "first_ms", "last_ms", "tcp_flags", "end_reason"]
END_REASONS = ("inactive", "active", "tcp_end", "end_of_input", "evicted")
PARSE_ERROR_REASONS = (
    "truncated_ethernet", "truncated_vlan", "too_many_vlan_tags", "truncated_ipv4",
    "ipv4_bad_version", "ipv4_bad_header_length", "ipv4_bad_total_length", "truncated_ipv6",
    "ipv6_bad_version", "truncated_ipv6_extension", "ipv6_extension_chain_too_long",
    "truncated_l4")

# A CSV row as compared by the tests (all 11 columns, typed).
Row = collections.namedtuple("Row", ["src_addr", "dst_addr", "src_port", "dst_port", "proto",
                                     "packets", "bytes", "first_ms", "last_ms", "tcp_flags",
                                     "end_reason"])

TCP_FIN, TCP_SYN, TCP_RST = 0x01, 0x02, 0x04
IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_SCTP = 6, 17, 1, 58, 132

EXIT_SKIP = 77


def probe_path():
    path = os.environ.get("SAFEM_PROBE")
    if path:
        return path
    return os.path.join(BUILD_ROOT, "app", "safem-probe")


_probe_missing = False


def require_probe():
    """Skip (unittest) when the probe binary is absent; main() then exits 77."""
    global _probe_missing
    path = probe_path()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        _probe_missing = True
        raise unittest.SkipTest("probe binary not found at %s (set SAFEM_PROBE)" % path)
    return path


# ---------------------------------------------------------------------------
# Temporary files

_tmp_root = None
_keep_tmp = bool(os.environ.get("SAFEM_E2E_KEEP"))


def tmp_root():
    global _tmp_root
    if _tmp_root is None:
        _tmp_root = tempfile.mkdtemp(prefix="safem-e2e-")
        atexit.register(_cleanup_tmp)
    return _tmp_root


def _cleanup_tmp():
    if _tmp_root is None:
        return
    if _keep_tmp:
        print("safem_e2e: kept %s" % _tmp_root, file=sys.stderr)
    else:
        shutil.rmtree(_tmp_root, ignore_errors=True)


def new_dir(name):
    return tempfile.mkdtemp(prefix=name + "-", dir=tmp_root())


# ---------------------------------------------------------------------------
# Capture generator

_gen_cache = {}


def gen_capture(*args):
    """Run scripts/gen-capture with args (e.g. "--seed", "3"); returns (pcap, truth dict).

    Results are cached per argument list for the life of the process."""
    args = tuple(str(a) for a in args)
    if args in _gen_cache:
        return _gen_cache[args]
    d = new_dir("gen")
    pcap = os.path.join(d, "capture.pcap")
    truth_path = os.path.join(d, "truth.json")
    cmd = [sys.executable, GEN_CAPTURE, "--out", pcap, "--truth", truth_path] + list(args)
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if res.returncode != 0:
        raise AssertionError("gen-capture failed (%d): %s\n%s" % (res.returncode, " ".join(cmd),
                                                                  res.stderr))
    with open(truth_path) as f:
        truth = json.load(f)
    _gen_cache[args] = (pcap, truth)
    return pcap, truth


GEN_ATTACKS = os.path.join(SOURCE_ROOT, "scripts", "gen-attacks")


def gen_attack_sequence(path, attacks, seed, home, warmup_s, attack_s, gap_s, share, rate=1500,
                        duration=None, extra=()):
    """Run scripts/gen-attacks: clean traffic for warmup_s, then each of `attacks`
    ("TYPE" or "TYPE,key=value,...") for attack_s at `share` of the packets, gap_s
    apart; the capture ends after the last gap unless `duration` says otherwise (no
    attack: a clean capture of `duration`). Writes path and path + ".json"; returns
    the truth."""
    truth = path + ".json"
    argv = [sys.executable, GEN_ATTACKS, "--output", path, "--truth", truth, "--seed", str(seed),
            "--rate", str(rate), "--home", home]
    t = warmup_s
    for a in attacks:
        kind, _, opts = a.partition(",")
        argv += ["--attack", "%s:%d:%d:%g%s" % (kind, t, attack_s, share,
                                                 "," + opts if opts else "")]
        t += attack_s + gap_s
    argv += ["--duration", str(duration or t)] + list(extra)
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    with open(truth) as f:
        return json.load(f)


def attack_sequence_run(cls, name, attacks, seed, home, warmup_s, attack_s, gap_s, share, opts,
                        rate=1500, windows=False):
    """setUpClass of a detection test on one generated attack sequence: skips without
    scripts/gen-attacks, writes the capture (gen_attack_sequence) and replays it through the
    probe (two workers) with --alerts (and --windows) plus `opts`. Sets cls.dir, cls.pcap,
    cls.truth, cls.alerts, cls.windows (None without `windows`) and cls.probe_run; the
    tests check the run with assert_run_ok."""
    if not os.path.exists(GEN_ATTACKS):
        raise unittest.SkipTest("scripts/gen-attacks missing")
    cls.dir = new_dir(name)
    cls.pcap = os.path.join(cls.dir, name + ".pcap")
    cls.truth = gen_attack_sequence(cls.pcap, attacks, seed, home, warmup_s, attack_s, gap_s,
                                    share, rate=rate)
    cls.alerts = os.path.join(cls.dir, name + ".alerts.jsonl")
    cls.windows = os.path.join(cls.dir, name + ".windows.jsonl") if windows else None
    extra = ["--alerts", cls.alerts] + (["--windows", cls.windows] if windows else [])
    cls.probe_run = run_probe(cls.pcap, workers=2, flows=False, stats=False,
                              extra_opts=extra + list(opts))


def alert_horizons(records):
    """{window start_ms: horizon_windows} of the start/update alert records (1 when a
    window alone decided)."""
    return {a["start_ms"]: a.get("horizon_windows", 1) for a in records
            if a.get("record") in ("start", "update")}


def attack_horizon_rows(truth, alerts_path):
    """What the probe said on each attack of a generated sequence: (records, flagged, rows),
    records the alert records, flagged as alert_classes, and one row per attack
    (attack, windows, classes, horizons): its truth windows (attack_truth_windows), the
    class alerted on each ("-": none) and the horizon that decided it ("-": none)."""
    records = read_json_lines(alerts_path)
    flagged = alert_classes(alerts_path)
    horizon = alert_horizons(records)
    rows = []
    for att in truth["attacks"]:
        wins = attack_truth_windows(truth, att)
        rows.append((att, wins, [flagged.get(w["start_ms"], "-") for w in wins],
                     [horizon.get(w["start_ms"], "-") for w in wins]))
    return records, flagged, rows


def clean_windows_alerted(truth, flagged, warmup_s):
    """Start times of the clean windows after the warm-up that were alerted (flagged: as
    alert_classes), leaving out the window right after each attack window (it may hold the
    attack's last packets)."""
    warm_end = truth["start_ms"] + warmup_s * 1000
    attack_ends = {w["end_ms"] for w in truth["windows"] if w.get("attacks")}
    return [w["start_ms"] for w in truth["windows"]
            if not w.get("attacks") and w["start_ms"] >= warm_end
            and w["start_ms"] not in attack_ends and w["start_ms"] in flagged]


def alert_classes(path):
    """{window start_ms: class} of the first start/update alert record of each window."""
    flagged = {}
    for a in read_json_lines(path):
        if a.get("record") in ("start", "update"):
            flagged.setdefault(a["start_ms"], a["class"])
    return flagged


def sequential_test_off(tc, pcap, outdir, home, option, records, block):
    """The sequential tests' (scan, victim, brute) "option off" case: the capture through the
    probe with `option off`; records(path) (the test's alert records) is empty and --stats
    has no `block`. Returns the run."""
    alerts = os.path.join(outdir, "off.alerts.jsonl")
    run = run_probe(pcap, workers=2, flows=False, stats=True,
                    extra_opts=["--alerts", alerts, "--home", home, "--moving-windows", "20",
                                option, "off"])
    assert_run_ok(tc, run)
    tc.assertEqual(records(alerts), [])
    tc.assertNotIn(block, run.stats)
    return run


def sequential_test_clean(tc, name, seed, home, timing, share, records, block):
    """The sequential tests' "clean capture silent" case: 90 s of background alone (seed,
    timing (warmup_s, attack_s, gap_s) and share as gen_attack_sequence) through the probe;
    records(path) is empty, --stats' `block` saw every window (at least 80) and found
    nothing. Returns (the block, the truth, the alerts path) for the test's own checks."""
    d = new_dir(name)
    pcap = os.path.join(d, "clean.pcap")
    truth = gen_attack_sequence(pcap, [], seed, home, *timing, share, duration=90)
    alerts = os.path.join(d, "clean.alerts.jsonl")
    run = run_probe(pcap, workers=2, flows=False, stats=True,
                    extra_opts=["--alerts", alerts, "--home", home, "--moving-windows", "20"])
    assert_run_ok(tc, run)
    tc.assertEqual(records(alerts), [])
    st = run.stats[block]
    tc.assertGreaterEqual(st["windows"], 80)
    tc.assertEqual(st["findings"], 0)
    return st, truth, alerts


def attack_truth_windows(truth, attack):
    """The truth windows of one attack holding at least half its requested share."""
    return [w for w in truth["windows"] for x in w.get("attacks", [])
            if x["id"] == attack["id"] and x["share"] >= 0.5 * attack["share_requested"]]


def read_json_lines(path):
    """A JSON-lines output (--windows, --alerts) as a list of objects."""
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def truth_tuples(truth):
    """{(src, dst, sport, dport, proto): (packets, bytes)} from a truth file."""
    return {(f["src_addr"], f["dst_addr"], f["src_port"], f["dst_port"], f["proto"]):
            (f["packets"], f["bytes"]) for f in truth["flows"]}


# ---------------------------------------------------------------------------
# Running the probe

_run_counter = itertools.count()


def eal_args(pcaps, workers, prefix, vdev_opts=""):
    """EAL arguments of docs/configuration.md for `workers` worker lcores."""
    args = ["--no-huge", "--no-pci", "-m", "1024", "--file-prefix=%s" % prefix]
    if workers == 1:
        args += ["-l", "0-1"]
    else:
        cpus = min(os.cpu_count() or 1, 2)
        args += ["--lcores=(0-%d)@(0-%d)" % (workers, cpus - 1)]
    vdev = "net_pcap0," + ",".join("rx_pcap=%s" % p for p in pcaps)
    if vdev_opts:
        vdev += "," + vdev_opts
    args += ["--vdev=%s" % vdev, "--log-level=lib.*:error", "--log-level=pmd.*:error"]
    return args


def _dpdk_runtime_dir(prefix):
    base = "/var/run/dpdk" if os.geteuid() == 0 else os.path.join(
        os.environ.get("XDG_RUNTIME_DIR", "/tmp"), "dpdk")
    return os.path.join(base, prefix)


class ProbeRun:
    """Outcome of one probe run. rows/stats are None when the file is absent."""

    def __init__(self, argv, rc, stdout, stderr, outdir, flows_path, stats_path, elapsed_s):
        self.argv, self.rc, self.stdout, self.stderr = argv, rc, stdout, stderr
        self.outdir, self.flows_path, self.stats_path = outdir, flows_path, stats_path
        self.elapsed_s = elapsed_s
        self.header = self.rows = self.stats = None
        self.csv_error = self.stats_error = None
        if flows_path and os.path.exists(flows_path):
            try:
                self.header, self.rows = read_flow_csv(flows_path)
            except (ValueError, csv.Error) as e:
                self.csv_error = str(e)
        if stats_path and os.path.exists(stats_path):
            try:
                with open(stats_path) as f:
                    self.stats = json.load(f)
            except ValueError as e:
                self.stats_error = str(e)

    def describe(self):
        """For failure messages: the command and the tail of its output."""
        def tail(s, n=25):
            lines = s.splitlines()
            return "\n".join(lines[-n:])
        return ("command: %s\nexit code: %s\n--- stdout (tail) ---\n%s\n--- stderr (tail) ---\n%s"
                % (" ".join(self.argv), self.rc, tail(self.stdout), tail(self.stderr)))


def run_probe(pcaps, workers=1, extra_opts=(), timeout=180, flows=True, stats=True, vdev_opts="",
              signal_after=None, eal=None, probe_args=None, on_ready=None):
    """Run the probe once.

    pcaps: one path or a list (several rx_pcap in one vdev = several RX queues).
    extra_opts: probe options after "--".
    signal_after: (seconds, signal[, from_first_output]) to send while it runs (shutdown
         tests); with from_first_output the seconds count from the probe's first
         line on stdout instead of from the start.
    eal: replaces the EAL arguments entirely (list), probe_args replaces
         everything after the binary (config error tests).
    on_ready: called as on_ready(proc) in a thread once the probe has printed its first
         line (ports started, workers launched); the run waits for it to return (fault
         injection: start or stop a collector, send traffic, signal the probe).
    Returns a ProbeRun. A run that outlives `timeout` is killed and fails the test.
    """
    binary = require_probe()
    if isinstance(pcaps, str):
        pcaps = [pcaps]
    outdir = new_dir("run")
    prefix = "safem%dr%d" % (os.getpid(), next(_run_counter))
    flows_path = os.path.join(outdir, "flows.csv") if flows else None
    stats_path = os.path.join(outdir, "stats.json") if stats else None
    if probe_args is not None:
        argv = [binary] + list(probe_args)
    else:
        opts = []
        if flows_path:
            opts += ["--flows", flows_path]
        if stats_path:
            opts += ["--stats", stats_path]
        opts += list(extra_opts)
        argv = [binary] + (list(eal) if eal is not None else
                           eal_args(pcaps, workers, prefix, vdev_opts)) + ["--"] + opts
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            errors="replace", cwd=outdir)
    chunks = {"out": [], "err": []}
    first_output = threading.Event()

    def drain(stream, name):
        for line in stream:
            chunks[name].append(line)
            if name == "out":
                first_output.set()
        stream.close()

    readers = [threading.Thread(target=drain, args=(proc.stdout, "out"), daemon=True),
               threading.Thread(target=drain, args=(proc.stderr, "err"), daemon=True)]
    for t in readers:
        t.start()
    hook, hook_error = None, []
    if on_ready is not None:
        def call_when_ready():
            while not first_output.wait(0.05):
                if proc.poll() is not None:
                    return
            try:
                on_ready(proc)
            except Exception as e:  # noqa: BLE001  re-raised in the test's thread
                hook_error.append(e)
        hook = threading.Thread(target=call_when_ready, daemon=True)
        hook.start()
    try:
        if signal_after is not None:
            delay, sig = signal_after[:2]
            if len(signal_after) > 2 and signal_after[2]:
                # Count the delay from the first line on stdout: the probe prints
                # it once set up (signal handlers installed), so start-up time
                # does not eat into the run.
                while not first_output.wait(0.05) and proc.poll() is None:
                    if time.monotonic() - start > timeout:
                        break
            try:
                proc.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                proc.send_signal(sig)
        proc.wait(timeout=max(1.0, timeout - (time.monotonic() - start)))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        for t in readers:
            t.join(5)
        raise AssertionError("probe did not finish within %s s (killed)\ncommand: %s\n%s\n%s"
                             % (timeout, " ".join(argv), "".join(chunks["out"])[-3000:],
                                "".join(chunks["err"])[-3000:]))
    finally:
        shutil.rmtree(_dpdk_runtime_dir(prefix), ignore_errors=True)
    for t in readers:
        t.join(10)
    if hook is not None:
        hook.join(60)
        if hook_error:
            raise hook_error[0]
    out, err = "".join(chunks["out"]), "".join(chunks["err"])
    return ProbeRun(argv, proc.returncode, out, err, outdir, flows_path, stats_path,
                    time.monotonic() - start)


class LiveProbe:
    """A probe run that a test acts on while it runs (fault tests): started
    by start_probe(), watched (first output, lines of a JSON-lines output so
    far), signalled, then finish()ed into a ProbeRun."""

    def __init__(self, argv, outdir, prefix, flows_path, stats_path):
        self.argv, self.outdir, self.prefix = argv, outdir, prefix
        self.flows_path, self.stats_path = flows_path, stats_path
        self.start = time.monotonic()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, errors="replace", cwd=outdir)
        self.chunks = {"out": [], "err": []}
        self.first_output = threading.Event()
        self.readers = [threading.Thread(target=self._drain, args=(self.proc.stdout, "out"),
                                         daemon=True),
                        threading.Thread(target=self._drain, args=(self.proc.stderr, "err"),
                                         daemon=True)]
        for t in self.readers:
            t.start()

    def _drain(self, stream, name):
        for line in stream:
            self.chunks[name].append(line)
            if name == "out":
                self.first_output.set()
        stream.close()

    def wait_started(self, timeout=60):
        """Until the probe's first line on stdout (it is set up); False if it ended first."""
        end = time.monotonic() + timeout
        while not self.first_output.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > end:
                return False
        return True

    @staticmethod
    def lines_so_far(path):
        """Complete lines of a JSON-lines output while it is written (path.tmp
        until the probe commits it, or path)."""
        for p in (path + ".tmp", path):
            try:
                with open(p, "rb") as f:
                    return f.read().count(b"\n")
            except OSError:
                continue
        return 0

    def wait_lines(self, path, n, timeout=60):
        """Until path has n complete lines; False on timeout or exit."""
        end = time.monotonic() + timeout
        while self.lines_so_far(path) < n:
            if self.proc.poll() is not None or time.monotonic() > end:
                return False
            time.sleep(0.05)
        return True

    def signal(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def finish(self, timeout=60):
        """Wait for the exit (killed after timeout: AssertionError); the ProbeRun."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("probe did not finish within %s s (killed)\ncommand: %s\n%s"
                                 % (timeout, " ".join(self.argv),
                                    "".join(self.chunks["err"])[-3000:]))
        finally:
            shutil.rmtree(_dpdk_runtime_dir(self.prefix), ignore_errors=True)
        for t in self.readers:
            t.join(10)
        return ProbeRun(self.argv, self.proc.returncode, "".join(self.chunks["out"]),
                        "".join(self.chunks["err"]), self.outdir, self.flows_path,
                        self.stats_path, time.monotonic() - self.start)


def start_probe(pcaps, workers=1, extra_opts=(), flows=True, stats=True, vdev_opts=""):
    """Start the probe (same arguments as run_probe) without waiting: a LiveProbe."""
    binary = require_probe()
    if isinstance(pcaps, str):
        pcaps = [pcaps]
    outdir = new_dir("live")
    prefix = "safem%dr%d" % (os.getpid(), next(_run_counter))
    flows_path = os.path.join(outdir, "flows.csv") if flows else None
    stats_path = os.path.join(outdir, "stats.json") if stats else None
    opts = (["--flows", flows_path] if flows_path else []) + (
        ["--stats", stats_path] if stats_path else []) + list(extra_opts)
    argv = [binary] + eal_args(pcaps, workers, prefix, vdev_opts) + ["--"] + opts
    return LiveProbe(argv, outdir, prefix, flows_path, stats_path)


# ---------------------------------------------------------------------------
# Outputs


def read_flow_csv(path):
    """(header list, [Row]) ; raises ValueError on a malformed row."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        rows = []
        for lineno, rec in enumerate(reader, 2):
            if len(rec) != len(CSV_HEADER):
                raise ValueError("%s:%d: %d fields, want %d: %r" % (path, lineno, len(rec),
                                                                    len(CSV_HEADER), rec))
            try:
                rows.append(Row(rec[0], rec[1], int(rec[2]), int(rec[3]), int(rec[4]),
                                int(rec[5]), int(rec[6]), int(rec[7]), int(rec[8]), int(rec[9]),
                                rec[10]))
            except ValueError as e:
                raise ValueError("%s:%d: %s: %r" % (path, lineno, e, rec))
    return header, rows


def tuple_of(row):
    return (row.src_addr, row.dst_addr, row.src_port, row.dst_port, row.proto)


def aggregate(rows):
    """{5-tuple: (packets, bytes)} summed over rows."""
    agg = {}
    for r in rows:
        p, b = agg.get(tuple_of(r), (0, 0))
        agg[tuple_of(r)] = (p + r.packets, b + r.bytes)
    return agg


def canonical_addr(text):
    """inet_ntop(inet_pton(text)) or None when it does not parse."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            return socket.inet_ntop(family, socket.inet_pton(family, text))
        except OSError:
            pass
    return None


def diff_tuples(expected, actual, limit=15):
    """Readable difference of two {tuple: (packets, bytes)} maps ('' if equal)."""
    lines = []
    missing = sorted(set(expected) - set(actual), key=repr)
    extra = sorted(set(actual) - set(expected), key=repr)
    differ = sorted((k for k in set(expected) & set(actual) if expected[k] != actual[k]), key=repr)
    if missing:
        lines.append("%d tuples expected but absent, e.g.:" % len(missing))
        lines += ["  %s want %s" % (k, expected[k]) for k in missing[:limit]]
    if extra:
        lines.append("%d tuples present but not expected, e.g.:" % len(extra))
        lines += ["  %s got %s" % (k, actual[k]) for k in extra[:limit]]
    if differ:
        lines.append("%d tuples with other (packets, bytes), e.g.:" % len(differ))
        lines += ["  %s want %s got %s" % (k, expected[k], actual[k]) for k in differ[:limit]]
    return "\n".join(lines)


def diff_rows(expected, actual, limit=20):
    """Readable difference of two row multisets ('' if equal)."""
    ce, ca = collections.Counter(expected), collections.Counter(actual)
    missing = sorted((ce - ca).elements())
    extra = sorted((ca - ce).elements())
    if not missing and not extra:
        return ""
    lines = ["%d expected rows absent, %d unexpected rows present" % (len(missing), len(extra))]
    tuples = sorted({tuple_of(r) for r in missing + extra}, key=repr)
    lines.append("first differing 5-tuples (want vs got, all rows of the tuple):")
    for t in tuples[:limit // 4 or 1]:
        lines.append("  %s" % (t,))
        for r in sorted(x for x in expected if tuple_of(x) == t):
            lines.append("    want %s" % (tuple(r)[5:],))
        for r in sorted(x for x in actual if tuple_of(x) == t):
            lines.append("    got  %s" % (tuple(r)[5:],))
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Scripts (plot-entropy, plot-spectrum, eval-detection)


def run_script(script, *args, env=None, timeout=180):
    """Run a Python script of scripts/ with args; the result has .argv for describe_script()."""
    argv = [sys.executable, script] + [str(a) for a in args]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    res.argv = argv
    return res


def describe_script(res):
    return "command: %s\nexit code: %d\n--- stdout ---\n%s\n--- stderr ---\n%s" % (
        " ".join(res.argv), res.returncode, res.stdout[-3000:], res.stderr[-3000:])


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(tc, path, size, min_bytes, max_bytes):
    """path is a whole PNG (signature, first chunk IHDR of size (width, height)) of a
    plausible byte count, with no .tmp left; returns its bytes."""
    tc.assertTrue(os.path.isfile(path), "no PNG at %s" % path)
    tc.assertFalse(os.path.exists(path + ".tmp"), ".tmp left behind")
    with open(path, "rb") as f:
        blob = f.read()
    tc.assertEqual(blob[:8], PNG_MAGIC, "not a PNG")
    # First chunk IHDR: width, height (big-endian) after length and type.
    tc.assertEqual(blob[12:16], b"IHDR")
    tc.assertEqual(struct.unpack(">II", blob[16:24]), tuple(size))
    tc.assertGreater(len(blob), min_bytes, "PNG suspiciously small")
    tc.assertLess(len(blob), max_bytes, "PNG suspiciously large")
    return blob


def require_gnuplot():
    """In a plot test's setUpClass: skip the drawing tests when gnuplot is missing."""
    if shutil.which("gnuplot") is None:
        raise unittest.SkipTest("gnuplot not installed (apt-get install gnuplot-nox)")


def run_script_without_gnuplot(script, *args):
    """Run a plot script with a PATH that holds no gnuplot (it must exit 3 naming it)."""
    return run_script(script, *args, env=dict(os.environ, PATH=new_dir("empty-path")))


def main_needing_gnuplot():
    """main() for the plot tests: without gnuplot, run what needs none and report the
    test skipped (77) if that passed, since its main purpose was not tested."""
    if shutil.which("gnuplot") is None:
        prog = unittest.TestProgram(module="__main__", exit=False, verbosity=2)
        if not prog.result.wasSuccessful():
            sys.exit(1)
        print("SKIP: gnuplot not installed (apt-get install gnuplot-nox): no PNG drawn",
              file=sys.stderr)
        sys.exit(EXIT_SKIP)
    main()


class ScriptErrorsMixin:
    """Input-error tests of a script that writes self.out (a PNG): a fresh directory per
    test, write() for inputs, assert_fails() checking the exit code, the words of the
    message and that neither the output nor its .tmp is left. Set `prog` to also require
    messages other than argparse's (exit 2) to start with "PROG: "."""
    prog = None

    def setUp(self):
        self.dir = new_dir("script-errors")
        self.out = os.path.join(self.dir, "out.png")

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def assert_fails(self, res, code, *words):
        self.assertEqual(res.returncode, code, describe_script(res))
        if self.prog is not None:
            self.assertTrue(res.stderr.startswith(self.prog + ": ") or code == 2,
                            describe_script(res))
        for w in words:
            self.assertIn(w, res.stderr, describe_script(res))
        self.assertFalse(os.path.exists(self.out), "output written despite the error")
        self.assertFalse(os.path.exists(self.out + ".tmp"), ".tmp left behind")


# ---------------------------------------------------------------------------
# Shared assertions


def assert_run_ok(tc, run, rc=0):
    tc.assertEqual(run.rc, rc, "unexpected exit code\n" + run.describe())
    if run.flows_path:
        tc.assertTrue(os.path.exists(run.flows_path), "no flow CSV written\n" + run.describe())
        tc.assertFalse(os.path.exists(run.flows_path + ".tmp"), ".tmp left behind")
        tc.assertIsNone(run.csv_error, "flow CSV does not parse: %s" % run.csv_error)
        tc.assertEqual(run.header, CSV_HEADER, "flow CSV header")
    if run.stats_path:
        tc.assertTrue(os.path.exists(run.stats_path), "no stats JSON written\n" + run.describe())
        tc.assertIsNone(run.stats_error, "stats JSON does not parse: %s" % run.stats_error)
        tc.assertIsInstance(run.stats, dict)


def assert_rows_sane(tc, rows):
    """Each row is well formed per the contract."""
    for r in rows:
        for addr in (r.src_addr, r.dst_addr):
            tc.assertEqual(canonical_addr(addr), addr, "address not in inet_ntop form: %r" % (r,))
        tc.assertEqual(":" in r.src_addr, ":" in r.dst_addr, "mixed families: %r" % (r,))
        tc.assertTrue(0 <= r.src_port <= 65535 and 0 <= r.dst_port <= 65535, repr(r))
        tc.assertTrue(0 <= r.proto <= 255, repr(r))
        tc.assertGreaterEqual(r.packets, 1, repr(r))
        tc.assertGreaterEqual(r.bytes, 20 * r.packets, "fewer than 20 IP bytes/packet: %r" % (r,))
        tc.assertLessEqual(r.first_ms, r.last_ms, repr(r))
        tc.assertIn(r.end_reason, END_REASONS, repr(r))
        tc.assertTrue(0 <= r.tcp_flags <= 255, repr(r))
        if r.proto != IPPROTO_TCP:
            tc.assertEqual(r.tcp_flags, 0, "tcp_flags on a non-TCP row: %r" % (r,))
        if r.proto in (IPPROTO_ICMP, IPPROTO_ICMPV6):
            tc.assertEqual(r.src_port, 0, "ICMP src_port must be 0: %r" % (r,))


def stat(stats, *path):
    node = stats
    for p in path:
        node = node[p]
    return node


def assert_conservation(tc, run):
    """Invariants of docs/configuration.md plus flow/record bookkeeping."""
    s, rows = run.stats, run.rows
    ctx = "\nstats: %s" % json.dumps({k: s.get(k) for k in (
        "rx_packets", "rx_bytes", "parsed_packets", "parsed_bytes", "non_ip",
        "parse_errors_total", "flows", "records")}, sort_keys=True)
    assert_frames_accounted(tc, s)
    errors = s["parse_errors"]
    tc.assertEqual(s["parse_errors_total"], sum(errors.values()),
                   "parse_errors_total != sum of parse_errors" + ctx)
    tc.assertEqual(s["rx_packets"], s["parsed_packets"] + s["non_ip"] + s["parse_errors_total"],
                   "rx_packets != parsed_packets + non_ip + parse_errors_total" + ctx)
    # A live worker that cannot hand a packet to its owner within the wait bound
    # drops it and counts it: accounted, not in a flow.
    lost = sum(w.get("dispatch_dropped", 0) for w in s["workers"])
    lost_bytes = sum(w.get("dispatch_dropped_bytes", 0) for w in s["workers"])
    if s.get("clock") == "packet":
        tc.assertEqual(lost, 0, "replay dropped dispatched packets" + ctx)
    tc.assertEqual(sum(r.packets for r in rows) + lost, s["parsed_packets"],
                   "sum of CSV packets + dispatch_dropped != parsed_packets" + ctx)
    tc.assertEqual(sum(r.bytes for r in rows) + lost_bytes, s["parsed_bytes"],
                   "sum of CSV bytes + dispatch_dropped_bytes != parsed_bytes" + ctx)
    expired = s["flows"]["expired"]
    tc.assertEqual(sum(expired.values()), len(rows), "sum of flows.expired != CSV rows" + ctx)
    by_reason = collections.Counter(r.end_reason for r in rows)
    for reason in END_REASONS:
        tc.assertEqual(expired.get(reason, 0), by_reason.get(reason, 0),
                       "flows.expired.%s != rows with end_reason %s" % (reason, reason) + ctx)
    tc.assertEqual(s["flows"]["active"], 0, "flows still active after the final flush" + ctx)
    tc.assertEqual(s["flows"]["created"], len(rows), "flows.created != CSV rows" + ctx)
    rec = s["records"]
    tc.assertEqual(rec["dropped"], 0, "records dropped" + ctx)
    tc.assertEqual(rec["written"], len(rows), "records.written != CSV rows" + ctx)
    tc.assertEqual(rec["exported"], len(rows), "records.exported != CSV rows" + ctx)


def frame_accounting_violations(s):
    """Conservation from --stats alone (no flow CSV needed), for every run,
    whatever its outputs or faults: each frame received is counted once as
    parsed, non-IP or a parse error; each parsed packet is in a flow, sampled
    out, or counted as dropped at a dispatch ring; each flow created has ended
    (by a reason) or is still active; each ended flow's record was handed off
    or counted as dropped; the NIC counters agree with the workers'. Returns a
    list of violations, each a readable sentence ([] when all hold)."""
    bad = []

    def check(ok, what, *values):
        if not ok:
            bad.append(what % values)

    workers = s.get("workers", [])
    wsum = lambda key: sum(w.get(key, 0) for w in workers)  # noqa: E731
    errors = s.get("parse_errors", {})
    check(s["parse_errors_total"] == sum(errors.values()),
          "parse_errors_total %d != sum of parse_errors %d", s["parse_errors_total"],
          sum(errors.values()))
    accounted = s["parsed_packets"] + s["non_ip"] + s["parse_errors_total"]
    check(s["rx_packets"] == accounted,
          "rx_packets %d != parsed_packets + non_ip + parse_errors_total = %d",
          s["rx_packets"], accounted)
    check(s["rx_packets"] == wsum("rx_packets"), "rx_packets %d != sum over workers %d",
          s["rx_packets"], wsum("rx_packets"))
    ports = s.get("ports", [])
    nic = sum(p["ipackets"] for p in ports)
    check(not ports or nic == s["rx_packets"], "ports ipackets %d != rx_packets %d", nic,
          s["rx_packets"])
    flows = s["flows"]
    in_flows = flows["packets"] + wsum("sampled_out") + wsum("dispatch_dropped")
    check(s["parsed_packets"] == in_flows,
          "parsed_packets %d != flows.packets + sampled_out + dispatch_dropped = %d",
          s["parsed_packets"], in_flows)
    if wsum("sampled_out") == 0:
        in_bytes = flows["bytes"] + wsum("dispatch_dropped_bytes")
        check(s["parsed_bytes"] == in_bytes,
              "parsed_bytes %d != flows.bytes + dispatch_dropped_bytes = %d",
              s["parsed_bytes"], in_bytes)
    ended = sum(flows["expired"].values())
    check(flows["created"] == ended + flows["active"],
          "flows.created %d != sum of flows.expired %d + flows.active %d", flows["created"],
          ended, flows["active"])
    rec = s["records"]
    check(rec["exported"] + rec["dropped"] == ended,
          "records.exported %d + records.dropped %d != flows ended %d", rec["exported"],
          rec["dropped"], ended)
    check(rec["written"] <= rec["exported"], "records.written %d > records.exported %d",
          rec["written"], rec["exported"])
    for c in s.get("ipfix", []):
        check(c["records_sent"] + c["records_dropped"] <= rec["exported"],
              "ipfix %s: records_sent %d + records_dropped %d > records.exported %d",
              c["collector"], c["records_sent"], c["records_dropped"], rec["exported"])
    return bad


def assert_frames_accounted(tc, s):
    """frame_accounting_violations() as a test assertion."""
    tc.assertIsInstance(s, dict, "no --stats to check conservation on")
    bad = frame_accounting_violations(s)
    tc.assertEqual(bad, [], "conservation violated:\n  " + "\n  ".join(bad))


def assert_stats_shape(tc, s, workers):
    """Keys and types the contract lists for --stats."""
    for key in ("rx_packets", "rx_bytes", "parsed_packets", "parsed_bytes", "non_ip",
                "parse_errors_total", "worker_count"):
        tc.assertIsInstance(s.get(key), int, "stats.%s missing or not an integer" % key)
    tc.assertIsInstance(s.get("elapsed_s"), (int, float), "stats.elapsed_s")
    tc.assertIn(s.get("clock"), ("packet", "tsc"), "stats.clock")
    tc.assertEqual(s["worker_count"], workers, "stats.worker_count")
    tc.assertIsInstance(s.get("parse_errors"), dict, "stats.parse_errors")
    tc.assertEqual(set(s["parse_errors"]) - set(PARSE_ERROR_REASONS), set(),
                   "unknown parse error reasons")
    flows = s.get("flows")
    tc.assertIsInstance(flows, dict, "stats.flows")
    for key in ("created", "active"):
        tc.assertIsInstance(flows.get(key), int, "stats.flows.%s" % key)
    tc.assertEqual(set(flows.get("expired", {})), set(END_REASONS), "stats.flows.expired keys")
    for key in ("exported", "dropped", "written"):
        tc.assertIsInstance(s.get("records", {}).get(key), int, "stats.records.%s" % key)
    tc.assertIsInstance(s.get("workers"), list, "stats.workers")
    tc.assertEqual(len(s["workers"]), workers, "stats.workers length")
    for w in s["workers"]:
        for key in ("lcore", "rx_packets", "parsed_packets", "dispatched_out", "dispatched_in"):
            tc.assertIsInstance(w.get(key), int, "stats.workers[].%s" % key)
    tc.assertIsInstance(s.get("ports"), list, "stats.ports")
    for p in s["ports"]:
        for key in ("port", "ipackets", "ibytes", "imissed", "ierrors", "rx_nombuf"):
            tc.assertIsInstance(p.get(key), int, "stats.ports[].%s" % key)
        tc.assertIsInstance(p.get("name"), str, "stats.ports[].name")
        tc.assertIsInstance(p.get("queues"), list, "stats.ports[].queues")


# ---------------------------------------------------------------------------
# pcap / pcapng reading


def read_pcap(path):
    """Yields (ts_us, data, orig_len) for classic pcap (usec/nsec, either byte order) and
    pcapng (enhanced and simple packet blocks); only Ethernet link type."""
    with open(path, "rb") as f:
        blob = f.read()
    magic = blob[:4]
    if magic == b"\x0a\x0d\x0d\x0a":
        yield from _read_pcapng(blob, path)
        return
    for endian in ("<", ">"):
        (m,) = struct.unpack(endian + "I", magic)
        if m in (0xA1B2C3D4, 0xA1B23C4D):
            break
    else:
        raise ValueError("%s: not a pcap file" % path)
    nsec = m == 0xA1B23C4D
    (linktype,) = struct.unpack(endian + "I", blob[20:24])
    if linktype & 0xFFFF != 1:
        raise ValueError("%s: link type %d, want 1 (Ethernet)" % (path, linktype))
    rec = struct.Struct(endian + "IIII")
    off = 24
    while off + 16 <= len(blob):
        sec, frac, incl, orig = rec.unpack_from(blob, off)
        off += 16
        yield sec * 1000000 + (frac // 1000 if nsec else frac), blob[off:off + incl], orig
        off += incl


def _read_pcapng(blob, path):
    off = 0
    endian = "<"
    ifaces = []  # (linktype, ticks per second)
    while off + 12 <= len(blob):
        (btype,) = struct.unpack_from(endian + "I", blob, off)
        if btype == 0x0A0D0D0A:
            bom = blob[off + 8:off + 12]
            endian = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
            ifaces = []
        (blen,) = struct.unpack_from(endian + "I", blob, off + 4)
        body = blob[off + 8:off + blen - 4]
        if btype == 1:  # interface description
            linktype = struct.unpack_from(endian + "H", body, 0)[0]
            tsres = 1000000
            opt = 8
            while opt + 4 <= len(body):
                code, olen = struct.unpack_from(endian + "HH", body, opt)
                if code == 0:
                    break
                if code == 9 and olen >= 1:
                    v = body[opt + 4]
                    tsres = 2 ** (v & 0x7F) if v & 0x80 else 10 ** v
                opt += 4 + olen + (-olen % 4)
            ifaces.append((linktype, tsres))
        elif btype == 6:  # enhanced packet
            ifid, hi, lo, cap, orig = struct.unpack_from(endian + "IIIII", body, 0)
            linktype, tsres = ifaces[ifid]
            if linktype != 1:
                raise ValueError("%s: link type %d, want 1 (Ethernet)" % (path, linktype))
            ts = (hi << 32 | lo) * 1000000 // tsres
            yield ts, body[20:20 + cap], orig
        elif btype == 3:  # simple packet
            (orig,) = struct.unpack_from(endian + "I", body, 0)
            yield 0, body[4:4 + min(orig, len(body) - 4)], orig
        off += blen


# ---------------------------------------------------------------------------
# Reference parser (the contract's rules, written from docs, not from gen-capture)

MAX_VLAN_TAGS = 2
MAX_IPV6_EXT = 8
IPV6_EXT = {0, 43, 44, 51, 60, 135, 139, 140}
FRAG_NONE, FRAG_FIRST, FRAG_LATER = 0, 1, 2

Parsed = collections.namedtuple("Parsed", ["status", "key", "ip_bytes", "tcp_flags", "fragment",
                                           "vlan"])


def _err(reason):
    return Parsed(reason, None, 0, 0, FRAG_NONE, 0)


# Bytes of the upper-layer header that must be present (captured and inside
# the IP packet) to take ports from it; the contract says "header needed for
# ports", read here as the whole fixed header.
L4_HEADER_BYTES = {IPPROTO_TCP: 20, IPPROTO_UDP: 8, 136: 8, IPPROTO_SCTP: 12, 33: 12}
ICMP_HEADER_BYTES = {IPPROTO_ICMP: 8, IPPROTO_ICMPV6: 4}
ICMP_VERSION = {IPPROTO_ICMP: 4, IPPROTO_ICMPV6: 6}  # ICMP in the other IP version: no ports


def _l4(proto, data, off, end, ip_version):
    """(src_port, dst_port, tcp_flags), or None when the header needed is cut.
    end: first byte past both the capture and the IP packet."""
    if proto in L4_HEADER_BYTES:
        if off + L4_HEADER_BYTES[proto] > end:
            return None
        sp, dp = struct.unpack_from("!HH", data, off)
        return sp, dp, data[off + 13] if proto == IPPROTO_TCP else 0
    if proto in ICMP_HEADER_BYTES and ICMP_VERSION[proto] == ip_version:
        if off + ICMP_HEADER_BYTES[proto] > end:
            return None
        return 0, data[off] << 8 | data[off + 1], 0
    return 0, 0, 0


def parse_frame(data):
    """Parsed(status, key, ip_bytes, tcp_flags, fragment, outer vlan).

    status: "ok", "non_ip" or a parse error reason. key: (src, dst, sport, dport, proto)
    with addresses in inet_ntop form."""
    n = len(data)
    if n < 14:
        return _err("truncated_ethernet")
    etype = struct.unpack_from("!H", data, 12)[0]
    off = 14
    tags = 0
    vlan = 0
    while etype in (0x8100, 0x88A8, 0x9100):
        tags += 1
        if tags > MAX_VLAN_TAGS:
            return _err("too_many_vlan_tags")
        if off + 4 > n:
            return _err("truncated_vlan")
        tci, etype = struct.unpack_from("!HH", data, off)
        if tags == 1:
            vlan = tci & 0x0FFF
        off += 4
    if etype == 0x0800:
        if n - off < 20:
            return _err("truncated_ipv4")
        if data[off] >> 4 != 4:
            return _err("ipv4_bad_version")
        hlen = (data[off] & 0x0F) * 4
        if hlen < 20:
            return _err("ipv4_bad_header_length")
        if n - off < hlen:
            return _err("truncated_ipv4")
        total = struct.unpack_from("!H", data, off + 2)[0]
        frag = struct.unpack_from("!H", data, off + 6)[0]
        if total < hlen:
            return _err("ipv4_bad_total_length")
        proto = data[off + 9]
        src = socket.inet_ntop(socket.AF_INET, data[off + 12:off + 16])
        dst = socket.inet_ntop(socket.AF_INET, data[off + 16:off + 20])
        if frag & 0x1FFF:
            return Parsed("ok", (src, dst, 0, 0, proto), total, 0, FRAG_LATER, vlan)
        l4 = _l4(proto, data, off + hlen, min(n, off + total), 4)
        if l4 is None:
            return _err("truncated_l4")
        fragment = FRAG_FIRST if frag & 0x2000 else FRAG_NONE
        return Parsed("ok", (src, dst, l4[0], l4[1], proto), total, l4[2], fragment, vlan)
    if etype == 0x86DD:
        if n - off < 40:
            return _err("truncated_ipv6")
        if data[off] >> 4 != 6:
            return _err("ipv6_bad_version")
        plen = struct.unpack_from("!H", data, off + 4)[0]
        nh = data[off + 6]
        src = socket.inet_ntop(socket.AF_INET6, data[off + 8:off + 24])
        dst = socket.inet_ntop(socket.AF_INET6, data[off + 24:off + 40])
        p = off + 40
        count = 0
        fragment = FRAG_NONE
        while nh in IPV6_EXT:
            count += 1
            if count > MAX_IPV6_EXT:
                return _err("ipv6_extension_chain_too_long")
            if nh == 44:
                if p + 8 > n:
                    return _err("truncated_ipv6_extension")
                fo = struct.unpack_from("!H", data, p + 2)[0]
                nh = data[p]
                p += 8
                if fo >> 3:
                    return Parsed("ok", (src, dst, 0, 0, nh), 40 + plen, 0, FRAG_LATER, vlan)
                if fo & 1:
                    fragment = FRAG_FIRST
                continue
            if p + 2 > n:
                return _err("truncated_ipv6_extension")
            elen = (data[p + 1] + 2) * 4 if nh == 51 else (data[p + 1] + 1) * 8
            if p + elen > n:
                return _err("truncated_ipv6_extension")
            nh = data[p]
            p += elen
        l4 = _l4(nh, data, p, min(n, off + 40 + plen) if plen else n, 6)
        if l4 is None:
            return _err("truncated_l4")
        return Parsed("ok", (src, dst, l4[0], l4[1], nh), 40 + plen, l4[2], fragment, vlan)
    return Parsed("non_ip", None, 0, 0, FRAG_NONE, vlan)


def reference_summary(path):
    """What a correct probe counts for a capture, from the reference parser:
    dict like a gen-capture truth file plus "packets": [(ts_ms, key, ip_bytes, flags)]."""
    frames = frame_bytes = ip_packets = ip_bytes = non_ip = 0
    errors = collections.Counter()
    flows = {}
    packets = []
    first = last = None
    for ts_us, data, _ in read_pcap(path):
        frames += 1
        frame_bytes += len(data)
        first = ts_us if first is None else first
        last = ts_us
        p = parse_frame(data)
        if p.status == "ok":
            ip_packets += 1
            ip_bytes += p.ip_bytes
            pk, by = flows.get(p.key, (0, 0))
            flows[p.key] = (pk + 1, by + p.ip_bytes)
            packets.append((ts_us // 1000, p.key, p.ip_bytes, p.tcp_flags))
        elif p.status == "non_ip":
            non_ip += 1
        else:
            errors[p.status] += 1
    return {"frames": frames, "frame_bytes": frame_bytes, "ip_packets": ip_packets,
            "ip_bytes": ip_bytes, "non_ip": non_ip, "errors": dict(errors), "tuples": flows,
            "packets": packets, "first_ts_us": first, "last_ts_us": last}


# ---------------------------------------------------------------------------
# Reference flow expiry model


def expected_rows(packets, inactive_ms, active_ms, end_ms):
    """Rows a probe must export (no evictions), per lib/flow/safem_flow.h:
    a flow ends at min(last + inactive, first + active) with the reason of the
    earlier deadline (inactive wins a tie); a packet at or past the deadline
    first exports the flow and starts a new one; a TCP packet with FIN or RST
    is accounted and then its flow ends (tcp_end); at the end of input a flow
    whose deadline is <= end_ms gets that reason, any other end_of_input.
    packets: [(ts_ms, key, ip_bytes, tcp_flags)] in capture order."""
    open_flows = {}
    rows = []

    def deadline(f):
        d_in, d_act = f[3] + inactive_ms, f[2] + active_ms
        return (d_in, "inactive") if d_in <= d_act else (d_act, "active")

    def close(key, f, reason):
        rows.append(Row(key[0], key[1], key[2], key[3], key[4], f[0], f[1], f[2], f[3], f[4],
                        reason))

    for ts, key, nbytes, flags in packets:
        f = open_flows.get(key)
        if f is not None:
            when, reason = deadline(f)
            if ts >= when:
                close(key, f, reason)
                f = None
        if f is None:
            f = [0, 0, ts, ts, 0]  # packets, bytes, first, last, flags
            open_flows[key] = f
        f[0] += 1
        f[1] += nbytes
        f[3] = ts
        f[4] |= flags
        if key[4] == IPPROTO_TCP and flags & (TCP_FIN | TCP_RST):
            close(key, f, "tcp_end")
            del open_flows[key]
    for key, f in open_flows.items():
        when, reason = deadline(f)
        close(key, f, reason if when <= end_ms else "end_of_input")
    return rows


# ---------------------------------------------------------------------------
# Runner


def main():
    """unittest.main with meson exit codes: 77 when every test was skipped."""
    global _keep_tmp
    prog = unittest.TestProgram(module="__main__", exit=False, verbosity=2)
    res = prog.result
    if res.skipped:
        for test, reason in res.skipped:
            print("SKIP %s: %s" % (test.id(), reason), file=sys.stderr)
    if not res.wasSuccessful():
        _keep_tmp = True
        sys.exit(1)
    if _probe_missing or res.testsRun == 0 or len(res.skipped) >= res.testsRun:
        print("SKIP: %s" % ("probe binary not found at %s" % probe_path() if _probe_missing
                            else "every test was skipped"), file=sys.stderr)
        sys.exit(EXIT_SKIP)
    sys.exit(0)
