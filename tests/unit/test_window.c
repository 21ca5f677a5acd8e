/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/window, producer side: pane boundaries (the clock every worker runs),
 * the dispatch tick protocol, time jumps and late packets, and the pane
 * buffers a worker rotates without ever waiting itself; analysis side: the
 * per-value ICMP packets the window summary reads from the flow log. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <rte_eal.h>
#include <rte_memory.h>

#include "safem_featdist.h"
#include "safem_profile.h"
#include "safem_spectrum.h"
#include "safem_window.h"

/* Close panes up to ms the way a worker does; returns how many closed. */
static unsigned int
advance(struct safem_pane_clock *pc, uint64_t ms, uint64_t *closed_starts, unsigned int max)
{
	unsigned int n = 0;

	while (safem_pane_clock_due(pc, ms)) {
		if (n < max)
			closed_starts[n] = safem_pane_clock_start(pc);
		n++;
		safem_pane_clock_next(pc, ms);
	}
	return n;
}

static void
test_first_time_opens_aligned_pane(void **state)
{
	struct safem_pane_clock pc;
	uint64_t closed[4];

	(void)state;
	safem_pane_clock_init(&pc, 1000, 5000);
	assert_int_equal(advance(&pc, 12345, closed, 4), 0);
	assert_int_equal(pc.end_ms, 13000);
	assert_int_equal(safem_pane_clock_start(&pc), 12000);
	/* The boundary itself belongs to the next pane. */
	assert_false(safem_pane_clock_due(&pc, 12999));
	assert_true(safem_pane_clock_due(&pc, 13000));
}

static void
test_each_pane_closes_once_in_order(void **state)
{
	struct safem_pane_clock pc;
	uint64_t closed[8];

	(void)state;
	safem_pane_clock_init(&pc, 1000, 5000);
	advance(&pc, 10000, closed, 8);
	/* 10.0 .. 13.5 s: panes 10, 11, 12 close, 13 is open. */
	assert_int_equal(advance(&pc, 13500, closed, 8), 3);
	assert_int_equal(closed[0], 10000);
	assert_int_equal(closed[1], 11000);
	assert_int_equal(closed[2], 12000);
	assert_int_equal(pc.end_ms, 14000);
	assert_int_equal(pc.jumps, 0);
}

static void
test_gap_below_bound_walks_empty_panes(void **state)
{
	struct safem_pane_clock pc;
	uint64_t closed[8];

	(void)state;
	safem_pane_clock_init(&pc, 1000, 5000);
	advance(&pc, 10000, closed, 8);
	/* The open pane ends at 11 s; 15.9 s is 4.9 s past it: walked. */
	assert_int_equal(advance(&pc, 15900, closed, 8), 5);
	assert_int_equal(pc.jumps, 0);
	assert_int_equal(pc.end_ms, 16000);
}

static void
test_jump_closes_open_pane_and_skips(void **state)
{
	struct safem_pane_clock pc;
	uint64_t closed[8], five_years = 5ull * 365 * 86400 * 1000;

	(void)state;
	safem_pane_clock_init(&pc, 1000, 5000);
	advance(&pc, 10000, closed, 8);
	/* Exactly the gap past the open pane's end: a jump. One pane closes
	 * (the one with data), the rest is skipped. */
	assert_int_equal(advance(&pc, 16000, closed, 8), 1);
	assert_int_equal(closed[0], 10000);
	assert_int_equal(pc.jumps, 1);
	assert_int_equal(pc.end_ms, 17000);
	assert_int_equal(advance(&pc, 16000 + five_years, closed, 8), 1);
	assert_int_equal(pc.jumps, 2);
	assert_int_equal(safem_pane_clock_start(&pc), 16000 + five_years);
}

static void
test_late_packets_counted_not_closing(void **state)
{
	struct safem_pane_clock pc;
	uint64_t closed[8];

	(void)state;
	safem_pane_clock_init(&pc, 1000, 5000);
	advance(&pc, 20500, closed, 8);
	assert_false(safem_pane_clock_due(&pc, 20000)); /* in the open pane */
	assert_int_equal(pc.late, 0);
	assert_false(safem_pane_clock_due(&pc, 19999)); /* before it: late */
	assert_false(safem_pane_clock_due(&pc, 1000));  /* years before: late */
	assert_int_equal(pc.late, 2);
	assert_int_equal(pc.end_ms, 21000);
}

