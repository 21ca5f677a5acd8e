/* SPDX-License-Identifier: BSD-3-Clause */
/* Threshold Random Walk over the windows' flow logs (safem_seqscan.h; docs/detection.md,
 * "Sequential scan test (TRW)"). */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "safem_seqscan.h"
#include "safem_trw.h"

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10
/* what every segment of a connection carries but a probe does not (stealth_probe) */
#define TCP_CONNECTION_FLAGS (TCP_SYN | TCP_ACK | TCP_RST)

#define PROTO_ICMP 1
#define PROTO_TCP 6
#define PROTO_UDP 17
#define PROTO_ICMPV6 58
/* echo request / reply as the flow key's dst_port (type << 8 | code) */
#define ICMP_ECHO_REQUEST (8u << 8)
#define ICMP_ECHO_REPLY 0u
#define ICMPV6_ECHO_REQUEST (128u << 8)
#define ICMPV6_ECHO_REPLY (129u << 8)
/* what a UDP probe draws back from the network instead of an answer: its target's refusal
 * (port unreachable: v4 type 3 code 3, v6 type 1 code 4) and a router's time exceeded in
 * transit (v4 type 11 code 0, v6 type 3 code 0), as the flow key's dst_port */
#define ICMP_PORT_UNREACHABLE (3u << 8 | 3u)
#define ICMPV6_PORT_UNREACHABLE (1u << 8 | 4u)
#define ICMP_TIME_EXCEEDED (11u << 8)
#define ICMPV6_TIME_EXCEEDED (3u << 8)

/* A horizontal scan's few ports: the Misra-Gries counters (lib/trw) of them hold at least
 * 3/4 of its failures (as the detector's transit scan rule, classify.c TRANSIT_SCAN_PORTS: a
 * sweep holds 1.0, bg_ndpi's Gnutella host reaching peers on their own ports 0.5-0.65). */

/* IANA system ports: where services listen */
#define SERVICE_PORTS 1024

/* A bare probe's bytes a packet: the smallest IP header (IPv4 20, IPv6 40) and the largest
 * TCP header, 60 bytes with options (RFC 9293: data offset <= 15 words). More is payload
 * (or IP options, which scanners do not send). The flow log keeps bytes, not header
 * lengths, so this is a bound on the average: a segment without options may carry up to 40
 * bytes of data and pass. */
#define IPV4_MIN_HEADER_BYTES 20
#define IPV6_HEADER_BYTES 40
#define TCP_MAX_HEADER_BYTES 60

/* A UDP probe is one datagram, sent again once at most when unanswered (nmap's UDP scan,
 * Witty, Slammer); a sender that keeps sending to the same (address, port) is in a
 * conversation (a QUIC or VPN session, a media stream), and when its answers are not on
 * this link they take another path: no evidence either way. */
#define UDP_PROBE_DATAGRAMS 2
/* An empty datagram: the smallest IP header and the UDP header, nothing after them (nmap's
 * -sU to most ports, hping3's and nping's UDP by default; the empty keepalives of RTP, RFC
 * 6263 4.1, go to a peer already talked to: no first contact) */
#define UDP_HEADER_BYTES 8

#define WAYS 4
#define AHEAD SAFEM_TRW_AHEAD /* slots fetched ahead (lib/trw) */
/* Bloom filters per source (lib/trw's: 1024 bits, 3 probes, cleared after 128 insertions);
 * the two of a source are inserted together, so they are cleared together. The answer
 * tables are lib/trw's seen tables. */

/* observation kinds of a first contact */
#define KIND_HORIZONTAL 1 /* first contact to this destination address */
#define KIND_VERTICAL 2   /* a new port of an address contacted before */
#define KIND_PAIR 4       /* a new (address, protocol, port): an observation of its port walk */

/* per (source, destination port) walks: this many per source slot on average, 4-way sets */
#define PORT_WALKS_PER_SOURCE 2

/* A source's latest decided first contact to a new address, kept for the vertical walk
 * (host_step): outcome is an enum outcome (OUTCOME_NONE: nothing to give), | HOST_ONE_PORT
 * once the first new port of dst has been seen. */
struct host_first {
	struct safem_feature_value dst;
	uint8_t outcome;
};

struct source {
	struct safem_feature_value addr;
	bool used;
	uint8_t ip_version;
	uint32_t gen;         /* bumped when the slot changes hands: pending contacts check it */
	uint64_t last_window; /* last window it made a contact in */
	struct safem_trw_walk walk[2]; /* [0] horizontal, [1] vertical */
	/* Misra-Gries summary of the destination ports of the horizontal walk's failures */
	struct safem_trw_ports ports;
	/* this window's decisions */
	uint64_t window_id;
	uint32_t window_failures[2], window_successes;
	unsigned int finding_windows;
	/* the last window it had a finding in: one finding an entry a window, so a source has
	 * two at most (one of its TCP / ICMP walks' entry, one of its UDP walks' entry: two
	 * records, the UDP one with proto 17; docs/detection.md, "UDP walks of one source") */
	uint64_t found_window;
	bool home;		 /* inside the home prefixes (given ones only) */
	/* its horizontal outcome of this window went to the link's prior: one a source and
	 * window, so one busy client (a crawler, a host reaching many live servers) does not
	 * set the link's rate (the session 14 review) */
	bool prior_counted;
	/* UDP entries: its empty datagrams to new addresses or ports in last_window, failures
	 * to come unless answered (udp_evidence) */
	uint16_t udp_empty;
	uint64_t best_pw_window; /* best_pw: its flagged port walk with most failures then */
	uint32_t best_pw;
	uint8_t last_proto[2];			 /* [walk] of its last failed contact */
	struct safem_feature_value last_dst[2]; /* [walk] */
	struct safem_trw_bloom bloom_dst, bloom_pair;
	/*
	 * The outcome of its latest decided first contact to a new address (a step of the
	 * horizontal walk), until its second new port of that address: then the vertical walk
	 * takes it too. A connect scan of one host begins with a first contact to the host;
	 * without it the vertical walk saw one probe fewer than the scan sent (docs/detection.md,
	 * "Low-share attacks on real backgrounds and first windows (session 13)"). Not at the
	 * first new port: a client that tries one fallback port of a dead host would count each
	 * such host twice, and two of them would reach the walk's bound (the session 13 review).
	 */
	struct host_first host;
	struct host_first prov_host; /* the same on the scratch copies (prov_window) */
	/* this window's provisional decisions, on copies of the walks and the port summary
	 * (valid while prov_window is this window; the persisted state never reads them) */
	uint64_t prov_window;
	struct safem_trw_walk prov_walk[2];
	struct safem_trw_ports prov_ports;
	uint32_t prov_failures[2], prov_successes;
	uint8_t prov_proto[2];
	struct safem_feature_value prov_dst[2];
	uint64_t prov_best_window; /* prov_best: its flagged scratch port walk with most failures */
	uint32_t prov_best;
};

/* The walk of one source over its first contacts to one (protocol, destination port): a
 * scanner that also works as a client (its successes to web servers balance its failures to
 * 23 in the source's own walk) fails alone on the scanned port. */
struct port_walk {
	uint32_t slot, gen; /* the source's slot and its gen: a new owner of the slot starts over */
	uint16_t port;
	uint8_t proto;
	bool used;
	uint64_t last_window; /* last observation */
	struct safem_trw_walk walk;
	uint64_t window_id;   /* this window's decisions */
	uint32_t window_failures;
	unsigned int finding_windows; /* windows with a finding since it was flagged */
	struct safem_feature_value last_dst;
};

/*
 * The evidence of one (protocol, destination port) over the first contacts of home sources
 * within the worm horizon: a worm at a low rate (Blaster at 5 % of a real background: one
 * probe a window over three hosts) needs 12 windows to flag one host's walk, but its hosts
 * together fail on one port about once a window. Per window of the horizon (a ring indexed
 * by window % SAFEM_SEQSCAN_WORM_HORIZON_WINDOWS) its failures and successes, the distinct
 * home sources that failed (their last window), and a Bloom filter of the destinations
 * counted, so that many clients of one dead server count it once (a worm spreads to many
 * hosts; clients converge on few).
 */
#define HOME_PORT_SOURCES 4
struct home_port {
	uint16_t port;
	uint8_t proto;
	bool by_src; /* port is the contacts' source port (UDP): Witty's hosts share one */
	bool used;
	uint64_t last_window; /* last observation */
	uint64_t last_failure; /* by_src: window of its last failure (0: none) */
	uint64_t ring_window[SAFEM_SEQSCAN_WORM_HORIZON_WINDOWS];
	uint32_t ring_failures[SAFEM_SEQSCAN_WORM_HORIZON_WINDOWS];
	uint32_t ring_successes[SAFEM_SEQSCAN_WORM_HORIZON_WINDOWS];
	struct safem_feature_value src[HOME_PORT_SOURCES]; /* failed, distinct */
	uint64_t src_window[HOME_PORT_SOURCES];		   /* 0: empty */
	struct safem_feature_value last_src, last_dst;	   /* of its last failure */
	unsigned int finding_windows; /* consecutive windows with a finding */
	uint64_t found_window;
	struct safem_trw_bloom bloom;
};

/* A provisional copy of a port walk (a scratch table of the same geometry, valid while
 * window is this window): the persisted walk's state, or a new walk's, plus this window's
 * provisional steps. */
struct prov_port_walk {
	uint64_t window;
	uint32_t slot, gen;
	uint16_t port;
	uint8_t proto;
	struct safem_trw_walk walk;
	uint32_t failures;
	struct safem_feature_value last_dst;
};

/* This window's provisional evidence of a home port (scratch, valid while window is this
 * window): added to the persisted ring's and sources when judged, never stored in them. */
struct prov_home_port {
	uint64_t window;
	uint16_t port;
	uint8_t proto;
	bool by_src;
	uint32_t failures, successes;
	unsigned int nsrc;
	struct safem_feature_value src[HOME_PORT_SOURCES]; /* failed, distinct */
	struct safem_feature_value last_src, last_dst;
	struct safem_trw_bloom bloom; /* destinations counted in this window */
};
/* home ports tracked (4-way sets): destination ports (TCP), then source ports (UDP) in a
 * table of their own, so that home clients' datagrams from random ephemeral ports (DNS,
 * QUIC) do not push TCP's ports out */
#define HOME_PORTS 256
#define HOME_SRC_PORTS 1024

struct pending {
	uint64_t rev_hash, own_hash;
	const struct safem_profile_flow *flow; /* while collected (stage 1 to 2) */
	uint32_t slot, gen;
	struct safem_feature_value dst;
	/* UDP: the source (the home port evidence's; slot and gen are its UDP walks' entry) */
	struct safem_feature_value src;
	uint16_t dst_port, src_port;
	uint8_t proto, own_flags, kind;
	bool stream : 1; /* UDP: more than UDP_PROBE_DATAGRAMS datagrams in its window */
	/* UDP: evidence of the home source port (a home source's datagram, session 10) */
	bool home_udp : 1;
	/* UDP: a first contact of the source's UDP walks (kind says which), slot in s->usrc */
	bool udp_walk : 1;
	bool empty : 1; /* UDP: no payload in any of its datagrams (UDP_HEADER_BYTES) */
	/* unanswered for SAFEM_SEQSCAN_ANSWER_WAIT_MS since its flow's first packet at the
	 * pane's end if no answer came: decided once at collection, as lib/victim's PROV_OLD
	 * (false without the pane's end); a bit, not the time, so an entry is 72 bytes */
	bool old : 1;
};
static_assert(sizeof(struct pending) == 72, "pending contact: 72 bytes");
/* the learnt theta0's range: at least the paper's 0.8 (SAFEM_SEQSCAN_THETA0), under 1
 * (a failure step is finite) */
static_assert(SAFEM_SEQSCAN_THETA0_CAP_PERMILLE >= 800 &&
		      SAFEM_SEQSCAN_THETA0_CAP_PERMILLE < 1000,
	      "theta0 cap");

