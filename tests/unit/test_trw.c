/* SPDX-License-Identifier: BSD-3-Clause */
/* The sequential tests' shared parts (lib/trw), against values computed by hand. The walk
 * with the paper's parameters (theta0 0.8, theta1 0.2, P_D 0.99, P_F 0.01): a failure
 * multiplies the likelihood ratio by (1-0.2)/(1-0.8) = 4, a success by 0.2/0.8 = 1/4;
 * eta1 = 0.99/0.01 = 99, eta0 = 0.01/0.99 = 1/99. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "safem_trw.h"

static struct safem_trw_bounds
paper_bounds(void)
{
	struct safem_trw_bounds b;

	safem_trw_bounds_init(&b, 0.8, 0.2, 0.99, 0.01);
	return b;
}

static void
test_bounds_paper(void **state)
{
	struct safem_trw_bounds b = paper_bounds();

	(void)state;
	assert_true(fabs(b.step_failure - log(4.0)) < 1e-12);
	assert_true(fabs(b.step_success + log(4.0)) < 1e-12);
	assert_true(fabs(b.log_eta1 - log(99.0)) < 1e-12);
	assert_true(fabs(b.log_eta0 + log(99.0)) < 1e-12);
}

/* 4^3 = 64 < 99 <= 4^4 = 256: the fourth failure flags; later ones keep it at eta1 */
static void
test_walk_flags_at_fourth_failure(void **state)
{
	struct safem_trw_bounds b = paper_bounds();
	struct safem_trw_walk w = {0};

	(void)state;
	for (int i = 0; i < 3; i++)
		assert_int_equal(safem_trw_walk_observe(&b, &w, false), SAFEM_TRW_ON);
	assert_false(w.flagged);
	assert_true(fabs(w.llr - log(64.0)) < 1e-9);
	assert_int_equal(safem_trw_walk_observe(&b, &w, false), SAFEM_TRW_FLAGGED);
	assert_true(w.flagged);
	assert_true(w.llr == b.log_eta1); /* held at the bound */
	assert_int_equal(w.failures_run, 4);
	assert_int_equal(safem_trw_walk_observe(&b, &w, false), SAFEM_TRW_ON);
	assert_true(w.flagged);
	assert_true(w.llr == b.log_eta1);
	assert_int_equal(w.failures_run, 5);
}

/* 4^-3 = 1/64 > 1/99 >= 4^-4: four net successes reset a walk (here from one failure: five) */
static void
test_walk_resets_at_fourth_success(void **state)
{
	struct safem_trw_bounds b = paper_bounds();
	struct safem_trw_walk w = {0};

	(void)state;
	assert_int_equal(safem_trw_walk_observe(&b, &w, false), SAFEM_TRW_ON);
	assert_int_equal(w.failures_run, 1);
	/* from log 4: down to log 4 - 4 log 4 = -log 64 after 4 successes, reset at the 5th */
	for (int i = 0; i < 4; i++)
		assert_int_equal(safem_trw_walk_observe(&b, &w, true), SAFEM_TRW_ON);
	assert_int_equal(safem_trw_walk_observe(&b, &w, true), SAFEM_TRW_RESET);
	assert_true(w.llr == 0);
	assert_int_equal(w.failures_run, 0);
	assert_false(w.flagged);
}

/* a flagged walk at log 99 clears after 2 log 99 / log 4 = 6.6, i.e. 7, net successes */
static void
test_walk_flagged_clears_after_seven_successes(void **state)
{
	struct safem_trw_bounds b = paper_bounds();
	struct safem_trw_walk w = {0};

	(void)state;
	for (int i = 0; i < 4; i++)
		safem_trw_walk_observe(&b, &w, false);
	assert_true(w.flagged);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(safem_trw_walk_observe(&b, &w, true), SAFEM_TRW_ON);
		assert_true(w.flagged); /* flagged until the walk resets */
	}
	assert_int_equal(safem_trw_walk_observe(&b, &w, true), SAFEM_TRW_RESET);
	assert_false(w.flagged);
}

static uint64_t
next(uint64_t *s)
{
	return safem_trw_mix64(*s += 0x9e3779b97f4a7c15ull);
}

/* at its clearing load (128 members in 1024 bits, 3 probes) the false positive rate is
 * (1 - e^(-3 * 128 / 1024))^3 = 3.1 %: measured over 20,000 non-members, under 4.5 % */
