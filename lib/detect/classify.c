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

/* A value is dominant when its packet share rose by this much over the baseline, or
 * it holds at least DOMINANT_SHARE of the direction's packets or DOMINANT_FLOW_SHARE
 * of its flows. */
#define DOMINANT_RISE 0.2
#define DOMINANT_SHARE 0.5
#define DOMINANT_FLOW_SHARE 0.3
/* A source counts as one of several attack sources when its share rose this much. */
#define SOURCE_RISE 0.05
/* A port is "the" port of a concentration when it holds this share of packets or flows. */
#define PORT_SHARE 0.3

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
	bool dominant;	   /* one value dominates (share or rise) */
	double top_rise;   /* largest share - baseline_share among the top values */
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

static void
feature_view(const struct metric_layout *l, const struct deviation *dev, const struct involved *inv,
	     unsigned int feat, struct feature_view *fv)
{
	static const unsigned int weights[] = {SAFEM_WEIGHT_FLOWS, SAFEM_WEIGHT_PACKETS};
	unsigned int dir = l->focus, below = 0, above = 0, positive = 0, i, qi, zero_qi = l->nq;

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
	fv->top_rise = 0;
	for (i = 0; i < inv->ntop[feat]; i++) {
		double rise = inv->top[feat][i].share - inv->top[feat][i].baseline_share;

		if (rise > fv->top_rise)
			fv->top_rise = rise;
		fv->risers += rise >= SOURCE_RISE;
	}
	fv->dominant = fv->top_rise >= DOMINANT_RISE;
	for (i = 0; i < inv->ntop[feat]; i++)
		fv->dominant |= inv->top[feat][i].share >= DOMINANT_SHARE ||
				inv->top[feat][i].flow_share >= DOMINANT_FLOW_SHARE;
}

/* The port of feature feat holding at least PORT_SHARE that is in set, or -1. */
static int
port_from_set(const struct involved *inv, unsigned int feat, const uint16_t *set, size_t n)
{
	unsigned int i;

	for (i = 0; i < inv->ntop[feat]; i++)
		if (fmax(inv->top[feat][i].share, inv->top[feat][i].flow_share) >= PORT_SHARE &&
		    port_in(port_of(inv->top[feat][i].value), set, n))
			return port_of(inv->top[feat][i].value);
	return -1;
}

enum safem_attack_class
classify_window(const struct metric_layout *l, const struct deviation *dev,
		const struct safem_window_summary *w, const struct involved *inv)
{
	static const uint16_t witty[] = {WITTY_SRC_PORT};
	struct feature_view src, dst, sport, dport;
	unsigned int dir = l->focus;
	bool syn_up = dev->sign[metric_proto(l, dir, SAFEM_PROTO_TCP_SYN)] > 0;
	bool udp_up = dev->sign[metric_proto(l, dir, SAFEM_PROTO_UDP)] > 0;
	bool reflector, victim;

	(void)w;
	feature_view(l, dev, inv, SAFEM_FEATURE_SRC_ADDR, &src);
	feature_view(l, dev, inv, SAFEM_FEATURE_DST_ADDR, &dst);
	feature_view(l, dev, inv, SAFEM_FEATURE_SRC_PORT, &sport);
	feature_view(l, dev, inv, SAFEM_FEATURE_DST_PORT, &dport);
	reflector = port_from_set(inv, SAFEM_FEATURE_SRC_PORT, reflector_ports,
				  sizeof(reflector_ports) / sizeof(reflector_ports[0])) >= 0;
	victim = dst.concentrated || dst.dominant;

	if (victim && reflector && (udp_up || sport.concentrated || sport.dominant))
		return SAFEM_CLASS_REFLECTION;
	if (port_from_set(inv, SAFEM_FEATURE_SRC_PORT, witty, 1) >= 0 && dport.dispersed &&
	    dst.dispersed)
		return SAFEM_CLASS_WORM;
	if (dport.dispersed && dst.dominant && src.dominant && !src.dispersed)
		return SAFEM_CLASS_VERTICAL_SCAN;
	if (victim && syn_up && src.dispersed)
		return SAFEM_CLASS_SYN_FLOOD;
	if (victim && udp_up && !reflector)
		return SAFEM_CLASS_UDP_FLOOD;
	if (dst.dispersed && (dport.concentrated || dport.dominant)) {
		if (port_from_set(inv, SAFEM_FEATURE_DST_PORT, worm_ports,
				  sizeof(worm_ports) / sizeof(worm_ports[0])) >= 0)
			return SAFEM_CLASS_WORM;
		if (src.dominant && src.risers <= 1)
			return SAFEM_CLASS_HORIZONTAL_SCAN;
		return SAFEM_CLASS_WORM;
	}
	return SAFEM_CLASS_UNKNOWN;
}
