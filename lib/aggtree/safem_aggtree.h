/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SAFEM_AGGTREE_H
#define SAFEM_AGGTREE_H

/**
 * @file
 * Spatial aggregation tree (Aguri-style, SAFEM section II.A) with a hard
 * node bound, owned by one lcore. No EAL needed; no allocation after create;
 * nothing logs.
 *
 * Address space. Addresses are 128-bit. IPv4 a.b.c.d is stored v4-mapped
 * (::ffff:a.b.c.d), so IPv4 /n is the 128-bit prefix /(96 + n) and one tree
 * holds both families. (An IPv6 packet carrying a v4-mapped address counts
 * as that IPv4 address.)
 *
 * Nodes. A node is a prefix (address masked to len bits) with counters
 * {bytes, packets, flows}. Two nodes always exist, possibly with zero
 * counters, and are never folded: the root ::/0 and the IPv4 root
 * ::ffff:0:0/96 (IPv4 0.0.0.0/0). The IPv4 root keeps IPv4 volume inside the
 * IPv4 space, so eq. 1 spreads unattributed IPv4 volume over 2^32 addresses,
 * not 2^128.
 *
 * Insertion adds volume to the /128 node of an address, through an
 * open-addressing hash table on (prefix, len): O(1), no tree walk.
 *
 * Bound and Aguri reclaim. The node count never exceeds max_nodes. When an
 * insertion needs a node and none is free, the tree frees reclaim_percent of
 * max_nodes by folding leaves into their parents, least significant first,
 * one at a time, until that many nodes are free. A leaf's parent is its
 * Patricia parent: the longest prefix among its longest existing ancestor
 * and its common prefixes with its two neighbours in (address, len) order,
 * i.e. the branch point with its nearest neighbour; it is created if absent
 * (taking the leaf's place, so that fold frees nothing yet). Significance is
 * the node's largest share of any of the three metrics' totals. Among equally
 * significant leaves (a flood's sources) those with the deepest fold target
 * go first (the least detail lost), then by a fixed hash of the target, so
 * the choice is deterministic, spread over the address space and siblings
 * fold together. Folding only moves volume to shorter prefixes: the sum of
 * every counter over the nodes always equals the sum added, exactly. Under a
 * random-source flood the volume moves up to the common prefixes of the
 * flooded range while memory stays at the bound. (Should a pass over the
 * leaves free nothing, which takes nested prefixes fed by add_prefix(), the
 * next folds nodes into their existing parents.)
 *
 * Pruned view (SAFEM's alpha rule, Aguri's aggregation). For one metric m
 * with total T: the Patricia tree over the nodes (each node plus the branch
 * point of every two neighbouring nodes) is walked bottom-up; a node whose
 * accumulated volume (own + folded-in descendants) in m is < alpha * T, or is
 * 0, is folded into its parent; the others are kept and report that residual
 * volume (all three counters) and share = residual_m / T. The two roots are
 * always kept. This is exactly the rule applied to every prefix /0../128 of
 * the binary trie: prefixes that are neither a node nor a branch point hold
 * the same volume as their one child and never change the outcome.
 *
 * Exactness. Without folding the node set is exactly the set of /128s added
 * (plus the roots), so trees built from any split of the input and merged,
 * in any order, equal the tree of the whole input, and so do their pruned
 * views and entropies.
 *
 * Concurrency: one lcore modifies a tree; the read-only functions (prune,
 * entropy, profile, write) use scratch memory inside the tree, so two lcores
 * must not call them on the same tree at the same time either.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A 128-bit address: hi = bytes 0-7, lo = bytes 8-15, each read big-endian. */
struct safem_agg_addr {
	uint64_t hi;
	uint64_t lo;
};

/** A prefix: addr with the bits beyond len zero; len 0..128. */
struct safem_agg_prefix {
	struct safem_agg_addr addr;
	uint8_t len;
};

struct safem_agg_counters {
	uint64_t bytes;
	uint64_t packets;
	uint64_t flows;
};

enum safem_agg_metric {
	SAFEM_AGG_BYTES = 0,
	SAFEM_AGG_PACKETS = 1,
	SAFEM_AGG_FLOWS = 2,
};
#define SAFEM_AGG_METRICS 3

/** Prefix length of the IPv4 root ::ffff:0:0/96 (IPv4 /n is /(96 + n)). */
#define SAFEM_AGG_V4_ROOT_LEN 96
/** lo half of every v4-mapped address (::ffff:0.0.0.0). */
#define SAFEM_AGG_V4_MAPPED_LO UINT64_C(0x0000ffff00000000)
/** Enough for "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/128" and NUL. */
#define SAFEM_AGG_PREFIX_STRLEN 52

