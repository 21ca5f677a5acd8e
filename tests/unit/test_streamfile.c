/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Stream files: the rotated name contract, whole lines only (a cut write is
 * taken back), the header once per file, rotation by the clock given and by
 * size, a
 * rotated name never replaced, an earlier run's file kept (and untouched by
 * a run that never started), SIGHUP-style
 * reopen, write errors counted and retried.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "safem_streamfile.h"
#include "test_tmpdir.h"

/* 2023-11-14T22:13:20Z */
#define T0_MS 1700000000000ull

struct fixture {
	char dir[64];
	char path[128];
};

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_int_equal(test_tmpdir_make(fx->dir, sizeof(fx->dir), "streamfile"), 0);
	snprintf(fx->path, sizeof(fx->path), "%s/out.csv", fx->dir);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(test_tmpdir_remove(fx->dir), 0);
	free(fx);
	return 0;
}

/* Whole content of path ("" when absent), in a static buffer. */
static const char *
slurp(const char *path)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n;

	buf[0] = '\0';
	if (f == NULL)
		return buf;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static struct safem_streamfile *
open_file(const char *path, const char *header, uint64_t rotate_ms)
{
	struct safem_streamfile_params p = {
		.path = path, .header = header, .rotate_ms = rotate_ms, .flush_interval_ms = 60000};
	struct safem_streamfile *f = safem_streamfile_open(&p);

	assert_non_null(f);
	assert_int_equal(safem_streamfile_start(f), 0);
	return f;
}

static void
test_rotated_name(void **state)
{
	char name[64];

	(void)state;
	assert_int_equal(safem_streamfile_rotated_name("d/f.csv", T0_MS + 123, 0, name, sizeof(name)),
			 strlen("d/f.csv.20231114T221320Z"));
	assert_string_equal(name, "d/f.csv.20231114T221320Z");
	safem_streamfile_rotated_name("d/f.csv", T0_MS + 2000, 3, name, sizeof(name));
	assert_string_equal(name, "d/f.csv.20231114T221322Z.3");
	safem_streamfile_rotated_name("w", 0, 0, name, sizeof(name));
	assert_string_equal(name, "w.19700101T000000Z");
	assert_int_equal(safem_streamfile_rotated_name("d/f.csv", T0_MS, 0, name, 10),
			 -ENAMETOOLONG);
}

static void
test_whole_lines_only(void **state)
{
	struct fixture *fx = *state;
	struct safem_streamfile *f = open_file(fx->path, "h", 0);
	struct safem_streamfile_stats st;

	/* The header is in the file at once; a line in pieces waits for its '\n'. */
	assert_string_equal(slurp(fx->path), "h\n");
	safem_streamfile_append(f, "a,1\nb,", 6);
	assert_int_equal(safem_streamfile_flush(f), 0);
	assert_string_equal(slurp(fx->path), "h\na,1\n");
	safem_streamfile_append(f, "2", 1);
	safem_streamfile_flush(f);
	assert_string_equal(slurp(fx->path), "h\na,1\n");
	safem_streamfile_append(f, "\nc", 2);
	safem_streamfile_flush(f);
	assert_string_equal(slurp(fx->path), "h\na,1\nb,2\n");
	/* Closing ends an unterminated last line. */
	assert_int_equal(safem_streamfile_close(f), 0);
	assert_string_equal(slurp(fx->path), "h\na,1\nb,2\nc\n");
	safem_streamfile_stats_read(f, &st);
	assert_int_equal(st.lines_written, 3);
	assert_int_equal(st.bytes_written, 10);
	assert_int_equal(st.write_errors, 0);
	safem_streamfile_free(f);
}

