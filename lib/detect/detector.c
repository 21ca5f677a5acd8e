/* SPDX-License-Identifier: BSD-3-Clause */
/* The detector: one window at a time, band -> deviation -> class -> incident. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "detect_private.h"

/*
 * The link's own spread of clean scores: the CLEAN_SCORE_QUANTILE quantile of the scores of
 * the last CLEAN_SCORE_WINDOWS windows found normal (learnt or not: a suspicious window no
 * rule explains is normal too) raises the bars of a bursty link. A 60-230 packets/s real
 * link (bg_zeek_protomix) has clean windows scoring 20-150 against a 20-window band, which
 * ordinary synthetic traffic at 1500 packets/s keeps under alert_score 9 windows in 10, so
 * there the bars do not move. An unexplained window needs CLEAN_SCORE_UNKNOWN_FACTOR x the
 * quantile as well as UNKNOWN_SCORE_FACTOR x alert_score, and the SVM's multiples of
 * alert_score (novel, veto) count from max(alert_score, quantile). The bar of windows a
 * class rule explains stays alert_score: raised too (tried), attack windows of a 1 %
 * attack that stay under it enter the ring and lift it for the rest of the attack
 * (quick evaluation: horizontal_scan at 1 % from 0.50 to 0.17 recall).
 * 100 windows: long enough for a stable 90 % quantile (the 10th largest), short enough to
 * follow the hour's traffic; used from CLEAN_SCORE_MIN_WINDOWS on. Windows enter once the
 * band has half its windows (a band of two windows makes everything deviate).
 */
#define CLEAN_SCORE_WINDOWS 100
#define CLEAN_SCORE_MIN_WINDOWS 20
#define CLEAN_SCORE_QUANTILE 0.9
#define CLEAN_SCORE_UNKNOWN_FACTOR 2.0

/*
 * Warm-up that learns the link (SAFEM_DETECT_WARMUP_AUTO with a moving baseline): at least
 * K windows (a full band), then, when the link's clean-score quantile is known, until it
 * has settled: its value now and WARMUP_SETTLE_WINDOWS windows ago within a factor
 * WARMUP_SETTLE_RATIO of each other (both under alert_score counts as settled: a quiet
 * link such as the synthetic one ends its warm-up at K, as before). The bars of unexplained
 * and SVM-only windows count from that quantile, and a bursty link whose first K windows
 * were one quiet stretch has a quantile that still climbs when the first bursts are learnt.
 * A link that never settles is judged from WARMUP_MAX_FACTOR x K windows on (a probe is
 * never blind for long). An explicit warmup_windows stays a plain count.
 */
#define WARMUP_SETTLE_WINDOWS 10
#define WARMUP_SETTLE_RATIO 1.5
#define WARMUP_MAX_FACTOR 4

/*
 * Low-rate links (docs/detection.md, "Warm-up and low-rate links"). A band's scale has a
 * floor of 2 % of its value (pattern.c, BAND_SCALE_RELATIVE_FLOOR); in a window of n flows one flow
 * more or less moves every flow share by 1/n, which passes that floor for n < 1 / 0.02 = 50. A
 * window of fewer than LOW_RATE_FLOWS flows is low-rate; so is one judged against a band whose
 * busiest windows hold fewer than LOW_RATE_FLOWS flows (a quiet stretch: its spectra are those of a
 * handful of values) unless it holds LOW_RATE_FLOWS flows more than they do. On a low-rate window a
 * deviation no class rule explains is what one new connection does and says nothing: it alerts only
 * through a class rule (whose evidence is counts: a value's flows against its baseline), never
 * as `unknown` or by the SVM alone. Against a quiet band such windows are also learnt, suspicious
 * or not: a band learnt on a quiet stretch of a bursty link (one session for minutes: 2 flows a
 * window) would otherwise never learn the busy windows that follow, and every one of them would
 * deviate (bg_zeek_protomix: 158 of 530 clean windows alerted). Only windows busier than the band
 * (more flows than its upper edge): what a quiet stretch never showed. A window of the band's own
 * size that deviates holds other hosts and ports, not more of them: learning it taught the band
 * an attack's slow tail (the real spoofed SYN flood stretched over 120 s on bg_zeek_protomix:
 * 9-24 SYNs a window to one victim, learnt once the hold ended, then named in 8 of 58). Not right
 * after an alert, though:
 * the windows of an attack that follow its first alerted ones, unnamed (a reflection of
 * 5-25 packets a window on a 20 packets/s link), would widen the band for the rest of it;
 * suspicious windows are not learnt until a window under the score, or K windows after the
 * first alert of a stretch of suspicious windows (a lasting change of the link, alerted or
 * not, is learnt in the end).
 */
