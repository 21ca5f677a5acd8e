/* SPDX-License-Identifier: BSD-3-Clause */
/* Flow cache: accounting, key equality, every expiry path and its exact
 * boundary, bounded scan work, TCP end, the eviction rule (against a per-line
 * reference model, and its properties), burst pipeline hazards,
 * 32-bit time wrap and clock jumps, conservation and equality with a naive
 * per-key reference model on random workloads, parameter errors.
 * No EAL: the cache falls back to heap memory. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rte_common.h>
#include <rte_errno.h>

#include "safem_flow.h"
#include "safem_mem.h"

#define NS_PER_MS UINT64_C(1000000)
#define MS_PER_DAY UINT64_C(86400000)
/* 400 * 2^32 ms is in 2024: a realistic Unix time sitting on a 32-bit wrap. */
#define WRAP_MS (UINT64_C(400) << 32)
#define T0_MS (WRAP_MS + 1000000)
#define TCP 6
#define UDP 17
#define FIN 0x01
#define SYN 0x02
#define RST 0x04
#define ACK 0x10

/* Every exported record, in export order. */
struct collector {
	struct safem_flow_record *rec;
	size_t n;
	size_t cap;
};

static void
collect(const struct safem_flow_record *r, void *ctx)
{
	struct collector *c = ctx;

	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->rec = realloc(c->rec, c->cap * sizeof(*c->rec));
		assert_non_null(c->rec);
	}
	c->rec[c->n++] = *r;
}

static void
collector_free(struct collector *c)
{
	free(c->rec);
	memset(c, 0, sizeof(*c));
}

static struct safem_flow_cache *
new_cache(uint32_t capacity, uint32_t inactive_ms, uint32_t active_ms, struct collector *c)
{
	struct safem_flow_cache_params p = {
		.name = "test_flow",
		.capacity = capacity,
		.inactive_timeout_ms = inactive_ms,
		.active_timeout_ms = active_ms,
		.socket_id = -1,
		.export_fn = collect,
		.export_ctx = c,
	};
	struct safem_flow_cache *fc = safem_flow_cache_create(&p);

	assert_non_null(fc);
	return fc;
}

static struct safem_flow_key
key_v4(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint8_t proto)
{
	struct safem_flow_key k;

	memset(&k, 0, sizeof(k));
	k.src_addr[0] = (uint8_t)(src >> 24);
	k.src_addr[1] = (uint8_t)(src >> 16);
	k.src_addr[2] = (uint8_t)(src >> 8);
	k.src_addr[3] = (uint8_t)src;
	k.dst_addr[0] = (uint8_t)(dst >> 24);
	k.dst_addr[1] = (uint8_t)(dst >> 16);
	k.dst_addr[2] = (uint8_t)(dst >> 8);
	k.dst_addr[3] = (uint8_t)dst;
	k.src_port = sport;
	k.dst_port = dport;
	k.proto = proto;
	k.ip_version = 4;
	return k;
}

/* Sub-millisecond nanoseconds must not matter: the cache works in ms. */
static struct safem_packet
make_pkt(const struct safem_flow_key *k, uint64_t ms, uint32_t bytes, uint8_t flags)
{
	struct safem_packet p;

	memset(&p, 0, sizeof(p));
	p.key = *k;
	p.ts_ns = ms * NS_PER_MS + (ms % 7) * 111111;
	p.ip_bytes = bytes;
	p.tcp_flags = flags;
	p.key_hash = safem_flow_key_hash(k);
	return p;
}

static void
send1(struct safem_flow_cache *fc, const struct safem_flow_key *k, uint64_t ms, uint32_t bytes,
      uint8_t flags)
{
	struct safem_packet p = make_pkt(k, ms, bytes, flags);

	safem_flow_cache_update_burst(fc, &p, 1);
}

static const struct safem_flow_record *
find_record(const struct collector *c, const struct safem_flow_key *k, size_t nth)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (memcmp(&c->rec[i].key, k, sizeof(*k)) == 0 && nth-- == 0)
			return &c->rec[i];
	return NULL;
}

static void
assert_record(const struct safem_flow_record *r, uint64_t packets, uint64_t bytes,
	      uint64_t first_ms, uint64_t last_ms, unsigned int reason)
{
	static const uint8_t zero[sizeof(r->reserved)];

	assert_non_null(r);
	assert_int_equal(r->packets, packets);
	assert_int_equal(r->bytes, bytes);
	assert_int_equal(r->first_ms, first_ms);
	assert_int_equal(r->last_ms, last_ms);
	assert_string_equal(safem_flow_end_reason_name(r->end_reason),
			    safem_flow_end_reason_name(reason));
	assert_memory_equal(r->reserved, zero, sizeof(zero));
	/* No pane was ever begun in these tests. */
	assert_int_equal(r->window_pane, SAFEM_FLOW_PANE_CURRENT);
}

/* Counters agree with each other and with what was exported. */
static void
check_invariants(const struct safem_flow_cache *fc, const struct collector *c)
{
	const struct safem_flow_cache_stats *st = safem_flow_cache_stats(fc);
	uint64_t by_reason[SAFEM_FLOW_END_REASON_MAX + 1] = {0};
	uint64_t packets = 0, bytes = 0;
	size_t i;

	for (i = 0; i < c->n; i++) {
		assert_in_range(c->rec[i].end_reason, 1, SAFEM_FLOW_END_REASON_MAX);
		by_reason[c->rec[i].end_reason]++;
		packets += c->rec[i].packets;
		bytes += c->rec[i].bytes;
		assert_true(c->rec[i].first_ms <= c->rec[i].last_ms);
	}
	assert_int_equal(by_reason[SAFEM_FLOW_END_inactive], st->expired_inactive);
	assert_int_equal(by_reason[SAFEM_FLOW_END_active], st->expired_active);
	assert_int_equal(by_reason[SAFEM_FLOW_END_tcp_end], st->expired_tcp_end);
	assert_int_equal(by_reason[SAFEM_FLOW_END_end_of_input], st->expired_end_of_input);
	assert_int_equal(by_reason[SAFEM_FLOW_END_evicted], st->evicted);
	assert_int_equal(st->flows_created, c->n + st->active_flows);
	assert_true(packets <= st->packets);
	assert_true(bytes <= st->bytes);
	if (st->active_flows == 0) {
		/* Conservation: every accounted packet and byte is in a record. */
		assert_int_equal(packets, st->packets);
		assert_int_equal(bytes, st->bytes);
	}
}

static void
test_end_reason_names(void **state)
{
	(void)state;
	assert_string_equal(safem_flow_end_reason_name(SAFEM_FLOW_END_inactive), "inactive");
	assert_string_equal(safem_flow_end_reason_name(SAFEM_FLOW_END_active), "active");
	assert_string_equal(safem_flow_end_reason_name(SAFEM_FLOW_END_tcp_end), "tcp_end");
	assert_string_equal(safem_flow_end_reason_name(SAFEM_FLOW_END_end_of_input),
			    "end_of_input");
	assert_string_equal(safem_flow_end_reason_name(SAFEM_FLOW_END_evicted), "evicted");
	assert_string_equal(safem_flow_end_reason_name(0), "unknown");
	assert_string_equal(safem_flow_end_reason_name(6), "unknown");
	assert_string_equal(safem_flow_end_reason_name(1000), "unknown");
}

static void
test_bytes_per_flow_and_capacity(void **state)
{
	struct collector c = {0};
	struct safem_flow_cache *fc;

	(void)state;
	assert_int_equal(safem_flow_cache_bytes_per_flow(), 68);
	fc = new_cache(1, 1000, 2000, &c);
	assert_int_equal(safem_flow_cache_capacity(fc), SAFEM_FLOW_LINE_SLOTS);
	safem_flow_cache_free(fc);
	fc = new_cache(1000, 1000, 2000, &c);
	assert_int_equal(safem_flow_cache_capacity(fc), 1024);
	safem_flow_cache_free(fc);
	fc = new_cache(4096, 1000, 2000, &c);
	assert_int_equal(safem_flow_cache_capacity(fc), 4096);
	assert_int_equal(safem_flow_cache_stats(fc)->active_flows, 0);
	safem_flow_cache_free(fc);
	safem_flow_cache_free(NULL);
}

/* Sizing from a memory budget: the largest power of two that fits, within bounds. */
static void
test_capacity_for_bytes(void **state)
{
	const uint64_t window = 68 + SAFEM_FLOW_WINDOW_BYTES_PER_FLOW;

	(void)state;
	assert_int_equal(safem_flow_cache_capacity_for_bytes(0, false), SAFEM_FLOW_LINE_SLOTS);
	assert_int_equal(safem_flow_cache_capacity_for_bytes(68 * 1024, false), 1024);
	assert_int_equal(safem_flow_cache_capacity_for_bytes(68 * 1024 - 1, false), 512);
	assert_int_equal(safem_flow_cache_capacity_for_bytes(68 * 2047, false), 1024);
	assert_int_equal(safem_flow_cache_capacity_for_bytes(68 * 1024, true), 512);
	assert_int_equal(safem_flow_cache_capacity_for_bytes(window * 1024, true), 1024);
	assert_int_equal(safem_flow_cache_capacity_for_bytes(UINT64_MAX, false), UINT32_C(1) << 31);
	/* Without EAL the table comes from the heap: MemAvailable, which Linux always has. */
	assert_true(safem_mem_table_available(-1) > 0);
}

static void
expect_params_error(const struct safem_flow_cache_params *p, const char *field)
{
	rte_errno = 0;
	assert_null(safem_flow_cache_create(p));
	assert_int_equal(rte_errno, EINVAL);
	if (strstr(safem_flow_cache_params_error(), field) == NULL)
		fail_msg("error \"%s\" does not name %s", safem_flow_cache_params_error(), field);
}

static void
test_params_validation(void **state)
{
	struct collector c = {0};
	const struct safem_flow_cache_params good = {
		.name = "t",
		.capacity = 64,
		.inactive_timeout_ms = 1000,
		.active_timeout_ms = 7 * MS_PER_DAY,
		.socket_id = -1,
		.export_fn = collect,
		.export_ctx = &c,
	};
	struct safem_flow_cache_params p;
	struct safem_flow_cache *fc;

	(void)state;
	expect_params_error(NULL, "params");
	p = good;
	p.capacity = 0;
	expect_params_error(&p, "capacity");
	p = good;
	p.capacity = (UINT32_C(1) << 31) + 1;
	expect_params_error(&p, "capacity");
	p = good;
	p.inactive_timeout_ms = 0;
	expect_params_error(&p, "inactive_timeout_ms");
	p = good;
	p.active_timeout_ms = 0;
	expect_params_error(&p, "active_timeout_ms");
	p = good;
	p.active_timeout_ms = 7 * MS_PER_DAY + 1;
	expect_params_error(&p, "active_timeout_ms");
	p = good;
	p.export_fn = NULL;
	expect_params_error(&p, "export_fn");

	/* The limits themselves are fine; a NULL name too. */
	p = good;
	p.name = NULL;
	p.inactive_timeout_ms = UINT32_MAX;
	fc = safem_flow_cache_create(&p);
	assert_non_null(fc);
	safem_flow_cache_free(fc);
}

static void
test_single_flow(void **state)
{
	struct collector c = {0};
	struct safem_flow_cache *fc = new_cache(1024, 30000, 300000, &c);
	struct safem_flow_key k = key_v4(0x0a000001, 0x0a000002, 40000, 443, TCP);
	const struct safem_flow_cache_stats *st = safem_flow_cache_stats(fc);

	(void)state;
	send1(fc, &k, T0_MS, 60, SYN);
	send1(fc, &k, T0_MS + 10, 1500, ACK);
	send1(fc, &k, T0_MS + 25, 52, ACK | 0x08);
	/* Out of order (the caller broke its promise): counted, last does not move back. */
	send1(fc, &k, T0_MS + 20, 48, ACK);
	assert_int_equal(c.n, 0);
	assert_int_equal(st->packets, 4);
	assert_int_equal(st->bytes, 1660);
	assert_int_equal(st->flows_created, 1);
	assert_int_equal(st->active_flows, 1);

	safem_flow_cache_flush(fc, T0_MS + 100);
	assert_int_equal(c.n, 1);
	assert_memory_equal(&c.rec[0].key, &k, sizeof(k));
	assert_record(&c.rec[0], 4, 1660, T0_MS, T0_MS + 25, SAFEM_FLOW_END_end_of_input);
	assert_int_equal(c.rec[0].tcp_flags, SYN | ACK | 0x08);
	assert_int_equal(st->active_flows, 0);
	check_invariants(fc, &c);
	safem_flow_cache_free(fc);
	collector_free(&c);
}