/* a flagged horizontal scanner and the port its failed contacts went to */
struct flagged_port {
	struct safem_feature_value src;
	uint64_t window;
	uint16_t port;
	bool home;
	bool udp; /* a UDP walk's: UDP ports and TCP's (or ICMP's) are not one service */
};
#define FLAGGED_RING 64

struct safem_seqscan {
	struct safem_seqscan_params p;
	struct safem_trw_bounds b; /* the paper's: vertical, port and home port walks */
	/* the horizontal walk's, from the link's theta0 (prior), set once a window: the prior
	 * measures first contacts to new addresses, what that walk takes, not new ports of a
	 * host or one port's contacts */
	struct safem_trw_bounds bh;
	struct safem_trw_prior prior;
	uint32_t nsources; /* power of 2, multiple of WAYS */
	struct source *src;
	/* the UDP walks, a table of their own (nsources, the same geometry): a source's UDP
	 * first contacts never step its TCP / ICMP walks, filters or slot (docs/detection.md,
	 * "UDP walks of one source (session 16)") */
	struct source *usrc;
	uint32_t *utouched; /* UDP entries with a decision this window */
	uint32_t nutouched;
	uint32_t *uprov_touched; /* UDP entries with a provisional step */
	uint32_t nuprov_touched;
	uint64_t table_size; /* power of 2 >= 2 pane_flows */
	uint64_t *answers[2]; /* [cur] this window, [!cur] the previous one */
	struct pending *pending[2];
	uint32_t npending[2];
	struct safem_trw_order *order, *order_tmp; /* stage 2's sort, pane_flows each */
	unsigned int cur;
	bool prev_judged;
	uint64_t window;
	uint32_t *touched; /* sources with a decision this window */
	uint32_t ntouched;
	uint32_t nport_walks; /* power of 2, multiple of WAYS */
	struct port_walk *pw;
	uint32_t *pw_touched; /* port walks with a failure this window */
	uint32_t npw_touched;
	struct home_port *hp; /* HOME_PORTS; NULL without home prefixes */
	uint32_t *hp_touched; /* home ports with a failure this window (pane_flows) */
	uint32_t nhp_touched;
	struct flagged_port ring[FLAGGED_RING];
	unsigned int ring_next;
	/* the UDP walks' flagged horizontal scanners, a ring of their own: up to
	 * SAFEM_SEQSCAN_FINDINGS_MAX UDP findings a window (and more notes) would otherwise push
	 * the TCP worm evidence of the last SAFEM_SEQSCAN_WORM_HORIZON_WINDOWS out of one ring */
	struct flagged_port uring[FLAGGED_RING];
	unsigned int uring_next;
	struct safem_seqscan_finding findings[SAFEM_SEQSCAN_FINDINGS_MAX];
	unsigned int nfindings;
	/* provisional decisions of this window's contacts (provisional_window) */
	uint64_t end_ms; /* this window's pane end, 0: no times */
	uint32_t *prov_touched; /* sources with a provisional step (pane_flows) */
	uint32_t nprov_touched;
	struct prov_port_walk *ppw; /* nport_walks */
	uint32_t *ppw_touched;	    /* scratch port walks with a provisional failure */
	uint32_t nppw_touched;
	struct prov_home_port *php; /* HOME_PORTS + HOME_SRC_PORTS; NULL without home */
	uint32_t *php_touched;	    /* scratch home ports with a provisional failure */
	uint32_t nphp_touched;
	struct safem_seqscan_totals totals;
};

const char *
safem_seqscan_shape_name(enum safem_seqscan_shape s)
{
	switch (s) {
	case SAFEM_SEQSCAN_HORIZONTAL:
		return "horizontal_scan";
	case SAFEM_SEQSCAN_VERTICAL:
		return "vertical_scan";
	case SAFEM_SEQSCAN_WORM:
		return "worm";
	}
	return NULL;
}

static uint64_t
key_hash(const struct safem_flow_key *k)
{
	return safem_trw_words_hash(k, sizeof(*k) / 8, 0x9e3779b97f4a7c15ull);
}

/*
 * The answer table's entry of a UDP probe's refusal and of a time exceeded, under keys of
 * their own: the refusal by (target, prober) and the time exceeded by the prober alone (any
 * router sends it), so a UDP contact finds both from its own addresses. An ICMP error is no
 * contact, no answer to one and never sent on (no candidate's own or reverse key is an ICMP
 * error's), so its flow key's entry is never read: it is replaced, and the table holds one
 * entry a flow as before.
 */
static uint64_t
refusal_hash(const struct safem_feature_value *target, const struct safem_feature_value *prober)
{
	struct safem_feature_value pair[2] = {*target, *prober};

	return safem_trw_words_hash(pair, sizeof(pair) / 8, 0x7a3d1c5e9b0f2468ull);
}

static uint64_t
time_exceeded_hash(const struct safem_feature_value *prober)
{
	return safem_trw_words_hash(prober, sizeof(*prober) / 8, 0x1f83d9abfb41bd6bull);
}

/* A flow's entry in the answer table: its key's, or an ICMP error's own (above). */
static uint64_t
answer_hash(const struct safem_flow_key *k)
{
	struct safem_feature_value a, b;
	bool v4 = k->ip_version == 4;

	if (!(v4 ? k->proto == PROTO_ICMP : k->proto == PROTO_ICMPV6))
		return key_hash(k);
	if (k->dst_port == (v4 ? ICMP_PORT_UNREACHABLE : ICMPV6_PORT_UNREACHABLE)) {
		safem_trw_addr_value(k->src_addr, k->ip_version, &a);
		safem_trw_addr_value(k->dst_addr, k->ip_version, &b);
		return refusal_hash(&a, &b);
	}
	if (k->dst_port == (v4 ? ICMP_TIME_EXCEEDED : ICMPV6_TIME_EXCEEDED)) {
		safem_trw_addr_value(k->dst_addr, k->ip_version, &b);
		return time_exceeded_hash(&b);
	}
	return key_hash(k);
}

/* The key an answer to k carries: addresses and ports swapped (ICMP: the echo reply). */
static void
reverse_key(const struct safem_flow_key *k, struct safem_flow_key *r)
{
	*r = *k;
	memcpy(r->src_addr, k->dst_addr, 16);
	memcpy(r->dst_addr, k->src_addr, 16);
	if (k->proto == PROTO_ICMP || k->proto == PROTO_ICMPV6) {
		r->src_port = 0;
		r->dst_port = k->proto == PROTO_ICMP ? ICMP_ECHO_REPLY : ICMPV6_ECHO_REPLY;
	} else {
		r->src_port = k->dst_port;
		r->dst_port = k->src_port;
	}
}

bool
safem_seqscan_unicast(const uint8_t a[16], uint8_t ip_version)
{
	static const uint8_t zero[16], loop6[16] = {[15] = 1};

	if (ip_version == 4)
		return a[0] != 0 && a[0] != 127 && a[0] < 224 && a[3] != 255;
	return a[0] != 0xff && memcmp(a, zero, 16) != 0 && memcmp(a, loop6, 16) != 0;
}

/* The horizontal walk's steps from the link's theta0 as the decisions up to the last window
 * left it: once a window, so every decision of a window walks with the same steps. A flagged
 * walk is held at log(eta1), which does not depend on theta0. */
static void
prior_publish(struct safem_seqscan *s)
{
	s->totals.theta0_permille = safem_trw_prior_publish(
		&s->prior, &s->bh, SAFEM_SEQSCAN_THETA0, SAFEM_SEQSCAN_THETA0_CAP,
		SAFEM_SEQSCAN_THETA1, SAFEM_SEQSCAN_PD, SAFEM_SEQSCAN_PF);
}

