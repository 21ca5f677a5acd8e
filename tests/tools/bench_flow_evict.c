/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Benchmark helper for scripts/bench-flow-evict (and scripts/bench-pipeline):
 * how the flow cache's replacement rule behaves when flows outnumber slots,
 * and what it costs per packet. No EAL: the cache falls back to heap memory.
 *
 *   bench_flow_evict [--slots N] [--seconds S] [--seed N] [--no-table]
 *                    [--no-throughput] [--throughput-packets N]
 *
 * 1. Eviction table. For each traffic pattern and load factor (concurrent
 *    flows per slot: 0.5, 0.9, 1.0, 1.5) it replays S seconds of packet time
 *    (1.5 packets per slot per second: 1.5 Mpps for 1M slots, the rate of the
 *    issue 10 run; 30 s inactive and 300 s active timeout, the whole table
 *    scanned once per second as with --expiry-sweep 1s) through a model of
 *    the cache under each candidate rule, and prints the evicted share
 *    (evicted / flows created) and the records per packet (flows created /
 *    packets: 1 means every packet became its own record). The shipped rule
 *    and the old LRU rule also run through the real code (lib/flow, and
 *    bench_flow_evict_lru.c); their counters must equal the model's, which
 *    is what makes the other columns worth reading.
 * 2. Throughput. update_burst alone, 1M random flows in 2M slots (and in 1M
 *    slots, where full lines are common), bursts of 64, shipped rule vs LRU,
 *    short runs alternated; prints the best and the median Mpps and their
 *    ratios (on a shared machine the best run is the one least disturbed).
 *
 * Deterministic: every stream comes from a seeded PRNG (timings aside).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "safem_flow.h"

#include "bench_common.h"

#include "bench_flow_evict_lru.h"

#define WAYS SAFEM_FLOW_LINE_SLOTS
#define NS_PER_MS UINT64_C(1000000)
#define T0_MS UINT64_C(1700000000000)
#define INACTIVE_MS 30000
#define ACTIVE_MS 300000
#define SWEEP_MS 1000
#define PACKETS_PER_SLOT_PER_S 1.5
#define BURST 64
/* The shipped rule's "overdue" factor (lib/flow/flow_cache.c FLOW_OVERDUE_GAPS). */
#define OVERDUE_GAPS 16
#define EMPTY UINT64_MAX

/* ---- Deterministic streams ---- */

static double
uniform01(uint64_t *s)
{
	return (double)(splitmix64(s) >> 11) * (1.0 / 9007199254740992.0);
}

/*
 * A distinct UDP key per 64-bit flow id: the id goes through a bijective mix
 * into the addresses. Sequential ids in one address field would not do: the
 * CRC hash is linear, so it spreads such keys over the lines perfectly evenly
 * and no line would ever overflow before the load passes 1.
 */
static struct safem_flow_key
flow_key(uint64_t id)
{
	struct safem_flow_key k;
	uint64_t x = id;

	x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
	x ^= x >> 31;
	memset(&k, 0, sizeof(k));
	memcpy(k.src_addr, &x, 4);
	memcpy(k.dst_addr, (const uint8_t *)&x + 4, 4);
	k.src_port = 1024;
	k.dst_port = 53;
	k.proto = 17;
	k.ip_version = 4;
	return k;
}

enum pattern { PAT_CYCLIC, PAT_RANDOM, PAT_ZIPF, PAT_ZIPF_CHURN, PAT_ZIPF_SCAN, PAT_COUNT };

static const char *const pattern_names[PAT_COUNT] = {"cyclic", "random", "zipf", "zipf-churn",
						      "zipf+scan"};
static const char *const pattern_about[PAT_COUNT] = {
	"flows visited round robin, like a looped capture",
	"each packet picks a flow uniformly",
	"each packet picks flow k with probability ~ 1/k (Zipf s = 1)",
	("zipf, and each packet ends its flow with probability 1/64 (a new flow takes its "
	 "rank; the old one goes silent without a FIN)"),
	"half the packets zipf, half one-packet flows never seen again (a scan)",
};

