/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "probe_detect.h"

/* --model (or the shipped model) and the baseline the features need; 0 or -errno + message. */
static int
open_classifier(struct probe_detect *pd, const struct probe_config *cfg, char *err, size_t errlen)
{
	char load_err[1024];
	unsigned int i;

	pd->model_path = cfg->model_path[0] != '\0' ? cfg->model_path
						      : probe_options_default_model();
	if (probe_options_model_off(cfg))
		pd->model_path = NULL;
	else if (pd->model_path == NULL)
		/* a source tree without models/: detection still runs, spectrum only */
		fprintf(stderr, "safem-probe: no shipped SVM model found (%s); spectrum detection "
				"only (--model FILE to give one, --model none to silence this)\n",
#ifdef SAFEM_INSTALLED_MODEL
			SAFEM_INSTALLED_MODEL
#else
			"not installed"
#endif
		);
	if (pd->model_path != NULL) {
		pd->model = safem_classifier_load(pd->model_path, load_err, sizeof(load_err));
		if (pd->model == NULL) {
			snprintf(err, errlen, "--model %.400s: cannot use the model: %.500s",
				 pd->model_path, load_err);
			return errno == ENOMEM ? -ENOMEM : -EINVAL;
		}
		/* A class the detector does not know (a model trained on other names) is
		 * reported as unknown. */
		for (i = 0; i < safem_classifier_classes(pd->model); i++) {
			int c = safem_attack_class_from_name(
				safem_classifier_class_name(pd->model, i));

			pd->model_class[i] = c < 0 ? SAFEM_CLASS_UNKNOWN : (enum safem_attack_class)c;
		}
		safem_classifier_get_holdout(pd->model, &pd->holdout);
	}
	if (pd->model != NULL || cfg->features_path[0] != '\0') {
		/* the features' baseline is the detector's (one baseline): room for its mean */
		pd->baseline_mean = calloc(1, sizeof(*pd->baseline_mean));
		if (pd->baseline_mean == NULL) {
			snprintf(err, errlen, "no memory for the classifier's baseline");
			return -ENOMEM;
		}
	}
	return 0;
}

int
probe_detect_home(struct probe_detect *pd, const struct probe_config *cfg, char *err,
		  size_t errlen)
{
	memset(pd, 0, sizeof(*pd));
	pd->cfg = cfg;
	if (probe_options_home(cfg, &pd->home) != 0) {
		snprintf(err, errlen, "--home: invalid prefix list");
		return -EINVAL;
	}
	/* The model first: a bad one must fail before any output file exists. */
	return open_classifier(pd, cfg, err, errlen);
}

int
probe_detect_open(struct probe_detect *pd, const struct probe_config *cfg, FILE *alerts,
		  char *err, size_t errlen)
{
	struct safem_detect_params p;
	unsigned int d;

	safem_detect_params_init(&p);
	p.kind = cfg->baseline_path[0] != '\0' ? SAFEM_BASELINE_TRAINED : SAFEM_BASELINE_MOVING;
	p.profile_path = cfg->baseline_path[0] != '\0' ? cfg->baseline_path : NULL;
	p.moving_windows = (unsigned int)cfg->moving_windows;
	p.warmup_windows =
		cfg->warmup_windows != 0 ? (unsigned int)cfg->warmup_windows : SAFEM_DETECT_WARMUP_AUTO;
	p.band_margin = probe_options_band_margin(cfg);
	p.alert_score = probe_options_alert_score(cfg);
	p.incident_gap_windows = (unsigned int)cfg->incident_gap;
	p.svm_min_probability = probe_options_svm_min_probability(cfg);
	p.svm_alone_min_precision = probe_options_svm_alone_min_precision(cfg);
	p.nq = probe_options_q(cfg, p.q, SAFEM_SPECTRUM_Q_MAX);
	p.directions = 1u << SAFEM_DIR_ALL;
	if (pd->home.count != 0)
		for (d = 0; d < SAFEM_DIR_COUNT; d++)
			p.directions |= 1u << d;
	p.home = &pd->home; /* transit victims (docs/detection.md, "Transit") */
	/* the guessing test runs with the scan test on the flow log (main creates both after
	 * this, and fails if it cannot) */
	p.count_peaks_need_finding = cfg->scan_test && cfg->profile_flows != 0;
	p.alerts = alerts;
	pd->alerts = alerts;
	pd->detector = safem_detector_create(&p, err, errlen);
	if (pd->detector == NULL) {
		int e = errno == ENOMEM ? -ENOMEM : -EINVAL;

		probe_detect_free(pd);
		return e;
	}
	if (cfg->train_baseline_path[0] != '\0') {
		pd->trainer = safem_baseline_trainer_create(cfg->baseline_per_hour);
		if (pd->trainer == NULL) {
			snprintf(err, errlen, "no memory for the baseline trainer");
			probe_detect_free(pd);
			return -ENOMEM;
		}
	}
	return 0;
}

