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

#ifdef __cplusplus
extern "C" {
#endif

/** Zeroed, faulted-in table memory, or NULL. Free with safem_mem_table_free(). */
void *safem_mem_table_alloc(size_t size);

void safem_mem_table_free(void *mem);

#ifdef __cplusplus
}
#endif

#endif /* SAFEM_MEM_H */
