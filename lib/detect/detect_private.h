/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SAFEM_DETECT_PRIVATE_H
#define SAFEM_DETECT_PRIVATE_H

/* Internal to lib/detect: metric layout, bands, shares, incidents. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "safem_detect.h"

#define DIRS SAFEM_DIR_COUNT
#define FEATURES SAFEM_FEATURE_COUNT
#define WEIGHTS SAFEM_WEIGHT_COUNT
#define PROTOS SAFEM_PROTO_COUNT
#define VOLUMES 3      /* packets, bytes, flows */
#define TREE_SIDES 2   /* source, destination tree */
#define TREE_METRICS 3 /* bytes, packets, flows (enum safem_agg_metric order) */
/* Distinct q values are equal when they differ by less than this (profile check). */
#define Q_MATCH_TOLERANCE 1e-9
/* directions classified: IN and OUT, or ALL; with home prefixes known, ALL as the transit
 * candidate after IN and OUT (metric_layout_add_transit) */
#define CANDIDATES 3
/* Values judged per feature: the union of the top lists by packets and by flows. */
#define TOP_UNION (2 * SAFEM_SUMMARY_TOP)

/*
 * Metric vector layout, in this order (docs/detection.md):
 *   spectrum[dir][feature][weight][q]  (q < 0: ln of the normalised value)
 *   volume[dir][packets, bytes, flows] log10(1 + v)
 *   tree_entropy[side][bytes, packets, flows]
 *   distinct[dir][feature]             ln(1 + distinct)
 *   proto_share[dir][class]            flows of the class / flows of the direction
 *   proto_packet_share[dir][class]     packets of the class / packets of the direction
 *                                      (a band for the class rules, not scored: metric_weight)
 * Every direction has its slots; a direction not in use is skipped.
 */
struct metric_layout {
	unsigned int nq;
	double q[SAFEM_SPECTRUM_Q_MAX];
	unsigned int directions; /* bit d: direction d in use (ALL always) */
	enum safem_direction focus; /* IN when in use, else ALL: trained profile tops, reports */
	/* Directions classified, each on its own (docs/detection.md, "Direction"): IN and OUT
	 * when in use (attacks on the home network, and from infected home hosts), else ALL. */
	unsigned int ncandidates;
	enum safem_direction candidate[CANDIDATES];
	/* the slot of ALL as the transit candidate (flows between two outside hosts count in
	 * ALL only), or CANDIDATES when there is none (docs/detection.md, "Transit") */
	unsigned int transit_slot;
	unsigned int volume_base, tree_base, distinct_base, proto_base, proto_packet_base, count;
};

void metric_layout_init(struct metric_layout *l, const double *q, unsigned int nq,
			unsigned int directions);
/* With IN and OUT in use: ALL joins the candidates as the transit one (last). */
void metric_layout_add_transit(struct metric_layout *l);
static inline unsigned int
metric_spectrum(const struct metric_layout *l, unsigned int dir, unsigned int feat,
		unsigned int weight, unsigned int qi)
{
	return ((dir * FEATURES + feat) * WEIGHTS + weight) * l->nq + qi;
}
static inline unsigned int
metric_distinct(const struct metric_layout *l, unsigned int dir, unsigned int feat)
{
	return l->distinct_base + dir * FEATURES + feat;
}
static inline unsigned int
metric_proto(const struct metric_layout *l, unsigned int dir, unsigned int proto)
{
	return l->proto_base + dir * PROTOS + proto;
}
static inline unsigned int
metric_proto_packets(const struct metric_layout *l, unsigned int dir, unsigned int proto)
{
	return l->proto_packet_base + dir * PROTOS + proto;
}
/* The direction a metric belongs to; DIRS for the tree entropies. */
unsigned int metric_direction(const struct metric_layout *l, unsigned int m);
bool metric_in_use(const struct metric_layout *l, unsigned int m);
/* 0 for metrics that repeat another one (q = 0 for packets and bytes equals flows). */
bool metric_scored(const struct metric_layout *l, unsigned int m);
/* How much a metric's deviation counts in the score: 1 for the flow-weighted ones (flows
 * spectra, distinct values, protocol shares, flow volume), less for packets and bytes,
 * sampled or not (docs/detection.md, "Score"); 0 when not scored. */
