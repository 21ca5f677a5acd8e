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

#ifdef __cplusplus
}
#endif

#endif /* SAFEM_MEM_H */
