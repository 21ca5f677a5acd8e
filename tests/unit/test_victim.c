/* SPDX-License-Identifier: BSD-3-Clause */
/* Destination-side sequential test (lib/victim): walks computed by hand with the paper's
 * parameters, as tests/unit/test_seqscan.c. A failure multiplies the likelihood ratio by
 * (1-0.2)/(1-0.8) = 4, a success by 1/4; eta1 = 99. So 3 failed arrivals (64) do not flag a
 * destination, 4 (256 > 99) do; F F F S F F: 4^4 = 256 at the 6th. Arrivals of window N are
 * decided at the end of window N+1, against what the destination sent in N-1, N and N+1. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "safem_trw.h"
#include "safem_victim.h"
#include "../tools/seqscan_flow.h"

#define TCP_SYN 0x02
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_ECE 0x40
#define TCP_CWR 0x80
#define MAXF 256

struct win {
	struct safem_profile_flow f[MAXF];
	uint32_t n;
};

static void
add(struct win *w, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint8_t proto,
    uint8_t flags)
{
	assert_true(w->n < MAXF);
	seqscan_flow_v4(&w->f[w->n++], src, dst, sport, dport, proto, flags);
}

/* One window ending at end_ms (0: no times: nothing decided in its own window); its
 * findings. */
static unsigned int
run_at(struct safem_victim *v, struct win *w, uint64_t end_ms,
       const struct safem_victim_finding **f)
{
	const struct safem_profile_flow *seg[1] = {w->f};

	assert_int_equal(safem_victim_window(v, seg, &w->n, 1, true, end_ms), 0);
	w->n = 0;
	return safem_victim_findings(v, f);
}

static void
run(struct safem_victim *v, struct win *w)
{
	const struct safem_victim_finding *f;

	run_at(v, w, 0, &f);
}

static struct safem_victim *
make(unsigned int destinations)
{
	struct safem_victim_params p = {.destinations = destinations, .pane_flows = MAXF};
	struct safem_victim *v = safem_victim_create(&p);
	static struct win empty;
	const struct safem_profile_flow *seg[1] = {empty.f};

	/* the window before the first arrivals: a request could be there */
	if (v != NULL && safem_victim_window(v, seg, &empty.n, 1, true, 0) != 0) {
		safem_victim_free(v);
		return NULL;
	}
	return v;
}

/* Each case's test (64 destinations unless its setup says), freed by teardown whatever the
 * case asserted. */
struct fx {
	struct safem_victim *v;
};

static int
fx_create(void **state, unsigned int destinations)
{
	struct fx *x = calloc(1, sizeof(*x));

	if (x == NULL)
		return -1;
	*state = x;
	x->v = make(destinations);
	return x->v == NULL ? -1 : 0;
}

static int
setup(void **state)
{
	return fx_create(state, 64);
}

static int
setup_one_set(void **state)
{
	return fx_create(state, 4); /* one set of 4 */
}

static int
teardown(void **state)
{
	struct fx *x = *state;

	if (x != NULL) {
		safem_victim_free(x->v);
		free(x);
	}
	return 0;
}

/* a second test within a case: a fresh one of 64 destinations */
static struct safem_victim *
remake(struct fx *x)
{
	safem_victim_free(x->v);
	x->v = make(64);
	assert_non_null(x->v);
	return x->v;
}

#define VICTIM 0x0a000005u /* 10.0.0.5 */
#define NET 0xc6330000u    /* 198.51.0.0: the sources */

/* n datagrams from new sources' port sport to the victim */
static void
udp_in(struct win *w, uint32_t first, unsigned int n, uint16_t sport)
{
	for (unsigned int i = 0; i < n; i++)
		add(w, NET + first + i, VICTIM, sport, 40000, 17, 0);
}

static unsigned int
judge(struct safem_victim *v, struct win *w, const struct safem_victim_finding **f)
{
	static struct win next;

	run(v, w);
	run(v, &next);
	return safem_victim_findings(v, f);
}

static void
test_four_unsolicited_flag(void **state)
{
	struct fx *x = *state;
	struct safem_victim *v = x->v;
	const struct safem_victim_finding *f;
	struct safem_victim_totals t;
	static struct win w;

	udp_in(&w, 1, 3, 1900);
	assert_int_equal(judge(v, &w, &f), 0); /* 4^3 = 64 < 99 */
	udp_in(&w, 10, 1, 1900);
	assert_int_equal(judge(v, &w, &f), 1); /* 4^4 = 256 */
	assert_int_equal(f[0].kind, SAFEM_VICTIM_REFLECTION);
	assert_int_equal(f[0].port, 1900);
	assert_int_equal(f[0].failures, 1);
	assert_int_equal(f[0].failures_run, 4);
	assert_int_equal(f[0].proto, 17);
	assert_int_equal(f[0].victim.bytes[15], 5);
	assert_int_equal(f[0].source.bytes[15], 10);
	assert_int_equal(f[0].windows, 1);
	assert_string_equal(safem_victim_kind_name(f[0].kind), "reflection");
	safem_victim_totals(v, &t);
	assert_int_equal(t.arrivals, 4);
	assert_int_equal(t.failures, 4);
	assert_int_equal(t.destinations_flagged, 1);
	assert_int_equal(t.findings, 1);
}

/* F F F S F F: 4^3 / 4 * 4^2 = 256 flags at the 6th */
static void
test_success_walks_back(void **state)
{
	struct fx *x = *state;
	struct safem_victim *v = x->v;
	const struct safem_victim_finding *f;
	static struct win w;

	udp_in(&w, 1, 3, 53);
	assert_int_equal(judge(v, &w, &f), 0);
	/* the victim asked 198.51.0.20 (its request in the same window): a success */
	add(&w, VICTIM, NET + 20, 40000, 53, 17, 0);
	udp_in(&w, 20, 1, 53);
	assert_int_equal(judge(v, &w, &f), 0);
	udp_in(&w, 30, 1, 53);
	assert_int_equal(judge(v, &w, &f), 0); /* 4^2 = 16 */
	udp_in(&w, 40, 1, 53);
	assert_int_equal(judge(v, &w, &f), 1);
	assert_int_equal(f[0].failures_run, 5);
}

