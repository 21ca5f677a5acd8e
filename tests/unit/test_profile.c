/* SPDX-License-Identifier: BSD-3-Clause */
/* Behaviour profiling (lib/profile): the threshold search, RU and class quantisation
 * against hand-computed examples, then a whole window: a horizontal scanner among
 * random background is a significant source cluster of class 20 with profile
 * scan_exploit and dominant state <*, 22, *>, and a class change needs two windows. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "safem_profile.h"

#define EPS 1e-4

/* RU = H / ln(min(space, observations)), by hand:
 * {1,1,1,1}: H = ln 4, m = 4 -> 1.
 * {2,1,1}:   H = 0.5 ln 2 + 2 (0.25 ln 4) = 1.5 ln 2, m = 4 -> 1.5 ln 2 / ln 4 = 0.75.
 * {25 x 4}, 100 observations, space 16: H = ln 4, ln 16 -> 0.5.
 * {7}: H = 0 -> 0; one observation -> 0 (nothing to say). */
static void
test_ru_examples(void **state)
{
	const uint64_t uniform[] = {1, 1, 1, 1}, skew[] = {2, 1, 1}, four[] = {25, 25, 25, 25};
	const uint64_t one[] = {7}, with_zero[] = {2, 0, 1, 1};

	(void)state;
	assert_true(fabs(safem_profile_ru(uniform, 4, 4, 65536) - 1.0) < EPS);
	assert_true(fabs(safem_profile_ru(skew, 3, 4, 65536) - 0.75) < EPS);
	assert_true(fabs(safem_profile_ru(with_zero, 4, 4, 65536) - 0.75) < EPS);
	assert_true(fabs(safem_profile_ru(four, 4, 100, 16) - 0.5) < EPS);
	assert_true(fabs(safem_profile_ru(one, 1, 7, 65536)) < EPS);
	assert_true(fabs(safem_profile_ru(uniform, 1, 1, 65536)) < EPS);
}

static void
test_levels_and_classes(void **state)
{
	double ru[3];

	(void)state;
	assert_int_equal(safem_profile_ru_level(0.0), SAFEM_PROFILE_LEVEL_L);
	assert_int_equal(safem_profile_ru_level(0.2), SAFEM_PROFILE_LEVEL_L);
	assert_int_equal(safem_profile_ru_level(0.2001), SAFEM_PROFILE_LEVEL_M);
	assert_int_equal(safem_profile_ru_level(0.7999), SAFEM_PROFILE_LEVEL_M);
	assert_int_equal(safem_profile_ru_level(0.8), SAFEM_PROFILE_LEVEL_H);
	assert_int_equal(safem_profile_ru_level(1.0), SAFEM_PROFILE_LEVEL_H);
	/* 9 l0 + 3 l1 + l2 */
	ru[0] = 0.1, ru[1] = 0.1, ru[2] = 0.1;
	assert_int_equal(safem_profile_class(ru), 0);
	ru[0] = 0.0, ru[1] = 0.95, ru[2] = 0.9; /* a server's source cluster, [L, H, H] */
	assert_int_equal(safem_profile_class(ru), 8);
	ru[0] = 1.0, ru[1] = 0.0, ru[2] = 1.0; /* a horizontal scanner, [H, L, H] */
	assert_int_equal(safem_profile_class(ru), 20);
	ru[0] = 0.5, ru[1] = 0.5, ru[2] = 0.5;
	assert_int_equal(safem_profile_class(ru), 13);
	ru[0] = 0.9, ru[1] = 0.9, ru[2] = 0.9;
	assert_int_equal(safem_profile_class(ru), 26);
}

/*
 * 1000 flows: A = 600; 20 values of 10 flows (1 % each); 200 values of 1 flow.
 *   theta(all) = (0.6 ln(1/0.6) + 20 (0.01 ln 100) + 200 (0.001 ln 1000)) / ln 1000
 *              = (0.3065 + 0.9210 + 1.3816) / 6.9078 = 0.378 <= 0.9
 *   alpha = 2 %: A leaves. Remaining 400 flows: 20 x 2.5 %, 200 x 0.25 %:
 *   theta = (0.5 ln 40 + 0.5 ln 400) / ln 400 = (1.8444 + 2.9957) / 5.9915 = 0.808 <= 0.9
 *   alpha = 1 %: the twenty 10-flow values leave. Remaining: 200 x 1 flow, theta = 1 > 0.9.
 * -> alpha 1 %, 2 iterations, significant iff >= 10 flows (21 values).
 */
