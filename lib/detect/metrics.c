/* SPDX-License-Identifier: BSD-3-Clause */
/* The metric vector of a window summary: layout, names, flattening. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "detect_private.h"

const char *const detect_direction_names[DIRS] = {"all", "in", "out", "internal"};
const char *const detect_feature_names[FEATURES] = {"src_addr", "dst_addr", "src_port", "dst_port"};
const char *const detect_weight_names[WEIGHTS] = {"flows", "packets", "bytes"};
const char *const detect_proto_names[PROTOS] = {"tcp_syn", "tcp", "udp", "icmp", "other"};
static const char *const volume_names[VOLUMES] = {"packets", "bytes", "flows"};
static const char *const tree_side_names[TREE_SIDES] = {"src", "dst"};
static const char *const tree_metric_names[TREE_METRICS] = {"bytes", "packets", "flows"};

int
detect_name_index(const char *const *names, unsigned int n, const char *name)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return (int)i;
	return -1;
}

void
metric_layout_init(struct metric_layout *l, const double *q, unsigned int nq,
		   unsigned int directions)
{
	memset(l, 0, sizeof(*l));
	l->nq = nq;
	memcpy(l->q, q, nq * sizeof(q[0]));
	l->directions = directions | (1u << SAFEM_DIR_ALL);
	l->focus = (l->directions & (1u << SAFEM_DIR_IN)) ? SAFEM_DIR_IN : SAFEM_DIR_ALL;
	if (l->directions & (1u << SAFEM_DIR_IN))
		l->candidate[l->ncandidates++] = SAFEM_DIR_IN;
	if (l->directions & (1u << SAFEM_DIR_OUT))
		l->candidate[l->ncandidates++] = SAFEM_DIR_OUT;
	if (l->ncandidates == 0)
		l->candidate[l->ncandidates++] = SAFEM_DIR_ALL;
	l->transit_slot = CANDIDATES;
	l->volume_base = DIRS * FEATURES * WEIGHTS * nq;
	l->tree_base = l->volume_base + DIRS * VOLUMES;
	l->distinct_base = l->tree_base + TREE_SIDES * TREE_METRICS;
	l->proto_base = l->distinct_base + DIRS * FEATURES;
	l->proto_packet_base = l->proto_base + DIRS * PROTOS;
	l->count = l->proto_packet_base + DIRS * PROTOS;
}

void
metric_layout_add_transit(struct metric_layout *l)
{
	/* OUT too: a transit destination is one home hosts send little to (classify.c) */
	if (!(l->directions & (1u << SAFEM_DIR_IN)) || !(l->directions & (1u << SAFEM_DIR_OUT)) ||
	    l->ncandidates >= CANDIDATES)
		return;
	l->transit_slot = l->ncandidates;
	l->candidate[l->ncandidates++] = SAFEM_DIR_ALL;
}

unsigned int
metric_direction(const struct metric_layout *l, unsigned int m)
{
	if (m < l->volume_base)
		return m / (FEATURES * WEIGHTS * l->nq);
	if (m < l->tree_base)
		return (m - l->volume_base) / VOLUMES;
	if (m < l->distinct_base)
		return DIRS;
	if (m < l->proto_base)
		return (m - l->distinct_base) / FEATURES;
	if (m < l->proto_packet_base)
		return (m - l->proto_base) / PROTOS;
	return (m - l->proto_packet_base) / PROTOS;
}

bool
metric_in_use(const struct metric_layout *l, unsigned int m)
{
	unsigned int dir = metric_direction(l, m);

	return dir == DIRS || (l->directions & (1u << dir)) != 0;
}

bool
metric_scored(const struct metric_layout *l, unsigned int m)
{
	unsigned int qi, weight;

	if (m >= l->volume_base)
		return true;
	qi = m % l->nq;
	weight = (m / l->nq) % WEIGHTS;
	return !(l->q[qi] == 0.0 && weight != SAFEM_WEIGHT_FLOWS);
}

/*
 * Packets and bytes weigh less than flows: an elephant flow, a bulk transfer or a burst
 * moves the packet and byte spectra of a few values with no change in who talks to whom,
 * while floods, scans and worms add many flows (one packet each, often). A lone change of
 * packets/bytes only alerts when it is large on many metrics. The same under 1-in-N
 * sampling: packet metrics weighing 1 and flow metrics 0.25 there (tried, 1:10, ~150
 * sampled packets a window) alerted on 11 clean windows of 280 instead of 2 and found fewer
 * 5 % attacks (2 windows of 60 instead of 5): an attack's sampled packets are still new
 * flows, while packet spectra of ~150 packets follow every elephant.
 */
#define WEIGHT_PACKETS_BYTES 0.25

double
metric_weight(const struct metric_layout *l, unsigned int m)
{
	if (!metric_scored(l, m))
		return 0;
	if (m < l->volume_base)
		return (m / l->nq) % WEIGHTS == SAFEM_WEIGHT_FLOWS ? 1.0 : WEIGHT_PACKETS_BYTES;
	if (m < l->tree_base)
		return (m - l->volume_base) % VOLUMES == 2 ? 1.0 : WEIGHT_PACKETS_BYTES;
	if (m < l->distinct_base) /* tree entropies: bytes, packets, flows */
		return (m - l->tree_base) % TREE_METRICS == 2 ? 1.0 : WEIGHT_PACKETS_BYTES;
	/* Packet shares of the protocol classes are a band for the class rules (classify.c,
	 * ICMP floods), not a score: the packets they count already move the packet spectra
	 * and volumes, and a class's packet share follows every elephant of it (a TCP backup
	 * doubles TCP's share on a link of DNS and pings). Scored, they would count those
	 * packets twice. */
	if (m >= l->proto_packet_base)
		return 0;
	return 1.0;
}