static void
test_gap_never_below_pane(void **state)
{
	struct safem_pane_clock pc;
	uint64_t closed[8];

	(void)state;
	safem_pane_clock_init(&pc, 1000, 10); /* raised to one pane */
	assert_int_equal(pc.gap_ms, 1000);
	advance(&pc, 0 + 5000, closed, 8);
	assert_int_equal(advance(&pc, 6500, closed, 8), 1);
	assert_int_equal(pc.jumps, 0);
}

static void
test_tick_once_per_boundary(void **state)
{
	struct safem_pane_clock pc;
	unsigned int ticks = 0;
	uint64_t ms;

	(void)state;
	safem_pane_clock_init(&pc, 1000, 5000);
	/* A dispatcher's clock moving 10 ms at a time over 5 s: the first time
	 * seen ticks, then one tick per boundary crossed. */
	for (ms = 100000; ms < 105000; ms += 10)
		ticks += safem_pane_clock_tick_due(&pc, ms);
	assert_int_equal(ticks, 5);
	/* A jump crosses many boundaries with a single tick carrying the time. */
	assert_true(safem_pane_clock_tick_due(&pc, 900000));
	assert_false(safem_pane_clock_tick_due(&pc, 900500));
}

static void
test_tick_closes_the_receivers_pane(void **state)
{
	/* The protocol: a receiver whose only input is the dispatcher's ticks
	 * closes exactly the panes the dispatcher crossed, so the analysis never
	 * waits for it. */
	struct safem_pane_clock dispatcher, receiver;
	uint64_t closed[16], ms;
	unsigned int total = 0;

	(void)state;
	safem_pane_clock_init(&dispatcher, 1000, 5000);
	safem_pane_clock_init(&receiver, 1000, 5000);
	for (ms = 50000; ms <= 60010; ms += 7)
		if (safem_pane_clock_tick_due(&dispatcher, ms))
			total += advance(&receiver, ms, closed, 16);
	assert_int_equal(total, 10);
	assert_int_equal(receiver.end_ms, 61000);
}

static struct safem_window_producer *
producer(unsigned int buffers)
{
	static unsigned int serial;
	struct safem_window_producer_params p = {
		.name = "wp",
		.producer = serial++,
		.tree_nodes = 256,
		.buffers = buffers,
		.socket_id = SOCKET_ID_ANY,
	};

	return safem_window_producer_create(&p);
}

static struct safem_flow_key
key_of(uint8_t last)
{
	struct safem_flow_key k;

	memset(&k, 0, sizeof(k));
	k.ip_version = 4;
	k.src_addr[0] = 10;
	k.src_addr[3] = last;
	k.dst_addr[0] = 192;
	k.dst_addr[3] = 1;
	k.proto = 6;
	return k;
}

static void
test_rotate_keeps_closing_pane_open(void **state)
{
	struct safem_window_producer *wp = producer(3);
	struct safem_flow_key k = key_of(1);
	struct safem_window_pane *pane;

	(void)state;
	assert_non_null(wp);
	safem_window_producer_add(wp, SAFEM_WINDOW_CURRENT, &k, 0, 3, 300, 0, 0);
	/* Nothing closing: a CLOSING add goes nowhere. */
	safem_window_producer_add(wp, SAFEM_WINDOW_CLOSING, &k, 0, 100, 100, 0, 0);
	assert_null(safem_window_producer_finish(wp));
	assert_true(safem_window_producer_try_rotate(wp, 1000, 2000));
	assert_true(safem_window_producer_closing(wp));
	/* One closing pane at a time. */
	assert_false(safem_window_producer_try_rotate(wp, 2000, 3000));
	/* The readout of what flows did before the boundary. */
	safem_window_producer_add(wp, SAFEM_WINDOW_CLOSING, &k, 0, 2, 200, 0, 0);
	safem_window_producer_add(wp, SAFEM_WINDOW_CURRENT, &k, 0, 5, 500, 0, 0);
	pane = safem_window_producer_finish(wp);
	assert_non_null(pane);
	assert_false(safem_window_producer_closing(wp));
	assert_int_equal(pane->start_ms, 1000);
	assert_int_equal(pane->end_ms, 2000);
	assert_int_equal(pane->packets, 5);
	assert_int_equal(pane->bytes, 500);
	assert_int_equal(pane->flows, 2);
	assert_true(safem_window_producer_try_rotate(wp, 2000, 3000));
	pane = safem_window_producer_finish(wp);
	assert_int_equal(pane->packets, 5);
	assert_int_equal(pane->flows, 1);
	safem_window_pane_release(pane);
	safem_window_producer_free(wp);
}

