/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef BENCH_FLOW_EVICT_LRU_H
#define BENCH_FLOW_EVICT_LRU_H

/* The flow cache with the old LRU rule (bench_flow_evict_lru.c): same API, renamed. */

#include "safem_flow.h"

struct safem_flow_cache *bench_lru_flow_cache_create(const struct safem_flow_cache_params *params);
void bench_lru_flow_cache_free(struct safem_flow_cache *fc);
void bench_lru_flow_cache_update_burst(struct safem_flow_cache *fc,
				       const struct safem_packet *pkts, unsigned int n);
unsigned int bench_lru_flow_cache_expire(struct safem_flow_cache *fc, uint64_t now_ms,
					 unsigned int max_lines);
void bench_lru_flow_cache_flush(struct safem_flow_cache *fc, uint64_t end_ms);
const struct safem_flow_cache_stats *bench_lru_flow_cache_stats(const struct safem_flow_cache *fc);

#endif /* BENCH_FLOW_EVICT_LRU_H */
