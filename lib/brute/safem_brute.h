/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SAFEM_BRUTE_H
#define SAFEM_BRUTE_H

/**
 * @file
 * Sequential password-guessing test, on the analysis side, over each window's flow log
 * (the contributions lib/profile and lib/seqscan read). docs/detection.md, "Brute force
 * at a few connections a window: sessions alike (session 9)", says what and why.
 *
 * A guesser is one client, one server, one service port and many complete short TCP
 * sessions, each from a new ephemeral port, each the same exchange (prompt, credentials,
 * refusal), so of nearly the same number of packets each way. The test rebuilds sessions
 * across panes (a window cuts the connections that span its edges), and per
 * (client, server, port) runs a sequential probability ratio test (Wald) over the pair's
 * closed sessions: a session is an observation, "alike" when it is short and within one
 * packet each way of one of the pair's last two closed sessions (one odd attempt costs the
 * walk one step, not two). A benign client repeating connections carries varying
 * exchanges; a guesser repeats one. A flagged pair is found in each window in which one of
 * its sessions closes, or is open and carried packets in the window (docs/detection.md, "Brute force: sessions alike,
 * revisited (session 12)").
 *
 * One thread at a time (the analysis thread); all memory allocated at create, none per
 * window; cost per window O(logged flows + sessions closing).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "safem_featdist.h"
#include "safem_profile.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Wald's test with the sequential scan test's values mirrored (not tuned): a benign
 *  pair's next session is alike its recent ones with probability THETA0, a guesser's
 *  with THETA1; wanted detection and false-alarm probabilities PD and PF. */
#define SAFEM_BRUTE_THETA0 0.2
#define SAFEM_BRUTE_THETA1 0.8
#define SAFEM_BRUTE_PD 0.99
#define SAFEM_BRUTE_PF 0.01

/** Pairs (client, server, port) tracked by default (4-way set-associative). */
#define SAFEM_BRUTE_PAIRS_DEFAULT 16384
/** Open sessions tracked by default (4-way set-associative). */
#define SAFEM_BRUTE_SESSIONS_DEFAULT 16384
/** A pair without a closed session for this many windows starts over. */
#define SAFEM_BRUTE_IDLE_WINDOWS_DEFAULT 60
/** A short session: at most this many packets both ways. A login exchange is a handshake,
 *  a few prompt / credentials / refusal rounds and a close: 10-30 packets; a longer
 *  session carried data and starts its pair's walk over. */
#define SAFEM_BRUTE_SHORT_PACKETS 32
/** A finding needs at least this many alike sessions in the pair's run: more than a
 *  browser's parallel connections to one host (6), which reload alike small objects. */
#define SAFEM_BRUTE_ALIKE_MIN 7
/** Findings reported per window at most (the most alike sessions first). */
#define SAFEM_BRUTE_FINDINGS_MAX 8

struct safem_brute_params {
	unsigned int pairs;        /**< 0: default; rounded up to a power of 2 */
	unsigned int sessions;     /**< 0: default; rounded up to a power of 2 */
	uint32_t pane_flows;       /**< most logged flows of a judged window (> 0) */
	unsigned int idle_windows; /**< 0: default */
};

/** A pair the test flagged a guesser with a session closing, or open with packets, in this window. */
struct safem_brute_finding {
	struct safem_feature_value client; /**< IPv4 as ::ffff:a.b.c.d */
	struct safem_feature_value server;
	uint16_t port;          /**< the server's port */
	uint8_t proto;          /**< 6 */
	uint32_t alike;         /**< alike sessions closed in this window (0: sessions open) */
	uint32_t sessions;      /**< sessions closed in this window */
	uint32_t alike_run;     /**< alike sessions since the pair's walk last started */
	double llr;             /**< the walk's log likelihood ratio */
	unsigned int windows;   /**< windows with a finding since it was flagged (1: first) */
	uint32_t packets_out, packets_back; /**< packets each way of its last session */
};

/** The totals, in the order --stats prints them: one list for the struct and its printers. */
#define SAFEM_BRUTE_TOTALS(X) \
	X(windows) /* windows given */ \
	X(windows_skipped) /* not judged: sampled, log incomplete or too large */ \
	X(sessions) /* sessions opened (a SYN seen) */ \
	X(sessions_closed) /* answered and closed: observations */ \
	X(alike) /* of which alike one of their pair's last two */ \
	X(sessions_evicted) /* open sessions pushed out of a full set */ \
	X(pairs_evicted) /* active pairs pushed out of a full set */ \
	X(pairs_flagged) /* walks that crossed eta1 */ \
	X(findings)

struct safem_brute_totals {
#define SAFEM_BRUTE_FIELD_(name) uint64_t name;
	SAFEM_BRUTE_TOTALS(SAFEM_BRUTE_FIELD_)
#undef SAFEM_BRUTE_FIELD_
};

struct safem_brute;

/** NULL with errno EINVAL (pane_flows 0) or ENOMEM. */
struct safem_brute *safem_brute_create(const struct safem_brute_params *p);
void safem_brute_free(struct safem_brute *b);

/**
 * One window, in time order: its flow log (one pane per call, as lib/seqscan). judged
 * false (a sampled window, flows past the log bound): open sessions are forgotten (their
 * packet counts would be incomplete) and no observation is made. A log with more than
 * pane_flows entries or a weighted contribution is not judged either.
 * @return 0, or -EINVAL (b NULL, or segments NULL with nseg > 0)
 */
int safem_brute_window(struct safem_brute *b, const struct safem_profile_flow *const *seg,
		       const uint32_t *n, unsigned int nseg, bool judged);

/** The last window's findings (valid until the next window), the most alike first. */
unsigned int safem_brute_findings(const struct safem_brute *b,
				  const struct safem_brute_finding **out);

void safem_brute_totals(const struct safem_brute *b, struct safem_brute_totals *t);

#ifdef __cplusplus
}
#endif

#endif /* SAFEM_BRUTE_H */
