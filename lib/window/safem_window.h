/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SAFEM_WINDOW_H
#define SAFEM_WINDOW_H

/**
 * @file
 * Windowed spatial aggregation (SAFEM section II.A): time is cut into panes
 * of `slide` ms. Each worker lcore (a producer) adds the flows active in the
 * current pane to its own source and destination prefix trees; at a pane
 * boundary it closes the pane and hands it, through its record hand-off, to
 * the analysis lcore. That lcore merges the panes of all workers (exact: a
 * per-prefix sum), keeps the last window/slide merged panes for sliding
 * windows, prunes with alpha, computes the entropies and writes one JSON
 * report per window.
 *
 * Panes are preallocated per producer (a few buffers cycling through a free
 * ring), so closing a pane allocates nothing and takes no lock: the pane
 * travels behind the producer's records (release/acquire of the hand-off
 * rings) and comes back through the free ring when the analysis is done.
 *
 * Two sides, two source files: the producer side (window_pane.c:
 * safem_window_producer_*, safem_window_pane_release) runs on a worker lcore;
 * the analysis side (window_analysis.c: safem_window_analysis_*, reports and
 * tree files) runs on one analysis thread. Only the pane buffers and their
 * free ring cross between them.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "safem_aggtree.h"
#include "safem_featdist.h"
#include "safem_flow.h"
#include "safem_spectrum.h"

#ifdef __cplusplus
extern "C" {
#endif

/** One producer's traffic in one pane. */
struct safem_window_pane {
	uint64_t start_ms;
	uint64_t end_ms;
	unsigned int producer;
	struct safem_aggtree *src; /**< by source address */
	struct safem_aggtree *dst; /**< by destination address */
	uint64_t packets;
	uint64_t bytes;
	uint64_t flows;            /**< flow contributions (a flow active in the pane counts 1) */
	uint64_t close_ns;         /**< worker time spent closing (readout + hand-over) */
	struct safem_featset *features; /**< feature distributions; NULL when off */
};

struct safem_window_producer_params {
	const char *name;
	unsigned int producer;  /**< index, reported in panes */
	uint32_t tree_nodes;    /**< node bound of each tree */
	unsigned int buffers;   /**< panes cycling between the producer and the analysis, >= 2 */
	uint32_t feature_values; /**< distinct values kept per feature distribution; 0: none */
	const struct safem_home *home; /**< home prefixes (read-only, shared); NULL or empty: ALL only */
	int socket_id;
};

struct safem_window_producer;

/** NULL with rte_errno EINVAL / ENOMEM. Needs rte_eal_init(). */
struct safem_window_producer *
safem_window_producer_create(const struct safem_window_producer_params *params);
void safem_window_producer_free(struct safem_window_producer *wp);

/**
 * Producer lcore: a flow's packets/bytes in the current pane (counts as one
 * flow); tcp_flags (OR of its packets' flags so far) classifies it in the
 * feature distributions.
 */
void safem_window_producer_add(struct safem_window_producer *wp, const struct safem_flow_key *key,
			       uint8_t tcp_flags, uint64_t packets, uint64_t bytes);

/**
 * Producer lcore: finish the current pane [start_ms, end_ms) and start a new
 * one. Returns the pane to hand over (safem_handoff_mark), or NULL when every
 * other buffer is still with the analysis lcore: the current pane then stays
 * open and unchanged (counted in waits). Never waits itself; the caller
 * retries within its own bound, or gives up with safem_window_producer_drop().
 */
struct safem_window_pane *safem_window_producer_try_close(struct safem_window_producer *wp,
							  uint64_t start_ms, uint64_t end_ms);

/**
 * Producer lcore: empty the current pane without handing it over (no buffer
 * came back in time). The analysis merges that interval without this
 * producer; counted in safem_window_producer_dropped().
 */
void safem_window_producer_drop(struct safem_window_producer *wp);

/** Times try_close found no free buffer. */
uint64_t safem_window_producer_waits(const struct safem_window_producer *wp);

/** Panes emptied by safem_window_producer_drop(). */
uint64_t safem_window_producer_dropped(const struct safem_window_producer *wp);

/** Analysis lcore: give a pane back to its producer. */
void safem_window_pane_release(struct safem_window_pane *pane);

/**
 * Called on the analysis lcore once per window with its summary (feature
 * spectra, volumes, top values and prefixes). members: the window's report
 * line being written, to append JSON members to (text starting with ',');
 * NULL when no report is written. Returns 0 or -errno.
 */
