/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef PROBE_WORKER_H
#define PROBE_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_ring.h>

#include "safem_flow.h"
#include "safem_handoff.h"
#include "safem_packet.h"
#include "safem_window.h"

#include "probe_options.h"

/** Worker counters, one list for fields, --stats and telemetry (STYLE.md rule 13). */
#define PROBE_WORKER_COUNTERS(X)                                                                   \
	X(rx_packets)      /* frames taken from this worker's RX queues */                      \
	X(rx_bytes)        /* their frame bytes (captured length) */                           \
	X(rx_bursts)       /* non-empty rte_eth_rx_burst calls */                              \
	X(parsed_bytes)    /* IP bytes of the frames parsed into flows */                      \
	X(dispatched_out)  /* parsed packets sent to another worker (software RSS) */          \
	X(dispatched_in)   /* parsed packets received from other workers */                    \
	X(dispatch_waits)  /* times a dispatch ring was full and the worker waited */          \
	X(no_timestamp)    /* packet clock: frames without an RX timestamp (worker clock used) */ \
	X(windows_closed)  /* window panes handed to the analysis lcore */                    \
	X(window_flows)    /* flow contributions added to this worker's window trees */        \
	X(window_flows_sampled_out) /* contributions the surge guard left out (--window-flow-budget) */ \
	X(sampled_out)     /* parsed packets left out by 1-in-N sampling (--sample) */ \
	X(dispatch_dropped) /* parsed packets lost at a full dispatch ring after the wait bound */ \
	X(dispatch_dropped_bytes) /* their IP bytes */ \
	X(dispatch_wait_us) /* time spent waiting for room in other workers' dispatch rings */ \
	X(late_packets)    /* packets stamped before the current window pane: accounted in it */ \
	X(time_jumps)      /* clock jumps past --time-gap: open panes closed, empty ones skipped */ \
	X(window_panes_dropped) /* panes emptied: no pane buffer came back within the bound */ \
	X(window_wait_us)  /* time spent waiting for a pane buffer from the analysis */ \
	X(poll_gaps_over_275us) /* RX poll gaps longer than a 4096-descriptor ring lasts at 14.88 Mpps */ \
	X(window_sweeps_forced) /* readouts finished in one go: the next boundary came first */

struct probe_worker_stats {
#define PROBE_WORKER_FIELD_(name) uint64_t name;
	PROBE_WORKER_COUNTERS(PROBE_WORKER_FIELD_)
#undef PROBE_WORKER_FIELD_
	uint64_t parse_status[SAFEM_PARSE_STATUS_COUNT]; /**< frames by parse outcome */
};

/* Readout slice: 1/1024 of the flow cache's lines (at least 32) per worker
 * loop, so a whole sweep takes about a thousand loops whatever the cache
 * size: milliseconds live, long before the next boundary. */
#define WINDOW_SWEEP_LINES_MIN 32u
#define WINDOW_SWEEP_SLICES 1024u

#define PROBE_MAX_QUEUES_PER_WORKER 16
/* Dispatch staging per destination: a burst plus one time tick. */
#define PROBE_STAGING_SLOTS (PROBE_MAX_RX_BURST + 1)

struct probe_queue {
	uint16_t port_id;
	uint16_t queue_id;
	uint64_t last_rx_tsc; /**< last poll that returned packets (end-of-file detection) */
};

/** State every worker reads and nobody writes while workers run. */
struct probe_shared {
	unsigned int worker_count;
	struct probe_worker **workers;
	struct safem_handoff *handoff;
	bool software_rss;      /**< queues < workers: pollers dispatch by symmetric hash */
	bool packet_clock;      /**< time from capture timestamps, else TSC */
	int timestamp_offset;   /**< RX timestamp dynfield offset (packet clock) */
	uint64_t timestamp_flag; /**< RX timestamp dynflag */
	unsigned int parse_flags;
	unsigned int rx_burst;
	unsigned int scan_lines;      /**< cap on lines scanned per loop */
	uint64_t sweep_ms;            /**< flow time for one sweep of the whole cache */
	uint64_t eof_idle_tsc;
	uint64_t handoff_flush_tsc;
	uint64_t pane_ms;        /**< window slide (0: windows off) */
	uint64_t stall_tsc;      /**< replay: a wait with no progress for this long gives up */
	uint64_t live_wait_tsc;  /**< live: longest wait for a dispatch ring */
	uint64_t stop_wait_tsc;  /**< any wait, once stop is set */
	uint64_t ring_time_tsc;  /**< 275 us: a 4096-descriptor RX ring at 14.88 Mpps */
	uint64_t feature_values; /**< per pane feature distribution capacity (0: off) */
	uint64_t profile_flows;  /**< flow log per pane for behaviour profiling (0: off) */
	const struct safem_home *home; /**< home prefixes (read-only while workers run) */
	uint32_t sample_rate;    /**< keep 1 packet in sample_rate (1: all) */
	bool sample_random;      /**< random selection (rte_rand) instead of the packet hash */
	uint64_t tsc_base;      /**< TSC at start ... */
	uint64_t unix_ns_base;  /**< ... and the wall clock then */
	uint64_t mono_ns_base;  /**< ... and CLOCK_MONOTONIC then */
	double ns_per_tsc;      /**< 1e9 / rte_get_tsc_hz(): for durations */
	/**
	 * Live clock rate in ns per TSC tick, measured by the main lcore against
	 * CLOCK_MONOTONIC over the whole run so far (probe_live_clock_calibrate):
	 * the frequency EAL reports was 0.13 % off on a VM, which put window ends
	 * 2.4 s behind the wall clock after 30 minutes (scripts/soak). Written by
	 * main, read by workers (atomic, relaxed: any recent value will do).
	 */
	double unix_ns_per_tsc;
	uint32_t stop;          /**< set by signals / --duration; read relaxed by workers */
	uint64_t stop_tsc;      /**< main lcore: when stop was set (0: not yet) */
};

