/* SPDX-License-Identifier: BSD-3-Clause */
/* Destination-side Threshold Random Walk over the windows' flow logs (safem_victim.h;
 * docs/detection.md, "Destination-side sequential test (victims)"). */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "safem_seqscan.h"
#include "safem_trw.h"
#include "safem_victim.h"

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
/* what a connection carries after its handshake: data or its end */
#define TCP_AFTER_HANDSHAKE (TCP_FIN | TCP_RST | TCP_PSH)

#define PROTO_ICMP 1
#define PROTO_TCP 6
#define PROTO_UDP 17
#define PROTO_ICMPV6 58

/* A kind's few ports: its Misra-Gries counters (lib/trw) must hold at least 3/4 of its
 * failures (lib/seqscan's bound): reflectors answer from
 * one service port (SYN-ACK reflectors from a few: 22, 80, 443; fragments: the first from the
 * service port, the rest portless), a flood aims at one service; peers of a peer-to-peer
 * host each send from their own port. */

/* the kinds of the first walk's arrivals (SAFEM_VICTIM_UDP_PORTS is the second walk's
 * only): its per-kind summaries */
#define ARRIVAL_KINDS (SAFEM_VICTIM_ATTEMPT + 1)

#define WAYS 4
/* Bloom filter of sources per destination and seen tables: lib/trw's, as lib/seqscan's. */
/* seeds: a flow's key and its address pair share one table per window */
#define SEED_KEY 0x9e3779b97f4a7c15ull
#define SEED_PAIR 0xc2b2ae3d27d4eb4full
#define SEED_SRC 0x165667b19e3779f9ull
#define SEED_DST 0x27d4eb2f165667c5ull
/* a source map entry's dst hash: bit 0 set when the source reached a second destination */
#define SRC_SPREAD 1ull

/* The second walk's UDP observation (docs/detection.md, "Few-source UDP floods (session
 * 11)"): a source that opened UDP flows (5-tuples not in the window before) to this many
 * distinct destination ports of its one destination in the window, from as many source
 * ports. A one-way stream (media, syslog, a trap sender's socket, a flow exporter) keeps
 * one 5-tuple: new in its first window only, then none; a device's few fixed exports open
 * their ports once; a burst of queries or traps from new source ports reaches one service
 * port; a reflector answers from one service port. A flood from and to random ports opens
 * a new pair of ports with (nearly) every datagram. */
#define UDP_NEW_PORTS_MIN 2
/* udp_ports: the low half one bit a destination port hash, the high half a source port's */
#define UDP_PORT_BITS 32

#define AHEAD SAFEM_TRW_AHEAD /* slots fetched ahead (lib/trw) */

/* windows whose seen tables a decision reads: the one before the arrival's, its own, the
 * next (a request precedes its response; a handshake's ACK can fall into the next) */
#define SEEN_WINDOWS 3

/* the learnt theta0's range: at least the paper's 0.8 (SAFEM_VICTIM_THETA0), under 1
 * (a failure step is finite) */
static_assert(SAFEM_VICTIM_THETA0_CAP_PERMILLE >= 800 &&
		      SAFEM_VICTIM_THETA0_CAP_PERMILLE < 1000,
	      "theta0 cap");

struct dest {
	struct safem_feature_value addr;
	bool used;
	uint32_t gen;         /* bumped when the slot changes hands: pending arrivals check it */
	uint64_t last_window; /* last window with an arrival */
	struct safem_trw_walk walk;
	/* the second walk, over (source, window) observations of ICMP replies (few sources
	 * window after window: docs/detection.md, "Few-source unsolicited replies and ICMP
	 * requests (session 10)") */
	struct safem_trw_walk reply_walk;
	uint32_t reply_failures, reply_successes; /* decided this window */
	uint32_t reply_udp_failures;              /* of reply_failures: UDP new-port ones */
	struct safem_feature_value reply_src;     /* its last failed observation's source */
	uint8_t reply_proto;
	unsigned int reply_finding_windows;
	/* Misra-Gries summaries of the ports of the walk's failures, per kind */
	struct safem_trw_ports ports[ARRIVAL_KINDS];
	/* this window's decisions */
	uint64_t window_id;
	uint32_t window_failures[ARRIVAL_KINDS], window_successes;
	struct safem_feature_value last_src[ARRIVAL_KINDS];
	uint8_t last_proto[ARRIVAL_KINDS];
	unsigned int finding_windows;
	/* a TCP flow carried data to it with nothing going back: the link does not see
	 * what it sends, so a response without a request is no evidence */
	bool one_way;
	/* an arrival of this window went to the link's prior: one a destination and window,
	 * so one busy server's answered clients do not set the link's rate (session 14 review) */
	bool prior_counted;
	uint64_t found_window; /* last window with a final finding (one finding a window) */
	/* window prov_window's own observations decided in it (provisional_window): copies of
	 * the walks and of the ports with them; the persisted ones never see these steps */
	uint64_t prov_window;
	struct safem_trw_walk prov_walk, prov_reply_walk;
	struct safem_trw_ports prov_ports[ARRIVAL_KINDS];
	/* the second walk's provisional failures: this window's own (source, window)
	 * observations, the sources its finding names (the final ones of the window before
	 * may be the same sources) */
	uint32_t prov_reply_failures, prov_reply_udp_failures;
	struct safem_trw_bloom bloom;
};

/* what a pending entry is an observation of (pending.walks) */
#define WALK_ARRIVAL 1u /* a first arrival from a new source */
#define WALK_REPLY 2u   /* a (source, window) with ICMP replies or new UDP ports */

/* pending.prov: the observation in its own window (provisional_window) */
#define PROV_OLD 1u	     /* its flow's first packet is T (lib/trw) before the pane's end */
#define PROV_FAILED 2u	     /* a provisional failure of the first walk */
#define PROV_REPLY_FAILED 4u /* of the second */

struct pending {
	uint64_t own_hash, pair_rev_hash, src_hash;
	const struct safem_profile_flow *flow; /* while collected (stage 1 to 2) */
	uint32_t slot, gen;
	struct safem_feature_value src;
	uint16_t port;
	uint8_t proto, own_flags, kind, walks, prov;
};

