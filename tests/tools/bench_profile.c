/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scripts/bench-profile: cost of behaviour profiling (lib/profile) per window on the
 * analysis side, against flows per window. Builds windows of N flow contributions
 * (home-network mix: clients of 10.0.0.0/16 and outside servers drawn Zipf-like,
 * service ports 443/80/53 and a tail, replies as often as requests, a scanner with 2 %
 * of the flows; or --flood: every flow a new spoofed source to one victim), fills the
 * merged feature set and the flow log as lib/window does, and times
 * safem_profiler_window() in thread CPU time (best and median of --repeat runs). The log holds
 * min(N, --log) flows: --log 0 (default) logs every flow (exact profiling).
 * Prints one JSON object per size.
 *
 * --guard-cost N: instead, the worker side of the surge guard's feature distributions
 * under a spoofed-source flood of N flows (every flow a new source; home 10.0.0.0/16, so
 * eight distributions; capacity 32768, budget 32768, the defaults): CPU ns per flow of
 * the former guard (a flow sampled out of the pane skips the features, a kept one is
 * added weighted) and of safem_featset_add_flow_guarded (every flow probes every
 * distribution; new values sampled per distribution), side by side.
 * --report FILE writes each size's report members (clusters, profile, hosts) to FILE, one
 * line per size: what an optimisation must leave bit-identical.
 *
 * usage: bench_profile [--flows N[,N...]] [--repeat R] [--log N] [--home] [--flood]
 *                      [--feature-values N] [--report FILE] [--guard-cost N]
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h" /* splitmix64 */
#include "safem_profile.h"

static uint32_t
zipf_like(uint64_t *s, uint32_t n)
{
	/* 1/u-shaped: value k with probability ~ 1/k (k < n) */
	double u = (double)(splitmix64(s) >> 11) / 9007199254740992.0;
	uint32_t k = (uint32_t)(1.0 / (u + 1.0 / n));

	return k >= n ? n - 1 : k;
}

static void
v4(uint8_t a[16], uint32_t addr)
{
	memset(a, 0, 16);
	a[0] = (uint8_t)(addr >> 24), a[1] = (uint8_t)(addr >> 16);
	a[2] = (uint8_t)(addr >> 8), a[3] = (uint8_t)addr;
}

static void
make_flow(struct safem_profile_flow *f, uint64_t *s, bool flood)
{
	uint64_t r = splitmix64(s);
	uint32_t client = 0x0a000000u + zipf_like(s, 4000) * 13u;
	uint32_t server = 0x5d000000u + zipf_like(s, 60000) * 7u;
	uint16_t ports[] = {443, 443, 443, 80, 53, 993, 22, 123};
	uint16_t sport = (uint16_t)(32768 + (r & 0x7fff)), dport = ports[(r >> 16) & 7];

	memset(f, 0, sizeof(*f));
	f->key.ip_version = 4;
	f->key.proto = dport == 53 || dport == 123 ? 17 : 6;
	f->weight_shift = 0; /* one flow */
	f->packets = 1 + ((r >> 24) & 15);
	f->bytes = f->packets * (60 + ((r >> 32) & 1023));
	if (flood) {
		v4(f->key.src_addr, (uint32_t)(r >> 32));
		v4(f->key.dst_addr, 0x0a000050u);
		f->key.src_port = (uint16_t)r, f->key.dst_port = 80;
		f->key.proto = 6, f->tcp_flags = 0x02, f->packets = 1, f->bytes = 60;
		return;
	}
	if (((r >> 40) & 63) == 0) { /* scanner: 1/64 of the flows */
		v4(f->key.src_addr, 0xc6336401u);
		v4(f->key.dst_addr, 0x0a000000u + ((uint32_t)(r >> 8) & 0xffff));
		f->key.src_port = sport, f->key.dst_port = 445, f->key.proto = 6;
		f->tcp_flags = 0x02, f->packets = 1, f->bytes = 60;
		return;
	}
	if ((r >> 47) & 1) { /* reply */
		v4(f->key.src_addr, server);
		v4(f->key.dst_addr, client);
		f->key.src_port = dport, f->key.dst_port = sport;
	} else {
		v4(f->key.src_addr, client);
		v4(f->key.dst_addr, server);
		f->key.src_port = sport, f->key.dst_port = dport;
	}
}

