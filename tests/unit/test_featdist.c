/* SPDX-License-Identifier: BSD-3-Clause */
/* Feature distributions: exact counting, merge equals the whole, bounded
 * memory (remainder volume exact, distinct estimate within HLL error), home
 * prefixes and directions, flow classes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "safem_featdist.h"

static struct safem_feature_value
port(uint16_t p)
{
	struct safem_feature_value v;

	memset(&v, 0, sizeof(v));
	v.bytes[14] = (uint8_t)(p >> 8);
	v.bytes[15] = (uint8_t)p;
	return v;
}

struct sum {
	uint64_t values, flows, packets, bytes;
	uint64_t packets_of_7;
};

static void
sum_value(const struct safem_feature_value *v, const struct safem_featdist_counts *c, void *ctx)
{
	struct sum *s = ctx;

	s->values++;
	s->flows += c->flows;
	s->packets += c->packets;
	s->bytes += c->bytes;
	if (v->bytes[15] == 7 && v->bytes[14] == 0)
		s->packets_of_7 = c->packets;
}

static void
test_exact_counts_and_clear(void **state)
{
	struct safem_featdist *fd = safem_featdist_create(64, 0);
	struct safem_featdist_counts c = {1, 3, 300}, total, mass;
	struct safem_feature_value v;
	struct sum s = {0};
	double n;
	unsigned int i;

	(void)state;
	assert_non_null(fd);
	for (i = 0; i < 100; i++) {
		v = port((uint16_t)(i % 10));
		safem_featdist_add(fd, &v, &c);
	}
	assert_int_equal(safem_featdist_values(fd), 10);
	safem_featdist_foreach(fd, sum_value, &s);
	assert_int_equal(s.values, 10);
	assert_int_equal(s.flows, 100);
	assert_int_equal(s.packets, 300);
	assert_int_equal(s.packets_of_7, 30);
	safem_featdist_total(fd, &total);
	assert_int_equal(total.bytes, 30000);
	safem_featdist_remainder(fd, &mass, &n);
	assert_int_equal(mass.flows, 0);
	assert_true(n == 0);
	assert_true(safem_featdist_distinct(fd) == 10);
	safem_featdist_clear(fd);
	assert_int_equal(safem_featdist_values(fd), 0);
	safem_featdist_total(fd, &total);
	assert_int_equal(total.packets, 0);
	memset(&s, 0, sizeof(s));
	safem_featdist_foreach(fd, sum_value, &s);
	assert_int_equal(s.values, 0);
	safem_featdist_free(fd);
}

static void
test_merge_equals_whole(void **state)
{
	struct safem_featdist *a = safem_featdist_create(4096, 0);
	struct safem_featdist *b = safem_featdist_create(4096, 0);
	struct safem_featdist *whole = safem_featdist_create(4096, 0);
	struct sum sm = {0}, sw = {0};
	unsigned int i;

	(void)state;
	for (i = 0; i < 3000; i++) {
		struct safem_feature_value v = port((uint16_t)(i * 7919 % 1500));
		struct safem_featdist_counts c = {1, i % 5 + 1, (i % 5 + 1) * 100};

		safem_featdist_add(i % 3 ? a : b, &v, &c);
		safem_featdist_add(whole, &v, &c);
	}
	safem_featdist_merge(a, b);
	assert_int_equal(safem_featdist_values(a), safem_featdist_values(whole));
	safem_featdist_foreach(a, sum_value, &sm);
	safem_featdist_foreach(whole, sum_value, &sw);
	assert_memory_equal(&sm, &sw, sizeof(sm));
	safem_featdist_free(a);
	safem_featdist_free(b);
	safem_featdist_free(whole);
}

static void
test_bounded_remainder(void **state)
{
	struct safem_featdist *fd = safem_featdist_create(1000, 0);
	struct safem_featdist *other = safem_featdist_create(1000, 0);
	struct safem_featdist_counts c = {1, 2, 120}, mass, total;
	double n;
	uint32_t i;

	(void)state;
	for (i = 0; i < 50000; i++) {
		struct safem_feature_value v;

		memset(&v, 0, sizeof(v));
		memcpy(&v.bytes[12], &i, 4);
		safem_featdist_add(fd, &v, &c);
		/* the same values twice: the remainder must not count them twice */
		safem_featdist_add(fd, &v, &c);
	}
	assert_int_equal(safem_featdist_values(fd), 1000);
	safem_featdist_total(fd, &total);
	assert_int_equal(total.flows, 100000);
	assert_int_equal(total.packets, 200000);
	safem_featdist_remainder(fd, &mass, &n);
	assert_int_equal(mass.flows, 98000);
	/* HLL with 1024 registers: 3.3 % standard error; allow 4 sigma */
	assert_true(fabs(n - 49000) < 0.13 * 49000);
	/* Merge keeps remainder volume exact and the estimate */
	safem_featdist_merge(other, fd);
	safem_featdist_total(other, &total);
	assert_int_equal(total.flows, 100000);
	safem_featdist_remainder(other, &mass, &n);
	assert_int_equal(mass.flows + 0, 98000);
	assert_true(fabs(n - 49000) < 0.13 * 49000);
	safem_featdist_free(fd);
	safem_featdist_free(other);
}

