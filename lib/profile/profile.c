/* SPDX-License-Identifier: BSD-3-Clause */
/* Behaviour profiling of significant clusters; see safem_profile.h and docs/detection.md. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "safem_hash.h"
#include "safem_profile.h"

/* A remembered cluster keeps its classes of this many windows (stability). */
#define HISTORY_WINDOWS 16
static_assert(SAFEM_PROFILE_CHANGE_MIN_HISTORY * 2 == HISTORY_WINDOWS,
	      "a change needs half a history of windows before it");
/* Clusters remembered across windows; beyond, new ones are not (counted). */
#define HISTORY_CAPACITY 8192
/* A class change counts once the new class held this many windows in a row, after the
 * old one did: one window of a changed mix is noise, two in a row a behaviour. */
#define CLASS_PERSIST_WINDOWS 2
/* A class change also needs every free dimension whose level changed to be this far
 * past the boundary it crossed (0.2 or 0.8): an RU wandering around a boundary flips
 * the level without any change of behaviour (seen on port clusters of clean traffic). */
#define CLASS_CHANGE_MARGIN 0.1
/* Dominant state: the most specific state covering more than half the cluster's flows
 * ("explains most of the flows"; the seed gives no number). */
#define DOMINANT_SHARE 0.5
/* A TCP exchange that carries data needs at least 3 packets from its initiator (SYN,
 * ACK, data); probes send 1 (2 with a retry or a RST). Flows averaging no more than
 * this carried no data: the "additional attribute" of the scan/exploit profile. */
#define SCAN_MAX_PACKETS_PER_FLOW 2.0
/* The largest header-only IP packet: IPv4 with options (60 bytes) + TCP with options (60).
 * A port probe carries no payload, so a vertical scan's packets average no more (bytes
 * are IP bytes); a service answering one client's many ports from one port does (a
 * Kerberos KDC's UDP replies, ~800 bytes, read [L, H, L] like a vertical scan). A
 * one-port exploit to many hosts may carry its payload in its one packet (Slammer): the
 * horizontal case has no such bound. */
#define PROBE_MAX_BYTES_PER_PACKET 120.0
/* Free-dimension RU of a cluster from at most about this many of its logged flows: a
 * larger cluster is thinned to 1 in 2^k by a hash of the flow (the same flows whatever
 * the log order). Keeps the cost per cluster bounded (the counting tables stay in L2)
 * at the price of RU measured on a sample (docs/detection.md). */
#define RU_SAMPLE_FLOWS 4096
/* Ports listed per host in the Top-N view. */
#define HOST_PORTS 3
/* Words of the per-dimension cluster filter: 4096 bits for at most 64 clusters (1.6 %
 * false positives at the default --profile-clusters). */
#define CLUSTER_FILTER_WORDS 64
/* Host lookup slots: at least twice the hosts of three top lists. */
#define HOST_LOOKUP 8192

static const char *const kind_names[] = {NULL, "server", "heavy_hitter", "scan_exploit"};

const char *
safem_profile_kind_name(enum safem_profile_kind k)
{
	return (unsigned int)k < sizeof(kind_names) / sizeof(kind_names[0]) ? kind_names[k] : NULL;
}

void
safem_profile_free_dims(enum safem_feature dim, enum safem_feature f[3])
{
	/* Ports first, then the other address(es), as the paper orders srcIP's
	 * [RU(srcPrt), RU(dstPrt), RU(dstIP)]. */
	switch (dim) {
	case SAFEM_FEATURE_SRC_ADDR:
		f[0] = SAFEM_FEATURE_SRC_PORT, f[1] = SAFEM_FEATURE_DST_PORT;
		f[2] = SAFEM_FEATURE_DST_ADDR;
		break;
	case SAFEM_FEATURE_DST_ADDR:
		f[0] = SAFEM_FEATURE_SRC_PORT, f[1] = SAFEM_FEATURE_DST_PORT;
		f[2] = SAFEM_FEATURE_SRC_ADDR;
		break;
	case SAFEM_FEATURE_SRC_PORT:
		f[0] = SAFEM_FEATURE_DST_PORT, f[1] = SAFEM_FEATURE_SRC_ADDR;
		f[2] = SAFEM_FEATURE_DST_ADDR;
		break;
	default:
		f[0] = SAFEM_FEATURE_SRC_PORT, f[1] = SAFEM_FEATURE_SRC_ADDR;
		f[2] = SAFEM_FEATURE_DST_ADDR;
		break;
	}
}

static double
dim_space(enum safem_feature f)
{
	return f == SAFEM_FEATURE_SRC_ADDR || f == SAFEM_FEATURE_DST_ADDR ? 4294967296.0 : 65536.0;
}

static double
ru_of(double entropy, double observations, double space)
{
	double m = observations < space ? observations : space, ru;

	if (m <= 1)
		return 0.0;
	/* rounding can leave -1e-17 for one value, or 1 + 1e-16 for a uniform spread */
	ru = entropy / log(m);
	return ru < 0 ? 0.0 : ru > 1 ? 1.0 : ru;
}

double
safem_profile_ru(const uint64_t *w, size_t n, uint64_t observations, double space)
{
	double total = 0, sum = 0;
	size_t i;

	for (i = 0; i < n; i++)
		total += (double)w[i];
	if (total <= 0)
		return 0.0;
	for (i = 0; i < n; i++)
		if (w[i] != 0)
			sum += (double)w[i] * log((double)w[i]);
	/* H = log W - (1/W) sum w log w */
	return ru_of(log(total) - sum / total, (double)observations, space);
}

enum safem_profile_level
safem_profile_ru_level(double ru)
{
	if (ru <= SAFEM_PROFILE_RU_LOW)
		return SAFEM_PROFILE_LEVEL_L;
	if (ru >= SAFEM_PROFILE_RU_HIGH)
		return SAFEM_PROFILE_LEVEL_H;
	return SAFEM_PROFILE_LEVEL_M;
}

unsigned int
safem_profile_class(const double ru[3])
{
	return 9u * safem_profile_ru_level(ru[0]) + 3u * safem_profile_ru_level(ru[1]) +
	       safem_profile_ru_level(ru[2]);
}

/* ---------------------------------------------------------------------- */
/* Threshold search                                                       */

#define SEARCH_STEPS 64 /* alpha0 2^-63 is below one flow of any window */
/* Flow counts below this have their step and f log f memoised per search. */
#define SEARCH_SMALL 256

/* The first k with alpha0 2^-k <= share. */
static unsigned int
search_step(double share, double alpha0)
{
	unsigned int k = share >= alpha0 ? 0 : (unsigned int)ceil(log2(alpha0 / share) - 1e-12);

	if (k >= SEARCH_STEPS)
		k = SEARCH_STEPS - 1;
	/* rounding: make sure alpha0 2^-k <= share holds */
	while (k + 1 < SEARCH_STEPS && ldexp(alpha0, -(int)k) > share)
		k++;
	return k;
}