/* Keys that differ in one field each, including v4 vs v6 with the same bytes. */
static unsigned int
distinct_keys(struct safem_flow_key *keys)
{
	struct safem_flow_key base = key_v4(0x0a000001, 0x0a000002, 1000, 80, TCP);
	unsigned int n = 0;

	keys[n++] = base;
	keys[n] = base;
	keys[n++].ip_version = 6; /* same 32 address bytes, other family */
	keys[n] = base;
	keys[n].src_port = 80;
	keys[n++].dst_port = 1000; /* ports swapped */
	keys[n] = base;
	keys[n++].src_port = 1001;
	keys[n] = base;
	keys[n++].dst_port = 81;
	keys[n] = base;
	keys[n++].proto = UDP;
	keys[n] = base;
	keys[n++].vlan_id = 5;
	keys[n] = base;
	keys[n].ip_version = 6;
	keys[n++].src_addr[15] = 1; /* every 8-byte word of the key differs once */
	keys[n] = base;
	keys[n].ip_version = 6;
	keys[n++].dst_addr[0] = 0x0b;
	keys[n] = base;
	keys[n].ip_version = 6;
	keys[n++].dst_addr[15] = 1;
	keys[n] = base;
	keys[n++].src_addr[0] = 0x0b;
	return n;
}

static void
run_key_equality(bool same_hash)
{
	struct safem_flow_key keys[16];
	unsigned int n = distinct_keys(keys), i, round;
	struct collector c = {0};
	struct safem_flow_cache *fc = new_cache(64, 30000, 300000, &c);

	for (round = 0; round < 2; round++) {
		struct safem_packet pkts[16];

		for (i = 0; i < n; i++) {
			pkts[i] = make_pkt(&keys[i], T0_MS + round, 100 + i, 0);
			/* Same hash: signatures match, only the key compare tells them apart. */
			if (same_hash)
				pkts[i].key_hash = 0x12345678;
		}
		safem_flow_cache_update_burst(fc, pkts, n);
	}
	assert_int_equal(safem_flow_cache_stats(fc)->active_flows, n);
	safem_flow_cache_flush(fc, T0_MS + 10);
	assert_int_equal(c.n, n);
	for (i = 0; i < n; i++)
		assert_record(find_record(&c, &keys[i], 0), 2, 2 * (uint64_t)(100 + i), T0_MS,
			      T0_MS + 1, SAFEM_FLOW_END_end_of_input);
	check_invariants(fc, &c);
	safem_flow_cache_free(fc);
	collector_free(&c);
}

static void
test_key_equality(void **state)
{
	(void)state;
	run_key_equality(false);
	run_key_equality(true);
}

static void
test_inactive_split(void **state)
{
	struct collector c = {0};
	struct safem_flow_cache *fc = new_cache(1024, 1000, 100000, &c);
	struct safem_flow_key a = key_v4(1, 2, 3, 4, UDP);
	struct safem_flow_key b = key_v4(1, 2, 3, 5, UDP);

	(void)state;
	send1(fc, &a, T0_MS, 100, 0);
	send1(fc, &a, T0_MS + 500, 100, 0);
	send1(fc, &b, T0_MS, 100, 0);
	send1(fc, &b, T0_MS + 500, 100, 0);
	/* One ms before last + inactive: same flow. */
	send1(fc, &a, T0_MS + 1499, 100, 0);
	assert_int_equal(c.n, 0);
	/* Exactly last + inactive: the flow had ended, this packet starts a new one. */
	send1(fc, &b, T0_MS + 1500, 100, 0);
	assert_int_equal(c.n, 1);
	assert_memory_equal(&c.rec[0].key, &b, sizeof(b));
	assert_record(&c.rec[0], 2, 200, T0_MS, T0_MS + 500, SAFEM_FLOW_END_inactive);
	assert_int_equal(safem_flow_cache_stats(fc)->flows_created, 3);
	assert_int_equal(safem_flow_cache_stats(fc)->expired_inactive, 1);
	assert_int_equal(safem_flow_cache_stats(fc)->active_flows, 2);

	safem_flow_cache_flush(fc, T0_MS + 1500);
	assert_record(find_record(&c, &a, 0), 3, 300, T0_MS, T0_MS + 1499,
		      SAFEM_FLOW_END_end_of_input);
	assert_record(find_record(&c, &b, 1), 1, 100, T0_MS + 1500, T0_MS + 1500,
		      SAFEM_FLOW_END_end_of_input);
	check_invariants(fc, &c);
	safem_flow_cache_free(fc);
	collector_free(&c);
}

static void
test_active_split(void **state)
{
	struct collector c = {0};
	struct safem_flow_cache *fc = new_cache(1024, 1000, 3000, &c);
	struct safem_flow_key a = key_v4(1, 2, 3, 4, UDP);
	struct safem_flow_key b = key_v4(1, 2, 3, 5, UDP);
	uint64_t t;

	(void)state;
	for (t = 0; t <= 2500; t += 500) {
		send1(fc, &a, T0_MS + t, 10, 0);
		send1(fc, &b, T0_MS + t, 10, 0);
	}
	send1(fc, &a, T0_MS + 2999, 10, 0); /* first + active - 1: still the same flow */
	assert_int_equal(c.n, 0);
	send1(fc, &b, T0_MS + 3000, 10, 0); /* first + active: new flow */
	assert_int_equal(c.n, 1);
	assert_record(&c.rec[0], 6, 60, T0_MS, T0_MS + 2500, SAFEM_FLOW_END_active);
	assert_memory_equal(&c.rec[0].key, &b, sizeof(b));
	send1(fc, &a, T0_MS + 3000, 10, 0);
	assert_int_equal(c.n, 2);
	assert_record(&c.rec[1], 7, 70, T0_MS, T0_MS + 2999, SAFEM_FLOW_END_active);
	assert_int_equal(safem_flow_cache_stats(fc)->expired_active, 2);

	safem_flow_cache_flush(fc, T0_MS + 3000);
	assert_record(find_record(&c, &a, 1), 1, 10, T0_MS + 3000, T0_MS + 3000,
		      SAFEM_FLOW_END_end_of_input);
	check_invariants(fc, &c);
	safem_flow_cache_free(fc);
	collector_free(&c);
}

/* last + inactive == first + active: the header says inactive wins, on every path. */
static void
test_inactive_active_tie(void **state)
{
	struct collector c = {0};
	struct safem_flow_cache *fc = new_cache(1024, 1000, 1500, &c);
	struct safem_flow_key a = key_v4(1, 2, 3, 4, UDP);
	struct safem_flow_key b = key_v4(1, 2, 3, 5, UDP);
	struct safem_flow_key d = key_v4(1, 2, 3, 6, UDP);

	(void)state;
	send1(fc, &a, T0_MS, 10, 0);
	send1(fc, &a, T0_MS + 500, 10, 0);
	send1(fc, &b, T0_MS, 10, 0);
	send1(fc, &b, T0_MS + 500, 10, 0);
	send1(fc, &d, T0_MS, 10, 0);
	send1(fc, &d, T0_MS + 500, 10, 0);
	/* On the next packet. */
	send1(fc, &a, T0_MS + 1500, 10, 0);
	assert_int_equal(c.n, 1);
	assert_record(&c.rec[0], 2, 20, T0_MS, T0_MS + 500, SAFEM_FLOW_END_inactive);
	/* In the scan. */
	assert_int_equal(safem_flow_cache_expire(fc, T0_MS + 1499, 1000), 0);
	assert_int_equal(safem_flow_cache_expire(fc, T0_MS + 1500, 1000), 2);
	assert_record(find_record(&c, &b, 0), 2, 20, T0_MS, T0_MS + 500, SAFEM_FLOW_END_inactive);
	assert_record(find_record(&c, &d, 0), 2, 20, T0_MS, T0_MS + 500, SAFEM_FLOW_END_inactive);
	check_invariants(fc, &c);
	safem_flow_cache_free(fc);
	collector_free(&c);

	/* In the flush. */
	fc = new_cache(1024, 1000, 1500, &c);
	send1(fc, &a, T0_MS, 10, 0);
	send1(fc, &a, T0_MS + 500, 10, 0);
	safem_flow_cache_flush(fc, T0_MS + 1500);
	assert_record(&c.rec[0], 2, 20, T0_MS, T0_MS + 500, SAFEM_FLOW_END_inactive);
	safem_flow_cache_free(fc);
	collector_free(&c);
}

static void
test_expire_reasons(void **state)
{
	struct collector c = {0};
	struct safem_flow_cache *fc = new_cache(4096, 1000, 5000, &c);
	const struct safem_flow_cache_stats *st = safem_flow_cache_stats(fc);
	struct safem_flow_key busy = key_v4(9, 9, 9, 9, UDP);
	uint32_t i, lines = safem_flow_cache_capacity(fc) / SAFEM_FLOW_LINE_SLOTS;
	uint64_t t;

	(void)state;
	for (i = 0; i < 1000; i++) {
		struct safem_flow_key k = key_v4(0x0a000000 + i, 0x0b000000, 1, 2, UDP);

		send1(fc, &k, T0_MS, 100, 0);
	}
	for (t = 0; t <= 4500; t += 500)
		send1(fc, &busy, T0_MS + t, 1, 0);
	assert_int_equal(safem_flow_cache_expire(fc, T0_MS + 999, lines), 0);
	assert_int_equal(c.n, 0);
	assert_int_equal(safem_flow_cache_expire(fc, T0_MS + 1000, lines), 1000);
	assert_int_equal(st->expired_inactive, 1000);
	for (i = 0; i < c.n; i++)
		assert_record(&c.rec[i], 1, 100, T0_MS, T0_MS, SAFEM_FLOW_END_inactive);
	/* busy: min(4500 + 1000, 0 + 5000) = 5000, an active deadline. */
	assert_int_equal(safem_flow_cache_expire(fc, T0_MS + 4999, lines), 0);
	assert_int_equal(safem_flow_cache_expire(fc, T0_MS + 5000, lines), 1);
	assert_record(find_record(&c, &busy, 0), 10, 10, T0_MS, T0_MS + 4500,
		      SAFEM_FLOW_END_active);
	assert_int_equal(st->scanned_lines, 4 * lines);
	assert_int_equal(st->active_flows, 0);
	check_invariants(fc, &c);
	safem_flow_cache_free(fc);
	collector_free(&c);
}

/* STYLE.md rule 14: the scan does at most max_lines lines of work per call. */
static void
test_expire_bounded_work(void **state)
{
	struct collector c = {0};
	struct safem_flow_cache *fc = new_cache(4096, 1000, 5000, &c);
	const struct safem_flow_cache_stats *st = safem_flow_cache_stats(fc);
	uint32_t lines = safem_flow_cache_capacity(fc) / SAFEM_FLOW_LINE_SLOTS;
	uint32_t i, total = 0, calls = 0;

	(void)state;
	/* About 4 per line: no line overflows, nothing is evicted. */
	for (i = 0; i < 1000; i++) {
		struct safem_flow_key k = key_v4(0x0a000000 + i, 0x0b000000, 1, 2, UDP);

		send1(fc, &k, T0_MS, 100, 0);
	}
	assert_int_equal(st->active_flows, 1000);
	assert_int_equal(safem_flow_cache_expire(fc, T0_MS + 10000, 0), 0);
	assert_int_equal(st->scanned_lines, 0);
	while (st->active_flows != 0) {
		unsigned int ended = safem_flow_cache_expire(fc, T0_MS + 10000, 1);

		assert_true(ended <= SAFEM_FLOW_LINE_SLOTS);
		assert_int_equal(c.n, total + ended);
		total += ended;
		calls++;
		assert_int_equal(st->scanned_lines, calls);
		assert_true(calls <= lines);
	}
	assert_int_equal(total, 1000);
	/* More lines than the table: each line once, no more. */
	assert_int_equal(safem_flow_cache_expire(fc, T0_MS + 10000, 10 * lines), 0);
	assert_int_equal(st->scanned_lines, calls + lines);
	check_invariants(fc, &c);
	safem_flow_cache_free(fc);
	collector_free(&c);
}

