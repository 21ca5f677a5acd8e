/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SAFEM_FEATDIST_H
#define SAFEM_FEATDIST_H

/**
 * @file
 * Feature distributions of one window (Traffic Entropy Spectrum input): for
 * each traffic direction and each feature (source / destination address,
 * source / destination port), how many flows, packets and bytes each
 * distinct value had.
 *
 * Memory is bounded. A distribution keeps at most `capacity` distinct values
 * exactly (open addressing, no allocation after create). Past that, values
 * not already present go to the remainder: its volume is exact, its number
 * of distinct values is estimated by linear counting over a fixed bitmap,
 * and the spectrum treats the remainder as that many values of equal share
 * (docs/detection.md states the error this causes).
 *
 * A producer lcore fills the distributions of its own pane; the analysis
 * lcore merges the panes of all producers (exact for the kept values,
 * volume-exact for the remainder). One lcore at a time; no lock; no log.
 */

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "safem_hash.h"
#include "safem_packet.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Direction of a flow relative to the home prefixes. */
enum safem_direction {
	SAFEM_DIR_ALL = 0,  /**< every flow (the only one when no home prefix is set) */
	SAFEM_DIR_IN,       /**< outside -> home */
	SAFEM_DIR_OUT,      /**< home -> outside */
	SAFEM_DIR_INTERNAL, /**< home -> home */
	SAFEM_DIR_COUNT
};

enum safem_feature {
	SAFEM_FEATURE_SRC_ADDR = 0,
	SAFEM_FEATURE_DST_ADDR,
	SAFEM_FEATURE_SRC_PORT,
	SAFEM_FEATURE_DST_PORT,
	SAFEM_FEATURE_COUNT
};

/** What a distribution counts per value. */
enum safem_weight {
	SAFEM_WEIGHT_FLOWS = 0,
	SAFEM_WEIGHT_PACKETS,
	SAFEM_WEIGHT_BYTES,
	SAFEM_WEIGHT_COUNT
};

/** Flow classes counted per direction (disjoint). */
enum safem_proto_class {
	SAFEM_PROTO_TCP_SYN = 0, /**< TCP flows with SYN and neither ACK nor RST seen (yet) */
	SAFEM_PROTO_TCP,         /**< other TCP flows */
	SAFEM_PROTO_UDP,
	SAFEM_PROTO_ICMP,        /**< ICMP and ICMPv6 */
	SAFEM_PROTO_OTHER,
	SAFEM_PROTO_COUNT
};

/** Names used in reports, alerts and docs ("all", "in", ...; "src_addr", ...). */
const char *safem_direction_name(enum safem_direction d);
const char *safem_feature_name(enum safem_feature f);
const char *safem_weight_name(enum safem_weight w);
const char *safem_proto_class_name(enum safem_proto_class p);

struct safem_featdist_counts {
	uint64_t flows;
	uint64_t packets;
	uint64_t bytes;
};

static inline uint64_t
safem_featdist_counts_weight(const struct safem_featdist_counts *c, enum safem_weight w)
{
	return w == SAFEM_WEIGHT_FLOWS ? c->flows : w == SAFEM_WEIGHT_PACKETS ? c->packets : c->bytes;
}

/**
 * A feature value: an address as 16 bytes (IPv4 v4-mapped ::ffff:a.b.c.d, as
 * the aggregation trees store it) or a port in bytes 14-15 (network order),
 * the rest zero.
 */
struct safem_feature_value {
	uint8_t bytes[16];
};

/** One distribution. */
struct safem_featdist;

/** capacity: distinct values kept exactly (>= 16). NULL with rte_errno EINVAL / ENOMEM. */
struct safem_featdist *safem_featdist_create(uint32_t capacity, int socket_id);
void safem_featdist_free(struct safem_featdist *fd);
void safem_featdist_clear(struct safem_featdist *fd);

void safem_featdist_add(struct safem_featdist *fd, const struct safem_feature_value *v,
			const struct safem_featdist_counts *c);
/** dst += src (values of src that do not fit in dst go to dst's remainder). */
void safem_featdist_merge(struct safem_featdist *dst, const struct safem_featdist *src);

/** Values kept exactly. */
uint32_t safem_featdist_values(const struct safem_featdist *fd);
/** Total volume, kept values plus remainder. */
void safem_featdist_total(const struct safem_featdist *fd, struct safem_featdist_counts *out);
/**
 * The remainder: its volume (zero when everything fitted) and the estimated
 * number of distinct values in it (0 when empty).
 */
void safem_featdist_remainder(const struct safem_featdist *fd, struct safem_featdist_counts *mass,
			      double *distinct_estimate);
/**
 * HyperLogLog estimate (Flajolet et al. 2007, small-range correction) of
 * `registers` (a power of two >= 16) registers, each the largest rank seen:
 * for other bounded distinct counts (lib/profile's host peers).
 */
double safem_hll_estimate(const uint8_t *registers, unsigned int count);

/**
 * Adds behind the counts: each flow once whatever its weight (1 per add, sums under
 * merge). Total flows / observations is the mean weight of an observation, which the
 * surge guard raises above 1 (lib/profile normalises RU by observations, not flows).
 */
uint64_t safem_featdist_observations(const struct safem_featdist *fd);

/** Distinct values: kept + remainder estimate. */
double safem_featdist_distinct(const struct safem_featdist *fd);

typedef void (*safem_featdist_fn)(const struct safem_feature_value *v,
				  const struct safem_featdist_counts *c, void *ctx);
