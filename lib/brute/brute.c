/* SPDX-License-Identifier: BSD-3-Clause */
/* Sequential password-guessing test over the windows' flow logs (safem_brute.h;
 * docs/detection.md, "Brute force at a few connections a window: sessions alike"). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_jhash.h>

#include "safem_brute.h"
#include "safem_seqscan.h"
#include "safem_trw.h"

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define PROTO_TCP 6

#define WAYS 4
/* An open session with no packet for this many windows is gone (its slot free): a guess
 * is a short exchange, a session quiet that long is no guess. */
#define SESSION_IDLE_WINDOWS 8
/* Packets each way a session may differ from one of its pair's recent sessions and still
 * be alike: one, a retransmission or the last ACK of the close falling either side of a
 * window's cut (the real nmap capture's guesses: 10-12 packets out, 9-10 back). */
#define ALIKE_PACKETS 1
/* Recent closed sessions of a pair a new one is compared with (alike to any of them): two.
 * A login's rounds vary (a prompt more, a refusal sent twice): one odd session between
 * two ordinary ones failed its own comparison and, compared with the previous session
 * only, the next ordinary one's too, so one odd attempt cost two steps of the walk and a
 * guesser whose rounds vary by two or three (gen-attacks' ssh shape, 3-6 rounds: 0.63 of
 * sessions alike their previous one, at the walk's midpoint 0.5) wandered instead of
 * crossing; against the last two, one odd session costs one step (0.84). Docs:
 * "Brute force: sessions alike, revisited (session 12)". */
#define ALIKE_REFS 2

enum { OUT = 0, BACK = 1 }; /* client to server, server to client */

struct session {
	uint64_t key;      /* hash of the client-to-server flow key; 0: free */
	uint64_t last_window;
	uint64_t close_window; /* first window with a FIN; 0: none yet */
	uint64_t begin_window; /* window of its first contribution */
	uint32_t packets[2];
	struct safem_flow_key flow; /* client to server: the pair is found when it closes */
	uint64_t touched_window; /* listed in this window's touched sessions */
	uint8_t flags[2];
	bool closing_listed;
};

struct pair {
	struct safem_feature_value client, server;
	uint16_t port;
	bool used, flagged;
	bool data; /* it had a session past the short bound: a client, for its life */
	uint64_t last_window;
	uint32_t ref[ALIKE_REFS][2]; /* packets each way of its last closed sessions, newest first */
	unsigned int nref;            /* of them known */
	double llr;
	uint32_t alike_run;
	uint32_t run_sessions; /* closed sessions since its walk (re)started, the first counted */
	uint64_t run_window;   /* window its walk (re)started in */
	unsigned int finding_windows;
	/* this window's observations */
	uint64_t window_id;
	uint32_t window_alike, window_sessions;
};

/* A session listed for judging. The lists are judged in a fixed order: whether a session is
 * alike depends on its pair's session judged before it, and the log's order depends on the
 * number of workers. The order is the flow key's with the client's port last, which for a
 * client taking ephemeral ports in sequence is the order it opened them. */
struct listed {
	const struct safem_flow_key *flow;
	uint32_t si;
};

static int
listed_order(const void *a, const void *b)
{
	const struct safem_flow_key *x = ((const struct listed *)a)->flow;
	const struct safem_flow_key *y = ((const struct listed *)b)->flow;
	int d = memcmp(x->src_addr, y->src_addr, sizeof(x->src_addr));

	if (d == 0)
		d = memcmp(x->dst_addr, y->dst_addr, sizeof(x->dst_addr));
	if (d == 0)
		d = (int)x->dst_port - (int)y->dst_port;
	if (d == 0)
		d = (int)x->src_port - (int)y->src_port;
	return d;
}

