#!/usr/bin/env python3
"""1-in-N packet sampling (--sample, issue 4) through the real binary.

Checked on a generated capture:
  * accounting: parsed = flow cache packets + sampled out; flow rows carry packets and
    bytes scaled back by N; window volumes too;
  * hash mode selects the same packets with 1 and 2 workers (identical flow rows);
  * the selected fraction is close to 1/N (hash and random modes);
  * --sample 1 equals no sampling; --sample 0, a bad mode and bad detection options
    (--home, --q, ...) exit 2 naming the option.
"""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safem_e2e as e2e  # noqa: E402

RATE = 10


def sampled_out(stats):
    return sum(w["sampled_out"] for w in stats["workers"])


class Sampling(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = e2e.new_dir("sampling")
        cls.pcap = os.path.join(cls.dir, "mixed.pcap")
        e2e.gen_capture("--profile", "bench", "--flows", "3000", "--packets", "60000",
                        "--out", cls.pcap)
        cls.runs = {}
        for workers in (1, 2):
            windows = os.path.join(cls.dir, "windows-%d.jsonl" % workers)
            cls.runs[workers] = (e2e.run_probe(cls.pcap, workers=workers, extra_opts=[
                "--sample", str(RATE), "--windows", windows]), windows)

    def test_accounting_and_scaling(self):
        run, windows = self.runs[1]
        e2e.assert_run_ok(self, run)
        s = run.stats
        self.assertEqual(s["parsed_packets"], s["flows"]["packets"] + sampled_out(s))
        self.assertEqual(sum(r.packets for r in run.rows), RATE * s["flows"]["packets"])
        self.assertEqual(sum(r.bytes for r in run.rows), RATE * s["flows"]["bytes"])
        with open(windows) as f:
            reports = [json.loads(line) for line in f if line.strip()]
        self.assertEqual(sum(r["packets"] for r in reports), RATE * s["flows"]["packets"])
        self.assertEqual(s["detection"]["sample_rate"], RATE)

    def test_fraction_close_to_one_in_n(self):
        run, _ = self.runs[1]
        kept = run.stats["flows"]["packets"] / run.stats["parsed_packets"]
        self.assertAlmostEqual(kept, 1 / RATE, delta=0.01)
        rnd = e2e.run_probe(self.pcap, extra_opts=["--sample", str(RATE), "--sample-mode",
                                                   "random"])
        e2e.assert_run_ok(self, rnd)
        kept = rnd.stats["flows"]["packets"] / rnd.stats["parsed_packets"]
        self.assertAlmostEqual(kept, 1 / RATE, delta=0.01)

    def test_hash_mode_independent_of_workers(self):
        one, _ = self.runs[1]
        two, _ = self.runs[2]
        e2e.assert_run_ok(self, one)
        e2e.assert_run_ok(self, two)
        self.assertEqual(sorted(one.rows), sorted(two.rows))

    def test_rate_one_is_no_sampling(self):
        plain = e2e.run_probe(self.pcap)
        one = e2e.run_probe(self.pcap, extra_opts=["--sample", "1"])
        e2e.assert_run_ok(self, plain)
        e2e.assert_run_ok(self, one)
        self.assertEqual(sorted(plain.rows), sorted(one.rows))
        self.assertEqual(sampled_out(one.stats), 0)

    def test_bad_options_exit_2(self):
        for opts, word in ((["--sample", "0"], "sample"),
                           (["--sample-mode", "sometimes"], "sample-mode"),
                           (["--home", "10.0.0.1/16"], "--home '10.0.0.1/16'"),
                           (["--q", "1,banana"], "--q 'banana'"),
                           (["--alerts", "a.jsonl", "--feature-values", "0"], "feature-values"),
                           (["--baseline", "a", "--train-baseline", "b"], "exclude")):
            run = e2e.run_probe(self.pcap, flows=False, stats=False, extra_opts=opts)
            self.assertEqual(run.rc, 2, run.describe())
            self.assertIn(word, run.stderr)


if __name__ == "__main__":
    e2e.main()
