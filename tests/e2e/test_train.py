#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""safem-train through the real binary (docs/classifier.md, "Training").

Feature files in the probe's layout (libsvm text, 219 features, `# start_ms=` comments)
are generated here: three classes whose windows differ on a few features of the layout
(tree entropies, packet volume, SYN share) with Gaussian noise on those and on others.

Checked:
  * training with a small grid prints the grid, the CV confusion matrix (rows per
    class, recall, precision, accuracy) and writes a `safem-model 2` bundle;
    --test on a held-out file prints the test confusion matrix and an accuracy >= 0.9
    (measured 1.0: the classes are well apart); --model MODEL --test gives the same;
  * labels from a ground-truth JSON (the attack generator's shape) or CSV matched on
    start_ms; integer labels index --classes; a class the model never saw gets a row;
  * --holdout FILE: the held-out windows are never trained on; the model's verdicts there
    (probability >= 0.8) per class, and how many were right, go into the bundle: windows
    of syn_flood labelled normal in the held-out file make every syn_flood verdict wrong;
  * bad input exits 2 with a message naming FILE:LINE (feature files, JSON) or the
    option, and leaves no model file behind.
"""
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safem_e2e as e2e  # noqa: E402

NFEATURES = 219
CLASSES = ("normal", "port_scan", "syn_flood")
# (1-based index, mean per class): tree_src_bytes, tree_dst_packets, log10_packets,
# proto_share_tcp_syn, ln_distinct_dst_port (docs/classifier.md layout).
SIGNATURE = {
    1: (0.8, 0.7, 0.5),
    5: (0.7, 0.5, 0.2),
    91: (4.0, 4.2, 5.0),
    98: (0.02, 0.3, 0.8),
    97: (3.0, 8.0, 2.5),
}
NOISE_FEATURES = (10, 20, 50, 120, 200)
FLOOR_ACCURACY = 0.9


def train_path():
    return os.environ.get("SAFEM_TRAIN") or os.path.join(e2e.BUILD_ROOT, "app", "safem-train")


def run_train(*args, timeout=300):
    path = train_path()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise unittest.SkipTest("safem-train not found at %s (set SAFEM_TRAIN)" % path)
    argv = [path] + [str(a) for a in args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def window(rng, cls):
    k = CLASSES.index(cls)
    x = {}
    for idx, means in SIGNATURE.items():
        x[idx] = means[k] + rng.gauss(0, 0.08 * (1 + abs(means[k])))
    for idx in NOISE_FEATURES:
        x[idx] = rng.gauss(0, 1)
    return x


def line(label, x, start_ms):
    pairs = " ".join("%d:%.6g" % (i, x[i]) for i in sorted(x) if x[i] != 0)
    return "%s %s # start_ms=%d end_ms=%d\n" % (label, pairs, start_ms, start_ms + 1000)


def write_windows(path, rng, per_class, label_fn, start=0, classes=CLASSES):
    """per_class windows of each class, interleaved; returns [(start_ms, class)]."""
    truth = []
    with open(path, "w") as f:
        f.write("# safem features, layout of docs/classifier.md\n")
        for i in range(per_class * len(classes)):
            cls = classes[i % len(classes)]
            start_ms = start + 1000 * i
            f.write(line(label_fn(cls), window(rng, cls), start_ms))
            truth.append((start_ms, cls))
    return truth


def accuracies(text):
    return [float(a) for a in re.findall(r"^accuracy ([0-9.]+) \(", text, re.M)]


class TrainTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="safem-train-")
        rng = random.Random(20240601)
        cls.train_file = os.path.join(cls.tmp, "train.libsvm")
        cls.test_file = os.path.join(cls.tmp, "test.libsvm")
        write_windows(cls.train_file, rng, 60, lambda c: c)
        write_windows(cls.test_file, rng, 30, lambda c: c, start=10 ** 6)
        cls.model = os.path.join(cls.tmp, "model")
        cls.res = run_train("--log2c", "1,3,2", "--log2g", "-7,-5,2", "--folds", "3",
                            "-o", cls.model, cls.train_file, "--test", cls.test_file)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def check_ok(self, res):
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)

    def check_usage_error(self, res, *needles):
        self.assertEqual(res.returncode, 2, res.stdout + res.stderr)
        for n in needles:
            self.assertIn(n, res.stderr)

    def test_train_and_test(self):
        res = self.res
        self.check_ok(res)
        out = res.stdout
        self.assertIn("windows 180, features 219, classes 3: normal=60 port_scan=60 "
                      "syn_flood=60", out)
        self.assertEqual(len(re.findall(r"^grid: C 2\^", out, re.M)), 4)
        self.assertIn("cross-validation (rows: true class, columns: predicted)", out)
        self.assertIn("test (rows: true class, columns: predicted)", out)
        for cls in CLASSES:
            self.assertRegex(out, r"(?m)^%s +\d+ +\d+ +\d+ +[0-9.]+ +\d+" % cls)
        self.assertRegex(out, r"(?m)^precision( +[0-9.]+){3}$")
        acc = accuracies(out)
        self.assertEqual(len(acc), 2, out)
        self.assertGreaterEqual(acc[0], FLOOR_ACCURACY, out)
        self.assertGreaterEqual(acc[1], FLOOR_ACCURACY, out)
        self.assertRegex(out, r"accuracy [0-9.]+ \(\d+/90\)")
        with open(self.model) as f:
            self.assertEqual(f.readline(), "safem-model 2\n")
            self.assertEqual(f.readline(), "features 219\n")
            self.assertEqual(f.readline(), "feature 1 tree_src_bytes\n")
        # Evaluating the saved model gives the same figures.
        res2 = run_train("--model", self.model, "--test", self.test_file)
        self.check_ok(res2)
        self.assertEqual(accuracies(res2.stdout), acc[1:], res2.stdout)

    def test_holdout_precision(self):
        rng = random.Random(99)
        fair = self.path("held-fair.libsvm")
        wrong = self.path("held-wrong.libsvm")
        write_windows(fair, rng, 30, lambda c: c, start=2 * 10 ** 6)
        # syn_flood windows whose ground truth says normal: each syn_flood verdict wrong
        write_windows(wrong, rng, 30, lambda c: "normal" if c == "syn_flood" else c,
                      start=3 * 10 ** 6)
        counts = {}
        for name, held in (("fair", fair), ("wrong", wrong)):
            model = self.path("held-%s.model" % name)
            res = run_train("--c", "4", "--gamma", "0.01", "--folds", "3", "--holdout", held,
                            "-o", model, self.train_file)
            self.check_ok(res)
            # trained on the 180 training windows only
            self.assertIn("windows 180, features 219", res.stdout)
            self.assertIn("held-out (rows: true class, columns: predicted)", res.stdout)
            with open(model) as f:
                text = f.read()
            self.assertIn("\nholdout 90 0.80000000000000004\n", text)
            counts[name] = {int(m[0]): (int(m[1]), int(m[2])) for m in re.findall(
                r"(?m)^holdout_class (\d) (\d+) (\d+)$", text)}
            self.assertEqual(sorted(counts[name]), [0, 1, 2])
            self.assertRegex(res.stdout, r"held-out verdicts at probability >= 0.8 "
                             r"\(right/counted\): normal=\d+/\d+ port_scan=\d+/\d+")
        syn = CLASSES.index("syn_flood")
        predicted, correct = counts["fair"][syn]
        self.assertGreaterEqual(predicted, 25)
        self.assertGreaterEqual(correct, predicted - 1)
        predicted, correct = counts["wrong"][syn]
        self.assertGreaterEqual(predicted, 25)
        self.assertEqual(correct, 0)
        # the normal class is still right in both
        self.assertGreaterEqual(counts["wrong"][0][1], counts["wrong"][0][0] - 1)
        # no training, no held-out measurement
        self.check_usage_error(run_train("--model", self.model, "--holdout", fair, "--test",
                                         fair), "--holdout")
        self.check_usage_error(run_train("--holdout-min-probability", "0", "-o", model,
                                         self.train_file), "--holdout-min-probability")

    def test_labels_json_and_csv(self):
        rng = random.Random(7)
        feats = self.path("unlabelled.libsvm")
        truth = write_windows(feats, rng, 20, lambda c: "0", start=5000)
        # One window past the ground truth: skipped with a warning.
        with open(feats, "a") as f:
            f.write(line("0", window(rng, "normal"), 10 ** 9))
        doc = {"meta": {"generator": "test", "nested": [1, {"a": None}]},
               "windows": [{"start_ms": s, "end_ms": s + 1000, "class": c, "intensity": 0.5}
                           for s, c in truth]}
        with open(self.path("truth.json"), "w") as f:
            json.dump(doc, f, indent=1)
        model = self.path("json.model")
        res = run_train("--c", "4", "--gamma", "0.01", "--folds", "3", "--labels",
                        self.path("truth.json"), "-o", model, feats)
        self.check_ok(res)
        self.assertIn("normal=20 port_scan=20 syn_flood=20", res.stdout)
        self.assertIn("1 windows outside the ground truth skipped", res.stderr)
        self.assertTrue(os.path.exists(model))
        with open(self.path("truth.csv"), "w") as f:
            f.write("start_ms,class\n")
            f.writelines("%d,%s\n" % (s, c) for s, c in truth)
        res = run_train("--c", "4", "--gamma", "0.01", "--labels-csv", self.path("truth.csv"),
                        "-o", self.path("csv.model"), feats)
        self.check_ok(res)
        self.assertIn("normal=20 port_scan=20 syn_flood=20", res.stdout)
        # The test side reads the ground truth too.
        res = run_train("--model", self.model, "--labels", self.path("truth.json"), "--test",
                        feats)
        self.check_ok(res)
        self.assertGreaterEqual(accuracies(res.stdout)[0], FLOOR_ACCURACY, res.stdout)

    def test_integer_labels_and_unseen_class(self):
        rng = random.Random(9)
        feats = self.path("numeric.libsvm")
        write_windows(feats, rng, 15, lambda c: str(CLASSES.index(c)))
        res = run_train("--classes", ",".join(CLASSES), "--c", "4", "--gamma", "0.01",
                        "-o", self.path("numeric.model"), feats)
        self.check_ok(res)
        self.assertIn("normal=15 port_scan=15 syn_flood=15", res.stdout)
        # Held-out windows of a class the model lacks: their own row, not in the accuracy.
        unseen = self.path("unseen.libsvm")
        with open(unseen, "w") as f:
            for i in range(5):
                x = window(rng, "normal")
                x[1] += 3.0  # far outside the training range of a feature that varies
                f.write(line("udp_flood", x, i * 1000))
            f.write(line("1", window(rng, "port_scan"), 9000))
        res = run_train("--model", self.path("numeric.model"), "--test", unseen)
        self.check_ok(res)
        self.assertRegex(res.stdout, r"(?m)^udp_flood( +\d+){3} +- +5 +5$")
        self.assertRegex(res.stdout, r"accuracy [0-9.]+ \(\d/1\)")

    def test_bad_inputs(self):
        def bad_file(name, text):
            p = self.path(name)
            with open(p, "w") as f:
                f.write(text)
            return p

        out = self.path("never.model")
        good = "normal 1:0.5 3:1\n"
        cases = [
            (bad_file("value.libsvm", good + "syn_flood 1:0.5 3:abc\n"), "value.libsvm:2:"),
            (bad_file("index.libsvm", "# c\n" + good + "normal 300:1\n"), "index.libsvm:3:"),
            (bad_file("order.libsvm", good + good + "normal 4:1 2:1\n"), "order.libsvm:3:"),
            (bad_file("pair.libsvm", "normal 1=0.5\n"), "pair.libsvm:1:"),
            (bad_file("nolabel.libsvm", good + " 1:0.5\n"), "nolabel.libsvm:2:"),
            (bad_file("inf.libsvm", "normal 1:inf\n"), "inf.libsvm:1:"),
        ]
        for path, needle in cases:
            with self.subTest(path=path):
                res = run_train("--c", "1", "--gamma", "1", "-o", out, self.train_file, path)
                self.check_usage_error(res, needle)
                self.assertFalse(os.path.exists(out))
                self.assertFalse(os.path.exists(out + ".tmp"))
        # Ground truth problems: FILE:LINE.
        truth = bad_file("bad.json", '{"windows": [\n {"start_ms": 1, "end_ms": 2, '
                         '"class": "normal"},\n {"start_ms": 5, "class": "x"}\n]}\n')
        res = run_train("--labels", truth, "-o", out, self.train_file)
        # jansson keeps no position of a value: a bad window is named by its index
        self.check_usage_error(res, "bad.json: windows[1]:", "start_ms, end_ms and class")
        # a syntax error: FILE:LINE:COLUMN (jansson's)
        truth = bad_file("bad2.json", '{"windows": [\n {"start_ms": 1, "end_ms": 2,,\n]}')
        self.check_usage_error(run_train("--labels", truth, "-o", out, self.train_file),
                               "bad2.json:2:")
        for name, text, needle in [
                ("dup.json", '{"windows": [\n {"start_ms": 1, "start_ms": 2, "end_ms": 3, '
                 '"class": "normal"}]}', "dup.json:2:"),
                ("frac.json", '{"windows": [{"start_ms": 1.5, "end_ms": 3, "class": "a"}]}',
                 "frac.json: windows[0]: start_ms"),
                ("order.json", '{"windows": [{"start_ms": 1, "end_ms": 3, "class": "a"},'
                 '{"start_ms": 9, "end_ms": 9, "class": "a"}]}', "order.json: windows[1]: end_ms"),
                ("blank.json", '{"windows": [{"start_ms": 1, "end_ms": 3, "class": "a b"}]}',
                 "blank.json: windows[0]: class"),
                ("nowin.json", '{"window": []}', "nowin.json: no \"windows\""),
                ("tail.json", '{"windows": []}\n{}', "tail.json:2:")]:
            with self.subTest(json=name):
                self.check_usage_error(run_train("--labels", bad_file(name, text), "-o", out,
                                                 self.train_file), needle)
        csv = bad_file("bad.csv", "start_ms,class\n1000,normal\nabc,normal\n")
        self.check_usage_error(run_train("--labels-csv", csv, "-o", out, self.train_file),
                               "bad.csv:3:")
        # A feature line without start_ms cannot be matched to the ground truth.
        nostart = bad_file("nostart.libsvm", "0 1:1 # start_ms=1000\n0 1:1\n")
        csv = bad_file("ok.csv", "1000,normal\n")
        self.check_usage_error(run_train("--labels-csv", csv, "-o", out, nostart),
                               "nostart.libsvm:2:", "start_ms")
        # Missing files, bad options, unusable data.
        self.check_usage_error(run_train("-o", out, self.path("absent.libsvm")),
                               "absent.libsvm")
        self.check_usage_error(run_train("--nu", "2", "-o", out, self.train_file), "--nu")
        self.check_usage_error(run_train("--log2c", "1,9", "-o", out, self.train_file),
                               "--log2c")
        self.check_usage_error(run_train("--folds", "1", "-o", out, self.train_file),
                               "--folds")
        self.check_usage_error(run_train("--c", "1", "-o", out, self.train_file), "--gamma")
        self.check_usage_error(run_train(self.train_file), "-o MODEL")
        self.check_usage_error(run_train("--bogus", "-o", out, self.train_file), "--bogus")
        self.check_usage_error(run_train("--normal-class", "benign", "--c", "1", "--gamma",
                                         "1", "-o", out, self.train_file), "benign")
        self.check_usage_error(run_train("--classes", "normal,port_scan", "--c", "1",
                                         "--gamma", "1", "-o", out, self.train_file),
                               "train.libsvm:", "syn_flood")
        self.assertFalse(os.path.exists(out))
        # A corrupt or missing model for --test: named.
        corrupt = bad_file("corrupt.model", "safem-model 1\nfeatures 219\nfeature 1 x\n")
        self.check_usage_error(run_train("--model", corrupt, "--test", self.test_file),
                               "corrupt.model:3:")
        self.check_usage_error(run_train("--model", self.path("nope.model"), "--test",
                                         self.test_file), "nope.model")
        res = run_train("--help")
        self.check_ok(res)
        for opt in ("--labels", "--labels-csv", "--log2c", "--log2g", "--folds", "--nu",
                    "--test", "--model", "--grid-windows"):
            self.assertIn(opt, res.stdout)


if __name__ == "__main__":
    e2e.main()