static void
test_rotation_by_clock(void **state)
{
	struct fixture *fx = *state;
	struct safem_streamfile *f = open_file(fx->path, "h", 2000);
	struct safem_streamfile_stats st;
	char name[192], taken[192];

	/* No clock yet: nothing rotates. The first time seen starts the interval. */
	safem_streamfile_tick(f, 0);
	safem_streamfile_tick(f, T0_MS + 500);
	safem_streamfile_append(f, "one\n", 4);
	safem_streamfile_tick(f, T0_MS + 1999);
	safem_streamfile_append(f, "two\nthr", 7);
	/* The interval [T0, T0+2s) ends: its file is complete, the half line moves on. */
	safem_streamfile_tick(f, T0_MS + 2000);
	safem_streamfile_rotated_name(fx->path, T0_MS, 0, name, sizeof(name));
	assert_string_equal(slurp(name), "h\none\ntwo\n");
	assert_string_equal(slurp(fx->path), "h\n");
	/* A clock going back does not split the interval. */
	safem_streamfile_append(f, "ee\n", 3);
	safem_streamfile_tick(f, T0_MS + 1000);
	safem_streamfile_rotated_name(fx->path, T0_MS + 2000, 0, name, sizeof(name));
	assert_int_not_equal(access(name, F_OK), 0);
	/* A name already taken is never replaced: .1 instead. */
	safem_streamfile_rotated_name(fx->path, T0_MS + 2000, 0, taken, sizeof(taken));
	FILE *other = fopen(taken, "w");
	fputs("someone else's\n", other);
	fclose(other);
	/* A jump forward skips the empty intervals: one file, stamped with its own start. */
	safem_streamfile_tick(f, T0_MS + 60000);
	assert_string_equal(slurp(taken), "someone else's\n");
	safem_streamfile_rotated_name(fx->path, T0_MS + 2000, 1, name, sizeof(name));
	assert_string_equal(slurp(name), "h\nthree\n");
	safem_streamfile_rotated_name(fx->path, T0_MS + 4000, 0, name, sizeof(name));
	assert_int_not_equal(access(name, F_OK), 0);
	safem_streamfile_append(f, "four\n", 5);
	safem_streamfile_tick(f, T0_MS + 62000);
	safem_streamfile_rotated_name(fx->path, T0_MS + 60000, 0, name, sizeof(name));
	assert_string_equal(slurp(name), "h\nfour\n");
	assert_int_equal(safem_streamfile_close(f), 0);
	assert_string_equal(slurp(fx->path), "h\n");
	safem_streamfile_stats_read(f, &st);
	assert_int_equal(st.rotations, 3);
	assert_int_equal(st.lines_written, 4);
	safem_streamfile_free(f);
}

static void
test_rotation_by_size(void **state)
{
	struct fixture *fx = *state;
	struct safem_streamfile_params p = {
		.path = fx->path, .header = "h", .rotate_bytes = 10, .flush_interval_ms = 60000};
	struct safem_streamfile *f = safem_streamfile_open(&p);
	struct safem_streamfile_stats st;
	char name[384], pattern[192];
	unsigned int found = 0;
	struct dirent *e;
	DIR *dir;

	assert_non_null(f);
	assert_int_equal(safem_streamfile_start(f), 0);
	safem_streamfile_append(f, "aaaa\n", 5);
	safem_streamfile_flush(f);
	safem_streamfile_tick(f, T0_MS + 500);
	/* 7 + 5 bytes would pass 10: the file is rotated first, the lines start the next. */
	safem_streamfile_append(f, "bbbb\n", 5);
	safem_streamfile_flush(f);
	assert_string_equal(slurp(fx->path), "h\nbbbb\n");
	/* The first file began before any clock: stamped with the wall clock. */
	snprintf(pattern, sizeof(pattern), "out.csv.");
	dir = opendir(fx->dir);
	while ((e = readdir(dir)) != NULL)
		if (strncmp(e->d_name, pattern, strlen(pattern)) == 0) {
			snprintf(name, sizeof(name), "%s/%s", fx->dir, e->d_name);
			assert_string_equal(slurp(name), "h\naaaa\n");
			found++;
		}
	closedir(dir);
	assert_int_equal(found, 1);
	/* A line longer than the limit is never split: it gets a file of its own. */
	safem_streamfile_append(f, "ddddddddddddddd\n", 16);
	safem_streamfile_flush(f);
	safem_streamfile_rotated_name(fx->path, T0_MS + 500, 0, name, sizeof(name));
	assert_string_equal(slurp(name), "h\nbbbb\n");
	assert_string_equal(slurp(fx->path), "h\nddddddddddddddd\n");
	safem_streamfile_stats_read(f, &st);
	assert_int_equal(st.rotations, 2);
	assert_int_equal(st.lines_written, 3);
	safem_streamfile_free(f);
}

