/* SPDX-License-Identifier: BSD-3-Clause */
/* Class of an anomalous window from its spectrum patterns, protocol shifts and
 * who is involved (docs/detection.md, "Spectrum patterns and classes"). */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>

#include "detect_private.h"

static const char *const class_names[SAFEM_CLASS_COUNT] = {
	"normal",	   "syn_flood",	    "udp_flood", "reflection",
	"horizontal_scan", "vertical_scan", "worm",	 "unknown",
	"brute_force",	   "icmp_flood",
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
 * Only a value whose count the baseline does not explain rises (evidence per value,
 * below). Rises are judged against the window's largest rise A (of any feature): a
 * feature *leads* when its top value rose >= LEAD_OF_MAX * A, a value is a *riser* from
 * RISER_OF_MAX * A, and a feature is held by *few* values when its FEW_VALUES largest
 * rises add up to >= FEW_OF_MAX * A (the attack's flows share one or a few values of it)
 * — else its rise is spread over *many* values (spoofed sources, random ports, swept
 * addresses). Nothing leads when no value's count is significant.
 */
/*
 * Evidence per value (docs/detection.md, "Evidence per value"): is the value's flow count
 * in the window, k, more than its baseline explains? lambda = its mean share over the
 * baseline windows times the window's flows (a value absent from a baseline window's top
 * lists counts 0 there), and the value is significant when P(X >= k) <= SIGNIFICANCE^
 * evidence for X ~ Poisson(lambda). The test is on the value's own counts, whatever the
 * link's total: a home host that gets 0-2 outside flows a window and now gets 12 is a
 * victim on a link of 300 flows a window as on one of 30000, and a busy server's 30 more
 * flows over its 600 are not. The mean, not the peak: the first window of an attack that
 * stays under every bar is learnt, and its peak then explains the rest of the attack
 * (tuning seed 100: an NTP reflection at 1 % found in 0 of 6 windows with the peak, 4
 * with the mean); a learnt window moves the mean by 1/K of itself.
 * SIGNIFICANCE is the knob: 1e-6 per value; a few hundred values are judged per window
 * (32 per feature and direction), so by Poisson alone one value in several thousand
 * windows, before the class rules ask for a shape (fan-in, one source port...). It takes
 * 10 flows against lambda = 1, 13 against 2.
 * The former share floors (A >= 0.03 and >= 8 flows, doubled under the score) missed
 * every 1 % reflection: 12-15 flows against ~450 of a 1500 packets/s link, A = 0.03.
 */
/* A value no baseline window listed may still come with a flow by chance (a new client's
 * first connection): lambda is at least one flow a window. */
#define LAMBDA_MIN 1.0
/* A value carries part of a rise (few / many, risers) when its count is this unlikely
 * against its mean: one in a hundred ordinary values passes, a third of one of the 32
 * judged per feature. Without it the rises of four ordinary values of a few flows each
 * add up to half of a 12-flow attack's, and spoofed sources read as "few". */
#define CARRY_SIGNIFICANCE 0.01
#define LEAD_OF_MAX 0.5
#define RISER_OF_MAX 0.25
/* "One or few" values of a feature: up to four (a reflection answers from one service
 * port, SYN-ACK reflectors from 22/80/443; a victim may be a handful of addresses). */
#define FEW_VALUES 4
#define FEW_OF_MAX 0.5
/* One of the few values holds most of their rise: a single scanner, not three infected
 * hosts (Witty's hosts each carry a third, and their own clean traffic lowers the rise). */
#define SINGLE_OF_FEW 0.75
/* A SYN flood: SYN-only flows make at least half of what the victim's flow share rose. */
#define SYN_OF_VICTIM 0.5
/* A window no flow rule explains may still show a SYN flood by packets: spoofed sources
 * that retry their SYN (one source port, six to ten SYNs each) add few flows and many
 * SYN-only packets. The victim's packets are tested as flows are, against its peak packet
 * count (packets are burstier than flows: an elephant), and only as many excess packets
 * count as the direction has SYN retries (SYN-only packets past the first of each SYN-only
 * flow, lib/featdist): a scan's or a spoofed flood's one-SYN flows add none, so their
 * SYNs are not taken for another host's packets. The packets come from several
 * connections (a client retrying one dead server is one). */
#define SYN_RETRY_MIN_FLOWS 3.0
/* A worm is several infected hosts: at least this many sources carry part of the rise (a
 * port that gains flows by chance with no source behind it is no worm; tuning clean
 * capture seed 100: two such windows in `out` were called worm). */
#define WORM_MIN_SOURCES 2
/* An inside sweeper of the worm rule (internal_sweep_of) has at least this many flows. */
#define SWEEP_MIN_FLOWS 8.0
/* Bytes per packet from which a one-source stream of random ports is a flood rather than
 * a port scan (probes are headers and at most a few dozen payload bytes). */
#define SCAN_PACKET_BYTES_MAX 200.0
/* A flood or a reflection is of a protocol: the direction's flows of that class beyond their
 * baseline mean share (UDP; completed TCP for a brute force) make at least this part of
 * the victim's flow rise, as SYN_OF_VICTIM for SYN floods. A victim of many TCP
 * connections on a link whose bulk is TCP is no UDP flood (the real SSH brute force of
 * ../shared/pcaps was called udp_flood while the rule accepted "no other share rose"). */
#define PROTO_OF_VICTIM 0.5
/* Answers a victim asked for: its own flows to the answering port in the reverse
 * direction, beyond its baseline, make at least this part of the answers' rise (a client
 * that asked 40 servers and got 40 answers; busy link, 3 of 90 clean windows). */
#define REQUESTS_OF_ANSWERS 0.5
/* Packets per flow of a client's connections: more than the one packet of a probe or of
 * a scanned host's reply (SYN-ACK, RST), whose flows are one a port. A brute force
 * attempt (SSH, RDP, HTTP login) is a handshake, a request or two and the close (6-20
 * packets), but a window cuts connections that span its edges: the real nmap ssh-brute
 * capture (../shared/pcaps) shows 3.4-6 packets per flow a 1 s window, 1.5 in its last. */
#define CONNECTION_PACKETS_MIN 2.0

struct feature_view {
	bool concentrated; /* most q > 0 entries below the band: ++0-- family */
	bool dispersed;	   /* count (q = 0) or distinct values above the band: ++++0 family */
	double top_rise;   /* largest flow-share rise of a value whose count is significant */
	double chance_rise; /* largest flow-share rise of a value beyond chance (CARRY_SIGNIFICANCE) */
	double few_rise;   /* sum of the FEW_VALUES largest rises */
	double few_top;	   /* the largest of them */
	const struct involved_item *top; /* the value that rose most (NULL: none) */
	const struct involved_item *few_item; /* the value of few_top (NULL: none) */
	bool lead;	   /* its rise is among the window's largest */
	bool few;	   /* a few values hold the rise */
	unsigned int risers;
	unsigned int carriers; /* values whose count is beyond chance (CARRY_SIGNIFICANCE) and rose over
				* their peak, not stale */
};

static uint16_t
port_of(const struct safem_feature_value *v)
{
	return (uint16_t)(v->bytes[14] << 8 | v->bytes[15]);
}

static bool
is_port_feature(unsigned int feat)
{
	return feat == SAFEM_FEATURE_SRC_PORT || feat == SAFEM_FEATURE_DST_PORT;
}

/* Non-first IP fragments carry no ports: lib/packet keys them with ports 0 under their
 * addresses, so they count for the address features and are left out of the port ones
 * (fragmented amplification would otherwise lead the ports with 0). */
static bool
judged(unsigned int feat, const struct involved_item *it)
{
	return !is_port_feature(feat) || port_of(it->value) != 0;
}

static double
flow_rise(const struct involved_item *it)
{
	return it->share.flows - it->peak.flows;
}

/*
 * How much of the rise a value carries, for "few values hold it": addresses over their
 * peak share, as for leading (a busy server does not become a victim); ports over their
 * mean share. Service ports are busy in every window (DNS answers from 53 are a fifth of
 * the inbound flows of the synthetic link, HTTPS answers from 443 more): over its peak,
 * a reflection from 53 or a SYN-ACK reflection from 80/443 rose by a tenth of the
 * victim's rise and the reflection read as a UDP flood.
 */
static double
carried_rise(unsigned int feat, const struct involved_item *it)
{
	if (is_port_feature(feat))
		return it->share.flows - it->baseline.flows;
	return flow_rise(it);
}

/*
 * Is count k of a value beyond chance: P(X >= k) <= e^log_level for X ~ Poisson(lambda),
 * lambda = base_share (the value's share of the direction in the baseline) times total
 * (the direction's count, flows or packets, in this window), at least LAMBDA_MIN? Under
 * 1-in-N sampling counts are taken in sampled units: the summary's packets are scaled
 * back by N (a sampled packet stands for N, but it is one observation), its flows are not
 * (flows as seen, seed 002): flows are judged with sample_rate 1.
 */
static bool
count_significant(double k, double base_share, double total, unsigned int sample_rate,
		  double log_level)
{
	double n = sample_rate > 1 ? (double)sample_rate : 1.0;
	double lambda = fmax(base_share * total / n, LAMBDA_MIN);

	return detect_poisson_log_tail(k / n, lambda) <= log_level;
}

/* A value's flows in the window against its mean share (Evidence per value, above). */
static bool
flows_significant(const struct involved_item *it, const struct safem_window_summary *w,
		  unsigned int dir, double log_level)
{
	return it->counts != NULL &&
	       count_significant((double)it->counts->flows, it->flow_bound,
				 (double)w->volume[dir].flows, 1, log_level);
}

static void
feature_view(const struct metric_layout *l, const struct deviation *dev, const struct involved *inv,
	     const struct safem_window_summary *w, double evidence, unsigned int feat,
	     struct feature_view *fv)
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
		const struct involved_item *it = &inv->top[feat][i];
		double rise = flow_rise(it);

		if (!judged(feat, it))
			continue;
		if (flows_significant(it, w, dir, log(CARRY_SIGNIFICANCE)))
			fv->chance_rise = fmax(fv->chance_rise, rise);
		if (!flows_significant(it, w, dir, evidence * log(SIGNIFICANCE)))
			continue;
		if (rise > fv->top_rise) {
			fv->top_rise = rise;
			fv->top = it;
		}
	}
}