/* LOW_RATE_FLOWS: detect_private.h (the baseline's peak counts read it too) */

struct safem_detector {
	struct safem_detect_params params;
	/* this window has a brute_force finding (count_peaks_need_finding) */
	bool brute_finding;
	unsigned int warmup_windows;
	bool warmup_learns; /* AUTO, moving: the warm-up lasts until the quantile settles */
	bool warm;	    /* the warm-up is over */
	double warm_quantiles[WARMUP_SETTLE_WINDOWS]; /* the quantile of the last windows */
	unsigned int warm_next;
	/* suspicious low-rate windows are not learnt for this many windows more: the tail of
	 * an alerted attack (LOW_RATE_FLOWS) */
	unsigned int learn_hold;
	bool learn_hold_armed; /* a window under the score since the hold was last set */
	struct metric_layout layout;
	struct baseline baseline;
	double *x;
	double *mean_x; /* safem_detector_baseline_mean's scratch: the baseline's mean metrics */
	struct deviation dev;
	struct involved inv, inv_other;
	struct involved inv_counts; /* inv_other with count peaks (classify_directions) */
	/* evidence over several windows: the ring, and a horizon's metrics and deviation */
	struct horizon horizon;
	double *horizon_x;
	struct deviation horizon_dev;
	struct incident incident;
	double last_score;	/* the previous window's score (evidence over time; 0: no band) */
	unsigned int skip_dirs; /* this window: directions with too few sampled packets */
	/* scores of recent windows found normal (the link's own spread of clean scores) */
	double clean_scores[CLEAN_SCORE_WINDOWS], sorted_scores[CLEAN_SCORE_WINDOWS];
	unsigned int clean_count, clean_next;
	uint64_t next_incident_id;
	struct safem_detect_totals totals;
};

void
safem_detect_params_init(struct safem_detect_params *p)
{
	static const double q_default[] = SAFEM_SPECTRUM_Q_DEFAULT;

	memset(p, 0, sizeof(*p));
	p->kind = SAFEM_BASELINE_MOVING;
	p->moving_windows = SAFEM_DETECT_MOVING_WINDOWS_DEFAULT;
	p->warmup_windows = SAFEM_DETECT_WARMUP_AUTO;
	p->band_margin = SAFEM_DETECT_BAND_MARGIN_DEFAULT;
	p->alert_score = SAFEM_DETECT_ALERT_SCORE_DEFAULT;
	p->incident_gap_windows = 1;
	p->nq = SAFEM_SPECTRUM_Q_DEFAULT_COUNT;
	memcpy(p->q, q_default, sizeof(q_default));
	p->directions = 1u << SAFEM_DIR_ALL;
	p->svm_min_probability = SAFEM_DETECT_SVM_MIN_PROBABILITY_DEFAULT;
	p->svm_novel_score_share = SAFEM_DETECT_SVM_NOVEL_SCORE_SHARE_DEFAULT;
	p->svm_veto_score_share = SAFEM_DETECT_SVM_VETO_SCORE_SHARE_DEFAULT;
	p->svm_alone_min_precision = SAFEM_DETECT_SVM_ALONE_MIN_PRECISION_DEFAULT;
	p->horizon_windows = SAFEM_DETECT_HORIZON_WINDOWS_DEFAULT;
}

static struct safem_detector *
create_fail(struct safem_detector *d, int error, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0 && fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	safem_detector_free(d);
	errno = error;
	return NULL;
}

static const char *
params_invalid(const struct safem_detect_params *p)
{
	unsigned int k;

	if (p->kind != SAFEM_BASELINE_MOVING && p->kind != SAFEM_BASELINE_TRAINED)
		return "kind";
	if (p->kind == SAFEM_BASELINE_MOVING &&
	    (p->moving_windows == 0 || p->moving_windows > SAFEM_DETECT_MOVING_WINDOWS_MAX))
		return "moving_windows (1..100000)";
	if (p->kind == SAFEM_BASELINE_TRAINED && (p->profile_path == NULL || !*p->profile_path))
		return "profile_path (required for a trained baseline)";
	if (!(p->band_margin >= 0) || !isfinite(p->band_margin))
		return "band_margin (>= 0)";
	if (!(p->alert_score > 0) || !isfinite(p->alert_score))
		return "alert_score (> 0)";
	if (p->incident_gap_windows == 0)
		return "incident_gap_windows (>= 1)";
	if (p->nq > SAFEM_SPECTRUM_Q_MAX)
		return "nq (0..16)";
	for (k = 0; k < p->nq; k++)
		if (!isfinite(p->q[k]))
			return "q";
	if (p->directions >= (1u << SAFEM_DIR_COUNT))
		return "directions";
	if (p->horizon_windows == 0 || p->horizon_windows > SAFEM_DETECT_HORIZON_WINDOWS_MAX ||
	    (p->horizon_windows & (p->horizon_windows - 1)) != 0)
		return "horizon_windows (1, 2, 4 or 8)";
	return hint_params_invalid(p);
}

