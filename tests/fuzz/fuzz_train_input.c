/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * app/safem-train/train_input.c: feature files (libsvm text) and ground-truth
 * labels (JSON and CSV). The first input byte picks the reader (mod 3:
 * 0 features, 1 JSON truth, 2 CSV truth), the rest is the file.
 *
 * Checks beyond memory safety: a failed read names the file in its message
 * and leaves the sample set as it was; every sample read has a label; the
 * truth set is sorted by start after truth_finish and truth_class finds each
 * window's class by its start.
 */
#include <string.h>

#include "fuzz_common.h"
#include "safem_classifier.h"
#include "train_input.h"

static void
fuzz_samples(const char *path)
{
	struct sample_set set = {.nfeatures = SAFEM_CLASSIFIER_FEATURES};
	char err[512] = "";
	size_t i;

	if (!samples_read(&set, path, err, sizeof(err))) {
		FUZZ_CHECK(strstr(err, path) != NULL);
		FUZZ_CHECK(set.n == 0);
	}
	for (i = 0; i < set.n; i++) {
		FUZZ_CHECK(set.s[i].label[0] != '\0');
		FUZZ_CHECK(strlen(set.s[i].label) < sizeof(set.s[i].label));
		FUZZ_CHECK(set.s[i].line >= 1);
	}
	samples_free(&set);
}

static void
fuzz_truth(const char *path, bool json)
{
	struct truth_set t = {0};
	char err[512] = "";
	size_t i;
	bool ok;

	ok = json ? truth_read_json(&t, path, err, sizeof(err))
		  : truth_read_csv(&t, path, err, sizeof(err));
	if (ok)
		ok = truth_finish(&t, path, err, sizeof(err));
	if (!ok) {
		FUZZ_CHECK(strstr(err, path) != NULL);
	} else {
		for (i = 0; i < t.n; i++) {
			const char *cls = truth_class(&t, t.t[i].start_ms);

			FUZZ_CHECK(i == 0 || t.t[i - 1].start_ms <= t.t[i].start_ms);
			/* Equal starts carry equal classes (truth_finish rejects others). */
			FUZZ_CHECK(cls != NULL && strcmp(cls, t.t[i].cls) == 0);
		}
	}
	truth_free(&t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path;

	if (size < 1)
		return 0;
	path = fuzz_file(0, data + 1, size - 1);
	switch (data[0] % 3) {
	case 0:
		fuzz_samples(path);
		break;
	case 1:
		fuzz_truth(path, true);
		break;
	default:
		fuzz_truth(path, false);
		break;
	}
	return 0;
}
