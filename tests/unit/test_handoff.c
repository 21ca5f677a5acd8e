/* SPDX-License-Identifier: BSD-3-Clause */
/* Hand-off: order per producer, nothing lost when blocking, drops counted
 * when not, partial batches only leave on flush, and a real second lcore
 * producing while this one consumes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_memory.h>

#include "safem_handoff.h"

struct seen {
	uint64_t next_expected[4]; /* per producer: records carry a sequence in packets */
	uint64_t total;
	int out_of_order;
	uintptr_t marks[8];          /* markers in arrival order ... */
	uint64_t records_before[8]; /* ... and how many records had arrived before each */
	unsigned int nmarks;
};

static void
count_records(unsigned int producer, const struct safem_flow_record *records, unsigned int count,
	      void *mark, void *ctx)
{
	struct seen *seen = ctx;
	unsigned int i;

	if (mark != NULL) {
		assert_int_equal(count, 0);
		seen->records_before[seen->nmarks] = seen->total;
		seen->marks[seen->nmarks++] = (uintptr_t)mark;
		return;
	}
	for (i = 0; i < count; i++) {
		if (records[i].packets != seen->next_expected[producer])
			seen->out_of_order++;
		seen->next_expected[producer] = records[i].packets + 1;
		seen->total++;
	}
}

static struct safem_flow_record
record_with_seq(uint64_t seq)
{
	struct safem_flow_record r;

	memset(&r, 0, sizeof(r));
	r.packets = seq;
	r.bytes = seq * 100;
	return r;
}

static struct safem_handoff *
make(unsigned int producers, unsigned int batches, bool block)
{
	static unsigned int serial;
	char name[32];
	struct safem_handoff_params p = {
		.name = name,
		.producers = producers,
		.batches_per_producer = batches,
		.socket_id = SOCKET_ID_ANY,
		.block_when_full = block,
	};

	snprintf(name, sizeof(name), "h%u", serial++);
	return safem_handoff_create(&p);
}

static void
test_create_rejects_bad_params(void **state)
{
	(void)state;
	assert_null(make(0, 4, true));
	assert_null(make(1, 1, true));
	assert_null(safem_handoff_create(NULL));
}

static void
test_partial_batch_leaves_only_on_flush(void **state)
{
	struct safem_handoff *h = make(1, 4, false);
	struct seen seen = {0};
	struct safem_flow_record r;
	unsigned int i;

	(void)state;
	assert_non_null(h);
	for (i = 0; i < SAFEM_HANDOFF_BATCH_RECORDS - 1; i++) {
		r = record_with_seq(i);
		assert_int_equal(safem_handoff_put(h, 0, &r), 0);
	}
	assert_int_equal(safem_handoff_consume(h, 8, count_records, &seen), 0);
	r = record_with_seq(i);
	assert_int_equal(safem_handoff_put(h, 0, &r), 0); /* fills the batch: sent */
	assert_int_equal(safem_handoff_consume(h, 8, count_records, &seen),
			 SAFEM_HANDOFF_BATCH_RECORDS);
	r = record_with_seq(++i);
	safem_handoff_put(h, 0, &r);
	safem_handoff_flush(h, 0);
	assert_int_equal(safem_handoff_consume(h, 8, count_records, &seen), 1);
	assert_int_equal(seen.out_of_order, 0);
	assert_int_equal(safem_handoff_stats(h, 0)->batches_sent, 2);
	safem_handoff_free(h);
}

static void
test_drops_are_counted_when_not_blocking(void **state)
{
	/* 2 batches (rounded to 2): 128 records fit, the rest are dropped. */
	struct safem_handoff *h = make(1, 2, false);
	struct seen seen = {0};
	unsigned int i, dropped = 0;

	(void)state;
	for (i = 0; i < 1000; i++) {
		struct safem_flow_record r = record_with_seq(i);

		if (safem_handoff_put(h, 0, &r) == -ENOBUFS)
			dropped++;
	}
	safem_handoff_flush(h, 0);
	assert_int_equal(safem_handoff_stats(h, 0)->records_dropped, dropped);
	assert_int_equal(safem_handoff_stats(h, 0)->records_put, 1000 - dropped);
	assert_int_equal(safem_handoff_consume(h, 100, count_records, &seen), 1000 - dropped);
	assert_int_equal(dropped, 1000 - 2 * SAFEM_HANDOFF_BATCH_RECORDS);
	safem_handoff_free(h);
}

