/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Cost of the sequential scan test (lib/seqscan) per window on the analysis side, against
 * logged flows per window: windows of N flow contributions (clients of 10.0.0.0/16, given as
 * the home network as the probe's --home does, opening TCP connections to outside servers,
 * the SYN and the SYN-ACK, half of them answered in the next window; every fifth SYN
 * unanswered; 2 % of the flows from one scanner), timed in thread CPU time over --repeat
 * windows (best and median). With --udp P, P % of the clients' exchanges are UDP instead (a
 * datagram with payload to port 53 of the server, the reverse datagram back four times in
 * five: a resolver's or QUIC's traffic), so that UDP's share of the test's cost shows. Prints
 * one JSON object a size.
 *
 * usage: bench_seqscan [--flows N[,N...]] [--repeat R] [--udp PERCENT]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_common.h" /* splitmix64 */
#include "safem_seqscan.h"
#include "seqscan_flow.h"

static uint64_t
cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* one window of n contributions; answers of half the previous window's SYNs come first;
 * udp_pct of the clients' exchanges are UDP */
static uint32_t
fill(struct safem_profile_flow *log, uint32_t n, uint64_t *s, unsigned int udp_pct)
{
	uint32_t i = 0;

	while (i + 2 <= n) {
		uint64_t r = splitmix64(s);
		uint32_t client = 0x0a000000u | (uint32_t)(r & 0xffff);
		uint32_t server = 0x50000000u | (uint32_t)((r >> 16) & 0xfffff);
		uint16_t sport = (uint16_t)(1024 + ((r >> 40) % 60000));

		if ((r >> 60) < 1 && i + 1 <= n) { /* the scanner: 1 in 16 draws, 1 flow each */
			seqscan_flow_v4(&log[i++], 0xc6336407u, server, 40000, 23, 6, 0x02);
			continue;
		}
		if ((r >> 32) % 100 < udp_pct) {
			seqscan_flow_v4(&log[i++], client, server, sport, 53, 17, 0);
			if ((r >> 56) % 5 != 0)
				seqscan_flow_v4(&log[i++], server, client, 53, sport, 17, 0);
			continue;
		}
		seqscan_flow_v4(&log[i++], client, server, sport, 443, 6, 0x12);
		if ((r >> 56) % 5 != 0)
			seqscan_flow_v4(&log[i++], server, client, 443, sport, 6, 0x12);
	}
	return i;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	const char *sizes = "65536,1048576";
	unsigned int repeat = 20, udp_pct = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--flows") == 0 && i + 1 < argc)
			sizes = argv[++i];
		else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
			repeat = (unsigned int)atoi(argv[++i]);
		else if (strcmp(argv[i], "--udp") == 0 && i + 1 < argc &&
			 (udp_pct = (unsigned int)atoi(argv[i + 1])) <= 100)
			i++;
		else {
			fprintf(stderr, "usage: bench_seqscan [--flows N[,N...]] [--repeat R] "
					"[--udp PERCENT (0-100)]\n");
			return 2;
		}
	}
	if (repeat == 0)
		repeat = 1;
	for (const char *p = sizes; *p != '\0';) {
		uint32_t n = (uint32_t)strtoul(p, NULL, 10);
		/* the clients' network as --home: the home port evidence at work too */
		struct safem_home home = {0};
		struct safem_seqscan_params sp = {.pane_flows = n, .home = &home};
		struct safem_seqscan *s;

		if (safem_home_add(&home, "10.0.0.0/16") != 0)
			return 1;
		s = safem_seqscan_create(&sp);
		struct safem_profile_flow *log = malloc(sizeof(*log) * n);
		uint64_t *ns = calloc(repeat, sizeof(*ns)), seed = 42;
		struct safem_seqscan_totals t;

		if (s == NULL || log == NULL || ns == NULL) {
			fprintf(stderr, "bench_seqscan: no memory for %u flows\n", n);
			return 1;
		}
		for (unsigned int r = 0; r < repeat + 2; r++) {
			const struct safem_profile_flow *seg[1] = {log};
			uint32_t logged = fill(log, n, &seed, udp_pct);
			uint64_t t0 = cpu_ns();

			/* a pane end whose low 24 bits are small: the log's undated contributions
			 * (time 0) read back as whole seconds before it, old, so every unanswered contact
			 * takes the provisional path too (its cost) */
			safem_seqscan_window(s, seg, &logged, 1, true,
					     (UINT64_C(1700000000000) & ~UINT64_C(0xffffff)) +
						     1000ull * (r + 1));
			if (r >= 2) /* the first two fill the table and the pending contacts */
				ns[r - 2] = cpu_ns() - t0;
		}
		qsort(ns, repeat, sizeof(*ns), cmp_u64);
		safem_seqscan_totals(s, &t);
		printf("{\"flows\":%u,\"udp_percent\":%u,\"best_ms\":%.3f,\"median_ms\":%.3f,\"ns_per_flow\":%.1f,"
		       "\"contacts\":%llu,\"sources_evicted\":%llu,\"findings\":%llu}\n",
		       n, udp_pct, ns[0] / 1e6, ns[repeat / 2] / 1e6, (double)ns[repeat / 2] / n,
		       (unsigned long long)t.contacts, (unsigned long long)t.sources_evicted,
		       (unsigned long long)t.findings);
		safem_seqscan_free(s);
		free(log);
		free(ns);
		p = strchr(p, ',');
		if (p == NULL)
			break;
		p++;
	}
	return 0;
}
