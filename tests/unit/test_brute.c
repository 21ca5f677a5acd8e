/* SPDX-License-Identifier: BSD-3-Clause */
/* Sequential guessing test (lib/brute): walks computed by hand. An alike session multiplies
 * the likelihood ratio by 0.8/0.2 = 4, another closed session by 0.2/0.8 = 1/4; eta1 =
 * 0.99/0.01 = 99. A pair's first session is its reference: with it, 3 alike sessions (64)
 * do not flag the pair, 4 (256 > 99) do. Alike: within one packet each way of one of the
 * pair's last two closed sessions. A finding needs 7 alike sessions in the run, a session
 * of the pair closing or open in the window and as many sessions (the reference counted)
 * as windows since the walk started. */
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

#include "safem_brute.h"
#include "../tools/seqscan_flow.h"

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define MAXF 256

#define CLIENT 0xc6336401u /* 198.51.100.1 */
#define SERVER 0x0a000005u /* 10.0.0.5 */

struct win {
	struct safem_profile_flow f[MAXF];
	uint32_t n;
};

static void
flow(struct win *w, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
     uint64_t packets, uint8_t flags)
{
	struct safem_profile_flow *f = &w->f[w->n];

	assert_true(w->n < MAXF);
	w->n++;
	seqscan_flow_v4(f, src, dst, sport, dport, 6, flags);
	f->packets = packets;
	f->bytes = 80 * packets;
}

/* one whole session of the client from cport to port: out packets, back packets, closed */
static void
session(struct win *w, uint32_t client, uint16_t cport, uint32_t server, uint16_t port,
	uint64_t out, uint64_t back)
{
	flow(w, client, server, cport, port, out, TCP_SYN | TCP_ACK | TCP_PSH | TCP_FIN);
	flow(w, server, client, port, cport, back, TCP_SYN | TCP_ACK | TCP_PSH | TCP_FIN);
}

static unsigned int
run(struct safem_brute *b, struct win *w, const struct safem_brute_finding **f)
{
	const struct safem_profile_flow *seg[1] = {w->f};

	assert_int_equal(safem_brute_window(b, seg, &w->n, 1, true), 0);
	w->n = 0;
	return safem_brute_findings(b, f);
}

/* Each case's test (the default tables unless its setup says), freed by teardown whatever
 * the case asserted. */
static int
fx_create(void **state, unsigned int sessions)
{
	struct safem_brute_params p = {.pane_flows = MAXF, .sessions = sessions};

	*state = safem_brute_create(&p);
	return *state == NULL ? -1 : 0;
}

static int
setup(void **state)
{
	return fx_create(state, 0);
}

static int
setup_eight_sessions(void **state)
{
	return fx_create(state, 8); /* two sets of 4 */
}

static int
teardown(void **state)
{
	safem_brute_free(*state);
	return 0;
}

static void
test_create_errors(void **state)
{
	struct safem_brute_params p = {.pane_flows = 0};

	(void)state;
	errno = 0;
	assert_null(safem_brute_create(&p));
	assert_int_equal(errno, EINVAL);
	assert_null(safem_brute_create(NULL));
	assert_int_equal(safem_brute_window(NULL, NULL, NULL, 0, true), -EINVAL);
	safem_brute_free(NULL);
}

/* reference + 3 alike (64 < 99): nothing; the 4th alike (256) flags the pair, but a finding
 * waits for 7 alike sessions in its run (SAFEM_BRUTE_ALIKE_MIN): the 7th names the pair */
