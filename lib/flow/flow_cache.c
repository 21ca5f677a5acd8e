/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Per-core flow cache.
 *
 * Layout (ipfixprobe-style set-associative table):
 *
 *   sig_lines[line]   one 64-byte line of SAFEM_FLOW_LINE_SLOTS 32-bit signatures
 *   entries[line*16+slot]   one 64-byte flow entry per slot
 *
 * A lookup touches the signature line (one cache miss, 16 candidates compared
 * with a few SIMD instructions) and then only the entry whose signature
 * matches (a second miss). update_burst overlaps those misses across a chunk
 * of packets: prefetch every signature line, then every candidate entry, then
 * do the work. Signature 0 marks an empty slot.
 *
 * Times are stored as 32-bit wrapping milliseconds and rebuilt against the
 * cache clock (the largest time seen). That is exact while every stored time
 * is within 2^32 - 1 ms (49.7 days) of the clock; oldest_first_ms tracks a
 * lower bound on the stored times so the cache can restore that before the
 * clock gets too far ahead (see flow_clock_advance()).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_common.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>

#ifdef RTE_ARCH_X86
#include <emmintrin.h>
#endif

#include "safem_flow.h"
#include "safem_mem.h"

#define NS_PER_MS UINT64_C(1000000)
#define MS_PER_DAY UINT32_C(86400000)

/* Longest active timeout: flows must end well inside the 32-bit time span. */
#define FLOW_ACTIVE_TIMEOUT_MAX_MS (7 * MS_PER_DAY)
/* Largest power of two a uint32_t capacity can round up to. */
#define FLOW_CAPACITY_MAX (UINT32_C(1) << 31)

/* Packets looked up together: enough misses in flight to hide DRAM latency,
 * few enough that the prefetched lines are still in L1/L2 at stage 3. */
#define FLOW_BURST_CHUNK 128
/* Lines whose signatures and entries the expiry scan prefetches together. */
#define FLOW_SCAN_CHUNK 8

/* Stored times are exact while clock - time <= this. */
#define FLOW_TIME_SPAN_MAX_MS UINT64_C(0xffffffff)
/*
 * A packet more than this behind the clock has a broken timestamp (24.8
 * days); it is accounted at clock - FLOW_LATE_MAX_MS so that its time stays
 * representable. Ordinary reordering between flows is milliseconds.
 */
#define FLOW_LATE_MAX_MS (UINT64_C(1) << 31)

#define FLOW_PROTO_TCP 6
#define FLOW_TCP_FIN 0x01
#define FLOW_TCP_RST 0x04

#define FLOW_SLOT_MASK ((1u << SAFEM_FLOW_LINE_SLOTS) - 1)

/* One flow in one slot: a single cache line. */
struct flow_entry {
	struct safem_flow_key key;
	uint64_t bytes;
	uint32_t packets;    /* a flow ends (active) before this wraps */
	uint32_t first_ms32; /* low 32 bits of Unix ms, see flow_time() */
	uint32_t last_ms32;
	uint8_t tcp_flags;
	/*
	 * Window accounting: 0 when the flow has nothing unreported (counters ==
	 * its window base), otherwise the cache epoch (window_epoch, 1..255) of
	 * the pane its unreported packets were accounted in. Kept in the entry so
	 * that the sweep and the per-packet "first packet of this pane?" check
	 * read only the line they already have; window_bases is read only when
	 * a flow reports.
	 */
	uint8_t window_mark;
	uint8_t pad[2];
} __rte_cache_aligned;
static_assert(sizeof(struct flow_entry) == 64, "flow entry must be one cache line");

/* What readout last reported for a slot (window accounting only). */
struct flow_window_base {
	uint64_t bytes;
	uint32_t packets;
	uint32_t pad;
};
static_assert(sizeof(struct flow_window_base) == SAFEM_FLOW_WINDOW_BYTES_PER_FLOW,
	      "window base size");

/* Signatures of one line's slots, kept apart from the entries so one miss
 * answers "which slot, if any" for all 16 ways. */
struct flow_sig_line {
	uint32_t sig[SAFEM_FLOW_LINE_SLOTS];
} __rte_cache_aligned;
static_assert(sizeof(struct flow_sig_line) == 64, "signature line must be one cache line");

struct safem_flow_cache {
	/* Read for every packet. */
	struct flow_sig_line *sig_lines;
	struct flow_entry *entries;
	struct flow_window_base *window_bases; /* NULL without window accounting */
	uint32_t line_mask;
	uint32_t inactive_timeout_ms;
	uint32_t active_timeout_ms;
	uint64_t clock_ms;        /* largest time seen by update/expire/flush */
	uint64_t oldest_first_ms; /* <= first_ms of every flow in the cache */
	safem_flow_export_fn export_fn;
	void *export_ctx;

	/* Window panes (window accounting only). */
	safem_flow_window_fn window_fn;
	void *window_ctx;
	/*
	 * Epoch of the current pane, 1..255 cycling (0 is "nothing
	 * unreported"). 8 bits are enough: pane_begin completes the sweep of
	 * the previous pane before it advances, so every mark is then 0 or the
	 * epoch being left; the new epoch differs from both.
	 */
	uint8_t window_epoch;
	bool window_sweeping;   /* flows may still hold marks of the previous epoch */
	bool window_pane_dirty; /* some flow was marked with window_epoch */
	uint32_t window_cursor; /* next slot the sweep visits */