static void
test_marks_arrive_in_order(void **state)
{
	struct safem_handoff *h = make(2, 8, false);
	struct seen seen;
	unsigned int i;

	(void)state;
	memset(&seen, 0, sizeof(seen));
	/* 100 records, mark A, 30 records, mark B; a second producer idles. */
	for (i = 0; i < 100; i++) {
		struct safem_flow_record r = record_with_seq(i);

		safem_handoff_put(h, 0, &r);
	}
	assert_int_equal(safem_handoff_mark(h, 0, (void *)0xA), 0);
	for (; i < 130; i++) {
		struct safem_flow_record r = record_with_seq(i);

		safem_handoff_put(h, 0, &r);
	}
	assert_int_equal(safem_handoff_mark(h, 0, (void *)0xB), 0);
	while (safem_handoff_consume(h, 1, count_records, &seen) != 0 || seen.nmarks < 2)
		;
	assert_int_equal(seen.nmarks, 2);
	assert_int_equal(seen.marks[0], 0xA);
	assert_int_equal(seen.records_before[0], 100);
	assert_int_equal(seen.marks[1], 0xB);
	assert_int_equal(seen.records_before[1], 130);
	assert_int_equal(seen.out_of_order, 0);
	assert_int_equal(safem_handoff_stats(h, 0)->marks_sent, 2);
	safem_handoff_free(h);
}

static struct safem_handoff *
make_reserved(unsigned int batches, unsigned int reserve, bool block, uint64_t stall_us,
	      const uint32_t *stop)
{
	static unsigned int serial;
	char name[32];
	struct safem_handoff_params p = {
		.name = name,
		.producers = 1,
		.batches_per_producer = batches,
		.socket_id = SOCKET_ID_ANY,
		.block_when_full = block,
		.mark_reserve = reserve,
		.stall_us = stall_us,
		.stop_wait_us = 1000,
		.stop = stop,
	};

	snprintf(name, sizeof(name), "r%u", serial++);
	return safem_handoff_create(&p);
}

static void
test_reserve_must_leave_room_for_records(void **state)
{
	(void)state;
	assert_null(make_reserved(8, 7, false, 0, NULL));
	assert_null(make_reserved(4, 3, false, 0, NULL));
}

static void
test_marks_never_dropped_behind_a_full_ring(void **state)
{
	/* Live mode, 8 batches, 4 kept for marks: records flood until they drop,
	 * a slow consumer takes nothing, and still each of 4 marks gets through,
	 * behind every record that was accepted before it. */
	struct safem_handoff *h = make_reserved(8, 4, false, 0, NULL);
	struct seen seen = {0};
	unsigned int i, m, accepted = 0;

	(void)state;
	assert_non_null(h);
	for (m = 0; m < 4; m++) {
		for (i = 0; i < 1000; i++) {
			struct safem_flow_record r = record_with_seq(accepted);

			if (safem_handoff_put(h, 0, &r) == 0)
				accepted++;
		}
		assert_int_equal(safem_handoff_mark(h, 0, (void *)(uintptr_t)(0x10 + m)), 0);
	}
	/* 4 free batches for records: 256 records, then drops. */
	assert_int_equal(accepted, 4 * SAFEM_HANDOFF_BATCH_RECORDS);
	assert_int_equal(safem_handoff_stats(h, 0)->marks_sent, 4);
	assert_int_equal(safem_handoff_stats(h, 0)->marks_dropped, 0);
	assert_int_equal(safem_handoff_stats(h, 0)->records_dropped, 4 * 1000 - accepted);
	while (safem_handoff_consume(h, 1, count_records, &seen) != 0 || seen.nmarks < 4)
		;
	assert_int_equal(seen.total, accepted);
	assert_int_equal(seen.out_of_order, 0);
	for (m = 0; m < 4; m++)
		assert_int_equal(seen.marks[m], 0x10 + m);
	/* The first mark came after everything accepted: records only filled batches
	 * before it. */
	assert_int_equal(seen.records_before[0], accepted);
	safem_handoff_free(h);
}

