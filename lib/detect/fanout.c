/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Sampled fan-out test (docs/detection.md, "Sampled links: evidence over windows (session
 * 10)"). Under 1-in-N packet sampling an answer is sampled apart from its probe, so the
 * sequential tests (lib/seqscan, lib/victim, lib/brute) judge no sampled window. What
 * survives sampling is the probe itself: a scan's probe is a flow of one packet to a target
 * of its own, seen with p = 1/N, so a source probing k targets a window shows ~k/N distinct
 * targets among its sampled flows, while a client's sampled flows fall on its few servers.
 * Per source, the count of distinct sampled targets a window is kept for SAFEM_FANOUT_RING
 * windows and the sums over the last 1, 2, 4 and 8 are tested against the source's own
 * learnt peak a window.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "detect_private.h"
#include "safem_profile.h"
#include "safem_trw.h"

#define TCP_SYN 0x02
#define TCP_ACK 0x10
#define PROTO_TCP 6
#define PROTO_UDP 17
/* Slots looked at from a source's hash before the stalest of them is taken. */
#define PROBE_RUN 16
/* A worm: this many sources flagged on one port within the ring. */
#define WORM_SOURCES 2

/* One sampled first-contact flow; compared whole (memcmp), so no padding is left unset. */
struct contact {
	uint8_t ip_version;
	uint8_t src[16];
	uint8_t dst[16];
	uint8_t port[2]; /* big-endian: ports sort in order within a destination */
	uint8_t proto;
	uint8_t version; /* of dst: an aggregate's dst is a source address */
};

/* Whose targets a slot counts: one source's (ip_version 4 or 6 in the key), or the home
 * sources' together, per destination port or per source port (a key of their own). */
enum kind { KIND_SOURCE, KIND_DPORT = 0xd0, KIND_SPORT = 0x50 };

/* One window of a source. */
struct mark {
	uint64_t serial;   /* window serial + 1; 0: empty */
	uint32_t targets;  /* distinct (destination, port, protocol) */
	uint32_t top_dst;  /* targets of its destination with the most */
	uint32_t top_port; /* targets on its port with the most */
	uint32_t dsts;     /* distinct destinations (an aggregate's: sources) */
	uint16_t port;     /* that port */
};

struct slot {
	bool used;
	uint8_t src[16];
	uint8_t ip_version;
	uint8_t proto; /* of its newest contact */
	uint64_t last;	/* serial of its newest window with targets */
	uint32_t peak;	/* learnt: most targets of a window that left the ring */
	uint8_t dst[16]; /* newest window's destination with the most targets */
	uint8_t dst_version;
	struct mark ring[SAFEM_FANOUT_RING];
};

/* A source flagged horizontally, for the worm rule. */
struct flagged {
	uint64_t serial;
	uint8_t src[16];
	uint16_t port;
};

struct safem_fanout {
	struct safem_fanout_params p;
	unsigned int mask;
	struct slot *slot;
	struct contact *contact;
	uint32_t *port_count; /* 65536 counters, zero between sources */
	uint64_t serial;
	struct flagged recent[SAFEM_FANOUT_RING * SAFEM_FANOUT_FINDINGS_MAX];
	unsigned int recent_next;
	struct safem_detect_finding finding[SAFEM_FANOUT_FINDINGS_MAX];
	unsigned int nfindings;
	struct safem_fanout_totals totals;
};

struct safem_fanout *
safem_fanout_create(const struct safem_fanout_params *p)
{
	struct safem_fanout *f;
	unsigned int size = 1;

	if (p == NULL || p->pane_flows == 0) {
		errno = EINVAL;
		return NULL;
	}
	while (size < (p->sources != 0 ? p->sources : SAFEM_FANOUT_SOURCES_DEFAULT))
		size <<= 1;
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	f->p = *p;
	f->mask = size - 1;
	f->slot = calloc(size, sizeof(*f->slot));
	f->contact = calloc(p->pane_flows, sizeof(*f->contact));
	f->port_count = calloc(65536, sizeof(*f->port_count));
	if (f->slot == NULL || f->contact == NULL || f->port_count == NULL) {
		safem_fanout_free(f);
		errno = ENOMEM;
		return NULL;
	}
	return f;
}

void
safem_fanout_free(struct safem_fanout *f)
{
	if (f == NULL)
		return;
	free(f->slot);
	free(f->contact);
	free(f->port_count);
	free(f);
}

static int
contact_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct contact));
}

/* seeds of the project's hash (lib/trw): a slot's place, a target's digest */
#define SEED_SLOT UINT64_C(0x9e3779b97f4a7c15)
#define SEED_TARGET UINT64_C(0xc2b2ae3d27d4eb4f)

static uint32_t
src_hash(const uint8_t src[16])
{
	uint64_t h = safem_trw_words_hash(src, 2, SEED_SLOT);

	return (uint32_t)(h ^ h >> 32);
}