	/* Expiry scan. */
	uint32_t scan_cursor;
	/* <= first_ms of flows that survive the current scan revolution. */
	uint64_t revolution_oldest_ms;

	struct safem_flow_cache_stats stats;

	/* Where the memory came from, for free(). */
	bool rte_memory;
	size_t memory_bytes; /* what create asked for, in --stats memory.flow_tables */
} __rte_cache_aligned;

static const char *const flow_end_reason_names[SAFEM_FLOW_END_REASON_MAX + 1] = {
#define FLOW_END_NAME_(name, value) [value] = #name,
	SAFEM_FLOW_END_REASONS(FLOW_END_NAME_)
#undef FLOW_END_NAME_
};

/* Create runs on the main lcore at start-up; per thread keeps it simple. */
static _Thread_local char flow_params_error[128];

const char *
safem_flow_end_reason_name(unsigned int reason)
{
	if (reason > SAFEM_FLOW_END_REASON_MAX || flow_end_reason_names[reason] == NULL)
		return "unknown";
	return flow_end_reason_names[reason];
}

const char *
safem_flow_cache_params_error(void)
{
	return flow_params_error;
}

size_t
safem_flow_cache_bytes_per_flow(void)
{
	return sizeof(struct flow_entry) + sizeof(uint32_t);
}

uint32_t
safem_flow_cache_capacity_for_bytes(uint64_t bytes, bool window_accounting)
{
	const uint64_t per_slot = safem_flow_cache_bytes_per_flow() +
				  (window_accounting ? SAFEM_FLOW_WINDOW_BYTES_PER_FLOW : 0);
	uint64_t slots = bytes / per_slot;

	if (slots < SAFEM_FLOW_LINE_SLOTS)
		return SAFEM_FLOW_LINE_SLOTS;
	if (slots > FLOW_CAPACITY_MAX)
		return FLOW_CAPACITY_MAX;
	return rte_align32prevpow2((uint32_t)slots);
}

uint32_t
safem_flow_cache_capacity(const struct safem_flow_cache *fc)
{
	return (fc->line_mask + 1) * SAFEM_FLOW_LINE_SLOTS;
}

const struct safem_flow_cache_stats *
safem_flow_cache_stats(const struct safem_flow_cache *fc)
{
	return &fc->stats;
}

static int __rte_format_printf(1, 2)
flow_params_invalid(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(flow_params_error, sizeof(flow_params_error), fmt, ap);
	va_end(ap);
	rte_errno = EINVAL;
	return -EINVAL;
}

static int
flow_params_check(const struct safem_flow_cache_params *params)
{
	flow_params_error[0] = '\0';
	if (params == NULL)
		return flow_params_invalid("params must not be NULL");
	if (params->capacity == 0)
		return flow_params_invalid("capacity must be > 0");
	if (params->capacity > FLOW_CAPACITY_MAX)
		return flow_params_invalid("capacity must be <= %" PRIu32 " (got %" PRIu32 ")",
					   FLOW_CAPACITY_MAX, params->capacity);
	if (params->inactive_timeout_ms == 0)
		return flow_params_invalid("inactive_timeout_ms must be > 0");
	if (params->active_timeout_ms == 0)
		return flow_params_invalid("active_timeout_ms must be > 0");
	if (params->active_timeout_ms > FLOW_ACTIVE_TIMEOUT_MAX_MS)
		return flow_params_invalid("active_timeout_ms must be <= %" PRIu32
					   " (7 days; got %" PRIu32 ")",
					   FLOW_ACTIVE_TIMEOUT_MAX_MS, params->active_timeout_ms);
	if (params->export_fn == NULL)
		return flow_params_invalid("export_fn must not be NULL");
	if (params->window_accounting && params->window_fn == NULL)
		return flow_params_invalid("window_fn must not be NULL with window_accounting");
	return 0;
}

