/* SPDX-License-Identifier: BSD-3-Clause */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <rte_errno.h>

#include "safem_featdist.h"
#include "safem_mem.h"

/*
 * Open addressing with linear probing at load <= 3/4. Each slot has a 32-bit
 * tag (0: empty) kept apart from the entries, so a probe compares tags in
 * one cache line before touching a 40-byte entry. The indices of the used
 * slots are kept in insertion order, so clear, merge and foreach cost the
 * number of values, not the table size (a pane is cleared every slide).
 */
struct featdist_entry {
	struct safem_feature_value value;
	struct safem_featdist_counts counts;
};

/*
 * The remainder's distinct values are estimated with HyperLogLog (Flajolet
 * et al. 2007) over 2^10 registers: relative standard error 1.04/sqrt(1024)
 * = 3.3 %, mergeable by register-wise max, 1 KB per distribution.
 */
#define HLL_BITS 10
#define HLL_REGISTERS (1u << HLL_BITS)

struct safem_featdist {
	uint32_t capacity;
	uint32_t mask;   /* slots - 1 */
	uint32_t values; /* used slots */
	uint32_t *tags;
	uint32_t *used;  /* slot indices, values of them */
	struct featdist_entry *entries;
	struct safem_featdist_counts total;
	struct safem_featdist_counts remainder;
	uint64_t observations; /* adds behind total (each flow once, whatever its weight) */
	uint8_t hll[HLL_REGISTERS];
	size_t memory_bytes; /* what create asked for, in --stats memory.distributions */
};

static const char *const direction_names[SAFEM_DIR_COUNT] = {"all", "in", "out", "internal"};
static const char *const feature_names[SAFEM_FEATURE_COUNT] = {"src_addr", "dst_addr", "src_port",
							       "dst_port"};
static const char *const weight_names[SAFEM_WEIGHT_COUNT] = {"flows", "packets", "bytes"};
static const char *const proto_names[SAFEM_PROTO_COUNT] = {"tcp_syn", "tcp", "udp", "icmp",
							   "other"};

const char *
safem_direction_name(enum safem_direction d)
{
	return (unsigned int)d < SAFEM_DIR_COUNT ? direction_names[d] : "?";
}

const char *
safem_feature_name(enum safem_feature f)
{
	return (unsigned int)f < SAFEM_FEATURE_COUNT ? feature_names[f] : "?";
}

const char *
safem_weight_name(enum safem_weight w)
{
	return (unsigned int)w < SAFEM_WEIGHT_COUNT ? weight_names[w] : "?";
}

const char *
safem_proto_class_name(enum safem_proto_class p)
{
	return (unsigned int)p < SAFEM_PROTO_COUNT ? proto_names[p] : "?";
}

struct safem_featdist *
safem_featdist_create(uint32_t capacity, int socket_id)
{
	struct safem_featdist *fd;
	uint64_t slots = 16;

	(void)socket_id; /* heap memory, first touched by the owning lcore's clear */
	if (capacity < 16 || capacity > (UINT32_C(1) << 28)) {
		rte_errno = EINVAL;
		return NULL;
	}
	while (slots * 3 < (uint64_t)capacity * 4)
		slots <<= 1;
	fd = calloc(1, sizeof(*fd));
	if (fd == NULL)
		goto nomem;
	fd->capacity = capacity;
	fd->mask = (uint32_t)(slots - 1);
	fd->tags = calloc(slots, sizeof(*fd->tags));
	fd->used = calloc(capacity, sizeof(*fd->used));
	fd->entries = calloc(slots, sizeof(*fd->entries));
	if (fd->tags == NULL || fd->used == NULL || fd->entries == NULL)
		goto nomem;
	fd->memory_bytes = sizeof(*fd) + slots * sizeof(*fd->tags) + capacity * sizeof(*fd->used) +
			   slots * sizeof(*fd->entries);
	safem_mem_account(SAFEM_MEM_distributions, (int64_t)fd->memory_bytes);
	return fd;
nomem:
	safem_featdist_free(fd);
	rte_errno = ENOMEM;
	return NULL;
}