/* a request in the window before the response's counts; two windows before does not */
static void
test_request_windows(void **state)
{
	struct fx *x = *state;
	struct safem_victim *v = x->v;
	struct safem_victim_totals t;
	static struct win w, empty;

	for (unsigned int i = 0; i < 4; i++)
		add(&w, VICTIM, NET + 1 + i, 40000, 123, 17, 0);
	run(v, &w);
	udp_in(&w, 1, 2, 123); /* asked one window before: successes */
	run(v, &w);
	run(v, &empty);
	safem_victim_totals(v, &t);
	assert_int_equal(t.successes, 2);
	assert_int_equal(t.failures, 0);
	udp_in(&w, 3, 2, 123); /* asked three windows before: failures */
	run(v, &w);
	run(v, &empty);
	safem_victim_totals(v, &t);
	assert_int_equal(t.successes, 2);
	assert_int_equal(t.failures, 2);
}

/* a source that reached another destination in the window is no arrival (a scanner, a
 * peer); one source counts once (the Bloom filter of sources) */
static void
test_spread_and_repeated_sources(void **state)
{
	struct fx *x = *state;
	struct safem_victim *v = x->v;
	const struct safem_victim_finding *f;
	struct safem_victim_totals t;
	static struct win w;

	for (unsigned int i = 0; i < 6; i++) {
		add(&w, NET + 1 + i, VICTIM, 1900, 40000, 17, 0);
		add(&w, NET + 1 + i, VICTIM + 1, 1900, 40000, 17, 0);
	}
	assert_int_equal(judge(v, &w, &f), 0);
	safem_victim_totals(v, &t);
	assert_int_equal(t.arrivals, 0);
	assert_int_equal(t.spread_sources, 12);
	/* the same source, five windows, five ports of the victim: one arrival */
	for (unsigned int i = 0; i < 5; i++) {
		add(&w, NET + 50, VICTIM, 1900, (uint16_t)(40000 + i), 17, 0);
		assert_int_equal(judge(v, &w, &f), 0);
	}
	safem_victim_totals(v, &t);
	assert_int_equal(t.arrivals, 1);
	assert_int_equal(t.failures, 1);
}

/* failures spread over many source ports (peers, each at its own) flag the walk but make
 * no finding: 4 Misra-Gries counters over 8 ports hold 3 of 8 < 3/4 */
static void
test_ports_not_held(void **state)
{
	struct fx *x = *state;
	struct safem_victim *v = x->v;
	const struct safem_victim_finding *f;
	struct safem_victim_totals t;
	static struct win w;

	for (unsigned int i = 0; i < 8; i++)
		add(&w, NET + 1 + i, VICTIM, (uint16_t)(20000 + i), 40000, 17, 0);
	assert_int_equal(judge(v, &w, &f), 0);
	safem_victim_totals(v, &t);
	assert_int_equal(t.destinations_flagged, 1);
	assert_int_equal(t.findings, 0);
}

/* four sources from four ports share nothing: the walk flags (4^4) but the ports are as
 * many as the failures (more than half of them); two more from one of the ports: 6
 * failures over 4 ports, 2 x 4 > 6, still none; 8 failures over 4 ports: a finding */
static void
test_ports_shared(void **state)
{
	struct fx *x = *state;
	struct safem_victim *v = x->v;
	const struct safem_victim_finding *f;
	static struct win w;

	for (unsigned int i = 0; i < 4; i++)
		add(&w, NET + 1 + i, VICTIM, (uint16_t)(20000 + i), 427, 17, 0);
	assert_int_equal(judge(v, &w, &f), 0);
	add(&w, NET + 11, VICTIM, 20000, 427, 17, 0);
	add(&w, NET + 12, VICTIM, 20000, 427, 17, 0);
	assert_int_equal(judge(v, &w, &f), 0);
	add(&w, NET + 13, VICTIM, 20000, 427, 17, 0);
	add(&w, NET + 14, VICTIM, 20000, 427, 17, 0);
	assert_int_equal(judge(v, &w, &f), 1);
	assert_int_equal(f[0].port, 20000);
}

/* a TCP flow carrying data to the victim with nothing going back: the link sees one
 * direction of it (a resolver whose queries leave another way); its responses without a
 * request are then no evidence, its attempts still are */
static void
test_one_way_destination(void **state)
{
	struct fx *x = *state;
	struct safem_victim *v = x->v;
	const struct safem_victim_finding *f;
	struct safem_victim_totals t;
	static struct win w;

	add(&w, NET + 100, VICTIM, 53, 41000, 6, TCP_ACK | TCP_PSH);
	udp_in(&w, 1, 6, 53);
	assert_int_equal(judge(v, &w, &f), 0);
	safem_victim_totals(v, &t);
	assert_int_equal(t.one_way_flows, 1);
	assert_int_equal(t.undecided, 6);
	assert_int_equal(t.failures, 0);
	for (unsigned int i = 0; i < 4; i++)
		add(&w, NET + 20 + i, VICTIM, (uint16_t)(30000 + i), 80, 6, TCP_SYN);
	assert_int_equal(judge(v, &w, &f), 1);
	assert_int_equal(f[0].kind, SAFEM_VICTIM_ATTEMPT);
}

/* spoofed SYNs (ECE+CWR too) that never complete: syn_attempt on the attacked port; a
 * client whose ACK follows in the next window is a success */
static void
test_attempts(void **state)
{
	struct fx *x = *state;
	struct safem_victim *v = x->v;
	const struct safem_victim_finding *f;
	struct safem_victim_totals t;
	static struct win w, next;

	for (unsigned int i = 0; i < 4; i++)
		add(&w, NET + 1 + i, VICTIM, (uint16_t)(30000 + i), 3074, 6,
		    TCP_SYN | TCP_ECE | TCP_CWR);
	assert_int_equal(judge(v, &w, &f), 1);
	assert_int_equal(f[0].kind, SAFEM_VICTIM_ATTEMPT);
	assert_int_equal(f[0].port, 3074);
	assert_int_equal(f[0].failures, 4);

	v = remake(x);
	for (unsigned int i = 0; i < 4; i++) {
		add(&w, NET + 1 + i, VICTIM, (uint16_t)(30000 + i), 443, 6, TCP_SYN);
		add(&next, NET + 1 + i, VICTIM, (uint16_t)(30000 + i), 443, 6, TCP_ACK | TCP_PSH);
	}
	run(v, &w);
	run(v, &next);
	safem_victim_totals(v, &t);
	assert_int_equal(t.successes, 4);
	assert_int_equal(t.failures, 0);
}

