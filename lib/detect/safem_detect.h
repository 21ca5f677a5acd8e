/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SAFEM_DETECT_H
#define SAFEM_DETECT_H

/**
 * @file
 * Anomaly detection and classification on Traffic Entropy Spectrum window
 * summaries (seed 001), with a moving baseline (SAFEM's moving profile,
 * seed 000) or a baseline trained on clean traffic (--train-baseline).
 *
 * Per window: flatten the summary into metrics (docs/detection.md, "Metrics
 * and bands"), compare each with its normal band [min, max] (widened by a
 * margin), turn the deviations into a score and per-feature spectrum
 * patterns ('+', '0', '-' per q), classify with the rule table, group
 * anomalous windows into incidents, and write alert lines. The moving
 * baseline learns only from windows that were not anomalous.
 *
 * Runs on the analysis lcore: one thread, memory allocated at create, no
 * allocation per window, no log (errors are returned).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "safem_spectrum.h"

#ifdef __cplusplus
extern "C" {
#endif

enum safem_baseline_kind {
	SAFEM_BASELINE_MOVING,  /**< the last K non-anomalous windows */
	SAFEM_BASELINE_TRAINED, /**< bands read from a profile file */
};

enum safem_attack_class {
	SAFEM_CLASS_NORMAL,
	SAFEM_CLASS_SYN_FLOOD,
	SAFEM_CLASS_UDP_FLOOD,
	SAFEM_CLASS_REFLECTION,
	SAFEM_CLASS_HORIZONTAL_SCAN,
	SAFEM_CLASS_VERTICAL_SCAN,
	SAFEM_CLASS_WORM,
	SAFEM_CLASS_UNKNOWN,
	SAFEM_CLASS_BRUTE_FORCE, /**< appended: the SVM model's class numbers stay */
	SAFEM_CLASS_ICMP_FLOOD, /**< appended: class numbers of existing ones stay */
	SAFEM_CLASS_COUNT
};

/** "normal", "syn_flood", "udp_flood", "reflection", "horizontal_scan", "vertical_scan",
 *  "worm", "unknown", "brute_force", "icmp_flood"; NULL when out of range. */
const char *safem_attack_class_name(enum safem_attack_class c);
/** The class of a name as above, or -EINVAL. */
int safem_attack_class_from_name(const char *name);

/** warmup_windows value meaning: K for MOVING, 0 for TRAINED. */
#define SAFEM_DETECT_WARMUP_AUTO UINT32_MAX
#define SAFEM_DETECT_MOVING_WINDOWS_DEFAULT 60
#define SAFEM_DETECT_BAND_MARGIN_DEFAULT 0.5
#define SAFEM_DETECT_ALERT_SCORE_DEFAULT 6.0
/** Most windows a moving baseline may hold. */
#define SAFEM_DETECT_MOVING_WINDOWS_MAX 100000