/** Value of metric m in c. */
static inline uint64_t
safem_agg_counters_metric(const struct safem_agg_counters *c, enum safem_agg_metric m)
{
	return m == SAFEM_AGG_BYTES ? c->bytes : m == SAFEM_AGG_PACKETS ? c->packets : c->flows;
}

/**
 * Address of a flow key side (struct safem_flow_key src_addr/dst_addr):
 * ip_version 4 takes bytes 0-3 and maps them to ::ffff:a.b.c.d; anything
 * else is read as 16 IPv6 bytes.
 */
static inline struct safem_agg_addr
safem_agg_addr_from_bytes(const uint8_t addr[16], uint8_t ip_version)
{
	struct safem_agg_addr a = {0, 0};
	unsigned int i;

	if (ip_version == 4) {
		a.lo = SAFEM_AGG_V4_MAPPED_LO | (uint64_t)addr[0] << 24 | (uint64_t)addr[1] << 16 |
		       (uint64_t)addr[2] << 8 | addr[3];
		return a;
	}
	for (i = 0; i < 8; i++) {
		a.hi = a.hi << 8 | addr[i];
		a.lo = a.lo << 8 | addr[8 + i];
	}
	return a;
}

/** The 16 network-order bytes of a (IPv4 stays v4-mapped). */
void safem_agg_addr_to_bytes(const struct safem_agg_addr *a, uint8_t out[16]);

/** True when a lies in ::ffff:0:0/96. */
static inline bool
safem_agg_addr_is_v4(const struct safem_agg_addr *a)
{
	return a->hi == 0 && (a->lo >> 32) == (SAFEM_AGG_V4_MAPPED_LO >> 32);
}

/** The prefix of a with len bits (len > 128 is taken as 128). */
struct safem_agg_prefix safem_agg_prefix_of(const struct safem_agg_addr *a, unsigned int len);

/**
 * Write p in natural form: "10.1.2.0/24" for prefixes inside the IPv4 root
 * (len >= 96), "2001:db8::/32" otherwise.
 * @return string length, -ENOSPC if size is too small (use
 *         SAFEM_AGG_PREFIX_STRLEN), -EINVAL if len > 128.
 */
int safem_agg_prefix_format(const struct safem_agg_prefix *p, char *buf, size_t size);

/**
 * Parse "10.1.2.0/24", "2001:db8::/32" or a bare address (a host: /32 or
 * /128). IPv4 is mapped. @return 0, or -EINVAL for bad syntax, a length out
 * of range or bits set beyond the length.
 */
int safem_agg_prefix_parse(const char *s, struct safem_agg_prefix *out);

/** Tree counters, one list for fields and names (STYLE.md rule 13). */
#define SAFEM_AGGTREE_COUNTERS(X)                                                                  \
	X(adds)		   /* add() and add_prefix() calls, including those of merge and read */   \
	X(folds)	   /* nodes folded into a parent by Aguri reclaim */                       \
	X(reclaims)	   /* reclaim runs (each frees reclaim_percent of max_nodes) */            \
	X(inherited_folds) /* folds reported by trees merged or files read into this one */

struct safem_aggtree_stats {
#define SAFEM_AGGTREE_FIELD_(name) uint64_t name;
	SAFEM_AGGTREE_COUNTERS(SAFEM_AGGTREE_FIELD_)
#undef SAFEM_AGGTREE_FIELD_
	uint64_t nodes; /**< nodes in use (gauge, includes the two roots) */
};

/** Smallest accepted max_nodes. */
#define SAFEM_AGGTREE_MIN_NODES 8
/** Largest accepted max_nodes. */
#define SAFEM_AGGTREE_MAX_NODES (UINT32_C(1) << 26)
/** Default share of max_nodes one reclaim frees. */
#define SAFEM_AGGTREE_RECLAIM_PERCENT 25

struct safem_aggtree_params {
	const char *name;   /**< for messages only */
	uint32_t max_nodes; /**< node bound, SAFEM_AGGTREE_MIN_NODES..SAFEM_AGGTREE_MAX_NODES */
	/**
	 * Share of max_nodes a reclaim frees, 1..50; 0 means
	 * SAFEM_AGGTREE_RECLAIM_PERCENT. Larger amortises the reclaim better
	 * under a flood, smaller keeps more detail.
	 */
	unsigned int reclaim_percent;
};

struct safem_aggtree;

/**
 * Create an empty tree (the two roots only) with all its memory:
 * about safem_aggtree_bytes_per_node() x max_nodes, prefaulted. Returns NULL
 * with rte_errno EINVAL (the field is named in safem_aggtree_params_error())
 * or ENOMEM.
 */
struct safem_aggtree *safem_aggtree_create(const struct safem_aggtree_params *params);

