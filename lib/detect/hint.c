/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SVM hints: the probe's SVM verdict on a window combined with the spectrum
 * detector's, so both feed one verdict and one incident stream
 * (docs/detection.md, "SVM verdict and spectrum: one incident stream").
 *
 * Why this rule: the C-SVC is trained on labelled attacks and is precise on
 * the kinds it knows, so a confident attack verdict stands alone and names
 * the class; the spectrum bands catch what the SVM never saw but alert on
 * harmless shifts of a synthetic or real background too, so a confident
 * "normal" (not novel) vetoes them, short of a far deviation (measured: clean
 * synthetic windows reach a spectrum score of ~30, Blaster at 5 % ~200 while
 * the SVM, which sees only the `in` direction, finds it normal); the one-class SVM's "novel" alone flags
 * ~nu of normal windows, so it needs some spectrum deviation as well.
 */
#include <errno.h>
#include <math.h>

#include "detect_private.h"

const char *
hint_params_invalid(const struct safem_detect_params *p)
{
	if (!(p->svm_min_probability > 0 && p->svm_min_probability <= 1))
		return "svm_min_probability (0 < p <= 1)";
	if (!(p->svm_novel_score_share >= 0) || !isfinite(p->svm_novel_score_share))
		return "svm_novel_score_share (>= 0)";
	if (!(p->svm_veto_score_share >= 0) || !isfinite(p->svm_veto_score_share))
		return "svm_veto_score_share (>= 0)";
	if (!(p->svm_alone_min_precision >= 0) || !isfinite(p->svm_alone_min_precision))
		return "svm_alone_min_precision (>= 0)";
	return NULL;
}

int
hint_check(const struct safem_detect_hint *h)
{
	if ((unsigned int)h->cls >= SAFEM_CLASS_COUNT || !(h->probability >= 0) ||
	    !(h->probability <= 1) || !isfinite(h->novelty_score) ||
	    h->holdout_correct > h->holdout_verdicts)
		return -EINVAL;
	return 0;
}

/* z of a two-sided 95 % interval */
#define WILSON_Z 1.959963984540054

/*
 * Lower bound of the Wilson score interval of a precision of correct / verdicts: a precision
 * measured on few verdicts earns little (3 right of 3: 0.44; 35 of 35: 0.90).
 */
double
hint_precision_lower_bound(uint64_t correct, uint64_t verdicts)
{
	double n = (double)verdicts, p, z2 = WILSON_Z * WILSON_Z;

	if (verdicts == 0)
		return 0;
	p = (double)correct / n;
	return (p + z2 / (2 * n) - WILSON_Z * sqrt(p * (1 - p) / n + z2 / (4 * n * n))) /
	       (1 + z2 / n);
}

/* Lower bound of the held-out precision a class needs to name a deviating window: more
 * often right than wrong, with 95 % confidence. */
#define SVM_NAMED_MIN_PRECISION 0.5

enum safem_attack_class
hint_combine(const struct safem_detect_params *p, const struct safem_detect_hint *h,
	     bool eligible, double score, double last_score, double flow_score,
	     bool spectrum_explained, struct safem_detect_verdict *v)
{
	bool confident = h->probability >= p->svm_min_probability;
	/* An SVM class alone does not alert unless its held-out precision earns it: else it
	 * names a window that deviates (score at the bar, with flow evidence). A model with
	 * no such figures called 12 of 55 clean windows of a 300 packets/s link syn_flood at
	 * score 0 (issue 12). */
	bool deviates = score >= p->alert_score && flow_score >= p->alert_score;
	double precision = hint_precision_lower_bound(h->holdout_correct, h->holdout_verdicts);
	bool earned = h->holdout_verdicts > 0 && precision >= p->svm_alone_min_precision;
	/* Behind a deviation the class only names it, and naming must be right more often
	 * than wrong where the model measured it (the shipped model's worm verdicts: 10 of
	 * 21 held-out right; they named 13 of 90 clean windows of a 25,000 packets/s link
	 * `worm`). A model without figures for the class keeps naming deviations. */
	bool names = h->holdout_verdicts == 0 || precision >= SVM_NAMED_MIN_PRECISION;
	bool svm_attack = confident && h->cls != SAFEM_CLASS_NORMAL &&
			  ((deviates && names) || earned);
	/* The veto only silences what no spectrum rule explains: the SVM sees one
	 * direction (in, or all) and misses e.g. worms leaving the home prefixes. */
	bool svm_normal = confident && h->cls == SAFEM_CLASS_NORMAL && !h->novel &&
			  !spectrum_explained &&
			  score < p->svm_veto_score_share * p->alert_score;
	/* Novelty names nothing: like an unexplained deviation (`unknown`) it needs evidence
	 * over two windows, this one and the previous both at the bar. The one-class SVM
	 * called 22 % of the shipped model's held-out normal windows novel, and every window
	 * of a 25,000 packets/s link, a rate it never trained on: 6 of 90 clean windows
	 * there alerted on novelty and one window's score (29-39). */
	bool novel = h->novel && deviates &&
		     fmin(score, last_score) >= p->svm_novel_score_share * p->alert_score;

	v->svm_anomalous = eligible && (svm_attack || novel);
	v->anomalous = v->svm_anomalous || (v->spectrum_anomalous && !svm_normal);
	return v->anomalous && svm_attack ? h->cls : SAFEM_CLASS_NORMAL;
}

static const char *
source_name(const struct safem_detect_verdict *v)
{
	if (!v->anomalous)
		return "none";
	if (v->svm_anomalous && v->spectrum_anomalous)
		return "both";
	return v->svm_anomalous ? "svm" : "spectrum";
}

int
hint_write(FILE *f, const struct safem_detect_hint *h)
{
	fprintf(f, ",\"svm\":{\"class\":\"%s\",\"probability\":", safem_attack_class_name(h->cls));
	json_number(f, h->probability);
	fputs(",\"novelty_score\":", f);
	json_number(f, h->novelty_score);
	fprintf(f, ",\"novel\":%s", h->novel ? "true" : "false");
	if (h->holdout_verdicts > 0) {
		fputs(",\"holdout_precision\":", f);
		json_number(f, (double)h->holdout_correct / (double)h->holdout_verdicts);
		fprintf(f, ",\"holdout_verdicts\":%llu", (unsigned long long)h->holdout_verdicts);
	}
	fputc('}', f);
	return ferror(f) ? -EIO : 0;
}

int
hint_report_write(FILE *f, const struct safem_detect_hint *h, const struct safem_detect_verdict *v)
{
	fprintf(f, ",\"spectrum_anomalous\":%s,\"anomaly_source\":\"%s\"",
		v->spectrum_anomalous ? "true" : "false", source_name(v));
	return hint_write(f, h);
}