/* The flow log keeps when each contribution's last packet fell, read back against the pane's
 * end: the tests that time answers (a probe unanswered for a while) need it. */
static void
test_flow_log_keeps_last_packet_time(void **state)
{
	static unsigned int serial = 100;
	struct safem_window_producer_params p = {
		.name = "wpl",
		.producer = serial++,
		.tree_nodes = 256,
		.buffers = 2,
		.socket_id = SOCKET_ID_ANY,
		.feature_values = 64, /* the flow log needs the feature tables */
		.profile_flows = 4,
	};
	struct safem_window_producer *wp = safem_window_producer_create(&p);
	struct safem_flow_key k = key_of(3), k2 = key_of(4);
	/* a Unix time past 2^32 ms, so the low 32 and 24 bits both wrap */
	const uint64_t start = UINT64_C(1765000000000), end = start + 1000;
	struct safem_window_pane *pane;

	(void)state;
	assert_non_null(wp);
	/* k began in the pane at start + 10; k2's report is dated by its last packet (a flow
	 * that began in an earlier pane: lib/flow passes its last packet as its first) */
	safem_window_producer_add(wp, SAFEM_WINDOW_CURRENT, &k, 0, 2, 120, (uint32_t)(start + 10),
				  (uint32_t)(start + 250));
	safem_window_producer_add(wp, SAFEM_WINDOW_CURRENT, &k2, 0, 1, 60, (uint32_t)(end - 1),
				  (uint32_t)(end - 1));
	assert_true(safem_window_producer_try_rotate(wp, start, end));
	pane = safem_window_producer_finish(wp);
	assert_non_null(pane);
	assert_non_null(pane->flow_log);
	assert_int_equal(pane->flow_logged, 2);
	assert_int_equal(safem_profile_flow_last_ms(&pane->flow_log[0], end), start + 250);
	assert_int_equal(safem_profile_flow_last_ms(&pane->flow_log[1], end), end - 1);
	assert_int_equal(safem_profile_flow_first_ms(&pane->flow_log[0], end), start + 10);
	assert_int_equal(safem_profile_flow_first_ms(&pane->flow_log[1], end), end - 1);
	assert_int_equal(safem_profile_flow_weight(&pane->flow_log[0]), 1);
	safem_window_pane_release(pane);
	safem_window_producer_free(wp);
}

/* Under the surge guard each logged contribution weighs 2^shift of its pane at the time it
 * was kept (one byte, weight_shift): the logged weights add up to the flows the trees took. */
