/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SAFEM_SPECTRUM_H
#define SAFEM_SPECTRUM_H

/**
 * @file
 * Traffic Entropy Spectrum (Tellenbach et al., seed 001): Tsallis entropy
 * S_q = (1 - sum p_i^q) / (q - 1) (q = 1: Shannon, natural log) of a
 * feature distribution for a set of q, normalised so that windows with
 * different numbers of values compare (docs/detection.md):
 *
 *   q > 0  S_q / S_q(uniform over the feature's space)   in [0, 1]
 *          (the space: 2^32 for addresses, 65536 for ports; a constant, so
 *          the value moves exactly as S_q does)
 *   q = 0  ln(n) / ln(space), n distinct values              in [0, 1]
 *   q < 0  S_q / S_q(uniform over the n values present)      >= 1
 *          (S_q grows with the number of rare values; dividing by the
 *          uniform value for the same n removes the growth that only
 *          reflects more traffic)
 *
 * Computed from the count classes (how many values have count c), so a
 * window of 10^5 values with mostly equal counts costs a few hundred pow()
 * calls per q. sum p^q for q < 0 is accumulated relative to the smallest p
 * (scaled) so tiny probabilities do not overflow; q within 1e-9 of 1 takes
 * the Shannon formula.
 *
 * Also: the window summary the analysis lcore builds once per window and
 * hands to detection (lib/detect) and, later, to the classifier.
 */

#include <stddef.h>
#include <stdint.h>

#include "safem_featdist.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SAFEM_SPECTRUM_Q_MAX 16
/** The default q set (issue 4, the paper's range -2..2). */
#define SAFEM_SPECTRUM_Q_DEFAULT {-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0}
#define SAFEM_SPECTRUM_Q_DEFAULT_COUNT 7

/** `values` distinct values each with count `count` (count > 0). */
struct safem_count_class {
	uint64_t count;
	uint64_t values;
};

/**
 * Normalised Tsallis spectrum of one distribution.
 * @param classes    count classes of the kept values (any order, counts may repeat)
 * @param remainder_mass    volume not in classes (0: none)
 * @param remainder_values  estimated distinct values holding it (>= 1 when mass > 0);
 *                          treated as that many values of equal share
 * @param space      number of possible values of the feature (>= 2)
 * @param out        nq values as documented above; a distribution with fewer
 *                   than 2 values (or no volume) gives 0 for every q
 * @return 0, or -EINVAL (nq 0 or > SAFEM_SPECTRUM_Q_MAX, space < 2, NULL)
 */
int safem_tsallis_spectrum(const struct safem_count_class *classes, size_t nclasses,
			   double remainder_mass, double remainder_values, double space,
			   const double *q, unsigned int nq, double *out);

/** Raw (unnormalised) Tsallis entropy of probabilities p (sum 1), for tests and docs. */
double safem_tsallis_raw(const double *p, size_t n, double q);

/** Feature space sizes used for normalisation. */
#define SAFEM_SPECTRUM_ADDR_SPACE 4294967296.0
#define SAFEM_SPECTRUM_PORT_SPACE 65536.0

/** A value of a feature with its share of the window (for "who is involved"). */
struct safem_top_value {
	struct safem_feature_value value;
	struct safem_featdist_counts counts;
	double share; /**< of the direction's packets */
	/**
	 * Of counts.packets, those of ICMP and ICMPv6 flows, read from the window's flow log
	 * (lib/window; an estimate when the log was thinned by the surge guard, which the
	 * distributions need not be: at most counts.packets); 0 when no log is kept. What
	 * judges a value as the holder of an ICMP surge: its own ICMP, not its other traffic
	 * (docs/detection.md, "ICMP floods of any type on low-rate links").
	 */
	uint64_t icmp_packets;
};

/** A kept prefix of an aggregation tree profile (SAFEM pruned view, packets). */
struct safem_top_prefix {
	uint8_t addr[16]; /**< v4-mapped for IPv4 */
	uint8_t len;      /**< 0..128, IPv4 /n is 96 + n */
	struct safem_featdist_counts counts;
	double share;     /**< residual share of packets */
};

#define SAFEM_SUMMARY_TOP 16

/**
 * What the analysis lcore knows of one window after merging: the input of
 * detection and classification. Directions not in use (directions bit
 * clear) are zero.
 */
struct safem_window_summary {
	uint64_t start_ms; /**< Unix ms, window [start_ms, end_ms) */
	uint64_t end_ms;
	unsigned int directions; /**< bit d set: direction d in use (ALL always) */
	unsigned int nq;
	double q[SAFEM_SPECTRUM_Q_MAX];
	/** Normalised Tsallis spectrum per direction, feature, weight and q. */
	double spectrum[SAFEM_DIR_COUNT][SAFEM_FEATURE_COUNT][SAFEM_WEIGHT_COUNT]
		       [SAFEM_SPECTRUM_Q_MAX];
	double distinct[SAFEM_DIR_COUNT][SAFEM_FEATURE_COUNT]; /**< distinct values (estimate past capacity) */
	struct safem_featdist_counts volume[SAFEM_DIR_COUNT];
	uint64_t proto_flows[SAFEM_DIR_COUNT][SAFEM_PROTO_COUNT];
	uint64_t proto_packets[SAFEM_DIR_COUNT][SAFEM_PROTO_COUNT]; /**< packets of those flows */
	/** Values with the largest packet share, largest first. */
	struct safem_top_value top[SAFEM_DIR_COUNT][SAFEM_FEATURE_COUNT][SAFEM_SUMMARY_TOP];
	unsigned int ntop[SAFEM_DIR_COUNT][SAFEM_FEATURE_COUNT];
	/**
	 * Values with the most flows, most first (ties: more packets, then value bytes);
	 * share as in top (of the direction's packets). Scans and spoofed floods send
	 * one packet per flow: their values lead this list long before the packet one.
	 */
	struct safem_top_value top_flows[SAFEM_DIR_COUNT][SAFEM_FEATURE_COUNT]
					[SAFEM_SUMMARY_TOP];
	unsigned int ntop_flows[SAFEM_DIR_COUNT][SAFEM_FEATURE_COUNT];
	/** SAFEM tree entropies, [0 source, 1 destination][enum safem_agg_metric: bytes, packets, flows], normalised. */
	double tree_entropy[2][3];
	/** Kept prefixes of the source / destination trees by packets (alpha), largest share first. */
	struct safem_top_prefix prefixes[2][SAFEM_SUMMARY_TOP];
	unsigned int nprefixes[2];
	/** 1 in N packet sampling in effect (1: none); volumes are already scaled back. */
	unsigned int sample_rate;
};

#ifdef __cplusplus
}
#endif

#endif /* SAFEM_SPECTRUM_H */
