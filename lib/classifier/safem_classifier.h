/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SAFEM_CLASSIFIER_H
#define SAFEM_CLASSIFIER_H

/**
 * @file
 * SVM classification of window summaries (the SAFEM paper's "classifier
 * relying on multiple features", seed 000), with libsvm:
 *
 *  - the feature vector: a fixed layout computed from one window summary
 *    (and the baseline mean, for the deviations), docs/classifier.md;
 *  - min/max scaling to [-1, 1] learnt on the training windows (svm-scale);
 *  - a multi-class C-SVC (RBF kernel, probability estimates) telling which
 *    class a window looks like, and a one-class SVM (RBF, nu) trained on
 *    the normal windows only telling how unlike normal traffic it is;
 *  - the model bundle: one text file with the layout, the class names, the
 *    scaling table and both libsvm models (docs/classifier.md), written
 *    complete-or-absent, read back with every field checked before libsvm
 *    sees it;
 *  - training helpers (k-fold cross-validation over a C x gamma grid) for
 *    app/safem-train.
 *
 * Not for the packet path: prediction costs microseconds to a fraction of a
 * millisecond per window (it grows with the number of support vectors;
 * docs/classifier.md has measured figures). Nothing here prints: libsvm's
 * own printing is silenced for the process.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "safem_spectrum.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Feature vector ---------------------------------------------------- */

/**
 * Size of the layout. Blocks, in order (docs/classifier.md has the table):
 *   6  tree entropies (src, dst) x (bytes, packets, flows)
 *  84  Tsallis spectrum: feature x weight x q (q of SAFEM_SPECTRUM_Q_DEFAULT)
 *   3  log10(1 + packets / bytes / flows)
 *   4  ln(1 + distinct values) per feature
 *   5  flow shares per protocol class
 *   4  top-1 value share (of packets) per feature
 * 106  the 106 above minus the same computed from the baseline mean (0 without one)
 *   7  flags: direction_in, empty, no_baseline, spectrum_missing per feature
 */
#define SAFEM_CLASSIFIER_FEATURES 219
/** Value of a feature that cannot be computed (its flag says so). */
#define SAFEM_CLASSIFIER_MISSING 0.0

/**
 * The feature vector of window w, in the layout above, for its primary
 * direction (IN when w->directions has it, else ALL).
 * @param baseline_mean  mean summary of the normal windows (the probe passes the
 *                       detector's, safem_detector_baseline_mean: one baseline), or NULL
 * @return SAFEM_CLASSIFIER_FEATURES, or -EINVAL (NULL w/out) / -ENOSPC (max too small)
 */
int safem_features_from_summary(const struct safem_window_summary *w,
				const struct safem_window_summary *baseline_mean, double *out,
				unsigned int max);

/** Name of feature i ("tree_src_bytes", "ts_dst_port_packets_q-0.5", ...); NULL past the end. */
const char *safem_feature_name_at(unsigned int i);

/**
 * One line of a feature file (libsvm text format, 1-based indices, zeros
 * left out): "LABEL i:v ... # start_ms=S end_ms=E\n". label NULL: "0".
 * Returns 0 or -EIO.
 */
int safem_features_write_line(FILE *f, const char *label, const double *x, unsigned int n,
			      uint64_t start_ms, uint64_t end_ms);

/* ---- Model --------------------------------------------------------------- */

#define SAFEM_CLASSIFIER_CLASSES_MAX 32
#define SAFEM_CLASSIFIER_FEATURES_MAX 1024 /**< features of a model (any layout) */
#define SAFEM_CLASSIFIER_NAME_MAX 64	   /**< bytes of a class or feature name, with the NUL */

struct safem_classifier;

struct safem_classifier_verdict {
	unsigned int class_index;
	const char *class_name; /**< owned by the classifier */
	double probability;	/**< of class_index */
	unsigned int nclasses;
	double class_probability[SAFEM_CLASSIFIER_CLASSES_MAX]; /**< by class index */
	double novelty_score; /**< one-class SVM decision value: < 0 unlike the normal windows */
	bool novel;	      /**< novelty_score < 0 */
};

/**
 * Load a model bundle written by safem_classifier_save whose layout is the
 * probe's (SAFEM_CLASSIFIER_FEATURES names of safem_feature_name_at).
 * NULL on a missing, unreadable, corrupt or truncated file or a layout
 * mismatch, with a message naming the file (and line, and what differs) in
 * err; errno set (ENOENT, EINVAL, ENOMEM...).
 */
struct safem_classifier *safem_classifier_load(const char *path, char *err, size_t errlen);

/** As safem_classifier_load, for the layout given (names NULL: any layout). */
struct safem_classifier *safem_classifier_load_layout(const char *path, const char *const *names,
						      unsigned int nfeatures, char *err,
						      size_t errlen);