static void
test_threshold_search_steps(void **state)
{
	uint64_t flows[221];
	struct safem_profile_threshold t;
	unsigned int i, significant = 0;

	(void)state;
	flows[0] = 600;
	for (i = 1; i <= 20; i++)
		flows[i] = 10;
	for (i = 21; i < 221; i++)
		flows[i] = 1;
	assert_int_equal(safem_profile_threshold_search(flows, 221, 0, 0, 4294967296.0, 1.0, 0.02, 0.9,
							&t),
			 0);
	assert_int_equal(t.iterations, 2);
	assert_true(fabs(t.alpha - 0.01) < 1e-12);
	assert_int_equal(t.min_flows, 10);
	assert_true(fabs(t.ru_remaining - 1.0) < EPS);
	for (i = 0; i < 221; i++)
		significant += flows[i] >= t.min_flows;
	assert_int_equal(significant, 21);

	/* The 200 single flows in the remainder instead (200 values of equal share): the
	 * same search, same result. */
	assert_int_equal(safem_profile_threshold_search(flows, 21, 200, 200.0, 4294967296.0, 1.0, 0.02,
							0.9, &t),
			 0);
	assert_int_equal(t.iterations, 2);
	assert_int_equal(t.min_flows, 10);

	/* Every flow seen 1 in 4 and weighted 4 (the surge guard): the same shape over the
	 * same number of observations, so the same search, thresholds times 4. Without the
	 * weight, RU would be normalised by ln 4000 instead of ln 1000 and never pass beta. */
	for (i = 0; i < 221; i++)
		flows[i] *= 4;
	assert_int_equal(safem_profile_threshold_search(flows, 221, 0, 0, 4294967296.0, 4.0, 0.02,
							0.9, &t),
			 0);
	assert_int_equal(t.iterations, 2);
	assert_int_equal(t.min_flows, 40);
	assert_int_equal(safem_profile_threshold_search(flows, 221, 0, 0, 4294967296.0, 1.0, 0.02,
							0.9, &t),
			 0);
	assert_true(t.iterations > 2);
	for (i = 0; i < 221; i++)
		flows[i] /= 4;

	/* beta 0.8: after A leaves theta = 0.808 > 0.8, the search stops at 2 %. */
	assert_int_equal(safem_profile_threshold_search(flows, 221, 0, 0, 4294967296.0, 1.0, 0.02, 0.8,
							&t),
			 0);
	assert_int_equal(t.iterations, 1);
	assert_true(fabs(t.alpha - 0.02) < 1e-12);
	assert_int_equal(t.min_flows, 20);
	assert_true(fabs(t.ru_remaining - 0.8078) < 1e-3);
}

/* 100 values of one flow: theta = 1 > beta at once, nothing is significant. One value:
 * theta = 0, it is extracted at alpha0. Bad parameters are refused. */
static void
test_threshold_search_edges(void **state)
{
	uint64_t flows[100], single = 42;
	struct safem_profile_threshold t;
	unsigned int i;

	(void)state;
	for (i = 0; i < 100; i++)
		flows[i] = 1;
	assert_int_equal(safem_profile_threshold_search(flows, 100, 0, 0, 65536, 1.0, 0.02, 0.9, &t), 0);
	assert_int_equal(t.iterations, 0);
	assert_true(t.min_flows == UINT64_MAX);
	assert_int_equal(safem_profile_threshold_search(&single, 1, 0, 0, 65536, 1.0, 0.02, 0.9, &t), 0);
	assert_int_equal(t.iterations, 1);
	assert_int_equal(t.min_flows, 1);
	/* only a remainder: nothing can be extracted, the search ends */
	assert_int_equal(safem_profile_threshold_search(NULL, 0, 500, 3.0, 65536, 1.0, 0.02, 0.9, &t), 0);
	assert_true(t.min_flows == UINT64_MAX);
	assert_int_equal(safem_profile_threshold_search(flows, 100, 0, 0, 65536, 1.0, 0.0, 0.9, &t),
			 -EINVAL);
	assert_int_equal(safem_profile_threshold_search(flows, 100, 0, 0, 65536, 1.0, 0.02, 1.5, &t),
			 -EINVAL);
}