struct safem_detector *
safem_detector_create(const struct safem_detect_params *p, char *err, size_t errlen)
{
	static const double q_default[] = SAFEM_SPECTRUM_Q_DEFAULT;
	struct safem_detector *d;
	const char *bad;
	int rc;

	if (p == NULL)
		return create_fail(NULL, EINVAL, err, errlen, "detector: no parameters");
	bad = params_invalid(p);
	if (bad != NULL)
		return create_fail(NULL, EINVAL, err, errlen, "detector: invalid %s", bad);
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return create_fail(NULL, ENOMEM, err, errlen, "detector: out of memory");
	d->params = *p;
	/* horizons run with the moving baseline only (below): a trained detector judges the
	 * window alone, at the uncorrected level */
	if (p->kind != SAFEM_BASELINE_MOVING)
		d->params.horizon_windows = 1;
	if (p->nq == 0)
		metric_layout_init(&d->layout, q_default, SAFEM_SPECTRUM_Q_DEFAULT_COUNT,
				   p->directions);
	else
		metric_layout_init(&d->layout, p->q, p->nq, p->directions);
	if (p->home != NULL && p->home->count > 0)
		metric_layout_add_transit(&d->layout);
	d->warmup_windows = p->warmup_windows;
	if (p->warmup_windows == SAFEM_DETECT_WARMUP_AUTO) {
		d->warmup_windows = p->kind == SAFEM_BASELINE_MOVING ? p->moving_windows : 0;
		d->warmup_learns = p->kind == SAFEM_BASELINE_MOVING;
	}
	d->next_incident_id = 1;
	d->learn_hold_armed = true;
	d->x = calloc(d->layout.count, sizeof(*d->x));
	d->dev.sign = calloc(d->layout.count, sizeof(*d->dev.sign));
	d->mean_x = calloc(d->layout.count, sizeof(*d->mean_x));
	d->horizon_x = calloc(d->layout.count, sizeof(*d->horizon_x));
	d->horizon_dev.sign = calloc(d->layout.count, sizeof(*d->horizon_dev.sign));
	if (d->x == NULL || d->dev.sign == NULL || d->mean_x == NULL || d->horizon_x == NULL ||
	    d->horizon_dev.sign == NULL || horizon_init(&d->horizon) < 0)
		return create_fail(d, ENOMEM, err, errlen, "detector: out of memory");
	if (p->kind == SAFEM_BASELINE_MOVING) {
		if (baseline_moving_init(&d->baseline, d->layout.count, p->moving_windows) < 0)
			return create_fail(d, ENOMEM, err, errlen, "detector: out of memory");
	} else {
		rc = profile_load(&d->baseline, &d->layout, p->profile_path, err, errlen);
		if (rc < 0)
			return create_fail(d, -rc, NULL, 0, NULL);
	}
	return d;
}

void
safem_detector_free(struct safem_detector *d)
{
	if (d == NULL)
		return;
	baseline_free(&d->baseline);
	horizon_free(&d->horizon);
	free(d->horizon_x);
	free(d->horizon_dev.sign);
	free(d->x);
	free(d->mean_x);
	free(d->dev.sign);
	free(d);
}

/*
 * A window no class rule explains alerts as unknown only from this multiple of
 * alert_score: deviations without a coherent shape (an elephant flow, a burst of one
 * service) are ordinary traffic far more often than unknown attacks. It also takes two
 * windows in a row at that score: a band trimmed of its extremes (baseline.c) leaves a lone
 * burst of real traffic far outside it, while an attack lasts (delay: one window).
 * 12 (72 by default): with 8 (48), clean synthetic traffic at 1500 packets/s had pairs of
 * windows at 57-69 (full evaluation: 6 of 1020 clean windows alerted, all unknown).
 */
#define UNKNOWN_SCORE_FACTOR 12.0

/*
 * Under 1-in-N sampling (N > 1) a direction with fewer than this many sampled packets in
 * the window says nothing: its spectra are entropies of a handful of values, and one
 * sampled packet more or less moves them past any band. Such a direction is neither
 * scored nor classified; a window whose `all` direction has fewer is neither scored nor
 * learnt (it is counted, never anomalous). 30 packets: the 1:100 rows of the evaluation
 * (1500 packets/s, ~15 sampled packets a window) alerted on noise, 20 % attacks there
 * are ~3 sampled packets a window; 1:10 (~150) keeps its directions (docs/detection.md,
 * "Sampling"). Unsampled windows are always scored: their counts are exact.
 */