void
safem_featdist_free(struct safem_featdist *fd)
{
	if (fd == NULL)
		return;
	safem_mem_account(SAFEM_MEM_distributions, -(int64_t)fd->memory_bytes);
	free(fd->tags);
	free(fd->used);
	free(fd->entries);
	free(fd);
}

void
safem_featdist_clear(struct safem_featdist *fd)
{
	uint32_t i;

	for (i = 0; i < fd->values; i++)
		fd->tags[fd->used[i]] = 0;
	fd->values = 0;
	memset(&fd->total, 0, sizeof(fd->total));
	memset(&fd->remainder, 0, sizeof(fd->remainder));
	fd->observations = 0;
	memset(fd->hll, 0, sizeof(fd->hll));
}

static void
counts_add(struct safem_featdist_counts *dst, const struct safem_featdist_counts *c)
{
	dst->flows += c->flows;
	dst->packets += c->packets;
	dst->bytes += c->bytes;
}

/* HLL: register = hash's top HLL_BITS bits, rank = leading zeros of the rest + 1. */
static void
remainder_add(struct safem_featdist *fd, uint64_t hash, const struct safem_featdist_counts *c)
{
	uint32_t reg = (uint32_t)(hash >> (64 - HLL_BITS));
	uint64_t rest = hash << HLL_BITS;
	uint8_t rank = rest == 0 ? (uint8_t)(64 - HLL_BITS + 1) : (uint8_t)(__builtin_clzll(rest) + 1);

	if (rank > fd->hll[reg])
		fd->hll[reg] = rank;
	counts_add(&fd->remainder, c);
}

/* Returns true when v was not kept before (inserted, or added to the remainder). */
static bool
featdist_add_hashed(struct safem_featdist *fd, const struct safem_feature_value *v, uint64_t hash,
		    const struct safem_featdist_counts *c)
{
	uint32_t tag = (uint32_t)hash | 1u; /* never 0 (empty) */
	uint32_t slot = (uint32_t)(hash >> 32) & fd->mask;

	counts_add(&fd->total, c);
	for (;;) {
		uint32_t t = fd->tags[slot];

		if (t == 0)
			break;
		if (t == tag && memcmp(&fd->entries[slot].value, v, sizeof(*v)) == 0) {
			counts_add(&fd->entries[slot].counts, c);
			return false;
		}
		slot = (slot + 1) & fd->mask;
	}
	if (fd->values == fd->capacity) {
		remainder_add(fd, hash, c);
		return true;
	}
	fd->tags[slot] = tag;
	fd->entries[slot].value = *v;
	fd->entries[slot].counts = *c;
	fd->used[fd->values++] = slot;
	return true;
}

void
safem_featdist_add(struct safem_featdist *fd, const struct safem_feature_value *v,
		   const struct safem_featdist_counts *c)
{
	fd->observations++;
	featdist_add_hashed(fd, v, safem_feature_value_hash(v), c);
}

uint64_t
safem_featdist_observations(const struct safem_featdist *fd)
{
	return fd->observations;
}

void
safem_featdist_merge(struct safem_featdist *dst, const struct safem_featdist *src)
{
	uint32_t i;

	for (i = 0; i < src->values; i++) {
		const struct featdist_entry *e = &src->entries[src->used[i]];

		featdist_add_hashed(dst, &e->value, safem_feature_value_hash(&e->value), &e->counts);
	}
	dst->observations += src->observations;
	/* The source's remainder stays a remainder: its values are unknown. */
	counts_add(&dst->total, &src->remainder);
	counts_add(&dst->remainder, &src->remainder);
	for (i = 0; i < HLL_REGISTERS; i++)
		if (src->hll[i] > dst->hll[i])
			dst->hll[i] = src->hll[i];
}

uint32_t
safem_featdist_values(const struct safem_featdist *fd)
{
	return fd->values;
}

