/* SPDX-License-Identifier: BSD-3-Clause */
/* Sequential scan test (lib/seqscan): Threshold Random Walk walks computed by hand with the
 * paper's parameters. A failure multiplies the likelihood ratio by (1-0.2)/(1-0.8) = 4, a
 * success by 0.2/0.8 = 1/4; eta1 = 0.99/0.01 = 99, eta0 = 0.01/0.99. So 3 failures (64) do
 * not flag a source, 4 (256 > 99) do; 4 successes (4^-4 < 0.0101) reset it. Contacts of
 * window N are decided at the end of window N+1. */
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

#include "safem_seqscan.h"
#include "../tools/seqscan_flow.h"

#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10
#define MAXF 256

struct win {
	struct safem_profile_flow f[MAXF];
	uint32_t n;
};

/* Each case's scan test (64 sources unless its setup says), its window and home prefixes,
 * freed by teardown whatever the test asserted. */
struct fx {
	struct safem_seqscan *s;
	struct win w;
	struct safem_home home;
};

static int
fx_create(void **state, unsigned int sources, const char *home)
{
	struct fx *x = calloc(1, sizeof(*x));
	struct safem_seqscan_params p = {.sources = sources, .pane_flows = MAXF};

	if (x == NULL)
		return -1;
	if (home != NULL) {
		if (safem_home_add(&x->home, home) != 0) {
			free(x);
			return -1;
		}
		p.home = &x->home;
	}
	x->s = safem_seqscan_create(&p);
	*state = x;
	return x->s == NULL ? -1 : 0;
}

static int
setup(void **state)
{
	return fx_create(state, 64, NULL);
}

/* one set of 4 sources */
static int
setup_one_set(void **state)
{
	return fx_create(state, 4, NULL);
}

/* home 10.0.0.0/8 */
static int
setup_home(void **state)
{
	return fx_create(state, 64, "10.0.0.0/8");
}

static int
teardown(void **state)
{
	struct fx *x = *state;

	if (x != NULL)
		safem_seqscan_free(x->s);
	free(x);
	return 0;
}

static void
add(struct fx *x, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint8_t proto,
    uint8_t flags)
{
	assert_true(x->w.n < MAXF);
	seqscan_flow_v4(&x->w.f[x->w.n++], src, dst, sport, dport, proto, flags);
}

/* one window: the flows added since the last */
static int
run(struct fx *x)
{
	const struct safem_profile_flow *seg[1] = {x->w.f};
	int rc = safem_seqscan_window(x->s, seg, &x->w.n, 1, true, 0);

	x->w.n = 0;
	return rc;
}

/* the window of the added contacts, then the one that decides them (an empty one) */
static void
judge(struct fx *x)
{
	assert_int_equal(run(x), 0);
	assert_int_equal(run(x), 0);
}

static unsigned int
findings(struct fx *x, const struct safem_seqscan_finding **f)
{
	return safem_seqscan_findings(x->s, f);
}

static void
totals(struct fx *x, struct safem_seqscan_totals *t)
{
	safem_seqscan_totals(x->s, t);
}

#define SCANNER 0x0a000001u /* 10.0.0.1 */
#define NET 0xc0a80000u     /* 192.168.0.0 */

/* n SYNs to new hosts on port 23, none answered */
static void
probes(struct fx *x, uint32_t first, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		add(x, SCANNER, NET + first + i, 40000 + first + i, 23, 6, TCP_SYN);
}

static void
test_four_failures_flag(void **state)
{
	struct fx *x = *state;
	struct safem_seqscan_totals t;
	const struct safem_seqscan_finding *f;

	probes(x, 1, 3);
	assert_int_equal(run(x), 0);
	assert_int_equal(findings(x, &f), 0); /* nothing decided yet */
	assert_int_equal(run(x), 0);       /* 3 failures: 4^3 = 64 < 99 */
	assert_int_equal(findings(x, &f), 0);
	probes(x, 10, 1);
	assert_int_equal(run(x), 0);
	assert_int_equal(findings(x, &f), 0); /* the 4th is decided one window later */
	assert_int_equal(run(x), 0);       /* 4^4 = 256 >= 99 */
	assert_int_equal(findings(x, &f), 1);
	assert_int_equal(f[0].shape, SAFEM_SEQSCAN_HORIZONTAL);
	assert_int_equal(f[0].port, 23);
	assert_int_equal(f[0].failures, 1);
	assert_int_equal(f[0].failures_run, 4);
	assert_int_equal(f[0].src.bytes[10], 0xff);
	assert_int_equal(f[0].src.bytes[15], 1);
	assert_true(fabs(f[0].llr - log(99.0)) < 1e-9); /* held at the bound */
	/* still failing: a finding every window it fails */
	probes(x, 20, 2);
	run(x);
	assert_int_equal(findings(x, &f), 0);
	run(x);
	assert_int_equal(findings(x, &f), 1);
	assert_int_equal(f[0].failures, 2);
	assert_int_equal(f[0].windows, 2);
	totals(x, &t);
	assert_int_equal(t.failures, 6);
	assert_int_equal(t.sources_flagged, 1);
}

/* a source back after SAFEM_SEQSCAN_IDLE_WINDOWS_DEFAULT windows without a contact starts
 * over: its old flag says nothing of now (one failed connection is no finding), and it needs
 * 4 new failures to be flagged again, its finding count from 1 */
static void
test_idle_source_starts_over(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	unsigned int i;

	probes(x, 1, 5);
	judge(x);
	assert_int_equal(findings(x, &f), 1);
	for (i = 0; i <= SAFEM_SEQSCAN_IDLE_WINDOWS_DEFAULT; i++)
		run(x);
	probes(x, 100, 1);
	judge(x);
	assert_int_equal(findings(x, &f), 0);
	probes(x, 110, 3);
	judge(x);
	assert_int_equal(findings(x, &f), 1); /* 4 failures since it came back */
	assert_int_equal(f[0].failures_run, 4);
	assert_int_equal(f[0].windows, 1);
}

/* successes pull back: F F F S F F -> 4^(5-1) = 256 only at the 6th observation */
static void
test_successes_pull_back(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;

	probes(x, 1, 3);
	/* the 4th contact answered with a SYN-ACK in the same window */
	add(x, SCANNER, NET + 4, 40004, 23, 6, TCP_SYN);
	add(x, NET + 4, SCANNER, 23, 40004, 6, TCP_SYN | TCP_ACK);
	run(x);
	probes(x, 5, 1);
	run(x); /* F F F S: 4^2 = 16 */
	assert_int_equal(findings(x, &f), 0);
	probes(x, 6, 1);
	run(x); /* + F: 64 */
	assert_int_equal(findings(x, &f), 0);
	run(x); /* + F: 256 */
	assert_int_equal(findings(x, &f), 1);
}

/* an answer in the next window counts; a RST is a failure; 4 successes reset */
static void
test_next_window_answers_and_rst(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	struct safem_seqscan_totals t;
	unsigned int i;

	for (i = 1; i <= 4; i++) /* four SYNs */
		add(x, SCANNER, NET + i, 40000 + i, 443, 6, TCP_SYN);
	run(x);
	for (i = 1; i <= 4; i++) /* SYN-ACKs one window later, the handshake completes */
		add(x, NET + i, SCANNER, 443, 40000 + i, 6, TCP_SYN | TCP_ACK);
	run(x);
	totals(x, &t);
	assert_int_equal(t.successes, 4);
	assert_int_equal(t.failures, 0);
	assert_int_equal(findings(x, &f), 0);
	/* the walk was reset at 4^-4: four RST-answered SYNs now flag it again from 0 */
	for (i = 11; i <= 14; i++) {
		add(x, SCANNER, NET + i, 41000 + i, 80, 6, TCP_SYN);
		add(x, NET + i, SCANNER, 80, 41000 + i, 6, TCP_RST | TCP_ACK);
	}
	judge(x);
	assert_int_equal(findings(x, &f), 1);
	assert_int_equal(f[0].port, 80);
	/* an answer two windows later is too late: a failure */
	add(x, SCANNER, NET + 30, 42000, 80, 6, TCP_SYN);
	judge(x);
	add(x, NET + 30, SCANNER, 80, 42000, 6, TCP_SYN | TCP_ACK);
	run(x);
	totals(x, &t);
	assert_int_equal(t.failures, 5);
}

/* ICMP echo requests are contacts, answered by echo replies; UDP (without home prefixes:
 * UDP is evidence of home sources only) and SYNs from system ports are none */
static void
test_contact_kinds(void **state)
{
	struct fx *x = *state;
	struct safem_seqscan_totals t;
	unsigned int i;

	for (i = 1; i <= 3; i++) {
		add(x, SCANNER, NET + i, 0, 8u << 8, 1, 0); /* echo request */
		add(x, NET + i, SCANNER, 0, 0, 1, 0);       /* echo reply */
	}
	add(x, SCANNER, NET + 9, 0, 8u << 8, 1, 0); /* unanswered */
	for (i = 1; i <= 8; i++) {
		add(x, SCANNER, NET + 20 + i, 40000 + i, 53, 17, 0);    /* UDP */
		add(x, SCANNER, NET + 40 + i, 20, 1024 + i, 6, TCP_SYN); /* FTP data */
	}
	judge(x);
	totals(x, &t);
	assert_int_equal(t.contacts, 4);
	assert_int_equal(t.udp_contacts, 0);
	assert_int_equal(t.successes, 3);
	assert_int_equal(t.failures, 1);
}

/* failures over many hosts and many ports (peer-to-peer contacts) are no horizontal scan */
static void
test_many_ports_not_horizontal(void **state)
{
	struct fx *x = *state;
	struct safem_seqscan_totals t;
	const struct safem_seqscan_finding *f;
	unsigned int i;

	for (i = 1; i <= 12; i++)
		add(x, SCANNER, NET + i, 50000, (uint16_t)(6000 + 7 * i), 6, TCP_SYN);
	judge(x);
	totals(x, &t);
	assert_int_equal(t.failures, 12);
	assert_int_equal(t.sources_flagged, 1);
	assert_int_equal(findings(x, &f), 0);
}

/* a worm probing a few ports (23, 2323, 8080 as Mirai) is horizontal: 4 counters hold all */
static void
test_few_ports_horizontal(void **state)
{
	struct fx *x = *state;
	static const uint16_t ports[] = {23, 2323, 23, 8080, 23, 23, 2323, 23};
	const struct safem_seqscan_finding *f;
	unsigned int i;

	for (i = 0; i < 8; i++)
		add(x, SCANNER, NET + 1 + i, 50000 + i, ports[i], 6, TCP_SYN);
	judge(x);
	assert_int_equal(findings(x, &f), 1);
	assert_int_equal(f[0].shape, SAFEM_SEQSCAN_HORIZONTAL);
	assert_int_equal(f[0].port, 23);
}

/* a destination contacted again is no new observation; a completed handshake whose answer
 * this link does not carry is no evidence */
