#!/usr/bin/env python3
"""Spectrum detection and alerts through the real binary (issue 4).

Captures come from scripts/gen-attacks: synthetic home-network background
(10.0.0.0/16) with a clean warm-up, then one attack of each class, separated
by clean gaps, each at 5 % of the packets of its windows.

Checked:
  * every attack is flagged: alert records ("start" or "update") in all its
    windows but at most one with the attack's class, naming the victim /
    scanner / infected host from the generator's ground truth (worms: the
    infected home hosts, direction "out");
  * the alert contract: start_ms, end_ms (the window, Unix ms), event_type
    "anomaly", class; incidents have a start and an end record;
  * no alert in a clean window after warm-up, and none at all on a clean
    capture;
  * 1 and 2 workers write identical alert files;
  * a baseline trained on clean traffic (--train-baseline) flags the attacks too;
  * a missing or corrupt --baseline profile exits 2 naming the file.
"""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safem_e2e as e2e  # noqa: E402

HOME = "10.0.0.0/16"
WARMUP_S = 30
ATTACK_S = 5
GAP_S = 10
SHARE = 0.05
ATTACKS = ["syn_flood", "udp_flood", "reflection,proto=dns", "horizontal_scan",
           "vertical_scan", "blaster", "witty"]
MOVING = ["--home", HOME, "--moving-windows", "20"]


def involved_hosts(window):
    """Addresses the truth says an alert must name (victims, scanners, infected)."""
    inv = window.get("involved", {})
    hosts = []
    for key in ("victims", "scanners", "infected", "attackers", "sources"):
        v = inv.get(key)
        if isinstance(v, list):
            hosts += [h for h in v if isinstance(h, str)]
    return hosts



def gen(path, attacks, seed, duration=None):
    return e2e.gen_attack_sequence(path, attacks, seed, HOME, WARMUP_S, ATTACK_S, GAP_S, SHARE,
                                   duration=duration)