static void
test_small_remainder_estimate(void **state)
{
	struct safem_featdist *fd = safem_featdist_create(16, 0);
	struct safem_featdist_counts c = {1, 1, 60}, mass;
	double n;
	uint16_t i;

	(void)state;
	for (i = 0; i < 116; i++) {
		struct safem_feature_value v = port(i);

		safem_featdist_add(fd, &v, &c);
	}
	safem_featdist_remainder(fd, &mass, &n);
	assert_int_equal(mass.flows, 100);
	assert_true(fabs(n - 100) < 10); /* linear counting regime */
	safem_featdist_free(fd);
}

static void
test_home_prefixes(void **state)
{
	struct safem_home h;
	struct safem_feature_value a;

	(void)state;
	memset(&h, 0, sizeof(h));
	assert_int_equal(safem_home_add(&h, "10.0.0.0/16"), 0);
	assert_int_equal(safem_home_add(&h, "2001:db8::/32"), 0);
	assert_int_equal(safem_home_add(&h, "10.0.0.1/16"), -EINVAL); /* host bits */
	assert_int_equal(safem_home_add(&h, "10.0.0.0/33"), -EINVAL);
	assert_int_equal(safem_home_add(&h, "10.0.0.0"), -EINVAL);
	assert_int_equal(safem_home_add(&h, "banana/8"), -EINVAL);
	assert_int_equal(safem_home_add(&h, "10.0.0.0/"), -EINVAL);
	assert_int_equal(h.count, 2);
	memset(&a, 0, sizeof(a));
	a.bytes[10] = a.bytes[11] = 0xff;
	a.bytes[12] = 10;
	a.bytes[14] = 200;
	assert_true(safem_home_contains(&h, &a));
	a.bytes[13] = 1; /* 10.1.200.0 */
	assert_false(safem_home_contains(&h, &a));
	memset(&a, 0, sizeof(a));
	a.bytes[0] = 0x20;
	a.bytes[1] = 0x01;
	a.bytes[2] = 0x0d;
	a.bytes[3] = 0xb8;
	a.bytes[15] = 1;
	assert_true(safem_home_contains(&h, &a));
	a.bytes[3] = 0xb9;
	assert_false(safem_home_contains(&h, &a));
}

static struct safem_flow_key
key4(uint8_t s3, uint8_t s0, uint8_t d3, uint8_t d0, uint16_t sp, uint16_t dp, uint8_t proto)
{
	struct safem_flow_key k;

	memset(&k, 0, sizeof(k));
	k.src_addr[0] = s0;
	k.src_addr[3] = s3;
	k.dst_addr[0] = d0;
	k.dst_addr[3] = d3;
	k.src_port = sp;
	k.dst_port = dp;
	k.proto = proto;
	k.ip_version = 4;
	return k;
}