struct src_entry {
	uint64_t src; /* hash | 1: 0 is empty */
	uint64_t dst; /* hash of its first destination, SRC_SPREAD once it reached another */
	/* the destination (low half) and source ports (high half) of its new UDP flows, one
	 * bit a port hash (a lower bound of the distinct ports: two ports may share a bit, one
	 * port never sets two) */
	uint64_t udp_ports;
};

struct safem_victim {
	struct safem_victim_params p;
	struct safem_trw_bounds b; /* the paper's: the reply walk */
	/* the arrival walk's, from the link's theta0 (prior), set once a window: the prior
	 * measures first arrivals, what that walk takes, not a source's replies a window */
	struct safem_trw_bounds ba;
	struct safem_trw_prior prior;
	uint32_t ndest; /* power of 2, multiple of WAYS */
	struct dest *dst;
	uint64_t table_size;              /* power of 2 >= 4 pane_flows: keys and pairs */
	uint64_t *seen[SEEN_WINDOWS];     /* [window % 3] */
	bool seen_valid[SEEN_WINDOWS];    /* that window was judged */
	struct src_entry *srcmap;         /* this window's sources, 2 pane_flows */
	uint64_t srcmap_size;
	struct pending *pending[2];       /* [window % 2] */
	/* stage 2's sort, pane_flows each; then replies_once's */
	struct safem_trw_order *order, *order_tmp;
	uint32_t npending[2];
	uint64_t window;
	uint64_t end_ms; /* this window's pane end, 0: no times */
	uint32_t *touched;
	uint32_t ntouched;
	uint32_t *prov_touched; /* destinations with provisional steps this window */
	uint32_t nprov_touched;
	struct safem_victim_finding findings[SAFEM_VICTIM_FINDINGS_MAX];
	unsigned int nfindings;
	struct safem_victim_totals totals;
};

const char *
safem_victim_kind_name(enum safem_victim_kind k)
{
	switch (k) {
	case SAFEM_VICTIM_REFLECTION:
		return "reflection";
	case SAFEM_VICTIM_ICMP_REPLY:
		return "icmp_reply";
	case SAFEM_VICTIM_ATTEMPT:
		return "syn_attempt";
	case SAFEM_VICTIM_UDP_PORTS:
		return "udp_ports";
	case SAFEM_VICTIM_KINDS:
		break;
	}
	return NULL;
}

static uint64_t
addr_hash(const uint8_t a[16], uint64_t seed)
{
	return safem_trw_words_hash(a, 2, seed);
}

/* The arrival walk's steps from the link's theta0 as the decisions up to the last window
 * left it, once a window (lib/seqscan's prior_publish). */
static void
prior_publish(struct safem_victim *v)
{
	v->totals.theta0_permille = safem_trw_prior_publish(
		&v->prior, &v->ba, SAFEM_VICTIM_THETA0, SAFEM_VICTIM_THETA0_CAP,
		SAFEM_VICTIM_THETA1, SAFEM_VICTIM_PD, SAFEM_VICTIM_PF);
}

/* (from, to): any flow from one address to the other */
static uint64_t
pair_hash(const uint8_t from[16], const uint8_t to[16])
{
	return safem_trw_mix64(addr_hash(from, SEED_PAIR) ^ addr_hash(to, SEED_DST));
}

struct safem_victim *
safem_victim_create(const struct safem_victim_params *p)
{
	struct safem_victim *v;
	uint64_t size, ssize;
	uint32_t n = WAYS;
	unsigned int i;
	bool ok;

	if (p == NULL || p->pane_flows == 0) {
		errno = EINVAL;
		return NULL;
	}
	v = calloc(1, sizeof(*v));
	if (v == NULL)
		return NULL;
	v->p = *p;
	if (v->p.destinations == 0)
		v->p.destinations = SAFEM_VICTIM_DESTINATIONS_DEFAULT;
	if (v->p.idle_windows == 0)
		v->p.idle_windows = SAFEM_VICTIM_IDLE_WINDOWS_DEFAULT;
	while (n < v->p.destinations)
		n *= 2;
	v->ndest = n;
	/* two entries a flow (its key, its address pair), at most half full */
	size = safem_trw_seen_size(2ull * p->pane_flows);
	ssize = safem_trw_seen_size(p->pane_flows);
	v->table_size = size;
	v->srcmap_size = ssize;
	/* TRW (Jung et al., eq. 2-4), as lib/seqscan */
	safem_trw_bounds_init(&v->b, SAFEM_VICTIM_THETA0, SAFEM_VICTIM_THETA1, SAFEM_VICTIM_PD,
			      SAFEM_VICTIM_PF);
	v->ba = v->b;
	/* as lib/seqscan: ba is the paper's steps, the publish only reports theta0 */
	v->prior.theta0 = SAFEM_VICTIM_THETA0;
	prior_publish(v);
	v->dst = calloc(n, sizeof(*v->dst));
	v->touched = calloc(p->pane_flows, sizeof(*v->touched));
	v->prov_touched = calloc(p->pane_flows, sizeof(*v->prov_touched));
	v->srcmap = calloc(ssize, sizeof(*v->srcmap));
	v->order = calloc(p->pane_flows, sizeof(*v->order));
	v->order_tmp = calloc(p->pane_flows, sizeof(*v->order_tmp));
	ok = v->dst != NULL && v->touched != NULL && v->prov_touched != NULL && v->srcmap != NULL &&
	     v->order != NULL && v->order_tmp != NULL;
	for (i = 0; i < SEEN_WINDOWS; i++) {
		v->seen[i] = calloc(size, sizeof(*v->seen[i]));
		ok = ok && v->seen[i] != NULL;
	}
	for (i = 0; i < 2; i++) {
		v->pending[i] = calloc(p->pane_flows, sizeof(*v->pending[i]));
		ok = ok && v->pending[i] != NULL;
	}
	if (!ok) {
		safem_victim_free(v);
		errno = ENOMEM;
		return NULL;
	}
	return v;
}