static void
test_first_contacts_once(void **state)
{
	struct fx *x = *state;
	struct safem_seqscan_totals t;
	const struct safem_seqscan_finding *f;
	unsigned int i;

	for (i = 0; i < 10; i++) /* ten SYNs to one host, one port */
		add(x, SCANNER, NET + 1, 40000 + i, 23, 6, TCP_SYN);
	run(x);
	for (i = 0; i < 10; i++)
		add(x, SCANNER, NET + 1, 40100 + i, 23, 6, TCP_SYN);
	judge(x);
	totals(x, &t);
	assert_int_equal(t.contacts, 1);
	assert_int_equal(t.failures, 1);
	assert_int_equal(findings(x, &f), 0);
	for (i = 0; i < 6; i++) /* one-sided link: SYN then ACK, nothing back */
		add(x, SCANNER, NET + 100 + i, 42000, 443, 6, TCP_SYN | TCP_ACK);
	judge(x);
	totals(x, &t);
	assert_int_equal(t.undecided, 6);
	assert_int_equal(t.failures, 1);
}

/* multicast, broadcast and unspecified addresses are no contacts */
static void
test_multicast_ignored(void **state)
{
	struct fx *x = *state;
	struct safem_seqscan_totals t;
	uint8_t a[16];
	unsigned int i;

	for (i = 0; i < 8; i++) {
		add(x, SCANNER, 0xe00000fbu + (i << 8), 40000 + i, 80, 6, TCP_SYN); /* 224.0.x.251 */
		add(x, SCANNER, 0xeffffffau, 40000 + i, 1900, 6, TCP_SYN);           /* 239.x */
		add(x, SCANNER, NET + 0xff + (i << 8), 0, 8u << 8, 1, 0);            /* x.x.x.255 */
		add(x, SCANNER, 0xffffffffu, 0, 8u << 8, 1, 0);
		add(x, 0, NET + i, 40000 + i, 80, 6, TCP_SYN); /* from 0.0.0.0 */
		add(x, 0x7f000001u, NET + i, 40000 + i, 80, 6, TCP_SYN); /* from 127.0.0.1 */
	}
	judge(x);
	totals(x, &t);
	assert_int_equal(t.contacts, 0);
	memset(a, 0, 16);
	a[0] = 0xff;
	assert_false(safem_seqscan_unicast(a, 6));
	a[0] = 0x20;
	assert_true(safem_seqscan_unicast(a, 6));
}

/* vertical: one host, many ports, RSTs back; class by the walk that crossed */
static void
test_vertical_shape(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	unsigned int p;

	for (p = 1; p <= 6; p++) {
		add(x, SCANNER, NET + 7, 50000 + p, (uint16_t)p, 6, TCP_SYN);
		add(x, NET + 7, SCANNER, (uint16_t)p, 50000 + p, 6, TCP_RST | TCP_ACK);
	}
	judge(x);
	/* horizontal walk: 1 failure; vertical: 5 failures (4^5 > 99) */
	assert_int_equal(findings(x, &f), 1);
	assert_int_equal(f[0].shape, SAFEM_SEQSCAN_VERTICAL);
	assert_int_equal(f[0].dst.bytes[15], 7);
	assert_int_equal(f[0].failures, 5);
}

/* two sources flagged on one port within the horizon: worm */
static void
test_worm_shape(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	unsigned int i;

	for (i = 1; i <= 5; i++) {
		add(x, SCANNER, 0x50000000u + i, 1024, 135, 6, TCP_SYN);
		add(x, SCANNER + 1, 0x60000000u + i, 1024, 135, 6, TCP_SYN);
	}
	judge(x);
	assert_int_equal(findings(x, &f), 2);
	/* the first one noted saw only itself, the second both */
	assert_true(f[0].shape == SAFEM_SEQSCAN_WORM || f[1].shape == SAFEM_SEQSCAN_WORM);
	for (i = 1; i <= 2; i++) {
		add(x, SCANNER, 0x50000100u + i, 1024, 135, 6, TCP_SYN);
		add(x, SCANNER + 1, 0x60000100u + i, 1024, 135, 6, TCP_SYN);
	}
	judge(x);
	assert_int_equal(findings(x, &f), 2);
	assert_int_equal(f[0].shape, SAFEM_SEQSCAN_WORM);
	assert_int_equal(f[1].shape, SAFEM_SEQSCAN_WORM);
	assert_int_equal(f[0].sources, 2);
}

/* the table holds its bound: a full set evicts, counts it, and the evicted source's pending
 * contacts are dropped, not given to the newcomer */
static void
test_table_bound(void **state)
{
	struct fx *x = *state;
	struct safem_seqscan_totals t;
	const struct safem_seqscan_finding *f;
	unsigned int i;

	for (i = 0; i < 8; i++)
		add(x, 0x0b000000u + i, NET + 1, 41000, 22, 6, TCP_SYN);
	run(x);
	totals(x, &t);
	assert_int_equal(t.sources_evicted, 4);
	run(x);
	totals(x, &t);
	assert_int_equal(t.contacts_dropped, 4);
	assert_int_equal(t.failures, 4);
	assert_int_equal(findings(x, &f), 0);
}

/* sampled or oversized windows are not judged; the previous window's contacts are dropped */
static void
test_unjudged_windows(void **state)
{
	struct fx *x = *state;
	struct safem_seqscan_totals t;
	const struct safem_seqscan_finding *f;
	const struct safem_profile_flow *seg[1];

	probes(x, 1, 6);
	run(x);
	seg[0] = x->w.f;
	assert_int_equal(safem_seqscan_window(x->s, seg, &x->w.n, 1, false, 0), 0);
	assert_int_equal(findings(x, &f), 0);
	totals(x, &t);
	assert_int_equal(t.undecided, 6);
	assert_int_equal(t.windows_skipped, 1);
	probes(x, 20, 6);
	x->w.f[0].weight_shift = 2; /* surge-weighted contribution (4 flows) */
	run(x);
	totals(x, &t);
	assert_int_equal(t.windows_skipped, 2);
	assert_int_equal(t.contacts, 6);
	assert_int_equal(safem_seqscan_window(NULL, seg, &x->w.n, 1, true, 0), -EINVAL);
}

/* A scanner that also works as a client: each window one unanswered SYN to a new host on 23
 * and one answered SYN to a new web server on 443. Its source walk moves F S F S ... in some
 * order, never more than one step from where it was: never flagged. The (source, 23) walk
 * sees only the failures: 4^4 = 256 >= 99 after the 4th, decided in the 5th window. */
static void
test_port_walk_client_scanner(void **state)
{
	struct fx *x = *state;
	struct safem_seqscan_totals t;
	const struct safem_seqscan_finding *f;
	unsigned int i;

	for (i = 1; i <= 4; i++) {
		add(x, SCANNER, NET + 100 + i, 40000 + i, 23, 6, TCP_SYN);
		add(x, SCANNER, NET + 200 + i, 41000 + i, 443, 6, TCP_SYN);
		add(x, NET + 200 + i, SCANNER, 443, 41000 + i, 6, TCP_SYN | TCP_ACK);
		run(x);
		assert_int_equal(findings(x, &f), 0); /* 3 failures on 23 decided at most */
	}
	run(x); /* the 4th failure on 23 */
	assert_int_equal(findings(x, &f), 1);
	assert_int_equal(f[0].shape, SAFEM_SEQSCAN_HORIZONTAL);
	assert_int_equal(f[0].port, 23);
	assert_int_equal(f[0].failures, 1);
	assert_int_equal(f[0].failures_run, 4);
	assert_int_equal(f[0].windows, 1);
	assert_int_equal(f[0].dst.bytes[15], 104);
	assert_true(fabs(f[0].llr - log(99.0)) < 1e-9);
	totals(x, &t);
	assert_int_equal(t.sources_flagged, 0); /* the source walk did not cross */
	assert_int_equal(t.port_walks_flagged, 1);
	assert_int_equal(t.successes, 4);
}

/* The few-ports bound holds for a port walk too: the same 4 failures on 23, but also one on
 * each of 8 other ports (a peer-to-peer client reaching peers on their own ports, one of them
 * a popular peer port) and as many successes as those failures on 443. The (source, 23)
 * walk is flagged; the 4 Misra-Gries counters hold less than 3/4 of the 12 failures: no
 * finding. The source walk: net failures of a window are 1, so it can flag: it keeps the
 * bound as before. */
static void
test_port_walk_many_ports_bound(void **state)
{
	struct fx *x = *state;
	struct safem_seqscan_totals t;
	const struct safem_seqscan_finding *f;
	unsigned int i, j;

	for (i = 1; i <= 4; i++) {
		add(x, SCANNER, NET + 100 + i, 40000 + i, 23, 6, TCP_SYN);
		for (j = 0; j < 2; j++) {
			uint32_t peer = NET + 300 + 10 * i + j, server = NET + 500 + 10 * i + j;

			add(x, SCANNER, peer, 42000, (uint16_t)(6000 + 100 * i + j), 6, TCP_SYN);
			add(x, SCANNER, server, 43000, 443, 6, TCP_SYN);
			add(x, server, SCANNER, 443, 43000, 6, TCP_SYN | TCP_ACK);
		}
		run(x);
	}
	run(x);
	totals(x, &t);
	assert_int_equal(t.failures, 12);
	assert_int_equal(t.port_walks_flagged, 1);
	assert_int_equal(findings(x, &f), 0);
}

/* A worm at a low rate: three home hosts, one probe of port 135 a window between them, each
 * to a new outside host. No host's walk gets past 2 failures in 4 windows; the port's
 * evidence within the horizon is 4 net failures (4^4 >= 99) from 3 home sources at the 4th
 * decided window: worm, naming the port and its last failing source. */
static void
test_home_port_worm(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	unsigned int i;

	for (i = 0; i < 4; i++) {
		add(x, SCANNER + i % 3, 0x50000000u + i, 40000, 135, 6, TCP_SYN);
		run(x);
		assert_int_equal(findings(x, &f), 0);
	}
	run(x); /* the 4th failure on 135 */
	assert_int_equal(findings(x, &f), 1);
	assert_int_equal(f[0].shape, SAFEM_SEQSCAN_WORM);
	assert_int_equal(f[0].port, 135);
	assert_int_equal(f[0].sources, 3);
	assert_int_equal(f[0].failures_run, 4);
	assert_int_equal(f[0].src.bytes[15], 1); /* 10.0.0.1 made the 4th probe */
	assert_int_equal(f[0].dst.bytes[15], 3);
	/* an answered first contact on 135 takes one failure back: 3 net, no finding */
	add(x, SCANNER + 1, 0x50000100u, 40001, 135, 6, TCP_SYN);
	add(x, 0x50000100u, SCANNER + 1, 135, 40001, 6, TCP_SYN | TCP_ACK);
	add(x, SCANNER + 2, 0x50000101u, 40002, 135, 6, TCP_SYN);
	add(x, 0x50000101u, SCANNER + 2, 135, 40002, 6, TCP_SYN | TCP_ACK);
	judge(x);
	assert_int_equal(findings(x, &f), 0); /* no failure in this window either */
}

