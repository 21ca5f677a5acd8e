/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_pause.h>
#include <rte_ring.h>

#include "safem_entropy.h"
#include "safem_outfile.h"
#include "safem_window.h"

/* ---------------------------------------------------------------------- */
/* Producer side (worker lcore)                                            */

struct safem_window_producer {
	struct safem_window_pane *current;
	struct rte_ring *free; /* panes back from the analysis (MP enqueue, SC dequeue) */
	struct safem_window_pane *panes;
	unsigned int buffers;
	uint64_t waits;
};

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
}

/* Trees come from the heap (lib/mem); NUMA placement follows the first
 * touch, which is the owning lcore's. */
static struct safem_aggtree *
window_tree(const char *name, uint32_t nodes)
{
	struct safem_aggtree_params tp = {
		.name = name,
		.max_nodes = nodes,
	};

	return safem_aggtree_create(&tp);
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
	}
	rte_free(slots);
	rte_ring_free(wp->free);
	rte_free(wp);
}

void
safem_window_producer_add(struct safem_window_producer *wp, const struct safem_flow_key *key,
			  uint64_t packets, uint64_t bytes)
{
	struct safem_window_pane *p = wp->current;
	struct safem_agg_counters c = {.bytes = bytes, .packets = packets, .flows = 1};
	struct safem_agg_addr src = safem_agg_addr_from_bytes(key->src_addr, key->ip_version);
	struct safem_agg_addr dst = safem_agg_addr_from_bytes(key->dst_addr, key->ip_version);

	safem_aggtree_add(p->src, &src, &c);
	safem_aggtree_add(p->dst, &dst, &c);
	p->packets += packets;
	p->bytes += bytes;
	p->flows++;
}

struct safem_window_pane *
safem_window_producer_close(struct safem_window_producer *wp, uint64_t start_ms, uint64_t end_ms)
{
	struct safem_window_pane *done = wp->current;
	void *obj;

	done->start_ms = start_ms;
	done->end_ms = end_ms;
	while (rte_ring_dequeue(wp->free, &obj) != 0) {
		wp->waits++;
		rte_pause();
	}
	wp->current = obj;
	window_pane_clear(wp->current);
	return done;
}

uint64_t
safem_window_producer_waits(const struct safem_window_producer *wp)
{
	return wp->waits;
}

void
safem_window_pane_release(struct safem_window_pane *pane)
{
	struct window_pane_slot *slot = (struct window_pane_slot *)pane;

	/* Ring capacity exceeds the buffers: cannot fail. The enqueue is the
	 * release that publishes "analysis is done with these trees". */
	rte_ring_enqueue(slot->free, pane);
}

/* ---------------------------------------------------------------------- */
/* Analysis side (main lcore)                                              */

#define WINDOW_FIFO 64 /* panes queued per producer before the analysis catches up */

enum { PROFILE_SRC, PROFILE_DST };
static const char *const profile_dir[] = {"src", "dst"};
static const char *const metric_name[SAFEM_AGG_METRICS] = {"bytes", "packets", "flows"};

struct window_fifo {
	struct safem_window_pane *pane[WINDOW_FIFO];
	unsigned int head, count;
	bool done;
};

/* A merged pane: all producers' trees for one slide interval. */
struct window_merged {
	uint64_t start_ms;
	struct safem_aggtree *tree[2];
	uint64_t packets, bytes, flows;
	bool valid;
};

struct safem_window_analysis {
	struct safem_window_analysis_params p;
	unsigned int panes_per_window;
	struct window_fifo *fifo;
	struct window_merged *ring; /* the last panes_per_window merged panes */
	unsigned int ring_next;
	struct safem_aggtree *window_tree[2]; /* sliding windows: merge of the ring */
	uint64_t *close_ns; /* per producer, of the pane being merged */
	struct safem_window_totals totals;
};

