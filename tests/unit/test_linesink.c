/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Line sinks: lines cut at '\n' however the FILE * writes arrive, one syslog
 * datagram per line, the file output (lib/streamfile) gets every byte, the
 * line length bound.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cmocka.h>

#include "safem_linesink.h"
#include "safem_pace.h"
#include "safem_streamfile.h"
#include "test_tmpdir.h"

struct fixture {
	char dir[64];
	char file[128];
	char sock_path[128];
	int sock;
	struct safem_linesink_syslog *syslog;
};

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	struct safem_linesink_syslog_params sp = {
		.facility = 16, /* local0 */
		.ident = "test",
	};
	char target[160], err[256];

	assert_int_equal(test_tmpdir_make(fx->dir, sizeof(fx->dir), "linesink"), 0);
	snprintf(fx->file, sizeof(fx->file), "%s/lines.jsonl", fx->dir);
	snprintf(fx->sock_path, sizeof(fx->sock_path), "%s/log.sock", fx->dir);
	fx->sock = socket(AF_UNIX, SOCK_DGRAM, 0);
	strcpy(un.sun_path, fx->sock_path);
	assert_int_equal(bind(fx->sock, (struct sockaddr *)&un, sizeof(un)), 0);
	snprintf(target, sizeof(target), "unix:%s", fx->sock_path);
	sp.target = target;
	fx->syslog = safem_linesink_syslog_open(&sp, err, sizeof(err));
	assert_non_null(fx->syslog);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	safem_linesink_syslog_close(fx->syslog);
	close(fx->sock);
	assert_int_equal(test_tmpdir_remove(fx->dir), 0);
	free(fx);
	return 0;
}

static struct safem_streamfile *
open_file(struct fixture *fx)
{
	struct safem_streamfile_params p = {.path = fx->file, .flush_interval_ms = 1000};
	struct safem_streamfile *file = safem_streamfile_open(&p);

	assert_non_null(file);
	assert_int_equal(safem_streamfile_start(file), 0);
	return file;
}

static long
file_size(const char *path)
{
	FILE *f = fopen(path, "r");
	long size;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fclose(f);
	return size;
}

