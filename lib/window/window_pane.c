/* SPDX-License-Identifier: BSD-3-Clause */
/* Producer side of lib/window: the panes a worker lcore fills and hands over. */
#include <stdio.h>
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_common.h>
#include <rte_errno.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>
#include <rte_ring.h>

#include "safem_window.h"
#include "window_private.h"

struct safem_window_producer {
	struct safem_window_pane *current;
	struct safem_window_pane *closing; /* NULL: none */
	const struct safem_home *home;
	struct rte_ring *free; /* panes back from the analysis (MP enqueue, SC dequeue) */
	struct safem_window_pane *panes;
	unsigned int buffers;
	uint64_t waits;   /* try_rotate found no free buffer */
	uint64_t dropped; /* panes cleared without a hand-over */
	uint32_t flow_budget;
};

/* Up to 1 in 2^16: beyond, a pane would keep too few flows to say anything. */
#define SURGE_SHIFT_MAX 16
/* the flow log keeps the shift in a byte and reads the weight as a 32-bit 1 << shift */
static_assert(SURGE_SHIFT_MAX < 32, "a flow-log weight is a uint32_t power of two");
#define SURGE_HASH_SEED 0x5afe3a11u

/* Panes carry a back pointer to their free ring just after the public struct. */
struct window_pane_slot {
	struct safem_window_pane pane;
	struct rte_ring *free;
};

static void
window_pane_clear(struct safem_window_pane *p)
{
	safem_aggtree_reset(p->src);
	safem_aggtree_reset(p->dst);
	p->packets = p->bytes = p->flows = 0;
	p->close_ns = 0;
	p->kept = p->sampled_out = 0;
	p->sample_shift = 0;
	p->jump_from_ms = 0;
	p->flow_logged = 0;
	p->flow_unlogged = 0;
	if (p->features != NULL)
		safem_featset_clear(p->features);
}

struct safem_window_producer *
safem_window_producer_create(const struct safem_window_producer_params *params)
{
	struct safem_window_producer *wp;
	struct window_pane_slot *slots;
	char name[RTE_RING_NAMESIZE];
	unsigned int i;

	if (params == NULL || params->buffers < 2 || params->tree_nodes == 0) {
		rte_errno = EINVAL;
		return NULL;
	}
	wp = rte_zmalloc_socket(params->name, sizeof(*wp), RTE_CACHE_LINE_SIZE, params->socket_id);
	if (wp == NULL)
		goto nomem;
	wp->buffers = params->buffers;
	wp->home = params->home;
	wp->flow_budget = params->flow_budget;
	slots = rte_zmalloc_socket(params->name, sizeof(*slots) * params->buffers,
				   RTE_CACHE_LINE_SIZE, params->socket_id);
	wp->panes = (struct safem_window_pane *)slots;
	snprintf(name, sizeof(name), "wfree%u", params->producer);
	wp->free = rte_ring_create(name, rte_align32pow2(params->buffers + 1), params->socket_id,
				   RING_F_SC_DEQ);
	if (slots == NULL || wp->free == NULL)
		goto nomem;
	for (i = 0; i < params->buffers; i++) {
		struct safem_window_pane *p = &slots[i].pane;

		slots[i].free = wp->free;
		p->producer = params->producer;
		p->src = window_tree("wsrc", params->tree_nodes);
		p->dst = window_tree("wdst", params->tree_nodes);
		if (p->src == NULL || p->dst == NULL)
			goto nomem;
		if (params->feature_values != 0) {
			p->features = safem_featset_create(
				params->feature_values,
				params->home != NULL && params->home->count != 0, params->socket_id);
			if (p->features == NULL)
				goto nomem;
		}
		if (params->profile_flows != 0 && params->feature_values != 0) {
			p->flow_log = rte_malloc_socket("wflowlog",
							sizeof(*p->flow_log) * params->profile_flows,
							RTE_CACHE_LINE_SIZE, params->socket_id);
			if (p->flow_log == NULL)
				goto nomem;
			p->flow_log_capacity = params->profile_flows;
		}
		if (i == 0)
			wp->current = p;
		else
			rte_ring_enqueue(wp->free, p);
	}
	return wp;
nomem:
	safem_window_producer_free(wp);
	rte_errno = ENOMEM;
	return NULL;
}

