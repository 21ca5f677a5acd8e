#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A live port without a spare NIC: DPDK's net_af_packet on one end of a veth pair,
tcpreplay sending a capture into the other end at a set rate (docs/operations.md).

The probe runs live (TSC clock, not a replay) for several windows with the outputs
that exist today (flow CSV, window reports, --stats) and must account for every frame:
frames tcpreplay sent = frames the port received + the drops the port counts
(imissed, ierrors, rx_nombuf); the received frames are conserved through parsing into
the flow CSV (safem_e2e.assert_conservation); window reports keep coming.

IPv6 is disabled on both ends before they come up, so the kernel sends nothing of its
own (router solicitations, MLD) into the pair: every frame on it comes from tcpreplay.
The pair is deleted even when the test fails.

Skips (exit 77) without tcpreplay or ip(8), or when a veth pair cannot be created
(no CAP_NET_ADMIN, e.g. an unprivileged container).
"""

import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safem_e2e as e2e  # noqa: E402

RATE_MBPS = 10          # tcpreplay --mbps: 20,000 frames/s of 60 bytes
SEND_SECONDS = 4.0      # about this long: several 1 s windows
WINDOW = "1s"
# net_af_packet's ring, frames (default 512: 30 ms at this rate). DPDK 22.11's
# net_af_packet does not report the kernel's drops (PACKET_STATISTICS) in imissed, so
# the ring must be deep enough that a worker sharing 2 CPUs never lets it overflow:
# 32768 frames are 1.6 s of this traffic (64 MiB of ring).
RING_FRAMES = 32768


def sh(*argv, check=True):
    res = subprocess.run(list(argv), capture_output=True, text=True, timeout=60)
    if check and res.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (" ".join(argv), res.returncode,
                                                      res.stderr.strip()))
    return res


class VethPair:
    """veth pair A <-> B; delete() is safe to call twice."""

    def __init__(self, tag):
        self.a, self.b = "sfm%sa" % tag, "sfm%sb" % tag  # <= 15 characters
        res = sh("ip", "link", "add", self.a, "type", "veth", "peer", "name", self.b,
                 check=False)
        if res.returncode != 0:
            raise unittest.SkipTest("cannot create a veth pair (needs CAP_NET_ADMIN): "
                                    + res.stderr.strip())
        try:
            for dev in (self.a, self.b):
                sh("sysctl", "-q", "-w", "net.ipv6.conf.%s.disable_ipv6=1" % dev)
                # Room for the capture's largest frames (jumbo, VLAN-tagged).
                sh("ip", "link", "set", dev, "mtu", "9000", "up")
        except Exception:
            self.delete()
            raise

    def delete(self):
        # Deleting one end deletes the pair.
        subprocess.run(["ip", "link", "del", self.a], capture_output=True, timeout=60)


def tcpreplay_count(text):
    """(packets sent, failed) from tcpreplay's summary."""
    sent = re.search(r"Actual:\s*(\d+)\s+packets", text)
    failed = re.search(r"Failed packets:\s*(\d+)", text)
    if sent is None:
        raise AssertionError("no 'Actual: N packets' in tcpreplay's output:\n" + text)
    return int(sent.group(1)), int(failed.group(1)) if failed else 0


class LivePort(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for tool in ("tcpreplay", "ip", "sysctl"):
            if shutil.which(tool) is None:
                raise unittest.SkipTest("%s not installed (Debian packages tcpreplay, "
                                        "iproute2, procps)" % tool)
        e2e.require_probe()
        # Well-formed frames only: Linux drops some of the mixed capture's deliberately
        # malformed frames (a VLAN tag cut short) before any packet socket sees them,
        # and no port counter can count those.
        cls.pcap, cls.truth = e2e.gen_capture("--profile", "bench", "--flows", 2000,
                                              "--packets", 20000, "--seed", 4)

    def setUp(self):
        self.veth = VethPair("%d" % (os.getpid() % 100000))
        self.addCleanup(self.veth.delete)

    def run_live(self, outdir):
        windows = os.path.join(outdir, "windows.jsonl")
        prefix = "safem%dlive" % os.getpid()
        eal = ["-l", "0-1", "--no-huge", "--no-pci", "-m", "512", "--file-prefix=%s" % prefix,
               "--vdev=net_af_packet0,iface=%s,framecnt=%d" % (self.veth.a, RING_FRAMES),
               "--log-level=lib.*:error", "--log-level=pmd.*:error"]
        # The capture's size sets the loop count for ~SEND_SECONDS at RATE_MBPS.
        loops = max(1, math.ceil(SEND_SECONDS * RATE_MBPS * 1e6 / 8 / self.truth["frame_bytes"]))
        replay = {}

        def send_then_stop(proc):
            # The probe's first line comes once the port is started and the workers run.
            time.sleep(0.5)
            replay["res"] = sh("tcpreplay", "-i", self.veth.b, "--mbps", str(RATE_MBPS),
                               "--loop", str(loops), self.pcap)
            time.sleep(1.5)  # the last frames through the port, one more window
            proc.send_signal(signal.SIGINT)

        try:
            run = e2e.run_probe(self.pcap, eal=eal, timeout=120, on_ready=send_then_stop,
                                extra_opts=["--windows", windows, "--window", WINDOW,
                                            "--inactive-timeout", "2s", "--active-timeout",
                                            "5s"])
        finally:
            shutil.rmtree(e2e._dpdk_runtime_dir(prefix), ignore_errors=True)
        self.assertIn("res", replay, "tcpreplay did not run\n" + run.describe())
        return run, replay["res"], loops, windows

    def test_live_port_accounts_for_every_frame(self):
        run, replay, loops, windows = self.run_live(e2e.new_dir("live"))
        e2e.assert_run_ok(self, run)
        sent, failed = tcpreplay_count(replay.stdout + replay.stderr)
        self.assertEqual((sent, failed), (self.truth["frames"] * loops, 0),
                         "tcpreplay sent the whole capture:\n" + replay.stdout)
        s = run.stats
        self.assertEqual(s["clock"], "tsc", "a live port runs on the TSC clock")
        port = s["ports"][0]
        self.assertEqual(port["driver"], "net_af_packet")
        port_drops = port["imissed"] + port["ierrors"] + port["rx_nombuf"]
        self.assertEqual(sent, port["ipackets"] + port_drops,
                         "frames sent != frames received + port drops: %s" % port)
        self.assertEqual(s["rx_packets"], port["ipackets"],
                         "the workers took every frame the port received")
        e2e.assert_conservation(self, run)
        reports = e2e.read_json_lines(windows)
        self.assertGreaterEqual(len(reports), int(SEND_SECONDS) - 1,
                                "window reports stopped coming\n" + run.describe())
        self.assertEqual(sum(r["packets"] for r in reports) <= s["parsed_packets"], True)
        print("live port: %d frames sent, %d received, %d port drops, %d windows"
              % (sent, port["ipackets"], port_drops, len(reports)))


if __name__ == "__main__":
    e2e.main()
