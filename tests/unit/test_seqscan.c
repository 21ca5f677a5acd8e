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

#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10
#define MAXF 256

struct win {
	struct safem_profile_flow f[MAXF];
	uint32_t n;
};

static void
v4(uint8_t *a, uint32_t addr)
{
	memset(a, 0, 16);
	a[0] = (uint8_t)(addr >> 24);
	a[1] = (uint8_t)(addr >> 16);
	a[2] = (uint8_t)(addr >> 8);
	a[3] = (uint8_t)addr;
}

static void
add(struct win *w, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint8_t proto,
    uint8_t flags)
{
	struct safem_profile_flow *f = &w->f[w->n++];

	assert_true(w->n <= MAXF);
	memset(f, 0, sizeof(*f));
	v4(f->key.src_addr, src);
	v4(f->key.dst_addr, dst);
	f->key.src_port = sport;
	f->key.dst_port = dport;
	f->key.proto = proto;
	f->key.ip_version = 4;
	f->tcp_flags = flags;
	f->flows = 1;
	f->packets = 1;
	f->bytes = 60;
}

static int
run(struct safem_seqscan *s, struct win *w)
{
	const struct safem_profile_flow *seg[1] = {w->f};
	int rc = safem_seqscan_window(s, seg, &w->n, 1, true);

	w->n = 0;
	return rc;
}

/* the window of w's contacts, then the one that decides them (an empty one) */
static void
judge(struct safem_seqscan *s, struct win *w)
{
	assert_int_equal(run(s, w), 0);
	assert_int_equal(run(s, w), 0);
}

static struct safem_seqscan *
make(unsigned int sources)
{
	struct safem_seqscan_params p = {.sources = sources, .pane_flows = MAXF};
	struct safem_seqscan *s = safem_seqscan_create(&p);

	assert_non_null(s);
	return s;
}

#define SCANNER 0x0a000001u /* 10.0.0.1 */
#define NET 0xc0a80000u     /* 192.168.0.0 */

/* n SYNs to new hosts on port 23, none answered */
static void
probes(struct win *w, uint32_t first, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		add(w, SCANNER, NET + first + i, 40000 + first + i, 23, 6, TCP_SYN);
}

static unsigned int
findings(struct safem_seqscan *s, const struct safem_seqscan_finding **f)
{
	return safem_seqscan_findings(s, f);
}

static void
test_four_failures_flag(void **state)
{
	struct safem_seqscan *s = make(64);
	struct safem_seqscan_totals t;
	const struct safem_seqscan_finding *f;
	static struct win w;

	(void)state;
	probes(&w, 1, 3);
	assert_int_equal(run(s, &w), 0);
	assert_int_equal(findings(s, &f), 0); /* nothing decided yet */
	assert_int_equal(run(s, &w), 0);       /* 3 failures: 4^3 = 64 < 99 */
	assert_int_equal(findings(s, &f), 0);
	probes(&w, 10, 1);
	assert_int_equal(run(s, &w), 0);
	assert_int_equal(findings(s, &f), 0); /* the 4th is decided one window later */
	assert_int_equal(run(s, &w), 0);       /* 4^4 = 256 >= 99 */
	assert_int_equal(findings(s, &f), 1);
	assert_int_equal(f[0].shape, SAFEM_SEQSCAN_HORIZONTAL);
	assert_int_equal(f[0].port, 23);
	assert_int_equal(f[0].failures, 1);
	assert_int_equal(f[0].failures_run, 4);
	assert_int_equal(f[0].src.bytes[10], 0xff);
	assert_int_equal(f[0].src.bytes[15], 1);
	assert_true(fabs(f[0].llr - log(99.0)) < 1e-9); /* held at the bound */
	/* still failing: a finding every window it fails */
	probes(&w, 20, 2);
	run(s, &w);
	assert_int_equal(findings(s, &f), 0);
	run(s, &w);
	assert_int_equal(findings(s, &f), 1);
	assert_int_equal(f[0].failures, 2);
	assert_int_equal(f[0].windows, 2);
	safem_seqscan_totals(s, &t);
	assert_int_equal(t.failures, 6);
	assert_int_equal(t.sources_flagged, 1);
	safem_seqscan_free(s);
}

/* a source back after SAFEM_SEQSCAN_IDLE_WINDOWS_DEFAULT windows without a contact starts
 * over: its old flag says nothing of now (one failed connection is no finding), and it needs
 * 4 new failures to be flagged again, its finding count from 1 */