#define SAMPLED_PACKETS_MIN 30.0

/* The CLEAN_SCORE_QUANTILE of the recent normal windows' scores; 0 with too few. */
static double
clean_score_quantile(struct safem_detector *d)
{
	unsigned int n = d->clean_count;

	if (n < CLEAN_SCORE_MIN_WINDOWS)
		return 0;
	memcpy(d->sorted_scores, d->clean_scores, n * sizeof(d->sorted_scores[0]));
	qsort(d->sorted_scores, n, sizeof(d->sorted_scores[0]), detect_double_ascending);
	return d->sorted_scores[(unsigned int)(CLEAN_SCORE_QUANTILE * (n - 1) + 0.5)];
}

static void
clean_score_add(struct safem_detector *d, double score)
{
	d->clean_scores[d->clean_next] = score;
	d->clean_next = (d->clean_next + 1) % CLEAN_SCORE_WINDOWS;
	if (d->clean_count < CLEAN_SCORE_WINDOWS)
		d->clean_count++;
}

/*
 * Is the warm-up over after this window? Called once per window with the window's
 * clean-score quantile (see WARMUP_SETTLE_WINDOWS).
 */
static bool
warmup_over(struct safem_detector *d, double quantile)
{
	double then;
	uint64_t seen = d->totals.windows;

	if (d->warm)
		return true;
	if (!d->warmup_learns) {
		d->warm = seen >= d->warmup_windows;
		return d->warm;
	}
	then = d->warm_quantiles[d->warm_next];
	d->warm_quantiles[d->warm_next] = quantile;
	d->warm_next = (d->warm_next + 1) % WARMUP_SETTLE_WINDOWS;
	if (seen >= (uint64_t)WARMUP_MAX_FACTOR * d->warmup_windows)
		d->warm = true;
	else if (seen >= d->warmup_windows)
		/* no quantile yet (a short band): the count alone, as an explicit warm-up */
		d->warm = d->clean_count < CLEAN_SCORE_MIN_WINDOWS ||
			  fmax(quantile, then) < d->params.alert_score ||
			  (fmin(quantile, then) > 0 &&
			   fmax(quantile, then) <= WARMUP_SETTLE_RATIO * fmin(quantile, then));
	return d->warm;
}

/* Flows of the ALL direction in a window (x) or at a band edge: log10(1 + flows) metric. */
static double
metric_flows(const struct metric_layout *l, const double *x)
{
	return pow(10.0, x[l->volume_base + SAFEM_DIR_ALL * VOLUMES + 2]) - 1;
}

/* Bit d: direction d has too few sampled packets to be scored (0 when unsampled). */
static unsigned int
sampled_skip_dirs(const struct metric_layout *l, const struct safem_window_summary *w)
{
	unsigned int dir, skip = 0;

	if (w->sample_rate <= 1)
		return 0;
	for (dir = 0; dir < DIRS; dir++)
		if ((l->directions & (1u << dir)) &&
		    (double)w->volume[dir].packets / w->sample_rate < SAMPLED_PACKETS_MIN)
			skip |= 1u << dir;
	return skip;
}

/*
 * Classify each candidate direction (IN and OUT, or ALL) and keep the one a rule
 * explains, the one with the larger part of the score when both or neither are.
 * Attacks on the home network show IN, infected home hosts (worms) OUT.
 */
