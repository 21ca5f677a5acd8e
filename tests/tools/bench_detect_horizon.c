/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scripts/bench-detect-horizon: what evidence over several windows costs the analysis thread
 * per window (lib/detect, docs/detection.md "Evidence over several windows"), side by side
 * for the longest horizon M = 1 (the window alone), 2, 4 and 8 in one run.
 *
 * A detector's input is a window summary of fixed size (top lists of 16 values by packets
 * and by flows per direction and feature, spectra, volumes), whatever the flows behind it:
 * the windows here are summaries of FLOWS flows (default 100,000) with home prefixes (in,
 * out, internal), every top list full, values drawn Zipf-like from a pool of 48 per feature
 * (so the lists of successive windows overlap as a real link's do), counts in proportion,
 * spectra and volumes steady with small noise. Each window is past the warm-up and
 * deviates from nothing, so no rule names it alone and every horizon up to M is built and
 * judged: the worst case (an anomalous window stops at the first rule that names it).
 * Times safem_detector_window() in thread CPU time over --windows windows after the
 * warm-up (K = 60), and prints one JSON object per M with the ratio to M = 1.
 *
 * usage: bench_detect_horizon [--flows N] [--windows N]
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_common.h" /* splitmix64 */
#include "safem_detect.h"

#define POOL 48
#define WARMUP 60

static double
unit(uint64_t *s)
{
	return (double)(splitmix64(s) >> 11) / 9007199254740992.0;
}

static void
fill_list(struct safem_top_value *list, unsigned int *n, uint64_t *s, unsigned int feat,
	  double flows)
{
	unsigned int i, k, offset = (unsigned int)(unit(s) * 3);

	*n = SAFEM_SUMMARY_TOP;
	for (i = 0; i < SAFEM_SUMMARY_TOP; i++) {
		/* rank i of the window holds pool value i + 0..2 (lists overlap, as a link's) */
		unsigned int id = (i + offset) % POOL;
		double share = 0.2 / (id + 1.0), mean = share * flows;

		memset(&list[i], 0, sizeof(list[i]));
		for (k = 0; k < 4; k++)
			list[i].value.bytes[12 + k] = (uint8_t)(feat * 64 + id + k);
		/* about one standard deviation of a Poisson count either way */
		list[i].counts.flows = (uint64_t)(mean + (2 * unit(s) - 1) * sqrt(mean)) + 1;
		list[i].counts.packets = 8 * list[i].counts.flows;
		list[i].counts.bytes = 600 * list[i].counts.packets;
		list[i].share = share;
	}
}

static void
make_window(struct safem_window_summary *w, uint64_t index, double flows, uint64_t *s)
{
	static const double q[] = SAFEM_SPECTRUM_Q_DEFAULT;
	unsigned int dir, feat, weight, qi, p;

	memset(w, 0, sizeof(*w));
	w->start_ms = 1700000000000ull + index * 1000;
	w->end_ms = w->start_ms + 1000;
	w->directions = (1u << SAFEM_DIR_COUNT) - 1;
	w->nq = SAFEM_SPECTRUM_Q_DEFAULT_COUNT;
	memcpy(w->q, q, sizeof(q));
	w->sample_rate = 1;
	for (dir = 0; dir < SAFEM_DIR_COUNT; dir++) {
		double f = dir == SAFEM_DIR_ALL ? flows : flows / 3;

		w->volume[dir].flows = (uint64_t)(f * (0.98 + 0.04 * unit(s)));
		w->volume[dir].packets = 8 * w->volume[dir].flows;
		w->volume[dir].bytes = 600 * w->volume[dir].packets;
		for (p = 0; p < SAFEM_PROTO_COUNT; p++) {
			w->proto_flows[dir][p] =
				(uint64_t)((double)w->volume[dir].flows / SAFEM_PROTO_COUNT);
			w->proto_packets[dir][p] = 8 * w->proto_flows[dir][p];
		}
		for (feat = 0; feat < SAFEM_FEATURE_COUNT; feat++) {
			for (weight = 0; weight < SAFEM_WEIGHT_COUNT; weight++)
				for (qi = 0; qi < w->nq; qi++)
					w->spectrum[dir][feat][weight][qi] =
						(q[qi] < 0 ? 50.0 : 0.5) * (0.99 + 0.02 * unit(s));
			w->distinct[dir][feat] = f / 4 * (0.98 + 0.04 * unit(s));
			fill_list(w->top[dir][feat], &w->ntop[dir][feat], s, feat, f);
			fill_list(w->top_flows[dir][feat], &w->ntop_flows[dir][feat], s, feat, f);
		}
	}
}

static double
thread_seconds(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int
main(int argc, char **argv)
{
	static const unsigned int horizons[] = {1, 2, 4, 8};
	double flows = 100000, base = 0;
	unsigned int windows = 600, i, h;
	struct safem_window_summary *w = malloc(sizeof(*w));

	for (i = 1; i + 1 < (unsigned int)argc; i += 2) {
		if (strcmp(argv[i], "--flows") == 0)
			flows = atof(argv[i + 1]);
		else if (strcmp(argv[i], "--windows") == 0)
			windows = (unsigned int)atoi(argv[i + 1]);
		else
			break;
	}
	if (i != (unsigned int)argc || w == NULL || !(flows >= 100) || windows == 0) {
		fprintf(stderr, "usage: %s [--flows N (>= 100)] [--windows N (>= 1)]\n", argv[0]);
		return 2;
	}
	for (h = 0; h < sizeof(horizons) / sizeof(horizons[0]); h++) {
		struct safem_detect_params p;
		struct safem_detect_totals t;
		struct safem_detector *d;
		uint64_t seed = 42, n;
		double start, cpu = 0;
		char err[256] = "";

		safem_detect_params_init(&p);
		p.directions = (1u << SAFEM_DIR_COUNT) - 1;
		p.horizon_windows = horizons[h];
		d = safem_detector_create(&p, err, sizeof(err));
		if (d == NULL) {
			fprintf(stderr, "bench_detect_horizon: %s\n", err);
			return 1;
		}
		for (n = 0; n < WARMUP + windows; n++) {
			make_window(w, n, flows, &seed);
			start = thread_seconds();
			if (safem_detector_window(d, w, NULL, NULL) < 0) {
				fprintf(stderr, "bench_detect_horizon: window refused\n");
				return 1;
			}
			if (n >= WARMUP)
				cpu += thread_seconds() - start;
		}
		safem_detector_totals(d, &t);
		if (h == 0)
			base = cpu;
		printf("{\"flows\":%.0f,\"horizon_windows\":%u,\"windows\":%u,\"anomalous\":%llu,"
		       "\"us_per_window\":%.1f,\"ratio_to_window_alone\":%.2f}\n",
		       flows, horizons[h], windows, (unsigned long long)t.anomalous_windows,
		       1e6 * cpu / windows, base > 0 ? cpu / base : 0);
		safem_detector_free(d);
	}
	free(w);
	return 0;
}