struct safem_brute {
	struct safem_brute_params p;
	struct safem_trw_bounds b; /* step_success: an alike session; step_failure: another */
	uint32_t npairs, nsessions; /* powers of 2, multiples of WAYS */
	struct pair *pair;
	struct session *sess;
	struct listed *touched; /* sessions with a packet this window */
	uint32_t ntouched;
	struct listed *closing[2]; /* [cur]: sessions that began closing this window */
	uint32_t nlisted; /* capacity of touched and of each closing list */
	uint32_t nclosing[2];
	unsigned int cur;
	uint32_t *window_pairs; /* pairs with an observation this window */
	uint32_t nwindow_pairs;
	uint64_t window;
	struct safem_brute_finding findings[SAFEM_BRUTE_FINDINGS_MAX];
	unsigned int nfindings;
	struct safem_brute_totals totals;
};

/* 64 bits of DPDK's Jenkins hash over len bytes (two 32-bit results of one pass): a session
 * is known by its hash alone, so it must not collide among the table's open sessions */
static uint64_t
bytes_hash(const void *p, uint32_t len, uint32_t seed)
{
	uint32_t lo = seed, hi = ~seed;

	rte_jhash_2hashes(p, len, &lo, &hi);
	return (uint64_t)hi << 32 | lo;
}

static uint32_t
round_ways(unsigned int want)
{
	uint32_t n = WAYS;

	while (n < want && n < (UINT32_C(1) << 30)) /* a wider request gets 2^30 slots */
		n *= 2;
	return n;
}

struct safem_brute *
safem_brute_create(const struct safem_brute_params *p)
{
	struct safem_brute *b;

	if (p == NULL || p->pane_flows == 0) {
		errno = EINVAL;
		return NULL;
	}
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return NULL;
	b->p = *p;
	if (b->p.idle_windows == 0)
		b->p.idle_windows = SAFEM_BRUTE_IDLE_WINDOWS_DEFAULT;
	b->npairs = round_ways(b->p.pairs != 0 ? b->p.pairs : SAFEM_BRUTE_PAIRS_DEFAULT);
	b->nsessions = round_ways(b->p.sessions != 0 ? b->p.sessions
						     : SAFEM_BRUTE_SESSIONS_DEFAULT);
	/* Wald's SPRT: an alike session multiplies the likelihood ratio by theta1/theta0, any
	 * other closed session by (1-theta1)/(1-theta0); eta1 = P_D/P_F, eta0 = (1-P_D)/(1-P_F)
	 * (lib/trw's bounds, the scan test's) */
	safem_trw_bounds_init(&b->b, SAFEM_BRUTE_THETA0, SAFEM_BRUTE_THETA1, SAFEM_BRUTE_PD,
			      SAFEM_BRUTE_PF);
	b->pair = calloc(b->npairs, sizeof(*b->pair));
	b->sess = calloc(b->nsessions, sizeof(*b->sess));
	/* a listed session is a slot of the session table, at most once a window */
	b->nlisted = p->pane_flows < b->nsessions ? p->pane_flows : b->nsessions;
	b->touched = calloc(b->nlisted, sizeof(*b->touched));
	/* a pair has an observation from a session touched now or closing since the last */
	b->window_pairs = calloc(2 * (size_t)b->nlisted, sizeof(*b->window_pairs));
	for (unsigned int i = 0; i < 2; i++)
		b->closing[i] = calloc(b->nlisted, sizeof(*b->closing[i]));
	if (b->pair == NULL || b->sess == NULL || b->touched == NULL || b->window_pairs == NULL ||
	    b->closing[0] == NULL || b->closing[1] == NULL) {
		safem_brute_free(b);
		errno = ENOMEM;
		return NULL;
	}
	return b;
}

void
safem_brute_free(struct safem_brute *b)
{
	if (b == NULL)
		return;
	free(b->pair);
	free(b->sess);
	free(b->touched);
	free(b->window_pairs);
	free(b->closing[0]);
	free(b->closing[1]);
	free(b);
}

/* ---------------------------------------------------------------------- */
/* Pairs                                                                    */

static bool
pair_idle(const struct safem_brute *b, const struct pair *e)
{
	return !e->used || e->last_window + b->p.idle_windows < b->window;
}

