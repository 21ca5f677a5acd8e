/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Aggregation tree against a brute-force reference: node sets, SAFEM's alpha
 * prune over every prefix /0../128 of the binary trie, merge exactness
 * (commutative, associative, equal to one tree), the node bound under a
 * spoofed-source flood with totals conserved, Aguri reclaim on a hand-built
 * example, serialization round trip and corrupt input. Deterministic: every
 * random input comes from a fixed seed.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <rte_common.h>
#include <rte_errno.h>

#include "safem_aggtree.h"
#include "safem_entropy.h"

/* ------------------------------------------------------------- helpers -- */

static uint64_t
rng_next(uint64_t *s)
{
	/* splitmix64 */
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static struct safem_agg_addr
v4(unsigned int a, unsigned int b, unsigned int c, unsigned int d)
{
	const uint8_t bytes[16] = {(uint8_t)a, (uint8_t)b, (uint8_t)c, (uint8_t)d};

	return safem_agg_addr_from_bytes(bytes, 4);
}

static struct safem_agg_addr
v4_u32(uint32_t x)
{
	return v4(x >> 24, (x >> 16) & 0xff, (x >> 8) & 0xff, x & 0xff);
}

static struct safem_agg_prefix
prefix(const char *s)
{
	struct safem_agg_prefix p;

	assert_int_equal(safem_agg_prefix_parse(s, &p), 0);
	return p;
}

/* Add c to the host named by s ("10.1.2.3", "2001:db8::1"). */
static void
add_host(struct safem_aggtree *t, const char *s, const struct safem_agg_counters *c)
{
	struct safem_agg_addr a = prefix(s).addr;

	safem_aggtree_add(t, &a, c);
}

static struct safem_aggtree *
tree_new(uint32_t max_nodes)
{
	struct safem_aggtree_params params = {.name = "test", .max_nodes = max_nodes};
	struct safem_aggtree *t = safem_aggtree_create(&params);

	assert_non_null(t);
	return t;
}

static bool
is_root(const struct safem_agg_prefix *p)
{
	return p->len == 0 || (p->len == SAFEM_AGG_V4_ROOT_LEN && p->addr.hi == 0 &&
			       p->addr.lo == SAFEM_AGG_V4_MAPPED_LO);
}

static void
mask(struct safem_agg_prefix *p, unsigned int len)
{
	struct safem_agg_addr a = p->addr;

	*p = safem_agg_prefix_of(&a, len);
}

static int
prefix_cmp(const struct safem_agg_prefix *x, const struct safem_agg_prefix *y)
{
	if (x->addr.hi != y->addr.hi)
		return x->addr.hi < y->addr.hi ? -1 : 1;
	if (x->addr.lo != y->addr.lo)
		return x->addr.lo < y->addr.lo ? -1 : 1;
	return (int)x->len - (int)y->len;
}

static void
counters_add(struct safem_agg_counters *dst, const struct safem_agg_counters *c)
{
	dst->bytes += c->bytes;
	dst->packets += c->packets;
	dst->flows += c->flows;
}

static bool
counters_equal(const struct safem_agg_counters *a, const struct safem_agg_counters *b)
{
	return a->bytes == b->bytes && a->packets == b->packets && a->flows == b->flows;
}

/* A node of the reference model (also the tree's nodes, collected). */
struct ref_node {
	struct safem_agg_prefix p;
	struct safem_agg_counters c;
};

static int
ref_node_cmp(const void *a, const void *b)
{
	return prefix_cmp(&((const struct ref_node *)a)->p, &((const struct ref_node *)b)->p);
}

/* Sort and merge equal prefixes (summing): the canonical node list. */
static size_t
ref_canonical(struct ref_node *v, size_t n)
{
	size_t i, m = 0;

	qsort(v, n, sizeof(*v), ref_node_cmp);
	for (i = 0; i < n; i++) {
		if (m > 0 && prefix_cmp(&v[m - 1].p, &v[i].p) == 0)
			counters_add(&v[m - 1].c, &v[i].c);
		else
			v[m++] = v[i];
	}
	return m;
}

struct collect {
	struct ref_node *v;
	size_t n, cap;
};

static void
collect_fn(const struct safem_agg_prefix *p, const struct safem_agg_counters *c, void *ctx)
{
	struct collect *col = ctx;

	assert_true(col->n < col->cap);
	col->v[col->n].p = *p;
	col->v[col->n].c = *c;
	col->n++;
}

/* The tree's nodes, sorted; caller frees. */
static struct ref_node *
tree_nodes(const struct safem_aggtree *t, size_t *n)
{
	struct collect col;

	col.cap = safem_aggtree_nodes(t);
	col.v = calloc(col.cap + 1, sizeof(*col.v));
	col.n = 0;
	assert_non_null(col.v);
	safem_aggtree_walk(t, collect_fn, &col);
	assert_int_equal(col.n, col.cap);
	qsort(col.v, col.n, sizeof(*col.v), ref_node_cmp);
	*n = col.n;
	return col.v;
}

static void
assert_node_lists_equal(const struct ref_node *a, size_t na, const struct ref_node *b, size_t nb)
{
	size_t i;

	assert_int_equal(na, nb);
	for (i = 0; i < na; i++) {
		assert_int_equal(prefix_cmp(&a[i].p, &b[i].p), 0);
		assert_true(counters_equal(&a[i].c, &b[i].c));
	}
}

static void
assert_trees_equal(const struct safem_aggtree *x, const struct safem_aggtree *y)
{
	struct ref_node *a, *b;
	size_t na, nb;

	a = tree_nodes(x, &na);
	b = tree_nodes(y, &nb);
	assert_node_lists_equal(a, na, b, nb);
	free(a);
	free(b);
}

/* Σ counters over the nodes == Σ added (the tree's totals) == expected. */
static void
assert_conserved(const struct safem_aggtree *t, const struct safem_agg_counters *expected)
{
	struct safem_agg_counters sum = {0, 0, 0}, totals;
	struct ref_node *v;
	size_t n, i;

	v = tree_nodes(t, &n);
	for (i = 0; i < n; i++)
		counters_add(&sum, &v[i].c);
	free(v);
	safem_aggtree_totals(t, &totals);
	assert_true(counters_equal(&sum, &totals));
	assert_true(counters_equal(&totals, expected));
}

/* ---------------------------------------------------- input generator -- */

enum family { FAM_V4, FAM_V6, FAM_MIXED };

struct gen {
	uint64_t seed;
	enum family fam;
	uint32_t v4_nets[6];
	uint64_t v6_nets[4];
};

static void
gen_init(struct gen *g, uint64_t seed, enum family fam)
{
	unsigned int i;

	g->seed = seed;
	g->fam = fam;
	for (i = 0; i < 6; i++)
		g->v4_nets[i] = (uint32_t)rng_next(&g->seed) & 0xffff0000u;
	for (i = 0; i < 4; i++)
		g->v6_nets[i] = rng_next(&g->seed) & UINT64_C(0xffffffff00000000);
}

/*
 * Clustered addresses, so the prune has subnets to find: a few /16s
 * (IPv4) or /32s (IPv6), inside them a few subnets, inside those a few
 * hundred hosts, with skewed weights; one in ten addresses is random.
 */
static struct safem_agg_addr
gen_addr(struct gen *g)
{
	uint64_t r = rng_next(&g->seed);
	bool six = g->fam == FAM_V6 || (g->fam == FAM_MIXED && (r & 1));
	unsigned int net = (unsigned int)((r >> 8) % 16);

	net = net < 8 ? 0 : net < 12 ? 1 : net < 14 ? 2 : net - 11; /* skewed: 0 most */
	if (!six) {
		uint32_t a = g->v4_nets[net] | (uint32_t)((r >> 16) % 4) << 8 |
			     (uint32_t)((r >> 24) % 200);

		if ((r >> 40) % 10 == 0)
			a = (uint32_t)(r >> 32);
		return v4_u32(a);
	} else {
		struct safem_agg_addr a;

		a.hi = g->v6_nets[net % 4] | (r >> 16) % 3 << 16 | (r >> 20) % 2;
		a.lo = (r >> 24) % 150;
		if ((r >> 40) % 10 == 0)
			a.hi = rng_next(&g->seed), a.lo = rng_next(&g->seed);
		return a;
	}
}

static struct safem_agg_counters
gen_counters(struct gen *g)
{
	uint64_t r = rng_next(&g->seed);
	struct safem_agg_counters c;

	c.packets = 1 + r % 20;
	c.bytes = c.packets * (40 + (r >> 8) % 1460);
	c.flows = (r >> 24) % 3; /* some zero: nodes with volume in only some metrics */
	return c;
}

struct input {
	struct safem_agg_addr addr;
	struct safem_agg_counters c;
};

static struct input *
gen_inputs(uint64_t seed, enum family fam, size_t n)
{
	struct input *in = calloc(n, sizeof(*in));
	struct gen g;
	size_t i;

	assert_non_null(in);
	gen_init(&g, seed, fam);
	for (i = 0; i < n; i++) {
		in[i].addr = gen_addr(&g);
		in[i].c = gen_counters(&g);
	}
	return in;
}

/* Reference nodes of inputs: the /128s and the two roots, summed. */
static struct ref_node *
ref_nodes(const struct input *in, size_t n_in, size_t *n)
{
	struct ref_node *v = calloc(n_in + 2, sizeof(*v));
	size_t i;

	assert_non_null(v);
	for (i = 0; i < n_in; i++) {
		v[i].p = safem_agg_prefix_of(&in[i].addr, 128);
		v[i].c = in[i].c;
	}
	v[n_in].p = prefix("::/0");
	v[n_in + 1].p = prefix("0.0.0.0/0");
	*n = ref_canonical(v, n_in + 2);
	return v;
}

static uint64_t
metric(const struct safem_agg_counters *c, enum safem_agg_metric m)
{
	return safem_agg_counters_metric(c, m);
}

/*
 * SAFEM's rule the naive way: every prefix /0../128 of the node prefixes,
 * level by level from /128 up. At each level a prefix holds its own volume
 * plus what its children passed up; it is kept (and reports that residual)
 * if it is a root or holds > 0 and >= alpha x T, else it passes all up.
 */
static size_t
ref_prune(const struct ref_node *nodes, size_t n, enum safem_agg_metric m, double alpha,
	  struct safem_agg_node_out *out)
{
	struct ref_node *carry = calloc(2 * n + 2, sizeof(*carry));
	struct ref_node *level = calloc(2 * n + 2, sizeof(*level));
	struct safem_agg_counters total = {0, 0, 0};
	size_t ncarry = 0, nout = 0, i;
	double t;
	int len;

	assert_non_null(carry);
	assert_non_null(level);
	for (i = 0; i < n; i++)
		counters_add(&total, &nodes[i].c);
	t = (double)metric(&total, m);
	for (len = 128; len >= 0; len--) {
		size_t nlevel = 0;

		for (i = 0; i < ncarry; i++) {
			level[nlevel] = carry[i];
			mask(&level[nlevel].p, (unsigned int)len);
			nlevel++;
		}
		for (i = 0; i < n; i++)
			if (nodes[i].p.len == len)
				level[nlevel++] = nodes[i];
		nlevel = ref_canonical(level, nlevel);
		ncarry = 0;
		for (i = 0; i < nlevel; i++) {
			uint64_t v = metric(&level[i].c, m);

			if (is_root(&level[i].p) || (v > 0 && (double)v >= alpha * t)) {
				if (level[i].p.len == SAFEM_AGG_V4_ROOT_LEN &&
				    level[i].c.bytes == 0 && level[i].c.packets == 0 &&
				    level[i].c.flows == 0)
					continue; /* an empty IPv4 root is left out */
				out[nout].prefix = level[i].p;
				out[nout].counters = level[i].c;
				out[nout].share = t > 0 ? (double)v / t : 0.0;
				nout++;
			} else {
				carry[ncarry++] = level[i];
			}
		}
	}
	free(carry);
	free(level);
	/* Sort by (address, len). */
	for (i = 1; i < nout; i++) {
		struct safem_agg_node_out x = out[i];
		size_t j = i;

		while (j > 0 && prefix_cmp(&out[j - 1].prefix, &x.prefix) > 0) {
			out[j] = out[j - 1];
			j--;
		}
		out[j] = x;
	}
	return nout;
}

static void
assert_prune_equal(const struct safem_agg_node_out *a, size_t na,
		   const struct safem_agg_node_out *b, size_t nb)
{
	size_t i;

	assert_int_equal(na, nb);
	for (i = 0; i < na; i++) {
		if (prefix_cmp(&a[i].prefix, &b[i].prefix) != 0) {
			char x[SAFEM_AGG_PREFIX_STRLEN], y[SAFEM_AGG_PREFIX_STRLEN];

			safem_agg_prefix_format(&a[i].prefix, x, sizeof(x));
			safem_agg_prefix_format(&b[i].prefix, y, sizeof(y));
			print_error("node %zu: %s != %s\n", i, x, y);
			fail();
		}
		assert_true(counters_equal(&a[i].counters, &b[i].counters));
		assert_true(a[i].share == b[i].share);
	}
}

/* ----------------------------------------------------------- prefixes -- */

static void
format_is(const char *in, const char *expected)
{
	struct safem_agg_prefix p = prefix(in);
	char buf[SAFEM_AGG_PREFIX_STRLEN];

	assert_true(safem_agg_prefix_format(&p, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, expected);
}

static void
test_prefix_format_parse(void **state)
{
	static const char *const bad[] = {"",
					  "junk",
					  "10.1.2.1/24",
					  "10.0.0.0/33",
					  "10.0.0.0/",
					  "10.0.0.0/0x",
					  "10.0.0.0/-1",
					  "2001:db8::/129",
					  "2001:db8::1/64",
					  "10.0.0/8",
					  "/8",
					  "10.0.0.0/0008"};
	const uint8_t key_v4[16] = {192, 0, 2, 1, 9, 9, 9, 9}; /* bytes 4.. are ignored for v4 */
	const uint8_t key_v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	struct safem_agg_prefix p;
	struct safem_agg_addr a;
	uint8_t bytes[16];
	char small[8];
	size_t i;

	(void)state;
	format_is("10.1.2.0/24", "10.1.2.0/24");
	format_is("10.1.2.3", "10.1.2.3/32");
	format_is("2001:db8::/32", "2001:db8::/32");
	format_is("2001:db8::1", "2001:db8::1/128");
	format_is("::/0", "::/0");
	format_is("0.0.0.0/0", "0.0.0.0/0");
	format_is("::ffff:0:0/96", "0.0.0.0/0"); /* the IPv4 root is IPv4 /0 */
	format_is("::ffff:10.0.0.0/104", "10.0.0.0/8");
	format_is("::fffe:0:0/95", "::fffe:0:0/95");

	p = prefix("10.1.2.0/24");
	assert_int_equal(p.len, 96 + 24);
	assert_true(p.addr.hi == 0 && p.addr.lo == UINT64_C(0x0000ffff0a010200));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(safem_agg_prefix_parse(bad[i], &p), -EINVAL);
	p = prefix("2001:db8::/32");
	assert_int_equal(safem_agg_prefix_format(&p, small, sizeof(small)), -ENOSPC);
	p.len = 129;
	assert_int_equal(safem_agg_prefix_format(&p, small, sizeof(small)), -EINVAL);

	/* From flow key bytes, and back. */
	a = safem_agg_addr_from_bytes(key_v4, 4);
	assert_true(a.hi == 0 && a.lo == UINT64_C(0x0000ffffc0000201));
	assert_true(safem_agg_addr_is_v4(&a));
	safem_agg_addr_to_bytes(&a, bytes);
	assert_int_equal(bytes[10], 0xff);
	assert_int_equal(bytes[15], 1);
	a = safem_agg_addr_from_bytes(key_v6, 6);
	assert_true(a.hi == UINT64_C(0x20010db800000000) && a.lo == 1);
	assert_false(safem_agg_addr_is_v4(&a));
	safem_agg_addr_to_bytes(&a, bytes);
	assert_memory_equal(bytes, key_v6, 16);
	p = safem_agg_prefix_of(&a, 200);
	assert_int_equal(p.len, 128);
}

static void
test_create_params(void **state)
{
	struct safem_aggtree_params params = {.name = "bad", .max_nodes = 7};

	(void)state;
	assert_null(safem_aggtree_create(NULL));
	assert_int_equal(rte_errno, EINVAL);
	assert_null(safem_aggtree_create(&params));
	assert_int_equal(rte_errno, EINVAL);
	assert_non_null(strstr(safem_aggtree_params_error(), "max_nodes"));
	params.max_nodes = SAFEM_AGGTREE_MAX_NODES + 1;
	assert_null(safem_aggtree_create(&params));
	params.max_nodes = 64;
	params.reclaim_percent = 51;
	assert_null(safem_aggtree_create(&params));
	assert_non_null(strstr(safem_aggtree_params_error(), "reclaim_percent"));
	params.reclaim_percent = 0;
	safem_aggtree_free(safem_aggtree_create(&params));
	safem_aggtree_free(NULL);
}

/* --------------------------------------------------- exact insertion -- */

static void
check_exact_insert(uint64_t seed, enum family fam, size_t n_in)
{
	struct input *in = gen_inputs(seed, fam, n_in);
	struct safem_aggtree *t = tree_new(4 * (uint32_t)n_in + 8);
	struct safem_agg_counters sum = {0, 0, 0}, c;
	struct ref_node *ref, *got;
	size_t nref, ngot, i;

	for (i = 0; i < n_in; i++) {
		safem_aggtree_add(t, &in[i].addr, &in[i].c);
		counters_add(&sum, &in[i].c);
	}
	ref = ref_nodes(in, n_in, &nref);
	got = tree_nodes(t, &ngot);
	assert_node_lists_equal(got, ngot, ref, nref);
	assert_conserved(t, &sum);
	assert_int_equal(safem_aggtree_folds(t), 0);
	assert_int_equal(safem_aggtree_stats(t)->adds, n_in);
	assert_int_equal(safem_aggtree_stats(t)->nodes, nref);
	for (i = 0; i < nref; i++) {
		assert_int_equal(safem_aggtree_lookup(t, &ref[i].p, &c), 0);
		assert_true(counters_equal(&c, &ref[i].c));
	}
	c = ref[0].c;
	{
		struct safem_agg_prefix absent = prefix("10.255.255.0/24");

		assert_int_equal(safem_aggtree_lookup(t, &absent, &c), -ENOENT);
	}
	free(ref);
	free(got);
	free(in);
	safem_aggtree_free(t);
}

static void
test_insert_exact(void **state)
{
	(void)state;
	check_exact_insert(1, FAM_V4, 3000);
	check_exact_insert(2, FAM_V6, 3000);
	check_exact_insert(3, FAM_MIXED, 3000);
	check_exact_insert(4, FAM_MIXED, 1);
}

/* ----------------------------------------------- prune vs reference -- */

static void
check_prune_vs_reference(uint64_t seed, enum family fam, size_t n_in)
{
	static const double alphas[] = {0.0, 0.001, 0.005, 0.01, 0.05, 0.2, 0.5, 1.0};
	struct input *in = gen_inputs(seed, fam, n_in);
	struct safem_aggtree *t = tree_new(2 * (uint32_t)n_in + 8);
	struct safem_agg_node_out *got, *ref;
	struct ref_node *nodes;
	size_t nnodes, i, a;
	unsigned int m;

	for (i = 0; i < n_in; i++)
		safem_aggtree_add(t, &in[i].addr, &in[i].c);
	nodes = ref_nodes(in, n_in, &nnodes);
	got = calloc(2 * nnodes, sizeof(*got));
	ref = calloc(2 * nnodes + 2, sizeof(*ref));
	assert_non_null(got);
	assert_non_null(ref);
	for (m = 0; m < SAFEM_AGG_METRICS; m++) {
		for (a = 0; a < sizeof(alphas) / sizeof(alphas[0]); a++) {
			unsigned int ngot;
			size_t nref;

			assert_int_equal(safem_aggtree_prune(t, m, alphas[a], got,
							     (unsigned int)(2 * nnodes), &ngot),
					 0);
			nref = ref_prune(nodes, nnodes, m, alphas[a], ref);
			assert_prune_equal(got, ngot, ref, nref);
		}
	}
	assert_int_equal(safem_aggtree_folds(t), 0);
	free(got);
	free(ref);
	free(nodes);
	free(in);
	safem_aggtree_free(t);
}

static void
test_prune_vs_reference(void **state)
{
	uint64_t seed;

	(void)state;
	for (seed = 10; seed < 13; seed++) {
		check_prune_vs_reference(seed, FAM_V4, 2000);
		check_prune_vs_reference(seed, FAM_V6, 2000);
		check_prune_vs_reference(seed, FAM_MIXED, 2000);
	}
	check_prune_vs_reference(20, FAM_MIXED, 10);
	check_prune_vs_reference(21, FAM_V4, 1);
}

/* The paper's picture: a /24 of many small hosts is reported as the /24. */
static void
test_prune_paper_example(void **state)
{
	struct safem_aggtree *t = tree_new(1024);
	struct safem_agg_node_out out[16];
	struct safem_agg_counters one = {1, 1, 1}, c;
	struct safem_agg_addr a;
	struct safem_agg_entropy e;
	unsigned int n, i;
	double h;

	(void)state;
	/* 64 hosts of 10.1.2.0/24 (every 4th), 1 packet each: no /25 reaches alpha. */
	for (i = 0; i < 64; i++) {
		a = v4(10, 1, 2, 4 * i);
		safem_aggtree_add(t, &a, &one);
	}
	a = v4(10, 9, 9, 9);
	c = (struct safem_agg_counters){200, 200, 1};
	safem_aggtree_add(t, &a, &c);
	a = v4(192, 0, 2, 1);
	c = (struct safem_agg_counters){30, 30, 1};
	safem_aggtree_add(t, &a, &c);
	a = prefix("2001:db8::1").addr;
	c = (struct safem_agg_counters){106, 106, 1};
	safem_aggtree_add(t, &a, &c);
	/* T = 400 packets; alpha = 10 % keeps >= 40. */
	assert_int_equal(safem_aggtree_prune(t, SAFEM_AGG_PACKETS, 0.10, out, 16, &n), 0);
	assert_int_equal(n, 5);
	assert_int_equal(prefix_cmp(&out[0].prefix, &(struct safem_agg_prefix){{0, 0}, 0}), 0);
	assert_int_equal(out[0].counters.packets, 0);
	/* 192.0.2.1 (30 < 40) ends in the IPv4 root, never in ::/0. */
	assert_int_equal(prefix_cmp(&out[1].prefix,
				    &(struct safem_agg_prefix){prefix("0.0.0.0/0").addr, 96}),
			 0);
	assert_int_equal(out[1].counters.packets, 30);
	assert_int_equal(prefix_cmp(&out[2].prefix,
				    &(struct safem_agg_prefix){prefix("10.1.2.0/24").addr, 120}),
			 0);
	assert_int_equal(out[2].counters.packets, 64);
	assert_int_equal(out[2].counters.flows, 64);
	assert_true(out[2].share == 64.0 / 400.0);
	assert_int_equal(out[3].prefix.len, 128);
	assert_int_equal(out[3].counters.packets, 200);
	assert_int_equal(out[4].counters.packets, 106);
	assert_true(out[4].prefix.addr.hi == UINT64_C(0x20010db800000000));

	/* SAFEM eq. 1 by hand: the IPv4 root over 2^32, the /24 over 2^8. */
	assert_int_equal(safem_aggtree_entropy(t, SAFEM_AGG_PACKETS, 0.10, 2.0, &e), 0);
	h = 0.075 * (-log2(0.075) + 32) + 0.16 * (-log2(0.16) + 8) + 0.5 * 1.0 +
	    0.265 * -log2(0.265);
	assert_true(fabs(e.aggregated - h) < 1e-12);
	assert_int_equal(e.pruned_nodes, 4);
	/* IPv6 volume too (2001:db8::/32 node): normalised over the 2^128 addresses. */
	assert_true(fabs(e.aggregated_normalised - h / 128.0) < 1e-12);
	assert_true(e.exact);

	/* At the boundary: alpha x T == 64 keeps the /24, a hair more folds it. */
	assert_int_equal(safem_aggtree_prune(t, SAFEM_AGG_PACKETS, 0.16, out, 16, &n), 0);
	assert_int_equal(n, 5);
	assert_int_equal(out[2].counters.packets, 64);
	assert_int_equal(safem_aggtree_prune(t, SAFEM_AGG_PACKETS, 0.1601, out, 16, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(out[1].counters.packets, 94);
	/* alpha = 1: only the roots; the IPv4 root takes all IPv4 volume. */
	assert_int_equal(safem_aggtree_prune(t, SAFEM_AGG_PACKETS, 1.0, out, 16, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(out[0].counters.packets, 106);
	assert_int_equal(out[1].counters.packets, 294);
	safem_aggtree_free(t);
}

static void
test_prune_args_and_const(void **state)
{
	struct input *in = gen_inputs(30, FAM_MIXED, 500);
	struct safem_aggtree *t = tree_new(2048);
	struct safem_agg_node_out out[2048], again[2048];
	struct ref_node *before, *after;
	size_t nb, na, i;
	unsigned int n, n2, need;

	(void)state;
	for (i = 0; i < 500; i++)
		safem_aggtree_add(t, &in[i].addr, &in[i].c);
	assert_int_equal(safem_aggtree_prune(t, SAFEM_AGG_BYTES, -0.1, out, 2048, &n), -EINVAL);
	assert_int_equal(safem_aggtree_prune(t, SAFEM_AGG_BYTES, 1.5, out, 2048, &n), -EINVAL);
	assert_int_equal(safem_aggtree_prune(t, SAFEM_AGG_BYTES, NAN, out, 2048, &n), -EINVAL);
	assert_int_equal(safem_aggtree_prune(t, (enum safem_agg_metric)3, 0.01, out, 2048, &n),
			 -EINVAL);
	{
		struct safem_agg_entropy e;

		assert_int_equal(safem_aggtree_entropy(t, SAFEM_AGG_BYTES, 0.01, 1.0, &e), -EINVAL);
		assert_int_equal(safem_aggtree_entropy(t, SAFEM_AGG_BYTES, 2.0, 2.0, &e), -EINVAL);
	}

	before = tree_nodes(t, &nb);
	assert_int_equal(safem_aggtree_prune(t, SAFEM_AGG_BYTES, 0.0, out, 2048, &need), 0);
	assert_true(need > 3);
	assert_int_equal(safem_aggtree_prune(t, SAFEM_AGG_BYTES, 0.0, out, need - 1, &n), -ENOSPC);
	assert_int_equal(n, need);
	/* The residual counters of a pruned view add up to the totals; alpha > 0 bounds its size.
	 */
	assert_int_equal(safem_aggtree_prune(t, SAFEM_AGG_BYTES, 0.02, out, 2048, &n), 0);
	assert_true(n <= 50 + 2);
	{
		struct safem_agg_counters sum = {0, 0, 0}, totals;

		for (i = 0; i < n; i++)
			counters_add(&sum, &out[i].counters);
		safem_aggtree_totals(t, &totals);
		assert_true(counters_equal(&sum, &totals));
	}
	assert_int_equal(safem_aggtree_prune(t, SAFEM_AGG_BYTES, 0.02, again, 2048, &n2), 0);
	assert_prune_equal(out, n, again, n2);
	assert_memory_equal(out, again, n * sizeof(out[0])); /* padding zeroed too */
	after = tree_nodes(t, &na);
	assert_node_lists_equal(before, nb, after, na);
	free(before);
	free(after);
	free(in);
	safem_aggtree_free(t);
}

/* ---------------------------------------------------------------- merge -- */

static void
check_merge_exact(uint64_t seed, enum family fam)
{
	const size_t n_in = 4000;
	struct input *in = gen_inputs(seed, fam, n_in);
	struct safem_aggtree *single = tree_new(16384), *part[4], *x, *y, *z;
	struct safem_agg_node_out *p1, *p2;
	struct safem_agg_entropy e1, e2;
	uint64_t s = seed;
	unsigned int k, n1, n2;
	size_t i;

	for (k = 0; k < 4; k++)
		part[k] = tree_new(16384);
	for (i = 0; i < n_in; i++) {
		safem_aggtree_add(single, &in[i].addr, &in[i].c);
		safem_aggtree_add(part[rng_next(&s) % 4], &in[i].addr, &in[i].c);
	}

	/* ((a + b) + c) + d */
	x = tree_new(16384);
	for (k = 0; k < 4; k++)
		assert_int_equal(safem_aggtree_merge(x, part[k]), 0);
	assert_trees_equal(x, single);
	/* Commutative: d + c + b + a. */
	y = tree_new(16384);
	for (k = 4; k-- > 0;)
		assert_int_equal(safem_aggtree_merge(y, part[k]), 0);
	assert_trees_equal(y, single);
	/* Associative: (a + c) + (b + d) == a + (c + (b + d)). */
	safem_aggtree_reset(x);
	safem_aggtree_merge(x, part[0]);
	safem_aggtree_merge(x, part[2]);
	safem_aggtree_reset(y);
	safem_aggtree_merge(y, part[1]);
	safem_aggtree_merge(y, part[3]);
	assert_int_equal(safem_aggtree_merge(x, y), 0);
	assert_trees_equal(x, single);
	z = tree_new(16384);
	safem_aggtree_merge(z, part[2]);
	safem_aggtree_merge(z, y);
	safem_aggtree_reset(x);
	safem_aggtree_merge(x, part[0]);
	safem_aggtree_merge(x, z);
	assert_trees_equal(x, single);
	assert_int_equal(safem_aggtree_merge(x, x), -EINVAL);

	/* One walk gives what prune and entropy give separately. */
	{
		struct safem_agg_node_out *p3 = calloc(32768, sizeof(*p3));
		unsigned int n3;

		assert_int_equal(safem_aggtree_prune(x, SAFEM_AGG_PACKETS, 0.002, p3, 32768, &n3),
				 0);
		assert_int_equal(safem_aggtree_entropy(x, SAFEM_AGG_PACKETS, 0.002, M_E, &e1), 0);
		assert_int_equal(safem_aggtree_profile(x, SAFEM_AGG_PACKETS, 0.002, M_E, p3 + n3,
						       32768 - n3, &n1, &e2),
				 0);
		assert_prune_equal(p3, n3, p3 + n3, n1);
		assert_memory_equal(&e1, &e2, sizeof(e1));
		assert_int_equal(
			safem_aggtree_profile(x, SAFEM_AGG_PACKETS, 0.002, 1.0, NULL, 0, NULL, &e2),
			-EINVAL);
		free(p3);
	}

	/* Same pruned views and entropies. */
	p1 = calloc(32768, sizeof(*p1));
	p2 = calloc(32768, sizeof(*p2));
	assert_int_equal(safem_aggtree_prune(x, SAFEM_AGG_BYTES, 0.01, p1, 32768, &n1), 0);
	assert_int_equal(safem_aggtree_prune(single, SAFEM_AGG_BYTES, 0.01, p2, 32768, &n2), 0);
	assert_prune_equal(p1, n1, p2, n2);
	assert_int_equal(safem_aggtree_entropy(x, SAFEM_AGG_FLOWS, 0.01, 2.0, &e1), 0);
	assert_int_equal(safem_aggtree_entropy(single, SAFEM_AGG_FLOWS, 0.01, 2.0, &e2), 0);
	assert_memory_equal(&e1, &e2, sizeof(e1));
	assert_int_equal(safem_aggtree_folds(x), 0);
	assert_int_equal(safem_aggtree_stats(x)->inherited_folds, 0);

	free(p1);
	free(p2);
	for (k = 0; k < 4; k++)
		safem_aggtree_free(part[k]);
	safem_aggtree_free(single);
	safem_aggtree_free(x);
	safem_aggtree_free(y);
	safem_aggtree_free(z);
	free(in);
}

static void
test_merge_exact(void **state)
{
	(void)state;
	check_merge_exact(40, FAM_V4);
	check_merge_exact(41, FAM_V6);
	check_merge_exact(42, FAM_MIXED);
}

/* Merging into a small tree folds, but keeps the bound and the totals. */
static void
test_merge_respects_bound(void **state)
{
	struct safem_aggtree *part[3], *dst = tree_new(512);
	struct safem_agg_counters sum = {0, 0, 0};
	unsigned int k;
	size_t i;

	(void)state;
	for (k = 0; k < 3; k++) {
		struct input *in = gen_inputs(50 + k, FAM_MIXED, 3000);

		part[k] = tree_new(8192);
		for (i = 0; i < 3000; i++) {
			safem_aggtree_add(part[k], &in[i].addr, &in[i].c);
			counters_add(&sum, &in[i].c);
		}
		free(in);
		assert_int_equal(safem_aggtree_merge(dst, part[k]), 0);
		assert_true(safem_aggtree_nodes(dst) <= 512);
	}
	assert_true(safem_aggtree_folds(dst) > 0);
	assert_conserved(dst, &sum);
	for (k = 0; k < 3; k++)
		safem_aggtree_free(part[k]);
	safem_aggtree_free(dst);
}

/* --------------------------------------------------- bound and reclaim -- */

/* A bijection on 32 bits: a million distinct, scattered IPv4 addresses. */
static uint32_t
scatter32(uint32_t x)
{
	x *= 0x9e3779b1u;
	x ^= x >> 16;
	x *= 0x85ebca6bu;
	x ^= x >> 13;
	return x;
}

struct v4_sum {
	struct safem_agg_counters in_v4, outside;
};

static void
v4_sum_fn(const struct safem_agg_prefix *p, const struct safem_agg_counters *c, void *ctx)
{
	struct v4_sum *s = ctx;

	if (p->len >= SAFEM_AGG_V4_ROOT_LEN && safem_agg_addr_is_v4(&p->addr))
		counters_add(&s->in_v4, c);
	else
		counters_add(&s->outside, c);
}

/*
 * A spoofed-source flood: 1M distinct random sources of one 60-byte packet
 * each (half IPv4, half IPv6 in the mixed run), and five heavy hitters with
 * about 10 % of the bytes each. The node count never passes the bound, the
 * totals stay exact, the heavy hitters keep their own exact /128 nodes (the
 * flood's sources are the least significant leaves), IPv4 volume never
 * leaves the IPv4 root, and the entropy bounds hold around the true
 * per-address entropy.
 */
static void
check_flood(bool mixed)
{
	const uint32_t max_nodes = 4096, n_flood = 1000000;
	const struct safem_agg_counters spoof = {60, 1, 1}, heavy = {12000, 200, 1};
	struct safem_aggtree *t = tree_new(max_nodes);
	struct safem_agg_counters sum = {0, 0, 0}, v4_added = {0, 0, 0}, c;
	struct safem_agg_addr heavy_addr[5];
	struct safem_agg_node_out out[128]; /* alpha = 1 %: at most 102 kept */
	struct safem_agg_entropy e;
	struct v4_sum vs;
	uint64_t *counts, s = 7;
	unsigned int n, k, max_seen = 0;
	uint32_t i;

	for (k = 0; k < 5; k++)
		heavy_addr[k] = v4(10, 0, 0, 1 + k);
	counts = calloc(n_flood + 5, sizeof(*counts));
	assert_non_null(counts);
	for (i = 0; i < n_flood; i++) {
		struct safem_agg_addr a = v4_u32(scatter32(i));

		if ((a.lo >> 8) == (heavy_addr[0].lo >> 8))
			a = v4_u32(scatter32(i) ^
				   0x80000000u); /* keep 10.0.0.0/24 to the heavies */
		if (mixed && (i & 1)) {
			a.hi = UINT64_C(0x20010db800000000) | (rng_next(&s) & 0xffffffff);
			a.lo = rng_next(&s);
		} else {
			counters_add(&v4_added, &spoof);
		}
		safem_aggtree_add(t, &a, &spoof);
		counters_add(&sum, &spoof);
		counts[i] = spoof.bytes;
		if (i % 1000 == 999) {
			for (k = 0; k < 5; k++) {
				safem_aggtree_add(t, &heavy_addr[k], &heavy);
				counters_add(&sum, &heavy);
				counters_add(&v4_added, &heavy);
				counts[n_flood + k] += heavy.bytes;
			}
		}
		max_seen = RTE_MAX(max_seen, safem_aggtree_nodes(t));
	}
	assert_true(max_seen <= max_nodes);
	assert_int_equal(max_seen, max_nodes); /* it did fill */
	assert_conserved(t, &sum);
	assert_true(safem_aggtree_stats(t)->reclaims > 0);
	/* Every reclaim frees at least 25 % of the bound, and every freed node was a fold. */
	assert_true(safem_aggtree_folds(t) >= safem_aggtree_stats(t)->reclaims * max_nodes / 4);
	assert_int_equal(safem_aggtree_stats(t)->adds, n_flood + 5 * (n_flood / 1000));

	for (k = 0; k < 5; k++) {
		struct safem_agg_prefix p = safem_agg_prefix_of(&heavy_addr[k], 128);

		assert_int_equal(safem_aggtree_lookup(t, &p, &c), 0);
		assert_int_equal(c.bytes, heavy.bytes * (n_flood / 1000));
	}
	memset(&vs, 0, sizeof(vs));
	safem_aggtree_walk(t, v4_sum_fn, &vs);
	assert_true(counters_equal(&vs.in_v4, &v4_added));

	/* The flood is aggregated: most of its volume sits in prefixes, not hosts. */
	assert_int_equal(safem_aggtree_prune(t, SAFEM_AGG_BYTES, 0.01, out, 128, &n), 0);
	for (k = 0; k < 5; k++) {
		unsigned int j;
		bool found = false;

		for (j = 0; j < n; j++)
			found |= out[j].prefix.len == 128 &&
				 out[j].prefix.addr.lo == heavy_addr[k].lo;
		assert_true(found);
	}

	assert_int_equal(safem_aggtree_entropy(t, SAFEM_AGG_BYTES, 0.01, 2.0, &e), 0);
	assert_false(e.exact);
	{
		double h_true = safem_entropy_shannon(counts, n_flood + 5, 2.0);

		assert_true(e.nodes_lower_bound <= h_true + 1e-9);
		assert_true(h_true <= e.nodes + e.nodes_error_bound + 1e-9);
		assert_true(e.aggregated_normalised >= 0.0 && e.aggregated_normalised <= 1.0);
	}
	free(counts);
	safem_aggtree_free(t);
}

static void
test_flood_bound_v4(void **state)
{
	(void)state;
	check_flood(false);
}

static void
test_flood_bound_mixed(void **state)
{
	(void)state;
	check_flood(true);
}

/*
 * Aguri reclaim by hand. max_nodes 8 = the two roots + 6 hosts; the 7th host
 * triggers a reclaim that must free 2 nodes (25 % of 8). Least significant
 * first, each leaf folds into its Patricia parent (branch point with its
 * nearest neighbour), which is created if absent:
 *   10.0.0.2 (1)    -> 10.0.0.2/31 created       (nothing freed)
 *   10.0.0.3 (2)    -> 10.0.0.2/31 exists        (1 freed)
 *   192.168.1.2 (3) -> 192.168.1.2/31 created    (nothing freed)
 *   192.168.1.3 (4) -> 192.168.1.2/31 exists     (2 freed: done)
 * The heavy 10.0.0.1 and 172.16.0.1 keep their nodes.
 */
static void
test_reclaim_hand_example(void **state)
{
	static const struct {
		const char *addr;
		uint64_t bytes;
	} hosts[] = {{"10.0.0.1", 1000},   {"10.0.0.2", 1},    {"10.0.0.3", 2},
		     {"172.16.0.1", 1000}, {"192.168.1.2", 3}, {"192.168.1.3", 4}};
	static const struct {
		const char *prefix;
		uint64_t bytes;
	} expect[] = {{"::/0", 0},	   {"0.0.0.0/0", 0},	 {"10.0.0.1", 1000},
		      {"10.0.0.2/31", 3},  {"172.16.0.1", 1000}, {"192.168.1.2/31", 7},
		      {"203.0.113.9", 500}};
	struct safem_aggtree *t = tree_new(8);
	struct safem_agg_counters c;
	struct ref_node *v;
	size_t i, n;

	(void)state;
	for (i = 0; i < 6; i++) {
		/* flows 0 and packets = bytes: significance is the byte share. */
		c = (struct safem_agg_counters){hosts[i].bytes, hosts[i].bytes, 0};
		add_host(t, hosts[i].addr, &c);
	}
	assert_int_equal(safem_aggtree_nodes(t), 8);
	assert_int_equal(safem_aggtree_folds(t), 0);
	c = (struct safem_agg_counters){500, 500, 0};
	add_host(t, "203.0.113.9", &c);
	assert_int_equal(safem_aggtree_stats(t)->reclaims, 1);
	assert_int_equal(safem_aggtree_folds(t), 4);
	v = tree_nodes(t, &n);
	assert_int_equal(n, sizeof(expect) / sizeof(expect[0]));
	for (i = 0; i < n; i++) {
		struct safem_agg_prefix p = prefix(expect[i].prefix);

		assert_int_equal(prefix_cmp(&v[i].p, &p), 0);
		assert_int_equal(v[i].c.bytes, expect[i].bytes);
	}
	free(v);
	safem_aggtree_free(t);
}

/*
 * A reclaim whose normal pass frees nothing: the prefixes ::/8 ... ::/80 all
 * contain the IPv4 root, so the only leaf is 2001:db8::1, and folding it
 * creates the new branch point ::/2. The next pass folds into existing
 * parents (a folded parent's children wait for the next pass): totals stay
 * exact and the bound holds.
 */
static void
test_reclaim_fallback(void **state)
{
	static const char *const chain[] = {"::/8", "::/16", "::/32", "::/64", "::/80"};
	struct safem_aggtree *t = tree_new(8);
	struct safem_agg_counters sum = {0, 0, 0}, c;
	size_t i;

	(void)state;
	for (i = 0; i < 5; i++) {
		struct safem_agg_prefix p = prefix(chain[i]);

		c = (struct safem_agg_counters){5 - i, 5 - i, 0}; /* ::/8 least significant */
		safem_aggtree_add_prefix(t, &p, &c);
		counters_add(&sum, &c);
	}
	c = (struct safem_agg_counters){100, 100, 0};
	add_host(t, "2001:db8::1", &c);
	counters_add(&sum, &c);
	assert_int_equal(safem_aggtree_nodes(t), 8);
	add_host(t, "2001:db8::2", &c);
	counters_add(&sum, &c);
	assert_true(safem_aggtree_nodes(t) <= 8);
	assert_int_equal(safem_aggtree_stats(t)->reclaims, 1);
	assert_conserved(t, &sum);
	assert_int_equal(
		safem_aggtree_lookup(t, &(struct safem_agg_prefix){prefix("2001:db8::2").addr, 128},
				     &c),
		0);
	assert_int_equal(c.bytes, 100);
	safem_aggtree_free(t);
}

/* A small tree under many distinct sources: every add keeps the bound. */
static void
test_folds_counted(void **state)
{
	struct safem_aggtree_params params = {
		.name = "small", .max_nodes = 16, .reclaim_percent = 50};
	struct safem_aggtree *t = safem_aggtree_create(&params);
	struct input *in = gen_inputs(60, FAM_MIXED, 2000);
	struct safem_agg_counters sum = {0, 0, 0};
	struct safem_agg_entropy e;
	size_t i;

	(void)state;
	assert_non_null(t);
	for (i = 0; i < 2000; i++) {
		safem_aggtree_add(t, &in[i].addr, &in[i].c);
		counters_add(&sum, &in[i].c);
		assert_true(safem_aggtree_nodes(t) <= 16);
	}
	assert_conserved(t, &sum);
	assert_true(safem_aggtree_folds(t) > 0);
	assert_true(safem_aggtree_stats(t)->reclaims > 0);
	assert_int_equal(safem_aggtree_entropy(t, SAFEM_AGG_PACKETS, 0.0, 2.0, &e), 0);
	assert_false(e.exact);
	assert_true(e.nodes_lower_bound <= e.nodes);

	/* Reset: the roots only, counters zero, and it behaves like a new tree. */
	safem_aggtree_reset(t);
	assert_int_equal(safem_aggtree_nodes(t), 2);
	assert_int_equal(safem_aggtree_folds(t), 0);
	assert_int_equal(safem_aggtree_stats(t)->reclaims, 0);
	assert_int_equal(safem_aggtree_stats(t)->adds, 0);
	{
		struct safem_aggtree *fresh = safem_aggtree_create(&params);

		for (i = 0; i < 2000; i++) {
			safem_aggtree_add(t, &in[i].addr, &in[i].c);
			safem_aggtree_add(fresh, &in[i].addr, &in[i].c);
		}
		assert_trees_equal(t, fresh);
		safem_aggtree_free(fresh);
	}
	free(in);
	safem_aggtree_free(t);
}

/* ------------------------------------------------------------- entropy -- */

static void
test_entropy_exact(void **state)
{
	struct input *in = gen_inputs(70, FAM_MIXED, 3000);
	struct safem_aggtree *t = tree_new(8192);
	struct safem_agg_entropy e;
	struct ref_node *ref;
	uint64_t *counts;
	size_t nref, i;
	unsigned int m;

	(void)state;
	for (i = 0; i < 3000; i++)
		safem_aggtree_add(t, &in[i].addr, &in[i].c);
	ref = ref_nodes(in, 3000, &nref);
	counts = calloc(nref, sizeof(*counts));
	for (m = 0; m < SAFEM_AGG_METRICS; m++) {
		for (i = 0; i < nref; i++)
			counts[i] = metric(&ref[i].c, m);
		assert_int_equal(safem_aggtree_entropy(t, m, 0.0, 2.0, &e), 0);
		assert_true(e.exact);
		assert_true(fabs(e.nodes - safem_entropy_shannon(counts, nref, 2.0)) < 1e-9);
		assert_true(e.nodes_error_bound == 0.0 && e.nodes_lower_bound == e.nodes);
		/* alpha = 0 keeps every host: eq. 1 is the exact entropy. */
		assert_true(fabs(e.aggregated - e.nodes) < 1e-9);
		assert_int_equal(safem_aggtree_entropy(t, m, 0.05, M_E, &e), 0);
		assert_true(e.aggregated >= 0.0);
		assert_true(e.aggregated_normalised >= 0.0 && e.aggregated_normalised <= 1.0);
	}
	/* A shorter prefix fed directly makes the node entropy inexact. */
	{
		struct safem_agg_prefix p = prefix("198.51.100.0/24");
		struct safem_agg_counters c = {1000, 10, 1};

		safem_aggtree_add_prefix(t, &p, &c);
		assert_int_equal(safem_aggtree_entropy(t, SAFEM_AGG_BYTES, 0.0, 2.0, &e), 0);
		assert_false(e.exact);
		assert_true(e.nodes_error_bound > 0.0);
	}
	/* Empty tree: everything 0, exact. */
	safem_aggtree_reset(t);
	assert_int_equal(safem_aggtree_entropy(t, SAFEM_AGG_BYTES, 0.01, 2.0, &e), 0);
	assert_true(e.exact && e.aggregated == 0.0 && e.nodes == 0.0);
	free(counts);
	free(ref);
	free(in);
	safem_aggtree_free(t);
}

static void
test_add_prefix_masks(void **state)
{
	struct safem_aggtree *t = tree_new(64);
	struct safem_agg_prefix p = {prefix("10.1.2.3").addr, 96 + 16};
	struct safem_agg_counters c = {5, 6, 7}, got;

	(void)state;
	safem_aggtree_add_prefix(t, &p, &c);
	assert_int_equal(safem_aggtree_lookup(t, &p, &got), 0); /* lookup masks too */
	assert_true(counters_equal(&got, &c));
	p = prefix("10.1.0.0/16");
	assert_int_equal(safem_aggtree_lookup(t, &p, &got), 0);
	assert_int_equal(safem_aggtree_nodes(t), 3);
	safem_aggtree_free(t);
}

/* ------------------------------------------------------- serialization -- */

static uint64_t
fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ p[i]) * UINT64_C(0x100000001b3);
	return h;
}

/* Recompute the trailer after editing a buffer, to reach the checks behind the checksum. */
static void
fix_checksum(uint8_t *buf, size_t size)
{
	uint64_t h = fnv1a(buf, size - 8);
	unsigned int i;

	for (i = 0; i < 8; i++)
		buf[size - 8 + i] = (uint8_t)(h >> (8 * i));
}

static uint8_t *
write_to_memory(const struct safem_aggtree *t, size_t *size)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, size);

	assert_non_null(f);
	assert_int_equal(safem_aggtree_write_binary(t, f), 0);
	assert_int_equal(fclose(f), 0);
	return (uint8_t *)buf;
}

static int
read_from_memory(struct safem_aggtree *t, const uint8_t *buf, size_t size)
{
	static const uint8_t empty;
	FILE *f = fmemopen((void *)(uintptr_t)(size > 0 ? buf : &empty), size > 0 ? size : 1, "r");
	int rc;

	assert_non_null(f);
	if (size == 0)
		(void)fgetc(f); /* fmemopen needs a size > 0: start at its end */
	rc = safem_aggtree_read_binary(t, f);
	fclose(f);
	return rc;
}

static struct safem_aggtree *
serial_tree(void)
{
	struct input *in = gen_inputs(80, FAM_MIXED, 300);
	struct safem_aggtree *t = tree_new(64); /* folds, so inherited_folds has work */
	size_t i;

	for (i = 0; i < 300; i++)
		safem_aggtree_add(t, &in[i].addr, &in[i].c);
	free(in);
	assert_true(safem_aggtree_folds(t) > 0);
	return t;
}

static void
test_binary_round_trip(void **state)
{
	struct safem_aggtree *t = serial_tree(), *r = tree_new(64), *big = tree_new(4096);
	uint8_t *buf, *buf2, *two;
	size_t size, size2;
	FILE *f;

	(void)state;
	buf = write_to_memory(t, &size);
	assert_int_equal(size, 64 + 48 * safem_aggtree_nodes(t) + 8);
	assert_memory_equal(buf, "SAFEMAGT", 8);
	assert_int_equal(read_from_memory(r, buf, size), 0);
	assert_trees_equal(r, t);
	assert_int_equal(safem_aggtree_stats(r)->inherited_folds, safem_aggtree_folds(t));
	/* Equal trees give equal bytes, whatever their internal order. */
	assert_int_equal(safem_aggtree_merge(big, r), 0);
	buf2 = write_to_memory(big, &size2);
	assert_int_equal(size, size2);
	assert_memory_equal(buf + 64, buf2 + 64, size - 64 - 8);

	/* Two trees in one stream read one after the other. */
	two = malloc(2 * size);
	memcpy(two, buf, size);
	memcpy(two + size, buf, size);
	f = fmemopen(two, 2 * size, "r");
	assert_int_equal(safem_aggtree_read_binary(r, f), 0);
	assert_int_equal(safem_aggtree_read_binary(big, f), 0);
	assert_int_equal(fgetc(f), EOF);
	fclose(f);
	assert_trees_equal(r, big);

	/* A file of more nodes than the bound is folded in, totals exact. */
	{
		struct safem_aggtree *tiny = tree_new(16);
		struct safem_agg_counters totals;

		assert_int_equal(read_from_memory(tiny, buf, size), 0);
		assert_true(safem_aggtree_nodes(tiny) <= 16);
		safem_aggtree_totals(t, &totals);
		assert_conserved(tiny, &totals);
		safem_aggtree_free(tiny);
	}
	free(two);
	free(buf);
	free(buf2);
	safem_aggtree_free(t);
	safem_aggtree_free(r);
	safem_aggtree_free(big);
}

static void
expect_rejected(struct safem_aggtree *r, const uint8_t *buf, size_t size)
{
	assert_int_equal(read_from_memory(r, buf, size), -EINVAL);
	assert_int_equal(safem_aggtree_nodes(r), 2); /* left empty */
}

static void
test_binary_rejects_corrupt(void **state)
{
	struct safem_aggtree *t = serial_tree(), *r = tree_new(64);
	uint64_t s = 99;
	uint8_t *buf, *bad;
	size_t size, i;
	unsigned int trial;

	(void)state;
	buf = write_to_memory(t, &size);
	bad = malloc(size);
	/* Every truncation. */
	for (i = 0; i < size; i++)
		expect_rejected(r, buf, i);
	/* Every single-byte change (FNV-1a detects all of them). */
	for (i = 0; i < size; i++) {
		memcpy(bad, buf, size);
		bad[i] ^= (uint8_t)(1 + rng_next(&s) % 255);
		expect_rejected(r, bad, size);
	}
	/* Random multi-byte damage, random lengths: never crashes, always rejected. */
	for (trial = 0; trial < 3000; trial++) {
		size_t len = 1 + rng_next(&s) % size;
		unsigned int k, flips = 1 + rng_next(&s) % 8;

		memcpy(bad, buf, size);
		for (k = 0; k < flips; k++)
			bad[rng_next(&s) % size] ^= (uint8_t)(1 + rng_next(&s) % 255);
		if (len == size && memcmp(bad, buf, size) == 0)
			continue; /* the flips cancelled out */
		expect_rejected(r, bad, len);
	}
	/* Structurally wrong content under a valid checksum. */
	memcpy(bad, buf, size);
	bad[8] = 2; /* version */
	fix_checksum(bad, size);
	expect_rejected(r, bad, size);
	memcpy(bad, buf, size);
	bad[64 + 48 * 3 + 16] = 129; /* len */
	fix_checksum(bad, size);
	expect_rejected(r, bad, size);
	memcpy(bad, buf, size);
	bad[64 + 48 * 3 + 15] |= 1; /* a host bit (node 3 is not a /128: the roots come first) */
	bad[64 + 48 * 3 + 16] = 64;
	fix_checksum(bad, size);
	expect_rejected(r, bad, size);
	memcpy(bad, buf, size);
	memcpy(bad + 64 + 48 * 2, buf + 64 + 48 * 3, 48); /* out of order / duplicate */
	memcpy(bad + 64 + 48 * 3, buf + 64 + 48 * 2, 48);
	fix_checksum(bad, size);
	expect_rejected(r, bad, size);
	memcpy(bad, buf, size);
	bad[64 + 48 * 3 + 24] ^= 1; /* bytes no longer add up to the header's total */
	fix_checksum(bad, size);
	expect_rejected(r, bad, size);
	memcpy(bad, buf, size);
	bad[16 + 6] = 1; /* absurd node count */
	fix_checksum(bad, size);
	expect_rejected(r, bad, size);
	memcpy(bad, buf, size);
	bad[64 + 48 * 3 + 20] = 1; /* padding */
	fix_checksum(bad, size);
	expect_rejected(r, bad, size);
	/* And the untouched buffer still reads. */
	assert_int_equal(read_from_memory(r, buf, size), 0);
	free(bad);
	free(buf);
	safem_aggtree_free(t);
	safem_aggtree_free(r);
}

static void
test_json(void **state)
{
	struct safem_aggtree *t = tree_new(64);
	struct safem_agg_counters c = {1500, 3, 1};
	char *buf = NULL;
	size_t size;
	FILE *f;

	(void)state;
	add_host(t, "2001:db8::1", &c);
	add_host(t, "10.1.2.3", &c);
	safem_aggtree_add_prefix(t, &(struct safem_agg_prefix){prefix("10.0.0.0/8").addr, 104}, &c);
	f = open_memstream(&buf, &size);
	assert_int_equal(safem_aggtree_write_json(t, f), 0);
	fclose(f);
	assert_string_equal(
		buf, "[\n"
		     "{\"prefix\":\"::/0\",\"bytes\":0,\"packets\":0,\"flows\":0},\n"
		     "{\"prefix\":\"0.0.0.0/0\",\"bytes\":0,\"packets\":0,\"flows\":0},\n"
		     "{\"prefix\":\"10.0.0.0/8\",\"bytes\":1500,\"packets\":3,\"flows\":1},\n"
		     "{\"prefix\":\"10.1.2.3/32\",\"bytes\":1500,\"packets\":3,\"flows\":1},\n"
		     "{\"prefix\":\"2001:db8::1/128\",\"bytes\":1500,\"packets\":3,\"flows\":1}\n"
		     "]\n");
	free(buf);
	safem_aggtree_free(t);
}

/* ----------------------------------------------------------- benchmark -- */

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* add() ns/op: n distinct scattered IPv4 sources into a tree of max_nodes. */
static double
bench_add(uint32_t max_nodes, uint32_t n, uint32_t distinct, uint64_t *reclaims)
{
	const struct safem_agg_counters c = {60, 1, 1};
	struct safem_aggtree *t = tree_new(max_nodes);
	double t0, t1;
	uint32_t i;

	t0 = now_s();
	for (i = 0; i < n; i++) {
		struct safem_agg_addr a = v4_u32(scatter32(i % distinct));

		safem_aggtree_add(t, &a, &c);
	}
	t1 = now_s();
	*reclaims = safem_aggtree_stats(t)->reclaims;
	safem_aggtree_free(t);
	return (t1 - t0) * 1e9 / n;
}

/*
 * Informational, not a pass/fail test (timings depend on the machine):
 * SAFEM_AGGTREE_BENCH=1 build/tests/test_aggtree
 */
static void
test_bench(void **state)
{
	const uint32_t per_tree = 65536 - 2; /* the roots take two nodes */
	struct safem_aggtree *part[4], *dst = tree_new(262144);
	struct safem_agg_node_out *out = calloc(1024, sizeof(*out));
	struct safem_agg_entropy e;
	double t0, t1, t2, best_merge = 1e9, best_view = 1e9;
	uint64_t reclaims;
	unsigned int k, n, rep, m;
	uint32_t i;

	(void)state;
	if (getenv("SAFEM_AGGTREE_BENCH") == NULL) {
		free(out);
		safem_aggtree_free(dst);
		skip();
	}
	printf("add, 1M distinct IPv4, max_nodes 262144: %.1f ns/op",
	       bench_add(262144, 1000000, 1000000, &reclaims));
	printf(" (%" PRIu64 " reclaims)\n", reclaims);
	printf("add, 1M distinct IPv4, max_nodes 65536:  %.1f ns/op",
	       bench_add(65536, 1000000, 1000000, &reclaims));
	printf(" (%" PRIu64 " reclaims)\n", reclaims);
	printf("add, 4M distinct IPv4, max_nodes 262144: %.1f ns/op",
	       bench_add(262144, 4000000, 4000000, &reclaims));
	printf(" (%" PRIu64 " reclaims)\n", reclaims);
	printf("add, 1M adds over 100k IPv4, max_nodes 262144: %.1f ns/op",
	       bench_add(262144, 1000000, 100000, &reclaims));
	printf(" (%" PRIu64 " reclaims)\n", reclaims);

	for (k = 0; k < 4; k++) {
		const struct safem_agg_counters c = {60, 1, 1};

		part[k] = tree_new(65536);
		for (i = 0; i < per_tree; i++) {
			struct safem_agg_addr a = v4_u32(scatter32(k * per_tree + i));

			safem_aggtree_add(part[k], &a, &c);
		}
		assert_int_equal(safem_aggtree_folds(part[k]), 0);
	}
	for (rep = 0; rep < 5; rep++) {
		safem_aggtree_reset(dst);
		t0 = now_s();
		for (k = 0; k < 4; k++)
			safem_aggtree_merge(dst, part[k]);
		t1 = now_s();
		/* One window's analysis: pruned view and entropies of the three profiles. */
		for (m = 0; m < SAFEM_AGG_METRICS; m++)
			assert_int_equal(
				safem_aggtree_profile(dst, m, 0.01, 2.0, out, 1024, &n, &e), 0);
		t2 = now_s();
		best_merge = RTE_MIN(best_merge, t1 - t0);
		best_view = RTE_MIN(best_view, t2 - t1);
	}
	printf("merge 4 x 65536 nodes: %.2f ms; profile (prune + entropy) x 3 metrics of %u nodes: "
	       "%.2f ms "
	       "(best of 5; folds %" PRIu64 ")\n",
	       best_merge * 1e3, safem_aggtree_nodes(dst), best_view * 1e3,
	       safem_aggtree_folds(dst));
	for (k = 0; k < 4; k++)
		safem_aggtree_free(part[k]);
	safem_aggtree_free(dst);
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefix_format_parse),
		cmocka_unit_test(test_create_params),
		cmocka_unit_test(test_insert_exact),
		cmocka_unit_test(test_prune_vs_reference),
		cmocka_unit_test(test_prune_paper_example),
		cmocka_unit_test(test_prune_args_and_const),
		cmocka_unit_test(test_merge_exact),
		cmocka_unit_test(test_merge_respects_bound),
		cmocka_unit_test(test_flood_bound_v4),
		cmocka_unit_test(test_flood_bound_mixed),
		cmocka_unit_test(test_reclaim_hand_example),
		cmocka_unit_test(test_reclaim_fallback),
		cmocka_unit_test(test_folds_counted),
		cmocka_unit_test(test_entropy_exact),
		cmocka_unit_test(test_add_prefix_masks),
		cmocka_unit_test(test_binary_round_trip),
		cmocka_unit_test(test_binary_rejects_corrupt),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_bench),
	};

	/* The benchmark alone, in a fresh process: the tests before it leave the heap fragmented.
	 */
	if (getenv("SAFEM_AGGTREE_BENCH") != NULL)
		cmocka_set_test_filter("test_bench");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
