/* SPDX-License-Identifier: BSD-3-Clause */
/* Option tables: every type, defaults, file then command line, error texts
 * naming file:line and the option, bounds, suffixes, print_ini round trip.
 * No EAL: rte_cfgfile works without it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <rte_cfgfile.h>

#include "safem_config.h"

struct test_cfg {
	bool verbose;
	bool quiet;
	uint64_t count;
	uint64_t burst;
	uint64_t big;
	uint64_t timeout_ms;
	uint64_t window_ms;
	char name[SAFEM_OPT_STRING_MAX];
	char path[SAFEM_OPT_STRING_MAX];
	char mode[SAFEM_OPT_STRING_MAX];
};

#define OPT(field) offsetof(struct test_cfg, field)
#define HOUR_MS 3600000

static const char *const modes[] = {"auto", "packet", "tsc", NULL};

static const struct safem_opt_def defs[] = {
	{"verbose", "main", "verbose", SAFEM_OPT_BOOL, "false", 0, 0, NULL, OPT(verbose),
	 "say more", NULL},
	{"quiet", NULL, NULL, SAFEM_OPT_BOOL, NULL, 0, 0, NULL, OPT(quiet), "command line only",
	 NULL},
	{"count", "main", "count", SAFEM_OPT_UINT, "100", 0, 0, NULL, OPT(count), "how many", "N"},
	{"name", "main", "name", SAFEM_OPT_STRING, "probe", 0, 0, NULL, OPT(name), "a name",
	 "NAME"},
	{"timeout", "flow", "timeout", SAFEM_OPT_DURATION, "30s", 0, 0, NULL, OPT(timeout_ms),
	 "idle time", NULL},
	{"window", "flow", "window", SAFEM_OPT_DURATION, "1s", 10, HOUR_MS, NULL, OPT(window_ms),
	 "window length", NULL},
	{"mode", "flow", "mode", SAFEM_OPT_CHOICE, "auto", 0, 0, modes, OPT(mode), "clock", NULL},
	{"burst", "port", "burst", SAFEM_OPT_UINT, "32", 1, 64, NULL, OPT(burst), "burst size",
	 "N"},
	{"big", "port", "big-number", SAFEM_OPT_UINT, "1M", 16, 0, NULL, OPT(big), "no upper bound",
	 "N"},
	{"path", "output", "path", SAFEM_OPT_STRING, NULL, 0, 0, NULL, OPT(path), "output file",
	 "PATH"},
	{NULL, NULL, NULL, 0, NULL, 0, 0, NULL, 0, NULL, NULL},
};

struct fixture {
	char dir[64];
	char paths[32][128];
	unsigned int files;
	struct test_cfg cfg;
	char err[1024];
};

static int
group_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	strcpy(f->dir, "/tmp/safem-test-config-XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int
group_teardown(void **state)
{
	struct fixture *f = *state;
	unsigned int i;

	for (i = 0; i < f->files; i++)
		unlink(f->paths[i]);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Fresh defaults before each test. */
static int
test_setup(void **state)
{
	struct fixture *f = *state;

	memset(&f->cfg, 0xa5, sizeof(f->cfg));
	f->err[0] = '\0';
	return safem_config_set_defaults(defs, &f->cfg, f->err, sizeof(f->err));
}

static const char *
write_ini(struct fixture *f, const char *name, const char *text)
{
	char path[sizeof(f->paths[0])];
	unsigned int i;
	FILE *out;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	for (i = 0; i < f->files && strcmp(f->paths[i], path) != 0; i++)
		;
	if (i == f->files) {
		assert_true(f->files < 32);
		strcpy(f->paths[f->files++], path);
	}
	out = fopen(path, "w");
	assert_non_null(out);
	fputs(text, out);
	assert_int_equal(fclose(out), 0);
	return f->paths[i];
}

#define assert_contains(haystack, needle)                                                          \
	do {                                                                                       \
		if (strstr((haystack), (needle)) == NULL)                                          \
			fail_msg("'%s' not in '%s'", (needle), (haystack));                        \
	} while (0)