static enum safem_attack_class
classify_directions(struct safem_detector *d, const struct safem_window_summary *w,
		    const struct deviation *dev, double evidence, unsigned int horizon_windows)
{
	const struct metric_layout *l = &d->layout;
	enum safem_attack_class best = SAFEM_CLASS_UNKNOWN, cls;
	double best_score = -1;
	unsigned int c;

	for (c = 0; c < l->ncandidates; c++) {
		double score = dev->dir_score[l->candidate[c]];
		bool better;

		/* transit (docs/detection.md, "Transit"): only what IN and OUT leave unexplained,
		 * in one window: transit names floods and scans, plain in their own window; over horizons,
		 * the transit alerts of bg_ndpi_appmix's test part (a reflection over 8 windows
		 * in its first 100 s) left 4 home-host windows alerted later (1 without) */
		if (c == l->transit_slot && (best != SAFEM_CLASS_UNKNOWN || horizon_windows > 1))
			break;
		involved_compute(&d->baseline, l, w, c, &d->inv_other);
		d->inv_other.horizon = &d->horizon;
		d->inv_other.windows = horizon_windows;
		if (horizon_windows > 1)
			horizon_involved_floor(&d->horizon, &d->inv_other, horizon_windows, w);
		/* too few sampled packets in the direction: not classified */
		cls = (d->skip_dirs & (1u << l->candidate[c]))
			      ? SAFEM_CLASS_UNKNOWN
			      : classify_window(l, dev, w, &d->inv_other, evidence);
		/* Peak count on low-rate windows (docs/detection.md): a value rises over its largest
		 * share in a baseline window, but a quiet window's share is a count over a handful
		 * (a client that made the 2 flows of a window had a share of 1, over which its
		 * later brute force of 12 connections a window could not rise: bg_zeek_protomix,
		 * development mixes). Where such a window set a value's peak (and its count now is
		 * beyond chance against that count: involved_count_peaks), the rules look again
		 * with that window explaining its count, no more, and name a brute force only:
		 * with every class allowed, scans and floods found that way read two clean
		 * windows of bg_ndpi_appmix (tuning part) as attacks and lost windows of the
		 * stretched telnet scan to other classes. With a guessing test at the caller
		 * (count_peaks_need_finding), only where it found a guesser: a home client
		 * fetching pages over ~10 connections a window rose over its count peak too
		 * (bg_zeek_protomix, tuning part, 922 s; docs/detection.md, session 9). The guessing
		 * test judges no sampled window: there the look stays as it was. */
		if (cls == SAFEM_CLASS_UNKNOWN && c != l->transit_slot &&
		    (!d->params.count_peaks_need_finding || d->brute_finding ||
		     w->sample_rate > 1) &&
		    !(d->skip_dirs & (1u << l->candidate[c])) &&
		    involved_count_peaks(&d->inv_other, &d->inv_counts) &&
		    classify_window(l, dev, w, &d->inv_counts, evidence) ==
			    SAFEM_CLASS_BRUTE_FORCE) {
			d->inv_other = d->inv_counts;
			cls = SAFEM_CLASS_BRUTE_FORCE;
		}
		if (c == l->transit_slot) {
			/* an attack on a home host is IN's or OUT's to name; the transit candidate
			 * only names one between outside hosts, and reports nothing else */
			if (cls == SAFEM_CLASS_UNKNOWN ||
			    !classify_transit(l, dev, w, &d->inv_other, cls, d->params.home,
					      evidence))
				break;
		}
		better = best_score < 0 ||
			 (cls != SAFEM_CLASS_UNKNOWN && best == SAFEM_CLASS_UNKNOWN) ||
			 ((cls != SAFEM_CLASS_UNKNOWN) == (best != SAFEM_CLASS_UNKNOWN) &&
			  score > best_score);
		if (better) {
			struct involved tmp = d->inv;

			d->inv = d->inv_other;
			d->inv_other = tmp;
			best = cls;
			best_score = score;
		}
	}
	return best;
}

/*
 * Evidence over several windows (docs/detection.md): the class rules on the newest 2, 4,
 * ... HORIZON_WINDOWS_MAX windows judged as one, shortest first, at the rise-only level
 * corrected for the horizons tested. The protocol shares of the horizon are compared with
 * the window band (a share over m windows varies less than one window's: conservative).
 * Returns the class of the shortest horizon a rule explains, with its length in windows;
 * d->inv then holds its values (pointing into the horizon's summary).
 */
static enum safem_attack_class
horizon_classify(struct safem_detector *d, const double *lo, const double *hi,
		 unsigned int sample_rate, unsigned int *windows)
{
	const struct metric_layout *l = &d->layout;
	unsigned int available = horizon_available(&d->horizon), m, dir, p;
	enum safem_attack_class cls;

	for (m = 2; m <= d->params.horizon_windows && m <= available; m *= 2) {
		const struct safem_window_summary *acc;

		/* sampled: the horizon is judged against the learnt windows before it, not
		 * against its own windows that no rule named and the baseline learnt
		 * (baseline.before_ms; docs/detection.md, "Sampled scans: a horizon is not its
		 * own baseline"). Unsampled windows keep the whole ring: leaving the
		 * horizon's windows out there made new clients of the last windows "new"
		 * (development seeds 200-202, busy link at 1:1: gap windows alerted 1, 0, 0 ->
		 * 3, 5, 1) */
		d->baseline.before_ms = sample_rate > 1 ? horizon_start_ms(&d->horizon, m) : 0;
		acc = horizon_accumulate(&d->horizon, m, &d->baseline, l);

		memcpy(d->horizon_x, d->x, l->count * sizeof(*d->x));
		for (dir = 0; dir < DIRS; dir++) {
			double flows = 0;

			if (!(l->directions & (1u << dir)))
				continue;
			for (p = 0; p < PROTOS; p++)
				flows += (double)acc->proto_flows[dir][p];
			for (p = 0; p < PROTOS; p++)
				d->horizon_x[metric_proto(l, dir, p)] =
					flows > 0 ? (double)acc->proto_flows[dir][p] / flows : 0;
		}
		deviation_compute(l, d->horizon_x, lo, hi, d->params.band_margin, d->skip_dirs,
				  &d->horizon_dev);
		/* no packet evidence over a horizon, as no SYN retries (horizon.c): a packet
		 * flood is plain in its own window, and packets summed over windows of a busy
		 * ICMP talker are no count test (bg_zeek_protomix's test part: a transit ICMP
		 * burst after a window of score 220 was named an ICMP flood over 4 windows) */
		d->horizon_dev.low_rate = d->dev.low_rate;
		d->horizon_dev.packets_judged = false;
		cls = classify_directions(
			d, acc, &d->horizon_dev,
			horizon_evidence(RISE_ONLY_EVIDENCE, d->params.horizon_windows), m);
		if (cls != SAFEM_CLASS_UNKNOWN) {
			d->baseline.before_ms = 0;
			*windows = m;
			return cls;
		}
	}
	d->baseline.before_ms = 0;
	return SAFEM_CLASS_UNKNOWN;
}

