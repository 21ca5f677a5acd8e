/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/pace: the token bucket on an explicit clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "safem_pace.h"

#define MS 1000000ull

/* A full bucket lets the burst go at once, then nothing until it refills. */
static void
test_burst_then_rate(void **state)
{
	struct safem_pace p;
	uint64_t t = 5 * MS, sent = 0;
	unsigned int i;

	(void)state;
	safem_pace_init(&p, 1000000, 10000, t); /* 1 MB/s, 10 KB deep */
	while (safem_pace_ready(&p, 1000, t)) {
		safem_pace_spend(&p, 1000);
		sent += 1000;
	}
	assert_int_equal(sent, 10000);
	assert_int_equal(safem_pace_wait_ns(&p, 1000, t), 1 * MS);
	assert_false(safem_pace_ready(&p, 1000, t + MS - 1));
	assert_true(safem_pace_ready(&p, 1000, t + MS));
	/* Sending as fast as allowed for a second: burst + rate x 1 s, no more. */
	for (i = 0; i < 1000000; i++) {
		uint64_t now = t + i * 1000ull; /* every microsecond */

		while (safem_pace_ready(&p, 1000, now)) {
			safem_pace_spend(&p, 1000);
			sent += 1000;
		}
	}
	assert_true(sent <= 10000 + 1000000 + 1000);
	assert_true(sent >= 10000 + 1000000 - 1000);
}

/* An idle bucket never holds more than its depth. */
static void
test_idle_caps_at_burst(void **state)
{
	struct safem_pace p;
	uint64_t sent = 0, t = 0;

	(void)state;
	safem_pace_init(&p, 1000000, 4000, t);
	t += 3600ull * 1000 * MS; /* an hour idle */
	while (safem_pace_ready(&p, 500, t)) {
		safem_pace_spend(&p, 500);
		sent += 500;
	}
	assert_int_equal(sent, 4000);
}

/* A message larger than the burst goes alone from a full bucket, and is paid for. */
static void
test_large_message(void **state)
{
	struct safem_pace p;

	(void)state;
	safem_pace_init(&p, 1000000, 1000, 0);
	assert_true(safem_pace_ready(&p, 9000, 0));
	safem_pace_spend(&p, 9000);
	/* 8000 bytes of debt plus a full bucket again: 9 ms at 1 MB/s. */
	assert_false(safem_pace_ready(&p, 9000, 9 * MS - 1000));
	assert_true(safem_pace_ready(&p, 9000, 9 * MS));
}

/* Rate 0: unlimited. A clock that goes back adds nothing. */
static void
test_unlimited_and_clock_back(void **state)
{
	struct safem_pace p;
	unsigned int i;

	(void)state;
	safem_pace_init(&p, 0, 1, 0);
	for (i = 0; i < 1000; i++) {
		assert_true(safem_pace_ready(&p, 65535, 0));
		safem_pace_spend(&p, 65535);
	}
	assert_int_equal(safem_pace_wait_ns(&p, 65535, 0), 0);
	safem_pace_init(&p, 1000, 1000, 10 * MS);
	safem_pace_spend(&p, 1000);
	assert_false(safem_pace_ready(&p, 1, 5 * MS));
	assert_false(safem_pace_ready(&p, 1, 10 * MS));
	assert_true(safem_pace_ready(&p, 1, 11 * MS));
	assert_true(safem_pace_now_ns() > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_rate),
		cmocka_unit_test(test_idle_caps_at_burst),
		cmocka_unit_test(test_large_message),
		cmocka_unit_test(test_unlimited_and_clock_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