double metric_weight(const struct metric_layout *l, unsigned int m);
/* "spectrum/in/dst_addr/packets/q=-0.5", "volume/all/packets", ... */
void metric_name(const struct metric_layout *l, unsigned int m, char *buf, size_t len);
/* -1 when no metric has that name; hint: the index to try first. */
int metric_find(const struct metric_layout *l, const char *name, unsigned int hint);
/* 0, or -EINVAL when w's q set or directions differ from l's. */
int metric_check_summary(const struct metric_layout *l, const struct safem_window_summary *w);
void metric_flatten(const struct metric_layout *l, const struct safem_window_summary *w,
		    double *x);

/* Name tables (kept here so lib/featdist is not needed at link time). */
extern const char *const detect_direction_names[DIRS];
extern const char *const detect_feature_names[FEATURES];
extern const char *const detect_weight_names[WEIGHTS];
extern const char *const detect_proto_names[PROTOS];
int detect_name_index(const char *const *names, unsigned int n, const char *name);
/* qsort comparator of doubles, smallest first. */
int detect_double_ascending(const void *a, const void *b);

/* A value's share of the direction's packets and of its flows (prefixes: packets only). */
struct share_pair {
	double packets, flows;
};

/* A bounded table of values (address, port or prefix) and summed shares. */
struct share_entry {
	struct safem_feature_value value;
	uint8_t len; /* prefix length + 1; 0 for feature values */
	struct share_pair sum;
};
struct share_table {
	unsigned int n, cap;
	struct share_entry *e;
};
int share_table_init(struct share_table *t, unsigned int cap);
void share_table_free(struct share_table *t);
/* Add share to the value's sum; a new value is dropped when the table is full. */
void share_table_add(struct share_table *t, const struct safem_feature_value *v, uint8_t len,
		     struct share_pair share);
const struct share_entry *share_table_find(const struct share_table *t,
					   const struct safem_feature_value *v, uint8_t len);
/* Sort by packet share, largest first. */
void share_table_sort(struct share_table *t);
/* One table per feature (focus-direction top values) and per tree side (prefixes). */
struct share_tables {
	struct share_table top[FEATURES];
	struct share_table prefix[TREE_SIDES];
};
int share_tables_init(struct share_tables *st, unsigned int cap);
void share_tables_free(struct share_tables *st);

/* A value's shares in one baseline window (of its direction's packets and flows). */
struct top_share {
	struct safem_feature_value value;
	float packets, flows;
};

/* Baseline top values (by packets and by flows) of the classified directions and
 * prefixes of one window. */
struct window_tops {
	struct top_share top[CANDIDATES][FEATURES][TOP_UNION];
	uint8_t ntop[CANDIDATES][FEATURES];
	/* the smallest flow share the top list by flows held when it was full (a value it
	 * left out had at most that), else 0 (every value with a flow was listed) */
	float flow_floor[CANDIDATES][FEATURES];
	/* the direction's flows in the window: a value's count there is its share times these
	 * (baseline_peak_flow_share) */
	float flows[CANDIDATES];
	/* and its packets: a value's packet count there (baseline_peak_packets) */
	float packets[CANDIDATES];
	struct safem_top_prefix prefixes[TREE_SIDES][SAFEM_SUMMARY_TOP];
	unsigned int nprefixes[TREE_SIDES];
	uint64_t start_ms; /* of the learnt window (baseline.before_ms) */
};

#define TRAINED_HOURS 24
#define TRAINED_ALL_HOURS TRAINED_HOURS /* slot of the all-hours band */
/* An hour's band is used when at least this many windows trained it. */
#define TRAINED_HOUR_MIN_WINDOWS 20
/* Top values and prefixes kept in a profile per feature / tree side. */
#define PROFILE_TOP_MAX 64