static void
test_idle_source_starts_over(void **state)
{
	struct safem_seqscan *s = make(64);
	const struct safem_seqscan_finding *f;
	static struct win w;
	unsigned int i;

	(void)state;
	probes(&w, 1, 5);
	judge(s, &w);
	assert_int_equal(findings(s, &f), 1);
	for (i = 0; i <= SAFEM_SEQSCAN_IDLE_WINDOWS_DEFAULT; i++)
		run(s, &w);
	probes(&w, 100, 1);
	judge(s, &w);
	assert_int_equal(findings(s, &f), 0);
	probes(&w, 110, 3);
	judge(s, &w);
	assert_int_equal(findings(s, &f), 1); /* 4 failures since it came back */
	assert_int_equal(f[0].failures_run, 4);
	assert_int_equal(f[0].windows, 1);
	safem_seqscan_free(s);
}

/* successes pull back: F F F S F F -> 4^(5-1) = 256 only at the 6th observation */
static void
test_successes_pull_back(void **state)
{
	struct safem_seqscan *s = make(64);
	const struct safem_seqscan_finding *f;
	static struct win w;

	(void)state;
	probes(&w, 1, 3);
	/* the 4th contact answered with a SYN-ACK in the same window */
	add(&w, SCANNER, NET + 4, 40004, 23, 6, TCP_SYN);
	add(&w, NET + 4, SCANNER, 23, 40004, 6, TCP_SYN | TCP_ACK);
	run(s, &w);
	probes(&w, 5, 1);
	run(s, &w); /* F F F S: 4^2 = 16 */
	assert_int_equal(findings(s, &f), 0);
	probes(&w, 6, 1);
	run(s, &w); /* + F: 64 */
	assert_int_equal(findings(s, &f), 0);
	run(s, &w); /* + F: 256 */
	assert_int_equal(findings(s, &f), 1);
	safem_seqscan_free(s);
}

/* an answer in the next window counts; a RST is a failure; 4 successes reset */
static void
test_next_window_answers_and_rst(void **state)
{
	struct safem_seqscan *s = make(64);
	const struct safem_seqscan_finding *f;
	struct safem_seqscan_totals t;
	static struct win w;
	unsigned int i;

	(void)state;
	for (i = 1; i <= 4; i++) /* four SYNs */
		add(&w, SCANNER, NET + i, 40000 + i, 443, 6, TCP_SYN);
	run(s, &w);
	for (i = 1; i <= 4; i++) /* SYN-ACKs one window later, the handshake completes */
		add(&w, NET + i, SCANNER, 443, 40000 + i, 6, TCP_SYN | TCP_ACK);
	run(s, &w);
	safem_seqscan_totals(s, &t);
	assert_int_equal(t.successes, 4);
	assert_int_equal(t.failures, 0);
	assert_int_equal(findings(s, &f), 0);
	/* the walk was reset at 4^-4: four RST-answered SYNs now flag it again from 0 */
	for (i = 11; i <= 14; i++) {
		add(&w, SCANNER, NET + i, 41000 + i, 80, 6, TCP_SYN);
		add(&w, NET + i, SCANNER, 80, 41000 + i, 6, TCP_RST | TCP_ACK);
	}
	judge(s, &w);
	assert_int_equal(findings(s, &f), 1);
	assert_int_equal(f[0].port, 80);
	/* an answer two windows later is too late: a failure */
	add(&w, SCANNER, NET + 30, 42000, 80, 6, TCP_SYN);
	judge(s, &w);
	add(&w, NET + 30, SCANNER, 80, 42000, 6, TCP_SYN | TCP_ACK);
	run(s, &w);
	safem_seqscan_totals(s, &t);
	assert_int_equal(t.failures, 5);
	safem_seqscan_free(s);
}

/* ICMP echo requests are contacts, answered by echo replies; UDP and SYNs from system
 * ports are none */
static void
test_contact_kinds(void **state)
{
	struct safem_seqscan *s = make(64);
	struct safem_seqscan_totals t;
	static struct win w;
	unsigned int i;

	(void)state;
	for (i = 1; i <= 3; i++) {
		add(&w, SCANNER, NET + i, 0, 8u << 8, 1, 0); /* echo request */
		add(&w, NET + i, SCANNER, 0, 0, 1, 0);       /* echo reply */
	}
	add(&w, SCANNER, NET + 9, 0, 8u << 8, 1, 0); /* unanswered */
	for (i = 1; i <= 8; i++) {
		add(&w, SCANNER, NET + 20 + i, 40000 + i, 53, 17, 0);    /* UDP */
		add(&w, SCANNER, NET + 40 + i, 20, 1024 + i, 6, TCP_SYN); /* FTP data */
	}
	judge(s, &w);
	safem_seqscan_totals(s, &t);
	assert_int_equal(t.contacts, 4);
	assert_int_equal(t.successes, 3);
	assert_int_equal(t.failures, 1);
	safem_seqscan_free(s);
}

