/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The baseline mean behind the feature vector's deviations: the mean window
 * summary of the last K windows the caller judged normal (the probe feeds
 * only non-anomalous windows, as the detector's moving baseline does).
 *
 * Only the summary fields the feature vector reads are averaged (spectra,
 * distinct counts, volumes, protocol flows, top-1 shares, tree entropies);
 * each window's are kept in a ring so the oldest can leave the sums.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "safem_classifier.h"

#define DIRS SAFEM_DIR_COUNT
#define FEATS SAFEM_FEATURE_COUNT

/* Offsets of the averaged values in one ring record. */
enum {
	V_SPECTRUM = 0,
	V_DISTINCT = V_SPECTRUM + DIRS * FEATS * SAFEM_WEIGHT_COUNT * SAFEM_SPECTRUM_Q_MAX,
	V_VOLUME = V_DISTINCT + DIRS * FEATS,
	V_PROTO = V_VOLUME + DIRS * 3,
	V_TOP1 = V_PROTO + DIRS * SAFEM_PROTO_COUNT,
	V_TREE = V_TOP1 + DIRS * FEATS,
	V_COUNT = V_TREE + 2 * 3,
};

struct safem_classifier_baseline {
	unsigned int capacity, count, next;
	/* adds since the sums were last summed afresh: bounds the rounding drift of the
	 * running add/subtract */
	unsigned int since_resum;
	double *ring; /* capacity * V_COUNT */
	double sum[V_COUNT];
	struct safem_window_summary mean;
};

struct safem_classifier_baseline *
safem_classifier_baseline_create(unsigned int windows)
{
	struct safem_classifier_baseline *b;

	if (windows == 0 || windows > SAFEM_CLASSIFIER_BASELINE_MAX) {
		errno = EINVAL;
		return NULL;
	}
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return NULL;
	b->ring = calloc((size_t)windows * V_COUNT, sizeof(*b->ring));
	if (b->ring == NULL) {
		free(b);
		errno = ENOMEM;
		return NULL;
	}
	b->capacity = windows;
	return b;
}

void
safem_classifier_baseline_free(struct safem_classifier_baseline *b)
{
	if (b == NULL)
		return;
	free(b->ring);
	free(b);
}

/* A non-finite value would stay in the sums for K windows: count it as 0. */
static double
finite_or_zero(double v)
{
	return isfinite(v) ? v : 0.0;
}

static void
record_from_summary(const struct safem_window_summary *w, double *r)
{
	unsigned int d, f, wt, q, i = 0;

	for (d = 0; d < DIRS; d++)
		for (f = 0; f < FEATS; f++)
			for (wt = 0; wt < SAFEM_WEIGHT_COUNT; wt++)
				for (q = 0; q < SAFEM_SPECTRUM_Q_MAX; q++)
					r[V_SPECTRUM + i++] = finite_or_zero(w->spectrum[d][f][wt][q]);
	for (d = 0; d < DIRS; d++) {
		for (f = 0; f < FEATS; f++) {
			r[V_DISTINCT + d * FEATS + f] = finite_or_zero(w->distinct[d][f]);
			r[V_TOP1 + d * FEATS + f] =
				w->ntop[d][f] > 0 ? finite_or_zero(w->top[d][f][0].share) : 0.0;
		}
		r[V_VOLUME + d * 3 + 0] = (double)w->volume[d].packets;
		r[V_VOLUME + d * 3 + 1] = (double)w->volume[d].bytes;
		r[V_VOLUME + d * 3 + 2] = (double)w->volume[d].flows;
		for (i = 0; i < SAFEM_PROTO_COUNT; i++)
			r[V_PROTO + d * SAFEM_PROTO_COUNT + i] = (double)w->proto_flows[d][i];
	}
	for (i = 0; i < 6; i++)
		r[V_TREE + i] = finite_or_zero(w->tree_entropy[i / 3][i % 3]);
}

static uint64_t
mean_count(double v)
{
	return v > 0 ? (uint64_t)llround(v) : 0;
}

/* The mean summary from the sums; header fields from w (the newest window). */
static void
mean_from_sums(struct safem_classifier_baseline *b, const struct safem_window_summary *w)
{
	struct safem_window_summary *m = &b->mean;
	double n = (double)b->count;
	unsigned int d, f, wt, q, i = 0;

	memset(m, 0, sizeof(*m));
	m->start_ms = w->start_ms;
	m->end_ms = w->end_ms;
	m->directions = w->directions;
	m->nq = w->nq;
	memcpy(m->q, w->q, sizeof(m->q));
	m->sample_rate = w->sample_rate;
	for (d = 0; d < DIRS; d++)
		for (f = 0; f < FEATS; f++)
			for (wt = 0; wt < SAFEM_WEIGHT_COUNT; wt++)
				for (q = 0; q < SAFEM_SPECTRUM_Q_MAX; q++)
					m->spectrum[d][f][wt][q] = b->sum[V_SPECTRUM + i++] / n;
	for (d = 0; d < DIRS; d++) {
		for (f = 0; f < FEATS; f++) {
			double top1 = b->sum[V_TOP1 + d * FEATS + f] / n;

			m->distinct[d][f] = b->sum[V_DISTINCT + d * FEATS + f] / n;
			/* the feature vector reads top[0].share only */
			m->ntop[d][f] = top1 > 0 ? 1 : 0;
			m->top[d][f][0].share = top1;
		}
		m->volume[d].packets = mean_count(b->sum[V_VOLUME + d * 3 + 0] / n);
		m->volume[d].bytes = mean_count(b->sum[V_VOLUME + d * 3 + 1] / n);
		m->volume[d].flows = mean_count(b->sum[V_VOLUME + d * 3 + 2] / n);
		for (i = 0; i < SAFEM_PROTO_COUNT; i++)
			m->proto_flows[d][i] =
				mean_count(b->sum[V_PROTO + d * SAFEM_PROTO_COUNT + i] / n);
	}
	for (i = 0; i < 6; i++)
		m->tree_entropy[i / 3][i % 3] = b->sum[V_TREE + i] / n;
}

void
safem_classifier_baseline_add(struct safem_classifier_baseline *b,
			      const struct safem_window_summary *w)
{
	double *slot;
	unsigned int i, k;

	if (b == NULL || w == NULL)
		return;
	slot = b->ring + (size_t)b->next * V_COUNT;
	if (b->count == b->capacity)
		for (i = 0; i < V_COUNT; i++)
			b->sum[i] -= slot[i];
	else
		b->count++;
	record_from_summary(w, slot);
	b->next = (b->next + 1) % b->capacity;
	if (++b->since_resum >= b->capacity) {
		memset(b->sum, 0, sizeof(b->sum));
		for (k = 0; k < b->count; k++)
			for (i = 0; i < V_COUNT; i++)
				b->sum[i] += b->ring[(size_t)k * V_COUNT + i];
		b->since_resum = 0;
	} else {
		for (i = 0; i < V_COUNT; i++)
			b->sum[i] += slot[i];
	}
	mean_from_sums(b, w);
}

unsigned int
safem_classifier_baseline_windows(const struct safem_classifier_baseline *b)
{
	return b != NULL ? b->count : 0;
}

const struct safem_window_summary *
safem_classifier_baseline_mean(const struct safem_classifier_baseline *b)
{
	return b != NULL && b->count > 0 ? &b->mean : NULL;
}