/* Keep rise among the FEW_VALUES largest of few (largest first); true when it is now the
 * largest. */
static bool
few_keep(double few[FEW_VALUES], double rise)
{
	unsigned int j;

	for (j = 0; j < FEW_VALUES && rise <= few[j]; j++)
		;
	if (j == FEW_VALUES)
		return false;
	memmove(&few[j + 1], &few[j], (FEW_VALUES - 1 - j) * sizeof(few[0]));
	few[j] = rise;
	return j == 0;
}

/*
 * Does a value carry part of the rise: its flows beyond chance (CARRY_SIGNIFICANCE)? Sampled,
 * a horizon's stale address (it does not go on now: never evidence, never named) still sent
 * what it sent over the horizon, and its own bound decides whether it is one of the few
 * values that hold the rise: a scanner whose newest window held 2 of its ~5 sampled probes
 * a window is stale, and without it the victim's probes came from "many sources" (e2e
 * test_detect_sampled, seed 95, 1:20, 4 windows of a vertical scan: reflection).
 * Unsampled, a stale address carries nothing, as before.
 */
static bool
carries_rise(const struct involved_item *it, const struct safem_window_summary *w,
	     unsigned int dir)
{
	double bound = it->stale && w->sample_rate > 1 ? it->own_bound : it->flow_bound;

	return it->counts != NULL && count_significant((double)it->counts->flows, bound,
						       (double)w->volume[dir].flows, 1,
						       log(CARRY_SIGNIFICANCE));
}

static void
feature_rank(const struct involved *inv, const struct safem_window_summary *w, unsigned int feat,
	     double max_rise, struct feature_view *fv)
{
	double few[FEW_VALUES] = {0};
	unsigned int i, j;

	fv->lead = max_rise > 0 && fv->top_rise >= LEAD_OF_MAX * max_rise;
	fv->few_item = NULL;
	fv->risers = 0;
	fv->carriers = 0;
	fv->few_rise = 0;
	if (!(max_rise > 0))
		return;
	for (i = 0; i < inv->ntop[feat]; i++) {
		const struct involved_item *it = &inv->top[feat][i];
		double rise = carried_rise(feat, it);

		if (!judged(feat, it) || (!is_port_feature(feat) && !carries_rise(it, w, inv->dir)))
			continue;
		/* a stale address holds part of the rise, but is not one of the carriers that go
		 * on now (a worm's several infected hosts): after a sampled Witty ended, its three
		 * stale hosts and its port over 4 windows read as a worm (development seeds 100,
		 * 200, 201: gap windows alerted). A carrier rose over its peak share: a busy host
		 * beyond its mean by chance but within its usual peak carries none of a rise
		 * (busy link, 1:1, tuning seed 100: two such clients and Blaster's port over the
		 * 4 windows ending one after Blaster's stale hosts stopped read as a worm) */
		fv->carriers += !it->stale && rise > 0;
		fv->risers += rise >= RISER_OF_MAX * max_rise;
		if (few_keep(few, rise))
			fv->few_item = it;
	}
	for (j = 0; j < FEW_VALUES; j++)
		fv->few_rise += few[j];
	fv->few_top = few[0];
	/* and the largest is a riser: in a window of 15 one-flow probes to random ports, any
	 * four ports hold a quarter of the rise or more */
	fv->few = fv->few_rise >= FEW_OF_MAX * max_rise && few[0] >= RISER_OF_MAX * max_rise;
}

/* The rise of the flows that carry ports: A less what port-less fragment flows added. */
static double
port_rise_base(const struct involved *inv, double max_rise)
{
	double fragments = 0;
	unsigned int i;

	for (i = 0; i < inv->ntop[SAFEM_FEATURE_SRC_PORT]; i++) {
		const struct involved_item *it = &inv->top[SAFEM_FEATURE_SRC_PORT][i];

		if (port_of(it->value) == 0)
			fragments = fmax(fragments, carried_rise(SAFEM_FEATURE_SRC_PORT, it));
	}
	return fmax(max_rise - fragments, 0.5 * max_rise);
}

/*
 * Probes or connections: a value's packets per flow, under or at least
 * CONNECTION_PACKETS_MIN (a probe is one packet). Unsampled only: under 1-in-N packet
 * sampling (both modes pick packets) a flow is seen through about one sampled packet
 * whatever it carried, a connection of 10-20 packets as much as a probe, so the ratio
 * says nothing and neither test excludes: each rule decides on its other conditions, as
 * before these tests (docs/detection.md, "Sampling"). Taking the summary's packets as
 * they are (scaled back by N, flows not: count_significant) made every sampled probe N
 * packets and no scan a prober at 1:N. Without the value's counts: neither.
 */
static bool
sends_flows_of(const struct involved_item *it, const struct safem_window_summary *w,
	       bool probes)
{
	if (it == NULL || it->counts == NULL || it->counts->flows == 0)
		return false;
	if (w->sample_rate > 1)
		return true;
	return ((double)it->counts->packets / (double)it->counts->flows <
		CONNECTION_PACKETS_MIN) == probes;
}

static bool
sends_probes(const struct involved_item *it, const struct safem_window_summary *w)
{
	return sends_flows_of(it, w, true);
}

static bool
sends_connections(const struct involved_item *it, const struct safem_window_summary *w)
{
	return sends_flows_of(it, w, false);
}

/*
 * Connections of a pair over recent windows (horizon.c, horizon_pair_connected): src made
 * connections (CONNECTION_PACKETS_MIN packets a flow, several flows, most of them to dst)
 * in this window or in one of the ring's windows before it. A window cuts the connections
 * that span its edges: at the ends of a brute force's bursts the client's, or the
 * server's answers, show under 2 packets a flow (the real nmap ssh-brute capture: 1.5 in
 * its last window), and the server answering one client from one port to many ports is
 * then a vertical scan's shape. A scanner's probes are one packet a flow in every window;
 * a scanned host's replies are too, and its own connections to others leave the scanner
 * under half its flows. Unsampled only, as the packets-per-flow tests (sends_flows_of).
 */
static bool
pair_connected(const struct involved *inv, const struct involved_item *src,
	       const struct involved_item *dst, const struct safem_window_summary *w)
{
	return src != NULL && dst != NULL && w->sample_rate <= 1 &&
	       horizon_pair_connected(inv->horizon, inv->dir, src->value, dst->value,
				      CONNECTION_PACKETS_MIN);
}

static double
bytes_per_packet(const struct involved_item *it)
{
	return it != NULL && it->counts != NULL && it->counts->packets > 0
		       ? (double)it->counts->bytes / (double)it->counts->packets
		       : 0;
}

/*
 * A home host sweeping outside addresses on a port is one source in OUT; other infected
 * home hosts may sweep their own network at the same time (Blaster: 40 % of them start in
 * their own /16), which is INTERNAL. Several sweepers of the same port make a worm: the
 * port leads INTERNAL's destination ports by flows, from a source other than the
 * outward one.
 */
static bool
internal_sweep_of(const struct metric_layout *l, const struct safem_window_summary *w,
		  const struct feature_view *sport_scanner, const struct feature_view *dport)
{
	const unsigned int in = SAFEM_DIR_INTERNAL;
	const struct safem_top_value *p, *s;

	if (!(l->directions & (1u << in)) || dport->top == NULL || sport_scanner->top == NULL ||
	    w->ntop_flows[in][SAFEM_FEATURE_DST_PORT] == 0 ||
	    w->ntop_flows[in][SAFEM_FEATURE_SRC_ADDR] == 0)
		return false;
	p = &w->top_flows[in][SAFEM_FEATURE_DST_PORT][0];
	s = &w->top_flows[in][SAFEM_FEATURE_SRC_ADDR][0];
	return memcmp(&p->value, dport->top->value, sizeof(p->value)) == 0 &&
	       (double)p->counts.flows >= SWEEP_MIN_FLOWS &&
	       memcmp(&s->value, sport_scanner->top->value, sizeof(s->value)) != 0 &&
	       (double)s->counts.flows >= SWEEP_MIN_FLOWS;
}

