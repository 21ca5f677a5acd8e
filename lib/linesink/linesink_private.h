/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef LINESINK_PRIVATE_H
#define LINESINK_PRIVATE_H

/* What the stream code (linesink.c) calls in the syslog and Kafka outputs. */

#include <stddef.h>
#include <stdint.h>

#include "safem_linesink.h"

/*
 * Add to a stream counter. Each counter has one writer thread (the one that
 * writes the stream, or the one that serves Kafka reports), so a relaxed
 * load and store suffice; they make the readers on other threads
 * (safem_linesink_stats_read) race-free without a locked add.
 */
static inline void
linesink_count(uint64_t *counter, uint64_t n)
{
	__atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

/**
 * One datagram for one line, counted in st->syslog_sent or st->syslog_dropped
 * (under the sender's lock: the pacing queue's pump, on another thread, counts
 * the same stream). A paced sender may queue it; it is counted when it leaves
 * or when the queue gives up on it (safem_linesink_syslog_drain).
 */
void linesink_syslog_send(struct safem_linesink_syslog *sl, int severity, const char *msgid,
			  const char *line, size_t len, struct safem_linesink_stats *st);

/**
 * Queue one message (copied) on topic. Its delivery report lands in
 * st->kafka_delivered / kafka_failed / kafka_undelivered. 0, or -errno when
 * the producer refused it at once (ENOBUFS: queue full).
 */
int linesink_kafka_produce(struct safem_linesink_kafka *k, const char *topic, const char *line,
			   size_t len, struct safem_linesink_stats *st);

#endif /* LINESINK_PRIVATE_H */