/* err for loading text as an INI file must contain every given substring. */
static void
expect_file_error(struct fixture *f, const char *text, int expected_ret, const char *needles[])
{
	const char *path = write_ini(f, "bad.ini", text);

	f->err[0] = '\0';
	assert_int_equal(safem_config_load_file(defs, &f->cfg, path, f->err, sizeof(f->err)),
			 expected_ret);
	assert_contains(f->err, path);
	for (; *needles != NULL; needles++)
		assert_contains(f->err, *needles);
}

/* set() must fail with an error containing needle. */
static void
expect_set_error(struct fixture *f, const char *name, const char *value, const char *needle)
{
	f->err[0] = '\0';
	assert_int_equal(safem_config_set(defs, &f->cfg, name, value, f->err, sizeof(f->err)),
			 -EINVAL);
	assert_contains(f->err, needle);
}

/* Set a UINT or DURATION option and return the stored value. */
static uint64_t
set_uint(struct fixture *f, const char *name, const char *value)
{
	const struct safem_opt_def *d = safem_config_find(defs, name);
	uint64_t v;

	assert_non_null(d);
	assert_int_equal(safem_config_set(defs, &f->cfg, name, value, f->err, sizeof(f->err)), 0);
	memcpy(&v, (const char *)&f->cfg + d->offset, sizeof(v));
	return v;
}

static void
test_defaults(void **state)
{
	struct fixture *f = *state;

	assert_false(f->cfg.verbose);
	assert_false(f->cfg.quiet);
	assert_int_equal(f->cfg.count, 100);
	assert_string_equal(f->cfg.name, "probe");
	assert_int_equal(f->cfg.timeout_ms, 30000);
	assert_int_equal(f->cfg.window_ms, 1000);
	assert_string_equal(f->cfg.mode, "auto");
	assert_int_equal(f->cfg.burst, 32);
	assert_int_equal(f->cfg.big, 1000000);
	assert_string_equal(f->cfg.path, "");
}

static void
test_bad_tables(void **state)
{
	struct fixture *f = *state;
	struct safem_opt_def bad[3];

	/* a default out of its own bounds is a bug, named */
	memcpy(bad, &defs[7], sizeof(bad[0]));
	bad[0].default_value = "65";
	memset(&bad[1], 0, sizeof(bad[1]));
	assert_int_equal(safem_config_set_defaults(bad, &f->cfg, f->err, sizeof(f->err)), -EINVAL);
	assert_contains(f->err, "--burst");
	assert_contains(f->err, "'65'");

	/* the same name twice */
	memcpy(&bad[0], &defs[2], sizeof(bad[0]));
	memcpy(&bad[1], &defs[2], sizeof(bad[0]));
	bad[1].section = "other";
	memset(&bad[2], 0, sizeof(bad[2]));
	assert_int_equal(safem_config_set_defaults(bad, &f->cfg, f->err, sizeof(f->err)), -EINVAL);
	assert_contains(f->err, "--count");

	/* a choice without choices */
	memcpy(&bad[0], &defs[6], sizeof(bad[0]));
	bad[0].choices = NULL;
	memset(&bad[1], 0, sizeof(bad[1]));
	assert_int_equal(safem_config_set_defaults(bad, &f->cfg, f->err, sizeof(f->err)), -EINVAL);
	assert_contains(f->err, "--mode");

	/* NULL err is allowed */
	assert_int_equal(safem_config_set_defaults(bad, &f->cfg, NULL, 0), -EINVAL);
}

static void
test_uint_forms(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(set_uint(f, "count", "0"), 0);
	assert_int_equal(set_uint(f, "count", "42"), 42);
	assert_int_equal(set_uint(f, "count", "16k"), 16000);
	assert_int_equal(set_uint(f, "count", "16K"), 16000);
	assert_int_equal(set_uint(f, "count", "2M"), 2000000);
	assert_int_equal(set_uint(f, "count", "3G"), 3000000000ull);
	assert_int_equal(set_uint(f, "count", "0x10"), 16);
	assert_int_equal(set_uint(f, "count", "0X1f"), 31);
	assert_int_equal(set_uint(f, "count", "0x10k"), 16000);
	assert_true(set_uint(f, "count", "18446744073709551615") == UINT64_MAX);

	expect_set_error(f, "count", "18446744073709551616", "too large");
	expect_set_error(f, "count", "18446744073709551615k", "too large");
	expect_set_error(f, "count", "0x10000000000000000", "too large");
	expect_set_error(f, "count", "-1", "negative");
	expect_set_error(f, "count", "12abc", "not an unsigned integer");
	expect_set_error(f, "count", "12kk", "not an unsigned integer");
	expect_set_error(f, "count", "", "not an unsigned integer");
	expect_set_error(f, "count", "k", "not an unsigned integer");
	expect_set_error(f, "count", "0x", "not an unsigned integer");
	expect_set_error(f, "count", " 5", "not an unsigned integer");
	expect_set_error(f, "count", "+5", "not an unsigned integer");
	expect_set_error(f, "count", "1.5", "not an unsigned integer");
	/* a failed set leaves the field alone */
	assert_int_equal(f->cfg.count, UINT64_MAX);
}