/*
 * SYN retries: a destination, reached by several connections, whose packets over its
 * baseline peak -- counting no more of them than the direction's SYN retries -- are
 * significant (SYN_RETRY_MIN_FLOWS above).
 */
static bool
syn_retry_victim(const struct involved *inv, const struct safem_window_summary *w, double evidence)
{
	unsigned int dir = inv->dir, i;
	double packets = (double)w->volume[dir].packets;
	double n = w->sample_rate > 1 ? (double)w->sample_rate : 1.0;
	/* retries: SYN-only packets past the first of each SYN-only flow (a scan's or a
	 * spoofed flood's one-SYN flows add none, a client's lone retransmit one). Under
	 * 1-in-N sampling packets are scaled back by N and flows are as seen: the sampled
	 * packets past one a sampled flow, scaled back. Packets less flows mixed the units,
	 * and every sampled SYN flow lent N - 1 retries (busy link, test capture, 1:10: two
	 * clean windows named syn_flood, no value's flows significant) */
	double retries = fmax((double)w->proto_packets[dir][SAFEM_PROTO_TCP_SYN] / n -
				      (double)w->proto_flows[dir][SAFEM_PROTO_TCP_SYN],
			      0) *
			 n;

	for (i = 0; i < inv->ntop[SAFEM_FEATURE_DST_ADDR]; i++) {
		const struct involved_item *it = &inv->top[SAFEM_FEATURE_DST_ADDR][i];
		double lambda, excess;

		if (it->counts == NULL || (double)it->counts->flows < SYN_RETRY_MIN_FLOWS)
			continue;
		/* only as many excess packets as there were retries count as evidence */
		lambda = it->peak.packets * packets;
		excess = fmin((double)it->counts->packets - lambda, retries);
		if (excess > 0 && count_significant(lambda + excess, it->peak.packets, packets,
						    w->sample_rate, evidence * log(SIGNIFICANCE)))
			return true;
	}
	return false;
}

/* The victim's flow rise in flows (its share's rise times the direction's flows). */
static double
victim_flows(const struct feature_view *dst, const struct safem_window_summary *w, unsigned int dir)
{
	return dst->top != NULL ? flow_rise(dst->top) * (double)w->volume[dir].flows : 0;
}

/*
 * Flows of a protocol class in the direction beyond what its baseline mean share of the
 * other flows explains: the share is applied to the window's flows less the victim's
 * rise (the new flows whose class is asked), so a rise entirely of that class counts in
 * full, whatever the class's usual share (300 TCP connections on a link that is 80 %
 * TCP: 300, not the 60 by which they move the share times the window's flows).
 */
static double
proto_excess_flows(const struct involved *inv, const struct safem_window_summary *w,
		   unsigned int proto, double rise_flows)
{
	double flows = 0;
	unsigned int p;

	for (p = 0; p < PROTOS; p++)
		flows += (double)w->proto_flows[inv->dir][p];
	return (double)w->proto_flows[inv->dir][proto] -
	       inv->proto_mean[proto] * fmax(flows - rise_flows, 0);
}

/*
 * A value's flows in direction dir: from the top lists (by flows, then by packets); one
 * neither lists had between 0 and the flow list's floor when that list is full (counted
 * as half of it, as the baseline counts unlisted values), else none.
 */
static double
listed_flows(const struct safem_window_summary *w, unsigned int dir, unsigned int feat,
	     const struct safem_feature_value *v)
{
	const struct safem_featdist_counts *c = summary_listed_counts(w, dir, feat, v);

	if (c != NULL)
		return (double)c->flows;
	return w->ntop_flows[dir][feat] >= SAFEM_SUMMARY_TOP
		       ? 0.5 * (double)w->top_flows[dir][feat][SAFEM_SUMMARY_TOP - 1].counts.flows
		       : 0;
}

/* A value's mean flow share in the reverse direction's baseline (a trained profile keeps
 * one direction's tops: in another, the mean is taken as 0). */
static double
reverse_mean_share(const struct involved *inv, unsigned int feat,
		   const struct safem_feature_value *v)
{
	if (inv->reverse_slot < 0 || (inv->baseline->kind != SAFEM_BASELINE_MOVING &&
				      inv->reverse != inv->dir))
		return 0;
	return baseline_flow_share_bound(inv->baseline, (unsigned int)inv->reverse_slot, feat, v);
}

/*
 * A host in conversation: the flows it receives in this direction are within chance of
 * the flows it sends in the reverse one (own: its flows as a source there), those of
 * the reverse direction's ICMP surge over its band left out (a victim answering each
 * reflector with an ICMP error sends a flow to each: lib/packet keys errors by type and
 * code). A client's sessions are a flow each way; what it gets beyond what it sends is
 * what nobody asked for, and a reflection's answers come on top of its own traffic. The
 * asked-for test above compares rises with the victim's rise over its peak, and a rise of
 * a few flows is within chance of anything: over 2 windows of the busy link (1:1, tuning
 * clean capture, seed 100, window 76) a home client's 56 flows in `in` were significant
 * against its mean (23), its peak explained all but 1.5 of them, any few source ports
 * held that "rise", and its answers read as a reflection nobody asked for.
 */
static double class_excess(const struct deviation *dev, unsigned int m, double count,
			   double total);

static bool
conversing(const struct metric_layout *l, const struct deviation *dev,
	   const struct safem_window_summary *w, unsigned int rev, const struct involved_item *it,
	   double own)
{
	double errors, sent;

	if (it->counts == NULL)
		return false;
	errors = class_excess(dev, metric_proto(l, rev, SAFEM_PROTO_ICMP),
			      (double)w->proto_flows[rev][SAFEM_PROTO_ICMP],
			      (double)w->volume[rev].flows);
	sent = fmax(own - errors, LAMBDA_MIN);
	return detect_poisson_log_tail((double)it->counts->flows, sent) > log(CARRY_SIGNIFICANCE);
}

/*
 * Did the victim ask for what it gets from port P (the source port that holds the
 * answers' rise)? Its requests to P are at most its own new flows as a source and at
 * most the new flows to P, both in the reverse direction (the same one in `all`), each
 * beyond its baseline mean: solicited when that bound reaches REQUESTS_OF_ANSWERS of the
 * victim's flow rise and the victim's own count is beyond chance (CARRY_SIGNIFICANCE: a
 * home host's usual few requests are no answer to a reflection of 4 flows, tuning seed
 * 100, fragments at 1 %). A spoofed victim sends nothing (or ICMP errors, which go to no
 * port P); a client that asked 40 servers on P sent 40 new flows to P.
 */
static bool
answers_solicited(const struct metric_layout *l, const struct deviation *dev,
		  const struct involved *inv, const struct safem_window_summary *w,
		  const struct feature_view *dst, const struct feature_view *sport)
{
	double answers = victim_flows(dst, w, inv->dir), flows, own, own_share, to_port;
	unsigned int rev = inv->reverse;

	if (dst->top == NULL || sport->few_item == NULL || !(answers > 0) ||
	    !(l->directions & (1u << rev)))
		return false;
	flows = (double)w->volume[rev].flows;
	own = listed_flows(w, rev, SAFEM_FEATURE_SRC_ADDR, dst->top->value);
	own_share = reverse_mean_share(inv, SAFEM_FEATURE_SRC_ADDR, dst->top->value);
	to_port = listed_flows(w, rev, SAFEM_FEATURE_DST_PORT, sport->few_item->value) -
		  reverse_mean_share(inv, SAFEM_FEATURE_DST_PORT, sport->few_item->value) * flows;
	if (fmin(own - own_share * flows, to_port) >= REQUESTS_OF_ANSWERS * answers &&
	    count_significant(own, own_share, flows, 1, log(CARRY_SIGNIFICANCE)))
		return true;
	/* over a horizon the victim's own flows are summed over the windows that listed it: the
	 * horizon's lists keep the addresses judged in their direction first, and in the
	 * reverse one busy hosts summed over 8 windows crowd a client out of them (busy link,
	 * development seed 200, 1:1: a new client's 155 answers from 443 over 8 windows,
	 * its own flows not in the horizon's lists, read as a reflection) */
	if (inv->horizon != NULL && inv->windows > 1)
		own = fmax(own, horizon_listed_flows(inv->horizon, inv->windows, rev,
						     SAFEM_FEATURE_SRC_ADDR, dst->top->value));
	return conversing(l, dev, w, rev, dst->top, own);
}

