/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Benchmark helper for scripts/bench-export: how many flow records per second
 * lib/ipfix encodes and sends over UDP on one core.
 *
 *   bench_ipfix_export HOST:PORT RECORDS BATCH PAUSE_US
 *
 * Adds RECORDS distinct IPv4 records to one UDP exporter, pausing PAUSE_US
 * after every BATCH records so that a collector on the same machine can keep
 * up (the pause is not counted as busy time). Prints one JSON object: the
 * exporter counters, the busy wall time and the thread CPU time of the adds
 * (encoding, send system calls), and the rates they give.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "safem_ipfix.h"

static double
seconds(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	struct safem_ipfix_params p;
	struct safem_ipfix_exporter *exp;
	struct safem_flow_record r;
	const struct safem_ipfix_stats *st;
	uint64_t records, batch, pause_us, i;
	double busy = 0, cpu0, wall0, t0;
	uint32_t now_s = (uint32_t)time(NULL);

	if (argc != 5 && argc != 6) {
		fprintf(stderr, "usage: %s HOST:PORT RECORDS BATCH PAUSE_US [RATE_BITS_S]\n",
			argv[0]);
		return 2;
	}
	memset(&p, 0, sizeof(p));
	if (safem_ipfix_parse_target(argv[1], &p) != 0) {
		fprintf(stderr, "%s: %s\n", argv[1], safem_ipfix_error());
		return 2;
	}
	records = strtoull(argv[2], NULL, 0);
	batch = strtoull(argv[3], NULL, 0);
	pause_us = strtoull(argv[4], NULL, 0);
	if (batch == 0)
		batch = records;
	/* Without a rate: unpaced, the encoder and the send calls alone are
	 * measured. With one: the exporter paces, the records wait in its queue. */
	p.rate_bits_s = argc == 6 ? strtoull(argv[5], NULL, 0) : SAFEM_IPFIX_RATE_UNLIMITED;
	exp = safem_ipfix_exporter_create(&p);
	if (exp == NULL) {
		fprintf(stderr, "%s: %s\n", argv[1], safem_ipfix_error());
		return 1;
	}
	memset(&r, 0, sizeof(r));
	r.key.ip_version = 4;
	r.key.proto = 17;
	r.key.dst_port = 53;
	inet_pton(AF_INET, "192.0.2.53", r.key.dst_addr);
	r.packets = 2;
	r.bytes = 120;
	r.first_ms = (uint64_t)now_s * 1000;
	r.last_ms = r.first_ms + 5;
	r.end_reason = SAFEM_FLOW_END_inactive;
	cpu0 = seconds(CLOCK_THREAD_CPUTIME_ID);
	wall0 = seconds(CLOCK_MONOTONIC);
	t0 = wall0;
	for (i = 0; i < records; i++) {
		uint32_t src = htonl(0x0a000000u | (uint32_t)(i & 0xffffff));

		memcpy(r.key.src_addr, &src, 4);
		r.key.src_port = (uint16_t)(1024 + i % 60000);
		safem_ipfix_exporter_add(exp, &r, now_s);
		if ((i + 1) % batch == 0 && i + 1 < records) {
			busy += seconds(CLOCK_MONOTONIC) - t0;
			usleep((useconds_t)pause_us);
			t0 = seconds(CLOCK_MONOTONIC);
		}
	}
	safem_ipfix_exporter_flush(exp, now_s);
	/* Paced: the queue drains at the rate (bounded: 10 minutes). */
	while (safem_ipfix_exporter_pending(exp) != 0 && seconds(CLOCK_MONOTONIC) - wall0 < 600) {
		usleep(500);
		safem_ipfix_exporter_pump(exp, now_s);
	}
	busy += seconds(CLOCK_MONOTONIC) - t0;
	cpu0 = seconds(CLOCK_THREAD_CPUTIME_ID) - cpu0;
	wall0 = seconds(CLOCK_MONOTONIC) - wall0;
	st = safem_ipfix_exporter_stats(exp);
	printf("{\"records\": %" PRIu64 ", \"records_sent\": %" PRIu64
	       ", \"records_dropped\": %" PRIu64 ", \"messages_sent\": %" PRIu64
	       ", \"bytes_sent\": %" PRIu64 ", \"busy_s\": %.6f, \"cpu_s\": %.6f, \"wall_s\": %.6f"
	       ", \"cpu_records_per_s\": %.0f, \"wall_records_per_s\": %.0f}\n",
	       records, st->records_sent, st->records_dropped, st->messages_sent, st->bytes_sent,
	       busy, cpu0, wall0, (double)st->records_sent / cpu0,
	       (double)st->records_sent / wall0);
	safem_ipfix_exporter_free(exp);
	return 0;
}
