/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The packet path, top to bottom:
 *
 *   rte_eth_rx_burst -> parse (prefetching frames ahead) -> free mbufs
 *     -> [software RSS: packets owned by another worker go to its ring]
 *     -> safem_flow_cache_update_burst (bulk lookup with prefetch)
 *     -> expired records -> safem_handoff_put -> main lcore
 *   plus, every loop: drain own dispatch ring, bounded expiry scan.
 *
 * Nothing here locks, allocates or logs. The only cross-core writes are ring
 * operations (one per burst per destination, one per 64 records) and the
 * end-of-run flags.
 */
#include <string.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_pause.h>
#include <rte_prefetch.h>
#include <rte_random.h>

#include "probe_worker.h"

/* Frames prefetched ahead of the one being parsed. */
#define PREFETCH_AHEAD 4

/* net_pcap in DPDK 22.11 stamps microseconds; later releases nanoseconds.
 * Any Unix time in µs stays below 1e17 until the year 5138, so a larger
 * value is already in ns. */
#define TIMESTAMP_NS_THRESHOLD 100000000000000000ull

#define NS_PER_MS 1000000ull

/* Readout slice per worker loop: 64 reported flows (~0.5 us each into the
 * trees and feature tables) or sweep_lines lines (probe_worker.h), whichever
 * first: tens of microseconds, against the 275 us a 4096-descriptor RX ring
 * lasts at 14.88 Mpps. */
#define WINDOW_SWEEP_REPORTS 64

/* A tick is a parsed-packet slot with no IP version: "time is now ts_ns". */
static inline bool
is_tick(const struct safem_packet *p)
{
	return p->key.ip_version == 0;
}

static void
window_add(struct probe_worker *w, enum safem_window_target target,
	   const struct safem_flow_key *key, uint8_t tcp_flags, uint64_t packets, uint64_t bytes,
	   uint32_t first_ms32, uint32_t last_ms32)
{
	uint64_t scale = w->shared->sample_rate;

	/* Sampled traffic: volumes scaled back, flows as seen (seed 002). */
	if (safem_window_producer_add(w->window, target, key, tcp_flags, packets * scale,
				      bytes * scale, first_ms32, last_ms32))
		w->stats.window_flows++;
	else
		w->stats.window_flows_sampled_out++;
}

static inline enum safem_window_target
window_target(unsigned int flow_pane)
{
	return flow_pane == SAFEM_FLOW_PANE_PREVIOUS ? SAFEM_WINDOW_CLOSING : SAFEM_WINDOW_CURRENT;
}

void
probe_worker_window_flow(const struct safem_flow_key *key, uint8_t tcp_flags, uint64_t packets,
			 uint64_t bytes, uint32_t first_ms32, uint32_t last_ms32, unsigned int pane,
			 void *ctx)
{
	window_add(ctx, window_target(pane), key, tcp_flags, packets, bytes, first_ms32,
		   last_ms32);
}

void
probe_worker_export(const struct safem_flow_record *record, void *ctx)
{
	struct probe_worker *w = ctx;

	/* What the flow did since the last window boundary belongs to this window; all of
	 * its packets (none reported before): its first packet is in it too
	 * (safem_flow_window_fn's first_ms32). */
	if (w->window != NULL && record->window_packets != 0) {
		uint64_t first = record->window_packets == record->packets ? record->first_ms
									    : record->last_ms;

		window_add(w, window_target(record->window_pane), &record->key, record->tcp_flags,
			   record->window_packets, record->window_bytes, (uint32_t)first,
			   (uint32_t)record->last_ms);
	}
	/* A drop (live mode, consumer too slow) is counted by the hand-off. */
	if (unlikely(w->shared->sample_rate > 1)) {
		struct safem_flow_record scaled = *record;

		scaled.packets *= w->shared->sample_rate;
		scaled.bytes *= w->shared->sample_rate;
		safem_handoff_put(w->shared->handoff, w->index, &scaled);
		return;
	}
	safem_handoff_put(w->shared->handoff, w->index, record);
}

/*
 * 1-in-N packet selection (--sample). Hash mode is deterministic: a hash of
 * the flow key hash, the packet time and its IP length (fields that differ
 * between the packets of a flow), so a replay selects the same packets with
 * any number of workers. Random mode draws from rte_rand(), per packet.
 */
