/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Aguri-style spatial aggregation tree with a hard node bound.
 *
 * Storage is an array of nodes (folded ones are reused) plus an
 * open-addressing hash table on (prefix, len) (linear probing, load <= 1/2,
 * backward-shift deletion so no tombstones accumulate). The tree structure
 * is never stored: the hot path (add) only needs the hash table, and the
 * structure is rebuilt when needed (reclaim, prune, write) by sorting the
 * nodes by (address, len) -- in that order a prefix comes right before its
 * descendants, so one stack pass gives every node's parent and the Patricia
 * branch points. rte_hash is not used: it needs EAL memory, and reclaim
 * rekeys nodes in place, which needs the table to point at our own nodes.
 *
 * Flood cost (1M distinct IPv4 sources, max_nodes 262144, see the
 * benchmark in tests/unit/test_aggtree.c): the reclaims' sorts, candidate
 * pass and folds are most of it; each step below was kept because it
 * measured faster.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_common.h>
#include <rte_errno.h>
#include <rte_prefetch.h>

#include "safem_aggtree.h"
#include "safem_entropy.h"
#include "safem_hash.h"
#include "safem_mem.h"

/* Longest chain of strictly nested prefixes: /0, /1, ..., /128. */
#define AGG_MAX_DEPTH 129
/* Radix digits of the (address, len) sort key: len, then 16 address bytes. */
#define AGG_DIGITS 17

#define AGG_FILE_MAGIC "SAFEMAGT"
#define AGG_FILE_VERSION 1
#define AGG_FILE_HEADER_BYTES 64
#define AGG_FILE_NODE_BYTES 48
#define AGG_FNV_OFFSET UINT64_C(0xcbf29ce484222325)
#define AGG_FNV_PRIME UINT64_C(0x100000001b3)

struct agg_node {
	uint64_t hi;
	uint64_t lo;
	struct safem_agg_counters c;
	uint32_t slot; /* its hash table slot, kept current when entries move */
	uint8_t len;
	uint8_t dead; /* folded away, free for reuse (free_bits) */
	uint8_t reserved[2];
};
static_assert(sizeof(struct agg_node) == 48, "tree node layout");

struct agg_slot {
	uint32_t hash; /* full 32-bit hash: the home slot and a cheap compare */
	uint32_t node; /* node index + 1; 0 = empty */
};

/* A node in the sort: key and index, so passes over it stay sequential. */
struct agg_rec {
	uint64_t hi;
	uint64_t lo;
	uint32_t node;
	uint32_t meta; /* len << 24 | significance (reclaim only) */
};
static_assert(sizeof(struct agg_rec) == 24, "sort record layout");

/* A reclaim candidate; lives in the sort buffer the sort did not end in. */
struct agg_leaf {
	/*
	 * Fold order, ascending: significance (24 bits), then 128 - target
	 * length (8 bits), then 24 bits of the target's hash. Among equally
	 * significant leaves (a flood's sources) those with the deepest fold
	 * target go first, which loses the least detail, and those with the
	 * same target are folded together, so a new branch point takes several
	 * leaves and frees nodes; the hash spreads the folds over the address
	 * space. What varies in a flood then fits three radix digits.
	 */
	uint64_t key;
	uint32_t node; /* the candidate */
	/* Its longest existing ancestor when folding to parents, else the target's hash. */
	uint32_t parent_or_hash;
};
static_assert(sizeof(struct agg_leaf) == 16, "candidate layout");

static inline unsigned int
agg_leaf_target_len(const struct agg_leaf *c)
{
	return 128 - (unsigned int)((c->key >> 24) & 0xff);
}

static_assert(sizeof(struct agg_leaf) <= sizeof(struct agg_rec), "leaves reuse sort memory");
static_assert(sizeof(struct safem_agg_counters) <= sizeof(struct agg_rec), "counters too");

/* Memory the read-only functions write (sort cache): not part of the tree's value. */
struct agg_scratch {
	struct agg_rec *rec[2];
	struct agg_rec *sorted;
	uint64_t sorted_gen; /* layout_gen the sorted records belong to */
	/* The nodes' counters in sorted order, for the analysis walks (in the other buffer). */
	struct safem_agg_counters *sorted_counters;
	uint64_t counters_gen;	   /* layout_gen ... */
	uint64_t counters_version; /* ... and version they were gathered at */
	uint32_t hist[AGG_DIGITS][256];
	uint32_t leaf_hist[(64 + 10) / 11][1u << 11];
};

struct safem_aggtree {
	struct agg_node *nodes;
	struct agg_slot *table;
	struct agg_scratch *scratch;
	uint32_t used;	      /* live nodes */
	uint32_t top;	      /* nodes[0..top) have been handed out since the last reset */
	uint32_t free_count;  /* folded nodes below top, for reuse */
	uint32_t free_cursor; /* first word of free_bits that may have a bit set */
	uint64_t *free_bits;  /* bit i: nodes[i] is folded and free */
	uint32_t max_nodes;
	uint32_t table_mask;
	uint32_t reclaim_goal; /* a reclaim folds until used <= this */
	/* Bumped whenever nodes appear, vanish or move: invalidates the sort cache. */
	uint64_t layout_gen;
	/* Bumped by every add: invalidates the sorted counters. */
	uint64_t version;
	struct safem_agg_counters totals;
	struct safem_aggtree_stats stats;
	size_t table_bytes;
	size_t rec_bytes;
	size_t node_bytes;
	char name[32];
	size_t memory_bytes; /* what create asked for, in --stats memory.trees */
};

/* A frame of the prune walk: a Patricia node and what it has accumulated. */
struct agg_frame {
	uint64_t hi;
	uint64_t lo;
	struct safem_agg_counters acc;
	uint8_t len;
};

/* Create runs at start-up; per thread keeps it simple (as the flow cache does). */
static _Thread_local char agg_params_error[128];

/* ---------------------------------------------------------------- bits -- */

static inline void
agg_mask(uint64_t *hi, uint64_t *lo, unsigned int len)
{
	if (len >= 128)
		return;
	if (len > 64) {
		*lo &= ~UINT64_C(0) << (128 - len);
		return;
	}
	*lo = 0;
	*hi = len == 0 ? 0 : *hi & (~UINT64_C(0) << (64 - len));
}

/* Number of leading bits two addresses share (128 when equal). */
static inline unsigned int
agg_common_bits(uint64_t hi1, uint64_t lo1, uint64_t hi2, uint64_t lo2)
{
	uint64_t x = hi1 ^ hi2;

	if (x != 0)
		return (unsigned int)__builtin_clzll(x);
	x = lo1 ^ lo2;
	return x != 0 ? 64 + (unsigned int)__builtin_clzll(x) : 128;
}

static inline unsigned int
agg_rec_len(const struct agg_rec *r)
{
	return r->meta >> 24;
}

/* Length of the longest prefix containing both a and b. */
static inline unsigned int
agg_rec_lcp(const struct agg_rec *a, const struct agg_rec *b)
{
	unsigned int l = agg_common_bits(a->hi, a->lo, b->hi, b->lo);

	l = RTE_MIN(l, agg_rec_len(a));
	return RTE_MIN(l, agg_rec_len(b));
}

/* Does prefix a contain prefix b (a == b included)? */
static inline bool
agg_rec_contains(const struct agg_rec *a, const struct agg_rec *b)
{
	unsigned int alen = agg_rec_len(a);

	return alen <= agg_rec_len(b) && agg_common_bits(a->hi, a->lo, b->hi, b->lo) >= alen;
}

/* The two roots are never folded (see the header). */
static inline bool
agg_is_root(uint64_t hi, uint64_t lo, unsigned int len)
{
	return len == 0 ||
	       (len == SAFEM_AGG_V4_ROOT_LEN && hi == 0 && lo == SAFEM_AGG_V4_MAPPED_LO);
}