void
safem_victim_free(struct safem_victim *v)
{
	unsigned int i;

	if (v == NULL)
		return;
	free(v->dst);
	free(v->touched);
	free(v->prov_touched);
	free(v->srcmap);
	free(v->order);
	free(v->order_tmp);
	for (i = 0; i < SEEN_WINDOWS; i++)
		free(v->seen[i]);
	for (i = 0; i < 2; i++)
		free(v->pending[i]);
	free(v);
}

/* ---------------------------------------------------------------------- */
/* Per-window tables                                                        */

/* Note that src sent to dst this window (and the port bits of its new UDP flows); a second
 * destination marks it spread. */
static void
srcmap_add(struct safem_victim *v, uint64_t src, uint64_t dst, uint64_t udp_ports)
{
	uint64_t mask = v->srcmap_size - 1, i;

	src |= 1;
	dst &= ~SRC_SPREAD;
	for (i = src & mask;; i = (i + 1) & mask) {
		struct src_entry *e = &v->srcmap[i];

		if (e->src == 0) {
			e->src = src;
			e->dst = dst;
			e->udp_ports = udp_ports;
			return;
		}
		if (e->src == src) {
			if ((e->dst & ~SRC_SPREAD) != dst)
				e->dst |= SRC_SPREAD;
			e->udp_ports |= udp_ports;
			return;
		}
	}
}

/* src's entry of this window (NULL: none) */
static const struct src_entry *
srcmap_get(const struct safem_victim *v, uint64_t src)
{
	uint64_t mask = v->srcmap_size - 1, i;

	src |= 1;
	for (i = src & mask; v->srcmap[i].src != 0; i = (i + 1) & mask)
		if (v->srcmap[i].src == src)
			return &v->srcmap[i];
	return NULL;
}

/* The bits of a new UDP flow's ports in its source's udp_ports (0: not UDP, a non-first
 * fragment (ports 0: the rest of a datagram whose first fragment has the ports; a
 * fragmented reflection's answers would add port 0 on both sides), or not new: its key was
 * in the window before, or that window was not judged). */
static uint64_t
udp_new_port_bits(const struct safem_victim *v, const struct safem_flow_key *k, uint64_t own)
{
	unsigned int before = (unsigned int)((v->window + 2) % SEEN_WINDOWS);

	if (k->proto != PROTO_UDP || (k->src_port == 0 && k->dst_port == 0) ||
	    !v->seen_valid[before] ||
	    safem_trw_seen_get(v->seen[before], v->table_size - 1, own) != 0)
		return 0;
	return 1ull << (safem_trw_mix64(k->dst_port) >> 59) |
	       1ull << (UDP_PORT_BITS + (safem_trw_mix64(k->src_port) >> 59));
}

/* a source's new UDP flows reached several destination ports from several source ports */
static bool
udp_new_ports(const struct src_entry *e)
{
	uint64_t low = (1ull << UDP_PORT_BITS) - 1;

	return e != NULL && __builtin_popcountll(e->udp_ports & low) >= UDP_NEW_PORTS_MIN &&
	       __builtin_popcountll(e->udp_ports >> UDP_PORT_BITS) >= UDP_NEW_PORTS_MIN;
}

/* ---------------------------------------------------------------------- */
/* Destinations                                                             */

static bool
dest_idle(const struct safem_victim *v, const struct dest *e)
{
	return !e->used || e->last_window + v->p.idle_windows < v->window;
}

/* The first slot of addr's set. */
static uint32_t
dest_set(const struct safem_victim *v, const struct safem_feature_value *addr)
{
	return (uint32_t)(safem_trw_words_hash(addr, 2, 0x51ed270b27e1b1c5ull) &
			  (v->ndest / WAYS - 1)) * WAYS;
}

/* The slot of addr, taking one (an idle one, else the least recently active) when new. */
static uint32_t
dest_get(struct safem_victim *v, const struct safem_feature_value *addr)
{
	uint32_t set = dest_set(v, addr);
	uint32_t i, slot = set;
	bool found = false;

	for (i = set; i < set + WAYS && !found; i++)
		if (v->dst[i].used && memcmp(&v->dst[i].addr, addr, sizeof(*addr)) == 0) {
			if (!dest_idle(v, &v->dst[i]))
				return i;
			/* back after idle_windows: its old walk says nothing of now */
			slot = i;
			found = true;
		}
	for (i = set; i < set + WAYS && !found; i++) {
		if (dest_idle(v, &v->dst[i])) {
			slot = i;
			break;
		}
		if (v->dst[i].last_window < v->dst[slot].last_window)
			slot = i;
	}
	if (!dest_idle(v, &v->dst[slot]))
		v->totals.destinations_evicted++;
	{
		struct dest *e = &v->dst[slot];
		uint32_t gen = e->gen + 1;

		memset(e, 0, sizeof(*e));
		e->gen = gen;
		e->used = true;
		e->addr = *addr;
	}
	return slot;
}

/* ---------------------------------------------------------------------- */
/* Arrivals and outcomes                                                    */

/* The kind of arrival f is, or SAFEM_VICTIM_KINDS when none (docs/detection.md,
 * "Destination-side sequential test (victims)": Definitions). */
static unsigned int
arrival_kind(const struct safem_flow_key *k, uint8_t flags)
{
	unsigned int type;

	if (!safem_seqscan_unicast(k->src_addr, k->ip_version) ||
	    !safem_seqscan_unicast(k->dst_addr, k->ip_version))
		return SAFEM_VICTIM_KINDS;
	switch (k->proto) {
	case PROTO_TCP:
		/* a SYN without ACK: an attempt (ECE, CWR, PSH do not matter) */
		if ((flags & (TCP_SYN | TCP_ACK)) == TCP_SYN)
			return SAFEM_VICTIM_ATTEMPT;
		/* a pure SYN-ACK: a handshake's answer and nothing after it in the window */
		if ((flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK) &&
		    !(flags & TCP_AFTER_HANDSHAKE))
			return SAFEM_VICTIM_REFLECTION;
		return SAFEM_VICTIM_KINDS;
	case PROTO_UDP:
		/* any datagram (a non-first fragment is UDP with ports 0): whether it answers
		 * a request is the outcome; whether it is a reflection is the finding's
		 * structure (the sources share a port) */
		return SAFEM_VICTIM_REFLECTION;
	case PROTO_ICMP:
		/* echo, timestamp, information and address mask replies (RFC 792, 950) */
		type = k->dst_port >> 8;
		return k->ip_version == 4 && (type == 0 || type == 14 || type == 16 || type == 18)
			       ? SAFEM_VICTIM_ICMP_REPLY
			       : SAFEM_VICTIM_KINDS;
	case PROTO_ICMPV6:
		/* echo reply (RFC 4443) */
		return k->ip_version == 6 && (k->dst_port >> 8) == 129 ? SAFEM_VICTIM_ICMP_REPLY
								       : SAFEM_VICTIM_KINDS;
	default:
		return SAFEM_VICTIM_KINDS;
	}
}

