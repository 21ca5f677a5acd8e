/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SAFEM_SEQSCAN_H
#define SAFEM_SEQSCAN_H

/**
 * @file
 * Sequential scan test: Threshold Random Walk (Jung, Paxson, Berger, Balakrishnan, "Fast
 * portscan detection using sequential hypothesis testing", IEEE S&P 2004), on the analysis
 * side, over each window's flow log (the contributions lib/profile reads, lib/window).
 *
 * A contact is a TCP connection attempt (a SYN from an ephemeral port) or stealth probe (a
 * bare segment without SYN, ACK or RST: nmap's FIN, XMAS and NULL scans; never a success),
 * a UDP flow from an ephemeral port or an ICMP echo request between unicast addresses
 * (docs/detection.md says what counts and why; a UDP sender that keeps sending is no
 * evidence).
 * Per source address: the destinations it made a first contact to (Bloom filters, one for
 * addresses, one for (address, protocol, port)) and two random walks of the log likelihood
 * ratio, one over first contacts to new destination addresses (horizontal) and one over
 * first contacts to new ports of destinations it had already contacted (vertical). Each
 * first contact is an observation, success (answered) or failure; a walk reaching
 * log(eta1) flags the source a scanner, reaching log(eta0) resets it (benign).
 * Next to them, a walk per (source, protocol, destination port) over the source's first
 * contacts to new (address, port) pairs: a scanner that also works as a client fails alone
 * on the port it scans. And, with home prefixes, the evidence per TCP destination port
 * (UDP: per source port) across home sources within the worm horizon: a worm at a low
 * rate, one probe a window over several infected hosts, fails on one port long before any
 * host's walk flags it.
 * A source's UDP first contacts walk apart, in UDP walks of their own (a table of their
 * own, the same geometry): a refusal by the target (ICMP port unreachable) or an empty
 * datagram nothing answered fails, an answer succeeds, a datagram with payload unanswered,
 * a sender that kept sending or a source tracing a route is no evidence (docs/detection.md,
 * "UDP walks of one source (session 16)"); no TCP or ICMP walk, and not the link's prior,
 * sees them.
 * Outcomes are decided one window late (an answer can fall into the next window): the
 * contacts of window N are judged at the end of window N+1, and only those decisions move
 * the walks. Given the pane's end, window N also decides its own contacts provisionally
 * (answered ones as they will be, ones unanswered for SAFEM_SEQSCAN_ANSWER_WAIT_MS as failures)
 * on scratch copies of the walks: a walk that crosses eta1 with them is a finding in window
 * N (docs/detection.md, "Decisions in the observation's own window (session 11)"). docs/detection.md,
 * "Sequential scan test (TRW)", says what a contact, a success and a failure are.
 *
 * One thread at a time (the analysis thread); all memory allocated at create, none per
 * window; cost per window O(logged flows + contacts), plus one clear of the answer table.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "safem_featdist.h"
#include "safem_profile.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The paper's parameters (section 4), not tuned: success probability of a benign source
 *  and of a scanner, wanted detection and false positive probabilities. */
#define SAFEM_SEQSCAN_THETA0 0.8
#define SAFEM_SEQSCAN_THETA1 0.2
#define SAFEM_SEQSCAN_PD 0.99
#define SAFEM_SEQSCAN_PF 0.01
/**
 * The horizontal walk's theta0 is learnt from the link (lib/trw's safem_trw_prior: the
 * horizontal first contacts of sources not flagged), between SAFEM_SEQSCAN_THETA0 (the
 * floor) and this cap; the other walks keep the paper's. Why 0.85: above 0.827 (0.8 / (1 -
 * theta0) >= 99^(1/3)) three net failures flag instead of four, which is the gain; a higher
 * theta0 buys no fewer failures until 0.92 (two) but makes the steps lopsided: a
 * success takes off log(0.2 / theta0), less than a failure adds, so a benign client whose
 * first contacts are answered a bit more than half the time drifts to a flag. The paper's
 * walk drifts up only under 0.5 answered; at 0.85 under 0.536, at 0.9 under 0.580
 * (the session 14 review: a client half of whose port-443 contacts were answered was named
 * a horizontal scan at 0.9, never at 0.8). docs/detection.md, "Per-link prior (session 14)".
 */