static void
test_flow_log_weight_under_surge(void **state)
{
	static unsigned int serial = 200;
	struct safem_window_producer_params p = {
		.name = "wpw",
		.producer = serial++,
		.tree_nodes = 256,
		.buffers = 2,
		.flow_budget = 4,
		.socket_id = SOCKET_ID_ANY,
		.feature_values = 64,
		.profile_flows = 256,
	};
	struct safem_window_producer *wp = safem_window_producer_create(&p);
	struct safem_window_pane *pane;
	struct safem_agg_counters t;
	uint64_t weights = 0;
	unsigned int i, top = 0;

	(void)state;
	assert_non_null(wp);
	for (i = 0; i < 200; i++) {
		struct safem_flow_key k = key_of(0);

		k.src_addr[2] = (uint8_t)i;
		safem_window_producer_add(wp, SAFEM_WINDOW_CURRENT, &k, 0, 1, 60, 0, 0);
	}
	assert_true(safem_window_producer_try_rotate(wp, 0, 1000));
	pane = safem_window_producer_finish(wp);
	assert_int_equal(pane->flow_logged, pane->kept);
	for (i = 0; i < pane->flow_logged; i++) {
		const struct safem_profile_flow *f = &pane->flow_log[i];

		/* the shift only grows within a pane */
		assert_true(f->weight_shift >= top);
		top = f->weight_shift;
		assert_int_equal(f->packets, safem_profile_flow_weight(f));
		weights += safem_profile_flow_weight(f);
	}
	assert_true(top <= pane->sample_shift); /* a last raise may keep none */
	assert_true(top >= 2);
	safem_aggtree_totals(pane->src, &t);
	assert_int_equal(weights, t.flows);
	safem_window_pane_release(pane);
	safem_window_producer_free(wp);
}

/* The accessor on its own: across a 24-bit wrap, at the end, after the end (reads as the
 * end, never as old). */
static void
test_profile_flow_last_ms_bounds(void **state)
{
	struct safem_profile_flow f;
	const uint64_t end = (UINT64_C(7) << 24) + 300; /* 300 ms after a 24-bit wrap */

	(void)state;
	memset(&f, 0, sizeof(f));
	safem_profile_flow_set_last_ms(&f, end - 700); /* before the wrap */
	assert_int_equal(safem_profile_flow_last_ms(&f, end), end - 700);
	safem_profile_flow_set_last_ms(&f, end);
	assert_int_equal(safem_profile_flow_last_ms(&f, end), end);
	safem_profile_flow_set_last_ms(&f, end + 5);
	assert_int_equal(safem_profile_flow_last_ms(&f, end), end);
	/* a tiny clock (a hand-made capture near 0): never below 0 */
	safem_profile_flow_set_last_ms(&f, 900);
	assert_int_equal(safem_profile_flow_last_ms(&f, 1000), 900);
	safem_profile_flow_set_last_ms(&f, 2000);
	assert_int_equal(safem_profile_flow_last_ms(&f, 1000), 1000);
	/* the first packet: the stored distance before the last, across the wrap, never below
	 * 0, saturating at 2^24 - 1 */
	safem_profile_flow_set_last_ms(&f, end - 100);
	safem_profile_flow_set_first_back(&f, 600);
	assert_int_equal(safem_profile_flow_first_ms(&f, end), end - 700);
	safem_profile_flow_set_first_back(&f, 0);
	assert_int_equal(safem_profile_flow_first_ms(&f, end), end - 100);
	safem_profile_flow_set_last_ms(&f, 900);
	safem_profile_flow_set_first_back(&f, 5000);
	assert_int_equal(safem_profile_flow_first_ms(&f, 1000), 0);
	safem_profile_flow_set_last_ms(&f, end);
	safem_profile_flow_set_first_back(&f, UINT32_MAX);
	assert_int_equal(safem_profile_flow_first_ms(&f, end), end - 0xffffff);
	/* a last packet after the end (a clock step) reads as the end: its first too, not the
	 * stored distance before the end (older than it is) */
	safem_profile_flow_set_last_ms(&f, end + 5);
	safem_profile_flow_set_first_back(&f, 600);
	assert_int_equal(safem_profile_flow_first_ms(&f, end), end);
	/* a corrupt weight shift reads as the largest weight, never past the type */
	f.weight_shift = 40;
	assert_int_equal(safem_profile_flow_weight(&f), UINT32_C(1) << 31);
	f.weight_shift = 3;
	assert_int_equal(safem_profile_flow_weight(&f), 8);
}