static void
test_flush_reasons(void **state)
{
	struct collector c = {0};
	struct safem_flow_cache *fc = new_cache(1024, 1000, 3000, &c);
	struct safem_flow_key a = key_v4(1, 2, 3, 4, UDP);
	struct safem_flow_key b = key_v4(1, 2, 3, 5, UDP);
	struct safem_flow_key d = key_v4(1, 2, 3, 6, UDP);
	struct safem_flow_key e = key_v4(1, 2, 3, 7, UDP);
	uint64_t t;

	(void)state;
	send1(fc, &a, T0_MS, 10, 0); /* deadline T0 + 1000, inactive */
	for (t = 0; t <= 2400; t += 800)
		send1(fc, &b, T0_MS + t, 10, 0); /* min(3400, 3000): active */
	send1(fc, &d, T0_MS + 2900, 10, 0); /* T0 + 3900: still running */
	send1(fc, &e, T0_MS + 2000, 10, 0); /* T0 + 3000 exactly, inactive */
	safem_flow_cache_flush(fc, T0_MS + 3000);
	assert_int_equal(c.n, 4);
	assert_record(find_record(&c, &a, 0), 1, 10, T0_MS, T0_MS, SAFEM_FLOW_END_inactive);
	assert_record(find_record(&c, &b, 0), 4, 40, T0_MS, T0_MS + 2400, SAFEM_FLOW_END_active);
	assert_record(find_record(&c, &d, 0), 1, 10, T0_MS + 2900, T0_MS + 2900,
		      SAFEM_FLOW_END_end_of_input);
	assert_record(find_record(&c, &e, 0), 1, 10, T0_MS + 2000, T0_MS + 2000,
		      SAFEM_FLOW_END_inactive);
	check_invariants(fc, &c);
	/* An empty cache flushes to nothing. */
	safem_flow_cache_flush(fc, T0_MS + 5000);
	assert_int_equal(c.n, 4);
	safem_flow_cache_free(fc);
	collector_free(&c);
}

static void
test_tcp_end(void **state)
{
	struct collector c = {0};
	struct safem_flow_cache *fc = new_cache(1024, 30000, 300000, &c);
	struct safem_flow_key fin = key_v4(1, 2, 1000, 80, TCP);
	struct safem_flow_key rst = key_v4(1, 2, 1001, 80, TCP);
	struct safem_flow_key udp = key_v4(1, 2, 1002, 80, UDP);
	struct safem_flow_key icmp = key_v4(1, 2, 0, 0x0800, 1);
	const struct safem_flow_cache_stats *st = safem_flow_cache_stats(fc);

	(void)state;
	send1(fc, &fin, T0_MS, 60, SYN);
	send1(fc, &fin, T0_MS + 1, 52, ACK);
	send1(fc, &fin, T0_MS + 2, 52, FIN | ACK);
	assert_int_equal(c.n, 1);
	assert_record(&c.rec[0], 3, 164, T0_MS, T0_MS + 2, SAFEM_FLOW_END_tcp_end);
	assert_int_equal(c.rec[0].tcp_flags, SYN | ACK | FIN);
	assert_int_equal(st->active_flows, 0);
	/* The peer's last ACK after the FIN starts a new flow. */
	send1(fc, &fin, T0_MS + 3, 52, ACK);
	assert_int_equal(st->active_flows, 1);

	send1(fc, &rst, T0_MS, 40, RST); /* a lone RST: a one-packet flow */
	assert_int_equal(c.n, 2);
	assert_record(&c.rec[1], 1, 40, T0_MS, T0_MS, SAFEM_FLOW_END_tcp_end);
	assert_int_equal(c.rec[1].tcp_flags, RST);

	/* The flag byte means nothing outside TCP. */
	send1(fc, &udp, T0_MS, 40, FIN | RST);
	send1(fc, &icmp, T0_MS, 40, FIN);
	assert_int_equal(c.n, 2);
	assert_int_equal(st->expired_tcp_end, 2);
	safem_flow_cache_flush(fc, T0_MS + 10);
	assert_int_equal(c.n, 5);
	assert_record(find_record(&c, &udp, 0), 1, 40, T0_MS, T0_MS, SAFEM_FLOW_END_end_of_input);
	assert_record(find_record(&c, &icmp, 0), 1, 40, T0_MS, T0_MS,
		      SAFEM_FLOW_END_end_of_input);
	check_invariants(fc, &c);
	safem_flow_cache_free(fc);
	collector_free(&c);
}

/* Keys whose hash selects the same line of a table of nlines lines. */
static void
keys_in_one_line(uint32_t nlines, struct safem_flow_key *keys, unsigned int n)
{
	uint32_t want = UINT32_MAX, port;
	unsigned int found = 0;

	for (port = 1; found < n; port++) {
		struct safem_flow_key k = key_v4(0x0a000001, 0x0a000002, (uint16_t)port, 80, UDP);
		uint32_t line = safem_flow_key_hash(&k) & (nlines - 1);

		assert_true(port < 65536);
		if (want == UINT32_MAX)
			want = line;
		if (line == want)
			keys[found++] = k;
	}
}

static void
test_eviction(void **state)
{
	struct collector c = {0};
	struct safem_flow_cache *fc = new_cache(64, 10000, 100000, &c);
	const struct safem_flow_cache_stats *st = safem_flow_cache_stats(fc);
	struct safem_flow_key keys[SAFEM_FLOW_LINE_SLOTS + 2];
	unsigned int i;

	(void)state;
	assert_int_equal(safem_flow_cache_capacity(fc), 64);
	keys_in_one_line(64 / SAFEM_FLOW_LINE_SLOTS, keys, SAFEM_FLOW_LINE_SLOTS + 2);
	for (i = 0; i < SAFEM_FLOW_LINE_SLOTS; i++)
		send1(fc, &keys[i], T0_MS + i, 100, 0);
	send1(fc, &keys[0], T0_MS + 20, 100, 0); /* keys[1] is now the least recently seen */
	assert_int_equal(c.n, 0);

	/* keys[1] is the oldest one-packet flow and older than keys[0], the only
	 * flow with more packets: it is evicted (as LRU would too). */
	send1(fc, &keys[SAFEM_FLOW_LINE_SLOTS], T0_MS + 21, 100, 0);
	assert_int_equal(c.n, 1);
	assert_memory_equal(&c.rec[0].key, &keys[1], sizeof(keys[1]));
	assert_record(&c.rec[0], 1, 100, T0_MS + 1, T0_MS + 1, SAFEM_FLOW_END_evicted);
	assert_int_equal(st->evicted, 1);
	assert_int_equal(st->expired_inactive + st->expired_active + st->expired_tcp_end +
				 st->expired_end_of_input,
			 0);
	assert_int_equal(st->active_flows, SAFEM_FLOW_LINE_SLOTS);

	/* The evicted flow comes back and pushes out the next oldest one-packet flow. */
	send1(fc, &keys[1], T0_MS + 22, 100, 0);
	assert_int_equal(c.n, 2);
	assert_memory_equal(&c.rec[1].key, &keys[2], sizeof(keys[2]));
	assert_record(&c.rec[1], 1, 100, T0_MS + 2, T0_MS + 2, SAFEM_FLOW_END_evicted);
	assert_int_equal(st->evicted, 2);

	/*
	 * Later every flow of the full line is past its deadline: a new flow
	 * ends them with their own reason (as the scan would have) instead of
	 * evicting a victim.
	 */
	send1(fc, &keys[SAFEM_FLOW_LINE_SLOTS + 1], T0_MS + 40000, 100, 0);
	assert_int_equal(st->evicted, 2);
	assert_int_equal(st->expired_inactive, SAFEM_FLOW_LINE_SLOTS);
	assert_int_equal(st->active_flows, 1);
	assert_record(find_record(&c, &keys[0], 0), 2, 200, T0_MS, T0_MS + 20,
		      SAFEM_FLOW_END_inactive);
	safem_flow_cache_flush(fc, T0_MS + 40000);
	check_invariants(fc, &c);
	safem_flow_cache_free(fc);
	collector_free(&c);
}

static void
test_same_burst_hazards(void **state)
{
	struct collector c = {0};
	struct safem_flow_cache *fc = new_cache(1024, 30000, 300000, &c);
	const struct safem_flow_cache_stats *st = safem_flow_cache_stats(fc);
	struct safem_flow_key a = key_v4(1, 2, 3, 4, UDP);
	struct safem_flow_key b = key_v4(1, 2, 3, 5, UDP);
	struct safem_flow_key line[SAFEM_FLOW_LINE_SLOTS + 1];
	struct safem_packet pkts[200];
	unsigned int i;

	(void)state;
	/* A new flow twice in one burst: one flow. */
	pkts[0] = make_pkt(&a, T0_MS, 100, 0);
	pkts[1] = make_pkt(&a, T0_MS + 1, 200, 0);
	safem_flow_cache_update_burst(fc, pkts, 2);
	assert_int_equal(st->flows_created, 1);
	assert_int_equal(st->active_flows, 1);

	/* Interleaved new flows with the same line and signature. */
	for (i = 0; i < 6; i++) {
		pkts[i] = make_pkt(i % 2 ? &b : &a, T0_MS + 2, 10, 0);
		pkts[i].key_hash = 0x77777777;
	}
	safem_flow_cache_update_burst(fc, pkts, 6);
	assert_int_equal(st->flows_created, 2 + 1); /* a (real hash) stays, a and b (forced) */

	/* A burst longer than the pipeline chunk, one flow, with a FIN in the middle. */
	b.proto = TCP;
	for (i = 0; i < 200; i++)
		pkts[i] = make_pkt(&b, T0_MS + 3 + i, 1, i == 99 ? FIN : ACK);
	safem_flow_cache_update_burst(fc, pkts, 200);
	assert_int_equal(c.n, 1);
	assert_record(&c.rec[0], 100, 100, T0_MS + 3, T0_MS + 102, SAFEM_FLOW_END_tcp_end);

	/*
	 * 17 new flows of one line in one burst: exactly one eviction, of the
	 * newest one-packet flow (none is older than a multi-packet flow: there
	 * is none), so the 15 older ones keep their slots.
	 */
	safem_flow_cache_flush(fc, T0_MS + 1000);
	safem_flow_cache_free(fc);
	collector_free(&c);
	fc = new_cache(16, 30000, 300000, &c);
	st = safem_flow_cache_stats(fc);
	keys_in_one_line(1, line, SAFEM_FLOW_LINE_SLOTS + 1);
	for (i = 0; i <= SAFEM_FLOW_LINE_SLOTS; i++)
		pkts[i] = make_pkt(&line[i], T0_MS + i, 10, 0);
	pkts[i] = make_pkt(&line[SAFEM_FLOW_LINE_SLOTS], T0_MS + i, 10, 0);
	safem_flow_cache_update_burst(fc, pkts, SAFEM_FLOW_LINE_SLOTS + 2);
	assert_int_equal(st->evicted, 1);
	assert_int_equal(c.n, 1);
	assert_memory_equal(&c.rec[0].key, &line[SAFEM_FLOW_LINE_SLOTS - 1], sizeof(line[0]));
	assert_int_equal(st->active_flows, SAFEM_FLOW_LINE_SLOTS);
	safem_flow_cache_flush(fc, T0_MS + 1000);
	assert_record(find_record(&c, &line[SAFEM_FLOW_LINE_SLOTS], 0), 2, 20,
		      T0_MS + SAFEM_FLOW_LINE_SLOTS, T0_MS + SAFEM_FLOW_LINE_SLOTS + 1,
		      SAFEM_FLOW_END_end_of_input);
	check_invariants(fc, &c);
	safem_flow_cache_free(fc);
	collector_free(&c);
}

