/* SPDX-License-Identifier: BSD-3-Clause */
/* Class of an anomalous window from its spectrum patterns, protocol shifts and
 * who is involved (docs/detection.md, "Spectrum patterns and classes"). */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "detect_private.h"

static const char *const class_names[SAFEM_CLASS_COUNT] = {
	"normal",	   "syn_flood",	    "udp_flood", "reflection",
	"horizontal_scan", "vertical_scan", "worm",	 "unknown",
};

const char *
safem_attack_class_name(enum safem_attack_class c)
{
	return (unsigned int)c < SAFEM_CLASS_COUNT ? class_names[c] : NULL;
}

int
safem_attack_class_from_name(const char *name)
{
	int i = name ? detect_name_index(class_names, SAFEM_CLASS_COUNT, name) : -1;

	return i < 0 ? -EINVAL : i;
}

/*
 * Who rose: a value's rise is how much its share of the direction's flows grew over its
 * largest share in a baseline window (trained: its mean share). Floods, scans and worms
 * add many flows, so their victims, scanners, infected hosts and ports rise in flows; an
 * elephant flow or a busy server that always holds half the traffic does not rise.
 * Rises are judged against the window's largest rise A (of any feature): a feature *leads*
 * when its top value rose >= LEAD_OF_MAX * A, a value is a *riser* from RISER_OF_MAX * A.
 * Nothing leads when A < RISE_MIN (no value stands out) or when A is fewer than
 * RISE_MIN_FLOWS flows: a low-rate link (60 packets/s of real lab traffic) has windows of
 * a few dozen flows, where one new host with two connections is a large "rise"; the `in`
 * direction of a 1500 packets/s synthetic link has ~120 flows, where 3 flows (tried) let
 * clean windows lead at 0.03. Cost: a 5 % attack on a 60 packets/s link (3-4 packets a
 * second) is mostly unknown (docs/detection.md, "Detection limits").
 * RISE_MIN 0.03: a 1 % attack (one flow per packet) against ~300-600 flows of a
 * 1500 packets/s link rises by 0.03-0.1; clean new hosts of such a link stay under 0.02.
 */
#define RISE_MIN 0.03
#define RISE_MIN_FLOWS 8.0
/*
 * Under 1-in-N sampling the floor stays RISE_MIN_FLOWS *sampled* flows: scaled to 8 / N
 * (tried, floor 2), 2-3 sampled flows of one clean host led and 36 % of clean 1:10 windows
 * alerted (udp_flood, reflection); eight sampled flows are the same evidence as eight flows.
 */
#define LEAD_OF_MAX 0.5
#define RISER_OF_MAX 0.25

/* UDP services abused as reflectors / amplifiers (source port of the replies). */
static const uint16_t reflector_ports[] = {17,	19,  53,   111,	 123,  137,
					   161, 389, 1900, 3702, 5353, 11211};
/* Destination ports of well-known scanning worms (Blaster 135, Sasser/Conficker 445, ...). */
static const uint16_t worm_ports[] = {135, 139, 445, 1433, 1434, 4444};
/* Witty: UDP source port 4000, random destination ports. */
#define WITTY_SRC_PORT 4000

struct feature_view {
	bool concentrated; /* most q > 0 entries below the band: ++0-- family */
	bool dispersed;	   /* count (q = 0) or distinct values above the band: ++++0 family */
	double top_rise;   /* largest flow-share rise of a value */
	const struct involved_item *top; /* the value that rose most (NULL: none) */
	bool lead;	   /* its rise is among the window's largest */
	unsigned int risers;
};

static uint16_t
port_of(const struct safem_feature_value *v)
{
	return (uint16_t)(v->bytes[14] << 8 | v->bytes[15]);
}

static bool
port_in(uint16_t port, const uint16_t *set, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (set[i] == port)
			return true;
	return false;
}

static double
flow_rise(const struct involved_item *it)
{
	return it->share.flows - it->peak.flows;
}

static void
feature_view(const struct metric_layout *l, const struct deviation *dev, const struct involved *inv,
	     unsigned int feat, struct feature_view *fv)
{
	static const unsigned int weights[] = {SAFEM_WEIGHT_FLOWS, SAFEM_WEIGHT_PACKETS};
	unsigned int dir = inv->dir, below = 0, above = 0, positive = 0, i, qi, zero_qi = l->nq;

	memset(fv, 0, sizeof(*fv));
	for (i = 0; i < 2; i++)
		for (qi = 0; qi < l->nq; qi++) {
			int8_t s = dev->sign[metric_spectrum(l, dir, feat, weights[i], qi)];

			if (l->q[qi] == 0.0)
				zero_qi = qi;
			if (!(l->q[qi] > 0.0))
				continue;
			positive++;
			below += s < 0;
			above += s > 0;
		}
	fv->concentrated = positive > 0 && 2 * below >= positive;
	fv->dispersed =
		dev->sign[metric_distinct(l, dir, feat)] > 0 ||
		(zero_qi < l->nq &&
		 dev->sign[metric_spectrum(l, dir, feat, SAFEM_WEIGHT_FLOWS, zero_qi)] > 0) ||
		(positive > 0 && 2 * above > positive);
	for (i = 0; i < inv->ntop[feat]; i++) {
		double rise = flow_rise(&inv->top[feat][i]);

		if (rise > fv->top_rise) {
			fv->top_rise = rise;
			fv->top = &inv->top[feat][i];
		}
	}
}

