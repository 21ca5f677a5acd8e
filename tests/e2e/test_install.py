#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""`meson install` gives an operator a service (docs/operations.md).

Installs the build into a scratch DESTDIR and checks: the binaries; the systemd unit,
whose ExecStartPre/ExecStart name installed, executable files and the installed
configuration path, with Restart=on-failure; the example configuration, which the probe
accepts (--check-config) and whose [setup] section the installed set-up scripts accept
(--dry-run); the driver profiles; the man page, which groff renders without a warning
and which lists every option of --help.

Skips (exit 77) when the build directory is unknown (SAFEM_BUILD_ROOT).
"""

import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safem_e2e as e2e  # noqa: E402


def unit_values(text, key):
    return [line.split("=", 1)[1].strip() for line in text.splitlines()
            if line.startswith(key + "=")]


class Install(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        build = os.environ.get("SAFEM_BUILD_ROOT")
        if not build or not os.path.isdir(build):
            raise unittest.SkipTest("SAFEM_BUILD_ROOT not set: run through meson test")
        cls.dest = e2e.new_dir("destdir")
        res = subprocess.run(["meson", "install", "-C", build, "--destdir", cls.dest,
                              "--no-rebuild", "--quiet"], capture_output=True, text=True,
                             timeout=300)
        if res.returncode != 0:
            raise AssertionError("meson install failed:\n%s\n%s" % (res.stdout, res.stderr))
        cls.files = {}
        for root, _, names in os.walk(cls.dest):
            for n in names:
                path = os.path.join(root, n)
                cls.files.setdefault(n, []).append("/" + os.path.relpath(path, cls.dest))

    def installed(self, name):
        self.assertIn(name, self.files, "%s not installed; installed: %s"
                      % (name, sorted(self.files)))
        self.assertEqual(len(self.files[name]), 1, self.files[name])
        return self.files[name][0]

    def real(self, path):
        return os.path.join(self.dest, path.lstrip("/"))

    def test_unit(self):
        unit_path = self.installed("safem-probe.service")
        self.assertTrue(unit_path.endswith("/systemd/system/safem-probe.service"), unit_path)
        with open(self.real(unit_path)) as f:
            unit = f.read()
        self.assertNotIn("@", unit, "unsubstituted placeholder")
        self.assertEqual(unit_values(unit, "Restart"), ["on-failure"])
        self.assertEqual(unit_values(unit, "RestartPreventExitStatus"), ["2"])
        self.assertEqual(unit_values(unit, "WantedBy"), ["multi-user.target"])
        config = self.installed("safem-probe.ini.example")[:-len(".example")]
        self.assertEqual(unit_values(unit, "AssertPathExists"), [config])
        pre = unit_values(unit, "ExecStartPre")
        self.assertEqual([p.split()[1:] for p in pre], [[config], [config]])
        self.assertEqual([os.path.basename(p.split()[0]) for p in pre],
                         ["setup-hugepages", "bind-ports"])
        start = unit_values(unit, "ExecStart")
        self.assertEqual(len(start), 1)
        argv = start[0].split()
        self.assertEqual(argv[1:], ["--", "--config", config])
        self.assertEqual(argv[0], self.installed("safem-probe"))
        for cmd in [p.split()[0] for p in pre] + [argv[0]]:
            self.assertTrue(os.access(self.real(cmd), os.X_OK), "%s not executable" % cmd)

    def test_example_config(self):
        example = self.real(self.installed("safem-probe.ini.example"))
        probe = e2e.require_probe()
        res = subprocess.run([probe, "--", "--config", example, "--check-config"],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("[prometheus]", res.stdout)
        for script in ("setup-hugepages", "bind-ports"):
            res = subprocess.run([self.real(self.installed(script)), example, "--dry-run"],
                                 capture_output=True, text=True, timeout=60)
            self.assertEqual(res.returncode, 0, "%s --dry-run: %s%s"
                             % (script, res.stdout, res.stderr))
        for profile in ("ixgbe.ini", "i40e.ini", "ice.ini", "mlx5.ini", "net_pcap.ini"):
            self.installed(profile)

    def test_man_page(self):
        page = self.real(self.installed("safem-probe.8"))
        self.assertIn("/man8/", self.installed("safem-probe.8"))
        with open(page) as f:
            text = f.read()
        help_text = subprocess.run([e2e.require_probe(), "--help"], capture_output=True,
                                   text=True, timeout=60).stdout
        options = re.findall(r"^  (--[a-z0-9-]+)", help_text, re.M)
        self.assertGreater(len(options), 40)
        for opt in options:
            self.assertIn(opt.replace("-", "\\-"), text, "man page lacks " + opt)
        for section in ("SYNOPSIS", "OPTIONS", "SIGNALS", "EXIT STATUS", "FILES"):
            self.assertIn(".SH " + section, text)
        if shutil.which("groff"):
            res = subprocess.run(["groff", "-man", "-ww", "-z", page], capture_output=True,
                                 text=True, timeout=60, env=dict(os.environ, LC_ALL="C.UTF-8"))
            self.assertEqual((res.returncode, res.stderr), (0, ""), "groff warnings")

    def test_docs_and_binaries(self):
        for name in ("safem-probe", "safem-merge", "safem-train", "operations.md",
                     "default.model"):
            self.installed(name)


if __name__ == "__main__":
    e2e.main()
