/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SAFEM_MEM_H
#define SAFEM_MEM_H

/**
 * @file
 * Memory for large tables probed at random (flow cache, prefix trees) when it
 * does not come from DPDK hugepages: heap memory aligned to 2 MB with a
 * transparent huge page hint, because with 4 KB pages almost every probe also
 * misses the TLB (measured: 1M-flow cache 7.2 -> 10.8 Mpps, docs/performance.md).
 * Zeroed and faulted in at allocation, never on the packet path.
 */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Zeroed, faulted-in table memory, or NULL. Free with safem_mem_table_free(). */
void *safem_mem_table_alloc(size_t size);

void safem_mem_table_free(void *mem);

/**
 * Bytes a big table on socket_id could be allocated from, the way the
 * project's tables are (lib/flow's create, for one): with EAL hugepages, the
 * free DPDK heap of that socket plus the free hugepages of that NUMA node
 * (the heap grows into them); otherwise (--no-huge, or no EAL) the system's
 * MemAvailable, since the table then comes from safem_mem_table_alloc().
 * 0 when it cannot be read. Reads sysfs/procfs: call at start-up only.
 */
uint64_t safem_mem_table_available(int socket_id);

/**
 * What the probe's memory is for, as --stats "memory" breaks it down. Each
 * library adds the bytes it actually asked an allocator for when it creates a
 * table and takes them back when it frees it, so the figures follow the real
 * allocations (including rounding to powers of two) instead of a formula.
 */
#define SAFEM_MEM_USES(X)                                                                          \
	X(flow_tables)   /* per-worker flow caches */                                              \
	X(trees)         /* aggregation trees (panes, merge, scratch) */                           \
	X(distributions) /* feature distributions */                                              \
	X(queues)        /* rings and their batches between cores */                              \
	X(mbufs)         /* packet buffer pools */

enum safem_mem_use {
#define ENUM_(name) SAFEM_MEM_##name,
	SAFEM_MEM_USES(ENUM_)
#undef ENUM_
	SAFEM_MEM_USE_COUNT
};

/** Name of a use as in --stats ("flow_tables"...), NULL when out of range. */
const char *safem_mem_use_name(enum safem_mem_use use);

/**
 * Count bytes (negative: released) for a use. Atomic; call where tables are
 * created and freed, never on the packet path.
 */
void safem_mem_account(enum safem_mem_use use, int64_t bytes);

/** Bytes currently accounted for a use. */
uint64_t safem_mem_accounted(enum safem_mem_use use);

/**
 * Bytes the process has asked allocators for and not given back: glibc's
 * heap and mmap chunks in use (mallinfo2) plus the DPDK heap's allocated
 * bytes on every socket (mempools, rings, rte_malloc). The difference of two
 * readings is what was allocated in between, whatever the allocator.
 */
uint64_t safem_mem_heap_in_use(void);

struct rte_ring;

/** Bytes of the memzone that holds a DPDK ring (its real allocation), 0 for NULL. */
size_t safem_mem_ring_bytes(const struct rte_ring *r);

/** The process's resident set (VmRSS of /proc/self/status) in bytes, 0 if unreadable. */
uint64_t safem_mem_process_rss(void);

#ifdef __cplusplus
}
#endif

#endif /* SAFEM_MEM_H */
