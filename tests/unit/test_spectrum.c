/* SPDX-License-Identifier: BSD-3-Clause */
/* Tsallis spectrum: uniform closed forms, single value, q -> 1 continuity,
 * Shannon at q = 1, tiny probabilities at negative q against a long double
 * reference, count classes vs their expansion, remainder vs explicit values. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "safem_spectrum.h"

#define assert_close(a, b, eps) assert_close_at((a), (b), (eps), __LINE__)

static void
assert_close_at(double a, double b, double eps, int line)
{
	if (!(fabs(a - b) <= eps * fmax(1.0, fabs(b)))) {
		print_error("line %d: %.17g != %.17g\n", line, a, b);
		fail();
	}
}

static const double q_default[] = SAFEM_SPECTRUM_Q_DEFAULT;
#define NQ SAFEM_SPECTRUM_Q_DEFAULT_COUNT

static void
test_raw_uniform_closed_form(void **state)
{
	static const size_t sizes[] = {2, 3, 10, 1000};
	static const double qs[] = {-5.0, -2.0, -0.5, 0.0, 0.5, 2.0, 3.0};
	double p[1000];
	size_t k, i, j;

	(void)state;
	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		double n = (double)sizes[k];

		for (i = 0; i < sizes[k]; i++)
			p[i] = 1.0 / n;
		for (j = 0; j < sizeof(qs) / sizeof(qs[0]); j++)
			assert_close(safem_tsallis_raw(p, sizes[k], qs[j]),
				     (pow(n, 1.0 - qs[j]) - 1.0) / (1.0 - qs[j]), 1e-12);
		assert_close(safem_tsallis_raw(p, sizes[k], 1.0), log(n), 1e-12);
	}
}

static void
test_normalised_uniform(void **state)
{
	static const uint64_t sizes[] = {2, 7, 1000, 50000};
	double out[NQ];
	size_t k;
	unsigned int j;

	(void)state;
	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		struct safem_count_class c = {.count = 17, .values = sizes[k]};
		double n = (double)sizes[k], space = SAFEM_SPECTRUM_PORT_SPACE;

		assert_int_equal(safem_tsallis_spectrum(&c, 1, 0, 0, space, q_default, NQ, out), 0);
		for (j = 0; j < NQ; j++) {
			double q = q_default[j];

			if (q < 0)
				assert_close(out[j], 1.0, 1e-10);
			else if (q == 0)
				assert_close(out[j], log(n) / log(space), 1e-12);
			else if (q == 1)
				assert_close(out[j], log(n) / log(space), 1e-12);
			else
				assert_close(out[j], (pow(n, 1 - q) - 1) / (pow(space, 1 - q) - 1),
					     1e-10);
		}
	}
}

static void
test_single_value_and_empty(void **state)
{
	struct safem_count_class one = {.count = 1000000, .values = 1};
	struct safem_count_class zero = {.count = 0, .values = 5};
	double out[NQ];
	unsigned int j;

	(void)state;
	assert_int_equal(safem_tsallis_spectrum(&one, 1, 0, 0, 65536, q_default, NQ, out), 0);
	for (j = 0; j < NQ; j++)
		assert_true(out[j] == 0.0);
	assert_int_equal(safem_tsallis_spectrum(&zero, 1, 0, 0, 65536, q_default, NQ, out), 0);
	for (j = 0; j < NQ; j++)
		assert_true(out[j] == 0.0);
	assert_int_equal(safem_tsallis_spectrum(NULL, 0, 0, 0, 65536, q_default, NQ, out), 0);
	/* a single remainder value is one value too */
	assert_int_equal(safem_tsallis_spectrum(NULL, 0, 100, 1, 65536, q_default, NQ, out), 0);
	for (j = 0; j < NQ; j++)
		assert_true(out[j] == 0.0);
	assert_int_equal(safem_tsallis_spectrum(&one, 1, 0, 0, 1.0, q_default, NQ, out), -EINVAL);
	assert_int_equal(safem_tsallis_spectrum(&one, 1, 0, 0, 65536, q_default, 0, out), -EINVAL);
	assert_int_equal(safem_tsallis_spectrum(&one, 1, 0, 0, 65536, q_default,
						SAFEM_SPECTRUM_Q_MAX + 1, out),
			 -EINVAL);
	assert_int_equal(safem_tsallis_spectrum(&one, 1, 0, 0, 65536, NULL, NQ, out), -EINVAL);
}

static void
test_q_one_continuity(void **state)
{
	const double p[] = {0.5, 0.25, 0.125, 0.0625, 0.0625};
	const struct safem_count_class cl[] = {{8, 1}, {4, 1}, {2, 1}, {1, 2}};
	const double q3[] = {1.0 - 1e-7, 1.0, 1.0 + 1e-7};
	double shannon = 0, out[3];
	size_t i;

	(void)state;
	for (i = 0; i < 5; i++)
		shannon -= p[i] * log(p[i]);
	assert_close(safem_tsallis_raw(p, 5, 1.0), shannon, 1e-14);
	assert_close(safem_tsallis_raw(p, 5, 1.0 + 1e-10), shannon, 1e-14);
	assert_close(safem_tsallis_raw(p, 5, 1.0 - 1e-7), shannon, 1e-6);
	assert_close(safem_tsallis_raw(p, 5, 1.0 + 1e-7), shannon, 1e-6);
	assert_int_equal(safem_tsallis_spectrum(cl, 4, 0, 0, 65536, q3, 3, out), 0);
	assert_close(out[1], shannon / log(65536.0), 1e-14);
	assert_close(out[0], out[1], 1e-6);
	assert_close(out[2], out[1], 1e-6);
}

