/* SPDX-License-Identifier: BSD-3-Clause */
#include <dirent.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <rte_common.h>
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_memzone.h>
#include <rte_ring.h>

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

/* The first unsigned number in a file (sysfs, procfs), or 0. */
static uint64_t
mem_read_number(const char *path, const char *after)
{
	char line[256];
	uint64_t value = 0;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		const char *p = line;

		if (after != NULL) {
			if (strncmp(line, after, strlen(after)) != 0)
				continue;
			p += strlen(after);
		}
		value = strtoull(p, NULL, 10);
		break;
	}
	fclose(f);
	return value;
}

/* Free hugepages under dir (one hugepages-<size>kB folder per page size), in bytes. */
static uint64_t
mem_free_hugepage_bytes(const char *dir)
{
	uint64_t bytes = 0;
	struct dirent *de;
	DIR *d = opendir(dir);

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char path[512];
		unsigned long long kb;

		if (sscanf(de->d_name, "hugepages-%llukB", &kb) != 1)
			continue;
		snprintf(path, sizeof(path), "%s/%s/free_hugepages", dir, de->d_name);
		bytes += mem_read_number(path, NULL) * kb * 1024;
	}
	closedir(d);
	return bytes;
}

uint64_t
safem_mem_table_available(int socket_id)
{
	if (rte_lcore_count() > 0 && rte_eal_has_hugepages()) {
		struct rte_malloc_socket_stats st;
		uint64_t bytes = 0;
		char dir[128];

		if (socket_id >= 0 && rte_malloc_get_socket_stats(socket_id, &st) == 0)
			bytes = st.heap_freesz_bytes;
		/* The heap grows into free hugepages of its node (dynamic memory mode). */
		snprintf(dir, sizeof(dir), "/sys/devices/system/node/node%d/hugepages",
			 socket_id >= 0 ? socket_id : 0);
		return bytes + mem_free_hugepage_bytes(dir);
	}
	return mem_read_number("/proc/meminfo", "MemAvailable:") * 1024;
}

static uint64_t mem_accounted[SAFEM_MEM_USE_COUNT];

const char *
safem_mem_use_name(enum safem_mem_use use)
{
	static const char *const names[] = {
#define NAME_(name) #name,
		SAFEM_MEM_USES(NAME_)
#undef NAME_
	};

	return (unsigned int)use < SAFEM_MEM_USE_COUNT ? names[use] : NULL;
}

void
safem_mem_account(enum safem_mem_use use, int64_t bytes)
{
	if ((unsigned int)use < SAFEM_MEM_USE_COUNT)
		__atomic_fetch_add(&mem_accounted[use], (uint64_t)bytes, __ATOMIC_RELAXED);
}

uint64_t
safem_mem_accounted(enum safem_mem_use use)
{
	return (unsigned int)use < SAFEM_MEM_USE_COUNT
		       ? __atomic_load_n(&mem_accounted[use], __ATOMIC_RELAXED)
		       : 0;
}

uint64_t
safem_mem_heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();
	uint64_t bytes = (uint64_t)mi.uordblks + (uint64_t)mi.hblkhd;
	unsigned int i;

	for (i = 0; rte_lcore_count() > 0 && i < rte_socket_count(); i++) {
		struct rte_malloc_socket_stats st;

		if (rte_malloc_get_socket_stats(rte_socket_id_by_idx(i), &st) == 0)
			bytes += st.heap_allocsz_bytes;
	}
	return bytes;
}

uint64_t
safem_mem_process_rss(void)
{
	return mem_read_number("/proc/self/status", "VmRSS:") * 1024;
}

size_t
safem_mem_ring_bytes(const struct rte_ring *r)
{
	return r != NULL && r->memzone != NULL ? r->memzone->len : 0;
}