static void
test_bloom_false_positive_bound(void **state)
{
	struct safem_trw_bloom f;
	uint32_t pos[SAFEM_TRW_BLOOM_HASHES];
	uint64_t seed = 1;
	unsigned int i, fp = 0, trials = 20000;

	(void)state;
	memset(&f, 0, sizeof(f));
	for (i = 0; i < SAFEM_TRW_BLOOM_INSERTS; i++) {
		safem_trw_bloom_positions(next(&seed), pos);
		safem_trw_bloom_add(&f, pos);
		assert_true(safem_trw_bloom_has(&f, pos)); /* no false negative */
	}
	assert_int_equal(f.inserts, SAFEM_TRW_BLOOM_INSERTS);
	for (i = 0; i < trials; i++) {
		safem_trw_bloom_positions(next(&seed), pos);
		fp += safem_trw_bloom_has(&f, pos);
	}
	assert_true(fp > 0);
	assert_true(fp * 1000 < trials * 45);
}

/* the insertion past the load clears the filter first: it holds that member alone */
static void
test_bloom_clears_at_load(void **state)
{
	struct safem_trw_bloom f;
	uint32_t pos[SAFEM_TRW_BLOOM_HASHES], first[SAFEM_TRW_BLOOM_HASHES];
	uint64_t seed = 7;
	unsigned int i, bits = 0;

	(void)state;
	memset(&f, 0, sizeof(f));
	safem_trw_bloom_positions(next(&seed), first);
	safem_trw_bloom_add(&f, first);
	for (i = 1; i < SAFEM_TRW_BLOOM_INSERTS; i++) {
		safem_trw_bloom_positions(next(&seed), pos);
		safem_trw_bloom_add(&f, pos);
	}
	assert_true(safem_trw_bloom_has(&f, first));
	safem_trw_bloom_positions(next(&seed), pos);
	safem_trw_bloom_add(&f, pos);
	assert_int_equal(f.inserts, 1);
	for (i = 0; i < SAFEM_TRW_BLOOM_WORDS; i++)
		bits += (unsigned int)__builtin_popcountll(f.bits[i]);
	assert_true(bits >= 1 && bits <= SAFEM_TRW_BLOOM_HASHES);
	assert_true(safem_trw_bloom_has(&f, pos));
}

/* the probes of one member differ (an odd stride), and stay in the filter */
static void
test_bloom_positions(void **state)
{
	uint32_t pos[SAFEM_TRW_BLOOM_HASHES];
	uint64_t seed = 3;

	(void)state;
	for (int i = 0; i < 1000; i++) {
		safem_trw_bloom_positions(next(&seed), pos);
		for (int k = 0; k < SAFEM_TRW_BLOOM_HASHES; k++)
			assert_true(pos[k] < SAFEM_TRW_BLOOM_BITS);
		assert_true(pos[0] != pos[1]);
	}
}

static void
test_seen_size(void **state)
{
	(void)state;
	assert_int_equal(safem_trw_seen_size(0), 16);
	assert_int_equal(safem_trw_seen_size(8), 16);
	assert_int_equal(safem_trw_seen_size(9), 32);
	assert_int_equal(safem_trw_seen_size(65536), 131072);
	assert_int_equal(safem_trw_seen_size(65537), 262144);
}

/* A table filled to the bound its size allows (8 entries in 16 slots), every hash on the
 * same home slot (the worst cluster, wrapping at the table's end): each one found with its
 * flags, an absent one not, flags OR'd, and a hash differing in its low byte only the same
 * entry. */
static void
test_seen_full_cluster(void **state)
{
	uint64_t t[16], mask = 15;
	unsigned int i, used = 0;

	(void)state;
	memset(t, 0, sizeof(t));
	assert_int_equal(safem_trw_seen_size(8), 16);
	for (i = 0; i < 8; i++) /* home slot 13 for all: entries wrap to 0..4 */
		safem_trw_seen_add(t, mask, ((uint64_t)(i + 1) << 32) | 0x0d, (uint8_t)(1u << i));
	for (i = 0; i < 8; i++)
		assert_true(safem_trw_seen_get(t, mask, ((uint64_t)(i + 1) << 32) | 0x0d) ==
			    (SAFEM_TRW_SEEN_PRESENT | (1u << i)));
	assert_true(safem_trw_seen_get(t, mask, (9ull << 32) | 0x0d) == 0);
	assert_true(safem_trw_seen_get(t, mask, (1ull << 32) | 0x0e) == 0);
	/* the same hash again: flags OR'd, no new slot */
	safem_trw_seen_add(t, mask, (1ull << 32) | 0x0d, 0x10);
	assert_true(safem_trw_seen_get(t, mask, (1ull << 32) | 0x0d) ==
		    (SAFEM_TRW_SEEN_PRESENT | 0x11));
	for (i = 0; i < 16; i++)
		used += t[i] != 0;
	assert_int_equal(used, 8);
	/* a clear empties it */
	memset(t, 0, sizeof(t));
	assert_true(safem_trw_seen_get(t, 15, (1ull << 32) | 0x0d) == 0);
}