static void
test_featset_directions(void **state)
{
	struct safem_featset *fs = safem_featset_create(256, true, 0);
	struct safem_featset *sum = safem_featset_create(256, true, 0);
	struct safem_home h;
	struct safem_flow_key in = key4(1, 192, 5, 10, 40000, 80, 6);    /* 192.x -> 10.x */
	struct safem_flow_key out = key4(5, 10, 1, 8, 53000, 53, 17);    /* 10.x -> 8.x */
	struct safem_flow_key inside = key4(5, 10, 6, 10, 1, 2, 1);      /* 10 -> 10 */
	struct safem_flow_key transit = key4(1, 8, 1, 9, 3, 4, 47);      /* 8 -> 9 */

	(void)state;
	memset(&h, 0, sizeof(h));
	assert_int_equal(safem_home_add(&h, "10.0.0.0/8"), 0);
	safem_featset_add_flow(fs, &h, &in, 0x02, 1, 60);       /* SYN only */
	safem_featset_add_flow(fs, &h, &in, 0x02 | 0x40 | 0x80, 7, 420); /* SYN+ECE+CWR, 7 tries */
	safem_featset_add_flow(fs, &h, &in, 0x12, 5, 600);      /* SYN+ACK: tcp */
	safem_featset_add_flow(fs, &h, &out, 0, 2, 200);
	safem_featset_add_flow(fs, &h, &inside, 0, 3, 300);
	safem_featset_add_flow(fs, &h, &transit, 0, 4, 400);
	assert_int_equal(fs->volume[SAFEM_DIR_ALL].flows, 6);
	assert_int_equal(fs->volume[SAFEM_DIR_ALL].packets, 22);
	assert_int_equal(fs->volume[SAFEM_DIR_IN].packets, 13);
	assert_int_equal(fs->volume[SAFEM_DIR_OUT].packets, 2);
	assert_int_equal(fs->volume[SAFEM_DIR_INTERNAL].packets, 3);
	assert_int_equal(fs->proto_flows[SAFEM_DIR_IN][SAFEM_PROTO_TCP_SYN], 2);
	assert_int_equal(fs->proto_flows[SAFEM_DIR_IN][SAFEM_PROTO_TCP], 1);
	/* SYN-only packets: retries show here, not in the flow counts */
	assert_int_equal(fs->proto_packets[SAFEM_DIR_IN][SAFEM_PROTO_TCP_SYN], 8);
	assert_int_equal(fs->proto_packets[SAFEM_DIR_IN][SAFEM_PROTO_TCP], 5);
	assert_int_equal(fs->proto_packets[SAFEM_DIR_ALL][SAFEM_PROTO_TCP_SYN], 8);
	assert_int_equal(fs->proto_packets[SAFEM_DIR_OUT][SAFEM_PROTO_UDP], 2);
	assert_int_equal(fs->proto_flows[SAFEM_DIR_OUT][SAFEM_PROTO_UDP], 1);
	assert_int_equal(fs->proto_flows[SAFEM_DIR_INTERNAL][SAFEM_PROTO_ICMP], 1);
	assert_int_equal(fs->proto_flows[SAFEM_DIR_ALL][SAFEM_PROTO_OTHER], 1);
	assert_int_equal(safem_featdist_values(fs->dist[SAFEM_DIR_IN][SAFEM_FEATURE_SRC_ADDR]), 1);
	assert_int_equal(safem_featdist_values(fs->dist[SAFEM_DIR_ALL][SAFEM_FEATURE_DST_PORT]), 4);
	safem_featset_merge(sum, fs);
	safem_featset_merge(sum, fs);
	assert_int_equal(sum->volume[SAFEM_DIR_IN].packets, 26);
	assert_int_equal(sum->proto_flows[SAFEM_DIR_IN][SAFEM_PROTO_TCP_SYN], 4);
	assert_int_equal(sum->proto_packets[SAFEM_DIR_IN][SAFEM_PROTO_TCP_SYN], 16);
	safem_featset_clear(fs);
	assert_int_equal(fs->volume[SAFEM_DIR_ALL].flows, 0);
	assert_int_equal(fs->proto_packets[SAFEM_DIR_IN][SAFEM_PROTO_TCP_SYN], 0);
	assert_int_equal(safem_featdist_values(fs->dist[SAFEM_DIR_ALL][SAFEM_FEATURE_DST_PORT]), 0);
	safem_featset_free(fs);
	safem_featset_free(sum);
}

/* safem_featset_flow_values: a flow log's reader (lib/window's per-value ICMP packets)
 * splits a flow as the add paths count it: values, direction besides ALL, class. */