static inline bool
sample_keep(const struct probe_shared *s, const struct safem_packet *p)
{
	uint64_t h;

	if (likely(s->sample_rate <= 1))
		return true;
	if (s->sample_random)
		return rte_rand_max(s->sample_rate) == 0;
	h = ((uint64_t)p->key_hash << 32 | p->ip_bytes) ^ p->ts_ns * UINT64_C(0x9e3779b97f4a7c15);
	h ^= h >> 31;
	h *= UINT64_C(0xbf58476d1ce4e5b9);
	h ^= h >> 29;
	/* Multiply-shift onto [0, rate): no division per packet. */
	return (uint32_t)(((h >> 32) * s->sample_rate) >> 32) == 0;
}

static inline bool
stop_requested(const struct probe_shared *s)
{
	return __atomic_load_n(&s->stop, __ATOMIC_RELAXED) != 0;
}

static inline uint64_t
tsc_to_us(uint64_t tsc)
{
	return tsc * 1000000 / rte_get_tsc_hz();
}

/*
 * How long a wait on another core may last. Replay (packet clock) must lose
 * nothing, so it waits while the other side makes progress and gives up only
 * when it has made none for stall_tsc: that is a wedge, and a counted loss
 * beats a hung probe. Live ports wait at most live_tsc (0: not at all), far
 * less than an RX ring lasts. Once stop is set, a live worker waits no
 * longer than stop_wait_tsc without progress, so a signal ends the run.
 */
static inline bool
wait_expired(const struct probe_shared *s, uint64_t now, uint64_t wait_start,
	     uint64_t last_progress, uint64_t live_tsc)
{
	if (!s->packet_clock && now - wait_start >= live_tsc)
		return true;
	if (now - last_progress > s->stall_tsc)
		return true;
	/* A replay must be complete even when stopped: a disk that stalls the
	 * writer for seconds (dirty page throttling) is no reason to drop. */
	return !s->packet_clock && stop_requested(s) && now - last_progress > s->stop_wait_tsc;
}

/*
 * Start closing the open pane: it becomes the closing pane and a new one
 * opens. A pane buffer comes back when the analysis has merged that pane
 * from every worker; if none comes back within the wait bound, the pane's
 * content is dropped (counted) and the worker goes on: the analysis merges
 * that interval without it.
 */
static void
window_rotate(struct probe_worker *w)
{
	const struct probe_shared *s = w->shared;
	uint64_t wait_start = 0, now;
	uint64_t start_ms = safem_pane_clock_start(&w->panes);

	while (!safem_window_producer_try_rotate(w->window, start_ms, start_ms + s->pane_ms)) {
		now = rte_rdtsc();
		if (wait_start == 0)
			wait_start = now;
		/* The last wait ran out and still no buffer: drop at once, one
		 * bound per stall of the analysis, not one per pane. */
		if (w->rotate_stalled || wait_expired(s, now, wait_start, wait_start, 0)) {
			safem_window_producer_drop(w->window);
			w->stats.window_panes_dropped++;
			w->rotate_stalled = true;
			break;
		}
		rte_pause();
	}
	if (wait_start == 0)
		w->rotate_stalled = false;
	else
		w->stats.window_wait_us += tsc_to_us(rte_rdtsc() - wait_start);
}

/* Hand the closing pane to the analysis, behind every record exported before it. */
static void
window_finish(struct probe_worker *w)
{
	struct safem_window_pane *pane = safem_window_producer_finish(w->window);

	w->sweeping = false;
	if (pane == NULL)
		return; /* dropped: no buffer came back in time */
	pane->close_ns = (uint64_t)((double)w->close_tsc * w->shared->ns_per_tsc);
	/* Cannot fail: the hand-off keeps a batch per pane buffer for marks. */
	safem_handoff_mark(w->shared->handoff, w->index, pane);
	w->stats.windows_closed++;
}

/*
 * Between bursts: read out a bounded slice of the flow cache into the closing
 * pane (what flows did before the boundary; flows touched since reported it
 * themselves). The whole table is covered in a few thousand loops, long
 * before the next boundary, so the window close never stops RX polling for
 * longer than one slice.
 */
