#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Usage and configuration errors (docs/configuration.md, "Binary" and options).

Bad usage or config exits 2 with a message naming the option (and FILE:LINE
for INI files); --help exits 0 listing every option with its default;
--check-config needs no EAL and prints an INI that reads back the same;
runtime failures (missing capture, unwritable output) exit non-zero with a
clear message and leave no partial output behind.
"""

import configparser
import glob
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safem_e2e as e2e  # noqa: E402

# Contract options with the default text --help must show (None: no default to check).
OPTIONS = {
    "--config": None, "--flows": None, "--stats": None,
    "--inactive-timeout": r"30\s?s", "--active-timeout": r"300\s?s|5\s?m",
    "--flow-cache-size": r"0", "--flow-key-vlan": r"false|no|off",
    "--expiry-scan-lines": r"8", "--expiry-sweep": r"1\s?s", "--clock": r"auto",
    "--duration": r"0\s?s?",
    "--eof-idle": r"100\s?ms", "--mbufs": r"16383", "--mbuf-data-room": r"2176",
    "--rx-descriptors": r"1024", "--rx-burst": r"64", "--rss-key": None,
    "--software-rss": r"auto",
    "--dispatch-ring-size": r"16384", "--handoff-batches": r"1024",
    "--check-config": None, "--help": None,
}


def parse_duration_ms(text):
    """Contract durations: "30" = 30 s, "250ms", "1.5s", "5m", "1h"."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h)?\s*", text)
    if not m:
        raise ValueError(text)
    scale = {"ms": 1, "s": 1000, None: 1000, "m": 60000, "h": 3600000}[m.group(2)]
    return round(float(m.group(1)) * scale)


def output(run):
    return run.stdout + run.stderr