/*
 * murmur3's 64-bit finaliser over the key: IPv4 keys differ only in 32 low
 * bits, so the table needs every input bit to reach the slot bits.
 */
static inline uint32_t
agg_hash(uint64_t hi, uint64_t lo, unsigned int len)
{
	uint64_t x = lo + hi * UINT64_C(0x9e3779b97f4a7c15) +
		     (uint64_t)len * UINT64_C(0xd6e8feb86659fd93);

	return (uint32_t)safem_hash_fmix64(x);
}

static inline void
agg_counters_add(struct safem_agg_counters *dst, const struct safem_agg_counters *c)
{
	dst->bytes += c->bytes;
	dst->packets += c->packets;
	dst->flows += c->flows;
}

static inline bool
agg_counters_zero(const struct safem_agg_counters *c)
{
	return (c->bytes | c->packets | c->flows) == 0;
}

/* ---------------------------------------------------------- hash table -- */

/* Node index + 1 of (hi, lo, len), or 0 with *empty_pos the slot to insert at. */
static inline uint32_t
agg_find(const struct safem_aggtree *t, uint64_t hi, uint64_t lo, unsigned int len, uint32_t hash,
	 uint32_t *empty_pos)
{
	uint32_t pos = hash & t->table_mask;

	for (;;) {
		const struct agg_slot *s = &t->table[pos];

		if (s->node == 0) {
			*empty_pos = pos;
			return 0;
		}
		if (s->hash == hash) {
			const struct agg_node *n = &t->nodes[s->node - 1];

			if (n->lo == lo && n->hi == hi && n->len == len)
				return s->node;
		}
		pos = (pos + 1) & t->table_mask;
	}
}

/* Empty a slot; later entries of the probe run move back so lookups never need tombstones. */
static void
agg_table_delete(struct safem_aggtree *t, uint32_t pos)
{
	const uint32_t mask = t->table_mask;
	struct agg_slot *tab = t->table;
	uint32_t hole = pos, i = pos;

	for (;;) {
		uint32_t home;

		i = (i + 1) & mask;
		if (tab[i].node == 0)
			break;
		home = tab[i].hash & mask;
		/* The entry may fill the hole when its home is not after the hole. */
		if (((i - home) & mask) >= ((i - hole) & mask)) {
			tab[hole] = tab[i];
			t->nodes[tab[hole].node - 1].slot = hole;
			hole = i;
		}
	}
	tab[hole].node = 0;
}

static inline void
agg_table_put(struct safem_aggtree *t, uint32_t pos, uint32_t hash, uint32_t idx)
{
	t->table[pos].hash = hash;
	t->table[pos].node = idx + 1;
	t->nodes[idx].slot = pos;
}

static void
agg_node_new(struct safem_aggtree *t, uint32_t pos, uint32_t hash, uint64_t hi, uint64_t lo,
	     unsigned int len, const struct safem_agg_counters *c)
{
	struct agg_node *n;
	uint32_t idx;

	if (t->free_count != 0) {
		/* Lowest free index first: refilling walks the array forwards. */
		while (t->free_bits[t->free_cursor] == 0)
			t->free_cursor++;
		idx = t->free_cursor * 64 + (uint32_t)__builtin_ctzll(t->free_bits[t->free_cursor]);
		t->free_bits[t->free_cursor] &= t->free_bits[t->free_cursor] - 1;
		t->free_count--;
	} else {
		idx = t->top++;
	}
	t->used++;
	n = &t->nodes[idx];
	n->hi = hi;
	n->lo = lo;
	n->len = (uint8_t)len;
	n->dead = 0;
	n->c = *c;
	agg_table_put(t, pos, hash, idx);
	t->layout_gen++;
	t->stats.nodes = t->used;
}

/*
 * A folded node is marked free rather than compacted away: moving the
 * survivors would rewrite a random table slot for each of them. Free nodes
 * are only released by a reclaim, which then rewinds the cursor.
 */
static inline void
agg_node_release(struct safem_aggtree *t, uint32_t idx)
{
	t->nodes[idx].dead = 1;
	t->free_bits[idx / 64] |= UINT64_C(1) << (idx % 64);
	t->free_count++;
	t->used--;
	t->stats.nodes = t->used;
}

/* --------------------------------------------------------------- sort -- */

static inline unsigned int
agg_rec_digit(const struct agg_rec *r, unsigned int d)
{
	if (d == 0)
		return r->meta >> 24;
	if (d <= 8)
		return (unsigned int)(r->lo >> (8 * (d - 1))) & 0xff;
	return (unsigned int)(r->hi >> (8 * (d - 9))) & 0xff;
}

/*
 * LSD radix sort by (hi, lo, len), skipping the digits no two records differ
 * in: an IPv4-only tree sorts in 5 sequential passes (len and 4 address
 * bytes), about 2 ns per record and pass at 262144 nodes, the memory
 * bandwidth; a comparison sort would need ~18 data-dependent compares each.
 * Returns the buffer holding the result (src or tmp).
 */
static struct agg_rec *
agg_radix_sort(struct agg_scratch *s, struct agg_rec *src, struct agg_rec *tmp, uint32_t n,
	       uint64_t diff_hi, uint64_t diff_lo, uint32_t diff_meta)
{
	unsigned int digits[AGG_DIGITS], ndigits = 0, d, k;
	uint32_t i;

	if ((diff_meta >> 24) != 0)
		digits[ndigits++] = 0;
	for (d = 1; d <= 8; d++)
		if (((diff_lo >> (8 * (d - 1))) & 0xff) != 0)
			digits[ndigits++] = d;
	for (d = 9; d < AGG_DIGITS; d++)
		if (((diff_hi >> (8 * (d - 9))) & 0xff) != 0)
			digits[ndigits++] = d;
	if (ndigits == 0 || n < 2)
		return src;

	for (k = 0; k < ndigits; k++)
		memset(s->hist[digits[k]], 0, sizeof(s->hist[0]));
	for (i = 0; i < n; i++)
		for (k = 0; k < ndigits; k++)
			s->hist[digits[k]][agg_rec_digit(&src[i], digits[k])]++;

	for (k = 0; k < ndigits; k++) {
		uint32_t *off = s->hist[digits[k]];
		uint32_t sum = 0, b;
		struct agg_rec *swap;

		for (b = 0; b < 256; b++) {
			uint32_t c = off[b];

			off[b] = sum;
			sum += c;
		}
		for (i = 0; i < n; i++)
			tmp[off[agg_rec_digit(&src[i], digits[k])]++] = src[i];
		swap = src;
		src = tmp;
		tmp = swap;
	}
	return src;
}

/* Float bits of x >= 0 keep their order as integers; 24 of them order shares well enough. */
static inline uint32_t
agg_significance_key(double x)
{
	float f = (float)x;
	uint32_t bits;

	memcpy(&bits, &f, sizeof(bits));
	return bits >> 7;
}

/*
 * Fill the records from the nodes and sort them. with_significance adds the
 * reclaim key: the node's largest share of any metric's total (Aguri's
 * significance taken over all three counters). The records end in one of the
 * two scratch buffers; the other is free for the caller.
 * ::/0 is node 0 (created first, never folded) and sorts first: it is left
 * out of the sort, whose address bytes would otherwise all vary because of
 * it (7 passes instead of 5 for IPv4).
 */