static void
test_blocking_wait_is_bounded(void **state)
{
	/* Nobody consumes: a blocking producer gives up after the stall bound,
	 * drops the record and counts it, instead of spinning forever. */
	struct safem_handoff *h = make_reserved(4, 0, true, 20000, NULL);
	unsigned int i, dropped = 0;
	uint64_t t0 = rte_get_tsc_cycles(), waited_ms;

	(void)state;
	assert_non_null(h);
	for (i = 0; i < 4 * SAFEM_HANDOFF_BATCH_RECORDS + 3; i++) {
		struct safem_flow_record r = record_with_seq(i);

		if (safem_handoff_put(h, 0, &r) != 0)
			dropped++;
	}
	waited_ms = (rte_get_tsc_cycles() - t0) * 1000 / rte_get_tsc_hz();
	/* The 4 batches hold 256 records; the batch the 256th filled was sent. The
	 * next one waited out the 20 ms bound, the 2 after it dropped at once: one
	 * bound per stall, not one per record. */
	assert_int_equal(dropped, 3);
	assert_int_equal(safem_handoff_stats(h, 0)->stall_drops, 3);
	assert_int_equal(safem_handoff_stats(h, 0)->full_waits, 1);
	assert_true(waited_ms >= 20);
	assert_true(safem_handoff_stats(h, 0)->wait_us >= 20000);
	/* The consumer comes back: the producer waits again when it must. */
	{
		struct seen seen = {0};
		struct safem_flow_record r = record_with_seq(0);

		assert_int_equal(safem_handoff_consume(h, 1, count_records, &seen),
				 SAFEM_HANDOFF_BATCH_RECORDS);
		for (i = 0; i < SAFEM_HANDOFF_BATCH_RECORDS; i++)
			assert_int_equal(safem_handoff_put(h, 0, &r), 0);
		assert_int_not_equal(safem_handoff_put(h, 0, &r), 0);
		assert_int_equal(safem_handoff_stats(h, 0)->full_waits, 2);
	}
	safem_handoff_free(h);
}

static void
test_stop_shortens_a_blocking_wait(void **state)
{
	/* A stall bound of an hour, but stop is set: the wait ends after the stop
	 * bound (1 ms here), so a signal always ends the run. */
	uint32_t stop = 1;
	struct safem_handoff *h = make_reserved(2, 0, true, 3600ull * 1000000, &stop);
	unsigned int i, dropped = 0;

	(void)state;
	assert_non_null(h);
	for (i = 0; i < 2 * SAFEM_HANDOFF_BATCH_RECORDS + 1; i++) {
		struct safem_flow_record r = record_with_seq(i);

		if (safem_handoff_put(h, 0, &r) != 0)
			dropped++;
	}
	assert_int_equal(dropped, 1);
	assert_int_equal(safem_handoff_stats(h, 0)->stall_drops, 1);
	safem_handoff_free(h);
}

static int
slow_consumer_main(void *arg)
{
	struct seen *seen = ((void **)arg)[1];
	struct safem_handoff *h = ((void **)arg)[0];
	const uint32_t *done = ((void **)arg)[2];

	/* One batch per 200 us: far slower than the producer. */
	for (;;) {
		bool last = __atomic_load_n(done, __ATOMIC_ACQUIRE) != 0;

		if (safem_handoff_consume(h, 1, count_records, seen) == 0 && last)
			return 0;
		rte_delay_us_sleep(200);
	}
}