static void
test_duration_forms(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(set_uint(f, "timeout", "30"), 30000);
	assert_int_equal(set_uint(f, "timeout", "0"), 0);
	assert_int_equal(set_uint(f, "timeout", "250ms"), 250);
	assert_int_equal(set_uint(f, "timeout", "1.5s"), 1500);
	assert_int_equal(set_uint(f, "timeout", "0.5"), 500);
	assert_int_equal(set_uint(f, "timeout", "0.1s"), 100);
	assert_int_equal(set_uint(f, "timeout", "5m"), 300000);
	assert_int_equal(set_uint(f, "timeout", "1.5m"), 90000);
	assert_int_equal(set_uint(f, "timeout", "1h"), 3600000);
	assert_int_equal(set_uint(f, "timeout", "2.25h"), 8100000);
	assert_int_equal(set_uint(f, "timeout", "10 s"), 10000);

	expect_set_error(f, "timeout", "abc", "not a duration (e.g. 30s, 250ms, 5m)");
	expect_set_error(f, "timeout", "-1s", "negative");
	expect_set_error(f, "timeout", "1.5ms", "finer than 1 ms");
	expect_set_error(f, "timeout", "10x", "not a duration");
	expect_set_error(f, "timeout", "10sec", "not a duration");
	expect_set_error(f, "timeout", "1.", "not a duration");
	expect_set_error(f, "timeout", ".5", "not a duration");
	expect_set_error(f, "timeout", "", "not a duration");
	expect_set_error(f, "timeout", "99999999999999999999", "too large");
	expect_set_error(f, "timeout", "9999999999999999h", "too large");
	assert_int_equal(f->cfg.timeout_ms, 10000);
}

static void
test_bool_forms(void **state)
{
	struct fixture *f = *state;
	static const char *const yes[] = {"true", "yes", "on", "1", "TRUE", "Yes", NULL};
	static const char *const no[] = {"false", "no", "off", "0", "False", "OFF", NULL};
	const char *const *w;

	for (w = yes; *w != NULL; w++) {
		f->cfg.verbose = false;
		assert_int_equal(
			safem_config_set(defs, &f->cfg, "verbose", *w, f->err, sizeof(f->err)), 0);
		assert_true(f->cfg.verbose);
	}
	for (w = no; *w != NULL; w++) {
		f->cfg.verbose = true;
		assert_int_equal(
			safem_config_set(defs, &f->cfg, "verbose", *w, f->err, sizeof(f->err)), 0);
		assert_false(f->cfg.verbose);
	}
	/* set() with no value is a bare flag */
	assert_int_equal(safem_config_set(defs, &f->cfg, "verbose", NULL, f->err, sizeof(f->err)),
			 0);
	assert_true(f->cfg.verbose);
	expect_set_error(f, "verbose", "maybe", "not a boolean");
	expect_set_error(f, "verbose", "", "--verbose ''");
}