/** One per worker lcore; written only by that lcore except where marked. */
struct probe_worker {
	unsigned int index;
	unsigned int lcore_id;
	struct probe_shared *shared;
	struct probe_queue queues[PROBE_MAX_QUEUES_PER_WORKER];
	unsigned int queue_count;
	struct rte_ring *input; /**< software RSS input: MP enqueue, SC dequeue, of safem_packet */
	struct safem_flow_cache *cache;
	struct safem_packet *staging; /**< [worker_count][PROBE_STAGING_SLOTS] packets to dispatch */
	unsigned int *staged;         /**< [worker_count] */
	/** [worker_count]: 0, or 1 + the owner's dispatched_in when the last wait on its ring ran out */
	uint64_t *dispatch_stalled;
	bool rotate_stalled;          /**< the last wait for a pane buffer ran out */
	unsigned int sweep_lines;     /**< readout slice: lines per worker loop */
	uint64_t clock_ns;            /**< latest packet time seen (packet clock) or TSC time */
	uint64_t scan_clock_ms;       /**< flow time up to which scan credit was granted */
	uint64_t scan_credit;         /**< lines owed to the expiry scan, x sweep_ms */
	uint64_t first_rx_tsc;
	uint64_t last_rx_tsc;
	struct safem_window_producer *window; /**< NULL: windows off */
	struct safem_pane_clock panes; /**< window pane boundaries and ticks (lib/window) */
	bool sweeping;                /**< the flow cache is read out into the closing pane */
	uint64_t close_tsc;           /**< TSC spent closing that pane (boundary + sweep slices) */
	uint64_t last_poll_tsc;       /**< start of the previous RX poll (0: none yet) */
	struct probe_worker_stats stats;
	/** Longest time between the starts of two consecutive RX polls, TSC cycles: what the NIC's RX ring has to absorb. */
	uint64_t max_poll_gap_tsc;

	/* Published to the other lcores (release/acquire), on their own line. */
	uint32_t polling_done __rte_cache_aligned; /**< no more dispatch from this worker */
	uint32_t rx_done;            /**< all input accounted; published_clock_ns valid */
	uint32_t finished;           /**< cache flushed, hand-off flushed */
	uint64_t published_clock_ns;

	/* Clock, stored relaxed every loop, on its own line so the flag reads
	 * above do not bounce it: lets a worker that has run out of input close
	 * its (empty) window panes as far as the others have got. */
	uint64_t live_clock_ns __rte_cache_aligned;
} __rte_cache_aligned;

/** Flow cache export hook: hands the record to the main lcore. */
void probe_worker_export(const struct safem_flow_record *record, void *ctx);

/** Flow cache window hook: a flow's activity, read out into one of the open panes. */
void probe_worker_window_flow(const struct safem_flow_key *key, uint8_t tcp_flags,
			      uint64_t packets, uint64_t bytes, uint32_t first_ms32,
			      uint32_t last_ms32, unsigned int pane, void *ctx);

/** lcore entry point (rte_eal_remote_launch). */
int probe_worker_main(void *arg);

/** Longest gap between two RX polls of this worker so far, µs (racy read: monitoring). */
static inline double
probe_worker_max_poll_gap_us(const struct probe_worker *w)
{
	return (double)__atomic_load_n(&w->max_poll_gap_tsc, __ATOMIC_RELAXED) * 1e6 /
	       (double)rte_get_tsc_hz();
}

/** Unix ns for a TSC value: the base taken at start plus the ticks since at the measured rate. */
static inline uint64_t
probe_tsc_to_unix_ns(const struct probe_shared *s, uint64_t tsc)
{
	double rate;

	__atomic_load(&s->unix_ns_per_tsc, &rate, __ATOMIC_RELAXED);
	return s->unix_ns_base + (uint64_t)((double)(tsc - s->tsc_base) * rate);
}

/**
 * Main lcore, about once a second on a live clock: re-measure the TSC rate
 * from the start of the run (CLOCK_MONOTONIC, which is slewed to real
 * seconds and never steps). The longer the run, the closer the rate, so the
 * probe's clock stays on the wall clock instead of drifting with the error
 * of the nominal frequency; each correction moves it by what drifted since
 * the last one (about a millisecond, once).
 */
void probe_live_clock_calibrate(struct probe_shared *s);

#endif /* PROBE_WORKER_H */