/* UDP fan-out of a home host answered (a resolver's queries, an NTP client's polls from
 * an ephemeral port, a DHT node's answered pings): 30 successes, nothing found; the answers
 * (outside sources) are no contacts */
static void
test_udp_answered_fanout(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	struct safem_seqscan_totals t;
	unsigned int i, w;

	for (w = 0; w < 3; w++) {
		for (i = 0; i < 10; i++) {
			uint32_t d = 0x50000000u + 64 * w + i;
			uint16_t dport = (uint16_t)(1024 + 97 * i);

			add(x, SCANNER, d, 50000, dport, 17, 0);
			add(x, d, SCANNER, dport, 50000, 17, 0);
		}
		run(x);
		assert_int_equal(findings(x, &f), 0);
	}
	run(x);
	assert_int_equal(findings(x, &f), 0);
	totals(x, &t);
	assert_int_equal(t.udp_contacts, 30);
	assert_int_equal(t.successes, 30);
	assert_int_equal(t.failures, 0);
	assert_int_equal(t.home_port_worms, 0);
}

/* One home source's unanswered UDP sweep of one port (161), 12 datagrams, an ICMP port
 * unreachable back for 3 (no answer: failures): 12 failures, no finding (one source: the
 * source port evidence needs 2; single sources' UDP fan-out is left out, see docs), and
 * its TCP walk untouched (no source flagged) */
static void
test_udp_one_source(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	struct safem_seqscan_totals t;
	unsigned int i;

	for (i = 1; i <= 12; i++) {
		add(x, SCANNER, NET + i, 40000, 161, 17, 0);
		if (i <= 3)
			add(x, NET + i, SCANNER, 0, 3u << 8 | 3, 1, 0); /* port unreachable */
	}
	judge(x);
	assert_int_equal(findings(x, &f), 0);
	totals(x, &t);
	assert_int_equal(t.udp_contacts, 12);
	assert_int_equal(t.udp_failures, 12);
	assert_int_equal(t.sources_flagged, 0);
	assert_int_equal(t.home_port_worms, 0);
}

/* What UDP does not count: a sender that keeps sending (more than 2 datagrams in its
 * window, or more in the next window: a conversation whose answers take another path);
 * datagrams from system ports (a server's answers); non-first fragments (port 0);
 * datagrams to a broadcast address; outside sources */
static void
test_udp_not_contacts(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	struct safem_seqscan_totals t;
	unsigned int i;

	for (i = 1; i <= 8; i++) {
		add(x, SCANNER, NET + i, 40000 + i, 443, 17, 0);
		x->w.f[x->w.n - 1].packets = 3; /* QUIC client, answers not on this link */
		add(x, SCANNER, NET + 20 + i, 41000 + i, 4500, 17, 0); /* sent again next window */
		add(x, SCANNER, NET + 40 + i, 123, 123, 17, 0);      /* from a system port */
		add(x, SCANNER, NET + 60 + i, 0, 0, 17, 0);          /* fragment */
		add(x, SCANNER, NET + 255, 42000 + i, 137, 17, 0);   /* subnet broadcast */
		add(x, NET + 80 + i, SCANNER, 43000 + i, 4000, 17, 0); /* outside source */
	}
	assert_int_equal(run(x), 0);
	for (i = 1; i <= 8; i++)
		add(x, SCANNER, NET + 20 + i, 41000 + i, 4500, 17, 0);
	assert_int_equal(run(x), 0);
	assert_int_equal(findings(x, &f), 0);
	totals(x, &t);
	assert_int_equal(t.udp_contacts, 16);
	assert_int_equal(t.undecided, 16);
	assert_int_equal(t.failures, 0);
}

/* A UDP worm (Witty): three home hosts send one datagram each from port 4000 to random
 * addresses and ports. No destination port and no host's walk (ports spread) says it;
 * their shared source port fails at the 4th datagram without an answer, from 3 sources */
static void
test_udp_source_port_worm(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	unsigned int i;

	for (i = 0; i < 4; i++) {
		add(x, SCANNER + i % 3, 0x50000000u + 977 * i, 4000, (uint16_t)(1500 + 4099 * i),
		    17, 0);
		run(x);
		assert_int_equal(findings(x, &f), 0);
	}
	run(x); /* the 4th datagram from 4000 unanswered */
	assert_int_equal(findings(x, &f), 1);
	assert_int_equal(f[0].shape, SAFEM_SEQSCAN_WORM);
	assert_int_equal(f[0].port, 0); /* the probes share no destination port */
	assert_int_equal(f[0].proto, 17);
	assert_int_equal(f[0].sources, 3);
	assert_int_equal(f[0].failures_run, 4);
	assert_int_equal(f[0].src.bytes[15], 1); /* 10.0.0.1 sent the 4th */
}

/* What the source port evidence does not count: one home host alone (a peer-to-peer
 * client on its port), home hosts whose datagrams from one port are answered (DHT nodes
 * of one client program), outside sources */
static void
test_udp_source_port_not_worm(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	struct safem_seqscan_totals t;
	unsigned int i, w;

	for (w = 0; w < 6; w++) {
		for (i = 0; i < 3; i++) {
			uint32_t d = 0x50000000u + 16 * w + i;
			uint16_t dport = (uint16_t)(6000 + 31 * (3 * w + i));

			/* one P2P host, its pings to peers that left */
			add(x, SCANNER, d, 28681, dport, 17, 0);
			/* two hosts of one DHT client, answered but one in four */
			add(x, SCANNER + 1 + i % 2, d + 0x100, 6881, dport, 17, 0);
			if ((3 * w + i) % 4 != 0)
				add(x, d + 0x100, SCANNER + 1 + i % 2, dport, 6881, 17, 0);
			/* outside hosts to home hosts from one port, unanswered */
			add(x, 0x60000000u + i, SCANNER + 50 + 3 * w + i, 4000, dport, 17, 0);
		}
		run(x);
		assert_int_equal(findings(x, &f), 0);
	}
	run(x);
	assert_int_equal(findings(x, &f), 0);
	totals(x, &t);
	assert_int_equal(t.home_port_worms, 0);
}

/* What the home port evidence does not count: many home clients failing on one dead server
 * (a destination counts once), one home source alone (its own walk says horizontal), the
 * evidence of windows past the horizon, and sources outside the home prefixes. */
static void
test_home_port_not_worm(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	unsigned int i;

	for (i = 0; i < 6; i++) /* six clients, one dead file server */
		add(x, SCANNER + i, NET + 9, 40000, 445, 6, TCP_SYN);
	judge(x);
	assert_int_equal(findings(x, &f), 0);
	for (i = 0; i < 6; i++) /* six outside hosts probing home hosts: not home sources */
		add(x, 0x50000000u + i, SCANNER + 100 + i, 40000, 135, 6, TCP_SYN);
	judge(x);
	assert_int_equal(findings(x, &f), 0);
	/* a probe of 139 every 3rd window, each from another home host: at most 3 in any 8
	 * windows (and no host's own walk past 1 failure) */
	for (i = 0; i < 24; i++) {
		if (i % 3 == 0)
			add(x, SCANNER + 20 + i / 3, 0x60000000u + i, 40000, 139, 6, TCP_SYN);
		run(x);
		assert_int_equal(findings(x, &f), 0);
	}
	/* one home source alone: its walk flags it horizontal, the port is no worm's */
	for (i = 0; i < 5; i++)
		add(x, SCANNER + 30, 0x70000000u + i, 40000, 5900, 6, TCP_SYN);
	judge(x);
	assert_int_equal(findings(x, &f), 1);
	assert_int_equal(f[0].shape, SAFEM_SEQSCAN_HORIZONTAL);
	assert_int_equal(f[0].port, 5900);
}

/* ---------------------------------------------------------------------- */
/* Decisions in the contacts' own window (session 11): windows end at END_MS, a contact's
 * last packet time set by hand; SAFEM_SEQSCAN_ANSWER_WAIT_MS (500) before the end or earlier is
 * old enough to count as unanswered. */

#define END_MS 1000000u

/* one window ending at end_ms: the flows added since the last */
static int
run_at(struct fx *x, uint64_t end_ms)
{
	const struct safem_profile_flow *seg[1] = {x->w.f};
	int rc = safem_seqscan_window(x->s, seg, &x->w.n, 1, true, end_ms);

	x->w.n = 0;
	return rc;
}

/* the last added flow's last packet at ms */
static void
at(struct fx *x, uint64_t ms)
{
	safem_profile_flow_set_last_ms(&x->w.f[x->w.n - 1], ms);
}

/* 4 unanswered SYNs 0.6-0.9 s before the window's end: found in their own window (4^4 =
 * 256 >= 99 with the provisional steps), again by the final decisions one window later */
static void
test_provisional_found_own_window(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	struct safem_seqscan_totals t;
	unsigned int i;

	for (i = 0; i < 4; i++) {
		add(x, SCANNER, NET + 1 + i, (uint16_t)(40001 + i), 23, 6, TCP_SYN);
		at(x, END_MS - 900 + 100 * i); /* 900, 800, 700, 600 ms old */
	}
	assert_int_equal(run_at(x, END_MS), 0);
	assert_int_equal(findings(x, &f), 1);
	assert_true(f[0].provisional);
	assert_int_equal(f[0].shape, SAFEM_SEQSCAN_HORIZONTAL);
	assert_int_equal(f[0].port, 23);
	assert_int_equal(f[0].failures, 4);
	assert_int_equal(f[0].failures_run, 4);
	assert_int_equal(f[0].windows, 1);
	assert_true(fabs(f[0].llr - log(99.0)) < 1e-9);
	totals(x, &t);
	assert_int_equal(t.provisional_steps, 4);
	assert_int_equal(t.provisional_young, 0);
	assert_int_equal(t.findings_provisional, 1);
	assert_int_equal(t.failures, 0); /* nothing decided for good yet */
	assert_int_equal(t.sources_flagged, 0);
	assert_int_equal(run_at(x, END_MS + 1000), 0); /* the final decisions */
	assert_int_equal(findings(x, &f), 1);
	assert_false(f[0].provisional);
	assert_int_equal(f[0].failures, 4);
	assert_int_equal(f[0].windows, 1);
	totals(x, &t);
	assert_int_equal(t.failures, 4);
	assert_int_equal(t.sources_flagged, 1);
	assert_int_equal(t.findings_provisional, 1);
}

/* a SYN 0.4 s old is young: undecided in its window, so 3 old failures (64 < 99) find
 * nothing; the next window decides all four and finds it. Without times (end_ms 0) nothing
 * is decided in the window either */