static void
test_string_and_choice(void **state)
{
	struct fixture *f = *state;
	char longest[SAFEM_OPT_STRING_MAX + 1];

	memset(longest, 'x', SAFEM_OPT_STRING_MAX - 1);
	longest[SAFEM_OPT_STRING_MAX - 1] = '\0';
	assert_int_equal(safem_config_set(defs, &f->cfg, "name", longest, f->err, sizeof(f->err)),
			 0);
	assert_int_equal(strlen(f->cfg.name), SAFEM_OPT_STRING_MAX - 1);
	longest[SAFEM_OPT_STRING_MAX - 1] = 'x';
	longest[SAFEM_OPT_STRING_MAX] = '\0';
	expect_set_error(f, "name", longest, "too long");
	expect_set_error(f, "name", "two\nlines", "line break");
	assert_int_equal(safem_config_set(defs, &f->cfg, "name", "", f->err, sizeof(f->err)), 0);
	assert_string_equal(f->cfg.name, "");

	assert_int_equal(safem_config_set(defs, &f->cfg, "mode", "tsc", f->err, sizeof(f->err)), 0);
	assert_string_equal(f->cfg.mode, "tsc");
	/* stored as listed */
	assert_int_equal(safem_config_set(defs, &f->cfg, "mode", "Packet", f->err, sizeof(f->err)),
			 0);
	assert_string_equal(f->cfg.mode, "packet");
	expect_set_error(f, "mode", "wall", "--mode 'wall': not one of: auto, packet, tsc");
	expect_set_error(f, "mode", NULL, "option '--mode' needs a value");
	assert_string_equal(f->cfg.mode, "packet");
}

static void
test_bounds(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(set_uint(f, "burst", "1"), 1);
	assert_int_equal(set_uint(f, "burst", "64"), 64);
	expect_set_error(f, "burst", "0", "--burst '0': must be between 1 and 64");
	expect_set_error(f, "burst", "65", "must be between 1 and 64");
	expect_set_error(f, "burst", "1k", "must be between 1 and 64");
	assert_int_equal(f->cfg.burst, 64);

	/* duration bounds are in ms and printed as durations */
	assert_int_equal(set_uint(f, "window", "10ms"), 10);
	assert_int_equal(set_uint(f, "window", "1h"), HOUR_MS);
	expect_set_error(f, "window", "9ms", "must be between 10ms and 1h");
	expect_set_error(f, "window", "61m", "must be between 10ms and 1h");

	/* max 0: no upper bound */
	assert_true(set_uint(f, "big", "18446744073709551615") == UINT64_MAX);
	assert_int_equal(set_uint(f, "big", "16"), 16);
	expect_set_error(f, "big", "15", "must be at least 16");
}

static void
test_args(void **state)
{
	struct fixture *f = *state;
	char *argv[] = {"prog",		"--count", "5",	     "--timeout=10s",
			"--verbose",	"--mode",  "packet", "--name=",
			"--quiet",	"no",	   "--path", "/tmp/x y.csv",
			"--burst=0x10", NULL};

	assert_int_equal(
		safem_config_parse_args(defs, &f->cfg, 13, argv, NULL, f->err, sizeof(f->err)), 0);
	assert_int_equal(f->cfg.count, 5);
	assert_int_equal(f->cfg.timeout_ms, 10000);
	assert_true(f->cfg.verbose);
	assert_string_equal(f->cfg.mode, "packet");
	assert_string_equal(f->cfg.name, "");
	assert_false(f->cfg.quiet);
	assert_string_equal(f->cfg.path, "/tmp/x y.csv");
	assert_int_equal(f->cfg.burst, 16);
	/* untouched */
	assert_int_equal(f->cfg.window_ms, 1000);

	/* later wins; a bare flag before another option; --flag=off */
	char *again[] = {"prog", "--count", "1", "--quiet", "--count", "2", "--verbose=off", NULL};
	assert_int_equal(
		safem_config_parse_args(defs, &f->cfg, 7, again, NULL, f->err, sizeof(f->err)), 0);
	assert_int_equal(f->cfg.count, 2);
	assert_true(f->cfg.quiet);
	assert_false(f->cfg.verbose);

	/* a bare flag at the end */
	char *last[] = {"prog", "--verbose", NULL};
	assert_int_equal(
		safem_config_parse_args(defs, &f->cfg, 2, last, NULL, f->err, sizeof(f->err)), 0);
	assert_true(f->cfg.verbose);

	/* nothing but argv[0] */
	assert_int_equal(
		safem_config_parse_args(defs, &f->cfg, 1, last, NULL, f->err, sizeof(f->err)), 0);
}