static void
test_rotate_without_buffer_never_waits(void **state)
{
	struct safem_window_producer *wp = producer(2);
	struct safem_flow_key k = key_of(2);
	struct safem_window_pane *held;

	(void)state;
	assert_non_null(wp);
	assert_true(safem_window_producer_try_rotate(wp, 0, 1000));
	held = safem_window_producer_finish(wp); /* the analysis keeps it */
	safem_window_producer_add(wp, SAFEM_WINDOW_CURRENT, &k, 0, 7, 700, 0, 0);
	assert_false(safem_window_producer_try_rotate(wp, 1000, 2000));
	assert_int_equal(safem_window_producer_waits(wp), 1);
	/* The worker's bound ran out: the pane's content goes, counted. */
	safem_window_producer_drop(wp);
	assert_int_equal(safem_window_producer_dropped(wp), 1);
	/* The analysis gives the buffer back, cleared on its side. */
	safem_window_pane_release(held);
	assert_true(safem_window_producer_try_rotate(wp, 2000, 3000));
	held = safem_window_producer_finish(wp);
	assert_int_equal(held->packets, 0);
	safem_window_pane_release(held);
	assert_true(safem_window_producer_try_rotate(wp, 3000, 4000));
	assert_int_equal(safem_window_producer_finish(wp)->packets, 0);
	safem_window_producer_free(wp);
}

static void
test_surge_guard_bounds_work_keeps_volumes(void **state)
{
	/* 20,000 one-packet flows from distinct sources into a pane with a budget
	 * of 1,000: the volumes stay exact, the trees take a bounded number of
	 * adds, and the weighted tree totals still estimate the flows. */
	static unsigned int serial;
	struct safem_window_producer_params p = {
		.name = "wps",
		.producer = 100 + serial++,
		.tree_nodes = 4096,
		.buffers = 2,
		.flow_budget = 1000,
		.socket_id = SOCKET_ID_ANY,
	};
	struct safem_window_producer *wp = safem_window_producer_create(&p);
	struct safem_window_pane *pane;
	struct safem_agg_counters t;
	unsigned int i, kept = 0;

	(void)state;
	assert_non_null(wp);
	for (i = 0; i < 20000; i++) {
		struct safem_flow_key k = key_of(0);

		k.src_addr[1] = (uint8_t)(i >> 8);
		k.src_addr[2] = (uint8_t)i;
		kept += safem_window_producer_add(wp, SAFEM_WINDOW_CURRENT, &k, 0, 1, 60, 0, 0);
	}
	assert_true(safem_window_producer_try_rotate(wp, 0, 1000));
	pane = safem_window_producer_finish(wp);
	assert_int_equal(pane->flows, 20000);
	assert_int_equal(pane->packets, 20000);
	assert_int_equal(pane->bytes, 20000 * 60);
	assert_int_equal(pane->kept, kept);
	assert_int_equal(pane->kept + pane->sampled_out, 20000);
	/* budget x (log2(20000 / 1000) + 1) ~ 5,300 at most */
	assert_true(kept <= 6000);
	assert_true(pane->sample_shift >= 2);
	safem_aggtree_totals(pane->src, &t);
	assert_true(t.flows > 20000 * 0.8 && t.flows < 20000 * 1.2);
	assert_int_equal(t.packets, t.flows);
	safem_window_pane_release(pane);

	/* The next pane starts unsampled; the same flows make the same choice
	 * (a hash of the key), whatever their order. */
	for (i = 0; i < 500; i++) {
		struct safem_flow_key k = key_of(0);

		k.src_addr[1] = (uint8_t)(i >> 8);
		k.src_addr[2] = (uint8_t)i;
		assert_true(safem_window_producer_add(wp, SAFEM_WINDOW_CURRENT, &k, 0, 1, 60, 0, 0));
	}
	safem_window_producer_free(wp);
}

/* ---- analysis side: each listed value's ICMP packets (summary_icmp_packets) ---- */

static struct safem_window_summary icmp_sum;
static unsigned int icmp_sums;

static int
keep_summary(void *ctx, const struct safem_window_summary *s, FILE *members)
{
	(void)ctx;
	(void)members;
	icmp_sum = *s;
	icmp_sums++;
	return 0;
}