class Detect(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(e2e.GEN_ATTACKS):
            raise unittest.SkipTest("scripts/gen-attacks missing")
        cls.dir = e2e.new_dir("detect")
        cls.pcap = os.path.join(cls.dir, "attacks.pcap")
        cls.truth = gen(cls.pcap, ATTACKS, seed=11)
        cls.clean = os.path.join(cls.dir, "clean.pcap")
        gen(cls.clean, [], seed=12, duration=90)
        cls.runs = {}
        for workers in (1, 2):
            alerts = os.path.join(cls.dir, "alerts-%d.jsonl" % workers)
            windows = os.path.join(cls.dir, "windows-%d.jsonl" % workers)
            run = e2e.run_probe(cls.pcap, workers=workers, flows=False, extra_opts=[
                "--alerts", alerts, "--windows", windows] + MOVING)
            cls.runs[workers] = (run, alerts, windows)

    def alerts(self, workers=1):
        run, path, _ = self.runs[workers]
        e2e.assert_run_ok(self, run)
        self.assertTrue(os.path.exists(path), run.describe())
        return e2e.read_json_lines(path)

    def test_syn_flood_flagged(self):
        alerts = [a for a in self.alerts() if a.get("record") in ("start", "update")]
        flagged = {a["start_ms"] for a in alerts}
        syn = [w for w in self.truth["windows"] if w["class"] == "syn_flood"]
        self.assertTrue(syn)
        self.assertGreaterEqual(len(flagged & {w["start_ms"] for w in syn}), len(syn) - 1,
                                "syn_flood windows %s, flagged %s"
                                % ([w["start_ms"] for w in syn], sorted(flagged)))
        victim = syn[0]["involved"]["victims"][0]
        self.assertTrue(any(victim in json.dumps(a["involved"]) for a in alerts
                            if a["start_ms"] in {w["start_ms"] for w in syn}),
                        "victim %s not named" % victim)

    def test_contract(self):
        alerts = self.alerts()
        self.assertTrue(alerts, "no alert at all")
        for a in alerts:
            for field in ("start_ms", "end_ms", "event_type", "class"):
                self.assertIn(field, a)
            # the detector's records, and the behaviour records (on by default) naming a cluster
            self.assertIn(a["event_type"], ("anomaly", "scan_exploit", "behaviour_change",
                                            "explained_by"))
            if a["event_type"] != "anomaly":
                self.assertIn("who", a)
            self.assertIsInstance(a["start_ms"], int)
            self.assertGreater(a["end_ms"], a["start_ms"])
        starts = {a["incident"] for a in alerts if a.get("record") == "start"}
        ends = {a["incident"] for a in alerts if a.get("record") == "end"}
        self.assertEqual(starts, ends, "every incident must end (end of input closes them)")

    def test_every_attack_flagged_with_its_class_and_hosts(self):
        alerts = [a for a in self.alerts() if a.get("record") in ("start", "update")]
        by_window = {}
        for a in alerts:
            by_window.setdefault(a["start_ms"], []).append(a)
        report, short = [], []
        for attack in self.truth["attacks"]:
            windows = [w for w in self.truth["windows"]
                       if any(x["id"] == attack["id"] for x in w.get("attacks", []))]
            hits = [(w, a) for w in windows for a in by_window.get(w["start_ms"], [])]
            right = [(w, a) for w, a in hits if a["class"] == w["class"]]
            named = {w["start_ms"] for w, a in right
                     if all(h in json.dumps(a.get("involved", {})) for h in
                            involved_hosts(w)[:1])}
            report.append("%s: %d windows, %d alerted, %d right class, %d naming %s" % (
                attack.get("attack"), len(windows), len(hits), len(right), len(named),
                involved_hosts(windows[0])[:1] if windows else "-"))
            # every window but one (an attack's first window may hold its first flows only)
            if len(named) < len(windows) - 1 or not named:
                short.append(attack.get("attack"))
        self.assertEqual(short, [], "\n".join(report))

    def test_no_alert_in_clean_windows_after_warmup(self):
        alerts = [a for a in self.alerts() if a.get("record") in ("start", "update")]
        clean = {w["start_ms"] for w in self.truth["windows"] if w["class"] == "normal"}
        false = [a for a in alerts if a["start_ms"] in clean]
        # An incident may carry on for one window after its attack ends
        # (flows still expiring); more than that is a false positive.
        attack_ends = {w["end_ms"] for w in self.truth["windows"] if w["class"] != "normal"}
        false = [a for a in false if a["start_ms"] not in attack_ends]
        self.assertEqual(false, [])

    def test_clean_capture_raises_nothing(self):
        alerts = os.path.join(self.dir, "clean-alerts.jsonl")
        run = e2e.run_probe(self.clean, flows=False, extra_opts=["--alerts", alerts] + MOVING)
        e2e.assert_run_ok(self, run)
        self.assertEqual(e2e.read_json_lines(alerts), [])
        self.assertEqual(run.stats["detection"]["alerts"], 0)
        self.assertGreater(run.stats["detection"]["windows"], 80)

    def test_one_and_two_workers_identical(self):
        self.assertEqual(self.alerts(1), self.alerts(2))

    def test_windows_carry_spectrum(self):
        _, _, windows = self.runs[1]
        reports = e2e.read_json_lines(windows)
        self.assertTrue(reports)
        self.assertIn("spectrum", reports[-1])
        self.assertIn("class", reports[-1])

    def test_trained_baseline(self):
        profile = os.path.join(self.dir, "clean.profile")
        run = e2e.run_probe(self.clean, flows=False, extra_opts=[
            "--train-baseline", profile, "--home", HOME])
        e2e.assert_run_ok(self, run)
        self.assertTrue(os.path.exists(profile), run.describe())
        alerts = os.path.join(self.dir, "trained-alerts.jsonl")
        run = e2e.run_probe(self.pcap, flows=False, extra_opts=[
            "--alerts", alerts, "--baseline", profile, "--home", HOME])
        e2e.assert_run_ok(self, run)
        flagged = {a["start_ms"] for a in e2e.read_json_lines(alerts)
                   if a.get("record") != "end"}
        attack_windows = {w["start_ms"] for w in self.truth["windows"] if w["class"] != "normal"}
        self.assertGreaterEqual(len(flagged & attack_windows), 0.8 * len(attack_windows),
                                "trained baseline flagged %d of %d attack windows"
                                % (len(flagged & attack_windows), len(attack_windows)))

    def test_bad_profiles_exit_2(self):
        missing = os.path.join(self.dir, "no-such.profile")
        run = e2e.run_probe(self.clean, flows=False, stats=False, extra_opts=[
            "--alerts", os.path.join(self.dir, "x.jsonl"), "--baseline", missing])
        self.assertEqual(run.rc, 2, run.describe())
        self.assertIn("no-such.profile", run.stderr)
        corrupt = os.path.join(self.dir, "corrupt.profile")
        with open(corrupt, "w") as f:
            f.write("this is not a profile\n")
        run = e2e.run_probe(self.clean, flows=False, stats=False, extra_opts=[
            "--alerts", os.path.join(self.dir, "y.jsonl"), "--baseline", corrupt])
        self.assertEqual(run.rc, 2, run.describe())
        self.assertIn("corrupt.profile", run.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "y.jsonl")))


if __name__ == "__main__":
    e2e.main()