/* pure SYN-ACKs nobody asked for: reflection from the reflectors' ports; a SYN-ACK flow
 * that went on with data while nothing went back is no evidence (one direction on the
 * link); the victim's SYN makes it a success */
static void
test_synack(void **state)
{
	struct fx *x = *state;
	struct safem_victim *v = x->v;
	const struct safem_victim_finding *f;
	struct safem_victim_totals t;
	static struct win w;

	for (unsigned int i = 0; i < 4; i++)
		add(&w, NET + 1 + i, VICTIM, 80, (uint16_t)(50000 + i), 6, TCP_SYN | TCP_ACK);
	assert_int_equal(judge(v, &w, &f), 1);
	assert_int_equal(f[0].kind, SAFEM_VICTIM_REFLECTION);
	assert_int_equal(f[0].port, 80);

	v = remake(x);
	add(&w, NET + 1, VICTIM, 443, 50000, 6, TCP_SYN | TCP_ACK | TCP_PSH);
	add(&w, NET + 2, VICTIM, 443, 50001, 6, TCP_SYN | TCP_ACK);
	add(&w, VICTIM, NET + 2, 50001, 443, 6, TCP_SYN);
	assert_int_equal(judge(v, &w, &f), 0);
	safem_victim_totals(v, &t);
	assert_int_equal(t.undecided, 0); /* not an arrival: SYN-ACK with data */
	/* the SYN-ACK asked for, and the victim's own SYN to 198.51.0.2, an attempt there
	 * that never completed (no ACK on the capture) */
	assert_int_equal(t.arrivals, 2);
	assert_int_equal(t.successes, 1);
	assert_int_equal(t.failures, 1);
}

/* ICMP echo replies with no request: icmp_reply; fragments (UDP without ports) from the
 * reflectors with their first fragments from port 53: reflection */
static void
test_icmp_and_fragments(void **state)
{
	struct fx *x = *state;
	struct safem_victim *v = x->v;
	const struct safem_victim_finding *f;
	static struct win w;

	for (unsigned int i = 0; i < 4; i++)
		add(&w, NET + 1 + i, VICTIM, 0, 0 /* echo reply */, 1, 0);
	add(&w, NET + 9, VICTIM, 0, 8u << 8 /* echo request: no arrival */, 1, 0);
	assert_int_equal(judge(v, &w, &f), 1);
	assert_int_equal(f[0].kind, SAFEM_VICTIM_ICMP_REPLY);
	assert_int_equal(f[0].port, 0);
	assert_int_equal(f[0].failures, 4);

	v = remake(x);
	for (unsigned int i = 0; i < 6; i++)
		add(&w, NET + 1 + i, VICTIM, i % 2 ? 0 : 53, i % 2 ? 0 : 40000, 17, 0);
	assert_int_equal(judge(v, &w, &f), 1);
	assert_int_equal(f[0].kind, SAFEM_VICTIM_REFLECTION);
	assert_int_equal(f[0].failures, 6);
}

/* ---- the second walk: (source, window) observations of ICMP replies ---- */

/* echo replies from sources first..first+n-1 to the victim */
static void
replies_in(struct win *w, uint32_t first, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		add(w, NET + first + i, VICTIM, 0, 0 /* echo reply */, 1, 0);
}

/* three sources of unsolicited echo replies, window after window: 3 failed arrivals (4^3 =
 * 64) never flag the first walk; their (source, window) observations flag the second at the
 * 6th (4^6), its finding names 3 failures of its own window */
static void
test_reply_source_windows(void **state)
{
	struct fx *x = *state;
	struct safem_victim *v = x->v;
	const struct safem_victim_finding *f;
	struct safem_victim_totals t;
	static struct win w;

	replies_in(&w, 1, 3);
	assert_int_equal(judge(v, &w, &f), 0);
	replies_in(&w, 1, 3);
	assert_int_equal(judge(v, &w, &f), 1);
	assert_int_equal(f[0].kind, SAFEM_VICTIM_ICMP_REPLY);
	assert_true(f[0].source_windows);
	assert_int_equal(f[0].failures, 3);
	assert_int_equal(f[0].failures_run, 6);
	assert_int_equal(f[0].port, 0);
	assert_int_equal(f[0].proto, 1);
	assert_int_equal(f[0].windows, 1);
	assert_int_equal(f[0].victim.bytes[15], 5);
	replies_in(&w, 1, 3);
	assert_int_equal(judge(v, &w, &f), 1);
	assert_int_equal(f[0].windows, 2);
	safem_victim_totals(v, &t);
	assert_int_equal(t.arrivals, 3); /* known sources are no new arrivals */
	assert_int_equal(t.failures, 3);
	assert_int_equal(t.destinations_flagged, 0);
	assert_int_equal(t.replies, 9);
	assert_int_equal(t.reply_failures, 9);
	assert_int_equal(t.reply_destinations_flagged, 1);
}

/* one source's two reply types in a window are one observation: one source flags the
 * second walk at its 4th window (4^4 = 256), not its 2nd */
static void
test_reply_once_a_window(void **state)
{
	struct fx *x = *state;
	struct safem_victim *v = x->v;
	const struct safem_victim_finding *f;
	struct safem_victim_totals t;
	static struct win w;

	for (unsigned int k = 1; k <= 4; k++) {
		add(&w, NET + 7, VICTIM, 0, 0 /* echo reply */, 1, 0);
		add(&w, NET + 7, VICTIM, 0, 14u << 8 /* timestamp reply */, 1, 0);
		assert_int_equal(judge(v, &w, &f), k == 4 ? 1 : 0);
	}
	assert_int_equal(f[0].failures, 1);
	assert_int_equal(f[0].failures_run, 4);
	assert_int_equal(f[0].source.bytes[15], 7);
	safem_victim_totals(v, &t);
	assert_int_equal(t.replies, 4);
}

/* a host that pings: the replies it asked for are successes (its requests in the window),
 * and one unsolicited source a window among two answered ones never flags */
