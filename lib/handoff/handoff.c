/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_pause.h>
#include <rte_ring.h>

#include "safem_handoff.h"
#include "safem_mem.h"

struct handoff_batch {
	unsigned int count;
	void *mark; /* non-NULL: a marker batch (count 0) */
	struct safem_flow_record records[SAFEM_HANDOFF_BATCH_RECORDS];
} __rte_cache_aligned;

/* One per producer, on its own cache lines: the producer writes `current`
 * and the counters, the consumer only touches the rings. */
struct handoff_channel {
	struct handoff_batch *current;
	struct rte_ring *full;
	struct rte_ring *free;
	bool block; /* producer-owned: wait (bounded) instead of dropping */
	bool stalled; /* a wait ran out; no new wait until the consumer frees a batch */
	struct safem_handoff_stats stats;
} __rte_cache_aligned;

struct safem_handoff {
	unsigned int producers;
	unsigned int mark_reserve;
	uint64_t stall_tsc;
	uint64_t stop_wait_tsc;
	const uint32_t *stop;
	struct handoff_batch *batches;
	size_t memory_bytes; /* rings, batches and this struct: --stats memory.queues */
	struct handoff_channel channels[];
};

static struct rte_ring *
handoff_ring_create(const char *name, unsigned int producer, const char *kind, unsigned int size,
		    int socket_id)
{
	char ring_name[RTE_RING_NAMESIZE];

	snprintf(ring_name, sizeof(ring_name), "%s_%s%u", name, kind, producer);
	return rte_ring_create(ring_name, size, socket_id, RING_F_SP_ENQ | RING_F_SC_DEQ);
}

struct safem_handoff *
safem_handoff_create(const struct safem_handoff_params *params)
{
	struct safem_handoff *h;
	unsigned int per_producer, p, b;

	if (params == NULL || params->name == NULL || params->producers == 0 ||
	    params->batches_per_producer < 2 ||
	    params->mark_reserve + 1 >= params->batches_per_producer) {
		rte_errno = EINVAL;
		return NULL;
	}
	per_producer = rte_align32pow2(params->batches_per_producer);
	h = rte_zmalloc_socket(params->name,
			       sizeof(*h) + params->producers * sizeof(struct handoff_channel),
			       RTE_CACHE_LINE_SIZE, params->socket_id);
	if (h == NULL)
		goto nomem;
	h->producers = params->producers;
	h->mark_reserve = params->mark_reserve;
	h->stall_tsc = (params->stall_us != 0 ? params->stall_us : 10000000) * rte_get_tsc_hz() /
		       1000000;
	h->stop_wait_tsc = (params->stop_wait_us != 0 ? params->stop_wait_us : 200000) *
			   rte_get_tsc_hz() / 1000000;
	h->stop = params->stop;
	h->batches = rte_malloc_socket(params->name,
				       (size_t)params->producers * per_producer *
					       sizeof(struct handoff_batch),
				       RTE_CACHE_LINE_SIZE, params->socket_id);
	if (h->batches == NULL)
		goto nomem;
	for (p = 0; p < h->producers; p++) {
		struct handoff_channel *ch = &h->channels[p];

		/* Ring capacity is size - 1, so a ring of 2 x per_producer holds
		 * every batch the producer owns: enqueues never fail. */
		ch->full = handoff_ring_create(params->name, p, "f", per_producer * 2,
					       params->socket_id);
		ch->free = handoff_ring_create(params->name, p, "e", per_producer * 2,
					       params->socket_id);
		if (ch->full == NULL || ch->free == NULL)
			goto nomem;
		ch->block = params->block_when_full;
		for (b = 0; b < per_producer; b++) {
			struct handoff_batch *batch = &h->batches[(size_t)p * per_producer + b];

			batch->count = 0;
			rte_ring_enqueue(ch->free, batch);
		}
		h->memory_bytes += safem_mem_ring_bytes(ch->full) + safem_mem_ring_bytes(ch->free);
	}
	h->memory_bytes += sizeof(*h) + params->producers * sizeof(struct handoff_channel) +
			   (size_t)params->producers * per_producer * sizeof(struct handoff_batch);
	safem_mem_account(SAFEM_MEM_queues, (int64_t)h->memory_bytes);
	return h;
nomem:
	safem_handoff_free(h);
	rte_errno = ENOMEM;
	return NULL;
}

void
safem_handoff_free(struct safem_handoff *h)
{
	unsigned int p;

	if (h == NULL)
		return;
	safem_mem_account(SAFEM_MEM_queues, -(int64_t)h->memory_bytes);
	for (p = 0; p < h->producers; p++) {
		rte_ring_free(h->channels[p].full);
		rte_ring_free(h->channels[p].free);
	}
	rte_free(h->batches);
	rte_free(h);
}

