/* SPDX-License-Identifier: BSD-3-Clause */
/* The analysis thread; see probe_analysis.h and docs/architecture.md. */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_pause.h>
#include <rte_ring.h>

#include "safem_mem.h"

#include "probe_analysis.h"

/* The thread sleeps this long when the ring is empty: windows close once per
 * slide, so a millisecond of latency costs nothing, and an idle thread costs
 * no CPU on a box whose cores the workers poll. */
#define ANALYSIS_IDLE_SLEEP_US 1000
#define ANALYSIS_BURST 16
/* A reader that keeps finding a publication in progress (the writer was
 * preempted) pauses, then yields, then takes what it read: every field is
 * whole, but they may straddle two publications. */
#define SNAPSHOT_SPIN_TRIES 16
#define SNAPSHOT_READ_TRIES 64

/* What the thread publishes after every message. Only uint64_t members, so a
 * reader can copy it word by word with atomic loads. */
struct analysis_published {
	struct safem_window_totals windows;
	uint64_t panes_analysed;
	uint64_t busy_ns_total;
	uint64_t busy_ns_max;
};
static_assert(sizeof(struct analysis_published) % sizeof(uint64_t) == 0,
	      "published totals are copied as 64-bit words");
#define PUBLISHED_WORDS (sizeof(struct analysis_published) / sizeof(uint64_t))

enum { DONE_NOT_YET, DONE_PENDING, DONE_SENT };

struct probe_analysis {
	struct safem_window_analysis *windows;
	struct rte_ring *queue; /* main (SP) -> thread (SC): panes and "done" messages */
	unsigned int producers;
	/* The address of done_token[i] is the message "producer i is done": it
	 * travels in the same ring, so it arrives behind that producer's panes. */
	char *done_token;
	uint8_t *done_state; /* main, per producer: DONE_NOT_YET, DONE_PENDING, DONE_SENT */
	pthread_t thread;
	bool started;
	void (*tick_fn)(void *ctx); /* the thread's file upkeep (probe_files.h), or NULL */
	void *tick_ctx;

	/* Main lcore's counters: one writer, relaxed stores, any reader. */
	uint64_t panes_queued __rte_cache_aligned;
	uint64_t queue_full;
	uint64_t queue_high_water;

	/* Flags across threads. */
	uint32_t stop __rte_cache_aligned; /* free(): end after the current message */
	uint32_t finished;                 /* thread ended (release) */

	/* The thread's own state; error is read by main after the join. */
	int error __rte_cache_aligned;
	unsigned int producers_done;
	struct analysis_published own;

	/*
	 * Single-writer sequence count: odd while a publication is in progress.
	 * rte_seqcount would do but is experimental in DPDK 22.11, and we build
	 * without ALLOW_EXPERIMENTAL_API.
	 */
	uint32_t seq __rte_cache_aligned;
	struct analysis_published published;
};

static uint64_t
tsc_to_ns(uint64_t cycles)
{
	return (uint64_t)((double)cycles * 1e9 / (double)rte_get_tsc_hz());
}

static void
counter_store(uint64_t *c, uint64_t v)
{
	__atomic_store_n(c, v, __ATOMIC_RELAXED);
}