/* CPU time of the analysis thread: the cost of a window, not the time another process on a
 * shared CPU took from it. */
static uint64_t
thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A structural test's CPU time this window (since t0) into its worst, for --stats' ms_max. */
static void
note_cost(uint64_t *max_ns, uint64_t t0)
{
	uint64_t ns = thread_cpu_ns() - t0;

	if (ns > *max_ns)
		*max_ns = ns;
}

/* The window's feature vector (against the mean of the windows the detector learnt: one
 * baseline, docs/detection.md "One baseline") and, with a model, its SVM verdict as a
 * detector hint. Timed: the cost per window is in --stats. */
static int
classify_window(struct probe_detect *pd, const struct safem_window_summary *summary,
		struct safem_detect_hint *hint)
{
	struct safem_classifier_verdict cv;
	uint64_t t0 = thread_cpu_ns(), ns;
	int n;

	n = safem_features_from_summary(
		summary,
		safem_detector_baseline_mean(pd->detector, summary->start_ms, pd->baseline_mean) > 0
			? pd->baseline_mean
			: NULL,
		pd->features, SAFEM_CLASSIFIER_FEATURES);
	if (n < 0)
		return n;
	if (pd->model != NULL) {
		n = safem_classifier_predict(pd->model, pd->features, SAFEM_CLASSIFIER_FEATURES, &cv);
		if (n < 0)
			return n;
		*hint = (struct safem_detect_hint){
			.present = true,
			.cls = pd->model_class[cv.class_index],
			.probability = cv.probability,
			.novelty_score = cv.novelty_score,
			.novel = cv.novel,
		};
		/* the held-out precision applies to verdicts as confident as those it counted */
		if (pd->holdout.windows > 0 && cv.probability >= pd->holdout.min_probability) {
			hint->holdout_verdicts = pd->holdout.predicted[cv.class_index];
			hint->holdout_correct = pd->holdout.correct[cv.class_index];
		}
	}
	ns = thread_cpu_ns() - t0;
	pd->classified_windows++;
	pd->classify_ns_total += ns;
	if (ns > pd->classify_ns_max)
		pd->classify_ns_max = ns;
	return 0;
}

/*
 * Behaviour profiles in the incident stream (docs/detection.md, "Behaviour alerts"), on
 * unless --behaviour-alerts off. lib/profile decides what is an event: a class change of
 * a stable cluster into a class new to it, clear of the level boundaries for the flows it
 * was measured on (safem_profile_class_change); a scan_exploit profile that held two
 * windows on enough flows. Flood rule here: only direction "all" (the directional
 * clusters repeat it); at most BEHAVIOUR_ALERTS_PER_WINDOW records a window (the largest
 * clusters first, as lib/profile lists them; the rest counted).
 */
#define BEHAVIOUR_ALERTS_PER_WINDOW 8

/* What a scan_exploit cluster's dominant state says it scans. */
static enum safem_attack_class
scan_class(const struct safem_profile_cluster *c)
{
	unsigned int j, fixed_port = 0, fixed_host = 0;

	for (j = 0; j < 3; j++) {
		bool fixed = (c->dominant_mask >> j) & 1;

		if (c->free_dims[j] == SAFEM_FEATURE_DST_PORT)
			fixed_port = fixed;
		if (c->free_dims[j] == SAFEM_FEATURE_DST_ADDR)
			fixed_host = fixed;
	}
	if (c->dimension == SAFEM_FEATURE_DST_PORT || (fixed_port && !fixed_host))
		return SAFEM_CLASS_HORIZONTAL_SCAN;
	if (fixed_host && !fixed_port)
		return SAFEM_CLASS_VERTICAL_SCAN;
	return SAFEM_CLASS_UNKNOWN;
}