/* The source's slot: its own, a free or idle one, else the stalest of its probe run. */
static struct slot *
slot_of(struct safem_fanout *f, const struct contact *c)
{
	uint32_t h = src_hash(c->src);
	struct slot *stalest = NULL, *s;

	for (unsigned int i = 0; i < PROBE_RUN; i++) {
		s = &f->slot[(h + i) & f->mask];
		if (s->used && s->ip_version == c->ip_version && memcmp(s->src, c->src, 16) == 0)
			return s;
		if (stalest == NULL || !s->used || (stalest->used && s->last < stalest->last))
			stalest = s;
	}
	if (stalest->used && stalest->last + SAFEM_FANOUT_RING >= f->serial)
		f->totals.sources_evicted++;
	memset(stalest, 0, sizeof(*stalest));
	stalest->used = true;
	memcpy(stalest->src, c->src, 16);
	stalest->ip_version = c->ip_version;
	return stalest;
}

/* Windows that left the ring are learnt and emptied: a horizon is never judged against its
 * own windows, and a source that keeps at it for longer than the ring (a server answering
 * many clients, flagged while the test did not know it) becomes its own normal. */
static void
slot_age(struct slot *s, uint64_t serial)
{
	for (unsigned int i = 0; i < SAFEM_FANOUT_RING; i++) {
		struct mark *m = &s->ring[i];

		if (m->serial == 0 || m->serial + SAFEM_FANOUT_RING > serial + 1)
			continue;
		if (m->targets > s->peak)
			s->peak = m->targets;
		memset(m, 0, sizeof(*m));
	}
}

static void
feature_value(const uint8_t *a, uint8_t ip_version, struct safem_feature_value *v)
{
	memset(v, 0, sizeof(*v));
	if (ip_version != 4) {
		memcpy(v->bytes, a, 16);
		return;
	}
	v->bytes[10] = 0xff; /* ::ffff:a.b.c.d, as lib/featdist */
	v->bytes[11] = 0xff;
	memcpy(&v->bytes[12], a, 4);
}

static bool
same_target(const struct contact *c, size_t i)
{
	return i > 0 && memcmp(&c[i], &c[i - 1], sizeof(*c)) == 0;
}

/* One source's contacts c[0..n) (sorted: by destination, then port): its window mark. The
 * port with the most targets is counted in f->port_count, left zeroed again. */
static struct mark
source_mark(struct safem_fanout *f, const struct contact *c, size_t n, const uint8_t **top_dst)
{
	struct mark m = {.serial = f->serial + 1};
	uint32_t run = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		uint16_t port = (uint16_t)(c[i].port[0] << 8 | c[i].port[1]);

		if (same_target(c, i))
			continue;
		m.targets++;
		run = i > 0 && memcmp(c[i].dst, c[i - 1].dst, 16) == 0 ? run + 1 : 1;
		m.dsts += run == 1;
		if (run > m.top_dst) {
			m.top_dst = run;
			*top_dst = c[i].dst;
		}
		if (++f->port_count[port] > m.top_port) {
			m.top_port = f->port_count[port];
			m.port = port;
		}
	}
	for (i = 0; i < n; i++)
		f->port_count[c[i].port[0] << 8 | c[i].port[1]] = 0;
	return m;
}

/* ln P of the strongest horizon of s at serial, its window count and the sums. */
static double
slot_test(const struct slot *s, uint64_t serial, unsigned int *windows, struct mark *sum)
{
	double rate = fmax(SAFEM_FANOUT_FLOOR, (double)s->peak), best = 0;
	const struct mark *now = &s->ring[serial % SAFEM_FANOUT_RING];

	if (now->serial != serial + 1 || now->targets < SAFEM_FANOUT_NOW_MIN ||
	    detect_poisson_log_tail(now->targets, rate) > log(SAFEM_FANOUT_NOW_LEVEL))
		return 0; /* not going on now */
	for (unsigned int m = 1; m <= SAFEM_FANOUT_RING; m *= 2) {
		struct mark t = {0};
		double lp;

		for (unsigned int i = 0; i < m && i <= serial; i++) {
			const struct mark *k = &s->ring[(serial - i) % SAFEM_FANOUT_RING];

			if (k->serial != serial - i + 1)
				continue;
			t.targets += k->targets;
			t.top_dst += k->top_dst;
			if (k->port == now->port)
				t.top_port += k->top_port;
		}
		lp = detect_poisson_log_tail(t.targets, rate * m);
		if (lp < best) {
			best = lp;
			*windows = m;
			*sum = t;
		}
	}
	return best;
}

static bool
aggregate(const struct slot *s)
{
	return s->ip_version == KIND_DPORT || s->ip_version == KIND_SPORT;
}

