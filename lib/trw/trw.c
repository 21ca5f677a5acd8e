/* SPDX-License-Identifier: BSD-3-Clause */
/* The sequential tests' shared parts (safem_trw.h; docs/detection.md, "Shared parts of the
 * sequential tests (lib/trw)"). */
#include <math.h>

#include "safem_trw.h"

uint64_t
safem_trw_seen_size(uint64_t entries)
{
	uint64_t size = 16;

	while (size < 2 * entries)
		size *= 2;
	return size;
}

void
safem_trw_bloom_positions(uint64_t h, uint32_t pos[SAFEM_TRW_BLOOM_HASHES])
{
	/* double hashing (Kirsch and Mitzenmacher): the second hash odd, so that the probes
	 * differ whatever it is */
	uint64_t h2 = safem_trw_mix64(h ^ 0x6a09e667f3bcc909ull) | 1;
	unsigned int k;

	for (k = 0; k < SAFEM_TRW_BLOOM_HASHES; k++)
		pos[k] = (uint32_t)((h + k * h2) % SAFEM_TRW_BLOOM_BITS);
}

void
safem_trw_bloom_add(struct safem_trw_bloom *b, const uint32_t pos[SAFEM_TRW_BLOOM_HASHES])
{
	unsigned int k;

	if (b->inserts >= SAFEM_TRW_BLOOM_INSERTS) {
		memset(b->bits, 0, sizeof(b->bits));
		b->inserts = 0;
	}
	for (k = 0; k < SAFEM_TRW_BLOOM_HASHES; k++)
		b->bits[pos[k] / 64] |= 1ull << (pos[k] % 64);
	b->inserts++;
}

void
safem_trw_bounds_init(struct safem_trw_bounds *b, double theta0, double theta1, double pd,
		      double pf)
{
	b->step_success = log(theta1 / theta0);
	b->step_failure = log((1 - theta1) / (1 - theta0));
	b->log_eta1 = log(pd / pf);
	b->log_eta0 = log((1 - pd) / (1 - pf));
}

double
safem_trw_prior_theta0(const struct safem_trw_prior *p, double floor, double cap)
{
	double rate;

	if (p->observations < SAFEM_TRW_PRIOR_MIN)
		return floor;
	rate = (double)p->successes / p->observations;
	return rate < floor ? floor : rate > cap ? cap : rate;
}

uint64_t
safem_trw_prior_publish(struct safem_trw_prior *p, struct safem_trw_bounds *b, double floor,
			double cap, double theta1, double pd, double pf)
{
	double theta0 = safem_trw_prior_theta0(p, floor, cap);

	/* p->theta0 is what b's steps were built from: only the publish sets both */
	if (theta0 != p->theta0) {
		p->theta0 = theta0;
		safem_trw_bounds_init(b, theta0, theta1, pd, pf);
	}
	return (uint64_t)(theta0 * 1000 + 0.5);
}

enum safem_trw_step
safem_trw_walk_observe(const struct safem_trw_bounds *b, struct safem_trw_walk *w, bool success)
{
	bool crossed;

	w->llr += success ? b->step_success : b->step_failure;
	if (!success)
		w->failures_run++;
	if (w->llr <= b->log_eta0) {
		w->llr = 0;
		w->failures_run = 0;
		w->flagged = false;
		return SAFEM_TRW_RESET;
	}
	if (w->llr < b->log_eta1)
		return SAFEM_TRW_ON;
	crossed = !w->flagged;
	w->flagged = true;
	w->llr = b->log_eta1;
	return crossed ? SAFEM_TRW_FLAGGED : SAFEM_TRW_ON;
}

void
safem_trw_ports_add(struct safem_trw_ports *m, uint16_t port)
{
	unsigned int i, free_slot = SAFEM_TRW_PORT_COUNTERS;

	m->total++;
	for (i = 0; i < SAFEM_TRW_PORT_COUNTERS; i++) {
		if (m->count[i] != 0 && m->port[i] == port) {
			m->count[i]++;
			return;
		}
		if (m->count[i] == 0 && free_slot == SAFEM_TRW_PORT_COUNTERS)
			free_slot = i;
	}
	if (free_slot < SAFEM_TRW_PORT_COUNTERS) {
		m->port[free_slot] = port;
		m->count[free_slot] = 1;
		return;
	}
	for (i = 0; i < SAFEM_TRW_PORT_COUNTERS; i++)
		m->count[i]--;
}