static struct safem_flow_key
flow_key(uint8_t v, const uint8_t *src, const uint8_t *dst, uint16_t sp, uint16_t dp,
	 uint8_t proto)
{
	struct safem_flow_key k;

	memset(&k, 0, sizeof(k));
	k.ip_version = v;
	memcpy(k.src_addr, src, v == 4 ? 4 : 16);
	memcpy(k.dst_addr, dst, v == 4 ? 4 : 16);
	k.src_port = sp;
	k.dst_port = dp;
	k.proto = proto;
	return k;
}

static const struct safem_top_value *
listed(unsigned int d, unsigned int f, const struct safem_feature_value *v)
{
	for (unsigned int i = 0; i < icmp_sum.ntop[d][f]; i++)
		if (memcmp(&icmp_sum.top[d][f][i].value, v, sizeof(*v)) == 0)
			return &icmp_sum.top[d][f][i];
	return NULL;
}

static struct safem_feature_value
v4_value(const uint8_t a[4])
{
	struct safem_feature_value v;

	memset(&v, 0, sizeof(v));
	v.bytes[10] = v.bytes[11] = 0xff;
	memcpy(&v.bytes[12], a, 4);
	return v;
}

/*
 * One pane with home 10.0.0.0/8, by hand: a server's TCP download of 150 packets to the home
 * host 10.0.0.5, 30 time-exceeded errors (type 11, port 0x0b00) from a router to the same
 * host, and 20 ICMPv6 packets between two outside hosts; or (spoofed) 300 one-packet echo
 * requests from as many sources to 10.0.0.5 with a flow budget of 16 (the surge guard
 * thins the log, the distributions apart). The host holds 180 packets, 30 of them ICMP, in
 * both the whole link and inbound; the port 30 of 30; the IPv6 host 20 of 20 (whole link
 * only: no home side); under the guard the count is an estimate, never above the packets.
 */
static void
icmp_packets_case(bool spoofed)
{
	static struct safem_home home;
	struct safem_window_producer_params pp = {
		.name = spoofed ? "icmp_wp2" : "icmp_wp1", .tree_nodes = 4096, .buffers = 2,
		.feature_values = 1024, .home = &home, .flow_budget = spoofed ? 16 : 0,
		.profile_flows = 4096, .socket_id = SOCKET_ID_ANY,
	};
	struct safem_profiler_params prp = {.max_clusters = 8, .home = &home};
	struct safem_window_analysis_params ap = {
		.name = spoofed ? "icmp_wa2" : "icmp_wa1", .producers = 1, .window_ms = 1000,
		.slide_ms = 1000, .alpha = 0.05, .log_base = 2, .tree_nodes = 4096,
		.feature_values = 1024, .directional = true, .home = &home, .nq = 1, .q = {2.0},
		.sample_rate = 1, .summary_fn = keep_summary, .profile_flows = 4096,
		.socket_id = SOCKET_ID_ANY,
	};
	const uint8_t host[4] = {10, 0, 0, 5}, server[4] = {93, 184, 1, 1},
		      router[4] = {45, 0, 0, 1};
	const uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1},
		      b6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 2};
	struct safem_window_producer *wp;
	struct safem_window_analysis *wa;
	struct safem_profiler *prof;
	struct safem_feature_value v = v4_value(host);
	const struct safem_top_value *t;
	struct safem_flow_key k;
	unsigned int d, i;

	memset(&home, 0, sizeof(home));
	assert_int_equal(safem_home_add(&home, "10.0.0.0/8"), 0);
	wp = safem_window_producer_create(&pp);
	assert_non_null(wp);
	prof = safem_profiler_create(&prp);
	assert_non_null(prof);
	ap.profiler = prof;
	wa = safem_window_analysis_create(&ap);
	assert_non_null(wa);
	if (!spoofed) {
		k = flow_key(4, server, host, 443, 50123, 6);
		safem_window_producer_add(wp, SAFEM_WINDOW_CURRENT, &k, 0x10, 150, 150 * 1400, 10,
					  20);
		k = flow_key(4, router, host, 0, 0x0b00, 1);
		safem_window_producer_add(wp, SAFEM_WINDOW_CURRENT, &k, 0, 30, 30 * 84, 10, 20);
		k = flow_key(6, a6, b6, 0, 0x0104, 58);
		safem_window_producer_add(wp, SAFEM_WINDOW_CURRENT, &k, 0, 20, 20 * 84, 10, 20);
	} else {
		for (i = 0; i < 300; i++) {
			const uint8_t src[4] = {45, (uint8_t)(i >> 8), (uint8_t)i, 7};

			k = flow_key(4, src, host, 0, 0x0800, 1);
			safem_window_producer_add(wp, SAFEM_WINDOW_CURRENT, &k, 0, 1, 84, 10, 20);
		}
	}
	assert_true(safem_window_producer_try_rotate(wp, 0, 1000));
	icmp_sums = 0;
	assert_int_equal(safem_window_analysis_pane(wa, safem_window_producer_finish(wp)), 0);
	safem_window_analysis_producer_done(wa, 0);
	assert_true(icmp_sums >= 1);
	for (d = 0; d < SAFEM_DIR_COUNT; d++) {
		t = listed(d, SAFEM_FEATURE_DST_ADDR, &v);
		if (d != SAFEM_DIR_ALL && d != SAFEM_DIR_IN) {
			assert_null(t);
			continue;
		}
		assert_non_null(t);
		if (spoofed) {
			assert_int_equal(t->counts.packets, 300);
			assert_true(t->icmp_packets > 0 && t->icmp_packets <= t->counts.packets);
		} else {
			assert_int_equal(t->counts.packets, 180);
			assert_int_equal(t->icmp_packets, 30);
		}
	}
	if (!spoofed) {
		memset(&v, 0, sizeof(v));
		v.bytes[14] = 0x0b;
		t = listed(SAFEM_DIR_IN, SAFEM_FEATURE_DST_PORT, &v);
		assert_non_null(t);
		assert_int_equal(t->counts.packets, 30);
		assert_int_equal(t->icmp_packets, 30);
		memcpy(v.bytes, b6, 16);
		t = listed(SAFEM_DIR_ALL, SAFEM_FEATURE_DST_ADDR, &v);
		assert_non_null(t);
		assert_int_equal(t->counts.packets, 20);
		assert_int_equal(t->icmp_packets, 20);
		assert_null(listed(SAFEM_DIR_IN, SAFEM_FEATURE_DST_ADDR, &v));
	}
	safem_window_analysis_free(wa);
	safem_profiler_free(prof);
	safem_window_producer_free(wp);
}

