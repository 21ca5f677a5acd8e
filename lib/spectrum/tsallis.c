/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Tsallis entropy spectrum (seed 001, Tellenbach et al.). Every S_q is computed
 * in a form that stays exact near q = 1 and cannot overflow for negative q:
 *
 *   sum_i p_i^q - 1 = sum_i p_i * expm1((q - 1) ln p_i)        (sum p_i = 1)
 *
 * so S_q = -sum_i p_i expm1((q - 1) ln p_i) / (q - 1) has no 1 - (1 + tiny)
 * cancellation as q -> 1. For q < 0 the sum of p^q is kept in log space
 * relative to its largest term (the smallest p), and the normalised value
 * (X - 1) / (X_u - 1) with X = sum p^q, X_u = n^(1-q) is formed from the logs.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "safem_spectrum.h"

/* |q - 1| below this takes the Shannon limit (header contract). */
#define SHANNON_Q_TOLERANCE 1e-9
/* |q| below this is the count (q = 0) entry. */
#define COUNT_Q_TOLERANCE 1e-12

static int
is_shannon_q(double q)
{
	return fabs(q - 1.0) <= SHANNON_Q_TOLERANCE;
}

static int
is_count_q(double q)
{
	return fabs(q) <= COUNT_Q_TOLERANCE;
}

/* S_q of the uniform distribution over n values, n >= 1, q not 1. */
static double
tsallis_uniform(double n, double q)
{
	return expm1((1.0 - q) * log(n)) / (1.0 - q);
}

double
safem_tsallis_raw(const double *p, size_t n, double q)
{
	double sum_p = 0.0, acc = 0.0;
	size_t i;

	if (p == NULL)
		return 0.0;
	for (i = 0; i < n; i++) {
		if (!(p[i] > 0.0))
			continue;
		sum_p += p[i];
		if (is_shannon_q(q))
			acc -= p[i] * log(p[i]);
		else
			acc += p[i] * expm1((q - 1.0) * log(p[i]));
	}
	if (is_shannon_q(q))
		return acc;
	/* sum p^q - 1 = acc + (sum p - 1): exact also when p does not sum to 1 exactly. */
	return -(acc + (sum_p - 1.0)) / (q - 1.0);
}

/* One value class of the distribution: `values` values of probability exp(ln_p). */
struct spectrum_class {
	double ln_p;
	double values;
};

/* Per-q accumulators. */
struct spectrum_acc {
	double shannon;	     /* -sum p ln p */
	double pq_minus_one; /* q > 0: sum p expm1((q-1) ln p) */
	double scaled_pq;    /* q < 0: sum values * exp(q ln p - scale) */
};

static void
spectrum_add_class(const struct spectrum_class *c, const double *q, unsigned int nq,
		   double ln_p_min, struct spectrum_acc *acc)
{
	double p = exp(c->ln_p);
	unsigned int k;

	for (k = 0; k < nq; k++) {
		if (is_count_q(q[k]))
			continue;
		if (is_shannon_q(q[k]))
			acc[k].shannon -= c->values * p * c->ln_p;
		else if (q[k] > 0.0)
			acc[k].pq_minus_one += c->values * p * expm1((q[k] - 1.0) * c->ln_p);
		else /* scale: the largest single term, p_min^q; every term is <= 1 */
			acc[k].scaled_pq += c->values * exp(q[k] * (c->ln_p - ln_p_min));
	}
}

int
safem_tsallis_spectrum(const struct safem_count_class *classes, size_t nclasses,
		       double remainder_mass, double remainder_values, double space,
		       const double *q, unsigned int nq, double *out)
{
	struct spectrum_acc acc[SAFEM_SPECTRUM_Q_MAX] = {{0}};
	double total = 0.0, n = 0.0, ln_total, ln_p_min, ln_space;
	double min_count = INFINITY;
	struct spectrum_class c;
	size_t i;
	unsigned int k;

	if (q == NULL || out == NULL || nq == 0 || nq > SAFEM_SPECTRUM_Q_MAX || !(space >= 2.0) ||
	    (classes == NULL && nclasses > 0))
		return -EINVAL;
	for (k = 0; k < nq; k++)
		out[k] = 0.0;

	for (i = 0; i < nclasses; i++) {
		if (classes[i].count == 0 || classes[i].values == 0)
			continue;
		total += (double)classes[i].count * (double)classes[i].values;
		n += (double)classes[i].values;
		min_count = fmin(min_count, (double)classes[i].count);
	}
	if (remainder_mass > 0.0) {
		/* the remainder holds at least one value (header contract: >= 1) */
		remainder_values = fmax(remainder_values, 1.0);
		total += remainder_mass;
		n += remainder_values;
		min_count = fmin(min_count, remainder_mass / remainder_values);
	}
	if (n < 2.0 || !(total > 0.0))
		return 0;

	ln_total = log(total);
	ln_p_min = log(min_count) - ln_total;
	for (i = 0; i < nclasses; i++) {
		if (classes[i].count == 0 || classes[i].values == 0)
			continue;
		c.ln_p = log((double)classes[i].count) - ln_total;
		c.values = (double)classes[i].values;
		spectrum_add_class(&c, q, nq, ln_p_min, acc);
	}
	if (remainder_mass > 0.0) {
		c.ln_p = log(remainder_mass / remainder_values) - ln_total;
		c.values = remainder_values;
		spectrum_add_class(&c, q, nq, ln_p_min, acc);
	}

	ln_space = log(space);
	for (k = 0; k < nq; k++) {
		double v;

		if (is_count_q(q[k])) {
			v = log(n) / ln_space;
		} else if (is_shannon_q(q[k])) {
			v = acc[k].shannon / ln_space;
		} else if (q[k] > 0.0) {
			v = (-acc[k].pq_minus_one / (q[k] - 1.0)) / tsallis_uniform(space, q[k]);
		} else {
			/* (X - 1) / (X_u - 1) = e^(lnX - lnX_u) * expm1(-lnX) / expm1(-lnX_u) */
			double ln_x = q[k] * ln_p_min + log(acc[k].scaled_pq);
			double ln_xu = (1.0 - q[k]) * log(n);

			v = exp(ln_x - ln_xu) * (expm1(-ln_x) / expm1(-ln_xu));
		}
		if (q[k] >= 0.0)
			v = fmin(fmax(v, 0.0), 1.0); /* rounding only */
		out[k] = v;
	}
	return 0;
}