static void
test_provisional_young_undecided(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	struct safem_seqscan_totals t;
	unsigned int i;

	for (i = 0; i < 4; i++) {
		add(x, SCANNER, NET + 1 + i, (uint16_t)(40001 + i), 23, 6, TCP_SYN);
		at(x, i < 3 ? END_MS - 800 : END_MS - 499); /* the 4th: 499 ms old */
	}
	assert_int_equal(run_at(x, END_MS), 0);
	assert_int_equal(findings(x, &f), 0);
	totals(x, &t);
	assert_int_equal(t.provisional_steps, 3);
	assert_int_equal(t.provisional_young, 1);
	assert_int_equal(run_at(x, END_MS + 1000), 0);
	assert_int_equal(findings(x, &f), 1);
	assert_false(f[0].provisional);
	/* old SYNs of a new source in a window without times: left to the next window */
	for (i = 0; i < 4; i++) {
		add(x, SCANNER + 1, NET + 20 + i, (uint16_t)(40001 + i), 23, 6, TCP_SYN);
		at(x, END_MS + 1000);
	}
	assert_int_equal(run_at(x, 0), 0);
	assert_int_equal(findings(x, &f), 0);
	totals(x, &t);
	assert_int_equal(t.provisional_steps, 3);
}

/* a stealth probe's outcome does not wait for its answer (a RST or nothing: a failure
 * either way): the NULL probes of test_provisional_young_undecided's layout, 3 of them 0.8 s
 * old and the 4th 0.1 s, are 4 provisional failures, a finding in their own window (256) */
static void
test_provisional_stealth_young(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	struct safem_seqscan_totals t;
	unsigned int i;

	for (i = 0; i < 4; i++) {
		add(x, SCANNER, NET + 1 + i, 45000, 23, 6, 0);
		at(x, i < 3 ? END_MS - 800 : END_MS - 100);
	}
	assert_int_equal(run_at(x, END_MS), 0);
	assert_int_equal(findings(x, &f), 1);
	assert_true(f[0].provisional);
	assert_int_equal(f[0].failures, 4);
	totals(x, &t);
	assert_int_equal(t.provisional_steps, 4);
	assert_int_equal(t.provisional_young, 0);
}

/* provisional failures answered late are successes in the persisted walk: 4 old SYNs are a
 * provisional finding; their SYN-ACKs in the next window make them 4 successes (the walk
 * reaches 4^-4 <= eta0 and starts over), so 3 more old failures later are 64 < 99: no
 * finding, the provisional steps left nothing behind */
static void
test_provisional_answered_later(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	struct safem_seqscan_totals t;
	unsigned int i;

	for (i = 0; i < 4; i++) {
		add(x, SCANNER, NET + 1 + i, (uint16_t)(40001 + i), 443, 6, TCP_SYN);
		at(x, END_MS - 900);
	}
	run_at(x, END_MS);
	assert_int_equal(findings(x, &f), 1);
	assert_true(f[0].provisional);
	for (i = 0; i < 4; i++) { /* the SYN-ACKs, 1.1 s late */
		add(x, NET + 1 + i, SCANNER, 443, (uint16_t)(40001 + i), 6, TCP_SYN | TCP_ACK);
		at(x, END_MS + 200);
	}
	run_at(x, END_MS + 1000);
	assert_int_equal(findings(x, &f), 0);
	totals(x, &t);
	assert_int_equal(t.successes, 4);
	assert_int_equal(t.failures, 0);
	for (i = 0; i < 3; i++) {
		add(x, SCANNER, NET + 10 + i, (uint16_t)(41001 + i), 443, 6, TCP_SYN);
		at(x, END_MS + 1100);
	}
	run_at(x, END_MS + 2000);
	assert_int_equal(findings(x, &f), 0);
	run_at(x, END_MS + 3000);
	assert_int_equal(findings(x, &f), 0);
	totals(x, &t);
	assert_int_equal(t.failures, 3);
	assert_int_equal(t.sources_flagged, 0);
}

/* Dated by the first packet (session 12): 4 SYN flows retried through the window (first SYN
 * 900 ms before the pane's end, the latest retry 100 ms before) with nothing back are 4
 * provisional failures, found in their own window (by the last packet all four were young);
 * another source's retried SYNs answered by SYN-ACKs in the window are successes, and a third
 * source's flows that began 400 ms before the end (< 500 ms) are undecided */
static void
syn_retried(struct fx *x, uint32_t src, uint32_t dst, uint16_t port, uint32_t first_back_ms)
{
	add(x, src, dst, (uint16_t)(40000 + (dst & 0xff)), port, 6, TCP_SYN);
	at(x, END_MS - 100); /* the latest retry */
	safem_profile_flow_set_first_back(&x->w.f[x->w.n - 1], first_back_ms);
}

static void
test_provisional_first_packet(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	struct safem_seqscan_totals t;

	for (uint32_t d = 1; d <= 4; d++) {
		syn_retried(x, SCANNER, NET + d, 23, 800); /* first SYN 900 ms old */
		syn_retried(x, SCANNER + 1, NET + 10 + d, 443, 800);
		add(x, NET + 10 + d, SCANNER + 1, 443, (uint16_t)(40010 + d), 6, TCP_SYN | TCP_ACK);
		at(x, END_MS - 90);
		syn_retried(x, SCANNER + 2, NET + 20 + d, 23, 300); /* 400 ms old */
	}
	assert_int_equal(run_at(x, END_MS), 0);
	assert_int_equal(findings(x, &f), 1);
	assert_true(f[0].provisional);
	assert_int_equal(f[0].src.bytes[15], 1);
	assert_int_equal(f[0].port, 23);
	assert_int_equal(f[0].failures, 4);
	totals(x, &t);
	assert_int_equal(t.provisional_steps, 8); /* 4 failures, 4 successes */
	assert_int_equal(t.provisional_young, 4);
	assert_int_equal(run_at(x, END_MS + 1000), 0); /* the final decisions: both scanners */
	assert_int_equal(findings(x, &f), 2);
	assert_false(f[0].provisional);
	assert_false(f[1].provisional);
}

/* answers in the contacts' own window decide them whatever their age: 4 SYNs 0.1 s old
 * answered by RST are failures (256: found); a client whose young SYNs are answered by
 * SYN-ACKs and whose one old SYN is not (F S S S: 4^-2) is no finding */
static void
test_provisional_answered_same_window(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	struct safem_seqscan_totals t;
	unsigned int i;

	for (i = 0; i < 4; i++) {
		add(x, SCANNER, NET + 1 + i, (uint16_t)(40001 + i), 80, 6, TCP_SYN);
		at(x, END_MS - 100);
		add(x, NET + 1 + i, SCANNER, 80, (uint16_t)(40001 + i), 6, TCP_RST | TCP_ACK);
		at(x, END_MS - 90);
	}
	add(x, SCANNER + 1, NET + 50, 45000, 443, 6, TCP_SYN); /* old, unanswered */
	at(x, END_MS - 900);
	for (i = 0; i < 3; i++) {
		add(x, SCANNER + 1, NET + 51 + i, (uint16_t)(45001 + i), 443, 6,
		    TCP_SYN | TCP_ACK);
		at(x, END_MS - 100);
		add(x, NET + 51 + i, SCANNER + 1, 443, (uint16_t)(45001 + i), 6,
		    TCP_SYN | TCP_ACK);
		at(x, END_MS - 95);
	}
	run_at(x, END_MS);
	assert_int_equal(findings(x, &f), 1);
	assert_true(f[0].provisional);
	assert_int_equal(f[0].src.bytes[15], 1);
	assert_int_equal(f[0].port, 80);
	totals(x, &t);
	assert_int_equal(t.provisional_steps, 8);
	assert_int_equal(t.provisional_young, 0);
}

/* Witty in its first window: 4 datagrams from port 4000 of 3 home hosts, 0.6 s old and
 * unanswered: 4 net failures (4^4 >= 99) from 3 sources on the source port, found at once */
static void
test_provisional_udp_source_port_worm(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	unsigned int i;

	for (i = 0; i < 4; i++) {
		add(x, SCANNER + i % 3, 0x50000000u + 977 * i, 4000, (uint16_t)(1500 + 4099 * i),
		    17, 0);
		at(x, END_MS - 600);
	}
	run_at(x, END_MS);
	assert_int_equal(findings(x, &f), 1);
	assert_true(f[0].provisional);
	assert_int_equal(f[0].shape, SAFEM_SEQSCAN_WORM);
	assert_int_equal(f[0].port, 0);
	assert_int_equal(f[0].sources, 3);
	assert_int_equal(f[0].failures_run, 4);
	/* 3 datagrams of one host only: one source, no worm */
	for (i = 0; i < 3; i++) {
		add(x, SCANNER + 5, 0x51000000u + 977 * i, 5000, (uint16_t)(1500 + 4099 * i), 17,
		    0);
		at(x, END_MS + 400);
	}
	run_at(x, END_MS + 1000);
	for (i = 0; i < (unsigned int)findings(x, &f); i++)
		assert_false(f[i].provisional);
}


/* Session 13: the first contact to an address is a step of the vertical walk too when its
 * source goes on to new ports of that address (struct source's host). S0: a failed
 * first contact to H, then 3 failed new ports of H: 4 vertical failures (4^4 = 256 >= 99),
 * a vertical finding (3 before the change: 64 < 99). S1: its first contact answered by a
 * SYN-ACK, then 3 failed ports: 1/4 * 4^3 = 16 < 99. S2: a first contact to another host
 * after H's: the kept outcome is that host's, H's is not taken: 64 < 99. */
static void
test_vertical_host_first(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	struct safem_seqscan_totals t;
	const uint32_t h = NET + 9, h2 = NET + 10;
	unsigned int i, p;

	for (i = 0; i < 3; i++)
		add(x, SCANNER + i, h, 50000, 1, 6, TCP_SYN);
	add(x, h, SCANNER + 1, 1, 50000, 6, TCP_SYN | TCP_ACK);
	assert_int_equal(run(x), 0); /* A */
	add(x, SCANNER + 2, h2, 50000, 1, 6, TCP_SYN);
	assert_int_equal(run(x), 0); /* B: decides A */
	assert_int_equal(findings(x, &f), 0);
	for (i = 0; i < 3; i++)
		for (p = 2; p <= 4; p++)
			add(x, SCANNER + i, h, (uint16_t)(50000 + p), (uint16_t)p, 6, TCP_SYN);
	assert_int_equal(run(x), 0); /* C: decides B */
	assert_int_equal(findings(x, &f), 0);
	assert_int_equal(run(x), 0); /* D: decides C */
	assert_int_equal(findings(x, &f), 1);
	assert_int_equal(f[0].shape, SAFEM_SEQSCAN_VERTICAL);
	assert_int_equal(f[0].src.bytes[15], 1); /* SCANNER */
	assert_int_equal(f[0].dst.bytes[15], 9);
	assert_int_equal(f[0].failures, 3); /* this window's own failed contacts */
	totals(x, &t);
	assert_int_equal(t.host_first_taken, 2); /* S0's failure, S1's success */
	assert_int_equal(t.sources_flagged, 1);
}