#ifndef SAFEM_SEQSCAN_THETA0_CAP_PERMILLE
/* in thousandths: checked at build time (a C11 static_assert takes integers only) */
#define SAFEM_SEQSCAN_THETA0_CAP_PERMILLE 850
#endif
#define SAFEM_SEQSCAN_THETA0_CAP (SAFEM_SEQSCAN_THETA0_CAP_PERMILLE / 1000.0)

/**
 * How long a window's own first contact waits for its answer before it is a provisional
 * failure in that window (lib/trw safem_trw_unanswered_for). On the real backgrounds
 * (ndpi, zeek; tshark) a contact's last SYN to its SYN-ACK: p90 0.11-0.17 s, p99
 * 0.35-0.40 s, 0.8-0.9 % later than 0.5 s; a TCP sender itself waits its initial RTO, 1 s
 * (RFC 6298). 0.5 s is past 99 % of the answers and leaves half of a 1-second window's
 * contacts decidable in it. A source's walk takes every contact of a busy client, so the
 * wait is the 99th percentile: a benign client's slow answers must stay rare steps.
 * Since session 12 a contact is dated by its flow's first packet (a retransmitted SYN is
 * the same request): per 5-tuple, first SYN to SYN-ACK, 0.6-1.2 % later than 0.5 s, p99
 * 0.35-0.80 s (scripts/answer-delays --flows); the wait was kept.
 */
#define SAFEM_SEQSCAN_ANSWER_WAIT_MS 500

/** Sources tracked (4-way set-associative table) by default. */
#define SAFEM_SEQSCAN_SOURCES_DEFAULT 8192
/** A source not seen for this many windows is idle: its slot is free for another. */
#define SAFEM_SEQSCAN_IDLE_WINDOWS_DEFAULT 60
/** Worm: flagged sources on one destination port within this many windows... */
#define SAFEM_SEQSCAN_WORM_HORIZON_WINDOWS 8
/** ...at least this many of them. */
#define SAFEM_SEQSCAN_WORM_SOURCES 2
/** Findings reported per window at most (the most failures first). */
#define SAFEM_SEQSCAN_FINDINGS_MAX 16

enum safem_seqscan_shape {
	SAFEM_SEQSCAN_HORIZONTAL, /**< many destinations, few ports */
	SAFEM_SEQSCAN_VERTICAL,   /**< one destination, many ports */
	SAFEM_SEQSCAN_WORM,       /**< several (home) sources flagged on one port */
};

/** "horizontal_scan", "vertical_scan", "worm". */
const char *safem_seqscan_shape_name(enum safem_seqscan_shape s);

struct safem_seqscan_params {
	unsigned int sources;      /**< table size (0: default); rounded up to a power of 2 */
	uint32_t pane_flows;       /**< most logged flows of a judged window (> 0) */
	unsigned int idle_windows; /**< 0: default */
	/** Worm sources must be inside these prefixes; NULL or empty: any source. Not copied. */
	const struct safem_home *home;
};

/** A source flagged a scanner that failed again in this window. */
struct safem_seqscan_finding {
	enum safem_seqscan_shape shape;
	struct safem_feature_value src;  /**< the scanner (IPv4 as ::ffff:a.b.c.d) */
	struct safem_feature_value dst;  /**< vertical: the scanned host; else its last failed */
	uint16_t port;        /**< horizontal, worm: the port most of its failed contacts went
				   to (a few ports hold at least 3/4 of them); vertical: 0 */
	uint8_t proto;        /**< protocol of its last failed contact */
	uint32_t failures;    /**< failed first contacts decided in this window */
	uint32_t successes;   /**< successful ones decided in this window */
	uint32_t failures_run; /**< failed first contacts since its walk last reset */
	double llr;           /**< log likelihood ratio of the walk that flagged it */
	unsigned int windows; /**< windows with a finding since it was flagged (1: first) */
	unsigned int sources; /**< worm: flagged sources on port within the horizon, or the
				   home sources that failed on it (home port evidence: src is
				   the last of them, failures_run the net failures) */
	bool provisional;     /**< found with this window's provisional decisions */
};