void
safem_featdist_total(const struct safem_featdist *fd, struct safem_featdist_counts *out)
{
	*out = fd->total;
}

/* HyperLogLog estimate with the small-range (linear counting) correction. */
double
safem_hll_estimate(const uint8_t *hll, unsigned int registers)
{
	const double m = registers, alpha = 0.7213 / (1.0 + 1.079 / m);
	double sum = 0, estimate;
	unsigned int i, zeros = 0;

	for (i = 0; i < registers; i++) {
		sum += ldexp(1.0, -(int)hll[i]);
		zeros += hll[i] == 0;
	}
	estimate = alpha * m * m / sum;
	if (estimate <= 2.5 * m && zeros != 0)
		estimate = m * log(m / zeros);
	return estimate;
}

static double
hll_estimate(const uint8_t *hll)
{
	return safem_hll_estimate(hll, HLL_REGISTERS);
}

void
safem_featdist_remainder(const struct safem_featdist *fd, struct safem_featdist_counts *mass,
			 double *distinct_estimate)
{
	double n;

	*mass = fd->remainder;
	if (fd->remainder.flows == 0 && fd->remainder.packets == 0 && fd->remainder.bytes == 0) {
		*distinct_estimate = 0;
		return;
	}
	n = hll_estimate(fd->hll);
	/* At least one value holds the mass; at most one per flow contribution. */
	if (n < 1)
		n = 1;
	if (fd->remainder.flows != 0 && n > (double)fd->remainder.flows)
		n = (double)fd->remainder.flows;
	*distinct_estimate = n;
}

double
safem_featdist_distinct(const struct safem_featdist *fd)
{
	struct safem_featdist_counts mass;
	double n;

	safem_featdist_remainder(fd, &mass, &n);
	return fd->values + n;
}

#define FOREACH_PREFETCH 16

void
safem_featdist_foreach(const struct safem_featdist *fd, safem_featdist_fn fn, void *ctx)
{
	uint32_t i;

	for (i = 0; i < fd->values; i++) {
		const struct featdist_entry *e = &fd->entries[fd->used[i]];

		/* entries sit at their hash slots, the walk is in insertion order: fetch a few
		 * ahead, or a large table costs a cache miss per value (lib/profile reads every
		 * value of every distribution per window) */
		if (i + FOREACH_PREFETCH < fd->values)
			__builtin_prefetch(&fd->entries[fd->used[i + FOREACH_PREFETCH]]);
		fn(&e->value, &e->counts, ctx);
	}
}

/* ---------------------------------------------------------------------- */
/* Home prefixes                                                          */

int
safem_home_add(struct safem_home *h, const char *cidr)
{
	char text[64];
	const char *slash = strchr(cidr, '/');
	struct safem_feature_value addr;
	unsigned long len;
	unsigned int max_len, i;
	char *end;
	bool v4;

	if (slash == NULL || (size_t)(slash - cidr) >= sizeof(text) || slash == cidr)
		return -EINVAL;
	memcpy(text, cidr, (size_t)(slash - cidr));
	text[slash - cidr] = '\0';
	memset(&addr, 0, sizeof(addr));
	v4 = inet_pton(AF_INET, text, &addr.bytes[12]) == 1;
	if (v4) {
		addr.bytes[10] = addr.bytes[11] = 0xff; /* ::ffff:a.b.c.d */
		max_len = 32;
	} else if (inet_pton(AF_INET6, text, addr.bytes) == 1) {
		max_len = 128;
	} else {
		return -EINVAL;
	}
	errno = 0;
	len = strtoul(slash + 1, &end, 10);
	if (slash[1] == '\0' || *end != '\0' || errno != 0 || len > max_len)
		return -EINVAL;
	if (v4)
		len += 96;
	/* Host bits must be zero: 10.0.0.1/16 is more likely a typo than a prefix. */
	for (i = 0; i < 128; i++)
		if (i >= len && (addr.bytes[i / 8] >> (7 - i % 8) & 1))
			return -EINVAL;
	if (h->count == SAFEM_HOME_PREFIXES_MAX)
		return -ENOSPC;
	h->prefix[h->count].addr = addr;
	h->prefix[h->count].len = (uint8_t)len;
	h->count++;
	return 0;
}

