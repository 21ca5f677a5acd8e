/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/classifier: the model bundle loader (the libsvm models inside it are
 * read and checked by our reader before libsvm sees them).
 *
 * The file is loaded twice: with the probe's feature layout, as safem-probe
 * does, and with any layout (as tools do). A model that loads is then used:
 * a prediction must not crash (libsvm trusts what the loader let through) and
 * its probabilities must be a distribution over the model's classes.
 */
#include <math.h>
#include <string.h>

#include "fuzz_common.h"
#include "safem_classifier.h"

static void
use_model(const struct safem_classifier *c)
{
	static double features[SAFEM_CLASSIFIER_FEATURES_MAX], scaled[SAFEM_CLASSIFIER_FEATURES_MAX];
	struct safem_classifier_verdict v;
	unsigned int n = safem_classifier_features(c), k, nclasses = safem_classifier_classes(c);
	double sum = 0;

	FUZZ_CHECK(n >= 1 && n <= SAFEM_CLASSIFIER_FEATURES_MAX);
	FUZZ_CHECK(nclasses >= 2 && nclasses <= SAFEM_CLASSIFIER_CLASSES_MAX);
	for (k = 0; k < nclasses; k++)
		FUZZ_CHECK(safem_classifier_class_name(c, k) != NULL);
	/* An all-zero window, as the probe sees on an idle link. */
	FUZZ_CHECK(safem_classifier_scale(c, features, n, scaled) == 0);
	FUZZ_CHECK(safem_classifier_predict(c, features, n, &v) == 0);
	FUZZ_CHECK(v.nclasses == nclasses);
	FUZZ_CHECK(v.class_index < nclasses);
	for (k = 0; k < nclasses; k++) {
		FUZZ_CHECK(!(v.class_probability[k] < 0) && !(v.class_probability[k] > 1));
		sum += v.class_probability[k];
	}
	/* libsvm's pairwise coupling normalises; NaN here means a model that
	 * should not have loaded. */
	FUZZ_CHECK(!isnan(sum));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file(0, data, size);
	struct safem_classifier *c;
	char err[512] = "";

	c = safem_classifier_load(path, err, sizeof(err));
	if (c != NULL) {
		use_model(c);
		safem_classifier_free(c);
	} else {
		FUZZ_CHECK(strstr(err, path) != NULL);
	}
	err[0] = '\0';
	c = safem_classifier_load_layout(path, NULL, 0, err, sizeof(err));
	if (c != NULL) {
		use_model(c);
		safem_classifier_free(c);
	} else {
		FUZZ_CHECK(strstr(err, path) != NULL);
	}
	return 0;
}
