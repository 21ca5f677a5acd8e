/* SPDX-License-Identifier: BSD-3-Clause */
/* Entropy: hand-computed values for Shannon and SAFEM eq. 1 (uniform, single
 * host, a /24 spread, mixed, the full v6 space), bases, normalisation. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "safem_entropy.h"

#define EPS 1e-12

#define assert_close(a, b) assert_close_at((a), (b), EPS, __LINE__)

static void
assert_close_at(double a, double b, double eps, int line)
{
	if (!(fabs(a - b) <= eps * fmax(1.0, fabs(b)))) {
		print_error("line %d: %.17g != %.17g\n", line, a, b);
		fail();
	}
}

static void
test_shannon_uniform(void **state)
{
	static const size_t sizes[] = {1, 2, 3, 7, 256, 1000};
	uint64_t counts[1000];
	size_t k, i;

	(void)state;
	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		for (i = 0; i < sizes[k]; i++)
			counts[i] = 42;
		assert_close(safem_entropy_shannon(counts, sizes[k], 2.0), log2((double)sizes[k]));
		assert_close(safem_entropy_shannon(counts, sizes[k], M_E), log((double)sizes[k]));
		assert_close(safem_entropy_shannon(counts, sizes[k], 10.0),
			     log10((double)sizes[k]));
	}
}

static void
test_shannon_hand_values(void **state)
{
	const uint64_t one[] = {0, 0, 12345, 0};
	const uint64_t halves_quarters[] = {2, 1, 0, 1}; /* 1/2, 1/4, 1/4: 1.5 bits */
	const uint64_t zeros[] = {0, 0, 0};
	const uint64_t huge[] = {UINT64_MAX, UINT64_MAX}; /* total overflows uint64 */

	(void)state;
	assert_close(safem_entropy_shannon(one, 4, 2.0), 0.0);
	assert_close(safem_entropy_shannon(halves_quarters, 4, 2.0), 1.5);
	assert_close(safem_entropy_shannon(halves_quarters, 4, 4.0), 0.75);
	assert_close(safem_entropy_shannon(zeros, 3, 2.0), 0.0);
	assert_close(safem_entropy_shannon(NULL, 0, 2.0), 0.0);
	assert_close(safem_entropy_shannon(huge, 2, 2.0), 1.0);
}

static void
test_invalid_base(void **state)
{
	const double bad[] = {0.0, 1.0, -2.0, INFINITY, NAN};
	const uint64_t counts[] = {1, 2};
	const double shares[] = {0.5, 0.5};
	const uint8_t bits[] = {0, 8};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_true(isnan(safem_entropy_shannon(counts, 2, bad[i])));
		assert_true(isnan(safem_entropy_aggregated(shares, bits, 2, bad[i])));
		assert_true(isnan(safem_entropy_aggregated_normalised(shares, bits, 2, bad[i])));
	}
}

static void
test_aggregated_hand_values(void **state)
{
	const double one[] = {1.0};
	const uint8_t host[] = {0}, slash24[] = {8}, v4_all[] = {32}, v6_all[] = {128};
	const double half[] = {0.5, 0.5};
	const uint8_t host_and_24[] = {0, 8}, host_and_v6_all[] = {0, 128};
	double h;

	(void)state;
	/* Single host: no dispersion. */
	assert_close(safem_entropy_aggregated(one, host, 1, 2.0), 0.0);
	assert_close(safem_entropy_aggregated_normalised(one, host, 1, 2.0), 0.0);
	/* A /24 holding everything, spread over 256 addresses: log2 256 = 8 bits. */
	assert_close(safem_entropy_aggregated(one, slash24, 1, 2.0), 8.0);
	assert_close(safem_entropy_aggregated(one, slash24, 1, M_E), 8.0 * M_LN2);
	assert_close(safem_entropy_aggregated_normalised(one, slash24, 1, 2.0), 1.0);
	assert_close(safem_entropy_aggregated(one, v4_all, 1, 2.0), 32.0);
	/* The whole IPv6 space: 128 bits, computed without 2^128. */
	assert_close(safem_entropy_aggregated(one, v6_all, 1, 2.0), 128.0);
	assert_close(safem_entropy_aggregated_normalised(one, v6_all, 1, 2.0), 1.0);
	/* Mixed: a host with 1/2 and a /24 with 1/2: 1 bit + 1/2 x 8 bits. */
	h = safem_entropy_aggregated(half, host_and_24, 2, 2.0);
	assert_close(h, 5.0);
	assert_close(safem_entropy_aggregated_normalised(half, host_and_24, 2, 2.0),
		     5.0 / log2(257.0));
	/* A host and all of IPv6: 1 + 64 bits over a support of 2^128 + 1 addresses. */
	assert_close(safem_entropy_aggregated(half, host_and_v6_all, 2, 2.0), 65.0);
	assert_close(safem_entropy_aggregated_normalised(half, host_and_v6_all, 2, 2.0),
		     65.0 / 128.0);
}

