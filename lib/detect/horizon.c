/* SPDX-License-Identifier: BSD-3-Clause */
/* Evidence over several windows (docs/detection.md, "Evidence over several windows"):
 * a ring of the last HORIZON_WINDOWS_MAX window summaries, whatever the detector made of
 * them, and the summary of the newest m of them that the class rules judge as one window. */
#include <errno.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "detect_private.h"

/* One listing of a value: its counts in one of a window's two top lists */
struct horizon_listing {
	struct safem_feature_value value;
	struct safem_featdist_counts counts;
	uint64_t icmp_packets;
	unsigned int window; /* 0: the newest */
};

/* A value of the horizon, and whether it is judged (an address that does not go on now is
 * listed with its counts, for the rules that read what a host asked for, but not judged) */
struct horizon_value {
	struct safem_top_value top; /* first: the list comparators read it */
	bool stale;
};

int
horizon_init(struct horizon *h)
{
	memset(h, 0, sizeof(*h));
	h->ring = calloc(HORIZON_WINDOWS_MAX, sizeof(*h->ring));
	h->acc = calloc(1, sizeof(*h->acc));
	h->listing = calloc(HORIZON_LISTINGS, sizeof(*h->listing));
	h->cand = calloc(HORIZON_LISTINGS, sizeof(*h->cand));
	if (h->ring == NULL || h->acc == NULL || h->listing == NULL || h->cand == NULL) {
		horizon_free(h);
		return -ENOMEM;
	}
	return 0;
}

void
horizon_free(struct horizon *h)
{
	free(h->ring);
	free(h->acc);
	free(h->listing);
	free(h->cand);
	memset(h, 0, sizeof(*h));
}

void
horizon_add(struct horizon *h, const struct safem_window_summary *w)
{
	memcpy(&h->ring[h->next], w, sizeof(*w));
	h->next = (h->next + 1) % HORIZON_WINDOWS_MAX;
	if (h->count < HORIZON_WINDOWS_MAX)
		h->count++;
}

/* The i-th newest window (0: the newest). */
static const struct safem_window_summary *
horizon_window(const struct horizon *h, unsigned int i)
{
	return &h->ring[(h->next + HORIZON_WINDOWS_MAX - 1 - i) % HORIZON_WINDOWS_MAX];
}

unsigned int
horizon_available(const struct horizon *h)
{
	unsigned int n = 0;

	while (n < h->count && horizon_window(h, n)->start_ms >= h->floor_ms)
		n++;
	return n;
}

uint64_t
horizon_start_ms(const struct horizon *h, unsigned int m)
{
	return horizon_window(h, m - 1)->start_ms;
}

unsigned int
horizon_count(unsigned int longest)
{
	unsigned int n = 1, m;

	for (m = 2; m <= longest && m <= HORIZON_WINDOWS_MAX; m *= 2)
		n++;
	return n;
}

double
horizon_evidence(double evidence, unsigned int longest)
{
	/* SIGNIFICANCE^e' = SIGNIFICANCE^e / H  <=>  e' = e + ln H / ln(1 / SIGNIFICANCE) */
	return evidence + log((double)horizon_count(longest)) / -log(SIGNIFICANCE);
}

static int
value_more_packets(const void *a, const void *b)
{
	const struct safem_top_value *x = a, *y = b;

	if (x->counts.packets != y->counts.packets)
		return x->counts.packets > y->counts.packets ? -1 : 1;
	return memcmp(&x->value, &y->value, sizeof(x->value));
}

/* As the summary's flow list: most flows first, ties by packets, then value bytes. */
static int
value_more_flows(const void *a, const void *b)
{
	const struct safem_top_value *x = a, *y = b;

	if (x->counts.flows != y->counts.flows)
		return x->counts.flows > y->counts.flows ? -1 : 1;
	return value_more_packets(a, b);
}

/* The candidate slot of direction dir, or -1 when it is not classified. */
static int
candidate_slot(const struct metric_layout *l, unsigned int dir)
{
	unsigned int c;

	for (c = 0; c < l->ncandidates; c++)
		if (l->candidate[c] == dir)
			return (int)c;
	return -1;
}