static void
expect_args_error(struct fixture *f, int argc, char *argv[], const char *needle)
{
	f->err[0] = '\0';
	assert_int_equal(
		safem_config_parse_args(defs, &f->cfg, argc, argv, NULL, f->err, sizeof(f->err)),
		-EINVAL);
	assert_contains(f->err, needle);
}

static void
test_args_errors(void **state)
{
	struct fixture *f = *state;
	char *unknown[] = {"prog", "--foo", "1", NULL};
	char *unknown_eq[] = {"prog", "--foo=1", NULL};
	char *short_opt[] = {"prog", "-x", NULL};
	char *no_value[] = {"prog", "--count", NULL};
	char *option_as_value[] = {"prog", "--path", "--verbose", NULL};
	char *positional[] = {"prog", "--count", "3", "x", NULL};
	char *dashdash[] = {"prog", "--", NULL};
	char *bad_duration[] = {"prog", "--timeout", "abc", NULL};
	char *bad_bool[] = {"prog", "--verbose=maybe", NULL};
	char *bool_then_positional[] = {"prog", "--verbose", "maybe", NULL};
	char *out_of_range[] = {"prog", "--burst", "100", NULL};

	expect_args_error(f, 3, unknown, "unknown option '--foo'");
	expect_args_error(f, 2, unknown_eq, "unknown option '--foo'");
	expect_args_error(f, 2, short_opt, "unknown option '-x'");
	expect_args_error(f, 2, no_value, "option '--count' needs a value");
	expect_args_error(f, 3, option_as_value, "option '--path' needs a value");
	expect_args_error(f, 4, positional, "unexpected argument 'x'");
	expect_args_error(f, 2, dashdash, "unexpected argument '--'");
	expect_args_error(f, 3, bad_duration,
			  "--timeout 'abc': not a duration (e.g. 30s, 250ms, 5m)");
	expect_args_error(f, 2, bad_bool, "--verbose 'maybe': not a boolean");
	expect_args_error(f, 3, bool_then_positional, "unexpected argument 'maybe'");
	expect_args_error(f, 3, out_of_range, "--burst '100': must be between 1 and 64");
	expect_set_error(f, "nope", "1", "unknown option '--nope'");
}

static void
test_passthrough(void **state)
{
	struct fixture *f = *state;
	static const char *const pass[] = {"config", "help", "check-config", NULL};
	char *argv[] = {"prog",	  "--config",	    "f.ini",	      "--count",   "3",
			"--help", "--check-config", "--config=g.ini", "--verbose", NULL};
	char *without[] = {"prog", "--config", "f.ini", NULL};

	assert_int_equal(
		safem_config_parse_args(defs, &f->cfg, 9, argv, pass, f->err, sizeof(f->err)), 0);
	assert_int_equal(f->cfg.count, 3);
	assert_true(f->cfg.verbose);
	/* the same options are unknown without the list */
	expect_args_error(f, 3, without, "unknown option '--config'");
}

static void
test_file(void **state)
{
	struct fixture *f = *state;
	const char *path;

	path = write_ini(f, "good.ini",
			 "; a comment\n"
			 "# another = with an equals sign, before any section\n"
			 "\n"
			 "  [ main ]  ; inline comment\n"
			 "count=7\n"
			 "\tname   =   two words  ; comment\n"
			 "verbose = yes\n"
			 "# count = 99 (commented out)\n"
			 "[flow]\r\n"
			 "timeout = 1.5s\r\n"
			 "mode = tsc\n"
			 "[output]\n"
			 "path =\n"
			 "[port]\n"
			 "big-number = 2k\n"
			 "[main]\n"
			 "name = semi\\;colon ; and a comment\n");
	assert_int_equal(safem_config_load_file(defs, &f->cfg, path, f->err, sizeof(f->err)), 0);
	assert_int_equal(f->cfg.count, 7);
	assert_true(f->cfg.verbose);
	assert_int_equal(f->cfg.timeout_ms, 1500);
	assert_string_equal(f->cfg.mode, "tsc");
	assert_string_equal(f->cfg.path, "");
	assert_int_equal(f->cfg.big, 2000);
	/* a section given twice: both parts apply, later wins; as in rte_cfgfile,
	 * an escaped first ';' means no comment on that line */
	assert_string_equal(f->cfg.name, "semi;colon ; and a comment");
	/* not in the file: still the default */
	assert_int_equal(f->cfg.burst, 32);
	assert_int_equal(f->cfg.window_ms, 1000);

	/* an empty file changes nothing */
	path = write_ini(f, "empty.ini", "");
	assert_int_equal(safem_config_load_file(defs, &f->cfg, path, f->err, sizeof(f->err)), 0);
	assert_int_equal(f->cfg.count, 7);
}