static void
test_featset_flow_values(void **state)
{
	struct safem_featset *fs = safem_featset_create(64, true, 0);
	struct safem_featset *all = safem_featset_create(64, false, 0);
	struct safem_feature_value v[SAFEM_FEATURE_COUNT];
	struct safem_home h;
	struct safem_flow_key in_icmp = key4(1, 192, 5, 10, 0, 0x0b00, 1); /* time exceeded */
	struct safem_flow_key out_tcp = key4(5, 10, 1, 8, 53000, 443, 6);
	struct safem_flow_key transit6 = key4(1, 8, 1, 9, 0, 0x0104, 58);
	enum safem_direction d;

	(void)state;
	memset(&h, 0, sizeof(h));
	assert_int_equal(safem_home_add(&h, "10.0.0.0/8"), 0);
	transit6.ip_version = 6;
	assert_int_equal(safem_featset_flow_values(fs, &h, &in_icmp, 0, v, &d), SAFEM_PROTO_ICMP);
	assert_int_equal(d, SAFEM_DIR_IN);
	assert_int_equal(v[SAFEM_FEATURE_DST_ADDR].bytes[12], 10);
	assert_int_equal(v[SAFEM_FEATURE_DST_ADDR].bytes[15], 5);
	assert_int_equal(v[SAFEM_FEATURE_DST_PORT].bytes[14], 0x0b);
	assert_int_equal(safem_featset_flow_values(fs, &h, &out_tcp, 0x12, v, &d), SAFEM_PROTO_TCP);
	assert_int_equal(d, SAFEM_DIR_OUT);
	assert_int_equal(safem_featset_flow_values(fs, &h, &out_tcp, 0x02, v, &d),
			 SAFEM_PROTO_TCP_SYN);
	/* ICMPv6 between two outside hosts: ALL only */
	assert_int_equal(safem_featset_flow_values(fs, &h, &transit6, 0, v, &d), SAFEM_PROTO_ICMP);
	assert_int_equal(d, SAFEM_DIR_ALL);
	/* a set without directions, or no home: ALL only */
	safem_featset_flow_values(all, &h, &in_icmp, 0, v, &d);
	assert_int_equal(d, SAFEM_DIR_ALL);
	safem_featset_flow_values(fs, NULL, &in_icmp, 0, v, &d);
	assert_int_equal(d, SAFEM_DIR_ALL);
	safem_featset_free(fs);
	safem_featset_free(all);
}

static void
test_featset_all_only(void **state)
{
	struct safem_featset *fs = safem_featset_create(64, false, 0);
	struct safem_flow_key k = key4(1, 10, 2, 10, 1, 2, 17);

	(void)state;
	assert_null(fs->dist[SAFEM_DIR_IN][0]);
	safem_featset_add_flow(fs, NULL, &k, 0, 1, 100);
	assert_int_equal(fs->volume[SAFEM_DIR_ALL].bytes, 100);
	assert_int_equal(fs->volume[SAFEM_DIR_IN].bytes, 0);
	assert_string_equal(safem_direction_name(SAFEM_DIR_INTERNAL), "internal");
	assert_string_equal(safem_feature_name(SAFEM_FEATURE_DST_PORT), "dst_port");
	assert_string_equal(safem_proto_class_name(SAFEM_PROTO_TCP_SYN), "tcp_syn");
	safem_featset_free(fs);
}

static void
test_bad_capacity(void **state)
{
	(void)state;
	assert_null(safem_featdist_create(15, 0));
}

/* Fingerprint of a distribution: values, volume, sum of squared flows, and flows weighted
 * by the values' bytes (equal fingerprints: equal per-value counts, for these tests). */
struct fingerprint {
	uint64_t values, flows, packets, bytes, flows_sq, flows_by_value;
};

static void
fingerprint_value(const struct safem_feature_value *v, const struct safem_featdist_counts *c,
		  void *ctx)
{
	struct fingerprint *f = ctx;
	uint64_t id = 0;
	unsigned int i;

	for (i = 0; i < 16; i++)
		id = id * 131 + v->bytes[i];
	f->values++;
	f->flows += c->flows;
	f->packets += c->packets;
	f->bytes += c->bytes;
	f->flows_sq += c->flows * c->flows;
	f->flows_by_value += c->flows * id;
}

static struct fingerprint
fingerprint_of(const struct safem_featdist *fd)
{
	struct fingerprint f;

	memset(&f, 0, sizeof(f));
	safem_featdist_foreach(fd, fingerprint_value, &f);
	return f;
}

