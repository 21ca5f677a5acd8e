/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SAFEM_HASH_H
#define SAFEM_HASH_H

/**
 * @file
 * The 64-bit finaliser the flow-side tables hash their keys through (lib/aggtree's prefix
 * table, lib/featdist's value table, lib/profile's host and feature keys): one definition,
 * where there were three copies to keep equal by hand. Header only and inline: the
 * distributions call it for every feature value of every flow.
 *
 * Kept here rather than taken from a Debian library: it is five instructions, and DPDK's
 * rte_hash_crc / rte_jhash hash byte strings, not one 64-bit word, and give other values
 * (the tables' orders, and with them the outputs' ties, would change).
 */

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** MurmurHash3's fmix64: every input bit reaches every output bit; a bijection, 0 to 0. */
static inline uint64_t
safem_hash_fmix64(uint64_t x)
{
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	x *= UINT64_C(0xc4ceb9fe1a85ec53);
	x ^= x >> 33;
	return x;
}

#ifdef __cplusplus
}
#endif

#endif /* SAFEM_HASH_H */