/*
 * An address is judged over the horizon only while it goes on now: the newest window holds
 * more of its flows than its baseline explains (P <= NOW_SIGNIFICANCE against its mean
 * share, at least NOW_LAMBDA_MIN flows) and at least NOW_OF_HORIZON_MEAN of its mean over
 * the horizon. The windows after an attack then do not alert on its past (a victim's 50
 * reflected flows a window for three windows and 2 in the fourth: not judged; a busy
 * server as busy as ever: not judged; a slow attack's 12 flows a window on a host of 0-3,
 * or a sampled scanner's one probe per target: judged). A chance level, not evidence:
 * one ordinary value in a hundred passes it (the horizon's own test is the evidence).
 * Tuning set (seed 100): with "more than its mean" alone, a 5 % SYN flood's victim kept
 * its horizons significant for 4 windows after the attack.
 */
#define NOW_SIGNIFICANCE 0.01
#define NOW_LAMBDA_MIN 1.0
#define NOW_OF_HORIZON_MEAN 0.5

static bool
is_address_feature(unsigned int f)
{
	return f == SAFEM_FEATURE_SRC_ADDR || f == SAFEM_FEATURE_DST_ADDR;
}

/* By value, then window: a value's listings are adjacent, oldest last. */
static int
listing_order(const void *a, const void *b)
{
	const struct horizon_listing *x = a, *y = b;
	int c = memcmp(&x->value, &y->value, sizeof(x->value));

	if (c != 0)
		return c;
	return x->window < y->window ? -1 : x->window > y->window;
}

/* Judged values first, each part in the order of a list (by packets, by flows) */
static int
judged_first(const void *a, const void *b, int (*order)(const void *, const void *))
{
	const struct horizon_value *x = a, *y = b;

	if (x->stale != y->stale)
		return x->stale ? 1 : -1;
	return order(a, b);
}

static int
judged_first_packets(const void *a, const void *b)
{
	return judged_first(a, b, value_more_packets);
}

static int
judged_first_flows(const void *a, const void *b)
{
	return judged_first(a, b, value_more_flows);
}

/*
 * One of the horizon's lists: the SAFEM_SUMMARY_TOP first values in order, the values that
 * are judged before those only listed (busy hosts that do not go on now, summed over m
 * windows, would crowd a victim of a few flows a window out of the list), in order.
 */
static void
keep_list(struct horizon_value *cand, unsigned int n, bool by_flows, struct safem_top_value *list,
	  unsigned int *nlist, bool *stale)
{
	unsigned int i, k = n < SAFEM_SUMMARY_TOP ? n : SAFEM_SUMMARY_TOP;

	qsort(cand, n, sizeof(cand[0]), by_flows ? judged_first_flows : judged_first_packets);
	qsort(cand, k, sizeof(cand[0]), by_flows ? value_more_flows : value_more_packets);
	for (i = 0; i < k; i++) {
		list[i] = cand[i].top;
		stale[i] = cand[i].stale;
	}
	*nlist = k;
}

/*
 * The values of one direction and feature judged over the horizon: every value either
 * list of any of the m windows holds (a sampled victim is listed in some windows, not
 * always in the newest), each with its counts summed over the windows that listed it;
 * addresses while they go on now (NOW_OF_HORIZON_MEAN). The listings are sorted by value
 * and merged: m x 2 x SAFEM_SUMMARY_TOP of them, whatever the flows of the windows.
 */
static void
accumulate_values(struct horizon *h, unsigned int m, const struct baseline *b,
		  const struct metric_layout *l, unsigned int dir, unsigned int f,
		  struct safem_window_summary *acc)
{
	struct horizon_listing *ls = h->listing;
	struct horizon_value *cand = h->cand;
	unsigned int n = 0, nl = 0, i, j, list;
	int slot = candidate_slot(l, dir);
	double now_flows = (double)horizon_window(h, 0)->volume[dir].flows;