/* The session 13 review's case: a client whose first connection to a host fails and who
 * tries one fallback port of it, at two dead hosts, one SYN a window, none answered. With
 * the take at the first new port each host counted two vertical failures and the second
 * host reached the bound (4^4 = 256 >= 99): a vertical finding. Taken only at a second new
 * port: one vertical failure per host (16 < 99), nothing taken, no finding. */
static void
test_vertical_host_fallback_port(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	struct safem_seqscan_totals t;
	const uint32_t h1 = NET + 9, h2 = NET + 10;
	unsigned int i;

	add(x, SCANNER, h1, 50001, 443, 6, TCP_SYN);
	assert_int_equal(run(x), 0);
	add(x, SCANNER, h1, 50002, 80, 6, TCP_SYN);
	assert_int_equal(run(x), 0);
	add(x, SCANNER, h2, 50003, 443, 6, TCP_SYN);
	assert_int_equal(run(x), 0);
	add(x, SCANNER, h2, 50004, 80, 6, TCP_SYN);
	assert_int_equal(run(x), 0);
	for (i = 0; i < 2; i++) {
		assert_int_equal(run(x), 0);
		assert_int_equal(findings(x, &f), 0);
	}
	totals(x, &t);
	assert_int_equal(t.failures, 4);
	assert_int_equal(t.host_first_taken, 0);
	assert_int_equal(t.sources_flagged, 0);
}

/* The same in the contacts' own window (provisional, on the scratch walks): 4 SYNs to 4
 * ports of one host, 0.6-0.9 s old, none answered. The first in collection order is the
 * horizontal walk's step, the other 3 the vertical walk's, which takes the first one's too:
 * 4 failures, a provisional vertical finding in their own window (3: 64 < 99 before). */
static void
test_vertical_host_first_provisional(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	struct safem_seqscan_totals t;
	unsigned int p;

	for (p = 1; p <= 4; p++) {
		add(x, SCANNER, NET + 9, (uint16_t)(50000 + p), (uint16_t)p, 6, TCP_SYN);
		at(x, END_MS - 1000 + 100 * p); /* 900, 800, 700, 600 ms old */
	}
	assert_int_equal(run_at(x, END_MS), 0);
	assert_int_equal(findings(x, &f), 1);
	assert_true(f[0].provisional);
	assert_int_equal(f[0].shape, SAFEM_SEQSCAN_VERTICAL);
	assert_int_equal(f[0].dst.bytes[15], 9);
	totals(x, &t);
	assert_int_equal(t.host_first_taken, 0); /* nothing persisted yet */
	assert_int_equal(t.sources_flagged, 0);
	assert_int_equal(run_at(x, END_MS + 1000), 0); /* the final decisions */
	assert_int_equal(findings(x, &f), 1);
	assert_false(f[0].provisional);
	assert_int_equal(f[0].shape, SAFEM_SEQSCAN_VERTICAL);
	totals(x, &t);
	assert_int_equal(t.host_first_taken, 1);
	assert_int_equal(t.sources_flagged, 1);
}

/* the per-link prior's cases: 1024 sources, 4-way sets: room for 100 clients and the
 * scanner without an eviction */
static int
setup_many(void **state)
{
	return fx_create(state, 1024, NULL);
}

#define CLIENTS 0x0a010000u /* 10.1.0.0 */
#define SERVERS 0xac100000u /* 172.16.0.0 */

/* n clients, each one first contact to a server of its own on port 80: the first `answered`
 * answered by a SYN-ACK, the others unanswered (one failure each, 4 < 99: none flagged) */
static void
clients(struct fx *x, uint32_t first, unsigned int n, unsigned int answered)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint32_t c = CLIENTS + first + i, sv = SERVERS + first + i;

		add(x, c, sv, (uint16_t)(40000 + i), 80, 6, TCP_SYN);
		if (i < answered)
			add(x, sv, c, 80, (uint16_t)(40000 + i), 6, TCP_SYN | TCP_ACK);
	}
}

/* The link's theta0 learnt from its clients (docs/detection.md, "Per-link prior (session
 * 14)"): 90 of 100 first contacts answered, 0.9 capped at 0.85, in use from the start of the
 * window after their decisions. A failure then multiplies the ratio by 0.8 / 0.15 = 5.33:
 * 3 failures flag (5.33^3 = 152 >= 99; with the paper's 0.8: 4^3 = 64 < 99). The scanner's
 * first failure of the window before its flag is counted (one a source and window; it can
 * only lower theta0), none after its flag. */
static void
test_prior_learnt(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	struct safem_seqscan_totals t;

	clients(x, 1, 100, 90);
	judge(x);
	assert_int_equal(findings(x, &f), 0);
	totals(x, &t);
	assert_int_equal(t.theta0_permille, 800); /* decided in this window: not yet in use */
	assert_int_equal(t.prior_observations, 100);
	probes(x, 1, 3);
	assert_int_equal(run(x), 0);
	totals(x, &t);
	assert_int_equal(t.theta0_permille, 850);
	assert_int_equal(run(x), 0); /* 3 failures at 5.33 each: 152 >= 99 */
	assert_int_equal(findings(x, &f), 1);
	assert_int_equal(f[0].shape, SAFEM_SEQSCAN_HORIZONTAL);
	assert_int_equal(f[0].failures_run, 3);
	assert_true(fabs(f[0].llr - log(99.0)) < 1e-9);
	totals(x, &t);
	assert_int_equal(t.prior_observations, 101);
	probes(x, 10, 2); /* flagged: not the link's */
	judge(x);
	totals(x, &t);
	assert_int_equal(t.prior_observations, 101);
	/* 90 of 101: 0.891, capped */
	assert_int_equal(t.theta0_permille, 850);
}

/* One busy client does not set the link's rate: a crawler's 120 answered first contacts in
 * one window are one observation of the prior (theta0 stays the paper's); its next
 * window's, another one. */
static void
test_prior_one_a_window(void **state)
{
	struct fx *x = *state;
	struct safem_seqscan_totals t;
	unsigned int i;

	for (i = 0; i < 120; i++) {
		add(x, CLIENTS + 1, SERVERS + 1 + i, (uint16_t)(40000 + i), 80, 6, TCP_SYN);
		add(x, SERVERS + 1 + i, CLIENTS + 1, 80, (uint16_t)(40000 + i), 6,
		    TCP_SYN | TCP_ACK);
	}
	judge(x);
	assert_int_equal(run(x), 0);
	totals(x, &t);
	assert_int_equal(t.successes, 120);
	assert_int_equal(t.prior_observations, 1);
	assert_int_equal(t.theta0_permille, 800);
	add(x, CLIENTS + 1, SERVERS + 200, 41000, 80, 6, TCP_SYN);
	add(x, SERVERS + 200, CLIENTS + 1, 80, 41000, 6, TCP_SYN | TCP_ACK);
	judge(x);
	totals(x, &t);
	assert_int_equal(t.successes, 121);
	assert_int_equal(t.prior_observations, 2);
}

/* The learnt theta0 is the horizontal walk's only (what the prior measures: first contacts
 * to new addresses): with theta0 0.85 learnt, a source's failed first contact to H (a
 * horizontal step, 5.33 < 99) and 2 failed new ports of H (the vertical walk takes the kept
 * first contact at the second: 3 vertical failures) walk at the paper's 4: 64 < 99, no
 * finding (at the learnt 0.85, 5.33^3 = 152 would flag). */
static void
test_prior_not_vertical(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	struct safem_seqscan_totals t;
	unsigned int p;

	clients(x, 1, 100, 90);
	judge(x);
	for (p = 1; p <= 3; p++) {
		add(x, SCANNER, NET + 9, (uint16_t)(50000 + p), (uint16_t)p, 6, TCP_SYN);
		assert_int_equal(run(x), 0);
		assert_int_equal(findings(x, &f), 0);
	}
	assert_int_equal(run(x), 0);
	assert_int_equal(findings(x, &f), 0);
	totals(x, &t);
	assert_int_equal(t.theta0_permille, 850); /* 90 of 101 (its own horizontal failure) */
	assert_int_equal(t.host_first_taken, 1);
	assert_int_equal(t.sources_flagged, 0);
}

/* The minimum and the cap: 99 answered contacts are under the 100 observations the prior
 * needs, theta0 stays 0.8 and a scanner's 3 failures do not flag (64 < 99); they are the
 * 100th observation (one a source and window: 99 of 100, 0.99), capped at 0.85 in the next
 * window. */
static void
test_prior_floor_cap(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	struct safem_seqscan_totals t;

	clients(x, 1, 99, 99);
	judge(x);
	probes(x, 1, 3);
	judge(x);
	assert_int_equal(findings(x, &f), 0);
	totals(x, &t);
	assert_int_equal(t.theta0_permille, 800);
	assert_int_equal(t.prior_observations, 100); /* 99 + the scanner's first, not flagged */
	assert_int_equal(run(x), 0);
	totals(x, &t);
	assert_int_equal(t.theta0_permille, 850);
}

/* The floor: 60 of 100 answered, 0.6, held at the paper's 0.8 (the floor): 3
 * failures 64 < 99, the 4th 256. */
static void
test_prior_floor(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	struct safem_seqscan_totals t;

	clients(x, 1, 100, 60);
	judge(x);
	assert_int_equal(run(x), 0);
	totals(x, &t);
	assert_int_equal(t.theta0_permille, 800); /* 0.6: the paper's walk (the floor) */
	probes(x, 1, 3);
	judge(x);
	assert_int_equal(findings(x, &f), 0); /* 64 < 99 */
	probes(x, 10, 1);
	judge(x);
	assert_int_equal(findings(x, &f), 1); /* 256 */
}

/* ---------------------------------------------------------------------- */
/* Stealth probes (docs/detection.md, "Stealth scans (session 15)"): a bare TCP segment
 * without SYN, ACK or RST, nmap's -sN (no flag), -sF (FIN), -sX (FIN+PSH+URG). */
#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_URG 0x20
#define TCP_XMAS (TCP_FIN | TCP_PSH | TCP_URG)

/* the last added flow's packets and IP bytes */
/* the last added flow over IPv6: its addresses read as 16 bytes (the IPv4 ones, then
 * zeros: unicast addresses of 10::/16 and the scanner's prefix) */
static void
last_v6(struct fx *x)
{
	x->w.f[x->w.n - 1].key.ip_version = 6;
}

static void
last_size(struct fx *x, uint64_t packets, uint64_t bytes)
{
	x->w.f[x->w.n - 1].packets = packets;
	x->w.f[x->w.n - 1].bytes = bytes;
}

/* the test's totals so far: contacts, of them stealth probes, and the decided ones */
static void
assert_contacts(struct fx *x, uint64_t contacts, uint64_t stealth, uint64_t successes,
		uint64_t failures)
{
	struct safem_seqscan_totals t;

	totals(x, &t);
	assert_int_equal(t.contacts, contacts);
	assert_int_equal(t.stealth_contacts, stealth);
	assert_int_equal(t.successes, successes);
	assert_int_equal(t.failures, failures);
}