struct safem_flow_cache *
safem_flow_cache_create(const struct safem_flow_cache_params *params)
{
	const size_t header = RTE_ALIGN_CEIL(sizeof(struct safem_flow_cache), RTE_CACHE_LINE_SIZE);
	struct safem_flow_cache *fc = NULL;
	uint32_t capacity, nlines;
	bool rte_memory = false;
	size_t size;

	if (flow_params_check(params) != 0)
		return NULL;
	capacity = rte_align32pow2(RTE_MAX(params->capacity, (uint32_t)SAFEM_FLOW_LINE_SLOTS));
	nlines = capacity / SAFEM_FLOW_LINE_SLOTS;
	size = header + (size_t)nlines * sizeof(struct flow_sig_line) +
	       (size_t)capacity * sizeof(struct flow_entry);
	if (params->window_accounting)
		size += (size_t)capacity * sizeof(struct flow_window_base);

	/*
	 * DPDK memory when it is hugepage-backed (and NUMA-placed). Without
	 * hugepages (--no-huge, unit tests without EAL) rte_malloc hands out
	 * 4 KB pages; transparent huge pages from the heap are then the better
	 * table: see docs/performance.md (1M flows: THP roughly 1.5x the 4 KB-page table).
	 * rte_lcore_count() is 0 until rte_eal_init().
	 */
	if (rte_lcore_count() > 0 && rte_eal_has_hugepages()) {
		fc = rte_zmalloc_socket(params->name, size, RTE_CACHE_LINE_SIZE,
					params->socket_id);
		rte_memory = fc != NULL;
	}
	if (fc == NULL)
		fc = safem_mem_table_alloc(size);
	if (fc == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}

	fc->sig_lines = (struct flow_sig_line *)((char *)fc + header);
	fc->entries = (struct flow_entry *)(fc->sig_lines + nlines);
	fc->window_bases = params->window_accounting
				   ? (struct flow_window_base *)(fc->entries + capacity)
				   : NULL;
	fc->line_mask = nlines - 1;
	fc->inactive_timeout_ms = params->inactive_timeout_ms;
	fc->active_timeout_ms = params->active_timeout_ms;
	fc->export_fn = params->export_fn;
	fc->export_ctx = params->export_ctx;
	fc->window_fn = params->window_fn;
	fc->window_ctx = params->window_ctx;
	fc->window_epoch = 1;
	fc->window_sweeping = false;
	fc->window_pane_dirty = false;
	fc->window_cursor = 0;
	fc->clock_ms = 0;
	fc->oldest_first_ms = 0;
	fc->scan_cursor = 0;
	fc->revolution_oldest_ms = UINT64_MAX;
	fc->rte_memory = rte_memory;
	fc->memory_bytes = size;
	safem_mem_account(SAFEM_MEM_flow_tables, (int64_t)size);
	return fc;
}

void
safem_flow_cache_free(struct safem_flow_cache *fc)
{
	if (fc == NULL)
		return;
	safem_mem_account(SAFEM_MEM_flow_tables, -(int64_t)fc->memory_bytes);
	if (fc->rte_memory)
		rte_free(fc);
	else
		safem_mem_table_free(fc);
}

/* rte_prefetch0_write() is still experimental in DPDK 22.11; this is its body
 * (PREFETCHW: the line arrives owned, so the store does not miss again). */
static inline void
flow_prefetch_write(const void *p)
{
	__builtin_prefetch(p, 1, 3);
}

/* Nonzero for every hash, so 0 can mean "empty". The line index comes from
 * the low bits, which are equal within a line, so bit 0 carries no
 * information there (except in a one-line table). */
static inline uint32_t
flow_sig(uint32_t key_hash)
{
	return key_hash | 1;
}

/* Bit i set when slot i of the line holds signature sig. */
static inline unsigned int
flow_sig_match(const struct flow_sig_line *sl, uint32_t sig)
{
#ifdef RTE_ARCH_X86
	const __m128i *v = (const __m128i *)sl->sig;
	const __m128i s = _mm_set1_epi32((int)sig);
	__m128i c0 = _mm_cmpeq_epi32(_mm_load_si128(&v[0]), s);
	__m128i c1 = _mm_cmpeq_epi32(_mm_load_si128(&v[1]), s);
	__m128i c2 = _mm_cmpeq_epi32(_mm_load_si128(&v[2]), s);
	__m128i c3 = _mm_cmpeq_epi32(_mm_load_si128(&v[3]), s);

	/* Narrow the 16 all-ones/all-zeros lanes to bytes: one movemask. */
	return (unsigned int)_mm_movemask_epi8(
		_mm_packs_epi16(_mm_packs_epi32(c0, c1), _mm_packs_epi32(c2, c3)));
#else
	unsigned int mask = 0, i;

	for (i = 0; i < SAFEM_FLOW_LINE_SLOTS; i++)
		mask |= (unsigned int)(sl->sig[i] == sig) << i;
	return mask;
#endif
}

static inline bool
flow_key_equal(const struct safem_flow_key *a, const struct safem_flow_key *b)
{
	uint64_t x[5], y[5];

	memcpy(x, a, sizeof(x));
	memcpy(y, b, sizeof(y));
	return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4])) ==
	       0;
}

/* Unix ms of a stored 32-bit time: the clock minus the serial distance. */
static inline uint64_t
flow_time(const struct safem_flow_cache *fc, uint32_t ms32)
{
	return fc->clock_ms - (uint32_t)((uint32_t)fc->clock_ms - ms32);
}

/* SAFEM_FLOW_H: a flow ends at the earlier of its two deadlines, inactive on a tie. */
static inline uint64_t
flow_deadline(const struct safem_flow_cache *fc, uint64_t first_ms, uint64_t last_ms,
	      enum safem_flow_end_reason *reason)
{
	uint64_t idle_end = last_ms + fc->inactive_timeout_ms;
	uint64_t age_end = first_ms + fc->active_timeout_ms;

	if (idle_end <= age_end) {
		*reason = SAFEM_FLOW_END_inactive;
		return idle_end;
	}
	*reason = SAFEM_FLOW_END_active;
	return age_end;
}

/* The pane a flow's unreported packets belong to, as callbacks and records name it. */
static inline unsigned int
flow_window_pane(const struct safem_flow_cache *fc, const struct flow_entry *e)
{
	return e->window_mark == fc->window_epoch ? SAFEM_FLOW_PANE_CURRENT
						  : SAFEM_FLOW_PANE_PREVIOUS;
}

/*
 * Hand a flow's unreported packets (window_mark != 0) to fn and mark them
 * reported. The one place that reads a window base on the packet path: a
 * flow's first packet of a pane, once per flow and pane.
 */