/*
 * Did the victim answer its source? Its own new flows to the source that rose most, in the
 * reverse direction (the same one in `all`) and beyond its baseline mean (as
 * answers_solicited counts), reach REQUESTS_OF_ANSWERS of the victim's flow rise: one
 * conversation per flow, a server's answers to a client's connections, not a flood. A
 * flood's victim sends nothing back, or ICMP errors: lib/packet keys those by type and
 * code, one flow per source whatever the number of datagrams. Per value, not per
 * protocol: the summary keeps no protocol per value, and the direction's UDP count varies
 * by as much as a 5 % brute force's connections (generated RDP brute force, seed 202: 10
 * UDP flows over their share against a rise of 14 connections, named udp_flood).
 */
static bool
victim_answered(const struct metric_layout *l, const struct involved *inv,
		const struct safem_window_summary *w, const struct feature_view *src,
		const struct feature_view *dst)
{
	double rise = victim_flows(dst, w, inv->dir), back;
	unsigned int rev = inv->reverse;

	if (src->top == NULL || !(rise > 0) || !(l->directions & (1u << rev)))
		return false;
	back = listed_flows(w, rev, SAFEM_FEATURE_DST_ADDR, src->top->value) -
	       reverse_mean_share(inv, SAFEM_FEATURE_DST_ADDR, src->top->value) *
		       (double)w->volume[rev].flows;
	return back >= REQUESTS_OF_ANSWERS * rise;
}

/*
 * Brute force: one or few sources, one destination, one or few ports on one side (the
 * service; in `all` the client's requests and the server's answers show both), many
 * TCP connections that complete (flows with ACKs beyond the baseline's share make the
 * victim's rise, not SYN-only ones) and that carry more than a probe's packets. Each
 * connection between one pair on one service port has a new client port, so the other
 * side's ports are many. The port may name the service; it never decides the class.
 * Connections: in this window, or the pair's in a recent one (pair_connected: a window that
 * cuts them shows under 2 packets a flow).
 */
static bool
brute_force_of(const struct involved *inv, const struct safem_window_summary *w,
	       const struct feature_view *src, const struct feature_view *dst,
	       const struct feature_view *sport, const struct feature_view *dport)
{
	const struct involved_item *client = src->top;

	return src->lead && src->few && (sport->few || dport->few) &&
	       (sends_connections(client, w) || pair_connected(inv, client, dst->top, w)) &&
	       proto_excess_flows(inv, w, SAFEM_PROTO_TCP, victim_flows(dst, w, inv->dir)) >=
		       PROTO_OF_VICTIM * victim_flows(dst, w, inv->dir);
}

/* Transit destinations (docs/detection.md, "Transit"; classify_transit below). */
/* A destination outside home gets transit traffic when less than this share of its packets
 * (flows) in ALL comes from home hosts (OUT): in ALL, the outside servers that home clients
 * talk to are destinations outside home too. */
#define TRANSIT_FROM_HOME_MAX 0.5

/* A value's count (packets or flows) of feature f in direction dir (a destination in OUT for
 * transit destinations, a source in IN for transit scanners): from dir's top lists; a value
 * they leave out had at most the smallest count of a full list, else none. */
static double
direction_count_at_most(const struct safem_window_summary *w, unsigned int dir, unsigned int f,
			const struct safem_feature_value *v, bool packets)
{
	const struct safem_featdist_counts *c;
	const struct safem_top_value *list = packets ? w->top[dir][f] : w->top_flows[dir][f];
	unsigned int n = packets ? w->ntop[dir][f] : w->ntop_flows[dir][f];

	if (!(w->directions & (1u << dir)))
		return 0;
	c = summary_listed_counts(w, dir, f, v);
	if (c == NULL)
		c = n >= SAFEM_SUMMARY_TOP ? &list[SAFEM_SUMMARY_TOP - 1].counts : NULL;
	if (c == NULL)
		return 0;
	return packets ? (double)c->packets : (double)c->flows;
}

/* Outside home, and what it receives in ALL is mostly transit (TRANSIT_FROM_HOME_MAX). */
static bool
transit_destination(const struct safem_window_summary *w, const struct involved_item *it,
		    const struct safem_home *home, bool packets)
{
	double all;

	if (it->counts == NULL || safem_home_contains(home, it->value))
		return false;
	all = packets ? (double)it->counts->packets : (double)it->counts->flows;
	return direction_count_at_most(w, SAFEM_DIR_OUT, SAFEM_FEATURE_DST_ADDR, it->value,
				       packets) < TRANSIT_FROM_HOME_MAX * all;
}

static const struct involved_item *
top_flow_riser(const struct involved *inv, unsigned int feat)
{
	const struct involved_item *top = NULL;
	double best = 0;
	unsigned int i;

	for (i = 0; i < inv->ntop[feat]; i++) {
		const struct involved_item *it = &inv->top[feat][i];

		if (!it->stale && flow_rise(it) > best) {
			best = flow_rise(it);
			top = it;
		}
	}
	return top;
}

/*
 * ICMP floods (docs/detection.md, "ICMP floods: evidence by packets"): one or a few
 * destinations receiving a surge of ICMP or ICMPv6 packets of any type (echo, errors,
 * anything a host must read), from one source or many, whatever the flow count. Spoofed
 * sources add flows and their victim rises by flows as in the other floods; one source
 * (the real ICMPv6 flood capture: ~5,700 packets/s, one flow) adds packets only, which the
 * flow evidence never sees. Packets are bursty (an elephant, a burst of answers), so their
 * bar is not a count test against a mean: it is the link's own band of ICMP's packet share
 * (metrics.c, proto_packet_share: the order statistics of the baseline windows), and the
 * packets past its upper edge must be held by one or a few destinations, each over its own
 * peak packet share in a baseline window (as addresses rise by flows over their peak).
 * An elephant (a backup, a download: one TCP or UDP flow) moves no ICMP share; a burst of
 * ICMP spread over many destinations (pings of many hosts) has no victim.
 */
/* A destination (or an ICMP type) carries the ICMP surge when at least half of its own packet
 * rise could be ICMP: a host whose packets rose by more than twice the ICMP excess got
 * something else (an elephant that happens to arrive with a few pings). */
#define ICMP_OF_VALUE_RISE 0.5

/* A class's flows past its band's upper edge, as a count: (share - hi) times the
 * direction's flows; 0 inside the band or without one. */
static double
class_excess(const struct deviation *dev, unsigned int m, double count, double total)
{
	if (dev->hi == NULL || !(total > 0))
		return 0;
	return fmax(count / total - dev->hi[m], 0) * total;
}

/*
 * Low-rate windows (a few dozen flows, detector.c LOW_RATE_FLOWS; docs/detection.md, "ICMP
 * floods on low-rate links"). There one host's burst (a traceroute's answers, a neighbour
 * discovery storm) is what one new connection does: bg_zeek_protomix's test part had 12
 * ICMPv6 packets to one IPv6 host, in a window of 14 flows after an ICMP window before it,
 * named a transit ICMP flood when packets were judged there as on any window. A flood is
 * told from it by the link's own structure, not by a count: its ICMP packets past their
 * band's edge are more than the link's busiest baseline windows carried in all (the upper
 * edge of the direction's packet volume band, volume/<dir>/packets). One connection's burst
 * stays inside what the link's own windows hold; a flood that outweighs the whole link does
 * not (the real ICMPv6 flood capture: ~5,700 packets/s, one flow, on 15-270 packets/s
 * links). Under sampling both sides are counts scaled back by N: the units agree.
 */
/* The packets of the link's busiest baseline windows: the upper edge of volume/<dir>/packets,
 * which is log10(1 + packets) (metrics.c, metric_flatten). */
static double
busiest_packets(const struct metric_layout *l, const struct deviation *dev, unsigned int dir)
{
	return pow(10.0, dev->hi[l->volume_base + dir * VOLUMES + 0]) - 1;
}

static bool
low_rate_icmp_outweighs(const struct metric_layout *l, const struct deviation *dev,
			unsigned int dir, double excess)
{
	return excess > 0 && excess >= busiest_packets(l, dev, dir);
}

/*
 * Low-rate windows, the other bar (docs/detection.md, "Low-rate links: unanswered ICMP
 * queries"): a surge of ICMP queries nobody answers, or of answers nobody asked for, more
 * than the link's ICMP ever carried. The link's own ICMP on such links is pings (each
 * request answered by the host it asked), traceroutes and unreachables (errors: no query
 * type) and neighbour discovery (no query type either), which is why one connection's
 * burst stays out; a flood's victim does not answer every request (it is flooded, or the
 * sources are spoofed), and a reflected or forged echo-reply flood was asked by nobody. The
 * link's bar is its own: the ICMP packets its busiest baseline window could have carried at
 * ICMP's highest share (the upper edges of volume/<dir>/packets and
 * proto_packet_share/<dir>/icmp; an upper bound of what any baseline window held, as both
 * edges need not come from one window). The bar of the whole link's volume
 * (low_rate_icmp_outweighs) still names any ICMP surge larger than that, answered or not.
 */
