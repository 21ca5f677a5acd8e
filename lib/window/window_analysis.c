/* SPDX-License-Identifier: BSD-3-Clause */
/* Analysis side of lib/window: merge the producers' panes, summarise and report windows. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_errno.h>

#include "safem_entropy.h"
#include "safem_outfile.h"
#include "safem_window.h"
#include "window_private.h"

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
	struct safem_featset *features; /* NULL: features off */
	uint64_t packets, bytes, flows;
	uint64_t sampled_out;       /* surge guard: contributions left out of trees/features */
	unsigned int sample_shift;  /* largest shift any producer reached */
	bool valid;
	struct safem_profile_flow *flow_log; /* producers' flow logs, in producer order; NULL: off */
	uint32_t nflow_log;
	uint64_t unlogged;
};

struct safem_window_analysis {
	struct safem_window_analysis_params p;
	unsigned int panes_per_window;
	struct window_fifo *fifo;
	struct window_merged *ring; /* the last panes_per_window merged panes */
	unsigned int ring_next;
	struct safem_aggtree *window_tree[2]; /* sliding windows: merge of the ring */
	struct safem_featset *window_features; /* sliding windows: merge of the ring */
	struct window_summary_scratch *scratch; /* summary build; NULL: no summary */
	uint64_t *close_ns; /* per producer, of the pane being merged */
	struct safem_window_totals totals;
	/* End of the last merged pane; a later pane starting after it leaves a
	 * hole: a clock jump (a pane says so: time_jump) or panes every producer
	 * dropped (panes_missing). */
	uint64_t last_end_ms;
	uint64_t jump_from_ms, jump_to_ms; /* jump_to_ms 0: no jump pending */
	uint64_t missing_from_ms, missing_to_ms; /* missing_to_ms 0: no hole pending */
	uint64_t surge_sampled_out;         /* of the window being reported */
	unsigned int surge_shift;
	/* the window's flow logs as lib/profile reads them: one segment per merged pane */
	const struct safem_profile_flow **flow_seg;
	uint32_t *flow_seg_n;
	struct safem_profile_flows profile_flows;
	/* the newest merged pane's log alone (safem_window_analysis_pane_flows) */
	const struct safem_profile_flow *pane_seg[1];
	uint32_t pane_seg_n[1];
	struct safem_profile_flows pane_flows;
};

/* One profile (tree x metric): its pruned view and entropies, from one walk. */
struct window_profile {
	struct safem_agg_node_out *out;
	unsigned int n;
	struct safem_agg_entropy e;
};

/* Both trees' profiles of a window, computed once for the report and the summary. */
struct window_profiles {
	struct window_profile p[2][SAFEM_AGG_METRICS];
	struct safem_agg_node_out *nodes;
};

/* ---------------------------------------------------------------------- */
/* Window summary: what detection and classification see of a window       */

/*
 * Counts below this go to a direct histogram (one class per count value);
 * larger ones (bytes, heavy hitters) are sorted and grouped. Flow and packet
 * counts of most values are small, so a window of 10^5 values usually
 * becomes a few hundred classes and the spectrum costs that many pow().
 */
#define SUMMARY_HIST_COUNTS 4096

struct window_summary_scratch {
	uint32_t capacity;
	uint64_t *counts[SAFEM_WEIGHT_COUNT]; /* per kept value */
	uint64_t *large;                      /* counts >= SUMMARY_HIST_COUNTS, sorted */
	uint64_t *hist;                       /* SUMMARY_HIST_COUNTS bins */
	struct safem_count_class *classes;
	struct safem_window_summary summary;
};

static void
summary_scratch_free(struct window_summary_scratch *s)
{
	unsigned int w;

	if (s == NULL)
		return;
	for (w = 0; w < SAFEM_WEIGHT_COUNT; w++)
		free(s->counts[w]);
	free(s->large);
	free(s->hist);
	free(s->classes);
	free(s);
}