/* The slot of (client, server, port), with create taking one (an idle one, else the least
 * recently active, counted) when new; without, UINT32_MAX for a pair not active. A pair
 * back after idle_windows starts over. */
static uint32_t
pair_get(struct safem_brute *b, const struct safem_feature_value *client,
	 const struct safem_feature_value *server, uint16_t port, bool create)
{
	struct {
		struct safem_feature_value client, server;
		uint16_t port;
		uint16_t pad; /* to a whole number of 32-bit words: DPDK's jhash reads words */
	} key;
	uint32_t set, i, victim;
	struct pair *e;

	memset(&key, 0, sizeof(key)); /* the padding is hashed too */
	key.client = *client;
	key.server = *server;
	key.port = port;
	set = (uint32_t)(bytes_hash(&key, sizeof(key), 0x51ed270bu) & (b->npairs / WAYS - 1)) *
	      WAYS;
	victim = set;
	for (i = set; i < set + WAYS; i++) {
		e = &b->pair[i];
		if (e->used && e->port == port && memcmp(&e->client, client, sizeof(*client)) == 0 &&
		    memcmp(&e->server, server, sizeof(*server)) == 0) {
			if (!pair_idle(b, e))
				return i;
			if (!create)
				return UINT32_MAX;
			victim = i;
			goto take;
		}
	}
	if (!create)
		return UINT32_MAX;
	for (i = set; i < set + WAYS; i++) {
		if (pair_idle(b, &b->pair[i])) {
			victim = i;
			goto take;
		}
		if (b->pair[i].last_window < b->pair[victim].last_window)
			victim = i;
	}
	b->totals.pairs_evicted++;
take:
	e = &b->pair[victim];
	*e = (struct pair){
		.client = *client,
		.server = *server,
		.port = port,
		.used = true,
		.last_window = b->window,
		.run_window = b->window,
	};
	return victim;
}

/* ---------------------------------------------------------------------- */
/* Sessions                                                                 */

static bool
session_free(const struct safem_brute *b, const struct session *s)
{
	/* a SYN still unanswered in the window after its own is no session (below) */
	return s->key == 0 || s->last_window + SESSION_IDLE_WINDOWS < b->window ||
	       (!(s->flags[BACK] & TCP_SYN) && s->begin_window + 1 < b->window);
}

/* The open session of flow k (hash key), or with create a new one: a free slot, else one
 * whose SYN nobody answered (a flood's spoofed SYNs: forgotten at the end of the window
 * after their own anyway), else none (counted). A session with answers keeps its slot: evicting the long
 * sessions of a client for a flood's SYNs forgot the data they carried (a real background's
 * web client named a guesser in the test set's SYN flood mixes). UINT32_MAX: none. */
static uint32_t
session_get(struct safem_brute *b, uint64_t key, const struct safem_flow_key *k, bool create)
{
	uint32_t set = (uint32_t)(key & (b->nsessions / WAYS - 1)) * WAYS, i, victim = UINT32_MAX;

	for (i = set; i < set + WAYS; i++)
		if (b->sess[i].key == key && !session_free(b, &b->sess[i]) &&
		    memcmp(&b->sess[i].flow, k, sizeof(*k)) == 0)
			return i;
	if (!create)
		return UINT32_MAX;
	for (i = set; i < set + WAYS && victim == UINT32_MAX; i++)
		if (session_free(b, &b->sess[i]))
			victim = i;
	for (i = set; i < set + WAYS && victim == UINT32_MAX; i++)
		if (!(b->sess[i].flags[BACK] & TCP_SYN))
			victim = i;
	if (victim == UINT32_MAX || !session_free(b, &b->sess[victim]))
		b->totals.sessions_evicted++;
	if (victim == UINT32_MAX)
		return UINT32_MAX;
	b->sess[victim] = (struct session){.key = key, .flow = *k, .begin_window = b->window};
	return victim;
}

/* The client-to-server flow key of a contribution and its direction: the service port is
 * the lower one (system and registered ports sit below the ephemeral ranges, 32768 on
 * Linux, 49152 on Windows). false: not TCP between unicast addresses, or equal ports. */