struct safem_detect_params {
	enum safem_baseline_kind kind;
	unsigned int moving_windows;       /**< K for MOVING (default 60) */
	unsigned int warmup_windows;       /**< no alert before this many windows were seen;
					     SAFEM_DETECT_WARMUP_AUTO: K (MOVING), 0 (TRAINED) */
	const char *profile_path;          /**< TRAINED: file written by the trainer */
	/**
	 * Band tolerance: a metric deviates when it is more than band_margin * s
	 * outside [min, max], where s = max(max - min, 2 % of max(|min|, |max|) + 0.001)
	 * is the band's scale. Default 0.5.
	 */
	double band_margin;
	/** Minimum score to be anomalous (sum over metrics of the distance outside the band
	 *  in units of s, each capped at 3). Default 6: one metric alone never alerts. */
	double alert_score;
	unsigned int incident_gap_windows; /**< an incident ends after this many normal windows (default 1) */
	FILE *alerts;                      /**< JSON lines; NULL: none */
	/**
	 * The run's q set (nq 0: SAFEM_SPECTRUM_Q_DEFAULT) and directions in use
	 * (bit d for enum safem_direction d; 0: ALL only). Windows must match
	 * (else safem_detector_window() returns -EINVAL); a TRAINED profile must
	 * match too (else create fails naming the profile line).
	 */
	unsigned int nq;
	double q[SAFEM_SPECTRUM_Q_MAX];
	unsigned int directions;
	/**
	 * SVM hints (safem_detector_window_hint, docs/detection.md "SVM verdict and
	 * spectrum: one incident stream"): an SVM class other than normal with at least
	 * this probability makes the window anomalous (with that class unless a
	 * spectrum rule names one), a normal one with at least this probability (and
	 * not novel) vetoes a spectrum alert that no spectrum rule explains.
	 * Default SAFEM_DETECT_SVM_MIN_PROBABILITY_DEFAULT.
	 */
	double svm_min_probability;
	/** A novel window (one-class SVM) is anomalous when its spectrum score is at least
	 *  this share of alert_score. Default SAFEM_DETECT_SVM_NOVEL_SCORE_SHARE_DEFAULT: a
	 *  third of the score an unexplained deviation needs without the SVM (12 x alert_score),
	 *  because the one-class SVM flags about nu of clean windows on its own. */
	double svm_novel_score_share;
	/** A confident normal SVM verdict vetoes a spectrum alert only below this share of
	 *  alert_score (a far deviation stands whatever the SVM says). Default
	 *  SAFEM_DETECT_SVM_VETO_SCORE_SHARE_DEFAULT. */
	double svm_veto_score_share;
	/**
	 * An SVM attack class with no deviation behind it (score under the bar) raises an
	 * alert only when the model's held-out precision for that class earns it: the
	 * lower bound of its 95 % Wilson interval is at least this (docs/detection.md, "SVM
	 * verdict"). Default SAFEM_DETECT_SVM_ALONE_MIN_PRECISION_DEFAULT (the class
	 * accuracy goal, 0.9: it takes at least 35 held-out verdicts, all right); > 1: never.
	 */
	double svm_alone_min_precision;
	/**
	 * Longest horizon M of evidence over several windows (docs/detection.md, "Evidence over
	 * several windows"): when no rule names a window alone, the newest 2, 4, ... M windows
	 * are judged as one, every test at the level corrected for 1 + log2(M) horizons.
	 * 1, 2, 4 or 8 (SAFEM_DETECT_HORIZON_WINDOWS_MAX); 1: the window alone, uncorrected.
	 * Default SAFEM_DETECT_HORIZON_WINDOWS_DEFAULT. A TRAINED baseline always judges the
	 * window alone (as 1).
	 */
	unsigned int horizon_windows;
	/**
	 * The home prefixes the window summaries were split by (NULL or empty: not known). With
	 * IN and OUT in use, a window no rule explains in IN or OUT is also classified in ALL,
	 * where flows between two outside hosts (transit) are counted, and named when it is a
	 * flood whose victim is outside these prefixes (docs/detection.md, "Transit").
	 * Not copied: it must outlive the detector.
	 */
	const struct safem_home *home;
	/**
	 * The caller runs a per-pair guessing test (lib/brute) and passes its findings with
	 * each window: the count peaks' second look ("Brute force on low-rate links") then
	 * names a brute force only in a window with a brute_force finding (a web client
	 * repeating connections to one server rose over its count peak too; the test tells it
	 * from a guesser by its sessions). false (default): as before, no finding needed.
	 */
	bool count_peaks_need_finding;
};

#define SAFEM_DETECT_HORIZON_WINDOWS_MAX 8
#define SAFEM_DETECT_HORIZON_WINDOWS_DEFAULT 8

#define SAFEM_DETECT_SVM_MIN_PROBABILITY_DEFAULT 0.8
#define SAFEM_DETECT_SVM_NOVEL_SCORE_SHARE_DEFAULT 4.0
#define SAFEM_DETECT_SVM_VETO_SCORE_SHARE_DEFAULT 10.0
#define SAFEM_DETECT_SVM_ALONE_MIN_PRECISION_DEFAULT 0.9

/** The defaults above, kind MOVING, alerts NULL. */
void safem_detect_params_init(struct safem_detect_params *p);

struct safem_detector;