static struct window_summary_scratch *
summary_scratch_create(uint32_t capacity)
{
	struct window_summary_scratch *s = calloc(1, sizeof(*s));
	unsigned int w;
	bool ok;

	if (s == NULL)
		return NULL;
	s->capacity = capacity;
	for (w = 0; w < SAFEM_WEIGHT_COUNT; w++)
		s->counts[w] = calloc(capacity, sizeof(uint64_t));
	s->large = calloc(capacity, sizeof(uint64_t));
	s->hist = calloc(SUMMARY_HIST_COUNTS, sizeof(uint64_t));
	s->classes = calloc((size_t)capacity + SUMMARY_HIST_COUNTS, sizeof(*s->classes));
	ok = s->large != NULL && s->hist != NULL && s->classes != NULL;
	for (w = 0; w < SAFEM_WEIGHT_COUNT; w++)
		ok = ok && s->counts[w] != NULL;
	if (!ok) {
		summary_scratch_free(s);
		return NULL;
	}
	return s;
}

struct summary_collect {
	struct window_summary_scratch *s;
	uint32_t n;
	struct safem_top_value *top; /* SAFEM_SUMMARY_TOP, by packets, largest first */
	unsigned int ntop;
	struct safem_top_value *top_flows; /* SAFEM_SUMMARY_TOP, by flows, largest first */
	unsigned int ntop_flows;
};

/* t ranks before (v, c) by packets: more packets, then smaller value bytes */
static bool
summary_packets_before(const struct safem_top_value *t, const struct safem_feature_value *v,
		       const struct safem_featdist_counts *c)
{
	if (t->counts.packets != c->packets)
		return t->counts.packets > c->packets;
	return memcmp(&t->value, v, sizeof(*v)) < 0;
}

/* t ranks before (v, c) by flows: more flows, then more packets, then smaller value bytes */
static bool
summary_flows_before(const struct safem_top_value *t, const struct safem_feature_value *v,
		     const struct safem_featdist_counts *c)
{
	if (t->counts.flows != c->flows)
		return t->counts.flows > c->flows;
	return summary_packets_before(t, v, c);
}

/* Insertion into a short sorted list of SAFEM_SUMMARY_TOP; the order is total, so the
 * list does not depend on table order. */
static void
summary_top_insert(struct safem_top_value *top, unsigned int *ntop,
		   const struct safem_feature_value *v, const struct safem_featdist_counts *c,
		   bool (*before)(const struct safem_top_value *, const struct safem_feature_value *,
				  const struct safem_featdist_counts *))
{
	unsigned int i = *ntop;

	while (i > 0 && !before(&top[i - 1], v, c)) {
		if (i < SAFEM_SUMMARY_TOP)
			top[i] = top[i - 1];
		i--;
	}
	if (i < SAFEM_SUMMARY_TOP) {
		top[i].value = *v;
		top[i].counts = *c;
		if (*ntop < SAFEM_SUMMARY_TOP)
			(*ntop)++;
	}
}

static void
summary_collect_value(const struct safem_feature_value *v, const struct safem_featdist_counts *c,
		      void *ctx)
{
	struct summary_collect *col = ctx;

	col->s->counts[SAFEM_WEIGHT_FLOWS][col->n] = c->flows;
	col->s->counts[SAFEM_WEIGHT_PACKETS][col->n] = c->packets;
	col->s->counts[SAFEM_WEIGHT_BYTES][col->n] = c->bytes;
	col->n++;
	summary_top_insert(col->top, &col->ntop, v, c, summary_packets_before);
	summary_top_insert(col->top_flows, &col->ntop_flows, v, c, summary_flows_before);
}

static int
compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Count classes of n counts: the histogram for small ones, sort + group the rest. */
static size_t
summary_count_classes(struct window_summary_scratch *s, const uint64_t *counts, uint32_t n)
{
	size_t nclasses = 0, nlarge = 0, i;

	memset(s->hist, 0, SUMMARY_HIST_COUNTS * sizeof(uint64_t));
	for (i = 0; i < n; i++) {
		if (counts[i] == 0)
			continue;
		if (counts[i] < SUMMARY_HIST_COUNTS)
			s->hist[counts[i]]++;
		else
			s->large[nlarge++] = counts[i];
	}
	for (i = 1; i < SUMMARY_HIST_COUNTS; i++)
		if (s->hist[i] != 0)
			s->classes[nclasses++] = (struct safem_count_class){i, s->hist[i]};
	qsort(s->large, nlarge, sizeof(uint64_t), compare_u64);
	for (i = 0; i < nlarge; i++) {
		if (i > 0 && s->large[i] == s->large[i - 1])
			s->classes[nclasses - 1].values++;
		else
			s->classes[nclasses++] = (struct safem_count_class){s->large[i], 1};
	}
	return nclasses;
}