static void
window_sweep_step(struct probe_worker *w)
{
	uint64_t t0 = rte_rdtsc();
	/* Half the next pane gone and still sweeping (a busy or preempted
	 * worker): bigger slices, so the sweep ends before the boundary would
	 * force the rest in one go. */
	unsigned int scale = w->clock_ns / NS_PER_MS >=
					     safem_pane_clock_start(&w->panes) + w->shared->pane_ms / 2
				     ? 4
				     : 1;
	bool done = safem_flow_cache_pane_sweep(w->cache, w->sweep_lines * scale,
						WINDOW_SWEEP_REPORTS * scale);

	w->close_tsc += rte_rdtsc() - t0;
	if (done)
		window_finish(w);
}

/* The closing pane must be complete now (next boundary, end of run): finish
 * its readout in one go. Rare: a sweep normally ends long before. */
static void
window_complete(struct probe_worker *w, bool at_boundary)
{
	uint64_t t0 = rte_rdtsc();

	if (!w->sweeping)
		return;
	while (!safem_flow_cache_pane_sweep(w->cache, UINT32_MAX, UINT32_MAX))
		;
	if (at_boundary)
		w->stats.window_sweeps_forced++;
	w->close_tsc += rte_rdtsc() - t0;
	window_finish(w);
}

/*
 * A boundary: the open pane becomes the closing pane, a new one opens, and
 * the flow cache starts a new readout epoch. The closing pane is handed over
 * once its readout sweep is done (window_sweep_step).
 */
static void
window_close_pane(struct probe_worker *w)
{
	uint64_t t0 = rte_rdtsc();

	window_complete(w, true);
	window_rotate(w);
	/* Even after a drop (no closing pane) the epoch moves on, so the next
	 * pane does not get the old packets: their reports go nowhere. */
	safem_flow_cache_pane_begin(w->cache);
	w->sweeping = true;
	w->close_tsc = rte_rdtsc() - t0;
}

/*
 * Close window panes up to now_ms. A clock that jumps further than the gap
 * past the pane end (a bad timestamp, a capture with a hole, a suspended VM)
 * closes the open pane and skips straight to the pane of now_ms, instead of
 * handing over one empty pane per slide of the gap (five years of 1 s panes
 * would be 157 million reports).
 */
static void
window_advance(struct probe_worker *w, uint64_t now_ms)
{
	while (safem_pane_clock_due(&w->panes, now_ms)) {
		uint64_t closed_end_ms = w->panes.end_ms;

		window_close_pane(w);
		if (safem_pane_clock_next(&w->panes, now_ms)) {
			w->stats.time_jumps++;
			safem_window_producer_note_jump(w->window, closed_end_ms);
		}
	}
}

/*
 * Account packets in order. With windows, a pane closes right before the
 * first packet at or past its end, so every packet lands in the pane of its
 * timestamp; ticks from dispatchers move idle workers' panes along.
 */
static void
account_packets(struct probe_worker *w, const struct safem_packet *pkts, unsigned int n)
{
	unsigned int start = 0, i;

	if (w->window == NULL) {
		safem_flow_cache_update_burst(w->cache, pkts, n);
		return;
	}
	for (i = 0; i < n; i++) {
		uint64_t ms = pkts[i].ts_ns / NS_PER_MS;

		bool tick = is_tick(&pkts[i]);

		/* A packet stamped before the open pane lands in it (counted late). */
		if (!tick && !safem_pane_clock_due(&w->panes, ms))
			continue;
		if (i > start)
			safem_flow_cache_update_burst(w->cache, &pkts[start], i - start);
		/* A tick is never accounted, and only moves time on: one from a
		 * dispatcher that lags behind is no news (and not a late packet). */
		if (!tick || w->panes.end_ms == 0 || ms >= w->panes.end_ms)
			window_advance(w, ms);
		start = tick ? i + 1 : i;
	}
	if (n > start)
		safem_flow_cache_update_burst(w->cache, &pkts[start], n - start);
	w->stats.late_packets = w->panes.late;
}

