/* SPDX-License-Identifier: BSD-3-Clause */
#include <math.h>
#include <time.h>

#include "safem_pace.h"

#define NS_PER_S 1000000000.0

void
safem_pace_init(struct safem_pace *p, uint64_t rate_bytes_s, uint64_t burst_bytes, uint64_t now_ns)
{
	p->rate_bytes_per_ns = (double)rate_bytes_s / NS_PER_S;
	p->burst_bytes = burst_bytes != 0 ? (double)burst_bytes : 1.0;
	p->tokens = p->burst_bytes;
	p->last_ns = now_ns;
}

static void
refill(struct safem_pace *p, uint64_t now_ns)
{
	/* A clock read before the last one (another caller's older reading)
	 * adds nothing rather than taking tokens away. */
	if (now_ns <= p->last_ns)
		return;
	p->tokens = fmin(p->burst_bytes,
			 p->tokens + (double)(now_ns - p->last_ns) * p->rate_bytes_per_ns);
	p->last_ns = now_ns;
}

bool
safem_pace_ready(struct safem_pace *p, uint64_t bytes, uint64_t now_ns)
{
	if (p->rate_bytes_per_ns == 0)
		return true;
	refill(p, now_ns);
	return p->tokens >= fmin((double)bytes, p->burst_bytes);
}

void
safem_pace_spend(struct safem_pace *p, uint64_t bytes)
{
	if (p->rate_bytes_per_ns != 0)
		p->tokens -= (double)bytes;
}

uint64_t
safem_pace_wait_ns(const struct safem_pace *p, uint64_t bytes, uint64_t now_ns)
{
	double want, have;

	if (p->rate_bytes_per_ns == 0)
		return 0;
	want = fmin((double)bytes, p->burst_bytes);
	have = p->tokens;
	if (now_ns > p->last_ns)
		have = fmin(p->burst_bytes,
			    have + (double)(now_ns - p->last_ns) * p->rate_bytes_per_ns);
	if (have >= want)
		return 0;
	return (uint64_t)ceil((want - have) / p->rate_bytes_per_ns);
}

uint64_t
safem_pace_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
