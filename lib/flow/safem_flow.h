/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SAFEM_FLOW_H
#define SAFEM_FLOW_H

/**
 * @file
 * Per-core flow cache: a set-associative table of unidirectional flows
 * (ipfixprobe-style lines of SAFEM_FLOW_LINE_SLOTS slots with a separate
 * signature line), owned by exactly one lcore. No locks, no atomics, no
 * allocation after create, no logging.
 *
 * Expiry is defined by deadlines, not by when the cache happens to look:
 * a flow ends at min(last + inactive_timeout, first + active_timeout) with
 * the reason of the earlier deadline (inactive wins a tie). Whether the
 * cache notices it on the flow's next packet, in the periodic scan or in the
 * final flush, the record is the same. This is what makes output independent
 * of worker count and replay speed (STYLE.md rule 15).
 */

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>

#include "safem_packet.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Flow end reasons; the values are IPFIX flowEndReason (IE 136). */
#define SAFEM_FLOW_END_REASONS(X)                                                                  \
	X(inactive, 1)     /* idleTimeout: no packet for inactive_timeout */                     \
	X(active, 2)       /* activeTimeout: flow older than active_timeout (or counter wrap) */ \
	X(tcp_end, 3)      /* endOfFlowDetected: TCP FIN or RST seen */                          \
	X(end_of_input, 4) /* forcedEnd: end of capture, SIGINT/SIGTERM, --duration */           \
	X(evicted, 5)      /* lackOfResources: cache line full, replaced by a new flow */

enum safem_flow_end_reason {
#define SAFEM_FLOW_END_ENUM_(name, value) SAFEM_FLOW_END_##name = value,
	SAFEM_FLOW_END_REASONS(SAFEM_FLOW_END_ENUM_)
#undef SAFEM_FLOW_END_ENUM_
};
#define SAFEM_FLOW_END_REASON_MAX 5

/** Name of an end reason ("inactive", ...), "unknown" for anything else. */
const char *safem_flow_end_reason_name(unsigned int reason);

/** An expired flow as handed to exporters. */
struct safem_flow_record {
	struct safem_flow_key key;
	uint64_t packets;
	uint64_t bytes; /**< IP-layer bytes (octetDeltaCount) */
	uint64_t first_ms; /**< Unix ms of the first packet */
	uint64_t last_ms;  /**< Unix ms of the last packet */
	uint8_t tcp_flags; /**< union of TCP flags */
	uint8_t end_reason; /**< enum safem_flow_end_reason */
	/**
	 * SAFEM_FLOW_PANE_CURRENT or SAFEM_FLOW_PANE_PREVIOUS: the pane that
	 * window_packets/window_bytes belong to, seen from the moment of export
	 * (PREVIOUS only while the sweep of the previous pane is unfinished).
	 * CURRENT when window_packets is 0 or without window accounting.
	 */
	uint8_t window_pane;
	uint8_t reserved[5];
	/**
	 * With window accounting: the part of packets/bytes not yet reported
	 * through window_fn, i.e. what this flow adds to the pane named by
	 * window_pane. Without it, equal to packets/bytes.
	 */
	uint64_t window_packets;
	uint64_t window_bytes;
};
static_assert(sizeof(struct safem_flow_record) == 96, "flow record layout");

/** Called for every record the cache expires; must not keep the pointer. */
typedef void (*safem_flow_export_fn)(const struct safem_flow_record *record, void *ctx);

/** Slots per line (ways of the set-associative table). */
#define SAFEM_FLOW_LINE_SLOTS 16

/** Cache counters, one list for fields and names (STYLE.md rule 13). */
#define SAFEM_FLOW_CACHE_COUNTERS(X)                                                               \
	X(packets)          /* packets accounted into flows */                                  \
	X(bytes)            /* IP bytes accounted into flows */                                 \
	X(flows_created)                                                                          \
	X(expired_inactive)                                                                       \
	X(expired_active)                                                                         \
	X(expired_tcp_end)                                                                        \
	X(expired_end_of_input)                                                                   \
	X(evicted)          /* flows pushed out of a full line (end reason evicted) */          \
	X(scanned_lines)    /* lines visited by safem_flow_cache_expire() */                    \
	X(window_touch_reports) /* previous-pane reports by a flow's first packet of a pane */ \
	X(window_sweep_reports) /* previous-pane reports by the sweep */                       \
	X(window_sweeps_forced) /* pane_begin found the previous sweep unfinished */

