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
 * Shares are judged by their rise over the baseline share, packets or flows whichever
 * rose more: a busy server that always holds half the flows is not "dominant", a
 * victim or scanner that appears is. A value dominates when it rose DOMINANT_RISE.
 */
#define DOMINANT_RISE 0.2
/* A value is rising (a victim candidate, one of several attack sources) from this rise. */
#define RISING 0.05
/* A port holds a feature when it has PORT_SHARE of packets or flows and rose PORT_RISE. */
#define PORT_SHARE 0.3
#define PORT_RISE 0.1

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
	double top_rise;   /* largest rise of a top value's share over its baseline share */
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
share_rise(const struct involved_item *it)
{
	return fmax(it->share.packets - it->baseline.packets, it->share.flows - it->baseline.flows);
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
		double rise = share_rise(&inv->top[feat][i]);

		if (rise > fv->top_rise)
			fv->top_rise = rise;
		fv->risers += rise >= RISING;
	}
	fv->dominant = fv->top_rise >= DOMINANT_RISE;
}

/* The port of set that holds feature feat, or -1. */
static int
port_from_set(const struct involved *inv, unsigned int feat, const uint16_t *set, size_t n)
{
	unsigned int i;

	for (i = 0; i < inv->ntop[feat]; i++) {
		const struct involved_item *it = &inv->top[feat][i];

		if (fmax(it->share.packets, it->share.flows) >= PORT_SHARE &&
		    share_rise(it) >= PORT_RISE && port_in(port_of(it->value), set, n))
			return port_of(it->value);
	}
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
	/* a flood's victim: dst_addr concentrates, or one destination's share rises */
	victim = dst.concentrated || dst.top_rise >= RISING;

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
