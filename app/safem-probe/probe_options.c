/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_lcore.h>

#include "probe_options.h"
#include "safem_mem.h"
#include "probe_prometheus.h"
#include "probe_sinks.h"
#include "safem_detect.h"
#include "safem_featdist.h"
#include "safem_flow.h"
#include "safem_spectrum.h"

static int probe_options_check_detect(const struct probe_config *cfg);

#define OPT(field) offsetof(struct probe_config, field)
#define DAY_MS (24ull * 3600 * 1000)

static const char *const clock_choices[] = {"auto", "packet", "tsc", NULL};
static const char *const sample_mode_choices[] = {"hash", "random", NULL};
static const char *const software_rss_choices[] = {"auto", "on", "off", NULL};
static const char *const syslog_facility_choices[] = {
	"user", "daemon", "local0", "local1", "local2", "local3", "local4", "local5", "local6",
	"local7", NULL};

/* Options a command line may repeat: the values add up, separated by spaces. */
static const struct {
	const char *name;
	size_t offset;
} repeatable_options[] = {
	{"ipfix", OPT(ipfix)},
	{"kafka-property", OPT(kafka_properties)},
};
#define REPEATABLE_COUNT (sizeof(repeatable_options) / sizeof(repeatable_options[0]))

/* Index of the repeatable option argv[*i] names (its value in *value, *i advanced), -1 if
 * none, -2 when its value is missing. */
static int
repeatable_option(int argc, char **argv, int *i, const char **value)
{
	const char *arg = argv[*i];
	unsigned int r;

	if (strncmp(arg, "--", 2) != 0)
		return -1;
	for (r = 0; r < REPEATABLE_COUNT; r++) {
		size_t n = strlen(repeatable_options[r].name);

		if (strncmp(arg + 2, repeatable_options[r].name, n) != 0)
			continue;
		if (arg[2 + n] == '=') {
			*value = arg + 3 + n;
			return (int)r;
		}
		if (arg[2 + n] != '\0')
			continue;
		if (*i + 1 >= argc)
			return -2;
		*value = argv[++*i];
		return (int)r;
	}
	return -1;
}

