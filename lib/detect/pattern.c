/* SPDX-License-Identifier: BSD-3-Clause */
/* Deviation from the normal band, the score, and spectrum patterns (seed 001:
 * '+' above, '0' inside, '-' below the band, one character per q). */
#include <math.h>

#include "detect_private.h"

/* The band scale never drops below this share of the band's magnitude plus the
 * absolute floor: a band trained on near-constant values must not turn rounding
 * noise into deviations. */
#define BAND_SCALE_RELATIVE_FLOOR 0.02
#define BAND_SCALE_ABSOLUTE_FLOOR 0.001

double
band_scale(double lo, double hi)
{
	return fmax(hi - lo, BAND_SCALE_RELATIVE_FLOOR * fmax(fabs(lo), fabs(hi)) +
				     BAND_SCALE_ABSOLUTE_FLOOR);
}

void
deviation_compute(const struct metric_layout *l, const double *x, const double *lo,
		  const double *hi, double margin, unsigned int skip_dirs, struct deviation *dev)
{
	unsigned int m;

	dev->score = 0;
	dev->flow_score = 0;
	for (m = 0; m <= DIRS; m++)
		dev->dir_score[m] = 0;
	dev->deviating = 0;
	dev->lo = lo;
	dev->hi = hi;
	dev->margin = margin;
	for (m = 0; m < l->count; m++) {
		double scale, distance;

		dev->sign[m] = 0;
		if (!metric_in_use(l, m) || !(lo[m] <= hi[m]) ||
		    (skip_dirs & (1u << metric_direction(l, m))) != 0)
			continue;
		scale = band_scale(lo[m], hi[m]);
		if (x[m] > hi[m] + margin * scale) {
			dev->sign[m] = 1;
			distance = (x[m] - hi[m]) / scale;
		} else if (x[m] < lo[m] - margin * scale) {
			dev->sign[m] = -1;
			distance = (lo[m] - x[m]) / scale;
		} else {
			continue;
		}
		dev->deviating++;
		distance = metric_weight(l, m) * fmin(distance, METRIC_SCORE_CAP);
		dev->score += distance;
		if (metric_weight(l, m) >= 1.0)
			dev->flow_score += distance;
		dev->dir_score[metric_direction(l, m)] += distance;
	}
}

void
pattern_string(const struct metric_layout *l, const struct deviation *dev, unsigned int dir,
	       unsigned int feat, unsigned int weight, char *out)
{
	unsigned int qi;

	for (qi = 0; qi < l->nq; qi++) {
		int8_t s = dev->sign[metric_spectrum(l, dir, feat, weight, qi)];

		out[qi] = s > 0 ? '+' : s < 0 ? '-' : '0';
	}
	out[l->nq] = '\0';
}

bool
pattern_deviates(const struct metric_layout *l, const struct deviation *dev, unsigned int dir,
		 unsigned int feat)
{
	unsigned int weight, qi;

	for (weight = 0; weight < WEIGHTS; weight++)
		for (qi = 0; qi < l->nq; qi++)
			if (dev->sign[metric_spectrum(l, dir, feat, weight, qi)] != 0)
				return true;
	return dev->sign[metric_distinct(l, dir, feat)] != 0;
}