struct safem_flow_cache_stats {
#define SAFEM_FLOW_CACHE_FIELD_(name) uint64_t name;
	SAFEM_FLOW_CACHE_COUNTERS(SAFEM_FLOW_CACHE_FIELD_)
#undef SAFEM_FLOW_CACHE_FIELD_
	uint64_t active_flows; /**< flows currently in the cache (gauge) */
};

/** Values of the pane argument of safem_flow_window_fn and of a record's window_pane. */
#define SAFEM_FLOW_PANE_CURRENT 0  /**< the pane begun by the last safem_flow_cache_pane_begin() */
#define SAFEM_FLOW_PANE_PREVIOUS 1 /**< the pane before it, while its sweep is unfinished */

/**
 * A flow's activity in one window pane that was not reported before (window
 * accounting): packets and bytes > 0; tcp_flags is the OR of all the flow's
 * packets' flags so far; last_ms32 is the low 32 bits of the Unix ms of the
 * flow's last packet so far (its last packet in that pane: a flow reports a
 * pane before a later pane's packet counts); first_ms32 is the same for its
 * first packet when the flow began in this report (no earlier report took any
 * of its packets), else last_ms32 (the cache keeps a flow's first and last
 * packets, not when a later pane's packets began), so a report is never dated
 * earlier than its packets; pane is SAFEM_FLOW_PANE_CURRENT or _PREVIOUS.
 * Called on the cache's lcore from update_burst, pane_begin, pane_sweep and
 * readout; must not call back into the cache.
 */
typedef void (*safem_flow_window_fn)(const struct safem_flow_key *key, uint8_t tcp_flags,
				     uint64_t packets, uint64_t bytes, uint32_t first_ms32,
				     uint32_t last_ms32, unsigned int pane, void *ctx);

struct safem_flow_cache_params {
	const char *name;            /**< for rte_zmalloc accounting and messages */
	uint32_t capacity;           /**< flows; rounded up to a power of two >= SAFEM_FLOW_LINE_SLOTS */
	uint32_t inactive_timeout_ms; /**< > 0 */
	uint32_t active_timeout_ms;   /**< > 0, <= 7 days (times are kept as 32-bit ms offsets) */
	int socket_id;               /**< NUMA socket for the table (SOCKET_ID_ANY ok) */
	safem_flow_export_fn export_fn; /**< required */
	void *export_ctx;
	/**
	 * Keep per-slot "already reported" counters (16 more bytes per slot,
	 * outside the 64-byte entry, read only when a flow reports) so that each
	 * window pane gets exactly what a flow did in it, through window_fn.
	 */
	bool window_accounting;
	/** Window reports (required with window_accounting); see safem_flow_window_fn. */
	safem_flow_window_fn window_fn;
	void *window_ctx;
};

struct safem_flow_cache;

/**
 * Create a cache. Returns NULL with rte_errno = EINVAL (a field of params is
 * out of range; the message is in safem_flow_cache_params_error()) or ENOMEM.
 * capacity may be at most 2^31. Table memory is capacity x
 * safem_flow_cache_bytes_per_flow() bytes.
 * Works without rte_eal_init() (falls back to aligned heap memory) so units
 * can test it.
 */
struct safem_flow_cache *safem_flow_cache_create(const struct safem_flow_cache_params *params);

/** Why the last create failed with EINVAL, naming the parameter. */
const char *safem_flow_cache_params_error(void);

void safem_flow_cache_free(struct safem_flow_cache *fc);

/**
 * Account a burst of parsed packets. Each packet must have key_hash set
 * (safem_flow_key_hash). Hashes are looked up in bulk with prefetch of the
 * signature lines and then the candidate slots. Packets must be in time order
 * per flow; a packet whose time is at or past its flow's deadline first
 * exports the flow (reason of the deadline) and starts a new one. A packet
 * with TCP FIN or RST is accounted and then its flow is exported (tcp_end).
 * A new flow in a full line first ends the flows of that line already past
 * their deadline at the cache clock, with their own reason. Only if there
 * are none does it evict one flow (reason evicted, counted in evicted), in
 * this order of preference:
 *   1. a flow with two or more packets silent for more than 16 times its own
 *      mean packet gap (it has most likely ended), the least recently seen;
 *   2. a one-packet flow: the oldest one if it is older than the last packet
 *      of every multi-packet flow of the line, otherwise the newest one;
 *   3. the least recently seen flow.
 * Rule 2 is what keeps a line from thrashing when more flows than slots take
 * turns on it (a looped capture): LRU would evict exactly the flow that comes
 * next and make every packet a record; this rule keeps the established flows
 * whole and cycles the surplus through one slot. See docs/performance.md,
 * "Flow cache eviction", for the measurements behind it.
 * The cache clock is the largest time seen by update/expire/flush; a packet
 * more than 2^31 ms (24.8 days) behind it has a broken timestamp and is
 * accounted at clock - 2^31 ms so that 32-bit stored times stay exact.
 */