/* hashes equal in bits 9-63 are one entry (the low byte holds the flags, bit 8 presence) */
/* unanswered for T: at least T before the pane's end; no pane end (0): never */
static void
test_unanswered_for(void **state)
{
	const uint64_t end = UINT64_C(1700000001000);

	(void)state;
	assert_true(safem_trw_unanswered_for(end - 250, end, 250));
	assert_true(safem_trw_unanswered_for(end - 1000, end, 250));
	assert_false(safem_trw_unanswered_for(end - 250 + 1, end, 250));
	assert_false(safem_trw_unanswered_for(end - 499, end, 500));
	assert_false(safem_trw_unanswered_for(end, end, 250));
	assert_false(safem_trw_unanswered_for(0, 0, 250));
}

static void
test_seen_low_byte_ignored(void **state)
{
	uint64_t t[16];

	(void)state;
	memset(t, 0, sizeof(t));
	safem_trw_seen_add(t, 15, 0xabcdef0000000003ull, 0x02);
	/* the same home slot (low 4 bits 3) and the same upper 56 bits: found */
	assert_true(safem_trw_seen_get(t, 15, 0xabcdef0000000013ull) ==
		    (SAFEM_TRW_SEEN_PRESENT | 0x02));
	/* bit 8 is the presence bit, set in every entry: a hash differing there is the same
	 * entry too; one bit above it is another */
	assert_true(safem_trw_seen_get(t, 15, 0xabcdef0000000103ull) ==
		    (SAFEM_TRW_SEEN_PRESENT | 0x02));
	assert_true(safem_trw_seen_get(t, 15, 0xabcdef0000000203ull) == 0);
}

/* Misra-Gries by hand: 23 x6, then 80, 81, 82 fill the counters, 83 takes one from each (23:
 * 5, the others 0), 84 takes a free counter: held 6 of 11 observations, not 3/4 */
static void
test_ports_misra_gries(void **state)
{
	struct safem_trw_ports m;
	static const uint16_t rest[] = {80, 81, 82, 83, 84};
	uint16_t port;
	unsigned int used;
	uint64_t held;

	(void)state;
	memset(&m, 0, sizeof(m));
	for (int i = 0; i < 6; i++)
		safem_trw_ports_add(&m, 23);
	for (unsigned int i = 0; i < 5; i++)
		safem_trw_ports_add(&m, rest[i]);
	held = safem_trw_ports_top(&m, &port, &used);
	assert_int_equal(m.total, 11);
	assert_int_equal(held, 6);
	assert_int_equal(port, 23);
	assert_int_equal(used, 2);
	assert_false(safem_trw_ports_few(&m, held));
	/* 23 x9 and 80 once: all 10 held (4 x 10 >= 3 x 10) */
	memset(&m, 0, sizeof(m));
	for (int i = 0; i < 9; i++)
		safem_trw_ports_add(&m, 23);
	safem_trw_ports_add(&m, 80);
	held = safem_trw_ports_top(&m, &port, NULL);
	assert_int_equal(held, 10);
	assert_int_equal(port, 23);
	assert_true(safem_trw_ports_few(&m, held));
	/* empty: nothing held */
	memset(&m, 0, sizeof(m));
	assert_false(safem_trw_ports_few(&m, safem_trw_ports_top(&m, &port, NULL)));
}

/* 3 of 4 exactly is few enough: 23 x3 and 4 distinct others (the last three each cost a
 * decrement or take a freed counter) */
static void
test_ports_three_quarters(void **state)
{
	struct safem_trw_ports m = {.port = {23, 80}, .count = {3, 1}, .total = 4};
	uint16_t port;

	(void)state;
	assert_true(safem_trw_ports_few(&m, safem_trw_ports_top(&m, &port, NULL)));
	m.total = 6; /* 4 held of 6: 16 < 18 */
	assert_false(safem_trw_ports_few(&m, safem_trw_ports_top(&m, &port, NULL)));
}

static void
test_addr_value(void **state)
{
	uint8_t a4[16] = {192, 0, 2, 7}, a6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
	struct safem_feature_value v;

	(void)state;
	safem_trw_addr_value(a4, 4, &v);
	assert_int_equal(v.bytes[10], 0xff);
	assert_int_equal(v.bytes[11], 0xff);
	assert_memory_equal(&v.bytes[12], a4, 4);
	assert_int_equal(v.bytes[0], 0);
	safem_trw_addr_value(a6, 6, &v);
	assert_memory_equal(v.bytes, a6, 16);
}

/* the hash of whole words: one bit more in any word changes it */
static void
test_words_hash(void **state)
{
	uint64_t w[5] = {1, 2, 3, 4, 5}, h = safem_trw_words_hash(w, 5, 42);

	(void)state;
	for (unsigned int i = 0; i < 5; i++) {
		w[i] ^= 1ull << 40;
		assert_true(safem_trw_words_hash(w, 5, 42) != h);
		w[i] ^= 1ull << 40;
	}
	assert_true(safem_trw_words_hash(w, 5, 42) == h);
	assert_true(safem_trw_words_hash(w, 5, 43) != h);
	assert_true(safem_trw_mix64(0) == 0); /* the finaliser alone: 0 stays 0, hence seeds */
}