static struct agg_rec *
agg_sort_nodes(const struct safem_aggtree *t, bool with_significance)
{
	struct agg_scratch *s = t->scratch;
	struct agg_rec *rec = s->rec[0], *sorted;
	double inv[SAFEM_AGG_METRICS] = {0, 0, 0};
	uint64_t diff_hi = 0, diff_lo = 0;
	uint32_t diff_meta = 0, i, j = 0;

	assert(t->nodes[0].len == 0 && !t->nodes[0].dead);
	if (with_significance) {
		inv[0] = t->totals.bytes ? 1.0 / (double)t->totals.bytes : 0.0;
		inv[1] = t->totals.packets ? 1.0 / (double)t->totals.packets : 0.0;
		inv[2] = t->totals.flows ? 1.0 / (double)t->totals.flows : 0.0;
	}
	for (i = 0; i < t->top; i++) {
		const struct agg_node *n = &t->nodes[i];
		struct agg_rec *r = &rec[j];
		uint32_t sig = 0;

		if (n->dead)
			continue;
		if (with_significance) {
			double x =
				RTE_MAX((double)n->c.bytes * inv[0], (double)n->c.packets * inv[1]);

			sig = agg_significance_key(RTE_MAX(x, (double)n->c.flows * inv[2]));
		}
		r->hi = n->hi;
		r->lo = n->lo;
		r->node = i;
		r->meta = (uint32_t)n->len << 24 | sig;
		diff_hi |= r->hi ^ rec[RTE_MIN(j, 1u)].hi;
		diff_lo |= r->lo ^ rec[RTE_MIN(j, 1u)].lo;
		diff_meta |= r->meta ^ rec[RTE_MIN(j, 1u)].meta;
		j++;
	}
	assert(j == t->used);
	if (t->used < 2)
		return rec;
	sorted =
		agg_radix_sort(s, rec + 1, s->rec[1] + 1, t->used - 1, diff_hi, diff_lo, diff_meta);
	sorted--; /* back to the buffer's start, where ::/0 goes */
	sorted[0] = rec[0];
	return sorted;
}

/* Nodes in (address, len) order, cached until the node set changes. */
static const struct agg_rec *
agg_sorted(const struct safem_aggtree *t)
{
	struct agg_scratch *s = t->scratch;

	if (s->sorted == NULL || s->sorted_gen != t->layout_gen) {
		s->sorted = agg_sort_nodes(t, false);
		s->sorted_gen = t->layout_gen;
	}
	return s->sorted;
}

/*
 * Sorted records and the counters in the same order. The analysis walks then
 * read both sequentially; gathering the counters once costs one random node
 * access each, which otherwise every walk (one per profile) would pay.
 */
static const struct agg_rec *
agg_sorted_counters(const struct safem_aggtree *t, const struct safem_agg_counters **counters)
{
	const struct agg_rec *rec = agg_sorted(t);
	struct agg_scratch *s = t->scratch;

	if (s->sorted_counters == NULL || s->counters_gen != t->layout_gen ||
	    s->counters_version != t->version) {
		struct safem_agg_counters *c =
			(struct safem_agg_counters *)(void *)(rec == s->rec[0] ? s->rec[1]
									       : s->rec[0]);
		uint32_t i;

		for (i = 0; i < t->used; i++) {
			if (i + 16 < t->used)
				rte_prefetch0(&t->nodes[rec[i + 16].node]);
			c[i] = t->nodes[rec[i].node].c;
		}
		s->sorted_counters = c;
		s->counters_gen = t->layout_gen;
		s->counters_version = t->version;
	}
	*counters = s->sorted_counters;
	return rec;
}

/* ------------------------------------------------------------- reclaim -- */

/* Radix digits of the candidates' 64-bit keys. */
#define AGG_LEAF_DIGIT_BITS 11
#define AGG_LEAF_DIGITS ((64 + AGG_LEAF_DIGIT_BITS - 1) / AGG_LEAF_DIGIT_BITS)

/*
 * Sort the candidates by key (LSD radix, 11-bit digits, skipping digits in
 * which all keys agree: a flood's equal significances cost nothing). Sorted,
 * the candidates can be folded one at a time in ascending order until the
 * goal is met; selecting them with quickselect instead needed several rounds
 * (each fold frees at most one node, often none) and cost more.
 * Returns the buffer holding the result (a or tmp).
 */
static struct agg_leaf *
agg_sort_leaves(struct agg_scratch *s, struct agg_leaf *a, struct agg_leaf *tmp, uint32_t n)
{
	const uint32_t mask = (1u << AGG_LEAF_DIGIT_BITS) - 1;
	uint32_t(*hist)[1u << AGG_LEAF_DIGIT_BITS] = s->leaf_hist;
	unsigned int digits[AGG_LEAF_DIGITS], ndigits = 0, d, k;
	uint64_t diff = 0;
	uint32_t i;

	for (i = 1; i < n; i++)
		diff |= a[i].key ^ a[0].key;
	for (d = 0; d < AGG_LEAF_DIGITS; d++)
		if (((diff >> (d * AGG_LEAF_DIGIT_BITS)) & mask) != 0)
			digits[ndigits++] = d;
	if (ndigits == 0)
		return a;
	for (k = 0; k < ndigits; k++)
		memset(hist[k], 0, sizeof(hist[k]));
	for (i = 0; i < n; i++)
		for (k = 0; k < ndigits; k++)
			hist[k][(a[i].key >> (digits[k] * AGG_LEAF_DIGIT_BITS)) & mask]++;
	for (k = 0; k < ndigits; k++) {
		const unsigned int shift = digits[k] * AGG_LEAF_DIGIT_BITS;
		uint32_t *off = hist[k], sum = 0, b;
		struct agg_leaf *swap;

		for (b = 0; b <= mask; b++) {
			uint32_t c = off[b];

			off[b] = sum;
			sum += c;
		}
		for (i = 0; i < n; i++)
			tmp[off[(a[i].key >> shift) & mask]++] = a[i];
		swap = a;
		a = tmp;
		tmp = swap;
	}
	return a;
}

/*
 * Fold one candidate (Aguri reclaim): its volume goes to its Patricia parent,
 * which takes the leaf's node when it does not exist yet.
 * @return 1 if a node was freed.
 */
static inline uint32_t
agg_fold(struct safem_aggtree *t, const struct agg_leaf *leaf, bool to_parent)
{
	struct agg_node *n = &t->nodes[leaf->node];
	uint64_t hi = n->hi, lo = n->lo;
	unsigned int target_len = agg_leaf_target_len(leaf);
	uint32_t hash = leaf->parent_or_hash, pos = 0, found;

	if (to_parent) {
		struct agg_node *p = &t->nodes[leaf->parent_or_hash];

		if (p->dead)
			return 0; /* its parent went first; it gets another chance next pass */
		agg_counters_add(&p->c, &n->c);
		agg_table_delete(t, n->slot);
		agg_node_release(t, leaf->node);
		t->stats.folds++;
		return 1;
	}
	agg_mask(&hi, &lo, target_len);
	found = agg_find(t, hi, lo, target_len, hash, &pos);
	t->stats.folds++;
	if (found != 0) {
		agg_counters_add(&t->nodes[found - 1].c, &n->c);
		agg_table_delete(t, n->slot);
		agg_node_release(t, leaf->node);
		return 1;
	}
	/* The branch point is new: the leaf's node becomes it (Patricia parent created). */
	agg_table_delete(t, n->slot);
	agg_find(t, hi, lo, target_len, hash, &pos); /* deletion may have moved the hole */
	n->hi = hi;
	n->lo = lo;
	n->len = (uint8_t)target_len;
	agg_table_put(t, pos, hash, leaf->node);
	return 0;
}

/* Candidates folded ahead of the current one are prefetched in two stages. */
#define AGG_FOLD_PREFETCH 8

/* A 48-byte node straddles two cache lines half of the time: fetch both. */
static inline void
agg_prefetch_node(const struct agg_node *n)
{
	rte_prefetch0(n);
	rte_prefetch0((const char *)n + sizeof(*n) - 1);
}