static void
test_reply_asked_for(void **state)
{
	struct fx *x = *state;
	struct safem_victim *v = x->v;
	const struct safem_victim_finding *f;
	struct safem_victim_totals t;
	static struct win w;

	for (unsigned int k = 0; k < 6; k++) {
		add(&w, VICTIM, NET + 1, 0, 8u << 8 /* echo request */, 1, 0);
		add(&w, VICTIM, NET + 2, 0, 8u << 8, 1, 0);
		replies_in(&w, 1, 3);
		assert_int_equal(judge(v, &w, &f), 0);
	}
	safem_victim_totals(v, &t);
	assert_int_equal(t.reply_successes, 12);
	assert_int_equal(t.reply_failures, 6);
	assert_int_equal(t.reply_destinations_flagged, 0);
}

/* a one-way destination's replies are no evidence; a source that also reached another
 * destination in the window is no observation */
static void
test_reply_one_way_and_spread(void **state)
{
	struct fx *x = *state;
	struct safem_victim *v = x->v;
	const struct safem_victim_finding *f;
	struct safem_victim_totals t;
	static struct win w;

	for (unsigned int k = 0; k < 3; k++) {
		add(&w, NET + 100, VICTIM, 443, 41000, 6, TCP_ACK | TCP_PSH);
		replies_in(&w, 1, 3);
		assert_int_equal(judge(v, &w, &f), 0);
	}
	safem_victim_totals(v, &t);
	assert_int_equal(t.reply_failures, 0);
	assert_int_equal(t.failures, 0);
	v = remake(x);
	for (unsigned int k = 0; k < 3; k++) {
		replies_in(&w, 1, 3);
		for (unsigned int i = 1; i <= 3; i++)
			add(&w, NET + i, VICTIM + 1, 0, 0, 1, 0);
		assert_int_equal(judge(v, &w, &f), 0);
	}
	safem_victim_totals(v, &t);
	assert_int_equal(t.replies, 0);
	assert_int_equal(t.arrivals, 0);
}

/* UDP datagrams from source src to the victim: n new flows, each from its own source port to
 * its own destination port (base + i), as a flood to random ports sends them */
static void
udp_ports_in(struct win *w, uint32_t src, unsigned int n, uint16_t base)
{
	for (unsigned int i = 0; i < n; i++)
		add(w, NET + src, VICTIM, (uint16_t)(base + 7 * i), (uint16_t)(base + i), 17, 0);
}

/* the second walk's UDP totals of v so far */
static void
assert_udp_totals(const struct safem_victim *v, uint64_t udp, uint64_t successes,
		  uint64_t failures, uint64_t flagged)
{
	struct safem_victim_totals t;

	safem_victim_totals(v, &t);
	assert_int_equal(t.udp_replies, udp);
	assert_int_equal(t.reply_successes, successes);
	assert_int_equal(t.reply_failures, failures);
	assert_int_equal(t.reply_destinations_flagged, flagged);
}

/* three sources, each opening UDP flows from four new ports to four new ports of the victim
 * a window, nothing back: 3 failed arrivals (4^3 = 64) never flag the first walk; the (source,
 * window) observations (four ports set at least two bits of each half of udp_ports: checked
 * by the flag) flag the second at the 6th
 * (4^6), its finding of kind udp_ports (a UDP flood) names 3 failures of its own window */
static void
test_udp_ports_flood(void **state)
{
	struct fx *x = *state;
	struct safem_victim *v = x->v;
	const struct safem_victim_finding *f;
	struct safem_victim_totals t;
	static struct win w;

	for (unsigned int s = 1; s <= 3; s++)
		udp_ports_in(&w, s, 4, (uint16_t)(1000 * s));
	assert_int_equal(judge(v, &w, &f), 0);
	for (unsigned int s = 1; s <= 3; s++)
		udp_ports_in(&w, s, 4, (uint16_t)(20000 + 1000 * s));
	assert_int_equal(judge(v, &w, &f), 1);
	assert_int_equal(f[0].kind, SAFEM_VICTIM_UDP_PORTS);
	assert_string_equal(safem_victim_kind_name(f[0].kind), "udp_ports");
	assert_true(f[0].source_windows);
	assert_int_equal(f[0].failures, 3);
	assert_int_equal(f[0].failures_run, 6);
	assert_int_equal(f[0].port, 0);
	assert_int_equal(f[0].proto, 17);
	assert_int_equal(f[0].victim.bytes[15], 5);
	assert_udp_totals(v, 6, 0, 6, 1);
	safem_victim_totals(v, &t);
	assert_int_equal(t.arrivals, 3);
	assert_int_equal(t.failures, 3);
	assert_int_equal(t.destinations_flagged, 0);
	assert_int_equal(t.replies, 6);
}

/* one-way UDP that is no flood, window after window with nothing back, never an
 * observation past its first window: a media stream (one 5-tuple: one port), a device's
 * three fixed exports (syslog, traps, flow export: three ports, new in their first window
 * only: one failed observation) and a burst of traps a window from new source ports to
 * one port (one port: no observation). The first walk: three new sources, 3 failures
 * (4^3 = 64 < 99) */
static void
test_udp_one_way_streams(void **state)
{
	struct fx *x = *state;
	struct safem_victim *v = x->v;
	const struct safem_victim_finding *f;
	struct safem_victim_totals t;
	static struct win w, none;

	for (unsigned int k = 0; k < 8; k++) {
		add(&w, NET + 1, VICTIM, 5004, 16384, 17, 0);
		add(&w, NET + 10, VICTIM, 514, 514, 17, 0);
		add(&w, NET + 10, VICTIM, 40001, 162, 17, 0);
		add(&w, NET + 10, VICTIM, 40002, 2055, 17, 0);
		for (unsigned int i = 0; i < 5; i++)
			add(&w, NET + 11, VICTIM, (uint16_t)(30000 + 10 * k + i), 162, 17, 0);
		run(v, &w);
		assert_int_equal(safem_victim_findings(v, &f), 0);
	}
	run(v, &none);
	assert_int_equal(safem_victim_findings(v, &f), 0);
	assert_udp_totals(v, 1, 0, 1, 0);
	safem_victim_totals(v, &t);
	assert_int_equal(t.failures, 3);
	assert_int_equal(t.destinations_flagged, 0);
}

/* a reflector answering from its service port (53) to four ports of the victim a window,
 * none asked for: its new flows reach several ports from one, no observation of the second
 * walk (the first walk's reflection: one new source, one failure) */