/* long double reference for the normalised value at q < 0 */
static long double
reference_negative(const struct safem_count_class *cl, size_t ncl, double q)
{
	long double total = 0, n = 0, sum = 0;
	size_t i;

	for (i = 0; i < ncl; i++) {
		total += (long double)cl[i].count * cl[i].values;
		n += cl[i].values;
	}
	for (i = 0; i < ncl; i++)
		sum += cl[i].values * powl((long double)cl[i].count / total, q);
	return (sum - 1) / (powl(n, 1 - q) - 1);
}

static void
test_negative_q_tiny_probabilities(void **state)
{
	/* one heavy value of 1e12 and single-count values: p down to 1e-12 */
	const struct safem_count_class cl[] = {{1000000000000ULL, 1}, {1, 1000}, {3, 10}};
	/* counts up to 1e15 and q down to -5 */
	const struct safem_count_class big[] = {{1000000000000000ULL, 3}, {1, 5}};
	const double qs[] = {-5.0, -2.0, -1.0, -0.5};
	double out[4];
	unsigned int j;

	(void)state;
	assert_int_equal(safem_tsallis_spectrum(cl, 3, 0, 0, 4294967296.0, qs, 4, out), 0);
	for (j = 0; j < 4; j++) {
		assert_true(isfinite(out[j]));
		assert_close(out[j], (double)reference_negative(cl, 3, qs[j]), 1e-9);
	}
	assert_int_equal(safem_tsallis_spectrum(big, 2, 0, 0, 4294967296.0, qs, 4, out), 0);
	for (j = 0; j < 4; j++) {
		assert_true(isfinite(out[j]));
		assert_close(out[j], (double)reference_negative(big, 2, qs[j]), 1e-9);
	}
}

static void
test_classes_equal_expansion(void **state)
{
	/* repeated counts in several classes, any order */
	const struct safem_count_class cl[] = {{5, 3}, {1, 10}, {5, 2}, {100, 1}, {1, 4}};
	const struct safem_count_class merged[] = {{1, 14}, {5, 5}, {100, 1}};
	struct safem_count_class expanded[20];
	double a[NQ], b[NQ], c[NQ], p[20], total = 0;
	size_t i, k = 0;
	uint64_t v;
	unsigned int j;

	(void)state;
	for (i = 0; i < 5; i++)
		for (v = 0; v < cl[i].values; v++) {
			expanded[k].count = cl[i].count;
			expanded[k++].values = 1;
			total += (double)cl[i].count;
		}
	assert_int_equal(k, 20);
	assert_int_equal(safem_tsallis_spectrum(cl, 5, 0, 0, 65536, q_default, NQ, a), 0);
	assert_int_equal(safem_tsallis_spectrum(merged, 3, 0, 0, 65536, q_default, NQ, b), 0);
	assert_int_equal(safem_tsallis_spectrum(expanded, k, 0, 0, 65536, q_default, NQ, c), 0);
	for (i = 0; i < k; i++)
		p[i] = (double)expanded[i].count / total;
	for (j = 0; j < NQ; j++) {
		assert_close(a[j], c[j], 1e-12);
		assert_close(b[j], c[j], 1e-12);
		if (q_default[j] > 0 && q_default[j] != 1.0) /* normalised raw value */
			assert_close(
				c[j],
				safem_tsallis_raw(p, k, q_default[j]) /
					((pow(65536, 1 - q_default[j]) - 1) / (1 - q_default[j])),
				1e-12);
		if (q_default[j] < 0)
			assert_close(c[j],
				     safem_tsallis_raw(p, k, q_default[j]) /
					     ((pow(20, 1 - q_default[j]) - 1) / (1 - q_default[j])),
				     1e-12);
	}
}

static void
test_remainder_equals_expansion(void **state)
{
	/* kept: 3 values; remainder: 6 units of mass over 4 values (1.5 each) */
	const struct safem_count_class kept[] = {{10, 1}, {4, 2}};
	const double p_all[] = {10 / 24.0, 4 / 24.0, 4 / 24.0, 1.5 / 24,
				1.5 / 24,  1.5 / 24, 1.5 / 24};
	/* the same with integer counts: double every count */
	const struct safem_count_class explicit_cl[] = {{20, 1}, {8, 2}, {3, 4}};
	double a[NQ], b[NQ];
	unsigned int j;

	(void)state;
	assert_int_equal(safem_tsallis_spectrum(kept, 2, 6.0, 4.0, 65536, q_default, NQ, a), 0);
	assert_int_equal(safem_tsallis_spectrum(explicit_cl, 3, 0, 0, 65536, q_default, NQ, b), 0);
	for (j = 0; j < NQ; j++) {
		assert_close(a[j], b[j], 1e-12);
		if (q_default[j] == 1.0)
			assert_close(a[j], safem_tsallis_raw(p_all, 7, 1.0) / log(65536), 1e-12);
	}
	/* q = 0 counts the remainder's values */
	assert_close(a[3], log(7.0) / log(65536.0), 1e-12);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_raw_uniform_closed_form),
		cmocka_unit_test(test_normalised_uniform),
		cmocka_unit_test(test_single_value_and_empty),
		cmocka_unit_test(test_q_one_continuity),
		cmocka_unit_test(test_negative_q_tiny_probabilities),
		cmocka_unit_test(test_classes_equal_expansion),
		cmocka_unit_test(test_remainder_equals_expansion),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
