/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SAFEM_TRW_H
#define SAFEM_TRW_H

/**
 * @file
 * The parts the sequential tests over the windows' flow logs share (lib/seqscan, lib/victim,
 * lib/brute; docs/detection.md, "Shared parts of the sequential tests (lib/trw)"): the key
 * hashing, an address as a feature value, the per-window seen table, the per-entry Bloom
 * filter, the Threshold Random Walk's step (Jung, Paxson, Berger, Balakrishnan, "Fast
 * portscan detection using sequential hypothesis testing", IEEE S&P 2004, eq. 2-4; Wald's
 * SPRT) and the Misra-Gries port summary.
 *
 * One place so that the tests hash, remember and walk alike: they were three copies that had
 * to be kept equal by hand. Nothing here allocates; the tables are the callers' memory.
 * The small helpers every logged flow goes through are inline: they are the tests' inner
 * loops.
 */

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "safem_featdist.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------- */
/* Hashing                                                                  */

/** splitmix64's finaliser: every input bit reaches every output bit. */
static inline uint64_t
safem_trw_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

/** Hash of words 64-bit words at p (read unaligned; p must hold 8 x words bytes: callers pass
 *  whole structures padded to 8 bytes, never a partial word). */
static inline uint64_t
safem_trw_words_hash(const void *p, size_t words, uint64_t seed)
{
	const uint8_t *b = p;
	uint64_t h = seed, w;
	size_t i;

	for (i = 0; i < words; i++) {
		memcpy(&w, b + 8 * i, 8);
		h = safem_trw_mix64(h ^ w);
	}
	return h;
}

/** An address of a flow key as a feature value (IPv4 as ::ffff:a.b.c.d, as lib/featdist). */
static inline void
safem_trw_addr_value(const uint8_t *a, uint8_t ip_version, struct safem_feature_value *v)
{
	memset(v, 0, sizeof(*v));
	if (ip_version == 4) {
		v->bytes[10] = v->bytes[11] = 0xff;
		memcpy(&v->bytes[12], a, 4);
	} else {
		memcpy(v->bytes, a, 16);
	}
}

/* ---------------------------------------------------------------------- */
/* Seen table: one window's flows (or address pairs) by hash, with TCP flags */

/*
 * Open addressing, linear probing, 8-byte slots: a slot holds the hash with its low byte
 * replaced by the OR of the TCP flags of everything added under it, and bit 8 always set so
 * that 0 means empty. Two hashes equal in bits 9-63 are one entry (55 bits tell a window's
 * flows apart). There is no eviction: the caller sizes the table at least twice
 * the entries it adds between two clears (safem_trw_seen_size), so a probe always ends.
 */
#define SAFEM_TRW_SEEN_PRESENT 0x100ull
#define SAFEM_TRW_SEEN_FLAGS 0xffull

/** Slots for at most entries adds between clears: a power of 2, at least 2 x entries (and
 *  16). */
uint64_t safem_trw_seen_size(uint64_t entries);

/** Add h with flags to table t of mask + 1 slots (mask + 1 a power of 2). */
static inline void
safem_trw_seen_add(uint64_t *t, uint64_t mask, uint64_t h, uint8_t flags)
{
	uint64_t e = (h & ~SAFEM_TRW_SEEN_FLAGS) | SAFEM_TRW_SEEN_PRESENT, i = h & mask;

	for (;; i = (i + 1) & mask) {
		if (t[i] == 0) {
			t[i] = e | flags;
			return;
		}
		if ((t[i] & ~SAFEM_TRW_SEEN_FLAGS) == e) {
			t[i] |= flags;
			return;
		}
	}
}