static void
test_earlier_file_kept_with_rotation(void **state)
{
	struct fixture *fx = *state;
	struct safem_streamfile *f;
	struct stat sb;
	char name[192];
	FILE *old = fopen(fx->path, "w");

	fputs("h\nold\n", old);
	fclose(old);
	assert_int_equal(stat(fx->path, &sb), 0);
	/* Without rotation the file is replaced, as a run always did. */
	f = open_file(fx->path, "h", 0);
	assert_string_equal(slurp(fx->path), "h\n");
	safem_streamfile_free(f);
	old = fopen(fx->path, "w");
	fputs("h\nold\n", old);
	fclose(old);
	assert_int_equal(stat(fx->path, &sb), 0);
	/* With rotation it is moved aside, stamped with its interval, and kept. */
	f = open_file(fx->path, "h", 60000);
	uint64_t mtime_ms = (uint64_t)sb.st_mtim.tv_sec * 1000;
	safem_streamfile_rotated_name(fx->path, mtime_ms - mtime_ms % 60000, 0, name, sizeof(name));
	assert_string_equal(slurp(name), "h\nold\n");
	assert_string_equal(slurp(fx->path), "h\n");
	safem_streamfile_free(f);
	/* With a size limit alone: stamped with the time it was last written. */
	old = fopen(fx->path, "w");
	fputs("h\nolder\n", old);
	fclose(old);
	assert_int_equal(stat(fx->path, &sb), 0);
	struct safem_streamfile_params p = {.path = fx->path, .header = "h", .rotate_bytes = 1000};
	f = safem_streamfile_open(&p);
	assert_non_null(f);
	assert_int_equal(safem_streamfile_start(f), 0);
	safem_streamfile_rotated_name(fx->path, (uint64_t)sb.st_mtim.tv_sec * 1000,
				      /* the name above, if the second write fell on it */
				      (uint64_t)sb.st_mtim.tv_sec * 1000 == mtime_ms - mtime_ms % 60000,
				      name,
				      sizeof(name));
	assert_string_equal(slurp(name), "h\nolder\n");
	assert_string_equal(slurp(fx->path), "h\n");
	safem_streamfile_free(f);
}

static void
test_no_start_leaves_nothing(void **state)
{
	struct fixture *fx = *state;
	struct safem_streamfile_params p = {.path = fx->path, .header = "h", .rotate_ms = 2000};
	struct safem_streamfile *f = safem_streamfile_open(&p);
	FILE *old;

	/* A run that fails before it starts: the file it created goes again... */
	assert_non_null(f);
	assert_int_equal(access(fx->path, F_OK), 0);
	safem_streamfile_free(f);
	assert_int_not_equal(access(fx->path, F_OK), 0);
	/* ...and an earlier run's file stays as it was, neither truncated nor rotated. */
	old = fopen(fx->path, "w");
	fputs("h\nold\n", old);
	fclose(old);
	f = safem_streamfile_open(&p);
	assert_non_null(f);
	safem_streamfile_free(f);
	assert_string_equal(slurp(fx->path), "h\nold\n");
	/* Lines appended but never flushed nor started are output at free, not lost
	 * (the earlier run's file is kept aside as a start keeps it). */
	unlink(fx->path);
	f = safem_streamfile_open(&p);
	assert_non_null(f);
	safem_streamfile_append(f, "a\nb", 3);
	safem_streamfile_free(f);
	assert_string_equal(slurp(fx->path), "h\na\nb\n");
}

static void
test_reopen(void **state)
{
	struct fixture *fx = *state;
	struct safem_streamfile *f = open_file(fx->path, "h", 0);
	struct safem_streamfile_stats st;
	char moved[192];

	safem_streamfile_append(f, "a\n", 2);
	snprintf(moved, sizeof(moved), "%s.moved", fx->path);
	/* logrotate's create mode: move the file, then ask for a reopen. */
	assert_int_equal(rename(fx->path, moved), 0);
	safem_streamfile_append(f, "b\n", 2);
	assert_int_equal(safem_streamfile_reopen(f), 0);
	safem_streamfile_append(f, "c\n", 2);
	assert_int_equal(safem_streamfile_close(f), 0);
	assert_string_equal(slurp(moved), "h\na\nb\n");
	assert_string_equal(slurp(fx->path), "h\nc\n");
	safem_streamfile_stats_read(f, &st);
	assert_int_equal(st.reopens, 1);
	safem_streamfile_free(f);
}

static void
test_write_error_counted_and_retried(void **state)
{
	struct safem_streamfile *f;
	struct safem_streamfile_stats st;

	(void)state;
	if (access("/dev/full", W_OK) != 0)
		skip();
	f = open_file("/dev/full", NULL, 0);
	safem_streamfile_append(f, "a\nb\n", 4);
	assert_int_equal(safem_streamfile_flush(f), -ENOSPC);
	/* The failed lines are gone, the next ones are tried again. */
	safem_streamfile_append(f, "c\n", 2);
	assert_int_equal(safem_streamfile_flush(f), -ENOSPC);
	safem_streamfile_stats_read(f, &st);
	assert_int_equal(st.write_errors, 2);
	assert_int_equal(st.lines_lost, 3);
	assert_int_equal(st.lines_written, 0);
	assert_int_equal(safem_streamfile_close(f), -ENOSPC);
	safem_streamfile_free(f);
}