struct stream {
	enum pattern pattern;
	uint64_t flows; /* concurrent flows */
	uint64_t rng;
	uint64_t next;      /* cyclic position, or scan flow id */
	double *zipf_cdf;   /* zipf patterns */
	uint32_t *epoch;    /* zipf-churn: generation of each rank */
};

static void
stream_init(struct stream *st, enum pattern p, uint64_t flows, uint64_t seed)
{
	uint64_t k;
	double sum = 0;

	memset(st, 0, sizeof(*st));
	st->pattern = p;
	st->flows = flows;
	st->rng = seed;
	st->next = 0;
	if (p >= PAT_ZIPF) {
		st->zipf_cdf = malloc(flows * sizeof(double));
		if (st->zipf_cdf == NULL)
			abort();
		for (k = 0; k < flows; k++) {
			sum += 1.0 / (double)(k + 1);
			st->zipf_cdf[k] = sum;
		}
		for (k = 0; k < flows; k++)
			st->zipf_cdf[k] /= sum;
	}
	if (p == PAT_ZIPF_CHURN) {
		st->epoch = calloc(flows, sizeof(uint32_t));
		if (st->epoch == NULL)
			abort();
	}
}

static void
stream_free(struct stream *st)
{
	free(st->zipf_cdf);
	free(st->epoch);
}