/*
 * Fold the sorted candidates in order until the goal is met (or they run
 * out). Each fold touches a node, its slot, the target's slot and the target
 * node, all at random places of a table of megabytes: prefetching them for
 * the candidates 2 x AGG_FOLD_PREFETCH and AGG_FOLD_PREFETCH ahead overlaps
 * those misses (measured: fold time halved at 262144 nodes).
 * @return nodes freed.
 */
static uint32_t
agg_fold_until_goal(struct safem_aggtree *t, const struct agg_leaf *cand, uint32_t n,
		    bool to_parent)
{
	uint32_t i, freed = 0;

	for (i = 0; i < n && t->used > t->reclaim_goal; i++) {
		if (i + 2 * AGG_FOLD_PREFETCH < n) {
			const struct agg_leaf *c = &cand[i + 2 * AGG_FOLD_PREFETCH];

			agg_prefetch_node(&t->nodes[c->node]);
			if (!to_parent)
				rte_prefetch0(&t->table[c->parent_or_hash & t->table_mask]);
		}
		if (i + AGG_FOLD_PREFETCH < n) {
			const struct agg_leaf *c = &cand[i + AGG_FOLD_PREFETCH];

			rte_prefetch0(&t->table[t->nodes[c->node].slot]);
			if (to_parent) {
				agg_prefetch_node(&t->nodes[c->parent_or_hash]);
			} else {
				uint32_t home = t->table[c->parent_or_hash & t->table_mask].node;

				if (home != 0)
					agg_prefetch_node(&t->nodes[home - 1]);
			}
		}
		freed += agg_fold(t, &cand[i], to_parent);
	}
	return freed;
}

/*
 * One pass over a snapshot of the tree: candidates are the leaves (every
 * non-root node when to_parent), folded one at a time in ascending
 * significance until the goal is met. Fold targets come from the snapshot:
 * they contain a leaf, so they are never candidates themselves.
 * @return nodes freed.
 */
static uint32_t
agg_reclaim_pass(struct safem_aggtree *t, bool to_parent)
{
	struct agg_scratch *s = t->scratch;
	const uint32_t n = t->used;
	struct agg_rec *rec = agg_sort_nodes(t, true);
	struct agg_leaf *cand =
		(struct agg_leaf *)(void *)(rec == s->rec[0] ? s->rec[1] : s->rec[0]);
	uint32_t stack[AGG_MAX_DEPTH + 1];
	unsigned int stack_len[AGG_MAX_DEPTH + 1], lcp_prev = 0, lcp_next;
	uint32_t depth = 0, ncand = 0, freed, i;

	for (i = 0; i < n; i++, lcp_prev = lcp_next) {
		const struct agg_rec *r = &rec[i];
		unsigned int len = agg_rec_len(r), target;
		uint64_t hi = r->hi, lo = r->lo;
		struct agg_leaf *c;
		uint32_t parent, hash;

		/* Each adjacent pair's common prefix is computed once, used twice. */
		lcp_next = i + 1 < n ? agg_rec_lcp(r, &rec[i + 1]) : 0;
		/* The stack holds the previous node's ancestors; those within lcp_prev hold r. */
		while (depth > 0 && stack_len[depth - 1] > lcp_prev)
			depth--;
		parent = depth > 0 ? stack[depth - 1] : UINT32_MAX;
		stack[depth] = i;
		stack_len[depth++] = len;
		if (parent == UINT32_MAX || agg_is_root(r->hi, r->lo, len))
			continue;
		target = stack_len[depth - 2];
		if (!to_parent) {
			if (i + 1 < n && lcp_next == len)
				continue; /* contains the next node: not a leaf */
			/* Patricia parent: the branch point with the nearer neighbour. */
			target = RTE_MAX(target, RTE_MAX(lcp_prev, lcp_next));
		}
		agg_mask(&hi, &lo, target);
		hash = agg_hash(hi, lo, target);
		c = &cand[ncand++];
		c->key = (uint64_t)(r->meta & 0xffffff) << 32 | (uint64_t)(128 - target) << 24 |
			 hash >> 8;
		c->node = r->node;
		c->parent_or_hash = to_parent ? rec[parent].node : hash;
	}

	/* The sort's records are not needed any more: their buffer is the sort's scratch. */
	cand = agg_sort_leaves(s, cand, (struct agg_leaf *)(void *)rec, ncand);
	freed = agg_fold_until_goal(t, cand, ncand, to_parent);
	t->free_cursor = 0;
	t->layout_gen++;
	return freed;
}

/*
 * Aguri reclaim: free nodes down to the goal. A pass whose folds all created
 * new branch points frees nothing (sparse leaves); the next pass then sees
 * those branch points as parents. Should a pass still free nothing, the next
 * one folds into existing parents, which always frees.
 * @return false if no node could be freed (cannot happen with max_nodes >= 8).
 */
static bool
agg_reclaim(struct safem_aggtree *t)
{
	bool to_parent = false;

	t->stats.reclaims++;
	while (t->used > t->reclaim_goal) {
		uint32_t freed = agg_reclaim_pass(t, to_parent);

		if (freed == 0 && to_parent)
			break;
		to_parent = freed == 0;
	}
	return t->used < t->max_nodes;
}

/* ---------------------------------------------------------------- add -- */

static inline void
agg_add(struct safem_aggtree *t, uint64_t hi, uint64_t lo, unsigned int len,
	const struct safem_agg_counters *c)
{
	uint32_t hash = agg_hash(hi, lo, len), pos = 0, found;

	t->version++;
	agg_counters_add(&t->totals, c);
	for (;;) {
		found = agg_find(t, hi, lo, len, hash, &pos);
		if (likely(found != 0)) {
			agg_counters_add(&t->nodes[found - 1].c, c);
			return;
		}
		if (likely(t->used < t->max_nodes))
			break;
		/* A reclaim can create this very prefix as a branch point: look again. */
		if (unlikely(!agg_reclaim(t))) {
			/*
			 * Cannot happen (see agg_reclaim()); keep the totals exact
			 * anyway. ::/0 is node 0: created first, never folded.
			 */
			agg_counters_add(&t->nodes[0].c, c);
			return;
		}
	}
	agg_node_new(t, pos, hash, hi, lo, len, c);
}

void
safem_aggtree_add(struct safem_aggtree *t, const struct safem_agg_addr *addr,
		  const struct safem_agg_counters *c)
{
	t->stats.adds++;
	agg_add(t, addr->hi, addr->lo, 128, c);
}

void
safem_aggtree_add_prefix(struct safem_aggtree *t, const struct safem_agg_prefix *p,
			 const struct safem_agg_counters *c)
{
	unsigned int len = RTE_MIN(p->len, 128u);
	uint64_t hi = p->addr.hi, lo = p->addr.lo;

	agg_mask(&hi, &lo, len);
	t->stats.adds++;
	agg_add(t, hi, lo, len, c);
}

int
safem_aggtree_merge(struct safem_aggtree *dst, const struct safem_aggtree *src)
{
	uint32_t i;

	if (dst == src)
		return -EINVAL;
	for (i = 0; i < src->top; i++) {
		const struct agg_node *n = &src->nodes[i];

		if (!n->dead)
			agg_add(dst, n->hi, n->lo, n->len, &n->c);
	}
	dst->stats.adds += src->used;
	dst->stats.inherited_folds += src->stats.folds + src->stats.inherited_folds;
	return 0;
}

/* ----------------------------------------------------- create and reset -- */

const char *
safem_aggtree_params_error(void)
{
	return agg_params_error;
}

size_t
safem_aggtree_bytes_per_node(void)
{
	/* Table: between 2 and 4 slots per node after rounding to a power of two. */
	return sizeof(struct agg_node) + 2 * sizeof(struct agg_rec) + 4 * sizeof(struct agg_slot);
}