static int
summary_feature(struct window_summary_scratch *s, const struct safem_window_analysis_params *p,
		const struct safem_featdist *fd, unsigned int d, unsigned int f)
{
	struct safem_window_summary *sum = &s->summary;
	struct summary_collect col = {s, 0, sum->top[d][f], 0, sum->top_flows[d][f], 0};
	struct safem_featdist_counts rem, total;
	double rem_values, space;
	unsigned int w, i;
	int ret;

	space = f == SAFEM_FEATURE_SRC_ADDR || f == SAFEM_FEATURE_DST_ADDR
			? SAFEM_SPECTRUM_ADDR_SPACE
			: SAFEM_SPECTRUM_PORT_SPACE;
	safem_featdist_foreach(fd, summary_collect_value, &col);
	safem_featdist_remainder(fd, &rem, &rem_values);
	safem_featdist_total(fd, &total);
	sum->ntop[d][f] = col.ntop;
	for (i = 0; i < col.ntop; i++)
		col.top[i].share = total.packets != 0
					   ? (double)col.top[i].counts.packets / (double)total.packets
					   : 0.0;
	sum->ntop_flows[d][f] = col.ntop_flows;
	for (i = 0; i < col.ntop_flows; i++)
		col.top_flows[i].share =
			total.packets != 0
				? (double)col.top_flows[i].counts.packets / (double)total.packets
				: 0.0;
	/* kept values + the remainder estimate read above (safem_featdist_distinct would
	 * estimate it again) */
	sum->distinct[d][f] = safem_featdist_values(fd) + rem_values;
	for (w = 0; w < SAFEM_WEIGHT_COUNT; w++) {
		size_t nclasses = summary_count_classes(s, s->counts[w], col.n);

		ret = safem_tsallis_spectrum(
			s->classes, nclasses,
			(double)safem_featdist_counts_weight(&rem, (enum safem_weight)w), rem_values,
			space, p->q, p->nq, sum->spectrum[d][f][w]);
		if (ret != 0)
			return ret;
	}
	return 0;
}

/* The listed values of one direction and feature (top by packets, then top by flows) by
 * hash, open addressing: slot holds 1 + the value's index in the two lists (0: empty). A
 * value listed twice has two slots. */
#define ICMP_INDEX_SLOTS 64 /* a power of two, over twice the 2 x SAFEM_SUMMARY_TOP listed */
/* at most half full (short probes; a free slot always ends one), 1 + an index fits a slot,
 * and the mask needs a power of two */
_Static_assert(4 * SAFEM_SUMMARY_TOP <= ICMP_INDEX_SLOTS && 2 * SAFEM_SUMMARY_TOP <= 255 &&
		       (ICMP_INDEX_SLOTS & (ICMP_INDEX_SLOTS - 1)) == 0,
	       "icmp_index: too few slots for the listed values");

struct icmp_index {
	uint8_t slot[ICMP_INDEX_SLOTS];
};

static struct safem_top_value *
listed_value(struct safem_window_summary *sum, unsigned int d, unsigned int f, unsigned int k)
{
	return k < SAFEM_SUMMARY_TOP ? &sum->top[d][f][k]
				     : &sum->top_flows[d][f][k - SAFEM_SUMMARY_TOP];
}

static void
icmp_index_build(struct icmp_index *x, struct safem_window_summary *sum, unsigned int d,
		 unsigned int f)
{
	unsigned int k;

	memset(x, 0, sizeof(*x));
	for (k = 0; k < 2 * SAFEM_SUMMARY_TOP; k++) {
		unsigned int n = k < SAFEM_SUMMARY_TOP ? sum->ntop[d][f] : sum->ntop_flows[d][f];
		uint64_t h;

		if (k % SAFEM_SUMMARY_TOP >= n)
			continue;
		h = safem_feature_value_hash(&listed_value(sum, d, f, k)->value);
		while (x->slot[h & (ICMP_INDEX_SLOTS - 1)] != 0)
			h++;
		x->slot[h & (ICMP_INDEX_SLOTS - 1)] = (uint8_t)(k + 1);
	}
}