static bool
orient(const struct safem_profile_flow *f, struct safem_flow_key *out, unsigned int *dir)
{
	const struct safem_flow_key *k = &f->key;

	if (k->proto != PROTO_TCP || k->src_port == k->dst_port ||
	    !safem_seqscan_unicast(k->src_addr, k->ip_version) ||
	    !safem_seqscan_unicast(k->dst_addr, k->ip_version))
		return false;
	*out = *k;
	*dir = k->src_port > k->dst_port ? OUT : BACK;
	if (*dir == BACK) {
		memcpy(out->src_addr, k->dst_addr, 16);
		memcpy(out->dst_addr, k->src_addr, 16);
		out->src_port = k->dst_port;
		out->dst_port = k->src_port;
	}
	return true;
}

/* One logged contribution: into its session (a new one only from a SYN). */
static void
add_flow(struct safem_brute *b, const struct safem_profile_flow *f)
{
	struct safem_flow_key k;
	unsigned int dir;
	uint32_t si;
	struct session *s;
	uint64_t key;

	if (!orient(f, &k, &dir))
		return;
	key = bytes_hash(&k, sizeof(k), 0x9e3779b9u) | 1; /* never 0 (free) */
	si = session_get(b, key, &k, (f->tcp_flags & TCP_SYN) != 0);
	if (si == UINT32_MAX)
		return; /* began before the test saw it, or forgotten: its size is unknown */
	s = &b->sess[si];
	if (s->last_window == 0 && s->packets[OUT] == 0 && s->packets[BACK] == 0)
		b->totals.sessions++;
	s->last_window = b->window;
	s->packets[dir] += (uint32_t)(f->packets > UINT32_MAX ? UINT32_MAX : f->packets);
	s->flags[dir] |= f->tcp_flags;
	if (s->touched_window != b->window && b->ntouched < b->nlisted) {
		s->touched_window = b->window;
		b->touched[b->ntouched++] = (struct listed){.flow = &s->flow, .si = si};
	}
}

/* Pair pi has an observation or an open session in this window: listed once. */
static void
window_pair(struct safem_brute *b, uint32_t pi)
{
	struct pair *pr = &b->pair[pi];

	if (pr->window_id != b->window) {
		pr->window_id = b->window;
		pr->window_alike = pr->window_sessions = 0;
		b->window_pairs[b->nwindow_pairs++] = pi;
	}
}

/* An answered short session still open that carried packets in this window (the sessions
 * the window's flow log lists: one quiet for a whole window is not seen): its pair, if flagged, is still
 * guessing (a finding needs no alike session closing now: at a few connections a window
 * that last several seconds, most windows close none). Only a pair the test already
 * knows; nothing of the walk changes. */
static void
note_open(struct safem_brute *b, const struct session *s)
{
	struct safem_feature_value client, server;
	uint32_t pi;

	if (!(s->flags[OUT] & TCP_SYN) ||
	    s->packets[OUT] + s->packets[BACK] > SAFEM_BRUTE_SHORT_PACKETS)
		return;
	safem_trw_addr_value(s->flow.src_addr, s->flow.ip_version, &client);
	safem_trw_addr_value(s->flow.dst_addr, s->flow.ip_version, &server);
	pi = pair_get(b, &client, &server, s->flow.dst_port, false);
	if (pi != UINT32_MAX && b->pair[pi].flagged)
		window_pair(b, pi);
}