/* Times are stored as 32-bit ms: records across a 2^32 boundary stay exact. */
static void
test_time_wrap(void **state)
{
	struct collector c = {0};
	struct safem_flow_cache *fc = new_cache(1024, 2 * MS_PER_DAY, 7 * MS_PER_DAY, &c);
	struct safem_flow_key a = key_v4(1, 2, 3, 4, UDP);
	struct safem_flow_key b = key_v4(1, 2, 3, 5, UDP);
	struct safem_flow_key d = key_v4(1, 2, 3, 6, UDP);
	uint64_t day;

	(void)state;
	send1(fc, &a, WRAP_MS - 300, 1, 0);
	send1(fc, &a, WRAP_MS - 1, 1, 0);
	send1(fc, &a, WRAP_MS, 1, 0);
	send1(fc, &a, WRAP_MS + 250, 1, 0);
	/* b lives 6 days across the wrap; d starts 3 days before it and idles out. */
	send1(fc, &d, WRAP_MS - 3 * MS_PER_DAY, 1, 0);
	for (day = 0; day <= 6; day++) {
		send1(fc, &b, WRAP_MS - 3 * MS_PER_DAY + day * MS_PER_DAY + 17, 1, 0);
		safem_flow_cache_expire(fc, WRAP_MS - 3 * MS_PER_DAY + day * MS_PER_DAY + 17, 64);
	}
	assert_record(find_record(&c, &d, 0), 1, 1, WRAP_MS - 3 * MS_PER_DAY,
		      WRAP_MS - 3 * MS_PER_DAY, SAFEM_FLOW_END_inactive);
	assert_record(find_record(&c, &a, 0), 4, 4, WRAP_MS - 300, WRAP_MS + 250,
		      SAFEM_FLOW_END_inactive);
	safem_flow_cache_flush(fc, WRAP_MS + 3 * MS_PER_DAY + 17);
	assert_record(find_record(&c, &b, 0), 7, 7, WRAP_MS - 3 * MS_PER_DAY + 17,
		      WRAP_MS + 3 * MS_PER_DAY + 17, SAFEM_FLOW_END_end_of_input);
	check_invariants(fc, &c);
	safem_flow_cache_free(fc);
	collector_free(&c);
}

/*
 * The clock jumps further than 32-bit times reach (a capture with a 60-day
 * gap, no scan in between): flows already in the cache still get exact times.
 * A packet far behind the clock is accounted at the oldest time the cache can
 * represent (clock - 2^31 ms).
 */
static void
test_clock_jump(void **state)
{
	struct collector c = {0};
	struct safem_flow_cache *fc = new_cache(1024, 1000, 5000, &c);
	struct safem_flow_key a = key_v4(1, 2, 3, 4, UDP);
	struct safem_flow_key b = key_v4(1, 2, 3, 5, UDP);
	struct safem_flow_key d = key_v4(1, 2, 3, 6, UDP);
	const uint64_t jump = 60 * MS_PER_DAY;

	(void)state;
	send1(fc, &a, T0_MS, 10, 0);
	send1(fc, &b, T0_MS + 1, 10, 0);
	send1(fc, &b, T0_MS + jump, 10, 0);
	assert_int_equal(c.n, 2);
	assert_record(find_record(&c, &a, 0), 1, 10, T0_MS, T0_MS, SAFEM_FLOW_END_inactive);
	assert_record(find_record(&c, &b, 0), 1, 10, T0_MS + 1, T0_MS + 1,
		      SAFEM_FLOW_END_inactive);
	/* Jumps through expire and flush too. */
	assert_int_equal(safem_flow_cache_expire(fc, T0_MS + 2 * jump, 0), 1);
	assert_record(find_record(&c, &b, 1), 1, 10, T0_MS + jump, T0_MS + jump,
		      SAFEM_FLOW_END_inactive);
	send1(fc, &a, T0_MS + 2 * jump, 10, 0);
	safem_flow_cache_flush(fc, T0_MS + 3 * jump);
	assert_record(find_record(&c, &a, 1), 1, 10, T0_MS + 2 * jump, T0_MS + 2 * jump,
		      SAFEM_FLOW_END_inactive);

	/* A flow started 20 days behind the clock: a jump of 35 days puts it
	 * more than 2^32 ms behind, so that jump must end it first. */
	send1(fc, &d, T0_MS + 3 * jump - 20 * MS_PER_DAY, 10, 0);
	send1(fc, &a, T0_MS + 3 * jump + 35 * MS_PER_DAY, 10, 0);
	assert_record(find_record(&c, &d, 0), 1, 10, T0_MS + 3 * jump - 20 * MS_PER_DAY,
		      T0_MS + 3 * jump - 20 * MS_PER_DAY, SAFEM_FLOW_END_inactive);
	safem_flow_cache_flush(fc, T0_MS + 3 * jump + 35 * MS_PER_DAY);

	/* Broken timestamp 30 days behind the clock. */
	send1(fc, &a, T0_MS + 4 * jump, 10, 0);
	send1(fc, &d, T0_MS + 4 * jump - 30 * MS_PER_DAY, 10, 0);
	safem_flow_cache_flush(fc, T0_MS + 4 * jump);
	assert_record(find_record(&c, &d, 1), 1, 10, T0_MS + 4 * jump - (UINT64_C(1) << 31),
		      T0_MS + 4 * jump - (UINT64_C(1) << 31), SAFEM_FLOW_END_inactive);
	check_invariants(fc, &c);
	safem_flow_cache_free(fc);
	collector_free(&c);
}

/* ---- Random workloads against a naive reference model ---- */

static uint64_t
rng_next(uint64_t *s)
{
	/* xorshift64*: reproducible across libcs, unlike rand(). */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * UINT64_C(2685821657736338717);
}

static uint64_t
rng_below(uint64_t *s, uint64_t n)
{
	return rng_next(s) % n;
}

/* One flow per key, linear and obviously right: the header's rules verbatim. */
struct model_flow {
	bool active;
	uint64_t packets, bytes, first_ms, last_ms;
	uint8_t tcp_flags;
};

struct model {
	struct model_flow *flows;
	const struct safem_flow_key *keys;
	uint64_t inactive_ms, active_ms;
	struct collector out;
};

static void
model_emit(struct model *m, unsigned int i, unsigned int reason)
{
	struct model_flow *f = &m->flows[i];
	struct safem_flow_record r;

	memset(&r, 0, sizeof(r));
	r.key = m->keys[i];
	r.packets = f->packets;
	r.bytes = f->bytes;
	r.first_ms = f->first_ms;
	r.last_ms = f->last_ms;
	r.tcp_flags = f->tcp_flags;
	r.end_reason = (uint8_t)reason;
	/* Without window accounting a record's window part is all of it. */
	r.window_packets = r.packets;
	r.window_bytes = r.bytes;
	collect(&r, &m->out);
	f->active = false;
}

static uint64_t
model_deadline(const struct model *m, const struct model_flow *f, unsigned int *reason)
{
	uint64_t idle = f->last_ms + m->inactive_ms, age = f->first_ms + m->active_ms;

	*reason = idle <= age ? SAFEM_FLOW_END_inactive : SAFEM_FLOW_END_active;
	return idle <= age ? idle : age;
}

static void
model_packet(struct model *m, unsigned int i, const struct safem_packet *p)
{
	struct model_flow *f = &m->flows[i];
	uint64_t ms = p->ts_ns / NS_PER_MS;
	unsigned int reason;

	if (f->active && ms >= model_deadline(m, f, &reason))
		model_emit(m, i, reason);
	if (!f->active) {
		f->active = true;
		f->packets = 0;
		f->bytes = 0;
		f->first_ms = ms;
		f->last_ms = ms;
		f->tcp_flags = 0;
	}
	f->packets++;
	f->bytes += p->ip_bytes;
	f->tcp_flags |= p->tcp_flags;
	f->last_ms = ms > f->last_ms ? ms : f->last_ms;
	if (p->key.proto == TCP && (p->tcp_flags & (FIN | RST)))
		model_emit(m, i, SAFEM_FLOW_END_tcp_end);
}

static void
model_flush(struct model *m, unsigned int nflows, uint64_t end_ms)
{
	unsigned int i, reason;

	for (i = 0; i < nflows; i++)
		if (m->flows[i].active)
			model_emit(m, i,
				   model_deadline(m, &m->flows[i], &reason) <= end_ms
					   ? reason
					   : SAFEM_FLOW_END_end_of_input);
}

static int
record_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct safem_flow_record));
}

struct workload {
	uint64_t seed;
	unsigned int flows;
	unsigned int packets;
	uint32_t capacity;
	uint32_t inactive_ms;
	uint32_t active_ms;
	uint64_t max_step_us;   /* time between packets: 0..max_step_us */
	uint64_t jump_ms;       /* occasional gap */
	unsigned int jump_odds; /* one packet in jump_odds is preceded by the gap; 0: never */
	unsigned int max_scan_lines;
	bool compare_model; /* requires no eviction */
};

static void
run_workload(const struct workload *w)
{
	struct safem_flow_key *keys = calloc(w->flows, sizeof(*keys));
	struct model m = {
		.flows = calloc(w->flows, sizeof(struct model_flow)),
		.keys = keys,
		.inactive_ms = w->inactive_ms,
		.active_ms = w->active_ms,
	};
	struct collector c = {0};
	struct safem_flow_cache *fc = new_cache(w->capacity, w->inactive_ms, w->active_ms, &c);
	const struct safem_flow_cache_stats *st = safem_flow_cache_stats(fc);
	uint64_t s = w->seed, t_us = (T0_MS - 5000 + rng_below(&s, 10000)) * 1000, end_ms;
	unsigned int i, sent = 0;

	assert_non_null(keys);
	assert_non_null(m.flows);
	for (i = 0; i < w->flows; i++) {
		static const uint8_t protos[] = {TCP, TCP, TCP, UDP, UDP, 1};
		uint64_t r = rng_next(&s);

		/* Unique by construction (index in the source), random otherwise. */
		keys[i] = key_v4(0x0a000000 + i, (uint32_t)(r >> 32), (uint16_t)r,
				 (uint16_t)(r >> 16), protos[r % sizeof(protos)]);
		if (r & (UINT64_C(1) << 20)) {
			keys[i].ip_version = 6;
			keys[i].src_addr[15] = (uint8_t)(r >> 21);
			keys[i].dst_addr[9] = (uint8_t)(r >> 29);
		}
		if (keys[i].proto == 1)
			keys[i].src_port = 0;
	}

	while (sent < w->packets) {
		struct safem_packet burst[100];
		unsigned int n = 1 + (unsigned int)rng_below(&s, 100);

		if (n > w->packets - sent)
			n = w->packets - sent;
		for (i = 0; i < n; i++) {
			/* Skewed: low indexes are heavy hitters. */
			unsigned int f = (unsigned int)rng_below(
				&s, 1 + rng_below(&s, w->flows));
			uint8_t flags = 0;

			t_us += rng_below(&s, w->max_step_us + 1);
			if (w->jump_odds != 0 && rng_below(&s, w->jump_odds) == 0)
				t_us += w->jump_ms * 1000;
			if (keys[f].proto == TCP) {
				uint64_t r = rng_below(&s, 1000);

				flags = r < 5 ? FIN | ACK : r < 7 ? RST : r < 20 ? SYN : ACK;
			} else if (rng_below(&s, 100) == 0) {
				flags = FIN; /* garbage flag byte outside TCP: ignored */
			}
			burst[i] = make_pkt(&keys[f], 0, 40 + (uint32_t)rng_below(&s, 1461),
					    flags);
			burst[i].ts_ns = t_us * 1000;
			model_packet(&m, f, &burst[i]);
		}
		safem_flow_cache_update_burst(fc, burst, n);
		sent += n;
		safem_flow_cache_expire(fc, t_us / 1000,
					(unsigned int)rng_below(&s, w->max_scan_lines + 1));
	}
	/* End somewhere between "everything still running" and "everything expired". */
	end_ms = t_us / 1000 + rng_below(&s, (uint64_t)w->inactive_ms * 2);
	safem_flow_cache_flush(fc, end_ms);
	model_flush(&m, w->flows, end_ms);

	assert_int_equal(st->packets, w->packets);
	assert_int_equal(st->active_flows, 0);
	check_invariants(fc, &c);
	if (w->compare_model) {
		assert_int_equal(st->evicted, 0);
		assert_int_equal(c.n, m.out.n);
		qsort(c.rec, c.n, sizeof(*c.rec), record_cmp);
		qsort(m.out.rec, m.out.n, sizeof(*m.out.rec), record_cmp);
		for (i = 0; i < c.n; i++)
			if (memcmp(&c.rec[i], &m.out.rec[i], sizeof(c.rec[i])) != 0)
				fail_msg("record %u of %zu differs from the model: "
					 "packets %llu/%llu first %llu/%llu last %llu/%llu "
					 "reason %u/%u",
					 i, c.n, (unsigned long long)c.rec[i].packets,
					 (unsigned long long)m.out.rec[i].packets,
					 (unsigned long long)c.rec[i].first_ms,
					 (unsigned long long)m.out.rec[i].first_ms,
					 (unsigned long long)c.rec[i].last_ms,
					 (unsigned long long)m.out.rec[i].last_ms,
					 c.rec[i].end_reason, m.out.rec[i].end_reason);
	} else {
		assert_true(st->evicted > 0);
	}
	safem_flow_cache_free(fc);
	collector_free(&c);
	collector_free(&m.out);
	free(m.flows);
	free(keys);
}