/** 0: h not added since the clear; else SAFEM_TRW_SEEN_PRESENT | the OR of its flags. */
static inline uint64_t
safem_trw_seen_get(const uint64_t *t, uint64_t mask, uint64_t h)
{
	uint64_t e = (h & ~SAFEM_TRW_SEEN_FLAGS) | SAFEM_TRW_SEEN_PRESENT, i = h & mask;

	for (; t[i] != 0; i = (i + 1) & mask)
		if ((t[i] & ~SAFEM_TRW_SEEN_FLAGS) == e)
			return SAFEM_TRW_SEEN_PRESENT | (t[i] & SAFEM_TRW_SEEN_FLAGS);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Bloom filter: the destinations (sources) an entry already counted        */

/*
 * SAFEM_TRW_BLOOM_BITS bits, SAFEM_TRW_BLOOM_HASHES probes (double hashing from one 64-bit
 * hash), cleared after SAFEM_TRW_BLOOM_INSERTS insertions: at that load a new member is taken
 * for a known one with probability (1 - e^(-3 * 128 / 1024))^3 = 3 %; a cleared filter only
 * makes old members count once more.
 */
#define SAFEM_TRW_BLOOM_BITS 1024
#define SAFEM_TRW_BLOOM_WORDS (SAFEM_TRW_BLOOM_BITS / 64)
#define SAFEM_TRW_BLOOM_HASHES 3
#define SAFEM_TRW_BLOOM_INSERTS 128

struct safem_trw_bloom {
	uint64_t bits[SAFEM_TRW_BLOOM_WORDS];
	uint16_t inserts; /**< since the last clear */
};

/** The probe positions of a member whose hash is h. */
void safem_trw_bloom_positions(uint64_t h, uint32_t pos[SAFEM_TRW_BLOOM_HASHES]);

/** True when every probe position is set (a member, or a false positive). */
static inline bool
safem_trw_bloom_has(const struct safem_trw_bloom *b, const uint32_t pos[SAFEM_TRW_BLOOM_HASHES])
{
	unsigned int k;

	for (k = 0; k < SAFEM_TRW_BLOOM_HASHES; k++)
		if (!(b->bits[pos[k] / 64] & (1ull << (pos[k] % 64))))
			return false;
	return true;
}

/** Insert a member: the filter is cleared first when it holds SAFEM_TRW_BLOOM_INSERTS. */
void safem_trw_bloom_add(struct safem_trw_bloom *b, const uint32_t pos[SAFEM_TRW_BLOOM_HASHES]);

/* ---------------------------------------------------------------------- */
/* Answer wait: when a missing answer is evidence inside the observation's window */

/*
 * An answer is one round trip after the observation's first packet (a SYN's SYN-ACK, an echo
 * reply, a UDP request's answer), plus the answerer's work; a retransmitted SYN or a source
 * that keeps sending with nothing back is still waiting for the first one's (docs/
 * detection.md, "Dated by the first packet (session 12)"). Each test waits its own
 * wait_ms for it before a provisional failure in the observation's own window
 * (docs/detection.md, "Decisions in the observation's own window (session 11)"):
 * SAFEM_SEQSCAN_ANSWER_WAIT_MS and SAFEM_VICTIM_ANSWER_WAIT_MS, with the measured answer
 * delays behind each. The final decision, one window later, waits a whole window as before.
 */

/**
 * True when an observation unanswered since since_ms (Unix ms: its flow's first packet,
 * safem_profile_flow_first_ms) has gone unanswered for wait_ms by end_ms (the end of the
 * pane it is in): a provisional failure.
 * end_ms 0: no times (a caller or a log without them): never.
 */
static inline bool
safem_trw_unanswered_for(uint64_t since_ms, uint64_t end_ms, uint32_t wait_ms)
{
	return end_ms != 0 && since_ms + wait_ms <= end_ms;
}

/* ---------------------------------------------------------------------- */
/* Threshold Random Walk                                                    */

/**
 * A sequential test's steps and bounds: each observation adds log(theta1/theta0) (success)
 * or log((1-theta1)/(1-theta0)) (failure) to the log likelihood ratio; eta1 = P_D/P_F,
 * eta0 = (1-P_D)/(1-P_F) (Jung et al., eq. 2-4; Wald's approximations). theta0: success
 * probability of the benign hypothesis, theta1: of the alternative.
 */
struct safem_trw_bounds {
	double step_success, step_failure, log_eta1, log_eta0;
};

void safem_trw_bounds_init(struct safem_trw_bounds *b, double theta0, double theta1, double pd,
			   double pf);

/** One walk: the log likelihood ratio and the failures since it last started over. */
struct safem_trw_walk {
	double llr;
	uint32_t failures_run;
	bool flagged;
};

enum safem_trw_step {
	SAFEM_TRW_ON,      /**< between the bounds, or still flagged */
	SAFEM_TRW_FLAGGED, /**< crossed eta1 now */
	SAFEM_TRW_RESET,   /**< reached eta0: benign, the walk starts over (llr 0) */
};

/**
 * One observation. A flagged walk stays at eta1: as many net successes clear it as the test
 * needed failures to flag it.
 */
enum safem_trw_step safem_trw_walk_observe(const struct safem_trw_bounds *b,
					   struct safem_trw_walk *w, bool success);

/*
 * A link's own benign success rate, theta0 (docs/detection.md, "Per-link prior (session
 * 14)"): the outcomes its owner counts (one an entry and window, of entries no walk of
 * theirs has flagged), in counts that halve at twice SAFEM_TRW_PRIOR_SPAN (a geometric fade:
 * the last SPAN to 2 x SPAN outcomes weigh fully, older ones a half, a quarter, ...), read
 * once a window by the test that owns it (one thread, no sharing).
 * It moves only after SAFEM_TRW_PRIOR_MIN observations, and stays between the paper's
 * theta0 (the floor: the fewest net failures that flag never rise above the paper's) and the
 * cap the owner gives.
 */
#define SAFEM_TRW_PRIOR_SPAN 1024u
#define SAFEM_TRW_PRIOR_MIN 100u

struct safem_trw_prior {
	uint32_t successes, observations; /* over the span */
	double theta0;			  /* in use (the steps' own): floor <= theta0 <= cap */
};

static inline void
safem_trw_prior_add(struct safem_trw_prior *p, bool success)
{
	p->successes += success;
	if (++p->observations >= 2 * SAFEM_TRW_PRIOR_SPAN) { /* halved: old outcomes fade */
		p->successes /= 2;
		p->observations /= 2;
	}
}

/** theta0 from the counts: floor under SAFEM_TRW_PRIOR_MIN observations, else the rate
 *  clamped to [floor, cap]. Reads only: p->theta0, the value the steps were built from, is
 *  set by safem_trw_prior_publish alone. */
double safem_trw_prior_theta0(const struct safem_trw_prior *p, double floor, double cap);

/** Once a window, by the prior's owner: theta0 from the counts (safem_trw_prior_theta0) and,
 *  when it moved, b's steps from it (safem_trw_bounds_init with theta1, pd, pf). Returns
 *  theta0 in thousandths, for --stats. */
uint64_t safem_trw_prior_publish(struct safem_trw_prior *p, struct safem_trw_bounds *b,
				 double floor, double cap, double theta1, double pd, double pf);

/* ---------------------------------------------------------------------- */
/* Misra-Gries summary of ports                                             */

/*
 * SAFEM_TRW_PORT_COUNTERS counters over `total` observations: a port with a counter counts
 * on; a new one takes a free counter, else every counter loses one (and so does the new
 * port): the counters keep every port with more than 1/(SAFEM_TRW_PORT_COUNTERS + 1) of the
 * observations, and their sum is what the few ports hold. Four: a Mirai-like worm probes 23,
 * 2323 and a few more; SYN-ACK reflectors answer from 22, 80, 443.
 */
#define SAFEM_TRW_PORT_COUNTERS 4

struct safem_trw_ports {
	uint16_t port[SAFEM_TRW_PORT_COUNTERS];
	uint32_t count[SAFEM_TRW_PORT_COUNTERS];
	uint32_t total;
};

void safem_trw_ports_add(struct safem_trw_ports *m, uint16_t port);

/**
 * What the counters hold (their sum), *port the heaviest counter's port (the first of equal
 * ones; meaningful when the sum is not 0), *used the counters in use (NULL: not wanted).
 */
uint64_t safem_trw_ports_top(const struct safem_trw_ports *m, uint16_t *port,
			     unsigned int *used);

/** True when the counters hold something and at least 3/4 of the observations: a few ports
 *  (a scan of a service or a few, reflectors of one service) rather than one a peer. */
bool safem_trw_ports_few(const struct safem_trw_ports *m, uint64_t held);

/* ---------------------------------------------------------------------- */
/* Order of a window's candidates                                           */

/**
 * A candidate's sort record. The tests judge a window's candidates in an order that does not
 * depend on the log's (the producer order, which depends on the number of workers): by key
 * hash, then flags, then position in the log. A stable radix sort of these 16-byte records
 * is that order, what a stable qsort of the candidates by (hash, flags) gave, without moving
 * the candidates (56-72 bytes) or calling a comparison per step.
 */
struct safem_trw_order {
	uint64_t hash;
	uint32_t idx; /**< the candidate's position */
	uint8_t flags;
};

/** Sort r[0..n) by (hash, flags, the order given): tmp holds n records too. */
void safem_trw_order_sort(struct safem_trw_order *r, struct safem_trw_order *tmp, uint32_t n);

/** Slots are fetched this many flows (candidates) ahead of their use: the tests' tables are
 *  far larger than the cache and a flow's slots random, so every access missed otherwise
 *  (docs/performance.md). Only when memory is read changes, never the order of the work. */
#define SAFEM_TRW_AHEAD 8

/** A test's stage 2: what its candidates are and what it does with each. */
struct safem_trw_stage {
	size_t size;      /**< a candidate's bytes */
	size_t hash_off;  /**< offsetof its key hash (uint64_t) */
	size_t flags_off; /**< offsetof its flags (uint8_t) */
	size_t flow_off;  /**< offsetof its pointer to its log entry */
	/** Fetch what keep() will read of cand (its log entry is fetched already). */
	void (*fetch)(void *ctx, const void *cand);
	/** Judge cand (it may change it): true keeps it. */
	bool (*keep)(void *ctx, void *cand);
};

/**
 * The n candidates at cand in lib/trw's order (o, tmp: n records each), the ones keep()
 * takes copied to out (n candidates' room, not cand); returns how many. Three candidates
 * ahead in steps: the candidate, its log entry, what fetch() names.
 */
uint32_t safem_trw_stage_run(const struct safem_trw_stage *st, void *ctx, void *cand, uint32_t n,
			     void *out, struct safem_trw_order *o, struct safem_trw_order *tmp);

#ifdef __cplusplus
}
#endif

#endif /* SAFEM_TRW_H */
