/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shannon entropy and SAFEM eq. 1 on aggregated profiles. Everything is
 * computed in nats and converted to the requested base at the end, so the
 * base only scales the result (as the paper says it should).
 */
#include <math.h>

#include "safem_entropy.h"

/* ln(base), or NAN when the base cannot be a logarithm base. */
static double
entropy_ln_base(double log_base)
{
	if (!isfinite(log_base) || log_base <= 0.0 || log_base == 1.0)
		return NAN;
	return log(log_base);
}

double
safem_entropy_shannon(const uint64_t *counts, size_t n, double log_base)
{
	double ln_base = entropy_ln_base(log_base);
	double total = 0.0, sum_nats = 0.0;
	size_t i;

	if (isnan(ln_base))
		return NAN;
	for (i = 0; i < n; i++)
		total += (double)counts[i];
	if (total == 0.0)
		return 0.0;
	/* -sum p ln p rather than ln T - sum c ln c / T: no cancellation when H is small. */
	for (i = 0; i < n; i++) {
		double p;

		if (counts[i] == 0)
			continue;
		p = (double)counts[i] / total;
		sum_nats -= p * log(p);
	}
	return sum_nats / ln_base;
}

void
safem_entropy_acc_init(struct safem_entropy_acc *acc)
{
	acc->sum_nats = 0.0;
	acc->support_scaled = 0.0;
	acc->support_max_bits = -1;
}

void
safem_entropy_acc_add(struct safem_entropy_acc *acc, double share, unsigned int host_bits)
{
	int bits = (int)host_bits;

	if (!(share > 0.0))
		return;
	/* SAFEM eq. 1: 2^h addresses of s / 2^h each contribute -s log(s / 2^h). */
	acc->sum_nats += share * (-log(share) + (double)host_bits * M_LN2);
	/*
	 * Support S = sum 2^h, kept as 2^max * support_scaled (log-sum-exp in
	 * base 2): a /0 has 2^128 addresses, beyond what a sum of doubles can
	 * add exactly, and this form stays exact for the small terms.
	 */
	if (bits > acc->support_max_bits) {
		if (acc->support_max_bits >= 0)
			acc->support_scaled =
				ldexp(acc->support_scaled, acc->support_max_bits - bits);
		acc->support_max_bits = bits;
	}
	acc->support_scaled += ldexp(1.0, bits - acc->support_max_bits);
}

double
safem_entropy_acc_value(const struct safem_entropy_acc *acc, double log_base)
{
	double ln_base = entropy_ln_base(log_base);

	if (isnan(ln_base))
		return NAN;
	return acc->sum_nats / ln_base;
}

double
safem_entropy_acc_log_support(const struct safem_entropy_acc *acc, double log_base)
{
	double ln_base = entropy_ln_base(log_base);

	if (isnan(ln_base))
		return NAN;
	if (acc->support_max_bits < 0)
		return 0.0;
	return ((double)acc->support_max_bits + log2(acc->support_scaled)) * M_LN2 / ln_base;
}

double
safem_entropy_acc_normalised(const struct safem_entropy_acc *acc, double log_base)
{
	double ln_base = entropy_ln_base(log_base);
	double log_support, h;

	if (isnan(ln_base))
		return NAN;
	/* The base cancels in the ratio; work in bits. */
	log_support = safem_entropy_acc_log_support(acc, 2.0);
	if (!(log_support > 0.0))
		return 0.0; /* one address (or nothing): no dispersion possible */
	h = safem_entropy_acc_value(acc, 2.0) / log_support;
	if (h < 0.0)
		return 0.0;
	return h > 1.0 ? 1.0 : h;
}

static void
entropy_acc_arrays(struct safem_entropy_acc *acc, const double *shares, const uint8_t *host_bits,
		   size_t n)
{
	size_t i;

	safem_entropy_acc_init(acc);
	for (i = 0; i < n; i++)
		safem_entropy_acc_add(acc, shares[i], host_bits[i]);
}

double
safem_entropy_aggregated(const double *shares, const uint8_t *host_bits, size_t n, double log_base)
{
	struct safem_entropy_acc acc;

	entropy_acc_arrays(&acc, shares, host_bits, n);
	return safem_entropy_acc_value(&acc, log_base);
}

double
safem_entropy_aggregated_normalised(const double *shares, const uint8_t *host_bits, size_t n,
				    double log_base)
{
	struct safem_entropy_acc acc;

	entropy_acc_arrays(&acc, shares, host_bits, n);
	return safem_entropy_acc_normalised(&acc, log_base);
}