class ConfigErrors(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        e2e.require_probe()
        cls.pcap, cls.truth = e2e.gen_capture("--profile", "bench", "--flows", 10, "--packets", 50)

    def probe(self, opts, flows=False, stats=False, pcaps=None, **kw):
        return e2e.run_probe(pcaps or self.pcap, extra_opts=opts, flows=flows, stats=stats,
                             timeout=60, **kw)

    def bare(self, args):
        """The binary with exactly these arguments (no EAL arguments)."""
        return e2e.run_probe(self.pcap, probe_args=args, flows=False, stats=False, timeout=60)

    def assert_usage_error(self, run, *names):
        self.assertEqual(run.rc, 2, "want exit 2 for bad usage\n" + run.describe())
        for name in names:
            self.assertIn(name, output(run), "message must name %r\n%s" % (name, run.describe()))

    def write(self, name, text):
        path = os.path.join(e2e.new_dir("cfg"), name)
        with open(path, "w") as f:
            f.write(text)
        return path

    # -- command line

    def test_unknown_option(self):
        self.assert_usage_error(self.probe(["--no-such-option", "1"]), "--no-such-option")

    def test_unknown_option_equals_form(self):
        self.assert_usage_error(self.probe(["--no-such-option=1"]), "no-such-option")

    def test_bad_duration(self):
        self.assert_usage_error(self.probe(["--inactive-timeout", "abc"]), "inactive-timeout")

    def test_bad_duration_equals_form(self):
        self.assert_usage_error(self.probe(["--active-timeout=12parsecs"]), "active-timeout")

    def test_bad_uint(self):
        self.assert_usage_error(self.probe(["--flow-cache-size", "many"]), "flow-cache-size")

    def test_negative_uint(self):
        self.assert_usage_error(self.probe(["--mbufs", "-5"]), "mbufs")

    def test_rx_burst_bounds(self):
        """--rx-burst is 1..128."""
        self.assert_usage_error(self.probe(["--rx-burst", "129"]), "rx-burst")
        self.assert_usage_error(self.probe(["--rx-burst", "0"]), "rx-burst")

    def test_bad_choice(self):
        self.assert_usage_error(self.probe(["--clock", "sundial"]), "clock")
        self.assert_usage_error(self.probe(["--software-rss", "sometimes"]), "software-rss")

    def test_bad_bool(self):
        # A bare boolean flag means true, so "--flow-key-vlan maybe" may read as a
        # stray argument; the = form is unambiguous.
        self.assert_usage_error(self.probe(["--flow-key-vlan=maybe"]), "flow-key-vlan")

    def test_bad_rss_key(self):
        """40 or 52 bytes as hex."""
        self.assert_usage_error(self.probe(["--rss-key", "6d5a"]), "rss-key")
        self.assert_usage_error(self.probe(["--rss-key", "zz" * 40]), "rss-key")

    def test_bad_detector_numbers(self):
        """Detector thresholds out of range name the option (and the value)."""
        for opt, bad in (("--alert-score", "0"), ("--svm-min-probability", "1.5"),
                         ("--svm-alone-min-precision", "0"),
                         ("--svm-alone-min-precision", "1.01"),
                         ("--svm-alone-min-precision", "high")):
            self.assert_usage_error(self.probe([opt, bad]), opt, bad)

    def test_missing_value(self):
        self.assert_usage_error(self.probe(["--inactive-timeout"]), "inactive-timeout")

    def test_positional_argument(self):
        run = self.probe(["stray-argument"])
        self.assert_usage_error(run, "stray-argument")

    # -- INI files

    def test_ini_unknown_key(self):
        path = self.write("unknown-key.ini", "[flow]\ninactive-timeout = 5s\nbogus-key = 1\n")
        self.assert_usage_error(self.probe(["--config", path]), "%s:3" % path, "bogus-key")

    def test_ini_unknown_section(self):
        path = self.write("unknown-section.ini", "# comment\n[flow]\n\n[nonsense]\nkey = 1\n")
        self.assert_usage_error(self.probe(["--config", path]), "%s:4" % path, "nonsense")

    def test_ini_bad_value(self):
        path = self.write("bad-value.ini", "[flow]\n; comment\ninactive-timeout = abc\n")
        self.assert_usage_error(self.probe(["--config", path]), "%s:3" % path, "inactive-timeout")

    def test_ini_missing_file(self):
        path = os.path.join(e2e.new_dir("cfg"), "absent.ini")
        self.assert_usage_error(self.probe(["--config", path]), path)

    def test_ini_bad_value_check_config(self):
        path = self.write("bad-value.ini", "[port]\nrx-burst = 1000\n")
        self.assert_usage_error(self.bare(["--", "--config", path, "--check-config"]),
                                "%s:2" % path, "rx-burst")

    # -- --help and --check-config

    def check_help(self, run):
        self.assertEqual(run.rc, 0, run.describe())
        text = output(run)
        lines = text.splitlines()
        problems = []
        for opt, default in OPTIONS.items():
            mine = [ln for ln in lines if re.search(r"(^|\s)%s(\s|=|\[|$)" % re.escape(opt), ln)]
            if not mine:
                problems.append("%s not listed" % opt)
                continue
            if default is None:
                continue
            shown = [re.search(r"\(default:?\s*([^)]*)\)", ln) for ln in mine]
            shown = [m.group(1).strip() for m in shown if m]
            if not shown:
                problems.append("%s: no '(default: X)' on its line" % opt)
            elif not any(re.fullmatch(default, s) for s in shown):
                problems.append("%s: default shown %r, contract says /%s/" % (opt, shown, default))
        self.assertEqual(problems, [], "--help output:\n" + text)

    def test_help_no_eal(self):
        self.check_help(self.bare(["--", "--help"]))

    def test_help_with_eal(self):
        run = e2e.run_probe(self.pcap, extra_opts=["--help"], flows=False, stats=False, timeout=60)
        self.check_help(run)

    def test_check_config_no_eal(self):
        run = self.bare(["--", "--check-config", "--inactive-timeout", "1.5s", "--mbufs", "4k",
                         "--rx-descriptors", "0x400", "--active-timeout", "90"])
        self.assertEqual(run.rc, 0, run.describe())
        self.assertNotIn("EAL:", output(run), "--check-config must not start EAL")
        ini = configparser.ConfigParser(interpolation=None)
        ini.read_string(run.stdout)
        self.assertEqual(parse_duration_ms(ini["flow"]["inactive-timeout"]), 1500)
        self.assertEqual(parse_duration_ms(ini["flow"]["active-timeout"]), 90000)
        self.assertEqual(int(ini["port"]["mbufs"], 0), 4000, "k is x1000")
        self.assertEqual(int(ini["port"]["rx-descriptors"], 0), 1024)
        self.assertEqual(parse_duration_ms(ini["probe"]["eof-idle"]), 100)

    def test_check_config_round_trip_and_precedence(self):
        first = self.bare(["--", "--check-config", "--inactive-timeout", "7s", "--clock", "tsc"])
        self.assertEqual(first.rc, 0, first.describe())
        path = self.write("effective.ini", first.stdout)
        again = self.bare(["--", "--config", path, "--check-config"])
        self.assertEqual(again.rc, 0, again.describe())
        self.assertEqual(again.stdout, first.stdout, "printed INI does not read back the same")
        # The command line wins over the file.
        override = self.bare(["--", "--config", path, "--check-config", "--inactive-timeout",
                              "9s"])
        ini = configparser.ConfigParser(interpolation=None)
        ini.read_string(override.stdout)
        self.assertEqual(parse_duration_ms(ini["flow"]["inactive-timeout"]), 9000)
        self.assertEqual(ini["probe"]["clock"], "tsc")

    # -- runtime failures

    def test_missing_pcap(self):
        d = e2e.new_dir("missing")
        absent = os.path.join(d, "absent.pcap")
        flows = os.path.join(d, "flows.csv")
        run = e2e.run_probe(absent, flows=False, stats=False, timeout=60,
                            extra_opts=["--flows", flows])
        self.assertEqual(run.rc, 2, "a missing capture is a set-up error\n" + run.describe())
        self.assertIn(absent, output(run), "message must name the file\n" + run.describe())
        self.assertIn("No such file or directory", output(run), "and the cause\n"
                      + run.describe())
        self.assertNotIn("no ports", output(run), run.describe())
        self.assertFalse(os.path.exists(flows + ".tmp"), ".tmp left behind")

    def test_unreadable_capture(self):
        d = e2e.new_dir("unreadable")
        garbage = os.path.join(d, "not-a-capture.pcap")
        with open(garbage, "w") as f:
            f.write("this is not a pcap file\n")
        # Root reads a mode-000 file, so "unreadable" here is a directory and a file
        # that is no capture; each run names the file and libpcap's reason.
        for path, cause in ((garbage, "unknown file format"), (d, "Is a directory")):
            run = e2e.run_probe([self.pcap, path], flows=False, stats=False, timeout=60)
            self.assertEqual(run.rc, 2, run.describe())
            self.assertIn("'%s'" % path, output(run), "message must name the file\n"
                          + run.describe())
            self.assertIn(cause, output(run), run.describe())

    def test_no_hugepages(self):
        counts = []
        for path in glob.glob("/sys/kernel/mm/hugepages/hugepages-*/nr_hugepages"):
            with open(path) as f:
                counts.append(int(f.read().strip() or 0))
        if not counts or sum(counts) != 0:
            self.skipTest("this machine has hugepages reserved (or no sysfs): cannot "
                          "test the no-hugepages message")
        prefix = "safem%dhp" % os.getpid()
        run = e2e.run_probe(self.pcap, flows=False, stats=False, timeout=60, eal=[
            "-l", "0-1", "--no-pci", "--file-prefix", prefix,
            "--vdev=net_pcap0,rx_pcap=%s" % self.pcap])
        self.assertEqual(run.rc, 2, run.describe())
        self.assertIn("no hugepages reserved", output(run), run.describe())
        self.assertIn("--no-huge", output(run), run.describe())

    def test_missing_interface(self):
        prefix = "safem%dif" % os.getpid()
        run = e2e.run_probe(self.pcap, flows=False, stats=False, timeout=60, eal=[
            "-l", "0-1", "--no-huge", "--no-pci", "-m", "256", "--file-prefix", prefix,
            "--vdev=net_af_packet0,iface=safemnosuch0"])
        self.assertEqual(run.rc, 2, run.describe())
        self.assertIn("'safemnosuch0'", output(run), run.describe())
        self.assertIn("No such device", output(run), run.describe())

    def check_unwritable(self, flows_path, stats_path, named):
        run = self.probe(["--flows", flows_path, "--stats", stats_path])
        self.assertNotEqual(run.rc, 0, "unwritable output must fail\n" + run.describe())
        self.assertIn(named, output(run), "message must name the path\n" + run.describe())
        for path in (flows_path, stats_path):
            self.assertFalse(os.path.exists(path + ".tmp"), "%s.tmp left behind" % path)
        return run

    def test_unwritable_flows_path(self):
        d = e2e.new_dir("unwritable")
        stats = os.path.join(d, "stats.json")
        self.check_unwritable("/nonexistent/dir/f.csv", stats, "/nonexistent/dir/f.csv")
        self.assertEqual(os.listdir(d), [], "nothing may be left behind")

    def test_flows_under_a_file(self):
        d = e2e.new_dir("unwritable")
        blocker = os.path.join(d, "plain-file")
        open(blocker, "w").close()
        stats = os.path.join(d, "stats.json")
        self.check_unwritable(os.path.join(blocker, "f.csv"), stats, blocker)
        self.assertEqual(os.listdir(d), ["plain-file"], "nothing may be left behind")

    def test_unwritable_stats_path(self):
        d = e2e.new_dir("unwritable")
        flows = os.path.join(d, "flows.csv")
        self.check_unwritable(flows, "/nonexistent/dir/s.json", "/nonexistent/dir/s.json")


if __name__ == "__main__":
    e2e.main()
