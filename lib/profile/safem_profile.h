/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SAFEM_PROFILE_H
#define SAFEM_PROFILE_H

/**
 * @file
 * Behaviour profiling of significant clusters (Xu, Zhang, Bhattacharyya,
 * seed 003 and its SIGCOMM'05 methodology), on the analysis side.
 *
 * Per window and direction, for each of the four dimensions (source /
 * destination address, source / destination port):
 *   1. significant clusters: the values holding at least alpha of the flows,
 *      alpha found by the entropy-based adaptive threshold search
 *      (safem_profile_threshold_search) over the window's feature
 *      distribution (lib/featdist);
 *   2. their behaviour class: the relative uncertainty (RU) of the three free
 *      dimensions over the cluster's flows, each quantised to L/M/H, 27
 *      classes numbered 9 l0 + 3 l1 + l2;
 *   3. the dominant state (the most specific <value|*, value|*, value|*> that
 *      covers most of the cluster's flows) and a profile: server,
 *      heavy_hitter or scan_exploit;
 *   4. a bounded history per cluster across windows (class stability,
 *      behaviour changes) and a Top-N host view.
 * The per-cluster distributions come from the window's flow log: the flow
 * contributions the workers added to the window's feature tables, logged in
 * their panes up to a bound (lib/window); docs/detection.md says why and
 * what the bound does.
 *
 * One thread at a time (the analysis thread); allocates only when a window
 * has more logged flows than any before (scratch grows, never shrinks).
 */

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "safem_featdist.h"
#include "safem_packet.h"