static void
v4(uint8_t a[16], uint32_t addr)
{
	memset(a, 0, 16);
	a[0] = (uint8_t)(addr >> 24);
	a[1] = (uint8_t)(addr >> 16);
	a[2] = (uint8_t)(addr >> 8);
	a[3] = (uint8_t)addr;
}

/* One window: a scanner 192.0.2.1 sends one SYN to each of scan_flows hosts of
 * 10.0.0.0/16 on port 22 from changing source ports; other_flows flows between random
 * hosts and ports with 10 packets each. */
static unsigned int
build_scan_window(struct safem_featset *fs, struct safem_profile_flow *log, bool scan_port_varies,
		  unsigned int scan_flows, unsigned int other_flows)
{
	unsigned int n = 0, i;
	uint64_t x = 88172645463325252ull;

	for (i = 0; i < scan_flows; i++) {
		struct safem_profile_flow *f = &log[n++];

		memset(f, 0, sizeof(*f));
		v4(f->key.src_addr, 0xc0000201u);
		v4(f->key.dst_addr, 0x0a000000u + i * 7);
		f->key.src_port = (uint16_t)(40000 + i);
		f->key.dst_port = scan_port_varies ? (uint16_t)(1000 + i) : 22;
		if (scan_port_varies)
			v4(f->key.dst_addr, 0x0a000005u);
		f->key.proto = 6;
		f->key.ip_version = 4;
		f->weight_shift = 0; /* 1 flow */
		f->tcp_flags = 0x02;
		f->packets = 1;
		f->bytes = 60;
	}
	for (i = 0; i < other_flows; i++) {
		struct safem_profile_flow *f = &log[n++];

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		memset(f, 0, sizeof(*f));
		v4(f->key.src_addr, (uint32_t)x);
		v4(f->key.dst_addr, (uint32_t)(x >> 32));
		f->key.src_port = (uint16_t)(x >> 8);
		f->key.dst_port = (uint16_t)(x >> 24);
		f->key.proto = 17;
		f->key.ip_version = 4;
		f->weight_shift = 0; /* 1 flow */
		f->packets = 10;
		f->bytes = 1000;
	}
	safem_featset_clear(fs);
	for (i = 0; i < n; i++)
		safem_featset_add_flow_weighted(fs, NULL, &log[i].key, log[i].tcp_flags,
						safem_profile_flow_weight(&log[i]), log[i].packets, log[i].bytes);
	return n;
}

static unsigned int
build_window(struct safem_featset *fs, struct safem_profile_flow *log, bool scan_port_varies)
{
	return build_scan_window(fs, log, scan_port_varies, 300, 300);
}

static const struct safem_profile_cluster *
find_cluster(struct safem_profiler *p, enum safem_feature dim, const char *value)
{
	const struct safem_profile_cluster *c;
	unsigned int n = safem_profiler_clusters(p, &c), i;
	char text[64];

	for (i = 0; i < n; i++) {
		safem_profile_value_format(c[i].dimension, &c[i].value, text, sizeof(text));
		if (c[i].dimension == dim && strcmp(text, value) == 0)
			return &c[i];
	}
	return NULL;
}

