/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Option tables: defaults, INI files, command line, --help and the effective
 * INI (safem_config.h).
 *
 * INI files are read by DPDK's rte_cfgfile. It keeps no line numbers and
 * logs vague messages on bad input, so the file is first scanned here with
 * the same line grammar (comment stripping, '[' test, first '=') to reject
 * what rte_cfgfile would reject or silently mangle (over-long lines, names
 * and values it truncates), and to record, in file order, the line of every
 * section and entry rte_cfgfile will store. Walking rte_cfgfile's sections
 * and entries by index then gives each value its line for error messages.
 *
 * Comments: a line whose first non-blank character is ';' or '#', and, as
 * in rte_cfgfile, the rest of a line after its first ';' unless that one is
 * written "\;": then the line has no comment and every "\;" in it is a
 * literal ';' (rte_cfgfile looks at the first ';' only).
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <rte_cfgfile.h>

#include "safem_config.h"

#define MS_PER_SECOND UINT64_C(1000)
#define MS_PER_MINUTE (60 * MS_PER_SECOND)
#define MS_PER_HOUR (60 * MS_PER_MINUTE)

/* rte_cfgfile_load reads lines with fgets into CFG_NAME_LEN + CFG_VALUE_LEN + 4
 * bytes and fails on a longer line; this many characters (without '\n') fit. */
#define INI_LINE_MAX_CHARS (CFG_NAME_LEN + CFG_VALUE_LEN + 2)
/* rte_cfgfile_load comment character (its default). */
#define INI_COMMENT ';'
/* Longest reason text ("not one of: ..." lists the choices). */
#define WHY_MAX 256

static const char duration_hint[] = "not a duration (e.g. 30s, 250ms, 5m)";
static const char uint_hint[] = "not an unsigned integer (e.g. 42, 0x2a, 16k)";
static const char bool_hint[] = "not a boolean (true/false, yes/no, on/off, 1/0)";
static const char syntax_hint[] = "expected [section], key = value or a comment";

static const char *const bool_true_words[] = {"true", "yes", "on", "1", NULL};
static const char *const bool_false_words[] = {"false", "no", "off", "0", NULL};

/* A value parsed from text, before it is checked against bounds and stored. */
struct opt_value {
	bool b;
	uint64_t u;
	const char *s;
};

static void __attribute__((format(printf, 3, 4)))
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static const char *
opt_key(const struct safem_opt_def *d)
{
	return d->key != NULL ? d->key : d->name;
}

static bool
word_in(const char *s, const char *const *words)
{
	for (; *words != NULL; words++)
		if (strcasecmp(s, *words) == 0)
			return true;
	return false;
}

static bool
is_bool_word(const char *s)
{
	return word_in(s, bool_true_words) || word_in(s, bool_false_words);
}

static int
digit_value(char c, unsigned int base)
{
	int v;

	if (c >= '0' && c <= '9')
		v = c - '0';
	else if (c >= 'a' && c <= 'f')
		v = c - 'a' + 10;
	else if (c >= 'A' && c <= 'F')
		v = c - 'A' + 10;
	else
		return -1;
	return (unsigned int)v < base ? v : -1;
}

/* Decimal or 0x hex, then an optional k/K, M or G (decimal multipliers). */
static int
parse_uint(const char *s, uint64_t *out, char *why, size_t whylen)
{
	unsigned int base = 10;
	uint64_t v = 0, mult = 1;
	const char *p = s;
	bool any = false;
	int d;

	if (*p == '-') {
		set_err(why, whylen, "must not be negative");
		return -EINVAL;
	}
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	for (; (d = digit_value(*p, base)) >= 0; p++) {
		if (__builtin_mul_overflow(v, base, &v) ||
		    __builtin_add_overflow(v, (uint64_t)d, &v))
			goto too_large;
		any = true;
	}
	switch (*p) {
	case 'k':
	case 'K':
		mult = 1000;
		p++;
		break;
	case 'M':
		mult = 1000 * 1000;
		p++;
		break;
	case 'G':
		mult = 1000 * 1000 * 1000;
		p++;
		break;
	}
	if (!any || *p != '\0') {
		set_err(why, whylen, "%s", uint_hint);
		return -EINVAL;
	}
	if (__builtin_mul_overflow(v, mult, &v))
		goto too_large;
	*out = v;
	return 0;
too_large:
	set_err(why, whylen, "too large (max %" PRIu64 ")", UINT64_MAX);
	return -ERANGE;
}