/* Small table, many flows: evictions everywhere, still nothing lost. */
static void
test_conservation_with_eviction(void **state)
{
	struct workload w = {
		.seed = 0x5afe,
		.flows = 5000,
		.packets = 200000,
		.capacity = 1024,
		.inactive_ms = 300,
		.active_ms = 2000,
		.max_step_us = 200,
		.max_scan_lines = 2,
	};

	(void)state;
	run_workload(&w);
	w.seed = 77;
	w.capacity = 256;
	w.inactive_ms = 5000;
	w.active_ms = 20000;
	run_workload(&w);
}

static void
test_reference_model(void **state)
{
	struct workload w = {
		.flows = 5000,
		.packets = 200000,
		.capacity = 1 << 16,
		.max_scan_lines = 4,
		.compare_model = true,
	};
	static const struct {
		uint32_t inactive_ms, active_ms;
		uint64_t max_step_us;
	} timing[] = {
		{300, 2000, 200}, {50, 500, 20},   {1000, 1000, 200},  {2000, 400, 100},
		{1, 1, 2000},     {100, 3000, 50}, {100000, 100000, 200},
	};
	unsigned int i;

	(void)state;
	for (i = 0; i < RTE_DIM(timing); i++) {
		w.seed = 1000 + i;
		w.inactive_ms = timing[i].inactive_ms;
		w.active_ms = timing[i].active_ms;
		w.max_step_us = timing[i].max_step_us;
		run_workload(&w);
	}
}

/*
 * Over a year of packet time: 32-bit times wrap many times, long flows,
 * occasional 60-day gaps, a slow scan (records must still be exact).
 */
static void
test_reference_model_long_time(void **state)
{
	struct workload w = {
		.seed = 4242,
		.flows = 300,
		.packets = 30000,
		.capacity = 4096,
		.inactive_ms = 12 * 3600 * 1000,
		.active_ms = 7 * MS_PER_DAY,
		.max_step_us = UINT64_C(600) * 1000 * 1000,
		.jump_ms = 60 * MS_PER_DAY,
		.jump_odds = 5000,
		.max_scan_lines = 1,
		.compare_model = true,
	};

	(void)state;
	run_workload(&w);
	w.seed = 4243;
	w.max_scan_lines = 0; /* never scans: only packets, clock jumps and flush */
	run_workload(&w);
}

/*
 * A flow whose packet counter would wrap is ended (active) first. Takes
 * 2^32 packets, so it runs only with SAFEM_LONG_TESTS=1.
 */
static void
test_packet_counter_wrap(void **state)
{
	struct collector c = {0};
	struct safem_flow_cache *fc;
	struct safem_flow_key a = key_v4(1, 2, 3, 4, UDP);
	struct safem_packet pkts[64];
	uint64_t left = (uint64_t)UINT32_MAX + 1;
	unsigned int i;

	(void)state;
	if (getenv("SAFEM_LONG_TESTS") == NULL)
		skip();
	fc = new_cache(64, 1000, 5000, &c);
	for (i = 0; i < 64; i++)
		pkts[i] = make_pkt(&a, T0_MS, 1, 0);
	while (left != 0) {
		unsigned int n = left < 64 ? (unsigned int)left : 64;

		safem_flow_cache_update_burst(fc, pkts, n);
		left -= n;
	}
	assert_int_equal(c.n, 1);
	assert_record(&c.rec[0], UINT32_MAX, UINT32_MAX, T0_MS, T0_MS, SAFEM_FLOW_END_active);
	safem_flow_cache_flush(fc, T0_MS);
	assert_record(&c.rec[1], 1, 1, T0_MS, T0_MS, SAFEM_FLOW_END_end_of_input);
	check_invariants(fc, &c);
	safem_flow_cache_free(fc);
	collector_free(&c);
}

/* ---- The replacement rule against a one-line reference model ---- */

/* A one-line cache written from the rule's words in safem_flow.h. */
struct line_model_slot {
	int key; /* index into keys; -1: empty */
	uint64_t packets, bytes, first_ms, last_ms;
};

struct line_model {
	struct line_model_slot slot[SAFEM_FLOW_LINE_SLOTS];
	const struct safem_flow_key *keys;
	uint64_t clock_ms, inactive_ms, active_ms;
	struct collector out;
	/* Victims by the rule's class: overdue, stale one-packet, newest one-packet, LRU. */
	unsigned int *victims_by_class;
};

static uint64_t
line_model_deadline(const struct line_model *m, const struct line_model_slot *s,
		    unsigned int *reason)
{
	uint64_t idle = s->last_ms + m->inactive_ms, age = s->first_ms + m->active_ms;

	*reason = idle <= age ? SAFEM_FLOW_END_inactive : SAFEM_FLOW_END_active;
	return idle <= age ? idle : age;
}

static void
line_model_emit(struct line_model *m, unsigned int i, unsigned int reason)
{
	struct line_model_slot *s = &m->slot[i];
	struct safem_flow_record r;

	memset(&r, 0, sizeof(r));
	r.key = m->keys[s->key];
	r.packets = r.window_packets = s->packets;
	r.bytes = r.window_bytes = s->bytes;
	r.first_ms = s->first_ms;
	r.last_ms = s->last_ms;
	r.end_reason = (uint8_t)reason;
	collect(&r, &m->out);
	s->key = -1;
}

/* True when slot a was seen less recently than slot b (a lower slot wins a tie). */
static bool
line_model_older(const struct line_model *m, unsigned int a, int b)
{
	return b < 0 || m->slot[a].last_ms < m->slot[b].last_ms;
}

/* The rule, one class after the other: overdue, one-packet, least recently seen. */
static unsigned int
line_model_victim(const struct line_model *m)
{
	unsigned int *classes = m->victims_by_class;
	int overdue = -1, oldest_single = -1, newest_single = -1, oldest_multi = -1;
	unsigned int i;

	for (i = 0; i < SAFEM_FLOW_LINE_SLOTS; i++) {
		const struct line_model_slot *s = &m->slot[i];
		/* Mean gap in ms, counting the clock's 1 ms resolution once. */
		uint64_t gaps_span = s->last_ms - s->first_ms + 1;

		if (s->packets >= 2 &&
		    (m->clock_ms - s->last_ms) * (s->packets - 1) > 16 * gaps_span &&
		    line_model_older(m, i, overdue))
			overdue = (int)i;
	}
	if (overdue >= 0) {
		classes[0]++;
		return (unsigned int)overdue;
	}
	for (i = 0; i < SAFEM_FLOW_LINE_SLOTS; i++) {
		const struct line_model_slot *s = &m->slot[i];

		if (s->packets >= 2) {
			if (line_model_older(m, i, oldest_multi))
				oldest_multi = (int)i;
			continue;
		}
		if (line_model_older(m, i, oldest_single))
			oldest_single = (int)i;
		if (newest_single < 0 || s->last_ms > m->slot[newest_single].last_ms)
			newest_single = (int)i;
	}
	if (oldest_single >= 0 && oldest_multi >= 0 &&
	    m->slot[oldest_single].last_ms < m->slot[oldest_multi].last_ms) {
		classes[1]++;
		return (unsigned int)oldest_single;
	}
	if (newest_single >= 0) {
		classes[2]++;
		return (unsigned int)newest_single;
	}
	classes[3]++;
	return (unsigned int)oldest_multi;
}

static void
line_model_packet(struct line_model *m, int key, uint64_t ms, uint32_t bytes)
{
	unsigned int i, reason, slot = SAFEM_FLOW_LINE_SLOTS;
	struct line_model_slot *s;

	m->clock_ms = ms > m->clock_ms ? ms : m->clock_ms;
	for (i = 0; i < SAFEM_FLOW_LINE_SLOTS; i++) {
		s = &m->slot[i];
		if (s->key != key)
			continue;
		if (ms >= line_model_deadline(m, s, &reason)) {
			line_model_emit(m, i, reason);
			slot = i;
			break;
		}
		s->packets++;
		s->bytes += bytes;
		s->last_ms = ms > s->last_ms ? ms : s->last_ms;
		return;
	}
	for (i = 0; slot == SAFEM_FLOW_LINE_SLOTS && i < SAFEM_FLOW_LINE_SLOTS; i++)
		if (m->slot[i].key < 0)
			slot = i;
	if (slot == SAFEM_FLOW_LINE_SLOTS) {
		/* Full: flows past their deadline end with their own reason first. */
		for (i = 0; i < SAFEM_FLOW_LINE_SLOTS; i++) {
			if (line_model_deadline(m, &m->slot[i], &reason) > m->clock_ms)
				continue;
			line_model_emit(m, i, reason);
			if (slot == SAFEM_FLOW_LINE_SLOTS)
				slot = i;
		}
	}
	if (slot == SAFEM_FLOW_LINE_SLOTS) {
		slot = line_model_victim(m);
		line_model_emit(m, slot, SAFEM_FLOW_END_evicted);
	}
	m->slot[slot] = (struct line_model_slot){key, 1, bytes, ms, ms};
}

/*
 * Random sequences on a one-line cache: hot and cold keys, bursts, pauses
 * long enough for flows to become overdue or pass their deadline. The cache
 * must export exactly the model's records in the model's order, so every
 * victim is the one the rule names.
 */