enum outcome { OUTCOME_NONE, OUTCOME_SUCCESS, OUTCOME_FAILURE };

/*
 * requested: the destination sent anything to the source in the window before the arrival,
 * its own or the next; own: the arrival's flags over its window and the next.
 * Response: asked for -> success; a SYN-ACK flow that went on with data while nothing went
 * back -> no evidence (the other direction is not on this link); else failure.
 * Attempt: the initiator sent ACK (the handshake completed, or the link sees one direction
 * and the client went on) -> success; else failure (spoofed SYNs never complete).
 */
static enum outcome
arrival_outcome(unsigned int kind, uint8_t proto, uint8_t own, bool requested, bool one_way)
{
	if (kind == SAFEM_VICTIM_ATTEMPT)
		return (own & TCP_ACK) ? OUTCOME_SUCCESS : OUTCOME_FAILURE;
	if (requested)
		return OUTCOME_SUCCESS;
	if (one_way || (proto == PROTO_TCP && (own & TCP_AFTER_HANDSHAKE)))
		return OUTCOME_NONE;
	return OUTCOME_FAILURE;
}

/* True when the sources share their ports: a few ports hold at least
 * 3/4 of the kind's failures, and they are at most half as many as
 * the failures (two failures a port on average: four sources from four ports hold all their
 * failures in four counters, and share nothing); *port: the heaviest one. */
static bool
port_held(const struct safem_trw_ports *ports, unsigned int kind, uint16_t *port)
{
	const struct safem_trw_ports *m = &ports[kind];
	unsigned int used;
	uint64_t held = safem_trw_ports_top(m, port, &used);

	return safem_trw_ports_few(m, held) && 2 * used <= m->total;
}

/* A failure of the first walk in e's counts of this window (its kind, last source and
 * protocol name the finding) and in ports: the persisted port summaries (decide) or their
 * copies (provisional_step). One place for both paths, as window_counts_begin. */
static void
window_failure(struct dest *e, const struct pending *c, struct safem_trw_ports *ports)
{
	e->window_failures[c->kind]++;
	e->last_src[c->kind] = c->src;
	e->last_proto[c->kind] = c->proto;
	safem_trw_ports_add(&ports[c->kind], c->port);
}

/* A failure of the second walk in e's counts of this window (decide_reply and
 * provisional_step). */
static void
window_reply_failure(struct dest *e, const struct pending *c)
{
	e->reply_failures++;
	e->reply_udp_failures += c->proto == PROTO_UDP;
	e->reply_src = c->src;
	e->reply_proto = c->proto;
}

/* A reply observation (WALK_REPLY) on the second walk: the same outcome as an arrival of
 * its kind (asked for: success; to a one-way destination: no evidence; else failure). */
static void
decide_reply(struct safem_victim *v, struct dest *e, const struct pending *c, bool success)
{
	enum safem_trw_step step = safem_trw_walk_observe(&v->b, &e->reply_walk, success);

	if (step == SAFEM_TRW_FLAGGED)
		v->totals.reply_destinations_flagged++;
	if (step == SAFEM_TRW_RESET || !e->reply_walk.flagged)
		e->reply_finding_windows = 0;
	if (success) {
		v->totals.reply_successes++;
		e->reply_successes++;
		return;
	}
	v->totals.reply_failures++;
	window_reply_failure(e, c);
}

/* Start destination e's counts of this window (the findings' evidence) at its first step
 * of the window, final (decide) or provisional (provisional_step): one place, so the two
 * paths cannot disagree on which counts a window starts over. True when they started now. */
static bool
window_counts_begin(const struct safem_victim *v, struct dest *e)
{
	if (e->window_id == v->window)
		return false;
	e->window_id = v->window;
	memset(e->window_failures, 0, sizeof(e->window_failures));
	e->window_successes = 0;
	e->reply_failures = e->reply_successes = e->reply_udp_failures = 0;
	e->prior_counted = false;
	return true;
}

/* walk: WALK_ARRIVAL or WALK_REPLY, one of c->walks */
static void
decide(struct safem_victim *v, const struct pending *c, bool requested, uint8_t own,
       unsigned int walk)
{
	struct dest *e = &v->dst[c->slot];
	bool live = e->used && e->gen == c->gen;
	enum outcome o = arrival_outcome(c->kind, c->proto, own, requested, live && e->one_way);

	/* a provisional failure of its own window that the final decision does not confirm
	 * (answered since, or no evidence after all) */
	if (o != OUTCOME_FAILURE &&
	    (c->prov & (walk == WALK_REPLY ? PROV_REPLY_FAILED : PROV_FAILED)))
		v->totals.provisional_reversed++;
	if (o == OUTCOME_NONE) {
		v->totals.undecided++;
		return;
	}
	if (!live) {
		v->totals.arrivals_dropped++;
		return;
	}
	if (window_counts_begin(v, e))
		v->touched[v->ntouched++] = c->slot; /* at most one per pending arrival */
	if (walk == WALK_REPLY) {
		decide_reply(v, e, c, o == OUTCOME_SUCCESS);
		return;
	}
	if (!e->walk.flagged && !e->reply_walk.flagged && !e->prior_counted) {
		/* the link's benign rate: a flagged destination's arrivals are the attack's;
		 * its first decided arrival of the window only */
		e->prior_counted = true;
		safem_trw_prior_add(&v->prior, o == OUTCOME_SUCCESS);
		v->totals.prior_observations++;
	}
	switch (safem_trw_walk_observe(&v->ba, &e->walk, o == OUTCOME_SUCCESS)) {
	case SAFEM_TRW_RESET:
		/* benign: its port summaries start over with the walk */
		memset(e->ports, 0, sizeof(e->ports));
		break;
	case SAFEM_TRW_FLAGGED:
		v->totals.destinations_flagged++;
		break;
	case SAFEM_TRW_ON:
		break;
	}
	if (!e->walk.flagged)
		e->finding_windows = 0;
	if (o == OUTCOME_SUCCESS) {
		v->totals.successes++;
		e->window_successes++;
		return;
	}
	v->totals.failures++;
	window_failure(e, c, e->ports);
}