static void
test_window_scanner(void **state)
{
	static struct safem_profile_flow log[600];
	struct safem_featset *fs = safem_featset_create(4096, false, 0);
	struct safem_profiler_params pp = {.max_clusters = 16, .top_hosts = 3};
	struct safem_profiler *p = safem_profiler_create(&pp);
	const struct safem_profile_flow *seg[1] = {log};
	uint32_t segn[1];
	struct safem_profile_flows flows = {seg, segn, 1, 0};
	const struct safem_profile_cluster *c;
	char *text = NULL;
	size_t len = 0;
	FILE *mem;
	unsigned int w;

	(void)state;
	assert_non_null(fs);
	assert_non_null(p);
	segn[0] = build_window(fs, log, false);
	mem = open_memstream(&text, &len);
	assert_int_equal(safem_profiler_window(p, fs, &flows, 0, 1000, mem), 0);
	fclose(mem);
	c = find_cluster(p, SAFEM_FEATURE_SRC_ADDR, "192.0.2.1");
	assert_non_null(c);
	/* [src_port, dst_port, dst_addr] = [H, L, H]: 300 distinct of 300 -> RU 1 */
	assert_true(fabs(c->ru[0] - 1.0) < EPS);
	assert_true(fabs(c->ru[1]) < EPS);
	assert_true(fabs(c->ru[2] - 1.0) < EPS);
	assert_int_equal(c->cls, 20);
	assert_int_equal(c->profile, SAFEM_PROFILE_SCAN_EXPLOIT);
	assert_int_equal(c->dominant_mask, 2); /* <*, 22, *> */
	assert_true(fabs(c->dominant_share - 1.0) < EPS);
	assert_int_equal(c->counts.flows, 300);
	assert_int_equal(c->observations, 300);
	/* the random background holds no significant source */
	assert_null(find_cluster(p, SAFEM_FEATURE_DST_PORT, "1000"));
	assert_non_null(strstr(text, "\"clusters\": [{\"direction\": \"all\""));
	assert_non_null(strstr(text, "\"profile\": \"scan_exploit\""));
	assert_non_null(strstr(text, "\"hosts\": {\"by_flows\": [{\"host\": \"192.0.2.1\""));
	free(text);

	/* A behaviour change (horizontal -> vertical scan) counts once it held two windows,
	 * after the old class held half a history (8 windows, this one included). */
	for (w = 0; w < 7; w++) {
		segn[0] = build_window(fs, log, false);
		assert_int_equal(safem_profiler_window(p, fs, &flows, 0, 1000, NULL), 0);
		c = find_cluster(p, SAFEM_FEATURE_SRC_ADDR, "192.0.2.1");
		assert_false(c->class_changed);
	}
	segn[0] = build_window(fs, log, true);
	assert_int_equal(safem_profiler_window(p, fs, &flows, 0, 1000, NULL), 0);
	c = find_cluster(p, SAFEM_FEATURE_SRC_ADDR, "192.0.2.1");
	assert_int_equal(c->cls, 24); /* [H, H, L]: 18 + 6 + 0, one host, many ports */
	assert_int_equal(c->profile, SAFEM_PROFILE_SCAN_EXPLOIT);
	assert_false(c->class_changed);
	segn[0] = build_window(fs, log, true);
	assert_int_equal(safem_profiler_window(p, fs, &flows, 0, 1000, NULL), 0);
	c = find_cluster(p, SAFEM_FEATURE_SRC_ADDR, "192.0.2.1");
	assert_true(c->class_changed);
	assert_int_equal(c->previous_class, 20);
	assert_int_equal(c->consecutive, 10);
	/* back to the horizontal scan: a class it showed in its history, no change */
	for (w = 0; w < 3; w++) {
		segn[0] = build_window(fs, log, false);
		assert_int_equal(safem_profiler_window(p, fs, &flows, 0, 1000, NULL), 0);
		c = find_cluster(p, SAFEM_FEATURE_SRC_ADDR, "192.0.2.1");
		assert_int_equal(c->cls, 20);
		assert_false(c->class_changed);
	}
	safem_profiler_free(p);
	safem_featset_free(fs);
}

/* The behaviour-change rule on hand-made histories (docs/detection.md, "Behaviour alerts"). */
static void
test_class_change_rule(void **state)
{
	/* horizontal scan [H, L, H] = 20 -> vertical scan [H, H, L] = 24 */
	const double vertical[3] = {1.0, 1.0, 0.0}, vertical_near[3] = {1.0, 0.95, 0.0};
	uint8_t before[14];

	(void)state;
	/* margins: two standard errors 1/sqrt(m), at least 0.1 */
	assert_true(fabs(safem_profile_level_margin(25) - 0.2) < EPS);
	assert_true(fabs(safem_profile_level_margin(64) - 0.125) < EPS);
	assert_true(fabs(safem_profile_level_margin(100) - 0.1) < EPS);
	assert_true(fabs(safem_profile_level_margin(10000) - 0.1) < EPS);
	assert_true(fabs(safem_profile_level_margin(0) - 1.0) < EPS);

	memset(before, 20, sizeof(before));
	assert_true(safem_profile_class_change(before, 8, 20, 24, vertical, 300));
	assert_false(safem_profile_class_change(before, 8, 20, 20, vertical, 300));
	/* half a history before the run is needed: 7 windows are not enough */
	assert_false(safem_profile_class_change(before, 7, 20, 24, vertical, 300));
	/* stable: the old class held at least half of them (4 of 8 yes, 3 of 8 no) */
	memset(before, 2, 4);
	assert_true(safem_profile_class_change(before, 8, 20, 24, vertical, 300));
	memset(before, 2, 5);
	assert_false(safem_profile_class_change(before, 8, 20, 24, vertical, 300));
	/* new to the cluster: one earlier window in class 24 and it is no change */
	memset(before, 20, sizeof(before));
	before[13] = 24;
	assert_false(safem_profile_class_change(before, 14, 20, 24, vertical, 300));
	assert_true(safem_profile_class_change(before, 13, 20, 24, vertical, 300));
	/* clear of the boundary: RU(dst_port) 0.95 is H by 0.15: enough on 100 flows
	 * (margin 0.1), not on 16 (margin 0.25) */
	assert_true(safem_profile_class_change(before, 13, 20, 24, vertical_near, 100));
	assert_false(safem_profile_class_change(before, 13, 20, 24, vertical_near, 16));
}