static uint64_t
zipf_rank(struct stream *st)
{
	double u = uniform01(&st->rng);
	uint64_t lo = 0, hi = st->flows - 1;

	while (lo < hi) {
		uint64_t mid = (lo + hi) / 2;

		if (st->zipf_cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The next packet's flow id. Scan flows live above bit 40, churned ones above n. */
static uint64_t
stream_next(struct stream *st)
{
	uint64_t rank;

	switch (st->pattern) {
	case PAT_CYCLIC:
		rank = st->next;
		st->next = (st->next + 1) % st->flows;
		return rank;
	case PAT_RANDOM:
		return splitmix64(&st->rng) % st->flows;
	case PAT_ZIPF:
		return zipf_rank(st);
	case PAT_ZIPF_CHURN:
		rank = zipf_rank(st);
		if (splitmix64(&st->rng) % 64 == 0)
			st->epoch[rank]++;
		return rank + st->flows * st->epoch[rank];
	case PAT_ZIPF_SCAN:
		if (splitmix64(&st->rng) & 1)
			return (UINT64_C(1) << 40) + st->next++;
		return zipf_rank(st);
	default:
		abort();
	}
}

/* ---- The cache model: one rule per column ---- */

enum rule { RULE_SHIPPED, RULE_LRU, RULE_CLOCK, RULE_PROBATION, RULE_LIP, RULE_COUNT };

static const char *const rule_names[RULE_COUNT] = {"shipped", "lru", "clock", "probation",
						   "lip"};
static const char *const rule_about[RULE_COUNT] = {
	"lib/flow today: overdue flow (silent > 16 mean gaps) first, then a one-packet flow "
	"(the oldest if older than every multi-packet flow, else the newest), then LRU",
	"least recently seen (the rule before issue 10)",
	"second chance: a reference bit set by each packet, a clock hand per line",
	"segmented LRU: one-packet flows (probation) first, oldest first; then LRU",
	"LRU insertion: the newest one-packet flow first (a new flow enters at the LRU "
	"end); then LRU",
};

struct model_slot {
	uint64_t id; /* EMPTY: free */
	uint64_t first_ms, last_ms;
	uint32_t packets;
	uint8_t ref;
};

struct counts {
	uint64_t packets, created, evicted, expired;
	uint64_t evicted_packets; /* packets of evicted records (model only) */
};

struct model {
	enum rule rule;
	struct model_slot *slots;
	uint8_t *hand; /* clock */
	uint32_t line_mask;
	uint64_t clock_ms;
	uint32_t scan_cursor;
	struct counts c;
};

static void
model_init(struct model *m, enum rule rule, uint32_t slots)
{
	uint32_t i;

	m->rule = rule;
	m->line_mask = slots / WAYS - 1;
	m->slots = malloc((size_t)slots * sizeof(*m->slots));
	m->hand = calloc(slots / WAYS, 1);
	if (m->slots == NULL || m->hand == NULL)
		abort();
	for (i = 0; i < slots; i++)
		m->slots[i].id = EMPTY;
	m->clock_ms = 0;
	m->scan_cursor = 0;
	memset(&m->c, 0, sizeof(m->c));
}

static void
model_free(struct model *m)
{
	free(m->slots);
	free(m->hand);
}

static uint64_t
model_deadline(const struct model_slot *s)
{
	uint64_t idle = s->last_ms + INACTIVE_MS, age = s->first_ms + ACTIVE_MS;

	return idle <= age ? idle : age;
}

/* Index of the least recently seen slot among those pick() accepts, -1 if none. */
static int
oldest_where(const struct model_slot *l, bool (*pick)(const struct model_slot *, uint64_t),
	     uint64_t now)
{
	int i, best = -1;

	for (i = 0; i < WAYS; i++)
		if (pick(&l[i], now) && (best < 0 || l[i].last_ms < l[best].last_ms))
			best = i;
	return best;
}

static bool
any_flow(const struct model_slot *s, uint64_t now)
{
	(void)s;
	(void)now;
	return true;
}

static bool
one_packet(const struct model_slot *s, uint64_t now)
{
	(void)now;
	return s->packets == 1;
}

static bool
multi_packet(const struct model_slot *s, uint64_t now)
{
	(void)now;
	return s->packets > 1;
}

static bool
overdue(const struct model_slot *s, uint64_t now)
{
	return s->packets > 1 && (now - s->last_ms) * (s->packets - 1) >
					 OVERDUE_GAPS * (s->last_ms - s->first_ms + 1);
}

/* The newest one-packet flow (the lowest slot on a tie), -1 if none. */
static int
newest_one_packet(const struct model_slot *l)
{
	int i, best = -1;

	for (i = 0; i < WAYS; i++)
		if (l[i].packets == 1 && (best < 0 || l[i].last_ms > l[best].last_ms))
			best = i;
	return best;
}

static int
model_victim(struct model *m, struct model_slot *l, uint32_t line)
{
	int v, single, multi;

	switch (m->rule) {
	case RULE_SHIPPED:
		v = oldest_where(l, overdue, m->clock_ms);
		if (v >= 0)
			return v;
		single = oldest_where(l, one_packet, m->clock_ms);
		multi = oldest_where(l, multi_packet, m->clock_ms);
		if (single >= 0 && multi >= 0 && l[single].last_ms < l[multi].last_ms)
			return single;
		if (single >= 0)
			return newest_one_packet(l);
		return multi;
	case RULE_LRU:
		return oldest_where(l, any_flow, 0);
	case RULE_CLOCK:
		for (;;) {
			v = m->hand[line];
			m->hand[line] = (uint8_t)((v + 1) % WAYS);
			if (!l[v].ref)
				return v;
			l[v].ref = 0;
		}
	case RULE_PROBATION:
		v = oldest_where(l, one_packet, 0);
		return v >= 0 ? v : oldest_where(l, any_flow, 0);
	case RULE_LIP:
		v = newest_one_packet(l);
		return v >= 0 ? v : oldest_where(l, any_flow, 0);
	default:
		abort();
	}
}

/* One packet, with the library's semantics (safem_flow.h, update_burst). */
static void
model_packet(struct model *m, uint64_t id, uint32_t line, uint64_t ms)
{
	struct model_slot *l = &m->slots[(size_t)line * WAYS];
	int i, slot = -1;

	m->c.packets++;
	if (ms > m->clock_ms)
		m->clock_ms = ms;
	for (i = 0; i < WAYS; i++) {
		if (l[i].id != id)
			continue;
		if (ms >= model_deadline(&l[i])) {
			m->c.expired++;
			slot = i;
			break;
		}
		l[i].packets++;
		l[i].last_ms = ms;
		l[i].ref = 1;
		return;
	}
	for (i = 0; slot < 0 && i < WAYS; i++)
		if (l[i].id == EMPTY)
			slot = i;
	for (i = 0; slot < 0 && i < WAYS; i++) {
		/* Full: flows past their deadline end first, every one of them. */
		int j;

		for (j = 0; j < WAYS; j++) {
			if (model_deadline(&l[j]) > m->clock_ms)
				continue;
			m->c.expired++;
			l[j].id = EMPTY;
			if (slot < 0)
				slot = j;
		}
		break;
	}
	if (slot < 0) {
		slot = model_victim(m, l, line);
		m->c.evicted++;
		m->c.evicted_packets += l[slot].packets;
	}
	l[slot] = (struct model_slot){.id = id, .first_ms = ms, .last_ms = ms, .packets = 1};
	m->c.created++;
}

static void
model_scan(struct model *m, uint32_t lines, uint64_t now_ms)
{
	uint32_t nlines = m->line_mask + 1;

	if (now_ms > m->clock_ms)
		m->clock_ms = now_ms;
	for (; lines != 0; lines--) {
		struct model_slot *l = &m->slots[(size_t)m->scan_cursor * WAYS];
		int i;

		for (i = 0; i < WAYS; i++)
			if (l[i].id != EMPTY && model_deadline(&l[i]) <= now_ms) {
				l[i].id = EMPTY;
				m->c.expired++;
			}
		m->scan_cursor = (m->scan_cursor + 1) % nlines;
	}
}

/* ---- The real cache, through the same stream ---- */

struct real {
	struct safem_flow_cache *fc;
	bool lru; /* bench_flow_evict_lru.c */
};

static void
no_export(const struct safem_flow_record *r, void *ctx)
{
	(void)r;
	(void)ctx;
}

static struct safem_flow_cache *
real_create(bool lru, uint32_t slots, uint32_t inactive_ms, uint32_t active_ms)
{
	struct safem_flow_cache_params p = {
		.name = "bench_flow_evict",
		.capacity = slots,
		.inactive_timeout_ms = inactive_ms,
		.active_timeout_ms = active_ms,
		.socket_id = -1,
		.export_fn = no_export,
	};
	struct safem_flow_cache *fc =
		lru ? bench_lru_flow_cache_create(&p) : safem_flow_cache_create(&p);

	if (fc == NULL) {
		fprintf(stderr, "bench_flow_evict: cannot create a cache of %u slots\n", slots);
		exit(1);
	}
	return fc;
}

static void
real_burst(const struct real *r, const struct safem_packet *pkts, unsigned int n)
{
	if (r->lru)
		bench_lru_flow_cache_update_burst(r->fc, pkts, n);
	else
		safem_flow_cache_update_burst(r->fc, pkts, n);
}

static void
real_scan(const struct real *r, uint32_t lines, uint64_t now_ms)
{
	if (r->lru)
		bench_lru_flow_cache_expire(r->fc, now_ms, lines);
	else
		safem_flow_cache_expire(r->fc, now_ms, lines);
}

static struct counts
real_counts(const struct real *r)
{
	const struct safem_flow_cache_stats *s =
		r->lru ? bench_lru_flow_cache_stats(r->fc) : safem_flow_cache_stats(r->fc);

	return (struct counts){
		.packets = s->packets,
		.created = s->flows_created,
		.evicted = s->evicted,
		.expired = s->expired_inactive + s->expired_active + s->expired_tcp_end +
			   s->expired_end_of_input,
	};
}

static void
real_free(struct real *r)
{
	if (r->lru)
		bench_lru_flow_cache_free(r->fc);
	else
		safem_flow_cache_free(r->fc);
}

/* ---- One cell of the table: every rule, and both real caches, on one stream ---- */

struct cell {
	struct counts rule[RULE_COUNT];
	uint64_t flows, packets;
};

static void
run_cell(enum pattern p, double load, uint32_t slots, double seconds, uint64_t seed,
	 struct cell *out)
{
	const uint64_t flows = (uint64_t)(load * slots + 0.5);
	const double pps = PACKETS_PER_SLOT_PER_S * slots;
	const uint64_t packets = (uint64_t)(seconds * pps);
	const uint32_t nlines = slots / WAYS;
	struct model models[RULE_COUNT];
	struct real reals[2] = {{real_create(false, slots, INACTIVE_MS, ACTIVE_MS), false},
				{real_create(true, slots, INACTIVE_MS, ACTIVE_MS), true}};
	struct safem_packet *burst = aligned_alloc(64, BURST * sizeof(*burst));
	struct stream st;
	uint64_t sent = 0, swept = 0;
	unsigned int r, i;

	if (burst == NULL)
		abort();
	stream_init(&st, p, flows, seed);
	for (r = 0; r < RULE_COUNT; r++)
		model_init(&models[r], (enum rule)r, slots);
	while (sent < packets) {
		unsigned int n = (unsigned int)(packets - sent < BURST ? packets - sent : BURST);
		uint64_t now_ms = 0, due;

		for (i = 0; i < n; i++) {
			uint64_t id = stream_next(&st);
			struct safem_packet *pkt = &burst[i];

			memset(pkt, 0, sizeof(*pkt));
			pkt->key = flow_key(id);
			pkt->key_hash = safem_flow_key_hash(&pkt->key);
			pkt->ts_ns = T0_MS * NS_PER_MS + (uint64_t)((double)(sent + i) * 1e9 / pps);
			pkt->ip_bytes = 100;
			now_ms = pkt->ts_ns / NS_PER_MS;
			for (r = 0; r < RULE_COUNT; r++)
				model_packet(&models[r], id, pkt->key_hash & models[r].line_mask,
					     now_ms);
		}
		real_burst(&reals[0], burst, n);
		real_burst(&reals[1], burst, n);
		sent += n;
		/* The whole table once per SWEEP_MS of packet time, as the probe paces it. */
		due = (now_ms - T0_MS) * nlines / SWEEP_MS;
		if (due > swept) {
			uint32_t lines = (uint32_t)(due - swept < nlines ? due - swept : nlines);

			for (r = 0; r < RULE_COUNT; r++)
				model_scan(&models[r], lines, now_ms);
			real_scan(&reals[0], lines, now_ms);
			real_scan(&reals[1], lines, now_ms);
			swept = due;
		}
	}
	/* The model is only worth reading if it is the real code's twin. */
	for (i = 0; i < 2; i++) {
		struct counts want = real_counts(&reals[i]);
		struct counts got = models[i == 0 ? RULE_SHIPPED : RULE_LRU].c;

		if (want.packets != got.packets || want.created != got.created ||
		    want.evicted != got.evicted || want.expired != got.expired) {
			fprintf(stderr,
				"bench_flow_evict: model of the %s rule differs from lib/flow on "
				"%s at load %.1f: created %" PRIu64 "/%" PRIu64 " evicted %" PRIu64
				"/%" PRIu64 " expired %" PRIu64 "/%" PRIu64 "\n",
				i == 0 ? "shipped" : "lru", pattern_names[p], load, got.created,
				want.created, got.evicted, want.evicted, got.expired, want.expired);
			exit(1);
		}
	}
	out->flows = flows;
	out->packets = packets;
	for (r = 0; r < RULE_COUNT; r++) {
		out->rule[r] = models[r].c;
		model_free(&models[r]);
	}
	real_free(&reals[0]);
	real_free(&reals[1]);
	stream_free(&st);
	free(burst);
}

enum metric { METRIC_RECORDS_PER_PACKET, METRIC_EVICTED_SHARE, METRIC_EVICTED_PACKETS };

static double
metric_value(const struct counts *k, enum metric m)
{
	switch (m) {
	case METRIC_RECORDS_PER_PACKET:
		return (double)k->created / (double)k->packets;
	case METRIC_EVICTED_SHARE:
		return k->created ? (double)k->evicted / (double)k->created : 0;
	case METRIC_EVICTED_PACKETS:
		return (double)k->evicted_packets / (double)k->packets;
	}
	abort();
}

static void
print_metric(const struct cell *cells, const double *loads, unsigned int nloads, const char *title,
	     enum metric m)
{
	unsigned int p, l, r;

	printf("\n%s:\n\n| pattern | load |", title);
	for (r = 0; r < RULE_COUNT; r++)
		printf(" %s |", rule_names[r]);
	printf("\n|---|---|");
	for (r = 0; r < RULE_COUNT; r++)
		printf("---|");
	printf("\n");
	for (p = 0; p < PAT_COUNT; p++)
		for (l = 0; l < nloads; l++) {
			printf("| %s | %.1f |", pattern_names[p], loads[l]);
			for (r = 0; r < RULE_COUNT; r++) {
				double v = metric_value(&cells[p * nloads + l].rule[r], m);

				if (m == METRIC_RECORDS_PER_PACKET)
					printf(" %.3f |", v);
				else
					printf(" %.1f %% |", 100 * v);
			}
			printf("\n");
		}
}

static void
print_table(uint32_t slots, double seconds, uint64_t seed)
{
	static const double loads[] = {0.5, 0.9, 1.0, 1.5};
	const unsigned int nloads = sizeof(loads) / sizeof(loads[0]);
	struct cell *cells = calloc(PAT_COUNT * nloads, sizeof(*cells));
	unsigned int p, l, r;

	if (cells == NULL)
		abort();
	for (p = 0; p < PAT_COUNT; p++)
		for (l = 0; l < nloads; l++)
			run_cell((enum pattern)p, loads[l], slots, seconds, seed + p * 16 + l,
				 &cells[p * nloads + l]);

	printf("## Flow cache eviction: %u slots, %.0f s of packet time at %.1f packets per slot "
	       "per second, timeouts %d s / %d s, seed %" PRIu64 "\n\n",
	       slots, seconds, PACKETS_PER_SLOT_PER_S, INACTIVE_MS / 1000, ACTIVE_MS / 1000, seed);
	printf("Patterns:\n");
	for (p = 0; p < PAT_COUNT; p++)
		printf("- %s: %s\n", pattern_names[p], pattern_about[p]);
	printf("\nRules (the shipped and lru columns are the real lib/flow code; their model "
	       "matched it exactly):\n");
	for (r = 0; r < RULE_COUNT; r++)
		printf("- %s: %s\n", rule_names[r], rule_about[r]);

	print_metric(cells, loads, nloads, "Records per packet (flows created / packets; 1: every "
					   "packet its own record)", METRIC_RECORDS_PER_PACKET);
	print_metric(cells, loads, nloads, "Evicted share (evicted / flows created, the issue 10 "
					   "figure)", METRIC_EVICTED_SHARE);
	print_metric(cells, loads, nloads, "Packets in evicted records (share of all packets)",
		     METRIC_EVICTED_PACKETS);
	printf("\nRecords per packet, shipped rule / lru (below 1: fewer records):\n\n"
	       "| pattern | 0.5 | 0.9 | 1.0 | 1.5 |\n|---|---|---|---|---|\n");
	for (p = 0; p < PAT_COUNT; p++) {
		printf("| %s |", pattern_names[p]);
		for (l = 0; l < nloads; l++) {
			const struct cell *c = &cells[p * nloads + l];

			printf(" %.2f |", (double)c->rule[RULE_SHIPPED].created /
						  (double)c->rule[RULE_LRU].created);
		}
		printf("\n");
	}
	fflush(stdout);
	free(cells);
}

/* ---- Throughput: update_burst alone ---- */

static double
now_s(void)
{
	return (double)bench_now_ns() / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * Mpps of update_burst on a pre-built packet array. All packets carry one
 * timestamp, so no flow ends by time: lookups, updates and (in a full line)
 * the replacement rule, nothing else.
 */
static double
time_passes(const struct real *r, const struct safem_packet *pkts, uint64_t n, unsigned int passes)
{
	double t0 = now_s();
	unsigned int pass;
	uint64_t i;

	for (pass = 0; pass < passes; pass++)
		for (i = 0; i < n; i += BURST)
			real_burst(r, &pkts[i], (unsigned int)(n - i < BURST ? n - i : BURST));
	return (double)n * passes / (now_s() - t0) / 1e6;
}

static void
print_throughput(uint64_t npackets, uint64_t seed)
{
	static const uint32_t slot_counts[] = {UINT32_C(1) << 21, UINT32_C(1) << 20};
	const uint64_t flows = UINT64_C(1) << 20;
	/* Short runs, alternated: a noisy neighbour hits both rules alike. */
	enum { REPEATS = 15, PASSES = 1 };
	struct safem_packet *pkts = aligned_alloc(64, npackets * sizeof(*pkts));
	uint64_t rng = seed, i;
	unsigned int s;

	if (pkts == NULL) {
		fprintf(stderr, "bench_flow_evict: no memory for %" PRIu64 " packets\n", npackets);
		exit(1);
	}
	for (i = 0; i < npackets; i++) {
		memset(&pkts[i], 0, sizeof(pkts[i]));
		pkts[i].key = flow_key(splitmix64(&rng) % flows);
		pkts[i].key_hash = safem_flow_key_hash(&pkts[i].key);
		pkts[i].ts_ns = T0_MS * NS_PER_MS;
		pkts[i].ip_bytes = 100;
	}
	printf("\n## update_burst throughput: %" PRIu64 " random flows, bursts of %d, "
	       "%" PRIu64 " packets a run, %d runs of each rule alternated; best and median "
	       "run\n\n"
	       "| slots | load | shipped Mpps best (median) | lru Mpps best (median) "
	       "| shipped / lru best (median) | shipped evicted share |\n"
	       "|---|---|---|---|---|---|\n",
	       flows, BURST, npackets * PASSES, REPEATS);
	for (s = 0; s < sizeof(slot_counts) / sizeof(slot_counts[0]); s++) {
		struct real shipped = {real_create(false, slot_counts[s], INACTIVE_MS, ACTIVE_MS),
				       false};
		struct real lru = {real_create(true, slot_counts[s], INACTIVE_MS, ACTIVE_MS), true};
		double rate[2][REPEATS];
		struct counts c;
		unsigned int k;

		/* Warm up: the flows are in the cache and the table is paged in. */
		time_passes(&shipped, pkts, npackets, 1);
		time_passes(&lru, pkts, npackets, 1);
		for (k = 0; k < REPEATS; k++) {
			rate[0][k] = time_passes(&shipped, pkts, npackets, PASSES);
			rate[1][k] = time_passes(&lru, pkts, npackets, PASSES);
		}
		qsort(rate[0], REPEATS, sizeof(double), cmp_double);
		qsort(rate[1], REPEATS, sizeof(double), cmp_double);
		c = real_counts(&shipped);
		printf("| %u | %.1f | %.2f (%.2f) | %.2f (%.2f) | %.3f (%.3f) | %.1f %% |\n",
		       slot_counts[s], (double)flows / slot_counts[s], rate[0][REPEATS - 1],
		       rate[0][REPEATS / 2], rate[1][REPEATS - 1], rate[1][REPEATS / 2],
		       rate[0][REPEATS - 1] / rate[1][REPEATS - 1],
		       rate[0][REPEATS / 2] / rate[1][REPEATS / 2],
		       100.0 * (double)c.evicted / (double)c.created);
		fflush(stdout);
		real_free(&shipped);
		real_free(&lru);
	}
	free(pkts);
}

static void
usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [--slots N] [--seconds S] [--seed N] [--no-table] [--no-throughput]\n"
		"          [--throughput-packets N]\n",
		prog);
	exit(2);
}

int
main(int argc, char **argv)
{
	uint32_t slots = 65536;
	double seconds = 40;
	uint64_t seed = 1, tp_packets = UINT64_C(1) << 21;
	bool table = true, throughput = true;
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--no-table") == 0) {
			table = false;
		} else if (strcmp(a, "--no-throughput") == 0) {
			throughput = false;
		} else if (v != NULL && strcmp(a, "--slots") == 0) {
			slots = (uint32_t)strtoul(v, NULL, 0);
			i++;
		} else if (v != NULL && strcmp(a, "--seconds") == 0) {
			seconds = strtod(v, NULL);
			i++;
		} else if (v != NULL && strcmp(a, "--seed") == 0) {
			seed = strtoull(v, NULL, 0);
			i++;
		} else if (v != NULL && strcmp(a, "--throughput-packets") == 0) {
			tp_packets = strtoull(v, NULL, 0);
			i++;
		} else {
			usage(argv[0]);
		}
	}
	/* The model indexes lines as the cache does: a power of two, whole lines. */
	if (slots < WAYS || (slots & (slots - 1)) != 0 || !(seconds > 0) || tp_packets == 0) {
		fprintf(stderr, "bench_flow_evict: --slots must be a power of two >= %d, --seconds "
				"and --throughput-packets > 0\n",
			WAYS);
		return 2;
	}
	if (table)
		print_table(slots, seconds, seed);
	if (throughput)
		print_throughput(tp_packets, seed);
	return 0;
}