bool
safem_home_contains(const struct safem_home *h, const struct safem_feature_value *addr)
{
	unsigned int i;

	for (i = 0; i < h->count; i++) {
		unsigned int len = h->prefix[i].len, full = len / 8, rest = len % 8;
		const uint8_t *p = h->prefix[i].addr.bytes;

		if (memcmp(p, addr->bytes, full) != 0)
			continue;
		if (rest != 0 && ((p[full] ^ addr->bytes[full]) & (uint8_t)(0xff00 >> rest)) != 0)
			continue;
		return true;
	}
	return false;
}

/* ---------------------------------------------------------------------- */
/* Feature sets                                                           */

struct safem_featset *
safem_featset_create(uint32_t capacity, bool directional, int socket_id)
{
	struct safem_featset *fs = calloc(1, sizeof(*fs));
	unsigned int d, f;

	if (fs == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	fs->directional = directional;
	for (d = 0; d < (directional ? SAFEM_DIR_COUNT : 1u); d++)
		for (f = 0; f < SAFEM_FEATURE_COUNT; f++) {
			fs->dist[d][f] = safem_featdist_create(capacity, socket_id);
			if (fs->dist[d][f] == NULL) {
				int err = rte_errno;

				safem_featset_free(fs);
				rte_errno = err;
				return NULL;
			}
		}
	return fs;
}

void
safem_featset_free(struct safem_featset *fs)
{
	unsigned int d, f;

	if (fs == NULL)
		return;
	for (d = 0; d < SAFEM_DIR_COUNT; d++)
		for (f = 0; f < SAFEM_FEATURE_COUNT; f++)
			safem_featdist_free(fs->dist[d][f]);
	free(fs);
}

void
safem_featset_clear(struct safem_featset *fs)
{
	unsigned int d, f;

	for (d = 0; d < SAFEM_DIR_COUNT; d++)
		for (f = 0; f < SAFEM_FEATURE_COUNT; f++)
			if (fs->dist[d][f] != NULL)
				safem_featdist_clear(fs->dist[d][f]);
	memset(fs->volume, 0, sizeof(fs->volume));
	memset(fs->proto_flows, 0, sizeof(fs->proto_flows));
	memset(fs->guard_inserts, 0, sizeof(fs->guard_inserts));
	memset(fs->guard_shift, 0, sizeof(fs->guard_shift));
	memset(fs->proto_packets, 0, sizeof(fs->proto_packets));
}

#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10

static enum safem_proto_class
proto_class(uint8_t proto, uint8_t tcp_flags)
{
	switch (proto) {
	case 6:
		/* A half-open attempt: SYN seen, never acknowledged nor reset (yet). */
		if ((tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK | TCP_FLAG_RST)) == TCP_FLAG_SYN)
			return SAFEM_PROTO_TCP_SYN;
		return SAFEM_PROTO_TCP;
	case 17:
		return SAFEM_PROTO_UDP;
	case 1:
	case 58:
		return SAFEM_PROTO_ICMP;
	default:
		return SAFEM_PROTO_OTHER;
	}
}

static void
address_value(struct safem_feature_value *v, const uint8_t addr[16], uint8_t ip_version)
{
	if (ip_version == 4) {
		memset(v->bytes, 0, 10);
		v->bytes[10] = v->bytes[11] = 0xff;
		memcpy(&v->bytes[12], addr, 4);
	} else {
		memcpy(v->bytes, addr, 16);
	}
}

static void
port_value(struct safem_feature_value *v, uint16_t port)
{
	memset(v->bytes, 0, 14);
	v->bytes[14] = (uint8_t)(port >> 8);
	v->bytes[15] = (uint8_t)port;
}