/* A closed session: an observation of its pair's walk. */
static void
judge(struct safem_brute *b, uint32_t si)
{
	struct session *s = &b->sess[si];
	uint32_t total = s->packets[OUT] + s->packets[BACK];
	struct safem_feature_value client, server;
	uint32_t pi;
	struct pair *pr;
	unsigned int r;
	bool alike;

	safem_trw_addr_value(s->flow.src_addr, s->flow.ip_version, &client);
	safem_trw_addr_value(s->flow.dst_addr, s->flow.ip_version, &server);
	/* answered (the server's SYN-ACK) and begun here (the client's SYN); two hosts */
	if ((s->flags[OUT] & TCP_SYN) && (s->flags[BACK] & TCP_SYN) &&
	    memcmp(&client, &server, sizeof(client)) != 0) {
		pi = pair_get(b, &client, &server, s->flow.dst_port, true);
		pr = &b->pair[pi];
		alike = false;
		for (r = 0; r < pr->nref && !alike; r++)
			alike = s->packets[OUT] <= pr->ref[r][OUT] + ALIKE_PACKETS &&
				pr->ref[r][OUT] <= s->packets[OUT] + ALIKE_PACKETS &&
				s->packets[BACK] <= pr->ref[r][BACK] + ALIKE_PACKETS &&
				pr->ref[r][BACK] <= s->packets[BACK] + ALIKE_PACKETS;
		window_pair(b, pi);
		pr->last_window = b->window;
		pr->window_sessions++;
		b->totals.sessions_closed++;
		/* A session past the short bound carried data (a guesser only ever gets its
		 * refusal; one that got in has stopped guessing that pair): the pair is a client
		 * fetching or sending, no guesser while it stays active (idle_windows) */
		if (total > SAFEM_BRUTE_SHORT_PACKETS) {
			pr->data = true;
			pr->flagged = false;
		} else if (pr->nref > 0) { /* the first session is the reference, no observation */
			pr->run_sessions++;
			if (alike) {
				pr->window_alike++;
				pr->alike_run++;
				b->totals.alike++;
			}
			if (!pr->flagged && !pr->data) {
				pr->llr += alike ? b->b.step_success : b->b.step_failure;
				if (pr->llr >= b->b.log_eta1) {
					pr->flagged = true;
					b->totals.pairs_flagged++;
				} else if (pr->llr <= b->b.log_eta0) {
					pr->llr = 0;
					pr->alike_run = 0;
					pr->run_sessions = 0;
					pr->run_window = b->window;
				}
			}
		}
		memmove(pr->ref[1], pr->ref[0], (ALIKE_REFS - 1) * sizeof(pr->ref[0]));
		pr->ref[0][OUT] = s->packets[OUT];
		pr->ref[0][BACK] = s->packets[BACK];
		if (pr->nref < ALIKE_REFS)
			pr->nref++;
	}
	s->key = 0;
}

static int
finding_cmp(const void *x, const void *y)
{
	const struct safem_brute_finding *a = x, *c = y;

	int d;

	if (a->alike != c->alike)
		return a->alike > c->alike ? -1 : 1;
	if (a->alike_run != c->alike_run)
		return a->alike_run > c->alike_run ? -1 : 1;
	/* ties in a fixed order: client, server, port */
	d = memcmp(&a->client, &c->client, sizeof(a->client));
	if (d == 0)
		d = memcmp(&a->server, &c->server, sizeof(a->server));
	return d != 0 ? d : (int)a->port - (int)c->port;
}

static void
forget_sessions(struct safem_brute *b)
{
	for (uint32_t i = 0; i < b->nsessions; i++)
		b->sess[i].key = 0;
	b->nclosing[0] = b->nclosing[1] = 0;
}