/*
 * "30" (seconds), "250ms", "1.5s", "5m", "1h"; the result in ms. Decimals are
 * done in integers so "0.1s" is exactly 100 ms; finer than 1 ms is an error.
 */
static int
parse_duration(const char *s, uint64_t *out, char *why, size_t whylen)
{
	/* 10^9 * MS_PER_HOUR still fits in 64 bits. */
	const unsigned int max_decimals = 9;
	uint64_t whole = 0, frac = 0, frac_scale = 1, unit_ms, ms, frac_ms;
	unsigned int decimals = 0;
	const char *p = s;
	bool any = false;

	if (*p == '-') {
		set_err(why, whylen, "must not be negative");
		return -EINVAL;
	}
	for (; *p >= '0' && *p <= '9'; p++) {
		if (__builtin_mul_overflow(whole, 10, &whole) ||
		    __builtin_add_overflow(whole, (uint64_t)(*p - '0'), &whole))
			goto too_large;
		any = true;
	}
	if (any && *p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, decimals++) {
			if (decimals == max_decimals)
				goto bad;
			frac = frac * 10 + (uint64_t)(*p - '0');
			frac_scale *= 10;
		}
		if (decimals == 0)
			goto bad;
	}
	if (!any)
		goto bad;
	while (*p == ' ')
		p++;
	if (*p == '\0' || strcmp(p, "s") == 0)
		unit_ms = MS_PER_SECOND;
	else if (strcmp(p, "ms") == 0)
		unit_ms = 1;
	else if (strcmp(p, "m") == 0)
		unit_ms = MS_PER_MINUTE;
	else if (strcmp(p, "h") == 0)
		unit_ms = MS_PER_HOUR;
	else
		goto bad;
	if ((frac * unit_ms) % frac_scale != 0) {
		set_err(why, whylen, "finer than 1 ms");
		return -EINVAL;
	}
	frac_ms = frac * unit_ms / frac_scale;
	if (__builtin_mul_overflow(whole, unit_ms, &ms) || __builtin_add_overflow(ms, frac_ms, &ms))
		goto too_large;
	*out = ms;
	return 0;
bad:
	set_err(why, whylen, "%s", duration_hint);
	return -EINVAL;
too_large:
	set_err(why, whylen, "too large (max %" PRIu64 " ms)", UINT64_MAX);
	return -ERANGE;
}

/* The shortest exact text for a duration: "0s", "1500ms", "30s", "5m", "2h". */
static void
format_duration(char *buf, size_t len, uint64_t ms)
{
	if (ms == 0)
		snprintf(buf, len, "0s");
	else if (ms % MS_PER_HOUR == 0)
		snprintf(buf, len, "%" PRIu64 "h", ms / MS_PER_HOUR);
	else if (ms % MS_PER_MINUTE == 0)
		snprintf(buf, len, "%" PRIu64 "m", ms / MS_PER_MINUTE);
	else if (ms % MS_PER_SECOND == 0)
		snprintf(buf, len, "%" PRIu64 "s", ms / MS_PER_SECOND);
	else
		snprintf(buf, len, "%" PRIu64 "ms", ms);
}

static void
format_bound(char *buf, size_t len, const struct safem_opt_def *d, uint64_t v)
{
	if (d->type == SAFEM_OPT_DURATION)
		format_duration(buf, len, v);
	else
		snprintf(buf, len, "%" PRIu64, v);
}