/* failures over many hosts and many ports (peer-to-peer contacts) are no horizontal scan */
static void
test_many_ports_not_horizontal(void **state)
{
	struct safem_seqscan *s = make(64);
	struct safem_seqscan_totals t;
	const struct safem_seqscan_finding *f;
	static struct win w;
	unsigned int i;

	(void)state;
	for (i = 1; i <= 12; i++)
		add(&w, SCANNER, NET + i, 50000, (uint16_t)(6000 + 7 * i), 6, TCP_SYN);
	judge(s, &w);
	safem_seqscan_totals(s, &t);
	assert_int_equal(t.failures, 12);
	assert_int_equal(t.sources_flagged, 1);
	assert_int_equal(findings(s, &f), 0);
	safem_seqscan_free(s);
}

/* a worm probing a few ports (23, 2323, 8080 as Mirai) is horizontal: 4 counters hold all */
static void
test_few_ports_horizontal(void **state)
{
	static const uint16_t ports[] = {23, 2323, 23, 8080, 23, 23, 2323, 23};
	struct safem_seqscan *s = make(64);
	const struct safem_seqscan_finding *f;
	static struct win w;
	unsigned int i;

	(void)state;
	for (i = 0; i < 8; i++)
		add(&w, SCANNER, NET + 1 + i, 50000 + i, ports[i], 6, TCP_SYN);
	judge(s, &w);
	assert_int_equal(findings(s, &f), 1);
	assert_int_equal(f[0].shape, SAFEM_SEQSCAN_HORIZONTAL);
	assert_int_equal(f[0].port, 23);
	safem_seqscan_free(s);
}

/* a destination contacted again is no new observation; a completed handshake whose answer
 * this link does not carry is no evidence */
static void
test_first_contacts_once(void **state)
{
	struct safem_seqscan *s = make(64);
	struct safem_seqscan_totals t;
	const struct safem_seqscan_finding *f;
	static struct win w;
	unsigned int i;

	(void)state;
	for (i = 0; i < 10; i++) /* ten SYNs to one host, one port */
		add(&w, SCANNER, NET + 1, 40000 + i, 23, 6, TCP_SYN);
	run(s, &w);
	for (i = 0; i < 10; i++)
		add(&w, SCANNER, NET + 1, 40100 + i, 23, 6, TCP_SYN);
	judge(s, &w);
	safem_seqscan_totals(s, &t);
	assert_int_equal(t.contacts, 1);
	assert_int_equal(t.failures, 1);
	assert_int_equal(findings(s, &f), 0);
	for (i = 0; i < 6; i++) /* one-sided link: SYN then ACK, nothing back */
		add(&w, SCANNER, NET + 100 + i, 42000, 443, 6, TCP_SYN | TCP_ACK);
	judge(s, &w);
	safem_seqscan_totals(s, &t);
	assert_int_equal(t.undecided, 6);
	assert_int_equal(t.failures, 1);
	safem_seqscan_free(s);
}

/* multicast, broadcast and unspecified addresses are no contacts */
static void
test_multicast_ignored(void **state)
{
	struct safem_seqscan *s = make(64);
	struct safem_seqscan_totals t;
	static struct win w;
	uint8_t a[16];
	unsigned int i;

	(void)state;
	for (i = 0; i < 8; i++) {
		add(&w, SCANNER, 0xe00000fbu + (i << 8), 40000 + i, 80, 6, TCP_SYN); /* 224.0.x.251 */
		add(&w, SCANNER, 0xeffffffau, 40000 + i, 1900, 6, TCP_SYN);           /* 239.x */
		add(&w, SCANNER, NET + 0xff + (i << 8), 0, 8u << 8, 1, 0);            /* x.x.x.255 */
		add(&w, SCANNER, 0xffffffffu, 0, 8u << 8, 1, 0);
		add(&w, 0, NET + i, 40000 + i, 80, 6, TCP_SYN); /* from 0.0.0.0 */
		add(&w, 0x7f000001u, NET + i, 40000 + i, 80, 6, TCP_SYN); /* from 127.0.0.1 */
	}
	judge(s, &w);
	safem_seqscan_totals(s, &t);
	assert_int_equal(t.contacts, 0);
	memset(a, 0, 16);
	a[0] = 0xff;
	assert_false(safem_seqscan_unicast(a, 6));
	a[0] = 0x20;
	assert_true(safem_seqscan_unicast(a, 6));
	safem_seqscan_free(s);
}