/** Why the last create on this thread failed with EINVAL, naming the parameter. */
const char *safem_aggtree_params_error(void);

/** Memory per unit of max_nodes (nodes, hash table at load <= 1/2, scratch). */
size_t safem_aggtree_bytes_per_node(void);

void safem_aggtree_free(struct safem_aggtree *t);

/** Empty the tree (roots only) and zero its counters, in O(nodes in use). */
void safem_aggtree_reset(struct safem_aggtree *t);

/**
 * Add volume c to the /128 node of addr (created if absent; may run an
 * Aguri reclaim first when the tree is full). Amortised O(1); no allocation.
 * Measured (EPYC VM): ~20 ns for an address already in the tree; under a
 * flood of distinct addresses, amortised over the reclaims, ~160-190 ns at
 * 65536 nodes and ~190-240 ns at 262144 (reclaim_percent 50: ~145 ns).
 */
void safem_aggtree_add(struct safem_aggtree *t, const struct safem_agg_addr *addr,
		       const struct safem_agg_counters *c);

/**
 * Add volume c to the node of prefix p (bits beyond p->len are ignored;
 * len > 128 is taken as 128). Used to merge pruned or folded trees.
 */
void safem_aggtree_add_prefix(struct safem_aggtree *t, const struct safem_agg_prefix *p,
			      const struct safem_agg_counters *c);

/**
 * Add every node of src to dst (same prefix: counters summed), in src's
 * node order, reclaiming in dst when it fills. Without folding (in src or
 * dst) the result is exactly the tree of both inputs; merge is then
 * commutative and associative. dst's inherited_folds grows by src's folds
 * and inherited_folds.
 * @return 0, or -EINVAL if dst == src.
 */
int safem_aggtree_merge(struct safem_aggtree *dst, const struct safem_aggtree *src);

/** Counters of prefix p into *c. @return 0, or -ENOENT if p is not a node. */
int safem_aggtree_lookup(const struct safem_aggtree *t, const struct safem_agg_prefix *p,
			 struct safem_agg_counters *c);

/** Called once per node, in unspecified order; must not modify the tree. */
typedef void (*safem_aggtree_node_fn)(const struct safem_agg_prefix *p,
				      const struct safem_agg_counters *c, void *ctx);

/** Visit every node (roots included). */
void safem_aggtree_walk(const struct safem_aggtree *t, safem_aggtree_node_fn fn, void *ctx);

/** Sum of everything added (== sum over the nodes, always). */
void safem_aggtree_totals(const struct safem_aggtree *t, struct safem_agg_counters *c);

/** Nodes in use (roots included); never above max_nodes. */
unsigned int safem_aggtree_nodes(const struct safem_aggtree *t);

/** Nodes folded by reclaim since create or reset. */
uint64_t safem_aggtree_folds(const struct safem_aggtree *t);

const struct safem_aggtree_stats *safem_aggtree_stats(const struct safem_aggtree *t);

/** A node of the pruned view. */
struct safem_agg_node_out {
	struct safem_agg_prefix prefix;
	/** Residual volume: the node's own plus that of its folded descendants. */
	struct safem_agg_counters counters;
	double share; /**< residual of the pruned metric / its total (0 when the total is 0) */
};

/**
 * The pruned view for metric m (see the file comment), sorted by address
 * then length. The IPv4 root is left out when all its residual counters are
 * 0; ::/0 is always there. The residual counters of the output sum to the
 * tree's totals. The tree is not modified.
 * max_out >= 2 x safem_aggtree_nodes(t) always suffices; with alpha > 0 at
 * most floor(1 / alpha) + 2 nodes are kept.
 * @param alpha  0..1 (SAFEM's alpha: 0.01 keeps prefixes of >= 1 % of T)
 * @return 0, -EINVAL (metric or alpha out of range), or -ENOSPC when more
 *         than max_out nodes are kept (*n_out is then the number needed and
 *         out holds nothing usable).
 */
int safem_aggtree_prune(const struct safem_aggtree *t, enum safem_agg_metric m, double alpha,
			struct safem_agg_node_out *out, unsigned int max_out, unsigned int *n_out);