static inline void
advance_clock(struct probe_worker *w, const struct safem_packet *pkts, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (pkts[i].ts_ns > w->clock_ns)
			w->clock_ns = pkts[i].ts_ns;
}

/* Account packets from other workers' dispatch. Returns how many. */
static unsigned int
drain_input(struct probe_worker *w)
{
	struct safem_packet pkts[PROBE_MAX_RX_BURST];
	unsigned int n;

	if (w->input == NULL)
		return 0;
	n = rte_ring_dequeue_burst_elem(w->input, pkts, sizeof(pkts[0]), PROBE_MAX_RX_BURST,
					NULL);
	if (n == 0)
		return 0;
	w->stats.dispatched_in += n;
	advance_clock(w, pkts, n);
	account_packets(w, pkts, n);
	return n;
}

/* Packets (and ticks) the owner took from its dispatch ring so far. */
static inline uint64_t
owner_drained(const struct probe_shared *s, unsigned int dest)
{
	return __atomic_load_n(&s->workers[dest]->stats.dispatched_in, __ATOMIC_RELAXED);
}

/*
 * Send the staged packets of one destination. A full ring means that worker
 * is behind: wait, but keep draining our own ring meanwhile, so two
 * dispatchers feeding each other cannot deadlock. The wait is bounded
 * (wait_expired): what is still staged then is dropped and counted.
 */
static void
dispatch_send(struct probe_worker *w, unsigned int dest)
{
	const struct probe_shared *s = w->shared;
	struct rte_ring *ring = s->workers[dest]->input;
	struct safem_packet *pkts = &w->staging[(size_t)dest * PROBE_STAGING_SLOTS];
	unsigned int n = w->staged[dest], sent = 0, i;
	uint64_t wait_start = 0, last_progress = 0, now;

	for (;;) {
		unsigned int done = rte_ring_enqueue_burst_elem(ring, &pkts[sent], sizeof(pkts[0]),
								n - sent, NULL);

		sent += done;
		if (sent == n) {
			w->dispatch_stalled[dest] = 0;
			break;
		}
		/* Still stalled only if the owner has drained nothing since. */
		if (w->dispatch_stalled[dest] != 0 &&
		    w->dispatch_stalled[dest] != owner_drained(s, dest) + 1)
			w->dispatch_stalled[dest] = 0;
		now = rte_rdtsc();
		if (wait_start == 0) {
			wait_start = last_progress = now;
			w->stats.dispatch_waits++;
		} else if (done != 0) {
			last_progress = now;
		}
		/* After a wait on this ring ran out, a ring still full drops at
		 * once: one bound per stall, not one per burst. */
		if ((w->dispatch_stalled[dest] != 0 && sent == 0) ||
		    wait_expired(s, now, wait_start, last_progress, s->live_wait_tsc)) {
			w->dispatch_stalled[dest] = owner_drained(s, dest) + 1;
			for (i = sent; i < n; i++) {
				if (is_tick(&pkts[i]))
					continue;
				w->stats.dispatch_dropped++;
				w->stats.dispatch_dropped_bytes += pkts[i].ip_bytes;
			}
			break;
		}
		if (drain_input(w) == 0)
			rte_pause();
	}
	if (wait_start != 0)
		w->stats.dispatch_wait_us += tsc_to_us(rte_rdtsc() - wait_start);
	w->stats.dispatched_out += sent;
	w->staged[dest] = 0;
}

static inline uint64_t
packet_time_ns(struct probe_worker *w, const struct rte_mbuf *m, uint64_t burst_ns)
{
	const struct probe_shared *s = w->shared;
	uint64_t ts;

	if (!s->packet_clock)
		return burst_ns;
	if (unlikely((m->ol_flags & s->timestamp_flag) == 0)) {
		w->stats.no_timestamp++;
		return w->clock_ns;
	}
	ts = *RTE_MBUF_DYNFIELD(m, s->timestamp_offset, const uint64_t *);
	return ts < TIMESTAMP_NS_THRESHOLD ? ts * 1000 : ts;
}

