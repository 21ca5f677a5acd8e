/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef PROBE_STATS_H
#define PROBE_STATS_H

#include <stdint.h>
#include <stdio.h>

#include "safem_ipfix.h"
#include "safem_mem.h"

#include "probe_analysis.h"
#include "probe_detect.h"
#include "probe_port.h"
#include "probe_sinks.h"
#include "probe_worker.h"

/** Everything --stats and telemetry report, summed over workers. */
struct probe_totals {
	struct probe_worker_stats worker;       /**< summed worker counters */
	struct safem_flow_cache_stats cache;    /**< summed flow cache counters */
	struct safem_handoff_stats handoff;     /**< summed hand-off counters */
	uint64_t parsed_packets;
	uint64_t non_ip;
	uint64_t parse_errors;
	double elapsed_s;                       /**< wall time, first to last packet processed */
};

/** What the main lcore adds: rows it wrote. */
struct probe_output_counters {
	uint64_t records_written;
};

/**
 * Readings that frame the memory budget: taken right after EAL start-up and
 * once everything the run needs is allocated (before the workers start).
 */
struct probe_memory_marks {
	uint64_t rss_start;  /**< VmRSS after rte_eal_init(): code, libraries, EAL */
	uint64_t heap_start; /**< safem_mem_heap_in_use() at the same moment */
	uint64_t heap_setup; /**< safem_mem_heap_in_use() once set up */
};

/** The memory the probe is configured with, as --stats "memory" reports it. */
struct probe_memory {
	uint64_t use[SAFEM_MEM_USE_COUNT]; /**< bytes per use (lib/mem accounting) */
	uint64_t other;         /**< the rest of what set-up allocated (models, buffers...) */
	uint64_t process_start; /**< rss_start */
	uint64_t total;         /**< the sum of the above: the budget the soak checks RSS against */
	uint64_t rss;           /**< VmRSS now */
};

/** Fill m from the accounting of lib/mem and the marks. */
void probe_memory_collect(const struct probe_memory_marks *marks, struct probe_memory *m);

struct probe_context {
	struct probe_shared *shared;
	struct probe_ports *ports;
	struct probe_output_counters *output;
	const struct probe_analysis *analysis;        /**< analysis thread; NULL: windows off */
	/** NULL: detection off. Written by the analysis thread: read once it has ended. */
	const struct probe_detect *detect;
	struct safem_ipfix_exporter *const *ipfix;    /**< ipfix_count exporters */
	const char (*ipfix_target)[SAFEM_OPT_STRING_MAX];
	unsigned int ipfix_count;
	const struct probe_line_outputs *lines;      /**< JSON-line streams (NULL: none) */
	const struct probe_files *files;             /**< line files (NULL: none) */
	const char *clock_name;
	const struct probe_memory_marks *memory;
};

/**
 * The probe's clock, Unix ms: the latest time any worker has reached (capture
 * time on a replay, wall clock live); 0 before the first packet of a replay.
 * Any thread (relaxed reads). ctx is the struct probe_shared.
 */
uint64_t probe_clock_now_ms(const void *ctx);

/** Sum the counters of every worker (racy reads are fine while running). */
void probe_totals_collect(const struct probe_shared *s, struct probe_totals *t);

/**
 * Write the --stats JSON object to path (via path.tmp + rename, so it is
 * complete or absent). Returns 0 or -errno.
 */
int probe_stats_write_json(const struct probe_context *ctx, const char *path);

/** Human summary on stdout at exit. */
void probe_stats_print_summary(const struct probe_context *ctx, FILE *out);

/**
 * Register /safem/stats with DPDK telemetry (its callbacks run on DPDK's
 * telemetry thread). ctx must stay valid until probe_stats_unregister_telemetry().
 */
int probe_stats_register_telemetry(const struct probe_context *ctx);

/**
 * Before freeing what ctx points to: later callbacks answer null, and one in
 * flight is waited for (it only reads counters, so the wait is short).
 * DPDK 22.11 cannot unregister a command; this is its stand-in.
 */
void probe_stats_unregister_telemetry(void);

#endif /* PROBE_STATS_H */
