/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/detect: the baseline profile loader (--baseline FILE), reached the way
 * safem-probe reaches it: safem_detector_create with a TRAINED baseline.
 *
 * The profile must match the run's q set and directions, so the file is
 * tried against two runs: ALL only (no --home) and every direction (--home
 * set). A failure must name the file in its message.
 */
#include <string.h>

#include "fuzz_common.h"
#include "safem_detect.h"
#include "safem_featdist.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned int direction_sets[] = {
		0, 1u << SAFEM_DIR_ALL | 1u << SAFEM_DIR_IN | 1u << SAFEM_DIR_OUT |
			   1u << SAFEM_DIR_INTERNAL};
	const char *path = fuzz_file(0, data, size);
	unsigned int i;

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
		safem_detector_free(d);
	}
	return 0;
}