static void
format_choices(char *buf, size_t len, const char *const *choices, const char *sep)
{
	size_t used = 0;
	int n;

	buf[0] = '\0';
	for (; choices != NULL && *choices != NULL && used < len; choices++) {
		n = snprintf(buf + used, len - used, "%s%s", used == 0 ? "" : sep, *choices);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

/* Parse text as d's type and check its bounds; why says what is wrong. */
static int
parse_value(const struct safem_opt_def *d, const char *text, struct opt_value *v, char *why,
	    size_t whylen)
{
	char lo[32], hi[32], list[WHY_MAX];
	size_t len;
	int ret;

	switch (d->type) {
	case SAFEM_OPT_BOOL:
		if (word_in(text, bool_true_words))
			v->b = true;
		else if (word_in(text, bool_false_words))
			v->b = false;
		else {
			set_err(why, whylen, "%s", bool_hint);
			return -EINVAL;
		}
		return 0;
	case SAFEM_OPT_UINT:
	case SAFEM_OPT_DURATION:
		ret = d->type == SAFEM_OPT_UINT ? parse_uint(text, &v->u, why, whylen)
						: parse_duration(text, &v->u, why, whylen);
		if (ret != 0)
			return -EINVAL;
		if (v->u < d->min || (d->max != 0 && v->u > d->max)) {
			format_bound(lo, sizeof(lo), d, d->min);
			format_bound(hi, sizeof(hi), d, d->max);
			if (d->max != 0)
				set_err(why, whylen, "must be between %s and %s", lo, hi);
			else
				set_err(why, whylen, "must be at least %s", lo);
			return -EINVAL;
		}
		return 0;
	case SAFEM_OPT_STRING:
	case SAFEM_OPT_CHOICE:
		len = strlen(text);
		if (len >= SAFEM_OPT_STRING_MAX) {
			set_err(why, whylen, "too long (%zu characters, max %d)", len,
				SAFEM_OPT_STRING_MAX - 1);
			return -EINVAL;
		}
		/* print_ini writes one line per option. */
		if (strpbrk(text, "\r\n") != NULL) {
			set_err(why, whylen, "contains a line break");
			return -EINVAL;
		}
		if (d->type == SAFEM_OPT_CHOICE && !word_in(text, d->choices)) {
			format_choices(list, sizeof(list), d->choices, ", ");
			set_err(why, whylen, "not one of: %s", list);
			return -EINVAL;
		}
		/* Choices compare case-insensitively but are stored as listed. */
		v->s = text;
		if (d->type == SAFEM_OPT_CHOICE)
			for (const char *const *c = d->choices; *c != NULL; c++)
				if (strcasecmp(text, *c) == 0)
					v->s = *c;
		return 0;
	}
	set_err(why, whylen, "option has an unknown type %d", (int)d->type);
	return -EINVAL;
}

static void
store_value(const struct safem_opt_def *d, void *cfg, const struct opt_value *v)
{
	char *field = (char *)cfg + d->offset;

	switch (d->type) {
	case SAFEM_OPT_BOOL:
		*(bool *)field = v->b;
		break;
	case SAFEM_OPT_UINT:
	case SAFEM_OPT_DURATION:
		*(uint64_t *)field = v->u;
		break;
	case SAFEM_OPT_STRING:
	case SAFEM_OPT_CHOICE:
		memcpy(field, v->s, strlen(v->s) + 1);
		break;
	}
}

static int
apply_text(const struct safem_opt_def *d, void *cfg, const char *text, char *why, size_t whylen)
{
	struct opt_value v = {0};
	int ret;

	ret = parse_value(d, text, &v, why, whylen);
	if (ret == 0)
		store_value(d, cfg, &v);
	return ret;
}

static const struct safem_opt_def *
find_name(const struct safem_opt_def *defs, const char *name, size_t len)
{
	for (; defs->name != NULL; defs++)
		if (strlen(defs->name) == len && strncmp(defs->name, name, len) == 0)
			return defs;
	return NULL;
}

const struct safem_opt_def *
safem_config_find(const struct safem_opt_def *defs, const char *name)
{
	if (defs == NULL || name == NULL)
		return NULL;
	return find_name(defs, name, strlen(name));
}

static const struct safem_opt_def *
find_ini(const struct safem_opt_def *defs, const char *section, const char *key)
{
	for (; defs->name != NULL; defs++)
		if (defs->section != NULL && strcmp(defs->section, section) == 0 &&
		    (key == NULL || strcmp(opt_key(defs), key) == 0))
			return defs;
	return NULL;
}

/* Catch table mistakes once, where they are cheap to explain. */
static int
check_table(const struct safem_opt_def *defs, char *err, size_t errlen)
{
	const struct safem_opt_def *d, *e;

	for (d = defs; d->name != NULL; d++) {
		if (d->name[0] == '\0' || d->name[0] == '-') {
			set_err(err, errlen, "option table: bad name '%s'", d->name);
			return -EINVAL;
		}
		if ((unsigned int)d->type > SAFEM_OPT_CHOICE) {
			set_err(err, errlen, "option '--%s': unknown type %d", d->name,
				(int)d->type);
			return -EINVAL;
		}
		if (d->type == SAFEM_OPT_CHOICE && (d->choices == NULL || d->choices[0] == NULL)) {
			set_err(err, errlen, "option '--%s': a choice without choices", d->name);
			return -EINVAL;
		}
		if (d->max != 0 && d->min > d->max) {
			set_err(err, errlen, "option '--%s': min > max", d->name);
			return -EINVAL;
		}
		for (e = defs; e != d; e++) {
			if (strcmp(e->name, d->name) == 0) {
				set_err(err, errlen, "option table: '--%s' listed twice", d->name);
				return -EINVAL;
			}
			if (d->section != NULL && e->section != NULL &&
			    strcmp(d->section, e->section) == 0 &&
			    strcmp(opt_key(d), opt_key(e)) == 0) {
				set_err(err, errlen, "option table: [%s] %s listed twice",
					d->section, opt_key(d));
				return -EINVAL;
			}
		}
	}
	return 0;
}

int
safem_config_set_defaults(const struct safem_opt_def *defs, void *cfg, char *err, size_t errlen)
{
	const struct safem_opt_def *d;
	struct opt_value v;
	char why[WHY_MAX];
	int ret;

	ret = check_table(defs, err, errlen);
	if (ret != 0)
		return ret;
	for (d = defs; d->name != NULL; d++) {
		if (d->default_value == NULL) {
			v = (struct opt_value){.b = false, .u = 0, .s = ""};
			store_value(d, cfg, &v);
			continue;
		}
		ret = apply_text(d, cfg, d->default_value, why, sizeof(why));
		if (ret != 0) {
			set_err(err, errlen, "option '--%s': default '%s': %s", d->name,
				d->default_value, why);
			return -EINVAL;
		}
	}
	return 0;
}

/* ---- INI files ---- */

/* What rte_cfgfile will store for a line, in file order. */
enum ini_line_kind {
	INI_SECTION,
	INI_ENTRY,
	/* A '#' comment containing '=': rte_cfgfile (';' comments only) stores it
	 * as an entry; it is skipped. Before the first section it lands in the
	 * "GLOBAL" section that CFG_FLAG_GLOBAL_SECTION provides. */
	INI_IGNORED_ENTRY,
};

struct ini_line {
	unsigned int line;
	enum ini_line_kind kind;
};

struct ini_scan {
	struct ini_line *lines;
	size_t count, allocated;
};

static int
scan_add(struct ini_scan *scan, unsigned int line, enum ini_line_kind kind)
{
	struct ini_line *n;

	if (scan->count == scan->allocated) {
		size_t allocated = scan->allocated == 0 ? 32 : 2 * scan->allocated;

		n = realloc(scan->lines, allocated * sizeof(*n));
		if (n == NULL)
			return -ENOMEM;
		scan->lines = n;
		scan->allocated = allocated;
	}
	scan->lines[scan->count++] = (struct ini_line){.line = line, .kind = kind};
	return 0;
}

static char *
trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* Length of a value once rte_cfgfile has turned each "\;" into ';'. */
static size_t
unescaped_length(const char *s)
{
	size_t len = strlen(s);
	const char *p;

	for (p = strstr(s, "\\;"); p != NULL; p = strstr(p + 2, "\\;"))
		len--;
	return len;
}

/*
 * Classify one line (without '\n') the way rte_cfgfile_load will, and
 * reject what it would refuse or truncate. section holds the current
 * section name ("" before the first).
 */
static int
scan_line(struct ini_scan *scan, const char *path, unsigned int lineno, char *line, char *section,
	  char *err, size_t errlen)
{
	char *comment, *text, *close, *eq, *key, *value, *name;

	comment = strchr(line, INI_COMMENT);
	if (comment != NULL && (comment == line || comment[-1] != '\\'))
		*comment = '\0';
	text = trim(line);
	if (text[0] == '\0')
		return 0;
	if (text[0] == '#')
		return strchr(text, '=') != NULL ? scan_add(scan, lineno, INI_IGNORED_ENTRY) : 0;
	if (text[0] == '[') {
		close = strchr(text, ']');
		if (close == NULL || *trim(close + 1) != '\0') {
			set_err(err, errlen, "%s:%u: syntax error: %s", path, lineno,
				close == NULL ? "missing ']'" : "text after ']'");
			return -EINVAL;
		}
		*close = '\0';
		name = trim(text + 1);
		if (name[0] == '\0' || strlen(name) >= CFG_NAME_LEN) {
			set_err(err, errlen, "%s:%u: syntax error: %s section name", path, lineno,
				name[0] == '\0' ? "empty" : "over-long");
			return -EINVAL;
		}
		strcpy(section, name);
		return scan_add(scan, lineno, INI_SECTION);
	}
	eq = strchr(text, '=');
	if (eq == NULL) {
		set_err(err, errlen, "%s:%u: syntax error: %s", path, lineno, syntax_hint);
		return -EINVAL;
	}
	*eq = '\0';
	key = trim(text);
	value = trim(eq + 1);
	if (key[0] == '\0') {
		set_err(err, errlen, "%s:%u: syntax error: no key before '='", path, lineno);
		return -EINVAL;
	}
	if (section[0] == '\0') {
		set_err(err, errlen, "%s:%u: key '%s' is outside any [section]", path, lineno, key);
		return -EINVAL;
	}
	if (strlen(key) >= CFG_NAME_LEN) {
		set_err(err, errlen, "%s:%u: unknown key '%.*s...' in section [%s]", path, lineno,
			20, key, section);
		return -EINVAL;
	}
	if (unescaped_length(value) >= CFG_VALUE_LEN) {
		set_err(err, errlen, "%s:%u: [%s] %s: value too long (%zu characters, max %d)",
			path, lineno, section, key, unescaped_length(value), CFG_VALUE_LEN - 1);
		return -EINVAL;
	}
	return scan_add(scan, lineno, INI_ENTRY);
}

static int
scan_file(FILE *f, const char *path, struct ini_scan *scan, char *err, size_t errlen)
{
	char section[CFG_NAME_LEN] = "";
	unsigned int lineno = 0;
	size_t cap = 0, chars;
	char *line = NULL;
	ssize_t n;
	int ret = 0;

	errno = 0;
	while ((n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		chars = (size_t)n;
		if (chars > 0 && line[chars - 1] == '\n')
			line[--chars] = '\0';
		if (strlen(line) != chars) {
			set_err(err, errlen, "%s:%u: syntax error: NUL byte", path, lineno);
			ret = -EINVAL;
			break;
		}
		if (chars > INI_LINE_MAX_CHARS) {
			set_err(err, errlen, "%s:%u: line too long (%zu characters, max %d)", path,
				lineno, chars, INI_LINE_MAX_CHARS);
			ret = -EINVAL;
			break;
		}
		ret = scan_line(scan, path, lineno, line, section, err, errlen);
		if (ret == -ENOMEM)
			set_err(err, errlen, "%s: out of memory", path);
		if (ret != 0)
			break;
	}
	if (ret == 0 && ferror(f)) {
		ret = errno != 0 ? -errno : -EIO;
		set_err(err, errlen, "%s: cannot read: %s", path, strerror(-ret));
	}
	free(line);
	return ret;
}

/* "flow, port, ..." or "inactive-timeout, ..." for an unknown-name message. */
static void
format_known(char *buf, size_t len, const struct safem_opt_def *defs, const char *section)
{
	const struct safem_opt_def *d, *e;
	size_t used = 0;
	int n;

	buf[0] = '\0';
	for (d = defs; d->name != NULL && used < len; d++) {
		if (d->section == NULL || (section != NULL && strcmp(d->section, section) != 0))
			continue;
		if (section == NULL) {
			/* each section once */
			for (e = defs; e != d; e++)
				if (e->section != NULL && strcmp(e->section, d->section) == 0)
					break;
			if (e != d)
				continue;
		}
		n = snprintf(buf + used, len - used, "%s%s", used == 0 ? "" : ", ",
			     section == NULL ? d->section : opt_key(d));
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

static int
apply_cfgfile(const struct safem_opt_def *defs, void *cfg, struct rte_cfgfile *file,
	      const char *path, const struct ini_scan *scan, char *err, size_t errlen)
{
	struct rte_cfgfile_entry *entries = NULL;
	char section[CFG_NAME_LEN], why[WHY_MAX], known[WHY_MAX];
	const struct safem_opt_def *d;
	int sections, s, count, j, ret = 0;
	unsigned int section_line;
	size_t next = 0;

	sections = rte_cfgfile_num_sections(file, NULL, 0);
	for (s = 0; s < sections && ret == 0; s++) {
		count = rte_cfgfile_section_num_entries_by_index(file, section, s);
		if (count < 0)
			goto mismatch;
		free(entries);
		entries = count > 0 ? calloc((size_t)count, sizeof(*entries)) : NULL;
		if (count > 0 && entries == NULL) {
			set_err(err, errlen, "%s: out of memory", path);
			ret = -ENOMEM;
			break;
		}
		if (rte_cfgfile_section_entries_by_index(file, s, section, entries, count) != count)
			goto mismatch;
		/* Section 0 is the GLOBAL one: only ignored '#' lines can be in it. */
		section_line = 0;
		if (s > 0) {
			if (next >= scan->count || scan->lines[next].kind != INI_SECTION)
				goto mismatch;
			section_line = scan->lines[next++].line;
			if (find_ini(defs, section, NULL) == NULL) {
				format_known(known, sizeof(known), defs, NULL);
				set_err(err, errlen, "%s:%u: unknown section [%s] (known: %s)",
					path, section_line, section, known);
				ret = -EINVAL;
				break;
			}
		}
		for (j = 0; j < count; j++) {
			const struct ini_line *l;

			if (next >= scan->count || scan->lines[next].kind == INI_SECTION)
				goto mismatch;
			l = &scan->lines[next++];
			if (l->kind == INI_IGNORED_ENTRY)
				continue;
			if (s == 0)
				goto mismatch;
			d = find_ini(defs, section, entries[j].name);
			if (d == NULL) {
				format_known(known, sizeof(known), defs, section);
				set_err(err, errlen,
					"%s:%u: unknown key '%s' in section [%s] (known: %s)", path,
					l->line, entries[j].name, section, known);
				ret = -EINVAL;
				break;
			}
			if (apply_text(d, cfg, entries[j].value, why, sizeof(why)) != 0) {
				set_err(err, errlen, "%s:%u: [%s] %s = '%s': %s", path, l->line,
					section, entries[j].name, entries[j].value, why);
				ret = -EINVAL;
				break;
			}
		}
	}
	if (ret == 0 && next != scan->count)
		goto mismatch;
	free(entries);
	return ret;
mismatch:
	free(entries);
	set_err(err, errlen, "%s: rte_cfgfile read the file differently than expected", path);
	return -EINVAL;
}

int
safem_config_load_file(const struct safem_opt_def *defs, void *cfg, const char *path, char *err,
		       size_t errlen)
{
	struct ini_scan scan = {0};
	struct rte_cfgfile *file;
	FILE *f;
	int ret;

	f = fopen(path, "r");
	if (f == NULL) {
		ret = -errno;
		set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return ret;
	}
	ret = scan_file(f, path, &scan, err, errlen);
	fclose(f);
	if (ret != 0)
		goto out;
	/* Empty values are empty strings ("flows ="); GLOBAL takes '#' lines
	 * with '=' above the first section. */
	file = rte_cfgfile_load(path, CFG_FLAG_GLOBAL_SECTION | CFG_FLAG_EMPTY_VALUES);
	if (file == NULL) {
		set_err(err, errlen, "%s: rte_cfgfile cannot load the file", path);
		ret = -EINVAL;
		goto out;
	}
	ret = apply_cfgfile(defs, cfg, file, path, &scan, err, errlen);
	rte_cfgfile_close(file);
out:
	free(scan.lines);
	return ret;
}

/* ---- Command line ---- */

static bool
in_list(const char *const *list, const char *name, size_t len)
{
	for (; list != NULL && *list != NULL; list++)
		if (strlen(*list) == len && strncmp(*list, name, len) == 0)
			return true;
	return false;
}

static int
apply_arg(const struct safem_opt_def *d, void *cfg, const char *value, char *err, size_t errlen)
{
	char why[WHY_MAX];

	if (apply_text(d, cfg, value, why, sizeof(why)) != 0) {
		set_err(err, errlen, "--%s '%s': %s", d->name, value, why);
		return -EINVAL;
	}
	return 0;
}

int
safem_config_parse_args(const struct safem_opt_def *defs, void *cfg, int argc, char *const argv[],
			const char *const *passthrough, char *err, size_t errlen)
{
	const struct safem_opt_def *d;
	const char *arg, *name, *eq, *value;
	size_t len;
	int i;

	for (i = 1; i < argc; i++) {
		arg = argv[i];
		if (arg[0] != '-' || strcmp(arg, "-") == 0 || strcmp(arg, "--") == 0) {
			set_err(err, errlen, "unexpected argument '%s'", arg);
			return -EINVAL;
		}
		if (arg[1] != '-') {
			set_err(err, errlen, "unknown option '%s'", arg);
			return -EINVAL;
		}
		name = arg + 2;
		eq = strchr(name, '=');
		len = eq != NULL ? (size_t)(eq - name) : strlen(name);
		if (in_list(passthrough, name, len)) {
			/* Skip its value too, unless it is absent or looks like an option. */
			if (eq == NULL && i + 1 < argc && argv[i + 1][0] != '-')
				i++;
			continue;
		}
		d = find_name(defs, name, len);
		if (d == NULL) {
			set_err(err, errlen, "unknown option '--%.*s'", (int)len, name);
			return -EINVAL;
		}
		if (eq != NULL) {
			value = eq + 1;
		} else if (d->type == SAFEM_OPT_BOOL) {
			/* A bare flag is true; "--flag no" is also understood. */
			value = i + 1 < argc && is_bool_word(argv[i + 1]) ? argv[++i] : "true";
		} else {
			if (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0) {
				set_err(err, errlen, "option '--%s' needs a value", d->name);
				return -EINVAL;
			}
			value = argv[++i];
		}
		if (apply_arg(d, cfg, value, err, errlen) != 0)
			return -EINVAL;
	}
	return 0;
}

int
safem_config_set(const struct safem_opt_def *defs, void *cfg, const char *name, const char *value,
		 char *err, size_t errlen)
{
	const struct safem_opt_def *d = safem_config_find(defs, name);

	if (d == NULL) {
		set_err(err, errlen, "unknown option '--%s'", name != NULL ? name : "(null)");
		return -EINVAL;
	}
	if (value == NULL) {
		if (d->type != SAFEM_OPT_BOOL) {
			set_err(err, errlen, "option '--%s' needs a value", d->name);
			return -EINVAL;
		}
		value = "true";
	}
	return apply_arg(d, cfg, value, err, errlen);
}

/* ---- Output ---- */

static const char *
metavar(const struct safem_opt_def *d, char *buf, size_t len)
{
	if (d->metavar != NULL)
		return d->metavar;
	switch (d->type) {
	case SAFEM_OPT_BOOL:
		return "[BOOL]";
	case SAFEM_OPT_UINT:
		return "N";
	case SAFEM_OPT_DURATION:
		return "DURATION";
	case SAFEM_OPT_STRING:
		return "TEXT";
	case SAFEM_OPT_CHOICE:
		format_choices(buf, len, d->choices, "|");
		return buf;
	}
	return "VALUE";
}

static const char *
default_text(const struct safem_opt_def *d)
{
	if (d->default_value != NULL && d->default_value[0] != '\0')
		return d->default_value;
	switch (d->type) {
	case SAFEM_OPT_BOOL:
		return "false";
	case SAFEM_OPT_UINT:
	case SAFEM_OPT_DURATION:
		return "0";
	default:
		return "none";
	}
}

void
safem_config_print_help(FILE *out, const struct safem_opt_def *defs)
{
	const struct safem_opt_def *d;
	char buf[WHY_MAX], left[WHY_MAX];
	int width = 0, n;

	for (d = defs; d->name != NULL; d++) {
		n = snprintf(left, sizeof(left), "--%s %s", d->name, metavar(d, buf, sizeof(buf)));
		if (n > width)
			width = n;
	}
	for (d = defs; d->name != NULL; d++) {
		snprintf(left, sizeof(left), "--%s %s", d->name, metavar(d, buf, sizeof(buf)));
		fprintf(out, "  %-*s  %s (default: %s)", width, left,
			d->help != NULL ? d->help : "", default_text(d));
		if (d->section != NULL)
			fprintf(out, "  [%s] %s", d->section, opt_key(d));
		fputc('\n', out);
	}
}

/*
 * A ';' of a string value that must be written "\;" for rte_cfgfile to read
 * the value back: the value's first ';' (only a line's first ';' can start a
 * comment) and any ';' after a backslash (rte_cfgfile turns every "\;" into
 * ';'). Escaping every ';' made a 255-character value (the most a file can
 * hold) print as a line too long to load (found by fuzzing).
 */
static bool
ini_needs_escape(const char *value, const char *c)
{
	return *c == INI_COMMENT && (c == strchr(value, INI_COMMENT) || (c > value && c[-1] == '\\'));
}

/* " = value", or "=value" when the spaces would make the line too long to load. */
static void
print_ini_string(FILE *out, const char *key, const char *value)
{
	size_t len = strlen(key) + strlen(" = ") + strlen(value);
	const char *c;

	for (c = value; *c != '\0'; c++)
		len += ini_needs_escape(value, c);
	fputs(len > INI_LINE_MAX_CHARS ? "=" : " = ", out);
	for (c = value; *c != '\0'; c++) {
		if (ini_needs_escape(value, c))
			fputc('\\', out);
		fputc(*c, out);
	}
}

void
safem_config_print_ini(FILE *out, const struct safem_opt_def *defs, const void *cfg)
{
	const struct safem_opt_def *d, *e;
	const char *field;
	char buf[32];
	bool first = true;

	for (d = defs; d->name != NULL; d++) {
		if (d->section == NULL)
			continue;
		/* Sections in the order they first appear in the table. */
		for (e = defs; e != d; e++)
			if (e->section != NULL && strcmp(e->section, d->section) == 0)
				break;
		if (e != d)
			continue;
		fprintf(out, "%s[%s]\n", first ? "" : "\n", d->section);
		first = false;
		for (e = d; e->name != NULL; e++) {
			if (e->section == NULL || strcmp(e->section, d->section) != 0)
				continue;
			field = (const char *)cfg + e->offset;
			fputs(opt_key(e), out);
			if ((e->type == SAFEM_OPT_STRING || e->type == SAFEM_OPT_CHOICE) &&
			    field[0] != '\0') {
				print_ini_string(out, opt_key(e), field);
				fputc('\n', out);
				continue;
			}
			fputs(" =", out);
			switch (e->type) {
			case SAFEM_OPT_BOOL:
				fprintf(out, " %s", *(const bool *)field ? "true" : "false");
				break;
			case SAFEM_OPT_UINT:
				fprintf(out, " %" PRIu64, *(const uint64_t *)field);
				break;
			case SAFEM_OPT_DURATION:
				format_duration(buf, sizeof(buf), *(const uint64_t *)field);
				fprintf(out, " %s", buf);
				break;
			case SAFEM_OPT_STRING:
			case SAFEM_OPT_CHOICE:
				break; /* empty: "key =" */
			}
			fputc('\n', out);
		}
	}
}