static void
test_eviction_rule_model(void **state)
{
	enum { KEYS = 40, PACKETS = 4000, SEEDS = 40 };
	struct safem_flow_key keys[KEYS];
	unsigned int seed, i, victims_by_class[4] = {0};

	(void)state;
	keys_in_one_line(1, keys, KEYS);
	for (seed = 1; seed <= SEEDS; seed++) {
		struct line_model m = {.keys = keys,
				       .inactive_ms = 200,
				       .active_ms = 1000,
				       .victims_by_class = victims_by_class};
		struct collector c = {0};
		struct safem_flow_cache *fc = new_cache(SAFEM_FLOW_LINE_SLOTS, 200, 1000, &c);
		uint64_t s = seed * UINT64_C(0x9e3779b97f4a7c15), t = T0_MS;
		/* Each seed its own mix: how many keys are hot and how often they win. */
		unsigned int hot = 1 + (unsigned int)rng_below(&s, 20);
		unsigned int hot_pct = (unsigned int)rng_below(&s, 101);

		for (i = 0; i < SAFEM_FLOW_LINE_SLOTS; i++)
			m.slot[i].key = -1;
		for (i = 0; i < PACKETS; i++) {
			int key = rng_below(&s, 100) < hot_pct ? (int)rng_below(&s, hot)
							       : (int)rng_below(&s, KEYS);
			uint32_t bytes = 40 + (uint32_t)rng_below(&s, 1000);
			uint64_t r = rng_below(&s, 1000);

			t += r < 600 ? 0 : r < 990 ? 1 + rng_below(&s, 10) : 20 + rng_below(&s, 400);
			send1(fc, &keys[key], t, bytes, 0);
			line_model_packet(&m, key, t, bytes);
			assert_int_equal(c.n, m.out.n);
		}
		safem_flow_cache_flush(fc, t);
		for (i = 0; i < SAFEM_FLOW_LINE_SLOTS; i++) {
			unsigned int reason;

			if (m.slot[i].key >= 0)
				line_model_emit(&m, i,
						line_model_deadline(&m, &m.slot[i], &reason) <= t
							? reason
							: SAFEM_FLOW_END_end_of_input);
		}
		assert_int_equal(c.n, m.out.n);
		for (i = 0; i < c.n; i++)
			if (memcmp(&c.rec[i], &m.out.rec[i], sizeof(c.rec[i])) != 0)
				fail_msg("seed %u: record %u of %zu differs from the model: reason "
					 "%u/%u packets %llu/%llu first %llu/%llu",
					 seed, i, c.n, c.rec[i].end_reason, m.out.rec[i].end_reason,
					 (unsigned long long)c.rec[i].packets,
					 (unsigned long long)m.out.rec[i].packets,
					 (unsigned long long)c.rec[i].first_ms,
					 (unsigned long long)m.out.rec[i].first_ms);
		check_invariants(fc, &c);
		safem_flow_cache_free(fc);
		collector_free(&c);
		collector_free(&m.out);
	}
	/* The sequences reached every branch of the rule. */
	for (i = 0; i < RTE_DIM(victims_by_class); i++)
		assert_true(victims_by_class[i] > 0);
}

/*
 * Flows that keep receiving packets are never evicted by a stream of
 * one-packet flows into their line: the newcomers take turns in the one slot
 * left. (LRU would evict each busy flow in turn.)
 */
static void
test_eviction_spares_busy_flows(void **state)
{
	enum { BUSY = SAFEM_FLOW_LINE_SLOTS - 1, NEWCOMERS = 1000 };
	struct safem_flow_key *keys = calloc(BUSY + NEWCOMERS, sizeof(*keys));
	struct collector c = {0};
	struct safem_flow_cache *fc = new_cache(SAFEM_FLOW_LINE_SLOTS, 30000, 300000, &c);
	const struct safem_flow_cache_stats *st = safem_flow_cache_stats(fc);
	uint64_t t = T0_MS;
	unsigned int i;

	(void)state;
	assert_non_null(keys);
	keys_in_one_line(1, keys, BUSY + NEWCOMERS);
	/* Two packets each: established flows. */
	for (i = 0; i < 2 * BUSY; i++)
		send1(fc, &keys[i % BUSY], t++, 100, 0);
	for (i = 0; i < NEWCOMERS; i++) {
		send1(fc, &keys[i % BUSY], t, 100, 0);
		send1(fc, &keys[BUSY + i], t++, 60, 0);
	}
	assert_int_equal(st->evicted, NEWCOMERS - 1);
	for (i = 0; i < c.n; i++)
		assert_true(memcmp(&c.rec[i].key, &keys[BUSY], sizeof(keys[0])) >= 0 ||
			    c.rec[i].packets == 1);
	safem_flow_cache_flush(fc, t);
	for (i = 0; i < BUSY; i++) {
		unsigned int packets = 2 + NEWCOMERS / BUSY + (i < NEWCOMERS % BUSY);

		assert_record(find_record(&c, &keys[i], 0), packets, 100 * packets, T0_MS + i,
			      find_record(&c, &keys[i], 0)->last_ms, SAFEM_FLOW_END_end_of_input);
		assert_null(find_record(&c, &keys[i], 1));
	}
	check_invariants(fc, &c);
	assert_int_equal(st->flows_created, st->evicted + st->expired_end_of_input);
	safem_flow_cache_free(fc);
	collector_free(&c);
	free(keys);
}

/*
 * Cyclic traffic, the looped-capture case: 17 flows take turns on a 16-slot
 * line. LRU evicts exactly the flow that comes next, so every packet would
 * become a record; the rule keeps 15 flows whole and lets two share a slot.
 */
static void
test_eviction_cyclic(void **state)
{
	enum { FLOWS = SAFEM_FLOW_LINE_SLOTS + 1, ROUNDS = 200 };
	struct safem_flow_key keys[FLOWS];
	struct collector c = {0};
	struct safem_flow_cache *fc = new_cache(SAFEM_FLOW_LINE_SLOTS, 30000, 300000, &c);
	const struct safem_flow_cache_stats *st = safem_flow_cache_stats(fc);
	uint64_t t = T0_MS;
	unsigned int i, whole = 0;

	(void)state;
	/* keys_in_one_line() fills every key; gcc -O3 (release) cannot see that
	 * its search loop always ends, and warns. */
	memset(keys, 0, sizeof(keys));
	keys_in_one_line(1, keys, FLOWS);
	for (i = 0; i < FLOWS * ROUNDS; i++)
		send1(fc, &keys[i % FLOWS], t++, 100, 0);
	/* Two evictions a round at most (LRU: one a packet, 17 a round). */
	assert_true(st->evicted <= 2 * ROUNDS);
	safem_flow_cache_flush(fc, t);
	for (i = 0; i < FLOWS; i++)
		if (find_record(&c, &keys[i], 1) == NULL) {
			assert_record(find_record(&c, &keys[i], 0), ROUNDS, 100 * ROUNDS, T0_MS + i,
				      T0_MS + i + (uint64_t)FLOWS * (ROUNDS - 1),
				      SAFEM_FLOW_END_end_of_input);
			whole++;
		}
	assert_int_equal(whole, SAFEM_FLOW_LINE_SLOTS - 1);
	check_invariants(fc, &c);
	safem_flow_cache_free(fc);
	collector_free(&c);
}

/* Window accounting: every packet and byte reaches exactly one window, either
 * through a readout at a boundary or through the window part of its record. */
struct window_sum {
	uint64_t packets, bytes, flows;
	uint8_t tcp_flags;
	uint32_t last_ms32; /* the latest of the reports' last packets */
	uint32_t first_ms32[2]; /* first_ms32 of the reports of key_v4 flows 1000 and 2000 */
};

static void
sum_window(const struct safem_flow_key *key, uint8_t tcp_flags, uint64_t packets, uint64_t bytes,
	   uint32_t first_ms32, uint32_t last_ms32, unsigned int pane, void *ctx)
{
	struct window_sum *w = ctx;

	if (last_ms32 > w->last_ms32)
		w->last_ms32 = last_ms32;
	assert_true((int32_t)(last_ms32 - first_ms32) >= 0); /* serial: the times wrap at 2^32 */
	if (key->src_port == 1000 || key->src_port == 2000)
		w->first_ms32[key->src_port / 1000 - 1] = first_ms32;
	/* readout() reports the pane still open. */
	assert_int_equal(pane, SAFEM_FLOW_PANE_CURRENT);
	w->tcp_flags |= tcp_flags;
	assert_true(packets > 0);
	w->packets += packets;
	w->bytes += bytes;
	w->flows++;
}

/* Without pane_begin nothing is ever left over from a previous pane. */
static void
no_previous_pane(const struct safem_flow_key *key, uint8_t tcp_flags, uint64_t packets,
		 uint64_t bytes, uint32_t first_ms32, uint32_t last_ms32, unsigned int pane,
		 void *ctx)
{
	(void)key, (void)tcp_flags, (void)packets, (void)bytes, (void)first_ms32, (void)last_ms32,
		(void)pane, (void)ctx;
	fail_msg("window_fn called without pane_begin");
}

static void
test_window_readout(void **state)
{
	struct collector c = {0};
	struct safem_flow_cache_params p = {
		.name = "test_window",
		.capacity = 4096,
		.inactive_timeout_ms = 1000,
		.active_timeout_ms = 5000,
		.socket_id = -1,
		.export_fn = collect,
		.export_ctx = &c,
		.window_accounting = true,
		.window_fn = no_previous_pane,
	};
	struct safem_flow_cache *fc = safem_flow_cache_create(&p);
	struct safem_flow_key a = key_v4(0x0a000001, 0x0a000002, 1000, 80, TCP);
	struct safem_flow_key b = key_v4(0x0a000003, 0x0a000004, 2000, 53, UDP);
	struct window_sum w1 = {0}, w2 = {0}, w3 = {0};
	uint64_t rng = 12345, total_packets = 0, total_bytes = 0, window_packets = 0;
	size_t i;

	(void)state;
	assert_non_null(fc);
	/* Window 1: a has 3 packets, b has 1. */
	send1(fc, &a, 100, 60, SYN);
	send1(fc, &a, 200, 60, ACK);
	send1(fc, &a, 300, 60, ACK);
	send1(fc, &b, 400, 100, 0);
	assert_int_equal(safem_flow_cache_readout(fc, sum_window, &w1), 2);
	assert_int_equal(w1.packets, 4);
	assert_int_equal(w1.bytes, 280);
	assert_int_equal(w1.tcp_flags, SYN | ACK);
	/* each report carries its flow's last packet: b's at 400 is the latest */
	assert_int_equal(w1.last_ms32, 400);
	/* both flows began in window 1: each report carries its flow's first packet */
	assert_int_equal(w1.first_ms32[0], 100);
	assert_int_equal(w1.first_ms32[1], 400);
	/* Window 2: only a, which then ends with FIN: its record carries the
	 * totals, but only the window-2 part as window_packets. */
	send1(fc, &a, 1100, 60, ACK);
	send1(fc, &a, 1200, 60, FIN);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.rec[0].packets, 5);
	assert_int_equal(c.rec[0].window_packets, 2);
	assert_int_equal(c.rec[0].window_bytes, 120);
	/* b had nothing since the readout: not reported again. */
	assert_int_equal(safem_flow_cache_readout(fc, sum_window, &w2), 0);
	/* Window 3: b goes on, then the flush ends it. */
	send1(fc, &b, 1300, 100, 0);
	assert_int_equal(safem_flow_cache_readout(fc, sum_window, &w3), 1);
	assert_int_equal(w3.packets, 1);
	assert_int_equal(w3.last_ms32, 1300);
	/* b began in window 1 (reported there): window 3's report is dated by its last packet,
	 * not by the flow's first (400), which is not when its window-3 packets began */
	assert_int_equal(w3.first_ms32[1], 1300);
	safem_flow_cache_flush(fc, 1400);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.rec[1].packets, 2);
	assert_int_equal(c.rec[1].window_packets, 0);

	/* Random workload: readouts at random points; Σ readouts + Σ record
	 * window parts == Σ packets accounted. */
	for (i = 0; i < 200000; i++) {
		uint64_t t = 2000 + i / 10;
		struct safem_flow_key k = key_v4(0x0b000000 + (uint32_t)(rng % 3000), 0x0c000001,
						 (uint16_t)(rng >> 20), 443, i % 97 == 0 ? TCP : UDP);
		uint32_t bytes = 40 + (uint32_t)(rng % 1400);

		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		send1(fc, &k, t, bytes, i % 97 == 0 ? FIN : 0);
		if (rng % 5000 == 0) {
			struct window_sum w = {0};

			safem_flow_cache_readout(fc, sum_window, &w);
			window_packets += w.packets;
		}
		safem_flow_cache_expire(fc, t, 2);
	}
	safem_flow_cache_flush(fc, 2000 + 200000 / 10 + 1);
	for (i = 2; i < c.n; i++) {
		total_packets += c.rec[i].packets;
		total_bytes += c.rec[i].bytes;
		window_packets += c.rec[i].window_packets;
		assert_true(c.rec[i].window_packets <= c.rec[i].packets);
		assert_true(c.rec[i].window_bytes <= c.rec[i].bytes);
	}
	assert_int_equal(total_packets, 200000);
	assert_int_equal(window_packets, 200000);
	(void)total_bytes;
	safem_flow_cache_free(fc);
	collector_free(&c);
}