/* The slots decide_pending will read for arrival a. */
static void
decide_prefetch(const struct safem_victim *v, const struct pending *a, const uint64_t *before,
		const uint64_t *prev, const uint64_t *now)
{
	uint64_t mask = v->table_size - 1;

	__builtin_prefetch(&before[a->pair_rev_hash & mask]);
	__builtin_prefetch(&prev[a->pair_rev_hash & mask]);
	__builtin_prefetch(&now[a->pair_rev_hash & mask]);
	__builtin_prefetch(&now[a->own_hash & mask]);
	__builtin_prefetch(&v->dst[a->slot]);
}

/* Judge the previous window's arrivals with the tables of the window before it, its own and
 * this one. */
static void
decide_pending(struct safem_victim *v)
{
	const uint64_t *before = v->seen[(v->window + 1) % SEEN_WINDOWS];
	const uint64_t *prev = v->seen[(v->window + 2) % SEEN_WINDOWS];
	const uint64_t *now = v->seen[v->window % SEEN_WINDOWS];
	bool before_valid = v->seen_valid[(v->window + 1) % SEEN_WINDOWS];
	uint64_t mask = v->table_size - 1;
	const struct pending *c = v->pending[(v->window + 1) % 2];
	uint32_t i, n = v->npending[(v->window + 1) % 2];

	for (i = 0; i < n; i++) {
		if (i + AHEAD < n)
			decide_prefetch(v, &c[i + AHEAD], before, prev, now);
		bool requested = safem_trw_seen_get(before, mask, c[i].pair_rev_hash) != 0 ||
				 safem_trw_seen_get(prev, mask, c[i].pair_rev_hash) != 0 ||
				 safem_trw_seen_get(now, mask, c[i].pair_rev_hash) != 0;
		uint8_t own = c[i].own_flags |
			      (uint8_t)(safem_trw_seen_get(now, mask, c[i].own_hash) &
					SAFEM_TRW_SEEN_FLAGS);

		unsigned int walk;

		for (walk = WALK_ARRIVAL; walk <= WALK_REPLY; walk <<= 1) {
			if (!(c[i].walks & walk))
				continue;
			/* a response whose request may have fallen into a window not judged:
			 * no evidence */
			if (!requested && !before_valid && c[i].kind != SAFEM_VICTIM_ATTEMPT)
				v->totals.undecided++;
			else
				decide(v, &c[i], requested, own, walk);
		}
	}
	v->npending[(v->window + 1) % 2] = 0;
}

/* A TCP flow that carried data (PSH or FIN with ACK) while nothing went back in the window
 * before or this one: the link sees one direction of its destination (a TCP sender needs
 * the ACKs of the other). Marks the destination one-way for as long as it is tracked. */
static void
one_way_check(struct safem_victim *v, const struct safem_profile_flow *f)
{
	const struct safem_flow_key *k = &f->key;
	const uint64_t *before = v->seen[(v->window + 2) % SEEN_WINDOWS];
	const uint64_t *now = v->seen[v->window % SEEN_WINDOWS];
	uint64_t mask = v->table_size - 1, rev;
	struct safem_feature_value dst;
	uint32_t slot;

	if (k->proto != PROTO_TCP || !(f->tcp_flags & TCP_ACK) ||
	    !(f->tcp_flags & (TCP_PSH | TCP_FIN)) ||
	    !safem_seqscan_unicast(k->dst_addr, k->ip_version))
		return;
	rev = pair_hash(k->dst_addr, k->src_addr);
	if (safem_trw_seen_get(now, mask, rev) != 0 ||
	    (v->seen_valid[(v->window + 2) % SEEN_WINDOWS] &&
	     safem_trw_seen_get(before, mask, rev) != 0))
		return;
	safem_trw_addr_value(k->dst_addr, k->ip_version, &dst);
	slot = dest_get(v, &dst);
	v->dst[slot].one_way = true;
	v->dst[slot].last_window = v->window;
	v->totals.one_way_flows++;
}

/* Stage 1: a flow that is an arrival, in pending with its hashes. */
static void
collect_candidate(struct safem_victim *v, const struct safem_profile_flow *f, uint64_t own_hash,
		  uint64_t src_hash)
{
	const struct safem_flow_key *k = &f->key;
	unsigned int kind = arrival_kind(k, f->tcp_flags);
	struct pending *c;

	if (kind == SAFEM_VICTIM_KINDS)
		return;
	c = &v->pending[v->window % 2][v->npending[v->window % 2]++];
	memset(c, 0, sizeof(*c));
	c->own_hash = own_hash;
	c->pair_rev_hash = pair_hash(k->dst_addr, k->src_addr);
	c->src_hash = src_hash;
	c->flow = f;
	c->own_flags = f->tcp_flags;
	c->kind = (uint8_t)kind;
	/* dated by its flow's first packet (the last when the flow began in an earlier pane):
	 * a source that keeps sending with nothing back has waited since its first packet
	 * (docs/detection.md, "Dated by the first packet (session 12)"); only an unanswered
	 * observation reads it */
	if (safem_trw_unanswered_for(safem_profile_flow_first_ms(f, v->end_ms), v->end_ms,
				     SAFEM_VICTIM_ANSWER_WAIT_MS))
		c->prov = PROV_OLD;
}

/* Stage 2: keep c when its source reached this destination only and is new to it (a first
 * arrival), or when it is an ICMP reply (a reply observation, one a source: collect_arrivals);
 * c->walks says which. */