static void
feature_rank(const struct involved *inv, unsigned int feat, double max_rise, struct feature_view *fv)
{
	unsigned int i;

	fv->lead = max_rise >= RISE_MIN && fv->top_rise >= LEAD_OF_MAX * max_rise;
	fv->risers = 0;
	if (max_rise < RISE_MIN)
		return;
	for (i = 0; i < inv->ntop[feat]; i++)
		fv->risers += flow_rise(&inv->top[feat][i]) >= RISER_OF_MAX * max_rise;
}

/* The leading port of a feature is in set. */
static bool
lead_port_in(const struct feature_view *fv, const uint16_t *set, size_t n)
{
	return fv->lead && fv->top != NULL && port_in(port_of(fv->top->value), set, n);
}

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

enum safem_attack_class
classify_window(const struct metric_layout *l, const struct deviation *dev,
		const struct safem_window_summary *w, const struct involved *inv)
{
	static const uint16_t witty[] = {WITTY_SRC_PORT};
	struct feature_view src, dst, sport, dport;
	unsigned int dir = inv->dir;
	bool syn_up = dev->sign[metric_proto(l, dir, SAFEM_PROTO_TCP_SYN)] > 0;
	bool udp_up = dev->sign[metric_proto(l, dir, SAFEM_PROTO_UDP)] > 0;
	bool reflector, victim, spread_dst;
	double max_rise;

	feature_view(l, dev, inv, SAFEM_FEATURE_SRC_ADDR, &src);
	feature_view(l, dev, inv, SAFEM_FEATURE_DST_ADDR, &dst);
	feature_view(l, dev, inv, SAFEM_FEATURE_SRC_PORT, &sport);
	feature_view(l, dev, inv, SAFEM_FEATURE_DST_PORT, &dport);
	max_rise = fmax(fmax(src.top_rise, dst.top_rise), fmax(sport.top_rise, dport.top_rise));
	feature_rank(inv, SAFEM_FEATURE_SRC_ADDR, max_rise, &src);
	feature_rank(inv, SAFEM_FEATURE_DST_ADDR, max_rise, &dst);
	feature_rank(inv, SAFEM_FEATURE_SRC_PORT, max_rise, &sport);
	feature_rank(inv, SAFEM_FEATURE_DST_PORT, max_rise, &dport);
	if (max_rise < RISE_MIN || max_rise * (double)w->volume[dir].flows < RISE_MIN_FLOWS)
		return SAFEM_CLASS_UNKNOWN;
	reflector = lead_port_in(&sport, reflector_ports, COUNT_OF(reflector_ports));
	/* a flood's victim: one destination's flows rise (dst_addr concentrates) */
	victim = dst.lead;
	/* many destinations, none rising: a sweep (++++0 on dst_addr, or no dst riser) */
	spread_dst = !dst.lead;

	if (victim && reflector && (udp_up || sport.concentrated || !syn_up))
		return SAFEM_CLASS_REFLECTION;
	if (lead_port_in(&sport, witty, 1) && spread_dst)
		return SAFEM_CLASS_WORM;
	if (src.lead && dst.lead && !dport.lead && src.risers <= 1 && dst.risers <= 1)
		return SAFEM_CLASS_VERTICAL_SCAN;
	if (victim && syn_up)
		return SAFEM_CLASS_SYN_FLOOD;
	/* the UDP share often stays inside its band (DNS and QUIC replies are UDP already):
	 * a victim of something neither SYN, TCP, ICMP nor other rising is flooded with UDP */
	if (victim && !reflector && !syn_up &&
	    (udp_up || (dev->sign[metric_proto(l, dir, SAFEM_PROTO_TCP)] <= 0 &&
			dev->sign[metric_proto(l, dir, SAFEM_PROTO_ICMP)] <= 0 &&
			dev->sign[metric_proto(l, dir, SAFEM_PROTO_OTHER)] <= 0)))
		return SAFEM_CLASS_UDP_FLOOD;
	if (spread_dst && dport.lead) {
		if (lead_port_in(&dport, worm_ports, COUNT_OF(worm_ports)))
			return SAFEM_CLASS_WORM;
		if (src.lead && src.risers <= 1)
			return SAFEM_CLASS_HORIZONTAL_SCAN;
		if (src.risers >= 2)
			return SAFEM_CLASS_WORM;
	}
	(void)dst.dispersed;
	return SAFEM_CLASS_UNKNOWN;
}
