/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SAFEM_HANDOFF_H
#define SAFEM_HANDOFF_H

/**
 * @file
 * Per-core hand-off of flow records from worker lcores (producers) to the
 * analysis lcore (the single consumer): CSV writer today, window aggregation
 * and IPFIX export next.
 *
 * Each producer owns a pair of single-producer/single-consumer rte_rings of
 * preallocated record batches: "full" (producer -> consumer) and "free"
 * (consumer -> producer). A producer fills its current batch without any
 * shared-memory write; only a full (or flushed) batch crosses cores, so the
 * packet path pays one ring operation per SAFEM_HANDOFF_BATCH_RECORDS
 * records. Memory ordering is the rings' own: the enqueue is a release, the
 * dequeue an acquire, so the records written before the enqueue are visible
 * to the consumer. Records of one producer arrive in the order it put them.
 */

#include <stdbool.h>
#include <stdint.h>

#include "safem_flow.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Records per batch: 64 x 96 B = 6 KiB, amortises a ring operation well. */
#define SAFEM_HANDOFF_BATCH_RECORDS 64

/** Counters per producer. */
#define SAFEM_HANDOFF_COUNTERS(X)                                                                  \
	X(records_put)      /* records accepted from the producer */                            \
	X(records_dropped)  /* records lost: no free batch and block_when_full off */           \
	X(batches_sent)                                                                           \
	X(full_waits)       /* times the producer waited for a free batch (blocking mode) */   \
	X(marks_sent)                                                                             \
	X(marks_dropped)    /* markers lost: never, while at most mark_reserve are in flight */ \
	X(wait_us)          /* time the producer spent waiting for a free batch */             \
	X(stall_drops)      /* records dropped after a blocking wait ran out (consumer stuck, */ \
	                    /* or stopping and the grace time is over) */

struct safem_handoff_stats {
#define SAFEM_HANDOFF_FIELD_(name) uint64_t name;
	SAFEM_HANDOFF_COUNTERS(SAFEM_HANDOFF_FIELD_)
#undef SAFEM_HANDOFF_FIELD_
};

struct safem_handoff_params {
	const char *name;
	unsigned int producers;      /**< >= 1 */
	unsigned int batches_per_producer; /**< >= 2; rounded up to a power of two */
	int socket_id;
	/**
	 * true: a producer with no free batch waits for the consumer (replay:
	 * nothing may be lost; the consumer must keep consuming). false: the
	 * record is dropped and counted (live ports: never stall the packet path).
	 */
	bool block_when_full;
	/**
	 * Batches kept for markers: records never take the last mark_reserve
	 * free batches, so a marker finds one as long as no more than
	 * mark_reserve markers are in flight (the window panes a producer owns).
	 * Must be < batches_per_producer - 1.
	 */
	unsigned int mark_reserve;
	/**
	 * Bounds of a blocking wait: the producer gives up (drops and counts)
	 * when the consumer freed nothing for stall_us, or, once *stop is
	 * non-zero, for stop_wait_us. 0: 10 s and 200 ms. stop may be NULL.
	 */
	uint64_t stall_us;
	uint64_t stop_wait_us;
	const uint32_t *stop;
};

struct safem_handoff;

/**
 * Create a hand-off. Needs rte_eal_init() (rings and batches come from
 * rte_malloc). Returns NULL with rte_errno EINVAL or ENOMEM.
 */
struct safem_handoff *safem_handoff_create(const struct safem_handoff_params *params);
void safem_handoff_free(struct safem_handoff *h);

/**
 * Producer side: wait (bounded, see params) or drop when no batch is free.
 * Starts as params.block_when_full; a live producer switches to blocking for
 * its final flush, when the packet path no longer runs.
 */
void safem_handoff_set_blocking(struct safem_handoff *h, unsigned int producer, bool block);

/**
 * Producer side (only the lcore owning `producer`): append one record.
 * @return 0, or -ENOBUFS when the record was dropped (counted).
 */
int safem_handoff_put(struct safem_handoff *h, unsigned int producer,
		      const struct safem_flow_record *record);

/** Producer side: send the partly filled current batch, if any. */
void safem_handoff_flush(struct safem_handoff *h, unsigned int producer);

/**
 * Producer side: send a marker (e.g. "window ended, here is its state")
 * after every record put so far. The consumer sees it after those records
 * and before any later one. It may use the reserved batches (mark_reserve),
 * so it never waits while fewer markers than that are in flight; beyond, it
 * waits like put, or returns -ENOBUFS (counted in marks_dropped).
 */
int safem_handoff_mark(struct safem_handoff *h, unsigned int producer, void *mark);

/**
 * Consumer callback: a batch of records from one producer, in put order
 * (mark NULL), or a marker (count 0, mark as given to safem_handoff_mark).
 */
typedef void (*safem_handoff_consume_fn)(unsigned int producer,
					 const struct safem_flow_record *records,
					 unsigned int count, void *mark, void *ctx);

/**
 * Consumer side (one lcore): take up to max_batches full batches from each
 * producer, hand them to fn and recycle them.
 * @return number of records consumed.
 */
unsigned int safem_handoff_consume(struct safem_handoff *h, unsigned int max_batches,
				   safem_handoff_consume_fn fn, void *ctx);

/** Counters of one producer (racy read from other lcores is fine for monitoring). */
const struct safem_handoff_stats *safem_handoff_stats(const struct safem_handoff *h,
						       unsigned int producer);

#ifdef __cplusplus
}
#endif

#endif /* SAFEM_HANDOFF_H */