static void
test_featset_guard_samples_only_flooded_distributions(void **state)
{
	/* A background of 100 home clients talking to 7 outside servers, then a spoofed-source
	 * SYN flood to one home victim (every flow a new source and source port) with the
	 * background going on: with a budget of 256 new values per distribution, only the
	 * flooded distributions (source address, source port) sample; the others are exactly
	 * those of the unguarded add, value by value; the sampled ones stay within the insert
	 * bound and estimate the flows without bias (within 4 standard deviations). */
	enum { BUDGET = 256, BACKGROUND = 200, FLOOD = 20000 };
	struct safem_featset *guarded = safem_featset_create(65536, true, 0);
	struct safem_featset *exact = safem_featset_create(65536, true, 0);
	const struct safem_featdist *src;
	struct safem_featdist_counts total;
	struct safem_home h;
	unsigned int i, d, f, shift;
	uint64_t flows = 0;

	(void)state;
	assert_non_null(guarded);
	assert_non_null(exact);
	memset(&h, 0, sizeof(h));
	assert_int_equal(safem_home_add(&h, "10.0.0.0/8"), 0);
	for (i = 0; i < BACKGROUND + FLOOD; i++) {
		struct safem_flow_key k;
		uint8_t flags = 0x1a;
		uint64_t packets = 6, bytes = 2000;

		if (i < BACKGROUND || i % 10 == 0) { /* background, repeating its hosts */
			k = key4((uint8_t)(i % 100), 10, (uint8_t)(i % 7), 93,
				 (uint16_t)(40000 + i % BACKGROUND), i % 3 ? 443 : 80, 6);
		} else {
			k = key4(0, 0, 80, 10, (uint16_t)(i * 7919u), 80, 6);
			k.src_addr[0] = (uint8_t)(100 + (i >> 16));
			k.src_addr[1] = (uint8_t)(i >> 8);
			k.src_addr[2] = (uint8_t)i;
			flags = 0x02, packets = 1, bytes = 60;
		}
		safem_featset_add_flow_guarded(guarded, &h, &k, flags, packets, bytes, BUDGET);
		safem_featset_add_flow(exact, &h, &k, flags, packets, bytes);
		flows++;
	}
	/* volumes and flow classes exact */
	for (d = 0; d < SAFEM_DIR_COUNT; d++) {
		assert_memory_equal(&guarded->volume[d], &exact->volume[d], sizeof(exact->volume[d]));
		assert_memory_equal(guarded->proto_flows[d], exact->proto_flows[d],
				    sizeof(exact->proto_flows[d]));
		assert_memory_equal(guarded->proto_packets[d], exact->proto_packets[d],
				    sizeof(exact->proto_packets[d]));
	}
	for (d = 0; d < SAFEM_DIR_COUNT; d++) {
		for (f = 0; f < SAFEM_FEATURE_COUNT; f++) {
			const struct safem_featdist *g = guarded->dist[d][f], *e = exact->dist[d][f];
			bool flooded = (d == SAFEM_DIR_ALL || d == SAFEM_DIR_IN) &&
				       (f == SAFEM_FEATURE_SRC_ADDR || f == SAFEM_FEATURE_SRC_PORT);
			struct fingerprint fg = fingerprint_of(g), fe = fingerprint_of(e);

			assert_int_equal(guarded->guard_shift[d][f] != 0, flooded);
			if (flooded)
				continue;
			/* the others are exact throughout, value by value */
			assert_memory_equal(&fg, &fe, sizeof(fe));
			safem_featdist_total(g, &total);
			assert_int_equal(safem_featdist_observations(g), total.flows);
		}
	}
	src = guarded->dist[SAFEM_DIR_ALL][SAFEM_FEATURE_SRC_ADDR];
	shift = guarded->guard_shift[SAFEM_DIR_ALL][SAFEM_FEATURE_SRC_ADDR];
	/* each budget of inserts raises the shift once */
	assert_true(safem_featdist_values(src) <= (uint64_t)BUDGET * (shift + 1));
	assert_true(safem_featdist_observations(src) < flows);
	safem_featdist_total(src, &total);
	/* unbiased: each flow adds 2^k with probability 2^-k (k <= shift) or is held exactly;
	 * variance at most flows x 2^shift */
	assert_true(fabs((double)total.flows - (double)flows) <=
		    4 * sqrt((double)flows * (double)(1u << shift)));
	/* clear resets the guard */
	safem_featset_clear(guarded);
	assert_int_equal(guarded->guard_shift[SAFEM_DIR_ALL][SAFEM_FEATURE_SRC_ADDR], 0);
	assert_int_equal(guarded->guard_inserts[SAFEM_DIR_ALL][SAFEM_FEATURE_SRC_ADDR], 0);
	assert_int_equal(safem_featdist_observations(src), 0);
	safem_featset_free(guarded);
	safem_featset_free(exact);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_counts_and_clear),
		cmocka_unit_test(test_merge_equals_whole),
		cmocka_unit_test(test_bounded_remainder),
		cmocka_unit_test(test_small_remainder_estimate),
		cmocka_unit_test(test_home_prefixes),
		cmocka_unit_test(test_featset_directions),
		cmocka_unit_test(test_featset_flow_values),
		cmocka_unit_test(test_featset_all_only),
		cmocka_unit_test(test_featset_guard_samples_only_flooded_distributions),
		cmocka_unit_test(test_bad_capacity),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
