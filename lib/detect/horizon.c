/* SPDX-License-Identifier: BSD-3-Clause */
/* Evidence over several windows (docs/detection.md, "Evidence over several windows"):
 * a ring of the last HORIZON_WINDOWS_MAX window summaries, whatever the detector made of
 * them, and the summary of the newest m of them that the class rules judge as one window. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "detect_private.h"

int
horizon_init(struct horizon *h)
{
	memset(h, 0, sizeof(*h));
	h->ring = calloc(HORIZON_WINDOWS_MAX, sizeof(*h->ring));
	h->acc = calloc(1, sizeof(*h->acc));
	if (h->ring == NULL || h->acc == NULL) {
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

/*
 * The values of one direction and feature judged over the horizon: those of the newest
 * window's lists, each with its counts summed over the m windows that listed it;
 * addresses while they go on now (NOW_OF_HORIZON_MEAN).
 */
static void
accumulate_values(const struct horizon *h, unsigned int m, const struct baseline *b,
		  const struct metric_layout *l, unsigned int dir, unsigned int f,
		  struct safem_window_summary *acc)
{
	const struct safem_window_summary *now = horizon_window(h, 0);
	struct safem_top_value cand[TOP_UNION];
	double now_count[TOP_UNION];
	unsigned int n = 0, i, k, list, kept;
	int slot = candidate_slot(l, dir);
	double now_flows = (double)now->volume[dir].flows;

	for (list = 0; list < 2; list++) {
		const struct safem_top_value *src =
			list ? now->top_flows[dir][f] : now->top[dir][f];
		unsigned int nsrc = list ? now->ntop_flows[dir][f] : now->ntop[dir][f];

		for (i = 0; i < nsrc && i < SAFEM_SUMMARY_TOP && n < TOP_UNION; i++) {
			const struct safem_feature_value *v = &src[i].value;
			bool seen = false;

			for (k = 0; k < n && !seen; k++)
				seen = memcmp(&cand[k].value, v, sizeof(*v)) == 0;
			if (seen)
				continue;
			if (slot >= 0 && is_address_feature(f) &&
			    detect_poisson_log_tail(
				    (double)src[i].counts.flows,
				    fmax(baseline_flow_share_bound(b, (unsigned int)slot, f, v) *
						 now_flows,
					 NOW_LAMBDA_MIN)) > log(NOW_SIGNIFICANCE))
				continue;
			cand[n].value = *v;
			memset(&cand[n].counts, 0, sizeof(cand[n].counts));
			now_count[n] = (double)src[i].counts.flows;
			n++;
		}
	}
	/* a window that listed the value in neither list counts 0 for it (it had between 0
	 * and the list floor there): the horizon's count is a lower bound */
	for (k = 0, kept = 0; k < n; k++) {
		for (i = 0; i < m; i++) {
			const struct safem_featdist_counts *c =
				summary_listed_counts(horizon_window(h, i), dir, f,
						      &cand[k].value);

			if (c == NULL)
				continue;
			cand[k].counts.flows += c->flows;
			cand[k].counts.packets += c->packets;
			cand[k].counts.bytes += c->bytes;
		}
		cand[k].share =
			acc->volume[dir].packets > 0
				? (double)cand[k].counts.packets / (double)acc->volume[dir].packets
				: 0;
		if (slot >= 0 && is_address_feature(f) &&
		    now_count[k] * m < NOW_OF_HORIZON_MEAN * (double)cand[k].counts.flows)
			continue;
		cand[kept++] = cand[k];
	}
	n = kept;
	qsort(cand, n, sizeof(cand[0]), value_more_packets);
	acc->ntop[dir][f] = n < SAFEM_SUMMARY_TOP ? n : SAFEM_SUMMARY_TOP;
	memcpy(acc->top[dir][f], cand, acc->ntop[dir][f] * sizeof(cand[0]));
	qsort(cand, n, sizeof(cand[0]), value_more_flows);
	acc->ntop_flows[dir][f] = n < SAFEM_SUMMARY_TOP ? n : SAFEM_SUMMARY_TOP;
	memcpy(acc->top_flows[dir][f], cand, acc->ntop_flows[dir][f] * sizeof(cand[0]));
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
 * A value no baseline window listed may come with a flow a window by chance (classify.c,
 * LAMBDA_MIN: one flow a window): over m windows, m flows. Without it a new client's 4
 * flows over two windows were beyond chance (P = 0.02 against 1) where each window's 2
 * are not (P = 0.26), and browsing bursts of a 20-flow real link read as many carriers.
 */
#define HORIZON_LAMBDA_MIN_PER_WINDOW 1.0

void
horizon_involved_floor(struct involved *inv, unsigned int m, const struct safem_window_summary *acc)
{
	double flows = (double)acc->volume[inv->dir].flows, floor;
	unsigned int f, i;

	if (!(flows > 0))
		return;
	floor = m * HORIZON_LAMBDA_MIN_PER_WINDOW / flows;
	for (f = 0; f < FEATURES; f++)
		for (i = 0; i < inv->ntop[f]; i++)
			inv->top[f][i].flow_bound = fmax(inv->top[f][i].flow_bound, floor);
}
