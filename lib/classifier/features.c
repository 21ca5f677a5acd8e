/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The classifier's feature vector: a fixed layout (safem_classifier.h,
 * docs/classifier.md) computed from one window summary. The layout is
 * described once, by the block table below; names and offsets both come
 * from it, so they cannot drift.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "safem_classifier.h"

#define NQ SAFEM_SPECTRUM_Q_DEFAULT_COUNT
/* Two q values closer than this are the same q (w->q comes from a config). */
#define Q_MATCH_EPS 1e-9
/* Fewer distinct values than this: the spectrum is undefined (0 for every q). */
#define SPECTRUM_MIN_VALUES 2.0

static const double default_q[NQ] = SAFEM_SPECTRUM_Q_DEFAULT;
static const char *const feature_names[SAFEM_FEATURE_COUNT] = {"src_addr", "dst_addr", "src_port",
							       "dst_port"};
static const char *const weight_names[SAFEM_WEIGHT_COUNT] = {"flows", "packets", "bytes"};
static const char *const proto_names[SAFEM_PROTO_COUNT] = {"tcp_syn", "tcp", "udp", "icmp",
							   "other"};
static const char *const tree_side_names[2] = {"src", "dst"};
/* enum safem_agg_metric order (safem_spectrum.h: bytes, packets, flows). */
static const char *const tree_metric_names[3] = {"bytes", "packets", "flows"};
static const char *const volume_names[3] = {"packets", "bytes", "flows"};

/* Offsets of the blocks. */
enum {
	F_TREE = 0,
	F_SPECTRUM = F_TREE + 2 * 3,
	F_VOLUME = F_SPECTRUM + SAFEM_FEATURE_COUNT * SAFEM_WEIGHT_COUNT * NQ,
	F_DISTINCT = F_VOLUME + 3,
	F_PROTO = F_DISTINCT + SAFEM_FEATURE_COUNT,
	F_TOP1 = F_PROTO + SAFEM_PROTO_COUNT,
	F_BASE_COUNT = F_TOP1 + SAFEM_FEATURE_COUNT,
	F_DEVIATION = F_BASE_COUNT,
	F_FLAGS = F_DEVIATION + F_BASE_COUNT,
	F_FLAG_DIRECTION_IN = F_FLAGS,
	F_FLAG_EMPTY,
	F_FLAG_NO_BASELINE,
	F_FLAG_SPECTRUM_MISSING,
	F_COUNT = F_FLAG_SPECTRUM_MISSING + SAFEM_FEATURE_COUNT,
};
_Static_assert(F_COUNT == SAFEM_CLASSIFIER_FEATURES, "layout and SAFEM_CLASSIFIER_FEATURES");

static char names[F_COUNT][SAFEM_CLASSIFIER_NAME_MAX];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static unsigned int
spectrum_index(unsigned int f, unsigned int wt, unsigned int qi)
{
	return F_SPECTRUM + (f * SAFEM_WEIGHT_COUNT + wt) * NQ + qi;
}

static void
build_names(void)
{
	unsigned int i, f, wt, qi;

	for (i = 0; i < 6; i++)
		snprintf(names[F_TREE + i], sizeof(names[0]), "tree_%s_%s", tree_side_names[i / 3],
			 tree_metric_names[i % 3]);
	for (f = 0; f < SAFEM_FEATURE_COUNT; f++)
		for (wt = 0; wt < SAFEM_WEIGHT_COUNT; wt++)
			for (qi = 0; qi < NQ; qi++)
				snprintf(names[spectrum_index(f, wt, qi)], sizeof(names[0]),
					 "ts_%s_%s_q%g", feature_names[f], weight_names[wt],
					 default_q[qi]);
	for (i = 0; i < 3; i++)
		snprintf(names[F_VOLUME + i], sizeof(names[0]), "log10_%s", volume_names[i]);
	for (f = 0; f < SAFEM_FEATURE_COUNT; f++) {
		snprintf(names[F_DISTINCT + f], sizeof(names[0]), "ln_distinct_%s",
			 feature_names[f]);
		snprintf(names[F_TOP1 + f], sizeof(names[0]), "top1_share_%s", feature_names[f]);
		snprintf(names[F_FLAG_SPECTRUM_MISSING + f], sizeof(names[0]),
			 "flag_spectrum_missing_%s", feature_names[f]);
	}
	for (i = 0; i < SAFEM_PROTO_COUNT; i++)
		snprintf(names[F_PROTO + i], sizeof(names[0]), "proto_share_%s", proto_names[i]);
	for (i = 0; i < F_BASE_COUNT; i++)
		snprintf(names[F_DEVIATION + i], sizeof(names[0]), "dev_%.*s",
			 (int)sizeof(names[0]) - 5, names[i]);
	snprintf(names[F_FLAG_DIRECTION_IN], sizeof(names[0]), "flag_direction_in");
	snprintf(names[F_FLAG_EMPTY], sizeof(names[0]), "flag_empty");
	snprintf(names[F_FLAG_NO_BASELINE], sizeof(names[0]), "flag_no_baseline");
}

const char *
safem_feature_name_at(unsigned int i)
{
	if (i >= F_COUNT)
		return NULL;
	pthread_once(&names_once, build_names);
	return names[i];
}

/* Index of q in w->q, or -1. */
static int
find_q(const struct safem_window_summary *w, double q)
{
	unsigned int j, nq = w->nq < SAFEM_SPECTRUM_Q_MAX ? w->nq : SAFEM_SPECTRUM_Q_MAX;

	for (j = 0; j < nq; j++)
		if (fabs(w->q[j] - q) <= Q_MATCH_EPS)
			return (int)j;
	return -1;
}