/* Adds packets to the ICMP packets of v wherever it is listed. */
static void
icmp_index_add(const struct icmp_index *x, struct safem_window_summary *sum, unsigned int d,
	       unsigned int f, const struct safem_feature_value *v, uint64_t packets)
{
	uint64_t h = safem_feature_value_hash(v);
	uint8_t k;

	for (; (k = x->slot[h & (ICMP_INDEX_SLOTS - 1)]) != 0; h++) {
		struct safem_top_value *t = listed_value(sum, d, f, k - 1u);

		if (memcmp(&t->value, v, sizeof(*v)) == 0)
			t->icmp_packets += packets;
	}
}

/*
 * Each listed value's packets of ICMP flows (safem_top_value.icmp_packets): the classifier
 * judges the holder of an ICMP surge by its own ICMP, not by its TCP or UDP (a host that
 * downloads a file is no ICMP victim; docs/detection.md, "ICMP floods of any type on
 * low-rate links"). The distributions count no protocol per value, and a count per value
 * there would cost every worker a wider entry for every flow; the window's flow log (kept
 * for lib/profile) already carries each flow's protocol, so the analysis side reads it
 * here, ICMP flows only, each looked up by hash in the short top lists (a flood of spoofed
 * ICMP is a log full of ICMP flows). No log (profiling off): all 0, and the rule that reads
 * them judges nothing. A log past its bound: lower bounds; a log thinned by
 * the pane's surge guard (the distributions' own guards are apart): an estimate, clamped to
 * the value's packets.
 */
static void
summary_icmp_packets(const struct safem_window_analysis *wa, const struct safem_featset *fs,
		     struct safem_window_summary *sum)
{
	const struct safem_profile_flows *pf = &wa->profile_flows;
	struct icmp_index index[SAFEM_DIR_COUNT][SAFEM_FEATURE_COUNT];
	unsigned int seg, d, f, k;
	bool built = false;
	uint32_t i;

	if (wa->flow_seg == NULL)
		return;
	for (seg = 0; seg < pf->segments; seg++)
		for (i = 0; i < pf->n[seg]; i++) {
			const struct safem_profile_flow *fl = &pf->flow[seg][i];
			struct safem_feature_value values[SAFEM_FEATURE_COUNT];
			enum safem_direction dirs[2] = {SAFEM_DIR_ALL, SAFEM_DIR_ALL};

			if (fl->key.proto != 1 && fl->key.proto != 58)
				continue; /* cheap test first: most flows are not ICMP */
			if (safem_featset_flow_values(fs, wa->p.home, &fl->key, fl->tcp_flags,
						      values, &dirs[1]) != SAFEM_PROTO_ICMP)
				continue;
			if (!built) { /* only for windows with ICMP */
				for (d = 0; d < SAFEM_DIR_COUNT; d++)
					for (f = 0; f < SAFEM_FEATURE_COUNT; f++)
						if (fs->dist[d][0] != NULL)
							icmp_index_build(&index[d][f], sum, d, f);
				built = true;
			}
			for (k = 0; k < (dirs[1] != SAFEM_DIR_ALL ? 2u : 1u); k++) {
				if (fs->dist[dirs[k]][0] == NULL)
					continue;
				for (f = 0; f < SAFEM_FEATURE_COUNT; f++)
					icmp_index_add(&index[dirs[k]][f], sum, dirs[k], f,
						       &values[f], fl->packets);
			}
		}
	if (!built)
		return;
	for (d = 0; d < SAFEM_DIR_COUNT; d++)
		for (f = 0; f < SAFEM_FEATURE_COUNT; f++)
			for (k = 0; k < 2 * SAFEM_SUMMARY_TOP; k++) {
				struct safem_top_value *t = listed_value(sum, d, f, k);

				if (t->icmp_packets > t->counts.packets)
					t->icmp_packets = t->counts.packets;
			}
}

