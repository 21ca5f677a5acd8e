/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef WINDOW_PRIVATE_H
#define WINDOW_PRIVATE_H

/* What the producer side (window_pane.c) and the analysis side
 * (window_analysis.c) share. */

#include <stdint.h>

#include "safem_aggtree.h"

/* Trees come from the heap (lib/mem); NUMA placement follows the first
 * touch, which is the owning lcore's. */
static inline struct safem_aggtree *
window_tree(const char *name, uint32_t nodes)
{
	struct safem_aggtree_params tp = {
		.name = name,
		.max_nodes = nodes,
	};

	return safem_aggtree_create(&tp);
}

#endif /* WINDOW_PRIVATE_H */
