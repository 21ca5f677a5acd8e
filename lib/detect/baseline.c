/* SPDX-License-Identifier: BSD-3-Clause */
/* Baselines: the moving ring of accepted windows, trained bands per hour,
 * baseline shares of top values and prefixes. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "detect_private.h"

int
share_table_init(struct share_table *t, unsigned int cap)
{
	t->n = 0;
	t->cap = cap;
	t->e = calloc(cap ? cap : 1, sizeof(*t->e));
	return t->e == NULL ? -ENOMEM : 0;
}

void
share_table_free(struct share_table *t)
{
	free(t->e);
	t->e = NULL;
	t->n = t->cap = 0;
}

const struct share_entry *
share_table_find(const struct share_table *t, const struct safem_feature_value *v, uint8_t len)
{
	unsigned int i;

	for (i = 0; i < t->n; i++)
		if (t->e[i].len == len && memcmp(&t->e[i].value, v, sizeof(*v)) == 0)
			return &t->e[i];
	return NULL;
}

void
share_table_add(struct share_table *t, const struct safem_feature_value *v, uint8_t len,
		struct share_pair share)
{
	struct share_entry *e = (struct share_entry *)share_table_find(t, v, len);

	if (e == NULL) {
		if (t->n == t->cap)
			return;
		e = &t->e[t->n++];
		e->value = *v;
		e->len = len;
		e->sum.packets = e->sum.flows = 0;
	}
	e->sum.packets += share.packets;
	e->sum.flows += share.flows;
}

static int
share_entry_larger_first(const void *a, const void *b)
{
	double x = ((const struct share_entry *)a)->sum.packets;
	double y = ((const struct share_entry *)b)->sum.packets;

	return x > y ? -1 : x < y ? 1 : 0;
}

void
share_table_sort(struct share_table *t)
{
	qsort(t->e, t->n, sizeof(*t->e), share_entry_larger_first);
}

int
share_tables_init(struct share_tables *st, unsigned int cap)
{
	unsigned int i;
	int rc = 0;

	for (i = 0; i < FEATURES; i++)
		rc |= share_table_init(&st->top[i], cap);
	for (i = 0; i < TREE_SIDES; i++)
		rc |= share_table_init(&st->prefix[i], cap);
	if (rc != 0) {
		share_tables_free(st);
		return -ENOMEM;
	}
	return 0;
}

void
share_tables_free(struct share_tables *st)
{
	unsigned int i;

	for (i = 0; i < FEATURES; i++)
		share_table_free(&st->top[i]);
	for (i = 0; i < TREE_SIDES; i++)
		share_table_free(&st->prefix[i]);
}

int
baseline_moving_init(struct baseline *b, unsigned int metrics, unsigned int k)
{
	memset(b, 0, sizeof(*b));
	b->kind = SAFEM_BASELINE_MOVING;
	b->metrics = metrics;
	b->ring_size = k;
	b->ring = calloc((size_t)k * metrics, sizeof(double));
	b->tops = calloc(k, sizeof(*b->tops));
	b->lo = calloc(metrics, sizeof(double));
	b->hi = calloc(metrics, sizeof(double));
	if (b->ring == NULL || b->tops == NULL || b->lo == NULL || b->hi == NULL) {
		baseline_free(b);
		return -ENOMEM;
	}
	return 0;
}

void
baseline_free(struct baseline *b)
{
	free(b->ring);
	free(b->tops);
	free(b->lo);
	free(b->hi);
	share_tables_free(&b->trained);
	memset(b, 0, sizeof(*b));
}

void
baseline_moving_add(struct baseline *b, const struct metric_layout *l, const double *x,
		    const struct safem_window_summary *w)
{
	struct window_tops *tops = &b->tops[b->ring_next];
	unsigned int m, s, f;

	tops->flows = w->volume[l->focus].flows;
	memcpy(&b->ring[(size_t)b->ring_next * b->metrics], x, b->metrics * sizeof(*x));
	for (f = 0; f < FEATURES; f++) {
		tops->ntop[f] = w->ntop[l->focus][f] < SAFEM_SUMMARY_TOP ? w->ntop[l->focus][f]
									 : SAFEM_SUMMARY_TOP;
		memcpy(tops->top[f], w->top[l->focus][f], tops->ntop[f] * sizeof(tops->top[f][0]));
	}
	for (s = 0; s < TREE_SIDES; s++) {
		tops->nprefixes[s] =
			w->nprefixes[s] < SAFEM_SUMMARY_TOP ? w->nprefixes[s] : SAFEM_SUMMARY_TOP;
		memcpy(tops->prefixes[s], w->prefixes[s],
		       tops->nprefixes[s] * sizeof(tops->prefixes[s][0]));
	}
	b->ring_next = (b->ring_next + 1) % b->ring_size;
	if (b->ring_count < b->ring_size)
		b->ring_count++;

	/*
	 * Recompute [min, max] over the ring: ring_size * metrics comparisons
	 * (60 x ~600 by default) once per accepted window, cheaper than keeping
	 * monotonic queues per metric at these sizes.
	 */
	for (m = 0; m < b->metrics; m++) {
		b->lo[m] = INFINITY;
		b->hi[m] = -INFINITY;
	}
	for (s = 0; s < b->ring_count; s++) {
		const double *row = &b->ring[(size_t)s * b->metrics];

		for (m = 0; m < b->metrics; m++) {
			b->lo[m] = fmin(b->lo[m], row[m]);
			b->hi[m] = fmax(b->hi[m], row[m]);
		}
	}
}