static void
test_four_alike_flag(void **state)
{
	struct safem_brute *b = *state;
	const struct safem_brute_finding *f;
	struct safem_brute_totals t;
	struct win w = {.n = 0};

	/* 10/8, 11/8, 10/9, 9/8: each within one packet of the one before */
	session(&w, CLIENT, 40000, SERVER, 22, 10, 8);
	session(&w, CLIENT, 40001, SERVER, 22, 11, 8);
	session(&w, CLIENT, 40002, SERVER, 22, 10, 9);
	session(&w, CLIENT, 40003, SERVER, 22, 9, 8);
	assert_int_equal(run(b, &w, &f), 0);
	session(&w, CLIENT, 40004, SERVER, 22, 10, 8);
	assert_int_equal(run(b, &w, &f), 0);
	safem_brute_totals(b, &t);
	assert_int_equal(t.pairs_flagged, 1);
	session(&w, CLIENT, 40005, SERVER, 22, 10, 8);
	session(&w, CLIENT, 40006, SERVER, 22, 11, 9);
	session(&w, CLIENT, 40007, SERVER, 22, 11, 9);
	assert_int_equal(run(b, &w, &f), 1);
	assert_int_equal(f[0].port, 22);
	assert_int_equal(f[0].proto, 6);
	assert_int_equal(f[0].alike, 3);
	assert_int_equal(f[0].sessions, 3);
	assert_int_equal(f[0].alike_run, 7);
	assert_int_equal(f[0].windows, 1);
	assert_true(fabs(f[0].llr - 4 * log(4.0)) < 1e-9); /* held at the crossing */
	assert_int_equal(f[0].client.bytes[12], 198);
	assert_int_equal(f[0].server.bytes[12], 10);
	assert_int_equal(f[0].server.bytes[10], 0xff);
	assert_int_equal(f[0].packets_out, 11);
	assert_int_equal(f[0].packets_back, 9);
	/* held: the next alike window is a finding again */
	session(&w, CLIENT, 40008, SERVER, 22, 10, 8);
	assert_int_equal(run(b, &w, &f), 1);
	assert_int_equal(f[0].windows, 2);
	/* a window without a closed session: none */
	assert_int_equal(run(b, &w, &f), 0);
	safem_brute_totals(b, &t);
	assert_int_equal(t.windows, 5);
	assert_int_equal(t.sessions, 9);
	assert_int_equal(t.sessions_closed, 9);
	assert_int_equal(t.alike, 8);
	assert_int_equal(t.pairs_flagged, 1);
	assert_int_equal(t.findings, 2);
	assert_int_equal(t.sessions_evicted + t.pairs_evicted, 0);
}

/* exchanges of other sizes: 6/4, 12/14, 20/18 in turn, none within a packet of either of
 * the two before it: each step 1/4, never flags */
static void
test_varying_sessions_not_flagged(void **state)
{
	static const uint64_t out[3] = {6, 12, 20}, back[3] = {4, 14, 18};
	struct safem_brute *b = *state;
	const struct safem_brute_finding *f;
	struct safem_brute_totals t;
	struct win w = {.n = 0};
	uint16_t i;

	for (i = 0; i < 21; i++) {
		session(&w, CLIENT, (uint16_t)(40000 + i), SERVER, 80, out[i % 3], back[i % 3]);
		assert_int_equal(run(b, &w, &f), 0);
	}
	safem_brute_totals(b, &t);
	assert_int_equal(t.sessions_closed, 21);
	assert_int_equal(t.alike, 0);
	assert_int_equal(t.pairs_flagged, 0);
}

/* A guessing tool's parallel sessions, each spanning two windows, 10 or 12 packets out (a
 * round more or less), 9 or 10 back: three open in window k, closed in window k+1 while
 * three more open. Judged in the client's port order: out 10, 12, 10, 12, ... (back 9, 10,
 * 9, ...). Against the previous session only, every one differs by 2 out: never alike.
 * Against the last two, session 2 is not alike (llr -1.39), 3 to 6 are (+4 x 1.39 = 4.16),
 * the 7th (5.55 > ln 99 = 4.60) flags the pair with 5 alike in its run; the 9th is its 7th
 * alike: a finding in that window (sessions 7-9 close in window 4), and in window 5
 * (sessions 10-12). Then a window in which the pair only has sessions open (none closes)
 * is a finding too, with 0 alike; a window with nothing of the pair is none. */