static void
test_udp_reflector_port(void **state)
{
	struct fx *x = *state;
	struct safem_victim *v = x->v;
	const struct safem_victim_finding *f;
	static struct win w;

	for (unsigned int k = 0; k < 6; k++) {
		for (unsigned int i = 0; i < 4; i++)
			add(&w, NET + 20, VICTIM, 53, (uint16_t)(1000 * k + 7 * i), 17, 0);
		assert_int_equal(judge(v, &w, &f), 0);
	}
	assert_udp_totals(v, 0, 0, 0, 0);
}

/* a reflector whose answers are fragmented: from 123 to a new port of the victim, and the
 * non-first fragments (ports 0, one flow) each window. Port 0 is no port: one port on each
 * side, no observation (counting it: two ports each side unless their hashes share a bit) */
static void
test_udp_fragmented_reflector(void **state)
{
	struct fx *x = *state;
	struct safem_victim *v = x->v;
	const struct safem_victim_finding *f;
	static struct win w;

	for (unsigned int k = 0; k < 6; k++) {
		add(&w, NET + 21, VICTIM, 123, (uint16_t)(2000 + k), 17, 0);
		add(&w, NET + 21, VICTIM, 0, 0, 17, 0);
		assert_int_equal(judge(v, &w, &f), 0);
	}
	assert_udp_totals(v, 0, 0, 0, 0);
}

/* sources opening new UDP ports on a destination that answers each of them (one flow
 * back a window): successes, never a flag */
static void
test_udp_ports_answered(void **state)
{
	struct fx *x = *state;
	struct safem_victim *v = x->v;
	const struct safem_victim_finding *f;
	static struct win w;

	for (unsigned int k = 0; k < 6; k++) {
		for (unsigned int s = 1; s <= 3; s++) {
			udp_ports_in(&w, s, 4, (uint16_t)(1000 * s + 100 * k));
			add(&w, VICTIM, NET + s, 53, 33000, 17, 0);
		}
		assert_int_equal(judge(v, &w, &f), 0);
	}
	assert_udp_totals(v, 18, 18, 0, 0);
}

/* multicast and broadcast destinations are no victims */
static void
test_not_unicast(void **state)
{
	struct fx *x = *state;
	struct safem_victim *v = x->v;
	const struct safem_victim_finding *f;
	struct safem_victim_totals t;
	static struct win w;

	for (unsigned int i = 0; i < 6; i++) {
		add(&w, NET + 1 + i, 0xeffffffau, 1900, 1900, 17, 0); /* 239.255.255.250 */
		add(&w, NET + 20 + i, 0x0a0000ffu, 137, 137, 17, 0);  /* 10.0.0.255 */
	}
	assert_int_equal(judge(v, &w, &f), 0);
	safem_victim_totals(v, &t);
	assert_int_equal(t.arrivals, 0);
}

/* a window not judged drops the pending arrivals undecided */
static void
test_unjudged(void **state)
{
	struct fx *x = *state;
	struct safem_victim *v = x->v;
	const struct safem_profile_flow *seg[1];
	struct safem_victim_totals t;
	static struct win w;

	udp_in(&w, 1, 5, 1900);
	run(v, &w);
	seg[0] = w.f;
	assert_int_equal(safem_victim_window(v, seg, &w.n, 1, false, 0), 0);
	safem_victim_totals(v, &t);
	assert_int_equal(t.undecided, 5);
	assert_int_equal(t.failures, 0);
	assert_int_equal(t.windows_skipped, 1);
	assert_int_equal(safem_victim_window(NULL, seg, &w.n, 1, true, 0), -EINVAL);
}

/* a full 4-way set evicts the least recently active destination; its pending arrivals
 * are dropped at the decision */
static void
test_eviction(void **state)
{
	struct fx *x = *state;
	struct safem_victim *v = x->v;
	struct safem_victim_totals t;
	static struct win w;

	for (unsigned int d = 0; d < 5; d++)
		add(&w, NET + 1 + d, VICTIM + d, 1900, 40000, 17, 0);
	run(v, &w);
	run(v, &w);
	safem_victim_totals(v, &t);
	assert_int_equal(t.destinations_evicted, 1);
	assert_int_equal(t.arrivals_dropped, 1);
	assert_int_equal(t.failures, 4);
	{
		struct safem_victim_params p = {.pane_flows = 0};

		errno = 0;
		assert_null(safem_victim_create(&p));
		assert_int_equal(errno, EINVAL);
	}
}

/* ---------------------------------------------------------------------- */
/* Decisions in the observation's own window (session 11): timed logs       */

#define E0 UINT64_C(1700000000000) /* a pane end, Unix ms */
#define T_MS SAFEM_VICTIM_ANSWER_WAIT_MS

/* every contribution of w last seen at ms */
static void
timed(struct win *w, uint64_t ms)
{
	for (uint32_t i = 0; i < w->n; i++)
		safem_profile_flow_set_last_ms(&w->f[i], ms);
}

/* 4 unsolicited datagrams 800 ms old at the pane's end (T = 250 ms): 4 provisional
 * failures, 4^4 = 256 > 99 on the copy, a finding in their own window; the persisted walk
 * moves at the end of the next window (its finding then is the final one, windows 1) */
static void
test_provisional_own_window(void **state)
{
	struct fx *x = *state;
	struct safem_victim *v = x->v;
	const struct safem_victim_finding *f;
	struct safem_victim_totals t;
	static struct win w;

	udp_in(&w, 1, 4, 123);
	timed(&w, E0 + 200);
	assert_int_equal(run_at(v, &w, E0 + 1000, &f), 1);
	assert_true(f[0].provisional);
	assert_false(f[0].source_windows);
	assert_int_equal(f[0].kind, SAFEM_VICTIM_REFLECTION);
	assert_int_equal(f[0].port, 123);
	assert_int_equal(f[0].failures, 4);
	assert_int_equal(f[0].failures_run, 4);
	assert_true(fabs(f[0].llr - log(99.0)) < 1e-9); /* a flagged walk stays at eta1 */
	assert_int_equal(f[0].windows, 1);
	assert_int_equal(f[0].victim.bytes[15], 5);
	safem_victim_totals(v, &t);
	assert_int_equal(t.provisional_failures, 4);
	assert_int_equal(t.provisional_findings, 1);
	assert_int_equal(t.findings, 1);
	assert_int_equal(t.failures, 0); /* nothing persisted yet */
	assert_int_equal(t.destinations_flagged, 0);

	assert_int_equal(run_at(v, &w, E0 + 2000, &f), 1);
	assert_false(f[0].provisional);
	assert_int_equal(f[0].failures, 4);
	assert_int_equal(f[0].windows, 1);
	safem_victim_totals(v, &t);
	assert_int_equal(t.failures, 4);
	assert_int_equal(t.destinations_flagged, 1);
	assert_int_equal(t.provisional_reversed, 0);
	assert_int_equal(t.provisional_findings, 1);
}