/* The query/answer types of ICMP (RFC 792, 950: echo, timestamp, information, address
 * mask) and ICMPv6 (RFC 4443: echo), each with its other half, all of code 0. lib/packet
 * keys an ICMP flow's type and code as its destination port (NetFlow convention): type 8
 * code 0 is port 2048. */
static const uint8_t icmp_query_pairs[][2] = {{8, 0}, {13, 14}, {15, 16}, {17, 18}, {128, 129}};

/* The destination port of the type that answers the port's type or asks for it; -1: not a
 * query/answer type of code 0 (an error, a neighbour discovery message, a TCP or UDP port
 * that is no such value). */
static int
icmp_other_half(uint16_t port)
{
	size_t i;

	if ((port & 0xff) != 0)
		return -1;
	for (i = 0; i < sizeof(icmp_query_pairs) / sizeof(icmp_query_pairs[0]); i++) {
		if (icmp_query_pairs[i][0] == port >> 8)
			return icmp_query_pairs[i][1] << 8;
		if (icmp_query_pairs[i][1] == port >> 8)
			return icmp_query_pairs[i][0] << 8;
	}
	return -1;
}

/* A query/answer type's packets are unanswered when its other half in the reverse direction
 * (the same one in `all`) carries fewer than this share of them. */
#define ICMP_ANSWERED_MIN 0.5

/*
 * The packet rise (over the peak share in a baseline window, as a count: as
 * icmp_packet_holders) of the query/answer types whose other half the reverse direction did
 * not carry (ICMP_ANSWERED_MIN). The other half is counted at most (direction_count_at_most:
 * a full list's floor when the list leaves it out), so a type is called unanswered only when
 * it surely was. The rise, not the count: a TCP or UDP port equal to a type's value (port 0
 * of non-first fragments, 2048, 32768) has its own peak share; on the answer side it only
 * makes a type look answered.
 */
static double
icmp_unanswered_rise(const struct involved *inv, const struct safem_window_summary *w)
{
	double packets = (double)w->volume[inv->dir].packets, sum = 0;
	unsigned int i;

	for (i = 0; i < inv->ntop[SAFEM_FEATURE_DST_PORT]; i++) {
		const struct involved_item *it = &inv->top[SAFEM_FEATURE_DST_PORT][i];
		struct safem_feature_value other = *it->value;
		double rise = (it->share.packets - it->peak.packets) * packets;
		int half = icmp_other_half(port_of(it->value));

		if (half < 0 || !(rise > 0) || it->counts == NULL)
			continue;
		other.bytes[14] = (uint8_t)(half >> 8);
		other.bytes[15] = 0;
		if (direction_count_at_most(w, inv->reverse, SAFEM_FEATURE_DST_PORT, &other, true) <
		    ICMP_ANSWERED_MIN * (double)it->counts->packets)
			sum += rise;
	}
	return sum;
}

/* On a low-rate window: more ICMP than the link's ICMP band ever carried (above), and the
 * surge past the band (excess) is mostly unanswered queries or unasked answers (as the
 * other rules ask a shape to hold half of the rise: SYN_OF_VICTIM). */
#define UNANSWERED_OF_EXCESS 0.5

static bool
low_rate_icmp_unanswered(const struct metric_layout *l, const struct deviation *dev,
			 const struct safem_window_summary *w, const struct involved *inv,
			 double icmp, double excess)
{
	unsigned int m = metric_proto_packets(l, inv->dir, SAFEM_PROTO_ICMP);

	if (!(excess > 0) || icmp <= dev->hi[m] * busiest_packets(l, dev, inv->dir))
		return false;
	return icmp_unanswered_rise(inv, w) >= UNANSWERED_OF_EXCESS * excess;
}

/*
 * The ICMP packets past their band's upper edge (as a count), when they are evidence: past
 * the band with its margin (the metric is '+'), and more than the packets at the band's
 * upper edge explain as a count (P(X >= k) <= SIGNIFICANCE^evidence, X ~ Poisson(hi x
 * packets), in sampled units under sampling; at least 10 packets at 1e-6 when the edge
 * holds fewer than one). The band is the bar; the count is a floor under it: packets vary
 * at least as a Poisson count, and a 20-window band of a busy link is narrower than that
 * (25,000 packets/s, test seed 300: ICMP's share within 0.0151-0.0177 while a window's ~250
 * pings vary by ~16; clean windows crossed the margin by 40-55 packets and three were named
 * ICMP floods). It is never the bar alone: packets are burstier than Poisson (the 1500
 * packets/s synthetic link's band is three times as wide as that count's spread). 0
 * otherwise.
 */
static double
icmp_packet_excess(const struct metric_layout *l, const struct deviation *dev,
		   const struct safem_window_summary *w, const struct involved *inv,
		   double evidence)
{
	unsigned int dir = inv->dir, m = metric_proto_packets(l, dir, SAFEM_PROTO_ICMP);
	double packets = (double)w->volume[dir].packets, icmp;

	double excess;

	if (dev->sign[m] <= 0 || dev->hi == NULL || !(packets > 0) || !dev->packets_judged)
		return 0;
	icmp = (double)w->proto_packets[dir][SAFEM_PROTO_ICMP];
	if (!count_significant(icmp, dev->hi[m], packets, w->sample_rate,
			       evidence * log(SIGNIFICANCE)))
		return 0;
	excess = icmp - dev->hi[m] * packets;
	/* a low-rate window: only a surge that outweighs the link (low_rate_icmp_outweighs),
	 * or more than its ICMP band carried and unanswered (low_rate_icmp_unanswered) */
	if (dev->low_rate && !low_rate_icmp_outweighs(l, dev, dir, excess) &&
	    !low_rate_icmp_unanswered(l, dev, w, inv, icmp, excess))
		return 0;
	return excess;
}

/* The FEW_VALUES largest rises (few_keep) hold a surge: together FEW_OF_MAX of it, the
 * largest RISER_OF_MAX of it. */
static bool
few_hold(const double few[FEW_VALUES], double surge)
{
	double sum = 0;
	unsigned int j;

	for (j = 0; j < FEW_VALUES; j++)
		sum += few[j];
	return surge > 0 && few[0] >= RISER_OF_MAX * surge && sum >= FEW_OF_MAX * surge;
}

/*
 * A few values of a feature hold the ICMP packet surge: the FEW_VALUES largest packet rises
 * over the peak share (as counts) among values that may carry it (ICMP_OF_VALUE_RISE) add
 * up to FEW_OF_MAX of the excess, the largest at least RISER_OF_MAX of it. Destination
 * addresses: the victims. Destination ports: for ICMP flows they hold the type and code
 * (lib/packet, NetFlow convention; an echo reply is 0), so the surge is ICMP of one or a
 * few types, not a host's other packets rising by chance while its pings vary.
 * outside != NULL: only transit destinations count (outside those home prefixes, mostly
 * reached from outside: transit_destination).
 */
static bool
icmp_packet_holders(const struct involved *inv, const struct safem_window_summary *w,
		    unsigned int feat, double excess, const struct safem_home *outside)
{
	double packets = (double)w->volume[inv->dir].packets, few[FEW_VALUES] = {0};
	unsigned int i;

	for (i = 0; i < inv->ntop[feat]; i++) {
		const struct involved_item *it = &inv->top[feat][i];
		double rise = (it->share.packets - it->peak.packets) * packets;

		if (!(rise > 0) || ICMP_OF_VALUE_RISE * rise > excess ||
		    (outside != NULL && !transit_destination(w, it, outside, true)))
			continue;
		few_keep(few, rise);
	}
	return few_hold(few, excess);
}

/*
 * Low-rate windows, the third bar (docs/detection.md, "ICMP floods of any type on low-rate
 * links (session 12)"): one pair's surge. The two bars above weigh the window's ICMP against
 * the whole link's (its busiest window, its ICMP band), so a flood of errors, reports or
 * unknown types smaller than the link's own ICMP at its busiest is never named (a link whose
 * windows carry a fifth of ICMP: a flood at a fifth of the packets stays inside the band).
 * The link's own ICMP on such links is many small pairs (pings, unreachables to many hosts,
 * neighbour discovery, the answers of a traceroute from each router on the path); a flood
 * is one pair's (or a few pairs') surge. So the bar is each value's own: the ICMP packets
 * over the link's usual ICMP (the mean of proto_packet_share in the learnt windows, as a
 * count; beyond chance against it, the count floor of icmp_packet_excess) are held by one
 * or a few ICMP types, one or a few destinations and one or a few sources, each over the
 * most packets it had in one learnt window (baseline_peak_packets: a count, since a share
 * of a window of a dozen packets says nothing), and
 * - the types are not query/answer types (icmp_other_half): those have their own bar
 *   (low_rate_icmp_unanswered), and a traceroute by echo requests (mtr: ~30 a second to one
 *   target, answered by the routers on the path, not by the target) is one pair's surge of
 *   requests the target does not answer;
 * - the destinations that hold it are one-way: each one's packets as a source in the
 *   reverse direction are under ICMP_ANSWERED_MIN of its rise (a host that rose by a
 *   conversation, both ways, holds none of it). ICMP errors answer what
 *   their destination sent (a UDP stream to a closed port draws one unreachable a datagram,
 *   one pair's surge too); a flood's victim sends nothing of the kind;
 * - the destination that rose most of those carries the evidence itself (its packets beyond
 *   chance against its own busiest learnt window).
 * The answers of a traceroute come from each router (many sources); a ping burst is echo.
 */
