#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Every public sample capture in ../shared/pcaps replayed through the probe.

Per file (1 worker): exit 0, the conservation invariants hold, rx_packets and
rx_bytes equal what a Python reader finds in the file. The reference parser's
view (parsed/non-IP/errors, per-5-tuple sums) is printed for information only:
real captures contain cases the contract leaves open.
Skips (77) when the directory or every file is absent.
"""

import glob
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safem_e2e as e2e  # noqa: E402

# The files INVENTORY.md lists; any other *.pcap found there is tested too.
LISTED = [
    "amp_udp_snmp_stopddos.pcap", "bg_dns_pcpp.pcap", "bg_http_example_pcpp.pcap",
    "bg_many_protocols_pcpp.pcap", "bg_ndpi_appmix.pcap", "bg_web_tls2_pcpp.pcap",
    "bg_zeek_protomix.pcap", "bruteforce_ssh_nmap_ctu.pcap",
    "ddos_synflood_spoofed_stopddos.pcap", "dos_ipv6_icmp6_flood_suricata.pcap",
    "worm_iot_telnet_scan_ctu.pcap",
]


def all_names():
    found = {os.path.basename(p) for p in glob.glob(os.path.join(e2e.SHARED_PCAPS, "*.pcap"))}
    return sorted(set(LISTED) | found)


class SharedPcaps(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.isdir(e2e.SHARED_PCAPS):
            raise unittest.SkipTest("no shared captures directory %s" % e2e.SHARED_PCAPS)
        if not any(os.path.isfile(os.path.join(e2e.SHARED_PCAPS, n)) for n in all_names()):
            raise unittest.SkipTest("no *.pcap in %s" % e2e.SHARED_PCAPS)
        e2e.require_probe()

    def replay(self, name):
        path = os.path.join(e2e.SHARED_PCAPS, name)
        if not os.path.isfile(path):
            self.skipTest("%s absent" % path)
        ref = e2e.reference_summary(path)
        run = e2e.run_probe(path, timeout=300)
        e2e.assert_run_ok(self, run)
        e2e.assert_stats_shape(self, run.stats, 1)
        e2e.assert_conservation(self, run)
        e2e.assert_rows_sane(self, run.rows)
        s = run.stats
        self.assertEqual(s["rx_packets"], ref["frames"], "rx_packets != packets in the file")
        self.assertEqual(s["rx_bytes"], ref["frame_bytes"],
                         "rx_bytes != captured bytes in the file")
        self.report(name, s, ref, run.rows)

    @staticmethod
    def report(name, s, ref, rows):
        """Information only: where the probe and the reference parser differ."""
        got = {"parsed_packets": s["parsed_packets"], "parsed_bytes": s["parsed_bytes"],
               "non_ip": s["non_ip"],
               "errors": {k: v for k, v in s["parse_errors"].items() if v}}
        want = {"parsed_packets": ref["ip_packets"], "parsed_bytes": ref["ip_bytes"],
                "non_ip": ref["non_ip"], "errors": ref["errors"]}
        diff = e2e.diff_tuples(ref["tuples"], e2e.aggregate(rows), limit=3)
        if got != want or diff:
            print("\nINFO %s: probe %s\n     reference parser %s\n%s"
                  % (name, json.dumps(got, sort_keys=True), json.dumps(want, sort_keys=True),
                     diff), file=sys.stderr)


def _make(name):
    def test(self):
        self.replay(name)
    test.__doc__ = "replay %s" % name
    return test


for _name in all_names():
    setattr(SharedPcaps, "test_" + _name.replace(".pcap", ""), _make(_name))


if __name__ == "__main__":
    e2e.main()