static bool
first_arrival(struct safem_victim *v, struct pending *c)
{
	const struct safem_flow_key *k = &c->flow->key;
	const struct src_entry *se = srcmap_get(v, c->src_hash);
	struct safem_feature_value dst;
	struct dest *e;
	uint32_t slot, pos[SAFEM_TRW_BLOOM_HASHES];
	bool known, reply;

	if (se != NULL && (se->dst & SRC_SPREAD) != 0) {
		v->totals.spread_sources++;
		return false;
	}
	/* the second walk's: ICMP replies, or a source's new UDP flows to several ports */
	reply = c->kind == SAFEM_VICTIM_ICMP_REPLY ||
		(k->proto == PROTO_UDP && udp_new_ports(se));
	safem_trw_addr_value(k->dst_addr, k->ip_version, &dst);
	slot = dest_get(v, &dst);
	e = &v->dst[slot];
	e->last_window = v->window;
	safem_trw_bloom_positions(c->src_hash, pos);
	known = safem_trw_bloom_has(&e->bloom, pos);
	/* a known source's replies are still an observation of the second walk: one a
	 * (source, window), whether the source is new or not */
	c->walks = (known ? 0u : WALK_ARRIVAL) | (reply ? WALK_REPLY : 0u);
	if (c->walks == 0)
		return false;
	if (!known)
		safem_trw_bloom_add(&e->bloom, pos);
	safem_trw_addr_value(k->src_addr, k->ip_version, &c->src);
	/* reflection: the reflectors' (service) port; attempt: the attacked service */
	c->port = c->kind == SAFEM_VICTIM_REFLECTION ? k->src_port
		  : c->kind == SAFEM_VICTIM_ATTEMPT  ? k->dst_port
						     : 0;
	c->proto = k->proto;
	c->flow = NULL; /* the log is gone by the decision */
	c->slot = slot;
	c->gen = e->gen;
	return true;
}

/* The slots first_arrival will read for arrival a: its source's in the source map, its
 * destination's set. */
static void
arrival_prefetch(const struct safem_victim *v, const struct pending *a)
{
	const struct safem_flow_key *k = &a->flow->key;
	struct safem_feature_value dst;
	uint32_t set, i;

	__builtin_prefetch(&v->srcmap[(a->src_hash | 1) & (v->srcmap_size - 1)]);
	safem_trw_addr_value(k->dst_addr, k->ip_version, &dst);
	set = dest_set(v, &dst);
	for (i = set; i < set + WAYS; i++)
		__builtin_prefetch(&v->dst[i]);
}

/* lib/trw's stage 2 callbacks */
static void
arrival_fetch(void *ctx, const void *c)
{
	arrival_prefetch(ctx, c);
}

static bool
arrival_keep(void *ctx, void *c)
{
	return first_arrival(ctx, c);
}

/* One reply observation a (source, window): a source kept reached one destination only, so
 * its source says which pair; the first of its flows in candidate order stays (lib/trw's
 * stable sort by source hash, then position; stage 2 is done with order and order_tmp). */
static void
replies_once(struct safem_victim *v, struct pending *c, uint32_t n)
{
	struct safem_trw_order *r = v->order;
	uint32_t i, nk = 0;

	for (i = 0; i < n; i++)
		if (c[i].walks & WALK_REPLY)
			r[nk++] = (struct safem_trw_order){c[i].src_hash, i, 0};
	safem_trw_order_sort(r, v->order_tmp, nk);
	for (i = 1; i < nk; i++)
		if (r[i].hash == r[i - 1].hash)
			c[r[i].idx].walks &= ~WALK_REPLY;
}

/* Stage 2 in key hash order (lib/trw's order: by key hash, then flags; the log's order
 * depends on the number of workers). The arrivals kept go to the other pending array, free
 * since the decisions, which becomes this window's. */
static void
collect_arrivals(struct safem_victim *v)
{
	static const struct safem_trw_stage stage = {
		.size = sizeof(struct pending),
		.hash_off = offsetof(struct pending, own_hash),
		.flags_off = offsetof(struct pending, own_flags),
		.flow_off = offsetof(struct pending, flow),
		.fetch = arrival_fetch,
		.keep = arrival_keep,
	};
	struct pending *c = v->pending[v->window % 2], *out = v->pending[(v->window + 1) % 2];
	uint32_t kept = safem_trw_stage_run(&stage, v, c, v->npending[v->window % 2], out,
					    v->order, v->order_tmp), i, n;

	v->pending[v->window % 2] = out;
	v->pending[(v->window + 1) % 2] = c;
	replies_once(v, out, kept);
	n = kept;
	kept = 0;
	for (i = 0; i < n; i++) {
		if (out[i].walks == 0)
			continue;
		v->totals.arrivals += (out[i].walks & WALK_ARRIVAL) != 0;
		v->totals.replies += (out[i].walks & WALK_REPLY) != 0;
		v->totals.udp_replies +=
			(out[i].walks & WALK_REPLY) != 0 && out[i].proto == PROTO_UDP;
		out[kept++] = out[i];
	}
	v->npending[v->window % 2] = kept;
}

/* ---------------------------------------------------------------------- */
/* Findings                                                                 */

/* The first walk's finding of e this window (new sources that failed) with walk w and port
 * summaries ports (the persisted ones, or the copies with the provisional steps); false:
 * none. */
static bool
arrival_finding(const struct dest *e, const struct safem_trw_walk *w,
		const struct safem_trw_ports *ports, struct safem_victim_finding *f)
{
	unsigned int i, kind = 0;
	uint16_t port;

	if (!w->flagged)
		return false;
	/* the kind most of this window's failures were */
	for (i = 1; i < ARRIVAL_KINDS; i++)
		if (e->window_failures[i] > e->window_failures[kind])
			kind = i;
	if (e->window_failures[kind] == 0)
		return false;
	/* many sources from (or to) a few ports: reflectors of one service, a flood of one
	 * service; spread over ports: peers, each at its own */
	if (!port_held(ports, kind, &port) && kind != SAFEM_VICTIM_ICMP_REPLY)
		return false;
	memset(f, 0, sizeof(*f));
	f->kind = (enum safem_victim_kind)kind;
	f->victim = e->addr;
	f->source = e->last_src[kind];
	f->port = kind == SAFEM_VICTIM_ICMP_REPLY ? 0 : port;
	f->proto = e->last_proto[kind];
	f->failures = e->window_failures[kind];
	f->successes = e->window_successes;
	f->failures_run = w->failures_run;
	f->llr = w->llr;
	f->windows = e->finding_windows + 1;
	return true;
}

