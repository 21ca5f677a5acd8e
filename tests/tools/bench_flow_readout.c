/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Benchmark: what a window pane boundary costs the worker, one-step readout
 * vs the incremental sweep (issue 10, item 3). No EAL: the cache falls back
 * to heap memory (transparent huge pages).
 *
 *   bench_flow_readout [--flows N] [--slots N] [--lines L] [--reports R] [--rounds K]
 *
 * 1. Boundary. N flows (1M) in a table of N slots (2M), every flow with a
 *    packet in the pane. Times safem_flow_cache_readout() (the whole table in
 *    one call) against pane_begin + pane_sweep(L, R) calls (32 lines, 64
 *    reports) until the pane is complete: their total, the number of calls
 *    and the longest call (what an RX ring would see). The window callback
 *    only sums: the worker's own cost per report (tree and distribution
 *    updates) comes on top in both cases.
 * 2. Packet path. update_burst alone (bursts of 64, N random flows), window
 *    accounting off, on without pane boundaries (the first-touch check only)
 *    and on with a boundary every N packets and the sweep run between bursts
 *    (first touches report, as in the worker), alternated in short runs;
 *    best and median Mpps and their ratios to "off".
 * Timings are this machine's; a benchmark, not a test.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "safem_flow.h"

#include "bench_common.h"

#define NS_PER_MS UINT64_C(1000000)
#define T0_MS UINT64_C(1700000000000)
#define BURST 64
/* Long enough that no flow ends during the benchmark. */
#define INACTIVE_MS 3600000
#define ACTIVE_MS 7200000
#define MAX_ROUNDS 64

struct bench_opts {
	uint32_t flows;
	uint32_t slots;
	unsigned int lines;
	unsigned int reports;
	unsigned int rounds;
};

struct sink {
	uint64_t reports;
	uint64_t packets;
};

static void
sink_window(const struct safem_flow_key *key, uint8_t tcp_flags, uint64_t packets,
	    uint64_t bytes, uint32_t first_ms32, uint32_t last_ms32, unsigned int pane, void *ctx)
{
	struct sink *s = ctx;

	(void)key, (void)tcp_flags, (void)bytes, (void)first_ms32, (void)last_ms32, (void)pane;
	s->reports++;
	s->packets += packets;
}

static void
sink_record(const struct safem_flow_record *r, void *ctx)
{
	(void)r, (void)ctx;
}

static struct safem_flow_cache *
bench_cache(uint32_t slots, bool window, struct sink *s)
{
	struct safem_flow_cache_params p = {
		.name = "bench_readout",
		.capacity = slots,
		.inactive_timeout_ms = INACTIVE_MS,
		.active_timeout_ms = ACTIVE_MS,
		.socket_id = -1,
		.export_fn = sink_record,
		.window_accounting = window,
		.window_fn = window ? sink_window : NULL,
		.window_ctx = s,
	};
	struct safem_flow_cache *fc = safem_flow_cache_create(&p);

	if (fc == NULL) {
		fprintf(stderr, "bench_flow_readout: cache: %s\n", safem_flow_cache_params_error());
		exit(1);
	}
	return fc;
}

/* One packet of flow i at time ms. */
static void
flow_packet(struct safem_packet *p, uint32_t i, uint64_t ms)
{
	memset(p, 0, sizeof(*p));
	p->key.ip_version = 4;
	p->key.proto = 17;
	p->key.src_addr[0] = 10;
	p->key.src_addr[1] = (uint8_t)(i >> 16);
	p->key.src_addr[2] = (uint8_t)(i >> 8);
	p->key.src_addr[3] = (uint8_t)i;
	p->key.dst_addr[0] = 192;
	p->key.dst_addr[3] = 1;
	p->key.src_port = (uint16_t)(1024 + (i >> 24));
	p->key.dst_port = 53;
	p->key_hash = safem_flow_key_hash(&p->key);
	p->ip_bytes = 100;
	p->ts_ns = ms * NS_PER_MS;
}