struct safem_window_analysis *
safem_window_analysis_create(const struct safem_window_analysis_params *params)
{
	struct safem_window_analysis *wa;
	unsigned int i, d;

	if (params == NULL || params->producers == 0 || params->slide_ms == 0 ||
	    params->window_ms % params->slide_ms != 0 || !(params->alpha > 0 && params->alpha < 1) ||
	    !(params->log_base > 1)) {
		rte_errno = EINVAL;
		return NULL;
	}
	wa = calloc(1, sizeof(*wa));
	if (wa == NULL)
		goto nomem;
	wa->p = *params;
	wa->panes_per_window = (unsigned int)(params->window_ms / params->slide_ms);
	wa->fifo = calloc(params->producers, sizeof(*wa->fifo));
	wa->ring = calloc(wa->panes_per_window, sizeof(*wa->ring));
	wa->close_ns = calloc(params->producers, sizeof(*wa->close_ns));
	if (wa->fifo == NULL || wa->ring == NULL || wa->close_ns == NULL)
		goto nomem;
	for (i = 0; i < wa->panes_per_window; i++)
		for (d = 0; d < 2; d++) {
			wa->ring[i].tree[d] = window_tree("wmerge", params->tree_nodes);
			if (wa->ring[i].tree[d] == NULL)
				goto nomem;
		}
	if (wa->panes_per_window > 1)
		for (d = 0; d < 2; d++) {
			wa->window_tree[d] = window_tree("wwin", params->tree_nodes);
			if (wa->window_tree[d] == NULL)
				goto nomem;
		}
	return wa;
nomem:
	safem_window_analysis_free(wa);
	rte_errno = ENOMEM;
	return NULL;
}

void
safem_window_analysis_free(struct safem_window_analysis *wa)
{
	unsigned int i, d;

	if (wa == NULL)
		return;
	for (i = 0; wa->ring != NULL && i < wa->panes_per_window; i++)
		for (d = 0; d < 2; d++)
			safem_aggtree_free(wa->ring[i].tree[d]);
	for (d = 0; d < 2; d++)
		safem_aggtree_free(wa->window_tree[d]);
	free(wa->ring);
	free(wa->fifo);
	free(wa->close_ns);
	free(wa);
}

static void
count_host(const struct safem_agg_prefix *p, const struct safem_agg_counters *c, void *ctx)
{
	(void)c;
	if (p->len == 128)
		(*(unsigned int *)ctx)++;
}

/* Distinct addresses: /128 nodes (exact while the tree never folded). */
static unsigned int
tree_hosts(const struct safem_aggtree *t)
{
	unsigned int n = 0;

	safem_aggtree_walk(t, count_host, &n);
	return n;
}

/* Folds anywhere upstream: this tree's own and those of the trees merged into it
 * (per-worker panes, other probes' files). */
static uint64_t
tree_folds(const struct safem_aggtree *t)
{
	const struct safem_aggtree_stats *st = safem_aggtree_stats(t);

	return st->folds + st->inherited_folds;
}

/* One profile (tree x metric): its pruned view and entropies, from one walk. */
struct window_profile {
	struct safem_agg_node_out *out;
	unsigned int n;
	struct safem_agg_entropy e;
};

static void
json_entropy(FILE *f, const struct window_profile *p, unsigned int dir, unsigned int m,
	     bool first)
{
	/*
	 * Without folds the node distribution is the per-address one. After
	 * folds, report the proven lower bound and how far above it the truth
	 * can be (the node entropy itself is not a bound either way).
	 */
	double exact = p->e.exact ? p->e.nodes : p->e.nodes_lower_bound;
	double error = p->e.exact ? 0.0 : p->e.nodes + p->e.nodes_error_bound - exact;

	fprintf(f,
		"%s\"%s_%s\": {\"aggregated\": %.6f, \"normalised\": %.6f, \"exact\": %.6f, "
		"\"exact_is_lower_bound\": %s, \"exact_error_bound\": %.6f}",
		first ? "" : ", ", profile_dir[dir], metric_name[m], p->e.aggregated,
		p->e.aggregated_normalised, exact, p->e.exact ? "false" : "true", error);
}

static void
json_prefixes(FILE *f, const struct window_profile *p, unsigned int dir, unsigned int m,
	      bool first)
{
	char text[SAFEM_AGG_PREFIX_STRLEN];
	unsigned int i;

	fprintf(f, "%s\"%s_%s\": [", first ? "" : ", ", profile_dir[dir], metric_name[m]);
	for (i = 0; i < p->n; i++) {
		const struct safem_agg_node_out *o = &p->out[i];

		safem_agg_prefix_format(&o->prefix, text, sizeof(text));
		fprintf(f,
			"%s{\"prefix\": \"%s\", \"bytes\": %" PRIu64 ", \"packets\": %" PRIu64
			", \"flows\": %" PRIu64 ", \"share\": %.6f}",
			i ? ", " : "", text, o->counters.bytes, o->counters.packets,
			o->counters.flows, o->share);
	}
	fprintf(f, "]");
}