static void
flow_window_report(struct safem_flow_cache *fc, struct flow_entry *e, safem_flow_window_fn fn,
		   void *ctx, unsigned int pane)
{
	struct flow_window_base *b = &fc->window_bases[e - fc->entries];
	/* nothing reported before: the report holds the flow's first packet (the base and the
	 * entry are read here anyway: no new load) */
	uint32_t first_ms32 = b->packets == 0 ? e->first_ms32 : e->last_ms32;

	fn(&e->key, e->tcp_flags, e->packets - b->packets, e->bytes - b->bytes, first_ms32,
	   e->last_ms32, pane, ctx);
	b->packets = e->packets;
	b->bytes = e->bytes;
	e->window_mark = 0;
}

/*
 * A flow gets a packet in the current pane. Marked with an older epoch, it
 * still holds packets of the previous pane (the sweep has not reached it):
 * report them now, before this packet counts, so that each pane gets exactly
 * its own packets. Only called when the mark is not the current epoch.
 */
static __rte_noinline void
flow_window_touch(struct safem_flow_cache *fc, struct flow_entry *e)
{
	if (e->window_mark != 0) {
		flow_window_report(fc, e, fc->window_fn, fc->window_ctx, SAFEM_FLOW_PANE_PREVIOUS);
		fc->stats.window_touch_reports++;
	}
	e->window_mark = fc->window_epoch;
	fc->window_pane_dirty = true;
}

static void
flow_export(struct safem_flow_cache *fc, const struct flow_entry *e, uint64_t first_ms,
	    uint64_t last_ms, enum safem_flow_end_reason reason)
{
	struct safem_flow_record r = {
		.key = e->key,
		.packets = e->packets,
		.bytes = e->bytes,
		.first_ms = first_ms,
		.last_ms = last_ms,
		.tcp_flags = e->tcp_flags,
		.end_reason = (uint8_t)reason,
		.window_pane = SAFEM_FLOW_PANE_CURRENT,
		.window_packets = e->packets,
		.window_bytes = e->bytes,
	};

	if (fc->window_bases != NULL) {
		/* Mark 0: all reported, and the base need not be read. */
		if (e->window_mark != 0) {
			const struct flow_window_base *b = &fc->window_bases[e - fc->entries];

			r.window_pane = (uint8_t)flow_window_pane(fc, e);
			r.window_packets -= b->packets;
			r.window_bytes -= b->bytes;
		} else {
			r.window_packets = 0;
			r.window_bytes = 0;
		}
	}

	fc->export_fn(&r, fc->export_ctx);
	switch (reason) {
	case SAFEM_FLOW_END_inactive:
		fc->stats.expired_inactive++;
		break;
	case SAFEM_FLOW_END_active:
		fc->stats.expired_active++;
		break;
	case SAFEM_FLOW_END_tcp_end:
		fc->stats.expired_tcp_end++;
		break;
	case SAFEM_FLOW_END_end_of_input:
		fc->stats.expired_end_of_input++;
		break;
	case SAFEM_FLOW_END_evicted:
		fc->stats.evicted++;
		break;
	}
}

/* Export the flow in a slot and empty the slot. */
static void
flow_end(struct safem_flow_cache *fc, struct flow_sig_line *sl, unsigned int slot,
	 const struct flow_entry *e, uint64_t first_ms, uint64_t last_ms,
	 enum safem_flow_end_reason reason)
{
	flow_export(fc, e, first_ms, last_ms, reason);
	sl->sig[slot] = 0;
	fc->stats.active_flows--;
}

/* Start the loads of n signature lines from first_line, then of their occupied entries. */
static inline void
flow_prefetch_lines(const struct safem_flow_cache *fc, uint32_t first_line, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		rte_prefetch0(&fc->sig_lines[first_line + i]);
	for (i = 0; i < n; i++) {
		const struct flow_entry *entries =
			&fc->entries[(size_t)(first_line + i) * SAFEM_FLOW_LINE_SLOTS];
		unsigned int used =
			~flow_sig_match(&fc->sig_lines[first_line + i], 0) & FLOW_SLOT_MASK;

		for (; used != 0; used &= used - 1)
			rte_prefetch0(&entries[__builtin_ctz(used)]);
	}
}

/*
 * Visit count lines from first_line (no wrap) and end the flows whose
 * deadline is <= now_ms; with flush, end every flow (end_of_input when its
 * deadline is still ahead). Signature lines and then occupied entries are
 * prefetched a chunk ahead, as on the packet path.
 */
static unsigned int
flow_scan_lines(struct safem_flow_cache *fc, uint32_t first_line, uint32_t count, uint64_t now_ms,
		bool flush)
{
	unsigned int ended = 0;
	uint32_t base, i, n;

	for (base = first_line; base < first_line + count; base += n) {
		n = RTE_MIN((uint32_t)FLOW_SCAN_CHUNK, first_line + count - base);
		flow_prefetch_lines(fc, base, n);
		for (i = 0; i < n; i++) {
			struct flow_sig_line *sl = &fc->sig_lines[base + i];
			const struct flow_entry *entries =
				&fc->entries[(size_t)(base + i) * SAFEM_FLOW_LINE_SLOTS];
			unsigned int used = ~flow_sig_match(sl, 0) & FLOW_SLOT_MASK;

			for (; used != 0; used &= used - 1) {
				unsigned int slot = __builtin_ctz(used);
				const struct flow_entry *e = &entries[slot];
				uint64_t first_ms = flow_time(fc, e->first_ms32);
				uint64_t last_ms = flow_time(fc, e->last_ms32);
				enum safem_flow_end_reason reason;
				uint64_t deadline = flow_deadline(fc, first_ms, last_ms, &reason);

				if (deadline > now_ms) {
					if (!flush)
						continue;
					reason = SAFEM_FLOW_END_end_of_input;
				}
				flow_end(fc, sl, slot, e, first_ms, last_ms, reason);
				ended++;
			}
		}
	}
	return ended;
}