/**
 * NULL with errno (EINVAL, ENOMEM, or the profile's open errno) and a message in
 * err naming the parameter, or the profile file, line and field.
 */
struct safem_detector *safem_detector_create(const struct safem_detect_params *p, char *err,
					     size_t errlen);
void safem_detector_free(struct safem_detector *d);

struct safem_detect_verdict {
	enum safem_attack_class cls;     /**< NORMAL when not anomalous */
	double score;
	bool anomalous;                  /**< score >= alert_score past warm-up */
	bool alerted;                    /**< in an incident: start/update record (written if alerts) */
	uint64_t incident_id;            /**< 0: none */
	enum safem_direction direction;  /**< the direction classified (IN, or ALL) */
	unsigned int deviating_metrics;  /**< metrics outside their band */
	unsigned int baseline_windows;   /**< windows behind the bands */
	bool spectrum_anomalous;         /**< the spectrum score alone says anomalous */
	bool svm_anomalous;              /**< the hint alone says anomalous (attack or novel) */
	bool warmup;                     /**< still in the warm-up: never anomalous */
	bool low_rate;                   /**< too few flows for an unexplained deviation to
					      count (docs/detection.md, "Warm-up and low-rate links") */
	/** Windows whose evidence decided an anomalous window: 1 this window alone, 2, 4, ...
	 *  the newest that many windows judged as one (docs/detection.md, "Evidence over
	 *  several windows"); 0 when not anomalous. */
	unsigned int horizon_windows;
	/** Alerted on a structural finding alone (safem_detector_window_findings), no
	 *  rule of the detector's own named the window. */
	bool finding;
};

/**
 * A structural finding about one source, from a test outside the detector (the probe's
 * sequential scan test, lib/seqscan; docs/detection.md "Sequential scan test (TRW)"):
 * evidence that does not show in per-value counts (a scanner's first contacts mostly
 * fail). The detector alerts a window with a finding when its own rules did not.
 */
/** Findings one window may carry (safem_detector_window_findings refuses more): the probe's
 *  three sequential tests together report at most 16 + 8 + 8; the sampled fan-out test's
 *  (sampled windows, where those judge nothing) fill what room is left. */
#define SAFEM_DETECT_FINDINGS_MAX 32

struct safem_detect_finding {
	enum safem_attack_class cls;          /**< horizontal_scan, vertical_scan, worm, ... */
	enum safem_direction direction;       /**< the direction of the source's contacts */
	struct safem_feature_value address;   /**< the source (IPv4 as ::ffff:a.b.c.d) */
	uint16_t port;                        /**< its destination port (0: many) */
	uint8_t proto;                        /**< IP protocol of its last failed contact */
	bool has_target;                      /**< target: the scanned host (vertical) */
	struct safem_feature_value target;
	const char *test;                     /**< the test's name for the alert ("trw") */
	uint32_t evidence;                    /**< failed first contacts decided this window */
	uint32_t evidence_run;                /**< failed first contacts since the test flagged or
					       *  last reset the source */
	double llr;                           /**< the test's log likelihood ratio */
	unsigned int windows;                 /**< windows with a finding on this source */
	unsigned int sources;                 /**< worm: flagged sources behind the class;
					       *  victim test: new sources that failed */
};

/**
 * An optional per-window verdict from another classifier (the probe's SVM,
 * lib/classifier), combined with the spectrum detector's into one verdict
 * and one incident stream.
 */
struct safem_detect_hint {
	bool present;                /**< false: as safem_detector_window */
	enum safem_attack_class cls; /**< the classifier's class (NORMAL, ..., UNKNOWN) */
	double probability;          /**< of cls, [0, 1] */
	double novelty_score;        /**< one-class decision value, < 0 unlike normal */
	bool novel;
	/** Held-out verdicts of the model for cls at this verdict's confidence and how many
	 *  were right (safem-train, the model bundle); 0: not measured, the verdict alone
	 *  never alerts. */
	uint64_t holdout_verdicts, holdout_correct;
};