int
safem_profile_threshold_search(const uint64_t *flows, size_t n, uint64_t remainder_flows,
			       double remainder_values, double space, double flow_weight,
			       double alpha0, double beta, struct safem_profile_threshold *out)
{
	/* Per step k: the flows and sum f log f of the values first extracted at alpha0 2^-k,
	 * so the whole search is one pass over the values plus SEARCH_STEPS updates. */
	double step_flows[SEARCH_STEPS] = {0}, step_flogf[SEARCH_STEPS] = {0};
	uint32_t step_values[SEARCH_STEPS] = {0};
	double total = (double)remainder_flows, rest_flows, rest_flogf = 0, theta;
	double small_flogf[SEARCH_SMALL];
	uint8_t small_step[SEARCH_SMALL];
	size_t i, kept = 0;
	unsigned int k;

	if (out == NULL || (flows == NULL && n != 0) || !(alpha0 > 0 && alpha0 <= 1) ||
	    !(beta > 0 && beta <= 1) || !(flow_weight >= 1))
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->alpha = alpha0;
	out->min_flows = UINT64_MAX;
	for (i = 0; i < n; i++)
		total += (double)flows[i];
	if (total <= 0)
		return 0;
	/* Most values of a window hold a few flows: their step and f log f are computed once
	 * per distinct count (the same expressions, so the sums are bit-identical). */
	memset(small_step, 0xff, sizeof(small_step));
	for (i = 0; i < n; i++) {
		double f = (double)flows[i], flogf;

		if (flows[i] == 0)
			continue;
		if (flows[i] < SEARCH_SMALL && small_step[flows[i]] != 0xff) {
			k = small_step[flows[i]];
			flogf = small_flogf[flows[i]];
		} else {
			k = search_step(f / total, alpha0);
			flogf = f * log(f);
			if (flows[i] < SEARCH_SMALL) {
				small_step[flows[i]] = (uint8_t)k;
				small_flogf[flows[i]] = flogf;
			}
		}
		step_flows[k] += f;
		step_flogf[k] += flogf;
		step_values[k]++;
		rest_flogf += flogf;
		kept++;
	}
	if (remainder_flows != 0) {
		double rv = remainder_values >= 1 ? remainder_values : 1;
		double r = (double)remainder_flows;

		/* rv values of r / rv flows each: rv (r/rv) log(r/rv) */
		rest_flogf += r * log(r / rv);
	}
	rest_flows = total;
	/* RU's normaliser is the number of observations: weighted flows / mean weight */
	theta = ru_of(log(rest_flows) - rest_flogf / rest_flows, rest_flows / flow_weight, space);
	for (k = 0; k < SEARCH_STEPS && theta <= beta && kept != 0; k++) {
		out->iterations = k + 1;
		out->alpha = ldexp(alpha0, -(int)k);
		rest_flows -= step_flows[k];
		rest_flogf -= step_flogf[k];
		kept -= step_values[k];
		theta = rest_flows > 0 ? ru_of(log(rest_flows) - rest_flogf / rest_flows,
					       rest_flows / flow_weight, space)
				       : 1.0;
	}
	out->ru_remaining = theta;
	if (out->iterations != 0) {
		/* the smallest count whose share reaches alpha, as the steps compared it */
		uint64_t mf = (uint64_t)ceil(out->alpha * total);

		while (mf > 1 && (double)(mf - 1) / total >= out->alpha)
			mf--;
		while ((double)mf / total < out->alpha)
			mf++;
		out->min_flows = mf;
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Values and hashes                                                      */

/*
 * 64-bit hash of a value, also its identity in the counting tables. Ports and IPv4
 * addresses (v4-mapped) fit in 48 bits and go through murmur3's finaliser (lib/hash), a
 * bijection: no two such values share a hash, and none is 0 (an empty slot). IPv6 addresses
 * are folded to 64 bits first; two of 10^6 values collide with probability about
 * 10^12 / 2^65 (3e-8) per window.
 */
static uint64_t
value_hash(const struct safem_feature_value *v)
{
	uint64_t a, b;

	memcpy(&a, v->bytes, 8);
	memcpy(&b, v->bytes + 8, 8);
	/* bytes 0-9 zero (bytes 8-9 are b's low 16 bits on a little-endian host) */
	if (a == 0 && (b & 0xffff) == 0)
		/* port or v4-mapped: the value is the low 48 bits; the finaliser maps only 0 to 0 */
		return safem_hash_fmix64(b + 1);
	return safem_hash_fmix64(a * UINT64_C(0x9e3779b97f4a7c15) ^
				 safem_hash_fmix64(b + UINT64_C(0x632be59bd9b4e019))) | 1;
}

/* The feature value of a logged flow, as lib/featdist forms it. */
static void
flow_value(const struct safem_flow_key *k, enum safem_feature f, struct safem_feature_value *v)
{
	const uint8_t *addr = f == SAFEM_FEATURE_SRC_ADDR ? k->src_addr : k->dst_addr;
	uint16_t port = f == SAFEM_FEATURE_SRC_PORT ? k->src_port : k->dst_port;

	memset(v, 0, sizeof(*v));
	if (f == SAFEM_FEATURE_SRC_ADDR || f == SAFEM_FEATURE_DST_ADDR) {
		if (k->ip_version == 4) {
			v->bytes[10] = v->bytes[11] = 0xff;
			memcpy(&v->bytes[12], addr, 4);
		} else {
			memcpy(v->bytes, addr, 16);
		}
	} else {
		v->bytes[14] = (uint8_t)(port >> 8);
		v->bytes[15] = (uint8_t)port;
	}
}

/* value_hash of a value whose bytes 8-15 are w (bytes 0-7 zero), without forming it. */
static uint64_t
short_value_hash(const uint8_t w[8])
{
	uint64_t b;

	memcpy(&b, w, 8);
	return safem_hash_fmix64(b + 1);
}

/*
 * value_hash(flow_value(k, f)) for the four features of a logged flow, without forming
 * the values for ports and IPv4 (the per-flow cost of the profile). Returns true when
 * each hash identifies its value (ports, IPv4: the bijective case of value_hash).
 */
static bool
flow_hashes(const struct safem_flow_key *k, uint64_t h[SAFEM_FEATURE_COUNT])
{
	uint8_t w[8] = {0, 0, 0, 0, 0, 0, 0, 0};
	bool exact = k->ip_version == 4;
	unsigned int f;

	w[6] = (uint8_t)(k->src_port >> 8), w[7] = (uint8_t)k->src_port;
	h[SAFEM_FEATURE_SRC_PORT] = short_value_hash(w);
	w[6] = (uint8_t)(k->dst_port >> 8), w[7] = (uint8_t)k->dst_port;
	h[SAFEM_FEATURE_DST_PORT] = short_value_hash(w);
	if (exact) {
		w[2] = w[3] = 0xff; /* v4-mapped */
		memcpy(&w[4], k->src_addr, 4);
		h[SAFEM_FEATURE_SRC_ADDR] = short_value_hash(w);
		memcpy(&w[4], k->dst_addr, 4);
		h[SAFEM_FEATURE_DST_ADDR] = short_value_hash(w);
		return true;
	}
	for (f = SAFEM_FEATURE_SRC_ADDR; f <= SAFEM_FEATURE_DST_ADDR; f++) {
		struct safem_feature_value v;

		flow_value(k, (enum safem_feature)f, &v);
		h[f] = value_hash(&v);
	}
	return false;
}

void
safem_profile_value_format(enum safem_feature dim, const struct safem_feature_value *v,
			   char *buf, size_t len)
{
	static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (dim == SAFEM_FEATURE_SRC_PORT || dim == SAFEM_FEATURE_DST_PORT)
		snprintf(buf, len, "%u", (unsigned int)(v->bytes[14] << 8 | v->bytes[15]));
	else if (memcmp(v->bytes, v4_mapped, 12) == 0)
		inet_ntop(AF_INET, &v->bytes[12], buf, (socklen_t)len);
	else
		inet_ntop(AF_INET6, v->bytes, buf, (socklen_t)len);
}

/* ---------------------------------------------------------------------- */
/* Scratch                                                                */

/* Counting table: value hash -> weight. 16 bytes, so a cluster's table stays in cache. */
struct count_slot {
	uint64_t hash; /* 0: empty */
	uint64_t weight;
};

/* A logged flow as a cluster member: what its RU and dominant state read, copied so a
 * cluster's members are read in sequence, not gathered from all over the log. */
struct member {
	uint64_t hash[3]; /* of the cluster's free dimensions, in RU order */
	uint32_t weight;
	uint32_t flow; /* index into the log (fptr) */
};

/* Cluster lookup: (direction, dimension, value) -> cluster index. */
struct cluster_slot {
	uint64_t hash; /* 0: empty */
	uint32_t index;
};

/* Remembered cluster. */
struct history_entry {
	uint64_t hash; /* 0: empty */
	uint8_t direction, dimension;
	struct safem_feature_value value;
	uint64_t last_window; /* window number it was last significant in */
	unsigned int consecutive;
	uint8_t classes[HISTORY_WINDOWS]; /* ring, newest at (nclasses - 1) % HISTORY_WINDOWS */
	unsigned int nclasses;
	int stable_class;  /* held for CLASS_PERSIST_WINDOWS in a row; -1: none yet */
	int run_class;
	unsigned int run;
	unsigned int scan_run; /* windows in a row with profile scan_exploit */
	uint64_t scan_observations; /* flows the run's profiles were measured on */
	bool scan_reported;	    /* the run has had its alert */
};

struct host_port {
	uint32_t key; /* host index << 16 | port */
	uint64_t flows;
};

/* Distinct peers per host: HyperLogLog over the peers' hashes, 4.6 % standard error,
 * near exact below a few hundred (linear counting); one L1-resident 512-byte array per
 * host instead of a table of every (host, peer) pair. */
#define HOST_PEER_BITS 9
#define HOST_PEER_REGISTERS (1u << HOST_PEER_BITS)
/* Ports per host are counted over at most about this many flows of the listed hosts
 * (1 in 2^k by flow hash beyond, counts scaled back). */
#define HOST_PORT_SAMPLE_FLOWS 16384

struct host {
	struct safem_feature_value value;
	struct safem_featdist_counts counts; /* as source + as destination */
	uint64_t peers;
	uint8_t peer_hll[HOST_PEER_REGISTERS];
	struct {
		uint16_t port;
		uint64_t flows;
	} ports[HOST_PORTS];
	enum safem_profile_kind profile;
};

struct safem_profiler {
	struct safem_profiler_params p;
	uint64_t window_no;
	/* clusters of the window */
	struct safem_profile_cluster *clusters;
	unsigned int nclusters, cluster_cap;
	struct cluster_slot *lookup;
	uint32_t lookup_mask;
	uint64_t *cluster_vh; /* value_hash of each cluster's value */
	/* per direction and dimension, bit (value hash >> 52) set for each cluster: most
	 * logged flows' values are no cluster, and a miss here costs no table probe */
	uint64_t cluster_filter[SAFEM_DIR_COUNT][SAFEM_FEATURE_COUNT][CLUSTER_FILTER_WORDS];
	/* per direction x dimension: kept values of the distribution */
	uint64_t *vflows;
	/* the values of the distribution being searched, where lib/featdist keeps them (the
	 * feature set does not change during safem_profiler_window): only the significant
	 * ones are read again, so they are not copied */
	const struct safem_feature_value **vvalue_ref;
	const struct safem_featdist_counts **vcounts_ref;
	struct safem_feature_value *vvalues;
	struct safem_featdist_counts *vcounts;
	uint32_t *vorder;
	size_t vcap, nv;
	/* per logged flow */
	uint64_t (*fhash)[SAFEM_FEATURE_COUNT];
	uint32_t *fweight;
	uint64_t *fkey; /* hash of the flow's four values: sampling */
	const struct safem_profile_flow **fptr;
	uint32_t *member_start; /* per cluster + 1 */
	struct member *members; /* grouped by cluster */
	uint32_t (*fclusters)[2 * SAFEM_FEATURE_COUNT];
	uint8_t *fnclusters;
	size_t fcap, mcap;
	/* counting table */
	struct count_slot *count;
	uint32_t *count_used;
	size_t count_cap;
	/* history */
	struct history_entry *history;
	unsigned int history_used;
	/* hosts */
	struct host *hosts;
	unsigned int nhosts;
	struct cluster_slot host_lookup[HOST_LOOKUP];
	struct cluster_slot *host_table; /* host value hash -> index while joining src and dst */
	size_t host_table_cap;
	struct host_port *host_ports; /* (host, port) -> flows; flows 0: empty */
	size_t host_ports_cap;
	uint32_t rank[SAFEM_WEIGHT_COUNT][SAFEM_PROFILE_TOP_MAX];
	struct safem_profiler_totals totals;
	/* thresholds of the window, per direction and dimension */
	struct safem_profile_threshold thr[SAFEM_DIR_COUNT][SAFEM_FEATURE_COUNT];
	uint64_t logged, unlogged;
};

struct safem_profiler *
safem_profiler_create(const struct safem_profiler_params *params)
{
	struct safem_profiler *p;
	unsigned int n;

	if (params == NULL || params->max_clusters == 0 || params->max_clusters > 65536 ||
	    params->alpha0 < 0 || params->alpha0 > 1 || params->beta < 0 || params->beta > 1 ||
	    params->top_hosts > SAFEM_PROFILE_TOP_MAX) {
		errno = EINVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		goto nomem;
	p->p = *params;
	if (p->p.alpha0 == 0)
		p->p.alpha0 = SAFEM_PROFILE_ALPHA0;
	if (p->p.beta == 0)
		p->p.beta = SAFEM_PROFILE_BETA;
	p->cluster_cap = p->p.max_clusters * SAFEM_DIR_COUNT * SAFEM_FEATURE_COUNT;
	p->clusters = calloc(p->cluster_cap, sizeof(*p->clusters));
	for (n = 16; n < 2 * p->cluster_cap; n <<= 1)
		;
	p->lookup_mask = n - 1;
	p->lookup = calloc(n, sizeof(*p->lookup));
	p->cluster_vh = calloc(p->cluster_cap, sizeof(*p->cluster_vh));
	p->member_start = calloc(p->cluster_cap + 1, sizeof(*p->member_start));
	p->history = calloc(HISTORY_CAPACITY, sizeof(*p->history));
	p->hosts = calloc(3 * (size_t)p->p.top_hosts + 1, sizeof(*p->hosts));
	if (p->clusters == NULL || p->lookup == NULL || p->cluster_vh == NULL ||
	    p->member_start == NULL ||
	    p->history == NULL || p->hosts == NULL)
		goto nomem;
	return p;
nomem:
	safem_profiler_free(p);
	errno = ENOMEM;
	return NULL;
}

void
safem_profiler_free(struct safem_profiler *p)
{
	if (p == NULL)
		return;
	free(p->clusters);
	free(p->lookup);
	free(p->cluster_vh);
	free(p->vflows);
	free(p->vvalues);
	free(p->vvalue_ref);
	free(p->vcounts_ref);
	free(p->vcounts);
	free(p->vorder);
	free(p->fhash);
	free(p->fweight);
	free(p->fkey);
	free(p->fptr);
	free(p->member_start);
	free(p->members);
	free(p->fclusters);
	free(p->fnclusters);
	free(p->count);
	free(p->count_used);
	free(p->history);
	free(p->hosts);
	free(p->host_ports);
	free(p->host_table);
	free(p);
}

/* Grow an array to hold n elements (analysis side: amortised, never shrinks). */
static int
grow(void **ptr, size_t elem, size_t n)
{
	void *q = realloc(*ptr, elem * (n != 0 ? n : 1));

	if (q == NULL)
		return -ENOMEM;
	*ptr = q;
	return 0;
}

static int
ensure_values(struct safem_profiler *p, size_t n)
{
	if (n <= p->vcap)
		return 0;
	if (grow((void **)&p->vflows, sizeof(*p->vflows), n) != 0 ||
	    grow((void **)&p->vvalues, sizeof(*p->vvalues), n) != 0 ||
	    grow((void **)&p->vvalue_ref, sizeof(*p->vvalue_ref), n) != 0 ||
	    grow((void **)&p->vcounts_ref, sizeof(*p->vcounts_ref), n) != 0 ||
	    grow((void **)&p->vcounts, sizeof(*p->vcounts), n) != 0 ||
	    grow((void **)&p->vorder, sizeof(*p->vorder), n) != 0)
		return -ENOMEM;
	p->vcap = n;
	return 0;
}

static int
ensure_flows(struct safem_profiler *p, size_t n)
{
	if (n <= p->fcap)
		return 0;
	if (grow((void **)&p->fhash, sizeof(*p->fhash), n) != 0 ||
	    grow((void **)&p->fweight, sizeof(*p->fweight), n) != 0 ||
	    grow((void **)&p->fkey, sizeof(*p->fkey), n) != 0 ||
	    grow((void **)&p->fptr, sizeof(*p->fptr), n) != 0 ||
	    grow((void **)&p->fclusters, sizeof(*p->fclusters), n) != 0 ||
	    grow((void **)&p->fnclusters, sizeof(*p->fnclusters), n) != 0)
		return -ENOMEM;
	p->fcap = n;
	return 0;
}

/* A counting table for up to n distinct values, empty. */
static int
ensure_count(struct safem_profiler *p, size_t n)
{
	size_t slots = 16;

	while (slots < 2 * n)
		slots <<= 1;
	if (slots <= p->count_cap)
		return 0;
	free(p->count);
	p->count = calloc(slots, sizeof(*p->count));
	if (grow((void **)&p->count_used, sizeof(*p->count_used), slots) != 0 || p->count == NULL)
		return -ENOMEM;
	p->count_cap = slots;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Significant clusters                                                   */

struct collect_ctx {
	struct safem_profiler *p;
};

static void
collect_value(const struct safem_feature_value *v, const struct safem_featdist_counts *c,
	      void *ctx)
{
	struct safem_profiler *p = ((struct collect_ctx *)ctx)->p;

	p->vvalue_ref[p->nv] = v;
	p->vcounts_ref[p->nv] = c;
	p->vflows[p->nv] = c->flows;
	p->nv++;
}

static struct safem_profiler *sort_ctx; /* qsort has no context argument; one thread */

/* More flows first, then more packets, then smaller value bytes: a total order, so the
 * clusters kept do not depend on table (arrival) order. */
static int
compare_value_rank(const void *a, const void *b)
{
	const struct safem_profiler *p = sort_ctx;
	uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;

	const struct safem_featdist_counts *x = p->vcounts_ref[i], *y = p->vcounts_ref[j];

	if (x->flows != y->flows)
		return x->flows > y->flows ? -1 : 1;
	if (x->packets != y->packets)
		return x->packets > y->packets ? -1 : 1;
	return memcmp(p->vvalue_ref[i], p->vvalue_ref[j], sizeof(*p->vvalue_ref[i]));
}

/* vh is already mixed: an odd multiple per (direction, dimension) added keeps it so. */
static uint64_t
cluster_key_hash(unsigned int d, unsigned int f, uint64_t vh)
{
	return (vh + (uint64_t)(d * SAFEM_FEATURE_COUNT + f + 1) * UINT64_C(0x9e3779b97f4a7c15)) | 1;
}

static void
filter_set(uint64_t *filter, uint64_t vh)
{
	filter[vh >> 58] |= UINT64_C(1) << ((vh >> 52) & 63);
}

static bool
filter_has(const uint64_t *filter, uint64_t vh)
{
	return (filter[vh >> 58] >> ((vh >> 52) & 63)) & 1;
}

static void
lookup_insert(struct safem_profiler *p, uint64_t h, uint32_t index)
{
	uint32_t s = (uint32_t)h & p->lookup_mask;

	while (p->lookup[s].hash != 0)
		s = (s + 1) & p->lookup_mask;
	p->lookup[s].hash = h;
	p->lookup[s].index = index;
}

/* The cluster (d, f, value of feature f of flow key k) or -1: hash match, then the value
 * hash, then (unless the value hash identifies the value: exact) the value itself. */
static int
lookup_find(const struct safem_profiler *p, unsigned int d, unsigned int f, uint64_t vh,
	    const struct safem_flow_key *k, bool exact)
{
	uint64_t h = cluster_key_hash(d, f, vh);
	uint32_t s = (uint32_t)h & p->lookup_mask;

	for (; p->lookup[s].hash != 0; s = (s + 1) & p->lookup_mask) {
		uint32_t ci = p->lookup[s].index;
		const struct safem_profile_cluster *c = &p->clusters[ci];
		struct safem_feature_value v;

		if (p->lookup[s].hash != h || p->cluster_vh[ci] != vh ||
		    c->direction != (enum safem_direction)d || c->dimension != (enum safem_feature)f)
			continue;
		if (exact || f == SAFEM_FEATURE_SRC_PORT || f == SAFEM_FEATURE_DST_PORT)
			return (int)ci;
		flow_value(k, (enum safem_feature)f, &v);
		if (memcmp(&c->value, &v, sizeof(v)) == 0)
			return (int)ci;
	}
	return -1;
}

static int
extract_clusters(struct safem_profiler *p, const struct safem_featset *fs, unsigned int d,
		 unsigned int f)
{
	const struct safem_featdist *fd = fs->dist[d][f];
	struct safem_featdist_counts rem, total;
	struct collect_ctx ctx = {p};
	struct safem_profile_threshold *thr = &p->thr[d][f];
	double rem_values, flow_weight;
	uint64_t observations;
	size_t i, nsig = 0;
	int ret;

	ret = ensure_values(p, safem_featdist_values(fd));
	if (ret != 0)
		return ret;
	p->nv = 0;
	safem_featdist_foreach(fd, collect_value, &ctx);
	safem_featdist_remainder(fd, &rem, &rem_values);
	safem_featdist_total(fd, &total);
	/* mean weight of this distribution's observations: above 1 where the surge guard
	 * sampled it, 1 where it did not (lib/featdist, per-distribution guard) */
	observations = safem_featdist_observations(fd);
	flow_weight = observations != 0 && total.flows > observations
			      ? (double)total.flows / (double)observations
			      : 1.0;
	ret = safem_profile_threshold_search(p->vflows, p->nv, rem.flows, rem_values,
					     dim_space((enum safem_feature)f), flow_weight,
					     p->p.alpha0, p->p.beta, thr);
	if (ret != 0)
		return ret;
	for (i = 0; i < p->nv; i++)
		if (p->vflows[i] >= thr->min_flows)
			p->vorder[nsig++] = (uint32_t)i;
	sort_ctx = p;
	/* vorder is NULL until a window has values (an idle live link): qsort's
	 * base must not be NULL even for 0 elements. */
	if (nsig > 1)
		qsort(p->vorder, nsig, sizeof(*p->vorder), compare_value_rank);
	if (nsig > p->p.max_clusters)
		nsig = p->p.max_clusters;
	for (i = 0; i < nsig; i++) {
		struct safem_profile_cluster *c = &p->clusters[p->nclusters];
		uint32_t v = p->vorder[i];

		memset(c, 0, sizeof(*c));
		c->direction = (enum safem_direction)d;
		c->dimension = (enum safem_feature)f;
		c->value = *p->vvalue_ref[v];
		c->counts = *p->vcounts_ref[v];
		c->share = total.flows != 0 ? (double)c->counts.flows / (double)total.flows : 0;
		safem_profile_free_dims(c->dimension, c->free_dims);
		/* weighted flows bound the logged ones: thin so that about RU_SAMPLE_FLOWS
		 * or fewer remain */
		while ((c->counts.flows >> c->ru_sampled) > RU_SAMPLE_FLOWS)
			c->ru_sampled++;
		p->cluster_vh[p->nclusters] = value_hash(&c->value);
		filter_set(p->cluster_filter[d][f], p->cluster_vh[p->nclusters]);
		lookup_insert(p, cluster_key_hash(d, f, p->cluster_vh[p->nclusters]), p->nclusters);
		p->nclusters++;
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Cluster membership of the logged flows                                 */

static unsigned int
flow_direction(const struct safem_profiler *p, const struct safem_flow_key *k,
	       const struct safem_feature_value *src, const struct safem_feature_value *dst)
{
	bool s, t;

	(void)k;
	if (p->p.home == NULL || p->p.home->count == 0)
		return SAFEM_DIR_ALL;
	s = safem_home_contains(p->p.home, src);
	t = safem_home_contains(p->p.home, dst);
	if (s && t)
		return SAFEM_DIR_INTERNAL;
	if (t)
		return SAFEM_DIR_IN;
	if (s)
		return SAFEM_DIR_OUT;
	return SAFEM_DIR_ALL; /* transit: in ALL only, as lib/featdist counts it */
}

static int
assign_members(struct safem_profiler *p, const struct safem_featset *fs,
	       const struct safem_profile_flows *flows)
{
	size_t n = 0, i, total_members = 0;
	bool directional = p->p.home != NULL && p->p.home->count != 0;
	unsigned int s, c;
	int ret;

	for (s = 0; s < flows->segments; s++)
		n += flows->n[s];
	ret = ensure_flows(p, n);
	if (ret != 0)
		return ret;
	memset(p->member_start, 0, (p->nclusters + 1) * sizeof(*p->member_start));
	n = 0;
	for (s = 0; s < flows->segments; s++) {
		uint32_t j;

		for (j = 0; j < flows->n[s]; j++, n++) {
			const struct safem_profile_flow *fl = &flows->flow[s][j];
			unsigned int f, dirs[2], nd = 1, k;
			uint8_t nc = 0;
			bool exact;

			p->fptr[n] = fl;
			p->fweight[n] = safem_profile_flow_weight(fl);
			exact = flow_hashes(&fl->key, p->fhash[n]);
			p->fkey[n] = safem_hash_fmix64(p->fhash[n][0] ^ (p->fhash[n][1] << 1) ^
						       (p->fhash[n][2] << 2) ^
						       (p->fhash[n][3] << 3) ^ fl->key.proto);
			dirs[0] = SAFEM_DIR_ALL;
			if (directional) {
				struct safem_feature_value src, dst;
				unsigned int dir;

				flow_value(&fl->key, SAFEM_FEATURE_SRC_ADDR, &src);
				flow_value(&fl->key, SAFEM_FEATURE_DST_ADDR, &dst);
				dir = flow_direction(p, &fl->key, &src, &dst);
				if (dir != SAFEM_DIR_ALL && fs->dist[dir][0] != NULL)
					dirs[nd++] = dir;
			}
			for (k = 0; k < nd; k++)
				for (f = 0; f < SAFEM_FEATURE_COUNT; f++) {
					int ci = filter_has(p->cluster_filter[dirs[k]][f],
							    p->fhash[n][f])
							 ? lookup_find(p, dirs[k], f, p->fhash[n][f],
								       &fl->key, exact)
							 : -1;

					/* a large cluster keeps 1 in 2^thin of its flows,
					 * by flow hash (profile_cluster) */
					if (ci >= 0 &&
					    (p->clusters[ci].ru_sampled == 0 ||
					     (p->fkey[n] >> (64 - p->clusters[ci].ru_sampled)) ==
						     0)) {
						p->fclusters[n][nc++] = (uint32_t)ci;
						p->member_start[ci + 1]++;
					}
				}
			p->fnclusters[n] = nc;
			total_members += nc;
		}
	}
	if (total_members > p->mcap) {
		ret = grow((void **)&p->members, sizeof(*p->members), total_members);
		if (ret != 0)
			return ret;
		p->mcap = total_members;
	}
	for (c = 0; c < p->nclusters; c++)
		p->member_start[c + 1] += p->member_start[c];
	/* counting sort: member_start[c] walks from c's start to c+1's start, then is
	 * shifted back below */
	for (i = 0; i < n; i++) {
		unsigned int k;

		for (k = 0; k < p->fnclusters[i]; k++) {
			uint32_t ci = p->fclusters[i][k];
			struct member *m = &p->members[p->member_start[ci]++];
			const enum safem_feature *fd = p->clusters[ci].free_dims;

			m->hash[0] = p->fhash[i][fd[0]];
			m->hash[1] = p->fhash[i][fd[1]];
			m->hash[2] = p->fhash[i][fd[2]];
			m->weight = p->fweight[i];
			m->flow = (uint32_t)i;
		}
	}
	for (c = p->nclusters; c > 0; c--)
		p->member_start[c] = p->member_start[c - 1];
	p->member_start[0] = 0;
	p->logged = n;
	p->unlogged = flows->unlogged;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* RU, class, dominant state, profile                                     */

static void
count_clear(struct safem_profiler *p, size_t used)
{
	size_t i;

	for (i = 0; i < used; i++)
		p->count[p->count_used[i]].hash = 0;
}

/* Slots for n distinct values at load <= 1/2 (within ensure_count's allocation). */
static size_t
count_mask(size_t n)
{
	size_t slots = 16;

	while (slots < 2 * n)
		slots <<= 1;
	return slots - 1;
}

/* RU of free dimension f (the members' hash j) over the members; the mode's hash and
 * weight. The table is
 * sized for this cluster, not for the largest: small clusters count in L1. */
static double
free_dim_ru(struct safem_profiler *p, const struct member *mem, size_t nm, unsigned int j,
	    unsigned int f,
	    uint64_t *mode_hash, uint64_t *mode_weight)
{
	size_t mask = count_mask(nm), used = 0, i;
	double total = 0, sum = 0;

	*mode_weight = 0;
	*mode_hash = 0;
	for (i = 0; i < nm; i++) {
		uint64_t h = mem[i].hash[j];
		size_t s = (size_t)h & mask;

		while (p->count[s].hash != 0 && p->count[s].hash != h)
			s = (s + 1) & mask;
		if (p->count[s].hash == 0) {
			p->count[s].hash = h;
			p->count[s].weight = 0;
			p->count_used[used++] = (uint32_t)s;
		}
		p->count[s].weight += mem[i].weight;
	}
	for (i = 0; i < used; i++) {
		const struct count_slot *c = &p->count[p->count_used[i]];
		double w = (double)c->weight;

		total += w;
		sum += w * log(w);
		/* ties: the smaller hash, so the mode does not depend on log order */
		if (c->weight > *mode_weight || (c->weight == *mode_weight && c->hash < *mode_hash)) {
			*mode_weight = c->weight;
			*mode_hash = c->hash;
		}
	}
	count_clear(p, used);
	if (total <= 0)
		return 0;
	return ru_of(log(total) - sum / total, (double)nm, dim_space((enum safem_feature)f));
}

/* Profiles from class, dominant state and packets per flow (docs/detection.md). */
static enum safem_profile_kind
cluster_profile(const struct safem_profile_cluster *c)
{
	enum safem_profile_level l[3];
	double ppf = c->counts.flows != 0 ? (double)c->counts.packets / (double)c->counts.flows : 0;
	bool no_data = ppf <= SCAN_MAX_PACKETS_PER_FLOW;
	bool no_payload =
		c->counts.packets != 0 &&
		(double)c->counts.bytes / (double)c->counts.packets <= PROBE_MAX_BYTES_PER_PACKET;
	unsigned int j;

	for (j = 0; j < 3; j++)
		l[j] = safem_profile_ru_level(c->ru[j]);
	switch (c->dimension) {
	case SAFEM_FEATURE_SRC_ADDR: /* [src_port, dst_port, dst_addr] */
		/* probes to many hosts on one port (horizontal), or to many ports of one
		 * host (vertical), carrying no data */
		if (no_data && ((l[1] == SAFEM_PROFILE_LEVEL_L && l[2] == SAFEM_PROFILE_LEVEL_H) ||
				(no_payload && l[1] == SAFEM_PROFILE_LEVEL_H &&
				 l[2] == SAFEM_PROFILE_LEVEL_L)))
			return SAFEM_PROFILE_SCAN_EXPLOIT;
		/* BC6-8: answers from one service port to ephemeral client ports */
		if (l[0] == SAFEM_PROFILE_LEVEL_L && l[1] == SAFEM_PROFILE_LEVEL_H)
			return SAFEM_PROFILE_SERVER;
		if (l[2] == SAFEM_PROFILE_LEVEL_L)
			return SAFEM_PROFILE_HEAVY_HITTER;
		return SAFEM_PROFILE_NONE;
	case SAFEM_FEATURE_DST_ADDR: /* [src_port, dst_port, src_addr] */
		/* requests from ephemeral ports to one service port that carry data */
		if (!no_data && l[0] == SAFEM_PROFILE_LEVEL_H && l[1] == SAFEM_PROFILE_LEVEL_L)
			return SAFEM_PROFILE_SERVER;
		if (!no_data && l[2] == SAFEM_PROFILE_LEVEL_L)
			return SAFEM_PROFILE_HEAVY_HITTER;
		return SAFEM_PROFILE_NONE;
	case SAFEM_FEATURE_SRC_PORT: /* [dst_port, src_addr, dst_addr]: a service's answers */
		if (l[0] == SAFEM_PROFILE_LEVEL_H && l[1] != SAFEM_PROFILE_LEVEL_H)
			return SAFEM_PROFILE_SERVER;
		return SAFEM_PROFILE_NONE;
	default: /* dst_port: [src_port, src_addr, dst_addr] */
		/* an exploited port: one or a few sources probing many hosts without data */
		if (no_data && l[1] == SAFEM_PROFILE_LEVEL_L && l[2] == SAFEM_PROFILE_LEVEL_H)
			return SAFEM_PROFILE_SCAN_EXPLOIT;
		if (!no_data && l[0] == SAFEM_PROFILE_LEVEL_H && l[2] != SAFEM_PROFILE_LEVEL_H)
			return SAFEM_PROFILE_SERVER;
		return SAFEM_PROFILE_NONE;
	}
}

static int
profile_cluster(struct safem_profiler *p, struct safem_profile_cluster *c, unsigned int ci)
{
	const struct member *mem = &p->members[p->member_start[ci]];
	size_t nm = p->member_start[ci + 1] - p->member_start[ci], i;
	uint64_t mode_hash[3], mode_weight[3], cover[8] = {0}, total = 0;
	uint32_t mode_first[3] = {0, 0, 0};
	unsigned int j, s, best = 0, best_bits = 0;
	uint64_t best_cover = 0;
	int ret = ensure_count(p, nm);

	if (ret != 0)
		return ret;
	c->observations = nm; /* after thinning */
	for (j = 0; j < 3; j++)
		c->ru[j] = free_dim_ru(p, mem, nm, j, c->free_dims[j], &mode_hash[j],
				       &mode_weight[j]);
	c->cls = safem_profile_class(c->ru);
	/* Dominant state: weight per "which free dims equal their mode" mask, then the
	 * state with the most fixed dims covering more than DOMINANT_SHARE. */
	for (i = 0; i < nm; i++) {
		unsigned int m = 0;

		for (j = 0; j < 3; j++)
			if (mem[i].hash[j] == mode_hash[j]) {
				m |= 1u << j;
				mode_first[j] = mem[i].flow; /* a flow holding the mode, for its value */
			}
		cover[m] += mem[i].weight;
		total += mem[i].weight;
	}
	for (s = 1; s < 8; s++) {
		uint64_t w = 0;
		unsigned int m, bits = (unsigned int)__builtin_popcount(s);

		for (m = 0; m < 8; m++)
			if ((m & s) == s)
				w += cover[m];
		if ((double)w <= DOMINANT_SHARE * (double)total)
			continue;
		if (bits > best_bits || (bits == best_bits && w > best_cover)) {
			best = s;
			best_bits = bits;
			best_cover = w;
		}
	}
	c->dominant_mask = (uint8_t)best;
	c->dominant_share = total != 0 ? (double)best_cover / (double)total : 0;
	for (j = 0; j < 3; j++)
		if (best & (1u << j))
			flow_value(&p->fptr[mode_first[j]]->key, c->free_dims[j], &c->dominant[j]);
	c->profile = nm != 0 ? cluster_profile(c) : SAFEM_PROFILE_NONE;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* History: classes of a cluster across windows                           */

static struct history_entry *
history_find(struct safem_profiler *p, const struct safem_profile_cluster *c, bool insert)
{
	uint64_t h = cluster_key_hash(c->direction, c->dimension, value_hash(&c->value));
	uint32_t s = (uint32_t)h & (HISTORY_CAPACITY - 1);

	for (; p->history[s].hash != 0; s = (s + 1) & (HISTORY_CAPACITY - 1)) {
		struct history_entry *e = &p->history[s];

		if (e->hash == h && e->direction == c->direction && e->dimension == c->dimension &&
		    memcmp(&e->value, &c->value, sizeof(c->value)) == 0)
			return e;
	}
	/* open addressing stays fast below 3/4 full */
	if (!insert || p->history_used >= HISTORY_CAPACITY * 3 / 4)
		return NULL;
	memset(&p->history[s], 0, sizeof(p->history[s]));
	p->history[s].hash = h;
	p->history[s].direction = (uint8_t)c->direction;
	p->history[s].dimension = (uint8_t)c->dimension;
	p->history[s].value = c->value;
	p->history[s].stable_class = -1;
	p->history[s].run_class = -1;
	p->history_used++;
	return &p->history[s];
}

/* Forget clusters not significant for HISTORY_WINDOWS windows (rebuild: open addressing
 * has no cheap delete). Runs when the table is half full, so at most once every few
 * thousand new clusters. */
static void
history_expire(struct safem_profiler *p)
{
	struct history_entry *old;
	unsigned int i;

	if (p->history_used < HISTORY_CAPACITY / 2)
		return;
	old = malloc(HISTORY_CAPACITY * sizeof(*old));
	if (old == NULL)
		return; /* try again next window */
	memcpy(old, p->history, HISTORY_CAPACITY * sizeof(*old));
	memset(p->history, 0, HISTORY_CAPACITY * sizeof(*old));
	p->history_used = 0;
	for (i = 0; i < HISTORY_CAPACITY; i++) {
		uint32_t s;

		if (old[i].hash == 0 || p->window_no - old[i].last_window > HISTORY_WINDOWS)
			continue;
		s = (uint32_t)old[i].hash & (HISTORY_CAPACITY - 1);
		while (p->history[s].hash != 0)
			s = (s + 1) & (HISTORY_CAPACITY - 1);
		p->history[s] = old[i];
		p->history_used++;
	}
	free(old);
}

/* Every level that changed from class old is margin past the boundary it crossed. */
static bool
class_change_clear(const double ru[3], unsigned int old, unsigned int cls, double margin)
{
	static const unsigned int weight[3] = {9, 3, 1};
	unsigned int j;

	for (j = 0; j < 3; j++) {
		unsigned int was = old / weight[j] % 3, now = cls / weight[j] % 3;

		if (now > was && ru[j] < (now == SAFEM_PROFILE_LEVEL_H ? SAFEM_PROFILE_RU_HIGH
								       : SAFEM_PROFILE_RU_LOW) +
						 margin)
			return false;
		if (now < was && ru[j] > (now == SAFEM_PROFILE_LEVEL_L ? SAFEM_PROFILE_RU_LOW
								       : SAFEM_PROFILE_RU_HIGH) -
						 margin)
			return false;
	}
	return true;
}

double
safem_profile_level_margin(uint64_t observations)
{
	/* two standard errors of a share measured on m observations (binomial, p(1-p) <= 1/4):
	 * 2 sqrt(1/(4m)) = 1/sqrt(m) */
	double margin = observations != 0 ? 1.0 / sqrt((double)observations) : 1.0;

	return margin < CLASS_CHANGE_MARGIN ? CLASS_CHANGE_MARGIN : margin;
}

bool
safem_profile_class_change(const uint8_t *before, unsigned int nbefore, unsigned int old_class,
			   unsigned int new_class, const double ru[3], uint64_t observations)
{
	unsigned int i, old_windows = 0;

	if (old_class == new_class || nbefore < SAFEM_PROFILE_CHANGE_MIN_HISTORY)
		return false;
	for (i = 0; i < nbefore; i++) {
		if (before[i] == new_class)
			return false; /* a class it visits: no new behaviour */
		old_windows += before[i] == old_class;
	}
	/* stable: the old class was its behaviour most of the time (2 x share >= 1) */
	if (2 * old_windows < nbefore)
		return false;
	return class_change_clear(ru, old_class, new_class,
				  safem_profile_level_margin(observations));
}

static void
history_update(struct safem_profiler *p, struct safem_profile_cluster *c)
{
	struct history_entry *e = history_find(p, c, true);
	unsigned int i, n, same = 0;
	bool scan = c->profile == SAFEM_PROFILE_SCAN_EXPLOIT;

	if (e == NULL) {
		p->totals.history_full++;
		c->consecutive = 1;
		c->stability = 1;
		c->new_scan_exploit = false; /* not remembered: cannot persist */
		c->scan_run_observations = scan ? c->observations : 0;
		return;
	}
	if (e->nclasses != 0 && e->last_window + 1 == p->window_no) {
		e->consecutive++;
	} else {
		/* absent in between: runs start again, so a change needs consecutive windows */
		e->consecutive = 1;
		e->run = 0;
		e->scan_run = 0;
		e->scan_observations = 0;
		e->scan_reported = false;
	}
	e->last_window = p->window_no;
	e->classes[e->nclasses % HISTORY_WINDOWS] = (uint8_t)c->cls;
	e->nclasses++;
	n = e->nclasses < HISTORY_WINDOWS ? e->nclasses : HISTORY_WINDOWS;
	for (i = 0; i < n; i++)
		same += e->classes[i] == c->cls;
	c->consecutive = e->consecutive;
	c->stability = (double)same / n;
	if (e->run != 0 && e->run_class == (int)c->cls)
		e->run++;
	else
		e->run_class = (int)c->cls, e->run = 1;
	c->previous_class = e->stable_class >= 0 ? (unsigned int)e->stable_class : c->cls;
	if (e->run == CLASS_PERSIST_WINDOWS) {
		/* the first stable class is a baseline, not a change */
		if (e->stable_class >= 0 && e->stable_class != e->run_class) {
			uint8_t before[HISTORY_WINDOWS];
			unsigned int nbefore = n - e->run;

			/* the ring's windows before the run: the oldest n - run of the last n */
			for (i = 0; i < nbefore; i++)
				before[i] = e->classes[(e->nclasses - n + i) % HISTORY_WINDOWS];
			c->class_changed = safem_profile_class_change(
				before, nbefore, (unsigned int)e->stable_class, c->cls, c->ru,
				c->observations);
		}
		e->stable_class = e->run_class;
	}
	/* like a class change: a profile must hold two windows in a row to count, and on
	 * enough flows for its L and H levels to be told from M (a scan of a handful of flows
	 * is no evidence): the run's windows together hold SAFEM_PROFILE_ALERT_MIN_OBSERVATIONS.
	 * Once per run. */
	if (scan) {
		e->scan_run++;
		e->scan_observations += c->observations;
	} else {
		e->scan_run = 0;
		e->scan_observations = 0;
		e->scan_reported = false;
	}
	c->scan_run_observations = e->scan_observations;
	c->new_scan_exploit = !e->scan_reported && e->scan_run >= CLASS_PERSIST_WINDOWS &&
			      e->scan_observations >= SAFEM_PROFILE_ALERT_MIN_OBSERVATIONS;
	if (c->new_scan_exploit)
		e->scan_reported = true;
}

/* ---------------------------------------------------------------------- */
/* Top-N hosts                                                            */

struct host_acc {
	struct safem_profiler *p;
	struct cluster_slot *table; /* hash -> index into p->vvalues */
	size_t mask;
};

static void
host_add(struct host_acc *a, const struct safem_feature_value *v,
	 const struct safem_featdist_counts *c)
{
	struct safem_profiler *p = a->p;
	uint64_t h = value_hash(v);
	size_t s = (size_t)h & a->mask;

	for (;;) {
		struct cluster_slot *t = &a->table[s];

		if (t->hash == 0) {
			t->hash = h;
			t->index = (uint32_t)p->nv;
			p->vvalues[p->nv] = *v;
			p->vcounts[p->nv] = *c;
			p->nv++;
			return;
		}
		if (t->hash == h && memcmp(&p->vvalues[t->index], v, sizeof(*v)) == 0) {
			p->vcounts[t->index].flows += c->flows;
			p->vcounts[t->index].packets += c->packets;
			p->vcounts[t->index].bytes += c->bytes;
			return;
		}
		s = (s + 1) & a->mask;
	}
}

static void
host_collect(const struct safem_feature_value *v, const struct safem_featdist_counts *c,
	     void *ctx)
{
	host_add(ctx, v, c);
}

static enum safem_weight host_rank_weight;

static int
compare_host_rank(const void *a, const void *b)
{
	const struct safem_profiler *p = sort_ctx;
	uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
	uint64_t x = safem_featdist_counts_weight(&p->vcounts[i], host_rank_weight);
	uint64_t y = safem_featdist_counts_weight(&p->vcounts[j], host_rank_weight);

	if (x != y)
		return x > y ? -1 : 1;
	return memcmp(&p->vvalues[i], &p->vvalues[j], sizeof(p->vvalues[i]));
}

/* Peers and ports of the selected hosts from the flow log (hash of the peer as the
 * peer's identity, as for the free dimensions). */
static int
host_details(struct safem_profiler *p)
{
	size_t n = p->logged, i, used_ports = 0, mask, bound = 0, bound_slots;
	unsigned int h, k, side, thin = 0;
	uint32_t key;
	int ret;

	/* A port slot per sampled logged flow of a host: at most the hosts' flows (each
	 * logged flow weighs at least one) and two per logged flow, thinned. */
	for (h = 0; h < p->nhosts; h++)
		bound += p->hosts[h].counts.flows;
	bound = bound < 2 * n ? bound : 2 * n;
	while ((bound >> thin) > HOST_PORT_SAMPLE_FLOWS)
		thin++;
	bound = (bound >> thin) + 16;
	ret = ensure_count(p, 2 * bound);
	if (ret != 0)
		return ret;
	mask = count_mask(bound);
	bound_slots = mask + 1;
	if (bound_slots > p->host_ports_cap) {
		free(p->host_ports);
		p->host_ports = calloc(bound_slots, sizeof(*p->host_ports));
		if (p->host_ports == NULL) {
			p->host_ports_cap = 0;
			return -ENOMEM;
		}
		p->host_ports_cap = bound_slots;
	}
	/* host hash -> host, so each logged flow costs two probes */
	memset(p->host_lookup, 0, sizeof(p->host_lookup));
	for (h = 0; h < p->nhosts; h++) {
		uint64_t hh = value_hash(&p->hosts[h].value);
		uint32_t s = (uint32_t)hh & (HOST_LOOKUP - 1);

		while (p->host_lookup[s].hash != 0)
			s = (s + 1) & (HOST_LOOKUP - 1);
		p->host_lookup[s].hash = hh;
		p->host_lookup[s].index = h;
	}
	for (i = 0; i < n; i++) {
		const struct safem_profile_flow *fl = p->fptr[i];

		for (side = 0; side < 2; side++) {
			unsigned int me = side == 0 ? SAFEM_FEATURE_SRC_ADDR : SAFEM_FEATURE_DST_ADDR;
			unsigned int other = side == 0 ? SAFEM_FEATURE_DST_ADDR : SAFEM_FEATURE_SRC_ADDR;
			uint64_t hh = p->fhash[i][me], peer = p->fhash[i][other];
			/* the destination port either way: the service the host uses (as
			 * source) or offers (as destination), not its ephemeral ports */
			uint16_t port = fl->key.dst_port;
			uint32_t ls = (uint32_t)hh & (HOST_LOOKUP - 1);
			struct host *ho;
			size_t s;

			while (p->host_lookup[ls].hash != 0 && p->host_lookup[ls].hash != hh)
				ls = (ls + 1) & (HOST_LOOKUP - 1);
			if (p->host_lookup[ls].hash == 0)
				continue;
			h = p->host_lookup[ls].index;
			ho = &p->hosts[h];
			/* distinct peers: HLL register = top bits, rank = leading zeros + 1 */
			{
				uint32_t reg = (uint32_t)(peer >> (64 - HOST_PEER_BITS));
				uint64_t rest = peer << HOST_PEER_BITS;
				uint8_t rank = rest == 0 ? (uint8_t)(65 - HOST_PEER_BITS)
							 : (uint8_t)(__builtin_clzll(rest) + 1);

				if (rank > ho->peer_hll[reg])
					ho->peer_hll[reg] = rank;
			}
			if (thin != 0 && (p->fkey[i] >> (64 - thin)) != 0)
				continue;
			/* flows per (host, port it used), (host, port) itself as the key; the
			 * top HOST_PORTS kept below */
			key = (uint32_t)h << 16 | port;
			s = (size_t)safem_hash_fmix64(key + UINT64_C(0x51ed270b)) & mask;
			while (p->host_ports[s].flows != 0 && p->host_ports[s].key != key)
				s = (s + 1) & mask;
			if (p->host_ports[s].flows == 0) {
				p->host_ports[s].key = key;
				p->count_used[used_ports++] = (uint32_t)s;
			}
			p->host_ports[s].flows += (uint64_t)safem_profile_flow_weight(fl) << thin;
		}
	}
	for (h = 0; h < p->nhosts; h++)
		p->hosts[h].peers = (uint64_t)llround(
			safem_hll_estimate(p->hosts[h].peer_hll, HOST_PEER_REGISTERS));
	for (i = 0; i < used_ports; i++) {
		const struct host_port *c = &p->host_ports[p->count_used[i]];
		struct host *ho = &p->hosts[c->key >> 16];
		uint16_t port = (uint16_t)c->key;
		uint64_t weight = c->flows;
		for (k = 0; k < HOST_PORTS; k++)
			if (weight > ho->ports[k].flows ||
			    (weight == ho->ports[k].flows && port < ho->ports[k].port))
				break;
		if (k == HOST_PORTS)
			continue;
		memmove(&ho->ports[k + 1], &ho->ports[k],
			(HOST_PORTS - 1 - k) * sizeof(ho->ports[0]));
		ho->ports[k].port = port;
		ho->ports[k].flows = weight;
	}
	for (i = 0; i < used_ports; i++)
		p->host_ports[p->count_used[i]].flows = 0;
	return 0;
}

static enum safem_profile_kind
host_profile(const struct safem_profiler *p, const struct safem_feature_value *v)
{
	unsigned int i;
	enum safem_profile_kind k = SAFEM_PROFILE_NONE;

	/* the source cluster's profile first (what the host does), else the destination's */
	for (i = 0; i < p->nclusters; i++) {
		const struct safem_profile_cluster *c = &p->clusters[i];

		if (c->direction != SAFEM_DIR_ALL || c->profile == SAFEM_PROFILE_NONE ||
		    memcmp(&c->value, v, sizeof(*v)) != 0)
			continue;
		if (c->dimension == SAFEM_FEATURE_SRC_ADDR)
			return c->profile;
		if (c->dimension == SAFEM_FEATURE_DST_ADDR)
			k = c->profile;
	}
	return k;
}

/* Hosts (addresses as source or destination, direction all) ranked by flows, packets
 * and bytes; the union of the three top lists gets peers, ports and profile. */
static int
top_hosts(struct safem_profiler *p, const struct safem_featset *fs, uint32_t rank[SAFEM_WEIGHT_COUNT][SAFEM_PROFILE_TOP_MAX],
	  unsigned int nrank[3])
{
	const struct safem_featdist *src = fs->dist[SAFEM_DIR_ALL][SAFEM_FEATURE_SRC_ADDR];
	const struct safem_featdist *dst = fs->dist[SAFEM_DIR_ALL][SAFEM_FEATURE_DST_ADDR];
	size_t n = (size_t)safem_featdist_values(src) + safem_featdist_values(dst), slots = 16, i;
	struct host_acc a = {p, NULL, 0};
	unsigned int w, k, h;
	int ret = ensure_values(p, n);

	if (ret != 0)
		return ret;
	while (slots < 2 * n)
		slots <<= 1;
	/* kept across windows: a fresh calloc of megabytes per window costs more in page
	 * faults than the join itself */
	if (slots > p->host_table_cap) {
		free(p->host_table);
		p->host_table = calloc(slots, sizeof(*p->host_table));
		p->host_table_cap = p->host_table != NULL ? slots : 0;
		if (p->host_table == NULL)
			return -ENOMEM;
	}
	a.table = p->host_table;
	a.mask = slots - 1;
	p->nv = 0;
	safem_featdist_foreach(src, host_collect, &a);
	safem_featdist_foreach(dst, host_collect, &a);
	memset(a.table, 0, slots * sizeof(*a.table));
	p->nhosts = 0;
	sort_ctx = p;
	for (w = 0; w < SAFEM_WEIGHT_COUNT; w++) {
		unsigned int top = 0;
		uint64_t last = 0; /* weight of the last kept host once top_hosts are kept */

		/* one pass keeping the best top_hosts in order (most values lose to the
		 * last kept one at once): no sort of every host */
		host_rank_weight = (enum safem_weight)w;
		for (i = 0; i < p->nv; i++) {
			uint32_t v = (uint32_t)i;

			/* most values weigh less than the last kept one: no full compare */
			if (top == p->p.top_hosts &&
			    safem_featdist_counts_weight(&p->vcounts[v], host_rank_weight) < last)
				continue;
			if (top == p->p.top_hosts &&
			    compare_host_rank(&v, &p->vorder[top - 1]) >= 0)
				continue;
			k = top < p->p.top_hosts ? top++ : top - 1;
			while (k > 0 && compare_host_rank(&v, &p->vorder[k - 1]) < 0) {
				p->vorder[k] = p->vorder[k - 1];
				k--;
			}
			p->vorder[k] = v;
			if (top == p->p.top_hosts)
				last = safem_featdist_counts_weight(&p->vcounts[p->vorder[top - 1]],
								    host_rank_weight);
		}
		nrank[w] = top;
		for (k = 0; k < nrank[w]; k++) {
			uint32_t v = p->vorder[k];

			for (h = 0; h < p->nhosts; h++)
				if (memcmp(&p->hosts[h].value, &p->vvalues[v], sizeof(p->vvalues[v])) ==
				    0)
					break;
			if (h == p->nhosts) {
				memset(&p->hosts[h], 0, sizeof(p->hosts[h]));
				p->hosts[h].value = p->vvalues[v];
				p->hosts[h].counts = p->vcounts[v];
				p->hosts[h].profile = host_profile(p, &p->vvalues[v]);
				p->nhosts++;
			}
			rank[w][k] = h;
		}
	}
	return host_details(p);
}

/* ---------------------------------------------------------------------- */
/* Report                                                                 */

void
safem_profile_cluster_json(FILE *f, const struct safem_profile_cluster *c)
{
	char text[64];
	const char *kind = safem_profile_kind_name(c->profile);
	unsigned int j;

	safem_profile_value_format(c->dimension, &c->value, text, sizeof(text));
	fprintf(f, "\"direction\": \"%s\", \"dimension\": \"%s\", ",
		safem_direction_name(c->direction), safem_feature_name(c->dimension));
	if (c->dimension == SAFEM_FEATURE_SRC_PORT || c->dimension == SAFEM_FEATURE_DST_PORT)
		fprintf(f, "\"value\": %s", text);
	else
		fprintf(f, "\"value\": \"%s\"", text);
	fprintf(f,
		", \"flows\": %" PRIu64 ", \"packets\": %" PRIu64 ", \"bytes\": %" PRIu64
		", \"share\": %.6f, \"ru\": [%.4f, %.4f, %.4f], \"class\": %u, \"profile\": ",
		c->counts.flows, c->counts.packets, c->counts.bytes, c->share, c->ru[0], c->ru[1],
		c->ru[2], c->cls);
	if (kind != NULL)
		fprintf(f, "\"%s\"", kind);
	else
		fprintf(f, "null");
	fprintf(f, ", \"dominant\": ");
	if (c->dominant_mask == 0) {
		fprintf(f, "null");
	} else {
		fprintf(f, "{");
		for (j = 0; j < 3; j++) {
			const char *name = safem_feature_name(c->free_dims[j]);

			if (!(c->dominant_mask & (1u << j))) {
				fprintf(f, "\"%s\": \"*\", ", name);
				continue;
			}
			safem_profile_value_format(c->free_dims[j], &c->dominant[j], text,
						   sizeof(text));
			if (c->free_dims[j] == SAFEM_FEATURE_SRC_PORT ||
			    c->free_dims[j] == SAFEM_FEATURE_DST_PORT)
				fprintf(f, "\"%s\": %s, ", name, text);
			else
				fprintf(f, "\"%s\": \"%s\", ", name, text);
		}
		fprintf(f, "\"share\": %.4f}", c->dominant_share);
	}
	fprintf(f,
		", \"observed_flows\": %" PRIu64 ", \"ru_sample\": %u, \"windows\": %u"
		", \"stability\": %.4f",
		c->observations, 1u << c->ru_sampled, c->consecutive, c->stability);
}

static void
write_hosts(const struct safem_profiler *p, FILE *f, uint32_t rank[SAFEM_WEIGHT_COUNT][SAFEM_PROFILE_TOP_MAX],
	    const unsigned int nrank[3])
{
	unsigned int w, k, j;
	char text[64];

	fprintf(f, ", \"hosts\": {");
	for (w = 0; w < SAFEM_WEIGHT_COUNT; w++) {
		fprintf(f, "%s\"by_%s\": [", w ? ", " : "", safem_weight_name((enum safem_weight)w));
		for (k = 0; k < nrank[w]; k++) {
			const struct host *h = &p->hosts[rank[w][k]];
			const char *kind = safem_profile_kind_name(h->profile);

			safem_profile_value_format(SAFEM_FEATURE_SRC_ADDR, &h->value, text,
						   sizeof(text));
			fprintf(f,
				"%s{\"host\": \"%s\", \"flows\": %" PRIu64 ", \"packets\": %" PRIu64
				", \"bytes\": %" PRIu64 ", \"peers\": %" PRIu64 ", \"ports\": [",
				k ? ", " : "", text, h->counts.flows, h->counts.packets,
				h->counts.bytes, h->peers);
			for (j = 0; j < HOST_PORTS && h->ports[j].flows != 0; j++)
				fprintf(f, "%s{\"port\": %u, \"flows\": %" PRIu64 "}", j ? ", " : "",
					h->ports[j].port, h->ports[j].flows);
			fprintf(f, "], \"profile\": ");
			if (kind != NULL)
				fprintf(f, "\"%s\"}", kind);
			else
				fprintf(f, "null}");
		}
		fprintf(f, "]");
	}
	fprintf(f, "}");
}

static void
write_report(const struct safem_profiler *p, const struct safem_featset *fs, FILE *f)
{
	unsigned int i, d, dim;

	fprintf(f, ", \"clusters\": [");
	for (i = 0; i < p->nclusters; i++) {
		fprintf(f, "%s{", i ? ", " : "");
		safem_profile_cluster_json(f, &p->clusters[i]);
		fprintf(f, "}");
	}
	fprintf(f, "], \"profile\": {\"alpha0\": %g, \"beta\": %g, \"flows_logged\": %" PRIu64
		   ", \"flows_unlogged\": %" PRIu64 ", \"alpha\": {",
		p->p.alpha0, p->p.beta, p->logged, p->unlogged);
	for (d = 0; d < SAFEM_DIR_COUNT; d++) {
		if (fs->dist[d][0] == NULL)
			continue;
		fprintf(f, "%s\"%s\": {", d ? ", " : "", safem_direction_name((enum safem_direction)d));
		for (dim = 0; dim < SAFEM_FEATURE_COUNT; dim++)
			fprintf(f, "%s\"%s\": %.8f", dim ? ", " : "",
				safem_feature_name((enum safem_feature)dim), p->thr[d][dim].alpha);
		fprintf(f, "}");
	}
	fprintf(f, "}}");
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int
safem_profiler_window(struct safem_profiler *p, const struct safem_featset *fs,
		      const struct safem_profile_flows *flows, uint64_t start_ms,
		      uint64_t end_ms, FILE *members)
{
	unsigned int nrank[3] = {0, 0, 0};
	uint64_t t0 = now_ns(), ns;
	unsigned int d, f, c;
	int ret = 0;

	(void)start_ms;
	(void)end_ms;
	p->window_no++;
	p->nclusters = 0;
	memset(p->lookup, 0, ((size_t)p->lookup_mask + 1) * sizeof(*p->lookup));
	memset(p->thr, 0, sizeof(p->thr));
	memset(p->cluster_filter, 0, sizeof(p->cluster_filter));
	for (d = 0; d < SAFEM_DIR_COUNT && ret == 0; d++)
		for (f = 0; f < SAFEM_FEATURE_COUNT && ret == 0; f++)
			if (fs->dist[d][f] != NULL)
				ret = extract_clusters(p, fs, d, f);
	if (ret == 0)
		ret = assign_members(p, fs, flows);
	for (c = 0; c < p->nclusters && ret == 0; c++)
		ret = profile_cluster(p, &p->clusters[c], c);
	if (ret != 0)
		return ret;
	history_expire(p);
	for (c = 0; c < p->nclusters; c++)
		history_update(p, &p->clusters[c]);
	if (p->p.top_hosts != 0)
		ret = top_hosts(p, fs, p->rank, nrank);
	if (ret != 0)
		return ret;
	ns = now_ns() - t0;
	p->totals.windows++;
	p->totals.clusters += p->nclusters;
	p->totals.ns_total += ns;
	if (ns > p->totals.ns_max)
		p->totals.ns_max = ns;
	if (members == NULL)
		return 0;
	write_report(p, fs, members);
	if (p->p.top_hosts != 0)
		write_hosts(p, members, p->rank, nrank);
	return ferror(members) ? -EIO : 0;
}

unsigned int
safem_profiler_clusters(const struct safem_profiler *p, const struct safem_profile_cluster **out)
{
	*out = p->clusters;
	return p->nclusters;
}

void
safem_profiler_totals(const struct safem_profiler *p, struct safem_profiler_totals *out)
{
	*out = p->totals;
}