/* A value's own ICMP packets now and the most packets it had in one learnt window
 * (baseline_peak_packets, of all protocols: no learnt window keeps a value's ICMP apart,
 * and a bar of all its traffic is never lower than one of its ICMP). peak is read only
 * here, for the few values of a low-rate window whose ICMP is judged, not for every value
 * of every classified window. */
struct icmp_count {
	double icmp, peak;
};

static struct icmp_count
icmp_count_of(const struct involved *inv, const struct safem_window_summary *w,
	      unsigned int feat, const struct involved_item *it)
{
	struct icmp_count c = {0, 0};

	if (it->counts == NULL || it->stale || !(it->icmp_packets > 0))
		return c;
	c.icmp = it->icmp_packets;
	c.peak = baseline_peak_packets(inv->baseline, inv->slot, feat, it->value,
				       (double)w->volume[inv->dir].packets);
	return c;
}

/* A multicast or broadcast address (IPv4 v4-mapped 224/3, IPv6 ff00::/8). */
static bool
group_address(const struct safem_feature_value *v)
{
	static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};

	if (memcmp(v->bytes, mapped, sizeof(mapped)) == 0)
		return v->bytes[12] >= 224;
	return v->bytes[0] == 0xff;
}

/* A destination is one-way when its packets as a source in the reverse direction (counted
 * at most: direction_count_at_most) are under ICMP_ANSWERED_MIN of its rise. A group
 * address never sends, so it is never one-way: a host joining a quiet IPv6 link sends its
 * MLD reports and neighbour solicitations to ff02:: groups (the session 13 review). */
static bool
one_way(const struct involved *inv, const struct safem_window_summary *w,
	const struct involved_item *it, double rise)
{
	if (group_address(it->value))
		return false;
	return direction_count_at_most(w, inv->reverse, SAFEM_FEATURE_SRC_ADDR, it->value, true) <
	       ICMP_ANSWERED_MIN * rise;
}

/* As icmp_packet_holders, by count rises: each value's own ICMP packets over the most
 * packets it had in a learnt window (icmp_count_of); ports: not query/answer types;
 * destinations: one-way ones. top (if not NULL): the counts of the value that rose most of
 * those that count ({0, 0}: none). */
static bool
icmp_count_holders(const struct involved *inv, const struct safem_window_summary *w,
		   unsigned int feat, double surge, const struct safem_home *outside,
		   struct icmp_count *top)
{
	double few[FEW_VALUES] = {0};
	unsigned int i;

	if (top != NULL)
		*top = (struct icmp_count){0, 0};
	for (i = 0; i < inv->ntop[feat]; i++) {
		const struct involved_item *it = &inv->top[feat][i];
		struct icmp_count c = icmp_count_of(inv, w, feat, it);
		double rise = fmax(c.icmp - c.peak, 0);

		if (!(rise > 0) || ICMP_OF_VALUE_RISE * rise > surge ||
		    (feat == SAFEM_FEATURE_DST_PORT && icmp_other_half(port_of(it->value)) >= 0) ||
		    (feat == SAFEM_FEATURE_DST_ADDR && !one_way(inv, w, it, rise)) ||
		    (outside != NULL && !transit_destination(w, it, outside, true)))
			continue;
		if (top != NULL && rise > few[0])
			*top = c;
		few_keep(few, rise);
	}
	return few_hold(few, surge);
}

static bool
low_rate_icmp_pair_surge(const struct deviation *dev, const struct safem_window_summary *w,
			 const struct involved *inv, double evidence,
			 const struct safem_home *outside)
{
	unsigned int dir = inv->dir;
	double packets = (double)w->volume[dir].packets, icmp, mean, surge;
	struct icmp_count victim;

	if (!dev->low_rate || !dev->packets_judged || !(packets > 0))
		return false;
	icmp = (double)w->proto_packets[dir][SAFEM_PROTO_ICMP];
	mean = inv->proto_packet_mean[SAFEM_PROTO_ICMP];
	if (!count_significant(icmp, mean, packets, w->sample_rate, evidence * log(SIGNIFICANCE)))
		return false;
	surge = icmp - mean * packets;
	/* the victim carries the evidence itself: its ICMP packets beyond chance against the
	 * most it had in a learnt window, as the link's ICMP against its mean (a host joining
	 * an IPv6 link: a dozen neighbour discovery messages to three or four link-local and
	 * multicast addresses, 8 to the largest) */
	return surge > 0 && icmp_count_holders(inv, w, SAFEM_FEATURE_DST_PORT, surge, NULL, NULL) &&
	       icmp_count_holders(inv, w, SAFEM_FEATURE_DST_ADDR, surge, outside, &victim) &&
	       victim.icmp > 0 &&
	       count_significant(victim.icmp, victim.peak, 1.0, w->sample_rate,
				 evidence * log(SIGNIFICANCE)) &&
	       icmp_count_holders(inv, w, SAFEM_FEATURE_SRC_ADDR, surge, NULL, NULL);
}

/* By packets: ICMP past its band, of one or a few types, held by one or a few destinations
 * (outside: as icmp_packet_holders); on a low-rate window also one pair's surge
 * (low_rate_icmp_pair_surge). */
static bool
icmp_packet_victims(const struct metric_layout *l, const struct deviation *dev,
		    const struct safem_window_summary *w, const struct involved *inv,
		    double evidence, const struct safem_home *outside)
{
	double excess = icmp_packet_excess(l, dev, w, inv, evidence);

	if (excess > 0 && icmp_packet_holders(inv, w, SAFEM_FEATURE_DST_PORT, excess, NULL) &&
	    icmp_packet_holders(inv, w, SAFEM_FEATURE_DST_ADDR, excess, outside))
		return true;
	return low_rate_icmp_pair_surge(dev, w, inv, evidence, outside);
}

static bool
icmp_packet_flood(const struct metric_layout *l, const struct deviation *dev,
		  const struct safem_window_summary *w, const struct involved *inv, double evidence)
{
	return icmp_packet_victims(l, dev, w, inv, evidence, NULL);
}

/* By flows: the victim's new flows are ICMP ones, past what the link's ICMP share ever
 * was in a baseline window (half of the victim's rise, as SYN_OF_VICTIM for SYN floods). */
static bool
icmp_flow_surge(const struct metric_layout *l, const struct deviation *dev,
		const struct safem_window_summary *w, unsigned int dir, double victim_rise)
{
	double flows = (double)w->volume[dir].flows;

	return dev->sign[metric_proto(l, dir, SAFEM_PROTO_ICMP)] > 0 &&
	       class_excess(dev, metric_proto(l, dir, SAFEM_PROTO_ICMP),
			    (double)w->proto_flows[dir][SAFEM_PROTO_ICMP], flows) >=
		       SYN_OF_VICTIM * victim_rise * flows;
}

/* Is dport (an ICMP flow's type and code, lib/packet) a query: echo, timestamp, information
 * or address mask request, ICMPv6 echo request (the first of each pair)? */
static bool
icmp_query_port(uint16_t port)
{
	size_t i;

	if ((port & 0xff) != 0)
		return false;
	for (i = 0; i < sizeof(icmp_query_pairs) / sizeof(icmp_query_pairs[0]); i++)
		if (icmp_query_pairs[i][0] == port >> 8)
			return true;
	return false;
}

/*
 * The victim's new flows are ICMP queries (docs/detection.md, "Few-source unsolicited
 * replies and ICMP requests (session 10)"): the destination ports that carry the rise (over
 * their mean share, as for "few") and are query types hold at least PROTO_OF_VICTIM of the
 * victim's flow rise, and the direction's ICMP flows beyond their mean share make at least
 * as much (port 2048 is also a TCP port: the protocol says which). Requests are not
 * answers: a flood of them is an ICMP flood whatever its sources, never a reflection
 * (whose source-port test, with ICMP's ports 0 left out, judges other ports' chance rises:
 * development seed 200, a 1 % echo-request flood from spoofed sources was named
 * reflection in 4 of 6 windows, its ICMP share inside the band's upper edge).
 */
static bool
icmp_queries_to_victim(const struct involved *inv, const struct safem_window_summary *w,
		       const struct feature_view *dst)
{
	double rise = dst->top_rise, queries = 0;
	unsigned int i;

	if (!(rise > 0))
		return false;
	for (i = 0; i < inv->ntop[SAFEM_FEATURE_DST_PORT]; i++) {
		const struct involved_item *it = &inv->top[SAFEM_FEATURE_DST_PORT][i];

		if (icmp_query_port(port_of(it->value)) && carries_rise(it, w, inv->dir))
			queries += fmax(carried_rise(SAFEM_FEATURE_DST_PORT, it), 0);
	}
	return queries >= PROTO_OF_VICTIM * rise &&
	       proto_excess_flows(inv, w, SAFEM_PROTO_ICMP, victim_flows(dst, w, inv->dir)) >=
		       PROTO_OF_VICTIM * victim_flows(dst, w, inv->dir);
}