/* One table for the command line, the INI file and --help (safem_config.h). */
const struct safem_opt_def probe_options[] = {
	{"flows", "output", "flows", SAFEM_OPT_STRING, "", 0, 0, NULL, OPT(flows_path),
	 "write expired flow records as CSV to PATH", "PATH"},
	{"stats", "output", "stats", SAFEM_OPT_STRING, "", 0, 0, NULL, OPT(stats_path),
	 "write the final counters as one JSON object to PATH", "PATH"},
	{"flows-json", "output", "flows-json", SAFEM_OPT_STRING, "", 0, 0, NULL,
	 OPT(flows_json_path),
	 "write expired flow records as JSON lines (the CSV columns as keys) to PATH", "PATH"},
	{"rotate", "output", "rotate", SAFEM_OPT_DURATION, "0", 0, 7 * DAY_MS, NULL,
	 OPT(rotate_ms),
	 "rotate the line files (flows, flows-json, windows, alerts, features) every DURATION "
	 "of the probe's clock: PATH is renamed to PATH.YYYYmmddTHHMMSSZ (UTC start of the "
	 "interval) and reopened; 0: never (SIGHUP reopens them either way)",
	 NULL},
	{"rotate-size", "output", "rotate-size", SAFEM_OPT_UINT, "0", 0, 0, NULL,
	 OPT(rotate_bytes),
	 "also rotate a line file before it would pass this many bytes (e.g. 100M; lines are "
	 "never split); 0: no limit",
	 "BYTES"},
	{"inactive-timeout", "flow", "inactive-timeout", SAFEM_OPT_DURATION, "30s", 1, DAY_MS,
	 NULL, OPT(inactive_timeout_ms), "end a flow after this long without a packet", NULL},
	{"active-timeout", "flow", "active-timeout", SAFEM_OPT_DURATION, "300s", 1, 7 * DAY_MS,
	 NULL, OPT(active_timeout_ms), "end (and restart) a flow this long after its first packet",
	 NULL},
	{"flow-cache-size", "flow", "cache-size", SAFEM_OPT_UINT, "0", 0, 1u << 30, NULL,
	 OPT(flow_cache_size), "flow cache slots per worker (rounded up to a power of two, >= 16); "
	 "0: sized from the memory available", "N"},
	{"flow-key-vlan", "flow", "key-vlan", SAFEM_OPT_BOOL, "false", 0, 0, NULL,
	 OPT(flow_key_vlan), "make the outer VLAN ID part of the flow key", NULL},
	{"expiry-scan-lines", "flow", "scan-lines", SAFEM_OPT_UINT, "8", 1, 1u << 20, NULL,
	 OPT(expiry_scan_lines), "at most this many flow cache lines (16 flows each) checked "
	 "for expiry per worker loop", "N"},
	{"expiry-sweep", "flow", "sweep", SAFEM_OPT_DURATION, "1s", 1, 3600000, NULL,
	 OPT(expiry_sweep_ms), "check every flow for expiry once per this much flow time", NULL},
	{"clock", "probe", "clock", SAFEM_OPT_CHOICE, "auto", 0, 0, clock_choices, OPT(clock),
	 "time source: packet (capture timestamps), tsc, or auto (packet for net_pcap files)",
	 NULL},
	{"duration", "probe", "duration", SAFEM_OPT_DURATION, "0", 0, 0, NULL, OPT(duration_ms),
	 "stop after this much wall time (0: at end of input or on SIGINT/SIGTERM)", NULL},
	{"eof-idle", "probe", "eof-idle", SAFEM_OPT_DURATION, "100ms", 1, 60000, NULL,
	 OPT(eof_idle_ms), "replay: a queue silent this long has reached the end of its file",
	 NULL},
	{"software-rss", "probe", "software-rss", SAFEM_OPT_CHOICE, "auto", 0, 0,
	 software_rss_choices, OPT(software_rss),
	 "dispatch flows to workers by symmetric hash (auto: when ports lack RSS or queues)",
	 NULL},
	{"dispatch-ring-size", "probe", "dispatch-ring-size", SAFEM_OPT_UINT, "16384", 64,
	 1u << 24, NULL, OPT(dispatch_ring_size),
	 "software RSS: parsed packets queued per worker (power of two)", "N"},
	{"handoff-batches", "probe", "handoff-batches", SAFEM_OPT_UINT, "1024", 8, 1u << 20, NULL,
	 OPT(handoff_batches), "flow record batches (64 records) per worker hand-off (4 kept for window marks)", "N"},
	{"windows", "output", "windows", SAFEM_OPT_STRING, "", 0, 0, NULL, OPT(windows_path),
	 "write one JSON window report per line to PATH (enables window aggregation)", "PATH"},
	{"trees", "output", "trees", SAFEM_OPT_STRING, "", 0, 0, NULL, OPT(trees_dir),
	 "with --windows: write each window's merged trees to DIR/window-START_MS.tree "
	 "(input of safem-merge)", "DIR"},
	{"ipfix", "output", "ipfix", SAFEM_OPT_STRING, "", 0, 0, NULL, OPT(ipfix),
	 "export flow records as IPFIX to HOST:PORT[,proto=udp|tcp]; repeat the option (or "
	 "separate with spaces) for up to 4 collectors",
	 "TARGETS"},
	{"observation-domain", "output", "observation-domain", SAFEM_OPT_UINT, "1", 0,
	 UINT32_MAX, NULL, OPT(observation_domain), "IPFIX observation domain ID of this probe",
	 "N"},
	{"ipfix-mtu", "output", "ipfix-mtu", SAFEM_OPT_UINT, "1500", 576, 65535, NULL,
	 OPT(ipfix_mtu), "path MTU towards the collectors: IPFIX messages are packed up to it",
	 "BYTES"},
	{"ipfix-rate", "output", "ipfix-rate", SAFEM_OPT_UINT, "20M", 0, 100000000000ull, NULL,
	 OPT(ipfix_rate), "UDP collectors: send at most this many bits/s each (token bucket; "
	 "0: unpaced), so a stock collector's socket buffer absorbs bursts", "BITS"},
	{"ipfix-queue", "output", "ipfix-queue", SAFEM_OPT_UINT, "8M", 10000, 1000000000, NULL,
	 OPT(ipfix_queue), "IPFIX messages waiting to be sent, bytes per collector; records "
	 "beyond it are dropped and counted", "BYTES"},
	{"windows-syslog", "syslog", "windows", SAFEM_OPT_BOOL, "false", 0, 0, NULL,
	 OPT(windows_syslog), "with --windows: also send each window report to syslog", NULL},
	{"alerts-syslog", "syslog", "alerts", SAFEM_OPT_BOOL, "false", 0, 0, NULL,
	 OPT(alerts_syslog), "send each alert line to syslog (enables window analysis)", NULL},
	{"syslog", "syslog", "target", SAFEM_OPT_STRING, "unix:/dev/log", 0, 0, NULL,
	 OPT(syslog_target), "syslog destination: unix:PATH (local daemon) or HOST:PORT (UDP, "
	 "RFC 5424)", "TARGET"},
	{"syslog-facility", "syslog", "facility", SAFEM_OPT_CHOICE, "local0", 0, 0,
	 syslog_facility_choices, OPT(syslog_facility), "syslog facility of the messages", NULL},
	{"syslog-rate", "syslog", "rate", SAFEM_OPT_UINT, "10M", 0, 100000000000ull, NULL,
	 OPT(syslog_rate), "UDP syslog: send at most this many bits/s (token bucket, 4 MiB "
	 "queue behind it; 0: unpaced), so a collector's socket buffer absorbs bursts of "
	 "alerts and reports", "BITS"},
	{"syslog-ident", "syslog", "ident", SAFEM_OPT_STRING, "safem-probe", 0, 0, NULL,
	 OPT(syslog_ident), "syslog tag (APP-NAME)", "NAME"},
	{"kafka-brokers", "kafka", "brokers", SAFEM_OPT_STRING, "", 0, 0, NULL, OPT(kafka_brokers),
	 "Kafka bootstrap servers for the --kafka-*-topic streams", "HOST:PORT[,..]"},
	{"kafka-windows-topic", "kafka", "windows-topic", SAFEM_OPT_STRING, "", 0, 0, NULL,
	 OPT(kafka_windows_topic), "with --windows: one message per window report to TOPIC",
	 "TOPIC"},
	{"kafka-alerts-topic", "kafka", "alerts-topic", SAFEM_OPT_STRING, "", 0, 0, NULL,
	 OPT(kafka_alerts_topic), "one message per alert to TOPIC (enables window analysis)",
	 "TOPIC"},
	{"kafka-flows-topic", "kafka", "flows-topic", SAFEM_OPT_STRING, "", 0, 0, NULL,
	 OPT(kafka_flows_topic), "one JSON message per flow record (the CSV columns) to TOPIC",
	 "TOPIC"},
	{"kafka-property", "kafka", "properties", SAFEM_OPT_STRING, "", 0, 0, NULL,
	 OPT(kafka_properties), "librdkafka producer setting; repeat the option (or separate "
	 "with spaces) for several", "KEY=VALUE"},
	{"kafka-queue-messages", "kafka", "queue-messages", SAFEM_OPT_UINT, "100000", 1, 10000000,
	 NULL, OPT(kafka_queue_messages),
	 "messages waiting for the brokers at most; beyond, lines are dropped and counted", "N"},
	{"kafka-flush-timeout", "kafka", "flush-timeout", SAFEM_OPT_DURATION, "5s", 0, 600000,
	 NULL, OPT(kafka_flush_timeout_ms),
	 "at exit, wait this long for queued messages (the rest is counted undelivered)", NULL},
	{"prometheus", "prometheus", "port", SAFEM_OPT_UINT, "0", 0, 65535, NULL,
	 OPT(prometheus_port), "serve GET /metrics (Prometheus text format) on this TCP port "
	 "(0: off)", "PORT"},
	{"prometheus-address", "prometheus", "address", SAFEM_OPT_STRING, "127.0.0.1", 0, 0, NULL,
	 OPT(prometheus_address), "address the --prometheus endpoint binds to", "ADDR"},
	{"window", "window", "length", SAFEM_OPT_DURATION, "1s", 10, 24 * 3600 * 1000ull, NULL,
	 OPT(window_ms), "window length beta (SAFEM temporal aggregation)", NULL},
	{"slide", "window", "slide", SAFEM_OPT_DURATION, "0", 0, 24 * 3600 * 1000ull, NULL,
	 OPT(slide_ms), "report every this long over the last window (0: tumbling windows)", NULL},
	{"window-flow-budget", "window", "flow-budget", SAFEM_OPT_UINT, "32768", 0, 1u << 30, NULL,
	 OPT(window_flow_budget),
	 "surge guard: flows per worker and window added to the trees and feature tables before "
	 "they are sampled (volumes stay exact; 0: never sample)", "N"},
	{"time-gap", "window", "time-gap", SAFEM_OPT_DURATION, "0", 0, 366 * 24 * 3600 * 1000ull,
	 NULL, OPT(time_gap_ms),
	 "a clock jump longer than this skips the empty windows it spans, with one marker "
	 "(0: 5 windows)", NULL},
	{"alpha", "window", "alpha", SAFEM_OPT_STRING, "0.01", 0, 0, NULL, OPT(alpha),
	 "prune prefixes below this share into their parent (SAFEM alpha, 0 < alpha < 1)",
	 "SHARE"},
	{"log-base", "window", "log-base", SAFEM_OPT_STRING, "2", 0, 0, NULL, OPT(log_base),
	 "logarithm base of the entropies (2, e or 10...)", "BASE"},
	{"tree-nodes", "window", "tree-nodes", SAFEM_OPT_UINT, "65536", 64, 1u << 24, NULL,
	 OPT(tree_nodes), "prefix tree node bound per worker and tree (Aguri reclaim beyond)",
	 "N"},
	{"home", "detect", "home", SAFEM_OPT_STRING, "", 0, 0, NULL, OPT(home),
	 "home prefixes, comma-separated (10.0.0.0/8,2001:db8::/32): feature distributions and "
	 "detection per direction (in/out/internal; floods between outside hosts: all); empty: "
	 "all traffic as one", "CIDR[,CIDR]"},
	{"feature-values", "detect", "feature-values", SAFEM_OPT_UINT, "8192", 0, 1u << 24, NULL,
	 OPT(feature_values),
	 "distinct values kept exactly per feature distribution and worker pane (the merged "
	 "window keeps 4x); beyond, a counted remainder (docs/detection.md); 0: no spectrum", "N"},
	{"profile-flows", "detect", "profile-flows", SAFEM_OPT_UINT, "32768", 0, 1u << 24, NULL,
	 OPT(profile_flows),
	 "behaviour profiling (clusters in the window report): flow contributions logged per "
	 "worker pane, 64 bytes each (docs/detection.md); 0: no clusters", "N"},
	{"behaviour-alerts", "detect", "behaviour-alerts", SAFEM_OPT_BOOL, "true", 0, 0, NULL,
	 OPT(behaviour_alerts),
	 "with --alerts: behaviour profile records in the incident stream (scan_exploit, "
	 "behaviour_change, explained_by; docs/detection.md); off: the detector's only", NULL},
	{"scan-test", "detect", "scan-test", SAFEM_OPT_BOOL, "true", 0, 0, NULL, OPT(scan_test),
	 "sequential scan test (Threshold Random Walk over each source's first TCP connection "
	 "attempts and pings, and apart over its first UDP datagrams; unsampled windows; needs "
	 "--profile-flows; docs/detection.md): "
	 "alerts scanners and worms whose first contacts mostly fail; with it the guessing "
	 "test: clients repeating one short exchange with a server port (brute_force), and on "
	 "sampled windows the sampled fan-out test: sources whose distinct sampled targets "
	 "pass their own peak (scans, worms); off: all three", NULL},
	{"victim-test", "detect", "victim-test", SAFEM_OPT_BOOL, "true", 0, 0, NULL,
	 OPT(victim_test),
	 "destination-side sequential test (Threshold Random Walk per destination over first "
	 "arrivals from new sources: responses it never asked for, SYNs that never complete; "
	 "unsampled windows; needs --profile-flows; docs/detection.md): alerts low-rate "
	 "reflections and spoofed floods toward one victim", NULL},
	{"top", "detect", "top", SAFEM_OPT_UINT, "10", 0, 1000, NULL, OPT(top_hosts),
	 "Top-N host view in the window report (hosts by flows, packets and bytes; 0: none)",
	 "N"},
	{"q", "detect", "q", SAFEM_OPT_STRING, "-2,-1,-0.5,0,0.5,1,2", 0, 0, NULL, OPT(q),
	 "Tsallis q values of the entropy spectrum (up to 16, each in [-10, 10])", "Q[,Q]"},
	{"sample", "detect", "sample", SAFEM_OPT_UINT, "1", 1, 1u << 20, NULL, OPT(sample_rate),
	 "keep 1 packet in N on the workers (volumes scaled back by N; 1: every packet)", "N"},
	{"sample-mode", "detect", "sample-mode", SAFEM_OPT_CHOICE, "hash", 0, 0,
	 sample_mode_choices, OPT(sample_mode),
	 "packet selection: hash (deterministic, of flow, time and length) or random", NULL},
	{"alerts", "output", "alerts", SAFEM_OPT_STRING, "", 0, 0, NULL, OPT(alerts_path),
	 "write alerts as JSON lines to PATH (enables window analysis)", "PATH"},
	{"baseline", "detect", "baseline", SAFEM_OPT_STRING, "", 0, 0, NULL, OPT(baseline_path),
	 "compare windows with this trained profile (empty: moving baseline)", "PROFILE"},
	{"train-baseline", "detect", "train-baseline", SAFEM_OPT_STRING, "", 0, 0, NULL,
	 OPT(train_baseline_path),
	 "learn the normal bands from this (clean) traffic and write them to PROFILE at the end",
	 "PROFILE"},
	{"baseline-per-hour", "detect", "baseline-per-hour", SAFEM_OPT_BOOL, "false", 0, 0, NULL,
	 OPT(baseline_per_hour), "--train-baseline: also keep bands per hour of day (UTC)", NULL},
	{"moving-windows", "detect", "moving-windows", SAFEM_OPT_UINT, "60", 2, 100000, NULL,
	 OPT(moving_windows), "moving baseline: the last N normal windows", "N"},
	{"warmup", "detect", "warmup", SAFEM_OPT_UINT, "0", 0, 1u << 24, NULL, OPT(warmup_windows),
	 "windows without alerts at start (0: learnt with a moving baseline: --moving-windows, "
	 "then until the link's clean scores settle, at most 4x; none with a trained one)", "N"},
	{"band-margin", "detect", "band-margin", SAFEM_OPT_STRING, "", 0, 0, NULL, OPT(band_margin),
	 "tolerance outside a band, in band widths (empty: 0.5; docs/detection.md)", "X"},
	{"alert-score", "detect", "alert-score", SAFEM_OPT_STRING, "", 0, 0, NULL, OPT(alert_score),
	 "score from which a window is anomalous (empty: 6; docs/detection.md)", "X"},
	{"incident-gap", "detect", "incident-gap", SAFEM_OPT_UINT, "1", 1, 1u << 20, NULL,
	 OPT(incident_gap), "normal windows that end an incident", "N"},
	{"features", "output", "features", SAFEM_OPT_STRING, "", 0, 0, NULL, OPT(features_path),
	 "write one feature vector per window (libsvm text, label = the verdict's class, "
	 "docs/classifier.md) to PATH (enables window analysis)", "PATH"},
	{"model", "detect", "model", SAFEM_OPT_STRING, "", 0, 0, NULL, OPT(model_path),
	 "SVM model classifying every window with the spectrum detector (empty: the shipped "
	 "model; none: spectrum only; docs/detection.md)", "FILE|none"},
	{"svm-min-probability", "detect", "svm-min-probability", SAFEM_OPT_STRING, "", 0, 0,
	 NULL, OPT(svm_min_probability),
	 "SVM probability from which its class decides a window (empty: 0.8)", "P"},
	{"svm-alone-min-precision", "detect", "svm-alone-min-precision", SAFEM_OPT_STRING, "", 0,
	 0, NULL, OPT(svm_alone_min_precision),
	 "lower 95 % Wilson bound of a class's held-out precision from which an SVM verdict "
	 "alone (no deviation) alerts (empty: 0.9; docs/detection.md)", "P"},
	{"mbufs", "port", "mbufs", SAFEM_OPT_UINT, "16383", 1024, 1ull << 32, NULL, OPT(mbufs),
	 "mbufs in each port's mempool (infinite_rx needs one per packet of the file)", "N"},
	{"mbuf-data-room", "port", "mbuf-data-room", SAFEM_OPT_UINT, "2176", 192, 65535, NULL,
	 OPT(mbuf_data_room), "mbuf data room in bytes, including the 128-byte headroom", "BYTES"},
	{"rx-descriptors", "port", "rx-descriptors", SAFEM_OPT_UINT, "1024", 32, 65536, NULL,
	 OPT(rx_descriptors), "RX descriptors per queue", "N"},
	{"rx-burst", "port", "rx-burst", SAFEM_OPT_UINT, "64", 1, PROBE_MAX_RX_BURST, NULL,
	 OPT(rx_burst), "packets per rte_eth_rx_burst call", "N"},
	{"rss-key", "port", "rss-key", SAFEM_OPT_STRING, "", 0, 0, NULL, OPT(rss_key),
	 "RSS hash key in hex (empty: symmetric 0x6d5a repeated, sized for the NIC)", "HEX"},
	{"eal-args", "eal", "args", SAFEM_OPT_STRING, "", 0, 0, NULL, OPT(eal_args),
	 "EAL arguments used when none are given before \"--\"", "ARGS"},
	{"setup-hugepages-2m", "setup", "hugepages-2m", SAFEM_OPT_UINT, "0", 0, 1u << 24, NULL,
	 OPT(setup_hugepages_2m), "2 MiB hugepages to reserve (scripts/setup-hugepages)", "N"},
	{"setup-hugepages-1g", "setup", "hugepages-1g", SAFEM_OPT_UINT, "0", 0, 4096, NULL,
	 OPT(setup_hugepages_1g), "1 GiB hugepages to reserve (scripts/setup-hugepages)", "N"},
	{"setup-pci", "setup", "pci", SAFEM_OPT_STRING, "", 0, 0, NULL, OPT(setup_pci),
	 "PCI addresses of the capture ports (scripts/bind-ports)", "ADDR[,ADDR]"},
	{"setup-kernel-driver", "setup", "kernel-driver", SAFEM_OPT_STRING, "", 0, 0, NULL,
	 OPT(setup_kernel_driver), "driver the ports are bound to (vfio-pci, mlx5_core...)",
	 "NAME"},
	{"setup-description", "setup", "description", SAFEM_OPT_STRING, "", 0, 0, NULL,
	 OPT(setup_description), "free text describing the profile", "TEXT"},
	{NULL, NULL, NULL, 0, NULL, 0, 0, NULL, 0, NULL, NULL},
};