/* One packet for every flow, in flow order, in bursts. */
static void
touch_all(struct safem_flow_cache *fc, struct safem_packet *pkts, uint32_t flows, uint64_t *ms)
{
	uint32_t i, n;

	(*ms)++;
	for (i = 0; i < flows; i++)
		pkts[i].ts_ns = *ms * NS_PER_MS;
	for (i = 0; i < flows; i += n) {
		n = flows - i < BURST ? flows - i : BURST;
		safem_flow_cache_update_burst(fc, &pkts[i], n);
	}
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t
median_u64(uint64_t *v, unsigned int n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return v[n / 2];
}

static void
bench_boundary(const struct bench_opts *o, struct safem_packet *pkts)
{
	struct sink s = {0};
	struct safem_flow_cache *fc = bench_cache(o->slots, true, &s);
	uint64_t full_ns[MAX_ROUNDS], sweep_ns[MAX_ROUNDS], begin_ns[MAX_ROUNDS];
	uint64_t calls[MAX_ROUNDS], *call_ns, ncalls = 0;
	uint64_t ms = T0_MS, reports_full = 0, reports_sweep = 0;
	/* Every call of every round; a call visits lines or reports flows, so a
	 * pane takes at most one call per line plus one per max_reports flows. */
	const uint64_t per_pane = o->slots / SAFEM_FLOW_LINE_SLOTS + o->flows / o->reports + 2;
	const uint64_t max_calls = (uint64_t)o->rounds * per_pane;
	unsigned int r;

	call_ns = malloc(max_calls * sizeof(*call_ns));
	if (call_ns == NULL)
		exit(1);

	touch_all(fc, pkts, o->flows, &ms);
	safem_flow_cache_readout(fc, sink_window, &s);
	for (r = 0; r < o->rounds; r++) {
		uint64_t t0, t1;
		bool done = false;

		/* One-step readout of a pane in which every flow had a packet. */
		touch_all(fc, pkts, o->flows, &ms);
		s.reports = 0;
		t0 = bench_now_ns();
		safem_flow_cache_readout(fc, sink_window, &s);
		full_ns[r] = bench_now_ns() - t0;
		reports_full = s.reports;

		/* The same pane closed incrementally. */
		touch_all(fc, pkts, o->flows, &ms);
		s.reports = 0;
		t0 = bench_now_ns();
		safem_flow_cache_pane_begin(fc);
		begin_ns[r] = bench_now_ns() - t0;
		sweep_ns[r] = begin_ns[r];
		calls[r] = 0;
		while (!done && ncalls < max_calls) {
			t0 = bench_now_ns();
			done = safem_flow_cache_pane_sweep(fc, o->lines, o->reports);
			t1 = bench_now_ns() - t0;
			sweep_ns[r] += t1;
			call_ns[ncalls++] = t1;
			calls[r]++;
		}
		reports_sweep = s.reports;
	}
	printf("boundary: %" PRIu32 " flows in %" PRIu32 " slots, every flow active, %u rounds "
	       "(median)\n",
	       o->flows, safem_flow_cache_capacity(fc), o->rounds);
	printf("  readout (one call):      %8.2f ms, %" PRIu64 " reports, %.1f ns a report\n",
	       median_u64(full_ns, o->rounds) / 1e6, reports_full,
	       (double)median_u64(full_ns, o->rounds) / (double)reports_full);
	printf("  pane_begin:              %8.3f us\n", median_u64(begin_ns, o->rounds) / 1e3);
	printf("  sweep (%u lines/%u reports): %8.2f ms total, %" PRIu64 " reports, %" PRIu64
	       " calls\n",
	       o->lines, o->reports, median_u64(sweep_ns, o->rounds) / 1e6, reports_sweep,
	       median_u64(calls, o->rounds));
	/* The tail is this shared machine's preemptions as much as the sweep's work. */
	qsort(call_ns, ncalls, sizeof(*call_ns), cmp_u64);
	printf("  one sweep call:          p50 %.2f us, p99 %.2f us, p99.9 %.2f us, max %.1f us\n",
	       call_ns[ncalls / 2] / 1e3, call_ns[ncalls * 99 / 100] / 1e3,
	       call_ns[ncalls * 999 / 1000] / 1e3, call_ns[ncalls - 1] / 1e3);
	printf("  sweep / readout:         %8.2f\n",
	       (double)median_u64(sweep_ns, o->rounds) / (double)median_u64(full_ns, o->rounds));
	free(call_ns);
	safem_flow_cache_free(fc);
}

enum mode { MODE_OFF, MODE_CHECK, MODE_PANES, MODES };
static const char *const mode_names[MODES] = {
	"window accounting off",
	"on, no pane boundary (check only)",
	"on, boundary every N packets + sweep",
};

struct mode_run {
	struct safem_flow_cache *fc;
	struct sink sink;
	uint64_t ms;
	uint64_t mpps_milli[MAX_ROUNDS]; /* Mpps x 1000, for the median */
	uint64_t sweep_ns;
};

/* count random packets through update_burst; returns the ns spent in it. */
static uint64_t
run_packets(struct mode_run *m, enum mode mode, const struct bench_opts *o,
	    struct safem_packet *pkts, uint64_t *rng, uint64_t count, uint64_t *since_begin)
{
	struct safem_packet burst[BURST];
	uint64_t done, spent = 0;
	unsigned int i;

	for (done = 0; done < count; done += BURST) {
		uint64_t t0;

		m->ms++;
		for (i = 0; i < BURST; i++) {
			burst[i] = pkts[splitmix64(rng) % o->flows];
			burst[i].ts_ns = m->ms * NS_PER_MS;
		}
		t0 = bench_now_ns();
		safem_flow_cache_update_burst(m->fc, burst, BURST);
		spent += bench_now_ns() - t0;
		if (mode != MODE_PANES)
			continue;
		/* The worker's pattern: a boundary, then sweep steps between bursts. */
		t0 = bench_now_ns();
		*since_begin += BURST;
		if (*since_begin >= o->flows) {
			*since_begin = 0;
			safem_flow_cache_pane_begin(m->fc);
		} else {
			safem_flow_cache_pane_sweep(m->fc, o->lines, o->reports);
		}
		m->sweep_ns += bench_now_ns() - t0;
	}
	return spent;
}

static void
bench_packet_path(const struct bench_opts *o, struct safem_packet *pkts)
{
	const uint64_t per_run = 4 * (uint64_t)o->flows;
	struct mode_run runs[MODES];
	uint64_t rng = 42, since_begin = 0, total[MODES] = {0};
	unsigned int r, m;

	memset(runs, 0, sizeof(runs));
	for (m = 0; m < MODES; m++) {
		runs[m].fc = bench_cache(o->slots, m != MODE_OFF, &runs[m].sink);
		runs[m].ms = T0_MS;
		/* Warm: every flow in the table. */
		touch_all(runs[m].fc, pkts, o->flows, &runs[m].ms);
	}
	for (r = 0; r < o->rounds; r++)
		for (m = 0; m < MODES; m++) {
			uint64_t ns = run_packets(&runs[m], (enum mode)m, o, pkts, &rng, per_run,
						  &since_begin);

			runs[m].mpps_milli[r] = per_run * 1000000 / ns;
			total[m] += per_run;
		}
	printf("update_burst: %" PRIu32 " random flows in %" PRIu32 " slots, bursts of %d, "
	       "%u runs of %" PRIu64 " packets each (best / median Mpps, ratio to off)\n",
	       o->flows, safem_flow_cache_capacity(runs[0].fc), BURST, o->rounds, per_run);
	for (m = 0; m < MODES; m++) {
		const struct safem_flow_cache_stats *st = safem_flow_cache_stats(runs[m].fc);
		uint64_t med, best;

		med = median_u64(runs[m].mpps_milli, o->rounds);
		best = runs[m].mpps_milli[o->rounds - 1];
		printf("  %-38s %7.2f / %7.2f Mpps", mode_names[m], best / 1e3, med / 1e3);
		if (m != MODE_OFF) {
			uint64_t off_best = runs[0].mpps_milli[o->rounds - 1];
			uint64_t off_med = median_u64(runs[0].mpps_milli, o->rounds);

			printf("  (%.3f / %.3f)", (double)best / (double)off_best,
			       (double)med / (double)off_med);
		}
		printf("\n");
		if (m == MODE_PANES)
			printf("    first-touch reports %.3f a packet, sweep reports %.3f a "
			       "packet, sweep %.1f ns a packet (outside update_burst)\n",
			       (double)st->window_touch_reports / (double)total[m],
			       (double)st->window_sweep_reports / (double)total[m],
			       (double)runs[m].sweep_ns / (double)total[m]);
	}
	for (m = 0; m < MODES; m++)
		safem_flow_cache_free(runs[m].fc);
}

static unsigned long
parse_number(const char *opt, const char *s, unsigned long min, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "bench_flow_readout: %s must be %lu..%lu\n", opt, min, max);
		exit(2);
	}
	return v;
}