typedef int (*safem_window_summary_fn)(void *ctx, const struct safem_window_summary *summary,
				       FILE *members);

struct safem_window_analysis_params {
	const char *name;
	unsigned int producers;
	uint64_t window_ms;      /**< beta */
	uint64_t slide_ms;       /**< divides window_ms */
	double alpha;            /**< prune threshold share, 0 < alpha < 1 */
	double log_base;         /**< > 1 */
	uint32_t tree_nodes;     /**< node bound of the merged trees */
	FILE *report;            /**< one JSON object per line; NULL: no output */
	const char *trees_dir;   /**< write each window's trees to DIR/window-START.tree; NULL: no */
	/** Feature distributions (producers' feature_values != 0): values kept per merged distribution. */
	uint32_t feature_values;
	bool directional;        /**< producers split by direction (home prefixes set) */
	unsigned int nq;         /**< Tsallis q values, 1..SAFEM_SPECTRUM_Q_MAX */
	double q[SAFEM_SPECTRUM_Q_MAX];
	unsigned int sample_rate; /**< 1 in N packet sampling, for the summary (1: none) */
	safem_window_summary_fn summary_fn; /**< NULL: no summary */
	void *summary_ctx;
	int socket_id;
};

struct safem_window_analysis;

struct safem_window_analysis *
safem_window_analysis_create(const struct safem_window_analysis_params *params);
void safem_window_analysis_free(struct safem_window_analysis *wa);

/**
 * Analysis lcore: a pane arrived from its producer (in the producer's pane
 * order). Panes are merged and reported as soon as every producer that is
 * not done has delivered a pane at or after them. Returns 0 or -errno from
 * writing the report.
 */
int safem_window_analysis_pane(struct safem_window_analysis *wa, struct safem_window_pane *pane);

/** Analysis lcore: a producer will send no more panes; report what is complete. */
int safem_window_analysis_producer_done(struct safem_window_analysis *wa, unsigned int producer);

/** Volumes of one window (or pane). */
struct safem_window_counts {
	uint64_t packets;
	uint64_t bytes;
	uint64_t flows;
};

/**
 * Write one window report line (docs/formats.md) for the window [start_ms,
 * end_ms) from its merged trees (index 0 source, 1 destination). timing may
 * be NULL (no "timing" member, as safem-merge writes it).
 */
struct safem_window_timing {
	const uint64_t *worker_close_ns; /**< per worker */
	unsigned int workers;
	uint64_t merge_ns;   /**< merging the workers' panes (and the sliding window) */
	uint64_t close_ns;   /**< all analysis work of the window: merge, prune, entropy, format */
	uint64_t summary_ns; /**< of which the summary (spectra) and detection */
};
int safem_window_write_report(FILE *f, double alpha, double log_base, uint64_t start_ms,
			      uint64_t end_ms, struct safem_aggtree *const trees[2],
			      const struct safem_window_counts *counts,
			      const struct safem_window_timing *timing);

/**
 * Window tree file: magic "SAFEMWIN", format version, start/end ms, counts,
 * then the source and destination trees (safem_aggtree_write_binary). What a
 * probe writes per window with --trees and safem-merge reads and writes.
 * write: via PATH.tmp + rename. Returns 0 or -errno (-EINVAL: not such a file).
 */
int safem_window_write_trees(const char *path, uint64_t start_ms, uint64_t end_ms,
			     const struct safem_window_counts *counts,
			     struct safem_aggtree *const trees[2]);
int safem_window_read_trees(const char *path, uint64_t *start_ms, uint64_t *end_ms,
			    struct safem_window_counts *counts, struct safem_aggtree *trees[2]);

/** Totals over every reported window (for tests and --stats). */
struct safem_window_totals {
	uint64_t windows;
	uint64_t packets;
	uint64_t bytes;
	uint64_t flows;
	uint64_t merge_ns_max; /**< slowest merge on the analysis lcore */
	uint64_t close_ns_max; /**< slowest whole window close on the analysis lcore */
	uint64_t tree_files;   /**< --trees files written */
	uint64_t summary_ns_max; /**< slowest summary (spectra) build */
	uint64_t time_jumps;     /**< skipped stretches of time: reports marked "time_jump" */
};
void safem_window_analysis_totals(const struct safem_window_analysis *wa,
				  struct safem_window_totals *out);

#ifdef __cplusplus
}
#endif

#endif /* SAFEM_WINDOW_H */