static void
print_usage(void)
{
	printf("Usage: safem-probe [EAL options] -- [probe options]\n"
	       "\n"
	       "Receives packets on DPDK ports (or replays captures through net_pcap), builds\n"
	       "unidirectional flows on the worker lcores and writes them out.\n"
	       "Example: safem-probe --no-huge --no-pci -l 0-1 --vdev=net_pcap0,rx_pcap=in.pcap \\\n"
	       "           -- --flows flows.csv --stats stats.json\n"
	       "\n"
	       "Probe options (also as INI [section] key = value in --config FILE):\n"
	       "  --config FILE   read options from an INI file; the command line wins\n"
	       "  --check-config  validate the options, print the effective INI and exit\n"
	       "  --help          this text\n");
	safem_config_print_help(stdout, probe_options);
	printf("\nDurations: 30 (seconds), 250ms, 1.5s, 5m, 1h. Counts accept k/M/G and 0x.\n");
}

int
probe_options_parse(struct probe_config *cfg, int argc, char **argv, bool *check_only)
{
	char err[1024];
	const char *config_path = NULL;
	char repeated[REPEATABLE_COUNT][SAFEM_OPT_STRING_MAX];
	char *rest[argc + 1];
	const char *v;
	int nrest = 0, i, r;

	*check_only = false;
	memset(repeated, 0, sizeof(repeated));
	if (safem_config_set_defaults(probe_options, cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "safem-probe: internal error in option defaults: %s\n", err);
		return -EINVAL;
	}
	/* Options that are not settings are taken out before the table sees argv. */
	rest[nrest++] = argv[0];
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			print_usage();
			return 1;
		} else if (strcmp(argv[i], "--check-config") == 0) {
			*check_only = true;
		} else if (strcmp(argv[i], "--config") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "safem-probe: option '--config' needs a value\n");
				return -EINVAL;
			}
			config_path = argv[++i];
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			config_path = argv[i] + 9;
		} else if ((r = repeatable_option(argc, argv, &i, &v)) != -1) {
			char *acc = repeated[r < 0 ? 0 : r];

			if (r == -2) {
				fprintf(stderr, "safem-probe: option '%s' needs a value\n", argv[i]);
				return -EINVAL;
			}
			if (strlen(acc) + strlen(v) + 2 > SAFEM_OPT_STRING_MAX) {
				fprintf(stderr, "safem-probe: --%s: too many values\n",
					repeatable_options[r].name);
				return -EINVAL;
			}
			if (acc[0] != '\0')
				strcat(acc, " ");
			strcat(acc, v);
		} else {
			rest[nrest++] = argv[i];
		}
	}
	rest[nrest] = NULL;
	if (config_path != NULL &&
	    safem_config_load_file(probe_options, cfg, config_path, err, sizeof(err)) != 0) {
		fprintf(stderr, "safem-probe: %s\n", err);
		return -EINVAL;
	}
	if (safem_config_parse_args(probe_options, cfg, nrest, rest, NULL, err, sizeof(err)) != 0) {
		fprintf(stderr, "safem-probe: %s (see --help)\n", err);
		return -EINVAL;
	}
	/* Repeated on the command line: the command line wins over the file as a whole. */
	for (r = 0; r < (int)REPEATABLE_COUNT; r++)
		if (repeated[r][0] != '\0')
			snprintf((char *)cfg + repeatable_options[r].offset, SAFEM_OPT_STRING_MAX, "%s",
				 repeated[r]);
	if (cfg->dispatch_ring_size & (cfg->dispatch_ring_size - 1)) {
		fprintf(stderr, "safem-probe: --dispatch-ring-size %llu: must be a power of two\n",
			(unsigned long long)cfg->dispatch_ring_size);
		return -EINVAL;
	}
	if (cfg->flow_cache_size != 0 && cfg->flow_cache_size < SAFEM_FLOW_LINE_SLOTS) {
		fprintf(stderr, "safem-probe: --flow-cache-size %llu: must be 0 (sized from memory) "
				"or at least %d\n",
			(unsigned long long)cfg->flow_cache_size, SAFEM_FLOW_LINE_SLOTS);
		return -EINVAL;
	}
	if (cfg->inactive_timeout_ms > cfg->active_timeout_ms) {
		fprintf(stderr,
			"safem-probe: --inactive-timeout (%llu ms) must not exceed --active-timeout "
			"(%llu ms)\n",
			(unsigned long long)cfg->inactive_timeout_ms,
			(unsigned long long)cfg->active_timeout_ms);
		return -EINVAL;
	}
	uint8_t key[PROBE_RSS_KEY_MAX];
	if (probe_options_rss_key(cfg, key) < 0)
		return -EINVAL;
	if (!(probe_options_alpha(cfg) > 0 && probe_options_alpha(cfg) < 1)) {
		fprintf(stderr, "safem-probe: --alpha '%s': expected a share between 0 and 1 "
				"(e.g. 0.01)\n", cfg->alpha);
		return -EINVAL;
	}
	if (!(probe_options_log_base(cfg) > 1)) {
		fprintf(stderr, "safem-probe: --log-base '%s': expected a number > 1 or 'e'\n",
			cfg->log_base);
		return -EINVAL;
	}
	if (cfg->rotate_ms % 1000 != 0) {
		fprintf(stderr, "safem-probe: --rotate %llu ms: must be whole seconds (the rotated "
				"names have a resolution of one second)\n",
			(unsigned long long)cfg->rotate_ms);
		return -EINVAL;
	}
	if (cfg->trees_dir[0] != '\0' && cfg->windows_path[0] == '\0') {
		fprintf(stderr, "safem-probe: --trees needs --windows\n");
		return -EINVAL;
	}
	if (probe_sinks_check_options(cfg) != 0 || probe_prometheus_check_options(cfg) != 0 ||
	    probe_options_check_detect(cfg) != 0)
		return -EINVAL;
	if (cfg->slide_ms == 0)
		cfg->slide_ms = cfg->window_ms;
	if (cfg->time_gap_ms == 0)
		cfg->time_gap_ms = 5 * cfg->window_ms;
	if (cfg->slide_ms > cfg->window_ms || cfg->window_ms % cfg->slide_ms != 0) {
		fprintf(stderr,
			"safem-probe: --slide (%llu ms) must divide --window (%llu ms)\n",
			(unsigned long long)cfg->slide_ms, (unsigned long long)cfg->window_ms);
		return -EINVAL;
	}
	return 0;
}