/* The report without its closing brace, so timing can be measured over it. */
static int
window_write_body(FILE *f, double alpha, double log_base, uint64_t start_ms, uint64_t end_ms,
		  struct safem_aggtree *const tree[2], const struct safem_window_counts *counts)
{
	/* Every kept prefix but the two roots holds at least alpha of the total. */
	unsigned int max = (unsigned int)ceil(1.0 / RTE_MAX(alpha, 1e-6)) + 4, d, m;
	struct window_profile prof[2][SAFEM_AGG_METRICS];
	struct safem_agg_node_out *nodes = calloc((size_t)2 * SAFEM_AGG_METRICS * max,
						  sizeof(*nodes));
	int ret = 0;

	if (nodes == NULL)
		return -ENOMEM;
	for (d = 0; d < 2 && ret == 0; d++)
		for (m = 0; m < SAFEM_AGG_METRICS && ret == 0; m++) {
			struct window_profile *p = &prof[d][m];

			p->out = &nodes[(d * SAFEM_AGG_METRICS + m) * max];
			ret = safem_aggtree_profile(tree[d], (enum safem_agg_metric)m, alpha,
						    log_base, p->out, max, &p->n, &p->e);
		}
	if (ret != 0) {
		free(nodes);
		return ret;
	}
	fprintf(f,
		"{\"start_ms\": %" PRIu64 ", \"end_ms\": %" PRIu64 ", \"packets\": %" PRIu64
		", \"bytes\": %" PRIu64 ", \"flows\": %" PRIu64
		", \"distinct_sources\": %u, \"distinct_destinations\": %u, \"distinct_exact\": %s",
		start_ms, end_ms, counts->packets, counts->bytes, counts->flows,
		tree_hosts(tree[PROFILE_SRC]), tree_hosts(tree[PROFILE_DST]),
		tree_folds(tree[PROFILE_SRC]) == 0 && tree_folds(tree[PROFILE_DST]) == 0 ? "true"
											    : "false");
	fprintf(f, ", \"entropy\": {");
	for (d = 0; d < 2; d++)
		for (m = 0; m < SAFEM_AGG_METRICS; m++)
			json_entropy(f, &prof[d][m], d, m, d == 0 && m == 0);
	fprintf(f, "}, \"trees\": {");
	for (d = 0; d < 2; d++)
		fprintf(f, "%s\"%s\": {\"nodes\": %u, \"folds\": %" PRIu64 "}", d ? ", " : "",
			profile_dir[d], safem_aggtree_nodes(tree[d]), tree_folds(tree[d]));
	fprintf(f, "}, \"prefixes\": {");
	for (d = 0; d < 2; d++)
		for (m = 0; m < SAFEM_AGG_METRICS; m++)
			json_prefixes(f, &prof[d][m], d, m, d == 0 && m == 0);
	fprintf(f, "}");
	free(nodes);
	return ferror(f) ? -EIO : 0;
}

/* Timings vary run to run; everything before them does not. */
static void
window_write_timing(FILE *f, const struct safem_window_timing *timing)
{
	unsigned int i;

	fprintf(f, ", \"timing\": {\"worker_close_us\": [");
	for (i = 0; i < timing->workers; i++)
		fprintf(f, "%s%.1f", i ? ", " : "", (double)timing->worker_close_ns[i] / 1000.0);
	fprintf(f, "], \"merge_us\": %.1f, \"close_us\": %.1f}",
		(double)timing->merge_ns / 1000.0, (double)timing->close_ns / 1000.0);
}

int
safem_window_write_report(FILE *f, double alpha, double log_base, uint64_t start_ms,
			  uint64_t end_ms, struct safem_aggtree *const tree[2],
			  const struct safem_window_counts *counts,
			  const struct safem_window_timing *timing)
{
	int ret = window_write_body(f, alpha, log_base, start_ms, end_ms, tree, counts);

	if (ret != 0)
		return ret;
	if (timing != NULL)
		window_write_timing(f, timing);
	fprintf(f, "}\n");
	return ferror(f) ? -EIO : 0;
}

#define WINDOW_FILE_MAGIC "SAFEMWIN"
#define WINDOW_FILE_VERSION 1u

struct window_file_header {
	char magic[8];
	uint32_t version;
	uint32_t reserved;
	uint64_t start_ms, end_ms, packets, bytes, flows;
};

int
safem_window_write_trees(const char *path, uint64_t start_ms, uint64_t end_ms,
			 const struct safem_window_counts *counts,
			 struct safem_aggtree *const trees[2])
{
	struct safem_outfile *out = safem_outfile_open(path, "wb");
	struct window_file_header h;
	FILE *f;
	int ret = 0, close_ret;

