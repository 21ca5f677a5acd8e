/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/flow/flow_cache.c compiled a second time, with the replacement rule it
 * had before (evict the least recently seen flow of a full line) and its
 * public symbols renamed bench_lru_*, so that bench_flow_evict can time the
 * shipped rule against LRU in one run and check its LRU model against real
 * code. The library itself keeps one rule; this file is its only seam.
 */
/* Every public function of lib/flow: one missing here is a duplicate symbol at link time. */
#define safem_flow_end_reason_name bench_lru_flow_end_reason_name
#define safem_flow_cache_params_error bench_lru_flow_cache_params_error
#define safem_flow_cache_bytes_per_flow bench_lru_flow_cache_bytes_per_flow
#define safem_flow_cache_capacity bench_lru_flow_cache_capacity
#define safem_flow_cache_capacity_for_bytes bench_lru_flow_cache_capacity_for_bytes
#define safem_flow_cache_stats bench_lru_flow_cache_stats
#define safem_flow_cache_create bench_lru_flow_cache_create
#define safem_flow_cache_free bench_lru_flow_cache_free
#define safem_flow_cache_update_burst bench_lru_flow_cache_update_burst
#define safem_flow_cache_expire bench_lru_flow_cache_expire
#define safem_flow_cache_flush bench_lru_flow_cache_flush
#define safem_flow_cache_readout bench_lru_flow_cache_readout
#define safem_flow_cache_pane_begin bench_lru_flow_cache_pane_begin
#define safem_flow_cache_pane_sweep bench_lru_flow_cache_pane_sweep

struct safem_flow_cache;
struct flow_entry;
static unsigned int flow_line_victim_lru(const struct safem_flow_cache *fc,
					 const struct flow_entry *entries);
#define FLOW_LINE_VICTIM flow_line_victim_lru

#include "flow_cache.c"

#include "bench_flow_evict_lru.h"

/* The rule before issue 10: the largest serial age, the first slot on a tie. */
static unsigned int
flow_line_victim_lru(const struct safem_flow_cache *fc, const struct flow_entry *entries)
{
	uint32_t clock32 = (uint32_t)fc->clock_ms, lru_age = 0;
	unsigned int slot, lru_slot = 0;

	for (slot = 0; slot < SAFEM_FLOW_LINE_SLOTS; slot++) {
		uint32_t age = clock32 - entries[slot].last_ms32;

		if (slot == 0 || age > lru_age) {
			lru_age = age;
			lru_slot = slot;
		}
	}
	return lru_slot;
}