/* Writer: seq odd, fields, seq even (the release orders the fields before it). */
static void
publish(struct probe_analysis *pa)
{
	const uint64_t *src = (const uint64_t *)&pa->own;
	uint64_t *dst = (uint64_t *)&pa->published;
	uint32_t seq = pa->seq; /* only this thread writes it */
	size_t i;

	safem_window_analysis_totals(pa->windows, &pa->own.windows);
	__atomic_store_n(&pa->seq, seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (i = 0; i < PUBLISHED_WORDS; i++)
		__atomic_store_n(&dst[i], src[i], __ATOMIC_RELAXED);
	__atomic_store_n(&pa->seq, seq + 2, __ATOMIC_RELEASE);
}

static void
handle_message(struct probe_analysis *pa, void *msg)
{
	uintptr_t token = (uintptr_t)msg, first = (uintptr_t)pa->done_token;
	uint64_t t0 = rte_rdtsc(), ns;
	int ret;

	if (token >= first && token < first + pa->producers) {
		ret = safem_window_analysis_producer_done(pa->windows,
							  (unsigned int)(token - first));
		pa->producers_done++;
	} else {
		ret = safem_window_analysis_pane(pa->windows, msg);
		pa->own.panes_analysed++;
	}
	/* Like the main lcore before: keep analysing after a failed write, report the first. */
	if (ret != 0 && pa->error == 0)
		pa->error = ret;
	ns = tsc_to_ns(rte_rdtsc() - t0);
	pa->own.busy_ns_total += ns;
	pa->own.busy_ns_max = RTE_MAX(pa->own.busy_ns_max, ns);
	publish(pa);
}

static bool
stop_requested(const struct probe_analysis *pa)
{
	return __atomic_load_n(&pa->stop, __ATOMIC_ACQUIRE) != 0;
}

static void *
analysis_thread(void *arg)
{
	struct probe_analysis *pa = arg;
	void *msgs[ANALYSIS_BURST];

	while (pa->producers_done < pa->producers && !stop_requested(pa)) {
		unsigned int n = rte_ring_sc_dequeue_burst(pa->queue, msgs, ANALYSIS_BURST, NULL);
		unsigned int i;

		if (pa->tick_fn != NULL)
			pa->tick_fn(pa->tick_ctx);
		if (n == 0) {
			rte_delay_us_sleep(ANALYSIS_IDLE_SLEEP_US);
			continue;
		}
		for (i = 0; i < n && !stop_requested(pa); i++)
			handle_message(pa, msgs[i]);
	}
	__atomic_store_n(&pa->finished, 1, __ATOMIC_RELEASE);
	return NULL;
}

struct probe_analysis *
probe_analysis_create(struct safem_window_analysis *windows, unsigned int producers,
		      unsigned int panes_per_producer, char *err, size_t errlen)
{
	struct probe_analysis *pa = aligned_alloc(RTE_CACHE_LINE_SIZE,
						  RTE_ALIGN_CEIL(sizeof(*pa), RTE_CACHE_LINE_SIZE));

	if (pa == NULL)
		goto nomem;
	memset(pa, 0, sizeof(*pa));
	pa->windows = windows;
	pa->producers = producers;
	pa->done_token = calloc(producers, 1);
	pa->done_state = calloc(producers, sizeof(*pa->done_state));
	if (pa->done_token == NULL || pa->done_state == NULL)
		goto nomem;
	/* Room for every pane a producer can have handed over (it owns
	 * panes_per_producer buffers in all) and its done message: the
	 * enqueue cannot fail. */
	pa->queue = rte_ring_create("analysis", producers * (panes_per_producer + 1),
				    (int)rte_socket_id(),
				    RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
	if (pa->queue == NULL)
		goto nomem;
	safem_mem_account(SAFEM_MEM_queues, (int64_t)safem_mem_ring_bytes(pa->queue));
	publish(pa);
	return pa;
nomem:
	snprintf(err, errlen, "no memory for the analysis queue");
	probe_analysis_free(pa);
	return NULL;
}

void
probe_analysis_set_tick(struct probe_analysis *pa, void (*tick_fn)(void *ctx), void *tick_ctx)
{
	pa->tick_fn = tick_fn;
	pa->tick_ctx = tick_ctx;
}

int
probe_analysis_start(struct probe_analysis *pa, char *err, size_t errlen)
{
	/* A control thread, not an lcore: it sleeps when idle, runs on the CPUs
	 * the lcores do not use (or the main lcore's), and is not polled. */
	int ret = rte_ctrl_thread_create(&pa->thread, "safem-analysis", NULL, analysis_thread, pa);

	if (ret != 0) {
		snprintf(err, errlen, "cannot start the analysis thread: %s", strerror(-ret));
		return ret;
	}
	pa->started = true;
	return 0;
}

int
probe_analysis_pane(struct probe_analysis *pa, struct safem_window_pane *pane)
{
	unsigned int waiting;

	if (rte_ring_sp_enqueue(pa->queue, pane) != 0) {
		/* The producer gets its buffer back; the windows lack its pane. */
		counter_store(&pa->queue_full, pa->queue_full + 1);
		safem_window_pane_release(pane);
		return -ENOBUFS;
	}
	counter_store(&pa->panes_queued, pa->panes_queued + 1);
	waiting = rte_ring_count(pa->queue);
	if (waiting > pa->queue_high_water)
		counter_store(&pa->queue_high_water, waiting);
	return 0;
}

/* Main: done messages the ring refused go out as soon as there is room, so
 * the thread never waits for a producer that will send nothing. */
static void
send_pending_done(struct probe_analysis *pa)
{
	unsigned int i;

	for (i = 0; i < pa->producers; i++)
		if (pa->done_state[i] == DONE_PENDING &&
		    rte_ring_sp_enqueue(pa->queue, &pa->done_token[i]) == 0)
			pa->done_state[i] = DONE_SENT;
}

void
probe_analysis_producer_done(struct probe_analysis *pa, unsigned int producer)
{
	/* Once per producer: the thread ends after as many done messages as producers. */
	if (producer >= pa->producers || pa->done_state[producer] != DONE_NOT_YET)
		return;
	pa->done_state[producer] = DONE_PENDING;
	send_pending_done(pa);
}

bool
probe_analysis_finished(struct probe_analysis *pa)
{
	send_pending_done(pa);
	return __atomic_load_n(&pa->finished, __ATOMIC_ACQUIRE) != 0;
}

int
probe_analysis_join(struct probe_analysis *pa)
{
	if (pa->started) {
		pthread_join(pa->thread, NULL);
		pa->started = false;
	}
	return pa->error;
}

void
probe_analysis_read(const struct probe_analysis *pa, struct probe_analysis_totals *out)
{
	struct analysis_published copy;
	const uint64_t *src = (const uint64_t *)&pa->published;
	uint64_t *dst = (uint64_t *)&copy;
	unsigned int tries;
	size_t i;

	for (tries = 0; tries < SNAPSHOT_READ_TRIES; tries++) {
		uint32_t begin = __atomic_load_n(&pa->seq, __ATOMIC_ACQUIRE);

		for (i = 0; i < PUBLISHED_WORDS; i++)
			dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
		/* The field loads stay before the second sequence load. */
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if ((begin & 1) == 0 && __atomic_load_n(&pa->seq, __ATOMIC_RELAXED) == begin)
			break;
		if (tries < SNAPSHOT_SPIN_TRIES)
			rte_pause();
		else
			sched_yield();
	}
	memset(out, 0, sizeof(*out));
	out->windows = copy.windows;
	out->panes_analysed = copy.panes_analysed;
	out->busy_ns_total = copy.busy_ns_total;
	out->busy_ns_max = copy.busy_ns_max;
	out->panes_queued = __atomic_load_n(&pa->panes_queued, __ATOMIC_RELAXED);
	out->queue_full = __atomic_load_n(&pa->queue_full, __ATOMIC_RELAXED);
	out->queue_high_water = __atomic_load_n(&pa->queue_high_water, __ATOMIC_RELAXED);
	out->queue_size = pa->queue != NULL ? rte_ring_get_capacity(pa->queue) : 0;
}

void
probe_analysis_free(struct probe_analysis *pa)
{
	if (pa == NULL)
		return;
	if (pa->started) {
		__atomic_store_n(&pa->stop, 1, __ATOMIC_RELEASE);
		pthread_join(pa->thread, NULL);
	}
	safem_mem_account(SAFEM_MEM_queues, -(int64_t)safem_mem_ring_bytes(pa->queue));
	rte_ring_free(pa->queue);
	free(pa->done_state);
	free(pa->done_token);
	free(pa);
}
