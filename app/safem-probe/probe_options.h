/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef PROBE_OPTIONS_H
#define PROBE_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "safem_config.h"

/** Everything safem-probe can be told, from defaults, --config FILE and the command line. */
struct probe_config {
	/* [output] */
	char flows_path[SAFEM_OPT_STRING_MAX];
	char stats_path[SAFEM_OPT_STRING_MAX];
	uint64_t rotate_ms; /**< rotation interval of the line files (0: none) */
	uint64_t rotate_bytes; /**< size limit of a live line file (0: none) */
	char flows_json_path[SAFEM_OPT_STRING_MAX];
	/* [flow] */
	uint64_t inactive_timeout_ms;
	uint64_t active_timeout_ms;
	uint64_t flow_cache_size;
	bool flow_key_vlan;
	uint64_t expiry_scan_lines;
	uint64_t expiry_sweep_ms;
	/* [probe] */
	char clock[SAFEM_OPT_STRING_MAX];
	uint64_t duration_ms;
	uint64_t eof_idle_ms;
	char software_rss[SAFEM_OPT_STRING_MAX];
	uint64_t dispatch_ring_size;
	uint64_t handoff_batches;
	/* [window] */
	char windows_path[SAFEM_OPT_STRING_MAX];
	char trees_dir[SAFEM_OPT_STRING_MAX];
	char ipfix[SAFEM_OPT_STRING_MAX];
	uint64_t observation_domain;
	uint64_t ipfix_mtu;
	uint64_t ipfix_rate;  /* bits/s per UDP collector, 0: unpaced */
	uint64_t syslog_rate; /* bits/s to a UDP syslog target, 0: unpaced */
	uint64_t ipfix_queue; /* bytes queued per collector */
	uint64_t window_ms;
	uint64_t slide_ms;
	uint64_t time_gap_ms;
	uint64_t window_flow_budget;
	char alpha[SAFEM_OPT_STRING_MAX];
	char log_base[SAFEM_OPT_STRING_MAX];
	uint64_t tree_nodes;
	/* [detect] */
	char home[SAFEM_OPT_STRING_MAX];
	uint64_t feature_values;
	uint64_t profile_flows; /* behaviour profiling: flows logged per worker pane (0: off) */
	uint64_t top_hosts;     /* Top-N host view in the window report */
	bool scan_test;         /* sequential scan test (lib/seqscan) */
	bool victim_test;       /* destination-side sequential test (lib/victim) */
	bool behaviour_alerts;  /* profile records (scan_exploit, behaviour_change, explained_by) */
	char q[SAFEM_OPT_STRING_MAX];
	uint64_t sample_rate;
	char sample_mode[SAFEM_OPT_STRING_MAX];
	char alerts_path[SAFEM_OPT_STRING_MAX];
	char baseline_path[SAFEM_OPT_STRING_MAX];
	char train_baseline_path[SAFEM_OPT_STRING_MAX];
	bool baseline_per_hour;
	uint64_t moving_windows;
	uint64_t warmup_windows;
	char band_margin[SAFEM_OPT_STRING_MAX];
	char alert_score[SAFEM_OPT_STRING_MAX];
	uint64_t incident_gap;
	/* [syslog], [kafka]: line outputs of the JSON-line streams (probe_sinks.c) */
	bool windows_syslog;
	bool alerts_syslog;
	char syslog_target[SAFEM_OPT_STRING_MAX];
	char syslog_facility[SAFEM_OPT_STRING_MAX];
	char syslog_ident[SAFEM_OPT_STRING_MAX];
	char kafka_brokers[SAFEM_OPT_STRING_MAX];
	char kafka_windows_topic[SAFEM_OPT_STRING_MAX];
	char kafka_alerts_topic[SAFEM_OPT_STRING_MAX];
	char kafka_flows_topic[SAFEM_OPT_STRING_MAX];
	char kafka_properties[SAFEM_OPT_STRING_MAX]; /**< "k=v k=v" */
	uint64_t kafka_queue_messages;
	uint64_t kafka_flush_timeout_ms;
	/* [prometheus] (probe_prometheus.c) */
	uint64_t prometheus_port;
	char prometheus_address[SAFEM_OPT_STRING_MAX];
	char features_path[SAFEM_OPT_STRING_MAX];
	char model_path[SAFEM_OPT_STRING_MAX];
	char svm_min_probability[SAFEM_OPT_STRING_MAX];
	char svm_alone_min_precision[SAFEM_OPT_STRING_MAX];
	/* [port] */
	uint64_t mbufs;
	uint64_t mbuf_data_room;
	uint64_t rx_descriptors;
	uint64_t rx_burst;
	char rss_key[SAFEM_OPT_STRING_MAX];
	/* [eal] */
	char eal_args[SAFEM_OPT_STRING_MAX];
	/* [setup]: validated here, acted on by scripts/setup-hugepages and scripts/bind-ports */
	uint64_t setup_hugepages_2m;
	uint64_t setup_hugepages_1g;
	char setup_pci[SAFEM_OPT_STRING_MAX];
	char setup_kernel_driver[SAFEM_OPT_STRING_MAX];
	char setup_description[SAFEM_OPT_STRING_MAX];
};