enum safem_attack_class
classify_window(const struct metric_layout *l, const struct deviation *dev,
		const struct safem_window_summary *w, const struct involved *inv, double evidence)
{
	struct feature_view src, dst, sport, dport;
	unsigned int dir = inv->dir;
	bool syn_up = dev->sign[metric_proto(l, dir, SAFEM_PROTO_TCP_SYN)] > 0;
	bool udp_up = dev->sign[metric_proto(l, dir, SAFEM_PROTO_UDP)] > 0;
	bool victim, one_source, single_source, one_carrier, fan_out, syn_surge, solicited;
	const struct involved_item *scanner;
	double max_rise, port_base;

	feature_view(l, dev, inv, w, evidence, SAFEM_FEATURE_SRC_ADDR, &src);
	feature_view(l, dev, inv, w, evidence, SAFEM_FEATURE_DST_ADDR, &dst);
	feature_view(l, dev, inv, w, evidence, SAFEM_FEATURE_SRC_PORT, &sport);
	feature_view(l, dev, inv, w, evidence, SAFEM_FEATURE_DST_PORT, &dport);
	max_rise = fmax(fmax(src.top_rise, dst.top_rise), fmax(sport.top_rise, dport.top_rise));
	port_base = port_rise_base(inv, max_rise);
	feature_rank(inv, w, SAFEM_FEATURE_SRC_ADDR, max_rise, &src);
	feature_rank(inv, w, SAFEM_FEATURE_DST_ADDR, max_rise, &dst);
	feature_rank(inv, w, SAFEM_FEATURE_SRC_PORT, port_base, &sport);
	feature_rank(inv, w, SAFEM_FEATURE_DST_PORT, port_base, &dport);
	if (!(max_rise > 0)) {
		/* no value's flows are significant: few flows, many SYN-only packets to one
		 * destination may still be a flood of SYN retries */
		if (syn_up && syn_retry_victim(inv, w, evidence))
			return SAFEM_CLASS_SYN_FLOOD;
		if (icmp_packet_flood(l, dev, w, inv, evidence))
			return SAFEM_CLASS_ICMP_FLOOD;
		return SAFEM_CLASS_UNKNOWN;
	}
	/* the victim's new flows are SYN-only ones (a flood), not a chance rise of the SYN
	 * share while a reflection adds UDP or SYN-ACK flows */
	syn_surge = syn_up && w->volume[dir].flows > 0 &&
		    (double)w->proto_flows[dir][SAFEM_PROTO_TCP_SYN] /
				    (double)w->volume[dir].flows >=
			    SYN_OF_VICTIM * dst.top_rise;
	/* fan-in: one or a few destinations hold the rise */
	victim = dst.lead && dst.few;
	/* one source (in `all`, a scan's target answers: the pair shows on both sides) */
	one_source = src.lead && src.risers <= 2;
	/* one source holds most of what the sources' rise (infected hosts share it) */
	single_source = src.few && src.few_top >= SINGLE_OF_FEW * src.few_rise;
	/* sampled: or one source carries the sources' rise (beyond chance, CARRY_SIGNIFICANCE)
	 * without the victim's evidence of its own: a scanner's probes are its victim's new
	 * flows, and the evidence is the victim's; each side is a few sampled flows a window
	 * and either may fall short of the level by chance. 1:100 over 2 windows (development
	 * seed 200, 25,000 packets/s, 5 % vertical scan): the victim 15 flows against a mean
	 * of 2 (significant), its scanner 14 against 2 (P = 2.9e-8 > 7.9e-9): named syn_flood */
	one_carrier = w->sample_rate > 1 && single_source && src.risers <= 2;
	/* fan-out: the rise spreads over many destinations, no few of them hold it (a client
	 * whose server's count is short of the lead's evidence is one destination, not a
	 * sweep: a brute force's first windows were named horizontal_scan) */
	fan_out = !dst.lead && !dst.few;

	/* the victim's new flows are ICMP (of any type, spoofed sources or not): an ICMP flood.
	 * First: ICMP flows carry no source port (lib/packet keys them with port 0, as
	 * fragments), so the source-port test of a reflection judges the chance rises of
	 * other ports (test set, seed 300: a 1 % timestamp flood from spoofed sources was
	 * called reflection in 6 of 6 windows) */
	if (victim && !syn_surge && !udp_up && icmp_flow_surge(l, dev, w, dir, dst.top_rise))
		return SAFEM_CLASS_ICMP_FLOOD;
	/* a victim's rise made of ICMP queries (any sources): requests are not answers, so no
	 * reflection, whatever the ICMP share's band says */
	if (victim && !syn_surge && icmp_queries_to_victim(inv, w, &dst))
		return SAFEM_CLASS_ICMP_FLOOD;
	/* many sources answering from one or a few ports to one victim, no SYN of their own,
	 * answers the victim did not ask for: UDP amplification, SYN-ACK or RST reflection,
	 * whatever the service port */
	solicited = victim && sport.few && answers_solicited(l, dev, inv, w, &dst, &sport);
	if (victim && !src.few && sport.few && !syn_surge && !solicited)
		return SAFEM_CLASS_REFLECTION;
	/* one client, many completed short TCP connections to one service of one server */
	if (victim && !syn_surge && brute_force_of(inv, w, &src, &dst, &sport, &dport))
		return SAFEM_CLASS_BRUTE_FORCE;
	/* one source, one destination, the destination ports spread: no port beyond chance
	 * rose over its peak share by a riser's part (a flood aims at one port, whose count is
	 * then beyond chance; each probed port gets a flow or two, and so does a background
	 * port now and then: sampled 1:20 over 4 windows, e2e test_detect_sampled, seed 95, a
	 * port of 2 flows against at least 4 rose by 0.0052, more than a quarter of the
	 * victim's 0.0197 over its peak, and the scan was named syn_flood), small packets,
	 * probes: under CONNECTION_PACKETS_MIN packets a flow (a probe is one packet), or
	 * SYN-only (a scanner that retries its SYNs). A server answering a brute force from
	 * its service port to the client's new ports has the same shape, but each flow is a
	 * connection (generated RDP brute force: the server's 2.1-2.6 packets a flow in `out`
	 * were named vertical_scan, 1.00 for scans); in the windows that cut its connections,
	 * the pair made connections in a recent window (pair_connected) */
	scanner = src.top != NULL ? src.top : src.few_item;
	if (victim && (one_source || one_carrier) && dst.risers <= 2 &&
	    dport.chance_rise < RISER_OF_MAX * port_base &&
	    bytes_per_packet(scanner) <= SCAN_PACKET_BYTES_MAX &&
	    ((sends_probes(scanner, w) && !pair_connected(inv, scanner, dst.top, w)) || syn_surge))
		return SAFEM_CLASS_VERTICAL_SCAN;
	if (victim && syn_surge)
		return SAFEM_CLASS_SYN_FLOOD;
	/* the UDP share often stays inside its band (DNS and QUIC replies are UDP already):
	 * the victim's rise must be UDP flows, beyond the direction's usual share of them; a
	 * flood's new flows come from random ports on one side at least (a client's sessions
	 * to one service keep both sides few), nobody asked for them, and the victim does
	 * not answer each of them */
	if (victim && !syn_surge && (!sport.few || !dport.few) && !solicited &&
	    !victim_answered(l, inv, w, &src, &dst) &&
	    (udp_up || proto_excess_flows(inv, w, SAFEM_PROTO_UDP, victim_flows(&dst, w, dir)) >=
			       PROTO_OF_VICTIM * victim_flows(&dst, w, dir)))
		return SAFEM_CLASS_UDP_FLOOD;
	if (fan_out) {
		/* a few sources each sweeping many destinations on a port that leads (over its
		 * peak share: clients of many HTTPS servers do not; Blaster: one destination
		 * port; Witty: one source port): infected hosts, seen from the home
		 * side (OUT) or without home prefixes (ALL); from outside (IN) a distributed
		 * scan. */
		if (!single_source && src.carriers >= WORM_MIN_SOURCES &&
		    (dport.lead || sport.lead) && dir != SAFEM_DIR_IN)
			return SAFEM_CLASS_WORM;
		/* one or few sources sweeping many destinations on a port that leads (over
		 * its peak share, as for worms: a client of many servers on 443 does not),
		 * with probes (as vertical scans: a brute force's client over a horizon of 8
		 * windows, its busy server short of the evidence, was named horizontal_scan);
		 * the sweepers go on now: the one that holds most is not stale (a sampled
		 * Blaster's stale hosts and its port over 8 windows, 2 windows after it ended:
		 * development seed 201) */
		if (dport.lead && dport.few &&
		    (src.lead || (src.few && src.few_item != NULL && !src.few_item->stale)) &&
		    (sends_probes(src.top != NULL ? src.top : src.few_item, w) || syn_surge)) {
			if (dir == SAFEM_DIR_OUT && internal_sweep_of(l, w, &src, &dport))
				return SAFEM_CLASS_WORM;
			return SAFEM_CLASS_HORIZONTAL_SCAN;
		}
	}
	if (syn_up && syn_retry_victim(inv, w, evidence))
		return SAFEM_CLASS_SYN_FLOOD;
	return icmp_packet_flood(l, dev, w, inv, evidence) ? SAFEM_CLASS_ICMP_FLOOD
							   : SAFEM_CLASS_UNKNOWN;
}