struct baseline {
	enum safem_baseline_kind kind;
	unsigned int metrics;
	/* MOVING: ring of the last K accepted windows */
	unsigned int ring_size, ring_count, ring_next;
	double *ring;              /* ring_size * metrics */
	double *column;            /* ring_size: one metric's values, sorted for its band */
	struct window_tops *tops;  /* ring_size */
	/* current band (MOVING), or band per hour slot (TRAINED) */
	double *lo, *hi;           /* MOVING: metrics; TRAINED: (TRAINED_HOURS + 1) * metrics */
	uint64_t hour_windows[TRAINED_HOURS + 1];
	bool per_hour;
	struct share_tables trained; /* TRAINED: mean shares from the profile */
	uint64_t trained_windows;
	unsigned int sample_rate; /* TRAINED: the training's 1-in-N sampling (0: not recorded) */
	/* MOVING, while a horizon is judged (detector.c): values' shares (mean, peak, flow
	 * bound) and protocol means come from the learnt windows that started before this,
	 * not from the horizon's own windows (0: every learnt window) */
	uint64_t before_ms;
};

int baseline_moving_init(struct baseline *b, unsigned int metrics, unsigned int k);
void baseline_free(struct baseline *b);
/* MOVING: learn one window (its metrics and the classified directions' tops). */
void baseline_moving_add(struct baseline *b, const struct metric_layout *l, const double *x,
			 const struct safem_window_summary *w);
/* The band for a window starting at start_ms; windows behind it (0: no band yet). */
uint64_t baseline_band(const struct baseline *b, uint64_t start_ms, const double **lo,
		       const double **hi);
/* Protocol shares of a mean summary are written as flows per this many flows. */
#define MEAN_PROTO_SCALE 1000000.0
/*
 * The mean summary of the windows behind the band at start_ms (MOVING: the ring; TRAINED:
 * band midpoints, top shares from the profile), as safem_detector_baseline_mean documents;
 * scratch: b->metrics doubles. Returns the windows behind it; 0: none (m untouched).
 */
unsigned int baseline_mean_summary(const struct baseline *b, const struct metric_layout *l,
				   uint64_t start_ms, double *scratch,
				   struct safem_window_summary *m);
/* Mean share of a value over the baseline windows, and in peak (if not NULL) its largest
 * share in one of them (TRAINED: the mean). len 0: a value of feature feat of candidate
 * direction slot (TRAINED: the profile's, whatever the slot); else a prefix of length
 * len - 1 of tree side feat (0 source, 1 destination). */
struct share_pair baseline_share(const struct baseline *b, unsigned int slot, unsigned int feat,
				 const struct safem_feature_value *v, uint8_t len,
				 struct share_pair *peak);
/* A value's mean flow share over the baseline windows, which evidence per value
 * (classify.c) tests counts against: a window whose full top list left the value out
 * counts half that list's floor (baseline.c). TRAINED: the profile's mean share (and
 * classify-time, at least the window's own list floor). */
double baseline_flow_share_bound(const struct baseline *b, unsigned int slot, unsigned int feat,
				 const struct safem_feature_value *v);
/*
 * A window of fewer flows than this is low-rate: one flow more or less moves every flow
 * share by 1/n, which passes the band scale's floor of 2 % (pattern.c) for n < 1 / 0.02
 * (detector.c, docs/detection.md "Warm-up and low-rate links"). Its shares are as coarse
 * as that: a value that held 2 of its 2 flows had a share of 1 (baseline_peak_flow_share).
 */
#define LOW_RATE_FLOWS 50.0
/*
 * The largest flow share of value v (feature feat of candidate slot) that one baseline
 * window explains now: its count there (share times that window's flows) in each of the
 * `windows` windows now judged, over their `flows` flows; or, in a window of at least
 * LOW_RATE_FLOWS flows, its share there if larger (a low-rate window's share is a count
 * over a handful). TRAINED: the profile's mean share (no counts are kept).
 * docs/detection.md, "Brute force on low-rate links and across cut connections".
 */
double baseline_peak_flow_share(const struct baseline *b, unsigned int slot, unsigned int feat,
				const struct safem_feature_value *v, double flows,
				unsigned int windows);
