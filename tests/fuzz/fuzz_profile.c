/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/detect: the baseline profile loader (--baseline FILE), reached the way
 * safem-probe reaches it: safem_detector_create with a TRAINED baseline.
 *
 * The profile must match the run's q set and directions, so the file is
 * tried against two runs: ALL only (no --home) and every direction (--home
 * set). A failure must name the file in its message. A profile that loads
 * is then used: two windows (an idle one and a busy one, at two hours of the
 * day so per-hour bands are looked up) go through the detector, which must
 * accept them (or refuse a sample rate the profile was not trained for) and
 * give a score that is a number.
 */
#include <math.h>
#include <string.h>

#include "fuzz_common.h"
#include "safem_detect.h"
#include "safem_featdist.h"

static FILE *devnull;

static void
use_detector(struct safem_detector *d, unsigned int directions)
{
	static const double q[] = SAFEM_SPECTRUM_Q_DEFAULT;
	static struct safem_window_summary w;
	unsigned int i, busy;

	for (busy = 0; busy < 2; busy++) {
		struct safem_detect_verdict v;
		int rc;

		memset(&w, 0, sizeof(w));
		/* 2023-11-14 00:00 UTC, then 13:00: two hour slots. */
		w.start_ms = 1699920000000ull + busy * 13 * 3600 * 1000ull;
		w.end_ms = w.start_ms + 10000;
		w.directions = directions | 1u << SAFEM_DIR_ALL;
		w.nq = SAFEM_SPECTRUM_Q_DEFAULT_COUNT;
		memcpy(w.q, q, sizeof(q));
		w.sample_rate = 1;
		if (busy) {
			double *spectrum = &w.spectrum[0][0][0][0];
			double *distinct = &w.distinct[0][0];

			for (i = 0; i < sizeof(w.spectrum) / sizeof(double); i++)
				spectrum[i] = 0.5;
			for (i = 0; i < sizeof(w.distinct) / sizeof(double); i++)
				distinct[i] = 1000;
			for (i = 0; i < 6; i++)
				w.tree_entropy[i / 3][i % 3] = 0.25;
		}
		rc = safem_detector_window(d, &w, devnull, &v);
		FUZZ_CHECK(rc == 0 || rc == -EINVAL);
		if (rc == 0)
			FUZZ_CHECK(!isnan(v.score));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned int direction_sets[] = {
		0, 1u << SAFEM_DIR_ALL | 1u << SAFEM_DIR_IN | 1u << SAFEM_DIR_OUT |
			   1u << SAFEM_DIR_INTERNAL};
	const char *path = fuzz_file(0, data, size);
	unsigned int i;

	if (devnull == NULL) {
		devnull = fopen("/dev/null", "w");
		FUZZ_CHECK(devnull != NULL);
	}

	for (i = 0; i < sizeof(direction_sets) / sizeof(direction_sets[0]); i++) {
		struct safem_detect_params p;
		struct safem_detector *d;
		char err[512] = "";

		safem_detect_params_init(&p);
		p.kind = SAFEM_BASELINE_TRAINED;
		p.profile_path = path;
		p.directions = direction_sets[i];
		d = safem_detector_create(&p, err, sizeof(err));
		if (d == NULL)
			FUZZ_CHECK(strstr(err, path) != NULL);
		else
			use_detector(d, direction_sets[i]);
		safem_detector_free(d);
	}
	return 0;
}