static void
agg_free_memory(struct safem_aggtree *t)
{
	if (t->scratch != NULL) {
		safem_mem_table_free(t->scratch->rec[0]);
		safem_mem_table_free(t->scratch->rec[1]);
		safem_mem_table_free(t->scratch);
	}
	safem_mem_table_free(t->free_bits);
	safem_mem_table_free(t->table);
	safem_mem_table_free(t->nodes);
	safem_mem_table_free(t);
}

static int agg_params_invalid(const char *fmt, ...) __rte_format_printf(1, 2);

static int
agg_params_invalid(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(agg_params_error, sizeof(agg_params_error), fmt, ap);
	va_end(ap);
	rte_errno = EINVAL;
	return -EINVAL;
}

static int
agg_params_check(const struct safem_aggtree_params *params)
{
	agg_params_error[0] = '\0';
	if (params == NULL)
		return agg_params_invalid("params must not be NULL");
	if (params->max_nodes < SAFEM_AGGTREE_MIN_NODES ||
	    params->max_nodes > SAFEM_AGGTREE_MAX_NODES)
		return agg_params_invalid("max_nodes must be in %u..%" PRIu32 " (got %" PRIu32 ")",
					  SAFEM_AGGTREE_MIN_NODES, SAFEM_AGGTREE_MAX_NODES,
					  params->max_nodes);
	if (params->reclaim_percent > 50)
		return agg_params_invalid("reclaim_percent must be in 0..50 (got %u)",
					  params->reclaim_percent);
	return 0;
}

struct safem_aggtree *
safem_aggtree_create(const struct safem_aggtree_params *params)
{
	struct safem_aggtree *t;
	unsigned int percent;
	uint32_t slots = 1, reclaim;

	if (agg_params_check(params) != 0)
		return NULL;
	t = safem_mem_table_alloc(sizeof(*t));
	if (t == NULL)
		goto nomem;
	/* Load <= 1/2 keeps linear probe runs short even with the table full. */
	while (slots < 2 * params->max_nodes)
		slots <<= 1;
	t->max_nodes = params->max_nodes;
	t->table_mask = slots - 1;
	t->node_bytes = (size_t)params->max_nodes * sizeof(struct agg_node);
	t->table_bytes = (size_t)slots * sizeof(struct agg_slot);
	t->rec_bytes = (size_t)params->max_nodes * sizeof(struct agg_rec);
	percent = params->reclaim_percent != 0 ? params->reclaim_percent
					       : SAFEM_AGGTREE_RECLAIM_PERCENT;
	reclaim = RTE_MAX((uint32_t)((uint64_t)params->max_nodes * percent / 100), UINT32_C(1));
	t->reclaim_goal = params->max_nodes - reclaim;
	snprintf(t->name, sizeof(t->name), "%s", params->name != NULL ? params->name : "aggtree");

	t->nodes = safem_mem_table_alloc(t->node_bytes);
	t->table = safem_mem_table_alloc(t->table_bytes);
	t->scratch = safem_mem_table_alloc(sizeof(*t->scratch));
	t->free_bits = safem_mem_table_alloc((params->max_nodes + 63) / 64 * sizeof(uint64_t));
	if (t->nodes == NULL || t->table == NULL || t->scratch == NULL || t->free_bits == NULL)
		goto nomem;
	t->scratch->rec[0] = safem_mem_table_alloc(t->rec_bytes);
	t->scratch->rec[1] = safem_mem_table_alloc(t->rec_bytes);
	if (t->scratch->rec[0] == NULL || t->scratch->rec[1] == NULL)
		goto nomem;
	t->memory_bytes = sizeof(*t) + t->node_bytes + t->table_bytes + sizeof(*t->scratch) +
			  (params->max_nodes + 63) / 64 * sizeof(uint64_t) + 2 * t->rec_bytes;
	safem_mem_account(SAFEM_MEM_trees, (int64_t)t->memory_bytes);
	safem_aggtree_reset(t);
	return t;

nomem:
	if (t != NULL)
		agg_free_memory(t);
	rte_errno = ENOMEM;
	return NULL;
}

void
safem_aggtree_free(struct safem_aggtree *t)
{
	if (t != NULL) {
		safem_mem_account(SAFEM_MEM_trees, -(int64_t)t->memory_bytes);
		agg_free_memory(t);
	}
}

void
safem_aggtree_reset(struct safem_aggtree *t)
{
	static const struct safem_agg_counters zero;
	uint32_t i, pos = 0, hash;

	/* Clearing only the used slots is O(nodes): no entry needs to move when all go. */
	for (i = 0; i < t->top; i++)
		if (!t->nodes[i].dead)
			t->table[t->nodes[i].slot].node = 0;
	memset(t->free_bits, 0, (t->max_nodes + 63) / 64 * sizeof(uint64_t));
	t->used = 0;
	t->top = 0;
	t->free_count = 0;
	t->free_cursor = 0;
	t->layout_gen++;
	memset(&t->totals, 0, sizeof(t->totals));
	memset(&t->stats, 0, sizeof(t->stats));

	hash = agg_hash(0, 0, 0);
	(void)agg_find(t, 0, 0, 0, hash, &pos);
	agg_node_new(t, pos, hash, 0, 0, 0, &zero);
	hash = agg_hash(0, SAFEM_AGG_V4_MAPPED_LO, SAFEM_AGG_V4_ROOT_LEN);
	(void)agg_find(t, 0, SAFEM_AGG_V4_MAPPED_LO, SAFEM_AGG_V4_ROOT_LEN, hash, &pos);
	agg_node_new(t, pos, hash, 0, SAFEM_AGG_V4_MAPPED_LO, SAFEM_AGG_V4_ROOT_LEN, &zero);
}

/* ---------------------------------------------------------- accessors -- */

int
safem_aggtree_lookup(const struct safem_aggtree *t, const struct safem_agg_prefix *p,
		     struct safem_agg_counters *c)
{
	unsigned int len = RTE_MIN(p->len, 128u);
	uint64_t hi = p->addr.hi, lo = p->addr.lo;
	uint32_t pos, found;

	agg_mask(&hi, &lo, len);
	found = agg_find(t, hi, lo, len, agg_hash(hi, lo, len), &pos);
	if (found == 0)
		return -ENOENT;
	*c = t->nodes[found - 1].c;
	return 0;
}

void
safem_aggtree_walk(const struct safem_aggtree *t, safem_aggtree_node_fn fn, void *ctx)
{
	uint32_t i;

	for (i = 0; i < t->top; i++) {
		const struct agg_node *n = &t->nodes[i];
		struct safem_agg_prefix p = {{n->hi, n->lo}, n->len};

		if (!n->dead)
			fn(&p, &n->c, ctx);
	}
}

void
safem_aggtree_totals(const struct safem_aggtree *t, struct safem_agg_counters *c)
{
	*c = t->totals;
}

unsigned int
safem_aggtree_nodes(const struct safem_aggtree *t)
{
	return t->used;
}

uint64_t
safem_aggtree_folds(const struct safem_aggtree *t)
{
	return t->stats.folds;
}

const struct safem_aggtree_stats *
safem_aggtree_stats(const struct safem_aggtree *t)
{
	return &t->stats;
}

/* -------------------------------------------------------------- prune -- */

struct agg_prune_walk {
	const struct safem_aggtree *t;
	enum safem_agg_metric metric;
	double threshold; /* alpha * T */
	void (*emit)(struct agg_prune_walk *w, const struct agg_frame *f);
	void *ctx;
};

/* The walk's stack, by field: pops then read scalars the pushes wrote (no store-forwarding stalls).
 */
struct agg_walk_stack {
	uint64_t hi[AGG_MAX_DEPTH + 1];
	uint64_t lo[AGG_MAX_DEPTH + 1];
	uint64_t acc[AGG_MAX_DEPTH + 1][SAFEM_AGG_METRICS]; /* bytes, packets, flows */
	uint8_t len[AGG_MAX_DEPTH + 1];
};