static void
test_file_then_args(void **state)
{
	struct fixture *f = *state;
	const char *path = write_ini(f, "precedence.ini",
				     "[main]\ncount = 7\nname = from-file\n[flow]\ntimeout = 5m\n");
	char *argv[] = {"prog", "--count", "9", "--timeout", "45", NULL};

	assert_int_equal(safem_config_load_file(defs, &f->cfg, path, f->err, sizeof(f->err)), 0);
	assert_int_equal(
		safem_config_parse_args(defs, &f->cfg, 5, argv, NULL, f->err, sizeof(f->err)), 0);
	assert_int_equal(f->cfg.count, 9);
	assert_int_equal(f->cfg.timeout_ms, 45000);
	assert_string_equal(f->cfg.name, "from-file");
	assert_int_equal(f->cfg.burst, 32);
}

static void
test_file_errors(void **state)
{
	struct fixture *f = *state;
	char text[1024];

	expect_file_error(f, "[main]\ncount = 1\n\n[flow]\nfoo = 1\n", -EINVAL,
			  (const char *[]){":5: ", "unknown key 'foo' in section [flow]",
					   "timeout, window, mode", NULL});
	expect_file_error(
		f, "; c\n[main]\ncount = 1\n[bar]\nx = 1\n", -EINVAL,
		(const char *[]){":4: ", "unknown section [bar]", "main, flow, port", NULL});
	expect_file_error(f, "[flow]\n\n\ntimeout = abc\n", -EINVAL,
			  (const char *[]){":4: ",
					   "[flow] timeout = 'abc': not a duration (e.g. 30s, "
					   "250ms, 5m)",
					   NULL});
	expect_file_error(
		f, "[port]\n# burst = 1\nburst = 100 ; too many\n", -EINVAL,
		(const char *[]){":3: ", "[port] burst = '100': must be between 1 and 64", NULL});
	expect_file_error(f, "[main]\ncount = 1\nthis is not ini\n", -EINVAL,
			  (const char *[]){":3: ", "syntax error", NULL});
	expect_file_error(f, "[main\ncount = 1\n", -EINVAL,
			  (const char *[]){":1: ", "syntax error", "']'", NULL});
	expect_file_error(f, "[main] count = 1\n", -EINVAL,
			  (const char *[]){":1: ", "syntax error", NULL});
	expect_file_error(f, "[]\n", -EINVAL, (const char *[]){":1: ", "syntax error", NULL});
	expect_file_error(f, "[main]\n = 1\n", -EINVAL,
			  (const char *[]){":2: ", "syntax error", NULL});
	expect_file_error(f, "\ncount = 1\n[main]\n", -EINVAL,
			  (const char *[]){":2: ", "'count'", "outside any [section]", NULL});
	expect_file_error(f, "[main]\nverbose = maybe\n", -EINVAL,
			  (const char *[]){":2: ", "[main] verbose = 'maybe'", NULL});
	expect_file_error(f, "[main]\ncount =\n", -EINVAL,
			  (const char *[]){":2: ", "[main] count = ''", NULL});
	expect_file_error(f, "[flow]\nmode = wall\n", -EINVAL,
			  (const char *[]){":2: ", "not one of: auto, packet, tsc", NULL});

	/* rte_cfgfile would truncate a value over 255 characters or fail on a
	 * line over 322: both are errors naming the line */
	snprintf(text, sizeof(text), "[main]\nname = %0300d\n", 0);
	expect_file_error(f, text, -EINVAL, (const char *[]){":2: ", "too long", NULL});
	snprintf(text, sizeof(text), "[main]\n\n; %0400d\n", 0);
	expect_file_error(f, text, -EINVAL, (const char *[]){":3: ", "line too long", NULL});
	snprintf(text, sizeof(text), "[main]\n%070d = 1\n", 0);
	expect_file_error(f, text, -EINVAL, (const char *[]){":2: ", "unknown key", NULL});
}