void safem_flow_cache_update_burst(struct safem_flow_cache *fc, const struct safem_packet *pkts,
				   unsigned int n);

/**
 * Scan up to max_lines lines (round robin) and export flows whose deadline
 * is <= now_ms. Bounded work per call: the caller sets the budget per burst.
 * Exception: when the clock (here, in update_burst or in flush) moves so far
 * that a stored 32-bit time could become ambiguous (a gap of about 49 days
 * with no scan revolution finished), every flow past its deadline is first
 * ended in one full pass. Regular scanning prevents this.
 * @return number of flows exported (including any such pass in this call).
 */
unsigned int safem_flow_cache_expire(struct safem_flow_cache *fc, uint64_t now_ms,
				     unsigned int max_lines);

/**
 * Export every flow (end of input or shutdown). A flow whose deadline is
 * <= end_ms gets that deadline's reason, any other gets end_of_input, so the
 * final records do not depend on how far the scan had got.
 */
void safem_flow_cache_flush(struct safem_flow_cache *fc, uint64_t end_ms);

/**
 * Window boundary (window accounting): pane i ends and pane i + 1 begins.
 * From here on, "current" in reports and records means pane i + 1 and
 * "previous" pane i. What flows did in pane i reaches window_fn (pane
 * PREVIOUS) incrementally: from safem_flow_cache_pane_sweep(), or from a
 * flow's first packet in pane i + 1 (reported before that packet counts), or
 * as the window part of its record if it ends first (window_pane PREVIOUS).
 * If the sweep of pane i - 1 is still unfinished, it is completed here first,
 * synchronously (O(capacity): callers finish it with pane_sweep before the
 * next boundary; counted in window_sweeps_forced). A pane in which no packet
 * was accounted starts no sweep. No-op without window accounting.
 *
 * Exactness: for any sequence of packets, pane_begin, pane_sweep, expire and
 * flush, each flow is reported at most once per pane, and the reports plus
 * record window parts attributed to a pane add up to exactly the packets and
 * bytes accounted between its begin and the next begin.
 */
void safem_flow_cache_pane_begin(struct safem_flow_cache *fc);

/**
 * Continue reading out the previous pane: visit slots from where the last
 * call stopped, report (pane PREVIOUS) every flow with unreported packets of
 * the previous pane and mark it reported. Stops after max_lines lines (a line
 * the call starts or resumes counts as one) or max_reports reports, whichever
 * comes first: bounded work per call, for the caller's poll loop.
 * @return true when the whole table has been visited (or no sweep is
 *   running): every report of the previous pane has then been made, and it
 *   can be closed. False otherwise (also when a budget is 0).
 */
bool safem_flow_cache_pane_sweep(struct safem_flow_cache *fc, unsigned int max_lines,
				 unsigned int max_reports);

/**
 * Everything at once, for callers that close a pane in one step (tests,
 * tools): completes an unfinished sweep (through window_fn, pane PREVIOUS),
 * then calls fn (pane CURRENT) for every flow with unreported packets and
 * marks them reported, so the current pane starts again from empty.
 * O(capacity). 0 without window accounting.
 * @return number of flows reported to fn.
 */
unsigned int safem_flow_cache_readout(struct safem_flow_cache *fc, safem_flow_window_fn fn,
				      void *ctx);

/** Counters (owned by the cache's lcore; other lcores may read them racily for monitoring). */
const struct safem_flow_cache_stats *safem_flow_cache_stats(const struct safem_flow_cache *fc);

/** Slots in the table (capacity after rounding). */
uint32_t safem_flow_cache_capacity(const struct safem_flow_cache *fc);

/** Bytes of table memory per flow slot (entry + its signature), without window accounting. */
size_t safem_flow_cache_bytes_per_flow(void);

/**
 * The largest power-of-two capacity whose table (with window accounting if
 * asked) fits in bytes; at least SAFEM_FLOW_LINE_SLOTS, at most 2^31. For
 * sizing a cache from a memory budget.
 */
uint32_t safem_flow_cache_capacity_for_bytes(uint64_t bytes, bool window_accounting);


/** Extra bytes per slot when window_accounting is on. */
#define SAFEM_FLOW_WINDOW_BYTES_PER_FLOW 16

#ifdef __cplusplus
}
#endif

#endif /* SAFEM_FLOW_H */