/*
 * Move the clock forward to now_ms. Stored times are rebuilt against the
 * clock, so before it runs more than 2^32 - 1 ms ahead of the oldest stored
 * time, every flow whose deadline has passed is ended (rebuilding against the
 * old clock, still exact). Survivors then started after now - active_timeout.
 * With the periodic scan running this does not trigger (see expire); it
 * catches replays with huge time gaps and callers that never scan.
 */
static __rte_noinline unsigned int
flow_clock_advance(struct safem_flow_cache *fc, uint64_t now_ms)
{
	unsigned int ended = 0;

	if (unlikely(now_ms - fc->oldest_first_ms > FLOW_TIME_SPAN_MAX_MS)) {
		if (fc->stats.active_flows != 0)
			ended = flow_scan_lines(fc, 0, fc->line_mask + 1, now_ms, false);
		fc->oldest_first_ms = now_ms - RTE_MIN(now_ms, (uint64_t)fc->active_timeout_ms);
	}
	fc->clock_ms = now_ms;
	return ended;
}

/* Packet time in ms; moves the clock and keeps the time representable. */
static inline uint64_t
flow_packet_ms(struct safem_flow_cache *fc, const struct safem_packet *p)
{
	uint64_t ms = p->ts_ns / NS_PER_MS;

	if (likely(ms <= fc->clock_ms)) {
		if (unlikely(fc->clock_ms - ms > FLOW_LATE_MAX_MS))
			return fc->clock_ms - FLOW_LATE_MAX_MS;
		return ms;
	}
	flow_clock_advance(fc, ms);
	return ms;
}

static inline void
flow_start(struct safem_flow_cache *fc, struct flow_entry *e, const struct safem_packet *p,
	   uint64_t pkt_ms)
{
	e->key = p->key;
	e->bytes = p->ip_bytes;
	e->packets = 1;
	e->first_ms32 = (uint32_t)pkt_ms;
	e->last_ms32 = (uint32_t)pkt_ms;
	e->tcp_flags = p->tcp_flags;
	if (fc->window_bases != NULL) {
		fc->window_bases[e - fc->entries] = (struct flow_window_base){0, 0, 0};
		e->window_mark = fc->window_epoch;
		fc->window_pane_dirty = true;
	}
	fc->stats.flows_created++;
	/* Keep the lower bounds on stored times (pkt_ms may be behind the clock). */
	if (unlikely(pkt_ms < fc->oldest_first_ms))
		fc->oldest_first_ms = pkt_ms;
	if (pkt_ms < fc->revolution_oldest_ms)
		fc->revolution_oldest_ms = pkt_ms;
}

/*
 * A flow silent for more than this many times its own mean packet gap has
 * most likely ended (no FIN seen, e.g. UDP or one direction of TCP) and only
 * waits for its inactive timeout: the first flow to make room. Of 4, 16 and
 * 64 tried on the streams of tests/tools/bench_flow_evict, 4 cut live Zipf
 * flows and 64 kept dead churned flows too long (docs/performance.md, "Flow
 * cache eviction").
 */
#define FLOW_OVERDUE_GAPS UINT64_C(16)

/*
 * Which flow of a full line a new flow replaces (none is past its deadline).
 * Reads only the packets and times of the 16 entries that stage 2 of
 * update_burst prefetched, so it adds no miss; the per-packet path does not
 * change. In order (docs/architecture.md, "Flow cache replacement"):
 *
 * 1. The least recently seen overdue flow: two or more packets and silent
 *    for more than FLOW_OVERDUE_GAPS mean gaps (time is kept in ms, so the
 *    gap counts one ms more than measured).
 * 2. A one-packet flow: the oldest if it is older than the last packet of
 *    every multi-packet flow of the line (a stale probe or scan), otherwise
 *    the newest. Taking the newest is what stops thrashing: when more flows
 *    than slots take turns on a line (a looped capture, round robin), LRU
 *    evicts exactly the flow that comes next, so every packet becomes a
 *    record; cutting the newcomer instead keeps the other flows whole and
 *    cycles the surplus through one slot.
 * 3. Otherwise (every flow has packets and is on time) the least recently
 *    seen flow.
 * Ties go to the lowest slot. The serial differences are exact: every stored
 * time is within 2^32 ms of the clock and not after it.
 */