/* A NULL sweep of port 80 from one source port (as nmap's): a closed port's RST+ACK and no
 * answer are both failures (neither opens a connection), so 3 probes do not flag (4^3 = 64
 * < 99) and the 4th, an XMAS probe, does (256); none of them feeds the link's prior (a SYN
 * scanner not yet flagged gives one observation a window: test_prior_learnt). */
static void
test_stealth_sweep_flags(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	struct safem_seqscan_totals t;
	unsigned int i;

	for (i = 1; i <= 3; i++)
		add(x, SCANNER, NET + i, 45000, 80, 6, 0);
	add(x, NET + 1, SCANNER, 80, 45000, 6, TCP_RST | TCP_ACK); /* closed */
	judge(x);
	assert_int_equal(findings(x, &f), 0);
	assert_contacts(x, 3, 3, 0, 3);
	totals(x, &t);
	assert_int_equal(t.prior_observations, 0);
	add(x, SCANNER, NET + 4, 45000, 80, 6, TCP_XMAS);
	judge(x);
	assert_int_equal(findings(x, &f), 1);
	assert_int_equal(f[0].shape, SAFEM_SEQSCAN_HORIZONTAL);
	assert_int_equal(f[0].port, 80);
	assert_int_equal(f[0].proto, 6);
	assert_int_equal(f[0].failures, 1);
	assert_int_equal(f[0].failures_run, 4);
	totals(x, &t);
	assert_int_equal(t.stealth_contacts, 4);
	assert_int_equal(t.prior_observations, 0);
	assert_int_equal(t.theta0_permille, 800);
}

/* A FIN scan of one host's ports, each closed port answering RST+ACK: the first probe is a
 * horizontal failure (1 of the horizontal walk: 4 < 99), the 3 new ports vertical ones,
 * and at the second new port the vertical walk takes the host's first probe too: 4
 * vertical failures, 256 >= 99, a vertical finding naming the host. */
static void
test_stealth_vertical(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	struct safem_seqscan_totals t;
	uint16_t p;

	for (p = 21; p <= 24; p++) {
		add(x, SCANNER, NET + 9, 45000, p, 6, TCP_FIN);
		add(x, NET + 9, SCANNER, p, 45000, 6, TCP_RST | TCP_ACK);
	}
	judge(x);
	assert_int_equal(findings(x, &f), 1);
	assert_int_equal(f[0].shape, SAFEM_SEQSCAN_VERTICAL);
	assert_int_equal(f[0].dst.bytes[15], 9);
	assert_int_equal(f[0].failures, 3);
	assert_int_equal(f[0].failures_run, 4);
	totals(x, &t);
	assert_int_equal(t.host_first_taken, 1);
	assert_int_equal(t.stealth_contacts, 4);
}

/* What is no stealth probe: a connection's later segments (its SYN two windows older: a
 * bare ACK, data with PSH+ACK, its FIN+ACK close), a segment without SYN, ACK or RST that
 * carries payload (IPv4 81 bytes, one more than the 20-byte IP header and the largest TCP
 * header, 60: the bound; 80 is a probe with options), from a system port (bg_ndpi_appmix's
 * ACK-less segments from port 1), a non-first fragment (ports 0); over IPv6 the bound is
 * 40 + 60 = 100 bytes (101: payload). Of these windows' flows only the SYN, the 80-byte FIN
 * and the 100-byte IPv6 FIN are contacts. */
static void
test_stealth_not_contacts(void **state)
{
	struct fx *x = *state;

	add(x, SCANNER, NET + 1, 40001, 443, 6, TCP_SYN);
	add(x, NET + 1, SCANNER, 443, 40001, 6, TCP_SYN | TCP_ACK);
	assert_int_equal(run(x), 0);
	add(x, SCANNER, NET + 1, 40001, 443, 6, TCP_ACK | TCP_PSH);
	add(x, NET + 1, SCANNER, 443, 40001, 6, TCP_ACK | TCP_PSH);
	assert_int_equal(run(x), 0);
	add(x, SCANNER, NET + 1, 40001, 443, 6, TCP_FIN | TCP_ACK);
	add(x, SCANNER, NET + 2, 40002, 443, 6, TCP_ACK); /* a bare ACK, no answer */
	add(x, SCANNER, NET + 3, 45000, 80, 6, TCP_FIN | TCP_PSH);
	last_size(x, 1, 81); /* payload */
	add(x, SCANNER, NET + 4, 45000, 80, 6, TCP_FIN);
	last_size(x, 2, 2 * 81);
	add(x, SCANNER, NET + 5, 45000, 80, 6, TCP_FIN);
	last_size(x, 1, 80); /* a bare header with 40 bytes of options */
	add(x, SCANNER, NET + 6, 1, 80, 6, 0); /* from a system port */
	add(x, SCANNER, NET + 7, 0, 0, 6, 0); /* no ports, no flags: a fragment */
	add(x, SCANNER, NET + 8, 45000, 80, 6, TCP_FIN);
	last_v6(x);
	last_size(x, 1, 100); /* IPv6: 40 + 60 bytes of headers */
	add(x, SCANNER, NET + 9, 45000, 80, 6, TCP_FIN);
	last_v6(x);
	last_size(x, 1, 101); /* IPv6 with payload */
	judge(x);
	assert_contacts(x, 3, 2, 1, 2);
}

/* A stealth-looking flow that a conversation goes on from is no evidence: answered without
 * RST (an ACK back), or its own next window's segments carrying ACK. 4 of them and no
 * failure: no walk moves. */
static void
test_stealth_conversation_undecided(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	struct safem_seqscan_totals t;
	unsigned int i;

	for (i = 1; i <= 2; i++) {
		add(x, SCANNER, NET + i, 45000, 80, 6, TCP_FIN);
		add(x, NET + i, SCANNER, 80, 45000, 6, TCP_ACK);
	}
	for (i = 3; i <= 4; i++)
		add(x, SCANNER, NET + i, 45000, 80, 6, 0);
	assert_int_equal(run(x), 0);
	for (i = 3; i <= 4; i++)
		add(x, SCANNER, NET + i, 45000, 80, 6, TCP_ACK);
	assert_int_equal(run(x), 0);
	assert_int_equal(findings(x, &f), 0);
	assert_contacts(x, 4, 4, 0, 0);
	totals(x, &t);
	assert_int_equal(t.undecided, 4);
}

/* ---------------------------------------------------------------------- */
/* UDP walks of one source (session 16): a UDP first contact fails when its target refuses it
 * (an ICMP port unreachable from the target to the source) or when it is an empty datagram
 * nothing answered; an unanswered datagram with payload is no evidence. The UDP walks are
 * the source's own, apart from its TCP / ICMP walks. No home prefixes: any source. */

#define EMPTY_V4 28u /* IPv4 20 + UDP 8 bytes: no payload */

/* a UDP datagram from src to dst of bytes (one packet) */
static void
udp(struct fx *x, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint64_t bytes)
{
	add(x, src, dst, sport, dport, 17, 0);
	x->w.f[x->w.n - 1].bytes = bytes;
}

/* the ICMP error type << 8 | code from `from` to `to` (NetFlow convention) */
static void
icmp_error(struct fx *x, uint32_t from, uint32_t to, uint16_t type_code)
{
	add(x, from, to, 0, type_code, 1, 0);
	x->w.f[x->w.n - 1].bytes = 56;
}

#define PORT_UNREACHABLE (3u << 8 | 3u)
#define TIME_EXCEEDED (11u << 8)

/* nmap -sU of one host: empty datagrams to 8 ports from one source port, none answered. The
 * host's first datagram steps the horizontal walk and, from its second new port on, the
 * vertical walk too (session 13's host rule): 1 + 7 failures flag the vertical walk, a
 * vertical finding naming the host, proto 17; its TCP walks see nothing */
static void
test_udp_walk_vertical_empty(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	struct safem_seqscan_totals t;
	uint16_t p;

	for (p = 1; p <= 8; p++)
		udp(x, SCANNER, NET + 1, 45000, p, EMPTY_V4);
	judge(x);
	assert_int_equal(findings(x, &f), 1);
	assert_int_equal(f[0].shape, SAFEM_SEQSCAN_VERTICAL);
	assert_int_equal(f[0].proto, 17);
	assert_int_equal(f[0].port, 0);
	assert_int_equal(f[0].dst.bytes[15], 1); /* the scanned host */
	assert_int_equal(f[0].src.bytes[15], 1); /* the scanner */
	assert_int_equal(f[0].failures, 7);
	assert_int_equal(f[0].failures_run, 8);
	totals(x, &t);
	assert_int_equal(t.udp_walk_contacts, 8);
	assert_int_equal(t.udp_walk_failures, 8);
	assert_int_equal(t.udp_walk_refused, 0);
	assert_int_equal(t.udp_walk_flagged, 1);
	assert_int_equal(t.udp_walk_findings, 1);
	assert_int_equal(t.findings, 1);
	/* the TCP / ICMP walks and the home port evidence (no home prefixes) saw nothing */
	assert_int_equal(t.contacts, 0);
	assert_int_equal(t.udp_contacts, 0);
	assert_int_equal(t.sources_flagged, 0);
	assert_int_equal(t.prior_observations, 0);
	/* still scanning the next window: a finding again */
	for (p = 9; p <= 10; p++)
		udp(x, SCANNER, NET + 1, 45000, p, EMPTY_V4);
	judge(x);
	assert_int_equal(findings(x, &f), 1);
	assert_int_equal(f[0].windows, 2);
}

/* a sweep of 161 over 5 hosts, empty datagrams unanswered: 4 failures flag the horizontal
 * walk (4^4 = 256 >= 99), the finding names port 161; 3 (64) do not */
static void
test_udp_walk_horizontal_empty(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	unsigned int i;

	for (i = 1; i <= 3; i++)
		udp(x, SCANNER, NET + i, (uint16_t)(40000 + i), 161, EMPTY_V4);
	judge(x);
	assert_int_equal(findings(x, &f), 0);
	for (i = 4; i <= 5; i++)
		udp(x, SCANNER, NET + i, (uint16_t)(40000 + i), 161, EMPTY_V4);
	judge(x);
	assert_int_equal(findings(x, &f), 1);
	assert_int_equal(f[0].shape, SAFEM_SEQSCAN_HORIZONTAL);
	assert_int_equal(f[0].port, 161);
	assert_int_equal(f[0].proto, 17);
	assert_int_equal(f[0].failures, 2);
	assert_int_equal(f[0].failures_run, 5);
}

/* datagrams with payload (SNMP requests) each refused by its target's port unreachable, in
 * the datagram's window or the next: failures (4: a finding on 161); refusals from another
 * address than the target (a router, a third host) are none: no evidence */