/*
 * The most packets value v (feature feat of candidate slot) had in one baseline window: its
 * packet share there times that window's packets, the largest over the windows
 * baseline_share takes its peak from. A count, not a share: on a low-rate link a window of
 * a dozen packets gives any value in it a share that says nothing of its size
 * (docs/detection.md, "ICMP floods of any type on low-rate links (session 12)"). TRAINED
 * (no counts kept): the profile's mean share times packets, the window's packets.
 */
double baseline_peak_packets(const struct baseline *b, unsigned int slot, unsigned int feat,
			     const struct safem_feature_value *v, double packets);

/* Profile file (profile.c). */
int profile_load(struct baseline *b, const struct metric_layout *l, const char *path, char *err,
		 size_t errlen);

/* Deviation of one window from its band (pattern.c). */
#define METRIC_SCORE_CAP 3.0
struct deviation {
	int8_t *sign;      /* per metric: +1 above, -1 below, 0 inside (or unused) */
	double score;
	/* the part of the score from flow-weighted metrics (weight 1): new flows, peers, ports,
	 * protocol mix. Packets and bytes alone (an elephant, a bulk transfer) leave it at 0. */
	double flow_score;
	double dir_score[DIRS + 1]; /* the score's part per direction (DIRS: tree entropies) */
	unsigned int deviating;
	/* the band compared against (deviation_compute's lo, hi): the class rules measure how far
	 * a protocol class's packets went past its upper edge (classify.c, ICMP floods) */
	const double *lo, *hi;
	double margin; /* deviation_compute's margin: '+' is past hi + margin x scale */
	/* set by the detector before the class rules: the window is low-rate (detector.c,
	 * LOW_RATE_FLOWS; classify.c, ICMP floods by packets count there only when they
	 * outweigh the link: low_rate_icmp_outweighs) */
	bool low_rate;
	/* set by the detector: packet evidence (ICMP floods by packets) is judged; false over a
	 * horizon of several windows (detector.c, horizon_classify) */
	bool packets_judged;
};
/* A value's counts in a window summary's top lists of direction dir, feature f (either
 * list), or NULL when neither lists it (metrics.c). */
const struct safem_featdist_counts *summary_listed_counts(const struct safem_window_summary *w,
							  unsigned int dir, unsigned int f,
							  const struct safem_feature_value *v);
/* A band's scale s: its width, at least 2 % of its magnitude plus 0.001 ("Deviation"). */
double band_scale(double lo, double hi);
/* skip_dirs: bit d set, metrics of direction d are not compared (too few sampled packets
 * to say anything). */
void deviation_compute(const struct metric_layout *l, const double *x, const double *lo,
		       const double *hi, double margin, unsigned int skip_dirs,
		       struct deviation *dev);
/* nq characters + NUL of '+', '0', '-'. */
void pattern_string(const struct metric_layout *l, const struct deviation *dev, unsigned int dir,
		    unsigned int feat, unsigned int weight, char *out);
/* A feature pattern deviates when any of its q does. */
bool pattern_deviates(const struct metric_layout *l, const struct deviation *dev,
		      unsigned int dir, unsigned int feat);