/*
 * Reflection is answers from a service port (above: many sources, few source ports). At
 * 1 %, a UDP flood from a few sources with random source ports reads the same in the
 * window's lists: its three sources, each a handful of flows, are not listed or not
 * riser enough to be "few", and the chance rises of busy service ports (53, 443) hold the
 * source ports' "few" (development seeds 200 and 201: named reflection in 4 and 5 of 6
 * windows). lib/victim sees the flows: its second walk's udp_ports finding is a
 * destination whose unanswered UDP came from a few sources each opening new flows to
 * several of its ports, window after window: no service port answered anything. When
 * that finding names the destination that rose most, the window is a UDP flood.
 */
enum safem_attack_class
classify_by_findings(const struct involved *inv, enum safem_attack_class cls,
		     const struct safem_detect_finding *f, unsigned int n)
{
	const struct involved_item *v;
	unsigned int i;

	if (cls != SAFEM_CLASS_REFLECTION || f == NULL)
		return cls;
	v = top_flow_riser(inv, SAFEM_FEATURE_DST_ADDR);
	if (v == NULL)
		return cls;
	for (i = 0; i < n; i++)
		if (f[i].cls == SAFEM_CLASS_UDP_FLOOD && f[i].has_target && f[i].test != NULL &&
		    strcmp(f[i].test, "victim") == 0 &&
		    memcmp(&f[i].target, v->value, sizeof(f[i].target)) == 0)
			return SAFEM_CLASS_UDP_FLOOD;
	return cls;
}

/*
 * Transit (docs/detection.md, "Transit"): with home prefixes, flows between two outside
 * hosts count in ALL only. A flood found there names transit traffic when its victim is
 * outside home: for an ICMP flood by packets, destinations outside home hold the ICMP
 * surge; else the destination whose flows rose most is outside home and unanswered. ALL
 * holds both sides of every conversation between outside hosts, so a client opening
 * connections leads its destinations by flows as much as its sources (bg_ndpi_appmix,
 * tuning part: a VirtualBox guest's SYNs and their answers read as a SYN flood in ALL); a
 * flood's victim receives far more than it sends. Scans are named in transit only as
 * transit_scanner (below) defines them, worms never: the same mixing read ordinary
 * transit clients as horizontal scans (4 clean windows of that capture's tuning part).
 * An attack on a home host shows in IN (or OUT) as well; ALL is only asked when they
 * explain nothing.
 */
/* A victim is unanswered when it sends fewer than this share of the flows it receives. */
#define TRANSIT_ANSWER_MAX 0.5
/* The destination whose flows rose most: outside home, and its flows as a source (0 when
 * the window's source lists leave it out) under TRANSIT_ANSWER_MAX of those it received. */
static bool
transit_victim(const struct safem_window_summary *w, const struct involved *inv,
	       const struct safem_home *home)
{
	const struct involved_item *v = top_flow_riser(inv, SAFEM_FEATURE_DST_ADDR);
	unsigned int i;

	if (v == NULL || !transit_destination(w, v, home, false))
		return false;
	for (i = 0; i < inv->ntop[SAFEM_FEATURE_SRC_ADDR]; i++) {
		const struct involved_item *it = &inv->top[SAFEM_FEATURE_SRC_ADDR][i];

		if (memcmp(it->value, v->value, sizeof(*v->value)) == 0)
			return it->counts != NULL &&
			       (double)it->counts->flows <
				       TRANSIT_ANSWER_MAX * (double)v->counts->flows;
	}
	return true;
}

/*
 * Transit scans (docs/detection.md, "Transit scans"): one or a few outside sources sweeping
 * many outside destinations on one or a few ports, mostly unanswered. The class rule of ALL
 * has found the shape (the destinations spread, their port leads and is few, the sources
 * lead or are few); in transit the source that rose most must be
 * - outside home, and sweep mostly outside: its flows into home (as a source in IN) are
 *   under TRANSIT_FROM_HOME_MAX of its flows in ALL (a scan of the home network is IN's to
 *   name), and
 * - unanswered: it receives (as a destination in ALL; 0 when the window's destination lists
 *   leave it out) under TRANSIT_ANSWER_MAX of the flows it sends. Most swept addresses hold
 *   no host, or a host that drops the probe; a transit client of many servers (a proxy, a
 *   NAT, a VirtualBox guest in bg_ndpi_appmix) gets an answer for each connection, and is
 *   what read four clean windows of that capture's tuning part as horizontal scans when
 *   every class was allowed in transit, and
 * - a prober: under CONNECTION_PACKETS_MIN packets a flow (one SYN or datagram a target),
 *   as a transit client's connections are not, and
 * - sweeping one or a few ports: the destination ports that each rose by a riser's part of
 *   its rise (RISER_OF_MAX) hold TRANSIT_SCAN_PORTS of it. A peer-to-peer client reaches
 *   its peers on their own ports: bg_ndpi_appmix's VirtualBox guest (outside its home
 *   prefix) sends Gnutella pings to ~20 peers a window, unanswered for the most part, one
 *   packet each, half of them to 6346 and the rest to as many ports (tuning part: three
 *   clean windows named transit horizontal scans without this test; their ratio 0.5-0.65,
 *   a sweep of one port's 1.0).
 * Worms are not named in transit: several outside hosts sweeping outside addresses are
 * another network's infection or a distributed scan, and nothing here tells them apart.
 */
#define TRANSIT_SCAN_PORTS 0.75

/* The rise of the destination ports that each carry a riser's part of rise (see above). */
static double
swept_port_rise(const struct involved *inv, double rise)
{
	double sum = 0;
	unsigned int i;

	for (i = 0; i < inv->ntop[SAFEM_FEATURE_DST_PORT]; i++) {
		const struct involved_item *it = &inv->top[SAFEM_FEATURE_DST_PORT][i];
		double r = carried_rise(SAFEM_FEATURE_DST_PORT, it);

		if (judged(SAFEM_FEATURE_DST_PORT, it) && r >= RISER_OF_MAX * rise)
			sum += r;
	}
	return sum;
}

static bool
transit_scanner(const struct safem_window_summary *w, const struct involved *inv,
		const struct safem_home *home)
{
	const struct involved_item *s = top_flow_riser(inv, SAFEM_FEATURE_SRC_ADDR);
	const struct safem_featdist_counts *back;
	double sent, rise;

	if (s == NULL || s->counts == NULL || safem_home_contains(home, s->value))
		return false;
	/* over its mean share, as ports rise (carried_rise): a peer-to-peer client is busy in
	 * some baseline windows, and its rise over its peak is no measure of its flows */
	rise = s->share.flows - s->baseline.flows;
	if (!(rise > 0) || swept_port_rise(inv, rise) < TRANSIT_SCAN_PORTS * rise)
		return false;
	sent = (double)s->counts->flows;
	if (!(sent > 0) || !sends_probes(s, w) ||
	    direction_count_at_most(w, SAFEM_DIR_IN, SAFEM_FEATURE_SRC_ADDR, s->value, false) >=
		    TRANSIT_FROM_HOME_MAX * sent)
		return false;
	/* what it receives: its counts as a destination of the same window's lists (0 when
	 * they leave it out) */
	back = summary_listed_counts(w, inv->dir, SAFEM_FEATURE_DST_ADDR, s->value);
	return (back != NULL ? (double)back->flows : 0) < TRANSIT_ANSWER_MAX * sent;
}

bool
classify_transit(const struct metric_layout *l, const struct deviation *dev,
		 const struct safem_window_summary *w, const struct involved *inv,
		 enum safem_attack_class cls, const struct safem_home *home, double evidence)
{
	if (home == NULL || home->count == 0)
		return false;
	switch (cls) {
	case SAFEM_CLASS_ICMP_FLOOD:
		return icmp_packet_victims(l, dev, w, inv, evidence, home) ||
		       transit_victim(w, inv, home);
	case SAFEM_CLASS_SYN_FLOOD:
	case SAFEM_CLASS_UDP_FLOOD:
	case SAFEM_CLASS_REFLECTION:
		return transit_victim(w, inv, home);
	case SAFEM_CLASS_HORIZONTAL_SCAN:
		return transit_scanner(w, inv, home);
	default:
		return false;
	}
}
