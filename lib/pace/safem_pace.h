/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SAFEM_PACE_H
#define SAFEM_PACE_H

/**
 * @file
 * A token bucket: how many bytes an output may send now so that, over any
 * interval T, it sends at most burst + rate x T bytes. Exporters on a probe
 * box use it so that a burst of records (the flush at the end of a capture, a
 * window of expiries) reaches a collector at a rate its socket buffer
 * absorbs, instead of overrunning it (a UDP receiver drops what does not fit).
 *
 * Pure arithmetic on a caller's clock (nanoseconds, monotonic): no locks, no
 * syscalls but safem_pace_now_ns(). One owner; not thread-safe.
 */

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct safem_pace {
	double rate_bytes_per_ns; /**< 0: unlimited */
	double burst_bytes;	  /**< bucket depth */
	double tokens;		  /**< bytes that may leave now; negative after a large message */
	uint64_t last_ns;	  /**< clock of the last refill */
};

/**
 * Start a full bucket. rate_bytes_s 0 means unlimited (every ready/spend
 * answers yes); burst_bytes is at least one byte.
 */
void safem_pace_init(struct safem_pace *p, uint64_t rate_bytes_s, uint64_t burst_bytes,
		     uint64_t now_ns);

/**
 * May `bytes` leave now? True when the bucket holds that many tokens, or is
 * full (a message larger than the burst then goes alone, and the bucket owes
 * the difference). Refills from the clock; does not spend.
 */
bool safem_pace_ready(struct safem_pace *p, uint64_t bytes, uint64_t now_ns);

/** Spend the tokens of `bytes` that left (after safem_pace_ready() said yes). */
void safem_pace_spend(struct safem_pace *p, uint64_t bytes);

/** Nanoseconds until `bytes` may leave (0: now). */
uint64_t safem_pace_wait_ns(const struct safem_pace *p, uint64_t bytes, uint64_t now_ns);

/** The clock the bucket expects: CLOCK_MONOTONIC in nanoseconds. */
uint64_t safem_pace_now_ns(void);

#ifdef __cplusplus
}
#endif

#endif /* SAFEM_PACE_H */