/**
 * Entropies of one profile (tree x metric).
 *
 * aggregated: SAFEM eq. 1 over the pruned view at alpha (each kept prefix's
 * residual share spread evenly over its 2^(128 - len) addresses; IPv4
 * prefixes thus over 2^(32 - v4len)). aggregated_normalised: that divided by
 * log_b of the address space the volume lives in: 2^32 when all of it is
 * IPv4, 2^128 once any is IPv6. A fixed denominator per family keeps the
 * value comparable between windows (it does not move when pruning keeps or
 * drops a residual at a root); eq. 1 keeps H within that space, so it is in
 * [0, 1].
 *
 * nodes: Shannon entropy of the node distribution (each node one symbol,
 * p = node volume / T), no pruning. When exact is true every unit of volume
 * sits in a /128 node and was added to exactly that address, so nodes IS the
 * Shannon entropy of the per-address distribution (the paper's eq. 1 with
 * n = distinct addresses). That holds whenever no fold happened and only
 * add() (not add_prefix() of shorter prefixes) fed the tree, in this tree
 * and every tree merged into it.
 *
 * When exact is false (reclaim folded addresses into prefixes: the bounded
 * memory fallback), the per-address entropy H is not known; it lies in
 * [nodes_lower_bound, nodes + nodes_error_bound]:
 *  - upper: nodes_error_bound = sum over nodes with len < 128 of
 *    s_i * (128 - len_i) * log_b 2, the most that spreading each folded
 *    node over its addresses can add (eq. 1 over all nodes unpruned);
 *  - lower: H >= nodes - H(node | address), and H(node | address) is at
 *    most min(log_b D, h_b(q) + q log_b D'), with q the share in nodes with
 *    len < 128, D (D') the largest number of nodes (of nodes with len < 128)
 *    with volume on one root-to-leaf chain. When the nodes with volume are
 *    disjoint (D = 1), nodes itself is the lower bound; in general it is not,
 *    because the volume of a folded /24 may belong to a /32 that also has its
 *    own node.
 */
struct safem_agg_entropy {
	double aggregated;	      /**< SAFEM eq. 1 over the pruned view */
	double aggregated_normalised; /**< in [0, 1] */
	double nodes;		      /**< Shannon entropy of the node distribution */
	double nodes_error_bound;     /**< per-address entropy <= nodes + this */
	double nodes_lower_bound;     /**< per-address entropy >= this */
	bool exact;		      /**< nodes is the exact per-address entropy */
	unsigned int pruned_nodes;    /**< kept nodes with volume in the metric */
};

/**
 * Compute struct safem_agg_entropy for metric m at alpha in base log_base
 * (2 for bits). Streams the pruned view; needs no output buffer.
 * @return 0, or -EINVAL (metric, alpha or base out of range).
 */
int safem_aggtree_entropy(const struct safem_aggtree *t, enum safem_agg_metric m, double alpha,
			  double log_base, struct safem_agg_entropy *out);

/**
 * Both of the above in one walk of the tree: the pruned view into out (as
 * safem_aggtree_prune()) and the entropies into e (as
 * safem_aggtree_entropy()). The walk is most of the cost (about 15 ns per
 * node), so a window's report should use this once per profile. out or e may
 * be NULL when not wanted (n_out with out). Returns as the two functions do.
 */
int safem_aggtree_profile(const struct safem_aggtree *t, enum safem_agg_metric m, double alpha,
			  double log_base, struct safem_agg_node_out *out, unsigned int max_out,
			  unsigned int *n_out, struct safem_agg_entropy *e);

/**
 * Binary form for merging trees of several probes (safem-merge), version 1,
 * little-endian, nodes sorted by (address, len) so equal trees give equal
 * bytes:
 *   0  magic "SAFEMAGT"            8  u32 version (1)   12 u32 header bytes (64)
 *   16 u64 node count              24 u64 folds (this tree's folds + inherited_folds)
 *   32 u64 total bytes, 40 total packets, 48 total flows   56 u64 reserved (0)
 *   64 nodes, 48 bytes each: 16 address bytes (network order), u8 len,
 *      7 zero bytes, u64 bytes, u64 packets, u64 flows
 *   then u64 FNV-1a 64 of every byte before it.
 * @return 0, or -EIO when writing failed.
 */
int safem_aggtree_write_binary(const struct safem_aggtree *t, FILE *f);

/**
 * Replace t's content with a tree read from f (safem_aggtree_write_binary()
 * form); the file's folds are added to inherited_folds. A file with more
 * nodes than t's bound is folded into it (totals stay exact). Everything is
 * checked (magic, version, lengths, host bits, order, totals, checksum): on
 * any mismatch or truncation t is left empty (reset) and -EINVAL returned;
 * -EIO on a read error. Reads exactly the bytes of one tree, so several trees
 * can follow each other in one stream.
 */
int safem_aggtree_read_binary(struct safem_aggtree *t, FILE *f);

/**
 * JSON form: an array of {"prefix":"10.0.0.0/8","bytes":B,"packets":P,
 * "flows":F}, one node per line, sorted by (address, len), roots included.
 * @return 0, or -EIO when writing failed.
 */
int safem_aggtree_write_json(const struct safem_aggtree *t, FILE *f);

#ifdef __cplusplus
}
#endif

#endif /* SAFEM_AGGTREE_H */
