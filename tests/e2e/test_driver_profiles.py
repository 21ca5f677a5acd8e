#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Driver profiles: every drivers-config/*.ini loads in the probe
(--check-config, no EAL) with its values intact, a broken copy is refused
with file:line, and scripts/setup-hugepages and scripts/bind-ports read each
profile correctly. The scripts only ever run with --dry-run here.

Environment (set by meson): SAFEM_PROBE = the safem-probe binary,
SAFEM_SOURCE_ROOT = the source tree.
"""
import configparser
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import unittest

SOURCE_ROOT = pathlib.Path(
    os.environ.get("SAFEM_SOURCE_ROOT", pathlib.Path(__file__).resolve().parents[2]))
PROBE = os.environ.get("SAFEM_PROBE", str(SOURCE_ROOT / "build/app/safem-probe"))
PROFILE_DIR = SOURCE_ROOT / "drivers-config"
PROFILES = sorted(PROFILE_DIR.glob("*.ini"))
SETUP_HUGEPAGES = SOURCE_ROOT / "scripts/setup-hugepages"
BIND_PORTS = SOURCE_ROOT / "scripts/bind-ports"
TIMEOUT_S = 60


def read_ini(text):
    """Our INI dialect, close enough for the profiles: ';'/'#' comments."""
    parser = configparser.ConfigParser(
        comment_prefixes=(";", "#"), inline_comment_prefixes=(";",),
        interpolation=None, delimiters=("=",), strict=False)
    parser.optionxform = str
    parser.read_string(text)
    return parser


def settings(parser):
    return {(s, k): v for s in parser.sections() for k, v in parser.items(s)}


def run(args, **kwargs):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=TIMEOUT_S, check=False, **kwargs)


def run_script(script, profile, *extra):
    # Never without --dry-run: these scripts change the machine otherwise.
    return run([script, profile, "--dry-run", *extra])


def commands(output):
    """The commands a script printed ("+ cmd args")."""
    return [line[2:] for line in output.splitlines() if line.startswith("+ ")]


class Profiles(unittest.TestCase):
    def test_the_documented_profiles_exist(self):
        names = {p.name for p in PROFILES}
        for name in ("net_pcap.ini", "ixgbe.ini", "i40e.ini", "ice.ini", "mlx5.ini"):
            self.assertIn(name, names)

    def test_profiles_are_sane(self):
        key_bytes = {"ixgbe.ini": 40, "i40e.ini": 52, "ice.ini": 52, "mlx5.ini": 40}
        for profile in PROFILES:
            with self.subTest(profile=profile.name):
                ini = settings(read_ini(profile.read_text()))
                self.assertIn(("eal", "args"), ini)
                self.assertIn(("setup", "kernel-driver"), ini)
                self.assertIn(("setup", "description"), ini)
                if profile.name in key_bytes:
                    key = ini[("port", "rss-key")]
                    self.assertEqual(key, "6d5a" * (key_bytes[profile.name] // 2))
                    # workers (EAL lcores minus the main one) as the comments say
                    lcores = re.search(r"-l 0-(\d+)", ini[("eal", "args")])
                    self.assertIsNotNone(lcores)
                    # every ring full still leaves mbufs for caches and bursts
                    workers = int(lcores.group(1))
                    self.assertGreater(int(ini[("port", "mbufs")]),
                                       workers * int(ini[("port", "rx-descriptors")]))
                if ini[("setup", "kernel-driver")] == "vfio-pci":
                    self.assertIn("-a " + ini[("setup", "pci")], ini[("eal", "args")])


class ProbeCheckConfig(unittest.TestCase):
    """Needs safem-probe --check-config (docs/configuration.md)."""

    def check_config(self, *args):
        return run([PROBE, "--", *args, "--check-config"])

    def test_every_profile_loads_with_its_values(self):
        for profile in PROFILES:
            with self.subTest(profile=profile.name):
                result = self.check_config("--config", profile)
                self.assertEqual(result.returncode, 0, result.stderr)
                effective = settings(read_ini(result.stdout))
                for (section, key), value in settings(read_ini(profile.read_text())).items():
                    self.assertEqual(effective.get((section, key)), value,
                                     f"[{section}] {key} in {profile.name}")

    def test_command_line_wins_over_profile(self):
        result = self.check_config("--config", PROFILE_DIR / "ixgbe.ini", "--rx-burst", "16")
        self.assertEqual(result.returncode, 0, result.stderr)
        effective = settings(read_ini(result.stdout))
        self.assertEqual(effective[("port", "rx-burst")], "16")
        self.assertEqual(effective[("port", "rx-descriptors")], "4096")

    def broken_copy(self, tmp, find, replace):
        text = (PROFILE_DIR / "ixgbe.ini").read_text()
        lines = text.splitlines(keepends=True)
        number = next(i for i, line in enumerate(lines, 1) if line.startswith(find))
        lines[number - 1] = replace + "\n"
        path = pathlib.Path(tmp) / "broken.ini"
        path.write_text("".join(lines))
        return path, number

    def test_unknown_key_names_file_and_line(self):
        with tempfile.TemporaryDirectory() as tmp:
            path, line = self.broken_copy(tmp, "rx-descriptors", "rx-descriptor = 4096")
            result = self.check_config("--config", path)
            self.assertEqual(result.returncode, 2, result.stderr)
            self.assertIn(f"{path}:{line}:", result.stderr)
            self.assertIn("rx-descriptor", result.stderr)
            self.assertIn("[port]", result.stderr)

    def test_bad_value_names_file_line_and_option(self):
        with tempfile.TemporaryDirectory() as tmp:
            path, line = self.broken_copy(tmp, "mbufs", "mbufs = lots")
            result = self.check_config("--config", path)
            self.assertEqual(result.returncode, 2, result.stderr)
            self.assertIn(f"{path}:{line}:", result.stderr)
            self.assertIn("mbufs", result.stderr)
            self.assertIn("'lots'", result.stderr)


class SetupHugepages(unittest.TestCase):
    def expected(self, profile):
        ini = settings(read_ini(profile.read_text()))
        return (int(ini.get(("setup", "hugepages-2m"), "0")),
                int(ini.get(("setup", "hugepages-1g"), "0")))

    def test_dry_run_with_dpdk_hugepages(self):
        with_tool = shutil.which("dpdk-hugepages.py") is not None
        for profile in PROFILES:
            with self.subTest(profile=profile.name):
                pages_2m, pages_1g = self.expected(profile)
                result = run_script(SETUP_HUGEPAGES, profile)
                self.assertEqual(result.returncode, 0, result.stderr)
                cmds = commands(result.stdout)
                if not with_tool:
                    # falls back to sysfs; covered by the test below
                    self.assertIn("dpdk-hugepages.py not found", result.stderr)
                    continue
                want = []
                if pages_2m:
                    want.append(f"dpdk-hugepages.py -p 2M -r {pages_2m * 2}M -m -d "
                                "/dev/hugepages")
                if pages_1g:
                    want.append(f"dpdk-hugepages.py -p 1G -r {pages_1g * 1024}M -m -d "
                                "/dev/hugepages-1G")
                self.assertEqual([c for c in cmds if c.startswith("dpdk-")], want)
                if not want:
                    self.assertEqual(cmds, [])

    def test_dry_run_with_sysfs(self):
        sysfs = "/sys/kernel/mm/hugepages"
        for profile in PROFILES:
            with self.subTest(profile=profile.name):
                pages_2m, pages_1g = self.expected(profile)
                result = run_script(SETUP_HUGEPAGES, profile, "--sysfs")
                self.assertEqual(result.returncode, 0, result.stderr)
                cmds = commands(result.stdout)
                writes = [c for c in cmds if c.startswith("echo ")]
                want = []
                if pages_2m:
                    want.append(f"echo {pages_2m} > {sysfs}/hugepages-2048kB/nr_hugepages")
                if pages_1g:
                    want.append(f"echo {pages_1g} > {sysfs}/hugepages-1048576kB/nr_hugepages")
                self.assertEqual(writes, want)
                self.assertNotIn("dpdk-hugepages.py", result.stdout)

    def test_bad_profiles_exit_2(self):
        with tempfile.TemporaryDirectory() as tmp:
            cases = {
                "no-keys.ini": ("[setup]\nkernel-driver = none\n", "neither"),
                "bad-count.ini": ("[setup]\n\nhugepages-2m = 2k\n", "bad-count.ini:3:"),
                "negative.ini": ("[setup]\nhugepages-1g = -1\n", "hugepages-1g"),
            }
            for name, (text, needle) in cases.items():
                with self.subTest(case=name):
                    path = pathlib.Path(tmp) / name
                    path.write_text(text)
                    result = run_script(SETUP_HUGEPAGES, path)
                    self.assertEqual(result.returncode, 2, result.stderr)
                    self.assertIn(needle, result.stderr)
                    self.assertEqual(commands(result.stdout), [])
            result = run_script(SETUP_HUGEPAGES, pathlib.Path(tmp) / "missing.ini")
            self.assertEqual(result.returncode, 2)
            self.assertIn("missing.ini", result.stderr)

    def test_usage(self):
        result = run([SETUP_HUGEPAGES, "--help"])
        self.assertEqual(result.returncode, 0)
        self.assertIn("Usage:", result.stdout)
        self.assertEqual(run([SETUP_HUGEPAGES, "--dry-run"]).returncode, 2)
        self.assertEqual(run([SETUP_HUGEPAGES, "--nope", "--dry-run"]).returncode, 2)


class BindPorts(unittest.TestCase):
    def test_dry_run(self):
        for profile in PROFILES:
            with self.subTest(profile=profile.name):
                ini = settings(read_ini(profile.read_text()))
                driver = ini[("setup", "kernel-driver")]
                result = run_script(BIND_PORTS, profile)
                self.assertEqual(result.returncode, 0, result.stderr)
                cmds = commands(result.stdout)
                if driver == "vfio-pci":
                    pci = ini[("setup", "pci")]
                    self.assertEqual(cmds, ["modprobe vfio-pci",
                                            f"dpdk-devbind.py -b vfio-pci {pci}"])
                else:
                    self.assertEqual(cmds, [])
                    self.assertIn("no binding needed", result.stdout)
                    if driver == "mlx5_core":
                        self.assertIn("bifurcated", result.stdout)

    def test_several_ports_and_syntax(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = pathlib.Path(tmp) / "two.ini"
            path.write_text("# two ports\n[ setup ]\n  kernel-driver=vfio-pci ; comment\n"
                            "pci = 0000:03:00.0, 04:00.1 ; short form\n; pci = 0000:09:00.0\n"
                            "[other]\npci = 0000:0a:00.0\n")
            result = run_script(BIND_PORTS, path)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertIn("dpdk-devbind.py -b vfio-pci 0000:03:00.0 0000:04:00.1",
                          commands(result.stdout))

    def test_bad_profiles_exit_2(self):
        with tempfile.TemporaryDirectory() as tmp:
            cases = {
                "no-driver.ini": ("[setup]\npci = 0000:03:00.0\n", "kernel-driver is missing"),
                "bad-driver.ini": ("[setup]\nkernel-driver = ixgbe\n", "bad-driver.ini:2:"),
                "no-pci.ini": ("[setup]\nkernel-driver = vfio-pci\n", "pci is missing"),
                "bad-pci.ini": ("[setup]\nkernel-driver = vfio-pci\n\npci = 3:0\n",
                                "bad-pci.ini:4:"),
            }
            for name, (text, needle) in cases.items():
                with self.subTest(case=name):
                    path = pathlib.Path(tmp) / name
                    path.write_text(text)
                    result = run_script(BIND_PORTS, path)
                    self.assertEqual(result.returncode, 2, result.stderr)
                    self.assertIn(needle, result.stderr)
                    self.assertEqual(commands(result.stdout), [])
            result = run_script(BIND_PORTS, pathlib.Path(tmp) / "missing.ini")
            self.assertEqual(result.returncode, 2)
            self.assertIn("missing.ini", result.stderr)

    def test_usage(self):
        result = run([BIND_PORTS, "--help"])
        self.assertEqual(result.returncode, 0)
        self.assertIn("Usage:", result.stdout)
        self.assertEqual(run([BIND_PORTS, "--dry-run"]).returncode, 2)
        self.assertEqual(run([BIND_PORTS, "a.ini", "b.ini", "--dry-run"]).returncode, 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