uint64_t
safem_trw_ports_top(const struct safem_trw_ports *m, uint16_t *port, unsigned int *used)
{
	uint64_t held = 0;
	unsigned int i, best = 0, n = 0;

	for (i = 0; i < SAFEM_TRW_PORT_COUNTERS; i++) {
		held += m->count[i];
		n += m->count[i] != 0;
		if (m->count[i] > m->count[best])
			best = i;
	}
	*port = m->port[best];
	if (used != NULL)
		*used = n;
	return held;
}

bool
safem_trw_ports_few(const struct safem_trw_ports *m, uint64_t held)
{
	return held != 0 && 4 * held >= 3 * (uint64_t)m->total;
}

/* One stable counting pass over the digit of `bits` bits at `shift` of the hash (shift 64:
 * the flags), from src to dst. */
static void
order_pass(const struct safem_trw_order *src, struct safem_trw_order *dst, uint32_t n,
	   unsigned int shift)
{
	uint32_t count[1u << 11] = {0}, i, sum = 0, c;
	uint64_t mask = (1u << 11) - 1;

	for (i = 0; i < n; i++)
		count[shift == 64 ? src[i].flags : (src[i].hash >> shift) & mask]++;
	for (i = 0; i < (1u << 11); i++) {
		c = count[i];
		count[i] = sum;
		sum += c;
	}
	for (i = 0; i < n; i++)
		dst[count[shift == 64 ? src[i].flags : (src[i].hash >> shift) & mask]++] = src[i];
}

void
safem_trw_order_sort(struct safem_trw_order *r, struct safem_trw_order *tmp, uint32_t n)
{
	/* least significant key first, each pass stable: the flags (r to tmp), then the hash in
	 * six 11-bit digits (66 bits), back and forth: the sixth lands in tmp, copied back */
	order_pass(r, tmp, n, 64);
	for (unsigned int shift = 0; shift < 66; shift += 22) {
		order_pass(tmp, r, n, shift);
		order_pass(r, tmp, n, shift + 11);
	}
	memcpy(r, tmp, (size_t)n * sizeof(*r));
}

uint32_t
safem_trw_stage_run(const struct safem_trw_stage *st, void *ctx, void *cand, uint32_t n,
		    void *out, struct safem_trw_order *o, struct safem_trw_order *tmp)
{
	uint8_t *c = cand, *to = out;
	uint32_t i, kept = 0;

	for (i = 0; i < n; i++) {
		const uint8_t *e = c + (size_t)i * st->size;
		uint64_t hash;

		memcpy(&hash, e + st->hash_off, sizeof(hash));
		o[i] = (struct safem_trw_order){hash, i, e[st->flags_off]};
	}
	safem_trw_order_sort(o, tmp, n);
	for (i = 0; i < n; i++) {
		uint8_t *e = c + (size_t)o[i].idx * st->size;

		/* random once sorted: the candidate, then its log entry, then its tables */
		if (i + 3 * SAFEM_TRW_AHEAD < n)
			__builtin_prefetch(c + (size_t)o[i + 3 * SAFEM_TRW_AHEAD].idx * st->size);
		if (i + 2 * SAFEM_TRW_AHEAD < n) {
			const void *flow;

			memcpy(&flow, c + (size_t)o[i + 2 * SAFEM_TRW_AHEAD].idx * st->size +
					      st->flow_off,
			       sizeof(flow));
			__builtin_prefetch(flow);
		}
		if (i + SAFEM_TRW_AHEAD < n)
			st->fetch(ctx, c + (size_t)o[i + SAFEM_TRW_AHEAD].idx * st->size);
		if (st->keep(ctx, e))
			memcpy(to + (size_t)kept++ * st->size, e, st->size);
	}
	return kept;
}
