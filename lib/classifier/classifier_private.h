/* SPDX-License-Identifier: BSD-3-Clause */
/* Internal to lib/classifier: the classifier object and model helpers. */
#ifndef SAFEM_CLASSIFIER_PRIVATE_H
#define SAFEM_CLASSIFIER_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

#include <libsvm/svm.h>

#include "safem_classifier.h"

struct safem_classifier {
	unsigned int nfeatures;
	unsigned int nclasses;
	unsigned int normal_class;
	char (*feature_names)[SAFEM_CLASSIFIER_NAME_MAX];
	char class_names[SAFEM_CLASSIFIER_CLASSES_MAX][SAFEM_CLASSIFIER_NAME_MAX];
	double *scale_min; /* per feature, the training range */
	double *scale_max;
	struct svm_model *csvc;	 /* labels are class indices */
	struct svm_model *ocsvm; /* trained on normal_class windows */
	struct safem_classifier_holdout holdout; /* windows 0: not measured */
};

void classifier_set_error(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void classifier_quiet_libsvm(void);
/* A class or feature name: 1..NAME_MAX-1 printable characters, no blank. */
bool classifier_name_ok(const char *name);

/* NULL when h is consistent for nclasses, else what is wrong. */
const char *classifier_holdout_invalid(const struct safem_classifier_holdout *h,
				       unsigned int nclasses);
struct safem_classifier *classifier_alloc(unsigned int nfeatures, unsigned int nclasses);
struct svm_model *model_alloc(int svm_type, double gamma, int nr_class, int l, size_t nodes,
			      bool classification, bool probability);
void model_free(struct svm_model *m);

#endif /* SAFEM_CLASSIFIER_PRIVATE_H */