static void
behaviour_record(FILE *f, const struct safem_window_summary *w, const char *event,
		 enum safem_attack_class cls, const struct safem_profile_cluster *c,
		 const struct safem_detect_verdict *v)
{
	fprintf(f, "{\"start_ms\":%llu,\"end_ms\":%llu,\"event_type\":\"%s\",\"class\":\"%s\"",
		(unsigned long long)w->start_ms, (unsigned long long)w->end_ms, event,
		safem_attack_class_name(cls));
	if (c->class_changed)
		fprintf(f, ",\"previous_class\":%u", c->previous_class);
	if (v != NULL && v->alerted)
		fprintf(f, ",\"incident\":%llu", (unsigned long long)v->incident_id);
	fputs(",\"who\":{", f);
	safem_profile_cluster_json(f, c);
	fputs("}}\n", f);
}

/* The cluster that explains a spectrum/SVM alert: the largest new (first window
 * significant), changed or scan_exploit cluster of the alert's direction, else none. A new
 * or scan_exploit cluster needs the flows that make its class evidence
 * (SAFEM_PROFILE_ALERT_MIN_OBSERVATIONS; a scan over its run of windows): a link's churn
 * brings new 3-flow clusters every window, some of them scan-shaped, and naming one for an
 * attack it has no part in misleads the operator. */
static const struct safem_profile_cluster *
explaining_cluster(const struct safem_profile_cluster *c, unsigned int n,
		   enum safem_direction dir)
{
	unsigned int i;

	for (i = 0; i < n; i++) /* lib/profile lists the largest first per dimension */
		if (c[i].direction == dir && c[i].dimension <= SAFEM_FEATURE_DST_ADDR &&
		    ((c[i].consecutive == 1 &&
		      c[i].observations >= SAFEM_PROFILE_ALERT_MIN_OBSERVATIONS) ||
		     c[i].class_changed ||
		     c[i].scan_run_observations >= SAFEM_PROFILE_ALERT_MIN_OBSERVATIONS))
			return &c[i];
	return NULL;
}

static int
behaviour_alerts(struct probe_detect *pd, const struct safem_window_summary *w,
		 const struct safem_detect_verdict *v)
{
	const struct safem_profile_cluster *c, *why;
	unsigned int n = safem_profiler_clusters(pd->profiler, &c), i, written = 0;

	if (pd->alerts == NULL)
		return 0;
	for (i = 0; i < n; i++) {
		const char *event = c[i].new_scan_exploit ? "scan_exploit"
				    : c[i].class_changed   ? "behaviour_change"
							   : NULL;

		if (event == NULL || c[i].direction != SAFEM_DIR_ALL)
			continue;
		if (written == BEHAVIOUR_ALERTS_PER_WINDOW) {
			pd->behaviour_alerts_capped++;
			continue;
		}
		behaviour_record(pd->alerts, w, event,
				 c[i].new_scan_exploit ? scan_class(&c[i]) : SAFEM_CLASS_UNKNOWN,
				 &c[i], v);
		written++;
		pd->behaviour_alerts++;
	}
	/* the detector's alert of this window: the cluster that explains it, same incident */
	if (v->alerted && (why = explaining_cluster(c, n, v->direction)) != NULL)
		behaviour_record(pd->alerts, w, "explained_by", v->cls, why, v);
	return ferror(pd->alerts) ? -EIO : 0;
}

/* The direction of contacts from src to dst, as lib/featdist assigns flows; between two
 * outside hosts (transit): all. */
static enum safem_direction
finding_direction(const struct probe_detect *pd, const struct safem_feature_value *src,
		  const struct safem_feature_value *dst)
{
	bool home_src = pd->home.count != 0 && safem_home_contains(&pd->home, src);
	bool home_dst = pd->home.count != 0 && safem_home_contains(&pd->home, dst);

	return home_src && home_dst ? SAFEM_DIR_INTERNAL
	       : home_src	    ? SAFEM_DIR_OUT
	       : home_dst	    ? SAFEM_DIR_IN
				    : SAFEM_DIR_ALL;
}

