/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef PROBE_ANALYSIS_H
#define PROBE_ANALYSIS_H

/*
 * The analysis thread. The main lcore drains the record hand-off and passes
 * the window panes it finds there (marks) through a bounded SP/SC ring to a
 * DPDK control thread, which merges them (lib/window), builds the summaries,
 * runs detection and the SVM (the summary callback) and writes the window
 * reports, alerts and tree files. So a slow analysis never holds up record
 * draining, and a slow flow collector never holds up a window.
 *
 * Threads: probe_analysis_pane(), _producer_done() and _all_done() are
 * called by the main lcore only (single producer of the ring);
 * probe_analysis_read() by any thread (main for /metrics, DPDK's telemetry
 * thread, main at exit for --stats).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "safem_window.h"

/** What --stats, telemetry and /metrics report of the analysis. */
struct probe_analysis_totals {
	struct safem_window_totals windows; /**< lib/window totals, as last published */
	uint64_t panes_analysed;   /**< panes the thread handed to lib/window */
	uint64_t busy_ns_total;    /**< wall time the thread spent on panes (and their windows) */
	uint64_t busy_ns_max;      /**< longest single pane, with the windows it completed */
	uint64_t panes_queued;     /**< panes main put on the ring */
	uint64_t queue_full;       /**< panes the ring refused (given back unanalysed) */
	uint64_t queue_high_water; /**< most panes seen waiting on the ring */
	uint64_t queue_size;       /**< ring capacity: every pane that can be in flight */
};

struct probe_analysis;

/**
 * Ring for every pane that can be in flight (producers x panes_per_producer)
 * plus one "producer done" message per producer. Does not start the thread.
 * NULL with err filled.
 */
struct probe_analysis *probe_analysis_create(struct safem_window_analysis *windows,
					     unsigned int producers,
					     unsigned int panes_per_producer, char *err,
					     size_t errlen);

/**
 * Before start: the thread calls tick_fn(tick_ctx) on every turn of its loop
 * (at least every millisecond or so when idle), to flush, rotate and reopen
 * the files it writes.
 */
void probe_analysis_set_tick(struct probe_analysis *pa, void (*tick_fn)(void *ctx),
			     void *tick_ctx);

/** Start the control thread ("safem-analysis"). 0, or -errno with err filled. */
int probe_analysis_start(struct probe_analysis *pa, char *err, size_t errlen);

/**
 * Main lcore: queue a pane for the analysis. Never waits. A refused pane
 * (the ring is sized so this cannot happen) is counted in queue_full and
 * given back to its producer; returns -ENOBUFS then.
 */
int probe_analysis_pane(struct probe_analysis *pa, struct safem_window_pane *pane);

/**
 * Main lcore: the producer will queue no more panes (it finished, or was
 * never launched). Once every producer is done and the thread has analysed
 * what was queued before, it reports the complete windows and ends.
 */
void probe_analysis_producer_done(struct probe_analysis *pa, unsigned int producer);

/**
 * Main lcore: the thread has ended (after every producer was done). Never
 * waits; sends a done message the ring refused earlier.
 */
bool probe_analysis_finished(struct probe_analysis *pa);

/**
 * Main lcore, once probe_analysis_finished(): join the thread. Returns the
 * first -errno of the analysis (writing a report or tree file), else 0.
 */
int probe_analysis_join(struct probe_analysis *pa);

/** Any thread: the published totals (consistent with each other). */
void probe_analysis_read(const struct probe_analysis *pa, struct probe_analysis_totals *out);

/**
 * Stop the thread if it still runs (after its current pane: bounded by one
 * pane's analysis), join it and free. NULL is fine.
 */
void probe_analysis_free(struct probe_analysis *pa);

#endif /* PROBE_ANALYSIS_H */