static void
test_parallel_varying_flag(void **state)
{
	struct safem_brute *b = *state;
	const struct safem_brute_finding *f;
	struct safem_brute_totals t;
	struct win w = {.n = 0};
	uint16_t i, k, cp;
	unsigned int found;

	for (k = 0; k < 5; k++) {
		/* close the three opened in the window before */
		for (i = 0; i < 3 && k > 0; i++) {
			cp = (uint16_t)(40000 + 3 * (k - 1) + i);
			flow(&w, CLIENT, SERVER, cp, 22, cp % 2 ? 8 : 6, TCP_ACK | TCP_PSH | TCP_FIN);
			flow(&w, SERVER, CLIENT, 22, cp, cp % 2 ? 5 : 4, TCP_ACK | TCP_PSH | TCP_FIN);
		}
		/* three new ones, open: 4 out, 5 back so far */
		for (i = 0; i < 3 && k < 4; i++) {
			cp = (uint16_t)(40000 + 3 * k + i);
			flow(&w, CLIENT, SERVER, cp, 22, 4, TCP_SYN | TCP_ACK | TCP_PSH);
			flow(&w, SERVER, CLIENT, 22, cp, 5, TCP_SYN | TCP_ACK | TCP_PSH);
		}
		found = run(b, &w, &f);
		assert_int_equal(found, k >= 3 ? 1 : 0);
		if (k >= 3) {
			assert_int_equal(f[0].port, 22);
			assert_int_equal(f[0].alike, 3);
			assert_int_equal(f[0].sessions, 3);
			assert_int_equal(f[0].alike_run, k == 3 ? 7 : 10);
			assert_int_equal(f[0].windows, k - 2);
		}
	}
	safem_brute_totals(b, &t);
	assert_int_equal(t.sessions_closed, 12);
	assert_int_equal(t.alike, 10);
	assert_int_equal(t.pairs_flagged, 1);
	/* open only: two sessions begun, none closing */
	for (i = 0; i < 2; i++) {
		cp = (uint16_t)(41000 + i);
		flow(&w, CLIENT, SERVER, cp, 22, 4, TCP_SYN | TCP_ACK | TCP_PSH);
		flow(&w, SERVER, CLIENT, 22, cp, 5, TCP_SYN | TCP_ACK | TCP_PSH);
	}
	assert_int_equal(run(b, &w, &f), 1);
	assert_int_equal(f[0].alike, 0);
	assert_int_equal(f[0].sessions, 0);
	assert_int_equal(f[0].windows, 3);
	/* nothing of the pair: none */
	assert_int_equal(run(b, &w, &f), 0);
}

/* a page load's alike small objects (bg_ndpi_appmix, 10.8.0.1 to one web server at 175-179
 * s: a 9/8 reference, then 8/7 and five 7/7 in 5 windows): flagged at its 4th alike
 * session, 6 alike in its run, under 7: no finding, neither for the sessions it then has
 * open */
static void
test_page_load_no_finding(void **state)
{
	struct safem_brute *b = *state;
	const struct safem_brute_finding *f;
	struct safem_brute_totals t;
	struct win w = {.n = 0};

	session(&w, CLIENT, 40000, SERVER, 80, 9, 8);
	assert_int_equal(run(b, &w, &f), 0);
	session(&w, CLIENT, 40001, SERVER, 80, 8, 7);
	assert_int_equal(run(b, &w, &f), 0);
	assert_int_equal(run(b, &w, &f), 0);
	session(&w, CLIENT, 40002, SERVER, 80, 7, 7);
	session(&w, CLIENT, 40003, SERVER, 80, 7, 7);
	assert_int_equal(run(b, &w, &f), 0);
	session(&w, CLIENT, 40004, SERVER, 80, 7, 7);
	session(&w, CLIENT, 40005, SERVER, 80, 7, 7);
	session(&w, CLIENT, 40006, SERVER, 80, 7, 7);
	assert_int_equal(run(b, &w, &f), 0);
	flow(&w, CLIENT, SERVER, 40007, 80, 4, TCP_SYN | TCP_ACK | TCP_PSH);
	flow(&w, SERVER, CLIENT, 80, 40007, 4, TCP_SYN | TCP_ACK | TCP_PSH);
	assert_int_equal(run(b, &w, &f), 0);
	safem_brute_totals(b, &t);
	assert_int_equal(t.alike, 6);
	assert_int_equal(t.pairs_flagged, 1);
	assert_int_equal(t.findings, 0);
}