static int
order_cmp(const void *a, const void *b)
{
	const struct safem_trw_order *x = a, *y = b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	if (x->flags != y->flags)
		return x->flags < y->flags ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* the radix sort's order is (hash, flags, position): against qsort with that comparison on
 * records with repeated hashes (few distinct values, and ones differing in the top bits
 * only) and repeated flags */
static void
test_order_sort(void **state)
{
	enum { N = 3000 };
	static struct safem_trw_order r[N], tmp[N], want[N];
	uint64_t seed = 11;
	uint32_t i;

	(void)state;
	for (i = 0; i < N; i++) {
		uint64_t x = next(&seed);

		r[i].hash = i % 3 == 0 ? (x & 7) << 61 : i % 3 == 1 ? x % 17 : x;
		r[i].flags = (uint8_t)((x >> 20) % 3 == 0 ? 0x12 : 0x02);
		r[i].idx = i;
	}
	memcpy(want, r, sizeof(r));
	qsort(want, N, sizeof(want[0]), order_cmp);
	safem_trw_order_sort(r, tmp, N);
	for (i = 0; i < N; i++) {
		assert_true(r[i].hash == want[i].hash);
		assert_int_equal(r[i].flags, want[i].flags);
		assert_int_equal(r[i].idx, want[i].idx);
	}
	safem_trw_order_sort(r, tmp, 0); /* nothing to sort */
}

/* The link's prior (docs/detection.md, "Per-link prior (session 14)"): under 100
 * observations the floor; 99 of 100 capped at 0.9 and b's failure step log(0.8 / 0.1);
 * the counts halve at 2 x 1024: 2047 successes and a failure leave 1023 of 1024 */
static void
test_prior(void **state)
{
	struct safem_trw_prior p = {.theta0 = 0.8};
	struct safem_trw_bounds b;
	unsigned int i;

	(void)state;
	safem_trw_bounds_init(&b, 0.8, 0.2, 0.99, 0.01);
	for (i = 0; i < 99; i++)
		safem_trw_prior_add(&p, true);
	assert_int_equal(safem_trw_prior_publish(&p, &b, 0.8, 0.9, 0.2, 0.99, 0.01), 800);
	assert_true(fabs(b.step_failure - log(4.0)) < 1e-12);
	safem_trw_prior_add(&p, false); /* 99 of 100 */
	assert_int_equal(safem_trw_prior_publish(&p, &b, 0.8, 0.9, 0.2, 0.99, 0.01), 900);
	assert_true(fabs(b.step_failure - log(8.0)) < 1e-12);
	assert_true(fabs(b.step_success - log(0.2 / 0.9)) < 1e-12);
	for (i = 0; i < 100; i++)
		safem_trw_prior_add(&p, i < 20); /* 119 of 200: 0.595, the floor */
	assert_int_equal(safem_trw_prior_publish(&p, &b, 0.8, 0.9, 0.2, 0.99, 0.01), 800);
	assert_true(fabs(b.step_failure - log(4.0)) < 1e-12);
	p = (struct safem_trw_prior){.theta0 = 0.8};
	for (i = 0; i < 2047; i++)
		safem_trw_prior_add(&p, true);
	safem_trw_prior_add(&p, false);
	assert_int_equal(p.observations, 1024);
	assert_int_equal(p.successes, 1023);
	/* 0.999: the cap given */
	assert_int_equal(safem_trw_prior_publish(&p, &b, 0.8, 0.95, 0.2, 0.99, 0.01), 950);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bounds_paper),
		cmocka_unit_test(test_prior),
		cmocka_unit_test(test_walk_flags_at_fourth_failure),
		cmocka_unit_test(test_walk_resets_at_fourth_success),
		cmocka_unit_test(test_walk_flagged_clears_after_seven_successes),
		cmocka_unit_test(test_bloom_false_positive_bound),
		cmocka_unit_test(test_bloom_clears_at_load),
		cmocka_unit_test(test_bloom_positions),
		cmocka_unit_test(test_seen_size),
		cmocka_unit_test(test_seen_full_cluster),
		cmocka_unit_test(test_seen_low_byte_ignored),
		cmocka_unit_test(test_unanswered_for),
		cmocka_unit_test(test_ports_misra_gries),
		cmocka_unit_test(test_ports_three_quarters),
		cmocka_unit_test(test_addr_value),
		cmocka_unit_test(test_words_hash),
		cmocka_unit_test(test_order_sort),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