static unsigned int
flow_line_victim(const struct safem_flow_cache *fc, const struct flow_entry *entries)
{
	const uint32_t clock32 = (uint32_t)fc->clock_ms;
	unsigned int slot, overdue = SAFEM_FLOW_LINE_SLOTS, oldest_single = SAFEM_FLOW_LINE_SLOTS;
	unsigned int newest_single = SAFEM_FLOW_LINE_SLOTS, oldest_multi = SAFEM_FLOW_LINE_SLOTS;
	uint32_t overdue_idle = 0, oldest_single_idle = 0, newest_single_idle = 0;
	uint32_t oldest_multi_idle = 0;

	for (slot = 0; slot < SAFEM_FLOW_LINE_SLOTS; slot++) {
		const struct flow_entry *e = &entries[slot];
		uint32_t idle = clock32 - e->last_ms32;
		uint64_t span;

		if (e->packets == 1) {
			if (oldest_single == SAFEM_FLOW_LINE_SLOTS || idle > oldest_single_idle) {
				oldest_single = slot;
				oldest_single_idle = idle;
			}
			if (newest_single == SAFEM_FLOW_LINE_SLOTS || idle < newest_single_idle) {
				newest_single = slot;
				newest_single_idle = idle;
			}
			continue;
		}
		if (oldest_multi == SAFEM_FLOW_LINE_SLOTS || idle > oldest_multi_idle) {
			oldest_multi = slot;
			oldest_multi_idle = idle;
		}
		/* idle > FLOW_OVERDUE_GAPS * span / (packets - 1), without a division. */
		span = (uint64_t)(e->last_ms32 - e->first_ms32) + 1;
		if ((uint64_t)idle * (e->packets - 1) > FLOW_OVERDUE_GAPS * span &&
		    (overdue == SAFEM_FLOW_LINE_SLOTS || idle > overdue_idle)) {
			overdue = slot;
			overdue_idle = idle;
		}
	}
	if (overdue != SAFEM_FLOW_LINE_SLOTS)
		return overdue;
	if (oldest_single != SAFEM_FLOW_LINE_SLOTS) {
		if (oldest_multi != SAFEM_FLOW_LINE_SLOTS && oldest_single_idle > oldest_multi_idle)
			return oldest_single;
		return newest_single;
	}
	return oldest_multi;
}

/*
 * scripts/bench-flow-evict builds this file a second time with the previous
 * rule in place of flow_line_victim() to measure what the rule costs per
 * packet in the same run (tests/tools/bench_flow_evict_lru.c).
 */
#ifndef FLOW_LINE_VICTIM
#define FLOW_LINE_VICTIM flow_line_victim
#endif

/*
 * A new flow meets a full line. Flows already past their deadline are ended
 * with their own reason first, so the record does not depend on whether the
 * scan reached them; only when none has, flow_line_victim() chooses a flow to
 * evict. Reads all 16 entries (stage 2 prefetched them).
 */
static __rte_noinline unsigned int
flow_line_make_room(struct safem_flow_cache *fc, struct flow_sig_line *sl,
		    struct flow_entry *entries)
{
	unsigned int slot, free_slot = SAFEM_FLOW_LINE_SLOTS;

	for (slot = 0; slot < SAFEM_FLOW_LINE_SLOTS; slot++) {
		const struct flow_entry *e = &entries[slot];
		uint64_t first_ms = flow_time(fc, e->first_ms32);
		uint64_t last_ms = flow_time(fc, e->last_ms32);
		enum safem_flow_end_reason reason;

		if (flow_deadline(fc, first_ms, last_ms, &reason) <= fc->clock_ms) {
			flow_end(fc, sl, slot, e, first_ms, last_ms, reason);
			if (free_slot == SAFEM_FLOW_LINE_SLOTS)
				free_slot = slot;
		}
	}
	if (free_slot != SAFEM_FLOW_LINE_SLOTS)
		return free_slot;
	slot = FLOW_LINE_VICTIM(fc, entries);
	flow_end(fc, sl, slot, &entries[slot], flow_time(fc, entries[slot].first_ms32),
		 flow_time(fc, entries[slot].last_ms32), SAFEM_FLOW_END_evicted);
	return slot;
}

