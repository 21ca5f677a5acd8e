/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <rte_common.h>

#include "safem_mem.h"

#define HUGE_PAGE_BYTES (2u << 20)

void *
safem_mem_table_alloc(size_t size)
{
	size_t align = size >= HUGE_PAGE_BYTES ? HUGE_PAGE_BYTES : RTE_CACHE_LINE_SIZE;
	void *mem;

	if (posix_memalign(&mem, align, size) != 0)
		return NULL;
#ifdef MADV_HUGEPAGE
	if (align == HUGE_PAGE_BYTES)
		(void)madvise(mem, RTE_ALIGN_FLOOR(size, HUGE_PAGE_BYTES), MADV_HUGEPAGE);
#endif
	memset(mem, 0, size);
	return mem;
}

void
safem_mem_table_free(void *mem)
{
	free(mem);
}
