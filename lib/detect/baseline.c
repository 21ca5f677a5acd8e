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
	b->column = calloc(k, sizeof(double));
	if (b->ring == NULL || b->tops == NULL || b->lo == NULL || b->hi == NULL ||
	    b->column == NULL) {
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
	free(b->column);
	share_tables_free(&b->trained);
	memset(b, 0, sizeof(*b));
}

static void
top_share_add(struct top_share *list, uint8_t *n, const struct safem_top_value *t, double flows)
{
	unsigned int i;

	for (i = 0; i < *n; i++)
		if (memcmp(&list[i].value, &t->value, sizeof(t->value)) == 0)
			return;
	if (*n == TOP_UNION)
		return;
	list[*n].value = t->value;
	list[*n].packets = (float)t->share;
	list[*n].flows = flows > 0 ? (float)((double)t->counts.flows / flows) : 0.0f;
	(*n)++;
}

/* The union of a window's top lists by packets and by flows for one direction. */
static void
window_tops_set(struct window_tops *tops, const struct metric_layout *l,
		const struct safem_window_summary *w, unsigned int slot, unsigned int f)
{
	unsigned int dir = l->candidate[slot], i;
	double flows = (double)w->volume[dir].flows;

	tops->ntop[slot][f] = 0;
	tops->flow_floor[slot][f] =
		w->ntop_flows[dir][f] >= SAFEM_SUMMARY_TOP && flows > 0
			? (float)((double)w->top_flows[dir][f][SAFEM_SUMMARY_TOP - 1].counts.flows /
				  flows)
			: 0.0f;
	for (i = 0; i < w->ntop[dir][f] && i < SAFEM_SUMMARY_TOP; i++)
		top_share_add(tops->top[slot][f], &tops->ntop[slot][f], &w->top[dir][f][i], flows);
	for (i = 0; i < w->ntop_flows[dir][f] && i < SAFEM_SUMMARY_TOP; i++)
		top_share_add(tops->top[slot][f], &tops->ntop[slot][f], &w->top_flows[dir][f][i],
			      flows);
}

/*
 * The band of a metric is [lo, hi] over the ring with the BAND_TRIM_SHARE most extreme
 * windows on each side left out (floor: rings under 1 / BAND_TRIM_SHARE windows keep
 * [min, max]). One burst of real traffic (a backup, a gap in a low-rate link) or a few
 * windows of a slow attack learnt as normal no longer set the band for K windows; a
 * plain [min, max] is moved by every single window (docs/detection.md, "Band").
 */
#define BAND_TRIM_SHARE 0.05