/* vertical: one host, many ports, RSTs back; class by the walk that crossed */
static void
test_vertical_shape(void **state)
{
	struct safem_seqscan *s = make(64);
	const struct safem_seqscan_finding *f;
	static struct win w;
	unsigned int p;

	(void)state;
	for (p = 1; p <= 6; p++) {
		add(&w, SCANNER, NET + 7, 50000 + p, (uint16_t)p, 6, TCP_SYN);
		add(&w, NET + 7, SCANNER, (uint16_t)p, 50000 + p, 6, TCP_RST | TCP_ACK);
	}
	judge(s, &w);
	/* horizontal walk: 1 failure; vertical: 5 failures (4^5 > 99) */
	assert_int_equal(findings(s, &f), 1);
	assert_int_equal(f[0].shape, SAFEM_SEQSCAN_VERTICAL);
	assert_int_equal(f[0].dst.bytes[15], 7);
	assert_int_equal(f[0].failures, 5);
	safem_seqscan_free(s);
}

/* two sources flagged on one port within the horizon: worm */
static void
test_worm_shape(void **state)
{
	struct safem_seqscan *s = make(64);
	const struct safem_seqscan_finding *f;
	static struct win w;
	unsigned int i;

	(void)state;
	for (i = 1; i <= 5; i++) {
		add(&w, SCANNER, 0x50000000u + i, 1024, 135, 6, TCP_SYN);
		add(&w, SCANNER + 1, 0x60000000u + i, 1024, 135, 6, TCP_SYN);
	}
	judge(s, &w);
	assert_int_equal(findings(s, &f), 2);
	/* the first one noted saw only itself, the second both */
	assert_true(f[0].shape == SAFEM_SEQSCAN_WORM || f[1].shape == SAFEM_SEQSCAN_WORM);
	for (i = 1; i <= 2; i++) {
		add(&w, SCANNER, 0x50000100u + i, 1024, 135, 6, TCP_SYN);
		add(&w, SCANNER + 1, 0x60000100u + i, 1024, 135, 6, TCP_SYN);
	}
	judge(s, &w);
	assert_int_equal(findings(s, &f), 2);
	assert_int_equal(f[0].shape, SAFEM_SEQSCAN_WORM);
	assert_int_equal(f[1].shape, SAFEM_SEQSCAN_WORM);
	assert_int_equal(f[0].sources, 2);
	safem_seqscan_free(s);
}

/* the table holds its bound: a full set evicts, counts it, and the evicted source's pending
 * contacts are dropped, not given to the newcomer */
static void
test_table_bound(void **state)
{
	struct safem_seqscan *s = make(4); /* one set of 4 */
	struct safem_seqscan_totals t;
	const struct safem_seqscan_finding *f;
	static struct win w;
	unsigned int i;

	(void)state;
	for (i = 0; i < 8; i++)
		add(&w, 0x0b000000u + i, NET + 1, 41000, 22, 6, TCP_SYN);
	run(s, &w);
	safem_seqscan_totals(s, &t);
	assert_int_equal(t.sources_evicted, 4);
	run(s, &w);
	safem_seqscan_totals(s, &t);
	assert_int_equal(t.contacts_dropped, 4);
	assert_int_equal(t.failures, 4);
	assert_int_equal(findings(s, &f), 0);
	safem_seqscan_free(s);
}

/* sampled or oversized windows are not judged; the previous window's contacts are dropped */
static void
test_unjudged_windows(void **state)
{
	struct safem_seqscan *s = make(64);
	struct safem_seqscan_totals t;
	const struct safem_seqscan_finding *f;
	const struct safem_profile_flow *seg[1];
	static struct win w;

	(void)state;
	probes(&w, 1, 6);
	run(s, &w);
	seg[0] = w.f;
	assert_int_equal(safem_seqscan_window(s, seg, &w.n, 1, false), 0);
	assert_int_equal(findings(s, &f), 0);
	safem_seqscan_totals(s, &t);
	assert_int_equal(t.undecided, 6);
	assert_int_equal(t.windows_skipped, 1);
	probes(&w, 20, 6);
	w.f[0].flows = 4; /* surge-weighted contribution */
	run(s, &w);
	safem_seqscan_totals(s, &t);
	assert_int_equal(t.windows_skipped, 2);
	assert_int_equal(t.contacts, 6);
	assert_int_equal(safem_seqscan_window(NULL, seg, &w.n, 1, true), -EINVAL);
	safem_seqscan_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_four_failures_flag),
		cmocka_unit_test(test_successes_pull_back),
		cmocka_unit_test(test_next_window_answers_and_rst),
		cmocka_unit_test(test_contact_kinds),
		cmocka_unit_test(test_many_ports_not_horizontal),
		cmocka_unit_test(test_few_ports_horizontal),
		cmocka_unit_test(test_first_contacts_once),
		cmocka_unit_test(test_multicast_ignored),
		cmocka_unit_test(test_vertical_shape),
		cmocka_unit_test(test_worm_shape),
		cmocka_unit_test(test_table_bound),
		cmocka_unit_test(test_unjudged_windows),
		cmocka_unit_test(test_idle_source_starts_over),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
