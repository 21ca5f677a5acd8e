/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/hash: MurmurHash3's fmix64 against known answers. The flow-side tables (lib/aggtree,
 * lib/featdist, lib/profile) take their slots, and so their iteration orders and the ties
 * of their outputs, from it: a changed constant or shift must fail here, not only show as
 * reordered reports. The values: MurmurHash3's reference fmix64 (fmix64(1) is the one
 * published with it), recomputed independently with 64-bit arithmetic in Python. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "safem_hash.h"

static void
test_fmix64_known_answers(void **state)
{
	(void)state;
	/* a bijection that keeps 0 at 0: lib/profile's value hash relies on it (0 = empty) */
	assert_int_equal(safem_hash_fmix64(0), 0);
	assert_int_equal(safem_hash_fmix64(1), UINT64_C(0xb456bcfc34c2cb2c));
	assert_int_equal(safem_hash_fmix64(UINT64_C(0x0123456789abcdef)),
			 UINT64_C(0x87cbfbfe89022cea));
	assert_int_equal(safem_hash_fmix64(UINT64_MAX), UINT64_C(0x64b5720b4b825f21));
}

static void
test_fmix64_every_bit_reaches_slots(void **state)
{
	unsigned int bit;

	(void)state;
	/* every input bit reaches the low 16 bits (the slot bits of a table of 2^16 lines;
	 * lib/aggtree keeps the low 32): flipping any one bit of an IPv4-like key moves it */
	for (bit = 0; bit < 64; bit++) {
		uint64_t a = safem_hash_fmix64(UINT64_C(0x0a000001));
		uint64_t b = safem_hash_fmix64(UINT64_C(0x0a000001) ^ (UINT64_C(1) << bit));

		assert_true(((a ^ b) & 0xffff) != 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fmix64_known_answers),
		cmocka_unit_test(test_fmix64_every_bit_reaches_slots),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