/* Eq. 1 must equal Shannon over the explicitly spread address distribution. */
static void
test_aggregated_equals_explicit_spread(void **state)
{
	/* A /28 with 0.3 (16 addresses), a /30 with 0.2, hosts with 0.4 and 0.1. */
	const double shares[] = {0.3, 0.2, 0.4, 0.1};
	const uint8_t bits[] = {4, 2, 0, 0};
	uint64_t counts[16 + 4 + 2];
	size_t i, n = 0;

	(void)state;
	/* Volumes in units of 1/80: 0.3 = 24/80 -> 16 x 1.5/80, so use 1/160. */
	for (i = 0; i < 16; i++)
		counts[n++] = 3; /* 0.3 x 160 / 16 */
	for (i = 0; i < 4; i++)
		counts[n++] = 8; /* 0.2 x 160 / 4 */
	counts[n++] = 64;	 /* 0.4 x 160 */
	counts[n++] = 16;	 /* 0.1 x 160 */
	assert_close(safem_entropy_aggregated(shares, bits, 4, 2.0),
		     safem_entropy_shannon(counts, n, 2.0));
	assert_close(safem_entropy_aggregated(shares, bits, 4, 3.0),
		     safem_entropy_shannon(counts, n, 3.0));
}

/* With host_bits 0 eq. 1 is plain Shannon over the shares. */
static void
test_aggregated_hosts_is_shannon(void **state)
{
	uint64_t counts[500], total = 0, x = 88172645463325252ull;
	double shares[500];
	uint8_t bits[500];
	size_t i;

	(void)state;
	for (i = 0; i < 500; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		counts[i] = x % 1000;
		total += counts[i];
		bits[i] = 0;
	}
	for (i = 0; i < 500; i++)
		shares[i] = (double)counts[i] / (double)total;
	assert_close_at(safem_entropy_aggregated(shares, bits, 500, 2.0),
			safem_entropy_shannon(counts, 500, 2.0), 1e-11, __LINE__);
}

static void
test_zero_and_negative_shares_ignored(void **state)
{
	const double shares[] = {0.0, 1.0, -0.5, NAN};
	const uint8_t bits[] = {128, 8, 100, 3};

	(void)state;
	/* Only the /24 counts, in H and in the support. */
	assert_close(safem_entropy_aggregated(shares, bits, 4, 2.0), 8.0);
	assert_close(safem_entropy_aggregated_normalised(shares, bits, 4, 2.0), 1.0);
	assert_close(safem_entropy_aggregated(NULL, NULL, 0, 2.0), 0.0);
	assert_close(safem_entropy_aggregated_normalised(NULL, NULL, 0, 2.0), 0.0);
}