/* a SYN sent at the end of a window is answered in the next: one session, an observation */
static void
test_syn_answered_next_window(void **state)
{
	struct safem_brute *b = *state;
	const struct safem_brute_finding *f;
	struct safem_brute_totals t;
	struct win w = {.n = 0};

	flow(&w, CLIENT, SERVER, 40000, 22, 1, TCP_SYN);
	assert_int_equal(run(b, &w, &f), 0);
	flow(&w, SERVER, CLIENT, 22, 40000, 5, TCP_SYN | TCP_ACK | TCP_PSH | TCP_FIN);
	flow(&w, CLIENT, SERVER, 40000, 22, 6, TCP_ACK | TCP_PSH | TCP_FIN);
	assert_int_equal(run(b, &w, &f), 0);
	/* unanswered in its window and the next: gone, its late answer no observation */
	flow(&w, CLIENT, SERVER, 40001, 22, 1, TCP_SYN);
	assert_int_equal(run(b, &w, &f), 0);
	assert_int_equal(run(b, &w, &f), 0);
	flow(&w, SERVER, CLIENT, 22, 40001, 5, TCP_SYN | TCP_ACK | TCP_PSH | TCP_FIN);
	flow(&w, CLIENT, SERVER, 40001, 22, 6, TCP_ACK | TCP_PSH | TCP_FIN);
	assert_int_equal(run(b, &w, &f), 0);
	safem_brute_totals(b, &t);
	assert_int_equal(t.sessions_closed, 1);
}

/* one session a window: reference + 7 alike in windows 1-8, 8 sessions in 8 windows: a
 * finding in window 8; a poller every other window (the same exchange): flagged, never a
 * finding */
static void
test_pace(void **state)
{
	struct safem_brute *b = *state;
	const struct safem_brute_finding *f;
	struct win w = {.n = 0};
	uint16_t i;
	unsigned int found = 0;

	for (i = 0; i < 8; i++) {
		session(&w, CLIENT, (uint16_t)(40000 + i), SERVER, 3389, 7, 5);
		found = run(b, &w, &f);
		assert_int_equal(found, i == 7 ? 1 : 0);
	}
	for (i = 0; i < 20; i++) {
		if (i % 2 == 0)
			session(&w, CLIENT + 1, (uint16_t)(50000 + i), SERVER, 502, 6, 4);
		assert_int_equal(run(b, &w, &f), 0);
	}
	/* the guesser above is silent meanwhile: no session of its own */
	{
		struct safem_brute_totals t;

		safem_brute_totals(b, &t);
		assert_int_equal(t.pairs_flagged, 2);
	}
}

/* a session over 32 packets carried data: the pair is a client, alike sessions after it
 * never flag; one client to itself neither */
static void
test_data_and_self(void **state)
{
	struct safem_brute *b = *state;
	const struct safem_brute_finding *f;
	struct safem_brute_totals t;
	struct win w = {.n = 0};
	uint16_t i;

	session(&w, CLIENT, 39999, SERVER, 80, 20, 30); /* 50 packets */
	for (i = 0; i < 8; i++) {
		session(&w, CLIENT, (uint16_t)(40000 + i), SERVER, 80, 5, 5);
		session(&w, SERVER, (uint16_t)(40000 + i), SERVER, 502, 6, 4);
		assert_int_equal(run(b, &w, &f), 0);
	}
	safem_brute_totals(b, &t);
	assert_int_equal(t.pairs_flagged, 0);
	assert_int_equal(t.sessions_closed, 9); /* the self sessions are no observation */
}

/* sessions cut by windows: SYN and data in one, the close in the next (packets summed);
 * a half close waits a window for the other side's FIN; an unanswered SYN is no session */