static void
test_cut_write_taken_back(void **state)
{
	struct fixture *fx = *state;
	struct safem_streamfile *f = open_file(fx->path, NULL, 0);
	struct safem_streamfile_stats st;
	struct rlimit old, small = {.rlim_cur = 8, .rlim_max = RLIM_INFINITY};

	/* A file size limit cuts a write short, as a full disk does. */
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	small.rlim_max = old.rlim_max;
	safem_streamfile_append(f, "aaaa\n", 5);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	assert_int_equal(safem_streamfile_flush(f), 0);
	safem_streamfile_append(f, "bbbb\ncccc\n", 10);
	assert_int_equal(safem_streamfile_flush(f), -EFBIG);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	/* The 3 bytes that fit were taken back: the file ends with a whole line. */
	assert_string_equal(slurp(fx->path), "aaaa\n");
	safem_streamfile_append(f, "dd\n", 3);
	assert_int_equal(safem_streamfile_flush(f), 0);
	assert_string_equal(slurp(fx->path), "aaaa\ndd\n");
	safem_streamfile_stats_read(f, &st);
	assert_int_equal(st.lines_lost, 2);
	assert_int_equal(st.lines_written, 2);
	safem_streamfile_free(f);
	signal(SIGXFSZ, SIG_DFL);
}

static void
test_too_long_line_dropped(void **state)
{
	struct fixture *fx = *state;
	struct safem_streamfile *f = open_file(fx->path, NULL, 0);
	struct safem_streamfile_stats st;
	size_t big_len = SAFEM_STREAMFILE_BUFFER + 100;
	char *big = malloc(big_len);

	memset(big, 'z', big_len);
	safem_streamfile_append(f, "ok\n", 3);
	safem_streamfile_append(f, big, big_len);
	safem_streamfile_append(f, "\nnext\n", 6);
	safem_streamfile_close(f);
	assert_string_equal(slurp(fx->path), "ok\nnext\n");
	safem_streamfile_stats_read(f, &st);
	assert_int_equal(st.lines_too_long, 1);
	assert_int_equal(st.lines_written, 2);
	safem_streamfile_free(f);
	free(big);
}

static void
test_open_fails_in_missing_dir(void **state)
{
	struct safem_streamfile_params p = {.path = "/nonexistent-dir-for-safem/f.csv"};

	(void)state;
	assert_null(safem_streamfile_open(&p));
	assert_int_equal(errno, ENOENT);
}

/* A FIFO (or device: --flows /dev/null) as the path is written in place and never rotated:
 * a rename would move the node itself (as root, /dev/null). Size rotation is on and passed:
 * the FIFO stays a FIFO at its name, its reader gets every line, no rotated file appears. */
static void
test_fifo_not_rotated(void **state)
{
	struct fixture *fx = *state;
	struct safem_streamfile_params p = {
		.path = fx->path, .header = "h", .rotate_bytes = 10, .flush_interval_ms = 60000};
	struct safem_streamfile *f;
	struct stat st;
	char buf[64] = "";
	ssize_t n, got = 0;
	unsigned int entries = 0;
	struct dirent *e;
	DIR *dir;
	int rd;

	assert_int_equal(mkfifo(fx->path, 0600), 0);
	rd = open(fx->path, O_RDONLY | O_NONBLOCK);
	assert_true(rd >= 0);
	f = safem_streamfile_open(&p);
	assert_non_null(f);
	assert_int_equal(safem_streamfile_start(f), 0);
	safem_streamfile_append(f, "aaaa\n", 5);
	safem_streamfile_flush(f);
	safem_streamfile_append(f, "bbbb\n", 5);
	safem_streamfile_flush(f);
	while ((n = read(rd, buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
		got += n;
	assert_string_equal(buf, "h\naaaa\nbbbb\n");
	assert_int_equal(safem_streamfile_close(f), 0);
	safem_streamfile_free(f);
	close(rd);
	assert_int_equal(stat(fx->path, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	dir = opendir(fx->dir);
	assert_non_null(dir);
	while ((e = readdir(dir)) != NULL)
		entries += e->d_name[0] != '.';
	closedir(dir);
	assert_int_equal(entries, 1); /* the FIFO alone: nothing rotated */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rotated_name),
		cmocka_unit_test_setup_teardown(test_fifo_not_rotated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_whole_lines_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation_by_clock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation_by_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_earlier_file_kept_with_rotation, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_no_start_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test(test_write_error_counted_and_retried),
		cmocka_unit_test_setup_teardown(test_cut_write_taken_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_long_line_dropped, setup, teardown),
		cmocka_unit_test(test_open_fails_in_missing_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