/**
 * One window, in time order: compare with the baseline, patterns, classify,
 * incidents, alert lines. If report != NULL append JSON members to the window's
 * report line (text starting with ',', no newline; docs/detection.md). Then the
 * moving baseline learns the window if it was not anomalous. Warm-up windows
 * are never anomalous (and are learnt). Returns 0, -EINVAL (q set or directions
 * differ from the parameters, or the sample rate from the trained profile's) or
 * -EIO (write error on report or alerts).
 */
int safem_detector_window(struct safem_detector *d, const struct safem_window_summary *w,
			  FILE *report, struct safem_detect_verdict *v);

/**
 * As safem_detector_window, with the SVM's verdict on the same window
 * (hint NULL or !hint->present: spectrum only). Past the warm-up, with a band,
 * the window is anomalous when (docs/detection.md):
 *   - the SVM says a class other than normal with probability >= svm_min_probability and
 *     the window deviates (score and flow score at the bar) and the class's held-out
 *     precision, where measured, is more often right than wrong (95 % lower bound >= 0.5),
 *     or that precision earns a verdict alone (svm_alone_min_precision), or
 *   - the spectrum score is >= alert_score, unless the SVM says normal with probability
 *     >= svm_min_probability and not novel and the score is below
 *     svm_veto_score_share * alert_score, or
 *   - the SVM says novel and the score is >= svm_novel_score_share * alert_score.
 * Class: the SVM's in the first case, else the spectrum rules'. Alert and report lines
 * carry an "svm" member. Returns as safem_detector_window, and -EINVAL for a hint
 * with a class out of range or a non-finite probability.
 */
int safem_detector_window_hint(struct safem_detector *d, const struct safem_window_summary *w,
			       const struct safem_detect_hint *hint, FILE *report,
			       struct safem_detect_verdict *v);

/**
 * As safem_detector_window_hint, with the structural findings on the same window (n 0:
 * none). Past the warm-up, a window that neither the spectrum rules nor the SVM made
 * anomalous is anomalous with findings[0]'s class (the caller lists the strongest first;
 * at most 16 are named in the alert line's "scan_test" and "involved" members). Such a
 * window is learnt by a moving baseline when its spectra are within the bands (the finding
 * is no deviation of counts). Returns as safem_detector_window_hint, and -EINVAL for
 * findings NULL with n > 0 or a class out of range.
 */
int safem_detector_window_findings(struct safem_detector *d, const struct safem_window_summary *w,
				   const struct safem_detect_hint *hint,
				   const struct safem_detect_finding *findings, unsigned int n,
				   FILE *report, struct safem_detect_verdict *v);

/**
 * The one baseline of normal windows, for a second reader (the probe's SVM feature vector,
 * lib/classifier, docs/detection.md "One baseline"): the mean of exactly the windows the
 * detector's bands are made of (MOVING: the windows it learnt, by its own decision; TRAINED:
 * the midpoints of the bands of start_ms's hour and the profile's top shares), as a summary
 * with the fields a feature vector reads: spectra (q < 0: geometric mean, as the detector
 * compares logs), distinct values, volumes, protocol flow shares (as flows per 10^6),
 * tree entropies, and top[focus][f][0].share (the mean top-1 packet share; ntop 1 or 0).
 * The header: start_ms, the detector's q set and directions, sample_rate 1 or the
 * profile's. Call it before the window of start_ms is given to the detector.
 * @return windows behind the mean; 0: no baseline yet (mean untouched).
 */
unsigned int safem_detector_baseline_mean(struct safem_detector *d, uint64_t start_ms,
					  struct safem_window_summary *mean);

/** End of input: end every open incident (end record). 0, -EINVAL (d NULL) or -EIO. */
int safem_detector_finish(struct safem_detector *d, uint64_t end_ms);

struct safem_detect_totals {
	uint64_t windows;
	uint64_t anomalous_windows;
	uint64_t alerts;    /**< alerted windows (start and update records) */
	uint64_t incidents; /**< incidents started */
};
void safem_detector_totals(const struct safem_detector *d, struct safem_detect_totals *t);

/** Training (--train-baseline PROFILE over clean traffic). */
struct safem_baseline_trainer;