/* The second walk's finding: its (source, window) observations flagged it and some failed
 * this window (each a distinct source); its kind what most of them were. */
static bool
reply_finding(const struct dest *e, const struct safem_trw_walk *w, uint32_t failures,
	      uint32_t udp_failures, struct safem_victim_finding *f)
{
	if (!w->flagged || failures == 0)
		return false;
	memset(f, 0, sizeof(*f));
	/* the kind of the failures it reports (the final ones, or the provisional ones) */
	f->kind = 2 * udp_failures > failures ? SAFEM_VICTIM_UDP_PORTS : SAFEM_VICTIM_ICMP_REPLY;
	f->victim = e->addr;
	f->source = e->reply_src;
	f->proto = e->reply_proto;
	f->failures = failures;
	f->successes = e->reply_successes;
	f->failures_run = w->failures_run;
	f->llr = w->llr;
	f->windows = e->reply_finding_windows + 1;
	f->source_windows = true;
	return true;
}

/* Keep f among the window's findings, the most failures first; false: the list is full of
 * findings with more. */
static bool
findings_add(struct safem_victim *v, const struct safem_victim_finding *f)
{
	unsigned int i;

	if (v->nfindings == SAFEM_VICTIM_FINDINGS_MAX &&
	    v->findings[v->nfindings - 1].failures >= f->failures)
		return false;
	if (v->nfindings < SAFEM_VICTIM_FINDINGS_MAX)
		v->nfindings++;
	for (i = v->nfindings - 1; i > 0 && v->findings[i - 1].failures < f->failures; i--)
		v->findings[i] = v->findings[i - 1];
	v->findings[i] = *f;
	v->totals.findings++;
	return true;
}

static void
findings_collect(struct safem_victim *v)
{
	uint32_t t;

	for (t = 0; t < v->ntouched; t++) {
		struct dest *e = &v->dst[v->touched[t]];
		struct safem_victim_finding f;

		/* one finding a destination: the first walk's when both have one (new sources
		 * say more than known ones) */
		if (arrival_finding(e, &e->walk, e->ports, &f))
			e->finding_windows++;
		else if (reply_finding(e, &e->reply_walk, e->reply_failures, e->reply_udp_failures,
				       &f))
			e->reply_finding_windows++;
		else
			continue;
		e->found_window = v->window;
		findings_add(v, &f);
	}
}

/* ---------------------------------------------------------------------- */
/* Decisions in the observation's own window                                */

/* One provisional step of c on its destination's copies (made from the persisted walks,
 * after this window's final decisions, at its first step); the window's counts of the
 * destination take it too (the final finding is collected already). */
static void
provisional_step(struct safem_victim *v, struct pending *c, bool success, unsigned int walk)
{
	struct dest *e = &v->dst[c->slot];

	/* its slot changed hands in this collection (the final decision counts it dropped) */
	if (!e->used || e->gen != c->gen)
		return;
	if (e->prov_window != v->window) {
		e->prov_window = v->window;
		e->prov_walk = e->walk;
		e->prov_reply_walk = e->reply_walk;
		memcpy(e->prov_ports, e->ports, sizeof(e->prov_ports));
		e->prov_reply_failures = e->prov_reply_udp_failures = 0;
		window_counts_begin(v, e);
		v->prov_touched[v->nprov_touched++] = c->slot; /* one per pending at most */
	}
	if (walk == WALK_REPLY) {
		safem_trw_walk_observe(&v->b, &e->prov_reply_walk, success);
		if (success) {
			e->reply_successes++;
			return;
		}
		window_reply_failure(e, c);
		e->prov_reply_failures++;
		e->prov_reply_udp_failures += c->proto == PROTO_UDP; /* the finding's kind */
		c->prov |= PROV_REPLY_FAILED;
		v->totals.provisional_failures++;
		return;
	}
	if (safem_trw_walk_observe(&v->ba, &e->prov_walk, success) == SAFEM_TRW_RESET)
		memset(e->prov_ports, 0, sizeof(e->prov_ports));
	if (success) {
		e->window_successes++;
		return;
	}
	window_failure(e, c, e->prov_ports);
	c->prov |= PROV_FAILED;
	v->totals.provisional_failures++;
}

/*
 * This window's own observations judged at its end (docs/detection.md, "Decisions in the
 * observation's own window (session 11)"), as decide_pending will judge them with the next
 * window, except that an answer not in yet is a failure only when the observation went
 * unanswered for SAFEM_VICTIM_ANSWER_WAIT_MS since its flow's first packet (PROV_OLD; else no
 * step now). The steps go to
 * copies of the walks: a destination whose copy crosses the upper bound, and has no
 * final finding this window, is a finding now. Its persisted walk moves at the end of the
 * next window, with the answers that came by then.
 */