/* The newest pane's flow log for the structural tests, and whether they judge it: unsampled
 * windows with every contribution logged (under 1-in-N sampling answers are sampled apart
 * from the probes, and packet counts are estimates). */
static bool
pane_flows(const struct probe_detect *pd, const struct safem_window_summary *summary,
	   struct safem_profile_flows *pf)
{
	safem_window_analysis_pane_flows(pd->windows, pf);
	return summary->sample_rate <= 1 && pf->unlogged == 0 && pf->segments > 0;
}

/*
 * The time the pane's log reaches: its newest contribution's last packet (at most the
 * pane's end; 0 with an empty log). The sequential tests date their window's own
 * observations against it, not against the pane's nominal end: a pane cut short (the
 * capture's end, a stop, a clock jump) has seen nothing after its newest packet, so an
 * observation has gone unanswered only for as long as traffic was watched after it.
 */
static uint64_t
pane_clock(const struct safem_profile_flows *pf, uint64_t end_ms)
{
	uint64_t newest = 0;

	for (unsigned int g = 0; g < pf->segments; g++)
		for (uint32_t i = 0; i < pf->n[g]; i++) {
			uint64_t t = safem_profile_flow_last_ms(&pf->flow[g][i], end_ms);

			if (t > newest)
				newest = t;
		}
	return newest;
}

static enum safem_attack_class
finding_class(enum safem_seqscan_shape s)
{
	switch (s) {
	case SAFEM_SEQSCAN_HORIZONTAL:
		return SAFEM_CLASS_HORIZONTAL_SCAN;
	case SAFEM_SEQSCAN_VERTICAL:
		return SAFEM_CLASS_VERTICAL_SCAN;
	case SAFEM_SEQSCAN_WORM:
		return SAFEM_CLASS_WORM;
	}
	return SAFEM_CLASS_UNKNOWN;
}

/*
 * The sequential scan test on the window's newest pane (docs/detection.md, "Sequential
 * scan test (TRW)"): unsampled windows with a complete flow log only (under 1-in-N
 * sampling the answers are sampled apart from the probes: a missing answer is no
 * evidence). Its findings, as the detector reads them, in pd->findings.
 */
static unsigned int
scan_test_window(struct probe_detect *pd, const struct safem_profile_flows *pf, bool judged,
		 uint64_t clock_ms)
{
	const struct safem_seqscan_finding *f;
	uint64_t t0 = thread_cpu_ns();
	unsigned int n, i;

	if (safem_seqscan_window(pd->seqscan, pf->flow, pf->n, pf->segments, judged, clock_ms) <
	    0)
		return 0;
	n = safem_seqscan_findings(pd->seqscan, &f);
	for (i = 0; i < n; i++) {
		/* the direction of its (last failed) contacts */
		enum safem_direction dir = finding_direction(pd, &f[i].src, &f[i].dst);

		pd->findings[i] = (struct safem_detect_finding){
			.cls = finding_class(f[i].shape),
			.direction = dir,
			.address = f[i].src,
			.port = f[i].shape == SAFEM_SEQSCAN_VERTICAL ? 0 : f[i].port,
			.proto = f[i].proto,
			.has_target = f[i].shape == SAFEM_SEQSCAN_VERTICAL,
			.target = f[i].dst,
			.test = "trw",
			.evidence = f[i].failures,
			.evidence_run = f[i].failures_run,
			.llr = f[i].llr,
			.windows = f[i].windows,
			.sources = f[i].sources,
		};
	}
	note_cost(&pd->scan_test_ns_max, t0);
	return n;
}

static enum safem_attack_class
victim_class(enum safem_victim_kind k)
{
	switch (k) {
	case SAFEM_VICTIM_REFLECTION:
		return SAFEM_CLASS_REFLECTION;
	case SAFEM_VICTIM_ICMP_REPLY:
		return SAFEM_CLASS_ICMP_FLOOD;
	case SAFEM_VICTIM_ATTEMPT:
		return SAFEM_CLASS_SYN_FLOOD;
	case SAFEM_VICTIM_UDP_PORTS:
		return SAFEM_CLASS_UDP_FLOOD;
	case SAFEM_VICTIM_KINDS:
		break;
	}
	return SAFEM_CLASS_UNKNOWN;
}