int
safem_brute_window(struct safem_brute *b, const struct safem_profile_flow *const *seg,
		   const uint32_t *n, unsigned int nseg, bool judged)
{
	uint64_t total = 0;
	unsigned int i, prev;
	uint32_t j;

	if (b == NULL || (seg == NULL && nseg > 0))
		return -EINVAL;
	b->window++;
	b->totals.windows++;
	b->nfindings = 0;
	for (i = 0; i < nseg; i++) {
		total += n[i];
		for (j = 0; judged && j < n[i]; j++)
			if (seg[i][j].weight_shift != 0)
				judged = false; /* surge-weighted: packets are estimates */
	}
	if (!judged || total > b->p.pane_flows) {
		b->totals.windows_skipped++;
		forget_sessions(b);
		return 0;
	}
	b->ntouched = 0;
	b->nwindow_pairs = 0;
	prev = b->cur;
	b->cur ^= 1;
	b->nclosing[b->cur] = 0;
	for (i = 0; i < nseg; i++)
		for (j = 0; j < n[i]; j++)
			add_flow(b, &seg[i][j]);
	/* sessions that began closing in the window before: the last packets of the close
	 * fell into it or into this one; judged now */
	qsort(b->closing[prev], b->nclosing[prev], sizeof(*b->closing[prev]), listed_order);
	qsort(b->touched, b->ntouched, sizeof(*b->touched), listed_order);
	for (j = 0; j < b->nclosing[prev]; j++) {
		uint32_t si = b->closing[prev][j].si;

		if (b->sess[si].key != 0 && b->sess[si].close_window == b->window - 1)
			judge(b, si);
	}
	for (j = 0; j < b->ntouched; j++) {
		uint32_t si = b->touched[j].si;
		struct session *s = &b->sess[si];
		uint8_t any = s->flags[OUT] | s->flags[BACK];

		if (s->key == 0)
			continue;
		/* a SYN nobody answered in its window or the next is no session (a scan's probe,
		 * a flood's spoofed SYN): its slot is free again. The next window too: a SYN sent
		 * in the last round trip of a window is answered in the next one; its session was
		 * lost, the late answer starting none the walk could judge */
		if (!(s->flags[BACK] & TCP_SYN)) {
			if (s->begin_window < b->window)
				s->key = 0;
			continue;
		}
		if (!(any & (TCP_FIN | TCP_RST))) {
			note_open(b, s);
			continue;
		}
		/* both sides closed, or reset: complete now; one FIN: one window more */
		if ((any & TCP_RST) ||
		    ((s->flags[OUT] & TCP_FIN) && (s->flags[BACK] & TCP_FIN)))
			judge(b, si);
		else {
			if (s->close_window == 0) {
				s->close_window = b->window;
				b->closing[b->cur][b->nclosing[b->cur]++] =
					(struct listed){.flow = &s->flow, .si = si};
			}
			note_open(b, s);
		}
	}
	for (j = 0; j < b->nwindow_pairs; j++) {
		struct pair *pr = &b->pair[b->window_pairs[j]];
		struct safem_brute_finding *f;

		/* a timer's pace (a poller every few windows): fewer sessions than windows since
		 * the walk started (its reference session counted) */
		/* listed: it closed a session in this window or has one open (note_open) */
		if (!pr->flagged || pr->alike_run < SAFEM_BRUTE_ALIKE_MIN ||
		    pr->run_sessions + 1 < b->window - pr->run_window + 1)
			continue;
		if (b->nfindings == SAFEM_BRUTE_FINDINGS_MAX) {
			/* replace the weakest if this one is stronger */
			f = &b->findings[SAFEM_BRUTE_FINDINGS_MAX - 1];
			if (f->alike >= pr->window_alike)
				continue;
		} else {
			f = &b->findings[b->nfindings++];
		}
		/* counted once kept, as the scan and victim tests count theirs */
		pr->finding_windows++;
		b->totals.findings++;
		*f = (struct safem_brute_finding){
			.client = pr->client,
			.server = pr->server,
			.port = pr->port,
			.proto = PROTO_TCP,
			.alike = pr->window_alike,
			.sessions = pr->window_sessions,
			.alike_run = pr->alike_run,
			.llr = pr->llr,
			.windows = pr->finding_windows,
			.packets_out = pr->ref[0][OUT],
			.packets_back = pr->ref[0][BACK],
		};
		qsort(b->findings, b->nfindings, sizeof(b->findings[0]), finding_cmp);
	}
	return 0;
}

unsigned int
safem_brute_findings(const struct safem_brute *b, const struct safem_brute_finding **out)
{
	*out = b->findings;
	return b->nfindings;
}

void
safem_brute_totals(const struct safem_brute *b, struct safem_brute_totals *t)
{
	*t = b->totals;
}