/* Who is involved: focus-direction top values and prefixes with baseline shares. */
struct involved_item {
	const struct safem_feature_value *value; /* for prefixes: address */
	uint8_t len;                             /* prefixes only */
	/* of the direction's packets and flows (flows: values only; scans send one packet
	 * per flow, so they dominate flows first); peak: largest share in a baseline window */
	struct share_pair share, baseline, peak;
	double flow_bound; /* baseline_flow_share_bound: the mean flow share, at most */
	/* baseline_peak_flow_share: the peak flow share with low-rate baseline windows
	 * explaining their counts, no more (the brute force's second look, detector.c) */
	double count_peak;
	/* the value's own flows, packets and bytes in the window (prefixes: NULL) */
	const struct safem_featdist_counts *counts;
	/* of counts->packets, its ICMP flows' (safem_top_value.icmp_packets; prefixes: 0) */
	double icmp_packets;
	/* over a horizon: an address listed in an older window that does not go on now
	 * (horizon_involved_floor). It is never judged (flow_bound at its own share), rules
	 * that look for a host's requests may still find it, and alerts and the transit
	 * rules never name it */
	bool stale;
	/* flow_bound before a horizon marked the address stale: whether it holds part of the
	 * rise (classify.c, carries_rise), never evidence */
	double own_bound;
};
struct involved {
	enum safem_direction dir;
	unsigned int slot; /* dir's candidate slot (the baseline tops it is judged against) */
	struct involved_item top[FEATURES][TOP_UNION];
	unsigned int ntop[FEATURES];
	struct involved_item prefix[TREE_SIDES][SAFEM_SUMMARY_TOP];
	unsigned int nprefix[TREE_SIDES];
	/* the direction's mean flow share of each protocol class in the baseline (MOVING: the
	 * ring's windows; TRAINED: the band's midpoint): whose flows a victim's rise is */
	double proto_mean[PROTOS];
	/* the same of the direction's packets (proto_packet_share): the link's usual ICMP */
	double proto_packet_mean[PROTOS];
	/* The reverse direction (IN <-> OUT; ALL: itself), where a victim's own requests show
	 * (did it ask for the answers it gets?), its candidate slot (-1: not classified, no
	 * baseline tops) and the baseline its values are judged against. */
	enum safem_direction reverse;
	int reverse_slot;
	const struct baseline *baseline;
	/* the detector's ring of recent windows (NULL: none; involved_compute leaves it NULL):
	 * what a pair did in the windows before (horizon_pair_connected) */
	const struct horizon *horizon;
	/* the windows the summary judged is of: 1, or a horizon's m (its newest m windows in
	 * horizon) */
	unsigned int windows;
};
/* Rises over count_peak instead of the share peak (detector.c, brute force on low-rate
 * links): to is from with peak.flows set to count_peak for each value whose count_peak is
 * under its peak share and whose count is beyond chance against it (baseline.c). False
 * (to not written) when there is none: nothing would change. */
bool involved_count_peaks(const struct involved *from, struct involved *to);
/* Of candidate direction slot: the union of the top lists by packets and by flows. */
void involved_compute(const struct baseline *b, const struct metric_layout *l,
		      const struct safem_window_summary *w, unsigned int slot,
		      struct involved *inv);

/* ln P(X >= k) for X ~ Poisson(lambda) (significance.c); 0 for k <= 0, -inf for a
 * positive k with lambda <= 0. */
double detect_poisson_log_tail(double k, double lambda);

/* The level of evidence per value (classify.c, "Evidence per value"): a value's count is
 * significant when its Poisson tail is at most SIGNIFICANCE^evidence. */
#define SIGNIFICANCE 1e-6

/*
 * Evidence over several windows (horizon.c, docs/detection.md "Evidence over several
 * windows"): the class rules also judge the newest m = 2, 4, ... M windows as one
 * (params.horizon_windows, at most HORIZON_WINDOWS_MAX), counts summed, each horizon (and
 * the single window) at the level SIGNIFICANCE^evidence / horizon_count(M). 8 windows: at 1 % of a 1500 packets/s link
 * (~12 attack flows a window against a busy host's own) or one sampled probe per target
 * at 1:100, 4-8 windows hold the counts one window lacks; longer horizons cost delay
 * (an attack is judged when it ends its horizon) and lift the level for every horizon.
 */