static void
provisional_window(struct safem_victim *v)
{
	const uint64_t *before = v->seen[(v->window + 2) % SEEN_WINDOWS];
	const uint64_t *now = v->seen[v->window % SEEN_WINDOWS];
	bool before_valid = v->seen_valid[(v->window + 2) % SEEN_WINDOWS];
	uint64_t mask = v->table_size - 1;
	struct pending *c = v->pending[v->window % 2];
	uint32_t i, t, n = v->npending[v->window % 2];
	unsigned int walk;

	v->nprov_touched = 0;
	if (v->end_ms == 0)
		return;
	for (i = 0; i < n; i++) {
		/* the window before is empty when it was not judged (cleared, nothing added) */
		bool requested = safem_trw_seen_get(before, mask, c[i].pair_rev_hash) != 0 ||
				 safem_trw_seen_get(now, mask, c[i].pair_rev_hash) != 0;
		const struct dest *e = &v->dst[c[i].slot];
		bool live = e->used && e->gen == c[i].gen;
		enum outcome o;

		if (!requested && !before_valid && c[i].kind != SAFEM_VICTIM_ATTEMPT)
			continue; /* no evidence, as decide_pending */
		o = arrival_outcome(c[i].kind, c[i].proto, c[i].own_flags, requested,
				    live && e->one_way);
		if (o == OUTCOME_NONE)
			continue;
		if (o == OUTCOME_FAILURE && !(c[i].prov & PROV_OLD)) {
			v->totals.provisional_young += (uint64_t)__builtin_popcount(c[i].walks);
			continue;
		}
		for (walk = WALK_ARRIVAL; walk <= WALK_REPLY; walk <<= 1)
			if (c[i].walks & walk)
				provisional_step(v, &c[i], o == OUTCOME_SUCCESS, walk);
	}
	for (t = 0; t < v->nprov_touched; t++) {
		struct dest *e = &v->dst[v->prov_touched[t]];
		struct safem_victim_finding f;

		if (e->found_window == v->window)
			continue;
		if (!arrival_finding(e, &e->prov_walk, e->prov_ports, &f) &&
		    !reply_finding(e, &e->prov_reply_walk, e->prov_reply_failures,
				   e->prov_reply_udp_failures, &f))
			continue;
		f.provisional = true;
		if (findings_add(v, &f))
			v->totals.provisional_findings++;
	}
}

/* A flow's hashes: its key, its address pair (pair_hash), its source and destination. */
struct flow_hashes {
	uint64_t own, pair, src, dst;
};

/* h of key k, and a fetch of the slots they name */
static void
flow_hashes(const struct safem_victim *v, const struct safem_flow_key *k, const uint64_t *seen,
	    struct flow_hashes *h)
{
	uint64_t mask = v->table_size - 1;

	h->own = safem_trw_words_hash(k, sizeof(*k) / 8, SEED_KEY);
	h->src = addr_hash(k->src_addr, SEED_SRC);
	h->dst = addr_hash(k->dst_addr, SEED_DST);
	h->pair = safem_trw_mix64(addr_hash(k->src_addr, SEED_PAIR) ^ h->dst); /* pair_hash */
	__builtin_prefetch(&seen[h->own & mask]);
	__builtin_prefetch(&seen[h->pair & mask]);
	__builtin_prefetch(&v->srcmap[(h->src | 1) & (v->srcmap_size - 1)]);
	if (k->proto == PROTO_UDP) /* udp_new_port_bits' look into the window before */
		__builtin_prefetch(&v->seen[(v->window + 2) % SEEN_WINDOWS][h->own & mask]);
}

int
safem_victim_window(struct safem_victim *v, const struct safem_profile_flow *const *seg,
		    const uint32_t *n, unsigned int nseg, bool judged, uint64_t end_ms)
{
	uint64_t mask, logged = 0, *seen;
	unsigned int g, cur;
	uint32_t i;

	if (v == NULL || (nseg > 0 && (seg == NULL || n == NULL)))
		return -EINVAL;
	v->window++;
	v->totals.windows++;
	prior_publish(v);
	v->nfindings = 0;
	v->ntouched = 0;
	v->nprov_touched = 0;
	v->end_ms = end_ms;
	for (g = 0; g < nseg; g++) {
		logged += n[g];
		for (i = 0; judged && i < n[g]; i++)
			if (seg[g][i].weight_shift != 0) /* surge-sampled */
				judged = false;
	}
	if (logged > v->p.pane_flows)
		judged = false;
	cur = v->window % SEEN_WINDOWS;
	seen = v->seen[cur];
	mask = v->table_size - 1;
	memset(seen, 0, v->table_size * sizeof(*seen));
	v->seen_valid[cur] = judged;
	v->npending[v->window % 2] = 0;
	if (!judged) {
		const struct pending *lost = v->pending[(v->window + 1) % 2];

		v->totals.windows_skipped++;
		/* one observation per walk an entry is on, as decide_pending counts them */
		for (i = 0; i < v->npending[(v->window + 1) % 2]; i++)
			v->totals.undecided += (uint64_t)__builtin_popcount(lost[i].walks);
		v->npending[(v->window + 1) % 2] = 0;
		return 0;
	}
	memset(v->srcmap, 0, v->srcmap_size * sizeof(*v->srcmap));
	/* in batches of AHEAD: a batch's hashes first (their slots fetched), then its adds */
	for (g = 0; g < nseg; g++)
		for (i = 0; i < n[g]; i += AHEAD) {
			struct flow_hashes h[AHEAD];
			uint32_t j, m = n[g] - i < AHEAD ? n[g] - i : AHEAD;

			for (j = 0; j < m; j++)
				flow_hashes(v, &seg[g][i + j].key, seen, &h[j]);
			for (j = 0; j < m; j++) {
				safem_trw_seen_add(seen, mask, h[j].own, seg[g][i + j].tcp_flags);
				safem_trw_seen_add(seen, mask, h[j].pair, 0);
				srcmap_add(v, h[j].src, h[j].dst,
					   udp_new_port_bits(v, &seg[g][i + j].key, h[j].own));
				collect_candidate(v, &seg[g][i + j], h[j].own, h[j].src);
			}
		}
	/* with this window's table complete, before the decisions it informs */
	for (g = 0; g < nseg; g++)
		for (i = 0; i < n[g]; i++)
			one_way_check(v, &seg[g][i]);
	if (v->seen_valid[(v->window + 2) % SEEN_WINDOWS])
		decide_pending(v);
	else
		v->npending[(v->window + 1) % 2] = 0;
	/* before the new arrivals: they may take the slot of a destination flagged now */
	findings_collect(v);
	collect_arrivals(v);
	/* after the final findings: a destination has one a window, the final one first */
	provisional_window(v);
	return 0;
}

unsigned int
safem_victim_findings(const struct safem_victim *v, const struct safem_victim_finding **out)
{
	*out = v->findings;
	return v->nfindings;
}

void
safem_victim_totals(const struct safem_victim *v, struct safem_victim_totals *t)
{
	*t = v->totals;
}