/* Parse a burst, keep our own packets, dispatch the rest, account ours. */
static void
process_rx_burst(struct probe_worker *w, struct rte_mbuf **mbufs, unsigned int n,
		 uint64_t now_tsc)
{
	const struct probe_shared *s = w->shared;
	/* + 1: this worker's own time tick, after its packets */
	struct safem_packet parsed[PROBE_MAX_RX_BURST + 1];
	unsigned int nparsed = 0, nlocal, i;
	bool own_tick = false;
	uint64_t burst_ns = s->packet_clock ? 0 : probe_tsc_to_unix_ns(s, now_tsc);

	for (i = 0; i < PREFETCH_AHEAD && i < n; i++)
		rte_prefetch0(rte_pktmbuf_mtod(mbufs[i], void *));
	for (i = 0; i < n; i++) {
		struct rte_mbuf *m = mbufs[i];
		struct safem_packet *p = &parsed[nparsed];
		enum safem_parse_status status;

		if (i + PREFETCH_AHEAD < n)
			rte_prefetch0(rte_pktmbuf_mtod(mbufs[i + PREFETCH_AHEAD], void *));
		w->stats.rx_bytes += m->pkt_len;
		/* Headers are in the first segment; the parser never reads past it. */
		status = safem_packet_parse(rte_pktmbuf_mtod(m, const uint8_t *),
					    rte_pktmbuf_data_len(m), s->parse_flags, p);
		w->stats.parse_status[status]++;
		if (status != SAFEM_PARSE_OK)
			continue;
		p->ts_ns = packet_time_ns(w, m, burst_ns);
		w->stats.parsed_bytes += p->ip_bytes;
		if (p->ts_ns > w->clock_ns)
			w->clock_ns = p->ts_ns;
		nparsed++;
	}
	w->stats.rx_packets += n;
	rte_pktmbuf_free_bulk(mbufs, n);

	/*
	 * Hash in a second pass: reading a key back as 64-bit words right after
	 * the parser stored it in smaller pieces stalls on store forwarding;
	 * a burst later the stores have reached L1.
	 */
	for (i = 0, nlocal = 0; i < nparsed; i++) {
		struct safem_packet *p = &parsed[i];

		p->key_hash = safem_flow_key_hash(&p->key);
		if (!sample_keep(s, p)) {
			w->stats.sampled_out++;
			continue;
		}
		if (s->software_rss) {
			/* Multiply-shift maps the hash onto [0, workers) without a division. */
			uint32_t sym = safem_flow_key_hash_symmetric(&p->key);
			unsigned int owner = (unsigned int)(((uint64_t)sym * s->worker_count) >> 32);

			if (owner != w->index) {
				w->staging[(size_t)owner * PROBE_STAGING_SLOTS + w->staged[owner]++] =
					*p;
				continue;
			}
		}
		if (nlocal != i)
			parsed[nlocal] = *p;
		nlocal++;
	}
	if (s->software_rss) {
		unsigned int dest;

		/* Crossing a window boundary: tell every worker the time, after the
		 * packets it precedes, so workers with no traffic close it too. */
		if (w->window != NULL && safem_pane_clock_tick_due(&w->panes, w->clock_ns / NS_PER_MS)) {
			for (dest = 0; dest < s->worker_count; dest++) {
				struct safem_packet *tick;

				if (dest == w->index)
					continue;
				tick = &w->staging[(size_t)dest * PROBE_STAGING_SLOTS +
						   w->staged[dest]++];
				memset(tick, 0, sizeof(*tick));
				tick->ts_ns = w->clock_ns;
			}
			/* A dispatcher whose own flows are elsewhere must close its
			 * panes too, or the analysis waits for them, holds the other
			 * workers' pane buffers, and everyone stops. */
			own_tick = true;
		}
		/* Ticks leave before this worker accounts (and may wait for a pane
		 * buffer): a worker that lags behind always gets the time it needs
		 * to close the pane everyone is waiting for. */
		for (dest = 0; dest < s->worker_count; dest++)
			if (w->staged[dest] != 0)
				dispatch_send(w, dest);
	}
	if (own_tick) {
		memset(&parsed[nlocal], 0, sizeof(parsed[nlocal]));
		parsed[nlocal++].ts_ns = w->clock_ns;
	}
	account_packets(w, parsed, nlocal);
}

