/* SPDX-License-Identifier: BSD-3-Clause */
/* Threshold Random Walk over the windows' flow logs (safem_seqscan.h; docs/detection.md,
 * "Sequential scan test (TRW)"). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "safem_seqscan.h"

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

#define PROTO_ICMP 1
#define PROTO_TCP 6
#define PROTO_ICMPV6 58
/* echo request / reply as the flow key's dst_port (type << 8 | code) */
#define ICMP_ECHO_REQUEST (8u << 8)
#define ICMP_ECHO_REPLY 0u
#define ICMPV6_ECHO_REQUEST (128u << 8)
#define ICMPV6_ECHO_REPLY (129u << 8)

/* A horizontal scan's few ports: PORT_COUNTERS of them hold at least 3/4 of its failures
 * (as the detector's transit scan rule, classify.c TRANSIT_SCAN_PORTS: a sweep holds 1.0,
 * bg_ndpi's Gnutella host reaching peers on their own ports 0.5-0.65). Four counters: a
 * Mirai-like worm probes 23, 2323 and a few more. */
#define PORT_COUNTERS 4
#define PORTS_HELD_NUM 3
#define PORTS_HELD_DEN 4

/* IANA system ports: where services listen */
#define SERVICE_PORTS 1024

#define WAYS 4
/* Bloom filters per source: BLOOM_BITS bits, BLOOM_HASHES probes. Cleared after
 * BLOOM_INSERTS insertions: at that load a new destination is taken for a known one with
 * probability (1 - e^(-3 * 128 / 1024))^3 = 3 %; a cleared filter only makes old
 * destinations count once more. */
#define BLOOM_BITS 1024
#define BLOOM_WORDS (BLOOM_BITS / 64)
#define BLOOM_HASHES 3
#define BLOOM_INSERTS 128

/* answer table entries: the key hash with its low byte replaced by the OR of TCP flags; bit
 * 8 always set so that 0 means empty */
#define ENTRY_PRESENT 0x100ull
#define ENTRY_FLAGS 0xffull

/* observation kinds of a first contact */
#define KIND_HORIZONTAL 1 /* first contact to this destination address */
#define KIND_VERTICAL 2   /* a new port of an address contacted before */

struct walk {
	double llr;
	uint32_t failures_run;
	bool flagged;
};

struct source {
	struct safem_feature_value addr;
	bool used;
	uint8_t ip_version;
	uint32_t gen;         /* bumped when the slot changes hands: pending contacts check it */
	uint64_t last_window; /* last window it made a contact in */
	struct walk walk[2];  /* [0] horizontal, [1] vertical */
	uint16_t bloom_inserts;
	/* Misra-Gries summary of the destination ports of the horizontal walk's failures:
	 * PORT_COUNTERS counters, over port_failures failures */
	uint16_t port[PORT_COUNTERS];
	uint32_t port_count[PORT_COUNTERS];
	uint32_t port_failures;
	/* this window's decisions */
	uint64_t window_id;
	uint32_t window_failures[2], window_successes;
	unsigned int finding_windows;
	uint8_t last_proto[2];			 /* [walk] of its last failed contact */
	struct safem_feature_value last_dst[2]; /* [walk] */
	uint64_t bloom_dst[BLOOM_WORDS];
	uint64_t bloom_pair[BLOOM_WORDS];
};

struct pending {
	uint64_t rev_hash, own_hash;
	const struct safem_profile_flow *flow; /* while collected (stage 1 to 2) */
	uint32_t slot, gen;
	struct safem_feature_value dst;
	uint16_t dst_port;
	uint8_t proto, own_flags, kind;
};

/* a flagged horizontal scanner and the port its failed contacts went to */
struct flagged_port {
	struct safem_feature_value src;
	uint64_t window;
	uint16_t port;
	bool home;
};
#define FLAGGED_RING 64

