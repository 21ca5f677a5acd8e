/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/window + lib/aggtree: window tree files (--trees), as safem-merge reads
 * them: safem_window_read_trees into trees of two sizes (a small bound forces
 * the fold-on-read path), then what safem-merge does with a file that reads:
 * merge into an accumulator, write the window report, write the merged trees
 * and read them back. The round trip must give back the same window and the
 * same totals.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "safem_aggtree.h"
#include "safem_window.h"

#define SMALL_NODES 64
#define LARGE_NODES 65536

static struct safem_aggtree *small[2], *large[2], *merged[2], *back[2];
static FILE *devnull;
static char out_path[256];

static struct safem_aggtree *
tree(const char *name, uint32_t nodes)
{
	struct safem_aggtree_params p = {.name = name, .max_nodes = nodes};
	struct safem_aggtree *t = safem_aggtree_create(&p);

	FUZZ_CHECK(t != NULL);
	return t;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	unsigned int d;

	(void)argc;
	(void)argv;
	for (d = 0; d < 2; d++) {
		small[d] = tree("small", SMALL_NODES);
		large[d] = tree("large", LARGE_NODES);
		merged[d] = tree("merged", LARGE_NODES);
		back[d] = tree("back", LARGE_NODES);
	}
	devnull = fopen("/dev/null", "w");
	FUZZ_CHECK(devnull != NULL);
	snprintf(out_path, sizeof(out_path), "%s/safem-fuzz-trees-%d.tree",
		 tmp != NULL ? tmp : "/tmp", (int)getpid());
	return 0;
}

static void
check_same_totals(struct safem_aggtree *const a[2], struct safem_aggtree *const b[2])
{
	unsigned int d;

	for (d = 0; d < 2; d++) {
		struct safem_agg_counters x, y;

		safem_aggtree_totals(a[d], &x);
		safem_aggtree_totals(b[d], &y);
		FUZZ_CHECK(x.packets == y.packets && x.bytes == y.bytes && x.flows == y.flows);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file(0, data, size);
	struct safem_window_counts counts, counts2;
	uint64_t start_ms, end_ms, start2, end2;
	unsigned int d;

	(void)safem_window_read_trees(path, &start_ms, &end_ms, &counts, small);
	if (safem_window_read_trees(path, &start_ms, &end_ms, &counts, large) != 0)
		return 0;
	for (d = 0; d < 2; d++) {
		safem_aggtree_reset(merged[d]);
		FUZZ_CHECK(safem_aggtree_merge(merged[d], large[d]) == 0);
	}
	check_same_totals(merged, large);
	FUZZ_CHECK(safem_window_write_report(devnull, 0.01, 2.0, start_ms, end_ms, merged, &counts,
					     NULL) == 0);
	FUZZ_CHECK(safem_window_write_trees(out_path, start_ms, end_ms, &counts, merged) == 0);
	FUZZ_CHECK(safem_window_read_trees(out_path, &start2, &end2, &counts2, back) == 0);
	unlink(out_path);
	FUZZ_CHECK(start2 == start_ms && end2 == end_ms);
	FUZZ_CHECK(counts2.packets == counts.packets && counts2.bytes == counts.bytes &&
		   counts2.flows == counts.flows);
	check_same_totals(back, merged);
	return 0;
}
