/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/outfile: complete or absent for regular files; in place for anything else. The bug
 * this guards: as root, `--stats /dev/null` wrote /dev/null.tmp and renamed it over the
 * device, so the system's /dev/null became a regular file (found in session 15 when
 * compilers read garbage from it). A FIFO stands in for the device: any user can make one,
 * a rename over it turns it into a regular file just the same, and a regression fails here
 * without touching the machine's /dev/null. */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "safem_outfile.h"
#include "test_tmpdir.h"

struct fixture {
	char dir[64];
	char path[96];
};

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_int_equal(test_tmpdir_make(fx->dir, sizeof(fx->dir), "outfile"), 0);
	snprintf(fx->path, sizeof(fx->path), "%s/stats.json", fx->dir);
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

static unsigned int
entries(const char *dir)
{
	unsigned int n = 0;
	struct dirent *e;
	DIR *d = opendir(dir);

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void
read_file(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
}

/* A regular file appears only on commit, whole; without commit it never appears. */
static void
test_regular_complete_or_absent(void **state)
{
	struct fixture *fx = *state;
	struct safem_outfile *o = safem_outfile_open(fx->path, "w");
	struct stat st;
	char buf[32];

	assert_non_null(o);
	fputs("{\"a\": 1}\n", safem_outfile_stream(o));
	assert_int_equal(stat(fx->path, &st), -1); /* only PATH.tmp so far */
	assert_int_equal(safem_outfile_close(o, true), 0);
	read_file(fx->path, buf, sizeof(buf));
	assert_string_equal(buf, "{\"a\": 1}\n");
	o = safem_outfile_open(fx->path, "w");
	assert_non_null(o);
	fputs("half", safem_outfile_stream(o));
	assert_int_equal(safem_outfile_close(o, false), 0);
	read_file(fx->path, buf, sizeof(buf));
	assert_string_equal(buf, "{\"a\": 1}\n"); /* the old one, untouched */
	assert_int_equal(entries(fx->dir), 1);	  /* no PATH.tmp left */
}

/* A FIFO is written in place: its reader gets the bytes, it stays a FIFO, no PATH.tmp. */
static void
test_fifo_in_place(void **state)
{
	struct fixture *fx = *state;
	struct safem_outfile *o;
	struct stat st;
	char buf[32] = "";
	ssize_t n, got = 0;
	int rd;

	assert_int_equal(mkfifo(fx->path, 0600), 0);
	rd = open(fx->path, O_RDONLY | O_NONBLOCK);
	assert_true(rd >= 0);
	o = safem_outfile_open(fx->path, "w");
	assert_non_null(o);
	fputs("{\"b\": 2}\n", safem_outfile_stream(o));
	assert_int_equal(safem_outfile_close(o, true), 0);
	while ((n = read(rd, buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
		got += n;
	close(rd);
	assert_string_equal(buf, "{\"b\": 2}\n");
	assert_int_equal(stat(fx->path, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(entries(fx->dir), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_regular_complete_or_absent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_in_place, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