int
main(int argc, char **argv)
{
	struct bench_opts o = {
		.flows = 1u << 20, .slots = 1u << 21, .lines = 32, .reports = 64, .rounds = 5,
	};
	struct safem_packet *pkts;
	uint32_t i;
	int a;

	for (a = 1; a + 1 < argc; a += 2) {
		if (strcmp(argv[a], "--flows") == 0)
			o.flows = (uint32_t)parse_number(argv[a], argv[a + 1], 1, 1u << 24);
		else if (strcmp(argv[a], "--slots") == 0)
			o.slots = (uint32_t)parse_number(argv[a], argv[a + 1], 16, 1u << 28);
		else if (strcmp(argv[a], "--lines") == 0)
			o.lines = (unsigned int)parse_number(argv[a], argv[a + 1], 1, 1u << 28);
		else if (strcmp(argv[a], "--reports") == 0)
			o.reports = (unsigned int)parse_number(argv[a], argv[a + 1], 1, 1u << 28);
		else if (strcmp(argv[a], "--rounds") == 0)
			o.rounds = (unsigned int)parse_number(argv[a], argv[a + 1], 1, MAX_ROUNDS);
		else
			break;
	}
	if (a < argc) {
		fprintf(stderr, "usage: bench_flow_readout [--flows N] [--slots N] [--lines L] "
				"[--reports R] [--rounds K]\n");
		return 2;
	}
	pkts = malloc((size_t)o.flows * sizeof(*pkts));
	if (pkts == NULL)
		return 1;
	for (i = 0; i < o.flows; i++)
		flow_packet(&pkts[i], i, T0_MS);
	bench_boundary(&o, pkts);
	bench_packet_path(&o, pkts);
	free(pkts);
	return 0;
}