static void
test_cut_sessions(void **state)
{
	struct safem_brute *b = *state;
	const struct safem_brute_finding *f;
	struct safem_brute_totals t;
	struct win w = {.n = 0};
	uint16_t i;

	for (i = 0; i < 5; i++) {
		uint16_t cp = (uint16_t)(40000 + i);

		/* window A: 6 out, 4 back, open */
		flow(&w, CLIENT, SERVER, cp, 22, 6, TCP_SYN | TCP_ACK | TCP_PSH);
		flow(&w, SERVER, CLIENT, 22, cp, 4, TCP_SYN | TCP_ACK | TCP_PSH);
		/* an unanswered SYN to another port */
		flow(&w, CLIENT, SERVER, (uint16_t)(cp + 100), 23, 1, TCP_SYN);
		assert_int_equal(run(b, &w, &f), 0);
		/* window B: the client's FIN only (4 + 6 = 10 out) */
		flow(&w, CLIENT, SERVER, cp, 22, 4, TCP_ACK | TCP_PSH | TCP_FIN);
		assert_int_equal(run(b, &w, &f), 0);
		/* window C: the server's FIN and data (4 + 4 = 8 back): judged here, 10/8 */
		flow(&w, SERVER, CLIENT, 22, cp, 4, TCP_ACK | TCP_PSH | TCP_FIN);
		run(b, &w, &f);
	}
	safem_brute_totals(b, &t);
	assert_int_equal(t.sessions, 10);
	assert_int_equal(t.sessions_closed, 5);
	assert_int_equal(t.alike, 4);
	assert_int_equal(t.pairs_flagged, 1);
	/* 5 sessions over 15 windows: a timer's pace, no finding */
	assert_int_equal(t.findings, 0);
}

/* a window not judged (sampled) forgets the open sessions: their close is no observation */
static void
test_unjudged_forgets(void **state)
{
	struct safem_brute *b = *state;
	const struct safem_profile_flow *seg[1];
	struct safem_brute_totals t;
	struct win w = {.n = 0};

	flow(&w, CLIENT, SERVER, 40000, 22, 6, TCP_SYN | TCP_ACK);
	flow(&w, SERVER, CLIENT, 22, 40000, 4, TCP_SYN | TCP_ACK);
	seg[0] = w.f;
	assert_int_equal(safem_brute_window(b, seg, &w.n, 1, true), 0);
	assert_int_equal(safem_brute_window(b, seg, &w.n, 1, false), 0);
	w.n = 0;
	flow(&w, CLIENT, SERVER, 40000, 22, 2, TCP_FIN | TCP_ACK);
	flow(&w, SERVER, CLIENT, 22, 40000, 2, TCP_FIN | TCP_ACK);
	assert_int_equal(safem_brute_window(b, seg, &w.n, 1, true), 0);
	safem_brute_totals(b, &t);
	assert_int_equal(t.windows, 3);
	assert_int_equal(t.windows_skipped, 1);
	assert_int_equal(t.sessions_closed, 0);
}

/* a flood of unanswered SYNs (more than the table holds) does not push out an answered
 * session: it closes a window later with all its packets, an observation; the SYNs nobody
 * answered leave no session behind */
static void
test_flood_keeps_sessions(void **state)
{
	struct safem_brute *b = *state;
	const struct safem_brute_finding *f;
	struct safem_brute_totals t;
	struct win w = {.n = 0};
	uint32_t i;

	flow(&w, CLIENT, SERVER, 40000, 443, 20, TCP_SYN | TCP_ACK | TCP_PSH);
	flow(&w, SERVER, CLIENT, 443, 40000, 20, TCP_SYN | TCP_ACK | TCP_PSH);
	for (i = 0; i < 200; i++)
		flow(&w, 0x2d000000u + i, SERVER, (uint16_t)(1024 + i), 80, 1, TCP_SYN);
	assert_int_equal(run(b, &w, &f), 0);
	flow(&w, CLIENT, SERVER, 40000, 443, 2, TCP_ACK | TCP_FIN);
	flow(&w, SERVER, CLIENT, 443, 40000, 2, TCP_ACK | TCP_FIN);
	assert_int_equal(run(b, &w, &f), 0);
	safem_brute_totals(b, &t);
	assert_int_equal(t.sessions_closed, 1);
	assert_true(t.sessions_evicted > 0);
	assert_int_equal(t.pairs_evicted, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test_setup_teardown(test_four_alike_flag, setup, teardown),
		cmocka_unit_test_setup_teardown(test_varying_sessions_not_flagged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parallel_varying_flag, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syn_answered_next_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_page_load_no_finding, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_and_self, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cut_sessions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unjudged_forgets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flood_keeps_sessions, setup_eight_sessions,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