#define HORIZON_WINDOWS_MAX SAFEM_DETECT_HORIZON_WINDOWS_MAX
struct horizon {
	struct safem_window_summary *ring; /* HORIZON_WINDOWS_MAX, whatever was decided */
	unsigned int count, next;
	/* windows starting before this are left out: they belong to an incident that ended */
	uint64_t floor_ms;
	struct safem_window_summary *acc; /* horizon_accumulate's result */
	/* scratch of horizon_accumulate: the listings of one feature over the horizon, and
	 * the values they merge into (HORIZON_LISTINGS each) */
	struct horizon_listing *listing;
	struct horizon_value *cand;
	/* per entry of acc's lists: an address that does not go on now, listed with its counts
	 * (the rules read what a host asked for) but not judged (horizon_involved_floor) */
	bool stale_top[DIRS][FEATURES][SAFEM_SUMMARY_TOP];
	bool stale_flows[DIRS][FEATURES][SAFEM_SUMMARY_TOP];
};
/* Listings of one direction and feature over the longest horizon: both lists, every window. */
#define HORIZON_LISTINGS (HORIZON_WINDOWS_MAX * 2 * SAFEM_SUMMARY_TOP)
int horizon_init(struct horizon *h);
void horizon_free(struct horizon *h);
void horizon_add(struct horizon *h, const struct safem_window_summary *w);
/* Newest windows in the ring from floor_ms on (the longest horizon possible). */
unsigned int horizon_available(const struct horizon *h);
/* Start of the oldest of the newest m windows (m <= horizon_available). */
uint64_t horizon_start_ms(const struct horizon *h, unsigned int m);
/* Horizons tested per window with longest horizon longest: 1, 2, 4, ... longest. */
unsigned int horizon_count(unsigned int longest);
/* The evidence (power of SIGNIFICANCE) of one test corrected for horizon_count(longest) tests. */
double horizon_evidence(double evidence, unsigned int longest);
/* The newest m windows (m <= horizon_available) as one summary: volumes, protocol counts
 * and the values any of the m windows listed, with their counts summed over the windows
 * that listed them (addresses that do not go on now marked in h->stale_*; spectra,
 * prefixes: the newest window's). Points to h->acc, valid until the next call. */
const struct safem_window_summary *horizon_accumulate(struct horizon *h, unsigned int m,
						      const struct baseline *b,
						      const struct metric_layout *l);
/*
 * Did source src make connections to destination dst in direction dir in a recent window
 * (the ring's windows from its floor on, the newest included): a window whose lists hold
 * src with at least min_packets packets a flow over at least PAIR_CONNECTIONS_MIN flows,
 * and dst, as a destination, with at least half of src's flows (most of them went to
 * dst). docs/detection.md, "Brute force on low-rate links and across cut connections
 * (session 8)".
 */
bool horizon_pair_connected(const struct horizon *h, unsigned int dir,
			    const struct safem_feature_value *src,
			    const struct safem_feature_value *dst, double min_packets);
/* A value's flows in direction dir summed over the newest m windows of the ring that
 * listed it (by flows or by packets; 0 in a window that did not): a lower bound, whatever
 * the horizon's own lists kept. */
double horizon_listed_flows(const struct horizon *h, unsigned int m, unsigned int dir,
			    unsigned int feat, const struct safem_feature_value *v);
struct involved;
/* The chance floor of a horizon's values: lambda at least one flow a window (m flows);
 * a stale address (h, horizon_accumulate) at least its own count: never significant. */
void horizon_involved_floor(const struct horizon *h, struct involved *inv, unsigned int m,
			    const struct safem_window_summary *acc);

/* Classification (classify.c) of inv->dir. evidence: the power of SIGNIFICANCE a value's
 * count must reach (classify.c): 1 for a window the score flags, RISE_ONLY_EVIDENCE for
 * one it does not (docs/detection.md, "Under the score"): 1.25, 1e-7.5. Tuning set
 * (seed 100, 1 % share): 1 found 0.78 of the attack windows but alerted one clean window
 * of bg_ndpi_appmix more than 1.25 (a host answered from one port by the ten servers it
 * had just asked); 1.25 found 0.68 and no clean window more than before on either real
 * background. */
#define RISE_ONLY_EVIDENCE 1.25
enum safem_attack_class classify_window(const struct metric_layout *l, const struct deviation *dev,
					const struct safem_window_summary *w,
					const struct involved *inv, double evidence);
/* Does a class found in the transit candidate (ALL) name a flood between outside hosts: its
 * victim outside the home prefixes (and unanswered)? Scans and worms: never. (classify.c,
 * docs/detection.md "Transit") */