int
detect_double_ascending(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * Recompute the bands over the ring: metrics * K log K per accepted window (600 x 60 by
 * default, a few tens of microseconds), once per window on the analysis lcore.
 */
static void
baseline_moving_bands(struct baseline *b)
{
	unsigned int trim = (unsigned int)(b->ring_count * BAND_TRIM_SHARE), m, s;
	double *col = b->column;

	for (m = 0; m < b->metrics; m++) {
		for (s = 0; s < b->ring_count; s++)
			col[s] = b->ring[(size_t)s * b->metrics + m];
		qsort(col, b->ring_count, sizeof(*col), detect_double_ascending);
		b->lo[m] = col[trim];
		b->hi[m] = col[b->ring_count - 1 - trim];
	}
}

void
baseline_moving_add(struct baseline *b, const struct metric_layout *l, const double *x,
		    const struct safem_window_summary *w)
{
	struct window_tops *tops = &b->tops[b->ring_next];
	unsigned int s, f, c;

	memcpy(&b->ring[(size_t)b->ring_next * b->metrics], x, b->metrics * sizeof(*x));
	for (c = 0; c < l->ncandidates; c++) {
		tops->flows[c] = (float)w->volume[l->candidate[c]].flows;
		tops->packets[c] = (float)w->volume[l->candidate[c]].packets;
		for (f = 0; f < FEATURES; f++)
			window_tops_set(tops, l, w, c, f);
	}
	tops->start_ms = w->start_ms;
	for (s = 0; s < TREE_SIDES; s++) {
		tops->nprefixes[s] =
			w->nprefixes[s] < SAFEM_SUMMARY_TOP ? w->nprefixes[s] : SAFEM_SUMMARY_TOP;
		memcpy(tops->prefixes[s], w->prefixes[s],
		       tops->nprefixes[s] * sizeof(tops->prefixes[s][0]));
	}
	b->ring_next = (b->ring_next + 1) % b->ring_size;
	if (b->ring_count < b->ring_size)
		b->ring_count++;

	baseline_moving_bands(b);
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

/*
 * Does learnt window s count for values' shares? While a horizon is judged (before_ms), only
 * the windows before its first do: a window of the horizon that no rule named was learnt,
 * and its counts are what the horizon sums. Judged against itself, a sampled vertical
 * scan's first window (9 of its victim's flows against a mean of 1, not named alone) set
 * the victim's peak share above its share over the 4 windows of the scan, so the victim
 * never rose (docs/detection.md, "Sampled scans: a horizon is not its own baseline").
 */
static bool
ring_window_counts(const struct baseline *b, unsigned int s)
{
	return b->before_ms == 0 || b->tops[s].start_ms < b->before_ms;
}

/* The learnt windows that count (ring_window_counts); all of them when none would. */
static unsigned int
ring_windows_counted(const struct baseline *b)
{
	unsigned int s, n = 0;

	for (s = 0; s < b->ring_count; s++)
		n += ring_window_counts(b, s);
	return n;
}

static struct share_pair
window_share(const struct window_tops *t, unsigned int slot, unsigned int feat,
	     const struct safem_feature_value *v, uint8_t len)
{
	struct share_pair share = {0, 0};
	unsigned int i;

	if (len == 0) {
		for (i = 0; i < t->ntop[slot][feat]; i++)
			if (memcmp(&t->top[slot][feat][i].value, v, sizeof(*v)) == 0) {
				share.packets = t->top[slot][feat][i].packets;
				share.flows = t->top[slot][feat][i].flows;
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
baseline_share(const struct baseline *b, unsigned int slot, unsigned int feat,
	       const struct safem_feature_value *v, uint8_t len, struct share_pair *peak)
{
	struct share_pair sum = {0, 0}, one, top = {0, 0};
	const struct share_entry *e;
	unsigned int s, n;

	if (b->kind == SAFEM_BASELINE_TRAINED) {
		e = share_table_find(len ? &b->trained.prefix[feat] : &b->trained.top[feat], v,
				     len);
		if (e != NULL)
			sum = e->sum;
		if (peak != NULL)
			*peak = sum;
		return sum;
	}
	if (peak != NULL)
		*peak = top;
	if (b->ring_count == 0)
		return sum;
	n = ring_windows_counted(b);
	/* a value outside a window's top lists had a small share there: count it as 0 */
	for (s = 0; s < b->ring_count; s++) {
		if (n > 0 && !ring_window_counts(b, s))
			continue;
		one = window_share(&b->tops[s], slot, feat, v, len);
		sum.packets += one.packets;
		sum.flows += one.flows;
		top.packets = fmax(top.packets, one.packets);
		top.flows = fmax(top.flows, one.flows);
	}
	if (peak != NULL)
		*peak = top;
	n = n > 0 ? n : b->ring_count;
	sum.packets /= n;
	sum.flows /= n;
	return sum;
}

/*
 * A window whose full top list left the value out counts half the list's floor: the value
 * had between 0 and the floor there. Counting 0, a busy link's values ranked just under
 * the lists (60 s windows of ~6000 flows, tests/unit/test_detect.c: ~25 flows each) were
 * "new" whenever they entered them, and most clean windows alerted; counting the whole
 * floor, a home host that now and then makes the lists (2-3 flows at 1500 packets/s)
 * hides a 1 % attack on it (tuning set recall at 1 %: 0.60 against 0.68 with half).
 */
#define FLOOR_SHARE_UNLISTED 0.5

double
baseline_flow_share_bound(const struct baseline *b, unsigned int slot, unsigned int feat,
			  const struct safem_feature_value *v)
{
	double sum = 0;
	unsigned int s, i, n;

	if (b->kind == SAFEM_BASELINE_TRAINED || b->ring_count == 0)
		return baseline_share(b, slot, feat, v, 0, NULL).flows;
	n = ring_windows_counted(b);
	for (s = 0; s < b->ring_count; s++) {
		const struct window_tops *t = &b->tops[s];
		double one = FLOOR_SHARE_UNLISTED * t->flow_floor[slot][feat];

		if (n > 0 && !ring_window_counts(b, s))
			continue;

		for (i = 0; i < t->ntop[slot][feat]; i++)
			if (memcmp(&t->top[slot][feat][i].value, v, sizeof(*v)) == 0) {
				one = t->top[slot][feat][i].flows;
				break;
			}
		sum += one;
	}
	return sum / (n > 0 ? n : b->ring_count);
}

/*
 * Peak count on low-rate windows (docs/detection.md). A value rises over its largest share
 * in one baseline window: a busy server that holds half the flows of every window does
 * not rise when the link is busier. In a window of a few flows a share is a count over a
 * handful: a client that made 2 of the 2 flows of a quiet window (the first, learnt
 * windows of a slow brute force on a 15-70 packets/s link, bg_zeek_protomix) had a
 * share of 1, over which no later count of it could rise. Such a window explains its
 * count, no more: at most that count in each window judged now. A window of at least
 * LOW_RATE_FLOWS flows explains its share, and its count too: a client that made 10
 * connections to one server in a busy learnt window may make them in a quiet one as well.
 */
double
baseline_peak_flow_share(const struct baseline *b, unsigned int slot, unsigned int feat,
			 const struct safem_feature_value *v, double flows, unsigned int windows)
{
	double peak = 0;
	unsigned int s, n;

	if (b->kind == SAFEM_BASELINE_TRAINED || b->ring_count == 0)
		return baseline_share(b, slot, feat, v, 0, NULL).flows;
	/* the windows baseline_share takes its peak from (a sampled horizon: those before it) */
	n = ring_windows_counted(b);
	for (s = 0; s < b->ring_count; s++) {
		const struct window_tops *t = &b->tops[s];
		double share, count;

		if (n > 0 && !ring_window_counts(b, s))
			continue;
		share = window_share(t, slot, feat, v, 0).flows;
		count = share * (double)t->flows[slot];
		/* a quiet window's share is no bound; any window's count is what the value did */
		if ((double)t->flows[slot] < LOW_RATE_FLOWS)
			share = 0;
		if (flows > 0)
			share = fmax(share, windows * count / flows);
		peak = fmax(peak, share);
	}
	return peak;
}

double
baseline_peak_packets(const struct baseline *b, unsigned int slot, unsigned int feat,
		      const struct safem_feature_value *v, double packets)
{
	double peak = 0;
	unsigned int s, n;

	if (b->kind == SAFEM_BASELINE_TRAINED || b->ring_count == 0)
		return baseline_share(b, slot, feat, v, 0, NULL).packets * packets;
	n = ring_windows_counted(b);
	for (s = 0; s < b->ring_count; s++) {
		const struct window_tops *t = &b->tops[s];

		if (n > 0 && !ring_window_counts(b, s))
			continue;
		peak = fmax(peak, window_share(t, slot, feat, v, 0).packets * (double)t->packets[slot]);
	}
	return peak;
}

static void
involved_add(const struct baseline *b, unsigned int slot, unsigned int f,
	     const struct safem_top_value *t, double flows, struct involved *inv)
{
	struct involved_item *it;
	unsigned int i;

	for (i = 0; i < inv->ntop[f]; i++)
		if (memcmp(inv->top[f][i].value, &t->value, sizeof(t->value)) == 0)
			return;
	if (inv->ntop[f] == TOP_UNION)
		return;
	it = &inv->top[f][inv->ntop[f]++];
	it->value = &t->value;
	it->len = 0;
	it->share.packets = t->share;
	it->share.flows = flows > 0 ? (double)t->counts.flows / flows : 0;
	it->counts = &t->counts;
	it->icmp_packets = (double)t->icmp_packets;
	it->baseline = baseline_share(b, slot, f, &t->value, 0, &it->peak);
	it->count_peak = baseline_peak_flow_share(b, slot, f, &t->value, flows, 1);
	it->flow_bound = baseline_flow_share_bound(b, slot, f, &t->value);
	it->own_bound = it->flow_bound;
	it->stale = false;
}

/*
 * A value rises over its count peak only when its count now is beyond chance against that
 * peak (P(X >= k) <= COUNT_PEAK_SIGNIFICANCE for X ~ Poisson(count peak times the flows now,
 * at least one flow); classify.c's CARRY_SIGNIFICANCE, the level at which a value carries a
 * rise), else its share peak stands: a client that made 6 connections to a server in a
 * learnt window and makes 10 now (P = 0.084) did nothing it had not done; a brute force's
 * 12 against the 2 of its learnt first windows (P = 1.4e-6) did (tests/unit/test_detect.c,
 * test_low_rate_brute_force_count_peak).
 */
#define COUNT_PEAK_SIGNIFICANCE 0.01

static bool
count_peak_rises(const struct involved_item *it)
{
	double k;

	if (!(it->count_peak < it->peak.flows) || it->counts == NULL || !(it->share.flows > 0))
		return false;
	k = (double)it->counts->flows;
	return detect_poisson_log_tail(k, fmax(it->count_peak * k / it->share.flows, 1.0)) <=
	       log(COUNT_PEAK_SIGNIFICANCE);
}

bool
involved_count_peaks(const struct involved *from, struct involved *to)
{
	bool lower = false;
	unsigned int f, i;

	for (f = 0; f < FEATURES && !lower; f++)
		for (i = 0; i < from->ntop[f] && !lower; i++)
			lower = count_peak_rises(&from->top[f][i]);
	if (!lower)
		return false;
	*to = *from;
	for (f = 0; f < FEATURES; f++)
		for (i = 0; i < to->ntop[f]; i++)
			if (count_peak_rises(&to->top[f][i]))
				to->top[f][i].peak.flows = to->top[f][i].count_peak;
	return true;
}

/* A metric's mean over the windows behind the band at start_ms (MOVING: the ring, as
 * baseline_mean_summary; TRAINED: the band's midpoint); 0 without a band. */
static double
baseline_metric_mean(const struct baseline *b, uint64_t start_ms, unsigned int m)
{
	const double *lo, *hi;
	double sum = 0;
	unsigned int s, n;

	if (baseline_band(b, start_ms, &lo, &hi) == 0)
		return 0;
	if (b->kind != SAFEM_BASELINE_MOVING)
		return (lo[m] + hi[m]) / 2;
	n = ring_windows_counted(b);
	for (s = 0; s < b->ring_count; s++)
		if (n == 0 || ring_window_counts(b, s))
			sum += b->ring[(size_t)s * b->metrics + m];
	return sum / (n > 0 ? n : b->ring_count);
}

void
involved_compute(const struct baseline *b, const struct metric_layout *l,
		 const struct safem_window_summary *w, unsigned int slot, struct involved *inv)
{
	unsigned int dir = l->candidate[slot], f, s, i, c;
	double flows = (double)w->volume[dir].flows;

	inv->dir = (enum safem_direction)dir;
	inv->slot = slot;
	inv->baseline = b;
	inv->horizon = NULL;
	inv->windows = 1;
	for (i = 0; i < PROTOS; i++)
		inv->proto_mean[i] = baseline_metric_mean(b, w->start_ms, metric_proto(l, dir, i));
	for (i = 0; i < PROTOS; i++)
		inv->proto_packet_mean[i] =
			baseline_metric_mean(b, w->start_ms, metric_proto_packets(l, dir, i));
	inv->reverse = dir == SAFEM_DIR_IN    ? SAFEM_DIR_OUT
		       : dir == SAFEM_DIR_OUT ? SAFEM_DIR_IN
					      : (enum safem_direction)dir;
	inv->reverse_slot = -1;
	for (c = 0; c < l->ncandidates; c++)
		if (l->candidate[c] == inv->reverse)
			inv->reverse_slot = (int)c;
	for (f = 0; f < FEATURES; f++) {
		inv->ntop[f] = 0;
		for (i = 0; i < w->ntop[dir][f] && i < SAFEM_SUMMARY_TOP; i++)
			involved_add(b, slot, f, &w->top[dir][f][i], flows, inv);
		for (i = 0; i < w->ntop_flows[dir][f] && i < SAFEM_SUMMARY_TOP; i++)
			involved_add(b, slot, f, &w->top_flows[dir][f][i], flows, inv);
		/* a profile keeps no list floors: a value it does not hold had at most what
		 * this window's full list leaves out */
		if (b->kind == SAFEM_BASELINE_TRAINED &&
		    w->ntop_flows[dir][f] >= SAFEM_SUMMARY_TOP && flows > 0)
			for (i = 0; i < inv->ntop[f]; i++)
				inv->top[f][i].flow_bound =
					fmax(inv->top[f][i].flow_bound,
					     (double)w->top_flows[dir][f][SAFEM_SUMMARY_TOP - 1]
							     .counts.flows /
						     flows);
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
			inv->prefix[s][i].counts = NULL;
			inv->prefix[s][i].icmp_packets = 0;
			inv->prefix[s][i].flow_bound = 0;
			inv->prefix[s][i].stale = false;
			inv->prefix[s][i].baseline =
				baseline_share(b, 0, s, a, p->len + 1, &inv->prefix[s][i].peak);
		}
	}
}

/* The focus-direction slot of the ring's top lists, or -1 (the classifier reads IN, else ALL). */
static int
mean_top_slot(const struct metric_layout *l, enum safem_direction dir)
{
	unsigned int c;

	for (c = 0; c < l->ncandidates; c++)
		if (l->candidate[c] == dir)
			return (int)c;
	return -1;
}

/* Largest mean packet share of a value of feature f in a trained profile. */
static double
trained_top1(const struct baseline *b, unsigned int f)
{
	double top = 0;
	unsigned int i;

	for (i = 0; i < b->trained.top[f].n; i++)
		top = fmax(top, b->trained.top[f].e[i].sum.packets);
	return top;
}

/*
 * One metric vector (the ring's mean, or a trained band's midpoint) back into the summary
 * fields it came from (metric_flatten's transforms undone). Only what a reader of the
 * baseline needs: spectra, distinct values, volumes, protocol shares, tree entropies.
 */
static void
summary_from_metrics(const struct metric_layout *l, const double *x,
		     struct safem_window_summary *m)
{
	unsigned int dir, feat, weight, qi, p, k;

	for (dir = 0; dir < DIRS; dir++) {
		if (!(l->directions & (1u << dir)))
			continue;
		for (feat = 0; feat < FEATURES; feat++) {
			for (weight = 0; weight < WEIGHTS; weight++)
				for (qi = 0; qi < l->nq; qi++) {
					double s = x[metric_spectrum(l, dir, feat, weight, qi)];

					/* q < 0: the detector keeps logs; the mean of logs is the
					 * geometric mean of the values */
					m->spectrum[dir][feat][weight][qi] = l->q[qi] < 0 ? exp(s) : s;
				}
			m->distinct[dir][feat] = expm1(x[metric_distinct(l, dir, feat)]);
		}
		m->volume[dir].packets = (uint64_t)llround(
			fmax(exp10(x[l->volume_base + dir * VOLUMES + 0]) - 1.0, 0));
		m->volume[dir].bytes = (uint64_t)llround(
			fmax(exp10(x[l->volume_base + dir * VOLUMES + 1]) - 1.0, 0));
		m->volume[dir].flows = (uint64_t)llround(
			fmax(exp10(x[l->volume_base + dir * VOLUMES + 2]) - 1.0, 0));
		/* shares as flows per MEAN_PROTO_SCALE: a reader divides by their sum */
		for (p = 0; p < PROTOS; p++)
			m->proto_flows[dir][p] = (uint64_t)llround(
				fmax(x[metric_proto(l, dir, p)], 0) * MEAN_PROTO_SCALE);
	}
	for (k = 0; k < TREE_SIDES * TREE_METRICS; k++)
		m->tree_entropy[k / TREE_METRICS][k % TREE_METRICS] = x[l->tree_base + k];
}

unsigned int
baseline_mean_summary(const struct baseline *b, const struct metric_layout *l, uint64_t start_ms,
		      double *scratch, struct safem_window_summary *m)
{
	enum safem_direction dir = l->focus;
	int slot = mean_top_slot(l, dir);
	const double *lo, *hi;
	uint64_t windows;
	unsigned int s, i, f;
	double top1[FEATURES] = {0};

	windows = baseline_band(b, start_ms, &lo, &hi);
	if (windows == 0)
		return 0;
	memset(m, 0, sizeof(*m));
	m->start_ms = start_ms;
	m->directions = l->directions;
	m->nq = l->nq;
	memcpy(m->q, l->q, sizeof(m->q));
	m->sample_rate = b->sample_rate != 0 ? b->sample_rate : 1;
	if (b->kind == SAFEM_BASELINE_MOVING) {
		/* the mean of exactly the windows behind the bands: one decision what is learnt */
		memset(scratch, 0, b->metrics * sizeof(*scratch));
		for (s = 0; s < b->ring_count; s++)
			for (i = 0; i < b->metrics; i++)
				scratch[i] += b->ring[(size_t)s * b->metrics + i];
		for (i = 0; i < b->metrics; i++)
			scratch[i] /= b->ring_count;
		for (f = 0; f < FEATURES && slot >= 0; f++) {
			for (s = 0; s < b->ring_count; s++)
				if (b->tops[s].ntop[slot][f] > 0) /* packets list first: its top 1 */
					top1[f] += b->tops[s].top[slot][f][0].packets;
			top1[f] /= b->ring_count;
		}
	} else {
		/* a trained profile keeps bands, not means: their midpoints */
		for (i = 0; i < b->metrics; i++)
			scratch[i] = (lo[i] + hi[i]) / 2;
		for (f = 0; f < FEATURES; f++)
			top1[f] = trained_top1(b, f);
	}
	summary_from_metrics(l, scratch, m);
	for (f = 0; f < FEATURES; f++) {
		m->ntop[dir][f] = top1[f] > 0 ? 1 : 0;
		m->top[dir][f][0].share = top1[f];
	}
	return (unsigned int)(windows < UINT32_MAX ? windows : UINT32_MAX);
}