/* Stage 3 of update_burst: find or create the packet's flow and account it. */
static inline void
flow_account(struct safem_flow_cache *fc, const struct safem_packet *p, uint32_t line)
{
	struct flow_sig_line *sl = &fc->sig_lines[line];
	struct flow_entry *entries = &fc->entries[(size_t)line * SAFEM_FLOW_LINE_SLOTS];
	const uint32_t sig = flow_sig(p->key_hash);
	/* First: moving the clock may end flows in any line, this one included. */
	const uint64_t pkt_ms = flow_packet_ms(fc, p);
	unsigned int match, slot;
	struct flow_entry *e;

	/* Re-read the line rather than trust stage 2: an earlier packet of this
	 * chunk may have created this very flow or reused a slot. */
	for (match = flow_sig_match(sl, sig); match != 0; match &= match - 1) {
		slot = __builtin_ctz(match);
		e = &entries[slot];
		if (likely(flow_key_equal(&e->key, &p->key)))
			goto found;
	}

	match = flow_sig_match(sl, 0);
	slot = likely(match != 0) ? (unsigned int)__builtin_ctz(match)
				  : flow_line_make_room(fc, sl, entries);
	e = &entries[slot];
	sl->sig[slot] = sig;
	fc->stats.active_flows++;
	flow_start(fc, e, p, pkt_ms);
	goto accounted;

found: {
	uint64_t first_ms = flow_time(fc, e->first_ms32);
	uint64_t last_ms = flow_time(fc, e->last_ms32);
	enum safem_flow_end_reason reason;
	uint64_t deadline = flow_deadline(fc, first_ms, last_ms, &reason);

	if (unlikely(pkt_ms >= deadline || e->packets == UINT32_MAX)) {
		/* The deadline passed before this packet, or the packet counter
		 * would wrap (IPFIX: active timeout): end it, start afresh. */
		if (pkt_ms < deadline)
			reason = SAFEM_FLOW_END_active;
		flow_export(fc, e, first_ms, last_ms, reason);
		flow_start(fc, e, p, pkt_ms);
	} else {
		/* Its first packet of this pane (first touch): see flow_window_touch(). */
		if (fc->window_bases != NULL && unlikely(e->window_mark != fc->window_epoch))
			flow_window_touch(fc, e);
		e->packets++;
		e->bytes += p->ip_bytes;
		e->tcp_flags |= p->tcp_flags;
		/* Serial comparison: last never moves back for a reordered packet. */
		if ((int32_t)((uint32_t)pkt_ms - e->last_ms32) > 0)
			e->last_ms32 = (uint32_t)pkt_ms;
	}
}
accounted:
	fc->stats.packets++;
	fc->stats.bytes += p->ip_bytes;
	if (unlikely(p->key.proto == FLOW_PROTO_TCP &&
		     (p->tcp_flags & (FLOW_TCP_FIN | FLOW_TCP_RST)) != 0))
		flow_end(fc, sl, slot, e, flow_time(fc, e->first_ms32), flow_time(fc, e->last_ms32),
			 SAFEM_FLOW_END_tcp_end);
}

void
safem_flow_cache_update_burst(struct safem_flow_cache *fc, const struct safem_packet *pkts,
			      unsigned int n)
{
	uint32_t line[FLOW_BURST_CHUNK];
	unsigned int base, i, m;

	for (base = 0; base < n; base += m) {
		const struct safem_packet *chunk = &pkts[base];

		m = RTE_MIN(n - base, (unsigned int)FLOW_BURST_CHUNK);
		/* Stage 1: start every signature line load. */
		for (i = 0; i < m; i++) {
			line[i] = chunk[i].key_hash & fc->line_mask;
			rte_prefetch0(&fc->sig_lines[line[i]]);
		}
		/* Stage 2: start the entry loads stage 3 will write. */
		for (i = 0; i < m; i++) {
			const struct flow_sig_line *sl = &fc->sig_lines[line[i]];
			struct flow_entry *entries =
				&fc->entries[(size_t)line[i] * SAFEM_FLOW_LINE_SLOTS];
			unsigned int match = flow_sig_match(sl, flow_sig(chunk[i].key_hash));
			unsigned int empty, slot;

			if (likely(match != 0)) {
				for (; match != 0; match &= match - 1)
					flow_prefetch_write(&entries[__builtin_ctz(match)]);
				continue;
			}
			empty = flow_sig_match(sl, 0);
			if (likely(empty != 0)) {
				flow_prefetch_write(&entries[__builtin_ctz(empty)]);
				continue;
			}
			/* Full line: choosing what to end reads every entry. */
			for (slot = 0; slot < SAFEM_FLOW_LINE_SLOTS; slot++)
				rte_prefetch0(&entries[slot]);
		}
		/* Stage 3: in packet order, so per-flow time order is kept. */
		for (i = 0; i < m; i++)
			flow_account(fc, &chunk[i], line[i]);
	}
}

unsigned int
safem_flow_cache_expire(struct safem_flow_cache *fc, uint64_t now_ms, unsigned int max_lines)
{
	const uint32_t nlines = fc->line_mask + 1;
	/* A flow that survives a visit at now_ms started after this. */
	const uint64_t survivor_bound =
		now_ms - RTE_MIN(now_ms, (uint64_t)fc->active_timeout_ms);
	unsigned int ended = 0;
	uint32_t todo, n;

	if (now_ms > fc->clock_ms)
		ended = flow_clock_advance(fc, now_ms);
	if (survivor_bound < fc->revolution_oldest_ms)
		fc->revolution_oldest_ms = survivor_bound;

	/* Never visit a line twice in one call: the bound is the table. */
	todo = (uint32_t)RTE_MIN((uint64_t)max_lines, (uint64_t)nlines);
	fc->stats.scanned_lines += todo;
	for (; todo != 0; todo -= n) {
		n = RTE_MIN(todo, nlines - fc->scan_cursor);
		ended += flow_scan_lines(fc, fc->scan_cursor, n, now_ms, false);
		fc->scan_cursor += n;
		if (fc->scan_cursor == nlines) {
			/*
			 * Every line was visited since the revolution began, so
			 * every flow either survived a visit or started since:
			 * the revolution's bound now holds for the whole cache,
			 * and the clock never has to force a full scan.
			 */
			fc->scan_cursor = 0;
			fc->oldest_first_ms =
				RTE_MAX(fc->oldest_first_ms, fc->revolution_oldest_ms);
			fc->revolution_oldest_ms = survivor_bound;
		}
	}
	return ended;
}

void
safem_flow_cache_flush(struct safem_flow_cache *fc, uint64_t end_ms)
{
	if (end_ms > fc->clock_ms)
		flow_clock_advance(fc, end_ms);
	flow_scan_lines(fc, 0, fc->line_mask + 1, end_ms, true);
}