/** The totals, in the order --stats prints them: one list for the struct and its printers. */
#define SAFEM_SEQSCAN_TOTALS(X) \
	X(windows) /* windows given */ \
	X(windows_skipped) /* not judged: sampled, log incomplete or too large */ \
	X(contacts) /* first contacts collected */ \
	X(successes) \
	X(failures) \
	X(undecided) /* contacts with no evidence either way (see docs) */ \
	X(contacts_dropped) /* their source was evicted before the decision */ \
	X(sources_evicted) /* sources not idle pushed out of a full set */ \
	X(sources_flagged) /* walks that crossed eta1 */ \
	X(port_walks_flagged) /* (source, port) walks that crossed eta1 */ \
	X(home_port_worms) /* windows x ports with home port evidence of a worm (by \
			      destination port, TCP, or by source port, UDP) */ \
	X(udp_contacts) /* first contacts over UDP (in contacts) */ \
	X(udp_failures) /* their failures (in failures) */ \
	X(stealth_contacts) /* first contacts that are TCP stealth probes, no SYN, ACK or \
			       RST (in contacts; each a failure or undecided) */ \
	X(host_first_taken) /* first contacts to an address the vertical walk took too, \
			       at the source's first new port of that address */ \
	X(findings) \
	X(provisional_steps) /* this window's contacts decided in it (answered, or unanswered \
				for SAFEM_SEQSCAN_ANSWER_WAIT_MS), on scratch walks */ \
	X(provisional_young) /* ones still unanswered but younger: left to the next window */ \
	X(findings_provisional) /* findings from them (in findings) */ \
	X(prior_observations) /* horizontal outcomes of unflagged sources the prior counted */ \
	X(theta0_permille) /* the theta0 in use at the last window, in thousandths (a value) */ \
	X(udp_walk_contacts) /* first contacts of any source's UDP walks (apart from contacts) */ \
	X(udp_walk_successes) /* answered by the reverse datagram */ \
	X(udp_walk_failures) /* empty datagrams unanswered or refused; payload to a new \
				address refused */ \
	X(udp_walk_refused) /* refused by the target's port unreachable (in udp_walk_failures) */ \
	X(udp_walk_undecided) /* no evidence (payload to a new port of a known host, or \
				 unanswered; kept sending; time exceeded back) or their entry \
				 given to another source first */ \
	X(udp_walk_sources_evicted) /* UDP walk entries not idle pushed out of a full set \
				       (the one holding the least evidence) */ \
	X(udp_walk_flagged) /* UDP walks that crossed eta1 */ \
	X(udp_walk_findings) /* findings of the UDP walks (in findings) */

struct safem_seqscan_totals {
#define SAFEM_SEQSCAN_FIELD_(name) uint64_t name;
	SAFEM_SEQSCAN_TOTALS(SAFEM_SEQSCAN_FIELD_)
#undef SAFEM_SEQSCAN_FIELD_
};

struct safem_seqscan;

/** NULL with errno EINVAL (pane_flows 0) or ENOMEM. */
struct safem_seqscan *safem_seqscan_create(const struct safem_seqscan_params *p);
void safem_seqscan_free(struct safem_seqscan *s);

/**
 * One window, in time order: its flow log (segments as lib/window hands them; one pane
 * per call: with sliding windows the newest pane only, so no contribution is seen twice).
 * judged false (a sampled window, flows past the log bound): its contacts are not
 * collected and the previous window's are dropped undecided (a missing answer is no
 * evidence). A log with more than pane_flows entries or a weighted (surge-sampled)
 * contribution is not judged either. end_ms: the time the pane's log reaches (Unix ms; its
 * newest packet, at most the pane's end: the probe passes that, so a pane cut short is
 * not taken as watched to its nominal end), against which the contributions' first packet
 * times are read (safem_profile_flow_first_ms); 0: no times,
 * no provisional decisions (the window's contacts wait for the next window only).
 * @return 0, or -EINVAL (s NULL, or segments NULL with nseg > 0)
 */
int safem_seqscan_window(struct safem_seqscan *s, const struct safem_profile_flow *const *seg,
			 const uint32_t *n, unsigned int nseg, bool judged, uint64_t end_ms);

/** The last window's findings (valid until the next window), the most failures first. */
unsigned int safem_seqscan_findings(const struct safem_seqscan *s,
				    const struct safem_seqscan_finding **out);

void safem_seqscan_totals(const struct safem_seqscan *s, struct safem_seqscan_totals *t);

/** True for a unicast address a contact may go to or come from (not multicast, broadcast,
 *  unspecified, loopback; IPv4 a.b.c.255 is taken for a subnet broadcast). */
bool safem_seqscan_unicast(const uint8_t addr[16], uint8_t ip_version);

#ifdef __cplusplus
}
#endif

#endif /* SAFEM_SEQSCAN_H */