static void
test_udp_walk_refusals(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	struct safem_seqscan_totals t;
	unsigned int i;

	for (i = 1; i <= 4; i++) {
		udp(x, SCANNER, NET + i, (uint16_t)(40000 + i), 161, 80);
		if (i <= 2)
			icmp_error(x, NET + i, SCANNER, PORT_UNREACHABLE);
		/* not the target's: no refusal of these */
		udp(x, SCANNER, NET + 10 + i, (uint16_t)(41000 + i), 161, 80);
		icmp_error(x, NET + 100, SCANNER, PORT_UNREACHABLE);
	}
	assert_int_equal(run(x), 0);
	assert_int_equal(findings(x, &f), 0);
	for (i = 3; i <= 4; i++) /* refused in the next window */
		icmp_error(x, NET + i, SCANNER, PORT_UNREACHABLE);
	assert_int_equal(run(x), 0);
	assert_int_equal(findings(x, &f), 1);
	assert_int_equal(f[0].shape, SAFEM_SEQSCAN_HORIZONTAL);
	assert_int_equal(f[0].port, 161);
	assert_int_equal(f[0].proto, 17);
	assert_int_equal(f[0].failures, 4);
	totals(x, &t);
	assert_int_equal(t.udp_walk_contacts, 8);
	assert_int_equal(t.udp_walk_failures, 4);
	assert_int_equal(t.udp_walk_refused, 4);
	assert_int_equal(t.udp_walk_undecided, 4);
	/* a refusal two windows late is none */
	for (i = 1; i <= 4; i++)
		udp(x, SCANNER + 1, NET + 20 + i, (uint16_t)(40000 + i), 53, 60);
	assert_int_equal(run(x), 0);
	assert_int_equal(run(x), 0);
	for (i = 1; i <= 4; i++)
		icmp_error(x, NET + 20 + i, SCANNER + 1, PORT_UNREACHABLE);
	assert_int_equal(run(x), 0);
	assert_int_equal(findings(x, &f), 0);
	totals(x, &t);
	assert_int_equal(t.udp_walk_refused, 4);
}

/* The session 10 traps: discovery of datagrams with payload that nothing answers is no
 * evidence. A Canon printer's BJNP sweep (one 16-byte datagram to each of 9 hosts on 8612),
 * an outside host's sweep of UDP 6000 (16 bytes, one a window over 12 windows), a P2P host's
 * pings to one peer on several ports: nothing found, every contact undecided */
static void
test_udp_walk_payload_no_evidence(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	struct safem_seqscan_totals t;
	unsigned int i;

	for (i = 1; i <= 9; i++)
		udp(x, SCANNER, NET + i, (uint16_t)(50000 + i), 8612, EMPTY_V4 + 16);
	for (i = 1; i <= 6; i++)
		udp(x, SCANNER + 2, 0x50000001u, 28681, (uint16_t)(6346 + 7 * i), EMPTY_V4 + 23);
	judge(x);
	assert_int_equal(findings(x, &f), 0);
	for (i = 0; i < 12; i++) {
		udp(x, 0x0a080001u, 0xc8c20000u + 256 * i + 7, 40000, 6000, EMPTY_V4 + 16);
		run(x);
		assert_int_equal(findings(x, &f), 0);
	}
	run(x);
	assert_int_equal(findings(x, &f), 0);
	totals(x, &t);
	assert_int_equal(t.udp_walk_contacts, 27);
	assert_int_equal(t.udp_walk_undecided, 27);
	assert_int_equal(t.udp_walk_failures, 0);
	assert_int_equal(t.udp_walk_flagged, 0);
}

/* The session 15 trap: an IPv6 client's three failed TCP/443 connections and one QUIC
 * datagram its server refused are 3 failures of its TCP walk (64 < 99) and 1 of its UDP
 * walk: nothing, whatever the order (the branch that shared the walks flagged it) */
static void
test_udp_walk_apart_from_tcp(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	struct safem_seqscan_totals t;
	unsigned int i;

	for (i = 1; i <= 3; i++)
		add(x, SCANNER, NET + i, (uint16_t)(40000 + i), 443, 6, TCP_SYN);
	udp(x, SCANNER, NET + 4, 40004, 443, EMPTY_V4 + 1200);
	icmp_error(x, NET + 4, SCANNER, PORT_UNREACHABLE);
	judge(x);
	assert_int_equal(findings(x, &f), 0);
	totals(x, &t);
	assert_int_equal(t.failures, 3);
	assert_int_equal(t.udp_walk_failures, 1);
	assert_int_equal(t.udp_walk_refused, 1);
	assert_int_equal(t.sources_flagged, 0);
	assert_int_equal(t.udp_walk_flagged, 0);
	assert_int_equal(t.prior_observations, 1); /* its TCP outcome; the UDP one never */
	/* the other way round: 3 refused datagrams, then one failed SYN: nothing */
	for (i = 1; i <= 3; i++) {
		udp(x, SCANNER + 1, NET + 10 + i, (uint16_t)(40000 + i), 443, EMPTY_V4 + 1200);
		icmp_error(x, NET + 10 + i, SCANNER + 1, PORT_UNREACHABLE);
	}
	add(x, SCANNER + 1, NET + 14, 40004, 443, 6, TCP_SYN);
	judge(x);
	assert_int_equal(findings(x, &f), 0);
}

/* answered datagrams (the reverse flow, addresses and ports swapped, in the window or the
 * next) are successes, empty or not; 4 of them take the walk to eta0, so 3 failures after
 * them find nothing */
static void
test_udp_walk_answered(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	struct safem_seqscan_totals t;
	unsigned int i;

	for (i = 1; i <= 6; i++) {
		udp(x, SCANNER, NET + i, (uint16_t)(40000 + i), 7, i % 2 ? EMPTY_V4 : 60);
		if (i <= 4)
			udp(x, NET + i, SCANNER, 7, (uint16_t)(40000 + i), 60);
	}
	assert_int_equal(run(x), 0);
	for (i = 5; i <= 6; i++) /* answered in the next window */
		udp(x, NET + i, SCANNER, 7, (uint16_t)(40000 + i), 60);
	assert_int_equal(run(x), 0);
	assert_int_equal(findings(x, &f), 0);
	totals(x, &t);
	assert_int_equal(t.udp_walk_successes, 6);
	assert_int_equal(t.udp_walk_failures, 0);
	for (i = 1; i <= 3; i++)
		udp(x, SCANNER, NET + 20 + i, (uint16_t)(40000 + i), 7, EMPTY_V4);
	judge(x);
	assert_int_equal(findings(x, &f), 0);
	totals(x, &t);
	assert_int_equal(t.udp_walk_failures, 3);
}

/* What else is no evidence: a traceroute (datagrams to new ports of one host, time exceeded
 * back from the routers, the last hops refused by the host: the refusals are the route's
 * end, not closed ports probed), empty datagrams a sender kept sending (3 in its window, or
 * the same flow in the next), from a system port, to a broadcast address */
static void
test_udp_walk_not_evidence(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	struct safem_seqscan_totals t;
	unsigned int i;

	for (i = 0; i < 12; i++) {
		udp(x, SCANNER, NET + 1, 41077, (uint16_t)(33434 + i), EMPTY_V4 + 32);
		if (i < 9)
			icmp_error(x, NET + 100 + i / 3, SCANNER, TIME_EXCEEDED);
	}
	for (i = 0; i < 3; i++)
		icmp_error(x, NET + 1, SCANNER, PORT_UNREACHABLE);
	for (i = 1; i <= 5; i++) {
		udp(x, SCANNER + 1, NET + 10 + i, (uint16_t)(40000 + i), 161, 3 * EMPTY_V4);
		x->w.f[x->w.n - 1].packets = 3;
		udp(x, SCANNER + 1, NET + 20 + i, (uint16_t)(41000 + i), 162, EMPTY_V4);
		udp(x, SCANNER + 1, NET + 30 + i, 123, 123, EMPTY_V4);
		udp(x, SCANNER + 1, NET + 255, (uint16_t)(42000 + i), 137, EMPTY_V4);
	}
	assert_int_equal(run(x), 0);
	for (i = 1; i <= 5; i++) /* sent again next window: a conversation */
		udp(x, SCANNER + 1, NET + 20 + i, (uint16_t)(41000 + i), 162, EMPTY_V4);
	assert_int_equal(run(x), 0);
	assert_int_equal(findings(x, &f), 0);
	totals(x, &t);
	assert_int_equal(t.udp_walk_contacts, 22);
	assert_int_equal(t.udp_walk_undecided, 22);
	assert_int_equal(t.udp_walk_failures, 0);
}

/* an nmap -sU of one host, 8 empty datagrams 0.6-1.3 s old at the window's end, 3 of them
 * refused in it: found in its own window (the refusals decide at any age, the old empty ones
 * fail), the final decisions one window later find it again */
static void
test_udp_walk_provisional(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	struct safem_seqscan_totals t;
	uint16_t p;

	for (p = 1; p <= 8; p++) {
		udp(x, SCANNER, NET + 1, 45000, p, EMPTY_V4);
		at(x, END_MS - 1300 + 100 * p);
	}
	for (p = 0; p < 3; p++)
		icmp_error(x, NET + 1, SCANNER, PORT_UNREACHABLE);
	assert_int_equal(run_at(x, END_MS), 0);
	assert_int_equal(findings(x, &f), 1);
	assert_true(f[0].provisional);
	assert_int_equal(f[0].shape, SAFEM_SEQSCAN_VERTICAL);
	assert_int_equal(f[0].proto, 17);
	totals(x, &t);
	assert_int_equal(t.udp_walk_failures, 0); /* nothing decided for good yet */
	assert_int_equal(t.udp_walk_findings, 1);
	assert_int_equal(t.findings_provisional, 1);
	assert_int_equal(run_at(x, END_MS + 1000), 0);
	assert_int_equal(findings(x, &f), 1);
	assert_false(f[0].provisional);
	assert_int_equal(f[0].shape, SAFEM_SEQSCAN_VERTICAL);
	totals(x, &t);
	assert_int_equal(t.udp_walk_failures, 8);
	assert_int_equal(t.udp_walk_refused, 8); /* the pair's refusals name no port */
}

/* The session 16 review's H1: a Linux traceroute (32-byte payload, a new port 33434+ a probe)
 * whose time exceeded never reaches this link (the hops before the tap, ICMP filtered, an
 * asymmetric return); the target refuses the probes that reach it. The refusal is known per
 * address pair, so it "refused" every probe of the pair: a vertical finding with 15 failures
 * (4 probes were enough). Datagrams with payload are no evidence of the vertical walk:
 * nothing; the one horizontal contact (the host's first probe) fails alone. */