static inline void
agg_walk_push(struct agg_walk_stack *st, uint32_t d, uint64_t hi, uint64_t lo, unsigned int len,
	      const struct safem_agg_counters *c)
{
	st->hi[d] = hi;
	st->lo[d] = lo;
	st->len[d] = (uint8_t)len;
	st->acc[d][0] = c->bytes;
	st->acc[d][1] = c->packets;
	st->acc[d][2] = c->flows;
}

/*
 * SAFEM's alpha rule for the frame popped from d: keep it if it holds >= alpha
 * of the total (or is a root), else fold it into the frame at parent (none for
 * ::/0). The frame must be decided before anything is pushed at d again.
 */
static inline void
agg_prune_decide(struct agg_prune_walk *w, struct agg_walk_stack *st, uint32_t d, uint32_t parent)
{
	uint64_t v = st->acc[d][w->metric];

	if (parent == UINT32_MAX || agg_is_root(st->hi[d], st->lo[d], st->len[d]) ||
	    (v > 0 && (double)v >= w->threshold)) {
		struct agg_frame f = {st->hi[d],
				      st->lo[d],
				      {st->acc[d][0], st->acc[d][1], st->acc[d][2]},
				      st->len[d]};

		w->emit(w, &f);
	} else {
		st->acc[parent][0] += st->acc[d][0];
		st->acc[parent][1] += st->acc[d][1];
		st->acc[parent][2] += st->acc[d][2];
	}
}

/*
 * Bottom-up walk of the Patricia tree over the nodes, without building it:
 * in (address, len) order the stack holds the path from the root to the
 * previous node; the common prefix with the next node says how much of the
 * path ends (those frames are final: all their descendants came before) and
 * whether a branch point must be inserted. Each frame is decided when it
 * leaves the stack, i.e. in post-order.
 */
static void
agg_prune_walk(struct agg_prune_walk *w)
{
	const struct safem_aggtree *t = w->t;
	const struct safem_agg_counters *cnt;
	const struct agg_rec *rec = agg_sorted_counters(t, &cnt);
	struct agg_walk_stack st;
	uint32_t depth = 0, i;

	assert(t->used > 0 && agg_rec_len(&rec[0]) == 0); /* ::/0 is always a node */
	agg_walk_push(&st, depth++, rec[0].hi, rec[0].lo, 0, &cnt[0]);
	for (i = 1; i < t->used; i++) {
		unsigned int l = agg_rec_lcp(&rec[i - 1], &rec[i]);

		while (st.len[depth - 1] > l) {
			uint32_t d = --depth;

			if (st.len[depth - 1] < l) {
				/*
				 * Branch point of the previous node's subtree and this
				 * node: it goes where the popped frame is, so that frame
				 * moves up one first.
				 */
				static const struct safem_agg_counters zero;
				uint64_t hi = rec[i].hi, lo = rec[i].lo;

				st.hi[d + 1] = st.hi[d];
				st.lo[d + 1] = st.lo[d];
				st.len[d + 1] = st.len[d];
				st.acc[d + 1][0] = st.acc[d][0];
				st.acc[d + 1][1] = st.acc[d][1];
				st.acc[d + 1][2] = st.acc[d][2];
				agg_mask(&hi, &lo, l);
				agg_walk_push(&st, depth++, hi, lo, l, &zero);
				d++;
			}
			agg_prune_decide(w, &st, d, depth - 1);
		}
		agg_walk_push(&st, depth++, rec[i].hi, rec[i].lo, agg_rec_len(&rec[i]), &cnt[i]);
	}
	while (depth > 1) {
		depth--;
		agg_prune_decide(w, &st, depth, depth - 1);
	}
	agg_prune_decide(w, &st, 0, UINT32_MAX);
}

/* What one walk produces: the pruned view, its eq. 1 entropy, or both. */
struct agg_view {
	struct safem_agg_node_out *out; /* NULL: no view wanted */
	unsigned int max_out;
	unsigned int count;
	struct safem_entropy_acc *acc; /* NULL: no entropy wanted */
	unsigned int kept_with_volume;
	double total;
	bool has_v4, has_v6; /* volume seen in each family */
};

static void
agg_view_emit(struct agg_prune_walk *w, const struct agg_frame *f)
{
	struct agg_view *o = w->ctx;
	uint64_t v = safem_agg_counters_metric(&f->acc, w->metric);
	struct safem_agg_node_out *n;

	if (o->acc != NULL && v != 0) {
		if (f->len >= SAFEM_AGG_V4_ROOT_LEN && f->hi == 0 &&
		    (f->lo >> 32) == (SAFEM_AGG_V4_MAPPED_LO >> 32))
			o->has_v4 = true;
		else
			o->has_v6 = true;
		o->kept_with_volume++;
		/* SAFEM eq. 1: the residual is spread over the prefix's 2^(128 - len) addresses. */
		safem_entropy_acc_add(o->acc, (double)v / o->total, 128u - f->len);
	}
	if (o->out == NULL || (f->len == SAFEM_AGG_V4_ROOT_LEN &&
			       agg_is_root(f->hi, f->lo, f->len) && agg_counters_zero(&f->acc)))
		return;
	if (o->count++ >= o->max_out)
		return;
	n = &o->out[o->count - 1];
	memset(n, 0, sizeof(*n)); /* padding too: equal views compare equal bytewise */
	n->prefix.addr.hi = f->hi;
	n->prefix.addr.lo = f->lo;
	n->prefix.len = f->len;
	n->counters = f->acc;
	n->share = o->total > 0 ? (double)v / o->total : 0.0;
}

static int
agg_node_out_cmp(const void *a, const void *b)
{
	const struct safem_agg_prefix *x = &((const struct safem_agg_node_out *)a)->prefix;
	const struct safem_agg_prefix *y = &((const struct safem_agg_node_out *)b)->prefix;

	if (x->addr.hi != y->addr.hi)
		return x->addr.hi < y->addr.hi ? -1 : 1;
	if (x->addr.lo != y->addr.lo)
		return x->addr.lo < y->addr.lo ? -1 : 1;
	return (int)x->len - (int)y->len;
}

/* Largest number of nodes with volume on one chain (all, and those with len < 128). */
static void
agg_chain_depths(const struct safem_aggtree *t, enum safem_agg_metric m, unsigned int *d_all,
		 unsigned int *d_prefix)
{
	const struct safem_agg_counters *cnt;
	const struct agg_rec *rec = agg_sorted_counters(t, &cnt);
	uint32_t stack[AGG_MAX_DEPTH + 1];
	unsigned int cum_all[AGG_MAX_DEPTH + 1], cum_prefix[AGG_MAX_DEPTH + 1];
	uint32_t depth = 0, i;

	*d_all = 0;
	*d_prefix = 0;
	for (i = 0; i < t->used; i++) {
		const struct agg_rec *r = &rec[i];
		bool mass = safem_agg_counters_metric(&cnt[i], m) != 0;
		unsigned int above_all = 0, above_prefix = 0;

		while (depth > 0 && !agg_rec_contains(&rec[stack[depth - 1]], r))
			depth--;
		if (depth > 0) {
			above_all = cum_all[depth - 1];
			above_prefix = cum_prefix[depth - 1];
		}
		cum_all[depth] = above_all + mass;
		cum_prefix[depth] = above_prefix + (mass && agg_rec_len(r) < 128);
		*d_all = RTE_MAX(*d_all, cum_all[depth]);
		*d_prefix = RTE_MAX(*d_prefix, cum_prefix[depth]);
		stack[depth++] = i;
	}
}

static bool
agg_log_base_valid(double log_base)
{
	return isfinite(log_base) && log_base > 0.0 && log_base != 1.0;
}