void
safem_window_producer_free(struct safem_window_producer *wp)
{
	struct window_pane_slot *slots;
	unsigned int i;

	if (wp == NULL)
		return;
	slots = (struct window_pane_slot *)wp->panes;
	for (i = 0; slots != NULL && i < wp->buffers; i++) {
		safem_aggtree_free(slots[i].pane.src);
		safem_aggtree_free(slots[i].pane.dst);
		safem_featset_free(slots[i].pane.features);
		rte_free(slots[i].pane.flow_log);
	}
	rte_free(slots);
	rte_ring_free(wp->free);
	rte_free(wp);
}

/*
 * The surge guard (Xu et al., section 4: sampling under flow surges). Adding
 * a flow to two bounded prefix trees and the feature tables costs ~0.5-1 us
 * under a spoofed-source flood (every add misses, the trees fold); 1M flows a
 * second would take the worker's whole CPU. Past the pane's budget, flows
 * are kept 1 in 2^shift by a hash of their key (so a flow's fate does not
 * depend on the order of arrival) and weighted 2^shift: the totals stay
 * unbiased, heavy values stay visible, the work per pane stays within about
 * budget x (log2(flows / budget) + 1) adds. Each further budget's worth of
 * kept flows halves the rate again.
 * The feature distributions get every flow and a guard of their own, per
 * distribution (safem_featset_add_flow_guarded): only a distribution that
 * has taken a budget's worth of new values samples (the flooded dimensions
 * of a spoofed-source flood), so the others, and the clusters lib/profile
 * finds in them, stay those of an unguarded run.
 */
bool
safem_window_producer_add(struct safem_window_producer *wp, enum safem_window_target target,
			  const struct safem_flow_key *key, uint8_t tcp_flags, uint64_t packets,
			  uint64_t bytes, uint32_t first_ms32, uint32_t last_ms32)
{
	struct safem_window_pane *p = target == SAFEM_WINDOW_CLOSING ? wp->closing : wp->current;
	struct safem_agg_counters c = {.bytes = bytes, .packets = packets, .flows = 1};
	struct safem_agg_addr src, dst;

	if (p == NULL)
		return false;
	p->packets += packets;
	p->bytes += bytes;
	p->flows++;
	if (p->features != NULL && wp->flow_budget != 0)
		safem_featset_add_flow_guarded(p->features, wp->home, key, tcp_flags, packets,
					       bytes, wp->flow_budget);
	if (wp->flow_budget != 0) {
		if (p->kept >= (uint64_t)wp->flow_budget * (p->sample_shift + 1) &&
		    p->sample_shift < SURGE_SHIFT_MAX)
			p->sample_shift++;
		if (p->sample_shift != 0) {
			uint32_t h = rte_hash_crc(key, sizeof(*key), SURGE_HASH_SEED);

			if ((h & ((1u << p->sample_shift) - 1)) != 0) {
				p->sampled_out++;
				return false;
			}
			c.flows <<= p->sample_shift;
			c.packets <<= p->sample_shift;
			c.bytes <<= p->sample_shift;
		}
	}
	p->kept++;
	src = safem_agg_addr_from_bytes(key->src_addr, key->ip_version);
	dst = safem_agg_addr_from_bytes(key->dst_addr, key->ip_version);
	safem_aggtree_add(p->src, &src, &c);
	safem_aggtree_add(p->dst, &dst, &c);
	if (p->features != NULL && wp->flow_budget == 0)
		safem_featset_add_flow_weighted(p->features, wp->home, key, tcp_flags, c.flows,
						c.packets, c.bytes);
	/* Profiling needs who talked to whom per cluster, which the per-feature tables
	 * do not keep: log the contribution (one 64-byte store into a preallocated
	 * array; the analysis side does all the work). */
	if (p->flow_log != NULL) {
		if (likely(p->flow_logged < p->flow_log_capacity)) {
			struct safem_profile_flow *e = &p->flow_log[p->flow_logged++];

			e->key = *key;
			e->weight_shift = (uint8_t)p->sample_shift; /* c.flows is 1 << it */
			e->tcp_flags = tcp_flags;
			safem_profile_flow_set_last_ms(e, last_ms32);
			/* serial distance; a first after the last (cannot be) reads as 0 */
			safem_profile_flow_set_first_back(
				e, (int32_t)(last_ms32 - first_ms32) > 0 ? last_ms32 - first_ms32 : 0);
			e->packets = c.packets;
			e->bytes = c.bytes;
		} else {
			p->flow_unlogged += c.flows;
		}
	}
	return true;
}