static void
handoff_send_current(struct handoff_channel *ch)
{
	/* Cannot fail: the ring holds every batch of this producer. */
	rte_ring_enqueue(ch->full, ch->current);
	ch->current = NULL;
	ch->stats.batches_sent++;
}

void
safem_handoff_set_blocking(struct safem_handoff *h, unsigned int producer, bool block)
{
	h->channels[producer].block = block;
}

/*
 * A free batch, leaving `keep` of them in the ring (the markers' reserve).
 * Blocking: wait while the consumer keeps freeing batches, but give up once
 * it freed none for stall_tsc (stuck), or for stop_wait_tsc after a stop: a
 * probe that has been told to stop must exit, and a wait on another core is
 * never unbounded. NULL when none.
 */
static struct handoff_batch *
handoff_take_free(const struct safem_handoff *h, struct handoff_channel *ch, unsigned int keep)
{
	uint64_t start = 0, last_progress = 0, now;
	unsigned int seen = 0;
	void *obj;

	for (;;) {
		unsigned int avail = rte_ring_count(ch->free);

		if (avail > keep && rte_ring_dequeue(ch->free, &obj) == 0) {
			/* Back to normal only when the consumer freed a batch beyond
			 * the marks' reserve; a mark taking a reserved one says nothing. */
			if (avail > h->mark_reserve)
				ch->stalled = false;
			break;
		}
		/* After a wait ran out, the next records drop at once until the
		 * consumer is back: one bound per stall, not one per record. */
		if (!ch->block || ch->stalled)
			return NULL;
		now = rte_get_tsc_cycles();
		if (start == 0) {
			start = last_progress = now;
			seen = avail;
			ch->stats.full_waits++;
		} else if (avail != seen) {
			/* the consumer freed something (someone else's reserve) */
			seen = avail;
			last_progress = now;
		}
		if (now - last_progress > h->stall_tsc ||
		    (h->stop != NULL && __atomic_load_n(h->stop, __ATOMIC_RELAXED) != 0 &&
		     now - last_progress > h->stop_wait_tsc)) {
			ch->stats.wait_us += (now - start) * 1000000 / rte_get_tsc_hz();
			ch->stalled = true;
			return NULL;
		}
		rte_pause();
	}
	if (start != 0)
		ch->stats.wait_us += (rte_get_tsc_cycles() - start) * 1000000 / rte_get_tsc_hz();
	((struct handoff_batch *)obj)->count = 0;
	((struct handoff_batch *)obj)->mark = NULL;
	return obj;
}

int
safem_handoff_put(struct safem_handoff *h, unsigned int producer,
		  const struct safem_flow_record *record)
{
	struct handoff_channel *ch = &h->channels[producer];
	struct handoff_batch *batch = ch->current;

	if (unlikely(batch == NULL)) {
		batch = handoff_take_free(h, ch, h->mark_reserve);
		if (batch == NULL) {
			ch->stats.records_dropped++;
			if (ch->block)
				ch->stats.stall_drops++;
			return -ENOBUFS;
		}
		ch->current = batch;
	}
	batch->records[batch->count++] = *record;
	ch->stats.records_put++;
	if (batch->count == SAFEM_HANDOFF_BATCH_RECORDS)
		handoff_send_current(ch);
	return 0;
}

void
safem_handoff_flush(struct safem_handoff *h, unsigned int producer)
{
	struct handoff_channel *ch = &h->channels[producer];

	if (ch->current != NULL && ch->current->count > 0)
		handoff_send_current(ch);
}

int
safem_handoff_mark(struct safem_handoff *h, unsigned int producer, void *mark)
{
	struct handoff_channel *ch = &h->channels[producer];
	struct handoff_batch *batch;

	safem_handoff_flush(h, producer);
	batch = handoff_take_free(h, ch, 0);
	if (batch == NULL) {
		ch->stats.marks_dropped++;
		return -ENOBUFS;
	}
	batch->mark = mark;
	ch->current = batch;
	handoff_send_current(ch);
	ch->stats.batches_sent--; /* a marker is not a record batch */
	ch->stats.marks_sent++;
	return 0;
}

unsigned int
safem_handoff_consume(struct safem_handoff *h, unsigned int max_batches,
		      safem_handoff_consume_fn fn, void *ctx)
{
	unsigned int records = 0, p, i;

	for (p = 0; p < h->producers; p++) {
		struct handoff_channel *ch = &h->channels[p];

		for (i = 0; i < max_batches; i++) {
			void *obj;
			struct handoff_batch *batch;

			if (rte_ring_dequeue(ch->full, &obj) != 0)
				break;
			batch = obj;
			fn(p, batch->records, batch->count, batch->mark, ctx);
			records += batch->count;
			rte_ring_enqueue(ch->free, batch);
		}
	}
	return records;
}

const struct safem_handoff_stats *
safem_handoff_stats(const struct safem_handoff *h, unsigned int producer)
{
	return &h->channels[producer].stats;
}