/*
 * The first F_BASE_COUNT features of w (direction d) into out; missing[i]
 * true where feature i could not be computed.
 */
static void
base_features(const struct safem_window_summary *w, enum safem_direction d, double *out,
	      bool *missing)
{
	const struct safem_featdist_counts *vol = &w->volume[d];
	uint64_t proto_total = 0;
	unsigned int i, f, wt, qi;
	int qpos[NQ];

	for (i = 0; i < F_BASE_COUNT; i++) {
		out[i] = SAFEM_CLASSIFIER_MISSING;
		missing[i] = false;
	}
	for (i = 0; i < 6; i++)
		out[F_TREE + i] = w->tree_entropy[i / 3][i % 3];
	for (qi = 0; qi < NQ; qi++)
		qpos[qi] = find_q(w, default_q[qi]);
	for (f = 0; f < SAFEM_FEATURE_COUNT; f++) {
		/* safem_tsallis_spectrum gives 0 for every q below two values: undefined, not 0. */
		bool undefined = !(w->distinct[d][f] >= SPECTRUM_MIN_VALUES) || vol->packets == 0;

		for (wt = 0; wt < SAFEM_WEIGHT_COUNT; wt++)
			for (qi = 0; qi < NQ; qi++) {
				unsigned int k = spectrum_index(f, wt, qi);

				if (undefined || qpos[qi] < 0)
					missing[k] = true;
				else
					out[k] = w->spectrum[d][f][wt][qpos[qi]];
			}
	}
	out[F_VOLUME + 0] = log10(1.0 + (double)vol->packets);
	out[F_VOLUME + 1] = log10(1.0 + (double)vol->bytes);
	out[F_VOLUME + 2] = log10(1.0 + (double)vol->flows);
	for (f = 0; f < SAFEM_FEATURE_COUNT; f++) {
		double distinct = w->distinct[d][f];

		out[F_DISTINCT + f] = log1p(distinct > 0 ? distinct : 0);
		out[F_TOP1 + f] = w->ntop[d][f] > 0 ? w->top[d][f][0].share : 0.0;
	}
	for (i = 0; i < SAFEM_PROTO_COUNT; i++)
		proto_total += w->proto_flows[d][i];
	for (i = 0; i < SAFEM_PROTO_COUNT; i++)
		out[F_PROTO + i] =
			proto_total > 0 ? (double)w->proto_flows[d][i] / (double)proto_total : 0.0;
	/* A NaN from a corrupt summary would poison the whole kernel row. */
	for (i = 0; i < F_BASE_COUNT; i++)
		if (!isfinite(out[i])) {
			out[i] = SAFEM_CLASSIFIER_MISSING;
			missing[i] = true;
		}
}

static enum safem_direction
primary_direction(const struct safem_window_summary *w)
{
	return (w->directions & (1u << SAFEM_DIR_IN)) ? SAFEM_DIR_IN : SAFEM_DIR_ALL;
}

int
safem_features_from_summary(const struct safem_window_summary *w,
			    const struct safem_window_summary *baseline_mean, double *out,
			    unsigned int max)
{
	enum safem_direction d;
	bool missing[F_BASE_COUNT], base_missing[F_BASE_COUNT];
	double base[F_BASE_COUNT];
	unsigned int i, f, wt, qi;

	if (w == NULL || out == NULL)
		return -EINVAL;
	if (max < F_COUNT)
		return -ENOSPC;
	d = primary_direction(w);
	base_features(w, d, out, missing);
	if (baseline_mean != NULL) {
		/* The baseline in the same direction as the window, so the difference compares like
		 * with like. */
		base_features(baseline_mean, d, base, base_missing);
		for (i = 0; i < F_BASE_COUNT; i++)
			out[F_DEVIATION + i] = missing[i] || base_missing[i]
						       ? SAFEM_CLASSIFIER_MISSING
						       : out[i] - base[i];
	} else {
		for (i = 0; i < F_BASE_COUNT; i++)
			out[F_DEVIATION + i] = SAFEM_CLASSIFIER_MISSING;
	}
	out[F_FLAG_DIRECTION_IN] = d == SAFEM_DIR_IN ? 1.0 : 0.0;
	out[F_FLAG_EMPTY] = w->volume[d].packets == 0 ? 1.0 : 0.0;
	out[F_FLAG_NO_BASELINE] = baseline_mean == NULL ? 1.0 : 0.0;
	for (f = 0; f < SAFEM_FEATURE_COUNT; f++) {
		bool any = false;

		for (wt = 0; wt < SAFEM_WEIGHT_COUNT; wt++)
			for (qi = 0; qi < NQ; qi++)
				any = any || missing[spectrum_index(f, wt, qi)];
		out[F_FLAG_SPECTRUM_MISSING + f] = any ? 1.0 : 0.0;
	}
	return F_COUNT;
}

int
safem_features_write_line(FILE *f, const char *label, const double *x, unsigned int n,
			  uint64_t start_ms, uint64_t end_ms)
{
	unsigned int i;

	if (fputs(label != NULL ? label : "0", f) == EOF)
		return -EIO;
	for (i = 0; i < n; i++)
		if (x[i] != 0.0 && fprintf(f, " %u:%.10g", i + 1, x[i]) < 0)
			return -EIO;
	if (fprintf(f, " # start_ms=%" PRIu64 " end_ms=%" PRIu64 "\n", start_ms, end_ms) < 0)
		return -EIO;
	return 0;
}