static double parse_positive_double(const char *s);

bool
probe_options_windows_enabled(const struct probe_config *cfg)
{
	return cfg->windows_path[0] != '\0' || probe_options_alerts_enabled(cfg) ||
	       cfg->train_baseline_path[0] != '\0' || cfg->features_path[0] != '\0';
}

bool
probe_options_model_off(const struct probe_config *cfg)
{
	return strcmp(cfg->model_path, "none") == 0;
}

const char *
probe_options_default_model(void)
{
#ifdef SAFEM_INSTALLED_MODEL
	if (access(SAFEM_INSTALLED_MODEL, R_OK) == 0)
		return SAFEM_INSTALLED_MODEL;
#endif
#ifdef SAFEM_SOURCE_MODEL
	if (access(SAFEM_SOURCE_MODEL, R_OK) == 0)
		return SAFEM_SOURCE_MODEL;
#endif
	return NULL;
}

bool
probe_options_alerts_enabled(const struct probe_config *cfg)
{
	return cfg->alerts_path[0] != '\0' || cfg->alerts_syslog ||
	       cfg->kafka_alerts_topic[0] != '\0';
}

/* Split a comma-separated list in place; calls fn on each trimmed item. */
static int
for_each_item(const char *list, int (*fn)(const char *item, void *ctx), void *ctx)
{
	char buf[SAFEM_OPT_STRING_MAX], *save = NULL, *item;
	int ret;

	snprintf(buf, sizeof(buf), "%s", list);
	for (item = strtok_r(buf, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
		char *end;

		while (*item == ' ' || *item == '\t')
			item++;
		end = item + strlen(item);
		while (end > item && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		ret = fn(item, ctx);
		if (ret != 0)
			return ret;
	}
	return 0;
}

static int
home_item(const char *item, void *ctx)
{
	int ret = safem_home_add(ctx, item);

	if (ret == -ENOSPC)
		fprintf(stderr, "safem-probe: --home: more than %d prefixes\n",
			SAFEM_HOME_PREFIXES_MAX);
	else if (ret != 0)
		fprintf(stderr,
			"safem-probe: --home '%s': expected an address/length with zero host bits "
			"(10.0.0.0/8, 2001:db8::/32)\n",
			item);
	return ret;
}

int
probe_options_home(const struct probe_config *cfg, struct safem_home *h)
{
	memset(h, 0, sizeof(*h));
	return for_each_item(cfg->home, home_item, h);
}

struct q_list {
	double *q;
	unsigned int n, max;
	bool quiet;
};

static int
q_item(const char *item, void *ctx)
{
	struct q_list *l = ctx;
	char *end;
	double v;

	errno = 0;
	v = strtod(item, &end);
	if (errno != 0 || end == item || *end != '\0' || !(v >= -10 && v <= 10)) {
		if (!l->quiet)
			fprintf(stderr, "safem-probe: --q '%s': expected numbers in [-10, 10]\n",
				item);
		return -EINVAL;
	}
	if (l->n == l->max) {
		if (!l->quiet)
			fprintf(stderr, "safem-probe: --q: more than %u values\n", l->max);
		return -EINVAL;
	}
	l->q[l->n++] = v;
	return 0;
}

unsigned int
probe_options_q(const struct probe_config *cfg, double *q, unsigned int max)
{
	struct q_list l = {q, 0, max, true};

	return for_each_item(cfg->q, q_item, &l) == 0 ? l.n : 0;
}

static double
optional_double(const char *s, double fallback)
{
	return s[0] == '\0' ? fallback : parse_positive_double(s);
}

double
probe_options_band_margin(const struct probe_config *cfg)
{
	return optional_double(cfg->band_margin, SAFEM_DETECT_BAND_MARGIN_DEFAULT);
}

double
probe_options_alert_score(const struct probe_config *cfg)
{
	return optional_double(cfg->alert_score, SAFEM_DETECT_ALERT_SCORE_DEFAULT);
}

double
probe_options_svm_min_probability(const struct probe_config *cfg)
{
	return optional_double(cfg->svm_min_probability,
			       SAFEM_DETECT_SVM_MIN_PROBABILITY_DEFAULT);
}

double
probe_options_svm_alone_min_precision(const struct probe_config *cfg)
{
	return optional_double(cfg->svm_alone_min_precision,
			       SAFEM_DETECT_SVM_ALONE_MIN_PRECISION_DEFAULT);
}

/* A probability or precision option: a number in (0, 1]. */
static int
check_unit_interval(const char *name, const char *text, double value)
{
	if (value > 0 && value <= 1)
		return 0;
	fprintf(stderr, "safem-probe: --%s '%s': expected a number in (0, 1]\n", name, text);
	return -EINVAL;
}

static int
probe_options_check_detect(const struct probe_config *cfg)
{
	double q[SAFEM_SPECTRUM_Q_MAX];
	struct q_list l = {q, 0, SAFEM_SPECTRUM_Q_MAX, false};
	struct safem_home home;

	if (probe_options_home(cfg, &home) != 0)
		return -EINVAL;
	if (for_each_item(cfg->q, q_item, &l) != 0)
		return -EINVAL;
	if (l.n == 0) {
		fprintf(stderr, "safem-probe: --q: no value\n");
		return -EINVAL;
	}
	if (!(probe_options_band_margin(cfg) >= 0)) {
		fprintf(stderr, "safem-probe: --band-margin '%s': expected a number >= 0\n",
			cfg->band_margin);
		return -EINVAL;
	}
	if (!(probe_options_alert_score(cfg) > 0)) {
		fprintf(stderr, "safem-probe: --alert-score '%s': expected a number > 0\n",
			cfg->alert_score);
		return -EINVAL;
	}
	if (check_unit_interval("svm-min-probability", cfg->svm_min_probability,
				probe_options_svm_min_probability(cfg)) != 0)
		return -EINVAL;
	/* 1 is never reached by a Wilson bound, so 1 means "never alone" */
	if (check_unit_interval("svm-alone-min-precision", cfg->svm_alone_min_precision,
				probe_options_svm_alone_min_precision(cfg)) != 0)
		return -EINVAL;
	if (cfg->baseline_path[0] != '\0' && cfg->train_baseline_path[0] != '\0') {
		fprintf(stderr, "safem-probe: --baseline and --train-baseline exclude each other\n");
		return -EINVAL;
	}
	if (cfg->feature_values == 0 && (probe_options_alerts_enabled(cfg) ||
					 cfg->baseline_path[0] != '\0' ||
					 cfg->train_baseline_path[0] != '\0' ||
					 cfg->features_path[0] != '\0')) {
		fprintf(stderr, "safem-probe: alerts, --baseline, --train-baseline and --features "
				"need the feature distributions (--feature-values > 0)\n");
		return -EINVAL;
	}
	if (cfg->feature_values != 0 && cfg->feature_values < 16) {
		fprintf(stderr, "safem-probe: --feature-values %llu: at least 16 (or 0: off)\n",
			(unsigned long long)cfg->feature_values);
		return -EINVAL;
	}
	return 0;
}

static double
parse_positive_double(const char *s)
{
	char *end;
	double v;

	if (strcmp(s, "e") == 0)
		return M_E;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0')
		return -1;
	return v;
}

double
probe_options_alpha(const struct probe_config *cfg)
{
	return parse_positive_double(cfg->alpha);
}

double
probe_options_log_base(const struct probe_config *cfg)
{
	return parse_positive_double(cfg->log_base);
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
probe_options_rss_key(const struct probe_config *cfg, uint8_t key[PROBE_RSS_KEY_MAX])
{
	const char *s = cfg->rss_key;
	int len = 0;

	if (strncmp(s, "0x", 2) == 0)
		s += 2;
	while (*s != '\0') {
		int hi, lo;

		if (*s == ':' || *s == ' ') {
			s++;
			continue;
		}
		hi = hex_value(s[0]);
		lo = hi < 0 ? -1 : hex_value(s[1]);
		if (hi < 0 || lo < 0 || len == PROBE_RSS_KEY_MAX) {
			fprintf(stderr,
				"safem-probe: --rss-key '%s': expected up to %d bytes as hex "
				"digits\n",
				cfg->rss_key, PROBE_RSS_KEY_MAX);
			return -EINVAL;
		}
		key[len++] = (uint8_t)(hi << 4 | lo);
		s += 2;
	}
	if (len != 0 && len != 40 && len != 52) {
		fprintf(stderr, "safem-probe: --rss-key: %d bytes given; NICs take 40 or 52\n",
			len);
		return -EINVAL;
	}
	return len;
}

/*
 * The default flow cache: a quarter of the memory the tables can come from,
 * shared by the workers. The rest is left to mbufs, rings, window trees and
 * the rest of the machine. The floor keeps a starved probe usable (create
 * then fails with a clear message if even that does not fit); the cap keeps
 * the O(capacity) passes (flush, window readout) and start-up zeroing short.
 */
#define PROBE_FLOW_CACHE_MEMORY_SHARE 4
#define PROBE_FLOW_CACHE_AUTO_MIN (UINT32_C(1) << 16)
#define PROBE_FLOW_CACHE_AUTO_MAX (UINT32_C(1) << 22)

void
probe_options_size_flow_cache(struct probe_config *cfg, unsigned int workers,
			      bool window_accounting)
{
	int socket = (int)rte_lcore_to_socket_id(rte_get_next_lcore(-1, 1, 0));
	uint64_t available, per_worker;
	uint32_t slots;

	if (cfg->flow_cache_size != 0)
		return;
	available = safem_mem_table_available(socket);
	per_worker = available / PROBE_FLOW_CACHE_MEMORY_SHARE / (workers > 0 ? workers : 1);
	slots = safem_flow_cache_capacity_for_bytes(per_worker, window_accounting);
	slots = RTE_MIN(RTE_MAX(slots, PROBE_FLOW_CACHE_AUTO_MIN), PROBE_FLOW_CACHE_AUTO_MAX);
	cfg->flow_cache_size = slots;
	printf("safem-probe: flow cache %u slots per worker (%llu MiB each), sized from %llu MiB "
	       "available on socket %d; --flow-cache-size sets it\n",
	       slots,
	       (unsigned long long)(((uint64_t)slots *
				     (safem_flow_cache_bytes_per_flow() +
				      (window_accounting ? SAFEM_FLOW_WINDOW_BYTES_PER_FLOW : 0))) >>
				    20),
	       (unsigned long long)(available >> 20), socket);
}