/* Build the summary of a window from its merged feature set and tree profiles. */
static int
summary_build(struct safem_window_analysis *wa, uint64_t start_ms, uint64_t end_ms,
	      const struct safem_featset *fs, const struct window_profiles *prof)
{
	struct window_summary_scratch *s = wa->scratch;
	struct safem_window_summary *sum = &s->summary;
	unsigned int d, f, m, i;
	int ret;

	memset(sum, 0, sizeof(*sum));
	sum->start_ms = start_ms;
	sum->end_ms = end_ms;
	sum->nq = wa->p.nq;
	memcpy(sum->q, wa->p.q, sizeof(double) * wa->p.nq);
	sum->sample_rate = wa->p.sample_rate != 0 ? wa->p.sample_rate : 1;
	for (d = 0; d < SAFEM_DIR_COUNT; d++) {
		if (fs->dist[d][0] == NULL)
			continue;
		sum->directions |= 1u << d;
		sum->volume[d] = fs->volume[d];
		memcpy(sum->proto_flows[d], fs->proto_flows[d], sizeof(sum->proto_flows[d]));
		memcpy(sum->proto_packets[d], fs->proto_packets[d], sizeof(sum->proto_packets[d]));
		for (f = 0; f < SAFEM_FEATURE_COUNT; f++) {
			ret = summary_feature(s, &wa->p, fs->dist[d][f], d, f);
			if (ret != 0)
				return ret;
		}
	}
	summary_icmp_packets(wa, fs, sum);
	for (d = 0; d < 2; d++) {
		const struct window_profile *pp = &prof->p[d][SAFEM_AGG_PACKETS];
		unsigned int n = 0;

		for (m = 0; m < SAFEM_AGG_METRICS; m++)
			sum->tree_entropy[d][m] = prof->p[d][m].e.aggregated_normalised;
		/* The roots only hold what no significant prefix took: not "who".
		 * Keep the largest shares (insertion into the short sorted list). */
		for (i = 0; i < pp->n; i++) {
			const struct safem_agg_node_out *o = &pp->out[i];
			struct safem_top_prefix t, *list = sum->prefixes[d];
			unsigned int k;

			if (o->prefix.len == 0 || o->prefix.len == SAFEM_AGG_V4_ROOT_LEN ||
			    o->counters.packets == 0)
				continue;
			memset(&t, 0, sizeof(t));
			safem_agg_addr_to_bytes(&o->prefix.addr, t.addr);
			t.len = o->prefix.len;
			t.counts.flows = o->counters.flows;
			t.counts.packets = o->counters.packets;
			t.counts.bytes = o->counters.bytes;
			t.share = o->share;
			k = n;
			while (k > 0 && list[k - 1].share < t.share) {
				if (k < SAFEM_SUMMARY_TOP)
					list[k] = list[k - 1];
				k--;
			}
			if (k < SAFEM_SUMMARY_TOP) {
				list[k] = t;
				if (n < SAFEM_SUMMARY_TOP)
					n++;
			}
		}
		sum->nprefixes[d] = n;
	}
	return 0;
}