/** Every kept value, in table order (not sorted). */
void safem_featdist_foreach(const struct safem_featdist *fd, safem_featdist_fn fn, void *ctx);

/**
 * The 64-bit hash of a value the distributions index it by: xor-multiply-shift of the 16
 * bytes, murmur3 finaliser. Inline here, not exported from featdist.c: every flow's add
 * hashes each feature value, and a global function in position-independent code is a call
 * the compiler may not inline (lib/window's per-value ICMP packets hash with it too).
 */
static inline uint64_t
safem_feature_value_hash(const struct safem_feature_value *v)
{
	uint64_t a, b, h;

	memcpy(&a, v->bytes, 8);
	memcpy(&b, v->bytes + 8, 8);
	h = a * UINT64_C(0x9e3779b97f4a7c15) ^ (b + UINT64_C(0x632be59bd9b4e019)) *
						   UINT64_C(0xc2b2ae3d27d4eb4f);
	return safem_hash_fmix64(h);
}

/** Home prefixes (up to SAFEM_HOME_PREFIXES_MAX), 16-byte form as above. */
#define SAFEM_HOME_PREFIXES_MAX 64
struct safem_home {
	unsigned int count;
	struct {
		struct safem_feature_value addr; /**< host bits zero */
		uint8_t len;                     /**< 0..128 (IPv4 /n is 96 + n) */
	} prefix[SAFEM_HOME_PREFIXES_MAX];
};

/** Parse "a.b.c.d/n" or "x:y::/n" into h (appends). 0, or -EINVAL (bad text), -ENOSPC. */
int safem_home_add(struct safem_home *h, const char *cidr);
bool safem_home_contains(const struct safem_home *h, const struct safem_feature_value *addr);

/**
 * The feature distributions of one pane or window: per direction in use, per
 * feature, plus volumes and flow classes per direction. Directions: ALL
 * always; IN, OUT and INTERNAL when home prefixes are set (flows between two
 * outside hosts only count in ALL).
 */
struct safem_featset {
	bool directional; /**< IN/OUT/INTERNAL in use */
	struct safem_featdist *dist[SAFEM_DIR_COUNT][SAFEM_FEATURE_COUNT]; /**< NULL when unused */
	struct safem_featdist_counts volume[SAFEM_DIR_COUNT];
	uint64_t proto_flows[SAFEM_DIR_COUNT][SAFEM_PROTO_COUNT];
	/** Surge guard (safem_featset_add_flow_guarded), per distribution: new values
	 *  inserted since the last clear, and the sampling shift of further new ones. */
	uint32_t guard_inserts[SAFEM_DIR_COUNT][SAFEM_FEATURE_COUNT];
	uint8_t guard_shift[SAFEM_DIR_COUNT][SAFEM_FEATURE_COUNT];
	/** packets of the flows of each class: SYN-only packets show a flood of SYN retries
	 *  (few flows, many packets) that the flow counts miss */
	uint64_t proto_packets[SAFEM_DIR_COUNT][SAFEM_PROTO_COUNT];
};

/** NULL with rte_errno. home may be NULL or empty: ALL only. */
struct safem_featset *safem_featset_create(uint32_t capacity, bool directional, int socket_id);
void safem_featset_free(struct safem_featset *fs);
void safem_featset_clear(struct safem_featset *fs);
/** A flow's activity (one flow contribution) in the pane. tcp_flags: OR of the flow's flags. */
void safem_featset_add_flow(struct safem_featset *fs, const struct safem_home *home,
			    const struct safem_flow_key *key, uint8_t tcp_flags, uint64_t packets,
			    uint64_t bytes);
/**
 * A flow sampled 1 in N stands for N flows: every count of it is weighted
 * (flows = N, packets and bytes already scaled by the caller).
 */
void safem_featset_add_flow_weighted(struct safem_featset *fs, const struct safem_home *home,
				     const struct safem_flow_key *key, uint8_t tcp_flags,
				     uint64_t flows, uint64_t packets, uint64_t bytes);
/**
 * A flow's activity under the surge guard (lib/window's flow budget), per
 * distribution: each distribution takes every flow until it has taken budget
 * new values in this pane (since the last clear), then 1 flow in 2^k by a hash
 * of the flow's values, weighted 2^k (k + 1 after each further budget of new
 * values). Volumes and flow classes are exact. budget 0: never sample (as
 * safem_featset_add_flow).
 */
void safem_featset_add_flow_guarded(struct safem_featset *fs, const struct safem_home *home,
				    const struct safem_flow_key *key, uint8_t tcp_flags,
				    uint64_t packets, uint64_t bytes, uint32_t budget);
/**
 * A flow as the add paths count it: its four feature values, the direction it counts in
 * besides ALL (*dir; SAFEM_DIR_ALL: none) and its protocol class (returned). For readers of
 * a flow log that match flows to the values of fs's distributions (lib/window's per-value
 * ICMP packets).
 */
enum safem_proto_class safem_featset_flow_values(const struct safem_featset *fs,
						 const struct safem_home *home,
						 const struct safem_flow_key *key,
						 uint8_t tcp_flags,
						 struct safem_feature_value values[SAFEM_FEATURE_COUNT],
						 enum safem_direction *dir);
/** dst += src (same directional setting). */
void safem_featset_merge(struct safem_featset *dst, const struct safem_featset *src);

#ifdef __cplusplus
}
#endif

#endif /* SAFEM_FEATDIST_H */