bool classify_transit(const struct metric_layout *l, const struct deviation *dev,
		      const struct safem_window_summary *w, const struct involved *inv,
		      enum safem_attack_class cls, const struct safem_home *home, double evidence);
/* The class of a spectrum rule's window once the window's structural findings are known:
 * a reflection whose victim lib/victim found flooded by a few sources opening new UDP ports
 * is a UDP flood (classify.c, docs/detection.md "Few-source UDP floods (session 11)"). */
enum safem_attack_class classify_by_findings(const struct involved *inv, enum safem_attack_class cls,
					     const struct safem_detect_finding *f, unsigned int n);

/* Incidents (incident.c) and alert lines (alert.c). */
struct incident {
	bool open;
	enum safem_attack_class cls;
	enum safem_direction dir; /* of its last window */
	uint64_t id, start_ms, last_seen_ms;
	unsigned int normal_run;
};
struct alert_context {
	FILE *out;
	const struct metric_layout *layout;
	const struct deviation *dev;
	const struct safem_window_summary *w;
	const struct involved *inv;
	enum safem_direction dir; /* the classified direction */
	double score;
	const struct safem_detect_hint *hint; /* NULL: no SVM member */
	/* windows behind the decision (0 or 1: this one) and the start of the first: an
	 * incident a horizon starts begins there */
	unsigned int horizon_windows;
	uint64_t horizon_start_ms;
	/* an alert on structural findings alone (dev NULL): who they name */
	const struct safem_detect_finding *findings;
	unsigned int nfindings;
};
int incident_window(struct incident *inc, uint64_t *next_id, const struct alert_context *a,
		    bool alerted, enum safem_attack_class cls, unsigned int gap_windows,
		    uint64_t *incidents);
int incident_finish(struct incident *inc, const struct alert_context *a);
int alert_write(const struct alert_context *a, const struct incident *inc, const char *record,
		uint64_t start_ms, uint64_t end_ms);
int report_write(FILE *out, const struct metric_layout *l, const struct safem_window_summary *w,
		 const struct deviation *dev, const struct safem_detect_verdict *v);
void json_number(FILE *f, double v);
/* A value as text: address (dotted quad / RFC 5952) or port number; quoted: as a JSON string. */
void value_text(FILE *f, unsigned int feat, const struct safem_feature_value *v, bool quoted);
/* "a.b.c.d/n" (v4-mapped, len 96 + n) or "x::/len". */
void prefix_text(FILE *f, const struct safem_feature_value *addr, uint8_t len, bool quoted);

/* SVM hints (hint.c). */
/* NULL, or the SVM parameter that is out of range. */
const char *hint_params_invalid(const struct safem_detect_params *p);
/* 0, or -EINVAL for a class out of range or a non-finite number. */
int hint_check(const struct safem_detect_hint *h);
/* Lower bound of the 95 % Wilson interval of the precision correct / verdicts (0: none). */
double hint_precision_lower_bound(uint64_t correct, uint64_t verdicts);
/* Combine: v->spectrum_anomalous is set; the SVM's attack class or novelty counts only
 * when score and flow_score reach alert_score (a deviation behind it), or (the class)
 * when its held-out precision earns a verdict alone; sets v->anomalous and v->svm_anomalous (eligible:
 * past the warm-up with a band). Returns the SVM's class when it decides the class, else
 * NORMAL (the spectrum rules classify). */
enum safem_attack_class hint_combine(const struct safem_detect_params *p,
				     const struct safem_detect_hint *h, bool eligible, double score,
				     double last_score, double flow_score,
				     bool spectrum_explained, struct safem_detect_verdict *v);
/* ,"svm":{...} */
int hint_write(FILE *f, const struct safem_detect_hint *h);
/* Report members: ,"spectrum_anomalous":..,"anomaly_source":"..","svm":{...} */
int hint_report_write(FILE *f, const struct safem_detect_hint *h,
		      const struct safem_detect_verdict *v);

#endif /* SAFEM_DETECT_PRIVATE_H */