static bool
in_home(const struct safem_fanout *f, const struct safem_feature_value *v)
{
	return f->p.home == NULL || f->p.home->count == 0 || safem_home_contains(f->p.home, v);
}

/* Sources flagged horizontally on d's port within the ring, d's own included (the worm
 * rule); each counted once. */
static unsigned int
worm_sources(const struct safem_fanout *f, const struct safem_detect_finding *d)
{
	const unsigned int nr = sizeof(f->recent) / sizeof(f->recent[0]);
	unsigned int k = 1, i, j;

	for (i = 0; i < nr; i++) {
		const struct flagged *r = &f->recent[i];

		if (r->serial == 0 || r->serial + SAFEM_FANOUT_RING <= f->serial + 1 ||
		    r->port != d->port || memcmp(r->src, d->address.bytes, 16) == 0)
			continue;
		for (j = 0; j < i; j++)
			if (f->recent[j].serial != 0 &&
			    f->recent[j].serial + SAFEM_FANOUT_RING > f->serial + 1 &&
			    f->recent[j].port == d->port &&
			    memcmp(f->recent[j].src, r->src, 16) == 0)
				break;
		k += j == i;
	}
	return k;
}

static void
finding_add(struct safem_fanout *f, struct slot *s, double lp, unsigned int windows,
	    const struct mark *sum)
{
	const struct mark *now = &s->ring[f->serial % SAFEM_FANOUT_RING];
	struct safem_detect_finding d = {
		.direction = SAFEM_DIR_ALL,
		.proto = s->proto,
		.test = "sampled_fanout",
		.evidence = now->targets,
		.evidence_run = sum->targets,
		.llr = -lp,
		.windows = windows,
		.sources = 1,
	};
	unsigned int i;

	if (aggregate(s)) {
		/* home sources together: named by the one with the most targets; one of them
		 * holding 3/4 of the targets sweeps alone, else they are a worm */
		feature_value(s->dst, s->dst_version, &d.address);
		d.port = s->ip_version == KIND_DPORT ? (uint16_t)(s->src[0] << 8 | s->src[1]) : 0;
		d.proto = s->src[2];
		d.sources = now->dsts;
		d.cls = 4u * sum->top_dst >= 3u * sum->targets || now->dsts < WORM_SOURCES
				? SAFEM_CLASS_HORIZONTAL_SCAN
				: SAFEM_CLASS_WORM;
		goto add;
	}
	feature_value(s->src, s->ip_version, &d.address);
	/* horizontal: the target only gives the finding its direction */
	feature_value(s->dst, s->ip_version, &d.target);
	/* one destination holds 3/4 of the targets: it is scanned; else one port does: a
	 * sweep of it; else many of both (a worm's random probes) */
	if (4u * sum->top_dst >= 3u * sum->targets) {
		d.cls = SAFEM_CLASS_VERTICAL_SCAN;
		d.has_target = true;
	} else {
		d.cls = SAFEM_CLASS_HORIZONTAL_SCAN;
		d.port = 4u * sum->top_port >= 3u * sum->targets ? now->port : 0;
		/* a worm's hosts share the port they probe; port 0 is "many ports", which two
		 * unrelated sweeps share too (a worm of random ports is the source-port aggregate's) */
		if (d.port != 0 && in_home(f, &d.address)) {
			struct flagged *r = &f->recent[f->recent_next];

			f->recent_next = (f->recent_next + 1) % (unsigned int)(sizeof(f->recent) /
									 sizeof(f->recent[0]));
			r->serial = f->serial + 1;
			memcpy(r->src, d.address.bytes, 16);
			r->port = d.port;
			d.sources = worm_sources(f, &d);
			if (d.sources >= WORM_SOURCES)
				d.cls = SAFEM_CLASS_WORM;
		}
	}
add:
	/* the strongest first; past the bound the weakest goes */
	if (f->nfindings == SAFEM_FANOUT_FINDINGS_MAX) {
		if (f->finding[f->nfindings - 1].llr >= d.llr)
			return;
		f->nfindings--;
	}
	for (i = f->nfindings; i > 0 && f->finding[i - 1].llr < d.llr; i--)
		f->finding[i] = f->finding[i - 1];
	f->finding[i] = d;
	f->nfindings++;
}

/* A 3-byte digest of a target for an aggregate's contact (port and protocol bytes). */
static void
digest3(const uint8_t *a, uint16_t port, uint8_t out[3])
{
	uint64_t h = safem_trw_mix64(safem_trw_words_hash(a, 2, SEED_TARGET) ^ port);

	out[0] = (uint8_t)h;
	out[1] = (uint8_t)(h >> 8);
	out[2] = (uint8_t)(h >> 16);
}