/* A flow's four feature values (both add paths). */
static void
flow_values(const struct safem_flow_key *key, struct safem_feature_value values[SAFEM_FEATURE_COUNT])
{
	address_value(&values[SAFEM_FEATURE_SRC_ADDR], key->src_addr, key->ip_version);
	address_value(&values[SAFEM_FEATURE_DST_ADDR], key->dst_addr, key->ip_version);
	port_value(&values[SAFEM_FEATURE_SRC_PORT], key->src_port);
	port_value(&values[SAFEM_FEATURE_DST_PORT], key->dst_port);
}

/* The direction a flow counts in besides ALL; SAFEM_DIR_ALL when none (no home
 * prefixes, or transit: outside -> outside counts in ALL only). */
static unsigned int
flow_direction(const struct safem_featset *fs, const struct safem_home *home,
	       const struct safem_feature_value values[SAFEM_FEATURE_COUNT])
{
	bool src_home, dst_home;

	if (!fs->directional || home == NULL)
		return SAFEM_DIR_ALL;
	src_home = safem_home_contains(home, &values[SAFEM_FEATURE_SRC_ADDR]);
	dst_home = safem_home_contains(home, &values[SAFEM_FEATURE_DST_ADDR]);
	if (src_home && dst_home)
		return SAFEM_DIR_INTERNAL;
	if (dst_home)
		return SAFEM_DIR_IN;
	return src_home ? SAFEM_DIR_OUT : SAFEM_DIR_ALL;
}

enum safem_proto_class
safem_featset_flow_values(const struct safem_featset *fs, const struct safem_home *home,
			  const struct safem_flow_key *key, uint8_t tcp_flags,
			  struct safem_feature_value values[SAFEM_FEATURE_COUNT],
			  enum safem_direction *dir)
{
	flow_values(key, values);
	*dir = (enum safem_direction)flow_direction(fs, home, values);
	return proto_class(key->proto, tcp_flags);
}

/* Volumes and flow classes are counters: exact on both add paths, whatever the guard
 * does to the distributions. */
static void
featset_count(struct safem_featset *fs, unsigned int d, const struct safem_featdist_counts *c,
	      enum safem_proto_class pc)
{
	counts_add(&fs->volume[d], c);
	fs->proto_flows[d][pc] += c->flows;
	fs->proto_packets[d][pc] += c->packets;
}

static void
featset_add_direction(struct safem_featset *fs, unsigned int d,
		      const struct safem_feature_value values[SAFEM_FEATURE_COUNT],
		      const struct safem_featdist_counts *c, enum safem_proto_class pc)
{
	unsigned int f;

	for (f = 0; f < SAFEM_FEATURE_COUNT; f++)
		safem_featdist_add(fs->dist[d][f], &values[f], c);
	featset_count(fs, d, c, pc);
}

void
safem_featset_add_flow(struct safem_featset *fs, const struct safem_home *home,
		       const struct safem_flow_key *key, uint8_t tcp_flags, uint64_t packets,
		       uint64_t bytes)
{
	safem_featset_add_flow_weighted(fs, home, key, tcp_flags, 1, packets, bytes);
}

void
safem_featset_add_flow_weighted(struct safem_featset *fs, const struct safem_home *home,
				const struct safem_flow_key *key, uint8_t tcp_flags,
				uint64_t flows, uint64_t packets, uint64_t bytes)
{
	struct safem_feature_value values[SAFEM_FEATURE_COUNT];
	struct safem_featdist_counts c = {.flows = flows, .packets = packets, .bytes = bytes};
	enum safem_proto_class pc = proto_class(key->proto, tcp_flags);

	unsigned int d;

	flow_values(key, values);
	featset_add_direction(fs, SAFEM_DIR_ALL, values, &c, pc);
	d = flow_direction(fs, home, values);
	if (d != SAFEM_DIR_ALL)
		featset_add_direction(fs, d, values, &c, pc);
}

/* Up to 1 in 2^16, as the pane's own guard (lib/window). */
#define GUARD_SHIFT_MAX 16