	if (out == NULL)
		return -errno;
	f = safem_outfile_stream(out);
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, WINDOW_FILE_MAGIC, 8);
	/* Little-endian hosts only (x86, arm64), like the tree format itself. */
	h.version = WINDOW_FILE_VERSION;
	h.start_ms = start_ms;
	h.end_ms = end_ms;
	h.packets = counts->packets;
	h.bytes = counts->bytes;
	h.flows = counts->flows;
	if (fwrite(&h, sizeof(h), 1, f) != 1)
		ret = -EIO;
	if (ret == 0)
		ret = safem_aggtree_write_binary(trees[PROFILE_SRC], f);
	if (ret == 0)
		ret = safem_aggtree_write_binary(trees[PROFILE_DST], f);
	close_ret = safem_outfile_close(out, ret == 0);
	return ret != 0 ? ret : close_ret;
}

int
safem_window_read_trees(const char *path, uint64_t *start_ms, uint64_t *end_ms,
			struct safem_window_counts *counts, struct safem_aggtree *trees[2])
{
	struct window_file_header h;
	FILE *f = fopen(path, "rb");
	int ret = 0;

	if (f == NULL)
		return -errno;
	if (fread(&h, sizeof(h), 1, f) != 1 || memcmp(h.magic, WINDOW_FILE_MAGIC, 8) != 0 ||
	    h.version != WINDOW_FILE_VERSION || h.end_ms <= h.start_ms)
		ret = -EINVAL;
	if (ret == 0)
		ret = safem_aggtree_read_binary(trees[PROFILE_SRC], f);
	if (ret == 0)
		ret = safem_aggtree_read_binary(trees[PROFILE_DST], f);
	/* The header has no checksum of its own: its volumes must be the trees'. */
	if (ret == 0) {
		struct safem_agg_counters src, dst;

		safem_aggtree_totals(trees[PROFILE_SRC], &src);
		safem_aggtree_totals(trees[PROFILE_DST], &dst);
		if (src.packets != h.packets || src.bytes != h.bytes || src.flows != h.flows ||
		    dst.packets != h.packets || dst.bytes != h.bytes || dst.flows != h.flows)
			ret = -EINVAL;
	}
	if (ret == 0 && fgetc(f) != EOF)
		ret = -EINVAL; /* trailing bytes: not one window file */
	fclose(f);
	if (ret != 0)
		return ret;
	*start_ms = h.start_ms;
	*end_ms = h.end_ms;
	counts->packets = h.packets;
	counts->bytes = h.bytes;
	counts->flows = h.flows;
	return 0;
}

/*
 * Report one window: the JSON line and, with --trees, its tree file. The
 * body (prune, entropy, formatting) goes to memory first so close_us can
 * cover all the analysis work of the window, from its first merge on.
 */
static int
window_report(struct safem_window_analysis *wa, uint64_t start_ms, uint64_t end_ms,
	      struct safem_aggtree *const tree[2], uint64_t packets, uint64_t bytes,
	      uint64_t flows, uint64_t merge_ns, uint64_t start_tsc)
{
	struct safem_window_counts counts = {packets, bytes, flows};
	struct safem_window_timing timing = {wa->close_ns, wa->p.producers, merge_ns, 0};
	int ret = 0;

	wa->totals.windows++;
	wa->totals.packets += packets;
	wa->totals.bytes += bytes;
	wa->totals.flows += flows;
	if (wa->p.report != NULL) {
		char *body = NULL;
		size_t len = 0;
		FILE *mem = open_memstream(&body, &len);

		if (mem == NULL)
			return -ENOMEM;
		ret = window_write_body(mem, wa->p.alpha, wa->p.log_base, start_ms, end_ms, tree,
					&counts);
		if (fclose(mem) != 0 && ret == 0)
			ret = -ENOMEM;
		timing.close_ns = (uint64_t)((double)(rte_rdtsc() - start_tsc) * 1e9 /
					     (double)rte_get_tsc_hz());
		if (timing.close_ns > wa->totals.close_ns_max)
			wa->totals.close_ns_max = timing.close_ns;
		if (ret == 0) {
			fwrite(body, 1, len, wa->p.report);
			window_write_timing(wa->p.report, &timing);
			fprintf(wa->p.report, "}\n");
			ret = ferror(wa->p.report) ? -EIO : 0;
		}
		free(body);
	}
	if (ret == 0 && wa->p.trees_dir != NULL) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/window-%" PRIu64 ".tree", wa->p.trees_dir,
			 start_ms);
		ret = safem_window_write_trees(path, start_ms, end_ms, &counts, tree);
		if (ret == 0)
			wa->totals.tree_files++;
	}
	return ret;
}