/* The payload of the next datagram (after "ident[pid]: "), or "" when none waits. */
static const char *
next_message(struct fixture *fx)
{
	static char buf[1 << 16];
	ssize_t n = recv(fx->sock, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	char *p;

	if (n < 0)
		return "";
	buf[n] = '\0';
	assert_memory_equal(buf, "<134>", 5); /* local0.info */
	p = strstr(buf, "]: ");
	assert_non_null(p);
	return p + 3;
}

static void
test_lines_cut_at_newlines(void **state)
{
	struct fixture *fx = *state;
	struct safem_streamfile *file = open_file(fx);
	struct safem_linesink_params p = {
		.name = "windows", .file = file, .syslog = fx->syslog, .syslog_severity = 6};
	struct safem_linesink *s = safem_linesink_open(&p);
	const struct safem_linesink_stats *st;
	char text[256];
	FILE *f, *in;

	assert_non_null(s);
	f = safem_linesink_stream(s);
	assert_non_null(f);
	/* A line written in pieces, two lines in one write, an unterminated last line. */
	fputs("{\"a\":", f);
	fprintf(f, "%d", 1);
	fputs("}\n{\"b\":2}\n{\"c\":", f);
	fputs("3}", f);
	safem_linesink_close(s);
	/* The file closes after the stream; its unterminated last line gets a '\n'. */
	assert_int_equal(safem_streamfile_close(file), 0);
	safem_streamfile_free(file);
	assert_string_equal(next_message(fx), "{\"a\":1}");
	assert_string_equal(next_message(fx), "{\"b\":2}");
	assert_string_equal(next_message(fx), "{\"c\":3}");
	assert_string_equal(next_message(fx), "");
	st = safem_linesink_stats(s);
	assert_int_equal(st->lines, 3);
	assert_int_equal(st->syslog_sent, 3);
	assert_int_equal(st->syslog_dropped, 0);
	safem_linesink_free(s);
	in = fopen(fx->file, "r");
	assert_non_null(in);
	text[fread(text, 1, sizeof(text) - 1, in)] = '\0';
	assert_string_equal(text, "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n");
	fclose(in);
}

static void
test_write_line(void **state)
{
	struct fixture *fx = *state;
	struct safem_streamfile *file = open_file(fx);
	struct safem_linesink_params p = {
		.name = "flows", .file = file, .syslog = fx->syslog, .syslog_severity = 6};
	struct safem_linesink *s;

	s = safem_linesink_open(&p);
	assert_non_null(s);
	safem_linesink_write_line(s, "x\n", 2);
	safem_linesink_write_line(s, "y", 1);
	assert_string_equal(next_message(fx), "x");
	assert_string_equal(next_message(fx), "y");
	assert_int_equal(safem_linesink_stats(s)->bytes, 4);
	/* Buffered until a flush: nothing in the file yet, then both lines whole. */
	assert_int_equal(file_size(fx->file), 0);
	safem_linesink_close(s);
	safem_linesink_free(s);
	assert_int_equal(safem_streamfile_flush(file), 0);
	assert_int_equal(file_size(fx->file), 4);
	assert_int_equal(safem_streamfile_close(file), 0);
	safem_streamfile_free(file);
}

static void
test_too_long_line_reaches_the_file_only(void **state)
{
	struct fixture *fx = *state;
	struct safem_streamfile *file = open_file(fx);
	struct safem_linesink_params p = {
		.name = "windows", .file = file, .syslog = fx->syslog, .syslog_severity = 6};
	struct safem_linesink *s = safem_linesink_open(&p);
	size_t long_len = SAFEM_LINESINK_LINE_MAX + 10;
	char *big = malloc(long_len);
	FILE *f = safem_linesink_stream(s);

	memset(big, 'z', long_len);
	fwrite(big, 1, long_len, f);
	fputs("\nshort\n", f);
	safem_linesink_close(s);
	assert_int_equal(safem_linesink_stats(s)->lines, 2);
	assert_int_equal(safem_linesink_stats(s)->lines_too_long, 1);
	assert_string_equal(next_message(fx), "short");
	safem_linesink_free(s);
	assert_int_equal(safem_streamfile_close(file), 0);
	safem_streamfile_free(file);
	assert_int_equal(file_size(fx->file), (long)long_len + 7);
	free(big);
}

/* Bytes of the datagrams waiting on a UDP socket now, and how many. */
static uint64_t
drain_udp(int sock, unsigned int *count)
{
	static char buf[1 << 16];
	uint64_t bytes = 0;
	ssize_t n;

	while ((n = recv(sock, buf, sizeof(buf), MSG_DONTWAIT)) >= 0) {
		bytes += (uint64_t)n;
		(*count)++;
	}
	return bytes;
}

/*
 * A paced UDP target: a burst of lines leaves at most burst + rate x T bytes
 * (checked as an upper bound, which a slow machine cannot break: it only
 * sends less), the rest waits in the queue in order, the pump sends it as the
 * rate allows, and what the drain cannot send in time is dropped and counted.
 */
static void
test_syslog_udp_paced(void **state)
{
	struct fixture *fx = *state;
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(in);
	int rx = socket(AF_INET, SOCK_DGRAM, 0), rcvbuf = 1 << 22;
	char target[64], err[256], line[1000];
	const uint64_t rate = 200000, burst = 8000; /* bytes/s, bytes */
	struct safem_linesink_syslog_params sp = {
		.target = target, .facility = 16, .ident = "t",
		.rate_bytes_s = rate, .burst_bytes = burst, .queue_bytes = 40000};
	struct safem_linesink_syslog *sl;
	struct safem_linesink_params p = {.name = "alerts", .syslog_severity = 6};
	struct safem_linesink *s;
	const struct safem_linesink_stats *st;
	unsigned int i, got = 0;
	uint64_t t0, bytes = 0, elapsed;
	FILE *f;

	(void)fx;
	setsockopt(rx, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	assert_int_equal(bind(rx, (struct sockaddr *)&in, sizeof(in)), 0);
	assert_int_equal(getsockname(rx, (struct sockaddr *)&in, &len), 0);
	snprintf(target, sizeof(target), "127.0.0.1:%u", ntohs(in.sin_port));
	sl = safem_linesink_syslog_open(&sp, err, sizeof(err));
	assert_non_null(sl);
	p.syslog = sl;
	s = safem_linesink_open(&p);
	assert_non_null(s);
	f = safem_linesink_stream(s);
	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	/* 60 lines of ~1 KB at once: ~8 leave with the burst, 40 KB of queue
	 * holds ~38 more, the rest is dropped at once and counted. */
	t0 = safem_pace_now_ns();
	for (i = 0; i < 60; i++)
		fprintf(f, "%s\n", line);
	fflush(f);
	bytes = drain_udp(rx, &got);
	elapsed = safem_pace_now_ns() - t0;
	assert_true((double)bytes <= (double)burst + (double)rate * (double)elapsed / 1e9 + 1100);
	st = safem_linesink_stats(s);
	assert_true(safem_linesink_syslog_pending(sl) >= 30);
	assert_int_equal(st->syslog_sent + st->syslog_dropped + safem_linesink_syslog_pending(sl),
			 60);
	assert_true(st->syslog_dropped > 0); /* the queue is bounded */
	/* The pump sends what waits, never faster than the rate. */
	while (safem_linesink_syslog_pending(sl) != 0 && safem_pace_now_ns() - t0 < 5000000000ull) {
		safem_linesink_syslog_pump(sl);
		usleep(1000);
	}
	assert_int_equal(safem_linesink_syslog_pending(sl), 0);
	bytes += drain_udp(rx, &got);
	elapsed = safem_pace_now_ns() - t0;
	assert_true((double)bytes <= (double)burst + (double)rate * (double)elapsed / 1e9 + 1100);
	assert_int_equal(got, st->syslog_sent);
	assert_int_equal(st->syslog_sent + st->syslog_dropped, 60);
	/* More than the drain can send in no time: the rest is counted dropped. */
	for (i = 0; i < 20; i++)
		fprintf(f, "%s\n", line);
	fflush(f);
	assert_true(safem_linesink_syslog_drain(sl, 0) > 0);
	assert_int_equal(safem_linesink_syslog_pending(sl), 0);
	assert_int_equal(st->syslog_sent + st->syslog_dropped, 80);
	safem_linesink_close(s);
	safem_linesink_free(s);
	safem_linesink_syslog_close(sl);
	close(rx);
}

static void
test_bad_targets(void **state)
{
	struct safem_linesink_syslog_params sp = {.facility = 16, .ident = "t"};
	char err[256];

	(void)state;
	sp.target = "unix:/nonexistent/dir/sock";
	assert_null(safem_linesink_syslog_open(&sp, err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent"));
	sp.target = "no-port";
	assert_null(safem_linesink_syslog_open(&sp, err, sizeof(err)));
	assert_int_equal(safem_linesink_syslog_facility("local7"), 23);
	assert_int_equal(safem_linesink_syslog_facility("nope"), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lines_cut_at_newlines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_long_line_reaches_the_file_only, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_syslog_udp_paced, setup, teardown),
		cmocka_unit_test(test_bad_targets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