uint64_t
baseline_band(const struct baseline *b, uint64_t start_ms, const double **lo, const double **hi)
{
	unsigned int slot = TRAINED_ALL_HOURS;

	if (b->kind == SAFEM_BASELINE_MOVING) {
		*lo = b->lo;
		*hi = b->hi;
		return b->ring_count;
	}
	if (b->per_hour) {
		unsigned int hour = (unsigned int)((start_ms / 3600000) % TRAINED_HOURS);

		if (b->hour_windows[hour] >= TRAINED_HOUR_MIN_WINDOWS)
			slot = hour;
	}
	*lo = &b->lo[(size_t)slot * b->metrics];
	*hi = &b->hi[(size_t)slot * b->metrics];
	return b->hour_windows[slot];
}

static struct share_pair
window_share(const struct window_tops *t, unsigned int feat, const struct safem_feature_value *v,
	     uint8_t len)
{
	struct share_pair share = {0, 0};
	unsigned int i;

	if (len == 0) {
		for (i = 0; i < t->ntop[feat]; i++)
			if (memcmp(&t->top[feat][i].value, v, sizeof(*v)) == 0) {
				share.packets = t->top[feat][i].share;
				share.flows = t->flows ? (double)t->top[feat][i].counts.flows /
								 (double)t->flows
						       : 0;
				break;
			}
		return share;
	}
	for (i = 0; i < t->nprefixes[feat]; i++)
		if (t->prefixes[feat][i].len + 1 == len &&
		    memcmp(t->prefixes[feat][i].addr, v->bytes, sizeof(v->bytes)) == 0) {
			share.packets = t->prefixes[feat][i].share;
			break;
		}
	return share;
}

struct share_pair
baseline_share(const struct baseline *b, unsigned int feat, const struct safem_feature_value *v,
	       uint8_t len)
{
	struct share_pair sum = {0, 0}, one;
	const struct share_entry *e;
	unsigned int s;

	if (b->kind == SAFEM_BASELINE_TRAINED) {
		e = share_table_find(len ? &b->trained.prefix[feat] : &b->trained.top[feat], v,
				     len);
		return e ? e->sum : sum;
	}
	if (b->ring_count == 0)
		return sum;
	/* a value outside a window's top list had a small share there: count it as 0 */
	for (s = 0; s < b->ring_count; s++) {
		one = window_share(&b->tops[s], feat, v, len);
		sum.packets += one.packets;
		sum.flows += one.flows;
	}
	sum.packets /= b->ring_count;
	sum.flows /= b->ring_count;
	return sum;
}

void
involved_compute(const struct baseline *b, const struct metric_layout *l,
		 const struct safem_window_summary *w, struct involved *inv)
{
	double flows = (double)w->volume[l->focus].flows;
	unsigned int f, s, i;

	for (f = 0; f < FEATURES; f++) {
		inv->ntop[f] = w->ntop[l->focus][f] < SAFEM_SUMMARY_TOP ? w->ntop[l->focus][f]
									: SAFEM_SUMMARY_TOP;
		for (i = 0; i < inv->ntop[f]; i++) {
			const struct safem_top_value *t = &w->top[l->focus][f][i];

			inv->top[f][i].value = &t->value;
			inv->top[f][i].len = 0;
			inv->top[f][i].share.packets = t->share;
			inv->top[f][i].share.flows =
				flows > 0 ? (double)t->counts.flows / flows : 0;
			inv->top[f][i].baseline = baseline_share(b, f, &t->value, 0);
		}
	}
	for (s = 0; s < TREE_SIDES; s++) {
		inv->nprefix[s] =
			w->nprefixes[s] < SAFEM_SUMMARY_TOP ? w->nprefixes[s] : SAFEM_SUMMARY_TOP;
		for (i = 0; i < inv->nprefix[s]; i++) {
			const struct safem_top_prefix *p = &w->prefixes[s][i];
			const struct safem_feature_value *a = (const void *)p->addr;

			inv->prefix[s][i].value = a;
			inv->prefix[s][i].len = p->len;
			inv->prefix[s][i].share.packets = p->share;
			inv->prefix[s][i].share.flows = 0;
			inv->prefix[s][i].baseline = baseline_share(b, s, a, p->len + 1);
		}
	}
}