/* The window's first contacts as kind counts them, into f->contact; their number. */
static size_t
collect(struct safem_fanout *f, const struct safem_profile_flow *const *seg, const uint32_t *n,
	unsigned int segments, enum kind kind)
{
	size_t nc = 0;

	for (unsigned int g = 0; g < segments; g++)
		for (uint32_t k = 0; k < n[g] && nc < f->p.pane_flows; k++) {
			const struct safem_flow_key *key = &seg[g][k].key;
			struct contact *c = &f->contact[nc];
			uint16_t port = kind == KIND_SPORT ? key->src_port : key->dst_port;
			struct safem_feature_value v;
			uint8_t d[3];

			/* a first contact: a SYN without ACK, or UDP from an ephemeral port to a
			 * port (as lib/seqscan: a service's answers from its port are none) */
			if (!((key->proto == PROTO_UDP && key->src_port >= 1024 &&
			       key->dst_port != 0) ||
			      (key->proto == PROTO_TCP &&
			       (seg[g][k].tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN)))
				continue;
			/* by source port: UDP only (Witty's fixed port); home TCP clients' random
			 * source ports would each take a slot of the shared table */
			if (kind == KIND_SPORT && key->proto != PROTO_UDP)
				continue;
			memset(c, 0, sizeof(*c));
			c->proto = key->proto;
			if (kind == KIND_SOURCE) {
				c->ip_version = key->ip_version;
				memcpy(c->src, key->src_addr, 16);
				memcpy(c->dst, key->dst_addr, 16);
				c->port[0] = (uint8_t)(key->dst_port >> 8);
				c->port[1] = (uint8_t)key->dst_port;
				c->version = key->ip_version;
				nc++;
				continue;
			}
			feature_value(key->src_addr, key->ip_version, &v);
			if (f->p.home == NULL || f->p.home->count == 0 ||
			    !safem_home_contains(f->p.home, &v))
				continue; /* aggregates: home sources only (a worm's hosts) */
			c->ip_version = (uint8_t)kind;
			c->src[0] = (uint8_t)(port >> 8);
			c->src[1] = (uint8_t)port;
			c->src[2] = key->proto;
			/* the target: (source, destination[, its port]) */
			memcpy(c->dst, key->src_addr, 16);
			digest3(key->dst_addr, kind == KIND_SPORT ? key->dst_port : 0, d);
			memcpy(c->port, d, 2);
			c->proto = d[2];
			c->version = key->ip_version;
			nc++;
		}
	return nc;
}

/* The slots of kind's contacts: this window's marks, tests and findings. */
static void
judge(struct safem_fanout *f, size_t nc)
{
	size_t i, j;

	qsort(f->contact, nc, sizeof(*f->contact), contact_cmp);
	for (i = 0; i < nc; i = j) {
		const uint8_t *top_dst = f->contact[i].dst;
		struct slot *s;
		struct mark sum = {0};
		unsigned int windows = 0;
		double lp;

		for (j = i + 1; j < nc && f->contact[j].ip_version == f->contact[i].ip_version &&
				memcmp(f->contact[j].src, f->contact[i].src, 16) == 0;
		     j++)
			;
		s = slot_of(f, &f->contact[i]);
		slot_age(s, f->serial);
		s->ring[f->serial % SAFEM_FANOUT_RING] =
			source_mark(f, &f->contact[i], j - i, &top_dst);
		memcpy(s->dst, top_dst, 16);
		s->dst_version = f->contact[i].version;
		s->proto = f->contact[j - 1].proto;
		s->last = f->serial;
		lp = slot_test(s, f->serial, &windows, &sum);
		if (lp < log(SAFEM_FANOUT_LEVEL))
			finding_add(f, s, lp, windows, &sum);
	}
}

int
safem_fanout_window(struct safem_fanout *f, const struct safem_profile_flow *const *seg,
		    const uint32_t *n, unsigned int segments, uint32_t sample_rate, bool complete)
{
	static const enum kind kinds[] = {KIND_SOURCE, KIND_DPORT, KIND_SPORT};
	size_t nc;

	if (f == NULL || (segments > 0 && (seg == NULL || n == NULL)))
		return -EINVAL;
	f->serial++;
	f->totals.windows++;
	f->nfindings = 0;
	if (sample_rate <= 1 || !complete)
		return 0;
	f->totals.windows_judged++;
	for (unsigned int k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		nc = collect(f, seg, n, segments, kinds[k]);
		if (kinds[k] == KIND_SOURCE)
			f->totals.contacts += nc;
		judge(f, nc);
	}
	f->totals.findings += f->nfindings;
	return (int)f->nfindings;
}

unsigned int
safem_fanout_findings(const struct safem_fanout *f, const struct safem_detect_finding **out)
{
	*out = f->finding;
	return f->nfindings;
}

void
safem_fanout_totals(const struct safem_fanout *f, struct safem_fanout_totals *t)
{
	*t = f->totals;
}
