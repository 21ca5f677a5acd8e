/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SAFEM_VICTIM_H
#define SAFEM_VICTIM_H

/**
 * @file
 * Destination-side sequential test: the dual of lib/seqscan's Threshold Random Walk (Jung,
 * Paxson, Berger, Balakrishnan, IEEE S&P 2004), run per DESTINATION over the first arrivals
 * from new sources, on the analysis side, over each window's flow log.
 *
 * An arrival is a flow between unicast addresses that is either response-shaped (a pure
 * SYN-ACK, UDP including a portless non-first fragment, an ICMP / ICMPv6 reply type) or a
 * connection attempt (a TCP SYN without ACK, whatever other flags), from a source that sent
 * to no other destination in the window (a scanner or a peer-to-peer client reaches many; a
 * spoofed source or a reflector answers one victim). Each first arrival from a new source
 * (a Bloom filter of sources per destination) is an observation, decided at the end of the
 * next window: a response the destination asked for (it sent anything to that source in
 * the window before, the same or the next) or an attempt that completed (the initiator went
 * on with ACK) is a success, else a failure. docs/detection.md, "Destination-side
 * sequential test (victims)", has the definitions and what the tuning backgrounds showed.
 *
 * A second walk per destination takes ICMP / ICMPv6 replies from few sources window after
 * window, and UDP from few sources to new ports: its observation is a (source, window) with
 * replies to the destination, or with new UDP flows (5-tuples not in the window before) to at
 * least two of its ports (docs/detection.md, "Few-source UDP floods (session 11)"), a success
 * when the destination sent that source anything in the window before, the same or the next,
 * a failure when not (none when the destination is one-way). Same parameters and bounds;
 * docs/detection.md, "Few-source unsolicited replies and ICMP requests (session 10)".
 *
 * Decisions in the observation's own window (session 11; docs/detection.md, "Decisions in
 * the observation's own window (session 11)"): given the pane's end, window N's observations
 * are also judged at the end of window N on copies of the walks: one already answered (or an
 * attempt already completed) is a success, one unanswered for SAFEM_VICTIM_ANSWER_WAIT_MS
 * since its flow's first packet a provisional failure, a younger one undecided. A copy
 * that crosses the upper bound is a finding in window N (`provisional`). The persisted walks
 * move only by the final decisions at the end of window N+1, as before.
 *
 * One thread at a time (the analysis thread); all memory allocated at create, none per
 * window; cost per window O(logged flows), plus one clear of the per-window tables.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "safem_featdist.h"
#include "safem_profile.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The paper's parameters, as lib/seqscan's: not tuned. */
#define SAFEM_VICTIM_THETA0 0.8
#define SAFEM_VICTIM_THETA1 0.2
#define SAFEM_VICTIM_PD 0.99
#define SAFEM_VICTIM_PF 0.01
/** The arrival walk's theta0 learnt from the link (lib/trw's safem_trw_prior: the first
 *  arrivals at destinations not flagged), between SAFEM_VICTIM_THETA0 and this cap (the
 *  reply walk keeps the paper's); why 0.85: lib/seqscan's SAFEM_SEQSCAN_THETA0_CAP (three
 *  net failures flag, the steps stay nearly even). */
#ifndef SAFEM_VICTIM_THETA0_CAP_PERMILLE
/* in thousandths: checked at build time (a C11 static_assert takes integers only) */
#define SAFEM_VICTIM_THETA0_CAP_PERMILLE 850
#endif
#define SAFEM_VICTIM_THETA0_CAP (SAFEM_VICTIM_THETA0_CAP_PERMILLE / 1000.0)

/**
 * How long a window's own arrival waits for its destination's answer before it is a
 * provisional failure in that window (lib/trw safem_trw_unanswered_for). An answer is one
 * round trip plus the answerer's work: on both real backgrounds 95 % of the answered first
 * SYNs were answered within 0.23-0.27 s (tshark, scripts/answer-delays). Slower answers
 * (first UDP answers p90 0.30-0.45 s) are provisional failures that the final decision
 * turns back into successes. Shorter than the scan test's 0.5 s: a destination's walk is
 * judged on its new sources only, and a busy destination's walk sits far below its lower
 * bound, so a slow answer's false step rarely matters, while at 0.5 s half a window's
 * arrivals are too young and the development floods' first windows were not found (none
 * of 5 on seed 200). Replaying both clean real backgrounds whole: 416 and 49 provisional
 * failures, 6 and 4 reversed by the final decision, no finding from them.
 */
#define SAFEM_VICTIM_ANSWER_WAIT_MS 250

/** Destinations tracked (4-way set-associative table) by default. */
#define SAFEM_VICTIM_DESTINATIONS_DEFAULT 8192
/** A destination with no arrival for this many windows is idle: its slot is free. */
#define SAFEM_VICTIM_IDLE_WINDOWS_DEFAULT 60
/** Findings reported per window at most (the most failures first). */
#define SAFEM_VICTIM_FINDINGS_MAX 8