/* CPU time of this thread: on a shared box, wall time counts other processes' turns. */
static uint64_t
cpu_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The pane-wide sampling decision of the former feature guard (lib/window's for the
 * trees): kept while under budget x (shift + 1) kept flows, then 1 in 2^shift. */
static bool
pane_keeps(uint64_t *kept, unsigned int *shift, uint32_t budget, uint64_t flow_hash)
{
	if (*kept >= (uint64_t)budget * (*shift + 1) && *shift < 16)
		(*shift)++;
	if (*shift != 0 && (flow_hash & ((UINT64_C(1) << *shift) - 1)) != 0)
		return false;
	(*kept)++;
	return true;
}

static int
guard_cost(uint64_t n)
{
	const uint32_t budget = 32768;
	struct safem_featset *before = safem_featset_create(32768, true, 0);
	struct safem_featset *after = safem_featset_create(32768, true, 0);
	struct safem_flow_key *keys = malloc(sizeof(*keys) * (n ? n : 1));
	uint64_t i, seed = 7, kept = 0, t0, before_ns, after_ns;
	unsigned int shift = 0;
	struct safem_home home;

	if (before == NULL || after == NULL || keys == NULL || n == 0) {
		fprintf(stderr, "bench_profile: no memory for %llu flows\n", (unsigned long long)n);
		return 1;
	}
	memset(&home, 0, sizeof(home));
	safem_home_add(&home, "10.0.0.0/16");
	for (i = 0; i < n; i++) {
		struct safem_profile_flow f;

		make_flow(&f, &seed, true);
		keys[i] = f.key;
	}
	t0 = cpu_now_ns();
	for (i = 0; i < n; i++) {
		uint64_t h = i * UINT64_C(0x9e3779b97f4a7c15);

		if (pane_keeps(&kept, &shift, budget, h >> 32))
			safem_featset_add_flow_weighted(before, &home, &keys[i], 0x02,
							UINT64_C(1) << shift, UINT64_C(1) << shift,
							UINT64_C(60) << shift);
	}
	before_ns = cpu_now_ns() - t0;
	t0 = cpu_now_ns();
	for (i = 0; i < n; i++)
		safem_featset_add_flow_guarded(after, &home, &keys[i], 0x02, 1, 60, budget);
	after_ns = cpu_now_ns() - t0;
	printf("{\"guard_cost_flows\": %llu, \"former_ns_per_flow\": %.1f, "
	       "\"guarded_ns_per_flow\": %.1f, \"ratio\": %.2f}\n",
	       (unsigned long long)n, (double)before_ns / (double)n, (double)after_ns / (double)n,
	       before_ns ? (double)after_ns / (double)before_ns : 0);
	safem_featset_free(before);
	safem_featset_free(after);
	free(keys);
	return 0;
}

