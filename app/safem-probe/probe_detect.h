/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef PROBE_DETECT_H
#define PROBE_DETECT_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "probe_options.h"
#include "safem_classifier.h"
#include "safem_detect.h"
#include "safem_profile.h"
#include "safem_brute.h"
#include "safem_seqscan.h"
#include "safem_victim.h"
#include "safem_window.h"
#include "safem_featdist.h"

static_assert(SAFEM_SEQSCAN_FINDINGS_MAX + SAFEM_VICTIM_FINDINGS_MAX + SAFEM_BRUTE_FINDINGS_MAX <=
		      SAFEM_DETECT_FINDINGS_MAX,
	      "the three structural tests' findings fit one window's list");

/**
 * Detection on the analysis thread (probe_analysis.h): each window summary goes to the
 * detector (moving or trained baseline, patterns, classes, incidents, alert
 * lines) and, with --train-baseline, to the baseline trainer. With a model
 * (--model, by default the shipped one) the window's feature vector is
 * classified first and the SVM verdict goes to the detector as a hint (one
 * verdict, one incident stream); --features writes the vectors.
 */
struct probe_detect {
	struct safem_home home;                 /**< --home (read by the workers' panes) */
	struct safem_detector *detector;
	struct safem_baseline_trainer *trainer; /**< NULL: not training */
	const struct probe_config *cfg;
	uint64_t last_end_ms;                   /**< end of the last window seen */
	uint64_t trained_windows;
	int error;                              /**< first -errno of a window */
	/* SVM (lib/classifier) */
	struct safem_classifier *model;         /**< NULL: spectrum only */
	const char *model_path;                 /**< the file loaded */
	enum safem_attack_class model_class[SAFEM_CLASSIFIER_CLASSES_MAX]; /**< by model class */
	struct safem_classifier_holdout holdout; /**< the model's held-out precision figures */
	/** the detector's baseline mean (safem_detector_baseline_mean) the features read;
	 *  NULL: no feature vector (no model, no --features) */
	struct safem_window_summary *baseline_mean;
	FILE *features_out;                     /**< --features stream (set by the caller), NULL: none */
	double features[SAFEM_CLASSIFIER_FEATURES];
	uint64_t classified_windows;
	/** features + prediction per window, CPU time of the analysis thread */
	uint64_t classify_ns_max, classify_ns_total;
	/* Behaviour profiles (lib/profile) in the incident stream: set by main when
	 * profiling is on; NULL: none. */
	struct safem_profiler *profiler;
	FILE *alerts;                     /**< the incident stream (NULL: no alerts) */
	uint64_t behaviour_alerts;        /**< behaviour_change / scan_exploit records */
	uint64_t behaviour_alerts_capped; /**< events past the per-window cap */
	/* Sequential scan test (lib/seqscan): set by main with --scan-test and profiling on;
	 * NULL: none. windows: where the newest pane's flow log is read. */
	struct safem_seqscan *seqscan;
	const struct safem_window_analysis *windows;
	/* Destination-side sequential test (lib/victim): set by main with --victim-test and
	 * profiling on; NULL: none. */
	struct safem_victim *victim;
	/* Sequential guessing test (lib/brute), created with the scan test; NULL: none. Its
	 * findings follow the scan test's and the victim test's in findings. */
	struct safem_brute *brute;
	/* Sampled fan-out test (lib/detect, sampled windows only), created with the scan
	 * test; NULL: none. Its findings come last, as many as findings has room for. */
	struct safem_fanout *fanout;
	struct safem_detect_finding findings[SAFEM_DETECT_FINDINGS_MAX];
	uint64_t scan_test_ns_max;        /**< CPU time of the test per window, worst */
	uint64_t victim_test_ns_max;      /**< CPU time of the victim test per window, worst */
	uint64_t brute_test_ns_max;       /**< CPU time of the guessing test per window, worst */
	uint64_t fanout_test_ns_max;      /**< CPU time of the sampled fan-out test, worst */
};

/**
 * Parse --home (before the workers are set up: their panes read it) and load
 * the SVM model (a bad one fails before any output exists).
 * 0, or -EINVAL / -ENOMEM with a message naming the option or file.
 */
int probe_detect_home(struct probe_detect *pd, const struct probe_config *cfg, char *err,
		      size_t errlen);

/**
 * Create the detector (alert lines to alerts, NULL: none) and the trainer.
 * 0, or -EINVAL / -ENOMEM with a message naming the option or profile file:line.
 */
int probe_detect_open(struct probe_detect *pd, const struct probe_config *cfg, FILE *alerts,
		      char *err, size_t errlen);

/** safem_window_summary_fn: ctx is the struct probe_detect. */
int probe_detect_window(void *ctx, const struct safem_window_summary *summary, FILE *members);

/**
 * End of input: end open incidents (their end records go to the alerts
 * stream, which the caller then closes, like the features stream) and, when
 * ok, write the trained profile. Prints what failed; returns 0 or -errno.
 */
int probe_detect_close(struct probe_detect *pd, bool ok);

/** Free what is left (after close, or on an error path). */
void probe_detect_free(struct probe_detect *pd);

#endif /* PROBE_DETECT_H */
