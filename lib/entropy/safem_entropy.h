/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SAFEM_ENTROPY_H
#define SAFEM_ENTROPY_H

/**
 * @file
 * Entropy of traffic distributions, pure functions (no EAL, no allocation,
 * no logging): usable on worker lcores and on the analysis lcore.
 *
 * Two views of the same quantity:
 *  - safem_entropy_shannon(): a distribution given by counts (one count per
 *    symbol, e.g. per address).
 *  - SAFEM eq. 1 on an aggregated profile: after spatial aggregation each
 *    retained prefix i holds a share s_i of the volume and covers
 *    2^host_bits[i] addresses; SAFEM spreads the prefix's volume evenly over
 *    those addresses, so prefix i stands for 2^h_i addresses of s_i / 2^h_i
 *    each, and
 *        H = -sum_i 2^h_i * (s_i / 2^h_i) * log_b(s_i / 2^h_i)
 *          = -sum_i s_i * log_b(s_i) + sum_i s_i * h_i * log_b(2).
 *    The second form never computes 2^128.
 *
 * Log base: any finite base > 0 other than 1 (2 gives bits, e gives nats).
 * An invalid base makes every function return NAN.
 *
 * Room for other entropies (issue 4, Tsallis): they will take the same
 * (shares, host_bits) profile plus their parameter q, and get their own
 * safem_entropy_tsallis_*() functions and accumulator mode; nothing here
 * assumes Shannon beyond the function names.
 */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Shannon entropy of the distribution p_i = counts[i] / sum(counts):
 * H = -sum_i p_i log_b p_i. Zero counts are ignored; a total of 0 gives 0.
 * The total is accumulated in double, so it cannot overflow.
 */
double safem_entropy_shannon(const uint64_t *counts, size_t n, double log_base);

/**
 * SAFEM eq. 1 over an aggregated profile (see the file comment).
 * @param shares     s_i, the share of prefix i; they should sum to 1 (they
 *                   are used as given). Entries <= 0 (or NaN) are ignored.
 * @param host_bits  h_i: prefix i covers 2^h_i addresses, h_i <= 128
 *                   (128 - len in the 128-bit space, 32 - len for IPv4).
 */
double safem_entropy_aggregated(const double *shares, const uint8_t *host_bits, size_t n,
				double log_base);

/**
 * Eq. 1 normalised to [0, 1]: H / log_b(S) with S = sum_i 2^h_i over the
 * entries with s_i > 0, the number of addresses the retained prefixes cover.
 * log_b(S) is the largest value eq. 1 can take over that support (reached
 * when s_i is proportional to 2^h_i: Jensen on sum_i s_i log(2^h_i / s_i)),
 * so the ratio is the fraction of the attainable dispersion. Nested prefixes
 * (a /16 and a /24 inside it) count their addresses once each, exactly as
 * eq. 1 treats them as separate symbols. log_b(S) is computed in log space
 * (log-sum-exp), never as 2^h. A support of a single address (S = 1), or no
 * positive share at all, gives 0. The result is clamped to [0, 1] against
 * rounding.
 */
double safem_entropy_aggregated_normalised(const double *shares, const uint8_t *host_bits, size_t n,
					   double log_base);

/**
 * Streaming form of the aggregated entropy, for callers that produce the
 * profile one prefix at a time (the aggregation tree's prune walk) and do
 * not want to store it. Add every (share, host_bits) once, then read.
 * The array functions above are this accumulator run over the arrays, so
 * both give bit-identical results.
 */
struct safem_entropy_acc {
	double sum_nats;       /**< sum_i s_i * (-ln s_i + h_i ln 2) */
	double support_scaled; /**< sum_i 2^(h_i - support_max_bits) */
	int support_max_bits;  /**< max h_i seen, -1 when none */
};

/** Start an empty accumulation. */
void safem_entropy_acc_init(struct safem_entropy_acc *acc);

/** Add prefix (share, host_bits); share <= 0 or NaN is ignored. */
void safem_entropy_acc_add(struct safem_entropy_acc *acc, double share, unsigned int host_bits);

/** Eq. 1 of what was added, in base log_base. */
double safem_entropy_acc_value(const struct safem_entropy_acc *acc, double log_base);

/** Normalised eq. 1 (see safem_entropy_aggregated_normalised()). */
double safem_entropy_acc_normalised(const struct safem_entropy_acc *acc, double log_base);

/** log_b(S) of what was added: the support size as a log (0 when empty). */
double safem_entropy_acc_log_support(const struct safem_entropy_acc *acc, double log_base);

#ifdef __cplusplus
}
#endif

#endif /* SAFEM_ENTROPY_H */