/** Largest RX burst the worker's arrays are sized for. */
#define PROBE_MAX_RX_BURST 128
/** Longest RSS key we accept (i40e/ice use 52 bytes, ixgbe/mlx5 40). */
#define PROBE_RSS_KEY_MAX 52

extern const struct safem_opt_def probe_options[];

/**
 * Parse the probe's own arguments (those after "--"; argv[0] is a program
 * name). Handles --help (prints, returns 1), --config FILE and
 * --check-config (sets *check_only). Returns 0 to go on, 1 to exit 0,
 * -EINVAL after printing a message naming what is wrong (exit 2).
 */
int probe_options_parse(struct probe_config *cfg, int argc, char **argv, bool *check_only);

/**
 * The RSS key as bytes. Returns its length (0 when the option is empty:
 * use the default symmetric key), or -EINVAL with a message.
 */
int probe_options_rss_key(const struct probe_config *cfg, uint8_t key[PROBE_RSS_KEY_MAX]);

/** Window analysis runs: --windows, alerts or --train-baseline. */
bool probe_options_windows_enabled(const struct probe_config *cfg);
/** Alerts go somewhere: --alerts, --alerts-syslog or --kafka-alerts-topic. */
bool probe_options_alerts_enabled(const struct probe_config *cfg);

struct safem_home;
/** --home into h (validated by probe_options_parse). */
int probe_options_home(const struct probe_config *cfg, struct safem_home *h);
/** --q as numbers; returns how many (validated by probe_options_parse). */
unsigned int probe_options_q(const struct probe_config *cfg, double *q, unsigned int max);
/** --band-margin and --alert-score (validated; the library's default when empty). */
double probe_options_band_margin(const struct probe_config *cfg);
double probe_options_alert_score(const struct probe_config *cfg);

/** --svm-min-probability (validated; the library's default when empty). */
double probe_options_svm_min_probability(const struct probe_config *cfg);
double probe_options_svm_alone_min_precision(const struct probe_config *cfg);

/** --model: "none" turns the SVM off; empty: the shipped model. */
bool probe_options_model_off(const struct probe_config *cfg);

/**
 * The shipped model's path: the installed one (SAFEM_INSTALLED_MODEL) when
 * readable, else the source tree's (SAFEM_SOURCE_MODEL, for build-dir
 * runs), else NULL.
 */
const char *probe_options_default_model(void);

/**
 * After EAL init: when --flow-cache-size is 0 (the default), set it from the
 * memory the flow tables can come from (safem_mem_table_available, lib/mem),
 * shared by the workers, and print what was chosen. An explicit size stays.
 */
void probe_options_size_flow_cache(struct probe_config *cfg, unsigned int workers,
				   bool window_accounting);

/** --alpha and --log-base as numbers (validated by probe_options_parse). */
double probe_options_alpha(const struct probe_config *cfg);
double probe_options_log_base(const struct probe_config *cfg);

#endif /* PROBE_OPTIONS_H */