void
metric_name(const struct metric_layout *l, unsigned int m, char *buf, size_t len)
{
	unsigned int dir = metric_direction(l, m);

	if (m < l->volume_base) {
		unsigned int qi = m % l->nq, weight = (m / l->nq) % WEIGHTS;
		unsigned int feat = (m / (l->nq * WEIGHTS)) % FEATURES;

		snprintf(buf, len, "spectrum/%s/%s/%s/q=%.17g", detect_direction_names[dir],
			 detect_feature_names[feat], detect_weight_names[weight], l->q[qi]);
	} else if (m < l->tree_base) {
		snprintf(buf, len, "volume/%s/%s", detect_direction_names[dir],
			 volume_names[(m - l->volume_base) % VOLUMES]);
	} else if (m < l->distinct_base) {
		snprintf(buf, len, "tree_entropy/%s/%s",
			 tree_side_names[(m - l->tree_base) / TREE_METRICS],
			 tree_metric_names[(m - l->tree_base) % TREE_METRICS]);
	} else if (m < l->proto_base) {
		snprintf(buf, len, "distinct/%s/%s", detect_direction_names[dir],
			 detect_feature_names[(m - l->distinct_base) % FEATURES]);
	} else if (m < l->proto_packet_base) {
		snprintf(buf, len, "proto_share/%s/%s", detect_direction_names[dir],
			 detect_proto_names[(m - l->proto_base) % PROTOS]);
	} else {
		snprintf(buf, len, "proto_packet_share/%s/%s", detect_direction_names[dir],
			 detect_proto_names[(m - l->proto_packet_base) % PROTOS]);
	}
}

int
metric_find(const struct metric_layout *l, const char *name, unsigned int hint)
{
	char buf[96];
	unsigned int i;

	if (hint < l->count) {
		metric_name(l, hint, buf, sizeof(buf));
		if (strcmp(buf, name) == 0)
			return (int)hint;
	}
	for (i = 0; i < l->count; i++) {
		metric_name(l, i, buf, sizeof(buf));
		if (strcmp(buf, name) == 0)
			return (int)i;
	}
	return -1;
}

int
metric_check_summary(const struct metric_layout *l, const struct safem_window_summary *w)
{
	unsigned int k;

	if (w->nq != l->nq || ((w->directions | (1u << SAFEM_DIR_ALL)) != l->directions))
		return -EINVAL;
	for (k = 0; k < l->nq; k++)
		if (fabs(w->q[k] - l->q[k]) > Q_MATCH_TOLERANCE)
			return -EINVAL;
	return 0;
}

void
metric_flatten(const struct metric_layout *l, const struct safem_window_summary *w, double *x)
{
	unsigned int dir, feat, weight, qi, p, side, k;

	memset(x, 0, l->count * sizeof(*x));
	for (dir = 0; dir < DIRS; dir++) {
		const struct safem_featdist_counts *vol = &w->volume[dir];
		double flows = 0;

		if (!(l->directions & (1u << dir)))
			continue;
		for (feat = 0; feat < FEATURES; feat++) {
			for (weight = 0; weight < WEIGHTS; weight++)
				for (qi = 0; qi < l->nq; qi++) {
					double s = w->spectrum[dir][feat][weight][qi];

					/* q < 0 values are >= 1 and heavy-tailed: compare logs */
					if (l->q[qi] < 0)
						s = s > 0 ? log(s) : 0;
					x[metric_spectrum(l, dir, feat, weight, qi)] = s;
				}
			x[metric_distinct(l, dir, feat)] = log1p(fmax(w->distinct[dir][feat], 0));
		}
		x[l->volume_base + dir * VOLUMES + 0] = log10(1.0 + (double)vol->packets);
		x[l->volume_base + dir * VOLUMES + 1] = log10(1.0 + (double)vol->bytes);
		x[l->volume_base + dir * VOLUMES + 2] = log10(1.0 + (double)vol->flows);
		for (p = 0; p < PROTOS; p++)
			flows += (double)w->proto_flows[dir][p];
		for (p = 0; p < PROTOS; p++)
			x[metric_proto(l, dir, p)] =
				flows > 0 ? (double)w->proto_flows[dir][p] / flows : 0;
		for (p = 0; p < PROTOS; p++)
			x[metric_proto_packets(l, dir, p)] =
				vol->packets > 0
					? (double)w->proto_packets[dir][p] / (double)vol->packets
					: 0;
	}
	for (side = 0; side < TREE_SIDES; side++)
		for (k = 0; k < TREE_METRICS; k++)
			x[l->tree_base + side * TREE_METRICS + k] = w->tree_entropy[side][k];
}

/* The value's counts in window w (either of its top lists: both hold a listed value's full
 * counts), or NULL when it is listed in neither. */
const struct safem_featdist_counts *
summary_listed_counts(const struct safem_window_summary *w, unsigned int dir, unsigned int f,
		      const struct safem_feature_value *v)
{
	unsigned int i;

	for (i = 0; i < w->ntop[dir][f] && i < SAFEM_SUMMARY_TOP; i++)
		if (memcmp(&w->top[dir][f][i].value, v, sizeof(*v)) == 0)
			return &w->top[dir][f][i].counts;
	for (i = 0; i < w->ntop_flows[dir][f] && i < SAFEM_SUMMARY_TOP; i++)
		if (memcmp(&w->top_flows[dir][f][i].value, v, sizeof(*v)) == 0)
			return &w->top_flows[dir][f][i].counts;
	return NULL;
}