#ifdef __cplusplus
extern "C" {
#endif

/** One flow's contribution to a window, as a worker added it to its pane. */
struct safem_profile_flow {
	struct safem_flow_key key;
	/** Its weight as a power of two: 2^weight_shift flows (safem_profile_flow_weight). The
	 *  surge guard keeps 1 in 2^shift flows and weights each 2^shift (lib/window, shift <=
	 *  16), otherwise 1: a weight is always a power of two, so one byte holds it and the
	 *  line's other three bytes hold first_back24. A zeroed entry weighs 1. */
	uint8_t weight_shift;
	uint8_t tcp_flags; /**< OR of the flow's TCP flags */
	/** Low 24 bits (little endian) of the Unix ms of the flow's last packet in the
	 *  pane: safem_profile_flow_last_ms(). 24 bits fit the line's spare bytes and
	 *  span 4.6 hours, far more than any pane. */
	uint8_t last_ms24[3];
	/** Milliseconds from the contribution's first packet to its last, saturating at
	 *  2^24 - 1 (4.6 hours): safem_profile_flow_first_ms(). Known only when the flow began
	 *  in this contribution (no earlier pane took any of its packets); otherwise 0, dated
	 *  by the last packet (lib/flow keeps a flow's first and last packets, not the first
	 *  of each pane). */
	uint8_t first_back24[3];
	uint64_t packets;  /**< already weighted like the flows */
	uint64_t bytes;
};
static_assert(sizeof(struct safem_profile_flow) == 64, "one cache line per logged flow");
static_assert(offsetof(struct safem_profile_flow, packets) == 48,
	      "key, weight_shift, tcp_flags and the two 24-bit times fill 48 bytes");

#define SAFEM_PROFILE_LAST_MS_MASK UINT32_C(0xffffff)

/** A contribution's flows: 2^weight_shift (1 unless surge-sampled). A shift past 31 (a
 *  corrupt or hand-made log; lib/window writes at most 16) reads as the largest weight. */
static inline uint32_t
safem_profile_flow_weight(const struct safem_profile_flow *f)
{
	return UINT32_C(1) << (f->weight_shift < 32 ? f->weight_shift : 31);
}

/** Store the time of a contribution's last packet (any width: its low 24 bits are kept). */
static inline void
safem_profile_flow_set_last_ms(struct safem_profile_flow *f, uint64_t ms)
{
	f->last_ms24[0] = (uint8_t)ms;
	f->last_ms24[1] = (uint8_t)(ms >> 8);
	f->last_ms24[2] = (uint8_t)(ms >> 16);
}

/** Store how many ms before its last packet a contribution's first packet was (saturating;
 *  0: unknown or the same ms, dated by the last packet). */
static inline void
safem_profile_flow_set_first_back(struct safem_profile_flow *f, uint32_t back_ms)
{
	if (back_ms > SAFEM_PROFILE_LAST_MS_MASK)
		back_ms = SAFEM_PROFILE_LAST_MS_MASK;
	f->first_back24[0] = (uint8_t)back_ms;
	f->first_back24[1] = (uint8_t)(back_ms >> 8);
	f->first_back24[2] = (uint8_t)(back_ms >> 16);
}

/* ms from a contribution's stored last packet back from pane_end_ms, or UINT32_MAX when it
 * reads as after the end (more than half the 24-bit span back: a time after the end that
 * wrapped; or before the epoch). */
static inline uint32_t
safem_profile_flow_last_back_(const struct safem_profile_flow *f, uint64_t pane_end_ms)
{
	uint32_t t = (uint32_t)f->last_ms24[0] | (uint32_t)f->last_ms24[1] << 8 |
		     (uint32_t)f->last_ms24[2] << 16;
	uint32_t back = ((uint32_t)pane_end_ms - t) & SAFEM_PROFILE_LAST_MS_MASK;

	return back > SAFEM_PROFILE_LAST_MS_MASK / 2 || back > pane_end_ms ? UINT32_MAX : back;
}

/**
 * Unix ms of a contribution's last packet, given the end of its pane (Unix ms): the latest
 * time at or before pane_end_ms with the stored low 24 bits. A stored time after the
 * pane's end (a clock step, a hand-made log) reads as pane_end_ms, so it never looks older
 * than it is; a log written without times (zeros) reads as some time in the last 4.6 hours.
 */
static inline uint64_t
safem_profile_flow_last_ms(const struct safem_profile_flow *f, uint64_t pane_end_ms)
{
	uint32_t back = safem_profile_flow_last_back_(f, pane_end_ms);

	return back == UINT32_MAX ? pane_end_ms : pane_end_ms - back;
}

/**
 * Unix ms of a contribution's first packet (safem_profile_flow_last_ms less its stored
 * distance, at 0 at the earliest): the flow's first packet when it began in this
 * contribution, else its last packet. Never earlier than the flow's first packet, so an
 * observation dated by it is never older than it is.
 */
static inline uint64_t
safem_profile_flow_first_ms(const struct safem_profile_flow *f, uint64_t pane_end_ms)
{
	uint32_t lback = safem_profile_flow_last_back_(f, pane_end_ms);
	uint32_t back = (uint32_t)f->first_back24[0] | (uint32_t)f->first_back24[1] << 8 |
			(uint32_t)f->first_back24[2] << 16;
	uint64_t last;

	/* its last packet reads after the end (a clock step): its first is unknown too, so it
	 * reads as the end, as the last does (dated young, never older than it is) */
	if (lback == UINT32_MAX)
		return pane_end_ms;
	last = pane_end_ms - lback;
	return back < last ? last - back : 0;
}

/** The paper's initial threshold and RU bound (docs/detection.md, "Behaviour profiles"). */
#define SAFEM_PROFILE_ALPHA0 0.02
#define SAFEM_PROFILE_BETA 0.9
/** RU quantisation (SIGCOMM'05): L <= 0.2 < M < 0.8 <= H. */
#define SAFEM_PROFILE_RU_LOW 0.2
#define SAFEM_PROFILE_RU_HIGH 0.8
#define SAFEM_PROFILE_CLASSES 27
/** Largest Top-N of the host view. */
#define SAFEM_PROFILE_TOP_MAX 1000

enum safem_profile_level { SAFEM_PROFILE_LEVEL_L = 0, SAFEM_PROFILE_LEVEL_M = 1, SAFEM_PROFILE_LEVEL_H = 2 };

enum safem_profile_kind {
	SAFEM_PROFILE_NONE = 0,
	SAFEM_PROFILE_SERVER,
	SAFEM_PROFILE_HEAVY_HITTER,
	SAFEM_PROFILE_SCAN_EXPLOIT,
};
/** "server", "heavy_hitter", "scan_exploit"; NULL for NONE. */
const char *safem_profile_kind_name(enum safem_profile_kind k);

/** The three free dimensions of a cluster on dimension dim, in RU order (docs/formats.md). */
void safem_profile_free_dims(enum safem_feature dim, enum safem_feature free_dims[3]);

/**
 * Relative uncertainty RU = H(p) / log(min(space, observations)) of a
 * distribution given as weights (any order, zeros ignored). 0 when
 * min(space, observations) <= 1 (one observation says nothing).
 */
double safem_profile_ru(const uint64_t *weights, size_t n, uint64_t observations, double space);

enum safem_profile_level safem_profile_ru_level(double ru);
/** Class 0..26 of an RU vector: 9 level(ru[0]) + 3 level(ru[1]) + level(ru[2]). */
unsigned int safem_profile_class(const double ru[3]);

/** Remembered windows the behaviour-change rule needs before a change (half a history). */
#define SAFEM_PROFILE_CHANGE_MIN_HISTORY 8
/**
 * Observations a cluster needs before its L or H levels count as evidence for an alert:
 * the L and H bands are 0.2 wide, and RU measured on m observations is only told apart
 * from the next level at two standard errors of a share, 2 sqrt(1/(4m)) = 1/sqrt(m), so
 * 1/sqrt(m) <= 0.2: m >= 25.
 */
#define SAFEM_PROFILE_ALERT_MIN_OBSERVATIONS 25

/**
 * How far past a level boundary an RU measured on `observations` flows must lie for the
 * level change to count: two standard errors of a share, 1/sqrt(observations), and never
 * less than 0.1 (an RU wandering around a boundary on a large cluster flips the level
 * without any change of behaviour). 1 for no observation.
 */
double safem_profile_level_margin(uint64_t observations);

/**
 * The behaviour-change rule (docs/detection.md, "Behaviour alerts"; Xu et al.: the
 * temporal stability of a cluster's class). A cluster whose class moved from old_class
 * to new_class, the new class having held its persistence run, changed behaviour iff
 *   - it was stable: at least SAFEM_PROFILE_CHANGE_MIN_HISTORY remembered windows
 *     before the run, and old_class the class of at least half of them;
 *   - the new class is new to it: none of those windows had it (a cluster moving
 *     between two classes it visits anyway is not changing behaviour);
 *   - every level that changed is clear of the boundary it crossed by
 *     safem_profile_level_margin(observations): what sampling alone moves an RU.
 * @param before  classes of the remembered windows before the run, any order
 * @param ru      the cluster's RU vector of this window (new_class's)
 * @param observations  flows the RU was measured on
 */
bool safem_profile_class_change(const uint8_t *before, unsigned int nbefore, unsigned int old_class,
				unsigned int new_class, const double ru[3], uint64_t observations);

/** Result of the threshold search. */
struct safem_profile_threshold {
	double alpha;          /**< final threshold share (alpha0 when nothing was extracted) */
	unsigned int iterations; /**< times alpha was applied (0: the distribution was already random) */
	double ru_remaining;   /**< RU of what was left when the search stopped */
	uint64_t min_flows;    /**< a value is significant iff flows >= min_flows (UINT64_MAX: none) */
};

/**
 * Entropy-based adaptive threshold (Xu et al. SIGCOMM'05, algorithm 1):
 * theta = RU of the remaining values; while theta <= beta, apply alpha =
 * alpha0 2^-k (k = 0, 1, ...): every remaining value with at least alpha of
 * all flows becomes significant; recompute theta over what remains. Stops
 * when no exactly kept value remains. The remainder (remainder_flows spread
 * over remainder_values unknown values) is counted as that many values of
 * equal share, and never extracted.
 * @param flows  flows per exactly kept value
 * @param space  possible values of the dimension (2^32 addresses, 65536 ports)
 * @param flow_weight  mean weight of an observed flow (1; more when the surge guard
 *               sampled and weighted them): RU is normalised by log(min(space,
 *               flows / flow_weight)), the number of observations, as the paper's m
 * @return 0, or -EINVAL (alpha0 or beta out of (0, 1], flow_weight < 1, NULL)
 */
int safem_profile_threshold_search(const uint64_t *flows, size_t n, uint64_t remainder_flows,
				   double remainder_values, double space, double flow_weight,
				   double alpha0, double beta, struct safem_profile_threshold *out);

/** What the windows' flow logs hold: segments (a pane each), in a fixed order. */
struct safem_profile_flows {
	const struct safem_profile_flow *const *flow;
	const uint32_t *n;
	unsigned int segments;
	uint64_t unlogged; /**< contributions past the log bound (RU from the rest) */
};

/** A significant cluster of the last window. */
struct safem_profile_cluster {
	enum safem_direction direction;
	enum safem_feature dimension;
	struct safem_feature_value value;
	struct safem_featdist_counts counts; /**< from the feature distribution (exact) */
	double share;                        /**< of the direction's flows */
	enum safem_feature free_dims[3];
	double ru[3];
	unsigned int cls;
	uint64_t observations;               /**< logged contributions the RU was measured on */
	unsigned int ru_sampled;             /**< 1 in 2^ru_sampled of them, by flow hash (0: all) */
	enum safem_profile_kind profile;
	uint8_t dominant_mask;               /**< bit j: free dim j fixed in the dominant state; 0: none */
	struct safem_feature_value dominant[3];
	double dominant_share;
	/* history */
	unsigned int consecutive; /**< windows in a row it was significant, this one included */
	double stability;         /**< share of its remembered windows with the same class */
	bool class_changed;       /**< a persistent class change completed this window */
	unsigned int previous_class;
	bool new_scan_exploit; /**< scan_exploit held two windows in a row on, together, at least
				    SAFEM_PROFILE_ALERT_MIN_OBSERVATIONS flows (once per run) */
	uint64_t scan_run_observations; /**< flows of its run of scan_exploit windows, this one
					     included (0: not scan_exploit) */
};

struct safem_profiler_params {
	uint32_t max_clusters;         /**< per direction and dimension, largest first; >= 1 */
	unsigned int top_hosts;        /**< Top-N host view (0: none, <= SAFEM_PROFILE_TOP_MAX) */
	const struct safem_home *home; /**< directions of logged flows (NULL: ALL only) */
	double alpha0;                 /**< 0: SAFEM_PROFILE_ALPHA0 */
	double beta;                   /**< 0: SAFEM_PROFILE_BETA */
};

struct safem_profiler;

/** NULL with errno EINVAL / ENOMEM. */
struct safem_profiler *safem_profiler_create(const struct safem_profiler_params *p);
void safem_profiler_free(struct safem_profiler *p);

/**
 * Profile one window from its merged feature distributions and flow logs;
 * with members != NULL append the report members (", \"clusters\": [...],
 * \"profile\": {...}, \"hosts\": {...}", docs/formats.md). 0 or -errno
 * (-ENOMEM: scratch; -EIO: write).
 */
int safem_profiler_window(struct safem_profiler *p, const struct safem_featset *fs,
			  const struct safem_profile_flows *flows, uint64_t start_ms,
			  uint64_t end_ms, FILE *members);

/** The last window's significant clusters (valid until the next window). */
unsigned int safem_profiler_clusters(const struct safem_profiler *p,
				     const struct safem_profile_cluster **out);

/** Format a cluster value ("10.0.0.1", "2001:db8::1" or a port number) into buf. */
void safem_profile_value_format(enum safem_feature dim, const struct safem_feature_value *v,
				char *buf, size_t len);

/**
 * Write a cluster as a JSON object (the members of the report's "clusters"
 * entries) to f: what alerts name as "who".
 */
void safem_profile_cluster_json(FILE *f, const struct safem_profile_cluster *c);

/** Totals for --stats and the benchmark. */
struct safem_profiler_totals {
	uint64_t windows;
	uint64_t clusters;
	uint64_t ns_total; /**< profiling time, all windows */
	uint64_t ns_max;
	uint64_t history_full; /**< clusters not remembered: history table full */
};
void safem_profiler_totals(const struct safem_profiler *p, struct safem_profiler_totals *out);

#ifdef __cplusplus
}
#endif

#endif /* SAFEM_PROFILE_H */