/*
 * The destination-side sequential test on the same pane and with the same judged rule as
 * the scan test (docs/detection.md, "Destination-side sequential test (victims)"). Its
 * findings join the scan test's first n in pd->findings, the most evidence first (the
 * detector takes the class of the first); returns the new total.
 */
static unsigned int
victim_test_window(struct probe_detect *pd, const struct safem_profile_flows *pf, bool judged,
		   uint64_t clock_ms, unsigned int n)
{
	const struct safem_victim_finding *f;
	uint64_t t0 = thread_cpu_ns();
	unsigned int nv, i, j;

	if (safem_victim_window(pd->victim, pf->flow, pf->n, pf->segments, judged, clock_ms) < 0)
		return n;
	nv = safem_victim_findings(pd->victim, &f);
	for (i = 0; i < nv; i++) {
		struct safem_detect_finding d = {
			.cls = victim_class(f[i].kind),
			.direction = finding_direction(pd, &f[i].source, &f[i].victim),
			.address = f[i].source,
			.port = f[i].port,
			.proto = f[i].proto,
			.has_target = true,
			.target = f[i].victim,
			.test = "victim",
			.evidence = f[i].failures,
			.evidence_run = f[i].failures_run,
			.llr = f[i].llr,
			.windows = f[i].windows,
			.sources = f[i].failures, /* one failed arrival per new source */
		};

		for (j = n; j > 0 && pd->findings[j - 1].evidence < d.evidence; j--)
			pd->findings[j] = pd->findings[j - 1];
		pd->findings[j] = d;
		n++;
	}
	note_cost(&pd->victim_test_ns_max, t0);
	return n;
}

/*
 * The sequential guessing test on the window's newest pane (docs/detection.md, "Brute
 * force at a few connections a window: sessions alike"), judged as the scan test is: its
 * findings appended to pd->findings after the first n.
 */
static unsigned int
brute_test_window(struct probe_detect *pd, const struct safem_profile_flows *pf, bool judged,
		  unsigned int n)
{
	const struct safem_brute_finding *f;
	uint64_t t0 = thread_cpu_ns();
	unsigned int nb, i;

	if (safem_brute_window(pd->brute, pf->flow, pf->n, pf->segments, judged) < 0)
		return n;
	nb = safem_brute_findings(pd->brute, &f);
	for (i = 0; i < nb; i++)
		pd->findings[n++] = (struct safem_detect_finding){
			.cls = SAFEM_CLASS_BRUTE_FORCE,
			.direction = finding_direction(pd, &f[i].client, &f[i].server),
			.address = f[i].client,
			.port = f[i].port,
			.proto = f[i].proto,
			.has_target = true,
			.target = f[i].server,
			.test = "sprt_sessions",
			.evidence = f[i].alike,
			.evidence_run = f[i].alike_run,
			.llr = f[i].llr,
			.windows = f[i].windows,
		};
	note_cost(&pd->brute_test_ns_max, t0);
	return n;
}

/*
 * The sampled fan-out test on the same pane (docs/detection.md, "Sampled links: evidence
 * over windows (session 10)"): sampled windows only, where the sequential tests judge
 * nothing. Its findings after the first n, as many as there is room for.
 */
static unsigned int
fanout_test_window(struct probe_detect *pd, const struct safem_window_summary *summary,
		   const struct safem_profile_flows *pf, unsigned int n)
{
	const struct safem_detect_finding *f;
	uint64_t t0 = thread_cpu_ns();
	unsigned int nf, i;

	if (safem_fanout_window(pd->fanout, pf->flow, pf->n, pf->segments, summary->sample_rate,
				pf->unlogged == 0) < 0)
		return n;
	nf = safem_fanout_findings(pd->fanout, &f);
	for (i = 0; i < nf && n < SAFEM_DETECT_FINDINGS_MAX; i++) {
		pd->findings[n] = f[i];
		pd->findings[n].direction = finding_direction(pd, &f[i].address, &f[i].target);
		n++;
	}
	note_cost(&pd->fanout_test_ns_max, t0);
	return n;
}

