/* SPDX-License-Identifier: BSD-3-Clause */
/* safem-train's inputs: feature files (libsvm text) and ground-truth labels. */
#ifndef SAFEM_TRAIN_INPUT_H
#define SAFEM_TRAIN_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "safem_classifier.h"

#define NO_START_MS UINT64_MAX

/* One window read from a feature file. */
struct sample {
	char label[SAFEM_CLASSIFIER_NAME_MAX]; /* as written: a class name or an index */
	uint64_t start_ms;		       /* NO_START_MS: no start_ms= comment */
	const char *file;
	unsigned long line;
};

/* The windows of every feature file read, features dense, nfeatures per row. */
struct sample_set {
	unsigned int nfeatures;
	size_t n;
	size_t cap;
	struct sample *s;
	double *x;
};

/* One ground-truth window. */
struct truth {
	uint64_t start_ms;
	uint64_t end_ms; /* UINT64_MAX: only start_ms known (CSV) */
	char cls[SAFEM_CLASSIFIER_NAME_MAX];
};

struct truth_set {
	size_t n;
	size_t cap;
	struct truth *t;
};

/*
 * Append the windows of a feature file: "LABEL I:V ... [# start_ms=S ...]",
 * indices ascending in 1..nfeatures; blank and '#' lines skipped. false with
 * "FILE:LINE: what" in err.
 */
bool samples_read(struct sample_set *set, const char *path, char *err, size_t errlen);
void samples_free(struct sample_set *set);

/* {"windows":[{"start_ms":N,"end_ms":N,"class":"NAME",...},...],...} */
bool truth_read_json(struct truth_set *t, const char *path, char *err, size_t errlen);
/* Lines "start_ms,class" (an optional header line "start_ms,class"). */
bool truth_read_csv(struct truth_set *t, const char *path, char *err, size_t errlen);
/* Sort by start; false (err) when two windows start at the same time with different classes. */
bool truth_finish(struct truth_set *t, const char *path, char *err, size_t errlen);
/* The class of the window starting at start_ms (exact start, else the one containing it), or NULL.
 */
const char *truth_class(const struct truth_set *t, uint64_t start_ms);
void truth_free(struct truth_set *t);

#endif /* SAFEM_TRAIN_INPUT_H */