	for (i = 0; i < m; i++) {
		const struct safem_window_summary *w = horizon_window(h, i);

		for (list = 0; list < 2; list++) {
			const struct safem_top_value *src =
				list ? w->top_flows[dir][f] : w->top[dir][f];
			unsigned int nsrc = list ? w->ntop_flows[dir][f] : w->ntop[dir][f];

			for (j = 0; j < nsrc && j < SAFEM_SUMMARY_TOP; j++) {
				ls[nl].value = src[j].value;
				ls[nl].counts = src[j].counts;
				ls[nl].icmp_packets = src[j].icmp_packets;
				ls[nl].window = i;
				nl++;
			}
		}
	}
	qsort(ls, nl, sizeof(ls[0]), listing_order);
	for (i = 0; i < nl; i = j) {
		double now_count = 0;

		cand[n].top.value = ls[i].value;
		memset(&cand[n].top.counts, 0, sizeof(cand[n].top.counts));
		cand[n].top.icmp_packets = 0;
		/* a window that listed the value in neither list counts 0 for it (it had between
		 * 0 and the list floor there): the horizon's count is a lower bound */
		for (j = i; j < nl && memcmp(&ls[j].value, &ls[i].value, sizeof(ls[i].value)) == 0;
		     j++) {
			if (j > i && ls[j].window == ls[j - 1].window)
				continue; /* listed by packets and by flows: one window's counts */
			if (ls[j].window == 0)
				now_count = (double)ls[j].counts.flows;
			cand[n].top.counts.flows += ls[j].counts.flows;
			cand[n].top.counts.packets += ls[j].counts.packets;
			cand[n].top.counts.bytes += ls[j].counts.bytes;
			cand[n].top.icmp_packets += ls[j].icmp_packets;
		}
		cand[n].stale = false;
		if (slot >= 0 && is_address_feature(f))
			/* goes on now: beyond chance in the newest window (a value it did not list
			 * had at most its list floor there: not beyond chance), and at least
			 * NOW_OF_HORIZON_MEAN of its mean over the horizon */
			cand[n].stale =
				detect_poisson_log_tail(
					now_count,
					fmax(baseline_flow_share_bound(b, (unsigned int)slot, f,
								       &cand[n].top.value) *
						     now_flows,
					     NOW_LAMBDA_MIN)) > log(NOW_SIGNIFICANCE) ||
				now_count * m < NOW_OF_HORIZON_MEAN * (double)cand[n].top.counts.flows;
		cand[n].top.share = acc->volume[dir].packets > 0
					    ? (double)cand[n].top.counts.packets /
						      (double)acc->volume[dir].packets
					    : 0;
		n++;
	}
	keep_list(cand, n, false, acc->top[dir][f], &acc->ntop[dir][f], h->stale_top[dir][f]);
	keep_list(cand, n, true, acc->top_flows[dir][f], &acc->ntop_flows[dir][f],
		  h->stale_flows[dir][f]);
}

const struct safem_window_summary *
horizon_accumulate(struct horizon *h, unsigned int m, const struct baseline *b,
		   const struct metric_layout *l)
{
	const struct safem_window_summary *now = horizon_window(h, 0);
	struct safem_window_summary *acc = h->acc;
	unsigned int i, dir, f, p;

	/* what the class rules read besides counts (spectra, prefixes) is the newest window's */
	memcpy(acc, now, sizeof(*acc));
	acc->start_ms = horizon_window(h, m - 1)->start_ms;
	for (dir = 0; dir < DIRS; dir++) {
		if (!(l->directions & (1u << dir)))
			continue;
		for (i = 1; i < m; i++) {
			const struct safem_window_summary *w = horizon_window(h, i);

			acc->volume[dir].flows += w->volume[dir].flows;
			acc->volume[dir].packets += w->volume[dir].packets;
			acc->volume[dir].bytes += w->volume[dir].bytes;
			for (p = 0; p < PROTOS; p++) {
				acc->proto_flows[dir][p] += w->proto_flows[dir][p];
				acc->proto_packets[dir][p] += w->proto_packets[dir][p];
			}
		}
		for (f = 0; f < FEATURES; f++)
			accumulate_values(h, m, b, l, dir, f, acc);
		/* SYN retries are counted per direction, not per host: summed over a horizon
		 * they would lend an ended flood's retries to any busy server (the retry rule,
		 * classify.c). A horizon has none: floods of retries are fast. */
		acc->proto_packets[dir][SAFEM_PROTO_TCP_SYN] =
			acc->proto_flows[dir][SAFEM_PROTO_TCP_SYN];
	}
	return acc;
}