static int
compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	const char *sizes = "100000,1000000";
	unsigned int repeat = 5, i, r;
	uint64_t log_cap = 0, feature_values = 32768;
	bool home_on = false, flood = false;
	struct safem_home home;
	char *list, *tok, *save = NULL;
	FILE *report = NULL;

	for (i = 1; i < (unsigned int)argc; i++) {
		if (strcmp(argv[i], "--flows") == 0 && i + 1 < (unsigned int)argc)
			sizes = argv[++i];
		else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < (unsigned int)argc)
			repeat = (unsigned int)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--log") == 0 && i + 1 < (unsigned int)argc)
			log_cap = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--feature-values") == 0 && i + 1 < (unsigned int)argc)
			feature_values = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--report") == 0 && i + 1 < (unsigned int)argc) {
			report = fopen(argv[++i], "w");
			if (report == NULL) {
				perror(argv[i]);
				return 2;
			}
		} else if (strcmp(argv[i], "--guard-cost") == 0 && i + 1 < (unsigned int)argc) {
			return guard_cost(strtoull(argv[++i], NULL, 10));
		} else if (strcmp(argv[i], "--home") == 0)
			home_on = true;
		else if (strcmp(argv[i], "--flood") == 0)
			flood = true;
		else {
			fprintf(stderr, "bench_profile: unknown argument %s\n", argv[i]);
			return 2;
		}
	}
	if (repeat == 0)
		repeat = 1;
	memset(&home, 0, sizeof(home));
	if (home_on)
		safem_home_add(&home, "10.0.0.0/16");
	list = strdup(sizes);
	for (tok = strtok_r(list, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		uint64_t n = strtoull(tok, NULL, 10), logged, seed = 42, *ns;
		struct safem_profile_flow *log = malloc(sizeof(*log) * (n ? n : 1));
		struct safem_featset *fs =
			safem_featset_create((uint32_t)feature_values, home_on, 0);
		struct safem_profiler_params pp = {.max_clusters = 64, .top_hosts = 10,
						   .home = home_on ? &home : NULL};
		struct safem_profiler *p = safem_profiler_create(&pp);
		const struct safem_profile_flow *seg[1] = {log};
		uint32_t segn[1];
		struct safem_profile_flows flows = {seg, segn, 1, 0};
		const struct safem_profile_cluster *cl;
		unsigned int nclusters = 0;

		ns = calloc(repeat, sizeof(*ns));
		if (log == NULL || fs == NULL || p == NULL || ns == NULL) {
			fprintf(stderr, "bench_profile: no memory for %s flows\n", tok);
			return 1;
		}
		for (i = 0; i < n; i++) {
			make_flow(&log[i], &seed, flood);
			safem_featset_add_flow_weighted(fs, home_on ? &home : NULL, &log[i].key,
							log[i].tcp_flags, 1, log[i].packets,
							log[i].bytes);
		}
		logged = log_cap != 0 && log_cap < n ? log_cap : n;
		segn[0] = (uint32_t)logged;
		flows.unlogged = n - logged;
		/* one untimed run: the scratch grows to this size once, as it does on a probe */
		safem_profiler_window(p, fs, &flows, 0, 1000, NULL);
		for (r = 0; r < repeat; r++) {
			uint64_t t0 = cpu_now_ns();

			if (safem_profiler_window(p, fs, &flows, 0, 1000, NULL) != 0) {
				fprintf(stderr, "bench_profile: profiling failed\n");
				return 1;
			}
			ns[r] = cpu_now_ns() - t0;
		}
		if (report != NULL) {
			safem_profiler_window(p, fs, &flows, 0, 1000, report);
			fputc('\n', report);
		}
		nclusters = safem_profiler_clusters(p, &cl);
		qsort(ns, repeat, sizeof(*ns), compare_u64);
		printf("{\"flows\": %llu, \"logged\": %llu, \"home\": %s, \"flood\": %s, "
		       "\"clusters\": %u, \"best_ms\": %.3f, \"median_ms\": %.3f, "
		       "\"ns_per_flow\": %.1f}\n",
		       (unsigned long long)n, (unsigned long long)logged, home_on ? "true" : "false",
		       flood ? "true" : "false", nclusters, (double)ns[0] / 1e6,
		       (double)ns[repeat / 2] / 1e6, n ? (double)ns[repeat / 2] / (double)n : 0);
		fflush(stdout);
		safem_profiler_free(p);
		safem_featset_free(fs);
		free(log);
		free(ns);
	}
	free(list);
	if (report != NULL && fclose(report) != 0) {
		perror("bench_profile: report");
		return 1;
	}
	return 0;
}