bool
safem_window_producer_try_rotate(struct safem_window_producer *wp, uint64_t start_ms,
				 uint64_t end_ms)
{
	void *obj;

	if (wp->closing != NULL)
		return false;
	/* No spin here: the caller decides how long it may wait (a live worker
	 * must not stop polling) and checks the stop flag meanwhile. */
	if (rte_ring_dequeue(wp->free, &obj) != 0) {
		wp->waits++;
		return false;
	}
	wp->current->start_ms = start_ms;
	wp->current->end_ms = end_ms;
	wp->closing = wp->current;
	/* Cleared by the analysis before it came back (safem_window_pane_release):
	 * the worker does not pay for resetting trees and tables. */
	wp->current = obj;
	return true;
}

void
safem_window_producer_note_jump(struct safem_window_producer *wp, uint64_t from_ms)
{
	wp->current->jump_from_ms = from_ms;
}

bool
safem_window_producer_closing(const struct safem_window_producer *wp)
{
	return wp->closing != NULL;
}

struct safem_window_pane *
safem_window_producer_finish(struct safem_window_producer *wp)
{
	struct safem_window_pane *done = wp->closing;

	wp->closing = NULL;
	return done;
}

void
safem_window_producer_drop(struct safem_window_producer *wp)
{
	window_pane_clear(wp->current);
	wp->dropped++;
}

uint64_t
safem_window_producer_waits(const struct safem_window_producer *wp)
{
	return wp->waits;
}

uint64_t
safem_window_producer_dropped(const struct safem_window_producer *wp)
{
	return wp->dropped;
}

void
safem_window_pane_release(struct safem_window_pane *pane)
{
	struct window_pane_slot *slot = (struct window_pane_slot *)pane;

	/* Cleared here, on the analysis side, so the worker takes back an empty
	 * pane and spends nothing on it. Ring capacity exceeds the buffers:
	 * cannot fail. The enqueue is the release that publishes "analysis is
	 * done with these trees". */
	window_pane_clear(pane);
	rte_ring_enqueue(slot->free, pane);
}

void
safem_pane_clock_init(struct safem_pane_clock *pc, uint64_t pane_ms, uint64_t gap_ms)
{
	memset(pc, 0, sizeof(*pc));
	pc->pane_ms = pane_ms;
	pc->gap_ms = RTE_MAX(gap_ms, pane_ms);
}

bool
safem_pane_clock_next(struct safem_pane_clock *pc, uint64_t ms)
{
	uint64_t closed_end = pc->end_ms;

	pc->end_ms += pc->pane_ms;
	/* Empty from closed_end to ms: a stretch of gap_ms or more is skipped. */
	if (ms >= closed_end && ms - closed_end >= pc->gap_ms) {
		pc->end_ms = ms - ms % pc->pane_ms + pc->pane_ms;
		pc->jumps++;
		return true;
	}
	return false;
}