/** per_hour: also keep bands per hour of day (UTC). NULL with errno ENOMEM. */
struct safem_baseline_trainer *safem_baseline_trainer_create(bool per_hour);
/** Windows must share one q set, direction set and sample rate (the first window's);
 *  others are counted as rejected and make save fail with -EINVAL. */
void safem_baseline_trainer_add(struct safem_baseline_trainer *t,
				const struct safem_window_summary *w);
/** Write the profile (docs/detection.md) complete-or-absent. 0, -EINVAL (no window, or
 *  rejected windows), or -errno of the write. */
int safem_baseline_trainer_save(struct safem_baseline_trainer *t, const char *path);
void safem_baseline_trainer_free(struct safem_baseline_trainer *t);

/*
 * Sampled fan-out test (docs/detection.md, "Sampled links: evidence over windows (session
 * 10)"): under 1-in-N packet sampling, per source, the distinct (destination, port,
 * protocol) targets of its sampled first-contact flows (TCP with SYN and no ACK; UDP),
 * summed over the last 1, 2, 4 or 8 windows and tested (Poisson) against the source's own
 * learnt peak a window (floor SAFEM_FANOUT_FLOOR). A probe of one packet is seen with p =
 * 1/N and is a target of its own; a client's sampled flows fall on its few servers.
 * Sampled windows only; one thread (the analysis thread); memory allocated at create.
 */
struct safem_profile_flow;
struct safem_home;

/** Windows a source's counts are kept for (the longest horizon). */
#define SAFEM_FANOUT_RING 8
/** A source's rate a window is never taken below this many targets. */
#define SAFEM_FANOUT_FLOOR 1.0
/** Level of a horizon's Poisson test (per source and horizon). */
#define SAFEM_FANOUT_LEVEL 1e-7
/** The newest window must hold at least this many targets, beyond its rate at 0.1. */
#define SAFEM_FANOUT_NOW_MIN 3
#define SAFEM_FANOUT_NOW_LEVEL 0.1
/** Sources tracked by default; findings a window at most. */
#define SAFEM_FANOUT_SOURCES_DEFAULT 4096
#define SAFEM_FANOUT_FINDINGS_MAX 8

struct safem_fanout_params {
	unsigned int sources; /**< table size (0: default); rounded up to a power of 2 */
	uint32_t pane_flows;  /**< most logged flows of a window (> 0) */
	/** Worm sources must be inside these prefixes; NULL or empty: any. Not copied. */
	const struct safem_home *home;
};

/** The totals, in the order --stats prints them: one list for the struct and its printers. */
#define SAFEM_FANOUT_TOTALS(X) \
	X(windows) /* windows given */ \
	X(windows_judged) /* sampled ones judged */ \
	X(contacts) /* first-contact flows collected */ \
	X(sources_evicted) /* a tracked source pushed out of a full probe run */ \
	X(findings)

struct safem_fanout_totals {
#define SAFEM_FANOUT_FIELD_(name) uint64_t name;
	SAFEM_FANOUT_TOTALS(SAFEM_FANOUT_FIELD_)
#undef SAFEM_FANOUT_FIELD_
};

struct safem_fanout;

/** NULL with errno EINVAL (pane_flows 0) or ENOMEM. */
struct safem_fanout *safem_fanout_create(const struct safem_fanout_params *p);
void safem_fanout_free(struct safem_fanout *f);
/**
 * One window's newest pane (segments of flow logs, lib/window). sample_rate <= 1 (or a
 * log with flows past its bound): nothing judged, no finding. Returns the number of
 * findings (see safem_fanout_findings), or -EINVAL.
 */
int safem_fanout_window(struct safem_fanout *f, const struct safem_profile_flow *const *seg,
			const uint32_t *n, unsigned int segments, uint32_t sample_rate,
			bool complete);
/** This window's findings (class horizontal_scan, vertical_scan or worm; direction
 *  SAFEM_DIR_ALL, test "sampled_fanout"), the strongest first. */
unsigned int safem_fanout_findings(const struct safem_fanout *f,
				   const struct safem_detect_finding **out);
void safem_fanout_totals(const struct safem_fanout *f, struct safem_fanout_totals *t);

#ifdef __cplusplus
}
#endif

#endif /* SAFEM_DETECT_H */