static void
test_file_open_errors(void **state)
{
	struct fixture *f = *state;
	char path[160];

	snprintf(path, sizeof(path), "%s/missing.ini", f->dir);
	assert_int_equal(safem_config_load_file(defs, &f->cfg, path, f->err, sizeof(f->err)),
			 -ENOENT);
	assert_contains(f->err, path);
	assert_contains(f->err, "cannot open: No such file or directory");

	/* a directory opens but cannot be read */
	assert_int_not_equal(safem_config_load_file(defs, &f->cfg, f->dir, f->err, sizeof(f->err)),
			     0);
	assert_contains(f->err, f->dir);
}

static char *
print_to_string(const struct test_cfg *cfg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	safem_config_print_ini(out, defs, cfg);
	assert_int_equal(fclose(out), 0);
	return text;
}

static void
test_round_trip(void **state)
{
	struct fixture *f = *state;
	struct test_cfg back;
	char *first, *second;
	const char *path;
	char *argv[] = {"prog",	      "--verbose",	  "--count=0x7fffffffffffffff",
			"--timeout",  "1500ms",		  "--window=61s",
			"--mode=tsc", "--burst=7",	  "--big",
			"3G",	      "--name",		  "a;b \\; c = d # e [f]",
			"--path",     "/tmp/out;put.csv", NULL};

	assert_int_equal(
		safem_config_parse_args(defs, &f->cfg, 14, argv, NULL, f->err, sizeof(f->err)), 0);
	first = print_to_string(&f->cfg);
	assert_contains(first, "[main]\nverbose = true\ncount = 9223372036854775807\n");
	assert_contains(first, "[flow]\ntimeout = 1500ms\nwindow = 61s\nmode = tsc\n");
	assert_contains(first, "[port]\nburst = 7\nbig-number = 3000000000\n");
	/* command-line only options are not in the INI */
	assert_null(strstr(first, "quiet"));

	path = write_ini(f, "round.ini", first);
	memset(&back, 0x5a, sizeof(back));
	assert_int_equal(safem_config_set_defaults(defs, &back, f->err, sizeof(f->err)), 0);
	back.quiet = f->cfg.quiet;
	assert_int_equal(safem_config_load_file(defs, &back, path, f->err, sizeof(f->err)), 0);
	assert_int_equal(back.verbose, f->cfg.verbose);
	assert_int_equal(back.count, f->cfg.count);
	assert_int_equal(back.timeout_ms, f->cfg.timeout_ms);
	assert_int_equal(back.window_ms, f->cfg.window_ms);
	assert_int_equal(back.burst, f->cfg.burst);
	assert_int_equal(back.big, f->cfg.big);
	assert_string_equal(back.name, f->cfg.name);
	assert_string_equal(back.path, f->cfg.path);
	assert_string_equal(back.mode, f->cfg.mode);
	second = print_to_string(&back);
	assert_string_equal(first, second);
	free(first);
	free(second);

	/*
	 * A file value of 255 characters, most of them ';' (after an escaped first ';'
	 * rte_cfgfile takes the rest of the line literally): printed, it must still fit
	 * a line load_file accepts (fuzzing found it printed twice too long).
	 */
	{
		char ini[512], value[CFG_VALUE_LEN];
		unsigned int i;
		size_t n;

		memset(value, ';', sizeof(value) - 1);
		value[0] = 'a';
		value[sizeof(value) - 1] = '\0';
		snprintf(ini, sizeof(ini), "[main]\nname = a\\%s\n", value + 1);
		path = write_ini(f, "semicolons.ini", ini);
		assert_int_equal(safem_config_load_file(defs, &f->cfg, path, f->err, sizeof(f->err)),
				 0);
		assert_string_equal(f->cfg.name, value);
		first = print_to_string(&f->cfg);
		path = write_ini(f, "semicolons-printed.ini", first);
		memset(&back, 0x5a, sizeof(back));
		assert_int_equal(safem_config_set_defaults(defs, &back, f->err, sizeof(f->err)), 0);
		if (safem_config_load_file(defs, &back, path, f->err, sizeof(f->err)) != 0)
			print_error("%s\n", f->err);
		assert_string_equal(back.name, value);
		second = print_to_string(&back);
		assert_string_equal(first, second);
		free(first);
		free(second);

		/* 61 literal "\;" (each "\\;" in the file) and 133 'b': 255 characters in a
		 * line of 321 written "name=..."; " = " would make it 323, too long. */
		strcpy(ini, "[main]\nname=");
		for (i = 0; i < 61; i++)
			strcat(ini, "\\\\;");
		n = strlen(ini);
		memset(ini + n, 'b', 133);
		strcpy(ini + n + 133, "\n");
		path = write_ini(f, "backslashes.ini", ini);
		assert_int_equal(safem_config_load_file(defs, &f->cfg, path, f->err, sizeof(f->err)),
				 0);
		assert_int_equal(strlen(f->cfg.name), 255);
		first = print_to_string(&f->cfg);
		path = write_ini(f, "backslashes-printed.ini", first);
		assert_int_equal(safem_config_set_defaults(defs, &back, f->err, sizeof(f->err)), 0);
		if (safem_config_load_file(defs, &back, path, f->err, sizeof(f->err)) != 0)
			print_error("%s\n", f->err);
		assert_string_equal(back.name, f->cfg.name);
		free(first);
	}

	/* the defaults round-trip too (empty strings, durations in ms) */
	assert_int_equal(safem_config_set_defaults(defs, &back, f->err, sizeof(f->err)), 0);
	first = print_to_string(&back);
	assert_contains(first, "path =\n");
	assert_contains(first, "timeout = 30s\n");
	path = write_ini(f, "defaults.ini", first);
	assert_int_equal(safem_config_load_file(defs, &f->cfg, path, f->err, sizeof(f->err)), 0);
	second = print_to_string(&f->cfg);
	assert_string_equal(first, second);
	free(first);
	free(second);
}