static unsigned int
poll_queues(struct probe_worker *w, uint64_t now_tsc)
{
	const struct probe_shared *s = w->shared;
	struct rte_mbuf *mbufs[PROBE_MAX_RX_BURST];
	unsigned int total = 0, q;

	/* What a NIC RX ring must absorb: the time between two polls. */
	if (w->last_poll_tsc != 0) {
		uint64_t gap = now_tsc - w->last_poll_tsc;

		if (gap > w->max_poll_gap_tsc)
			__atomic_store_n(&w->max_poll_gap_tsc, gap, __ATOMIC_RELAXED);
		/* The max alone is one preemption on a shared box; the count says
		 * how often a NIC ring would have overflowed. */
		if (unlikely(gap > s->ring_time_tsc))
			w->stats.poll_gaps_over_275us++;
	}
	w->last_poll_tsc = now_tsc;
	for (q = 0; q < w->queue_count; q++) {
		struct probe_queue *queue = &w->queues[q];
		uint16_t n = rte_eth_rx_burst(queue->port_id, queue->queue_id, mbufs,
					      (uint16_t)s->rx_burst);

		if (n == 0)
			continue;
		queue->last_rx_tsc = now_tsc;
		if (w->first_rx_tsc == 0)
			w->first_rx_tsc = now_tsc;
		w->stats.rx_bursts++;
		process_rx_burst(w, mbufs, n, now_tsc);
		total += n;
	}
	if (total != 0)
		w->last_rx_tsc = rte_rdtsc();
	return total;
}

/* Replay only: net_pcap returns nothing, forever, once a file is read. */
static bool
queues_at_end_of_file(const struct probe_worker *w, uint64_t now_tsc)
{
	unsigned int q;

	for (q = 0; q < w->queue_count; q++)
		if (now_tsc - w->queues[q].last_rx_tsc < w->shared->eof_idle_tsc)
			return false;
	return true;
}

static bool
all_workers_flag(const struct probe_shared *s, size_t flag_offset)
{
	unsigned int i;

	for (i = 0; i < s->worker_count; i++) {
		const uint32_t *flag =
			(const uint32_t *)((const char *)s->workers[i] + flag_offset);

		if (__atomic_load_n(flag, __ATOMIC_ACQUIRE) == 0)
			return false;
	}
	return true;
}

/*
 * Expiry scan paced by flow time: the whole cache is swept once per
 * sweep_ms of clock, at most scan_lines lines per loop. A fixed number of
 * lines per burst would cost as much as the lookups at line rate while
 * sweeping far more often than any timeout needs; replays at full speed get
 * the same sweep rate per second of capture as live traffic.
 */
static void
expire_flows(struct probe_worker *w)
{
	const struct probe_shared *s = w->shared;
	uint64_t now_ms = w->clock_ns / NS_PER_MS, lines_per_sweep, max_credit, n;

	if (now_ms == 0)
		return;
	lines_per_sweep = safem_flow_cache_capacity(w->cache) / SAFEM_FLOW_LINE_SLOTS;
	max_credit = lines_per_sweep * s->sweep_ms;
	if (w->scan_clock_ms == 0)
		w->scan_clock_ms = now_ms;
	if (now_ms > w->scan_clock_ms) {
		w->scan_credit += (now_ms - w->scan_clock_ms) * lines_per_sweep;
		/* A clock jump owes at most one full sweep. */
		if (w->scan_credit > max_credit)
			w->scan_credit = max_credit;
		w->scan_clock_ms = now_ms;
	}
	n = RTE_MIN(w->scan_credit / s->sweep_ms, (uint64_t)s->scan_lines);
	if (n == 0)
		return;
	w->scan_credit -= n * s->sweep_ms;
	safem_flow_cache_expire(w->cache, now_ms, (unsigned int)n);
}