/* no answer yet and younger than T: undecided in its own window (3 old failures: 64, no
 * finding), a failure with the next window; exactly T old counts */
static void
test_provisional_young(void **state)
{
	struct fx *x = *state;
	struct safem_victim *v = x->v;
	const struct safem_victim_finding *f;
	struct safem_victim_totals t;
	static struct win w;

	udp_in(&w, 1, 3, 123);
	timed(&w, E0 + 200);
	udp_in(&w, 10, 1, 123);
	safem_profile_flow_set_last_ms(&w.f[3], E0 + 1000 - T_MS + 1); /* T - 1 ms old */
	assert_int_equal(run_at(v, &w, E0 + 1000, &f), 0);
	safem_victim_totals(v, &t);
	assert_int_equal(t.provisional_failures, 3);
	assert_int_equal(t.provisional_young, 1);
	assert_int_equal(run_at(v, &w, E0 + 2000, &f), 1); /* all four, final */
	assert_false(f[0].provisional);
	assert_int_equal(f[0].failures, 4);

	v = remake(x);
	udp_in(&w, 1, 3, 123);
	timed(&w, E0 + 200);
	udp_in(&w, 10, 1, 123);
	safem_profile_flow_set_last_ms(&w.f[3], E0 + 1000 - T_MS); /* exactly T */
	assert_int_equal(run_at(v, &w, E0 + 1000, &f), 1);
	assert_true(f[0].provisional);

	/* end_ms 0: no times, no provisional step (as before session 11) */
	v = remake(x);
	udp_in(&w, 1, 4, 123);
	timed(&w, E0 + 200);
	assert_int_equal(run_at(v, &w, 0, &f), 0);
	safem_victim_totals(v, &t);
	assert_int_equal(t.provisional_failures + t.provisional_young, 0);
}

/* provisional failures answered in the next window: successes in the persisted walk (4
 * successes, 1/256 < eta0: the walk starts over), counted as answered; the provisional
 * finding of their window stays the only one */
static void
test_provisional_reversed(void **state)
{
	struct fx *x = *state;
	struct safem_victim *v = x->v;
	const struct safem_victim_finding *f;
	struct safem_victim_totals t;
	static struct win w;

	udp_in(&w, 1, 4, 123);
	timed(&w, E0 + 200);
	assert_int_equal(run_at(v, &w, E0 + 1000, &f), 1);
	assert_true(f[0].provisional);
	for (unsigned int i = 0; i < 4; i++)
		add(&w, VICTIM, NET + 1 + i, 40000, 123, 17, 0);
	timed(&w, E0 + 1100);
	assert_int_equal(run_at(v, &w, E0 + 2000, &f), 0);
	safem_victim_totals(v, &t);
	assert_int_equal(t.successes, 4);
	assert_int_equal(t.failures, 0);
	assert_int_equal(t.provisional_reversed, 4);
	assert_int_equal(t.destinations_flagged, 0);
	/* the walk started over: 3 new old failures on the copy (64) do not flag it */
	udp_in(&w, 20, 3, 123);
	timed(&w, E0 + 2100);
	assert_int_equal(run_at(v, &w, E0 + 3000, &f), 0);
}

/* benign patterns with old packets: a client's answers (its requests in the window), a
 * server's new clients answered in the window: provisional successes, never a finding;
 * handshakes completed in the window (SYN, ACK and data in one flow) are no arrivals */
static void
test_provisional_benign(void **state)
{
	struct fx *x = *state;
	struct safem_victim *v = x->v;
	const struct safem_victim_finding *f;
	struct safem_victim_totals t;
	static struct win w;

	for (unsigned int i = 0; i < 8; i++) {
		add(&w, VICTIM, NET + 1 + i, 40000, 53, 17, 0);	  /* its queries */
		add(&w, NET + 1 + i, VICTIM, 53, 40000, 17, 0);	  /* their answers */
		add(&w, NET + 20 + i, VICTIM, 50000, 443, 17, 0); /* new clients */
		add(&w, VICTIM, NET + 20 + i, 443, 50000, 17, 0); /* answered */
		add(&w, NET + 40 + i, VICTIM, 50000, 22, 6, TCP_SYN | TCP_ACK | TCP_PSH);
	}
	timed(&w, E0 + 100);
	assert_int_equal(run_at(v, &w, E0 + 1000, &f), 0);
	assert_int_equal(run_at(v, &w, E0 + 2000, &f), 0);
	safem_victim_totals(v, &t);
	assert_int_equal(t.provisional_failures, 0);
	assert_int_equal(t.provisional_findings, 0);
	assert_int_equal(t.failures, 0);
	assert_int_equal(t.successes, 16);
}

/* spoofed SYNs, the newest 900 ms before the pane's end with no ACK: an attempt finding on
 * the attacked port in their own window */
static void
test_provisional_attempts(void **state)
{
	struct fx *x = *state;
	struct safem_victim *v = x->v;
	const struct safem_victim_finding *f;
	static struct win w;

	for (unsigned int i = 0; i < 4; i++)
		add(&w, NET + 1 + i, VICTIM, (uint16_t)(30000 + i), 3074, 6, TCP_SYN);
	timed(&w, E0 + 100);
	assert_int_equal(run_at(v, &w, E0 + 1000, &f), 1);
	assert_true(f[0].provisional);
	assert_int_equal(f[0].kind, SAFEM_VICTIM_ATTEMPT);
	assert_int_equal(f[0].port, 3074);
	assert_int_equal(f[0].failures, 4);
}