static void
test_udp_walk_traceroute_no_time_exceeded(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	struct safem_seqscan_totals t;
	unsigned int i;

	for (i = 0; i < 16; i++)
		udp(x, SCANNER, NET + 1, (uint16_t)(40000 + i), (uint16_t)(33434 + i), EMPTY_V4 + 32);
	icmp_error(x, NET + 1, SCANNER, PORT_UNREACHABLE);
	judge(x);
	assert_int_equal(findings(x, &f), 0);
	/* 4 probes reach the target (traceroute -q 3 and one more) */
	for (i = 0; i < 4; i++)
		udp(x, SCANNER + 1, NET + 2, (uint16_t)(40000 + i), (uint16_t)(33464 + i),
		    EMPTY_V4 + 32);
	icmp_error(x, NET + 2, SCANNER + 1, PORT_UNREACHABLE);
	judge(x);
	assert_int_equal(findings(x, &f), 0);
	totals(x, &t);
	assert_int_equal(t.udp_walk_contacts, 20);
	assert_int_equal(t.udp_walk_failures, 2); /* each host's first probe, horizontal */
	assert_int_equal(t.udp_walk_undecided, 18);
	assert_int_equal(t.udp_walk_flagged, 0);
}

/* mtr -u: one probe with payload a window to a new port (one a sequence number) of one
 * host, refused, over 10 windows: nothing (each a finding from the fourth window on before) */
static void
test_udp_walk_mtr(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	struct safem_seqscan_totals t;
	unsigned int i, found = 0;

	for (i = 0; i < 10; i++) {
		udp(x, SCANNER, NET + 1, 45000, (uint16_t)(33000 + i), EMPTY_V4 + 36);
		icmp_error(x, NET + 1, SCANNER, PORT_UNREACHABLE);
		assert_int_equal(run(x), 0);
		found += findings(x, &f);
	}
	assert_int_equal(run(x), 0);
	found += findings(x, &f);
	assert_int_equal(found, 0);
	totals(x, &t);
	assert_int_equal(t.udp_walk_failures, 1);
	assert_int_equal(t.udp_walk_flagged, 0);
}

/* The review's M1: an SSDP reflection at a home host V: 50 reflectors answer spoofed
 * requests, 4 responses (300 bytes) a window each from 1900 to random ports of V, and V
 * refuses each reflector once a window (rate-limited port unreachable), 3 windows. Every
 * reflector's responses are new ports of V: with per-pair refusals 50 vertical findings
 * naming innocent reflectors; responses carry payload: nothing */
static void
test_udp_walk_reflection(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	struct safem_seqscan_totals t;
	uint32_t rnd = 2463534242u;
	unsigned int w, r, k, found = 0;

	for (w = 0; w < 3; w++) {
		for (r = 0; r < 50; r++) {
			uint32_t refl = 0x30000000u + r * 7919;

			for (k = 0; k < 4; k++) {
				rnd ^= rnd << 13;
				rnd ^= rnd >> 17;
				rnd ^= rnd << 5;
				udp(x, refl, NET + 170, 1900, (uint16_t)(1024 + rnd % 60000), 320);
			}
			icmp_error(x, NET + 170, refl, PORT_UNREACHABLE);
		}
		assert_int_equal(run(x), 0);
		found += findings(x, &f);
	}
	assert_int_equal(run(x), 0);
	found += findings(x, &f);
	assert_int_equal(found, 0);
	totals(x, &t);
	assert_int_equal(t.udp_walk_flagged, 0);
	assert_true(t.udp_walk_refused > 0); /* the reflectors' first responses, horizontal */
}

/* What stays evidence: nmap -sU of one host (empty datagrams, and the payload probes nmap
 * sends to a few known ports: no evidence of the vertical walk) is found, its failures the
 * empty ones; a sweep of 161 with payload refused by each host is found (horizontal) */
static void
test_udp_walk_payload_vertical(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	struct safem_seqscan_totals t;
	uint16_t p;
	unsigned int i;

	for (p = 1; p <= 8; p++)
		udp(x, SCANNER, NET + 1, 45000, p, EMPTY_V4);
	udp(x, SCANNER, NET + 1, 45000, 53, EMPTY_V4 + 12);
	udp(x, SCANNER, NET + 1, 45000, 161, EMPTY_V4 + 40);
	icmp_error(x, NET + 1, SCANNER, PORT_UNREACHABLE);
	for (i = 1; i <= 5; i++) {
		udp(x, SCANNER + 1, NET + 10 + i, (uint16_t)(40000 + i), 161, EMPTY_V4 + 40);
		icmp_error(x, NET + 10 + i, SCANNER + 1, PORT_UNREACHABLE);
	}
	judge(x);
	assert_int_equal(findings(x, &f), 2);
	assert_int_equal(f[0].shape, SAFEM_SEQSCAN_VERTICAL);
	assert_int_equal(f[0].src.bytes[15], 1);
	assert_int_equal(f[0].failures, 7);
	assert_int_equal(f[1].shape, SAFEM_SEQSCAN_HORIZONTAL);
	assert_int_equal(f[1].src.bytes[15], 2);
	assert_int_equal(f[1].port, 161);
	assert_int_equal(f[1].failures, 5);
	totals(x, &t);
	assert_int_equal(t.udp_walk_failures, 13);
	assert_int_equal(t.udp_walk_undecided, 2);
}

/* The review's M2: every UDP sender takes an entry of the UDP table. 200 one-shot senders a
 * window (payload, unanswered: DNS clients whose answers take another path; 12 a set of 4
 * ways here, as 30k a window on the probe's 8192) and a sweep of 2 empty datagrams a window
 * to new hosts on 161 over 20 windows: evicted by recency alone, the sweep's entry went with
 * the one-shot senders and its walk started over (a finding in 2 windows of 20). Its walks
 * hold evidence, theirs none: a finding in each window from the third on, as without the
 * one-shot senders. */
static void
test_udp_walk_churn(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	struct safem_seqscan_totals t;
	unsigned int w, i, n, k, found = 0, quiet = 0;

	for (k = 0; k < 2; k++) {
		found = 0;
		for (w = 0; w < 20; w++) {
			for (i = 0; k == 1 && i < 200; i++)
				udp(x, 0x0b000000u + (w * 200 + i) * 13, 0x08080808u,
				    (uint16_t)(1024 + i), 53, 70);
			for (i = 0; i < 2; i++)
				udp(x, 0x5d000000u + k, NET + 0x1000 * k + 2 * w + i,
				    (uint16_t)(50000 + i), 161, EMPTY_V4);
			assert_int_equal(run(x), 0);
			n = findings(x, &f);
			for (i = 0; i < n; i++)
				if (f[i].src.bytes[15] == k && f[i].src.bytes[12] == 0x5d)
					found++;
		}
		if (k == 0)
			quiet = found;
	}
	assert_int_equal(quiet, 18);
	assert_int_equal(found, quiet);
	totals(x, &t);
	assert_true(t.udp_walk_sources_evicted > 3000);
}

/* The review's L5: the UDP walks' flagged horizontal scanners have a ring of their own. A
 * TCP scanner of 23 flagged, then 6 windows of 30 UDP sweeps flagged each (empty datagrams
 * to 4 new hosts, a port of their own), then a second TCP scanner of 23 within the worm
 * horizon: a worm (no home prefixes: both home). In one ring the UDP sweeps pushed the
 * first TCP scanner out: two horizontal findings instead. */
static void
test_udp_walk_own_ring(void **state)
{
	struct fx *x = *state;
	const struct safem_seqscan_finding *f;
	struct safem_seqscan_totals t;
	unsigned int b, i, j, n, worms = 0;

	probes(x, 0x100, 5);
	assert_int_equal(run(x), 0);
	for (b = 0; b < 6; b++) {
		for (i = 0; i < 30; i++)
			for (j = 0; j < 4; j++)
				udp(x, 0x0a100000u + 256 * b + i, NET + 0x2000 + 1024 * b + 4 * i + j,
				    (uint16_t)(40000 + j), (uint16_t)(1000 + i), EMPTY_V4);
		assert_int_equal(run(x), 0);
		if (b == 0)
			assert_int_equal(findings(x, &f), 1); /* the first TCP scanner */
	}
	for (i = 0; i < 5; i++)
		add(x, SCANNER + 1, NET + 0x300 + i, (uint16_t)(40000 + i), 23, 6, TCP_SYN);
	assert_int_equal(run(x), 0);
	assert_int_equal(run(x), 0);
	n = findings(x, &f);
	for (i = 0; i < n; i++)
		if (f[i].shape == SAFEM_SEQSCAN_WORM && f[i].port == 23)
			worms++;
	assert_int_equal(worms, 1);
	totals(x, &t);
	assert_true(t.udp_walk_flagged >= 64); /* more than one ring holds */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_four_failures_flag, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stealth_sweep_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stealth_vertical, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stealth_not_contacts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stealth_conversation_undecided, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_prior_learnt, setup_many, teardown),
		cmocka_unit_test_setup_teardown(test_prior_one_a_window, setup_many, teardown),
		cmocka_unit_test_setup_teardown(test_prior_floor_cap, setup_many, teardown),
		cmocka_unit_test_setup_teardown(test_prior_floor, setup_many, teardown),
		cmocka_unit_test_setup_teardown(test_prior_not_vertical, setup_many, teardown),
		cmocka_unit_test_setup_teardown(test_provisional_found_own_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_provisional_young_undecided, setup, teardown),
		cmocka_unit_test_setup_teardown(test_provisional_stealth_young, setup, teardown),
		cmocka_unit_test_setup_teardown(test_provisional_answered_later, setup, teardown),
		cmocka_unit_test_setup_teardown(test_provisional_answered_same_window, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_provisional_first_packet, setup, teardown),
		cmocka_unit_test_setup_teardown(test_provisional_udp_source_port_worm, setup_home,
						teardown),
		cmocka_unit_test_setup_teardown(test_successes_pull_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_next_window_answers_and_rst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_contact_kinds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_ports_not_horizontal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_few_ports_horizontal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_contacts_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multicast_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vertical_shape, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vertical_host_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vertical_host_first_provisional, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vertical_host_fallback_port, setup, teardown),
		cmocka_unit_test_setup_teardown(test_worm_shape, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_bound, setup_one_set, teardown),
		cmocka_unit_test_setup_teardown(test_unjudged_windows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_source_starts_over, setup, teardown),
		cmocka_unit_test_setup_teardown(test_port_walk_client_scanner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_port_walk_many_ports_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_home_port_worm, setup_home, teardown),
		cmocka_unit_test_setup_teardown(test_home_port_not_worm, setup_home, teardown),
		cmocka_unit_test_setup_teardown(test_udp_answered_fanout, setup_home, teardown),
		cmocka_unit_test_setup_teardown(test_udp_one_source, setup_home, teardown),
		cmocka_unit_test_setup_teardown(test_udp_not_contacts, setup_home, teardown),
		cmocka_unit_test_setup_teardown(test_udp_walk_vertical_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_walk_horizontal_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_walk_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_walk_payload_no_evidence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_walk_apart_from_tcp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_walk_answered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_walk_not_evidence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_walk_provisional, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_walk_traceroute_no_time_exceeded, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_udp_walk_mtr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_walk_reflection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_walk_payload_vertical, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_walk_churn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_walk_own_ring, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_source_port_worm, setup_home, teardown),
		cmocka_unit_test_setup_teardown(test_udp_source_port_not_worm, setup_home,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