int
probe_worker_main(void *arg)
{
	struct probe_worker *w = arg;
	struct probe_shared *s = w->shared;
	bool polling = w->queue_count > 0;
	uint64_t now_tsc = rte_rdtsc(), last_flush_tsc = now_tsc, end_ns;
	unsigned int q, i;

	for (q = 0; q < w->queue_count; q++)
		w->queues[q].last_rx_tsc = now_tsc;
	if (!polling)
		__atomic_store_n(&w->polling_done, 1, __ATOMIC_RELEASE);

	for (;;) {
		now_tsc = rte_rdtsc();
		if (polling) {
			poll_queues(w, now_tsc);
			if (stop_requested(s) ||
			    (s->packet_clock && queues_at_end_of_file(w, now_tsc))) {
				polling = false;
				/* Everything we dispatched is in the rings before this store. */
				__atomic_store_n(&w->polling_done, 1, __ATOMIC_RELEASE);
			}
		}
		drain_input(w);
		if (!s->packet_clock) {
			/* Never backwards, not even by a rate correction. */
			w->clock_ns = RTE_MAX(w->clock_ns, probe_tsc_to_unix_ns(s, now_tsc));
			if (w->window != NULL)
				window_advance(w, w->clock_ns / NS_PER_MS);
		}
		expire_flows(w);
		if (w->sweeping)
			window_sweep_step(w);
		/* Quiet live links must not keep records waiting in a half-full batch. */
		if (now_tsc - last_flush_tsc > s->handoff_flush_tsc) {
			safem_handoff_flush(s->handoff, w->index);
			last_flush_tsc = now_tsc;
		}
		__atomic_store_n(&w->live_clock_ns, w->clock_ns, __ATOMIC_RELAXED);
		if (!polling && all_workers_flag(s, offsetof(struct probe_worker, polling_done)) &&
		    (w->input == NULL || rte_ring_empty(w->input)))
			break;
	}

	/* The packet path has stopped: the final records may wait (bounded) for
	 * the consumer instead of being dropped as on a live link. */
	safem_handoff_set_blocking(s->handoff, w->index, true);

	/*
	 * Final flush. Every worker's flows end against the same end time (the
	 * latest packet time any worker saw), so the end reasons do not depend
	 * on how packets were spread over workers.
	 */
	w->published_clock_ns = w->clock_ns;
	__atomic_store_n(&w->rx_done, 1, __ATOMIC_RELEASE);
	while (!all_workers_flag(s, offsetof(struct probe_worker, rx_done))) {
		/* Others still run: keep our panes moving with them, or a worker
		 * waiting for a pane buffer would wait for us forever. */
		if (w->window != NULL && w->panes.end_ms != 0) {
			uint64_t others_ns = 0;

			for (i = 0; i < s->worker_count; i++)
				others_ns = RTE_MAX(others_ns,
						    __atomic_load_n(&s->workers[i]->live_clock_ns,
								    __ATOMIC_RELAXED));
			window_advance(w, others_ns / NS_PER_MS);
			if (w->sweeping)
				window_sweep_step(w);
		}
		rte_pause();
	}
	end_ns = 0;
	for (i = 0; i < s->worker_count; i++)
		end_ns = RTE_MAX(end_ns, s->workers[i]->published_clock_ns);
	if (!s->packet_clock)
		end_ns = probe_tsc_to_unix_ns(s, rte_rdtsc());
	if (w->window != NULL && w->panes.end_ms != 0) {
		/* Complete panes first, then the last one gets the flushed flows. */
		window_advance(w, end_ns / NS_PER_MS);
		window_complete(w, false);
		safem_flow_cache_flush(w->cache, end_ns / NS_PER_MS);
		window_advance(w, w->panes.end_ms);
		window_complete(w, false);
	} else {
		safem_flow_cache_flush(w->cache, end_ns / NS_PER_MS);
	}
	safem_handoff_flush(s->handoff, w->index);
	__atomic_store_n(&w->finished, 1, __ATOMIC_RELEASE);
	return 0;
}

void
probe_live_clock_calibrate(struct probe_shared *s)
{
	struct timespec mono;
	uint64_t tsc, mono_ns;
	double rate;

	clock_gettime(CLOCK_MONOTONIC, &mono);
	tsc = rte_rdtsc();
	mono_ns = (uint64_t)mono.tv_sec * 1000000000ull + (uint64_t)mono.tv_nsec;
	if (tsc <= s->tsc_base || mono_ns <= s->mono_ns_base)
		return;
	rate = (double)(mono_ns - s->mono_ns_base) / (double)(tsc - s->tsc_base);
	__atomic_store(&s->unix_ns_per_tsc, &rate, __ATOMIC_RELAXED);
}