static void
test_slow_consumer_full_ring_loses_nothing(void **state)
{
	/* Replay mode against a slow consumer on another lcore: the producer
	 * waits (counted) and nothing is lost; marks keep their place. */
	struct safem_handoff *h = make_reserved(8, 2, true, 600ull * 1000000, NULL);
	struct seen seen = {0};
	uint32_t done = 0;
	void *args[3] = {h, &seen, &done};
	unsigned int lcore = rte_get_next_lcore(-1, 1, 0), i;

	(void)state;
	if (lcore >= RTE_MAX_LCORE)
		skip();
	assert_int_equal(rte_eal_remote_launch(slow_consumer_main, args, lcore), 0);
	for (i = 0; i < 20000; i++) {
		struct safem_flow_record r = record_with_seq(i);

		assert_int_equal(safem_handoff_put(h, 0, &r), 0);
		if (i == 9999)
			assert_int_equal(safem_handoff_mark(h, 0, (void *)0x77), 0);
	}
	safem_handoff_flush(h, 0);
	__atomic_store_n(&done, 1, __ATOMIC_RELEASE);
	rte_eal_wait_lcore(lcore);
	assert_int_equal(seen.total, 20000);
	assert_int_equal(seen.out_of_order, 0);
	assert_int_equal(seen.nmarks, 1);
	assert_int_equal(seen.records_before[0], 10000);
	assert_true(safem_handoff_stats(h, 0)->full_waits > 0);
	assert_int_equal(safem_handoff_stats(h, 0)->records_dropped, 0);
	safem_handoff_free(h);
}

#define CROSS_CORE_RECORDS 2000000u

static int
producer_main(void *arg)
{
	struct safem_handoff *h = arg;
	uint64_t i;

	for (i = 0; i < CROSS_CORE_RECORDS; i++) {
		struct safem_flow_record r = record_with_seq(i);

		safem_handoff_put(h, 0, &r);
	}
	safem_handoff_flush(h, 0);
	return 0;
}

static void
test_cross_core_blocking_loses_nothing(void **state)
{
	/* Few batches so the producer really waits for the consumer; a stall
	 * bound of 10 minutes: this tests "nothing lost", not the bound, and a
	 * loaded CI box has starved the consumer for seconds. */
	struct safem_handoff *h = make_reserved(4, 0, true, 600ull * 1000000, NULL);
	struct seen seen = {0};
	unsigned int lcore = rte_get_next_lcore(-1, 1, 0);

	(void)state;
	if (lcore >= RTE_MAX_LCORE)
		skip();
	assert_int_equal(rte_eal_remote_launch(producer_main, h, lcore), 0);
	while (rte_eal_get_lcore_state(lcore) != WAIT)
		safem_handoff_consume(h, 4, count_records, &seen);
	rte_eal_wait_lcore(lcore);
	while (safem_handoff_consume(h, 4, count_records, &seen) != 0)
		;
	assert_int_equal(seen.total, CROSS_CORE_RECORDS);
	assert_int_equal(seen.out_of_order, 0);
	assert_int_equal(safem_handoff_stats(h, 0)->records_dropped, 0);
	safem_handoff_free(h);
}

int
main(void)
{
	char prefix[64];
	char *eal_args[] = {"test_handoff", "--no-huge", "--no-pci", "-m", "256", "-l", "0-1",
			    "--log-level=lib.eal:error", prefix, NULL};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_rejects_bad_params),
		cmocka_unit_test(test_partial_batch_leaves_only_on_flush),
		cmocka_unit_test(test_drops_are_counted_when_not_blocking),
		cmocka_unit_test(test_marks_arrive_in_order),
		cmocka_unit_test(test_cross_core_blocking_loses_nothing),
		cmocka_unit_test(test_reserve_must_leave_room_for_records),
		cmocka_unit_test(test_marks_never_dropped_behind_a_full_ring),
		cmocka_unit_test(test_blocking_wait_is_bounded),
		cmocka_unit_test(test_stop_shortens_a_blocking_wait),
		cmocka_unit_test(test_slow_consumer_full_ring_loses_nothing),
	};
	int ret;

	snprintf(prefix, sizeof(prefix), "--file-prefix=safem_test_handoff_%d", (int)getpid());
	if (rte_eal_init(9, eal_args) < 0) {
		fprintf(stderr, "test_handoff: EAL init failed\n");
		return 1;
	}
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	rte_eal_cleanup();
	return ret;
}