/** What a destination's failed arrivals of the window mostly were. */
enum safem_victim_kind {
	SAFEM_VICTIM_REFLECTION, /**< unsolicited UDP, SYN-ACKs, fragments */
	SAFEM_VICTIM_ICMP_REPLY, /**< ICMP / ICMPv6 replies with no query */
	SAFEM_VICTIM_ATTEMPT,    /**< connection attempts that never completed */
	SAFEM_VICTIM_UDP_PORTS,  /**< second walk: UDP flows to new ports with nothing back */
	SAFEM_VICTIM_KINDS
};

/** "reflection", "icmp_reply", "syn_attempt", "udp_ports". */
const char *safem_victim_kind_name(enum safem_victim_kind k);

struct safem_victim_params {
	unsigned int destinations; /**< table size (0: default); rounded up to a power of 2 */
	uint32_t pane_flows;       /**< most logged flows of a judged window (> 0) */
	unsigned int idle_windows; /**< 0: default */
};

/** A flagged destination with failed arrivals in this window. */
struct safem_victim_finding {
	enum safem_victim_kind kind;
	struct safem_feature_value victim; /**< the destination (IPv4 as ::ffff:a.b.c.d) */
	struct safem_feature_value source; /**< its last failed arrival's source */
	uint16_t port;     /**< reflection: the sources' (service) port; attempt: the
				destination port; ICMP, UDP ports: 0 */
	uint8_t proto;     /**< protocol of its last failed arrival of that kind */
	uint32_t failures; /**< failed arrivals (= distinct new sources) decided this window */
	uint32_t successes;
	uint32_t failures_run; /**< failed arrivals since its walk last reset */
	double llr;
	unsigned int windows; /**< windows with a finding since it was flagged (1: first) */
	/** found by the second walk: failures, successes, failures_run and llr count
	 * (source, window) observations of ICMP replies or new UDP ports, not new sources */
	bool source_windows;
	/** found with this window's provisional steps (its own observations unanswered for
	 * SAFEM_VICTIM_ANSWER_WAIT_MS): failures, successes, failures_run and llr include them */
	bool provisional;
};

/** The totals, in the order --stats prints them: one list for the struct and its printers. */
#define SAFEM_VICTIM_TOTALS(X) \
	X(windows) /* windows given */ \
	X(windows_skipped) /* not judged: sampled, log incomplete or too large */ \
	X(arrivals) /* first arrivals collected */ \
	X(successes) \
	X(failures) \
	X(undecided) /* observations (either walk) with no evidence either way, or judged \
			window lost */ \
	X(arrivals_dropped) /* observations (either walk) whose destination was evicted \
			       before the decision */ \
	X(spread_sources) /* candidates left out: their source reached others */ \
	X(one_way_flows) /* TCP data flows with nothing back: their destination's responses are no evidence */ \
	X(destinations_evicted) \
	X(destinations_flagged) \
	X(findings) \
	X(replies) /* the second walk: (source, window) observations */ \
	X(udp_replies) /* of them: new UDP flows to several ports (the rest ICMP replies) */ \
	X(reply_successes) \
	X(reply_failures) \
	X(reply_destinations_flagged) /* its walks flagged */ \
	X(provisional_failures) /* observations (either walk) unanswered for T at the end of \
				   their own window */ \
	X(provisional_reversed) /* of those, no failure in the final decision (answered since, \
				   or no evidence after all) */ \
	X(provisional_young) /* observations left to the next window: no answer yet, last \
				packet younger than T */ \
	X(provisional_findings) /* findings from the copies with the provisional steps */ \
	X(prior_observations) /* arrivals at unflagged destinations the prior counted */ \
	X(theta0_permille) /* the theta0 in use at the last window, in thousandths (a value) */

struct safem_victim_totals {
#define SAFEM_VICTIM_FIELD_(name) uint64_t name;
	SAFEM_VICTIM_TOTALS(SAFEM_VICTIM_FIELD_)
#undef SAFEM_VICTIM_FIELD_
};

struct safem_victim;

/** NULL with errno EINVAL (pane_flows 0) or ENOMEM. */
struct safem_victim *safem_victim_create(const struct safem_victim_params *p);
void safem_victim_free(struct safem_victim *v);

/**
 * One window, in time order: its flow log as lib/seqscan takes it (the newest pane only).
 * judged false (sampled, incomplete log): nothing collected, the pending arrivals dropped
 * undecided. A log with more than pane_flows entries or a weighted contribution is not
 * judged either. end_ms: the time the pane's log reaches (Unix ms; its newest packet, at
 * most the pane's end, as lib/seqscan's), which dates the log's contributions
 * (safem_profile_flow_first_ms); 0: no times, no provisional decisions (decide as before).
 * @return 0, or -EINVAL
 */
int safem_victim_window(struct safem_victim *v, const struct safem_profile_flow *const *seg,
			const uint32_t *n, unsigned int nseg, bool judged, uint64_t end_ms);

/** The last window's findings (valid until the next window), the most failures first. */
unsigned int safem_victim_findings(const struct safem_victim *v,
				   const struct safem_victim_finding **out);

void safem_victim_totals(const struct safem_victim *v, struct safem_victim_totals *t);

#ifdef __cplusplus
}
#endif

#endif /* SAFEM_VICTIM_H */