/*
 * The surge guard of the feature distributions, per distribution. A distribution takes
 * every flow until it has taken `budget` new values in the pane; past that, 1 flow in 2^k
 * by a hash of the flow, weighted 2^k (counts stay unbiased), k + 1 after each further
 * budget's worth of new values. Only a distribution a surge floods with new values (the
 * spoofed sources, their random ports) is ever sampled; the others (the victim, its port,
 * the background's servers and services) stay exact, and so do the significant clusters
 * lib/profile finds in them. Cost per flow: one add per distribution not sampling, one
 * hash test per distribution sampling; new values per pane and distribution within about
 * budget x (log2(new values / budget) + 1).
 */
void
safem_featset_add_flow_guarded(struct safem_featset *fs, const struct safem_home *home,
			       const struct safem_flow_key *key, uint8_t tcp_flags,
			       uint64_t packets, uint64_t bytes, uint32_t budget)
{
	struct safem_feature_value values[SAFEM_FEATURE_COUNT];
	const struct safem_featdist_counts one = {.flows = 1, .packets = packets, .bytes = bytes};
	enum safem_proto_class pc = proto_class(key->proto, tcp_flags);
	unsigned int dirs[2] = {SAFEM_DIR_ALL, SAFEM_DIR_ALL}, nd = 1, k, f;
	uint64_t h[SAFEM_FEATURE_COUNT], flow_hash;

	flow_values(key, values);
	for (f = 0; f < SAFEM_FEATURE_COUNT; f++)
		h[f] = safem_feature_value_hash(&values[f]);
	/* which flows a sampling distribution takes: by the flow's values, so not by
	 * arrival order (the protocol too: a TCP and a UDP flow of the same ports differ) */
	flow_hash = h[0] ^ (h[1] * 3) ^ (h[2] * 5) ^ (h[3] * 7) ^ key->proto;
	flow_hash ^= flow_hash >> 29;
	flow_hash *= UINT64_C(0xbf58476d1ce4e5b9);
	flow_hash ^= flow_hash >> 32;
	dirs[1] = flow_direction(fs, home, values);
	if (dirs[1] != SAFEM_DIR_ALL)
		nd = 2;
	for (k = 0; k < nd; k++) {
		for (f = 0; f < SAFEM_FEATURE_COUNT; f++) {
			struct safem_featdist *fd = fs->dist[dirs[k]][f];
			uint8_t *shift = &fs->guard_shift[dirs[k]][f];
			uint32_t *inserts = &fs->guard_inserts[dirs[k]][f];
			struct safem_featdist_counts c = one;

			if (*shift != 0) {
				if ((flow_hash & ((UINT64_C(1) << *shift) - 1)) != 0)
					continue; /* sampled out of this distribution */
				c.flows <<= *shift;
				c.packets <<= *shift;
				c.bytes <<= *shift;
			}
			fd->observations++;
			if (!featdist_add_hashed(fd, &values[f], h[f], &c))
				continue;
			(*inserts)++;
			if (budget != 0 && *inserts >= (uint64_t)budget * (*shift + 1u) &&
			    *shift < GUARD_SHIFT_MAX)
				(*shift)++;
		}
		featset_count(fs, dirs[k], &one, pc);
	}
}

void
safem_featset_merge(struct safem_featset *dst, const struct safem_featset *src)
{
	unsigned int d, f, p;

	for (d = 0; d < SAFEM_DIR_COUNT; d++) {
		for (f = 0; f < SAFEM_FEATURE_COUNT; f++)
			if (dst->dist[d][f] != NULL && src->dist[d][f] != NULL)
				safem_featdist_merge(dst->dist[d][f], src->dist[d][f]);
		counts_add(&dst->volume[d], &src->volume[d]);
		for (p = 0; p < SAFEM_PROTO_COUNT; p++) {
			dst->proto_flows[d][p] += src->proto_flows[d][p];
			dst->proto_packets[d][p] += src->proto_packets[d][p];
		}
	}
}