/**
 * Classify one feature vector (unscaled, n = the model's feature count).
 * Thread-safe on a shared classifier (libsvm allocates a little scratch per
 * call). Returns 0 or -EINVAL (n differs, NULL).
 */
int safem_classifier_predict(const struct safem_classifier *c, const double *features,
			     unsigned int n, struct safem_classifier_verdict *v);

/**
 * The scaled vector the SVMs see: each feature mapped from its training
 * [min, max] to [-1, 1] (outside the range: beyond, not clipped; a feature
 * constant in training: 0). 0 or -EINVAL.
 */
int safem_classifier_scale(const struct safem_classifier *c, const double *features, unsigned int n,
			   double *out);

unsigned int safem_classifier_features(const struct safem_classifier *c);
unsigned int safem_classifier_classes(const struct safem_classifier *c);
const char *safem_classifier_class_name(const struct safem_classifier *c, unsigned int i);
/** Class index of name, or -1. */
int safem_classifier_class_index(const struct safem_classifier *c, const char *name);
/** Support vectors of the C-SVC and of the one-class SVM (for cost reports). */
void safem_classifier_support_vectors(const struct safem_classifier *c, unsigned int *csvc,
				      unsigned int *ocsvm);

/**
 * Held-out precision (docs/classifier.md, "Held-out precision"): how often the model was
 * right when it named a class, on windows it never trained on. safem-train measures it
 * and the bundle keeps it; the probe lets a class's SVM verdict alone raise an alert only
 * when this precision meets the detector's bar (docs/detection.md).
 */
struct safem_classifier_holdout {
	uint64_t windows;	/**< held-out windows; 0: never measured */
	double min_probability; /**< a verdict counted when its probability is at least this */
	uint64_t predicted[SAFEM_CLASSIFIER_CLASSES_MAX]; /**< counted verdicts per class */
	uint64_t correct[SAFEM_CLASSIFIER_CLASSES_MAX];	  /**< of those, the true class */
};

/** Record h (counts checked: correct <= predicted, sum of predicted <= windows,
 *  0 < min_probability <= 1 when windows > 0). 0 or -EINVAL. */
int safem_classifier_set_holdout(struct safem_classifier *c,
				 const struct safem_classifier_holdout *h);
/** The recorded held-out figures (windows 0: none, e.g. a format 1 bundle). */
void safem_classifier_get_holdout(const struct safem_classifier *c,
				  struct safem_classifier_holdout *h);

/** Write the bundle to path (PATH.tmp then rename). 0 or -errno. */
int safem_classifier_save(const struct safem_classifier *c, const char *path);

void safem_classifier_free(struct safem_classifier *c);

/* ---- Training ------------------------------------------------------------ */

/** Training windows and parameters; x is n rows of nfeatures, unscaled. */
struct safem_classifier_train_params {
	unsigned int nfeatures;
	const char *const *feature_names; /**< nfeatures names */
	unsigned int nclasses;		  /**< 2..SAFEM_CLASSIFIER_CLASSES_MAX */
	const char *const *class_names;
	unsigned int normal_class; /**< the one-class SVM learns the windows of this class */
	size_t n;
	const double *x;
	const unsigned int *y; /**< class index per window */
	double c;	       /**< C-SVC cost, > 0 */
	double gamma;	       /**< RBF gamma of the C-SVC, > 0 */
	double nu;	       /**< one-class nu, 0 < nu <= 1 */
	double ocsvm_gamma;    /**< RBF gamma of the one-class SVM; 0: gamma */
	unsigned int seed;     /**< for libsvm's internal folds (probability fit) */
};

/**
 * Scale, train both SVMs. NULL with a message in err (a parameter named,
 * a class without windows...) and errno EINVAL / ENOMEM.
 */
struct safem_classifier *safem_classifier_train(const struct safem_classifier_train_params *p,
						char *err, size_t errlen);

/** One grid point's cross-validation result. */
struct safem_classifier_cv_point {
	double c;
	double gamma;
	double accuracy; /**< share of windows whose CV prediction is their class */
};

/**
 * k-fold cross-validation of the C-SVC (no probability fit) for every
 * (c, gamma) pair; the best (highest accuracy, first on a tie) is returned
 * in best and its CV confusion matrix, nclasses x nclasses, [true][predicted],
 * in confusion. p->c and p->gamma are ignored. report, if given, is called
 * after each point. 0, or -EINVAL (folds < 2 or > n, bad params), -ENOMEM.
 */
int safem_classifier_grid_search(
	const struct safem_classifier_train_params *p, const double *c_values, unsigned int nc,
	const double *gamma_values, unsigned int ngamma, unsigned int folds,
	struct safem_classifier_cv_point *best, uint64_t *confusion,
	void (*report)(const struct safem_classifier_cv_point *pt, void *ctx), void *ctx);

#ifdef __cplusplus
}
#endif

#endif /* SAFEM_CLASSIFIER_H */