int
probe_detect_window(void *ctx, const struct safem_window_summary *summary, FILE *members)
{
	struct probe_detect *pd = ctx;
	struct safem_detect_hint hint = {.present = false};
	struct safem_detect_verdict v;
	/* the newest pane's flow log, read once for the structural tests */
	struct safem_profile_flows pf = {NULL, NULL, 0, 0};
	unsigned int nfindings = 0;
	uint64_t clock_ms = 0;
	bool judged = false;
	int ret = 0;

	pd->last_end_ms = summary->end_ms;
	if (pd->trainer != NULL) {
		safem_baseline_trainer_add(pd->trainer, summary);
		pd->trained_windows++;
	}
	if (pd->baseline_mean != NULL)
		ret = classify_window(pd, summary, &hint);
	if (pd->windows != NULL) {
		judged = pane_flows(pd, summary, &pf);
		/* the summary's end is its newest pane's */
		if (judged && (pd->seqscan != NULL || pd->victim != NULL))
			clock_ms = pane_clock(&pf, summary->end_ms);
	}
	if (ret == 0 && pd->seqscan != NULL && pd->windows != NULL)
		nfindings = scan_test_window(pd, &pf, judged, clock_ms);
	if (ret == 0 && pd->victim != NULL && pd->windows != NULL)
		nfindings = victim_test_window(pd, &pf, judged, clock_ms, nfindings);
	if (ret == 0 && pd->brute != NULL && pd->windows != NULL)
		nfindings = brute_test_window(pd, &pf, judged, nfindings);
	if (ret == 0 && pd->fanout != NULL && pd->windows != NULL)
		nfindings = fanout_test_window(pd, summary, &pf, nfindings);
	if (ret == 0)
		ret = safem_detector_window_findings(pd->detector, summary, &hint, pd->findings,
						     nfindings, members, &v);
	if (ret == 0 && pd->profiler != NULL)
		ret = behaviour_alerts(pd, summary, &v);
	if (ret == 0 && pd->features_out != NULL &&
	    safem_features_write_line(pd->features_out,
				      safem_attack_class_name(v.cls), pd->features,
				      SAFEM_CLASSIFIER_FEATURES, summary->start_ms,
				      summary->end_ms) < 0)
		ret = -EIO;
	if (ret != 0 && pd->error == 0)
		pd->error = ret;
	return ret;
}

int
probe_detect_close(struct probe_detect *pd, bool ok)
{
	const struct probe_config *cfg = pd->cfg;
	int ret = pd->error;

	if (pd->detector != NULL && ret == 0)
		ret = safem_detector_finish(pd->detector, pd->last_end_ms);
	if (ret != 0)
		fprintf(stderr, "safem-probe: alerts: write failed: %s\n", strerror(-ret));
	if (pd->trainer != NULL && ok && ret == 0) {
		ret = safem_baseline_trainer_save(pd->trainer, cfg->train_baseline_path);
		if (ret == -EINVAL)
			fprintf(stderr,
				"safem-probe: --train-baseline %s: no usable window to learn from "
				"(%llu windows seen)\n",
				cfg->train_baseline_path, (unsigned long long)pd->trained_windows);
		else if (ret != 0)
			fprintf(stderr, "safem-probe: --train-baseline %s: write failed: %s\n",
				cfg->train_baseline_path, strerror(-ret));
	}
	return ret;
}

void
probe_detect_free(struct probe_detect *pd)
{
	safem_detector_free(pd->detector);
	pd->detector = NULL;
	safem_seqscan_free(pd->seqscan);
	pd->seqscan = NULL;
	safem_victim_free(pd->victim);
	pd->victim = NULL;
	safem_brute_free(pd->brute);
	pd->brute = NULL;
	safem_fanout_free(pd->fanout);
	pd->fanout = NULL;
	safem_baseline_trainer_free(pd->trainer);
	pd->trainer = NULL;
	pd->features_out = NULL; /* the caller's stream */
	safem_classifier_free(pd->model);
	pd->model = NULL;
	free(pd->baseline_mean);
	pd->baseline_mean = NULL;
}