/* The entropy fields that need the whole node distribution, not the pruned view. */
static void
agg_entropy_nodes(const struct safem_aggtree *t, enum safem_agg_metric m, double log_base,
		  struct safem_agg_entropy *e)
{
	const double total = (double)safem_agg_counters_metric(&t->totals, m);
	const double ln_base = log(log_base);
	double node_nats = 0.0, q = 0.0, spread_bits = 0.0;
	const struct safem_agg_counters *cnt;
	const struct agg_rec *rec;
	uint32_t i;

	e->exact = true;
	if (total == 0)
		return;
	/*
	 * In (address, len) order, not storage order: the sum then does not
	 * depend on the insertion history, so merged trees give the same bits.
	 */
	rec = agg_sorted_counters(t, &cnt);
	for (i = 0; i < t->used; i++) {
		uint64_t v = safem_agg_counters_metric(&cnt[i], m);
		unsigned int len = agg_rec_len(&rec[i]);
		double p;

		if (v == 0)
			continue;
		p = (double)v / total;
		node_nats -= p * log(p);
		if (len < 128) {
			q += p;
			spread_bits += p * (128 - len);
		}
	}
	e->nodes = node_nats / ln_base;
	e->nodes_error_bound = spread_bits * M_LN2 / ln_base;
	e->exact = q == 0.0;
	e->nodes_lower_bound = e->nodes;
	if (!e->exact) {
		unsigned int d_all, d_prefix;
		double ambiguity, q1 = RTE_MIN(q, 1.0), h_q = 0.0;

		agg_chain_depths(t, m, &d_all, &d_prefix);
		if (q1 < 1.0)
			h_q = -q1 * log(q1) - (1.0 - q1) * log(1.0 - q1);
		/* H(node | address), bounded two ways (see the header). */
		ambiguity =
			RTE_MIN(log((double)d_all), h_q + q1 * log((double)RTE_MAX(d_prefix, 1u)));
		e->nodes_lower_bound = RTE_MAX(e->nodes - ambiguity / ln_base, 0.0);
	}
}

int
safem_aggtree_profile(const struct safem_aggtree *t, enum safem_agg_metric m, double alpha,
		      double log_base, struct safem_agg_node_out *out, unsigned int max_out,
		      unsigned int *n_out, struct safem_agg_entropy *e)
{
	struct safem_entropy_acc acc;
	struct agg_view o = {out, max_out, 0, NULL, 0, 0.0, false, false};
	struct agg_prune_walk w;

	if (n_out != NULL)
		*n_out = 0;
	if (e != NULL)
		memset(e, 0, sizeof(*e));
	if ((unsigned int)m >= SAFEM_AGG_METRICS || !(alpha >= 0.0 && alpha <= 1.0) ||
	    (out != NULL && n_out == NULL) || (e != NULL && !agg_log_base_valid(log_base)))
		return -EINVAL;
	o.total = (double)safem_agg_counters_metric(&t->totals, m);
	if (e != NULL) {
		safem_entropy_acc_init(&acc);
		o.acc = &acc;
	}
	w = (struct agg_prune_walk){t, m, alpha * o.total, agg_view_emit, &o};
	agg_prune_walk(&w);
	if (e != NULL) {
		/*
		 * Normalise by the log of the address space the traffic lives in
		 * (2^32 with only IPv4, 2^128 once there is IPv6), not by the
		 * prefixes pruning kept: whether the IPv4 root keeps a residual
		 * flips from window to window and made the value jump between two
		 * levels. Eq. 1 spreads volume inside that space, so H <= log|space|.
		 */
		e->aggregated = safem_entropy_acc_value(&acc, log_base);
		e->aggregated_normalised = 0.0;
		if (o.has_v4 || o.has_v6)
			e->aggregated_normalised =
				e->aggregated * log(log_base) /
				((o.has_v6 ? 128.0 : 128.0 - SAFEM_AGG_V4_ROOT_LEN) * M_LN2);
		e->pruned_nodes = o.kept_with_volume;
		agg_entropy_nodes(t, m, log_base, e);
	}
	if (out == NULL)
		return 0;
	*n_out = o.count;
	if (o.count > max_out)
		return -ENOSPC;
	/* Emitted in post-order; a few kept nodes at usual alphas, so a plain sort. */
	qsort(out, o.count, sizeof(*out), agg_node_out_cmp);
	return 0;
}

int
safem_aggtree_prune(const struct safem_aggtree *t, enum safem_agg_metric m, double alpha,
		    struct safem_agg_node_out *out, unsigned int max_out, unsigned int *n_out)
{
	if (n_out == NULL || out == NULL)
		return -EINVAL;
	return safem_aggtree_profile(t, m, alpha, 2.0, out, max_out, n_out, NULL);
}

int
safem_aggtree_entropy(const struct safem_aggtree *t, enum safem_agg_metric m, double alpha,
		      double log_base, struct safem_agg_entropy *out)
{
	if (out == NULL)
		return -EINVAL;
	return safem_aggtree_profile(t, m, alpha, log_base, NULL, 0, NULL, out);
}

/* ------------------------------------------------------------- prefixes -- */

void
safem_agg_addr_to_bytes(const struct safem_agg_addr *a, uint8_t out[16])
{
	unsigned int i;

	for (i = 0; i < 8; i++) {
		out[i] = (uint8_t)(a->hi >> (56 - 8 * i));
		out[8 + i] = (uint8_t)(a->lo >> (56 - 8 * i));
	}
}

struct safem_agg_prefix
safem_agg_prefix_of(const struct safem_agg_addr *a, unsigned int len)
{
	struct safem_agg_prefix p = {*a, (uint8_t)RTE_MIN(len, 128u)};

	agg_mask(&p.addr.hi, &p.addr.lo, p.len);
	return p;
}

int
safem_agg_prefix_format(const struct safem_agg_prefix *p, char *buf, size_t size)
{
	uint8_t bytes[16];
	char addr[INET6_ADDRSTRLEN];
	int n;

	if (p->len > 128)
		return -EINVAL;
	if (p->len >= SAFEM_AGG_V4_ROOT_LEN && safem_agg_addr_is_v4(&p->addr)) {
		uint32_t v4 = (uint32_t)p->addr.lo;

		n = snprintf(buf, size, "%u.%u.%u.%u/%u", v4 >> 24, (v4 >> 16) & 0xff,
			     (v4 >> 8) & 0xff, v4 & 0xff,
			     (unsigned int)p->len - SAFEM_AGG_V4_ROOT_LEN);
	} else {
		safem_agg_addr_to_bytes(&p->addr, bytes);
		if (inet_ntop(AF_INET6, bytes, addr, sizeof(addr)) == NULL)
			return -EINVAL;
		n = snprintf(buf, size, "%s/%u", addr, p->len);
	}
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= size)
		return -ENOSPC;
	return n;
}