struct safem_window_analysis *
safem_window_analysis_create(const struct safem_window_analysis_params *params)
{
	struct safem_window_analysis *wa;
	unsigned int i, d;

	if (params == NULL || params->producers == 0 || params->slide_ms == 0 ||
	    params->window_ms % params->slide_ms != 0 || !(params->alpha > 0 && params->alpha < 1) ||
	    !(params->log_base > 1) ||
	    (params->feature_values != 0 &&
	     (params->nq == 0 || params->nq > SAFEM_SPECTRUM_Q_MAX))) {
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
	if (params->feature_values != 0) {
		for (i = 0; i < wa->panes_per_window; i++) {
			wa->ring[i].features = safem_featset_create(
				params->feature_values, params->directional, params->socket_id);
			if (wa->ring[i].features == NULL)
				goto nomem;
		}
		if (wa->panes_per_window > 1) {
			wa->window_features = safem_featset_create(
				params->feature_values, params->directional, params->socket_id);
			if (wa->window_features == NULL)
				goto nomem;
		}
		wa->scratch = summary_scratch_create(params->feature_values);
		if (wa->scratch == NULL)
			goto nomem;
	}
	if (params->profiler != NULL && params->feature_values != 0 && params->profile_flows != 0) {
		wa->flow_seg = calloc(wa->panes_per_window, sizeof(*wa->flow_seg));
		wa->flow_seg_n = calloc(wa->panes_per_window, sizeof(*wa->flow_seg_n));
		if (wa->flow_seg == NULL || wa->flow_seg_n == NULL)
			goto nomem;
		for (i = 0; i < wa->panes_per_window; i++) {
			wa->ring[i].flow_log = malloc(sizeof(*wa->ring[i].flow_log) * params->profile_flows);
			if (wa->ring[i].flow_log == NULL)
				goto nomem;
		}
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
	for (i = 0; wa->ring != NULL && i < wa->panes_per_window; i++) {
		for (d = 0; d < 2; d++)
			safem_aggtree_free(wa->ring[i].tree[d]);
		safem_featset_free(wa->ring[i].features);
		free(wa->ring[i].flow_log);
	}
	free(wa->flow_seg);
	free(wa->flow_seg_n);
	for (d = 0; d < 2; d++)
		safem_aggtree_free(wa->window_tree[d]);
	safem_featset_free(wa->window_features);
	summary_scratch_free(wa->scratch);
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

/* Pruned views and entropies of both trees x three metrics (one walk each). */
static int
window_profiles_compute(double alpha, double log_base, struct safem_aggtree *const tree[2],
			struct window_profiles *prof)
{
	/* Every kept prefix but the two roots holds at least alpha of the total. */
	unsigned int max = (unsigned int)ceil(1.0 / RTE_MAX(alpha, 1e-6)) + 4, d, m;
	int ret = 0;

	prof->nodes = calloc((size_t)2 * SAFEM_AGG_METRICS * max, sizeof(*prof->nodes));
	if (prof->nodes == NULL)
		return -ENOMEM;
	for (d = 0; d < 2 && ret == 0; d++)
		for (m = 0; m < SAFEM_AGG_METRICS && ret == 0; m++) {
			struct window_profile *p = &prof->p[d][m];

			p->out = &prof->nodes[(d * SAFEM_AGG_METRICS + m) * max];
			ret = safem_aggtree_profile(tree[d], (enum safem_agg_metric)m, alpha,
						    log_base, p->out, max, &p->n, &p->e);
		}
	if (ret != 0) {
		free(prof->nodes);
		prof->nodes = NULL;
	}
	return ret;
}

/* The report without its closing brace, so timing can be measured over it. */
static int
window_write_body(FILE *f, uint64_t start_ms, uint64_t end_ms, struct safem_aggtree *const tree[2],
		  const struct safem_window_counts *counts, const struct window_profiles *profiles)
{
	const struct window_profile(*prof)[SAFEM_AGG_METRICS] = profiles->p;
	unsigned int d, m;

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
	fprintf(f, "], \"merge_us\": %.1f, \"summary_us\": %.1f, \"close_us\": %.1f}",
		(double)timing->merge_ns / 1000.0, (double)timing->summary_ns / 1000.0,
		(double)timing->close_ns / 1000.0);
}

int
safem_window_write_report(FILE *f, double alpha, double log_base, uint64_t start_ms,
			  uint64_t end_ms, struct safem_aggtree *const tree[2],
			  const struct safem_window_counts *counts,
			  const struct safem_window_timing *timing)
{
	struct window_profiles prof;
	int ret = window_profiles_compute(alpha, log_base, tree, &prof);

	if (ret != 0)
		return ret;
	ret = window_write_body(f, start_ms, end_ms, tree, counts, &prof);
	free(prof.nodes);
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
 * Report one window: the JSON line (with the summary's members), the summary
 * callback and, with --trees, its tree file. The body (prune, entropy,
 * spectra, formatting) goes to memory first so close_us can cover all the
 * analysis work of the window, from its first merge on.
 */
static int
window_report(struct safem_window_analysis *wa, uint64_t start_ms, uint64_t end_ms,
	      struct safem_aggtree *const tree[2], const struct safem_featset *features,
	      uint64_t packets, uint64_t bytes, uint64_t flows, uint64_t merge_ns,
	      uint64_t start_tsc)
{
	struct safem_window_counts counts = {packets, bytes, flows};
	struct safem_window_timing timing = {wa->close_ns, wa->p.producers, merge_ns, 0, 0};
	bool summary = wa->p.summary_fn != NULL && features != NULL;
	struct window_profiles prof = {.nodes = NULL};
	char *body = NULL;
	size_t len = 0;
	FILE *mem = NULL;
	int ret = 0;

	wa->totals.windows++;
	wa->totals.packets += packets;
	wa->totals.bytes += bytes;
	wa->totals.flows += flows;
	if (wa->p.report == NULL && !summary)
		goto trees;
	ret = window_profiles_compute(wa->p.alpha, wa->p.log_base, tree, &prof);
	if (ret != 0)
		return ret;
	if (wa->p.report != NULL) {
		mem = open_memstream(&body, &len);
		if (mem == NULL) {
			free(prof.nodes);
			return -ENOMEM;
		}
		ret = window_write_body(mem, start_ms, end_ms, tree, &counts, &prof);
		if (ret == 0 && wa->surge_sampled_out != 0)
			fprintf(mem, ", \"surge\": {\"sampled_out_flows\": %" PRIu64
				", \"max_sample_rate\": %u}",
				wa->surge_sampled_out, 1u << wa->surge_shift);
		if (ret == 0 && wa->missing_to_ms != 0 && wa->jump_to_ms == 0)
			fprintf(mem, ", \"panes_missing\": {\"from_ms\": %" PRIu64
				", \"to_ms\": %" PRIu64 "}",
				wa->missing_from_ms, wa->missing_to_ms);
		if (ret == 0 && wa->jump_to_ms != 0)
			fprintf(mem, ", \"time_jump\": {\"from_ms\": %" PRIu64 ", \"to_ms\": %" PRIu64 "}",
				wa->jump_from_ms, wa->jump_to_ms);
	}
	if (ret == 0 && wa->p.profiler != NULL && features != NULL) {
		struct safem_profile_flows none = {NULL, NULL, 0, 0};

		ret = safem_profiler_window(wa->p.profiler, features,
					    wa->flow_seg != NULL ? &wa->profile_flows : &none,
					    start_ms, end_ms, mem);
	}
	if (ret == 0 && summary) {
		uint64_t t0 = rte_rdtsc(), ns;

		ret = summary_build(wa, start_ms, end_ms, features, &prof);
		if (ret == 0)
			ret = wa->p.summary_fn(wa->p.summary_ctx, &wa->scratch->summary, mem);
		ns = (uint64_t)((double)(rte_rdtsc() - t0) * 1e9 / (double)rte_get_tsc_hz());
		if (ns > wa->totals.summary_ns_max)
			wa->totals.summary_ns_max = ns;
		timing.summary_ns = ns;
	}
	free(prof.nodes);
	timing.close_ns = (uint64_t)((double)(rte_rdtsc() - start_tsc) * 1e9 /
				     (double)rte_get_tsc_hz());
	if (timing.close_ns > wa->totals.close_ns_max)
		wa->totals.close_ns_max = timing.close_ns;
	if (mem != NULL) {
		if (fclose(mem) != 0 && ret == 0)
			ret = -ENOMEM;
		if (ret == 0) {
			fwrite(body, 1, len, wa->p.report);
			window_write_timing(wa->p.report, &timing);
			fprintf(wa->p.report, "}\n");
			ret = ferror(wa->p.report) ? -EIO : 0;
		}
		free(body);
	}
trees:
	wa->jump_to_ms = 0;
	wa->missing_to_ms = 0;
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
	if (mp->features != NULL)
		safem_featset_clear(mp->features);
	mp->start_ms = start_ms;
	mp->packets = mp->bytes = mp->flows = 0;
	mp->sampled_out = 0;
	mp->sample_shift = 0;
	mp->nflow_log = 0;
	mp->unlogged = 0;
	/* A stretch with no pane from any producer: a clock jump they skipped
	 * (a pane says so), or panes every producer had to drop. */
	if (wa->last_end_ms != 0 && start_ms > wa->last_end_ms) {
		wa->missing_from_ms = wa->last_end_ms;
		wa->missing_to_ms = start_ms;
	}
	wa->last_end_ms = start_ms + wa->p.slide_ms;
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
		if (mp->features != NULL && pane->features != NULL)
			safem_featset_merge(mp->features, pane->features);
		mp->packets += pane->packets;
		mp->bytes += pane->bytes;
		mp->flows += pane->flows;
		mp->sampled_out += pane->sampled_out;
		if (mp->flow_log != NULL && pane->flow_log != NULL) {
			/* up to the merged pane's bound; producer order, so the log does not
			 * depend on arrival order */
			uint32_t room = wa->p.profile_flows - mp->nflow_log;
			uint32_t n = RTE_MIN(room, pane->flow_logged), j;

			memcpy(&mp->flow_log[mp->nflow_log], pane->flow_log,
			       sizeof(*mp->flow_log) * n);
			mp->nflow_log += n;
			mp->unlogged += pane->flow_unlogged;
			for (j = n; j < pane->flow_logged; j++)
				mp->unlogged += safem_profile_flow_weight(&pane->flow_log[j]);
		}
		if (pane->jump_from_ms != 0 && wa->jump_to_ms == 0) {
			wa->jump_from_ms = pane->jump_from_ms;
			wa->jump_to_ms = start_ms;
			wa->totals.time_jumps++;
		}
		mp->sample_shift = RTE_MAX(mp->sample_shift, pane->sample_shift);
		wa->close_ns[i] = pane->close_ns;
		safem_window_pane_release(pane);
	}
	wa->ring_next = (wa->ring_next + 1) % wa->panes_per_window;
	wa->pane_flows = (struct safem_profile_flows){NULL, NULL, 0, 0};
	if (mp->flow_log != NULL) {
		wa->pane_seg[0] = mp->flow_log;
		wa->pane_seg_n[0] = mp->nflow_log;
		wa->pane_flows = (struct safem_profile_flows){wa->pane_seg, wa->pane_seg_n, 1,
							      mp->unlogged};
	}

	if (wa->panes_per_window == 1) {
		if (wa->flow_seg != NULL) {
			wa->flow_seg[0] = mp->flow_log;
			wa->flow_seg_n[0] = mp->nflow_log;
			wa->profile_flows = (struct safem_profile_flows){
				wa->flow_seg, wa->flow_seg_n, 1, mp->unlogged};
		}
		wa->surge_sampled_out = mp->sampled_out;
		wa->surge_shift = mp->sample_shift;
		merge_ns = (uint64_t)((rte_rdtsc() - t0) * 1e9 / rte_get_tsc_hz());
		ret = window_report(wa, start_ms, start_ms + wa->p.slide_ms, mp->tree, mp->features,
				    mp->packets, mp->bytes, mp->flows, merge_ns, t0);
	} else {
		/* Sliding: the window ending with this pane merges the last panes. */
		uint64_t packets = 0, bytes = 0, flows = 0;
		uint64_t first_ms = start_ms + wa->p.slide_ms - wa->p.window_ms;

		for (d = 0; d < 2; d++)
			safem_aggtree_reset(wa->window_tree[d]);
		if (wa->window_features != NULL)
			safem_featset_clear(wa->window_features);
		wa->surge_sampled_out = 0;
		wa->surge_shift = 0;
		wa->profile_flows = (struct safem_profile_flows){wa->flow_seg, wa->flow_seg_n, 0, 0};
		for (i = 0; i < wa->panes_per_window; i++) {
			const struct window_merged *r = &wa->ring[i];

			if (!r->valid || r->start_ms < first_ms)
				continue;
			if (wa->flow_seg != NULL) {
				struct safem_profile_flows *pf = &wa->profile_flows;

				wa->flow_seg[pf->segments] = r->flow_log;
				wa->flow_seg_n[pf->segments] = r->nflow_log;
				pf->segments++;
				pf->unlogged += r->unlogged;
			}
			for (d = 0; d < 2; d++)
				safem_aggtree_merge(wa->window_tree[d], r->tree[d]);
			if (wa->window_features != NULL)
				safem_featset_merge(wa->window_features, r->features);
			packets += r->packets;
			bytes += r->bytes;
			flows += r->flows;
			wa->surge_sampled_out += r->sampled_out;
			wa->surge_shift = RTE_MAX(wa->surge_shift, r->sample_shift);
		}
		merge_ns = (uint64_t)((rte_rdtsc() - t0) * 1e9 / rte_get_tsc_hz());
		ret = window_report(wa, first_ms, start_ms + wa->p.slide_ms, wa->window_tree,
				    wa->window_features, packets, bytes, flows, merge_ns, t0);
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

void
safem_window_analysis_pane_flows(const struct safem_window_analysis *wa,
				 struct safem_profile_flows *out)
{
	*out = wa->pane_flows;
	/* after a hole (panes every producer dropped) or a clock jump, the panes before this
	 * one are not its neighbours: answers to the last contacts are lost, not absent */
	if (wa->missing_to_ms != 0 || wa->jump_to_ms != 0)
		*out = (struct safem_profile_flows){NULL, NULL, 0, 0};
}