/* Normalised: in [0, 1], 1 exactly when s_i is proportional to 2^h_i, independent of base. */
static void
test_normalised_range_and_maximum(void **state)
{
	uint64_t x = 0x2545f4914f6cdd1dull;
	double shares[64], sum;
	uint8_t bits[64];
	size_t trial, i, n;

	(void)state;
	for (trial = 0; trial < 200; trial++) {
		double a, b;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		n = 1 + x % 64;
		sum = 0.0;
		for (i = 0; i < n; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			bits[i] = (uint8_t)(x % 129);
			shares[i] = (double)(x >> 40) + 1.0;
			sum += shares[i];
		}
		for (i = 0; i < n; i++)
			shares[i] /= sum;
		a = safem_entropy_aggregated_normalised(shares, bits, n, 2.0);
		b = safem_entropy_aggregated_normalised(shares, bits, n, M_E);
		assert_true(a >= 0.0 && a <= 1.0);
		assert_close_at(a, b, 1e-12, __LINE__);
	}
	/* s proportional to 2^h: hosts 1/4 and 1/4 and a /1 with 1/2: maximal. */
	shares[0] = 0.25, bits[0] = 0;
	shares[1] = 0.25, bits[1] = 0;
	shares[2] = 0.5, bits[2] = 1;
	assert_close(safem_entropy_aggregated(shares, bits, 3, 2.0), 2.0);
	assert_close(safem_entropy_aggregated_normalised(shares, bits, 3, 2.0), 1.0);
	/* Uniform over n hosts: log n, normalised 1. */
	for (i = 0; i < 10; i++)
		shares[i] = 0.1, bits[i] = 0;
	assert_close(safem_entropy_aggregated(shares, bits, 10, 2.0), log2(10.0));
	assert_close(safem_entropy_aggregated_normalised(shares, bits, 10, 2.0), 1.0);
}

static void
test_base_scaling(void **state)
{
	const double shares[] = {0.7, 0.2, 0.1};
	const uint8_t bits[] = {0, 16, 96};
	double bits_h = safem_entropy_aggregated(shares, bits, 3, 2.0);

	(void)state;
	assert_close(safem_entropy_aggregated(shares, bits, 3, M_E), bits_h * M_LN2);
	assert_close(safem_entropy_aggregated(shares, bits, 3, 16.0), bits_h / 4.0);
}

/* The accumulator is what the array functions run: same bits. */
static void
test_accumulator_matches_arrays(void **state)
{
	const double shares[] = {0.125, 0.5, 0.25, 0.125};
	const uint8_t bits[] = {128, 0, 32, 8};
	struct safem_entropy_acc acc;
	size_t i;

	(void)state;
	safem_entropy_acc_init(&acc);
	assert_close(safem_entropy_acc_log_support(&acc, 2.0), 0.0);
	for (i = 0; i < 4; i++)
		safem_entropy_acc_add(&acc, shares[i], bits[i]);
	assert_true(safem_entropy_acc_value(&acc, 2.0) ==
		    safem_entropy_aggregated(shares, bits, 4, 2.0));
	assert_true(safem_entropy_acc_normalised(&acc, 2.0) ==
		    safem_entropy_aggregated_normalised(shares, bits, 4, 2.0));
	/* log2(2^128 + 2^32 + 2^8 + 1) is 128 to double precision. */
	assert_close(safem_entropy_acc_log_support(&acc, 2.0), 128.0);
	/* 1/8 x (3 + 128) + 1/2 x 1 + 1/4 x (2 + 32) + 1/8 x (3 + 8) */
	assert_close(safem_entropy_acc_value(&acc, 2.0), 16.375 + 0.5 + 8.5 + 1.375);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shannon_uniform),
		cmocka_unit_test(test_shannon_hand_values),
		cmocka_unit_test(test_invalid_base),
		cmocka_unit_test(test_aggregated_hand_values),
		cmocka_unit_test(test_aggregated_equals_explicit_spread),
		cmocka_unit_test(test_aggregated_hosts_is_shannon),
		cmocka_unit_test(test_zero_and_negative_shares_ignored),
		cmocka_unit_test(test_normalised_range_and_maximum),
		cmocka_unit_test(test_base_scaling),
		cmocka_unit_test(test_accumulator_matches_arrays),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