int
safem_agg_prefix_parse(const char *s, struct safem_agg_prefix *out)
{
	char addr[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t addr_len = slash != NULL ? (size_t)(slash - s) : strlen(s);
	uint8_t bytes[16] = {0};
	unsigned int len = 0, max_len, digits = 0;
	struct safem_agg_addr a;
	uint8_t version;

	if (addr_len == 0 || addr_len >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, addr_len);
	addr[addr_len] = '\0';
	if (inet_pton(AF_INET, addr, bytes) == 1) {
		version = 4;
		max_len = 32;
	} else if (inet_pton(AF_INET6, addr, bytes) == 1) {
		version = 6;
		max_len = 128;
	} else {
		return -EINVAL;
	}
	if (slash == NULL) {
		len = max_len;
	} else {
		const char *d;

		for (d = slash + 1; *d != '\0'; d++) {
			if (*d < '0' || *d > '9' || ++digits > 3)
				return -EINVAL;
			len = len * 10 + (unsigned int)(*d - '0');
		}
		if (digits == 0 || len > max_len)
			return -EINVAL;
	}
	a = safem_agg_addr_from_bytes(bytes, version);
	*out = safem_agg_prefix_of(&a, version == 4 ? SAFEM_AGG_V4_ROOT_LEN + len : len);
	if (out->addr.hi != a.hi || out->addr.lo != a.lo)
		return -EINVAL; /* bits beyond the length: most likely a typo */
	return 0;
}

/* ----------------------------------------------------------- file I/O -- */

static inline void
agg_put_le64(uint8_t *p, uint64_t v)
{
	unsigned int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t
agg_get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	unsigned int i;

	for (i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static inline uint32_t
agg_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t
agg_fnv1a(uint64_t h, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ p[i]) * AGG_FNV_PRIME;
	return h;
}

static int
agg_write_block(FILE *f, const uint8_t *p, size_t n, uint64_t *fnv)
{
	*fnv = agg_fnv1a(*fnv, p, n);
	return fwrite(p, 1, n, f) == n ? 0 : -EIO;
}

int
safem_aggtree_write_binary(const struct safem_aggtree *t, FILE *f)
{
	const struct agg_rec *rec = agg_sorted(t);
	uint8_t hdr[AGG_FILE_HEADER_BYTES] = {0}, node[AGG_FILE_NODE_BYTES];
	uint64_t fnv = AGG_FNV_OFFSET;
	uint32_t i;
	int rc;

	memcpy(hdr, AGG_FILE_MAGIC, 8);
	hdr[8] = AGG_FILE_VERSION;
	hdr[12] = AGG_FILE_HEADER_BYTES;
	agg_put_le64(hdr + 16, t->used);
	agg_put_le64(hdr + 24, t->stats.folds + t->stats.inherited_folds);
	agg_put_le64(hdr + 32, t->totals.bytes);
	agg_put_le64(hdr + 40, t->totals.packets);
	agg_put_le64(hdr + 48, t->totals.flows);
	rc = agg_write_block(f, hdr, sizeof(hdr), &fnv);
	for (i = 0; i < t->used && rc == 0; i++) {
		const struct agg_node *n = &t->nodes[rec[i].node];
		struct safem_agg_addr a = {n->hi, n->lo};

		memset(node, 0, sizeof(node));
		safem_agg_addr_to_bytes(&a, node);
		node[16] = n->len;
		agg_put_le64(node + 24, n->c.bytes);
		agg_put_le64(node + 32, n->c.packets);
		agg_put_le64(node + 40, n->c.flows);
		rc = agg_write_block(f, node, sizeof(node), &fnv);
	}
	if (rc == 0) {
		agg_put_le64(node, fnv);
		rc = fwrite(node, 1, 8, f) == 8 ? 0 : -EIO;
	}
	return rc != 0 || ferror(f) ? -EIO : 0;
}

/* Read exactly n bytes: 0, -EINVAL when the input ends first, -EIO on error. */
static int
agg_read_block(FILE *f, uint8_t *p, size_t n, uint64_t *fnv)
{
	if (fread(p, 1, n, f) != n)
		return ferror(f) ? -EIO : -EINVAL;
	if (fnv != NULL)
		*fnv = agg_fnv1a(*fnv, p, n);
	return 0;
}

static int
agg_read_nodes(struct safem_aggtree *t, FILE *f, uint64_t *folds)
{
	uint8_t hdr[AGG_FILE_HEADER_BYTES], node[AGG_FILE_NODE_BYTES], trailer[8];
	struct safem_agg_counters sum = {0, 0, 0}, c;
	struct safem_agg_prefix prev = {{0, 0}, 0};
	uint64_t fnv = AGG_FNV_OFFSET, count, i;
	unsigned int k;
	int rc;

	rc = agg_read_block(f, hdr, sizeof(hdr), &fnv);
	if (rc != 0)
		return rc;
	if (memcmp(hdr, AGG_FILE_MAGIC, 8) != 0 || agg_get_le32(hdr + 8) != AGG_FILE_VERSION ||
	    agg_get_le32(hdr + 12) != AGG_FILE_HEADER_BYTES || agg_get_le64(hdr + 56) != 0)
		return -EINVAL;
	count = agg_get_le64(hdr + 16);
	*folds = agg_get_le64(hdr + 24);
	if (count > UINT32_MAX)
		return -EINVAL;
	for (i = 0; i < count; i++) {
		struct safem_agg_prefix p;
		struct safem_agg_addr a;

		rc = agg_read_block(f, node, sizeof(node), &fnv);
		if (rc != 0)
			return rc;
		a = safem_agg_addr_from_bytes(node, 6);
		if (node[16] > 128)
			return -EINVAL;
		for (k = 17; k < 24; k++)
			if (node[k] != 0)
				return -EINVAL;
		p = safem_agg_prefix_of(&a, node[16]);
		if (p.addr.hi != a.hi || p.addr.lo != a.lo)
			return -EINVAL;
		/* Strictly ascending (address, len): canonical, so no prefix twice. */
		if (i > 0 && (p.addr.hi < prev.addr.hi ||
			      (p.addr.hi == prev.addr.hi &&
			       (p.addr.lo < prev.addr.lo ||
				(p.addr.lo == prev.addr.lo && p.len <= prev.len)))))
			return -EINVAL;
		prev = p;
		c.bytes = agg_get_le64(node + 24);
		c.packets = agg_get_le64(node + 32);
		c.flows = agg_get_le64(node + 40);
		if (__builtin_add_overflow(sum.bytes, c.bytes, &sum.bytes) ||
		    __builtin_add_overflow(sum.packets, c.packets, &sum.packets) ||
		    __builtin_add_overflow(sum.flows, c.flows, &sum.flows))
			return -EINVAL;
		t->stats.adds++;
		agg_add(t, p.addr.hi, p.addr.lo, p.len, &c);
	}
	rc = agg_read_block(f, trailer, sizeof(trailer), NULL);
	if (rc != 0)
		return rc;
	if (agg_get_le64(trailer) != fnv || sum.bytes != agg_get_le64(hdr + 32) ||
	    sum.packets != agg_get_le64(hdr + 40) || sum.flows != agg_get_le64(hdr + 48))
		return -EINVAL;
	return 0;
}

int
safem_aggtree_read_binary(struct safem_aggtree *t, FILE *f)
{
	uint64_t folds = 0;
	int rc;

	safem_aggtree_reset(t);
	rc = agg_read_nodes(t, f, &folds);
	if (rc != 0) {
		safem_aggtree_reset(t);
		return rc;
	}
	t->stats.inherited_folds += folds;
	return 0;
}

int
safem_aggtree_write_json(const struct safem_aggtree *t, FILE *f)
{
	const struct agg_rec *rec = agg_sorted(t);
	char prefix[SAFEM_AGG_PREFIX_STRLEN];
	uint32_t i;

	if (fputs("[\n", f) == EOF)
		return -EIO;
	for (i = 0; i < t->used; i++) {
		const struct agg_node *n = &t->nodes[rec[i].node];
		struct safem_agg_prefix p = {{n->hi, n->lo}, n->len};

		if (safem_agg_prefix_format(&p, prefix, sizeof(prefix)) < 0)
			return -EINVAL;
		if (fprintf(f,
			    "{\"prefix\":\"%s\",\"bytes\":%" PRIu64 ",\"packets\":%" PRIu64
			    ",\"flows\":%" PRIu64 "}%s\n",
			    prefix, n->c.bytes, n->c.packets, n->c.flows,
			    i + 1 < t->used ? "," : "") < 0)
			return -EIO;
	}
	if (fputs("]\n", f) == EOF || ferror(f))
		return -EIO;
	return 0;
}
