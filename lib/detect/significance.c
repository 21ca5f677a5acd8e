/* SPDX-License-Identifier: BSD-3-Clause */
/* Count-based evidence: is a value's count in this window more than its baseline explains?
 * (docs/detection.md, "Evidence per value"). */
#include <math.h>

#include "detect_private.h"

/*
 * ln P(X >= k) for X ~ Poisson(lambda). Past the mean the tail is summed from k upwards,
 * relative to its first term e^-lambda lambda^k / k! (taken in logs): the terms then fall
 * at least geometrically, and tails far below 1e-300 stay exact instead of underflowing or
 * vanishing into 1 - CDF. At or below the mean the tail is large and 1 - P(X < k) is
 * exact enough (at most HEAD_SUM_MAX head terms; past that, the normal approximation).
 */
/* Past this mean the head sum gives way to the normal approximation (cost bound). */
#define HEAD_SUM_MAX 1000.0

double
detect_poisson_log_tail(double k, double lambda)
{
	double i, first, ratio, sum;

	k = ceil(k);
	if (!(k > 0))
		return 0.0; /* P(X >= 0) = 1 */
	if (!(lambda > 0))
		return -INFINITY; /* nothing expected, something seen */
	if (k <= lambda && lambda > HEAD_SUM_MAX) {
		/* A busy value (a server's 10^5 flows) would cost lambda exp() and lgamma()
		 * calls here, ~20 ms a call. Its tail at or below the mean is >= ~0.5, never
		 * evidence of anything: the normal approximation with continuity correction
		 * is exact enough (error O(1/sqrt(lambda)) < 3 % past HEAD_SUM_MAX). */
		return log(0.5 * erfc((k - 0.5 - lambda) / sqrt(2 * lambda)));
	}
	if (k <= lambda) {
		sum = 0;
		for (i = 0; i < k; i++)
			sum += exp(-lambda + i * log(lambda) - lgamma(i + 1));
		return log1p(-fmin(sum, 1.0));
	}
	first = -lambda + k * log(lambda) - lgamma(k + 1);
	sum = 1.0;
	ratio = 1.0;
	for (i = k + 1; ratio >= 1e-17 * sum; i++) {
		ratio *= lambda / i;
		sum += ratio;
	}
	return first + log(sum);
}