static void
test_summary_icmp_packets(void **state)
{
	(void)state;
	icmp_packets_case(false);
	icmp_packets_case(true);
}

int
main(void)
{
	char prefix[64];
	char *eal_args[] = {"test_window", "--no-huge", "--no-pci", "-m", "256", "-l", "0",
			    "--log-level=lib.eal:error", prefix, NULL};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_time_opens_aligned_pane),
		cmocka_unit_test(test_flow_log_keeps_last_packet_time),
		cmocka_unit_test(test_profile_flow_last_ms_bounds),
		cmocka_unit_test(test_flow_log_weight_under_surge),
		cmocka_unit_test(test_each_pane_closes_once_in_order),
		cmocka_unit_test(test_gap_below_bound_walks_empty_panes),
		cmocka_unit_test(test_jump_closes_open_pane_and_skips),
		cmocka_unit_test(test_late_packets_counted_not_closing),
		cmocka_unit_test(test_gap_never_below_pane),
		cmocka_unit_test(test_tick_once_per_boundary),
		cmocka_unit_test(test_tick_closes_the_receivers_pane),
		cmocka_unit_test(test_rotate_keeps_closing_pane_open),
		cmocka_unit_test(test_rotate_without_buffer_never_waits),
		cmocka_unit_test(test_surge_guard_bounds_work_keeps_volumes),
		cmocka_unit_test(test_summary_icmp_packets),
	};
	int ret;

	snprintf(prefix, sizeof(prefix), "--file-prefix=safem_test_window_%d", (int)getpid());
	if (rte_eal_init(9, eal_args) < 0) {
		fprintf(stderr, "test_window: EAL init failed\n");
		return 1;
	}
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	rte_eal_cleanup();
	return ret;
}