/* Merge the panes of start_ms from every producer that has one, report. */
static int
window_close_pane(struct safem_window_analysis *wa, uint64_t start_ms)
{
	struct window_merged *mp = &wa->ring[wa->ring_next];
	uint64_t t0 = rte_rdtsc(), merge_ns;
	unsigned int i, d;
	int ret;

	for (d = 0; d < 2; d++)
		safem_aggtree_reset(mp->tree[d]);
	mp->start_ms = start_ms;
	mp->packets = mp->bytes = mp->flows = 0;
	mp->valid = true;
	/* Fixed producer order: the merged tree does not depend on arrival order. */
	for (i = 0; i < wa->p.producers; i++) {
		struct window_fifo *q = &wa->fifo[i];
		struct safem_window_pane *pane;

		wa->close_ns[i] = 0;
		if (q->count == 0 || q->pane[q->head]->start_ms != start_ms)
			continue;
		pane = q->pane[q->head];
		q->head = (q->head + 1) % WINDOW_FIFO;
		q->count--;
		safem_aggtree_merge(mp->tree[PROFILE_SRC], pane->src);
		safem_aggtree_merge(mp->tree[PROFILE_DST], pane->dst);
		mp->packets += pane->packets;
		mp->bytes += pane->bytes;
		mp->flows += pane->flows;
		wa->close_ns[i] = pane->close_ns;
		safem_window_pane_release(pane);
	}
	wa->ring_next = (wa->ring_next + 1) % wa->panes_per_window;

	if (wa->panes_per_window == 1) {
		merge_ns = (uint64_t)((rte_rdtsc() - t0) * 1e9 / rte_get_tsc_hz());
		ret = window_report(wa, start_ms, start_ms + wa->p.slide_ms, mp->tree, mp->packets,
				    mp->bytes, mp->flows, merge_ns, t0);
	} else {
		/* Sliding: the window ending with this pane merges the last panes. */
		uint64_t packets = 0, bytes = 0, flows = 0;
		uint64_t first_ms = start_ms + wa->p.slide_ms - wa->p.window_ms;

		for (d = 0; d < 2; d++)
			safem_aggtree_reset(wa->window_tree[d]);
		for (i = 0; i < wa->panes_per_window; i++) {
			const struct window_merged *r = &wa->ring[i];

			if (!r->valid || r->start_ms < first_ms)
				continue;
			for (d = 0; d < 2; d++)
				safem_aggtree_merge(wa->window_tree[d], r->tree[d]);
			packets += r->packets;
			bytes += r->bytes;
			flows += r->flows;
		}
		merge_ns = (uint64_t)((rte_rdtsc() - t0) * 1e9 / rte_get_tsc_hz());
		ret = window_report(wa, first_ms, start_ms + wa->p.slide_ms, wa->window_tree,
				    packets, bytes, flows, merge_ns, t0);
	}
	if (merge_ns > wa->totals.merge_ns_max)
		wa->totals.merge_ns_max = merge_ns;
	return ret;
}

/* Report every pane that no producer can still add to. */
static int
window_drain(struct safem_window_analysis *wa)
{
	for (;;) {
		uint64_t next = UINT64_MAX;
		unsigned int i;
		int ret;

		for (i = 0; i < wa->p.producers; i++) {
			const struct window_fifo *q = &wa->fifo[i];

			if (q->count == 0) {
				if (!q->done)
					return 0; /* it may still deliver an earlier pane */
				continue;
			}
			next = RTE_MIN(next, q->pane[q->head]->start_ms);
		}
		if (next == UINT64_MAX)
			return 0;
		ret = window_close_pane(wa, next);
		if (ret != 0)
			return ret;
	}
}

int
safem_window_analysis_pane(struct safem_window_analysis *wa, struct safem_window_pane *pane)
{
	struct window_fifo *q = &wa->fifo[pane->producer];

	if (q->count == WINDOW_FIFO)
		return -ENOBUFS; /* cannot happen: producers own fewer buffers */
	q->pane[(q->head + q->count) % WINDOW_FIFO] = pane;
	q->count++;
	return window_drain(wa);
}

int
safem_window_analysis_producer_done(struct safem_window_analysis *wa, unsigned int producer)
{
	wa->fifo[producer].done = true;
	return window_drain(wa);
}

void
safem_window_analysis_totals(const struct safem_window_analysis *wa,
			     struct safem_window_totals *out)
{
	*out = wa->totals;
}
