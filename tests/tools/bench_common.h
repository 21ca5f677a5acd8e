/* SPDX-License-Identifier: BSD-3-Clause */
/* What the flow cache benchmarks share: a seeded stream and a clock. */
#ifndef SAFEM_BENCH_COMMON_H
#define SAFEM_BENCH_COMMON_H

#include <stdint.h>
#include <time.h>

/* splitmix64: deterministic, so every run draws the same flows. */
static inline uint64_t
splitmix64(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static inline uint64_t
bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif /* SAFEM_BENCH_COMMON_H */