/* Dated by the first packet (session 12): spoofed SYN flows retried through the window (first
 * SYN 900 ms before the pane's end, the latest retry 100 ms before), no ACK: unanswered for
 * 900 ms >= T, an attempt finding in their own window (by the last packet all four were
 * 100 ms old: young, no step). The same flows completed by the client's ACK are successes;
 * flows that began 200 ms before the end (< T) are left undecided */
static void
syn_retries_in(struct win *w, uint32_t first_back_ms)
{
	for (uint32_t s = 1; s <= 4; s++) {
		add(w, NET + s, VICTIM, (uint16_t)(30000 + s), 3074, 6, TCP_SYN);
		safem_profile_flow_set_last_ms(&w->f[w->n - 1], E0 + 900); /* the latest retry */
		safem_profile_flow_set_first_back(&w->f[w->n - 1], first_back_ms);
	}
}

static void
test_provisional_first_packet(void **state)
{
	struct fx *x = *state;
	struct safem_victim *v = x->v;
	const struct safem_victim_finding *f;
	struct safem_victim_totals t;
	static struct win w;

	syn_retries_in(&w, 800); /* first SYNs at E0 + 100 */
	assert_int_equal(run_at(v, &w, E0 + 1000, &f), 1);
	safem_victim_totals(v, &t);
	assert_int_equal(t.provisional_failures, 4);
	assert_int_equal(t.provisional_young, 0);
	assert_true(f[0].provisional && f[0].kind == SAFEM_VICTIM_ATTEMPT && f[0].port == 3074 &&
		    f[0].failures == 4);

	/* answered: new clients' datagram flows (first 900 ms old, still sending) that the
	 * victim answered in the window are successes */
	v = remake(x);
	for (unsigned int i = 0; i < 4; i++) {
		add(&w, NET + 1 + i, VICTIM, 50000, 443, 17, 0);
		add(&w, VICTIM, NET + 1 + i, 443, 50000, 17, 0);
	}
	timed(&w, E0 + 900);
	for (unsigned int i = 0; i < 8; i += 2)
		safem_profile_flow_set_first_back(&w.f[i], 800);
	assert_int_equal(run_at(v, &w, E0 + 1000, &f), 0);
	safem_victim_totals(v, &t);
	assert_int_equal(t.provisional_failures, 0);
	assert_int_equal(t.provisional_young, 0);
	assert_int_equal(run_at(v, &w, E0 + 2000, &f), 0);
	safem_victim_totals(v, &t);
	assert_int_equal(t.successes, 4);
	assert_int_equal(t.failures, 0);

	/* young: began 200 ms before the end (T = 250 ms) */
	v = remake(x);
	syn_retries_in(&w, 100);
	assert_int_equal(run_at(v, &w, E0 + 1000, &f), 0);
	safem_victim_totals(v, &t);
	assert_int_equal(t.provisional_failures, 0);
	assert_int_equal(t.provisional_young, 4);
	assert_int_equal(run_at(v, &w, E0 + 2000, &f), 1); /* the final decisions */
	assert_false(f[0].provisional);
}

/* three sources of echo replies, old, window after window: 3 provisional failures on each
 * walk in the first window (64: none); in the second, the second walk's 3 final failures
 * and 3 provisional ones (4^6) are a finding naming this window's 3 sources, a window
 * before the final decisions flag it (test_reply_source_windows) */
static void
test_provisional_reply_walk(void **state)
{
	struct fx *x = *state;
	struct safem_victim *v = x->v;
	const struct safem_victim_finding *f;
	struct safem_victim_totals t;
	static struct win w;

	replies_in(&w, 1, 3);
	timed(&w, E0 + 300);
	assert_int_equal(run_at(v, &w, E0 + 1000, &f), 0);
	replies_in(&w, 1, 3);
	timed(&w, E0 + 1300);
	assert_int_equal(run_at(v, &w, E0 + 2000, &f), 1);
	assert_true(f[0].provisional);
	assert_true(f[0].source_windows);
	assert_int_equal(f[0].kind, SAFEM_VICTIM_ICMP_REPLY);
	assert_int_equal(f[0].failures, 3);
	assert_int_equal(f[0].failures_run, 6);
	safem_victim_totals(v, &t);
	assert_int_equal(t.reply_destinations_flagged, 0);
	assert_int_equal(t.provisional_failures, 3 + 3 + 3); /* 2 walks, then the second */
}

/* A provisional finding of the second walk names the kind of the failures it reports: three
 * sources' ICMP replies decided finally in window 2 (from window 1), three other sources'
 * new UDP ports failing provisionally in window 2 -> a provisional `udp_ports` finding with
 * those three (the merge of sessions 11's two branches counted the kinds of both). */
static void
test_provisional_udp_kind(void **state)
{
	struct fx *x = *state;
	struct safem_victim *v = x->v;
	const struct safem_victim_finding *f;
	static struct win w;
	unsigned int n, i, found = 0;

	replies_in(&w, 1, 3);
	timed(&w, E0 + 300);
	(void)run_at(v, &w, E0 + 1000, &f);
	for (unsigned int s = 1; s <= 3; s++)
		udp_ports_in(&w, 10 + s, 4, (uint16_t)(1000 * s));
	timed(&w, E0 + 1300); /* 700 ms before the end: old enough */
	n = run_at(v, &w, E0 + 2000, &f);
	for (i = 0; i < n; i++) {
		if (!f[i].provisional)
			continue;
		found++;
		assert_int_equal(f[i].kind, SAFEM_VICTIM_UDP_PORTS);
		assert_int_equal(f[i].proto, 17);
		assert_int_equal(f[i].failures, 3);
	}
	assert_int_equal(found, 1);
}

/* the per-link prior's cases: 1024 destinations, room for 100 servers without an eviction */
static int
setup_many(void **state)
{
	return fx_create(state, 1024);
}

/* 100 servers, 10.0.0.16-115: the prior takes one arrival a destination and window, so
 * each new client goes to a server of its own */
#define SERVER(i) (VICTIM + 11 + (i))

/* n new clients, one a server (UDP to 443), client i answered when i % period < answered:
 * a first arrival at the server (answered: a success) and, when answered, one at the client
 * (the answer it asked for: a success) */
static void
server_clients(struct win *w, unsigned int n, unsigned int period, unsigned int answered)
{
	for (unsigned int i = 0; i < n; i++) {
		add(w, NET + 1 + i, SERVER(i), 50000, 443, 17, 0);
		if (i % period < answered)
			add(w, SERVER(i), NET + 1 + i, 443, 50000, 17, 0);
	}
}