/*
 * Window panes read out incrementally (pane_begin, first touch, pane_sweep).
 * The test maps PREVIOUS/CURRENT to absolute pane numbers the way the worker
 * does: pane_now counts pane_begin calls; CURRENT is pane_now, PREVIOUS
 * pane_now - 1.
 */
#define PANE_FLOWS 300
#define PANE_MAX 160

struct pane_tally {
	uint64_t packets[PANE_FLOWS][PANE_MAX];
	uint64_t bytes[PANE_FLOWS][PANE_MAX];
};

struct pane_check {
	struct pane_tally model; /* accounted while the pane was current */
	struct pane_tally got;   /* reports + record window parts */
	/* Last pane reported for the live instance of each flow, -1 for none:
	 * reports of one instance must name strictly increasing panes. */
	int last_pane[PANE_FLOWS];
	unsigned int pane_now;
	unsigned int reports;    /* window_fn calls */
	unsigned int previous_reports;
	/* safem_flow_cache_readout() splits the current pane: the flows it
	 * reports may report that pane again later. */
	bool in_readout;
	struct collector records;
};

static unsigned int
pane_flow_id(const struct safem_flow_key *k)
{
	unsigned int id = (unsigned int)k->src_addr[2] << 8 | k->src_addr[3];

	assert_true(id < PANE_FLOWS);
	return id;
}

static struct safem_flow_key
pane_key(unsigned int id)
{
	/* A third of the flows are TCP, so FIN ends them. */
	return key_v4(0x0d000000 + id, 0x0e000001, (uint16_t)(1000 + id), 443,
		      id % 3 == 0 ? TCP : UDP);
}

static void
pane_add(struct pane_check *pc, unsigned int id, unsigned int pane, uint64_t packets,
	 uint64_t bytes)
{
	unsigned int abs_pane;

	assert_true(pane == SAFEM_FLOW_PANE_CURRENT || pane == SAFEM_FLOW_PANE_PREVIOUS);
	assert_true(pane == SAFEM_FLOW_PANE_CURRENT || pc->pane_now > 0);
	abs_pane = pane == SAFEM_FLOW_PANE_CURRENT ? pc->pane_now : pc->pane_now - 1;
	if (!pc->in_readout) {
		assert_true((int)abs_pane > pc->last_pane[id]);
		pc->last_pane[id] = (int)abs_pane;
	}
	pc->got.packets[id][abs_pane] += packets;
	pc->got.bytes[id][abs_pane] += bytes;
}

static void
pane_report(const struct safem_flow_key *key, uint8_t tcp_flags, uint64_t packets,
	    uint64_t bytes, uint32_t first_ms32, uint32_t last_ms32, unsigned int pane, void *ctx)
{
	struct pane_check *pc = ctx;

	(void)tcp_flags;
	assert_true((int32_t)(last_ms32 - first_ms32) >= 0);
	assert_true(packets > 0);
	pane_add(pc, pane_flow_id(key), pane, packets, bytes);
	pc->reports++;
	pc->previous_reports += pane == SAFEM_FLOW_PANE_PREVIOUS;
}

/* readout()'s fn: the unfinished sweep it completes still goes to window_fn. */
static void
pane_readout_report(const struct safem_flow_key *key, uint8_t tcp_flags, uint64_t packets,
		    uint64_t bytes, uint32_t first_ms32, uint32_t last_ms32, unsigned int pane,
		    void *ctx)
{
	struct pane_check *pc = ctx;

	assert_int_equal(pane, SAFEM_FLOW_PANE_CURRENT);
	pc->in_readout = true;
	pane_report(key, tcp_flags, packets, bytes, first_ms32, last_ms32, pane, ctx);
	pc->in_readout = false;
}

static void
pane_record(const struct safem_flow_record *r, void *ctx)
{
	struct pane_check *pc = ctx;
	unsigned int id = pane_flow_id(&r->key);

	collect(r, &pc->records);
	assert_true(r->window_packets <= r->packets);
	assert_true(r->window_bytes <= r->bytes);
	if (r->window_packets != 0)
		pane_add(pc, id, r->window_pane, r->window_packets, r->window_bytes);
	else
		assert_int_equal(r->window_pane, SAFEM_FLOW_PANE_CURRENT);
	/* The next packet of this key starts a new instance. */
	pc->last_pane[id] = -1;
}

static struct safem_flow_cache *
pane_cache(struct pane_check *pc, uint32_t capacity, uint32_t inactive_ms, uint32_t active_ms)
{
	struct safem_flow_cache_params p = {
		.name = "test_pane",
		.capacity = capacity,
		.inactive_timeout_ms = inactive_ms,
		.active_timeout_ms = active_ms,
		.socket_id = -1,
		.export_fn = pane_record,
		.export_ctx = pc,
		.window_accounting = true,
		.window_fn = pane_report,
		.window_ctx = pc,
	};
	struct safem_flow_cache *fc = safem_flow_cache_create(&p);
	unsigned int i;

	assert_non_null(fc);
	for (i = 0; i < PANE_FLOWS; i++)
		pc->last_pane[i] = -1;
	return fc;
}

static uint64_t
pane_rng(uint64_t *state)
{
	*state = *state * 6364136223846793005ull + 1442695040888963407ull;
	return *state >> 33;
}

/*
 * Randomized equivalence with the full readout: random packets (bursts, so
 * a flow can be touched twice in one chunk) over a few hundred flows,
 * pane_begin at random, partial sweeps with small budgets, inactive and
 * active expiry, FIN/RST, evictions in small caches, a final flush. Every
 * (flow, pane) must get exactly what the reference model accounted while
 * that pane was current, and each flow instance at most one report a pane.
 */
static void
pane_equivalence_run(uint64_t seed, uint32_t capacity, uint32_t inactive_ms, uint32_t active_ms)
{
	struct pane_check *pc = calloc(1, sizeof(*pc));
	struct safem_flow_cache *fc;
	struct safem_packet burst[40];
	uint64_t rng = seed, t = T0_MS, accounted = 0;
	unsigned int step, id, pane;

	assert_non_null(pc);
	fc = pane_cache(pc, capacity, inactive_ms, active_ms);
	for (step = 0; step < 6000 && pc->pane_now + 1 < PANE_MAX; step++) {
		unsigned int action = (unsigned int)(pane_rng(&rng) % 100);

		if (action < 70) {
			unsigned int n = 1 + (unsigned int)(pane_rng(&rng) % RTE_DIM(burst)), i;
			/* Few hot flows, many cold ones. */
			unsigned int span = pane_rng(&rng) % 2 ? 20 : PANE_FLOWS;

			for (i = 0; i < n; i++) {
				struct safem_flow_key k;
				uint32_t bytes = 40 + (uint32_t)(pane_rng(&rng) % 1460);
				uint8_t flags = 0;

				id = (unsigned int)(pane_rng(&rng) % span);
				k = pane_key(id);
				if (k.proto == TCP && pane_rng(&rng) % 40 == 0)
					flags = pane_rng(&rng) % 2 ? FIN : RST;
				else if (k.proto == TCP)
					flags = ACK;
				t += pane_rng(&rng) % 3;
				burst[i] = make_pkt(&k, t, bytes, flags);
				pc->model.packets[id][pc->pane_now]++;
				pc->model.bytes[id][pc->pane_now] += bytes;
			}
			safem_flow_cache_update_burst(fc, burst, n);
			accounted += n;
		} else if (action < 80) {
			safem_flow_cache_pane_begin(fc);
			pc->pane_now++;
		} else if (action < 95) {
			safem_flow_cache_pane_sweep(fc, (unsigned int)(pane_rng(&rng) % 4),
						    (unsigned int)(pane_rng(&rng) % 5));
		} else if (action < 99) {
			t += pane_rng(&rng) % 50;
			safem_flow_cache_expire(fc, t, (unsigned int)(pane_rng(&rng) % 8));
		} else {
			/* One-step readout: what the pane has so far, CURRENT. */
			safem_flow_cache_readout(fc, pane_readout_report, pc);
		}
	}
	safem_flow_cache_flush(fc, t + 1);
	assert_int_equal(safem_flow_cache_stats(fc)->packets, accounted);
	assert_int_equal(safem_flow_cache_stats(fc)->active_flows, 0);
	for (id = 0; id < PANE_FLOWS; id++)
		for (pane = 0; pane <= pc->pane_now; pane++) {
			if (pc->got.packets[id][pane] != pc->model.packets[id][pane] ||
			    pc->got.bytes[id][pane] != pc->model.bytes[id][pane])
				fail_msg("seed %" PRIu64 " flow %u pane %u: got %" PRIu64
					 "/%" PRIu64 " want %" PRIu64 "/%" PRIu64,
					 seed, id, pane, pc->got.packets[id][pane],
					 pc->got.bytes[id][pane], pc->model.packets[id][pane],
					 pc->model.bytes[id][pane]);
		}
	/* The workload must have exercised what it is meant to. */
	assert_true(pc->pane_now > 20);
	assert_true(pc->previous_reports > 0);
	assert_true(safem_flow_cache_stats(fc)->window_touch_reports > 0);
	assert_true(safem_flow_cache_stats(fc)->window_sweep_reports > 0);
	safem_flow_cache_free(fc);
	collector_free(&pc->records);
	free(pc);
}

static void
test_pane_equivalence(void **state)
{
	uint64_t seed;

	(void)state;
	for (seed = 1; seed <= 12; seed++) {
		/* 64 slots: constant eviction; 1024: expiry and FIN only. */
		pane_equivalence_run(seed, 64, 40, 200);
		pane_equivalence_run(seed + 100, 1024, 300, 1000);
		pane_equivalence_run(seed + 200, 16, 10, 30);
	}
}

/*
 * A flow's first packet of a pane reports the previous pane's part before
 * it counts; a FIN that first-touches a flow reports the old part as
 * previous and exports the FIN packet as the current window part; a flow
 * that expires before the sweep reaches it carries the previous pane in its
 * record; a flow with nothing unreported carries nothing.
 */