/* A scan profile is alerted once its run holds two windows and 25 flows together. */
static void
test_scan_alert_evidence(void **state)
{
	static struct safem_profile_flow log[600];
	struct safem_featset *fs = safem_featset_create(4096, false, 0);
	struct safem_profiler_params pp = {.max_clusters = 16};
	struct safem_profiler *p = safem_profiler_create(&pp);
	const struct safem_profile_flow *seg[1] = {log};
	uint32_t segn[1];
	struct safem_profile_flows flows = {seg, segn, 1, 0};
	const struct safem_profile_cluster *c;
	/* 12 probes a window: 12, 24 (< 25), 36 flows; reported in the third window only */
	const bool expect[5] = {false, false, true, false, false};
	unsigned int w;

	(void)state;
	assert_non_null(fs);
	assert_non_null(p);
	for (w = 0; w < 5; w++) {
		segn[0] = build_scan_window(fs, log, false, 12, 30);
		assert_int_equal(safem_profiler_window(p, fs, &flows, 0, 1000, NULL), 0);
		c = find_cluster(p, SAFEM_FEATURE_SRC_ADDR, "192.0.2.1");
		assert_non_null(c);
		assert_int_equal(c->profile, SAFEM_PROFILE_SCAN_EXPLOIT);
		assert_int_equal(c->observations, 12);
		assert_int_equal(c->scan_run_observations, 12 * (w + 1));
		assert_int_equal(c->new_scan_exploit, expect[w]);
	}
	/* 300 probes a window (a new profiler): reported in the run's second window */
	safem_profiler_free(p);
	p = safem_profiler_create(&pp);
	assert_non_null(p);
	for (w = 0; w < 2; w++) {
		segn[0] = build_window(fs, log, false);
		assert_int_equal(safem_profiler_window(p, fs, &flows, 0, 1000, NULL), 0);
		c = find_cluster(p, SAFEM_FEATURE_SRC_ADDR, "192.0.2.1");
		assert_int_equal(c->new_scan_exploit, w == 1);
	}
	safem_profiler_free(p);
	safem_featset_free(fs);
}

/* An idle window first (a live link before its traffic): no clusters, no
 * hosts, nothing read from tables that were never sized (UBSan in CI). */
static void
test_window_empty(void **state)
{
	struct safem_featset *fs = safem_featset_create(4096, false, 0);
	struct safem_profiler_params pp = {.max_clusters = 16, .top_hosts = 3};
	struct safem_profiler *p = safem_profiler_create(&pp);
	const struct safem_profile_flow *seg[1] = {NULL};
	uint32_t segn[1] = {0};
	struct safem_profile_flows flows = {seg, segn, 1, 0};
	const struct safem_profile_cluster *c;
	char *text = NULL;
	size_t len = 0;
	FILE *mem;

	(void)state;
	assert_non_null(fs);
	assert_non_null(p);
	safem_featset_clear(fs);
	mem = open_memstream(&text, &len);
	assert_int_equal(safem_profiler_window(p, fs, &flows, 0, 1000, mem), 0);
	fclose(mem);
	assert_int_equal(safem_profiler_clusters(p, &c), 0);
	assert_non_null(strstr(text, "\"clusters\": []"));
	free(text);
	safem_profiler_free(p);
	safem_featset_free(fs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ru_examples),
		cmocka_unit_test(test_levels_and_classes),
		cmocka_unit_test(test_threshold_search_steps),
		cmocka_unit_test(test_threshold_search_edges),
		cmocka_unit_test(test_window_scanner),
		cmocka_unit_test(test_class_change_rule),
		cmocka_unit_test(test_scan_alert_evidence),
		cmocka_unit_test(test_window_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