/* The link's theta0 learnt from its destinations (docs/detection.md, "Per-link prior
 * (session 14)"): 100 servers' new clients (UDP to 443), 90 answered, 10 not: of the 190
 * first arrivals (100 at the servers, 90 answers at their clients) 180 were successes,
 * 0.947 capped at 0.85, in use from
 * the window after their decisions. A failure then multiplies the ratio by 0.8 / 0.15 =
 * 5.33: another victim's 3 unsolicited datagrams from port 1900 flag it (5.33^3 = 152 >=
 * 99; 4^3 = 64 with the paper's 0.8, as test_four_unsolicited_flag). They were one
 * observation (one a destination and window); once it is flagged its arrivals are the
 * attack's, not the link's: none. */
static void
test_prior_learnt(void **state)
{
	struct fx *x = *state;
	struct safem_victim *v = x->v;
	const struct safem_victim_finding *f;
	struct safem_victim_totals t;
	static struct win w;

	server_clients(&w, 100, 10, 9);
	assert_int_equal(judge(v, &w, &f), 0);
	safem_victim_totals(v, &t);
	assert_int_equal(t.successes, 180);
	assert_int_equal(t.failures, 10);
	assert_int_equal(t.prior_observations, 190);
	assert_int_equal(t.theta0_permille, 800); /* decided in this window: not yet in use */
	for (unsigned int i = 0; i < 3; i++) /* to 10.0.0.6 */
		add(&w, NET + 200 + i, VICTIM + 1, 1900, 40000, 17, 0);
	run(v, &w);
	safem_victim_totals(v, &t);
	assert_int_equal(t.theta0_permille, 850);
	assert_int_equal(run_at(v, &w, 0, &f), 1); /* decided: 3 failures at 5.33 each */
	assert_int_equal(f[0].kind, SAFEM_VICTIM_REFLECTION);
	assert_int_equal(f[0].failures_run, 3);
	assert_int_equal(f[0].victim.bytes[15], 6);
	safem_victim_totals(v, &t);
	assert_int_equal(t.prior_observations, 191);
	for (unsigned int i = 0; i < 3; i++) /* flagged: not the link's */
		add(&w, NET + 210 + i, VICTIM + 1, 1900, 40000, 17, 0);
	(void)judge(v, &w, &f);
	safem_victim_totals(v, &t);
	assert_int_equal(t.prior_observations, 191);
}

/* One busy server does not set the link's rate: 120 new clients of one server, all
 * answered, in one window are 120 successes and one observation of the prior (its answers
 * at the clients are no arrivals: a source that reached 120 destinations is spread); its
 * next window's one new client, two more (the server's arrival, and the answer at the
 * client it asked for: a server that reached one destination is not spread). */
static void
test_prior_one_a_window(void **state)
{
	struct fx *x = *state;
	struct safem_victim *v = x->v;
	const struct safem_victim_finding *f;
	struct safem_victim_totals t;
	static struct win w;

	for (unsigned int i = 0; i < 120; i++) {
		add(&w, NET + 1 + i, SERVER(0), 50000, 443, 17, 0);
		add(&w, SERVER(0), NET + 1 + i, 443, 50000, 17, 0);
	}
	assert_int_equal(judge(v, &w, &f), 0);
	run(v, &w);
	safem_victim_totals(v, &t);
	assert_int_equal(t.successes, 120);
	assert_int_equal(t.prior_observations, 1);
	add(&w, NET + 130, SERVER(0), 50000, 443, 17, 0);
	add(&w, SERVER(0), NET + 130, 443, 50000, 17, 0);
	(void)judge(v, &w, &f);
	safem_victim_totals(v, &t);
	assert_int_equal(t.prior_observations, 3);
}

/* Under 100 observations theta0 stays the paper's: 49 answered clients (98 arrivals), then
 * 3 unsolicited datagrams at another victim (one observation, the 99th): 64 < 99, nothing;
 * 0.75 (60 of 100 clients answered: 120 of 160 arrivals) is held at the floor. */
static void
test_prior_minimum_floor(void **state)
{
	struct fx *x = *state;
	struct safem_victim *v = x->v;
	const struct safem_victim_finding *f;
	struct safem_victim_totals t;
	static struct win w;

	server_clients(&w, 49, 1, 1);
	assert_int_equal(judge(v, &w, &f), 0);
	for (unsigned int i = 0; i < 3; i++)
		add(&w, NET + 200 + i, VICTIM + 1, 1900, 40000, 17, 0);
	assert_int_equal(judge(v, &w, &f), 0);
	run(v, &w);
	safem_victim_totals(v, &t);
	assert_int_equal(t.prior_observations, 99);
	assert_int_equal(t.theta0_permille, 800);

	safem_victim_free(x->v);
	v = x->v = make(1024);
	assert_non_null(v);
	server_clients(&w, 100, 5, 3);
	assert_int_equal(judge(v, &w, &f), 0);
	run(v, &w);
	safem_victim_totals(v, &t);
	assert_int_equal(t.prior_observations, 160);
	assert_int_equal(t.theta0_permille, 800);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_four_unsolicited_flag, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prior_learnt, setup_many, teardown),
		cmocka_unit_test_setup_teardown(test_prior_one_a_window, setup_many, teardown),
		cmocka_unit_test_setup_teardown(test_prior_minimum_floor, setup_many, teardown),
		cmocka_unit_test_setup_teardown(test_success_walks_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_windows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spread_and_repeated_sources, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ports_not_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ports_shared, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_way_destination, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attempts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_synack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_icmp_and_fragments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_source_windows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_once_a_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_asked_for, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_one_way_and_spread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_ports_flood, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_one_way_streams, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_ports_answered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_reflector_port, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_fragmented_reflector, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_unicast, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unjudged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eviction, setup_one_set, teardown),
		cmocka_unit_test_setup_teardown(test_provisional_own_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_provisional_young, setup, teardown),
		cmocka_unit_test_setup_teardown(test_provisional_reversed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_provisional_benign, setup, teardown),
		cmocka_unit_test_setup_teardown(test_provisional_attempts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_provisional_first_packet, setup, teardown),
		cmocka_unit_test_setup_teardown(test_provisional_reply_walk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_provisional_udp_kind, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