/*
 * A pair's connections in one window: more than one (a client's lone connection to a
 * server says nothing of what it does next), so that the packets per flow are those of
 * several connections, not of one long session.
 */
#define PAIR_CONNECTIONS_MIN 2

bool
horizon_pair_connected(const struct horizon *h, unsigned int dir,
		       const struct safem_feature_value *src,
		       const struct safem_feature_value *dst, double min_packets)
{
	unsigned int n = h != NULL ? horizon_available(h) : 0, i;

	for (i = 0; i < n; i++) {
		const struct safem_window_summary *w = horizon_window(h, i);
		const struct safem_featdist_counts *s =
			summary_listed_counts(w, dir, SAFEM_FEATURE_SRC_ADDR, src);
		const struct safem_featdist_counts *d =
			summary_listed_counts(w, dir, SAFEM_FEATURE_DST_ADDR, dst);

		if (s != NULL && d != NULL && s->flows >= PAIR_CONNECTIONS_MIN &&
		    (double)s->packets >= min_packets * (double)s->flows &&
		    2 * d->flows >= s->flows)
			return true;
	}
	return false;
}

double
horizon_listed_flows(const struct horizon *h, unsigned int m, unsigned int dir, unsigned int feat,
		     const struct safem_feature_value *v)
{
	unsigned int n = horizon_available(h), i;
	double flows = 0;

	for (i = 0; i < m && i < n; i++) {
		const struct safem_featdist_counts *c =
			summary_listed_counts(horizon_window(h, i), dir, feat, v);

		if (c != NULL)
			flows += (double)c->flows;
	}
	return flows;
}

/*
 * A value no baseline window listed may come with a flow a window by chance (classify.c,
 * LAMBDA_MIN: one flow a window): over m windows, m flows. Without it a new client's 4
 * flows over two windows were beyond chance (P = 0.02 against 1) where each window's 2
 * are not (P = 0.26), and browsing bursts of a 20-flow real link read as many carriers.
 */
#define HORIZON_LAMBDA_MIN_PER_WINDOW 1.0

/* Is v (a pointer into list, n entries) one of its entries marked in stale? */
static bool
stale_entry(const struct safem_feature_value *v, const struct safem_top_value *list,
	    unsigned int n, const bool *stale)
{
	uintptr_t p = (uintptr_t)v, first = (uintptr_t)&list[0].value;

	if (p < first || p >= first + n * sizeof(list[0]))
		return false;
	return stale[(p - first) / sizeof(list[0])];
}

void
horizon_involved_floor(const struct horizon *h, struct involved *inv, unsigned int m,
		       const struct safem_window_summary *acc)
{
	double flows = (double)acc->volume[inv->dir].flows, floor;
	unsigned int dir = inv->dir, f, i;

	if (!(flows > 0))
		return;
	floor = m * HORIZON_LAMBDA_MIN_PER_WINDOW / flows;
	for (f = 0; f < FEATURES; f++)
		for (i = 0; i < inv->ntop[f]; i++) {
			struct involved_item *it = &inv->top[f][i];

			it->flow_bound = fmax(it->flow_bound, floor);
			it->own_bound = it->flow_bound;
			/* a low-rate baseline window explains its count in each of the m windows */
			it->count_peak = baseline_peak_flow_share(inv->baseline, inv->slot, f,
								  it->value, flows, m);
			/* an address that does not go on now: its count is what it is, no rise */
			if (stale_entry(it->value, acc->top[dir][f], acc->ntop[dir][f],
					h->stale_top[dir][f]) ||
			    stale_entry(it->value, acc->top_flows[dir][f], acc->ntop_flows[dir][f],
					h->stale_flows[dir][f])) {
				it->flow_bound = fmax(it->flow_bound, it->share.flows);
				it->stale = true;
			}
		}
}
