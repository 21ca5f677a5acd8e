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
#include "safem_profile.h"
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
	/* Surge guard: contributions past the pane's flow budget are sampled. */
	uint64_t kept;             /**< contributions added to trees and features */
	uint64_t sampled_out;      /**< contributions left out (volumes above stay exact) */
	unsigned int sample_shift; /**< keeping 1 in 2^shift now */
	uint64_t jump_from_ms;     /**< the producer's clock jumped here from this time (0: no) */
	/* Flow log for behaviour profiling (lib/profile): the contributions kept
	 * above, in the order added, up to flow_log_capacity. */
	struct safem_profile_flow *flow_log; /**< NULL: profiling off */
	uint32_t flow_logged;
	uint32_t flow_log_capacity;
	uint64_t flow_unlogged;    /**< kept contributions past the capacity (weighted flows) */
};

struct safem_window_producer_params {
	const char *name;
	unsigned int producer;  /**< index, reported in panes */
	uint32_t tree_nodes;    /**< node bound of each tree */
	unsigned int buffers;   /**< panes cycling between the producer and the analysis, >= 2 */
	uint32_t feature_values; /**< distinct values kept per feature distribution; 0: none */
	const struct safem_home *home; /**< home prefixes (read-only, shared); NULL or empty: ALL only */
	/**
	 * Surge guard: once a pane holds this many contributions in its trees
	 * and features, further ones are sampled by flow key hash (1 in 2, then
	 * 1 in 4 after another budget's worth, ...) with weight 2^shift; the
	 * pane's packets/bytes/flows stay exact. 0: off.
	 */
	uint32_t flow_budget;
	/**
	 * Behaviour profiling: flow contributions logged per pane (64 bytes each,
	 * preallocated per pane buffer); 0: none. Needs feature_values != 0.
	 */
	uint32_t profile_flows;
	int socket_id;
};

struct safem_window_producer;

/** NULL with rte_errno EINVAL / ENOMEM. Needs rte_eal_init(). */
struct safem_window_producer *
safem_window_producer_create(const struct safem_window_producer_params *params);
void safem_window_producer_free(struct safem_window_producer *wp);

/** Which open pane of a producer an add goes to. */
enum safem_window_target {
	SAFEM_WINDOW_CURRENT = 0, /**< the pane time is in now */
	SAFEM_WINDOW_CLOSING = 1, /**< the previous pane, while the flow cache is read out into it */
};

/**
 * Producer lcore: a flow's packets/bytes in one of the open panes (counts as
 * one flow); tcp_flags (OR of its packets' flags so far) classifies it in the
 * feature distributions; last_ms32 (low 32 bits of the Unix ms of its last
 * packet in that pane) and first_ms32 (its first packet's, when known, else
 * last_ms32: safem_flow_window_fn) go into the flow log
 * (safem_profile_flow_last_ms, _first_ms), for the tests that time answers. An add to a pane that is not open (CLOSING with no
 * closing pane, after a drop) is ignored. Returns false when the surge guard
 * left the flow out of the trees and features (flow_budget).
 */
bool safem_window_producer_add(struct safem_window_producer *wp, enum safem_window_target target,
			       const struct safem_flow_key *key, uint8_t tcp_flags,
			       uint64_t packets, uint64_t bytes, uint32_t first_ms32,
			       uint32_t last_ms32);

/**
 * Producer lcore: a pane boundary. The current pane becomes the closing pane
 * [start_ms, end_ms), which keeps taking CLOSING adds (the readout of what
 * flows did before the boundary) until safem_window_producer_finish(); a new
 * current pane starts. At most one pane is closing: finish it first.
 * Returns false when every other buffer is still with the analysis (nothing
 * changes, counted in waits), or when a pane is still closing (-EBUSY is not
 * worth a distinct code: it is a caller bug, and it is asserted in tests).
 * Never waits itself; the caller retries within its own bound, or gives up
 * with safem_window_producer_drop().
 */
bool safem_window_producer_try_rotate(struct safem_window_producer *wp, uint64_t start_ms,
				      uint64_t end_ms);

/**
 * Producer lcore: time jumped from from_ms (the end of the last pane closed)
 * to the current pane, skipping the empty panes in between; the analysis
 * marks the current pane's report with it.
 */
void safem_window_producer_note_jump(struct safem_window_producer *wp, uint64_t from_ms);

/** Producer lcore: a closing pane is open. */
bool safem_window_producer_closing(const struct safem_window_producer *wp);

/**
 * Producer lcore: the closing pane is complete; returns it for the hand-over
 * (safem_handoff_mark), or NULL when none is closing.
 */
struct safem_window_pane *safem_window_producer_finish(struct safem_window_producer *wp);