struct safem_seqscan *
safem_seqscan_create(const struct safem_seqscan_params *p)
{
	struct safem_seqscan *s;
	uint64_t size = 16;
	uint32_t n = WAYS;

	if (p == NULL || p->pane_flows == 0) {
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->p = *p;
	if (s->p.sources == 0)
		s->p.sources = SAFEM_SEQSCAN_SOURCES_DEFAULT;
	if (s->p.idle_windows == 0)
		s->p.idle_windows = SAFEM_SEQSCAN_IDLE_WINDOWS_DEFAULT;
	while (n < s->p.sources)
		n *= 2;
	s->nsources = n;
	size = safem_trw_seen_size(p->pane_flows);
	s->table_size = size;
	/* TRW (Jung et al., eq. 2-4): each observation multiplies the likelihood ratio by
	 * theta1/theta0 (success) or (1-theta1)/(1-theta0) (failure); eta1 = P_D/P_F,
	 * eta0 = (1-P_D)/(1-P_F) */
	safem_trw_bounds_init(&s->b, SAFEM_SEQSCAN_THETA0, SAFEM_SEQSCAN_THETA1, SAFEM_SEQSCAN_PD,
			      SAFEM_SEQSCAN_PF);
	s->bh = s->b;
	/* bh is built from the paper's theta0, the prior's value until it has observations:
	 * the publish only reports it (one rounding, in lib/trw) */
	s->prior.theta0 = SAFEM_SEQSCAN_THETA0;
	prior_publish(s);
	s->src = calloc(n, sizeof(*s->src));
	s->touched = calloc(p->pane_flows, sizeof(*s->touched));
	s->usrc = calloc(n, sizeof(*s->usrc));
	s->utouched = calloc(p->pane_flows, sizeof(*s->utouched));
	s->uprov_touched = calloc(p->pane_flows, sizeof(*s->uprov_touched));
	s->nport_walks = n * PORT_WALKS_PER_SOURCE;
	s->pw = calloc(s->nport_walks, sizeof(*s->pw));
	s->pw_touched = calloc(p->pane_flows, sizeof(*s->pw_touched));
	if (p->home != NULL && p->home->count != 0) {
		s->hp = calloc(HOME_PORTS + HOME_SRC_PORTS, sizeof(*s->hp));
		s->hp_touched = calloc(p->pane_flows, sizeof(*s->hp_touched));
		s->php = calloc(HOME_PORTS + HOME_SRC_PORTS, sizeof(*s->php));
		s->php_touched = calloc(p->pane_flows, sizeof(*s->php_touched));
		if (s->hp == NULL || s->hp_touched == NULL || s->php == NULL ||
		    s->php_touched == NULL) {
			safem_seqscan_free(s);
			errno = ENOMEM;
			return NULL;
		}
	}
	for (unsigned int i = 0; i < 2; i++) {
		s->answers[i] = calloc(size, sizeof(*s->answers[i]));
		s->pending[i] = calloc(p->pane_flows, sizeof(*s->pending[i]));
	}
	s->order = calloc(p->pane_flows, sizeof(*s->order));
	s->order_tmp = calloc(p->pane_flows, sizeof(*s->order_tmp));
	s->prov_touched = calloc(p->pane_flows, sizeof(*s->prov_touched));
	s->ppw = calloc(s->nport_walks, sizeof(*s->ppw));
	s->ppw_touched = calloc(p->pane_flows, sizeof(*s->ppw_touched));
	if (s->prov_touched == NULL || s->ppw == NULL || s->ppw_touched == NULL) {
		safem_seqscan_free(s);
		errno = ENOMEM;
		return NULL;
	}
	if (s->src == NULL || s->touched == NULL || s->pw == NULL || s->pw_touched == NULL ||
	    s->usrc == NULL || s->utouched == NULL || s->uprov_touched == NULL ||
	    s->order == NULL || s->order_tmp == NULL || s->answers[0] == NULL ||
	    s->answers[1] == NULL || s->pending[0] == NULL || s->pending[1] == NULL) {
		safem_seqscan_free(s);
		errno = ENOMEM;
		return NULL;
	}
	return s;
}

void
safem_seqscan_free(struct safem_seqscan *s)
{
	if (s == NULL)
		return;
	free(s->src);
	free(s->touched);
	free(s->usrc);
	free(s->utouched);
	free(s->uprov_touched);
	free(s->pw);
	free(s->pw_touched);
	free(s->hp);
	free(s->hp_touched);
	free(s->php);
	free(s->php_touched);
	free(s->prov_touched);
	free(s->ppw);
	free(s->ppw_touched);
	free(s->order);
	free(s->order_tmp);
	for (unsigned int i = 0; i < 2; i++) {
		free(s->answers[i]);
		free(s->pending[i]);
	}
	free(s);
}

/* ---------------------------------------------------------------------- */
/* Sources                                                                  */

static bool
source_idle(const struct safem_seqscan *s, const struct source *e)
{
	return !e->used || e->last_window + s->p.idle_windows < s->window;
}

/* The first slot of addr's set. */
static uint32_t
source_set(const struct safem_seqscan *s, const struct safem_feature_value *addr)
{
	return (uint32_t)(safem_trw_words_hash(addr, 2, 0x51ed270b27e1b1c5ull) &
			  (s->nsources / WAYS - 1)) * WAYS;
}

/* The evidence a UDP entry's walks hold: the higher of their log likelihood ratios, plus a
 * failure step for each empty datagram of this window still to be decided (an active nmap
 * -sU holds evidence from its first window, before any decision). */
static double
udp_evidence(const struct safem_seqscan *s, const struct source *e)
{
	double llr = e->walk[0].llr > e->walk[1].llr ? e->walk[0].llr : e->walk[1].llr;

	if (e->last_window == s->window)
		llr += e->udp_empty * s->b.step_failure;
	return llr;
}

/* Of two active UDP entries, a is the one to evict before b: not flagged before flagged,
 * then the one whose walks hold less evidence, then the less recently active. Every UDP
 * sender (a DNS client's ephemeral port, any one-shot datagram) takes an entry, so a busy
 * link fills every way of a set within a window; by recency alone a scanner's entry went
 * with the one-shot senders, and its walks over and over started from nothing (the session
 * 16 review: a 2-a-window sweep lost its findings under 6k+ one-shot senders a window). */
static bool
udp_evict_before(const struct safem_seqscan *s, const struct source *a, const struct source *b)
{
	bool fa = a->walk[0].flagged || a->walk[1].flagged;
	bool fb = b->walk[0].flagged || b->walk[1].flagged;
	double ea, eb;

	if (fa != fb)
		return fb;
	ea = udp_evidence(s, a);
	eb = udp_evidence(s, b);
	if (ea != eb)
		return ea < eb;
	return a->last_window < b->last_window;
}

/* The slot of addr in table tab (s->src, or the UDP walks' s->usrc), taking one when new: an
 * idle one, else (counted in *evicted) the least recently active (s->src) or the one whose
 * walks hold the least evidence (s->usrc, udp_evict_before). */
static uint32_t
source_get(struct safem_seqscan *s, struct source *tab, const struct safem_feature_value *addr,
	   uint8_t ip_version, uint64_t *evicted)
{
	uint32_t set = source_set(s, addr);
	uint32_t i, victim = set;

	bool found = false;

	for (i = set; i < set + WAYS && !found; i++)
		if (tab[i].used && memcmp(&tab[i].addr, addr, sizeof(*addr)) == 0) {
			if (!source_idle(s, &tab[i]))
				return i;
			/* back after idle_windows without a contact: what its walks said then
			 * says nothing of now (a client flagged once would be flagged for ever,
			 * every later failed connection a finding); it starts over */
			victim = i;
			found = true;
		}
	for (i = set; i < set + WAYS && !found; i++) {
		if (source_idle(s, &tab[i])) {
			victim = i;
			break;
		}
		if (tab == s->usrc ? udp_evict_before(s, &tab[i], &tab[victim])
				   : tab[i].last_window < tab[victim].last_window)
			victim = i;
	}
	if (!source_idle(s, &tab[victim]))
		(*evicted)++;
	{
		struct source *e = &tab[victim];
		uint32_t gen = e->gen + 1;

		memset(e, 0, sizeof(*e));
		e->gen = gen;
		e->used = true;
		e->addr = *addr;
		e->ip_version = ip_version;
		e->home = s->p.home != NULL && s->p.home->count != 0 &&
			  safem_home_contains(s->p.home, addr);
	}
	return victim;
}

static bool
port_walk_idle(const struct safem_seqscan *s, const struct port_walk *w)
{
	const struct source *e = &s->src[w->slot];

	return !w->used || !e->used || e->gen != w->gen ||
	       w->last_window + s->p.idle_windows < s->window;
}

/* The walk of (source slot, protocol, port), taking a slot (an idle one, else the least
 * recently observed) when new. */
/* The first slot of (source slot, protocol, port)'s set (in s->pw, and in s->ppw alike). */
static uint32_t
port_walk_set(const struct safem_seqscan *s, uint32_t slot, uint16_t port, uint8_t proto)
{
	uint64_t key = (uint64_t)slot << 24 | (uint64_t)port << 8 | proto;

	return (uint32_t)(safem_trw_mix64(key ^ 0x3c6ef372fe94f82bull) &
			  (s->nport_walks / WAYS - 1)) * WAYS;
}

/* The live walk of (source slot, protocol, port), or NULL: no slot taken. */
static struct port_walk *
port_walk_find(struct safem_seqscan *s, uint32_t slot, uint16_t port, uint8_t proto)
{
	uint32_t gen = s->src[slot].gen, set = port_walk_set(s, slot, port, proto), i;
	struct port_walk *w;

	for (i = set; i < set + WAYS; i++) {
		w = &s->pw[i];
		if (w->used && w->slot == slot && w->gen == gen && w->port == port &&
		    w->proto == proto && !port_walk_idle(s, w))
			return w;
	}
	return NULL;
}

static struct port_walk *
port_walk_get(struct safem_seqscan *s, uint32_t slot, uint16_t port, uint8_t proto)
{
	uint32_t gen = s->src[slot].gen;
	uint32_t set = port_walk_set(s, slot, port, proto);
	uint32_t i, victim = set;
	struct port_walk *w = port_walk_find(s, slot, port, proto);

	if (w != NULL)
		return w;
	for (i = set; i < set + WAYS; i++) {
		if (port_walk_idle(s, &s->pw[i])) {
			victim = i;
			break;
		}
		if (s->pw[i].last_window < s->pw[victim].last_window)
			victim = i;
	}
	w = &s->pw[victim];
	*w = (struct port_walk){.used = true, .slot = slot, .gen = gen, .port = port, .proto = proto};
	return w;
}

/* The probe positions of a Bloom filter member: a value of words 64-bit words. */
static void
bloom_positions(const void *key, size_t words, uint32_t pos[SAFEM_TRW_BLOOM_HASHES])
{
	safem_trw_bloom_positions(safem_trw_words_hash(key, words, 0x2545f4914f6cdd1dull), pos);
}

/* ---------------------------------------------------------------------- */
/* Home ports: evidence per destination port across home sources           */

/* h gives way before v. by_src: the port that failed longest ago (never: first), so that
 * answered clients' random ports churn among themselves; else the least recently observed */
static bool
home_port_older(const struct home_port *h, const struct home_port *v, bool by_src)
{
	if (by_src && h->last_failure != v->last_failure)
		return h->last_failure < v->last_failure;
	return h->last_window < v->last_window;
}

/* The first slot of a home port's set (in s->hp, and in the scratch s->php alike). */
static uint32_t
home_port_set(uint16_t port, uint8_t proto, bool by_src)
{
	uint64_t key = (uint64_t)by_src << 24 | (uint64_t)port << 8 | proto;
	uint32_t sets = (by_src ? HOME_SRC_PORTS : HOME_PORTS) / WAYS;

	return (by_src ? HOME_PORTS : 0) +
	       (uint32_t)(safem_trw_mix64(key ^ 0x510e527fade682d1ull) & (sets - 1)) * WAYS;
}

/* The home port's entry, or NULL (no slot taken: the provisional decisions read only). */
static struct home_port *
home_port_find(struct safem_seqscan *s, uint16_t port, uint8_t proto, bool by_src)
{
	uint32_t set = home_port_set(port, proto, by_src), i;

	for (i = set; i < set + WAYS; i++)
		if (s->hp[i].used && s->hp[i].port == port && s->hp[i].proto == proto &&
		    s->hp[i].by_src == by_src)
			return &s->hp[i];
	return NULL;
}

static struct home_port *
home_port_get(struct safem_seqscan *s, uint16_t port, uint8_t proto, bool by_src)
{
	uint32_t set = home_port_set(port, proto, by_src);
	uint32_t i, victim = set;
	struct home_port *h;

	for (i = set; i < set + WAYS; i++) {
		h = &s->hp[i];
		if (h->used && h->port == port && h->proto == proto && h->by_src == by_src)
			return h;
		if (!h->used || home_port_older(h, &s->hp[victim], by_src))
			victim = i;
		if (!h->used)
			break;
	}
	h = &s->hp[victim];
	*h = (struct home_port){.used = true, .port = port, .proto = proto, .by_src = by_src};
	return h;
}

/* A home source's first contact to dst on the port (by_src: from the source port): an
 * observation when no home source contacted dst on it before (as far as the filter
 * remembers). */
static void
home_port_observe(struct safem_seqscan *s, const struct safem_feature_value *src,
		  const struct pending *c, bool success, bool by_src)
{
	struct home_port *h =
		home_port_get(s, by_src ? c->src_port : c->dst_port, c->proto, by_src);
	unsigned int r = (unsigned int)(s->window % SAFEM_SEQSCAN_WORM_HORIZON_WINDOWS), i, slot;
	uint32_t pos[SAFEM_TRW_BLOOM_HASHES];

	bloom_positions(&c->dst, sizeof(c->dst) / 8, pos);
	if (safem_trw_bloom_has(&h->bloom, pos))
		return;
	safem_trw_bloom_add(&h->bloom, pos);
	h->last_window = s->window;
	if (h->ring_window[r] != s->window) {
		h->ring_window[r] = s->window;
		h->ring_failures[r] = h->ring_successes[r] = 0;
	}
	if (success) {
		h->ring_successes[r]++;
		return;
	}
	if (h->ring_failures[r]++ == 0)
		s->hp_touched[s->nhp_touched++] = (uint32_t)(h - s->hp); /* once a window */
	h->last_failure = s->window;
	h->last_src = *src;
	h->last_dst = c->dst;
	/* the source's entry, else an empty or the oldest one */
	slot = 0;
	for (i = 0; i < HOME_PORT_SOURCES; i++) {
		if (h->src_window[i] != 0 && memcmp(&h->src[i], src, sizeof(*src)) == 0) {
			slot = i;
			break;
		}
		if (h->src_window[i] < h->src_window[slot])
			slot = i;
	}
	h->src[slot] = *src;
	h->src_window[slot] = s->window;
}

/* ---------------------------------------------------------------------- */
/* Contacts and outcomes                                                    */

/*
 * nmap's stealth probes (-sF FIN, -sX FIN+PSH+URG, -sN no flag; docs/detection.md, "Stealth
 * scans (session 15)"): a TCP flow whose OR of flags has none of SYN, ACK, RST. A connection
 * opens with a SYN, every later segment of it carries ACK (RFC 9293 3.1: once the
 * connection is synchronized ACK is always sent) and a reset carries RST, so such a flow is
 * no packet of any connection, whatever its ports: it asks a stack what it answers to a
 * segment out of any connection (RFC 9293 3.10.7.1-2: a closed port resets, an open one
 * drops it). Only bare headers (a scanner sends no data; a segment with payload and no ACK
 * is something else, malformed or crafted, that the walk has no model for), and the
 * system-port rule of SYNs holds (contact_candidate).
 */
static bool
stealth_probe(uint8_t proto, uint8_t tcp_flags)
{
	return proto == PROTO_TCP && (tcp_flags & TCP_CONNECTION_FLAGS) == 0;
}

static bool
bare_tcp_headers(const struct safem_profile_flow *f)
{
	uint64_t ip = f->key.ip_version == 4 ? IPV4_MIN_HEADER_BYTES : IPV6_HEADER_BYTES;

	return f->bytes <= f->packets * (ip + TCP_MAX_HEADER_BYTES);
}

/* Every datagram of f is headers only: the smallest IP header and UDP's (the flow log keeps
 * bytes, an IP length a packet: an IPv6 extension header or IPv4 options read as payload,
 * which only leaves such a datagram out of the failures) */
static bool
empty_datagrams(const struct safem_profile_flow *f)
{
	uint64_t ip = f->key.ip_version == 4 ? IPV4_MIN_HEADER_BYTES : IPV6_HEADER_BYTES;

	return f->bytes == f->packets * (ip + UDP_HEADER_BYTES);
}

/* A flow that may be a first contact: from and to unicast addresses, and a TCP flow with a
 * SYN or a stealth probe, a UDP flow between ephemeral-side ports, or an ICMP echo request.
 * UDP is judged by the answer of the destination as TCP (docs/detection.md, "UDP first
 * contacts in the scan test (session 10)"); what keeps benign UDP fan-out out is in the
 * outcome (a sender that keeps sending is in a conversation) and in the findings
 * (peer-to-peer clients fail over as many ports as peers), not here. */
static bool
contact_candidate(const struct safem_profile_flow *f)
{
	const struct safem_flow_key *k = &f->key;

	if (!safem_seqscan_unicast(k->src_addr, k->ip_version) ||
	    !safem_seqscan_unicast(k->dst_addr, k->ip_version))
		return false;
	switch (k->proto) {
	case PROTO_TCP:
		/* from a system port: a connection the other side asked for (FTP's active data
		 * connection from port 20), a server's SYN-ACK, or a privileged client (rsh),
		 * never a probe: scanners and clients open connections from ephemeral ports
		 * (the same for a stealth probe: bg_ndpi_appmix's one group of ACK-less
		 * segments, from port 1 with payload, is no scan; a non-first fragment, no
		 * header of its own, has ports 0 and flags 0) */
		if (k->src_port < SERVICE_PORTS)
			return false;
		if (f->tcp_flags & TCP_SYN)
			return true;
		return stealth_probe(k->proto, f->tcp_flags) && bare_tcp_headers(f);
	case PROTO_UDP:
		/* from a system port: a server's answer (DNS from 53) or a service talking to
		 * its peer (NTP 123 to 123), never a probe; to port 0: a non-first fragment,
		 * which carries no ports */
		return k->src_port >= SERVICE_PORTS && k->dst_port != 0;
	case PROTO_ICMP:
		return k->ip_version == 4 && k->dst_port == ICMP_ECHO_REQUEST;
	case PROTO_ICMPV6:
		return k->ip_version == 6 && k->dst_port == ICMPV6_ECHO_REQUEST;
	default:
		return false;
	}
}

enum outcome { OUTCOME_NONE, OUTCOME_SUCCESS, OUTCOME_FAILURE };

#define HOST_OUTCOME_MASK 0x3u
#define HOST_ONE_PORT 0x4u /* struct host_first: the first new port of dst was seen */
_Static_assert(OUTCOME_FAILURE <= HOST_OUTCOME_MASK && (HOST_ONE_PORT & HOST_OUTCOME_MASK) == 0,
	       "host_first.outcome: an outcome and the bit must not overlap");

/* A decided first contact of the source to dst with outcome o (not OUTCOME_NONE), a step of
 * walk wi: a horizontal one (0) is kept in h; the second vertical one (1) to the kept address
 * takes the kept outcome into the vertical walk, once (struct source's host). Returns the
 * outcome to take (OUTCOME_NONE: none). The final and the provisional decisions each call it
 * on their own copy. */
static enum outcome
host_step(struct host_first *h, unsigned int wi, const struct safem_feature_value *dst,
	  enum outcome o)
{
	enum outcome kept = (enum outcome)(h->outcome & HOST_OUTCOME_MASK);

	if (wi == 0) {
		h->dst = *dst;
		h->outcome = (uint8_t)o;
		return OUTCOME_NONE;
	}
	if (kept == OUTCOME_NONE || memcmp(&h->dst, dst, sizeof(*dst)) != 0)
		return OUTCOME_NONE;
	if (!(h->outcome & HOST_ONE_PORT)) {
		h->outcome |= HOST_ONE_PORT; /* one fallback port: not yet a scan of the host */
		return OUTCOME_NONE;
	}
	h->outcome = OUTCOME_NONE;
	return kept;
}

/*
 * own: the contact's flags over both windows; answer: SAFEM_TRW_SEEN_PRESENT | flags of the
 * reverse flow over both windows, or 0. TCP: a SYN-ACK back (or any answer without RST)
 * is a success, a RST alone or nothing back a failure; an initiator that sent ACK after
 * SYN while nothing came back is no evidence (the other direction is not on this link,
 * or this flow is itself the SYN-ACK of a server). UDP, ICMP echo: an answer is a success;
 * nothing back a failure (an ICMP unreachable is no answer: a failure), except a UDP
 * sender that kept sending (stream: more datagrams than a probe's in its window, or more
 * in the next): its answers take a path this link does not see, no evidence.
 * A stealth probe (own_window: the flags of its own window, without SYN) opens no
 * connection whatever comes back: a RST (closed port) or nothing (open or filtered) is a
 * failure, as Jung et al. count every attempt that does not establish a connection; any
 * other answer, or an ACK or SYN of its own in the next window, makes it a conversation's
 * segment after all: no evidence.
 */
static enum outcome
contact_outcome(uint8_t proto, uint8_t own_window, uint8_t own, uint64_t answer, bool stream)
{
	if (proto == PROTO_UDP && answer == 0 && stream)
		return OUTCOME_NONE;
	if (proto != PROTO_TCP)
		return answer != 0 ? OUTCOME_SUCCESS : OUTCOME_FAILURE;
	if (stealth_probe(proto, own_window)) {
		if ((own & (TCP_SYN | TCP_ACK)) || (answer != 0 && !(answer & TCP_RST)))
			return OUTCOME_NONE;
		return OUTCOME_FAILURE;
	}
	if (answer == 0)
		return (own & TCP_ACK) ? OUTCOME_NONE : OUTCOME_FAILURE;
	if (answer & TCP_SYN)
		return OUTCOME_SUCCESS;
	return (answer & TCP_RST) ? OUTCOME_FAILURE : OUTCOME_SUCCESS;
}

/* The port most horizontal failures went to when a few ports (the Misra-Gries counters) hold
 * at least 3/4 of them (a scan of a service or a few), else 0 (failures
 * spread over as many ports as hosts: a peer-to-peer client reaching peers on their own
 * ports). */
static uint16_t
ports_held(const struct safem_trw_ports *m)
{
	uint16_t port;
	uint64_t held = safem_trw_ports_top(m, &port, NULL);

	return safem_trw_ports_few(m, held) ? port : 0;
}

static uint16_t
port_held(const struct source *e)
{
	return ports_held(&e->ports);
}

static void
decide(struct safem_seqscan *s, const struct pending *c, uint64_t answer, uint8_t own,
       bool stream)
{
	enum outcome o = contact_outcome(c->proto, c->own_flags, own, answer, stream);
	struct source *e = &s->src[c->slot];
	unsigned int wi = (c->kind & KIND_HORIZONTAL) ? 0 : 1;

	if (o == OUTCOME_NONE) {
		s->totals.undecided++;
		return;
	}
	if (!e->used || e->gen != c->gen) {
		s->totals.contacts_dropped++;
		return;
	}
	if (e->window_id != s->window) {
		e->window_id = s->window;
		e->window_failures[0] = e->window_failures[1] = e->window_successes = 0;
		e->prior_counted = false;
		s->touched[s->ntouched++] = c->slot; /* at most one per pending contact */
	}
	{
		/* the host's first contact, decided before (an earlier window, or earlier in
		 * this one: the contacts to one address keep their collection order) */
		enum outcome h = host_step(&e->host, wi, &c->dst, o);

		if (h != OUTCOME_NONE) {
			s->totals.host_first_taken++;
			if (safem_trw_walk_observe(&s->b, &e->walk[1], h == OUTCOME_SUCCESS) ==
			    SAFEM_TRW_FLAGGED)
				s->totals.sources_flagged++;
		}
	}
	if (wi == 0 && !e->walk[0].flagged && !e->walk[1].flagged && !e->prior_counted &&
	    !stealth_probe(c->proto, c->own_flags)) {
		/* the link's benign rate: a flagged source's failures are the scan's, not the
		 * link's (one not yet flagged counts: it only lowers theta0, toward the floor);
		 * its first decided first contact of the window only. A stealth probe fails
		 * whatever the link's hosts do: no measure of how often they answer */
		e->prior_counted = true;
		safem_trw_prior_add(&s->prior, o == OUTCOME_SUCCESS);
		s->totals.prior_observations++;
	}
	if (safem_trw_walk_observe(wi == 0 ? &s->bh : &s->b, &e->walk[wi], o == OUTCOME_SUCCESS) ==
	    SAFEM_TRW_FLAGGED)
		s->totals.sources_flagged++;
	if (c->kind & KIND_PAIR) {
		struct port_walk *w = port_walk_get(s, c->slot, c->dst_port, c->proto);

		w->last_window = s->window;
		if (safem_trw_walk_observe(&s->b, &w->walk, o == OUTCOME_SUCCESS) ==
		    SAFEM_TRW_FLAGGED)
			s->totals.port_walks_flagged++;
		if (!w->walk.flagged)
			w->finding_windows = 0; /* cleared: a later flag starts a new count */
		if (o == OUTCOME_FAILURE) {
			if (w->window_id != s->window) {
				w->window_id = s->window;
				w->window_failures = 0;
				/* at most one per pending contact */
				s->pw_touched[s->npw_touched++] = (uint32_t)(w - s->pw);
			}
			w->window_failures++;
			w->last_dst = c->dst;
		}
	}
	/* TCP only: a worm spreads through a service; echo requests from several home hosts
	 * to addresses that do not answer are as often monitoring */
	if (e->home && s->hp != NULL && (c->kind & KIND_PAIR) && c->proto == PROTO_TCP)
		home_port_observe(s, &e->addr, c, o == OUTCOME_SUCCESS, false);
	if (!e->walk[0].flagged && !e->walk[1].flagged)
		e->finding_windows = 0; /* cleared (eta0): a later flag starts a new count */
	if (o == OUTCOME_SUCCESS) {
		s->totals.successes++;
		e->window_successes++;
		return;
	}
	s->totals.failures++;
	e->window_failures[wi]++;
	e->last_dst[wi] = c->dst; /* per walk: a vertical finding names its own target */
	e->last_proto[wi] = c->proto;
	if (wi == 0)
		safem_trw_ports_add(&e->ports, c->dst_port);
}

/*
 * A UDP first contact of the source's UDP walks (docs/detection.md, "UDP walks of one source
 * (session 16)"): answered: the reverse datagram; refused: a port unreachable from its
 * target; traced: a time exceeded back to its source (each in the windows looked at).
 * Jung et al.'s walk reads a success as a connection made and a failure as an attempt
 * the target did not take: a refusal by the target itself is one (a UDP port's RST), and
 * so is an empty datagram to a new address or port nothing answered (nmap's -sU to most
 * ports; an empty keepalive goes to a peer already talked to, no first contact). A
 * datagram with payload and no answer says nothing (discovery, a peer-to-peer ping, QUIC
 * or a VPN to a server whose answers take another path); a sender that kept sending is in
 * a conversation (session 10's rule), and a source whose datagrams run out of hops is
 * tracing a route, its last hops' refusals no refusal of a probe.
 * A refusal is known per address pair only (an ICMP error quotes the probe, but the answer
 * table keeps the pair), so in the vertical walk (one host, many ports) a datagram with
 * payload is no evidence at all, refused or not: a traceroute or mtr -u whose time exceeded
 * never reaches this link sends payload to a new port per probe and the target refuses
 * some, and a reflector's responses (SSDP from 1900, memcached from 11211) go to random
 * ports of its victim, which refuses some; one refusal of the pair would fail them all.
 * An empty datagram (nmap -sU) stays evidence there. In the horizontal walk (one contact a
 * host) a refused datagram with payload stays a failure: a sweep with payload (SNMP on
 * 161) over hosts that refuse it.
 */
static enum outcome
udp_walk_outcome(const struct pending *c, bool answered, bool stream, bool refused, bool traced)
{
	if (!c->empty && !(c->kind & KIND_HORIZONTAL))
		return OUTCOME_NONE;
	if (answered)
		return OUTCOME_SUCCESS;
	if (stream || traced)
		return OUTCOME_NONE;
	return refused || c->empty ? OUTCOME_FAILURE : OUTCOME_NONE;
}

/* A UDP entry's walks and this window's decisions on them: the persisted ones, or the
 * provisional copies; udp_walk_step moves either. */
struct udp_walks {
	struct safem_trw_walk *walk; /* [2] */
	struct host_first *host;
	struct safem_trw_ports *ports;
	uint32_t *failures; /* [2] */
	uint32_t *successes;
	struct safem_feature_value *dst; /* [2] */
	uint8_t *proto;			 /* [2] */
};

/* The steps of a decided UDP walk contact c (o not OUTCOME_NONE): the paper's, no prior, no
 * port walk, no home port (those measure TCP's and ICMP's contacts). Returns the walks that
 * crossed eta1. */
static unsigned int
udp_walk_step(const struct safem_seqscan *s, const struct udp_walks *u, const struct pending *c,
	      enum outcome o)
{
	unsigned int wi = (c->kind & KIND_HORIZONTAL) ? 0 : 1, flagged = 0;
	/* a vertical UDP scan begins with a datagram to the host, as a connect scan does; one
	 * with payload is no evidence of the vertical walk (udp_walk_outcome), nor as its first */
	enum outcome h = host_step(u->host, wi, &c->dst, c->empty ? o : OUTCOME_NONE);

	if (h != OUTCOME_NONE &&
	    safem_trw_walk_observe(&s->b, &u->walk[1], h == OUTCOME_SUCCESS) == SAFEM_TRW_FLAGGED)
		flagged++;
	if (safem_trw_walk_observe(&s->b, &u->walk[wi], o == OUTCOME_SUCCESS) == SAFEM_TRW_FLAGGED)
		flagged++;
	if (o == OUTCOME_SUCCESS) {
		(*u->successes)++;
		return flagged;
	}
	u->failures[wi]++;
	u->dst[wi] = c->dst;
	u->proto[wi] = PROTO_UDP;
	if (wi == 0)
		safem_trw_ports_add(u->ports, c->dst_port);
	return flagged;
}

/* A decided UDP walk contact on the persisted walks. */
static void
udp_walk_decide(struct safem_seqscan *s, const struct pending *c, enum outcome o, bool refused)
{
	struct source *e = &s->usrc[c->slot];
	const struct udp_walks u = {e->walk,	 &e->host,	       &e->ports,
				    e->window_failures, &e->window_successes, e->last_dst,
				    e->last_proto};

	if (o == OUTCOME_NONE || !e->used || e->gen != c->gen) {
		s->totals.udp_walk_undecided++;
		return;
	}
	if (e->window_id != s->window) {
		e->window_id = s->window;
		e->window_failures[0] = e->window_failures[1] = e->window_successes = 0;
		s->utouched[s->nutouched++] = c->slot; /* at most one per pending contact */
	}
	s->totals.udp_walk_flagged += udp_walk_step(s, &u, c, o);
	if (!e->walk[0].flagged && !e->walk[1].flagged)
		e->finding_windows = 0; /* cleared (eta0): a later flag starts a new count */
	if (o == OUTCOME_SUCCESS) {
		s->totals.udp_walk_successes++;
	} else {
		s->totals.udp_walk_failures++;
		if (refused)
			s->totals.udp_walk_refused++;
	}
}

/* A UDP contact's final decision: the home port evidence's (session 10: any datagram with no
 * answer a failure, unless it kept sending) and its UDP walks', each as its own. answer and
 * stream as decide()'s; prev, now: the answer tables of its window and the next. */
static void
decide_udp(struct safem_seqscan *s, const struct pending *c, uint64_t answer, bool stream,
	   const uint64_t *prev, const uint64_t *now, uint64_t mask)
{
	if (c->home_udp) {
		enum outcome o = contact_outcome(PROTO_UDP, 0, 0, answer, stream);

		if (o == OUTCOME_NONE) {
			s->totals.undecided++;
		} else {
			if (o == OUTCOME_SUCCESS) {
				s->totals.successes++;
			} else {
				s->totals.failures++;
				s->totals.udp_failures++;
			}
			home_port_observe(s, &c->src, c, o == OUTCOME_SUCCESS, true);
		}
	}
	if (c->udp_walk) {
		uint64_t rh = refusal_hash(&c->dst, &c->src), th = time_exceeded_hash(&c->src);
		bool refused = safem_trw_seen_get(prev, mask, rh) != 0 ||
			       safem_trw_seen_get(now, mask, rh) != 0;
		bool traced = safem_trw_seen_get(prev, mask, th) != 0 ||
			      safem_trw_seen_get(now, mask, th) != 0;

		udp_walk_decide(s, c, udp_walk_outcome(c, answer != 0, stream, refused, traced),
				refused);
	}
}

/* Judge the previous window's contacts against its answers and this window's. */
static void
decide_pending(struct safem_seqscan *s)
{
	const uint64_t *prev = s->answers[!s->cur], *now = s->answers[s->cur];
	uint64_t mask = s->table_size - 1;
	const struct pending *c = s->pending[!s->cur];
	uint32_t i, n = s->npending[!s->cur];

	for (i = 0; i < n; i++) {
		if (i + AHEAD < n) {
			const struct pending *a = &c[i + AHEAD];

			__builtin_prefetch(&prev[a->rev_hash & mask]);
			__builtin_prefetch(&now[a->rev_hash & mask]);
			__builtin_prefetch(&now[a->own_hash & mask]);
			__builtin_prefetch(a->proto == PROTO_UDP ? &s->usrc[a->slot]
							       : &s->src[a->slot]);
		}
		uint64_t answer = safem_trw_seen_get(prev, mask, c[i].rev_hash) |
				  safem_trw_seen_get(now, mask, c[i].rev_hash);
		uint64_t own_next = safem_trw_seen_get(now, mask, c[i].own_hash);
		uint8_t own = c[i].own_flags | (uint8_t)(own_next & SAFEM_TRW_SEEN_FLAGS);

		if (c[i].proto == PROTO_UDP)
			decide_udp(s, &c[i], answer, c[i].stream || own_next != 0, prev, now, mask);
		else
			decide(s, &c[i], answer, own, c[i].stream || own_next != 0);
	}
	s->npending[!s->cur] = 0;
}

/* Stage 1: the window's contact candidates that are no answer to the previous window, in
 * pending[cur] with their hashes and flow. */
static void
collect_candidate(struct safem_seqscan *s, const struct safem_profile_flow *f, uint64_t own_hash)
{
	struct safem_flow_key rev;
	struct pending *c;
	uint64_t rev_hash;

	if (!contact_candidate(f))
		return;
	reverse_key(&f->key, &rev);
	rev_hash = key_hash(&rev);
	/* the answer to a flow of the previous window (a reply that fell into this one) is
	 * no contact of its own */
	if (s->prev_judged && safem_trw_seen_get(s->answers[!s->cur], s->table_size - 1, rev_hash) != 0)
		return;
	/* UDP has no source filter (first_contact): a datagram flow that went on from the
	 * previous window is no first contact (that window's contact is judged a stream) */
	if (f->key.proto == PROTO_UDP && s->prev_judged &&
	    safem_trw_seen_get(s->answers[!s->cur], s->table_size - 1, own_hash) != 0)
		return;
	c = &s->pending[s->cur][s->npending[s->cur]++];
	memset(c, 0, sizeof(*c));
	c->rev_hash = rev_hash;
	c->own_hash = own_hash;
	c->flow = f;
	c->own_flags = f->tcp_flags;
	c->stream = f->packets > UDP_PROBE_DATAGRAMS;
	c->empty = f->key.proto == PROTO_UDP && empty_datagrams(f);
	/* dated by its flow's first packet (the last when the flow began in an earlier pane):
	 * a retransmitted SYN is the same unanswered request (docs/detection.md, "Dated by the
	 * first packet (session 12)") */
	c->old = safem_trw_unanswered_for(safem_profile_flow_first_ms(f, s->end_ms), s->end_ms,
					  SAFEM_SEQSCAN_ANSWER_WAIT_MS);
}

/* A first contact of entry e (the source's slot in s->src or s->usrc) to dst on (proto,
 * port), noted in its filters: its kind (KIND_HORIZONTAL: a new address, else
 * KIND_VERTICAL; | KIND_PAIR: a new (address, protocol, port)), 0 when both are known. */
static uint8_t
filters_note(struct source *e, const struct safem_feature_value *dst, uint8_t proto,
	     uint16_t port)
{
	uint32_t pos_dst[SAFEM_TRW_BLOOM_HASHES], pos_pair[SAFEM_TRW_BLOOM_HASHES];
	struct {
		struct safem_feature_value dst;
		uint16_t port;
		uint8_t proto, pad[5];
	} pair;
	bool new_dst, new_pair;

	memset(&pair, 0, sizeof(pair));
	pair.dst = *dst;
	pair.proto = proto;
	pair.port = port;
	bloom_positions(dst, sizeof(*dst) / 8, pos_dst);
	bloom_positions(&pair, sizeof(pair) / 8, pos_pair);
	new_dst = !safem_trw_bloom_has(&e->bloom_dst, pos_dst);
	new_pair = !safem_trw_bloom_has(&e->bloom_pair, pos_pair);
	if (!new_dst && !new_pair)
		return 0;
	safem_trw_bloom_add(&e->bloom_dst, pos_dst);
	safem_trw_bloom_add(&e->bloom_pair, pos_pair);
	return (new_dst ? KIND_HORIZONTAL : KIND_VERTICAL) | (new_pair ? KIND_PAIR : 0);
}

/* Stage 2 of a UDP candidate: a first contact of src's UDP walks (a new address, or a new
 * port of a known one, in its UDP entry's own filters): c's slot, gen and kind set. */
static bool
udp_first_contact(struct safem_seqscan *s, struct pending *c, const struct safem_feature_value *src,
		  const struct safem_feature_value *dst, uint8_t ip_version, uint16_t dst_port)
{
	uint32_t slot =
		source_get(s, s->usrc, src, ip_version, &s->totals.udp_walk_sources_evicted);
	struct source *e = &s->usrc[slot];
	uint8_t kind;

	if (e->last_window != s->window)
		e->udp_empty = 0;
	e->last_window = s->window;
	kind = filters_note(e, dst, PROTO_UDP, dst_port);
	if (kind == 0)
		return false;
	if (c->empty && e->udp_empty < UINT16_MAX)
		e->udp_empty++;
	c->slot = slot;
	c->gen = e->gen;
	c->kind = kind & ~KIND_PAIR; /* no port walks: the UDP walks are the source's two */
	return true;
}

/* Stage 2: keep c when it is a first contact of its source (to a new address, or a new port
 * of a known one); false: drop it. */
static bool
first_contact(struct safem_seqscan *s, struct pending *c)
{
	const struct safem_flow_key *k = &c->flow->key;
	struct safem_feature_value src, dst;
	struct source *e;
	uint32_t slot;
	uint16_t port;
	uint8_t kind;

	safem_trw_addr_value(k->src_addr, k->ip_version, &src);
	safem_trw_addr_value(k->dst_addr, k->ip_version, &dst);
	if (k->proto == PROTO_UDP) {
		/*
		 * Two uses, apart. (1) A home source's datagram is evidence of its source port
		 * (the home port table's filter counts each destination once across them:
		 * docs/detection.md, "UDP first contacts in the scan test (session 10)"). (2) Any
		 * source's first UDP contact to a new address or (address, port) steps its UDP
		 * walks, in a table of their own (s->usrc): no TCP or ICMP walk, filter or slot
		 * of the source sees UDP, so a source's TCP failures and a refused datagram never
		 * add up (docs/detection.md, "UDP walks of one source (session 16)").
		 */
		c->home_udp = s->hp != NULL && safem_home_contains(s->p.home, &src);
		c->udp_walk = udp_first_contact(s, c, &src, &dst, k->ip_version, k->dst_port);
		if (!c->home_udp && !c->udp_walk)
			return false;
		c->flow = NULL;
		c->src = src;
		c->dst = dst;
		c->src_port = k->src_port;
		c->dst_port = k->dst_port;
		c->proto = k->proto;
		return true;
	}
	slot = source_get(s, s->src, &src, k->ip_version, &s->totals.sources_evicted);
	e = &s->src[slot];
	e->last_window = s->window;
	port = k->proto == PROTO_TCP ? k->dst_port : 0;
	kind = filters_note(e, &dst, k->proto, port);
	if (kind == 0)
		return false;
	c->flow = NULL; /* the log is gone by the decision */
	c->slot = slot;
	c->gen = e->gen;
	c->dst = dst;
	c->dst_port = port;
	c->proto = k->proto;
	c->kind = kind;
	return true;
}

/* The set first_contact will read for candidate c (its log entry fetched already). */
static void
contact_prefetch(const struct safem_seqscan *s, const struct pending *c)
{
	const struct safem_flow_key *k = &c->flow->key;
	struct safem_feature_value src;
	uint32_t set, i;

	safem_trw_addr_value(k->src_addr, k->ip_version, &src);
	set = source_set(s, &src);
	for (i = set; i < set + WAYS; i++)
		__builtin_prefetch(k->proto == PROTO_UDP ? &s->usrc[i] : &s->src[i]);
}

/* lib/trw's stage 2 callbacks */
static void
contact_fetch(void *ctx, const void *c)
{
	contact_prefetch(ctx, c);
}

static bool
contact_keep(void *ctx, void *c)
{
	struct safem_seqscan *s = ctx;
	struct pending *p = c;

	if (!first_contact(s, p))
		return false;
	if (p->proto == PROTO_UDP) {
		/* contacts and udp_contacts count the home port evidence's, as before */
		if (p->home_udp) {
			s->totals.contacts++;
			s->totals.udp_contacts++;
		}
		if (p->udp_walk)
			s->totals.udp_walk_contacts++;
		return true;
	}
	s->totals.contacts++;
	if (stealth_probe(p->proto, p->own_flags))
		s->totals.stealth_contacts++;
	return true;
}

/* Stage 2 over the candidates of stage 1, in an order that does not depend on the log's
 * (the flow log's order depends on the number of workers, producer order; walks, filters and
 * evictions must not): lib/trw's, by key hash, then flags. The contacts kept go to the other
 * pending array, free since the decisions, which becomes this window's. */
static void
collect_contacts(struct safem_seqscan *s)
{
	static const struct safem_trw_stage stage = {
		.size = sizeof(struct pending),
		.hash_off = offsetof(struct pending, own_hash),
		.flags_off = offsetof(struct pending, own_flags),
		.flow_off = offsetof(struct pending, flow),
		.fetch = contact_fetch,
		.keep = contact_keep,
	};
	struct pending *c = s->pending[s->cur], *out = s->pending[!s->cur];
	uint32_t kept = safem_trw_stage_run(&stage, s, c, s->npending[s->cur], out, s->order,
					    s->order_tmp);

	s->pending[s->cur] = out;
	s->pending[!s->cur] = c;
	s->npending[s->cur] = kept;
}

/* ---------------------------------------------------------------------- */
/* Findings                                                                 */

/* r is port's (udp: of a UDP walk; else of the TCP / ICMP walks, as before UDP walked) */
static bool
ring_match(const struct flagged_port *r, uint16_t port, bool udp)
{
	return r->window != 0 && r->port == port && r->udp == udp;
}

/* The ring of the UDP walks' flagged scanners (udp), else of the TCP / ICMP walks'. */
static struct flagged_port *
ring_of(struct safem_seqscan *s, bool udp)
{
	return udp ? s->uring : s->ring;
}

/* Distinct home sources flagged on this port within the worm horizon. */
static unsigned int
worm_sources(struct safem_seqscan *s, uint16_t port, bool home, bool udp)
{
	const struct flagged_port *ring = ring_of(s, udp);
	unsigned int i, j, n = 0;
	bool counted[FLAGGED_RING] = {false};

	if (!home)
		return 0;
	for (i = 0; i < FLAGGED_RING; i++) {
		const struct flagged_port *r = &ring[i];

		if (counted[i] || !r->home || !ring_match(r, port, udp) ||
		    r->window + SAFEM_SEQSCAN_WORM_HORIZON_WINDOWS <= s->window)
			continue;
		/* distinct sources only */
		for (j = i; j < FLAGGED_RING; j++)
			if (memcmp(&ring[j].src, &r->src, sizeof(r->src)) == 0)
				counted[j] = true;
		n++;
	}
	return n;
}

static void
ring_note(struct safem_seqscan *s, const struct source *e, uint16_t port, bool home, bool udp)
{
	struct flagged_port *ring = ring_of(s, udp);
	unsigned int i, *next = udp ? &s->uring_next : &s->ring_next;

	for (i = 0; i < FLAGGED_RING; i++)
		if (ring_match(&ring[i], port, udp) &&
		    memcmp(&ring[i].src, &e->addr, sizeof(e->addr)) == 0) {
			ring[i].window = s->window;
			return;
		}
	ring[*next] = (struct flagged_port){e->addr, s->window, port, home, udp};
	*next = (*next + 1) % FLAGGED_RING;
}

/* keep the SAFEM_SEQSCAN_FINDINGS_MAX with the most failures, in that order; false: not kept */
static bool
finding_add(struct safem_seqscan *s, const struct safem_seqscan_finding *f)
{
	unsigned int i;

	if (s->nfindings == SAFEM_SEQSCAN_FINDINGS_MAX &&
	    s->findings[s->nfindings - 1].failures >= f->failures)
		return false;
	if (s->nfindings < SAFEM_SEQSCAN_FINDINGS_MAX)
		s->nfindings++;
	for (i = s->nfindings - 1; i > 0 && s->findings[i - 1].failures < f->failures; i--)
		s->findings[i] = s->findings[i - 1];
	s->findings[i] = *f;
	s->totals.findings++;
	if (f->provisional)
		s->totals.findings_provisional++;
	return true;
}

/* A horizontal finding on port: the worm shape when other home sources were flagged on it. */
static void
horizontal_note(struct safem_seqscan *s, const struct source *e, uint16_t port, bool udp,
		struct safem_seqscan_finding *f)
{
	bool any_home = s->p.home != NULL && s->p.home->count != 0;
	bool home = !any_home || safem_home_contains(s->p.home, &e->addr);

	ring_note(s, e, port, home, udp);
	f->sources = worm_sources(s, port, home, udp);
	if (f->sources >= SAFEM_SEQSCAN_WORM_SOURCES)
		f->shape = SAFEM_SEQSCAN_WORM;
}

/* A source's walks and this window's decisions on them: the persisted ones, or the
 * provisional copies (provisional_window). */
struct walks_view {
	const struct safem_trw_walk *walk;	/* [2] */
	const uint32_t *failures;		/* [2] */
	uint32_t successes;
	const struct safem_trw_ports *ports;
	const uint8_t *proto;			/* [2] */
	const struct safem_feature_value *dst; /* [2] */
};

/* The finding of a source whose walk flagged it and failed again in this window (f's
 * windows and sources left to the caller); false: none. */
static bool
source_finding(const struct source *e, const struct walks_view *v,
	       struct safem_seqscan_finding *f)
{
	unsigned int wi;
	uint16_t port;

	/* the walk that flagged it and failed again now; both: the one with more */
	if (v->walk[0].flagged && v->failures[0] > 0 &&
	    (!v->walk[1].flagged || v->failures[0] >= v->failures[1]))
		wi = 0;
	else if (v->walk[1].flagged && v->failures[1] > 0)
		wi = 1;
	else
		return false;
	port = ports_held(v->ports);
	/* a horizontal scan probes many hosts on few ports: failures spread over many
	 * hosts and many ports (each peer at its own port) are a peer-to-peer client's
	 * contacts to peers that left */
	if (wi == 0 && port == 0)
		return false;
	*f = (struct safem_seqscan_finding){
		.shape = wi == 0 ? SAFEM_SEQSCAN_HORIZONTAL : SAFEM_SEQSCAN_VERTICAL,
		.src = e->addr,
		.dst = v->dst[wi],
		.port = wi == 0 ? port : 0,
		.proto = v->proto[wi],
		.failures = v->failures[wi],
		.successes = v->successes,
		.failures_run = v->walk[wi].failures_run,
		.llr = v->walk[wi].llr,
	};
	return true;
}

/* Findings of the source walks: a flagged walk that failed again in this window. udp: the UDP
 * walks' (s->usrc, s->utouched), else the TCP / ICMP walks' (s->src, s->touched). */
static void
findings_sources(struct safem_seqscan *s, bool udp)
{
	struct source *tab = udp ? s->usrc : s->src;
	const uint32_t *touched = udp ? s->utouched : s->touched;
	uint32_t t, n = udp ? s->nutouched : s->ntouched;

	for (t = 0; t < n; t++) {
		struct source *e = &tab[touched[t]];
		const struct walks_view v = {e->walk, e->window_failures, e->window_successes,
					     &e->ports, e->last_proto, e->last_dst};
		struct safem_seqscan_finding f;

		if (!source_finding(e, &v, &f))
			continue;
		e->finding_windows++;
		e->found_window = s->window;
		f.windows = e->finding_windows;
		if (f.shape == SAFEM_SEQSCAN_HORIZONTAL)
			horizontal_note(s, e, f.port, udp, &f);
		if (finding_add(s, &f) && udp)
			s->totals.udp_walk_findings++;
	}
}

/*
 * Findings of the (source, port) walks of sources without one of their own walks: a
 * scanner whose successes as a client (to other ports) balance its failures in the source
 * walk. The few-ports bound of the source walk holds here too: a source whose horizontal
 * failures spread over as many ports as hosts is a peer-to-peer client, whatever one of its
 * ports says (a popular peer port collects its share of peers that left). One finding a
 * source: its port walk with the most failures in this window.
 */
static void
findings_port_walks(struct safem_seqscan *s)
{
	uint32_t t;

	/* each source's flagged port walk with the most failures in this window */
	for (t = 0; t < s->npw_touched; t++) {
		struct port_walk *w = &s->pw[s->pw_touched[t]];
		struct source *e = &s->src[w->slot];

		if (!w->walk.flagged || e->gen != w->gen || e->found_window == s->window)
			continue;
		if (e->best_pw_window != s->window ||
		    s->pw[e->best_pw].window_failures < w->window_failures) {
			e->best_pw_window = s->window;
			e->best_pw = s->pw_touched[t];
		}
	}
	for (t = 0; t < s->npw_touched; t++) {
		struct port_walk *w = &s->pw[s->pw_touched[t]];
		struct source *e = &s->src[w->slot];
		struct safem_seqscan_finding f;

		if (e->gen != w->gen || e->best_pw_window != s->window ||
		    e->best_pw != s->pw_touched[t] || e->found_window == s->window ||
		    port_held(e) == 0)
			continue;
		e->found_window = s->window;
		w->finding_windows++;
		f = (struct safem_seqscan_finding){
			.shape = SAFEM_SEQSCAN_HORIZONTAL,
			.src = e->addr,
			.dst = w->last_dst,
			.port = w->port,
			.proto = w->proto,
			.failures = w->window_failures,
			.successes = e->window_successes,
			.failures_run = w->walk.failures_run,
			.llr = w->walk.llr,
			.windows = w->finding_windows,
		};
		horizontal_note(s, e, w->port, false, &f);
		finding_add(s, &f);
	}
}

/* src failed on h within the worm horizon */
static bool
home_port_failed(const struct safem_seqscan *s, const struct home_port *h,
		 const struct safem_feature_value *src)
{
	unsigned int i;

	for (i = 0; i < HOME_PORT_SOURCES; i++)
		if (h->src_window[i] != 0 &&
		    h->src_window[i] + SAFEM_SEQSCAN_WORM_HORIZON_WINDOWS > s->window &&
		    memcmp(&h->src[i], src, sizeof(*src)) == 0)
			return true;
	return false;
}

/* src is among q's failed sources in this window */
static bool
prov_home_port_failed(const struct prov_home_port *q, const struct safem_feature_value *src)
{
	unsigned int i;

	for (i = 0; i < q->nsrc; i++)
		if (memcmp(&q->src[i], src, sizeof(*src)) == 0)
			return true;
	return false;
}

/*
 * A home source's own finding on a home port with worm evidence becomes the worm's (true:
 * merged, no finding of the port's own); an outside scanner sweeping the same port inward
 * stays a scan. By the source port: a finding of one of the port's failing sources (within
 * the horizon in h, or in this window's provisional q; either may be NULL).
 */
static bool
home_port_merge(struct safem_seqscan *s, uint8_t proto, bool by_src, uint16_t port,
		unsigned int sources, const struct home_port *h, const struct prov_home_port *q)
{
	bool merged = false;
	unsigned int i;

	for (i = 0; i < s->nfindings; i++) {
		struct safem_seqscan_finding *g = &s->findings[i];

		if ((g->shape == SAFEM_SEQSCAN_HORIZONTAL || g->shape == SAFEM_SEQSCAN_WORM) &&
		    g->proto == proto && safem_home_contains(s->p.home, &g->src) &&
		    (by_src ? (h != NULL && home_port_failed(s, h, &g->src)) ||
				      (q != NULL && prov_home_port_failed(q, &g->src))
			    : g->port == port)) {
			g->shape = SAFEM_SEQSCAN_WORM;
			if (g->sources < sources)
				g->sources = sources;
			merged = true;
		}
	}
	return merged;
}

/*
 * Worm findings of the home ports: the likelihood ratio of a port's observations within the
 * horizon (a failure x4, a success x1/4, the walk's steps) reaches eta1, i.e. at least 4 net
 * failures of first contacts to distinct destinations, the port failed again in this window,
 * and at least SAFEM_SEQSCAN_WORM_SOURCES distinct home sources failed on it within the
 * horizon. One finding a port: a source's own finding on that port becomes the worm's, else
 * a new one names the port's last failing source.
 */
static void
findings_home_ports(struct safem_seqscan *s)
{
	uint32_t t;
	unsigned int i;

	for (t = 0; t < s->nhp_touched; t++) {
		struct home_port *h = &s->hp[s->hp_touched[t]];
		unsigned int r = (unsigned int)(s->window % SAFEM_SEQSCAN_WORM_HORIZON_WINDOWS);
		struct safem_seqscan_finding f;
		int64_t net = 0;
		unsigned int sources = 0;

		if (h->found_window == s->window)
			continue; /* listed twice: evicted and taken again in this window */
		for (i = 0; i < SAFEM_SEQSCAN_WORM_HORIZON_WINDOWS; i++)
			if (h->ring_window[i] != 0 &&
			    h->ring_window[i] + SAFEM_SEQSCAN_WORM_HORIZON_WINDOWS > s->window)
				net += (int64_t)h->ring_failures[i] - h->ring_successes[i];
		for (i = 0; i < HOME_PORT_SOURCES; i++)
			if (h->src_window[i] != 0 &&
			    h->src_window[i] + SAFEM_SEQSCAN_WORM_HORIZON_WINDOWS > s->window)
				sources++;
		if ((double)net * s->b.step_failure < s->b.log_eta1 ||
		    sources < SAFEM_SEQSCAN_WORM_SOURCES) {
			h->finding_windows = 0;
			continue;
		}
		h->finding_windows = h->found_window + 1 == s->window ? h->finding_windows + 1 : 1;
		h->found_window = s->window;
		s->totals.home_port_worms++;
		if (home_port_merge(s, h->proto, h->by_src, h->port, sources, h, NULL))
			continue;
		f = (struct safem_seqscan_finding){
			.shape = SAFEM_SEQSCAN_WORM,
			.src = h->last_src,
			.dst = h->last_dst,
			/* by the source port: the probes share no destination port to name */
			.port = h->by_src ? 0 : h->port,
			.proto = h->proto,
			.failures = h->ring_failures[r],
			.successes = h->ring_successes[r],
			.failures_run = (uint32_t)net,
			.llr = (double)net * s->b.step_failure,
			.windows = h->finding_windows,
			.sources = sources,
		};
		finding_add(s, &f);
	}
}

static void
findings_collect(struct safem_seqscan *s)
{
	findings_sources(s, false);
	findings_port_walks(s);
	/* after TCP's (their order as before); before the home ports', which make a home
	 * source's UDP finding the worm's when its source port has the evidence */
	findings_sources(s, true);
	findings_home_ports(s);
}

/* ---------------------------------------------------------------------- */
/* Provisional decisions in the contacts' own window                        */

/*
 * docs/detection.md, "Decisions in the observation's own window (session 11)". Window N's
 * contacts are decided again at the end of window N+1, and only that decision moves the
 * persisted walks, filters and rings. Here, in window N, each contact whose answer already
 * came (in window N: one in window N-1 made it no contact) is stepped as it will be, and one
 * still unanswered whose flow's first packet is SAFEM_SEQSCAN_ANSWER_WAIT_MS before the pane's
 * end as a failure, on scratch copies: the source's walks and port summary (in its slot), its port
 * walks and the home ports (scratch tables of the same geometry). A copy that crosses eta1
 * and failed in this window is a finding now; a provisional failure answered later is a
 * success in the persisted walk next window, so nothing here biases a later window.
 */

/* The scratch copy of (slot, protocol, port)'s port walk in this window: the live walk's
 * state (or a new walk's) when first taken. A set's scratch slots fill from its first;
 * NULL: all four are taken in this window (the step is left out of the port walks). */
static struct prov_port_walk *
prov_port_walk_get(struct safem_seqscan *s, uint32_t slot, uint16_t port, uint8_t proto)
{
	uint32_t gen = s->src[slot].gen, set = port_walk_set(s, slot, port, proto), i;
	struct prov_port_walk *q = NULL;
	const struct port_walk *w;

	for (i = set; i < set + WAYS; i++) {
		q = &s->ppw[i];
		if (q->window != s->window)
			break;
		if (q->slot == slot && q->gen == gen && q->port == port && q->proto == proto)
			return q;
	}
	if (i == set + WAYS)
		return NULL;
	w = port_walk_find(s, slot, port, proto);
	*q = (struct prov_port_walk){
		.window = s->window, .slot = slot, .gen = gen, .port = port, .proto = proto};
	if (w != NULL)
		q->walk = w->walk;
	return q;
}

/* This window's scratch evidence of a home port (as prov_port_walk_get). */
static struct prov_home_port *
prov_home_port_get(struct safem_seqscan *s, uint16_t port, uint8_t proto, bool by_src)
{
	uint32_t set = home_port_set(port, proto, by_src), i;
	struct prov_home_port *q = NULL;

	for (i = set; i < set + WAYS; i++) {
		q = &s->php[i];
		if (q->window != s->window)
			break;
		if (q->port == port && q->proto == proto && q->by_src == by_src)
			return q;
	}
	if (i == set + WAYS)
		return NULL;
	memset(q, 0, sizeof(*q));
	q->window = s->window;
	q->port = port;
	q->proto = proto;
	q->by_src = by_src;
	return q;
}

/* home_port_observe's provisional twin: a destination the port counted before (the
 * persisted filter) or already in this window counts once. */
static void
prov_home_port_observe(struct safem_seqscan *s, const struct safem_feature_value *src,
		       const struct pending *c, bool success, bool by_src)
{
	uint16_t port = by_src ? c->src_port : c->dst_port;
	const struct home_port *h = home_port_find(s, port, c->proto, by_src);
	struct prov_home_port *q;
	uint32_t pos[SAFEM_TRW_BLOOM_HASHES];
	unsigned int i;

	bloom_positions(&c->dst, sizeof(c->dst) / 8, pos);
	if (h != NULL && safem_trw_bloom_has(&h->bloom, pos))
		return;
	q = prov_home_port_get(s, port, c->proto, by_src);
	if (q == NULL || safem_trw_bloom_has(&q->bloom, pos))
		return;
	safem_trw_bloom_add(&q->bloom, pos);
	if (success) {
		q->successes++;
		return;
	}
	if (q->failures++ == 0)
		s->php_touched[s->nphp_touched++] = (uint32_t)(q - s->php); /* once a window */
	q->last_src = *src;
	q->last_dst = c->dst;
	for (i = 0; i < q->nsrc; i++)
		if (memcmp(&q->src[i], src, sizeof(*src)) == 0)
			return;
	if (q->nsrc < HOME_PORT_SOURCES)
		q->src[q->nsrc++] = *src;
}

/* decide()'s provisional twin: the same steps on the scratch copies. */
static void
prov_decide(struct safem_seqscan *s, const struct pending *c, enum outcome o)
{
	struct source *e = &s->src[c->slot];
	unsigned int wi = (c->kind & KIND_HORIZONTAL) ? 0 : 1;
	bool success = o == OUTCOME_SUCCESS;

	if (!e->used || e->gen != c->gen)
		return; /* its slot changed hands in this window's collection */
	s->totals.provisional_steps++;
	if (e->prov_window != s->window) {
		e->prov_window = s->window;
		e->prov_walk[0] = e->walk[0];
		e->prov_walk[1] = e->walk[1];
		e->prov_ports = e->ports;
		e->prov_failures[0] = e->prov_failures[1] = e->prov_successes = 0;
		e->prov_host = e->host;
		s->prov_touched[s->nprov_touched++] = c->slot;
	}
	{
		enum outcome h = host_step(&e->prov_host, wi, &c->dst, o);

		if (h != OUTCOME_NONE)
			safem_trw_walk_observe(&s->b, &e->prov_walk[1], h == OUTCOME_SUCCESS);
	}
	safem_trw_walk_observe(wi == 0 ? &s->bh : &s->b, &e->prov_walk[wi], success);
	if (c->kind & KIND_PAIR) {
		struct prov_port_walk *q = prov_port_walk_get(s, c->slot, c->dst_port, c->proto);

		if (q != NULL) {
			safem_trw_walk_observe(&s->b, &q->walk, success);
			if (!success) {
				if (q->failures++ == 0)
					s->ppw_touched[s->nppw_touched++] = (uint32_t)(q - s->ppw);
				q->last_dst = c->dst;
			}
		}
	}
	if (e->home && s->php != NULL && (c->kind & KIND_PAIR) && c->proto == PROTO_TCP)
		prov_home_port_observe(s, &e->addr, c, success, false);
	if (success) {
		e->prov_successes++;
		return;
	}
	e->prov_failures[wi]++;
	e->prov_dst[wi] = c->dst;
	e->prov_proto[wi] = c->proto;
	if (wi == 0)
		safem_trw_ports_add(&e->prov_ports, c->dst_port);
}

/* udp_walk_decide's provisional twin: the same steps on the UDP entry's scratch copies. */
static void
prov_udp_walk_decide(struct safem_seqscan *s, const struct pending *c, enum outcome o)
{
	struct source *e = &s->usrc[c->slot];
	const struct udp_walks u = {e->prov_walk,	 &e->prov_host,	  &e->prov_ports,
				    e->prov_failures, &e->prov_successes, e->prov_dst,
				    e->prov_proto};

	if (!e->used || e->gen != c->gen)
		return; /* its entry changed hands in this window's collection */
	if (e->prov_window != s->window) {
		e->prov_window = s->window;
		e->prov_walk[0] = e->walk[0];
		e->prov_walk[1] = e->walk[1];
		e->prov_ports = e->ports;
		e->prov_failures[0] = e->prov_failures[1] = e->prov_successes = 0;
		e->prov_host = e->host;
		s->uprov_touched[s->nuprov_touched++] = c->slot;
	}
	udp_walk_step(s, &u, c, o);
}

/*
 * A UDP contact of this window decided in it (decide_udp's provisional twin; answer: its
 * reverse datagram in this window). The home port evidence as before: unanswered and
 * younger than the wait, undecided. The UDP walks: a refusal or a time exceeded already
 * in decides at any age (as a RST does), an empty datagram unanswered for the wait fails.
 */
static void
prov_udp(struct safem_seqscan *s, const struct pending *c, uint64_t answer, const uint64_t *now,
	 uint64_t mask)
{
	if (c->home_udp) {
		if (answer == 0 && !c->old) {
			s->totals.provisional_young++;
		} else {
			enum outcome o = contact_outcome(PROTO_UDP, 0, 0, answer, c->stream);

			if (o != OUTCOME_NONE) {
				s->totals.provisional_steps++;
				prov_home_port_observe(s, &c->src, c, o == OUTCOME_SUCCESS, true);
			}
		}
	}
	if (c->udp_walk) {
		bool refused = safem_trw_seen_get(now, mask, refusal_hash(&c->dst, &c->src)) != 0;
		bool traced = safem_trw_seen_get(now, mask, time_exceeded_hash(&c->src)) != 0;
		enum outcome o;

		if (answer == 0 && !refused && !traced && !c->old)
			return;
		o = udp_walk_outcome(c, answer != 0, c->stream, refused, traced);
		if (o != OUTCOME_NONE)
			prov_udp_walk_decide(s, c, o);
	}
}

/* horizontal_note without noting: the flagged home sources on port within the horizon,
 * this source counted once whether the ring holds it or not. */
static unsigned int
prov_worm_sources(struct safem_seqscan *s, const struct source *e, uint16_t port, bool udp)
{
	bool any_home = s->p.home != NULL && s->p.home->count != 0;
	bool home = !any_home || safem_home_contains(s->p.home, &e->addr);
	unsigned int i, n = worm_sources(s, port, home, udp);

	if (!home)
		return n;
	for (i = 0; i < FLAGGED_RING; i++) {
		const struct flagged_port *r = &ring_of(s, udp)[i];

		if (r->home && ring_match(r, port, udp) &&
		    r->window + SAFEM_SEQSCAN_WORM_HORIZON_WINDOWS > s->window &&
		    memcmp(&r->src, &e->addr, sizeof(e->addr)) == 0)
			return n;
	}
	return n + 1;
}

/* A provisional horizontal finding's worm shape and sources, then the finding (udp: of a
 * UDP walk). */
static void
prov_finding_add(struct safem_seqscan *s, struct source *e, struct safem_seqscan_finding *f,
		 bool udp)
{
	e->found_window = s->window; /* one finding an entry a window (found_window) */
	f->provisional = true;
	if (f->shape == SAFEM_SEQSCAN_HORIZONTAL) {
		f->sources = prov_worm_sources(s, e, f->port, udp);
		if (f->sources >= SAFEM_SEQSCAN_WORM_SOURCES)
			f->shape = SAFEM_SEQSCAN_WORM;
	}
	if (finding_add(s, f) && udp)
		s->totals.udp_walk_findings++;
}

/* findings_sources over the scratch walks, for sources without a finding in this window. */
static void
prov_findings_sources(struct safem_seqscan *s, bool udp)
{
	struct source *tab = udp ? s->usrc : s->src;
	const uint32_t *touched = udp ? s->uprov_touched : s->prov_touched;
	uint32_t t, n = udp ? s->nuprov_touched : s->nprov_touched;

	for (t = 0; t < n; t++) {
		struct source *e = &tab[touched[t]];
		const struct walks_view v = {e->prov_walk, e->prov_failures, e->prov_successes,
					     &e->prov_ports, e->prov_proto, e->prov_dst};
		struct safem_seqscan_finding f;

		if (e->found_window == s->window || !source_finding(e, &v, &f))
			continue;
		f.windows = e->finding_windows + 1;
		prov_finding_add(s, e, &f, udp);
	}
}

/* findings_port_walks over the scratch port walks. */
static void
prov_findings_port_walks(struct safem_seqscan *s)
{
	uint32_t t;

	for (t = 0; t < s->nppw_touched; t++) {
		const struct prov_port_walk *q = &s->ppw[s->ppw_touched[t]];
		struct source *e = &s->src[q->slot];

		if (!q->walk.flagged || e->gen != q->gen || e->found_window == s->window)
			continue;
		if (e->prov_best_window != s->window || s->ppw[e->prov_best].failures < q->failures) {
			e->prov_best_window = s->window;
			e->prov_best = s->ppw_touched[t];
		}
	}
	for (t = 0; t < s->nppw_touched; t++) {
		const struct prov_port_walk *q = &s->ppw[s->ppw_touched[t]];
		struct source *e = &s->src[q->slot];
		const struct port_walk *w;
		struct safem_seqscan_finding f;

		if (e->gen != q->gen || e->prov_best_window != s->window ||
		    e->prov_best != s->ppw_touched[t] || e->found_window == s->window ||
		    ports_held(&e->prov_ports) == 0)
			continue;
		w = port_walk_find(s, q->slot, q->port, q->proto);
		f = (struct safem_seqscan_finding){
			.shape = SAFEM_SEQSCAN_HORIZONTAL,
			.src = e->addr,
			.dst = q->last_dst,
			.port = q->port,
			.proto = q->proto,
			.failures = q->failures,
			.successes = e->prov_successes,
			.failures_run = q->walk.failures_run,
			.llr = q->walk.llr,
			.windows = (w != NULL ? w->finding_windows : 0) + 1,
		};
		prov_finding_add(s, e, &f, false);
	}
}

/* findings_home_ports over the persisted ring and sources plus this window's scratch
 * evidence, for ports without a finding in this window. */
static void
prov_findings_home_ports(struct safem_seqscan *s)
{
	uint32_t t;
	unsigned int i;

	for (t = 0; t < s->nphp_touched; t++) {
		const struct prov_home_port *q = &s->php[s->php_touched[t]];
		const struct home_port *h = home_port_find(s, q->port, q->proto, q->by_src);
		int64_t net = (int64_t)q->failures - q->successes;
		unsigned int sources = 0, windows = 1;
		struct safem_seqscan_finding f;

		if (h != NULL) {
			if (h->found_window == s->window)
				continue;
			for (i = 0; i < SAFEM_SEQSCAN_WORM_HORIZON_WINDOWS; i++)
				if (h->ring_window[i] != 0 &&
				    h->ring_window[i] + SAFEM_SEQSCAN_WORM_HORIZON_WINDOWS > s->window)
					net += (int64_t)h->ring_failures[i] - h->ring_successes[i];
			for (i = 0; i < HOME_PORT_SOURCES; i++)
				if (h->src_window[i] != 0 &&
				    h->src_window[i] + SAFEM_SEQSCAN_WORM_HORIZON_WINDOWS > s->window)
					sources++;
			if (h->found_window + 1 == s->window)
				windows = h->finding_windows + 1;
		}
		for (i = 0; i < q->nsrc; i++)
			if (h == NULL || !home_port_failed(s, h, &q->src[i]))
				sources++;
		if ((double)net * s->b.step_failure < s->b.log_eta1 ||
		    sources < SAFEM_SEQSCAN_WORM_SOURCES)
			continue;
		if (home_port_merge(s, q->proto, q->by_src, q->port, sources, h, q))
			continue;
		f = (struct safem_seqscan_finding){
			.shape = SAFEM_SEQSCAN_WORM,
			.src = q->last_src,
			.dst = q->last_dst,
			.port = q->by_src ? 0 : q->port,
			.proto = q->proto,
			.failures = q->failures,
			.successes = q->successes,
			.failures_run = (uint32_t)net,
			.llr = (double)net * s->b.step_failure,
			.windows = windows,
			.sources = sources,
			.provisional = true,
		};
		finding_add(s, &f);
	}
}

/* Window N's contacts (pending[cur]) decided provisionally against window N's answers. */
static void
provisional_window(struct safem_seqscan *s)
{
	const uint64_t *now = s->answers[s->cur];
	uint64_t mask = s->table_size - 1;
	const struct pending *c = s->pending[s->cur];
	uint32_t i, n = s->npending[s->cur];

	s->nprov_touched = s->nppw_touched = s->nphp_touched = s->nuprov_touched = 0;
	if (s->end_ms == 0)
		return; /* no times: the contacts wait for the next window only */
	for (i = 0; i < n; i++) {
		uint64_t answer = safem_trw_seen_get(now, mask, c[i].rev_hash);
		enum outcome o;

		if (c[i].proto == PROTO_UDP) {
			prov_udp(s, &c[i], answer, now, mask);
			continue;
		}
		/* a stealth probe fails answered by a RST or not at all: its outcome does not
		 * wait for the answer (only a conversation's answer without RST, which no stack
		 * gives a probe, would make it no evidence; the final decision still looks) */
		if (answer == 0 && !c[i].old && !stealth_probe(c[i].proto, c[i].own_flags)) {
			s->totals.provisional_young++;
			continue;
		}
		o = contact_outcome(c[i].proto, c[i].own_flags, c[i].own_flags, answer,
				    c[i].stream);
		if (o != OUTCOME_NONE)
			prov_decide(s, &c[i], o);
	}
	prov_findings_sources(s, false);
	prov_findings_port_walks(s);
	prov_findings_sources(s, true);
	if (s->php != NULL)
		prov_findings_home_ports(s);
}

int
safem_seqscan_window(struct safem_seqscan *s, const struct safem_profile_flow *const *seg,
		     const uint32_t *n, unsigned int nseg, bool judged, uint64_t end_ms)
{
	uint64_t mask, logged = 0;
	unsigned int g;
	uint32_t i;

	if (s == NULL || (nseg > 0 && (seg == NULL || n == NULL)))
		return -EINVAL;
	s->window++;
	s->totals.windows++;
	prior_publish(s);
	s->nfindings = 0;
	s->ntouched = 0;
	s->nutouched = 0;
	s->npw_touched = 0;
	s->nhp_touched = 0;
	s->end_ms = end_ms;
	for (g = 0; g < nseg; g++) {
		logged += n[g];
		for (i = 0; judged && i < n[g]; i++)
			if (seg[g][i].weight_shift != 0) /* surge-sampled: answers sampled apart */
				judged = false;
	}
	if (logged > s->p.pane_flows)
		judged = false;
	s->cur = !s->cur;
	s->npending[s->cur] = 0;
	mask = s->table_size - 1;
	memset(s->answers[s->cur], 0, s->table_size * sizeof(*s->answers[s->cur]));
	if (!judged) {
		const struct pending *c = s->pending[!s->cur];

		s->totals.windows_skipped++;
		for (i = 0; i < s->npending[!s->cur]; i++) {
			/* each use of a contact drops its own: a UDP contact is the home port
			 * evidence's, its walks', or both */
			if (c[i].proto != PROTO_UDP || c[i].home_udp)
				s->totals.undecided++;
			if (c[i].proto == PROTO_UDP && c[i].udp_walk)
				s->totals.udp_walk_undecided++;
		}
		s->npending[!s->cur] = 0;
		s->prev_judged = false;
		return 0;
	}
	/* one hash a flow: its answer entry, and its stage 1 (which reads only the previous
	 * window's answers, so it can run while this window's are added) */
	for (g = 0; g < nseg; g++)
		for (i = 0; i < n[g]; i += AHEAD) { /* a batch's hashes first, slots fetched */
			uint64_t h[AHEAD];
			uint32_t j, m = n[g] - i < AHEAD ? n[g] - i : AHEAD;

			for (j = 0; j < m; j++) {
				h[j] = answer_hash(&seg[g][i + j].key);
				__builtin_prefetch(&s->answers[s->cur][h[j] & mask]);
			}
			for (j = 0; j < m; j++) {
				safem_trw_seen_add(s->answers[s->cur], mask, h[j],
						   seg[g][i + j].tcp_flags);
				collect_candidate(s, &seg[g][i + j], h[j]);
			}
		}
	if (s->prev_judged)
		decide_pending(s);
	/* before the new contacts: they may take the slot of a source flagged now */
	findings_collect(s);
	collect_contacts(s);
	/* after the final findings: a source found with the persisted walks is not found twice */
	provisional_window(s);
	s->prev_judged = true;
	return 0;
}

unsigned int
safem_seqscan_findings(const struct safem_seqscan *s, const struct safem_seqscan_finding **out)
{
	*out = s->findings;
	return s->nfindings;
}

void
safem_seqscan_totals(const struct safem_seqscan *s, struct safem_seqscan_totals *t)
{
	*t = s->totals;
}