struct safem_seqscan {
	struct safem_seqscan_params p;
	double step_failure, step_success, log_eta1, log_eta0;
	uint32_t nsources; /* power of 2, multiple of WAYS */
	struct source *src;
	uint64_t table_size; /* power of 2 >= 2 pane_flows */
	uint64_t *answers[2]; /* [cur] this window, [!cur] the previous one */
	struct pending *pending[2];
	uint32_t npending[2];
	unsigned int cur;
	bool prev_judged;
	uint64_t window;
	uint32_t *touched; /* sources with a decision this window */
	uint32_t ntouched;
	struct flagged_port ring[FLAGGED_RING];
	unsigned int ring_next;
	struct safem_seqscan_finding findings[SAFEM_SEQSCAN_FINDINGS_MAX];
	unsigned int nfindings;
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
mix64(uint64_t x)
{
	/* splitmix64's finaliser: every input bit reaches every output bit */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static uint64_t
words_hash(const void *p, size_t words, uint64_t seed)
{
	const uint8_t *b = p;
	uint64_t h = seed, w;
	size_t i;

	for (i = 0; i < words; i++) {
		memcpy(&w, b + 8 * i, 8);
		h = mix64(h ^ w);
	}
	return h;
}

static uint64_t
key_hash(const struct safem_flow_key *k)
{
	return words_hash(k, sizeof(*k) / 8, 0x9e3779b97f4a7c15ull);
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

static void
key_value(const uint8_t *a, uint8_t ip_version, struct safem_feature_value *v)
{
	memset(v, 0, sizeof(*v));
	if (ip_version == 4) {
		v->bytes[10] = v->bytes[11] = 0xff; /* ::ffff:a.b.c.d, as lib/featdist */
		memcpy(&v->bytes[12], a, 4);
	} else {
		memcpy(v->bytes, a, 16);
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
	while (size < 2ull * p->pane_flows)
		size *= 2;
	s->table_size = size;
	/* TRW (Jung et al., eq. 2-4): each observation multiplies the likelihood ratio by
	 * theta1/theta0 (success) or (1-theta1)/(1-theta0) (failure); eta1 = P_D/P_F,
	 * eta0 = (1-P_D)/(1-P_F) */
	s->step_success = log(SAFEM_SEQSCAN_THETA1 / SAFEM_SEQSCAN_THETA0);
	s->step_failure = log((1 - SAFEM_SEQSCAN_THETA1) / (1 - SAFEM_SEQSCAN_THETA0));
	s->log_eta1 = log(SAFEM_SEQSCAN_PD / SAFEM_SEQSCAN_PF);
	s->log_eta0 = log((1 - SAFEM_SEQSCAN_PD) / (1 - SAFEM_SEQSCAN_PF));
	s->src = calloc(n, sizeof(*s->src));
	s->touched = calloc(p->pane_flows, sizeof(*s->touched));
	for (unsigned int i = 0; i < 2; i++) {
		s->answers[i] = calloc(size, sizeof(*s->answers[i]));
		s->pending[i] = calloc(p->pane_flows, sizeof(*s->pending[i]));
	}
	if (s->src == NULL || s->touched == NULL || s->answers[0] == NULL ||
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
	for (unsigned int i = 0; i < 2; i++) {
		free(s->answers[i]);
		free(s->pending[i]);
	}
	free(s);
}

/* ---------------------------------------------------------------------- */
/* Answer tables: every flow of a window, by key hash, with its TCP flags   */

static void
answer_add(uint64_t *t, uint64_t mask, uint64_t h, uint8_t flags)
{
	uint64_t e = (h & ~ENTRY_FLAGS) | ENTRY_PRESENT, i = h & mask;

	for (;; i = (i + 1) & mask) {
		if (t[i] == 0) {
			t[i] = e | flags;
			return;
		}
		if ((t[i] & ~ENTRY_FLAGS) == e) {
			t[i] |= flags;
			return;
		}
	}
}

/* 0: no flow with that key; else ENTRY_PRESENT | its flags */
static uint64_t
answer_get(const uint64_t *t, uint64_t mask, uint64_t h)
{
	uint64_t e = (h & ~ENTRY_FLAGS) | ENTRY_PRESENT, i = h & mask;

	for (; t[i] != 0; i = (i + 1) & mask)
		if ((t[i] & ~ENTRY_FLAGS) == e)
			return ENTRY_PRESENT | (t[i] & ENTRY_FLAGS);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Sources                                                                  */

static bool
source_idle(const struct safem_seqscan *s, const struct source *e)
{
	return !e->used || e->last_window + s->p.idle_windows < s->window;
}

/* The slot of addr, taking one (an idle one, else the least recently active) when new. */
static uint32_t
source_get(struct safem_seqscan *s, const struct safem_feature_value *addr, uint8_t ip_version)
{
	uint32_t set = (uint32_t)(words_hash(addr, 2, 0x51ed270b27e1b1c5ull) &
				  (s->nsources / WAYS - 1)) * WAYS;
	uint32_t i, victim = set;

	bool found = false;

	for (i = set; i < set + WAYS && !found; i++)
		if (s->src[i].used && memcmp(&s->src[i].addr, addr, sizeof(*addr)) == 0) {
			if (!source_idle(s, &s->src[i]))
				return i;
			/* back after idle_windows without a contact: what its walks said then
			 * says nothing of now (a client flagged once would be flagged for ever,
			 * every later failed connection a finding); it starts over */
			victim = i;
			found = true;
		}
	for (i = set; i < set + WAYS && !found; i++) {
		if (source_idle(s, &s->src[i])) {
			victim = i;
			break;
		}
		if (s->src[i].last_window < s->src[victim].last_window)
			victim = i;
	}
	if (!source_idle(s, &s->src[victim]))
		s->totals.sources_evicted++;
	{
		struct source *e = &s->src[victim];
		uint32_t gen = e->gen + 1;

		memset(e, 0, sizeof(*e));
		e->gen = gen;
		e->used = true;
		e->addr = *addr;
		e->ip_version = ip_version;
	}
	return victim;
}

static void
bloom_positions(const void *key, size_t words, uint32_t pos[BLOOM_HASHES])
{
	uint64_t h = words_hash(key, words, 0x2545f4914f6cdd1dull);
	uint64_t h2 = mix64(h ^ 0x6a09e667f3bcc909ull) | 1;
	unsigned int k;

	for (k = 0; k < BLOOM_HASHES; k++)
		pos[k] = (uint32_t)((h + k * h2) % BLOOM_BITS);
}

static bool
bloom_has(const uint64_t *b, const uint32_t pos[BLOOM_HASHES])
{
	unsigned int k;

	for (k = 0; k < BLOOM_HASHES; k++)
		if (!(b[pos[k] / 64] & (1ull << (pos[k] % 64))))
			return false;
	return true;
}

static void
bloom_set(uint64_t *b, const uint32_t pos[BLOOM_HASHES])
{
	unsigned int k;

	for (k = 0; k < BLOOM_HASHES; k++)
		b[pos[k] / 64] |= 1ull << (pos[k] % 64);
}

/* ---------------------------------------------------------------------- */
/* Contacts and outcomes                                                    */

/* A flow that may be a first contact: from and to unicast addresses, and a TCP flow with a
 * SYN or an ICMP echo request. Not UDP: on the real backgrounds most unanswered UDP is no
 * probe (peer-to-peer clients contacting peers that left, QUIC and VPN clients whose
 * answers take another path, DNS to dead servers), and nothing in one datagram tells a
 * probe from those (docs/detection.md, "Sequential scan test (TRW)"); the paper's test is
 * on TCP connection attempts too. */
static bool
contact_candidate(const struct safem_flow_key *k, uint8_t tcp_flags)
{
	if (!safem_seqscan_unicast(k->src_addr, k->ip_version) ||
	    !safem_seqscan_unicast(k->dst_addr, k->ip_version))
		return false;
	switch (k->proto) {
	case PROTO_TCP:
		/* from a system port: a connection the other side asked for (FTP's active data
		 * connection from port 20), a server's SYN-ACK, or a privileged client (rsh),
		 * never a probe: scanners and clients open connections from ephemeral ports */
		return (tcp_flags & TCP_SYN) != 0 && k->src_port >= SERVICE_PORTS;
	case PROTO_ICMP:
		return k->ip_version == 4 && k->dst_port == ICMP_ECHO_REQUEST;
	case PROTO_ICMPV6:
		return k->ip_version == 6 && k->dst_port == ICMPV6_ECHO_REQUEST;
	default:
		return false;
	}
}

enum outcome { OUTCOME_NONE, OUTCOME_SUCCESS, OUTCOME_FAILURE };

/*
 * own: the contact's flags over both windows; answer: ENTRY_PRESENT | flags of the
 * reverse flow over both windows, or 0. TCP: a SYN-ACK back (or any answer without RST)
 * is a success, a RST alone or nothing back a failure; an initiator that sent ACK after
 * SYN while nothing came back is no evidence (the other direction is not on this link,
 * or this flow is itself the SYN-ACK of a server). UDP, ICMP echo: an answer is a success.
 */
static enum outcome
contact_outcome(uint8_t proto, uint8_t own, uint64_t answer)
{
	if (proto != PROTO_TCP)
		return answer != 0 ? OUTCOME_SUCCESS : OUTCOME_FAILURE;
	if (answer == 0)
		return (own & TCP_ACK) ? OUTCOME_NONE : OUTCOME_FAILURE;
	if (answer & TCP_SYN)
		return OUTCOME_SUCCESS;
	return (answer & TCP_RST) ? OUTCOME_FAILURE : OUTCOME_SUCCESS;
}

static void
walk_observe(struct safem_seqscan *s, struct walk *w, bool success)
{
	w->llr += success ? s->step_success : s->step_failure;
	if (!success)
		w->failures_run++;
	if (w->llr <= s->log_eta0) {
		/* benign: the test starts over */
		w->llr = 0;
		w->failures_run = 0;
		w->flagged = false;
	} else if (w->llr >= s->log_eta1) {
		if (!w->flagged)
			s->totals.sources_flagged++;
		w->flagged = true;
		/* a flagged source stays at the bound: as many net successes clear it as
		 * the test needed failures to flag it */
		w->llr = s->log_eta1;
	}
}

/* Misra-Gries: a port with a counter counts on; a new one takes a free counter, else every
 * counter loses one (and so does the new port): the counters keep every port with more than
 * 1/(PORT_COUNTERS + 1) of the failures, and their sum is what the few ports hold. */
static void
port_count_add(struct source *e, uint16_t port)
{
	unsigned int i, free_slot = PORT_COUNTERS;

	e->port_failures++;
	for (i = 0; i < PORT_COUNTERS; i++) {
		if (e->port_count[i] != 0 && e->port[i] == port) {
			e->port_count[i]++;
			return;
		}
		if (e->port_count[i] == 0 && free_slot == PORT_COUNTERS)
			free_slot = i;
	}
	if (free_slot < PORT_COUNTERS) {
		e->port[free_slot] = port;
		e->port_count[free_slot] = 1;
		return;
	}
	for (i = 0; i < PORT_COUNTERS; i++)
		e->port_count[i]--;
}

/* The port most horizontal failures went to when a few ports (PORT_COUNTERS) hold at least
 * PORTS_HELD_NUM/PORTS_HELD_DEN of them (a scan of a service or a few), else 0 (failures
 * spread over as many ports as hosts: a peer-to-peer client reaching peers on their own
 * ports). */
static uint16_t
port_held(const struct source *e)
{
	uint64_t held = 0;
	unsigned int i, best = 0;

	for (i = 0; i < PORT_COUNTERS; i++) {
		held += e->port_count[i];
		if (e->port_count[i] > e->port_count[best])
			best = i;
	}
	if (held == 0 || PORTS_HELD_DEN * held < PORTS_HELD_NUM * (uint64_t)e->port_failures)
		return 0;
	return e->port[best];
}

static void
decide(struct safem_seqscan *s, const struct pending *c, uint64_t answer, uint8_t own)
{
	enum outcome o = contact_outcome(c->proto, own, answer);
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
		s->touched[s->ntouched++] = c->slot; /* at most one per pending contact */
	}
	walk_observe(s, &e->walk[wi], o == OUTCOME_SUCCESS);
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
		port_count_add(e, c->dst_port);
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
		uint64_t answer = answer_get(prev, mask, c[i].rev_hash) |
				  answer_get(now, mask, c[i].rev_hash);
		uint8_t own = c[i].own_flags |
			      (uint8_t)(answer_get(now, mask, c[i].own_hash) & ENTRY_FLAGS);

		decide(s, &c[i], answer, own);
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

	if (!contact_candidate(&f->key, f->tcp_flags))
		return;
	reverse_key(&f->key, &rev);
	rev_hash = key_hash(&rev);
	/* the answer to a flow of the previous window (a reply that fell into this one) is
	 * no contact of its own */
	if (s->prev_judged && answer_get(s->answers[!s->cur], s->table_size - 1, rev_hash) != 0)
		return;
	c = &s->pending[s->cur][s->npending[s->cur]++];
	memset(c, 0, sizeof(*c));
	c->rev_hash = rev_hash;
	c->own_hash = own_hash;
	c->flow = f;
	c->own_flags = f->tcp_flags;
}

/* The order contacts are judged in: by key hash, then flags. The flow log's order depends on
 * the number of workers (producer order); walks, filters and evictions must not. */
static int
candidate_order(const void *a, const void *b)
{
	const struct pending *x = a, *y = b;

	if (x->own_hash != y->own_hash)
		return x->own_hash < y->own_hash ? -1 : 1;
	return (int)x->own_flags - (int)y->own_flags;
}

/* Stage 2: keep c when it is a first contact of its source (to a new address, or a new port
 * of a known one); false: drop it. */
static bool
first_contact(struct safem_seqscan *s, struct pending *c)
{
	const struct safem_flow_key *k = &c->flow->key;
	struct safem_feature_value src, dst;
	struct source *e;
	uint32_t slot, pos_dst[BLOOM_HASHES], pos_pair[BLOOM_HASHES];
	struct {
		struct safem_feature_value dst;
		uint16_t port;
		uint8_t proto, pad[5];
	} pair;
	bool new_dst, new_pair;

	key_value(k->src_addr, k->ip_version, &src);
	key_value(k->dst_addr, k->ip_version, &dst);
	slot = source_get(s, &src, k->ip_version);
	e = &s->src[slot];
	e->last_window = s->window;
	memset(&pair, 0, sizeof(pair));
	pair.dst = dst;
	pair.proto = k->proto;
	pair.port = k->proto == PROTO_TCP ? k->dst_port : 0;
	bloom_positions(&dst, sizeof(dst) / 8, pos_dst);
	bloom_positions(&pair, sizeof(pair) / 8, pos_pair);
	new_dst = !bloom_has(e->bloom_dst, pos_dst);
	new_pair = !bloom_has(e->bloom_pair, pos_pair);
	if (!new_dst && !new_pair)
		return false;
	if (e->bloom_inserts >= BLOOM_INSERTS) {
		memset(e->bloom_dst, 0, sizeof(e->bloom_dst));
		memset(e->bloom_pair, 0, sizeof(e->bloom_pair));
		e->bloom_inserts = 0;
	}
	bloom_set(e->bloom_dst, pos_dst);
	bloom_set(e->bloom_pair, pos_pair);
	e->bloom_inserts++;
	c->flow = NULL; /* the log is gone by the decision */
	c->slot = slot;
	c->gen = e->gen;
	c->dst = dst;
	c->dst_port = pair.port;
	c->proto = k->proto;
	c->kind = new_dst ? KIND_HORIZONTAL : KIND_VERTICAL;
	return true;
}

/* Stage 2 over the candidates of stage 1, in an order that does not depend on the log's. */
static void
collect_contacts(struct safem_seqscan *s)
{
	struct pending *c = s->pending[s->cur];
	uint32_t i, kept = 0;

	qsort(c, s->npending[s->cur], sizeof(*c), candidate_order);
	for (i = 0; i < s->npending[s->cur]; i++)
		if (first_contact(s, &c[i]))
			c[kept++] = c[i];
	s->npending[s->cur] = kept;
	s->totals.contacts += kept;
}

/* ---------------------------------------------------------------------- */
/* Findings                                                                 */

static bool
ring_match(const struct flagged_port *r, uint16_t port)
{
	return r->window != 0 && r->port == port;
}

/* Distinct home sources flagged on this port within the worm horizon. */
static unsigned int
worm_sources(struct safem_seqscan *s, uint16_t port, bool home)
{
	unsigned int i, j, n = 0;
	bool counted[FLAGGED_RING] = {false};

	if (!home)
		return 0;
	for (i = 0; i < FLAGGED_RING; i++) {
		const struct flagged_port *r = &s->ring[i];

		if (counted[i] || !r->home || !ring_match(r, port) ||
		    r->window + SAFEM_SEQSCAN_WORM_HORIZON_WINDOWS <= s->window)
			continue;
		/* distinct sources only */
		for (j = i; j < FLAGGED_RING; j++)
			if (memcmp(&s->ring[j].src, &r->src, sizeof(r->src)) == 0)
				counted[j] = true;
		n++;
	}
	return n;
}

static void
ring_note(struct safem_seqscan *s, const struct source *e, uint16_t port, bool home)
{
	unsigned int i;

	for (i = 0; i < FLAGGED_RING; i++)
		if (ring_match(&s->ring[i], port) &&
		    memcmp(&s->ring[i].src, &e->addr, sizeof(e->addr)) == 0) {
			s->ring[i].window = s->window;
			return;
		}
	s->ring[s->ring_next] = (struct flagged_port){e->addr, s->window, port, home};
	s->ring_next = (s->ring_next + 1) % FLAGGED_RING;
}

static void
findings_collect(struct safem_seqscan *s)
{
	bool any_home = s->p.home != NULL && s->p.home->count != 0;
	uint32_t t;
	unsigned int i;

	for (t = 0; t < s->ntouched; t++) {
		struct source *e = &s->src[s->touched[t]];
		struct safem_seqscan_finding f;
		unsigned int wi;
		uint16_t port;
		bool home;

		/* the walk that flagged it and failed again now; both: the one with more */
		if (e->walk[0].flagged && e->window_failures[0] > 0 &&
		    (!e->walk[1].flagged || e->window_failures[0] >= e->window_failures[1]))
			wi = 0;
		else if (e->walk[1].flagged && e->window_failures[1] > 0)
			wi = 1;
		else
			continue;
		port = port_held(e);
		/* a horizontal scan probes many hosts on few ports: failures spread over many
		 * hosts and many ports (each peer at its own port) are a peer-to-peer client's
		 * contacts to peers that left */
		if (wi == 0 && port == 0)
			continue;
		e->finding_windows++;
		memset(&f, 0, sizeof(f));
		f.shape = wi == 0 ? SAFEM_SEQSCAN_HORIZONTAL : SAFEM_SEQSCAN_VERTICAL;
		f.src = e->addr;
		f.dst = e->last_dst[wi];
		f.port = wi == 0 ? port : 0;
		f.proto = e->last_proto[wi];
		f.failures = e->window_failures[wi];
		f.successes = e->window_successes;
		f.failures_run = e->walk[wi].failures_run;
		f.llr = e->walk[wi].llr;
		f.windows = e->finding_windows;
		if (wi == 0) {
			home = !any_home || safem_home_contains(s->p.home, &e->addr);
			ring_note(s, e, port, home);
			f.sources = worm_sources(s, port, home);
			if (f.sources >= SAFEM_SEQSCAN_WORM_SOURCES)
				f.shape = SAFEM_SEQSCAN_WORM;
		}
		/* keep the SAFEM_SEQSCAN_FINDINGS_MAX with the most failures, in that order */
		if (s->nfindings == SAFEM_SEQSCAN_FINDINGS_MAX &&
		    s->findings[s->nfindings - 1].failures >= f.failures)
			continue;
		if (s->nfindings < SAFEM_SEQSCAN_FINDINGS_MAX)
			s->nfindings++;
		for (i = s->nfindings - 1; i > 0 && s->findings[i - 1].failures < f.failures; i--)
			s->findings[i] = s->findings[i - 1];
		s->findings[i] = f;
		s->totals.findings++;
	}
}

int
safem_seqscan_window(struct safem_seqscan *s, const struct safem_profile_flow *const *seg,
		     const uint32_t *n, unsigned int nseg, bool judged)
{
	uint64_t mask, logged = 0;
	unsigned int g;
	uint32_t i;

	if (s == NULL || (nseg > 0 && (seg == NULL || n == NULL)))
		return -EINVAL;
	s->window++;
	s->totals.windows++;
	s->nfindings = 0;
	s->ntouched = 0;
	for (g = 0; g < nseg; g++) {
		logged += n[g];
		for (i = 0; judged && i < n[g]; i++)
			if (seg[g][i].flows > 1) /* surge-sampled: answers sampled apart */
				judged = false;
	}
	if (logged > s->p.pane_flows)
		judged = false;
	s->cur = !s->cur;
	s->npending[s->cur] = 0;
	mask = s->table_size - 1;
	memset(s->answers[s->cur], 0, s->table_size * sizeof(*s->answers[s->cur]));
	if (!judged) {
		s->totals.windows_skipped++;
		s->totals.undecided += s->npending[!s->cur];
		s->npending[!s->cur] = 0;
		s->prev_judged = false;
		return 0;
	}
	/* one hash a flow: its answer entry, and its stage 1 (which reads only the previous
	 * window's answers, so it can run while this window's are added) */
	for (g = 0; g < nseg; g++)
		for (i = 0; i < n[g]; i++) {
			uint64_t h = key_hash(&seg[g][i].key);

			answer_add(s->answers[s->cur], mask, h, seg[g][i].tcp_flags);
			collect_candidate(s, &seg[g][i], h);
		}
	if (s->prev_judged)
		decide_pending(s);
	/* before the new contacts: they may take the slot of a source flagged now */
	findings_collect(s);
	collect_contacts(s);
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