int
safem_detector_window(struct safem_detector *d, const struct safem_window_summary *w, FILE *report,
		      struct safem_detect_verdict *v)
{
	return safem_detector_window_hint(d, w, NULL, report, v);
}

int
safem_detector_window_hint(struct safem_detector *d, const struct safem_window_summary *w,
			   const struct safem_detect_hint *hint, FILE *report,
			   struct safem_detect_verdict *v)
{
	return safem_detector_window_findings(d, w, hint, NULL, 0, report, v);
}

int
safem_detector_window_findings(struct safem_detector *d, const struct safem_window_summary *w,
			       const struct safem_detect_hint *hint,
			       const struct safem_detect_finding *findings, unsigned int nfindings,
			       FILE *report, struct safem_detect_verdict *v)
{
	enum safem_attack_class svm_cls = SAFEM_CLASS_NORMAL, spectrum_cls = SAFEM_CLASS_UNKNOWN;
	const struct metric_layout *l;
	struct safem_detect_verdict verdict = {.cls = SAFEM_CLASS_NORMAL};
	struct alert_context a;
	const double *lo = NULL, *hi = NULL;
	uint64_t band_windows;
	bool have_band, eligible, suspicious, too_few, warm, low_rate = false, quiet_band = false;
	bool outgrows_band = false;
	bool was_open;
	struct safem_detect_params hint_params;
	double clean_quantile, alert_bar; /* alert_bar: SVM multiples (above) */
	int rc, wrc = 0;

	if (d == NULL || w == NULL || (findings == NULL && nfindings > 0) ||
	    nfindings > SAFEM_DETECT_FINDINGS_MAX)
		return -EINVAL;
	for (unsigned int i = 0; i < nfindings; i++)
		if ((unsigned int)findings[i].cls >= SAFEM_CLASS_COUNT ||
		    findings[i].cls == SAFEM_CLASS_NORMAL ||
		    (unsigned int)findings[i].direction >= SAFEM_DIR_COUNT)
			return -EINVAL;
	d->brute_finding = false;
	for (unsigned int i = 0; i < nfindings; i++)
		d->brute_finding |= findings[i].cls == SAFEM_CLASS_BRUTE_FORCE;
	if (hint != NULL && !hint->present)
		hint = NULL;
	if (hint != NULL && hint_check(hint) < 0)
		return -EINVAL;
	/* a model trained on unsampled windows (the shipped one) does not judge sampled ones:
	 * it called most clean 1:100 windows novel (docs/detection.md, "SVM verdict") */
	if (hint != NULL && w->sample_rate > 1)
		hint = NULL;
	l = &d->layout;
	verdict.direction = l->focus;
	a = (struct alert_context){.out = d->params.alerts, .layout = l, .w = w};
	rc = metric_check_summary(l, w);
	if (rc < 0)
		return rc;
	/* sampling changes flow counts and spectra (seed 002): bands only hold for the same rate */
	if (d->baseline.sample_rate != 0 && w->sample_rate != d->baseline.sample_rate)
		return -EINVAL;
	metric_flatten(l, w, d->x);
	horizon_add(&d->horizon, w);
	d->skip_dirs = sampled_skip_dirs(l, w);
	too_few = (d->skip_dirs & (1u << SAFEM_DIR_ALL)) != 0;
	band_windows = baseline_band(&d->baseline, w->start_ms, &lo, &hi);
	have_band = band_windows > 0 && !too_few;
	verdict.baseline_windows = (unsigned int)band_windows;
	if (have_band) {
		deviation_compute(l, d->x, lo, hi, d->params.band_margin, d->skip_dirs, &d->dev);
		verdict.score = d->dev.score;
		verdict.deviating_metrics = d->dev.deviating;
		/* LOW_RATE_FLOWS: a quiet band, or a window of a few dozen flows */
		quiet_band = metric_flows(l, hi) < LOW_RATE_FLOWS;
		low_rate = metric_flows(l, d->x) <
			   LOW_RATE_FLOWS + (quiet_band ? metric_flows(l, hi) : 0);
		/* what a quiet band learns although it deviates: windows busier than its upper
		 * edge of flows (docs/detection.md, "Low-rate links: ... slow tails not learnt") */
		outgrows_band = metric_flows(l, d->x) > metric_flows(l, hi);
	}
	d->dev.low_rate = low_rate;
	d->dev.packets_judged = true;
	clean_quantile = clean_score_quantile(d);
	warm = warmup_over(d, clean_quantile);
	eligible = have_band && warm;
	verdict.warmup = !warm;
	verdict.low_rate = low_rate;
	alert_bar = fmax(d->params.alert_score, clean_quantile);
	suspicious = eligible && verdict.score >= d->params.alert_score;
	if (suspicious) {
		/* a deviation of packets and bytes alone (an elephant, a backup) says nothing
		 * of new flows: the rules then need the evidence of a window under the score */
		spectrum_cls = classify_directions(
			d, w, &d->dev,
			horizon_evidence(d->dev.flow_score >= d->params.alert_score
						 ? 1.0
						 : RISE_ONLY_EVIDENCE,
					 d->params.horizon_windows),
			1);
		verdict.direction = d->inv.dir;
		/* unexplained: only when this and the previous window both score far out */
		verdict.spectrum_anomalous =
			spectrum_cls != SAFEM_CLASS_UNKNOWN ||
			(!low_rate &&
			 fmin(verdict.score, d->last_score) >=
				 fmax(UNKNOWN_SCORE_FACTOR * d->params.alert_score,
				      CLEAN_SCORE_UNKNOWN_FACTOR * clean_quantile) &&
			 /* packets and bytes alone (an elephant, a backup) are no attack: an
			  * unexplained window needs new flows, peers or ports behind it */
			 d->dev.flow_score >= d->params.alert_score);
	} else if (eligible) {
		/* Under the score, a class rule on twice the rise evidence: an attack of 1-3 %
		 * on a link without home prefixes moves the spectra of `all` by less than
		 * alert_score, its first windows were learnt and widened the band for the rest
		 * (one source sweeping 445 at 3 %: 1 of 5 windows). Who rose is itself a
		 * deviation from the baseline, measured on the attack's own values. */
		spectrum_cls = classify_directions(
			d, w, &d->dev,
			horizon_evidence(RISE_ONLY_EVIDENCE, d->params.horizon_windows), 1);
		if (spectrum_cls != SAFEM_CLASS_UNKNOWN) {
			verdict.spectrum_anomalous = true;
			verdict.direction = d->inv.dir;
		}
	}
	verdict.anomalous = verdict.spectrum_anomalous;
	if (hint != NULL) {
		hint_params = d->params;
		hint_params.alert_score = alert_bar;
		/* low-rate: the SVM alone judges the same noisy spectra (LOW_RATE_FLOWS) */
		svm_cls =
			hint_combine(&hint_params, hint,
				     eligible && !(low_rate && spectrum_cls == SAFEM_CLASS_UNKNOWN),
				     verdict.score, d->last_score, have_band ? d->dev.flow_score : 0,
				     spectrum_cls != SAFEM_CLASS_UNKNOWN, &verdict);
	}
	a.hint = hint;
	if (verdict.anomalous && !suspicious) {
		/* flagged by the SVM alone: "who" from the direction the rules like best */
		classify_directions(d, w, &d->dev, 1.0, 1);
		verdict.direction = d->inv.dir;
	}
	/* nothing in this window alone: the same rules over several windows. Moving baseline
	 * only (a trained detector has horizon_windows 1, create): its mean share counts half
	 * the list floor where a value was not listed; a
	 * profile's counts 0 there (low for values the lists hold now and then), and a sum
	 * over m windows multiplies that bias (test_detect: clean windows alerted) */
	if (eligible && !verdict.anomalous && d->params.horizon_windows > 1) {
		spectrum_cls = horizon_classify(d, lo, hi, w->sample_rate, &a.horizon_windows);
		if (spectrum_cls != SAFEM_CLASS_UNKNOWN) {
			verdict.spectrum_anomalous = verdict.anomalous = true;
			verdict.direction = d->inv.dir;
			verdict.horizon_windows = a.horizon_windows;
			a.horizon_start_ms = d->horizon.acc->start_ms;
		}
	}
	/* a structural finding (the sequential scan test): what no count rule saw, past the
	 * warm-up like every alert */
	if (warm && !verdict.anomalous && nfindings > 0) {
		verdict.anomalous = verdict.finding = true;
		if (l->directions & (1u << findings[0].direction))
			verdict.direction = findings[0].direction;
		a.findings = findings;
		a.nfindings = nfindings;
	}
	if (verdict.anomalous && verdict.horizon_windows == 0)
		verdict.horizon_windows = 1;
	a.dir = verdict.direction;
	if (verdict.anomalous) {
		/* A matched spectrum rule names the class (it sees every direction and explains
		 * itself with patterns); else a confident SVM class; else unknown. */
		verdict.cls = verdict.spectrum_anomalous && spectrum_cls != SAFEM_CLASS_UNKNOWN
				      ? spectrum_cls
			      : svm_cls != SAFEM_CLASS_NORMAL ? svm_cls
			      : verdict.finding		      ? findings[0].cls
							      : SAFEM_CLASS_UNKNOWN;
		/* a spectrum rule's class, once the structural findings say what the counts
		 * could not (classify.c, classify_by_findings) */
		if (verdict.spectrum_anomalous && verdict.cls == spectrum_cls)
			verdict.cls = classify_by_findings(&d->inv, verdict.cls, findings,
							   nfindings);
		verdict.alerted = true;
		/* a horizon's alert: its protocol shares and who rose are the horizon's; a
		 * finding's: who the test named (the counts did not move) */
		a.dev = verdict.finding		     ? NULL
			: verdict.horizon_windows > 1 ? &d->horizon_dev
						      : &d->dev;
		a.inv = &d->inv;
		a.score = verdict.score;
		d->totals.anomalous_windows++;
		d->totals.alerts++;
	}
	was_open = d->incident.open;
	if (incident_window(&d->incident, &d->next_incident_id, &a, verdict.alerted, verdict.cls,
			    d->params.incident_gap_windows, &d->totals.incidents) < 0)
		wrc = -EIO;
	/* one incident, not one per window: the windows of an incident that ended count for
	 * no later horizon */
	if (was_open && !d->incident.open)
		d->horizon.floor_ms = d->incident.last_seen_ms;
	if (verdict.alerted)
		verdict.incident_id = d->incident.id;
	if (report != NULL && report_write(report, l, w, have_band ? &d->dev : NULL, &verdict) < 0)
		wrc = -EIO;
	if (report != NULL && hint != NULL && hint_report_write(report, hint, &verdict) < 0)
		wrc = -EIO;
	/* a window that deviates but no rule explains is not learnt either: it may be the
	 * edge of an attack, and one learnt attack window widens the bands for K windows
	 * (except a low-rate one against a quiet band, outside the hold: LOW_RATE_FLOWS) */
	if (!suspicious) {
		d->learn_hold = 0;
		d->learn_hold_armed = true;
	} else if (d->learn_hold > 0) {
		d->learn_hold--;
	}
	if (verdict.alerted && !verdict.finding && d->learn_hold_armed) { /* once per stretch of suspicious windows */
		d->learn_hold = d->params.moving_windows;
		d->learn_hold_armed = false;
	}
	if (d->baseline.kind == SAFEM_BASELINE_MOVING &&
	    (!suspicious || (low_rate && quiet_band && outgrows_band && d->learn_hold == 0)) &&
	    (!verdict.anomalous || (verdict.finding && !suspicious)) &&
	    !too_few)
		baseline_moving_add(&d->baseline, l, d->x, w);
	/* a finding's window is no deviation of counts: its score is a clean one, as the
	 * baseline learns it above */
	if (have_band && (!verdict.anomalous || (verdict.finding && !suspicious)) &&
	    (d->baseline.kind != SAFEM_BASELINE_MOVING ||
	     2 * band_windows >= d->params.moving_windows))
		clean_score_add(d, verdict.score);
	d->last_score = verdict.score;

	d->totals.windows++;
	if (v != NULL)
		*v = verdict;
	return wrc;
}

int
safem_detector_finish(struct safem_detector *d, uint64_t end_ms)
{
	struct alert_context a;

	if (d == NULL)
		return -EINVAL;
	a = (struct alert_context){.out = d->params.alerts, .layout = &d->layout};
	(void)end_ms; /* the end record spans the incident up to its last window */
	return incident_finish(&d->incident, &a);
}

void
safem_detector_totals(const struct safem_detector *d, struct safem_detect_totals *t)
{
	*t = d->totals;
}

unsigned int
safem_detector_baseline_mean(struct safem_detector *d, uint64_t start_ms,
			     struct safem_window_summary *mean)
{
	if (d == NULL || mean == NULL)
		return 0;
	return baseline_mean_summary(&d->baseline, &d->layout, start_ms, d->mean_x, mean);
}