static void
test_pane_first_touch(void **state)
{
	struct pane_check *pc = calloc(1, sizeof(*pc));
	struct safem_flow_cache *fc;
	struct safem_flow_key a = pane_key(1), b = pane_key(3), c = pane_key(4), d = pane_key(5);
	const struct safem_flow_record *r;

	(void)state;
	assert_non_null(pc);
	fc = pane_cache(pc, 1024, 1000, 60000);
	/* Pane 0. */
	send1(fc, &a, T0_MS, 100, 0);
	send1(fc, &a, T0_MS + 1, 200, 0);
	send1(fc, &b, T0_MS + 2, 60, SYN);
	send1(fc, &b, T0_MS + 3, 60, ACK);
	send1(fc, &c, T0_MS + 4, 10, 0);
	send1(fc, &d, T0_MS + 5, 20, 0);
	assert_int_equal(pc->reports, 0);

	safem_flow_cache_pane_begin(fc);
	pc->pane_now = 1;
	assert_int_equal(pc->reports, 0);
	/* Pane 1: a's packet reports pane 0 first. */
	send1(fc, &a, T0_MS + 10, 1000, 0);
	assert_int_equal(pc->reports, 1);
	assert_int_equal(pc->got.packets[1][0], 2);
	assert_int_equal(pc->got.bytes[1][0], 300);
	assert_int_equal(pc->got.packets[1][1], 0);
	assert_int_equal(safem_flow_cache_stats(fc)->window_touch_reports, 1);
	/* A second packet in the same pane reports nothing. */
	send1(fc, &a, T0_MS + 11, 1000, 0);
	assert_int_equal(pc->reports, 1);
	/* b's FIN: pane 0 part reported, then the record holds the FIN packet. */
	send1(fc, &b, T0_MS + 12, 40, FIN | ACK);
	assert_int_equal(pc->reports, 2);
	assert_int_equal(pc->got.packets[3][0], 2);
	assert_int_equal(pc->got.bytes[3][0], 120);
	assert_int_equal(pc->records.n, 1);
	r = &pc->records.rec[0];
	assert_int_equal(r->packets, 3);
	assert_int_equal(r->window_packets, 1);
	assert_int_equal(r->window_bytes, 40);
	assert_int_equal(r->window_pane, SAFEM_FLOW_PANE_CURRENT);
	/* The sweep reports d, then c; both nothing new after. */
	assert_true(safem_flow_cache_pane_sweep(fc, UINT_MAX, UINT_MAX));
	assert_int_equal(pc->reports, 4);
	assert_int_equal(pc->got.packets[4][0], 1);
	assert_int_equal(pc->got.packets[5][0], 1);
	assert_int_equal(safem_flow_cache_stats(fc)->window_sweep_reports, 2);
	assert_true(safem_flow_cache_pane_sweep(fc, 1, 1));

	/* Pane 2: c has a packet in pane 1? No: c's pane-0 part was swept; give
	 * c a pane-1 packet and let it expire before any sweep of pane 1. */
	send1(fc, &c, T0_MS + 20, 7, 0);
	safem_flow_cache_pane_begin(fc);
	pc->pane_now = 2;
	safem_flow_cache_expire(fc, T0_MS + 20 + 1000, UINT_MAX);
	/* c and d expired (a too: its last packet is at +11); a held pane-1
	 * packets, c one, d nothing since the sweep. */
	r = find_record(&pc->records, &c, 0);
	assert_non_null(r);
	assert_int_equal(r->window_packets, 1);
	assert_int_equal(r->window_bytes, 7);
	assert_int_equal(r->window_pane, SAFEM_FLOW_PANE_PREVIOUS);
	r = find_record(&pc->records, &d, 0);
	assert_non_null(r);
	assert_int_equal(r->window_packets, 0);
	assert_int_equal(r->window_pane, SAFEM_FLOW_PANE_CURRENT);
	r = find_record(&pc->records, &a, 0);
	assert_non_null(r);
	assert_int_equal(r->window_packets, 2);
	assert_int_equal(r->window_pane, SAFEM_FLOW_PANE_PREVIOUS);
	assert_int_equal(pc->got.packets[1][1], 2);
	assert_int_equal(pc->got.packets[4][1], 1);
	/* Nothing left: the sweep of pane 1 finds nothing. */
	assert_true(safem_flow_cache_pane_sweep(fc, UINT_MAX, UINT_MAX));
	assert_int_equal(pc->reports, 4);
	safem_flow_cache_free(fc);
	collector_free(&pc->records);
	free(pc);
}

/*
 * pane_begin with the sweep unfinished completes it first (PREVIOUS, before
 * the pane advances); a pane without packets starts no sweep.
 */
static void
test_pane_forced_completion(void **state)
{
	struct pane_check *pc = calloc(1, sizeof(*pc));
	struct safem_flow_cache *fc;
	unsigned int id;

	(void)state;
	assert_non_null(pc);
	fc = pane_cache(pc, 4096, 100000, 1000000);
	for (id = 0; id < 100; id++) {
		struct safem_flow_key k = pane_key(id);

		send1(fc, &k, T0_MS + id, 100, 0);
	}
	safem_flow_cache_pane_begin(fc);
	pc->pane_now = 1;
	assert_false(safem_flow_cache_pane_sweep(fc, 1000, 10));
	assert_int_equal(pc->reports, 10);
	/* Pane 1 gets one packet; its begin must report the 90 left of pane 0. */
	{
		struct safem_flow_key k = pane_key(200);

		send1(fc, &k, T0_MS + 200, 5, 0);
	}
	safem_flow_cache_pane_begin(fc);
	assert_int_equal(pc->reports, 100);
	assert_int_equal(safem_flow_cache_stats(fc)->window_sweeps_forced, 1);
	pc->pane_now = 2;
	for (id = 0; id < 100; id++)
		assert_int_equal(pc->got.packets[id][0], 1);
	/* Pane 1's sweep: only flow 200. */
	assert_true(safem_flow_cache_pane_sweep(fc, UINT_MAX, UINT_MAX));
	assert_int_equal(pc->reports, 101);
	assert_int_equal(pc->got.packets[200][1], 1);
	/* Pane 2 had no packets: pane 3 has nothing to sweep. */
	safem_flow_cache_pane_begin(fc);
	pc->pane_now = 3;
	assert_true(safem_flow_cache_pane_sweep(fc, 0, 0));
	assert_int_equal(pc->reports, 101);
	safem_flow_cache_free(fc);
	collector_free(&pc->records);
	free(pc);
}

/* Reports of one pane_sweep call, in order. */
struct budget_log {
	struct pane_check *pc;
	unsigned int ids[PANE_FLOWS];
	unsigned int n;
};

static void
budget_report(const struct safem_flow_key *key, uint8_t tcp_flags, uint64_t packets,
	      uint64_t bytes, uint32_t first_ms32, uint32_t last_ms32, unsigned int pane, void *ctx)
{
	struct budget_log *log = ctx;

	pane_report(key, tcp_flags, packets, bytes, first_ms32, last_ms32, pane, log->pc);
	assert_true(log->n < PANE_FLOWS);
	log->ids[log->n++] = pane_flow_id(key);
}

/*
 * pane_sweep never reports more than max_reports nor visits more than
 * max_lines lines a call. With no flow ever removed, a flow's slot is its
 * rank among the flows of its line (line = hash & line mask; first free
 * slot), so the test knows every flow's position and replays the sweep
 * exactly: each call must report exactly the next pending flows in slot
 * order that lie within max_lines lines of where the previous call stopped,
 * and at most max_reports of them.
 */
static void
test_pane_sweep_budgets(void **state)
{
	struct pane_check *pc = calloc(1, sizeof(*pc));
	struct budget_log *log = calloc(1, sizeof(*log));
	const uint32_t capacity = 512, nlines = capacity / SAFEM_FLOW_LINE_SLOTS;
	uint32_t slot_of[PANE_FLOWS], per_line[512 / SAFEM_FLOW_LINE_SLOTS] = {0};
	int flow_at[512];
	struct safem_flow_cache_params p = {
		.name = "test_budget",
		.capacity = capacity,
		.inactive_timeout_ms = 1000000,
		.active_timeout_ms = 1000000,
		.socket_id = -1,
		.export_fn = pane_record,
		.window_accounting = true,
		.window_fn = budget_report,
	};
	struct safem_flow_cache *fc;
	uint64_t rng = 99, t = T0_MS;
	unsigned int id, round, i;

	(void)state;
	assert_non_null(pc);
	assert_non_null(log);
	p.export_ctx = pc;
	p.window_ctx = log;
	log->pc = pc;
	fc = safem_flow_cache_create(&p);
	assert_non_null(fc);
	for (i = 0; i < PANE_FLOWS; i++)
		pc->last_pane[i] = -1;
	for (i = 0; i < capacity; i++)
		flow_at[i] = -1;
	for (id = 0; id < PANE_FLOWS; id++) {
		struct safem_flow_key k = pane_key(id);
		uint32_t line = safem_flow_key_hash(&k) & (nlines - 1);

		if (per_line[line] == SAFEM_FLOW_LINE_SLOTS)
			continue; /* keep every flow in place: no eviction */
		slot_of[id] = line * SAFEM_FLOW_LINE_SLOTS + per_line[line]++;
		flow_at[slot_of[id]] = (int)id;
		send1(fc, &k, t++, 100, 0);
	}
	assert_int_equal(safem_flow_cache_stats(fc)->evicted, 0);
	for (round = 0; round < 6; round++) {
		bool pending[PANE_FLOWS] = {false};
		uint32_t cursor = 0;
		bool done = false;

		safem_flow_cache_pane_begin(fc);
		pc->pane_now++;
		/* Packets of the new pane for some flows: those first-touch. Then
		 * the ones still marked with the previous pane are pending. */
		for (i = 0; i < capacity; i++)
			if (flow_at[i] >= 0)
				pending[flow_at[i]] = true;
		while (!done) {
			unsigned int max_lines = (unsigned int)(pane_rng(&rng) % 4);
			unsigned int max_reports = (unsigned int)(pane_rng(&rng) % 6);
			uint32_t start_line = cursor / SAFEM_FLOW_LINE_SLOTS;
			uint32_t end_line = RTE_MIN(start_line + max_lines, nlines);
			uint32_t end = end_line * SAFEM_FLOW_LINE_SLOTS;
			unsigned int want[PANE_FLOWS], nwant = 0;

			/* The model of this call: the next pending flows before end,
			 * max_reports at most; the cursor stops after the last one
			 * reported if the report budget ran out, else at end. */
			for (i = cursor; i < end && nwant < max_reports; i++)
				if (flow_at[i] >= 0 && pending[flow_at[i]])
					want[nwant++] = (unsigned int)flow_at[i];
			if (max_reports != 0 && max_lines != 0)
				cursor = nwant == max_reports ? i : end;

			log->n = 0;
			done = safem_flow_cache_pane_sweep(fc, max_lines, max_reports);
			assert_true(log->n <= max_reports);
			assert_int_equal(log->n, nwant);
			for (i = 0; i < nwant; i++) {
				assert_int_equal(log->ids[i], want[i]);
				pending[want[i]] = false;
			}
			assert_int_equal(done, cursor == capacity);
			/* A first touch between calls: its report comes out of band. */
			if (!done && pane_rng(&rng) % 3 == 0) {
				id = (unsigned int)(pane_rng(&rng) % PANE_FLOWS);
				if (pending[id]) {
					struct safem_flow_key k = pane_key(id);

					log->n = 0;
					send1(fc, &k, t++, 100, 0);
					assert_int_equal(log->n, 1);
					pending[id] = false;
				}
			}
		}
		/* Give every flow a packet in the pane for the next round. */
		for (id = 0; id < PANE_FLOWS; id++)
			if (flow_at[slot_of[id]] == (int)id) {
				struct safem_flow_key k = pane_key(id);

				send1(fc, &k, t++, 100, 0);
			}
	}
	safem_flow_cache_free(fc);
	collector_free(&pc->records);
	free(log);
	free(pc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_end_reason_names),
		cmocka_unit_test(test_window_readout),
		cmocka_unit_test(test_pane_equivalence),
		cmocka_unit_test(test_pane_first_touch),
		cmocka_unit_test(test_pane_forced_completion),
		cmocka_unit_test(test_pane_sweep_budgets),
		cmocka_unit_test(test_bytes_per_flow_and_capacity),
		cmocka_unit_test(test_capacity_for_bytes),
		cmocka_unit_test(test_params_validation),
		cmocka_unit_test(test_single_flow),
		cmocka_unit_test(test_key_equality),
		cmocka_unit_test(test_inactive_split),
		cmocka_unit_test(test_active_split),
		cmocka_unit_test(test_inactive_active_tie),
		cmocka_unit_test(test_expire_reasons),
		cmocka_unit_test(test_expire_bounded_work),
		cmocka_unit_test(test_flush_reasons),
		cmocka_unit_test(test_tcp_end),
		cmocka_unit_test(test_eviction),
		cmocka_unit_test(test_eviction_rule_model),
		cmocka_unit_test(test_eviction_spares_busy_flows),
		cmocka_unit_test(test_eviction_cyclic),
		cmocka_unit_test(test_same_burst_hazards),
		cmocka_unit_test(test_time_wrap),
		cmocka_unit_test(test_clock_jump),
		cmocka_unit_test(test_conservation_with_eviction),
		cmocka_unit_test(test_reference_model),
		cmocka_unit_test(test_reference_model_long_time),
		cmocka_unit_test(test_packet_counter_wrap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