static void
test_help(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	(void)state;
	assert_non_null(out);
	safem_config_print_help(out, defs);
	assert_int_equal(fclose(out), 0);
	assert_contains(text, "  --timeout DURATION");
	assert_contains(text, "idle time (default: 30s)  [flow] timeout\n");
	assert_contains(text, "--mode auto|packet|tsc");
	assert_contains(text, "--verbose [BOOL]");
	assert_contains(text, "--path PATH");
	assert_contains(text, "output file (default: none)  [output] path\n");
	assert_contains(text, "[port] big-number\n");
	assert_contains(text, "command line only (default: false)\n");
	/* one line per option */
	size_t lines = 0;
	for (const char *p = text; *p != '\0'; p++)
		lines += *p == '\n';
	assert_int_equal(lines, sizeof(defs) / sizeof(defs[0]) - 1);
	free(text);
}

static void
test_find(void **state)
{
	(void)state;
	assert_ptr_equal(safem_config_find(defs, "mode"), &defs[6]);
	assert_null(safem_config_find(defs, "mod"));
	assert_null(safem_config_find(defs, "modes"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_defaults, test_setup),
		cmocka_unit_test_setup(test_bad_tables, test_setup),
		cmocka_unit_test_setup(test_uint_forms, test_setup),
		cmocka_unit_test_setup(test_duration_forms, test_setup),
		cmocka_unit_test_setup(test_bool_forms, test_setup),
		cmocka_unit_test_setup(test_string_and_choice, test_setup),
		cmocka_unit_test_setup(test_bounds, test_setup),
		cmocka_unit_test_setup(test_args, test_setup),
		cmocka_unit_test_setup(test_args_errors, test_setup),
		cmocka_unit_test_setup(test_passthrough, test_setup),
		cmocka_unit_test_setup(test_file, test_setup),
		cmocka_unit_test_setup(test_file_then_args, test_setup),
		cmocka_unit_test_setup(test_file_errors, test_setup),
		cmocka_unit_test_setup(test_file_open_errors, test_setup),
		cmocka_unit_test_setup(test_round_trip, test_setup),
		cmocka_unit_test_setup(test_help, test_setup),
		cmocka_unit_test_setup(test_find, test_setup),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