/*
 * Visit slots from *cursor on (to the end of the table at most) and report
 * every flow whose unreported packets belong to pane (flow_window_pane()),
 * through fn. Stops after max_lines lines begun or max_reports reports;
 * *cursor is then the next slot to visit (the table's capacity once done).
 * Prefetches a chunk ahead as the expiry scan does: signature lines, then
 * occupied entries, then the window bases of the flows that will report
 * (known once their entries are in; most flows of a busy pane report).
 */
static unsigned int
flow_window_sweep(struct safem_flow_cache *fc, uint32_t *cursor, unsigned int max_lines,
		  unsigned int max_reports, safem_flow_window_fn fn, void *ctx, unsigned int pane)
{
	const uint32_t nlines = fc->line_mask + 1;
	uint32_t line = *cursor / SAFEM_FLOW_LINE_SLOTS;
	/* Slots of the first line already visited by the previous call. */
	unsigned int skip = (1u << (*cursor % SAFEM_FLOW_LINE_SLOTS)) - 1;
	unsigned int report_mask[FLOW_SCAN_CHUNK];
	unsigned int reports = 0, lines = 0;
	uint32_t i, n;

	/* No budget: keep the cursor where it is (it may be inside a line). */
	if (max_lines == 0 || max_reports == 0)
		return 0;
	while (line < nlines && lines < max_lines && reports < max_reports) {
		n = RTE_MIN((uint32_t)FLOW_SCAN_CHUNK, nlines - line);
		n = RTE_MIN(n, max_lines - lines);
		flow_prefetch_lines(fc, line, n);
		for (i = 0; i < n; i++) {
			const size_t first = (size_t)(line + i) * SAFEM_FLOW_LINE_SLOTS;
			unsigned int used = ~flow_sig_match(&fc->sig_lines[line + i], 0) &
					    FLOW_SLOT_MASK & ~(i == 0 ? skip : 0);

			report_mask[i] = 0;
			for (; used != 0; used &= used - 1) {
				unsigned int slot = __builtin_ctz(used);
				const struct flow_entry *e = &fc->entries[first + slot];

				if (e->window_mark != 0 && flow_window_pane(fc, e) == pane) {
					report_mask[i] |= 1u << slot;
					flow_prefetch_write(&fc->window_bases[first + slot]);
				}
			}
		}
		for (i = 0; i < n; i++) {
			const size_t first = (size_t)(line + i) * SAFEM_FLOW_LINE_SLOTS;
			unsigned int todo = report_mask[i];

			lines++;
			for (; todo != 0; todo &= todo - 1) {
				unsigned int slot = __builtin_ctz(todo);

				flow_window_report(fc, &fc->entries[first + slot], fn, ctx, pane);
				if (++reports == max_reports) {
					*cursor = (uint32_t)(first + slot + 1);
					goto out;
				}
			}
		}
		line += n;
		skip = 0;
	}
	*cursor = line * SAFEM_FLOW_LINE_SLOTS;
out:
	if (pane == SAFEM_FLOW_PANE_PREVIOUS)
		fc->stats.window_sweep_reports += reports;
	return reports;
}

void
safem_flow_cache_pane_begin(struct safem_flow_cache *fc)
{
	if (fc->window_bases == NULL)
		return;
	if (fc->window_sweeping) {
		/* The caller did not finish it: the only O(capacity) step left. */
		fc->stats.window_sweeps_forced++;
		flow_window_sweep(fc, &fc->window_cursor, UINT_MAX, UINT_MAX, fc->window_fn,
				  fc->window_ctx, SAFEM_FLOW_PANE_PREVIOUS);
	}
	/* No flow was marked in the pane now ending: there is nothing to sweep. */
	fc->window_sweeping = fc->window_pane_dirty;
	fc->window_pane_dirty = false;
	fc->window_cursor = 0;
	fc->window_epoch = fc->window_epoch == UINT8_MAX ? 1 : fc->window_epoch + 1;
}

bool
safem_flow_cache_pane_sweep(struct safem_flow_cache *fc, unsigned int max_lines,
			    unsigned int max_reports)
{
	if (!fc->window_sweeping)
		return true;
	flow_window_sweep(fc, &fc->window_cursor, max_lines, max_reports, fc->window_fn,
			  fc->window_ctx, SAFEM_FLOW_PANE_PREVIOUS);
	if (fc->window_cursor < safem_flow_cache_capacity(fc))
		return false;
	fc->window_sweeping = false;
	return true;
}

unsigned int
safem_flow_cache_readout(struct safem_flow_cache *fc, safem_flow_window_fn fn, void *ctx)
{
	uint32_t cursor = 0;
	unsigned int reported;

	if (fc->window_bases == NULL)
		return 0;
	if (fc->window_sweeping) {
		flow_window_sweep(fc, &fc->window_cursor, UINT_MAX, UINT_MAX, fc->window_fn,
				  fc->window_ctx, SAFEM_FLOW_PANE_PREVIOUS);
		fc->window_sweeping = false;
	}
	/* Every mark is now 0 or the current epoch. */
	reported = flow_window_sweep(fc, &cursor, UINT_MAX, UINT_MAX, fn, ctx,
				     SAFEM_FLOW_PANE_CURRENT);
	fc->window_pane_dirty = false;
	return reported;
}