/**
 * Producer lcore: empty the current pane without handing it over (no buffer
 * came back in time). The analysis merges that interval without this
 * producer; counted in safem_window_producer_dropped().
 */
void safem_window_producer_drop(struct safem_window_producer *wp);

/** Times try_rotate found no free buffer. */
uint64_t safem_window_producer_waits(const struct safem_window_producer *wp);

/** Panes emptied by safem_window_producer_drop(). */
uint64_t safem_window_producer_dropped(const struct safem_window_producer *wp);

/**
 * Pane boundaries of one worker, on its own clock (packet time in replay).
 * Time is cut into panes of pane_ms aligned to multiples of pane_ms since
 * the epoch. A pane closes right before the worker accounts the first packet
 * at or past its end, so every packet lands in the pane of its timestamp,
 * except packets stamped before the open pane (the clock never goes back):
 * they land in the open pane and are counted late. A jump of the clock by
 * gap_ms or more past the end of the open pane skips the empty panes in
 * between (counted in jumps). A dispatcher (software RSS) announces every
 * boundary it crosses with a time tick to every worker, itself included.
 * Pure arithmetic, no DPDK: the protocol is unit-tested on its own.
 */
struct safem_pane_clock {
	uint64_t pane_ms;
	uint64_t gap_ms;
	uint64_t end_ms;  /**< end of the open pane; 0 before the first time seen */
	uint64_t tick_ms; /**< dispatcher: next boundary to announce */
	uint64_t late;    /**< packets stamped before the open pane */
	uint64_t jumps;   /**< skipped stretches */
};

/** pane_ms > 0; gap_ms >= pane_ms (smaller values are raised to pane_ms). */
void safem_pane_clock_init(struct safem_pane_clock *pc, uint64_t pane_ms, uint64_t gap_ms);

/** Start of the open pane (valid once end_ms != 0). */
static inline uint64_t
safem_pane_clock_start(const struct safem_pane_clock *pc)
{
	return pc->end_ms - pc->pane_ms;
}

/**
 * Before accounting something stamped ms: true when the open pane must close
 * first (call safem_pane_clock_next() after closing it, and ask again). The
 * first time seen opens the first pane and returns false. Counts late packets.
 */
static inline bool
safem_pane_clock_due(struct safem_pane_clock *pc, uint64_t ms)
{
	if (pc->end_ms == 0) {
		pc->end_ms = ms - ms % pc->pane_ms + pc->pane_ms;
		return false;
	}
	if (ms >= pc->end_ms)
		return true;
	if (ms + pc->pane_ms < pc->end_ms)
		pc->late++;
	return false;
}

/**
 * The open pane was closed with ms at or past its end: open the next one,
 * or, when ms lies gap_ms or more beyond the closed pane's end, the pane of
 * ms (a jump).
 * Returns true on a jump.
 */
bool safem_pane_clock_next(struct safem_pane_clock *pc, uint64_t ms);

/**
 * Dispatcher: its clock is now_ms. True when it crossed a boundary since the
 * last announcement: send a tick (time now_ms) to every worker, itself too.
 */
static inline bool
safem_pane_clock_tick_due(struct safem_pane_clock *pc, uint64_t now_ms)
{
	if (now_ms < pc->tick_ms)
		return false;
	pc->tick_ms = now_ms - now_ms % pc->pane_ms + pc->pane_ms;
	return true;
}

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
	/** the producers' home prefixes (read-only, shared), to split the flow log's flows by
	 *  direction as the producers did (the summary's per-value ICMP packets); NULL: ALL */
	const struct safem_home *home;
	unsigned int nq;         /**< Tsallis q values, 1..SAFEM_SPECTRUM_Q_MAX */
	double q[SAFEM_SPECTRUM_Q_MAX];
	unsigned int sample_rate; /**< 1 in N packet sampling, for the summary (1: none) */
	safem_window_summary_fn summary_fn; /**< NULL: no summary */
	/**
	 * Behaviour profiling of each window (lib/profile) before the summary
	 * callback, so detection can name clusters; NULL: none. Needs
	 * feature_values != 0. profile_flows: logged flows kept per merged pane
	 * (the producers' logs are copied up to it).
	 */
	struct safem_profiler *profiler;
	uint32_t profile_flows;
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

/**
 * Analysis lcore, from the summary callback: the flow log of the newest pane of the window
 * being reported alone (one segment; with tumbling windows the window's whole log). With
 * sliding windows each pane is given once, so a reader that follows contacts across
 * windows (lib/seqscan) sees every flow contribution once. No segment (segments 0) when
 * profiling is off, or when a hole (panes_missing) or a clock jump (time_jump) comes
 * before this pane. Valid until the next pane is merged.
 */
void safem_window_analysis_pane_flows(const struct safem_window_analysis *wa,
				      struct safem_profile_flows *out);

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
